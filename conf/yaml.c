/*
 * libyaml events to a struct cfg_doc tree (see yaml.h). A stack of open
 * collections receives the nodes as their events arrive; anchors are
 * registered once their node is complete, so an alias can never make the
 * tree cyclic.
 */
#include "conf/yaml.h"

#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#define DEPTH_MAX   32      /* nested collections; the schema needs 5 */
#define ANCHORS_MAX 256     /* distinct anchors in one file */
#define MAP_MAX     4096    /* pairs in one mapping (keys are checked O(n^2)) */
#define ALIASED_MAX 1000000 /* nodes reached again through aliases */
/* Scalar bytes reached again through aliases: 16 times the largest file. */
#define ALIASED_BYTES_MAX (16u * 1024 * 1024)

struct frame {
    struct cfg_node *node;
    char *anchor;    /* registered when the collection ends */
    size_t cap;      /* allocated pairs or items */
    bool want_value; /* map: pairs[count].key is set, its value is next */
};

struct anchor {
    char *name;
    struct cfg_node *node;
};

struct builder {
    const char *path;
    const char *data;
    size_t len;
    size_t chars; /* in data, as libyaml counts them for its marks */
    struct cfg_error *err;
    struct cfg_doc *doc;
    bool seen_document;
    size_t depth;
    struct frame stack[DEPTH_MAX];
    size_t anchors_count;
    struct anchor anchors[ANCHORS_MAX];
    size_t aliased;       /* nodes the aliases so far stand for */
    size_t aliased_bytes; /* and the scalar bytes in them */
};

static int fail(struct builder *b, struct cfg_mark mark, const char *fmt, ...)
    ATTR_FMT(3, 4);

static int fail(struct builder *b, struct cfg_mark mark, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    cfg_error_vset(b->err, b->path, mark.line, mark.col, fmt, ap);
    va_end(ap);
    return -1;
}

/* Where the text starts: after a UTF-8 byte order mark, if any. */
static size_t text_start(const struct builder *b)
{
    return b->len >= 3 && memcmp(b->data, "\xef\xbb\xbf", 3) == 0 ? 3 : 0;
}

/*
 * The byte offset of a libyaml mark index, which counts characters (a
 * UTF-8 sequence is one) from after the byte order mark; b->len for the
 * end of the stream.
 */
static size_t byte_offset(const struct builder *b, size_t index)
{
    for (size_t i = text_start(b); i < b->len; i++) {
        if (((unsigned char)b->data[i] & 0xc0) == 0x80)
            continue; /* a UTF-8 continuation byte */
        if (index-- == 0)
            return i;
    }
    return b->len;
}

/* How many characters libyaml's mark indexes run over in the input. */
static size_t count_chars(const struct builder *b)
{
    size_t n = 0;

    for (size_t i = text_start(b); i < b->len; i++)
        n += ((unsigned char)b->data[i] & 0xc0) != 0x80;
    return n;
}

/*
 * Line and column of a byte offset, counted as libyaml counts them: breaks
 * are CR LF, CR, LF, NEL, LS and PS; columns are characters.
 */
static struct cfg_mark mark_at_offset(const struct builder *b, size_t off)
{
    const unsigned char *p = (const unsigned char *)b->data;
    struct cfg_mark mark = {1, 1};

    for (size_t i = text_start(b); i < off && i < b->len; i++) {
        bool nel = p[i] == 0xc2 && i + 1 < b->len && p[i + 1] == 0x85;
        bool ls_ps = p[i] == 0xe2 && i + 2 < b->len && p[i + 1] == 0x80 &&
                     (p[i + 2] == 0xa8 || p[i + 2] == 0xa9);

        if (p[i] == '\r' && i + 1 < off && i + 1 < b->len && p[i + 1] == '\n')
            continue; /* CR LF: the LF counts */
        if (p[i] == '\n' || p[i] == '\r' || nel || ls_ps) {
            mark.line++;
            mark.col = 1;
        } else if ((p[i] & 0xc0) != 0x80) {
            mark.col++; /* not a UTF-8 continuation byte */
        }
    }
    return mark;
}

static struct cfg_mark mark_of(yaml_mark_t m)
{
    struct cfg_mark mark = {(unsigned)m.line + 1, (unsigned)m.column + 1};

    return mark;
}

/*
 * The position of a libyaml mark. libyaml puts the end of a stream that
 * does not end in a newline on a line of its own, past the last one: a
 * mark there names the end of the file instead.
 */
