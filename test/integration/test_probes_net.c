/*
 * http and tcp probes through the real binary, against fakehttp targets
 * the test starts itself (before sidecar, so that their ports can go into
 * the config): statuses and ranges, body match, timeouts, redirects,
 * methods, a target that flips, tcp connects, and a black-holed target
 * that must not delay any other probe's schedule.
 */
#define _DEFAULT_SOURCE
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

#define FAKES_MAX 4

static struct harness H;
static pid_t fakes[FAKES_MAX];
static size_t nfakes;
static char fake_dir[64]; /* port files, and the files /file/NAME reads */

static const char *debug[] = {"--log-level", "debug", NULL};

static void teardown(void)
{
    for (size_t i = 0; i < nfakes; i++) {
        kill(fakes[i], SIGKILL);
        waitpid(fakes[i], NULL, 0);
    }
    nfakes = 0;
    if (fake_dir[0]) {
        char cmd[128];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", fake_dir);
        if (system(cmd) != 0)
            cr_log_warn("cannot remove %s", fake_dir);
        fake_dir[0] = '\0';
    }
    h_cleanup(&H);
}

#define T(name, secs) Test(probes_net, name, .timeout = secs, .fini = teardown)

static const char *fake_path(const char *name)
{
    static char path[128];
    snprintf(path, sizeof(path), "%s/%s", fake_dir, name);
    return path;
}

/* Runs argv as a fake target writing its port to portfile: its port. */
static int run_fake(const char *const *argv, const char *portfile)
{
    cr_assert_lt(nfakes, FAKES_MAX);
    return h_run_port(argv, portfile, &fakes[nfakes++]);
}

/* The next port file in fake_dir, made on first use. */
static const char *next_portfile(void)
{
    static char portfile[128];

    if (!fake_dir[0]) {
        snprintf(fake_dir, sizeof(fake_dir), "/tmp/sidecar-fake-XXXXXX");
        cr_assert(mkdtemp(fake_dir), "mkdtemp: %s", strerror(errno));
    }
    snprintf(portfile, sizeof(portfile), "%s/port%zu", fake_dir, nfakes);
    return portfile;
}

/* Starts fakehttp (tcp_only: a listener that accepts and closes) and
 * returns its port once it has written it. */
static int start_fake(bool tcp_only)
{
    const char *dir = getenv("SIDECAR_HELPERS");
    const char *portfile = next_portfile();
    char bin[512];

    snprintf(bin, sizeof(bin), "%s/fakehttp",
             dir && *dir ? dir : "../build/test");
    if (tcp_only)
        return run_fake((const char *[]){bin, "--tcp-only", portfile, NULL},
                        portfile);
    return run_fake((const char *[]){bin, portfile, NULL}, portfile);
}

/* Starts fakehttps.py (a self-signed certificate); its port. */
static int start_fake_https(void)
{
    const char *src = getenv("SIDECAR_SRC");
    const char *portfile = next_portfile();
    char script[512];

    snprintf(script, sizeof(script), "%s/test/helpers/fakehttps.py",
             src && *src ? src : "..");
    return run_fake(
        (const char *[]){"/usr/bin/python3", script, portfile, NULL}, portfile);
}

