/*
 * Every key of sidecar.yaml, one row each (see conf/keys.h and struct
 * cfg_key). Defaults are written as the file would write them, and as
 * the man page (packaging/man/sidecar.yaml.5) shows them; test/packaging/
 * check-man holds the page to these rows through build/test/cfg-keys.
 * Checks that involve several keys are in conf/load.c (within a service
 * or probe) and conf/validate.c (across them).
 */
#include "conf/keys.h"

#include <stddef.h>

#include "conf/model.h"
#include "conf/values.h"

#define DURATION_MAX     (INT64_C(365) * 24 * 60 * 60 * 1000)
#define COUNT_MAX        1000000
#define THRESHOLD_MAX    1000
#define LOG_LINE_MIN     256
#define LOG_LINE_MAX     (1024 * 1024)
#define PROBE_PERIOD_MIN 10

/* cfg_value_enum writes enum fields as int. */
#define INT_SIZED(e) _Static_assert(sizeof(enum e) == sizeof(int), #e)
INT_SIZED(cfg_role);
INT_SIZED(cfg_restart);
INT_SIZED(cfg_log_format);
INT_SIZED(cfg_log_level);
INT_SIZED(cfg_reload);
INT_SIZED(cfg_probe_type);
INT_SIZED(cfg_importance);
INT_SIZED(cfg_redirects);
INT_SIZED(cfg_ready);

/* CFG_ENTRIES: each entry starts with its name. */
_Static_assert(offsetof(struct cfg_service, name) == 0, "service name");
_Static_assert(offsetof(struct cfg_probe, name) == 0, "probe name");

/* Names by enum value, as in model.h. */
static const char *const role_names[] = {"main", "helper", "task", NULL};
static const char *const restart_names[] = {"always", "on-failure", "never",
                                            NULL};
static const char *const format_names[] = {"json", "text", NULL};
static const char *const level_names[] = {"debug", "info", "warn", "error",
                                          NULL};
static const char *const reload_names[] = {"manual", "watch", NULL};
static const char *const type_names[] = {"http", "tcp",  "exec",
                                         "ttl",  "grpc", NULL};
static const char *const importance_names[] = {"critical", "high", "low", NULL};
/* YAML's true and false stay valid: as words, like same-host. */
static const char *const redirects_names[] = {"same-host", "true", "false",
                                              NULL};
static const char *const on_failure_names[] = {"restart", NULL};
/* "fd" is written {fd: N}: cfg_value_ready refuses it as a word. */
static const char *const ready_names[] = {"exec", "notify", "fd", NULL};

const char *cfg_role_name(enum cfg_role role)
{
    return role_names[role];
}

/*
 * Where a key's value lives, and its size, which must be its kind's (see
 * cfg_key_parse): WHOLE keys get the section's whole struct (their parser
 * sets several fields); lists and entries also name their count, which is
 * the field's name with _count.
 */
#define FIELD(type, f)                                                         \
    .offset = offsetof(type, f), .size = sizeof(((type *)0)->f)
#define WHOLE      .offset = 0
#define ROOT(f)    FIELD(struct cfg_root, f)
#define SVC(f)     FIELD(struct cfg_service, f)
#define PROBE(f)   FIELD(struct cfg_probe, f)
#define BACKOFF(f) FIELD(struct cfg_backoff, f)

