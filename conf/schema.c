/*
 * The table engine and the typed value parsers (see schema.h). Every
 * message about a value has the shape "expected <what> for '<key>',
 * found <value>", so users learn the grammar once.
 */
#include "conf/schema.h"

#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf/parse.h"

#define FOUND_MAX     48 /* bytes of a value quoted back in a message */
#define SUGGEST_MAX   2  /* edit distance for "did you mean" */
#define KEY_LEN_MAX   32 /* longer unknown keys get no suggestion */
#define NAME_LEN_MAX  63 /* service and probe names (a DNS label) */
#define DURATION_WHAT "a duration such as 500ms, 5s or 1m"
#define SIZE_WHAT     "a size such as 16384, 16KiB or 1MiB"

int cfg_fail(struct cfg_ctx *ctx, const struct cfg_node *node, const char *fmt,
             ...)
{
    va_list ap;

    va_start(ap, fmt);
    cfg_error_vset(ctx->err, ctx->path, node ? node->mark.line : 0,
                   node ? node->mark.col : 0, fmt, ap);
    va_end(ap);
    return -1;
}

int cfg_dup_string(struct cfg_ctx *ctx, char **dst, const char *s)
{
    char *copy = strdup(s);

    if (copy == NULL)
        return cfg_fail(ctx, NULL, "out of memory");
    free(*dst);
    *dst = copy;
    return 0;
}

/* Quotes text for a message: at most FOUND_MAX bytes, controls as '?'. */
static void quote(const char *text, char *buf, size_t len)
{
    size_t n = strlen(text);
    bool cut = n > FOUND_MAX;
    size_t i;

    if (cut) {
        n = FOUND_MAX;
        while (n > 0 && ((unsigned char)text[n] & 0xc0) == 0x80)
            n--; /* do not split a UTF-8 sequence */
    }
    if (n + 6 > len)
        n = len > 6 ? len - 6 : 0;
    buf[0] = '\'';
    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)text[i];

        buf[i + 1] = c < ' ' || c == 0x7f ? '?' : (char)c;
    }
    snprintf(buf + n + 1, len - n - 1, "%s'", cut ? "..." : "");
}

int cfg_fail_expected(struct cfg_ctx *ctx, const char *what, const char *key,
                      const struct cfg_node *val)
{
    char buf[FOUND_MAX + 8];
    const char *found;

    /* The text as written, never as expanded: ${VAR} may hold a secret,
     * and the message reaches the log and /health/details. */
    if (val->kind == CFG_NODE_SCALAR && !cfg_node_is_null(val)) {
        quote(val->text, buf, sizeof(buf));
        found = buf;
    } else {
        found = cfg_node_kind_name(val);
    }
    return cfg_fail(ctx, val, "expected %s for '%s', found %s", what, key,
                    found);
}

int cfg_expect_map(struct cfg_ctx *ctx, const char *what,
                   const struct cfg_node *val)
{
    if (val->kind == CFG_NODE_MAP)
        return 0;
    return cfg_fail(ctx, val, "expected a mapping for %s, found %s", what,
                    cfg_node_kind_name(val));
}

/* Writes "'key'" or "'key' of <where>" for messages about key's value. */
static void key_where(const struct cfg_ctx *ctx, const struct cfg_key *key,
                      char *buf, size_t len)
{
    if (strcmp(ctx->where, CFG_WHERE_TOP) == 0)
        snprintf(buf, len, "'%s'", key->name);
    else
        snprintf(buf, len, "'%s' of %s", key->name, ctx->where);
}

int cfg_expect_key_map(struct cfg_ctx *ctx, const struct cfg_key *key,
                       const struct cfg_node *val)
{
    char where[CFG_WHERE_MAX];

    key_where(ctx, key, where, sizeof(where));
    return cfg_expect_map(ctx, where, val);
}

void *cfg_key_base(const struct cfg_key *key, void *field)
{
    return (char *)field - key->offset;
}

size_t *cfg_key_count(const struct cfg_key *key, void *field)
{
    void *count = (char *)cfg_key_base(key, field) + key->count_offset;

    return count;
}