static struct cfg_mark mark_in(const struct builder *b, yaml_mark_t m)
{
    if (m.index >= b->chars)
        return mark_at_offset(b, b->len);
    return mark_of(m);
}

static int parser_error(struct builder *b, const yaml_parser_t *p)
{
    struct cfg_mark mark = mark_in(b, p->problem_mark);
    size_t at = byte_offset(b, p->problem_mark.index);
    const char *problem = p->problem ? p->problem : "invalid YAML";

    switch (p->error) {
    case YAML_MEMORY_ERROR:
        return fail(b, (struct cfg_mark){0, 0}, "out of memory");
    case YAML_READER_ERROR:
        return fail(b, mark_at_offset(b, p->problem_offset),
                    "%s; expected UTF-8 text", problem);
    default:
        break;
    }
    if (at < b->len && b->data[at] == '\t')
        return fail(b, mark,
                    "found a tab character; YAML indents with spaces only");
    if (p->context == NULL)
        return fail(b, mark, "%s", problem);
    return fail(b, mark, "%s (%s at line %u, column %u)", problem, p->context,
                mark_of(p->context_mark).line, mark_of(p->context_mark).col);
}

static struct cfg_node *new_node(struct builder *b, enum cfg_node_kind kind,
                                 yaml_mark_t m)
{
    struct cfg_node *node = calloc(1, sizeof(*node));

    if (node == NULL) {
        fail(b, (struct cfg_mark){0, 0}, "out of memory");
        return NULL;
    }
    node->kind = kind;
    node->weight = 1;
    node->mark = mark_in(b, m);
    node->next_owned = b->doc->owned;
    b->doc->owned = node;
    return node;
}

static int remember_anchor(struct builder *b, const char *name,
                           struct cfg_node *node)
{
    size_t i;

    for (i = 0; i < b->anchors_count; i++) {
        if (strcmp(b->anchors[i].name, name) == 0)
            break;
    }
    if (i == ANCHORS_MAX)
        return fail(b, node->mark, "more than %d anchors in one file",
                    ANCHORS_MAX);
    if (i == b->anchors_count) {
        b->anchors[i].name = strdup(name);
        if (b->anchors[i].name == NULL)
            return fail(b, node->mark, "out of memory");
        b->anchors_count++;
    }
    b->anchors[i].node = node; /* a redefined anchor replaces the old one */
    return 0;
}

/*
 * Returns array (of elem-sized entries, *cap allocated) with room for
 * entry count, reallocated if needed; NULL (array untouched) on ENOMEM.
 */
static void *reserve(void *array, size_t *cap, size_t count, size_t elem)
{
    size_t n = *cap ? *cap * 2 : 4;
    void *p;

    if (count < *cap)
        return array;
    p = realloc(array, n * elem);
    if (p != NULL)
        *cap = n;
    return p;
}

static int check_key(struct builder *b, const struct cfg_node *map,
                     const struct cfg_node *key)
{
    if (key->kind != CFG_NODE_SCALAR)
        return fail(b, key->mark, "expected a scalar as mapping key, found %s",
                    cfg_node_kind_name(key));
    if (key->plain && strcmp(key->text, "<<") == 0)
        return fail(b, key->mark,
                    "merge keys ('<<') are not supported; write the keys out "
                    "or use an alias for the whole value");
    if (map->count >= MAP_MAX)
        return fail(b, key->mark, "more than %d keys in one mapping", MAP_MAX);
    for (size_t i = 0; i < map->count; i++) {
        const struct cfg_node *first = map->pairs[i].key;

        if (strcmp(first->text, key->text) == 0)
            return fail(b, key->mark,
                        "duplicate key '%s' (first at line %u, column %u)",
                        key->text, first->mark.line, first->mark.col);
    }
    return 0;
}

/* Adds a map's key or value: a pair is counted once its value arrives. */
static int add_to_map(struct builder *b, struct frame *f, struct cfg_node *node)
{
    struct cfg_node *map = f->node;
    struct cfg_pair *pairs;

    if (f->want_value) {
        map->pairs[map->count++].value = node;
        f->want_value = false;
        return 0;
    }
    if (check_key(b, map, node) < 0)
        return -1;
    pairs = reserve(map->pairs, &f->cap, map->count, sizeof(*pairs));
    if (pairs == NULL)
        return fail(b, node->mark, "out of memory");
    map->pairs = pairs;
    pairs[map->count].key = node;
    pairs[map->count].value = NULL;
    f->want_value = true;
    return 0;
}

