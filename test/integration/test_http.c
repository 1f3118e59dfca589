/*
 * The status endpoint through real HTTP on 127.0.0.1: the Kubernetes
 * checks and /health through startup, a high probe failing, a critical
 * probe failing, recovery and an essential service going FATAL; unknown
 * paths and wrong methods.
 */
#define _DEFAULT_SOURCE
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

static struct harness H;

static void teardown(void)
{
    h_cleanup(&H);
}

#define T(name, secs) Test(http, name, .timeout = secs, .fini = teardown)

static char body[65536];

static void touch(const char *name)
{
    h_touch(&H, name);
}

/* Polls path until it answers status; its body in body. */
static bool wait_status(const char *path, int status, double timeout_s)
{
    return h_wait_status(&H, path, status, body, sizeof(body), timeout_s);
}

/* Polls path until its body is want (a probe's first run may lag). */
static bool wait_body(const char *path, const char *want)
{
    for (double end = h_now() + H_WAIT; h_now() < end;) {
        h_get(&H, path, body, sizeof(body));
        if (strcmp(body, want) == 0)
            return true;
        h_pump(&H, 0.05);
    }
    return false;
}

static const char probes_yaml[] =
    "services:\n"
    "  web:\n"
    "    role: main\n"
    "    command: ['@HELPER@', 'run', 'web', '@DIR@/log']\n"
    "probes:\n"
    "  core:\n"
    "    type: exec\n"
    "    command: \"test -e @DIR@/core-up\"\n"
    "    period: 500ms\n"
    "    timeout: 450ms\n"
    "    failure_threshold: 1\n"
    "  cache:\n"
    "    type: exec\n"
    "    importance: high\n"
    "    command: \"test ! -e @DIR@/cache-down\"\n"
    "    period: 500ms\n"
    "    timeout: 450ms\n"
    "    failure_threshold: 1\n";

T(kubernetes_checks_follow_startup_degradation_and_recovery, 30)
{
    h_start(&H, probes_yaml);
    /* Startup: the critical probe has not passed yet. */
    cr_expect(wait_status("/livez", 200, H_WAIT));
    cr_expect_str_eq(body, "ok\n");
    cr_expect_eq(h_get(&H, "/startupz", body, sizeof(body)), 503);
    cr_expect_str_eq(body, "startupz check failed\n");
    cr_expect_eq(h_get(&H, "/readyz", body, sizeof(body)), 503);

    touch("core-up");
    cr_expect(wait_status("/startupz", 200, H_WAIT));
    cr_expect(wait_status("/readyz", 200, H_WAIT));
    cr_expect(wait_body("/health", "{\"status\":\"UP\"}\n"), "%s", body);

    /* A high probe failing: DEGRADED, still in rotation. */
    touch("cache-down");
    cr_expect(wait_body("/health", "{\"status\":\"DEGRADED\"}\n"), "%s", body);
    cr_expect_eq(h_get(&H, "/readyz", body, sizeof(body)), 200);

    /* A critical probe failing: DOWN, out of rotation, still live. */
    unlink(h_path(&H, "core-up"));
    cr_expect(wait_status("/health", 503, H_WAIT));
    cr_expect_str_eq(body, "{\"status\":\"DOWN\"}\n");
    cr_expect_eq(h_get(&H, "/readyz", body, sizeof(body)), 503);
    cr_expect_eq(h_get(&H, "/livez", body, sizeof(body)), 200);
    cr_expect_eq(h_get(&H, "/healthz", body, sizeof(body)), 200);
    cr_expect_eq(h_get(&H, "/startupz", body, sizeof(body)), 200,
                 "startup, once done, stays done");

    /* Recovery. */
    touch("core-up");
    unlink(h_path(&H, "cache-down"));
    cr_expect(wait_status("/readyz", 200, H_WAIT));
    cr_expect(wait_status("/health", 200, H_WAIT));
    h_signal(&H, SIGTERM);
    cr_expect_eq(h_wait_exit(&H, 10), 0);
}