/* cfg_key_count() for reading. */
static size_t key_count(const struct cfg_key *key, const void *field)
{
    return *cfg_key_count(key, (void *)field);
}

/* The size of a field of kind, or 0 when the row's parser knows it. */
static size_t kind_size(enum cfg_kind kind)
{
    static const size_t sizes[] = {
        [CFG_STRING] = sizeof(char *),
        [CFG_BOOL] = sizeof(bool),
        [CFG_UINT] = sizeof(unsigned),
        [CFG_INT] = sizeof(int),
        [CFG_DURATION] = sizeof(int64_t),
        [CFG_SIZE] = sizeof(size_t),
        [CFG_SIGNAL] = sizeof(int),
        [CFG_ENUM] = sizeof(int),
        [CFG_LIST] = sizeof(void *),
        [CFG_ENTRIES] = sizeof(void *),
        [CFG_COMMAND] = sizeof(struct cfg_command),
        [CFG_ACCOUNT] = sizeof(struct cfg_account),
    };

    return kind < ARRAY_SIZE(sizes) ? sizes[kind] : 0;
}

int cfg_key_parse(struct cfg_ctx *ctx, const struct cfg_key *key,
                  const struct cfg_node *val, void *field)
{
    static int (*const by_kind[])(struct cfg_ctx *, const struct cfg_key *,
                                  const struct cfg_node *, void *) = {
        [CFG_STRING] = cfg_value_string,     [CFG_BOOL] = cfg_value_bool,
        [CFG_UINT] = cfg_value_uint,         [CFG_INT] = cfg_value_int,
        [CFG_DURATION] = cfg_value_duration, [CFG_SIZE] = cfg_value_size,
        [CFG_SIGNAL] = cfg_value_signal,     [CFG_ENUM] = cfg_value_enum,
        [CFG_SECTION] = cfg_value_section,   [CFG_LIST] = cfg_value_list,
    };
    int (*parse)(struct cfg_ctx *, const struct cfg_key *,
                 const struct cfg_node *, void *) = key->parse;

    if (parse == NULL && key->kind < ARRAY_SIZE(by_kind))
        parse = by_kind[key->kind];
    assert(parse != NULL); /* a row of another kind names its parser */
    assert(key->size == 0 || kind_size(key->kind) == 0 ||
           key->size == kind_size(key->kind));
    return parse(ctx, key, val, field);
}

int cfg_read_text(struct cfg_ctx *ctx, const char *what, const char *key,
                  const struct cfg_node *val, char **out)
{
    char msg[CFG_ERROR_MSG_MAX];
    int rc;

    if (val->kind != CFG_NODE_SCALAR || cfg_node_is_null(val))
        return cfg_fail_expected(ctx, what, key, val);
    rc = cfg_expand_env(val->text, out, msg, sizeof(msg));
    if (rc < 0)
        return cfg_fail(ctx, val, "%s", msg);
    return 0;
}

bool cfg_key_seen(const struct cfg_section *section, uint64_t seen,
                  const char *name)
{
    for (size_t i = 0; i < section->count; i++) {
        if (strcmp(section->keys[i].name, name) == 0)
            return (seen & (UINT64_C(1) << i)) != 0;
    }
    return false;
}

bool cfg_name_valid(const char *name)
{
    size_t n = strlen(name);

    if (n == 0 || n > NAME_LEN_MAX || name[0] == '.' || name[0] == '_' ||
        name[0] == '-')
        return false;
    return strspn(name, "abcdefghijklmnopqrstuvwxyz"
                        "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
                        "0123456789._-") == n;
}

/* Optimal string alignment distance, capped at SUGGEST_MAX + 1. */
static size_t edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    size_t d[KEY_LEN_MAX + 1][KEY_LEN_MAX + 1];

    if (la > KEY_LEN_MAX || lb > KEY_LEN_MAX)
        return SUGGEST_MAX + 1;
    for (size_t i = 0; i <= la; i++)
        d[i][0] = i;
    for (size_t j = 0; j <= lb; j++)
        d[0][j] = j;
    for (size_t i = 1; i <= la; i++) {
        for (size_t j = 1; j <= lb; j++) {
            size_t cost = a[i - 1] != b[j - 1];
            size_t best = d[i - 1][j - 1] + cost;

            if (d[i - 1][j] + 1 < best)
                best = d[i - 1][j] + 1;
            if (d[i][j - 1] + 1 < best)
                best = d[i][j - 1] + 1;
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] &&
                a[i - 2] == b[j - 1] && d[i - 2][j - 2] + 1 < best)
                best = d[i - 2][j - 2] + 1;
            d[i][j] = best;
        }
    }
    return d[la][lb];
}

