/*
 * Cross-entry validation (see validate.h). Errors point at the entry
 * that breaks the rule: the second main, the depends_on entry naming a
 * missing service or closing a cycle, the probe's 'service' value. The
 * model's services and probes are in the file's order, so entry i of the
 * model is pair i of its mapping in the tree.
 */
#include "conf/validate.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum visit_state { UNSEEN, ON_PATH, DONE };

/* Depth-first search state for cycle detection. */
struct walk {
    struct cfg_ctx *ctx;
    const struct cfg_root *root;
    const struct cfg_node *top;
    enum visit_state *state;
    size_t *path; /* services on the current path, root first */
    size_t depth;
};

/* The mapping that defined entry i of 'services' or 'probes'. */
static const struct cfg_node *entry_node(const struct cfg_node *top,
                                         const char *section, size_t i)
{
    return cfg_node_value(top, section)->pairs[i].value;
}

/* The node naming dependency j of service i: a key or a list item. */
static const struct cfg_node *dep_node(const struct cfg_node *top, size_t i,
                                       size_t j)
{
    const struct cfg_node *deps =
        cfg_node_value(entry_node(top, "services", i), "depends_on");

    return deps->kind == CFG_NODE_MAP ? deps->pairs[j].key : deps->items[j];
}

size_t cfg_find_service(const struct cfg_root *root, const char *name)
{
    for (size_t i = 0; i < root->services_count; i++) {
        if (strcmp(root->services[i].name, name) == 0)
            return i;
    }
    return CFG_NO_INDEX;
}

size_t cfg_find_probe(const struct cfg_root *root, const char *name)
{
    for (size_t i = 0; i < root->probes_count; i++) {
        if (strcmp(root->probes[i].name, name) == 0)
            return i;
    }
    return CFG_NO_INDEX;
}

static bool has_probe_for(const struct cfg_root *root, const char *service)
{
    for (size_t i = 0; i < root->probes_count; i++) {
        const char *s = root->probes[i].service;

        if (s != NULL && strcmp(s, service) == 0)
            return true;
    }
    return false;
}

static int check_main(struct cfg_ctx *ctx, struct cfg_root *root,
                      const struct cfg_node *top)
{
    for (size_t i = 0; i < root->services_count; i++) {
        const struct cfg_service *svc = &root->services[i];

        if (svc->role != CFG_ROLE_MAIN)
            continue;
        if (root->main_index != CFG_NO_INDEX)
            return cfg_fail(
                ctx, cfg_node_value(entry_node(top, "services", i), "role"),
                "services '%s' and '%s' both have role main; exactly one may",
                root->services[root->main_index].name, svc->name);
        root->main_index = i;
    }
    if (root->services_count > 0 && root->main_index == CFG_NO_INDEX)
        return cfg_fail(ctx, cfg_node_find(top, "services")->key,
                        "no service has role main; exactly one must");
    return 0;
}

/* Resolves dependency j of service i, refusing what cannot be started. */
static int resolve_dep(struct cfg_ctx *ctx, struct cfg_root *root,
                       const struct cfg_node *top, size_t i, size_t j)
{
    struct cfg_service *svc = &root->services[i];
    struct cfg_dep *dep = &svc->deps[j];
    const struct cfg_node *at = dep_node(top, i, j);

    dep->index = cfg_find_service(root, dep->name);
    if (dep->index == CFG_NO_INDEX) /* quoted as written, ${VAR} and all */
        return cfg_fail(ctx, at,
                        "service '%s' depends on '%s', which is not "
                        "defined",
                        svc->name, at->text);
    if (dep->index == i)
        return cfg_fail(ctx, at, "service '%s' depends on itself", svc->name);
    for (size_t k = 0; k < j; k++) {
        if (svc->deps[k].index == dep->index)
            return cfg_fail(ctx, at,
                            "service '%s' lists '%s' twice in "
                            "depends_on",
                            svc->name, dep->name);
    }
    if (dep->cond == CFG_DEP_COMPLETED &&
        root->services[dep->index].role != CFG_ROLE_TASK)
        return cfg_fail(ctx, at,
                        "service '%s' waits for '%s' to be completed, but "
                        "only a task completes; '%s' needs 'role: task'",
                        svc->name, dep->name, dep->name);
    root->services[dep->index].depended_on = true;
    if (dep->cond == CFG_DEP_HEALTHY && !has_probe_for(root, dep->name))
        return cfg_fail(ctx, at,
                        "service '%s' waits for '%s' to be healthy, but no "
                        "probe has 'service: %s'",
                        svc->name, dep->name, dep->name);
    return 0;
}

/* Every dependency on its own: each error is reported. */
static int resolve_deps(struct cfg_ctx *ctx, struct cfg_root *root,
                        const struct cfg_node *top)
{
    int rc = 0;

    for (size_t i = 0; i < root->services_count; i++) {
        for (size_t j = 0; j < root->services[i].deps_count; j++) {
            if (resolve_dep(ctx, root, top, i, j) < 0) {
                cfg_error_resume(ctx->err);
                rc = -1;
            }
        }
    }
    return rc;
}