T(an_essential_service_gone_fatal_fails_liveness, 30)
{
    h_start(&H, "services:\n"
                "  web:\n"
                "    role: main\n"
                "    command: ['@HELPER@', 'run', 'web', '@DIR@/log',"
                " 'ignore-term']\n"
                "    stop_timeout: 3s\n"
                "  proxy:\n"
                "    essential: true\n"
                "    command: ['@HELPER@', 'exit', '1']\n"
                "    backoff: { initial: 2s, max: 2s }\n"
                "    max_restarts: 3\n");
    /* While sidecar restarts it, liveness holds: kubelet must not fight.
     * (Backoffs of 2 s give the test room to look before it goes FATAL.) */
    cr_expect(wait_status("/livez", 200, H_WAIT));
    cr_expect(wait_status("/readyz", 503, H_WAIT));
    cr_expect_eq(
        h_find_event(&H, 0, "service is crash-looping; giving up", "proxy"),
        -1);
    /* Then it goes FATAL: not live, while web, which ignores SIGTERM,
     * holds sidecar for its stop_timeout (3 s, time to see it). */
    cr_expect(wait_status("/livez", 503, H_WAIT));
    cr_expect_str_eq(body, "livez check failed\n");
    /* The answer can come before the harness has read the log line. */
    cr_expect_geq(h_wait_event(&H, 0, H_WAIT,
                               "service is crash-looping; giving up", "proxy"),
                  0);
    cr_expect_eq(h_wait_exit(&H, 10), 1);
}

T(unknown_paths_and_wrong_methods_get_json_errors, 20)
{
    h_start(&H, "probes:\n"
                "  p: { type: exec, command: 'true', period: 1s, timeout: "
                "500ms }\n");
    cr_expect_eq(h_get(&H, "/nope", body, sizeof(body)), 404);
    cr_expect_str_eq(body, "{\"error\":\"not found\"}\n");
    cr_expect_eq(h_http(&H,
                        "POST /livez HTTP/1.1\r\nHost: x\r\nContent-Length: "
                        "2\r\nConnection: close\r\n\r\nhi",
                        body, sizeof(body)),
                 405);
    cr_expect_str_eq(body, "{\"error\":\"method not allowed\"}\n");
    cr_expect(strstr(h_last_response(), "\r\nAllow: GET, HEAD\r\n"), "%s",
              h_last_response());
    cr_expect_eq(h_http(&H,
                        "HEAD /livez HTTP/1.1\r\nHost: x\r\nConnection: "
                        "close\r\n\r\n",
                        body, sizeof(body)),
                 200);
    cr_expect_str_eq(body, "", "HEAD has no body");
    /* Malformed: a request line without a version gets 400; a line that
     * is not a request at all gets the connection closed. */
    cr_expect_eq(h_http(&H, "GET /livez\r\n\r\n", body, sizeof(body)), 400);
    cr_expect_eq(h_http(&H, "garbage\r\n\r\n", body, sizeof(body)), -1);
    cr_expect_eq(h_get(&H, "/livez", body, sizeof(body)), 200,
                 "still serving after malformed requests");
    h_signal(&H, SIGTERM);
    cr_expect_eq(h_wait_exit(&H, 10), 0);
}

T(sigterm_drains_readiness_before_stopping_anything, 30)
{
    h_start(&H, "shutdown:\n"
                "  drain: 2s\n"
                "services:\n"
                "  web:\n"
                "    role: main\n"
                "    command: ['@HELPER@', 'run', 'web', '@DIR@/log']\n");
    cr_assert(h_wait_file(&H, "log", 1, H_WAIT));
    cr_expect(wait_status("/readyz", 200, H_WAIT));
    double t0 = h_now();
    h_signal(&H, SIGTERM);
    cr_expect(wait_status("/readyz", 503, 2), "readiness did not turn off");
    /* At once, not at the end of the drain (2 s is room for a loaded
     * machine). */
    double off = h_now() - t0;
    cr_expect_lt(off, 1.5, "readyz took %.3fs to turn 503", off);
    cr_expect_eq(h_get(&H, "/livez", body, sizeof(body)), 200,
                 "liveness holds while draining");
    long drain = h_wait_event(&H, 0, H_WAIT,
                              "draining: not ready, stopping after "
                              "the drain",
                              NULL);
    long stop = h_wait_event(&H, 0, H_WAIT, "stopping service", "web");
    cr_assert(drain >= 0 && stop > drain);
    long long gap = h_ts_ms(&H, stop) - h_ts_ms(&H, drain);
    cr_expect(gap >= 2000 && gap < 3500, "web signalled %lld ms after", gap);
    cr_expect_eq(h_wait_exit(&H, 10), 0);
}