static bool key_valid_here(const struct cfg_ctx *ctx, const struct cfg_key *k)
{
    return k->types == 0 || (k->types & ctx->probe_bit) != 0;
}

static int fail_unknown_key(struct cfg_ctx *ctx,
                            const struct cfg_section *section,
                            const struct cfg_node *key)
{
    const struct cfg_key *best = NULL;
    size_t best_d = SUGGEST_MAX + 1;
    char list[CFG_ERROR_MSG_MAX] = "";
    size_t used = 0;

    for (size_t i = 0; i < section->count; i++) {
        const struct cfg_key *k = &section->keys[i];
        size_t d;
        int w;

        if (!key_valid_here(ctx, k))
            continue;
        d = edit_distance(key->text, k->name);
        if (d < best_d && d < strlen(k->name)) {
            best = k;
            best_d = d;
        }
        w = snprintf(list + used, sizeof(list) - used, "%s%s", used ? ", " : "",
                     k->name);
        if (w > 0 && (size_t)w < sizeof(list) - used)
            used += (size_t)w;
    }
    if (best != NULL)
        return cfg_fail(ctx, key, "unknown key '%s' in %s; did you mean '%s'?",
                        key->text, ctx->where, best->name);
    return cfg_fail(ctx, key, "unknown key '%s' in %s; expected one of: %s",
                    key->text, ctx->where, list);
}

static const struct cfg_key *find_key(struct cfg_ctx *ctx,
                                      const struct cfg_section *section,
                                      const struct cfg_node *key)
{
    for (size_t i = 0; i < section->count; i++) {
        const struct cfg_key *k = &section->keys[i];

        if (strcmp(k->name, key->text) != 0)
            continue;
        if (!key_valid_here(ctx, k)) {
            cfg_fail(ctx, key, "key '%s' is not valid for %s", k->name,
                     ctx->probe_kind);
            return NULL;
        }
        return k;
    }
    fail_unknown_key(ctx, section, key);
    return NULL;
}

/* Bytes per entry of a list or entries key. */
static size_t entry_size(const struct cfg_key *key)
{
    return key->kind == CFG_LIST ? key->item->item_size : key->item_size;
}

/* Frees the value of key at field and leaves it unset. */
static void free_value(const struct cfg_key *key, void *field)
{
    switch (key->kind) {
    case CFG_STRING: {
        char **s = field;
        free(*s);
        *s = NULL;
        break;
    }
    case CFG_SECTION:
        cfg_keys_free(key->section, field);
        break;
    case CFG_LIST:
    case CFG_ENTRIES: {
        char **items = field;
        size_t *count = cfg_key_count(key, field);
        size_t size = entry_size(key);
        for (size_t i = 0; *items != NULL && i < *count; i++) {
            void *entry = *items + i * size;
            if (key->kind == CFG_LIST) {
                free_value(key->item, entry);
                continue;
            }
            free(*(char **)entry); /* the name, by cfg_kind's rule */
            cfg_keys_free(key->section, entry);
        }
        free(*items);
        *items = NULL;
        *count = 0;
        break;
    }
    case CFG_COMMAND: {
        struct cfg_command *cmd = field;
        for (size_t i = 0; cmd->argv != NULL && i < cmd->argc; i++)
            free(cmd->argv[i]);
        free(cmd->argv);
        cmd->argv = NULL;
        cmd->argc = 0;
        break;
    }
    case CFG_ACCOUNT: {
        struct cfg_account *account = field;
        free(account->name);
        free(account->written);
        account->name = NULL;
        account->written = NULL;
        break;
    }
    case CFG_HEADER: {
        struct cfg_header *h = field;
        free(h->name);
        free(h->value);
        break;
    }
    case CFG_DEP:
        free(((struct cfg_dep *)field)->name);
        break;
    default: /* nothing allocated */
        break;
    }
}