#define ROOT_N(f) ROOT(f), .count_offset = offsetof(struct cfg_root, f##_count)
#define SVC_N(f)  SVC(f), .count_offset = offsetof(struct cfg_service, f##_count)
#define PROBE_N(f)                                                             \
    PROBE(f), .count_offset = offsetof(struct cfg_probe, f##_count)

#define DURATION(lo) .min = (lo), .max = DURATION_MAX
#define ONLY(type)   .types = CFG_PROBE_BIT(type)
#define ONLY2(a, b)  .types = CFG_PROBE_BIT(a) | CFG_PROBE_BIT(b)
#define REQUIRED     .flags = CFG_KEY_REQUIRED
#define APPLY        .change = CFG_CHANGE_APPLY
#define NO_CHANGE    .change = CFG_CHANGE_NONE

/* List entries. */
static const struct cfg_key exit_code_item = {
    "success_exit_codes", CFG_INT, .max = 255, .item_size = sizeof(int)};
static const struct cfg_key forward_signal_item = {
    "forward_signals", CFG_SIGNAL, cfg_value_forward_signal,
    .item_size = sizeof(int)};
static const struct cfg_key status_item = {
    "expect_status", CFG_STATUS, cfg_value_status,
    .item_size = sizeof(struct cfg_status_range)};
static const struct cfg_key env_item = {"env", CFG_STRING,
                                        .item_size = sizeof(char *)};
static const struct cfg_key header_item = {
    "headers", CFG_HEADER, .item_size = sizeof(struct cfg_header)};
static const struct cfg_key dep_item = {"depends_on", CFG_DEP,
                                        .item_size = sizeof(struct cfg_dep)};

/* The top level: every key is applied in place on reload. */
static const struct cfg_key http_keys[] = {
    {"listen", CFG_STRING, cfg_value_listen, ROOT(http.listen),
     .def = "0.0.0.0:8558", APPLY,
     .doc = "the HTTP server's address: host:port, :port or [IPv6]:port"},
    {"token", CFG_STRING, ROOT(http.token), .def = "", APPLY,
     .doc = "the bearer token of the write endpoints; empty: they are off"},
    {"token_file", CFG_STRING, cfg_value_path, ROOT(http.token_file), .min = 1,
     NO_CHANGE, .doc = "an absolute path to read the token from, instead"},
};
static const struct cfg_key log_keys[] = {
    {"format", CFG_ENUM, ROOT(log.format), .names = format_names, .def = "json",
     APPLY, .doc = "sidecar's log lines: json or text"},
    {"level", CFG_ENUM, ROOT(log.level), .names = level_names, .def = "info",
     APPLY, .doc = "the least level of sidecar's own events that is written"},
    {"max_line", CFG_SIZE, ROOT(log.max_line), .min = LOG_LINE_MIN,
     .max = LOG_LINE_MAX, .def = "16KiB", APPLY,
     .doc = "a longer line of a service's output is split"},
};
static const struct cfg_key shutdown_keys[] = {
    {"drain", CFG_DURATION, ROOT(shutdown.drain_ms), DURATION(0), .def = "5s",
     APPLY, .doc = "how long /readyz fails before a SIGTERM stops anything"},
};
static const struct cfg_section http_section = {http_keys,
                                                ARRAY_SIZE(http_keys)};
static const struct cfg_section log_section = {log_keys, ARRAY_SIZE(log_keys)};
static const struct cfg_section shutdown_section = {shutdown_keys,
                                                    ARRAY_SIZE(shutdown_keys)};

static const struct cfg_key top_keys[] = {
    {"name", CFG_STRING, ROOT(name), .min = 1, .def = "sidecar", APPLY,
     .doc = "how this sidecar names itself in its events and status"},
    {"reload", CFG_ENUM, ROOT(reload), .names = reload_names, .def = "manual",
     APPLY,
     .doc = "manual: on SIGHUP or POST /reload; watch: also on a change"},
    {"http", CFG_SECTION, WHOLE, .section = &http_section, APPLY,
     .doc = "the HTTP server"},
    {"log", CFG_SECTION, WHOLE, .section = &log_section, APPLY,
     .doc = "sidecar's log on stdout"},
    {"shutdown", CFG_SECTION, WHOLE, .section = &shutdown_section, APPLY,
     .doc = "how sidecar stops"},
    {"exec_probe_limit", CFG_UINT, ROOT(exec_probe_limit), .min = 1,
     .max = 1000, .def = "8", APPLY, .doc = "how many exec probes run at once"},
    {"services", CFG_ENTRIES, cfg_value_services, ROOT_N(services),
     .section = &cfg_service_section, .item_size = sizeof(struct cfg_service),
     NO_CHANGE, .doc = "the processes to supervise, by name"},
    {"probes", CFG_ENTRIES, cfg_value_probes, ROOT_N(probes),
     .section = &cfg_probe_section, .item_size = sizeof(struct cfg_probe),
     NO_CHANGE, .doc = "the checks that make up the health, by name"},
};
const struct cfg_section cfg_top_section = {top_keys, ARRAY_SIZE(top_keys)};

/* A service: any change restarts it. */
static const struct cfg_key backoff_keys[] = {
    {"initial", CFG_DURATION, BACKOFF(initial_ms), DURATION(0), .def = "500ms",
     .doc = "the first delay before a restart"},
    {"max", CFG_DURATION, BACKOFF(max_ms), DURATION(1), .def = "30s",
     .doc = "the longest delay before a restart"},
    {"reset_after", CFG_DURATION, BACKOFF(reset_after_ms), DURATION(0),
     .def = "30s", .doc = "a run this long starts the delays afresh"},
};
static const struct cfg_section backoff_section = {backoff_keys,
                                                   ARRAY_SIZE(backoff_keys)};

static const struct cfg_key service_keys[] = {
    {"role", CFG_ENUM, SVC(role), .names = role_names, .def = "helper",
     .doc = "main: its exit ends sidecar; helper: supervised beside it; "
            "task: runs to completion"},
    {"command", CFG_COMMAND, cfg_value_command, SVC(command), REQUIRED,
     .doc = "what to run: an argv list, or a string"},
    {"env", CFG_LIST, cfg_value_env, SVC_N(env), .item = &env_item,
     .doc = "variables added to sidecar's environment: NAME: value"},
    {"cwd", CFG_STRING, cfg_value_path, SVC(cwd), .min = 1,
     .doc = "the working directory, an absolute path"},
    {"user", CFG_ACCOUNT, cfg_value_account, SVC(user), .min = 1,
     .doc = "the user to run as: a name or a uid"},
    {"group", CFG_ACCOUNT, cfg_value_account, SVC(group), .min = 1,
     .doc = "the group to run as; default: the user's primary group"},
    {"umask", CFG_UMASK, cfg_value_umask, WHOLE,
     .doc = "the file mode creation mask, octal"},
    /* Default never for a task: see conf/load.c. */
    {"restart", CFG_ENUM, SVC(restart), .names = restart_names, .def = "always",
     .doc = "when an exit is followed by a restart"},
    {"success_exit_codes", CFG_LIST, SVC_N(success_exit_codes), .min = 1,
     .item = &exit_code_item, .def = "0",
     .doc = "the exit codes that are not failures"},
    {"backoff", CFG_SECTION, SVC(backoff), .section = &backoff_section,
     .doc = "the delay before a restart, doubling from initial to max"},
    {"max_restarts", CFG_UINT, SVC(max_restarts), .max = COUNT_MAX, .def = "10",
     .doc = "more restarts within restart_window are fatal"},
    {"restart_window", CFG_DURATION, SVC(restart_window_ms), DURATION(1),
     .def = "60s", .doc = "the window of max_restarts"},
    {"stop_signal", CFG_SIGNAL, SVC(stop_signal), .def = "SIGTERM",
     .doc = "sent to the service's process group to stop it"},
    {"stop_timeout", CFG_DURATION, SVC(stop_timeout_ms), DURATION(0),
     .def = "10s", .doc = "the grace period before SIGKILL"},
    {"essential", CFG_BOOL, SVC(essential), .def = "false",
     .doc = "its end makes sidecar DOWN; always true for the main service"},
    {"depends_on", CFG_LIST, cfg_value_deps, SVC_N(deps), .item = &dep_item,
     .doc = "services to wait for: name: started, healthy or completed"},
    /* Default SIGUSR1, SIGUSR2 for the main service: see conf/load.c. */
    {"forward_signals", CFG_LIST, SVC_N(forward_signals),
     .item = &forward_signal_item,
     .doc = "signals passed on to the service; main: SIGUSR1 and SIGUSR2"},
    {"ready", CFG_READY, cfg_value_ready, WHOLE, .names = ready_names,
     .def = "exec",
     .doc = "exec: started once executed; notify: once it sends READY=1; "
            "{fd: N}: once it writes a newline to descriptor N"},
    {"ready_timeout", CFG_DURATION, SVC(ready_timeout_ms), DURATION(1),
     .def = "60s",
     .doc = "a start not ready by then fails (ready: notify or {fd: N})"},
    {"watchdog", CFG_DURATION, SVC(watchdog_ms), DURATION(0), .def = "0s",
     .doc = "ready: notify: no WATCHDOG=1 for this long aborts it; 0s: "
            "none"},
};
const struct cfg_section cfg_service_section = {service_keys,
                                                ARRAY_SIZE(service_keys)};

/* A probe: any change replaces it. Type first: it tells which keys apply. */
static const struct cfg_key probe_keys[] = {
    {"type", CFG_ENUM, PROBE(type), .names = type_names, REQUIRED,
     .doc = "the kind of check: http, tcp, exec, ttl or grpc"},
    {"service", CFG_STRING, PROBE(service), .min = 1,
     .doc = "the service it checks, which it runs with (exec: as)"},
    {"importance", CFG_ENUM, PROBE(importance), .names = importance_names,
     .def = "critical", .doc = "how a failure counts toward the health"},
    {"period", CFG_DURATION, PROBE(period_ms), DURATION(PROBE_PERIOD_MIN),
     .def = "10s", .doc = "one run every period"},
    {"timeout", CFG_DURATION, PROBE(timeout_ms), DURATION(1), .def = "1s",
     .doc = "a run fails at this time; may be longer than period"},
    {"initial_delay", CFG_DURATION, PROBE(initial_delay_ms), DURATION(0),
     .def = "0s", .doc = "the wait before the first run"},
    {"failure_threshold", CFG_UINT, PROBE(failure_threshold), .min = 1,
     .max = THRESHOLD_MAX, .def = "3",
     .doc = "failures in a row that make the probe failing"},
    {"success_threshold", CFG_UINT, PROBE(success_threshold), .min = 1,
     .max = THRESHOLD_MAX, .def = "1",
     .doc = "passes in a row that make the probe passing"},
    {"on_failure", CFG_BOOL, cfg_value_on_failure, PROBE(restart_on_failure),
     .names = on_failure_names,
     .doc = "restart: restart the service when the probe fails"},
    /* A slow start (a JVM, a cache warm-up) fits; an app that never comes
     * up is still restarted within a minute. */
    {"start_period", CFG_DURATION, PROBE(start_period_ms), DURATION(0),
     .def = "60s", .doc = "how long on_failure waits for a first pass"},
    {"url", CFG_STRING, cfg_value_url, PROBE(url), .min = 1,
     ONLY(CFG_PROBE_HTTP), REQUIRED,
     .doc = "the http:// or https:// URL to request"},
    {"method", CFG_STRING, cfg_value_method, PROBE(method), .min = 1,
     ONLY(CFG_PROBE_HTTP), .def = "GET", .doc = "the request's method"},
    {"headers", CFG_LIST, cfg_value_headers, PROBE_N(headers),
     .item = &header_item, ONLY(CFG_PROBE_HTTP),
     .doc = "sent with each request: Name: value"},
    {"expect_status", CFG_LIST, PROBE_N(expect_status), .min = 1,
     .item = &status_item, ONLY(CFG_PROBE_HTTP), .def = "200-399",
     .doc = "the statuses that pass: codes and ranges"},
    {"expect_body", CFG_STRING, PROBE(expect_body), .min = 1,
     ONLY(CFG_PROBE_HTTP), .doc = "text the body must contain"},
    {"insecure", CFG_BOOL, PROBE(insecure),
     ONLY2(CFG_PROBE_HTTP, CFG_PROBE_GRPC), .def = "false",
     .doc = "true: skip the TLS certificate check"},
    {"follow_redirects", CFG_ENUM, PROBE(follow_redirects),
     .names = redirects_names, ONLY(CFG_PROBE_HTTP), .def = "same-host",
     .doc = "follow up to 10 redirects: same-host (as kubelet), true (any "
            "host) or false"},
    {"host", CFG_STRING, PROBE(host), .min = 1,
     ONLY2(CFG_PROBE_TCP, CFG_PROBE_GRPC), .def = "127.0.0.1",
     .doc = "the host to connect to"},
    {"port", CFG_UINT, PROBE(port), .min = 1, .max = 65535,
     ONLY2(CFG_PROBE_TCP, CFG_PROBE_GRPC), REQUIRED,
     .doc = "the port to connect to"},
    {"grpc_service", CFG_STRING, cfg_value_grpc_service, PROBE(grpc_service),
     .max = 1024, ONLY(CFG_PROBE_GRPC), .def = "",
     .doc = "the service name the health check asks about; \"\": the server"},
    {"tls", CFG_BOOL, PROBE(tls), ONLY(CFG_PROBE_GRPC), .def = "false",
     .doc = "true: TLS (verified unless insecure), HTTP/2 by ALPN"},
    {"command", CFG_COMMAND, cfg_value_command, PROBE(command),
     ONLY(CFG_PROBE_EXEC), REQUIRED,
     .doc = "what to run; exit status 0 passes"},
    {"env", CFG_LIST, cfg_value_env, PROBE_N(env), .item = &env_item,
     ONLY(CFG_PROBE_EXEC),
     .doc = "variables added over the service's environment: NAME: value"},
    {"cwd", CFG_STRING, cfg_value_path, PROBE(cwd), .min = 1,
     ONLY(CFG_PROBE_EXEC),
     .doc = "the working directory, in place of the service's"},
    {"user", CFG_ACCOUNT, cfg_value_account, PROBE(user), .min = 1,
     ONLY(CFG_PROBE_EXEC),
     .doc = "the user to run as, in place of the service's"},
    {"group", CFG_ACCOUNT, cfg_value_account, PROBE(group), .min = 1,
     ONLY(CFG_PROBE_EXEC),
     .doc = "the group to run as, in place of the service's"},
    {"ttl", CFG_DURATION, PROBE(ttl_ms), DURATION(PROBE_PERIOD_MIN),
     ONLY(CFG_PROBE_TTL), REQUIRED, .doc = "a pushed pass lasts this long"},
};
const struct cfg_section cfg_probe_section = {probe_keys,
                                              ARRAY_SIZE(probe_keys)};
