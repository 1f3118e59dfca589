/*
 * Value parsers for sidecar.yaml's own types, used by the tables in
 * conf/keys.c. Same contract as the cfg_value_* of conf/schema.h: val is
 * never an empty value, field = section base + key offset, 0 or -1 with
 * ctx->err set; what a failing parser stored is still freed by cfg_free().
 */
#ifndef SIDECAR_CONF_VALUES_H
#define SIDECAR_CONF_VALUES_H

#include "conf/schema.h"

/*
 * [struct cfg_command] an argv list, or a string: split into its words
 * when it is a simple command (cfg_command_split), else run by /bin/sh -c.
 */
int cfg_value_command(struct cfg_ctx *ctx, const struct cfg_key *key,
                      const struct cfg_node *val, void *field);

/*
 * The words of text when it is a simple command, one sh would run as that
 * very argv: blank-separated words of letters, digits and -_./:,+@ (and
 * = or % after the first), whose first is no shell keyword or builtin.
 * 0 with *argv a new NULL-terminated vector of *argc (>= 1) malloc'd
 * words; -EINVAL when text needs a shell (or has no word); -ENOMEM.
 */
int cfg_command_split(const char *text, char ***argv, size_t *argc) ATTR_WUR;

/* [char ** + count] a mapping NAME: scalar, stored as "NAME=value". */
int cfg_value_env(struct cfg_ctx *ctx, const struct cfg_key *key,
                  const struct cfg_node *val, void *field);

/* [struct cfg_header * + count] a mapping of header name to value. */
int cfg_value_headers(struct cfg_ctx *ctx, const struct cfg_key *key,
                      const struct cfg_node *val, void *field);

/* [struct cfg_dep * + count] {name: started|healthy}, or a name list. */
int cfg_value_deps(struct cfg_ctx *ctx, const struct cfg_key *key,
                   const struct cfg_node *val, void *field);

/*
 * [char *] http.listen, also setting http.host, http.port and
 * http.listen_mark of the struct cfg_root it is in. The host is an IP
 * address, localhost or empty: never a name to resolve.
 */
int cfg_value_listen(struct cfg_ctx *ctx, const struct cfg_key *key,
                     const struct cfg_node *val, void *field);

/* [struct cfg_service] umask (always octal), also setting has_umask. */
/* ready [the whole struct cfg_service]: exec, notify, or {fd: N}. */
int cfg_value_ready(struct cfg_ctx *ctx, const struct cfg_key *key,
                    const struct cfg_node *val, void *field) ATTR_WUR;

int cfg_value_umask(struct cfg_ctx *ctx, const struct cfg_key *key,
                    const struct cfg_node *val, void *field);

/*
 * [struct cfg_account] user, group: a non-empty name, and its text as
 * written for messages (a ${VAR} in it may hold a secret).
 */
int cfg_value_account(struct cfg_ctx *ctx, const struct cfg_key *key,
                      const struct cfg_node *val, void *field);

/* [char *] an absolute path. */
int cfg_value_path(struct cfg_ctx *ctx, const struct cfg_key *key,
                   const struct cfg_node *val, void *field);

/* [char *] an http:// or https:// URL with a host. */
int cfg_value_url(struct cfg_ctx *ctx, const struct cfg_key *key,
                  const struct cfg_node *val, void *field);

/* [char *] an upper-case HTTP method. */
int cfg_value_method(struct cfg_ctx *ctx, const struct cfg_key *key,
                     const struct cfg_node *val, void *field);

/* [char *] a gRPC service name: printable, at most key->max bytes. */
int cfg_value_grpc_service(struct cfg_ctx *ctx, const struct cfg_key *key,
                           const struct cfg_node *val, void *field);

/* [bool] on_failure: one of key->names, all meaning "restart". */
int cfg_value_on_failure(struct cfg_ctx *ctx, const struct cfg_key *key,
                         const struct cfg_node *val, void *field);

/* [int] one forward_signals entry: a signal sidecar does not keep. */
int cfg_value_forward_signal(struct cfg_ctx *ctx, const struct cfg_key *key,
                             const struct cfg_node *val, void *field);

/* [struct cfg_status_range] one expect_status entry: 200 or 200-399. */
int cfg_value_status(struct cfg_ctx *ctx, const struct cfg_key *key,
                     const struct cfg_node *val, void *field);

#endif