void cfg_keys_free(const struct cfg_section *section, void *base)
{
    for (size_t i = 0; i < section->count; i++)
        free_value(&section->keys[i], (char *)base + section->keys[i].offset);
}

/* By content; NULL (unset) is not "". */
static bool str_equal(const char *a, const char *b)
{
    if (a == NULL || b == NULL)
        return a == b;
    return strcmp(a, b) == 0;
}

#define SAME(type) (*(const type *)a == *(const type *)b)

static bool value_equal(const struct cfg_key *key, const void *a,
                        const void *b);

/* Entry a and b of a list or entries key. */
static bool entry_equal(const struct cfg_key *key, const void *a, const void *b)
{
    if (key->kind == CFG_LIST)
        return value_equal(key->item, a, b);
    return str_equal(*(char *const *)a, *(char *const *)b) &&
           cfg_keys_equal(key->section, a, b);
}

static bool value_equal(const struct cfg_key *key, const void *a, const void *b)
{
    switch (key->kind) {
    case CFG_STRING:
        return str_equal(*(char *const *)a, *(char *const *)b);
    case CFG_BOOL:
        return SAME(bool);
    case CFG_UINT:
        return SAME(unsigned);
    case CFG_INT:
    case CFG_SIGNAL:
    case CFG_ENUM:
        return SAME(int);
    case CFG_DURATION:
        return SAME(int64_t);
    case CFG_SIZE:
        return SAME(size_t);
    case CFG_SECTION:
        return cfg_keys_equal(key->section, a, b);
    case CFG_LIST:
    case CFG_ENTRIES: {
        const char *ia = *(char *const *)a, *ib = *(char *const *)b;
        size_t n = key_count(key, a), size = entry_size(key);
        if (n != key_count(key, b))
            return false;
        for (size_t i = 0; i < n; i++) {
            if (!entry_equal(key, ia + i * size, ib + i * size))
                return false;
        }
        return true;
    }
    case CFG_COMMAND: {
        const struct cfg_command *ca = a, *cb = b;
        if (ca->shell != cb->shell || ca->argc != cb->argc)
            return false;
        for (size_t i = 0; i < ca->argc; i++) {
            if (!str_equal(ca->argv[i], cb->argv[i]))
                return false;
        }
        return true;
    }
    case CFG_ACCOUNT: /* the name it runs as; not the text it came from */
        return str_equal(((const struct cfg_account *)a)->name,
                         ((const struct cfg_account *)b)->name);
    case CFG_HEADER: {
        const struct cfg_header *ha = a, *hb = b;
        return str_equal(ha->name, hb->name) && str_equal(ha->value, hb->value);
    }
    case CFG_DEP: { /* not the index: other services shift it */
        const struct cfg_dep *da = a, *db = b;
        return str_equal(da->name, db->name) && da->cond == db->cond;
    }
    case CFG_STATUS: {
        const struct cfg_status_range *ra = a, *rb = b;
        return ra->lo == rb->lo && ra->hi == rb->hi;
    }
    case CFG_UMASK: {
        const struct cfg_service *sa = a, *sb = b;
        return sa->has_umask == sb->has_umask && sa->umask == sb->umask;
    }
    case CFG_READY: {
        const struct cfg_service *sa = a, *sb = b;
        return sa->ready == sb->ready && sa->ready_fd == sb->ready_fd;
    }
    }
    return false;
}

bool cfg_keys_equal(const struct cfg_section *section, const void *a,
                    const void *b)
{
    for (size_t i = 0; i < section->count; i++) {
        const struct cfg_key *k = &section->keys[i];

        if (k->change == CFG_CHANGE_RESTART &&
            !value_equal(k, (const char *)a + k->offset,
                         (const char *)b + k->offset))
            return false;
    }
    return true;
}

