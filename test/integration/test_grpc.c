/*
 * grpc probes through the real binary, against a real gRPC server
 * (test/helpers/grpchealth.py on Debian's python3-grpcio, serving
 * grpc.health.v1.Health) that the test starts first, so that its port can
 * go into the config, and switches by rewriting its state file: SERVING,
 * NOT_SERVING and back, a named service and an unknown one, a server that
 * hangs, one that answers an error status, TLS; and servers that are not
 * gRPC (fakehttp, a listener that only accepts) or not there at all.
 */
#define _DEFAULT_SOURCE
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

#define SERVERS_MAX 4

static struct harness H;
static pid_t servers[SERVERS_MAX];
static size_t nservers;
static char dir[64]; /* state, port files and certificates */

static void teardown(void)
{
    for (size_t i = 0; i < nservers; i++) {
        kill(servers[i], SIGKILL);
        waitpid(servers[i], NULL, 0);
    }
    nservers = 0;
    if (dir[0]) {
        char cmd[128];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
        if (system(cmd) != 0)
            cr_log_warn("cannot remove %s", dir);
        dir[0] = '\0';
    }
    h_cleanup(&H);
}

#define T(name, secs) Test(grpc, name, .timeout = secs, .fini = teardown)

static const char *path_of(const char *name)
{
    static char path[128];
    if (!dir[0]) {
        snprintf(dir, sizeof(dir), "/tmp/sidecar-grpc-XXXXXX");
        cr_assert(mkdtemp(dir), "mkdtemp: %s", strerror(errno));
    }
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    return path;
}

/* The helper's state: lines NAME=STATUS, read at each call. */
static void set_state(const char *text)
{
    h_put_file(path_of("state"), text);
}

/* Runs argv as a target writing its port to portfile: its port. */
static int start_server(const char *const *argv, const char *portfile)
{
    cr_assert_lt(nservers, SERVERS_MAX);
    return h_run_port(argv, portfile, &servers[nservers++]);
}

/* grpchealth.py in mode (serve, hang, error), with TLS when tls. */
static int start_grpc(const char *mode, bool tls)
{
    static char helper[512], state[128], portfile[128], cert[128], key[128];
    const char *src = getenv("SIDECAR_SRC");

    snprintf(helper, sizeof(helper), "%s/test/helpers/grpchealth.py",
             src && *src ? src : "..");
    snprintf(state, sizeof(state), "%s", path_of("state"));
    snprintf(cert, sizeof(cert), "%s", path_of("cert.pem"));
    snprintf(key, sizeof(key), "%s", path_of("key.pem"));
    snprintf(portfile, sizeof(portfile), "%s/port%zu", dir, nservers);
    if (access(state, F_OK) != 0)
        set_state("=SERVING\n");
    if (!tls)
        return start_server((const char *[]){"/usr/bin/python3", helper,
                                             "--mode", mode, state, portfile,
                                             NULL},
                            portfile);
    return start_server((const char *[]){"/usr/bin/python3", helper, "--mode",
                                         mode, "--tls", cert, key, state,
                                         portfile, NULL},
                        portfile);
}

/* fakehttp (an HTTP/1.1 server), or with tcp_only one that only accepts. */
static int start_fakehttp(bool tcp_only)
{
    static char bin[512], portfile[128];
    const char *helpers = getenv("SIDECAR_HELPERS");

    snprintf(bin, sizeof(bin), "%s/fakehttp",
             helpers && *helpers ? helpers : "../build/test");
    snprintf(portfile, sizeof(portfile), "%s", path_of("fakeport"));
    if (tcp_only)
        return start_server((const char *[]){bin, "--tcp-only", portfile, NULL},
                            portfile);
    return start_server((const char *[]){bin, portfile, NULL}, portfile);
}

