#include "sidecar/reload.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/json.h"
#include "conf/equal.h"
#include "conf/keys.h"
#include "conf/validate.h"

static int add_name(struct reload_names *l, const char *kind, const char *name)
{
    char **v = realloc(l->v, (l->n + 1) * sizeof(*v));
    if (!v)
        return -ENOMEM;
    l->v = v;
    size_t size = strlen(kind) + strlen(name) + 2;
    char *s = malloc(size);
    if (!s)
        return -ENOMEM;
    snprintf(s, size, kind[0] ? "%s:%s" : "%s%s", kind, name);
    l->v[l->n++] = s;
    return 0;
}

static void free_names(struct reload_names *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i]);
    free(l->v);
    l->v = NULL;
    l->n = 0;
}

static int add_setting(const char *key, void *arg)
{
    return add_name(arg, "", key);
}

/* The keys applied in place whose value changed (conf/keys.c says which). */
static int diff_settings(struct reload_plan *plan, const struct cfg_root *cur,
                         const struct cfg_root *next)
{
    return cfg_keys_diff(&cfg_top_section, cur, next, add_setting,
                         &plan->settings);
}

static int diff_services(struct reload_plan *plan, const struct cfg_root *cur,
                         const struct cfg_root *next)
{
    int rc = 0;
    for (size_t i = 0; i < next->services_count && rc == 0; i++) {
        const struct cfg_service *s = &next->services[i];
        size_t from = cfg_find_service(cur, s->name);
        plan->svc_from[i] = from;
        plan->svc_same[i] =
            from != CFG_NO_INDEX && cfg_service_equal(&cur->services[from], s);
        struct reload_names *l = from == CFG_NO_INDEX ? &plan->added
                                 : plan->svc_same[i]  ? &plan->kept
                                                      : &plan->changed;
        rc = add_name(l, "service", s->name);
    }
    for (size_t i = 0; i < cur->services_count && rc == 0; i++) {
        plan->svc_gone[i] =
            cfg_find_service(next, cur->services[i].name) == CFG_NO_INDEX;
        if (plan->svc_gone[i])
            rc = add_name(&plan->removed, "service", cur->services[i].name);
    }
    return rc;
}

static int diff_probes(struct reload_plan *plan, const struct cfg_root *cur,
                       const struct cfg_root *next)
{
    int rc = 0;
    for (size_t i = 0; i < next->probes_count && rc == 0; i++) {
        const struct cfg_probe *p = &next->probes[i];
        size_t from = cfg_find_probe(cur, p->name);
        /* An exec probe runs as its service: a changed one changes it. */
        bool same =
            from != CFG_NO_INDEX && cfg_probe_equal(&cur->probes[from], p) &&
            !(p->type == CFG_PROBE_EXEC && p->service_index != CFG_NO_INDEX &&
              !plan->svc_same[p->service_index]);
        plan->probe_kept_from[i] = same ? from : CFG_NO_INDEX;
        struct reload_names *l = from == CFG_NO_INDEX ? &plan->added
                                 : same               ? &plan->kept
                                                      : &plan->changed;
        rc = add_name(l, "probe", p->name);
    }
    for (size_t i = 0; i < cur->probes_count && rc == 0; i++) {
        if (cfg_find_probe(next, cur->probes[i].name) == CFG_NO_INDEX)
            rc = add_name(&plan->removed, "probe", cur->probes[i].name);
    }
    return rc;
}

int reload_plan_make(struct reload_plan *plan, const struct cfg_root *cur,
                     const struct cfg_root *next)
{
    memset(plan, 0, sizeof(*plan));
    /* +1: calloc(0) may return NULL */
    plan->svc_from = calloc(next->services_count + 1, sizeof(size_t));
    plan->svc_same = calloc(next->services_count + 1, sizeof(bool));
    plan->svc_gone = calloc(cur->services_count + 1, sizeof(bool));
    plan->probe_kept_from = calloc(next->probes_count + 1, sizeof(size_t));
    if (!plan->svc_from || !plan->svc_same || !plan->svc_gone ||
        !plan->probe_kept_from || diff_services(plan, cur, next) < 0 ||
        diff_probes(plan, cur, next) < 0 ||
        diff_settings(plan, cur, next) < 0) {
        reload_plan_free(plan);
        return -ENOMEM;
    }
    return 0;
}

void reload_plan_free(struct reload_plan *plan)
{
    free(plan->svc_from);
    free(plan->svc_same);
    free(plan->svc_gone);
    free(plan->probe_kept_from);
    free_names(&plan->added);
    free_names(&plan->removed);
    free_names(&plan->changed);
    free_names(&plan->kept);
    free_names(&plan->settings);
    memset(plan, 0, sizeof(*plan));
}

static int put_names(struct buf *b, const char *key,
                     const struct reload_names *l, bool first)
{
    int rc = buf_printf(b, "%s\"%s\":[", first ? "" : ",", key);
    for (size_t i = 0; i < l->n && rc == 0; i++) {
        if (i)
            rc = buf_puts(b, ",");
        if (rc == 0)
            rc = json_put_string(b, l->v[i], strlen(l->v[i]));
    }
    return rc ? rc : buf_puts(b, "]");
}

int reload_plan_put_json(const struct reload_plan *plan, struct buf *b)
{
    int rc = put_names(b, "added", &plan->added, true);
    if (rc == 0)
        rc = put_names(b, "removed", &plan->removed, false);
    if (rc == 0)
        rc = put_names(b, "changed", &plan->changed, false);
    if (rc == 0)
        rc = put_names(b, "kept", &plan->kept, false);
    if (rc == 0)
        rc = put_names(b, "settings", &plan->settings, false);
    return rc < 0 ? -ENOMEM : 0;
}
