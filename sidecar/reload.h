/*
 * What a reload changes: the new config matched against the running one,
 * service by service and probe by probe, by name and definition. Pure:
 * owns only the plan's arrays and the name lists for the reload's log
 * line and answer; sidecar.c applies the plan.
 */
#ifndef SIDECAR_SIDECAR_RELOAD_H
#define SIDECAR_SIDECAR_RELOAD_H

#include <stdbool.h>
#include <stddef.h>

#include "base/buf.h"
#include "base/util.h"
#include "conf/model.h"

/* Names as "service:NAME" / "probe:NAME", or a setting's key. */
struct reload_names {
    char **v;
    size_t n;
};

struct reload_plan {
    /*
     * Per new service: the index of the running one of the same name, or
     * CFG_NO_INDEX (added); svc_same tells whether its definition is
     * equal (kept) or not (changed: restarted).
     */
    size_t *svc_from;
    bool *svc_same;
    bool *svc_gone; /* per running service: not in the new config */
    /* Per new probe: the running one it keeps (equal), or CFG_NO_INDEX. */
    size_t *probe_kept_from;
    struct reload_names added;
    struct reload_names removed;
    struct reload_names changed;
    struct reload_names kept;
    struct reload_names settings; /* top-level keys whose value changed */
};

/*
 * Matches next against cur. 0, or -ENOMEM with nothing to free. Release
 * with reload_plan_free().
 */
int reload_plan_make(struct reload_plan *plan, const struct cfg_root *cur,
                     const struct cfg_root *next) ATTR_WUR;

/* Frees what reload_plan_make() allocated; zeroes the plan. */
void reload_plan_free(struct reload_plan *plan);

/*
 * Appends "added":[..],"removed":[..],"changed":[..],"kept":[..],
 * "settings":[..] (no braces) to b. 0 or -ENOMEM.
 */
int reload_plan_put_json(const struct reload_plan *plan,
                         struct buf *b) ATTR_WUR;

#endif