T(verbose_exclude_and_single_checks, 30)
{
    h_start(&H, probes_yaml);
    touch("core-up");
    cr_assert(wait_status("/readyz", 200, H_WAIT));
    /* Until its first result the high probe is listed as unknown. */
    size_t from = 0;
    cr_assert_geq(h_wait_probe_state(&H, &from, "cache", "passing", H_WAIT), 0);
    cr_expect_eq(h_get(&H, "/readyz?verbose", body, sizeof(body)), 200);
    cr_expect_str_eq(body, "[+]service:web ok\n"
                           "[+]core ok\n"
                           "[+]cache ok\n"
                           "readyz check passed\n");
    unlink(h_path(&H, "core-up"));
    cr_assert(wait_status("/readyz", 503, H_WAIT));
    cr_expect_eq(h_get(&H, "/readyz?verbose", body, sizeof(body)), 503);
    cr_expect_str_eq(body, "[+]service:web ok\n"
                           "[-]core failed: exit 1\n"
                           "[+]cache ok\n"
                           "readyz check failed\n");
    /* Excluding the failing check answers as if it did not exist. */
    cr_expect_eq(h_get(&H, "/readyz?exclude=core", body, sizeof(body)), 200);
    cr_expect_str_eq(body, "ok\n");
    cr_expect_eq(h_get(&H, "/readyz?verbose&exclude=core&exclude=nope", body,
                       sizeof(body)),
                 200);
    cr_expect_str_eq(body, "[+]service:web ok\n"
                           "[+]core excluded: failed\n"
                           "[+]cache ok\n"
                           "warn: some health checks cannot be excluded: no "
                           "matches for \"nope\"\n"
                           "readyz check passed\n");
    /* Liveness does not count probes: they are listed, and pass. */
    cr_expect_eq(h_get(&H, "/livez?verbose", body, sizeof(body)), 200);
    cr_expect(strstr(body, "[+]core failing: exit 1 (critical: does not "
                           "affect liveness)\n"),
              "%s", body);
    /* One check. */
    cr_expect_eq(h_get(&H, "/readyz/core", body, sizeof(body)), 503);
    cr_expect_str_eq(body, "failed: exit 1\n");
    cr_expect_eq(h_get(&H, "/readyz/cache", body, sizeof(body)), 200);
    cr_expect_eq(h_get(&H, "/readyz/service:web", body, sizeof(body)), 200);
    cr_expect_eq(h_get(&H, "/readyz/nope", body, sizeof(body)), 404);
    h_signal(&H, SIGTERM);
    cr_expect_eq(h_wait_exit(&H, 10), 0);
}

T(health_details_is_the_whole_picture_as_json, 30)
{
    h_start(&H, probes_yaml);
    touch("core-up");
    touch("cache-down");
    cr_assert(wait_status("/readyz", 200, H_WAIT));
    size_t from = 0;
    cr_assert_geq(h_wait_probe_state(&H, &from, "cache", "failing", H_WAIT), 0);
    long started = h_wait_event(&H, 0, H_WAIT, "service started", "web");
    cr_assert_geq(started, 0);
    cr_expect_eq(h_get(&H, "/health/details", body, sizeof(body)), 200);
    json_error_t err;
    json_t *d = json_loads(body, 0, &err);
    cr_assert(d, "not JSON (%s): %s", err.text, body);
    cr_expect_str_eq(json_string_value(json_object_get(d, "status")),
                     "DEGRADED");
    cr_expect(json_is_true(json_object_get(d, "ready")));
    cr_expect_str_eq(
        json_string_value(json_object_get(d, "version")),
        h_str(&H, h_find_event(&H, 0, "sidecar started", NULL), "version"));
    json_t *probes = json_object_get(d, "probes");
    cr_assert_eq(json_array_size(probes), 2);
    json_t *cache = json_array_get(probes, 1);
    cr_expect_str_eq(json_string_value(json_object_get(cache, "name")),
                     "cache");
    cr_expect_str_eq(json_string_value(json_object_get(cache, "state")),
                     "failing");
    cr_expect_str_eq(json_string_value(json_object_get(cache, "importance")),
                     "high");
    json_t *last = json_object_get(cache, "last");
    cr_expect(json_is_false(json_object_get(last, "ok")));
    cr_expect_str_eq(json_string_value(json_object_get(last, "reason")),
                     "exit 1");
    cr_expect_geq(
        json_integer_value(json_object_get(cache, "consecutive_failures")), 1);
    json_t *web = json_array_get(json_object_get(d, "services"), 0);
    cr_expect_str_eq(json_string_value(json_object_get(web, "state")),
                     "running");
    cr_expect_eq(json_integer_value(json_object_get(web, "pid")),
                 h_int(&H, started, "pid", -1));
    cr_expect(json_is_null(json_object_get(web, "last_exit_code")));
    json_decref(d);
    h_signal(&H, SIGTERM);
    cr_expect_eq(h_wait_exit(&H, 10), 0);
}

