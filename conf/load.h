/*
 * Loading sidecar.yaml: libyaml parse, ${VAR} expansion, schema, defaults
 * and cross-field validation, into an immutable struct cfg_root.
 */
#ifndef SIDECAR_CONF_LOAD_H
#define SIDECAR_CONF_LOAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "conf/error.h"
#include "conf/model.h"

/*
 * Loads and validates path: cfg_read_file(), then cfg_load_buffer().
 * Returns 0 and sets *out (caller frees with cfg_free), or -1 with err
 * filled (err->line/col point at the offending node) and *out untouched.
 * -1 also for I/O errors (no position then).
 */
int cfg_load(const char *path, struct cfg_root **out, struct cfg_error *err)
    __attribute__((warn_unused_result));

/*
 * Reads path whole (up to one byte over the size limit) into *data, which
 * the caller frees, and its length into *len. Never blocks on what is
 * there: a FIFO, socket, device or directory is an error, "not a regular
 * file". 0, or -1 with err filled (no position) and *data untouched.
 */
int cfg_read_file(const char *path, char **data, size_t *len,
                  struct cfg_error *err) __attribute__((warn_unused_result));

/* The digest of these bytes, as cfg_root.digest holds for its file. */
uint64_t cfg_digest(const char *data, size_t len);

/* Same as cfg_load, from a buffer; path is only used in messages. */
int cfg_load_buffer(const char *path, const char *data, size_t len,
                    struct cfg_root **out, struct cfg_error *err)
    __attribute__((warn_unused_result));

/*
 * The token in the file at path, as http.token_file reads it: a regular
 * file (never blocks on a FIFO), less one trailing newline, not empty, at
 * most 4096 bytes, no NUL byte. 0 with *token (the caller frees), or -1
 * with why filled; why never quotes what the file holds.
 */
int cfg_read_token_file(const char *path, char **token, char *why,
                        size_t why_len) __attribute__((warn_unused_result));

/* True when the write token is set but shorter than CFG_TOKEN_MIN. */
bool cfg_token_is_short(const struct cfg_root *root);
#define CFG_TOKEN_SHORT_WARNING                                                \
    "the write token is shorter than 16 bytes; it can be guessed"

/* Frees everything cfg_load() allocated. cfg_free(NULL) is a no-op. */
void cfg_free(struct cfg_root *root);

#endif
