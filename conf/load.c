/*
 * cfg_load(): file -> conf/yaml tree -> struct cfg_root, through the rows
 * of conf/keys.c; here are the loading of one service or probe, the
 * defaults that depend on other keys and the checks local to one entry.
 * Value parsers live in conf/schema.c (generic) and conf/values.c (ours),
 * checks across entries in conf/validate.c. Owns cfg_free().
 */
#include "conf/load.h"

#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "conf/keys.h"
#include "conf/parse.h"
#include "conf/schema.h"
#include "conf/validate.h"
#include "conf/values.h"
#include "conf/yaml.h"

#define FILE_MAX       (1024 * 1024) /* bytes of sidecar.yaml */
#define TOKEN_FILE_MAX 4096          /* bytes of http.token_file */

static const char *const probe_kinds[] = {"an http probe", "a tcp probe",
                                          "an exec probe", "a ttl probe",
                                          "a grpc probe"};

/* Not SIGHUP: it reloads sidecar (a service may still list it). */
static const int main_forward_signals[] = {SIGUSR1, SIGUSR2};

/* Copies n ints into a new array at *dst (count in *count). */
static int dup_ints(struct cfg_ctx *ctx, int **dst, size_t *count,
                    const int *src, size_t n)
{
    *dst = calloc(n, sizeof(**dst));
    if (*dst == NULL)
        return cfg_fail(ctx, NULL, "out of memory");
    memcpy(*dst, src, n * sizeof(**dst));
    *count = n;
    return 0;
}

static int fail_bad_name(struct cfg_ctx *ctx, const struct cfg_node *key,
                         const char *what)
{
    return cfg_fail(ctx, key,
                    "invalid %s name '%s'; expected up to 63 letters, "
                    "digits, '.', '_' or '-', starting with a letter or digit",
                    what, key->text);
}

/* Reads one mapping entry as section under "<what> '<name>'". */
static int apply_entry(struct cfg_ctx *ctx, const struct cfg_pair *pair,
                       const char *what, const struct cfg_section *section,
                       void *base, uint64_t *seen)
{
    const char *outer = ctx->where;
    char where[CFG_WHERE_MAX];
    int rc;

    snprintf(where, sizeof(where), "%s '%s'", what, pair->key->text);
    if (cfg_expect_map(ctx, where, pair->value) < 0)
        return -1;
    ctx->where = where;
    rc = cfg_apply_keys(ctx, pair->value, section, base, seen);
    ctx->where = outer;
    return rc;
}

/* Defaults that depend on other keys, and the checks within a service. */
static int finish_service(struct cfg_ctx *ctx, const struct cfg_pair *pair,
                          struct cfg_service *svc, uint64_t seen)
{
    const struct cfg_section *s = &cfg_service_section;
    const struct cfg_key *missing = cfg_keys_missing(ctx, s, seen);
    const struct cfg_node *backoff = cfg_node_value(pair->value, "backoff");
    char lo[CFG_DURATION_STR_MAX], hi[CFG_DURATION_STR_MAX];