static void start(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void start(const char *fmt, ...)
{
    static char yaml[8192];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(yaml, sizeof(yaml), fmt, ap);
    va_end(ap);
    cr_assert(n > 0 && (size_t)n < sizeof(yaml));
    h_start(&H, yaml);
}

/* The next change of probe to state after *from: its reason. */
static const char *next_state(size_t *from, const char *probe, const char *to)
{
    long i = h_wait_probe_state(&H, from, probe, to, H_WAIT);
    cr_assert_geq(i, 0, "%s never went %s", probe, to);
    return h_str(&H, i, "reason");
}

/* Every 500 ms with 450 ms to answer: a loaded machine still answers. */
#define FAST "period: 500ms, timeout: 450ms, failure_threshold: 1"

T(serving_passes_not_serving_fails_and_back, 30)
{
    int port = start_grpc("serve", false);
    size_t from = 0;

    start("probes:\n  g: {type: grpc, port: %d, " FAST "}\n", port);
    cr_expect_str_eq(next_state(&from, "g", "passing"), "SERVING");
    set_state("=NOT_SERVING\n");
    cr_expect_str_eq(next_state(&from, "g", "failing"), "NOT_SERVING");
    set_state("=SERVING\n");
    cr_expect_str_eq(next_state(&from, "g", "passing"), "SERVING");
    set_state("=SERVICE_UNKNOWN\n");
    cr_expect_str_eq(next_state(&from, "g", "failing"), "SERVICE_UNKNOWN");
}

T(grpc_service_names_the_service_asked_about, 30)
{
    set_state("=NOT_SERVING\napp.Users=SERVING\napp.Jobs=UNKNOWN\n");
    int port = start_grpc("serve", false);
    size_t from = 0;

    start("probes:\n"
          "  users: {type: grpc, port: %d, grpc_service: app.Users, " FAST "}\n"
          "  jobs: {type: grpc, port: %d, grpc_service: app.Jobs, " FAST "}\n"
          "  nope: {type: grpc, port: %d, grpc_service: app.Nope, " FAST "}\n"
          "  all: {type: grpc, host: localhost, port: %d, " FAST "}\n",
          port, port, port, port);
    cr_expect_str_eq(next_state(&from, "users", "passing"), "SERVING");
    from = 0;
    cr_expect_str_eq(next_state(&from, "jobs", "failing"), "UNKNOWN");
    from = 0;
    cr_expect_str_eq(next_state(&from, "nope", "failing"),
                     "grpc-status 5 (NOT_FOUND): unknown service");
    from = 0;
    cr_expect_str_eq(next_state(&from, "all", "failing"), "NOT_SERVING");
}

T(a_hanging_server_times_out, 30)
{
    int port = start_grpc("hang", false);
    size_t from = 0;

    start("probes:\n"
          "  g: {type: grpc, port: %d, period: 2s, failure_threshold: 1}\n",
          port);
    long i = h_wait_probe_state(&H, &from, "g", "failing", H_WAIT);
    cr_assert_geq(i, 0);
    cr_expect_str_eq(h_str(&H, i, "reason"), "timed out after 1s");
    /* The deadline counts from libev's clock, read a few microseconds
     * before the run's start: 999 ms is the same second (as faults/). */
    cr_expect_geq(h_int(&H, i, "duration_ms", 0), 990);
}

T(an_error_status_fails_with_its_code_and_message, 30)
{
    int port = start_grpc("error", false);
    size_t from = 0;

    start("probes:\n  g: {type: grpc, port: %d, " FAST "}\n", port);
    /* The message is percent-encoded on the wire; its newline is '?'. */
    cr_expect_str_eq(next_state(&from, "g", "failing"),
                     "grpc-status 12 (UNIMPLEMENTED): health is 100% off: "
                     "\xc3\xbc"
                     "berpr\xc3\xbc"
                     "ft?");
}

/* 2 KB of trailers (a stack trace in grpc-message) are read in time, not
 * left in curl's buffer until the timeout: the reason keeps its start. */
T(a_long_error_message_is_read_in_time, 30)
{
    int port = start_grpc("longerror", false);
    size_t from = 0;
    const char *r;

    start("probes:\n  g: {type: grpc, port: %d, " FAST "}\n", port);
    r = next_state(&from, "g", "failing");
    cr_expect(strncmp(r, "grpc-status 14 (UNAVAILABLE): trace trace ", 42) == 0,
              "%s", r);
    cr_expect(strstr(r, "...") != NULL, "%s", r);
}

T(a_server_that_is_not_grpc_says_so, 30)
{
    int http = start_fakehttp(false);
    int tcp = start_fakehttp(true);
    size_t from = 0;
    const char *r;

    start("probes:\n"
          "  http: {type: grpc, port: %d, " FAST "}\n"
          "  tcp: {type: grpc, port: %d, " FAST "}\n",
          http, tcp);
    r = next_state(&from, "http", "failing");
    cr_expect(strstr(r, " (no HTTP/2 answer: not a gRPC server?)"), "%s", r);
    from = 0;
    r = next_state(&from, "tcp", "failing");
    cr_expect(strstr(r, " (no HTTP/2 answer: not a gRPC server?)"), "%s", r);
}

/* An IPv6 literal goes into the URL in brackets: curl connects to it. */
T(a_refused_connection_gives_curls_reason, 30)
{
    int port = h_reserve_port();
    char want[96];
    size_t from = 0;

    start("probes:\n"
          "  g: {type: grpc, port: %d, " FAST "}\n"
          "  v6: {type: grpc, host: \"::1\", port: %d, " FAST "}\n",
          port, port);
    snprintf(want, sizeof(want), "Failed to connect to 127.0.0.1 port %d ",
             port);
    const char *r = next_state(&from, "g", "failing");
    cr_expect_eq(strncmp(r, want, strlen(want)), 0, "%s", r);
    cr_expect(strstr(r, "Couldn't connect to server"), "%s", r);
    from = 0;
    snprintf(want, sizeof(want), "Failed to connect to ::1 port %d ", port);
    r = next_state(&from, "v6", "failing");
    cr_expect_eq(strncmp(r, want, strlen(want)), 0, "%s", r);
}

/* A self-signed certificate for 127.0.0.1, by openssl(1). */
static void make_cert(void)
{
    char cmd[512];

    snprintf(cmd, sizeof(cmd),
             "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 "
             "-nodes -days 2 -subj /CN=127.0.0.1 "
             "-addext subjectAltName=IP:127.0.0.1 -keyout '%s/key.pem' "
             "-out '%s/cert.pem' >/dev/null 2>&1",
             dir, dir);
    cr_assert_eq(system(cmd), 0, "openssl req failed");
}

T(tls_is_verified_unless_insecure, 40)
{
    path_of("state");
    make_cert();
    int port = start_grpc("serve", true);
    int plain = start_grpc("serve", false);
    size_t from = 0;

    start("probes:\n"
          "  insecure: {type: grpc, port: %d, tls: true, insecure: true, " FAST
          "}\n"
          "  verified: {type: grpc, port: %d, tls: true, " FAST "}\n"
          "  plain: {type: grpc, port: %d, tls: true, " FAST "}\n"
          "  cleartext: {type: grpc, port: %d, " FAST "}\n",
          port, port, plain, port);
    cr_expect_str_eq(next_state(&from, "insecure", "passing"), "SERVING");
    from = 0;
    const char *r = next_state(&from, "verified", "failing");
    cr_expect(strstr(r, "self-signed certificate"), "%s", r);
    from = 0;
    r = next_state(&from, "plain", "failing");
    cr_expect(r && *r, "a TLS probe of a plain server fails with a reason");
    /* A TLS server does not speak HTTP/2 in the clear: the hint says so. */
    from = 0;
    r = next_state(&from, "cleartext", "failing");
    cr_expect(strstr(r, " (no HTTP/2 answer: not a gRPC server?)"), "%s", r);
}

T(details_metrics_and_status_show_the_probe, 30)
{
    int port = start_grpc("serve", false);
    static char body[65536];
    size_t from = 0;

    start("probes:\n  g: {type: grpc, port: %d, " FAST "}\n", port);
    cr_expect_str_eq(next_state(&from, "g", "passing"), "SERVING");

    cr_assert(
        h_wait_status(&H, "/health/details", 200, body, sizeof(body), H_WAIT));
    json_t *d = json_loads(body, 0, NULL);
    cr_assert_not_null(d, "%s", body);
    json_t *p = json_array_get(json_object_get(d, "probes"), 0);
    cr_expect_str_eq(json_string_value(json_object_get(p, "name")), "g");
    cr_expect_str_eq(json_string_value(json_object_get(p, "type")), "grpc");
    json_decref(d);

    cr_assert_eq(h_get(&H, "/metrics", body, sizeof(body)), 200);
    cr_expect_eq(
        h_metric(body,
                 "sidecar_probe_passing{probe=\"g\",importance=\"critical\"}"),
        1.0, "%s", body);

    char url[64], out[8192];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d", h_http_port(&H));
    cr_expect_eq(h_run((const char *[]){"status", "--url", url, NULL}, out,
                       sizeof(out), 10),
                 0, "%s", out);
    cr_expect(strstr(out, "SERVING"), "%s", out);
}

/* check and run load libcurl for a grpc probe, as for an https one. */
T(check_and_run_need_libcurl_for_a_grpc_probe, 30)
{
    static char out[8192];
    const char *cfg = h_temp_file("probes:\n"
                                  "  g: {type: grpc, port: 1, tls: true}\n");

    cr_expect_eq(h_run((const char *[]){"check", "-c", cfg, NULL}, out,
                       sizeof(out), H_WAIT),
                 0, "%s", out);
    cr_expect(strstr(out, "libcurl"), "check loads libcurl: %s", out);
    h_use_fake_libs("fakecurl");
    cr_expect_eq(h_run((const char *[]){"check", "-c", cfg, NULL}, out,
                       sizeof(out), H_WAIT),
                 2, "%s", out);
    cr_expect(strstr(out, "probe 'g' needs libcurl: cannot load libcurl.so.4"),
              "%s", out);
    cr_expect_eq(h_run((const char *[]){"run", "-c", cfg, NULL}, out,
                       sizeof(out), H_WAIT),
                 2, "%s", out);
    cr_expect(strstr(out, "probe 'g' needs libcurl: cannot load libcurl.so.4"),
              "%s", out);
    unlink(cfg);
}