/*
 * Parses text with the Prometheus project's own Python parser (Debian's
 * python3-prometheus-client) and prints "name{labels} value" a line.
 */
static bool prometheus_parse(const char *text, char *out, size_t len)
{
    FILE *f = fopen(h_path(&H, "metrics.txt"), "w");
    cr_assert(f);
    fputs(text, f);
    fclose(f);
    char cmd[1024];
    snprintf(cmd, sizeof(cmd),
             "/usr/bin/python3 -c 'import sys\n"
             "from prometheus_client.parser import "
             "text_string_to_metric_families as parse\n"
             "for fam in parse(open(sys.argv[1]).read()):\n"
             "    for s in fam.samples:\n"
             "        labels = \",\".join(k + \"=\" + v for k, v in "
             "sorted(s.labels.items()))\n"
             "        print(\"%%s{%%s} %%g\" %% (s.name, labels, s.value))' "
             "%s 2>&1",
             h_path(&H, "metrics.txt"));
    FILE *p = popen(cmd, "r");
    cr_assert(p);
    size_t n = fread(out, 1, len - 1, p);
    out[n] = '\0';
    return pclose(p) == 0;
}

T(metrics_pass_the_prometheus_parser, 30)
{
    h_start(&H, probes_yaml);
    touch("core-up");
    touch("cache-down");
    size_t from = 0;
    cr_assert_geq(h_wait_probe_state(&H, &from, "cache", "failing", H_WAIT), 0);
    cr_assert(wait_status("/readyz", 200, H_WAIT));
    cr_expect_eq(h_get(&H, "/metrics", body, sizeof(body)), 200);
    static char parsed[65536];
    cr_assert(prometheus_parse(body, parsed, sizeof(parsed)),
              "the parser rejected it: %s\n%s", parsed, body);
    const char *want[] = {
        "sidecar_health_status{} 1\n",
        "sidecar_ready{} 1\n",
        "sidecar_probe_success{importance=critical,probe=core} 1\n",
        "sidecar_probe_success{importance=high,probe=cache} 0\n",
        "sidecar_probe_passing{importance=high,probe=cache} 0\n",
        "sidecar_service_up{service=web} 1\n",
        "sidecar_service_restarts_total{service=web} 0\n",
    };
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
        cr_expect(strstr(parsed, want[i]), "missing %s in:\n%s", want[i],
                  parsed);
    const char *families[] = {
        "sidecar_probe_duration_seconds{importance=critical,probe=core} ",
        "sidecar_service_start_time_seconds{service=web} ",
        "process_cpu_seconds_total{} ",
        "process_open_fds{} ",
        "process_max_fds{} ",
        "process_resident_memory_bytes{} ",
        "process_virtual_memory_bytes{} ",
        "process_start_time_seconds{} ",
    };
    for (size_t i = 0; i < sizeof(families) / sizeof(families[0]); i++)
        cr_expect(strstr(parsed, families[i]), "missing %s in:\n%s",
                  families[i], parsed);
    h_signal(&H, SIGTERM);
    cr_expect_eq(h_wait_exit(&H, 10), 0);
}

