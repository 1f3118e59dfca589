/*
 * The table-driven half of the loader (redis standardConfig style): a
 * section is an array of struct cfg_key {name, parser, offset, limits};
 * cfg_apply_keys() walks a YAML mapping against it, rejects unknown keys
 * (suggesting the nearest known one) and stores each value through its
 * parser. Also the typed value parsers the tables share, and the error
 * helpers that phrase "expected X for 'key', found Y" uniformly.
 */
#ifndef SIDECAR_CONF_SCHEMA_H
#define SIDECAR_CONF_SCHEMA_H

#include <stddef.h>
#include <stdint.h>

#include "base/util.h"
#include "conf/error.h"
#include "conf/yaml.h"

#define CFG_PROBE_BIT(type) (1u << (type))
#define CFG_WHERE_MAX       160
#define CFG_WHERE_TOP       "the top-level mapping"

/* What the loader is reading right now; errors and scopes refer to it. */
struct cfg_ctx {
    const char *path;
    struct cfg_error *err;
    const char *where;      /* the mapping: "service 'web'", CFG_WHERE_TOP */
    unsigned probe_bit;     /* CFG_PROBE_BIT of the probe read, 0 elsewhere */
    const char *probe_kind; /* "a tcp probe", for messages */
};

struct cfg_key;

struct cfg_section {
    const struct cfg_key *keys;
    size_t count;
};

/*
 * One key of a section. parse() gets the value (never an empty value:
 * those mean "not set") and field = section base + offset; it returns 0,
 * or -1 with ctx->err set.
 */
struct cfg_key {
    const char *name;
    int (*parse)(struct cfg_ctx *ctx, const struct cfg_key *key,
                 const struct cfg_node *val, void *field);
    size_t offset;
    size_t count_offset;               /* lists and maps: entry count */
    int64_t min;                       /* numbers; lists: fewest entries */
    int64_t max;                       /* numbers */
    const char *const *names;          /* enums: NULL-terminated, by value */
    const struct cfg_section *section; /* nested mappings */
    const struct cfg_key *item;        /* lists: how to parse one entry */
    size_t item_size;                  /* list entries: bytes per entry */
    unsigned types; /* probes: CFG_PROBE_BITs where valid; 0: everywhere */
};

/*
 * Applies map (a mapping; callers check) to base through section's keys.
 * Sets bit i of *seen for each keys[i] present with a non-empty value.
 * A key that fails does not stop the others: -1 once all are read, with
 * the first error of each failed key in ctx->err.
 */
int cfg_apply_keys(struct cfg_ctx *ctx, const struct cfg_node *map,
                   const struct cfg_section *section, void *base,
                   uint64_t *seen) ATTR_WUR;

/* Replaces *dst (freed) with a copy of s; -1 with ctx->err on ENOMEM. */
int cfg_dup_string(struct cfg_ctx *ctx, char **dst, const char *s) ATTR_WUR;

/* Sets ctx->err at node's position (none if node is NULL); returns -1. */
int cfg_fail(struct cfg_ctx *ctx, const struct cfg_node *node, const char *fmt,
             ...) ATTR_FMT(3, 4);

/*
 * "expected <what> for '<key>', found <val>"; returns -1. A scalar val is
 * quoted as written, ${VAR} unexpanded: a variable may hold a secret.
 */
int cfg_fail_expected(struct cfg_ctx *ctx, const char *what, const char *key,
                      const struct cfg_node *val);

/* Fails unless val is a mapping: "expected a mapping for <what>, ...". */
int cfg_expect_map(struct cfg_ctx *ctx, const char *what,
                   const struct cfg_node *val) ATTR_WUR;

/*
 * Fails unless val, the value of key, is a mapping: "expected a mapping
 * for 'key' of <ctx->where>, ...".
 */
int cfg_expect_key_map(struct cfg_ctx *ctx, const struct cfg_key *key,
                       const struct cfg_node *val) ATTR_WUR;

/* The entry count of a list or map key, given its field. */
size_t *cfg_key_count(const struct cfg_key *key, void *field);

/*
 * Reads scalar val as text with ${VAR} expanded: 0 and a malloc'd *out,
 * or -1 (not a scalar, expansion error). what names the expected type.
 */
int cfg_read_text(struct cfg_ctx *ctx, const char *what, const char *key,
                  const struct cfg_node *val, char **out) ATTR_WUR;

/* True if the key called name was present (bit set by cfg_apply_keys). */
bool cfg_key_seen(const struct cfg_section *section, uint64_t seen,
                  const char *name);

/* True if name is a valid service or probe name. */
bool cfg_name_valid(const char *name);

/*
 * Value parsers for struct cfg_key.parse; the field type is in brackets.
 * string [char *, at least min bytes], bool [bool], uint [unsigned, min..max],
 * int [int, min..max], duration [int64_t ms, min..max], size [size_t,
 * min..max], signal [int], enum [enum, from names], section [a nested
 * struct, from section], list [T * + size_t count, entries by item].
 */
int cfg_value_string(struct cfg_ctx *ctx, const struct cfg_key *key,
                     const struct cfg_node *val, void *field);
int cfg_value_bool(struct cfg_ctx *ctx, const struct cfg_key *key,
                   const struct cfg_node *val, void *field);
int cfg_value_uint(struct cfg_ctx *ctx, const struct cfg_key *key,
                   const struct cfg_node *val, void *field);
int cfg_value_int(struct cfg_ctx *ctx, const struct cfg_key *key,
                  const struct cfg_node *val, void *field);
int cfg_value_duration(struct cfg_ctx *ctx, const struct cfg_key *key,
                       const struct cfg_node *val, void *field);
int cfg_value_size(struct cfg_ctx *ctx, const struct cfg_key *key,
                   const struct cfg_node *val, void *field);
int cfg_value_signal(struct cfg_ctx *ctx, const struct cfg_key *key,
                     const struct cfg_node *val, void *field);
int cfg_value_enum(struct cfg_ctx *ctx, const struct cfg_key *key,
                   const struct cfg_node *val, void *field);
int cfg_value_section(struct cfg_ctx *ctx, const struct cfg_key *key,
                      const struct cfg_node *val, void *field);
int cfg_value_list(struct cfg_ctx *ctx, const struct cfg_key *key,
                   const struct cfg_node *val, void *field);

#endif
