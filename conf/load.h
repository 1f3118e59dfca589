/*
 * Loading sidecar.yaml: libyaml parse, ${VAR} expansion, schema, defaults
 * and cross-field validation, into an immutable struct cfg_root.
 */
#ifndef SIDECAR_CONF_LOAD_H
#define SIDECAR_CONF_LOAD_H

#include <stdbool.h>

#include "conf/error.h"
#include "conf/model.h"

/*
 * Loads and validates path. Returns 0 and sets *out (caller frees with
 * cfg_free), or -1 with err filled (err->line/col point at the offending
 * node) and *out untouched. -1 also for I/O errors (no position then).
 */
int cfg_load(const char *path, struct cfg_root **out, struct cfg_error *err)
    __attribute__((warn_unused_result));

/* Same, from a buffer; path is only used in messages. */
int cfg_load_buffer(const char *path, const char *data, size_t len,
                    struct cfg_root **out, struct cfg_error *err)
    __attribute__((warn_unused_result));

/* True when the write token is set but shorter than CFG_TOKEN_MIN. */
bool cfg_token_is_short(const struct cfg_root *root);

/* Frees everything cfg_load() allocated. cfg_free(NULL) is a no-op. */
void cfg_free(struct cfg_root *root);

#endif