static int post(const char *path, const char *token, const char *payload)
{
    return h_post_at(h_http_port(&H), path, token, payload, body, sizeof(body));
}

T(write_endpoints_need_the_token, 30)
{
    h_start(&H, "http:\n"
                "  listen: 127.0.0.1:0\n"
                "  token: s3cret\n"
                "shutdown:\n"
                "  drain: 0s\n"
                "services:\n"
                "  web:\n"
                "    role: main\n"
                "    command: ['@HELPER@', 'run', 'web', '@DIR@/log']\n"
                "    backoff: { initial: 0s }\n"
                "probes:\n"
                "  batch:\n"
                "    type: ttl\n"
                "    ttl: 5s\n");
    cr_assert(h_wait_file(&H, "log", 1, H_WAIT));
    cr_expect_eq(post("/probes/batch/pass", NULL, ""), 401);
    cr_expect_eq(post("/probes/batch/pass", "wrong", ""), 401);
    cr_expect_eq(post("/probes/batch/pass", "s3cre", ""), 401);
    cr_expect_eq(post("/probes/batch/pass", "s3cret", ""), 200);
    cr_expect_str_eq(body, "{\"probe\":\"batch\",\"state\":\"passing\"}\n");
    cr_expect_eq(post("/probes/batch/fail", "s3cret", "disk full\n"), 200);
    size_t from = 0;
    long i = h_wait_probe_state(&H, &from, "batch", "failing", 10);
    cr_assert_geq(i, 0);
    cr_expect_str_eq(h_str(&H, i, "reason"), "disk full");
    cr_expect_eq(post("/probes/nope/pass", "s3cret", ""), 404);
    cr_expect_eq(h_get(&H, "/probes/batch/pass", body, sizeof(body)), 405,
                 "a write path read with GET");
    cr_expect(strstr(h_last_response(), "\r\nAllow: POST\r\n"), "%s",
              h_last_response());
    cr_expect_eq(post("/probes/batch/maybe", "s3cret", ""), 404);

    /* Services: restart, stop, start. */
    cr_expect_eq(post("/services/web/restart", "s3cret", ""), 202);
    cr_assert_geq(h_wait_event(&H, 0, H_WAIT, "service will restart", "web"),
                  0);
    cr_assert(h_wait_file(&H, "log", 3, H_WAIT), "start, stop, start");
    size_t before_stop = H.count;
    cr_expect_eq(post("/services/web/stop", "s3cret", ""), 202);
    cr_assert(h_wait_file(&H, "log", 4, H_WAIT));
    /* Stopped once its exit is seen, not when it says so. */
    cr_assert_geq(
        h_wait_event(&H, before_stop, H_WAIT, "service exited", "web"), 0);
    cr_expect(wait_status("/readyz", 503, H_WAIT));
    cr_expect_eq(h_get(&H, "/livez", body, sizeof(body)), 200,
                 "a stopped service is not beyond repair");
    cr_expect_eq(post("/services/web/start", "s3cret", ""), 202);
    cr_assert(h_wait_file(&H, "log", 5, H_WAIT));
    cr_expect_eq(post("/services/web/start", "s3cret", ""), 409);
    cr_expect_eq(post("/services/nope/stop", "s3cret", ""), 404);
    h_signal(&H, SIGTERM);
    cr_expect_eq(h_wait_exit(&H, 10), 0);
}