    if (missing != NULL)
        return cfg_fail(ctx, pair->key, "service '%s' has no %s", svc->name,
                        missing->name);
    if (svc->role == CFG_ROLE_MAIN && cfg_key_seen(s, seen, "essential") &&
        !svc->essential)
        return cfg_fail(ctx, cfg_node_value(pair->value, "essential"),
                        "service '%s' has role main, which is always "
                        "essential; remove 'essential: false'",
                        svc->name);
    /* A task runs to completion: restarting one that did is no policy. */
    if (svc->role == CFG_ROLE_TASK && svc->restart == CFG_RESTART_ALWAYS &&
        cfg_key_seen(s, seen, "restart"))
        return cfg_fail(ctx, cfg_node_value(pair->value, "restart"),
                        "service '%s' has role task, which runs to "
                        "completion; restart may be on-failure or never",
                        svc->name);
    if (svc->role == CFG_ROLE_TASK && !cfg_key_seen(s, seen, "restart"))
        svc->restart = CFG_RESTART_NEVER;
    if (svc->backoff.initial_ms > svc->backoff.max_ms) {
        cfg_format_duration(svc->backoff.initial_ms, lo, sizeof(lo));
        cfg_format_duration(svc->backoff.max_ms, hi, sizeof(hi));
        return cfg_fail(ctx, backoff,
                        "service '%s': backoff initial (%s) must not exceed "
                        "backoff max (%s)",
                        svc->name, lo, hi);
    }
    if (svc->watchdog_ms > 0 && svc->ready != CFG_READY_NOTIFY)
        return cfg_fail(ctx, cfg_node_value(pair->value, "watchdog"),
                        "service '%s': watchdog needs 'ready: notify' (the "
                        "service pings it with WATCHDOG=1)",
                        svc->name);
    if (svc->cwd != NULL)
        svc->cwd_mark = cfg_node_value(pair->value, "cwd")->mark;
    if (svc->role == CFG_ROLE_MAIN)
        svc->essential = true;
    if (svc->role == CFG_ROLE_MAIN &&
        !cfg_key_seen(s, seen, "forward_signals") &&
        dup_ints(ctx, &svc->forward_signals, &svc->forward_signals_count,
                 main_forward_signals, ARRAY_SIZE(main_forward_signals)) < 0)
        return -1;
    return 0;
}

static int load_service(struct cfg_ctx *ctx, const struct cfg_pair *pair,
                        struct cfg_service *svc)
{
    uint64_t seen;

    svc->mark = pair->key->mark;
    if (cfg_dup_string(ctx, &svc->name, pair->key->text) < 0)
        return -1;
    if (!cfg_name_valid(svc->name))
        return fail_bad_name(ctx, pair->key, "service");
    if (cfg_keys_default(ctx, &cfg_service_section, svc) < 0 ||
        apply_entry(ctx, pair, "service", &cfg_service_section, svc, &seen) < 0)
        return -1;
    return finish_service(ctx, pair, svc, seen);
}

int cfg_value_services(struct cfg_ctx *ctx, const struct cfg_key *key,
                       const struct cfg_node *val, void *field)
{
    struct cfg_service **services = field;
    size_t *count = cfg_key_count(key, field);
    int rc = 0;

    if (cfg_expect_map(ctx, "'services'", val) < 0)
        return -1;
    *services = calloc(val->count ? val->count : 1, sizeof(**services));
    if (*services == NULL)
        return cfg_fail(ctx, val, "out of memory");
    for (size_t i = 0; i < val->count; i++) {
        (*count)++;
        if (load_service(ctx, &val->pairs[i], &(*services)[i]) < 0) {
            cfg_error_resume(ctx->err); /* the next entry stands alone */
            rc = -1;
        }
    }
    return rc;
}

/* Reads the probe's type first: which keys are valid depends on it. */
static int probe_type(struct cfg_ctx *ctx, const struct cfg_pair *pair,
                      struct cfg_probe *probe)
{
    const struct cfg_node *type = cfg_node_value(pair->value, "type");
    const struct cfg_key *key = &cfg_probe_section.keys[0];

    if (type == NULL || cfg_node_is_null(type))
        return cfg_fail(ctx, pair->key,
                        "probe '%s' has no type; expected one of http, tcp, "
                        "exec, ttl, grpc",
                        probe->name);
    assert(strcmp(key->name, "type") == 0);
    return cfg_value_enum(ctx, key, type, &probe->type);
}

/*
 * A name, an IPv4 or an IPv6 address (with a %zone): nothing that would
 * change the meaning of the URL the tcp probe builds from it.
 */
static bool host_valid(const char *host)
{
    if (!*host || strlen(host) > 253)
        return false;
    for (const char *c = host; *c; c++) {
        if (!isalnum((unsigned char)*c) && !strchr(".-:%_", *c))
            return false;
    }
    return true;
}

static int finish_probe(struct cfg_ctx *ctx, const struct cfg_pair *pair,
                        struct cfg_probe *probe, uint64_t seen)
{
    const struct cfg_section *s = &cfg_probe_section;
    const struct cfg_key *missing = cfg_keys_missing(ctx, s, seen);