/* The config, printf-style (ports go in), then sidecar with debug logs. */
static void start(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void start(const char *fmt, ...)
{
    static char yaml[16384];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(yaml, sizeof(yaml), fmt, ap);
    va_end(ap);
    cr_assert(n > 0 && (size_t)n < sizeof(yaml));
    h_start_args(&H, yaml, debug);
}

static bool is(const char *a, const char *b)
{
    return a && b && strcmp(a, b) == 0;
}

/* Next "probe state changed" of probe, at or after *from, to state. */
static long wait_state(size_t *from, const char *probe, const char *to,
                       double timeout)
{
    return h_wait_probe_state(&H, from, probe, to, timeout);
}

/* The state probe reaches first, with its reason. */
/*
 * The probes below run every 500 ms with 450 ms to answer: a local target
 * answers in a millisecond, but with less a loaded machine can make a run
 * time out, and its reason is not the one a test expects.
 */
static void expect_state(const char *probe, const char *to, const char *reason)
{
    size_t from = 0;
    long i = wait_state(&from, probe, to, H_WAIT);
    cr_assert_geq(i, 0, "%s never went %s", probe, to);
    cr_expect_str_eq(h_str(&H, i, "reason"), reason, "probe %s", probe);
}

static void stop(void)
{
    h_signal(&H, SIGTERM);
    cr_expect_eq(h_wait_exit(&H, 10), 0);
}

T(http_200_passes, 20)
{
    int port = start_fake(false);
    start("probes:\n"
          "  web:\n"
          "    type: http\n"
          "    url: http://127.0.0.1:%d/status/200\n"
          "    period: 1s\n"
          "    timeout: 900ms\n",
          port);
    size_t from = 0;
    long i = wait_state(&from, "web", "passing", H_WAIT);
    cr_assert_geq(i, 0);
    cr_expect_str_eq(h_str(&H, i, "from"), "unknown");
    cr_expect_str_eq(h_str(&H, i, "reason"), "HTTP 200");
    cr_expect_str_eq(h_str(&H, i, "importance"), "critical");
    cr_expect_eq(h_int(&H, i, "consecutive", -1), 1);
    cr_expect_lt(h_int(&H, i, "duration_ms", -1), 900);
    stop();
}

T(http_500_fails_after_failure_threshold, 20)
{
    int port = start_fake(false);
    start("probes:\n"
          "  web:\n"
          "    type: http\n"
          "    url: http://127.0.0.1:%d/status/500\n"
          "    period: 500ms\n"
          "    timeout: 450ms\n"
          "    failure_threshold: 3\n",
          port);
    size_t from = 0;
    long i = wait_state(&from, "web", "failing", H_WAIT);
    cr_assert_geq(i, 0);
    cr_expect_str_eq(h_str(&H, i, "reason"), "HTTP 500: status 500");
    cr_expect_eq(h_int(&H, i, "consecutive", -1), 3);
    /* Exactly three failed runs before the flip, none passing. */
    size_t runs = 0;
    for (long k = 0; k < i; k++) {
        if (!is(h_str(&H, k, "msg"), "probe finished"))
            continue;
        runs++;
        cr_expect(json_is_false(json_object_get(H.json[k], "ok")));
    }
    cr_expect_eq(runs, 3);
    stop();
}

T(expect_status_takes_codes_and_ranges, 20)
{
    int port = start_fake(false);
    start("probes:\n"
          "  listed:\n"
          "    type: http\n"
          "    url: http://127.0.0.1:%d/status/204\n"
          "    expect_status: [200, 204]\n"
          "    period: 500ms\n"
          "    timeout: 450ms\n"
          "  range:\n"
          "    type: http\n"
          "    url: http://127.0.0.1:%d/status/503\n"
          "    expect_status: [200-299, 500-599]\n"
          "    period: 500ms\n"
          "    timeout: 450ms\n"
          "  outside:\n"
          "    type: http\n"
          "    url: http://127.0.0.1:%d/status/201\n"
          "    expect_status: [200, 202-299]\n"
          "    period: 500ms\n"
          "    timeout: 450ms\n"
          "    failure_threshold: 1\n"
          "  default:\n"
          "    type: http\n"
          "    url: http://127.0.0.1:%d/status/404\n"
          "    period: 500ms\n"
          "    timeout: 450ms\n"
          "    failure_threshold: 1\n",
          port, port, port, port);
    expect_state("listed", "passing", "HTTP 204");
    expect_state("range", "passing", "HTTP 503");
    expect_state("outside", "failing", "HTTP 201: status 201");
    expect_state("default", "failing", "HTTP 404: status 404");
    stop();
}

T(a_failure_quotes_the_body_on_one_line_cut_at_200_bytes, 20)
{
    int port = start_fake(false);
    /* CR LF, spaces and tabs: one space, none leading; 3 + 196 bytes,
     * then an "é" whose second byte does not fit: cut before it. */
    char xs[197];
    memset(xs, 'x', 196);
    xs[196] = '\0';
    start("probes:\n"
          "  cut:\n"
          "    type: http\n"
          "    url: http://127.0.0.1:%d/body/%%0D%%0A%%20%%20a%%20%%09%%09%%20b"
          "%s%%C3%%A9yyyy\n"
          "    expect_status: [201]\n"
          "    period: 500ms\n"
          "    timeout: 450ms\n"
          "    failure_threshold: 1\n"
          "  short:\n"
          "    type: http\n"
          "    url: http://127.0.0.1:%d/body/%%20%%20two%%0D%%0Alines%%20%%20\n"
          "    expect_status: [201]\n"
          "    period: 500ms\n"
          "    timeout: 450ms\n"
          "    failure_threshold: 1\n",
          port, xs, port);
    char want[256];
    snprintf(want, sizeof(want), "HTTP 200: a b%s...", xs);
    expect_state("cut", "failing", want);
    expect_state("short", "failing", "HTTP 200: two lines");
    stop();
}

T(expect_body_must_be_in_the_body, 20)
{
    int port = start_fake(false);
    start("probes:\n"
          "  found:\n"
          "    type: http\n"
          "    url: http://127.0.0.1:%d/body/all%%20is%%20well\n"
          "    expect_body: \"is well\"\n"
          "    period: 500ms\n"
          "    timeout: 450ms\n"
          "  missing:\n"
          "    type: http\n"
          "    url: http://127.0.0.1:%d/body/all%%20is%%20well\n"
          "    expect_body: xyz\n"
          "    period: 500ms\n"
          "    timeout: 450ms\n"
          "    failure_threshold: 1\n",
          port, port);
    expect_state("found", "passing", "HTTP 200");
    expect_state("missing", "failing",
                 "HTTP 200 but the body does not contain 'xyz'");
    stop();
}

T(a_hanging_target_fails_at_the_timeout, 20)
{
    int port = start_fake(false);
    start("probes:\n"
          "  hang:\n"
          "    type: http\n"
          "    url: http://127.0.0.1:%d/hang\n"
          "    period: 1s\n"
          "    timeout: 200ms\n"
          "    failure_threshold: 1\n",
          port);
    size_t from = 0;
    long i = wait_state(&from, "hang", "failing", H_WAIT);
    cr_assert_geq(i, 0);
    long long d = h_int(&H, i, "duration_ms", -1);
    cr_log_info("the hanging probe failed after %lld ms", d);
    cr_expect(d >= 190 && d <= 700, "timed out after %lld ms", d);
    cr_expect_str_eq(h_str(&H, i, "reason"), "timed out after 200ms");
    stop();
}

/* One probe of the redirect tests: every 500 ms, failing at once. */
#define REDIRECT_PROBE(name, path, extra)                                      \
    "  " name ":\n"                                                            \
    "    type: http\n"                                                         \
    "    url: http://127.0.0.1:%d" path "\n"                                   \
    "    period: 500ms\n"                                                      \
    "    timeout: 450ms\n"                                                     \
    "    failure_threshold: 1\n" extra

/*
 * kubelet's rule by default: a redirect to the same host name (any port)
 * is followed and the last answer judged; one to another host passes,
 * saying so; false judges the 302 itself; true follows any host.
 */
T(redirects_follow_the_same_host_as_kubelet, 20)
{
    int port = start_fake(false);
    int other = start_fake(false);
    start("probes:\n" REDIRECT_PROBE("same", "/to/%%2Fstatus%%2F500", "")
              REDIRECT_PROBE("relative", "/to/..%%2Fstatus%%2F204", "")
                  REDIRECT_PROBE("port",
                                 "/to/http:%%2F%%2F127.0.0.1:%d"
                                 "%%2Fstatus%%2F503",
                                 "")
                      REDIRECT_PROBE("elsewhere",
                                     "/to/http:%%2F%%2Flocalhost:"
                                     "%d%%2Fstatus%%2F500",
                                     "")
                          REDIRECT_PROBE(
                              "anywhere",
                              "/to/http:%%2F%%2Flocalhost:%d%%2Fstatus%%2F500",
                              "    follow_redirects: true\n")
                              REDIRECT_PROBE("never", "/to/%%2Fstatus%%2F500",
                                             "    follow_redirects: false\n"
                                             "    expect_status: [200]\n"),
          port, port, port, other, port, port, port, port, port);
    expect_state("same", "failing", "HTTP 500: status 500");
    expect_state("relative", "passing", "HTTP 204");
    expect_state("port", "failing", "HTTP 503: status 503");
    char want[160];
    snprintf(want, sizeof(want),
             "HTTP 302: redirect to another host (http://localhost:%d/status/"
             "500) not followed, as kubelet",
             port);
    expect_state("elsewhere", "passing", want);
    expect_state("anywhere", "failing", "HTTP 500: status 500");
    expect_state("never", "failing", "HTTP 302: moved");
    stop();
}

/*
 * A redirect keeps the probe URL's user and password (as Go's and curl's
 * clients do), and the server chooses where: a reason or log line that
 * quotes the URL shows neither. Here a Location with a space, which
 * cannot be requested, and one to another host.
 */
T(a_redirect_never_shows_the_urls_password, 20)
{
    int port = start_fake(false);
    start("probes:\n"
          "  space:\n"
          "    type: http\n"
          "    url: http://alice:hunter2@127.0.0.1:%d/to/%%2Fa%%20b\n"
          "    period: 500ms\n"
          "    timeout: 450ms\n"
          "    failure_threshold: 1\n"
          "  away:\n"
          "    type: http\n"
          "    url: http://alice:hunter2@127.0.0.1:%d"
          "/to/http:%%2F%%2Falice:hunter2@localhost:%d%%2Fx\n"
          "    period: 500ms\n"
          "    timeout: 450ms\n"
          "    failure_threshold: 1\n",
          port, port, port);
    char want[160];
    snprintf(want, sizeof(want),
             "cannot follow the redirect to http://127.0.0.1:%d/a b: a "
             "control byte or space in the URL",
             port);
    expect_state("space", "failing", want);
    snprintf(want, sizeof(want),
             "HTTP 302: redirect to another host (http://localhost:%d/x) not "
             "followed, as kubelet",
             port);
    expect_state("away", "passing", want);
    for (size_t i = 0; i < H.count; i++)
        cr_expect_null(strstr(H.raw[i], "hunter2"), "%s", H.raw[i]);
    stop();
}

/* At most 10 redirects: the 11th fails the run. */
T(ten_redirects_are_followed_and_an_eleventh_fails, 20)
{
    int port = start_fake(false);
    start("probes:\n" REDIRECT_PROBE("ten", "/hops/10", "")
              REDIRECT_PROBE("eleven", "/hops/11", ""),
          port, port);
    expect_state("ten", "passing", "HTTP 200");
    expect_state("eleven", "failing", "HTTP 302: stopped after 10 redirects");
    stop();
}

/*
 * A redirect whose Location is longer than the native transport keeps
 * (2048 bytes) fails, saying so: judging the 302 itself passed it, though
 * kubelet (and libcurl) follow it to a 500.
 */
T(a_location_too_long_to_follow_fails, 20)
{
    int port = start_fake(false);
    char path[2200] = "/to/%2Fstatus%2F500%3F";
    size_t n = strlen(path);

    memset(path + n, 'a', 2100);
    path[n + 2100] = '\0';
    start("probes:\n" REDIRECT_PROBE("long", "%s", ""), port, path);
    expect_state("long", "failing",
                 "HTTP 302: a Location longer than 2048 bytes, not followed");
    stop();
}

/*
 * A redirect to https:// leaves the native transport: the probe moves to
 * libcurl (said once), where the run starts over; here the target speaks
 * no TLS, so curl's error is the reason.
 */
T(a_redirect_to_https_moves_the_probe_to_libcurl, 20)
{
    int port = start_fake(false);
    start("probes:\n" REDIRECT_PROBE(
              "tls", "/to/https:%%2F%%2F127.0.0.1:%d%%2Fhealthz", ""),
          port, port);
    size_t from = 0;
    long i = wait_state(&from, "tls", "failing", H_WAIT);
    cr_assert_geq(i, 0);
    const char *reason = h_str(&H, i, "reason");
    cr_log_info("reason: %s", reason);
    cr_expect(reason && strstr(reason, "HTTP") == NULL, "%s", reason);
    long moved = h_find_event(&H, 0, "probe moves to libcurl", NULL);
    cr_assert_geq(moved, 0);
    char want[96];
    snprintf(want, sizeof(want), "https://127.0.0.1:%d/healthz", port);
    cr_expect_str_eq(h_str(&H, moved, "redirect"), want);
    cr_expect_eq(h_count_events(&H, 0, "probe moves to libcurl", NULL), 1);
    stop();
}

/*
 * The request as kubelet sends it: Connection: close, and a header with an
 * empty value not sent, removing sidecar's default of that name.
 */
T(an_empty_header_removes_the_default_and_connection_is_close, 20)
{
    int port = start_fake(false);
    start("probes:\n"
          "  bare:\n"
          "    type: http\n"
          "    url: http://127.0.0.1:%d/record/bare\n"
          "    headers: { User-Agent: \"\", Accept: \"\", X-Empty: \"\","
          " X-Set: one }\n"
          "    period: 500ms\n"
          "    timeout: 450ms\n",
          port);
    expect_state("bare", "passing", "HTTP 200");
    char want[256];
    snprintf(want, sizeof(want),
             "GET /record/bare HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
             "X-Set: one\r\nConnection: close\r\n\r\n",
             port);
    cr_expect_str_eq(h_read_file(fake_path("bare")), want);
    stop();
}

/*
 * On libcurl (https): a failed verification says how to skip it; with
 * insecure, the same-host rule and the request's headers are those of
 * the native transport (httpcheck.c), followed by hand on the curlm.
 */
T(https_probes_verify_follow_and_send_as_kubelet, 30)
{
    int port = start_fake_https();
    start("probes:\n"
          "  verified:\n"
          "    type: http\n"
          "    url: https://127.0.0.1:%d/status/200\n"
          "    period: 500ms\n"
          "    timeout: 450ms\n"
          "    failure_threshold: 1\n"
          "  same:\n"
          "    type: http\n"
          "    url: https://127.0.0.1:%d/to/%%2Fstatus%%2F500\n"
          "    insecure: true\n"
          "    period: 500ms\n"
          "    timeout: 450ms\n"
          "    failure_threshold: 1\n"
          "  elsewhere:\n"
          "    type: http\n"
          "    url: https://127.0.0.1:%d/to/https:%%2F%%2Flocalhost%%2Fx\n"
          "    insecure: true\n"
          "    period: 500ms\n"
          "    timeout: 450ms\n"
          "  eleven:\n"
          "    type: http\n"
          "    url: https://127.0.0.1:%d/hops/11\n"
          "    insecure: true\n"
          "    period: 500ms\n"
          "    timeout: 450ms\n"
          "    failure_threshold: 1\n"
          "  bare:\n"
          "    type: http\n"
          "    url: https://127.0.0.1:%d/record/bare\n"
          "    insecure: true\n"
          "    headers: { User-Agent: \"\", Accept: \"\", X-Set: one }\n"
          "    period: 500ms\n"
          "    timeout: 450ms\n",
          port, port, port, port, port);
    size_t from = 0;
    long i = wait_state(&from, "verified", "failing", H_WAIT);
    cr_assert_geq(i, 0);
    const char *reason = h_str(&H, i, "reason");
    cr_expect(reason && strstr(reason, "; set insecure: true to skip "
                                       "verification (kubelet does not "
                                       "verify)") != NULL,
              "%s", reason);
    expect_state("same", "failing", "HTTP 500: status 500");
    expect_state("elsewhere", "passing",
                 "HTTP 302: redirect to another host (https://localhost/x) "
                 "not followed, as kubelet");
    expect_state("eleven", "failing", "HTTP 302: stopped after 10 redirects");
    expect_state("bare", "passing", "HTTP 200");
    char want[256];
    snprintf(want, sizeof(want),
             "GET /record/bare HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
             "X-Set: one\r\nConnection: close\r\n",
             port);
    cr_expect_str_eq(h_read_file(fake_path("bare")), want);
    stop();
}

/*
 * follow_redirects: true to another host sends no credentials
 * (Authorization, Cookie) and not the configured Host (that host's own
 * instead), as Go's client; the same host gets them. Both transports.
 */
T(credentials_do_not_follow_to_another_host, 30)
{
    int port = start_fake(false);
    int tls = start_fake_https();
    start("probes:\n"
          "  far:\n"
          "    type: http\n"
          "    url: http://127.0.0.1:%d/to/http:%%2F%%2Flocalhost:%d"
          "%%2Frecord%%2Ffar\n"
          "    follow_redirects: true\n"
          "    headers: { Authorization: Bearer t, cookie: c, X-Set: one,\n"
          "               Host: app.example }\n"
          "    period: 500ms\n"
          "    timeout: 450ms\n"
          "  near:\n"
          "    type: http\n"
          "    url: http://127.0.0.1:%d/to/%%2Frecord%%2Fnear\n"
          "    follow_redirects: true\n"
          "    headers: { Authorization: Bearer t, X-Set: one,\n"
          "               Host: app.example }\n"
          "    period: 500ms\n"
          "    timeout: 450ms\n"
          "  tlsfar:\n"
          "    type: http\n"
          "    url: https://127.0.0.1:%d/to/https:%%2F%%2Flocalhost:%d"
          "%%2Frecord%%2Ftlsfar\n"
          "    follow_redirects: true\n"
          "    insecure: true\n"
          "    headers: { Authorization: Bearer t, cookie: c, X-Set: one,\n"
          "               Host: app.example }\n"
          "    period: 500ms\n"
          "    timeout: 450ms\n",
          port, port, port, tls, tls);
    expect_state("far", "passing", "HTTP 200");
    expect_state("near", "passing", "HTTP 200");
    expect_state("tlsfar", "passing", "HTTP 200");
    static const char *const names[] = {"far", "tlsfar"};
    for (size_t i = 0; i < 2; i++) {
        const char *req = h_read_file(fake_path(names[i]));
        cr_expect(strstr(req, "Host: localhost:") != NULL, "%s", req);
        cr_expect(strstr(req, "X-Set: one\r\n") != NULL, "%s", req);
        cr_expect(strstr(req, "Authorization") == NULL, "%s", req);
        cr_expect(strstr(req, "ookie") == NULL, "%s", req);
    }
    const char *near = h_read_file(fake_path("near"));
    cr_expect(strstr(near, "Authorization: Bearer t\r\n") != NULL, "%s", near);
    cr_expect(strstr(near, "Host: app.example\r\n") != NULL, "%s", near);
    stop();
}

T(head_and_post_methods, 20)
{
    int port = start_fake(false);
    start("probes:\n"
          "  head:\n"
          "    type: http\n"
          "    method: HEAD\n"
          "    url: http://127.0.0.1:%d/method/HEAD\n"
          "    period: 500ms\n"
          "    timeout: 450ms\n"
          "  post:\n"
          "    type: http\n"
          "    method: POST\n"
          "    url: http://127.0.0.1:%d/method/POST\n"
          "    period: 500ms\n"
          "    timeout: 450ms\n"
          "  header:\n"
          "    type: http\n"
          "    url: http://127.0.0.1:%d/header/X-Probe/sidecar\n"
          "    headers: { X-Probe: sidecar }\n"
          "    period: 500ms\n"
          "    timeout: 450ms\n"
          "  no-header:\n"
          "    type: http\n"
          "    url: http://127.0.0.1:%d/header/X-Probe/sidecar\n"
          "    period: 500ms\n"
          "    timeout: 450ms\n"
          "    failure_threshold: 1\n",
          port, port, port, port);
    /* fakehttp answers 405 to another method, 400 without the header. */
    expect_state("head", "passing", "HTTP 200");
    expect_state("post", "passing", "HTTP 200");
    expect_state("header", "passing", "HTTP 200");
    expect_state("no-header", "failing", "HTTP 400: header");
    stop();
}

T(a_target_that_flips_is_followed, 20)
{
    int port = start_fake(false);
    h_put_file(fake_path("mode"), "200\n");
    start("probes:\n"
          "  flip:\n"
          "    type: http\n"
          "    url: http://127.0.0.1:%d/file/mode\n"
          "    period: 500ms\n"
          "    timeout: 450ms\n"
          "    failure_threshold: 2\n",
          port);
    size_t from = 0;
    cr_assert_geq(wait_state(&from, "flip", "passing", H_WAIT), 0);
    h_put_file(fake_path("mode"), "500\n");
    long i = wait_state(&from, "flip", "failing", H_WAIT);
    cr_assert_geq(i, 0);
    cr_expect_str_eq(h_str(&H, i, "reason"), "HTTP 500: status 500");
    cr_expect_eq(h_int(&H, i, "consecutive", -1), 2);
    h_put_file(fake_path("mode"), "200\n");
    cr_expect_geq(wait_state(&from, "flip", "passing", H_WAIT), 0);
    stop();
}

T(tcp_connect_passes_and_a_refused_port_fails, 20)
{
    int port = start_fake(true);
    int closed = h_reserve_port(); /* nothing listens, nobody else can */
    start("probes:\n"
          "  up:\n"
          "    type: tcp\n"
          "    host: 127.0.0.1\n"
          "    port: %d\n"
          "    period: 500ms\n"
          "    timeout: 450ms\n"
          "  down:\n"
          "    type: tcp\n"
          "    port: %d\n"
          "    period: 500ms\n"
          "    timeout: 450ms\n"
          "    failure_threshold: 2\n",
          port, closed);
    char want[64];
    snprintf(want, sizeof(want), "connected to 127.0.0.1:%d", port);
    expect_state("up", "passing", want);
    size_t from = 0;
    long i = wait_state(&from, "down", "failing", H_WAIT);
    cr_assert_geq(i, 0);
    snprintf(want, sizeof(want),
             "cannot connect to 127.0.0.1:%d: Connection refused", closed);
    cr_expect_str_eq(h_str(&H, i, "reason"), want);
    cr_expect_eq(h_int(&H, i, "consecutive", -1), 2);
    stop();
}

/* A listener whose accept queue is full: a SYN to it is dropped, so a
 * connect to it hangs until the probe's timeout. */
static int black_hole(int *port)
{
    struct sockaddr_in sa = {.sin_family = AF_INET};
    socklen_t len = sizeof(sa);
    int lfd = socket(AF_INET, SOCK_STREAM, 0);
    int filler = socket(AF_INET, SOCK_STREAM, 0);

    cr_assert(lfd >= 0 && filler >= 0);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    cr_assert_eq(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    cr_assert_eq(listen(lfd, 0), 0);
    cr_assert_eq(getsockname(lfd, (struct sockaddr *)&sa, &len), 0);
    cr_assert_eq(connect(filler, (struct sockaddr *)&sa, sizeof(sa)), 0);
    *port = ntohs(sa.sin_port);
    return lfd; /* both kept open until the test exits */
}

/* Descriptors sidecar has open. */
static int open_fds(void)
{
    char cmd[96];
    snprintf(cmd, sizeof(cmd), "ls /proc/%d/fd | wc -l", (int)H.pid);
    FILE *f = popen(cmd, "r");
    int n = -1;
    cr_assert(f);
    if (fscanf(f, "%d", &n) != 1)
        n = -1;
    pclose(f);
    return n;
}

T(tcp_black_hole_times_out_and_leaks_no_socket, 20)
{
    int port;
    (void)black_hole(&port);
    start("probes:\n"
          "  hole:\n"
          "    type: tcp\n"
          "    port: %d\n"
          "    period: 300ms\n"
          "    timeout: 200ms\n"
          "    failure_threshold: 1\n",
          port);
    size_t from = 0;
    long i = wait_state(&from, "hole", "failing", H_WAIT);
    cr_assert_geq(i, 0);
    cr_expect_str_eq(h_str(&H, i, "reason"), "timed out after 200ms");
    int fds = open_fds();
    size_t mark = h_mark(&H);
    for (int k = 0; k < 5; k++) {
        long f = h_wait_event(&H, mark, H_WAIT, "probe finished", NULL);
        cr_assert_geq(f, 0);
        mark = (size_t)f + 1;
    }
    /* Each run's socket is closed by its timeout: at most the one of the
     * run under way is open, as when fds was counted. */
    cr_expect_leq(open_fds(), fds + 1);
    stop();
}

T(tcp_a_name_is_looked_up_and_one_that_does_not_resolve_says_so, 20)
{
    int port = start_fake(true);
    start("probes:\n"
          "  name:\n"
          "    type: tcp\n"
          "    host: localhost\n"
          "    port: %d\n"
          "    period: 500ms\n"
          "    timeout: 450ms\n"
          "  nowhere:\n"
          "    type: tcp\n"
          "    host: no-such-host.invalid\n"
          "    port: %d\n"
          "    period: 1s\n"
          "    timeout: 900ms\n"
          "    failure_threshold: 1\n",
          port, port);
    char want[64];
    snprintf(want, sizeof(want), "connected to localhost:%d", port);
    expect_state("name", "passing", want);
    size_t from = 0;
    long i = wait_state(&from, "nowhere", "failing", H_WAIT);
    cr_assert_geq(i, 0);
    const char *reason = h_str(&H, i, "reason");
    const char *prefix = "cannot resolve no-such-host.invalid: ";
    cr_assert(reason);
    cr_expect(strncmp(reason, prefix, strlen(prefix)) == 0, "reason: %s",
              reason);
    stop();
}

/* Whether probe has started a run at or after line from. */
static bool started_since(size_t from, const char *probe)
{
    for (size_t k = from; k < H.count; k++) {
        if (is(h_str(&H, (long)k, "msg"), "probe started") &&
            is(h_str(&H, (long)k, "probe"), probe))
            return true;
    }
    return false;
}

/*
 * Probes removed by a reload while their run is under way (a connect to
 * a black hole, lookups of names every 50 ms), five times: sidecar goes on,
 * and the connects' sockets are closed (the sanitizer build, through
 * h_cleanup(), finds any leak).
 */
T(tcp_probes_removed_mid_run_by_a_reload, 30)
{
    int hole;
    (void)black_hole(&hole);
    int port = start_fake(true);
    static char with[4096];
    static char without[256];
    snprintf(without, sizeof(without),
             "probes:\n"
             "  up: {type: tcp, host: 127.0.0.1, port: %d, period: 100ms, "
             "timeout: 90ms}\n",
             port);
    snprintf(with, sizeof(with),
             "%s"
             "  hole: {type: tcp, port: %d, period: 1s, timeout: 900ms}\n"
             "  n1: {type: tcp, host: localhost, port: %d, period: 50ms, "
             "timeout: 40ms}\n"
             "  n2: {type: tcp, host: no-such-host.invalid, port: %d, "
             "period: 50ms, timeout: 40ms}\n",
             without, hole, port, port);
    start("%s", with);
    size_t from = 0;
    cr_assert_geq(wait_state(&from, "up", "passing", H_WAIT), 0);
    int fds = -1;
    size_t applied = 0;
    for (int k = 0; k < 9; k++) {
        /* Removed while hole connects (and n2 looks up). */
        double end = h_now() + H_WAIT;
        while (k % 2 == 0 && !started_since(applied, "hole")) {
            cr_assert_lt(h_now(), end, "hole did not start");
            cr_assert(h_pump(&H, end - h_now()), "sidecar exited");
        }
        h_write_config(&H, H.cfg_path, NULL, k % 2 ? with : without, true);
        long r = h_sighup(&H, "config reloaded");
        cr_assert_geq(r, 0, "reload %d", k);
        applied = (size_t)r;
        if (k == 0)
            fds = open_fds();
    }
    from = h_mark(&H);
    cr_expect_geq(h_wait_event(&H, from, H_WAIT, "probe finished", NULL), 0);
    /* Five removals with a socket each: a leak would show. One more for
     * a run of up's under way, one for c-ares' socket. */
    cr_expect_leq(open_fds(), fds + 2, "sockets left open");
    stop();
}

T(a_black_holed_target_does_not_delay_other_probes, 30)
{
    int port = start_fake(false);
    static char yaml[8192];
    size_t n = 0;
    n += (size_t)snprintf(yaml + n, sizeof(yaml) - n,
                          "probes:\n"
                          "  steady:\n"
                          "    type: http\n"
                          "    url: http://127.0.0.1:%d/status/200\n"
                          "    period: 100ms\n"
                          "    timeout: 90ms\n",
                          port);
    /* A hole that blocked the loop would hold it for its 400 ms timeout:
     * steady would run a few times in 2.5 s, each hundreds of ms late. The
     * bounds below tell that from a loaded machine's scheduling delays. */
    for (int k = 0; k < 10; k++)
        n += (size_t)snprintf(yaml + n, sizeof(yaml) - n,
                              "  hole%d:\n"
                              "    type: http\n"
                              "    url: http://127.0.0.1:%d/hang\n"
                              "    period: 500ms\n"
                              "    timeout: 400ms\n"
                              "    failure_threshold: 1\n",
                              k, port);
    cr_assert_lt(n, sizeof(yaml));
    h_start_args(&H, yaml, debug);
    double end = h_now() + 2.5;
    while (h_now() < end)
        h_pump(&H, end - h_now());

    long long worst = -1;
    size_t started = 0;
    size_t passed = 0;
    size_t holes = 0;
    for (size_t k = 0; k < H.count; k++) {
        const char *msg = h_str(&H, (long)k, "msg");
        const char *probe = h_str(&H, (long)k, "probe");
        if (is(msg, "probe started") && is(probe, "steady")) {
            long long late = h_int(&H, (long)k, "late_ms", -1);
            cr_expect_geq(late, 0);
            if (late > worst)
                worst = late;
            started++;
        } else if (is(msg, "probe finished") && is(probe, "steady")) {
            cr_expect(json_is_true(json_object_get(H.json[k], "ok")),
                      "steady failed: %s", h_str(&H, (long)k, "reason"));
            passed++;
        } else if (is(msg, "probe finished") && probe &&
                   strncmp(probe, "hole", 4) == 0) {
            long long d = h_int(&H, (long)k, "duration_ms", -1);
            cr_expect(d >= 390 && d <= 800, "%s took %lld ms", probe, d);
            holes++;
        }
    }
    cr_log_info("steady: %zu runs, %zu passed, worst lateness %lld ms; "
                "%zu timeouts of the holes",
                started, passed, worst, holes);
    /* 2.5s at 100ms: about 25 runs of steady; the holes fail 4-5 times. */
    cr_expect_geq(started, 15, "steady ran %zu times", started);
    cr_expect_geq(passed, 12, "steady passed %zu times", passed);
    cr_expect_geq(holes, 20, "the holes timed out %zu times", holes);
    cr_expect_lt(worst, 300, "steady was up to %lld ms late", worst);
    stop();
}

/* The next connection to lfd, within H_WAIT, sidecar's output read
 * meanwhile; its request head read. */
static int accept_request(int lfd)
{
    double deadline = h_now() + H_WAIT;
    struct pollfd pfd = {.fd = lfd, .events = POLLIN};
    char buf[4096];

    while (poll(&pfd, 1, 0) == 0) {
        cr_assert_lt(h_now(), deadline, "no connection came");
        h_pump(&H, 0.02);
    }
    int fd = accept(lfd, NULL, NULL);
    cr_assert_geq(fd, 0);
    cr_assert_gt(read(fd, buf, sizeof(buf)), 0);
    return fd;
}

static void answer(int fd, const char *text)
{
    cr_assert_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
}

/*
 * A reload that keeps an http probe lands while its run waits for an
 * answer, which is then a redirect: the run goes on with nothing of the
 * config it began with, which the reload freed (under make asan, reading
 * its URL or method was a use-after-free).
 */
#define RELOAD_FORM                                                            \
    "name: %s\n"                                                               \
    "probes:\n"                                                                \
    "  web:\n"                                                                 \
    "    type: http\n"                                                         \
    "    url: http://%s127.0.0.1:%d/first\n"                                   \
    "    method: POST\n"                                                       \
    "    period: 1h\n"                                                         \
    "    timeout: 10s\n"                                                       \
    "    failure_threshold: 1\n"

static void reload_during_a_redirected_run(const char *creds)
{
    int port;
    int lfd = h_listen(&port);
    char tmpl[512];

    snprintf(tmpl, sizeof(tmpl), RELOAD_FORM, "before", creds, port);
    h_start(&H, tmpl);
    int fd = accept_request(lfd);
    /* The probe is kept: only the name changed. */
    snprintf(tmpl, sizeof(tmpl), RELOAD_FORM, "after", creds, port);
    h_write_config(&H, H.cfg_path, NULL, tmpl, true);
    cr_assert_geq(h_sighup(&H, "config reloaded"), 0);
    answer(fd, "HTTP/1.1 303 See Other\r\nLocation: /second\r\n"
               "Content-Length: 0\r\nConnection: close\r\n\r\n");
    answer(accept_request(lfd), "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n"
                                "Connection: close\r\n\r\nok");
    size_t from = 0;
    long at = h_wait_probe_state(&H, &from, "web", "passing", H_WAIT);
    cr_assert_geq(at, 0);
    cr_expect_str_eq(h_str(&H, at, "reason"), "HTTP 200");
    close(lfd);
}

T(a_reload_during_a_redirected_native_run_holds, 30)
{
    reload_during_a_redirected_run("");
}