/* A service waiting for its dependencies is not started around them. */
T(a_waiting_service_cannot_be_started_by_hand, 20)
{
    h_start(&H, "http:\n"
                "  listen: 127.0.0.1:0\n"
                "  token: s3cret\n"
                "shutdown:\n"
                "  drain: 0s\n"
                "services:\n"
                "  gate:\n"
                "    command: ['@HELPER@', 'run', 'gate', '@DIR@/gate']\n"
                "  late:\n"
                "    role: main\n"
                "    command: ['@HELPER@', 'run', 'late', '@DIR@/late']\n"
                "    depends_on: { gate: healthy }\n"
                "probes:\n"
                "  never:\n"
                "    type: exec\n"
                "    service: gate\n"
                "    importance: low\n"
                "    command: 'false'\n"
                "    period: 100ms\n"
                "    timeout: 50ms\n");
    cr_assert(h_wait_file(&H, "gate", 1, H_WAIT));
    cr_expect_eq(post("/services/late/restart", "s3cret", ""), 409);
    cr_expect(strstr(body, "waiting for its dependencies"), "%s", body);
    cr_expect_eq(post("/services/late/start", "s3cret", ""), 409);
    h_pump(&H, 0.3);
    cr_expect_lt(h_find_event(&H, 0, "service started", "late"), 0);
    cr_expect_eq(post("/services/late/bogus", "s3cret", ""), 404);
    cr_expect_eq(post("/services/late/stop", "s3cret", ""), 202);
    h_signal(&H, SIGTERM);
    cr_expect_eq(h_wait_exit(&H, 10), 0, "the main service never ran");
}

T(without_a_token_there_is_no_write_api, 20)
{
    /* Not a ttl probe: one needs the token (check and run refuse it). */
    h_start(&H, "probes:\n"
                "  batch:\n"
                "    type: exec\n"
                "    command: [true]\n");
    cr_expect_eq(post("/probes/batch/pass", NULL, ""), 404);
    cr_expect_eq(post("/probes/batch/pass", "anything", ""), 404);
    h_signal(&H, SIGTERM);
    cr_expect_eq(h_wait_exit(&H, 10), 0);
}

/* Runs `sidecar status --url` against this test's sidecar. */
static int status_cmd(char *out, size_t len)
{
    char url[64];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d", h_http_port(&H));
    return h_run((const char *[]){"status", "--url", url, NULL}, out, len,
                 H_WAIT);
}

T(sidecar_status_prints_a_table_and_exits_by_the_aggregate, 30)
{
    static char out[8192];
    h_start(&H, probes_yaml);
    touch("core-up");
    touch("cache-down");
    size_t from = 0;
    cr_assert_geq(h_wait_probe_state(&H, &from, "cache", "failing", H_WAIT), 0);
    cr_assert(wait_status("/readyz", 200, H_WAIT));
    cr_expect_eq(status_cmd(out, sizeof(out)), 1, "%s", out);
    cr_expect(strstr(out, ": DEGRADED  (live yes, ready yes, started yes)"),
              "%s", out);
    cr_expect(strstr(out, "cache                    high       failing"), "%s",
              out);
    cr_expect(strstr(out, "web                      running"), "%s", out);
    unlink(h_path(&H, "core-up"));
    cr_assert(wait_status("/health", 503, H_WAIT));
    cr_expect_eq(status_cmd(out, sizeof(out)), 2, "%s", out);
    touch("core-up");
    unlink(h_path(&H, "cache-down"));
    cr_assert(wait_status("/health", 200, H_WAIT));
    for (double end = h_now() + H_WAIT; h_now() < end;) {
        if (status_cmd(out, sizeof(out)) == 0)
            break;
    }
    cr_expect(strstr(out, ": UP  "), "%s", out);
    int port = h_http_port(&H);
    char cmd[512];
    const char *bin = getenv("SIDECAR_BIN");
    /* $SIDECAR_URL is the default --url (the image's HEALTHCHECK uses it). */
    snprintf(cmd, sizeof(cmd),
             "SIDECAR_URL=http://127.0.0.1:%d '%s' status >/dev/null 2>&1",
             port, bin ? bin : "../build/sidecar");
    cr_expect_eq(WEXITSTATUS(system(cmd)), 0, "status by $SIDECAR_URL");
    h_signal(&H, SIGTERM);
    cr_expect_eq(h_wait_exit(&H, 10), 0);
    snprintf(cmd, sizeof(cmd),
             "'%s' status --url http://127.0.0.1:%d >/dev/null 2>&1",
             bin ? bin : "../build/sidecar", port);
    int st = system(cmd);
    cr_expect_eq(WEXITSTATUS(st), 3, "unreachable");
}