/* cfg_keys_diff() below prefix, "" at the top. */
static int diff_keys(const struct cfg_section *section, const char *prefix,
                     const void *a, const void *b,
                     int (*changed)(const char *path, void *arg), void *arg)
{
    char path[CFG_WHERE_MAX];
    int rc = 0;

    for (size_t i = 0; i < section->count && rc == 0; i++) {
        const struct cfg_key *k = &section->keys[i];
        const char *fa = (const char *)a + k->offset;
        const char *fb = (const char *)b + k->offset;

        snprintf(path, sizeof(path), "%s%s%s", prefix, *prefix ? "." : "",
                 k->name);
        if (k->kind == CFG_SECTION)
            rc = diff_keys(k->section, path, fa, fb, changed, arg);
        else if (k->change == CFG_CHANGE_APPLY && !value_equal(k, fa, fb))
            rc = changed(path, arg);
    }
    return rc;
}

int cfg_keys_diff(const struct cfg_section *section, const void *a,
                  const void *b, int (*changed)(const char *path, void *arg),
                  void *arg)
{
    return diff_keys(section, "", a, b, changed, arg);
}

int cfg_keys_default(struct cfg_ctx *ctx, const struct cfg_section *section,
                     void *base)
{
    int rc = 0;

    for (size_t i = 0; i < section->count && rc == 0; i++) {
        const struct cfg_key *k = &section->keys[i];
        void *field = (char *)base + k->offset;
        /* Quoted: "" is a value, not "use the default". */
        struct cfg_node text = {.kind = CFG_NODE_SCALAR,
                                .text = (char *)k->def};
        struct cfg_node *item = &text;
        struct cfg_node list = {
            .kind = CFG_NODE_SEQ, .items = &item, .count = 1};

        if (!key_valid_here(ctx, k))
            continue;
        if (k->kind == CFG_SECTION)
            rc = cfg_keys_default(ctx, k->section, field);
        else if (k->def != NULL)
            rc = cfg_key_parse(ctx, k, k->kind == CFG_LIST ? &list : &text,
                               field);
    }
    return rc;
}

const struct cfg_key *cfg_keys_missing(const struct cfg_ctx *ctx,
                                       const struct cfg_section *section,
                                       uint64_t seen)
{
    for (size_t i = 0; i < section->count; i++) {
        const struct cfg_key *k = &section->keys[i];

        if ((k->flags & CFG_KEY_REQUIRED) && key_valid_here(ctx, k) &&
            !(seen & (UINT64_C(1) << i)))
            return k;
    }
    return NULL;
}

const char *cfg_kind_name(enum cfg_kind kind)
{
    static const char *const names[] = {
        [CFG_STRING] = "string",
        [CFG_BOOL] = "bool",
        [CFG_UINT] = "integer",
        [CFG_INT] = "integer",
        [CFG_DURATION] = "duration",
        [CFG_SIZE] = "size",
        [CFG_SIGNAL] = "signal",
        [CFG_ENUM] = "enum",
        [CFG_SECTION] = "mapping",
        [CFG_LIST] = "list",
        [CFG_ENTRIES] = "mapping of name to entry",
        [CFG_COMMAND] = "command",
        [CFG_ACCOUNT] = "string",
        [CFG_HEADER] = "header",
        [CFG_DEP] = "service name",
        [CFG_STATUS] = "status",
        [CFG_UMASK] = "octal umask",
        [CFG_READY] = "readiness",
    };

    return kind < ARRAY_SIZE(names) && names[kind] ? names[kind] : "?";
}

int cfg_apply_keys(struct cfg_ctx *ctx, const struct cfg_node *map,
                   const struct cfg_section *section, void *base,
                   uint64_t *seen)
{
    int rc = 0;

    assert(map->kind == CFG_NODE_MAP && section->count <= 64);
    *seen = 0;
    for (size_t i = 0; i < map->count; i++) {
        const struct cfg_pair *pair = &map->pairs[i];
        const struct cfg_key *k = find_key(ctx, section, pair->key);

        if (k != NULL && cfg_node_is_null(pair->value))
            continue; /* "key:" alone means "use the default" */
        /* A value replaces its default; a section only the keys it has. */
        if (k != NULL && k->kind != CFG_SECTION)
            free_value(k, (char *)base + k->offset);
        if (k == NULL ||
            cfg_key_parse(ctx, k, pair->value, (char *)base + k->offset) < 0) {
            /* Each key is read on its own: report the next ones too. */
            cfg_error_resume(ctx->err);
            rc = -1;
            continue;
        }
        *seen |= UINT64_C(1) << (k - section->keys);
    }
    return rc;
}