    if (missing != NULL)
        return cfg_fail(ctx, pair->key, "probe '%s' has no '%s'; %s needs one",
                        probe->name, missing->name, ctx->probe_kind);
    if ((probe->type == CFG_PROBE_TCP || probe->type == CFG_PROBE_GRPC) &&
        !host_valid(probe->host))
        return cfg_fail_expected(ctx, "a host name or an IP address", "host",
                                 cfg_node_value(pair->value, "host"));
    if (probe->type == CFG_PROBE_GRPC && probe->insecure && !probe->tls)
        return cfg_fail(ctx, cfg_node_value(pair->value, "insecure"),
                        "probe '%s': insecure only skips the check of TLS, "
                        "which needs tls: true",
                        probe->name);
    if (probe->restart_on_failure && probe->service == NULL)
        return cfg_fail(ctx, cfg_node_value(pair->value, "on_failure"),
                        "probe '%s': on_failure: restart needs 'service', the "
                        "service to restart",
                        probe->name);
    if (probe->cwd != NULL)
        probe->cwd_mark = cfg_node_value(pair->value, "cwd")->mark;
    if (!probe->restart_on_failure && cfg_key_seen(s, seen, "start_period"))
        return cfg_fail(ctx, cfg_node_value(pair->value, "start_period"),
                        "probe '%s': start_period only holds back "
                        "on_failure: restart, which the probe does not set",
                        probe->name);
    return 0;
}

static int load_probe(struct cfg_ctx *ctx, const struct cfg_pair *pair,
                      struct cfg_probe *probe)
{
    char where[CFG_WHERE_MAX];
    uint64_t seen;
    int rc;

    probe->mark = pair->key->mark;
    probe->service_index = CFG_NO_INDEX;
    if (cfg_dup_string(ctx, &probe->name, pair->key->text) < 0)
        return -1;
    if (strncmp(probe->name, "service:", 8) == 0)
        return cfg_fail(ctx, pair->key,
                        "probe name '%s' is reserved: 'service:<name>' is "
                        "the check of a service",
                        probe->name);
    if (!cfg_name_valid(probe->name))
        return fail_bad_name(ctx, pair->key, "probe");
    snprintf(where, sizeof(where), "probe '%s'", probe->name);
    if (cfg_expect_map(ctx, where, pair->value) < 0 ||
        probe_type(ctx, pair, probe) < 0)
        return -1;
    ctx->probe_bit = CFG_PROBE_BIT(probe->type);
    ctx->probe_kind = probe_kinds[probe->type];
    rc = cfg_keys_default(ctx, &cfg_probe_section, probe);
    if (rc == 0)
        rc = apply_entry(ctx, pair, "probe", &cfg_probe_section, probe, &seen);
    if (rc == 0)
        rc = finish_probe(ctx, pair, probe, seen);
    ctx->probe_bit = 0;
    ctx->probe_kind = NULL;
    return rc;
}

int cfg_value_probes(struct cfg_ctx *ctx, const struct cfg_key *key,
                     const struct cfg_node *val, void *field)
{
    struct cfg_probe **probes = field;
    size_t *count = cfg_key_count(key, field);
    int rc = 0;

    if (cfg_expect_map(ctx, "'probes'", val) < 0)
        return -1;
    *probes = calloc(val->count ? val->count : 1, sizeof(**probes));
    if (*probes == NULL)
        return cfg_fail(ctx, val, "out of memory");
    for (size_t i = 0; i < val->count; i++) {
        (*count)++;
        if (load_probe(ctx, &val->pairs[i], &(*probes)[i]) < 0) {
            cfg_error_resume(ctx->err); /* the next entry stands alone */
            rc = -1;
        }
    }
    return rc;
}

/* The keys' defaults, and the fields no key sets. */
static int root_defaults(struct cfg_ctx *ctx, struct cfg_root *root)
{
    root->main_index = CFG_NO_INDEX;
    if (cfg_dup_string(ctx, &root->path, ctx->path ? ctx->path : "") < 0)
        return -1;
    return cfg_keys_default(ctx, &cfg_top_section, root);
}

/*
 * Reads path, a regular file, whole up to max + 1 bytes (one over: the
 * caller tells "too big") into *data (NUL-terminated, caller frees) and
 * *len. O_NONBLOCK: a FIFO or device put in its place cannot hang the
 * loop in open(); anything not a regular file is refused. 0, or -1 with
 * why filled ("not a regular file", "cannot open: ...").
 */