static int add_node(struct builder *b, struct cfg_node *node)
{
    struct frame *f;
    struct cfg_node **items;

    if (b->depth == 0) {
        b->doc->root = node;
        return 0;
    }
    f = &b->stack[b->depth - 1];
    f->node->weight += node->weight;
    f->node->bytes += node->bytes;
    if (f->node->kind == CFG_NODE_MAP)
        return add_to_map(b, f, node);
    items = reserve(f->node->items, &f->cap, f->node->count, sizeof(*items));
    if (items == NULL)
        return fail(b, node->mark, "out of memory");
    f->node->items = items;
    items[f->node->count++] = node;
    return 0;
}

static int on_scalar(struct builder *b, const yaml_event_t *ev)
{
    const char *value = (const char *)ev->data.scalar.value;
    size_t len = ev->data.scalar.length;
    struct cfg_node *node = new_node(b, CFG_NODE_SCALAR, ev->start_mark);

    if (node == NULL)
        return -1;
    if (memchr(value, '\0', len) != NULL)
        return fail(b, node->mark, "NUL characters are not allowed");
    node->text = strndup(value, len);
    if (node->text == NULL)
        return fail(b, node->mark, "out of memory");
    node->bytes = len;
    node->plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
    if (ev->data.scalar.anchor != NULL &&
        remember_anchor(b, (const char *)ev->data.scalar.anchor, node) < 0)
        return -1;
    return add_node(b, node);
}

static int on_alias(struct builder *b, const yaml_event_t *ev)
{
    const char *name = (const char *)ev->data.alias.anchor;

    for (size_t i = 0; i < b->anchors_count; i++) {
        const struct cfg_node *node = b->anchors[i].node;

        if (strcmp(b->anchors[i].name, name) != 0)
            continue;
        /* The loader walks an aliased node once per alias: a few aliases
         * of aliases would otherwise make a small file take forever. */
        b->aliased += node->weight;
        if (b->aliased > ALIASED_MAX)
            return fail(b, mark_in(b, ev->start_mark),
                        "aliases repeat more than %d nodes; write the "
                        "configuration out",
                        ALIASED_MAX);
        /* Nodes alone miss a long string aliased many times: each use is
         * a copy the loader makes, so its bytes count at each alias. */
        b->aliased_bytes += node->bytes;
        if (b->aliased_bytes > ALIASED_BYTES_MAX)
            return fail(b, mark_in(b, ev->start_mark),
                        "aliases repeat more than %u MiB of text; write "
                        "the configuration out",
                        ALIASED_BYTES_MAX / (1024 * 1024));
        return add_node(b, b->anchors[i].node);
    }
    return fail(b, mark_in(b, ev->start_mark),
                "unknown alias '*%s'; define '&%s' on a complete node "
                "before it",
                name, name);
}

static int on_collection_start(struct builder *b, const yaml_event_t *ev,
                               enum cfg_node_kind kind)
{
    const yaml_char_t *anchor = kind == CFG_NODE_MAP
                                    ? ev->data.mapping_start.anchor
                                    : ev->data.sequence_start.anchor;
    struct cfg_node *node = new_node(b, kind, ev->start_mark);
    struct frame *f;

    if (node == NULL)
        return -1;
    if (b->depth == DEPTH_MAX)
        return fail(b, node->mark, "nesting deeper than %d levels", DEPTH_MAX);
    f = &b->stack[b->depth++];
    f->node = node;
    f->cap = 0;
    f->anchor = NULL;
    f->want_value = false;
    if (anchor != NULL) {
        f->anchor = strdup((const char *)anchor);
        if (f->anchor == NULL)
            return fail(b, node->mark, "out of memory");
    }
    return 0;
}

static int on_collection_end(struct builder *b)
{
    struct frame *f;
    int rc = 0;

    assert(b->depth > 0); /* libyaml balances start and end events */
    f = &b->stack[--b->depth];
    if (f->anchor != NULL) {
        rc = remember_anchor(b, f->anchor, f->node);
        free(f->anchor);
        f->anchor = NULL;
    }
    if (rc < 0)
        return rc;
    return add_node(b, f->node);
}