int cfg_value_string(struct cfg_ctx *ctx, const struct cfg_key *key,
                     const struct cfg_node *val, void *field)
{
    char **dst = field;
    char *text;

    if (cfg_read_text(ctx, "a string", key->name, val, &text) < 0)
        return -1;
    if (strlen(text) < (uint64_t)key->min) {
        free(text);
        return cfg_fail_expected(ctx, "a non-empty string", key->name, val);
    }
    *dst = text;
    return 0;
}

int cfg_value_bool(struct cfg_ctx *ctx, const struct cfg_key *key,
                   const struct cfg_node *val, void *field)
{
    bool *dst = field;
    char *text;
    int rc = 0;

    if (cfg_read_text(ctx, "true or false", key->name, val, &text) < 0)
        return -1;
    if (strcmp(text, "true") == 0)
        *dst = true;
    else if (strcmp(text, "false") == 0)
        *dst = false;
    else
        rc = cfg_fail_expected(ctx, "true or false", key->name, val);
    free(text);
    return rc;
}

/* Reads an integer within key->min..key->max. */
static int read_integer(struct cfg_ctx *ctx, const struct cfg_key *key,
                        const struct cfg_node *val, long long *out)
{
    char what[64];
    char *text;
    int rc;

    if (cfg_read_text(ctx, "an integer", key->name, val, &text) < 0)
        return -1;
    rc = cfg_parse_int(text, key->min, key->max, out);
    if (rc == -ERANGE) {
        snprintf(what, sizeof(what), "an integer from %" PRId64 " to %" PRId64,
                 key->min, key->max);
        rc = cfg_fail_expected(ctx, what, key->name, val);
    } else if (rc < 0) {
        rc = cfg_fail_expected(ctx, "an integer", key->name, val);
    }
    free(text);
    return rc;
}

int cfg_value_uint(struct cfg_ctx *ctx, const struct cfg_key *key,
                   const struct cfg_node *val, void *field)
{
    long long v;

    if (read_integer(ctx, key, val, &v) < 0)
        return -1;
    *(unsigned *)field = (unsigned)v;
    return 0;
}

int cfg_value_int(struct cfg_ctx *ctx, const struct cfg_key *key,
                  const struct cfg_node *val, void *field)
{
    long long v;

    if (read_integer(ctx, key, val, &v) < 0)
        return -1;
    *(int *)field = (int)v;
    return 0;
}

/* True if text is a number: a duration that only lacks its unit. */
static bool is_bare_number(const char *text)
{
    return text[0] != '\0' && strspn(text, "0123456789.") == strlen(text);
}

int cfg_value_duration(struct cfg_ctx *ctx, const struct cfg_key *key,
                       const struct cfg_node *val, void *field)
{
    char what[64], limit[CFG_DURATION_STR_MAX];
    int64_t ms;
    char *text;
    int rc;

    if (cfg_read_text(ctx, DURATION_WHAT, key->name, val, &text) < 0)
        return -1;
    rc = cfg_parse_duration(text, &ms);
    if (rc == 0 && (ms < key->min || ms > key->max)) {
        cfg_format_duration(ms < key->min ? key->min : key->max, limit,
                            sizeof(limit));
        snprintf(what, sizeof(what), "a duration of at %s %s",
                 ms < key->min ? "least" : "most", limit);
        rc = cfg_fail_expected(ctx, what, key->name, val);
    } else if (rc < 0 && is_bare_number(val->text) &&
               strlen(val->text) < FOUND_MAX) {
        rc = cfg_fail(ctx, val,
                      "expected " DURATION_WHAT " for '%s', found '%s'; "
                      "add a unit, as in '%ss'",
                      key->name, val->text, val->text);
    } else if (rc < 0) {
        rc = cfg_fail_expected(ctx, DURATION_WHAT, key->name, val);
    } else {
        *(int64_t *)field = ms;
    }
    free(text);
    return rc;
}