static int read_regular(const char *path, size_t max, char **data, size_t *len,
                        char *why, size_t why_len)
{
    struct stat st;
    size_t got = 0;
    char *buf = NULL;
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);

    if (fd < 0) {
        /* A socket cannot be opened: ENXIO. Not a file either. */
        if (errno == ENXIO)
            snprintf(why, why_len, "not a regular file");
        else
            snprintf(why, why_len, "cannot open: %s", strerror(errno));
        return -1;
    }
    if (fstat(fd, &st) < 0) {
        snprintf(why, why_len, "cannot stat: %s", strerror(errno));
        goto out_close_fd;
    }
    if (!S_ISREG(st.st_mode)) {
        snprintf(why, why_len, "not a regular file");
        goto out_close_fd;
    }
    buf = malloc(max + 2);
    if (buf == NULL) {
        snprintf(why, why_len, "out of memory");
        goto out_close_fd;
    }
    while (got < max + 1) {
        ssize_t n = read(fd, buf + got, max + 1 - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            snprintf(why, why_len, "cannot read: %s", strerror(errno));
            goto out_close_fd;
        }
        if (n == 0)
            break;
        got += (size_t)n;
    }
    close(fd);
    buf[got] = '\0';
    *data = buf;
    *len = got;
    return 0;

out_close_fd:
    free(buf);
    close(fd);
    return -1;
}

int cfg_read_token_file(const char *path, char **token, char *why,
                        size_t why_len)
{
    char *data;
    size_t len;

    if (read_regular(path, TOKEN_FILE_MAX, &data, &len, why, why_len) < 0)
        return -1;
    if (len > 0 && data[len - 1] == '\n')
        data[--len] = '\0';
    if (len > TOKEN_FILE_MAX)
        snprintf(why, why_len, "larger than %d bytes", TOKEN_FILE_MAX);
    else if (len == 0)
        snprintf(why, why_len, "empty");
    else if (memchr(data, '\0', len) != NULL)
        snprintf(why, why_len, "the token has a NUL byte");
    else {
        *token = data;
        return 0;
    }
    free(data);
    return -1;
}

/*
 * Reads the token from the file the token_file pair names (its value
 * expanded: path). Errors are at the key and quote the path as the config
 * writes it, ${VAR} unexpanded; none quotes what the file holds.
 */
static int read_token_file(struct cfg_ctx *ctx, const struct cfg_pair *file,
                           const char *path, char **out)
{
    char why[128];
    char *data;

    if (cfg_read_token_file(path, &data, why, sizeof(why)) < 0)
        return cfg_fail(ctx, file->key, "token_file %s: %s", file->value->text,
                        why);
    int rc = cfg_dup_string(ctx, out, data);
    free(data);
    return rc;
}

/*
 * The token: from token_file if given, else as token expanded. It must be
 * something a request can send; where it came from is named, never it.
 */
static int finish_http(struct cfg_ctx *ctx, const struct cfg_node *top,
                       struct cfg_root *root)
{
    const struct cfg_node *http = cfg_node_value(top, "http");
    const struct cfg_pair *token = cfg_node_find(http, "token");
    const struct cfg_pair *file = cfg_node_find(http, "token_file");
    const struct cfg_pair *at = root->http.token_file ? file : token;
    long bad;

    if (root->http.token_file && token != NULL &&
        !cfg_node_is_null(token->value))
        return cfg_fail(ctx, file->key,
                        "'token' and 'token_file' are both set; keep one");
    if (root->http.token_file &&
        read_token_file(ctx, file, root->http.token_file, &root->http.token) <
            0)
        return -1;
    if (at != NULL)
        root->http.token_mark = at->key->mark;
    bad = cfg_token_bad_byte(root->http.token);
    if (bad >= 0 && root->http.token_file)
        return cfg_fail(ctx, file->key,
                        "token_file %s: the token has whitespace or a control "
                        "character at byte %ld; no request can match it",
                        file->value->text, bad + 1);
    if (bad >= 0)
        return cfg_fail(ctx, token->key,
                        "'token' has whitespace or a control character at "
                        "byte %ld of its value; no request can match it",
                        bad + 1);
    /* Services must not inherit what the token is read from. */
    if (token != NULL && token->value->kind == CFG_NODE_SCALAR &&
        cfg_env_names(token->value->text, &root->http.token_vars) < 0)
        return cfg_fail(ctx, NULL, "out of memory");
    return 0;
}