T(five_hundred_idle_connections_do_not_lock_kubelet_out, 30)
{
    h_start(&H, "probes:\n"
                "  p: { type: exec, command: 'true', period: 1s, timeout: "
                "500ms }\n");
    int port = h_http_port(&H);
    static int fds[500];
    for (int i = 0; i < 500; i++) {
        fds[i] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        cr_assert_geq(fds[i], 0);
        struct sockaddr_in a = {.sin_family = AF_INET,
                                .sin_port = htons((uint16_t)port),
                                .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        cr_assert_eq(connect(fds[i], (struct sockaddr *)&a, sizeof(a)), 0);
        /* Half of them have started a request and stalled. */
        if (i % 2 && write(fds[i], "GET /li", 7) != 7)
            cr_assert_fail("write");
    }
    h_pump(&H, 0.2);
    double worst = 0;
    for (int i = 0; i < 20; i++) {
        double t0 = h_now();
        cr_expect_eq(h_get(&H, "/livez", body, sizeof(body)), 200);
        double took = h_now() - t0;
        if (took > worst)
            worst = took;
    }
    /* Within kubelet's default probe timeout (1 s), loaded machine or not;
     * locked out, it would get no answer at all. */
    cr_expect_lt(worst, 1.0, "/livez took %.1f ms with 500 idle clients",
                 worst * 1000);
    for (int i = 0; i < 500; i++)
        close(fds[i]);
    h_signal(&H, SIGTERM);
    cr_expect_eq(h_wait_exit(&H, 10), 0);
}

T(malformed_requests_get_4xx_and_nothing_breaks, 30)
{
    static char huge_header[24000];
    static char huge_url[24000];
    static char many[40000];
    snprintf(huge_header, sizeof(huge_header),
             "GET /livez HTTP/1.1\r\nHost: x\r\nX-A: %0*d\r\n\r\n", 20000, 0);
    snprintf(huge_url, sizeof(huge_url),
             "GET /%0*d HTTP/1.1\r\nHost: x\r\n\r\n", 20000, 0);
    size_t n = (size_t)snprintf(many, sizeof(many),
                                "GET /livez HTTP/1.1\r\nHost: x\r\n");
    for (int i = 0; i < 2000; i++)
        n += (size_t)snprintf(many + n, sizeof(many) - n, "X-%d: y\r\n", i);
    snprintf(many + n, sizeof(many) - n, "\r\n");
    const struct {
        const char *name;
        const char *request;
        int status; /* -1: the connection is closed without an answer */
    } corpus[] = {
        {"no version", "GET /livez\r\n\r\n", 400},
        {"unknown version", "GET /livez HTTP/9.9\r\nHost: x\r\n\r\n", 505},
        {"header without colon",
         "GET /livez HTTP/1.1\r\nHost: x\r\nbogus\r\n\r\n", 400},
        {"bad content-length",
         "POST /livez HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n", 400},
        {"header too large", huge_header, 431},
        {"url too long", huge_url, 414},
        {"too many headers", many, 431},
        {"not http", "garbage\r\n\r\n", -1},
        /* An odd method token is still a request: the path decides (/ is
         * the status page, which takes GET and HEAD only). */
        {"control bytes as method",
         "\x01\x02\x03\x04 / HTTP/1.1\r\nConnection: close\r\n\r\n", 405},
        {"control bytes as method, another path",
         "\x01\x02\x03\x04 /nope HTTP/1.1\r\nConnection: close\r\n\r\n", 404},
        {"percent-encoded NUL",
         "GET /readyz/%00x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
         404},
        {"bare LF lines", "GET /livez HTTP/1.1\nHost: x\nConnection: close\n\n",
         200},
    };
    h_start(&H, "probes:\n"
                "  p: { type: exec, command: 'true', period: 1s, timeout: "
                "500ms }\n");
    for (size_t i = 0; i < sizeof(corpus) / sizeof(corpus[0]); i++) {
        int got = h_http(&H, corpus[i].request, body, sizeof(body));
        cr_expect_eq(got, corpus[i].status, "%s: got %d", corpus[i].name, got);
    }
    cr_expect_eq(h_get(&H, "/livez", body, sizeof(body)), 200, "still serving");
    cr_expect(h_pid_alive(H.pid));
    h_signal(&H, SIGTERM);
    cr_expect_eq(h_wait_exit(&H, 10), 0);
}