/* Reports the cycle from path entry `from` to service i, via dep j. */
static int fail_cycle(struct walk *w, size_t from, size_t i, size_t j)
{
    char msg[CFG_ERROR_MSG_MAX];
    size_t used = 0;

    for (size_t k = from; k < w->depth; k++) {
        int n = snprintf(msg + used, sizeof(msg) - used, "%s -> ",
                         w->root->services[w->path[k]].name);

        if (n < 0 || (size_t)n >= sizeof(msg) - used)
            break;
        used += (size_t)n;
    }
    return cfg_fail(w->ctx, dep_node(w->top, i, j), "dependency cycle: %s%s",
                    msg, w->root->services[w->path[from]].name);
}

static int visit(struct walk *w, size_t i)
{
    const struct cfg_service *svc = &w->root->services[i];

    w->state[i] = ON_PATH;
    w->path[w->depth++] = i;
    for (size_t j = 0; j < svc->deps_count; j++) {
        size_t next = svc->deps[j].index;

        if (w->state[next] == ON_PATH) {
            size_t from = 0;

            while (w->path[from] != next)
                from++;
            return fail_cycle(w, from, i, j);
        }
        if (w->state[next] == UNSEEN && visit(w, next) < 0)
            return -1;
    }
    w->state[i] = DONE;
    w->depth--;
    return 0;
}

static int check_cycles(struct cfg_ctx *ctx, const struct cfg_root *root,
                        const struct cfg_node *top)
{
    struct walk w = {ctx, root, top, NULL, NULL, 0};
    int rc = 0;

    w.state = calloc(root->services_count, sizeof(*w.state));
    w.path = calloc(root->services_count, sizeof(*w.path));
    if (w.state == NULL || w.path == NULL)
        rc = cfg_fail(ctx, NULL, "out of memory");
    for (size_t i = 0; rc == 0 && i < root->services_count; i++) {
        if (w.state[i] == UNSEEN)
            rc = visit(&w, i);
    }
    free(w.path);
    free(w.state);
    return rc;
}

static bool deps_placed(const struct cfg_service *svc, const bool *placed)
{
    for (size_t j = 0; j < svc->deps_count; j++) {
        if (!placed[svc->deps[j].index])
            return false;
    }
    return true;
}

/*
 * Topological order, dependencies first; among services that could start
 * next, the earliest in the file wins. Needs an acyclic graph.
 */
static int compute_start_order(struct cfg_ctx *ctx, struct cfg_root *root)
{
    size_t n = root->services_count;
    bool *placed;

    root->start_order = calloc(n ? n : 1, sizeof(*root->start_order));
    placed = calloc(n ? n : 1, sizeof(*placed));
    if (root->start_order == NULL || placed == NULL) {
        free(placed);
        return cfg_fail(ctx, NULL, "out of memory");
    }
    for (size_t pos = 0; pos < n; pos++) {
        size_t i = 0;

        while (placed[i] || !deps_placed(&root->services[i], placed))
            i++;
        placed[i] = true;
        root->start_order[pos] = i;
    }
    free(placed);
    return 0;
}

/*
 * A probe's service must exist; a ttl probe's results come as write
 * requests, which need the token (api/http.c serves them only then).
 * Each probe on its own: every error is reported.
 */
static int check_probes(struct cfg_ctx *ctx, struct cfg_root *root,
                        const struct cfg_node *top)
{
    int rc = 0;

    for (size_t i = 0; i < root->probes_count; i++) {
        struct cfg_probe *probe = &root->probes[i];
        const struct cfg_node *entry = entry_node(top, "probes", i);
        const struct cfg_node *at = cfg_node_value(entry, "service");

        if (probe->type == CFG_PROBE_TTL && root->http.token[0] == '\0')
            rc = cfg_fail(ctx, cfg_node_value(entry, "type"),
                          "ttl probe '%s' can never receive a result: "
                          "pushes need the write API; set http.token or "
                          "http.token_file",
                          probe->name);
        cfg_error_resume(ctx->err);
        if (probe->service == NULL)
            continue;
        probe->service_index = cfg_find_service(root, probe->service);
        if (probe->service_index == CFG_NO_INDEX) /* as written, unexpanded */
            rc = cfg_fail(ctx, at,
                          "probe '%s' names service '%s', which is not "
                          "defined",
                          probe->name, at->text);
        cfg_error_resume(ctx->err);
    }
    return rc;
}

/*
 * Independent checks each report their errors; the dependency graph is
 * walked only once every dependency resolves.
 */
int cfg_validate(struct cfg_ctx *ctx, struct cfg_root *root,
                 const struct cfg_node *top)
{
    int rc = 0;

    if (root->services_count == 0 && root->probes_count == 0)
        return cfg_fail(ctx, top,
                        "nothing to do; define at least one "
                        "service or probe");
    if (check_main(ctx, root, top) < 0) {
        cfg_error_resume(ctx->err);
        rc = -1;
    }
    if (resolve_deps(ctx, root, top) < 0)
        rc = -1;
    else if (check_cycles(ctx, root, top) < 0)
        rc = -1;
    cfg_error_resume(ctx->err);
    if (check_probes(ctx, root, top) < 0)
        rc = -1;
    if (rc == 0)
        rc = compute_start_order(ctx, root);
    return rc;
}