/* The top level: a mapping; an empty file is a mistake worth naming. */
static int load_root(struct cfg_ctx *ctx, const struct cfg_doc *doc,
                     struct cfg_root *root)
{
    const struct cfg_node *top = doc->root;
    uint64_t seen;

    if (top == NULL || cfg_node_is_null(top)) {
        cfg_error_set(ctx->err, ctx->path, top ? top->mark.line : 1,
                      top ? top->mark.col : 1,
                      "empty configuration; expected a mapping with "
                      "'services' or 'probes'");
        return -1;
    }
    if (top->kind != CFG_NODE_MAP)
        return cfg_fail(ctx, top,
                        "expected a mapping at the top level, found %s",
                        cfg_node_kind_name(top));
    if (root_defaults(ctx, root) < 0 ||
        cfg_apply_keys(ctx, top, &cfg_top_section, root, &seen) < 0 ||
        finish_http(ctx, top, root) < 0)
        return -1;
    return cfg_validate(ctx, root, top);
}

/* FNV-1a, 64 bits: enough to tell an edited file from a touched one. */
uint64_t cfg_digest(const char *data, size_t len)
{
    uint64_t h = 14695981039346656037ULL;
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)data[i];
        h *= 1099511628211ULL;
    }
    return h;
}

int cfg_load_buffer(const char *path, const char *data, size_t len,
                    struct cfg_root **out, struct cfg_error *err)
{
    struct cfg_ctx ctx = {path, err, CFG_WHERE_TOP, 0, NULL};
    struct cfg_doc *doc;
    struct cfg_root *root;
    int rc;

    if (err != NULL)
        memset(err, 0, sizeof(*err));
    if (len > FILE_MAX) {
        cfg_error_set(err, path, 0, 0,
                      "larger than %d bytes; is this the right file?",
                      FILE_MAX);
        return -1;
    }
    if (cfg_yaml_parse(path, data, len, &doc, err) < 0)
        return -1;
    root = calloc(1, sizeof(*root));
    if (root == NULL) {
        cfg_error_set(err, path, 0, 0, "out of memory");
        cfg_yaml_free(doc);
        return -1;
    }
    rc = load_root(&ctx, doc, root);
    cfg_yaml_free(doc);
    if (rc < 0) {
        cfg_free(root);
        return -1;
    }
    root->digest = cfg_digest(data, len);
    *out = root;
    return 0;
}

int cfg_read_file(const char *path, char **data, size_t *len,
                  struct cfg_error *err)
{
    char why[128];

    if (err != NULL)
        memset(err, 0, sizeof(*err));
    if (read_regular(path, FILE_MAX, data, len, why, sizeof(why)) < 0) {
        cfg_error_set(err, path, 0, 0, "%s", why);
        return -1;
    }
    return 0;
}

int cfg_load(const char *path, struct cfg_root **out, struct cfg_error *err)
{
    char *data;
    size_t len;
    int rc;

    if (cfg_read_file(path, &data, &len, err) < 0)
        return -1;
    rc = cfg_load_buffer(path, data, len, out, err);
    free(data);
    return rc;
}

/* The warning's text spells the bound out. */
_Static_assert(CFG_TOKEN_MIN == 16, "CFG_TOKEN_SHORT_WARNING says 16 bytes");

bool cfg_token_is_short(const struct cfg_root *root)
{
    size_t len = strlen(root->http.token);

    return len > 0 && len < CFG_TOKEN_MIN;
}

void cfg_free(struct cfg_root *root)
{
    if (root == NULL)
        return;
    cfg_keys_free(&cfg_top_section, root);
    free(root->start_order);
    free(root->path);
    free(root->http.host);
    cfg_free_names(root->http.token_vars);
    free(root);
}
