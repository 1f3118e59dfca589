/*
 * The YAML front end and sole user of libyaml: turns one YAML document
 * into a tree of mappings, sequences and scalars in which every node
 * keeps its 1-based position. Rejects what the schema never wants:
 * several documents, non-scalar or duplicate mapping keys, merge keys.
 * Aliases resolve to their anchored node, so a node may have several
 * parents; the struct cfg_doc owns every node and frees them together.
 */
#ifndef SIDECAR_CONF_YAML_H
#define SIDECAR_CONF_YAML_H

#include <stdbool.h>
#include <stddef.h>

#include "base/util.h"
#include "conf/error.h"
#include "conf/model.h"

enum cfg_node_kind { CFG_NODE_SCALAR, CFG_NODE_MAP, CFG_NODE_SEQ };

struct cfg_node;

struct cfg_pair {
    struct cfg_node *key; /* always a scalar */
    struct cfg_node *value;
};

struct cfg_node {
    enum cfg_node_kind kind;
    struct cfg_mark mark;
    char *text;                  /* scalar: NUL-terminated, no NUL inside */
    bool plain;                  /* scalar: written without quotes */
    struct cfg_pair *pairs;      /* map: file order, keys unique */
    struct cfg_node **items;     /* sequence */
    size_t count;                /* pairs or items */
    size_t weight;               /* nodes in it, each alias in full */
    size_t bytes;                /* scalar text in it, likewise */
    struct cfg_node *next_owned; /* the doc's list of every node */
};

struct cfg_doc {
    struct cfg_node *root; /* NULL for a file without a document */
    struct cfg_node *owned;
};

/*
 * Parses data (len bytes; path only for messages) into *out. Returns 0,
 * or -1 with err set to the first syntax or structure problem.
 */
int cfg_yaml_parse(const char *path, const char *data, size_t len,
                   struct cfg_doc **out, struct cfg_error *err) ATTR_WUR;

/* Frees the doc and every node in it. cfg_yaml_free(NULL) is a no-op. */
void cfg_yaml_free(struct cfg_doc *doc);

/* True for a plain scalar "", "~", "null", "Null" or "NULL". */
bool cfg_node_is_null(const struct cfg_node *node);

/* The pair whose key is key in map, or NULL (also if map is not a map). */
const struct cfg_pair *cfg_node_find(const struct cfg_node *map,
                                     const char *key);

/* The value under key in map, or NULL (also if map is not a map). */
const struct cfg_node *cfg_node_value(const struct cfg_node *map,
                                      const char *key);

/* "a mapping", "a sequence", "a scalar" or "an empty value", for errors. */
const char *cfg_node_kind_name(const struct cfg_node *node);

#endif