static int on_event(struct builder *b, const yaml_event_t *ev)
{
    switch (ev->type) {
    case YAML_DOCUMENT_START_EVENT:
        if (b->seen_document)
            return fail(b, mark_in(b, ev->start_mark),
                        "a second document; the configuration is one YAML "
                        "document");
        b->seen_document = true;
        return 0;
    case YAML_SCALAR_EVENT:
        return on_scalar(b, ev);
    case YAML_ALIAS_EVENT:
        return on_alias(b, ev);
    case YAML_MAPPING_START_EVENT:
        return on_collection_start(b, ev, CFG_NODE_MAP);
    case YAML_SEQUENCE_START_EVENT:
        return on_collection_start(b, ev, CFG_NODE_SEQ);
    case YAML_MAPPING_END_EVENT:
    case YAML_SEQUENCE_END_EVENT:
        return on_collection_end(b);
    default:
        return 0;
    }
}

static int run_parser(struct builder *b)
{
    const unsigned char *p = (const unsigned char *)b->data;
    yaml_parser_t parser;
    bool done = false;
    int rc = 0;

    /* libyaml would read UTF-16 after its byte order mark, but positions
     * here (and every message's excerpt) count UTF-8. */
    if (b->len >= 2 &&
        ((p[0] == 0xfe && p[1] == 0xff) || (p[0] == 0xff && p[1] == 0xfe)))
        return fail(b, (struct cfg_mark){1, 1},
                    "a UTF-16 byte order mark; expected UTF-8 text");
    if (!yaml_parser_initialize(&parser))
        return fail(b, (struct cfg_mark){0, 0}, "out of memory");
    yaml_parser_set_input_string(&parser, (const unsigned char *)b->data,
                                 b->len);
    while (rc == 0 && !done) {
        yaml_event_t ev;

        if (!yaml_parser_parse(&parser, &ev)) {
            rc = parser_error(b, &parser);
            break;
        }
        rc = on_event(b, &ev);
        done = ev.type == YAML_STREAM_END_EVENT;
        yaml_event_delete(&ev);
    }
    yaml_parser_delete(&parser);
    return rc;
}

int cfg_yaml_parse(const char *path, const char *data, size_t len,
                   struct cfg_doc **out, struct cfg_error *err)
{
    struct builder *b;
    int rc;

    b = calloc(1, sizeof(*b));
    if (b == NULL)
        goto out_nomem;
    b->doc = calloc(1, sizeof(*b->doc));
    if (b->doc == NULL)
        goto out_free_builder;
    b->path = path;
    b->data = data;
    b->len = len;
    b->chars = count_chars(b);
    b->err = err;
    rc = run_parser(b);
    while (b->depth > 0)
        free(b->stack[--b->depth].anchor);
    for (size_t i = 0; i < b->anchors_count; i++)
        free(b->anchors[i].name);
    if (rc < 0)
        cfg_yaml_free(b->doc);
    else
        *out = b->doc;
    free(b);
    return rc;

out_free_builder:
    free(b);
out_nomem:
    cfg_error_set(err, path, 0, 0, "out of memory");
    return -1;
}

void cfg_yaml_free(struct cfg_doc *doc)
{
    struct cfg_node *node;

    if (doc == NULL)
        return;
    node = doc->owned;
    while (node != NULL) {
        struct cfg_node *next = node->next_owned;

        free(node->text);
        free(node->pairs);
        free(node->items);
        free(node);
        node = next;
    }
    free(doc);
}

bool cfg_node_is_null(const struct cfg_node *node)
{
    static const char *const nulls[] = {"", "~", "null", "Null", "NULL"};

    if (node->kind != CFG_NODE_SCALAR || !node->plain)
        return false;
    for (size_t i = 0; i < ARRAY_SIZE(nulls); i++) {
        if (strcmp(node->text, nulls[i]) == 0)
            return true;
    }
    return false;
}

const struct cfg_pair *cfg_node_find(const struct cfg_node *map,
                                     const char *key)
{
    if (map == NULL || map->kind != CFG_NODE_MAP)
        return NULL;
    for (size_t i = 0; i < map->count; i++) {
        if (strcmp(map->pairs[i].key->text, key) == 0)
            return &map->pairs[i];
    }
    return NULL;
}

const struct cfg_node *cfg_node_value(const struct cfg_node *map,
                                      const char *key)
{
    const struct cfg_pair *pair = cfg_node_find(map, key);

    return pair ? pair->value : NULL;
}

const char *cfg_node_kind_name(const struct cfg_node *node)
{
    switch (node->kind) {
    case CFG_NODE_MAP:
        return "a mapping";
    case CFG_NODE_SEQ:
        return "a sequence";
    case CFG_NODE_SCALAR:
        break;
    }
    return cfg_node_is_null(node) ? "an empty value" : "a scalar";
}
