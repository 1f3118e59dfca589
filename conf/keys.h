/*
 * The schema of sidecar.yaml: every key is one row of struct cfg_key
 * (conf/schema.h) in conf/keys.c, giving its name, kind, model field,
 * limits, default, whether it is required, what a change does on reload
 * and its doc line. Adding a key is a row there and a field in
 * conf/model.h; loading, defaults, freeing, equality and the reload diff
 * all walk these sections.
 */
#ifndef SIDECAR_CONF_KEYS_H
#define SIDECAR_CONF_KEYS_H

#include "conf/model.h"
#include "conf/schema.h"

/* The top level, with http, log, shutdown, services and probes in it. */
extern const struct cfg_section cfg_top_section;
/* One entry of services, and of probes. */
extern const struct cfg_section cfg_service_section;
extern const struct cfg_section cfg_probe_section;

/* "main", "helper", "task". */
const char *cfg_role_name(enum cfg_role role);

/*
 * The parsers of services and probes [T * + count]: a mapping of name to
 * entry, each loaded whole (defaults, keys, checks within it). In
 * conf/load.c.
 */
int cfg_value_services(struct cfg_ctx *ctx, const struct cfg_key *key,
                       const struct cfg_node *val, void *field);
int cfg_value_probes(struct cfg_ctx *ctx, const struct cfg_key *key,
                     const struct cfg_node *val, void *field);

#endif
