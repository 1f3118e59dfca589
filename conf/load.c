/*
 * cfg_load(): file -> conf/yaml tree -> struct cfg_root. Owns the schema
 * tables of every section (top level, http, log, shutdown, services,
 * probes), their defaults and the checks local to one service or probe.
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

#include "conf/parse.h"
#include "conf/schema.h"
#include "conf/validate.h"
#include "conf/values.h"
#include "conf/yaml.h"

#define FILE_MAX         (1024 * 1024) /* bytes of sidecar.yaml */
#define DURATION_MAX     (INT64_C(365) * 24 * 60 * 60 * 1000)
#define COUNT_MAX        1000000
#define THRESHOLD_MAX    1000
#define LOG_LINE_MIN     256
#define LOG_LINE_MAX     (1024 * 1024)
#define PROBE_PERIOD_MIN 10
#define LISTEN_DEFAULT   "0.0.0.0:8558"
#define TOKEN_FILE_MAX   4096 /* bytes of http.token_file */

/* cfg_value_enum writes enum fields as int. */
#define INT_SIZED(e) _Static_assert(sizeof(enum e) == sizeof(int), #e)
INT_SIZED(cfg_role);
INT_SIZED(cfg_restart);
INT_SIZED(cfg_log_format);
INT_SIZED(cfg_log_level);
INT_SIZED(cfg_reload);
INT_SIZED(cfg_probe_type);
INT_SIZED(cfg_importance);

/* Names by enum value, as in model.h. */
static const char *const role_names[] = {"main", "helper", NULL};
static const char *const restart_names[] = {"always", "on-failure", "never",
                                            NULL};
static const char *const format_names[] = {"json", "text", NULL};
static const char *const level_names[] = {"debug", "info", "warn", "error",
                                          NULL};
static const char *const reload_names[] = {"manual", "watch", NULL};
static const char *const type_names[] = {"http", "tcp", "exec", "ttl", NULL};
static const char *const importance_names[] = {"critical", "high", "low", NULL};
static const char *const on_failure_names[] = {"restart", NULL};
static const char *const probe_kinds[] = {"an http probe", "a tcp probe",
                                          "an exec probe", "a ttl probe"};

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

static int value_services(struct cfg_ctx *ctx, const struct cfg_key *key,
                          const struct cfg_node *val, void *field);
static int value_probes(struct cfg_ctx *ctx, const struct cfg_key *key,
                        const struct cfg_node *val, void *field);

/*
 * The tables. WHOLE keys get the section's whole struct (their parser
 * sets several fields); list and map keys also name their entry count.
 */
#define WHOLE      .offset = 0
#define ROOT(f)    .offset = offsetof(struct cfg_root, f)
#define SVC(f)     .offset = offsetof(struct cfg_service, f)
#define PROBE(f)   .offset = offsetof(struct cfg_probe, f)
#define BACKOFF(f) .offset = offsetof(struct cfg_backoff, f)

