/*
 * The table engine of the loader (redis standardConfig style). A section
 * is an array of struct cfg_key rows, and a row is everything about one
 * key of sidecar.yaml: its name, kind, model field, limits, default,
 * whether it is required, what a change to it does on reload, and its
 * doc line. cfg_apply_keys() walks a YAML mapping against the rows,
 * rejects unknown keys (suggesting the nearest known one) and stores each
 * value through its parser; cfg_keys_default(), cfg_keys_free(),
 * cfg_keys_equal() and cfg_keys_diff() walk the same rows. The rows are
 * in conf/keys.c. Also the typed value parsers and the error helpers that
 * phrase "expected X for 'key', found Y" uniformly.
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
 * How a value is stored in the model, which decides how it is parsed by
 * default, freed and compared. Lists are an array plus a size_t count;
 * their entries are of the kind of the row's item.
 */
enum cfg_kind {
    CFG_STRING,   /* char *; NULL: not set */
    CFG_BOOL,     /* bool */
    CFG_UINT,     /* unsigned, min..max */
    CFG_INT,      /* int, min..max */
    CFG_DURATION, /* int64_t milliseconds, min..max */
    CFG_SIZE,     /* size_t bytes, min..max */
    CFG_SIGNAL,   /* int, a signal number */
    CFG_ENUM,     /* an int-sized enum, valued by its index in names */
    CFG_SECTION,  /* a nested mapping: the struct of section's rows */
    CFG_LIST,     /* T * + count, entries of item's kind */
    CFG_ENTRIES,  /* T * + count of named entries (a struct starting with
                     char *name, the mapping's key) of section's rows */
    CFG_COMMAND,  /* struct cfg_command */
    CFG_ACCOUNT,  /* struct cfg_account */
    CFG_HEADER,   /* struct cfg_header (headers entries) */
    CFG_DEP,      /* struct cfg_dep (depends_on entries) */
    CFG_STATUS,   /* struct cfg_status_range (expect_status entries) */
    CFG_UMASK,    /* the section's whole struct cfg_service: umask and
                     has_umask */
    CFG_READY,    /* the section's whole struct cfg_service: ready and
                     ready_fd */
};

/* What a reload does when a key's value changes. */
enum cfg_change {
    /* Restarts the service, or replaces the probe, that holds it. */
    CFG_CHANGE_RESTART,
    /* Applied in place; the reload lists the key under "settings". */
    CFG_CHANGE_APPLY,
    /* Nothing of its own: token_file is read into token, and services
     * and probes are matched entry by entry. */
    CFG_CHANGE_NONE,
};

/* Row flags. */
#define CFG_KEY_REQUIRED 1u /* no default: the section needs it */

/*
 * One key of a section. parse() gets the value (never an empty value:
 * those mean "not set") and field = section base + offset, unset (a
 * default is freed first); it returns 0, or -1 with ctx->err set, and
 * what it stored is freed by cfg_keys_free(). NULL: the kind's own parser
 * (STRING to LIST).
 */
struct cfg_key {
    const char *name;
    enum cfg_kind kind;
    int (*parse)(struct cfg_ctx *ctx, const struct cfg_key *key,
                 const struct cfg_node *val, void *field);
    size_t offset;
    size_t size;                       /* of the field; 0: not checked */
    size_t count_offset;               /* lists and entries: entry count */
    int64_t min;                       /* numbers; lists: fewest entries */
    int64_t max;                       /* numbers */
    const char *const *names;          /* enums: NULL-terminated, by value */
    const struct cfg_section *section; /* sections and entries: the rows */
    const struct cfg_key *item;        /* lists: one entry */
    size_t item_size; /* entries, and list items: bytes per entry */
    unsigned types;   /* probes: CFG_PROBE_BITs where valid; 0: everywhere */
    /*
     * As the file would write it; lists: their one entry. Parsed by the
     * row's parser before the file's value is. NULL: zero, false, unset
     * (or a default that depends on other keys: see the doc line).
     */
    const char *def;
    unsigned flags;         /* CFG_KEY_* */
    enum cfg_change change; /* 0: restart */
    const char *doc;        /* one line, for people */
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

/* The struct a key's field is in, given the field. */
void *cfg_key_base(const struct cfg_key *key, void *field);

/* Parses val into field with key's parser (see struct cfg_key). */
int cfg_key_parse(struct cfg_ctx *ctx, const struct cfg_key *key,
                  const struct cfg_node *val, void *field) ATTR_WUR;

/*
 * Stores the default of every key of section valid here (ctx->probe_bit)
 * into base, nested sections included. 0, or -1 with ctx->err set (out
 * of memory); what it stored is freed by cfg_keys_free().
 */
int cfg_keys_default(struct cfg_ctx *ctx, const struct cfg_section *section,
                     void *base) ATTR_WUR;

/* The first required key of section valid here but not seen, or NULL. */
const struct cfg_key *cfg_keys_missing(const struct cfg_ctx *ctx,
                                       const struct cfg_section *section,
                                       uint64_t seen);

/* Frees every value of section's keys in base (not base itself). */
void cfg_keys_free(const struct cfg_section *section, void *base);

/*
 * True if every key of section that restarts on change is equal in a and
 * b: strings by content (NULL equals only NULL), lists entry by entry in
 * order; an account by name, a dependency by name and condition, a
 * command by argv and shell; positions in the file never count.
 */
bool cfg_keys_equal(const struct cfg_section *section, const void *a,
                    const void *b);

/*
 * Calls changed(path, arg) for each key of section, nested ones as
 * "http.listen", that is applied in place and differs between a and b,
 * in row order; stops at and returns its first nonzero result.
 */
int cfg_keys_diff(const struct cfg_section *section, const void *a,
                  const void *b, int (*changed)(const char *path, void *arg),
                  void *arg) ATTR_WUR;

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

/* The kind's name, for listings: "string", "duration", "list"... */
const char *cfg_kind_name(enum cfg_kind kind);

#endif