int cfg_value_size(struct cfg_ctx *ctx, const struct cfg_key *key,
                   const struct cfg_node *val, void *field)
{
    char what[96];
    size_t bytes;
    char *text;
    int rc;

    if (cfg_read_text(ctx, SIZE_WHAT, key->name, val, &text) < 0)
        return -1;
    rc = cfg_parse_size(text, &bytes);
    if (rc == 0 && (bytes < (uint64_t)key->min || bytes > (uint64_t)key->max)) {
        snprintf(what, sizeof(what),
                 "a size from %" PRId64 " to %" PRId64 " bytes", key->min,
                 key->max);
        rc = cfg_fail_expected(ctx, what, key->name, val);
    } else if (rc < 0) {
        rc = cfg_fail_expected(ctx, SIZE_WHAT, key->name, val);
    } else {
        *(size_t *)field = bytes;
    }
    free(text);
    return rc;
}

int cfg_value_signal(struct cfg_ctx *ctx, const struct cfg_key *key,
                     const struct cfg_node *val, void *field)
{
    static const char what[] = "a signal name such as SIGTERM or TERM";
    char *text;
    int rc;

    if (cfg_read_text(ctx, what, key->name, val, &text) < 0)
        return -1;
    rc = cfg_parse_signal(text, field);
    if (rc < 0)
        rc = cfg_fail_expected(ctx, what, key->name, val);
    free(text);
    return rc;
}

int cfg_value_enum(struct cfg_ctx *ctx, const struct cfg_key *key,
                   const struct cfg_node *val, void *field)
{
    char what[128] = "one of ";
    size_t used = strlen(what);
    char *text;
    int rc = -1;

    for (size_t i = 0; key->names[i] != NULL; i++) {
        int w = snprintf(what + used, sizeof(what) - used, "%s%s",
                         i ? ", " : "", key->names[i]);

        if (w > 0 && (size_t)w < sizeof(what) - used)
            used += (size_t)w;
    }
    if (cfg_read_text(ctx, what, key->name, val, &text) < 0)
        return -1;
    for (int i = 0; key->names[i] != NULL && rc < 0; i++) {
        if (strcmp(text, key->names[i]) == 0) {
            *(int *)field = i; /* enum fields: int-sized, values 0..n-1 */
            rc = 0;
        }
    }
    if (rc < 0)
        cfg_fail_expected(ctx, what, key->name, val);
    free(text);
    return rc;
}

int cfg_value_section(struct cfg_ctx *ctx, const struct cfg_key *key,
                      const struct cfg_node *val, void *field)
{
    const char *outer = ctx->where;
    char where[CFG_WHERE_MAX];
    uint64_t seen;
    int rc;

    key_where(ctx, key, where, sizeof(where));
    if (cfg_expect_map(ctx, where, val) < 0)
        return -1;
    ctx->where = where;
    rc = cfg_apply_keys(ctx, val, key->section, field, &seen);
    ctx->where = outer;
    return rc;
}

int cfg_value_list(struct cfg_ctx *ctx, const struct cfg_key *key,
                   const struct cfg_node *val, void *field)
{
    size_t *count = cfg_key_count(key, field);
    char *items;

    if (val->kind != CFG_NODE_SEQ)
        return cfg_fail_expected(ctx, "a list", key->name, val);
    if (val->count < (uint64_t)key->min)
        return cfg_fail(ctx, val,
                        "expected a non-empty list for '%s', found an empty "
                        "one",
                        key->name);
    items = calloc(val->count ? val->count : 1, key->item->item_size);
    if (items == NULL)
        return cfg_fail(ctx, val, "out of memory");
    /* field is a T *: store the array before filling it, so cfg_free()
     * releases what a failing entry leaves behind. */
    memcpy(field, &items, sizeof(items));
    *count = 0;
    for (size_t i = 0; i < val->count; i++) {
        void *entry = items + i * key->item->item_size;

        if (cfg_key_parse(ctx, key->item, val->items[i], entry) < 0)
            return -1;
        (*count)++;
    }
    return 0;
}