#define SVC_N(f) SVC(f), .count_offset = offsetof(struct cfg_service, f##_count)
#define PROBE_N(f)                                                             \
    PROBE(f), .count_offset = offsetof(struct cfg_probe, f##_count)

#define DURATION(lo) .min = (lo), .max = DURATION_MAX
#define ONLY(type)   .types = CFG_PROBE_BIT(type)

static const struct cfg_key exit_code_item = {
    "success_exit_codes", cfg_value_int, .max = 255, .item_size = sizeof(int)};
static const struct cfg_key forward_signal_item = {
    "forward_signals", cfg_value_forward_signal, .item_size = sizeof(int)};
static const struct cfg_key status_item = {
    "expect_status",
    cfg_value_status,
    .item_size = sizeof(struct cfg_status_range),
};

static const struct cfg_key http_keys[] = {
    {"listen", cfg_value_listen, WHOLE},
    {"token", cfg_value_string, ROOT(http.token)},
    {"token_file", cfg_value_path, ROOT(http.token_file), .min = 1},
};
static const struct cfg_key log_keys[] = {
    {"format", cfg_value_enum, ROOT(log.format), .names = format_names},
    {"level", cfg_value_enum, ROOT(log.level), .names = level_names},
    {"max_line", cfg_value_size, ROOT(log.max_line), .min = LOG_LINE_MIN,
     .max = LOG_LINE_MAX},
};
static const struct cfg_key shutdown_keys[] = {
    {"drain", cfg_value_duration, ROOT(shutdown.drain_ms), DURATION(0)},
};
static const struct cfg_section http_section = {http_keys,
                                                ARRAY_SIZE(http_keys)};
static const struct cfg_section log_section = {log_keys, ARRAY_SIZE(log_keys)};
static const struct cfg_section shutdown_section = {shutdown_keys,
                                                    ARRAY_SIZE(shutdown_keys)};

static const struct cfg_key top_keys[] = {
    {"name", cfg_value_string, ROOT(name), .min = 1},
    {"reload", cfg_value_enum, ROOT(reload), .names = reload_names},
    {"http", cfg_value_section, WHOLE, .section = &http_section},
    {"log", cfg_value_section, WHOLE, .section = &log_section},
    {"shutdown", cfg_value_section, WHOLE, .section = &shutdown_section},
    {"exec_probe_limit", cfg_value_uint, ROOT(exec_probe_limit), .min = 1,
     .max = 1000},
    {"services", value_services, WHOLE},
    {"probes", value_probes, WHOLE},
};
static const struct cfg_section top_section = {top_keys, ARRAY_SIZE(top_keys)};

static const struct cfg_key backoff_keys[] = {
    {"initial", cfg_value_duration, BACKOFF(initial_ms), DURATION(0)},
    {"max", cfg_value_duration, BACKOFF(max_ms), DURATION(1)},
    {"reset_after", cfg_value_duration, BACKOFF(reset_after_ms), DURATION(0)},
};
static const struct cfg_section backoff_section = {backoff_keys,
                                                   ARRAY_SIZE(backoff_keys)};

static const struct cfg_key service_keys[] = {
    {"role", cfg_value_enum, SVC(role), .names = role_names},
    {"command", cfg_value_command, SVC(command)},
    {"env", cfg_value_env, SVC_N(env)},
    {"cwd", cfg_value_path, SVC(cwd), .min = 1},
    {"user", cfg_value_account, SVC(user), .min = 1},
    {"group", cfg_value_account, SVC(group), .min = 1},
    {"umask", cfg_value_umask, WHOLE},
    {"restart", cfg_value_enum, SVC(restart), .names = restart_names},
    {"success_exit_codes", cfg_value_list, SVC_N(success_exit_codes), .min = 1,
     .item = &exit_code_item},
    {"backoff", cfg_value_section, SVC(backoff), .section = &backoff_section},
    {"max_restarts", cfg_value_uint, SVC(max_restarts), .max = COUNT_MAX},
    {"restart_window", cfg_value_duration, SVC(restart_window_ms), DURATION(1)},
    {"stop_signal", cfg_value_signal, SVC(stop_signal)},
    {"stop_timeout", cfg_value_duration, SVC(stop_timeout_ms), DURATION(0)},
    {"essential", cfg_value_bool, SVC(essential)},
    {"depends_on", cfg_value_deps, SVC_N(deps)},
    {"forward_signals", cfg_value_list, SVC_N(forward_signals),
     .item = &forward_signal_item},
};
static const struct cfg_section service_section = {service_keys,
                                                   ARRAY_SIZE(service_keys)};

static const struct cfg_key probe_keys[] = {
    {"type", cfg_value_enum, PROBE(type), .names = type_names},
    {"service", cfg_value_string, PROBE(service), .min = 1},
    {"importance", cfg_value_enum, PROBE(importance),
     .names = importance_names},
    {"period", cfg_value_duration, PROBE(period_ms),
     DURATION(PROBE_PERIOD_MIN)},
    {"timeout", cfg_value_duration, PROBE(timeout_ms), DURATION(1)},
    {"initial_delay", cfg_value_duration, PROBE(initial_delay_ms), DURATION(0)},
    {"failure_threshold", cfg_value_uint, PROBE(failure_threshold), .min = 1,
     .max = THRESHOLD_MAX},
    {"success_threshold", cfg_value_uint, PROBE(success_threshold), .min = 1,
     .max = THRESHOLD_MAX},
    {"on_failure", cfg_value_on_failure, PROBE(restart_on_failure),
     .names = on_failure_names},
    {"start_period", cfg_value_duration, PROBE(start_period_ms), DURATION(0)},
    {"url", cfg_value_url, PROBE(url), .min = 1, ONLY(CFG_PROBE_HTTP)},
    {"method", cfg_value_method, PROBE(method), .min = 1, ONLY(CFG_PROBE_HTTP)},
    {"headers", cfg_value_headers, PROBE_N(headers), ONLY(CFG_PROBE_HTTP)},
    {"expect_status", cfg_value_list, PROBE_N(expect_status), .min = 1,
     .item = &status_item, ONLY(CFG_PROBE_HTTP)},
    {"expect_body", cfg_value_string, PROBE(expect_body), .min = 1,
     ONLY(CFG_PROBE_HTTP)},
    {"insecure", cfg_value_bool, PROBE(insecure), ONLY(CFG_PROBE_HTTP)},
    {"follow_redirects", cfg_value_bool, PROBE(follow_redirects),
     ONLY(CFG_PROBE_HTTP)},
    {"host", cfg_value_string, PROBE(host), .min = 1, ONLY(CFG_PROBE_TCP)},
    {"port", cfg_value_uint, PROBE(port), .min = 1, .max = 65535,
     ONLY(CFG_PROBE_TCP)},
    {"command", cfg_value_command, PROBE(command), ONLY(CFG_PROBE_EXEC)},
    {"ttl", cfg_value_duration, PROBE(ttl_ms), DURATION(PROBE_PERIOD_MIN),
     ONLY(CFG_PROBE_TTL)},
};
static const struct cfg_section probe_section = {probe_keys,
                                                 ARRAY_SIZE(probe_keys)};

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

/* Fills what model.h documents as a service's defaults. */
static void service_defaults(struct cfg_service *svc)
{
    svc->role = CFG_ROLE_HELPER;
    svc->restart = CFG_RESTART_ALWAYS;
    svc->backoff.initial_ms = 500;
    svc->backoff.max_ms = 30000;
    svc->backoff.reset_after_ms = 30000;
    svc->max_restarts = 10;
    svc->restart_window_ms = 60000;
    svc->stop_signal = SIGTERM;
    svc->stop_timeout_ms = 10000;
}

/* Defaults that depend on other keys, and the checks within a service. */
static int finish_service(struct cfg_ctx *ctx, const struct cfg_pair *pair,
                          struct cfg_service *svc, uint64_t seen)
{
    static const int success[] = {0};
    const struct cfg_section *s = &service_section;
    const struct cfg_node *backoff = cfg_node_value(pair->value, "backoff");
    char lo[CFG_DURATION_STR_MAX], hi[CFG_DURATION_STR_MAX];

    if (!cfg_key_seen(s, seen, "command"))
        return cfg_fail(ctx, pair->key, "service '%s' has no command",
                        svc->name);
    if (svc->role == CFG_ROLE_MAIN && cfg_key_seen(s, seen, "essential") &&
        !svc->essential)
        return cfg_fail(ctx, cfg_node_value(pair->value, "essential"),
                        "service '%s' has role main, which is always "
                        "essential; remove 'essential: false'",
                        svc->name);
    if (svc->backoff.initial_ms > svc->backoff.max_ms) {
        cfg_format_duration(svc->backoff.initial_ms, lo, sizeof(lo));
        cfg_format_duration(svc->backoff.max_ms, hi, sizeof(hi));
        return cfg_fail(ctx, backoff,
                        "service '%s': backoff initial (%s) must not exceed "
                        "backoff max (%s)",
                        svc->name, lo, hi);
    }
    if (svc->cwd != NULL)
        svc->cwd_mark = cfg_node_value(pair->value, "cwd")->mark;
    if (svc->role == CFG_ROLE_MAIN)
        svc->essential = true;
    if (!cfg_key_seen(s, seen, "success_exit_codes") &&
        dup_ints(ctx, &svc->success_exit_codes, &svc->success_exit_codes_count,
                 success, ARRAY_SIZE(success)) < 0)
        return -1;
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

    service_defaults(svc);
    svc->mark = pair->key->mark;
    if (cfg_dup_string(ctx, &svc->name, pair->key->text) < 0)
        return -1;
    if (!cfg_name_valid(svc->name))
        return fail_bad_name(ctx, pair->key, "service");
    if (apply_entry(ctx, pair, "service", &service_section, svc, &seen) < 0)
        return -1;
    return finish_service(ctx, pair, svc, seen);
}

/* services [struct cfg_root]: a mapping of name to service. */
static int value_services(struct cfg_ctx *ctx, const struct cfg_key *key,
                          const struct cfg_node *val, void *field)
{
    struct cfg_root *root = field;
    int rc = 0;

    (void)key;
    if (cfg_expect_map(ctx, "'services'", val) < 0)
        return -1;
    root->services =
        calloc(val->count ? val->count : 1, sizeof(*root->services));
    if (root->services == NULL)
        return cfg_fail(ctx, val, "out of memory");
    for (size_t i = 0; i < val->count; i++) {
        root->services_count++;
        if (load_service(ctx, &val->pairs[i], &root->services[i]) < 0) {
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
    const struct cfg_key *key = &probe_keys[0];

    if (type == NULL || cfg_node_is_null(type))
        return cfg_fail(ctx, pair->key,
                        "probe '%s' has no type; expected one of http, tcp, "
                        "exec, ttl",
                        probe->name);
    assert(strcmp(key->name, "type") == 0);
    return cfg_value_enum(ctx, key, type, &probe->type);
}

/* Fills what model.h documents as a probe's defaults, by type. */
static int probe_defaults(struct cfg_ctx *ctx, struct cfg_probe *probe)
{
    probe->service_index = CFG_NO_INDEX;
    probe->importance = CFG_IMPORTANCE_CRITICAL;
    probe->period_ms = 10000;
    probe->timeout_ms = 1000;
    probe->failure_threshold = 3;
    probe->success_threshold = 1;
    /* A slow start (a JVM, a cache warm-up) fits; an app that never comes
     * up is still restarted within a minute. */
    probe->start_period_ms = 60000;
    if (probe->type == CFG_PROBE_HTTP)
        return cfg_dup_string(ctx, &probe->method, "GET");
    if (probe->type == CFG_PROBE_TCP)
        return cfg_dup_string(ctx, &probe->host, "127.0.0.1");
    return 0;
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
    static const char *const required[] = {"url", "port", "command", "ttl"};
    static const struct cfg_status_range ok = {200, 399};
    const char *need = required[probe->type];
    const struct cfg_node *timing;
    char lo[CFG_DURATION_STR_MAX], hi[CFG_DURATION_STR_MAX];

    if (!cfg_key_seen(&probe_section, seen, need))
        return cfg_fail(ctx, pair->key, "probe '%s' has no '%s'; %s needs one",
                        probe->name, need, ctx->probe_kind);
    if (probe->timeout_ms >= probe->period_ms) {
        timing = cfg_node_value(pair->value, "timeout");
        if (!cfg_key_seen(&probe_section, seen, "timeout"))
            timing = cfg_node_value(pair->value, "period");
        cfg_format_duration(probe->timeout_ms, lo, sizeof(lo));
        cfg_format_duration(probe->period_ms, hi, sizeof(hi));
        return cfg_fail(ctx, timing,
                        "probe '%s': timeout (%s) must be shorter than period "
                        "(%s)",
                        probe->name, lo, hi);
    }
    if (probe->type == CFG_PROBE_TCP && !host_valid(probe->host))
        return cfg_fail_expected(ctx, "a host name or an IP address", "host",
                                 cfg_node_value(pair->value, "host"));
    if (probe->restart_on_failure && probe->service == NULL)
        return cfg_fail(ctx, cfg_node_value(pair->value, "on_failure"),
                        "probe '%s': on_failure: restart needs 'service', the "
                        "service to restart",
                        probe->name);
    if (!probe->restart_on_failure &&
        cfg_key_seen(&probe_section, seen, "start_period"))
        return cfg_fail(ctx, cfg_node_value(pair->value, "start_period"),
                        "probe '%s': start_period only holds back "
                        "on_failure: restart, which the probe does not set",
                        probe->name);
    if (probe->type == CFG_PROBE_HTTP &&
        !cfg_key_seen(&probe_section, seen, "expect_status")) {
        probe->expect_status = malloc(sizeof(ok));
        if (probe->expect_status == NULL)
            return cfg_fail(ctx, NULL, "out of memory");
        probe->expect_status[0] = ok;
        probe->expect_status_count = 1;
    }
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
    rc = probe_defaults(ctx, probe);
    if (rc == 0)
        rc = apply_entry(ctx, pair, "probe", &probe_section, probe, &seen);
    if (rc == 0)
        rc = finish_probe(ctx, pair, probe, seen);
    ctx->probe_bit = 0;
    ctx->probe_kind = NULL;
    return rc;
}

/* probes [struct cfg_root]: a mapping of name to probe. */
static int value_probes(struct cfg_ctx *ctx, const struct cfg_key *key,
                        const struct cfg_node *val, void *field)
{
    struct cfg_root *root = field;
    int rc = 0;

    (void)key;
    if (cfg_expect_map(ctx, "'probes'", val) < 0)
        return -1;
    root->probes = calloc(val->count ? val->count : 1, sizeof(*root->probes));
    if (root->probes == NULL)
        return cfg_fail(ctx, val, "out of memory");
    for (size_t i = 0; i < val->count; i++) {
        root->probes_count++;
        if (load_probe(ctx, &val->pairs[i], &root->probes[i]) < 0) {
            cfg_error_resume(ctx->err); /* the next entry stands alone */
            rc = -1;
        }
    }
    return rc;
}

static int root_defaults(struct cfg_ctx *ctx, struct cfg_root *root)
{
    root->reload = CFG_RELOAD_MANUAL;
    root->log.format = CFG_LOG_JSON;
    root->log.level = CFG_LOG_INFO;
    root->log.max_line = 16384;
    root->shutdown.drain_ms = 5000;
    root->exec_probe_limit = 8;
    root->http.port = 8558;
    root->main_index = CFG_NO_INDEX;
    if (cfg_dup_string(ctx, &root->path, ctx->path ? ctx->path : "") < 0 ||
        cfg_dup_string(ctx, &root->name, "sidecar") < 0 ||
        cfg_dup_string(ctx, &root->http.listen, LISTEN_DEFAULT) < 0 ||
        cfg_dup_string(ctx, &root->http.host, "0.0.0.0") < 0 ||
        cfg_dup_string(ctx, &root->http.token, "") < 0)
        return -1;
    return 0;
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

/*
 * Reads the token from the file the token_file pair names (its value
 * expanded: path), less one trailing newline. Errors are at the key and
 * quote the path as the config writes it, ${VAR} unexpanded; none quotes
 * what the file holds.
 */
static int read_token_file(struct cfg_ctx *ctx, const struct cfg_pair *file,
                           const char *path, char **out)
{
    const struct cfg_node *at = file->key;
    const char *written = file->value->text;
    char why[128];
    char *data;
    size_t len;
    int rc;

    if (read_regular(path, TOKEN_FILE_MAX, &data, &len, why, sizeof(why)) < 0)
        return cfg_fail(ctx, at, "token_file %s: %s", written, why);
    if (len > 0 && data[len - 1] == '\n')
        data[--len] = '\0';
    if (len > TOKEN_FILE_MAX)
        rc = cfg_fail(ctx, at, "token_file %s: larger than %d bytes", written,
                      TOKEN_FILE_MAX);
    else if (len == 0)
        rc = cfg_fail(ctx, at, "token_file %s: empty", written);
    else if (memchr(data, '\0', len) != NULL)
        rc = cfg_fail(ctx, at, "token_file %s: the token has a NUL byte",
                      written);
    else
        rc = cfg_dup_string(ctx, out, data);
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
        cfg_apply_keys(ctx, top, &top_section, root, &seen) < 0 ||
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

static void free_command(struct cfg_command *cmd)
{
    for (size_t i = 0; i < cmd->argc; i++)
        free(cmd->argv[i]);
    free(cmd->argv);
}

static void free_service(struct cfg_service *svc)
{
    free(svc->name);
    free_command(&svc->command);
    for (size_t i = 0; i < svc->env_count; i++)
        free(svc->env[i]);
    free(svc->env);
    free(svc->cwd);
    free(svc->user.name);
    free(svc->user.written);
    free(svc->group.name);
    free(svc->group.written);
    free(svc->success_exit_codes);
    for (size_t i = 0; i < svc->deps_count; i++)
        free(svc->deps[i].name);
    free(svc->deps);
    free(svc->forward_signals);
}

static void free_probe(struct cfg_probe *probe)
{
    free(probe->name);
    free(probe->service);
    free(probe->url);
    free(probe->method);
    for (size_t i = 0; i < probe->headers_count; i++) {
        free(probe->headers[i].name);
        free(probe->headers[i].value);
    }
    free(probe->headers);
    free(probe->expect_status);
    free(probe->expect_body);
    free(probe->host);
    free_command(&probe->command);
}

void cfg_free(struct cfg_root *root)
{
    if (root == NULL)
        return;
    for (size_t i = 0; i < root->services_count; i++)
        free_service(&root->services[i]);
    free(root->services);
    for (size_t i = 0; i < root->probes_count; i++)
        free_probe(&root->probes[i]);
    free(root->probes);
    free(root->start_order);
    free(root->path);
    free(root->name);
    free(root->http.listen);
    free(root->http.host);
    free(root->http.token);
    free(root->http.token_file);
    cfg_free_names(root->http.token_vars);
    free(root);
}
