/*
 * Checks across entries, run once every section is read: at least one
 * service or probe, exactly one main service, depends_on names (no self,
 * no cycle, "healthy" only where a probe can tell), the services probes
 * name, a token for ttl probes. Resolves every index of the model and
 * computes start_order.
 */
#ifndef SIDECAR_CONF_VALIDATE_H
#define SIDECAR_CONF_VALIDATE_H

#include "base/util.h"
#include "conf/model.h"
#include "conf/schema.h"
#include "conf/yaml.h"

/*
 * Validates root, read from the tree top (whose nodes place the errors).
 * Returns 0, or -1 with ctx->err holding every independent error; root
 * stays freeable by cfg_free().
 */
int cfg_validate(struct cfg_ctx *ctx, struct cfg_root *root,
                 const struct cfg_node *top) ATTR_WUR;

/* Index of the service (probe) of that name in root, or CFG_NO_INDEX. */
size_t cfg_find_service(const struct cfg_root *root, const char *name);
size_t cfg_find_probe(const struct cfg_root *root, const char *name);

#endif
