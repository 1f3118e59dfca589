/*
 * The status endpoint against a hostile client on the pod network: two
 * thousand connections trickling their headers must not lock kubelet out,
 * and none may take longer than the header deadline; a request with an
 * ambiguous length is refused rather than split in two; malformed
 * requests cannot flood the log.
 */
#define _DEFAULT_SOURCE
#include <criterion/criterion.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"

static struct harness H;

static void teardown(void)
{
    h_cleanup(&H);
}

#define T(name, secs)                                                          \
    Test(hostile_http, name, .timeout = secs, .fini = teardown)

static const char probe_yaml[] =
    "probes:\n"
    "  p: { type: exec, command: 'true', period: 1s, timeout: 500ms }\n";

static char body[65536];

#define SUPPRESSED "http log lines suppressed"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

T(two_content_lengths_get_one_400_and_the_connection_closed, 30)
{
    /* MHD took the first length; the "body" was then a second request. */
    static const char *const smuggles[] = {
        "POST /livez HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n"
        "Content-Length: 35\r\n\r\n"
        "GET /readyz HTTP/1.1\r\nHost: x\r\n\r\n",
        "GET /livez HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n"
        "Content-Length: 0\r\n\r\n"
        "GET /readyz HTTP/1.1\r\nHost: x\r\n\r\n",
        "POST /livez HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
        "Transfer-Encoding: chunked\r\n\r\n"
        "0\r\n\r\nGET /readyz HTTP/1.1\r\nHost: x\r\n\r\n",
    };
    h_start(&H, probe_yaml);
    int port = h_http_port(&H);
    for (size_t i = 0; i < sizeof(smuggles) / sizeof(smuggles[0]); i++) {
        int fd = h_connect(port);
        cr_assert_geq(fd, 0);
        size_t len = strlen(smuggles[i]);
        cr_assert_eq(send(fd, smuggles[i], len, MSG_NOSIGNAL), (ssize_t)len);
        static char answer[8192];
        bool eof;
        h_read_to_eof(fd, answer, sizeof(answer), H_WAIT, &eof);
        close(fd);
        cr_expect_eq(strncmp(answer, "HTTP/1.1 400 ", 13), 0,
                     "smuggle %zu: answer '%.60s'", i, answer);
        cr_expect_eq(h_count_of(answer, "HTTP/1."), 1,
                     "smuggle %zu: one answer, got '%s'", i, answer);
        cr_expect(strstr(answer, "\r\nConnection: close\r\n"),
                  "smuggle %zu: '%s'", i, answer);
        cr_expect(eof, "smuggle %zu: the connection stays open", i);
    }
    cr_expect_eq(h_get(&H, "/livez", body, sizeof(body)), 200, "still serving");
    h_signal(&H, SIGTERM);
    cr_expect_eq(h_wait_exit(&H, H_WAIT), 0);
}

/* Starts sidecar with the one exec probe; returns once it passes, when
 * sidecar has nothing more to say on its own. */
static void start_quiet(void)
{
    h_start(&H, probe_yaml);
    size_t from = 0;
    cr_assert_geq(h_wait_probe_state(&H, &from, "p", "passing", H_WAIT), 0);
}

T(malformed_requests_cannot_flood_the_log, 60)
{
    start_quiet();
    size_t from = h_mark(&H);
    double t0 = h_now();
    for (int i = 0; i < 2000; i++)
        cr_assert_eq(h_http(&H, "GET /livez\r\n\r\n", body, sizeof(body)), 400,
                     "request %d", i);
    double took = h_now() - t0;
    cr_assert_eq(h_get(&H, "/metrics", body, sizeof(body)), 200);
    double dropped = h_metric(body, "sidecar_log_lines_suppressed_total");
    cr_expect_geq(dropped, 1000, "suppressed_total %g", dropped);
    /* Each time logging resumes, a line says how many went since: in all,
     * what /metrics counted (a token may come back mid-burst, under load).
     * Every line of the burst was logged before the last of them. */
    size_t seen = from;
    long last = -1;
    double reported = 0;
    double deadline = h_now() + H_WAIT;
    while (reported < dropped && h_now() < deadline) {
        cr_assert_eq(h_http(&H, "GET /livez\r\n\r\n", body, sizeof(body)), 400);
        for (long i = h_wait_event(&H, seen, 0.5, SUPPRESSED, NULL); i >= 0;
             i = h_find_event(&H, seen, SUPPRESSED, NULL)) {
            reported += (double)h_int(&H, i, "dropped", 0);
            seen = (size_t)i + 1;
            last = i;
        }
    }
    cr_assert_geq(last, 0, "no summary of the suppressed lines");
    cr_expect_geq(reported, dropped, "%g of %g suppressed lines reported",
                  reported, dropped);
    double waited = h_now() - t0 - took;
    size_t lines = (size_t)last + 1 - from;
    /* A burst of 20, then one a second (and the summary lines). */
    double bound = 20 + 2 * (took + waited + 1) + 5;
    cr_expect_leq((double)lines, bound,
                  "%zu lines for 2000 malformed requests in %.2f s", lines,
                  took);
    h_signal(&H, SIGTERM);
    cr_expect_eq(h_wait_exit(&H, H_WAIT), 0);
}

#define TRICKLERS 2000

static const char trickle_start[] = "GET /livez HTTP/1.1\r\nHost: x\r\n";
static const char trickle_line[] = "X-Trickle: 1\r\n";

/* A connection to port that has sent a request line and Host, no more. */
static int start_trickle(int port)
{
    int fd = h_connect(port);
    cr_assert_geq(fd, 0, "connect: %s", strerror(errno));
    size_t n = sizeof(trickle_start) - 1;
    cr_assert_eq(send(fd, trickle_start, n, MSG_NOSIGNAL), (ssize_t)n);
    return fd;
}

/* True once the peer has closed fd (EOF or reset), without blocking. */
static bool closed_by_peer(int fd)
{
    char c;
    ssize_t n = recv(fd, &c, 1, MSG_DONTWAIT | MSG_PEEK);
    return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK);
}

/* One more header line on each open connection; closes the ones sidecar
 * closed (fd set to -1). The number still open. */
static int trickle(int *fds, int count)
{
    int open = 0;
    for (int i = 0; i < count; i++) {
        if (fds[i] < 0)
            continue;
        if (closed_by_peer(fds[i]) ||
            send(fds[i], trickle_line, sizeof(trickle_line) - 1, MSG_NOSIGNAL) <
                0) {
            close(fds[i]);
            fds[i] = -1;
            continue;
        }
        open++;
    }
    return open;
}

static int by_value(const void *a, const void *b)
{
    double x = *(const double *)a;
    double y = *(const double *)b;
    return (x > y) - (x < y);
}

/* GET /livez on a new connection: its time in seconds (status in *st). */
static double time_livez(int *st)
{
    double t0 = h_now();
    *st = h_get(&H, "/livez", body, sizeof(body));
    return h_now() - t0;
}

T(livez_answers_while_2000_connections_trickle_their_headers, 120)
{
    /* The test holds 2000 sockets, sidecar up to 1024 (its limit comes
     * from RLIMIT_NOFILE, which it inherits): room for both. */
    struct rlimit rl;
    cr_assert_eq(getrlimit(RLIMIT_NOFILE, &rl), 0);
    if (rl.rlim_cur < 4 * TRICKLERS) {
        rl.rlim_cur = rl.rlim_max < 4 * TRICKLERS ? rl.rlim_max : 4 * TRICKLERS;
        cr_assert_eq(setrlimit(RLIMIT_NOFILE, &rl), 0);
    }
    if (rl.rlim_cur < TRICKLERS + 1200)
        cr_skip_test("RLIMIT_NOFILE %llu is too low",
                     (unsigned long long)rl.rlim_cur);
    h_start(&H, probe_yaml);
    int port = h_http_port(&H);
    static int fds[TRICKLERS];
    for (int i = 0; i < TRICKLERS; i++)
        fds[i] = start_trickle(port);
    trickle(fds, TRICKLERS);
    /* The first probe waits behind the connections in the accept queue. */
    int st;
    double first = time_livez(&st);
    cr_assert_eq(st, 200, "/livez: no answer with %d connections trickling",
                 TRICKLERS);
    double took[15];
    for (size_t i = 0; i < ARRAY_LEN(took); i++) {
        took[i] = time_livez(&st);
        cr_expect_eq(st, 200);
        if (i % 5 == 4)
            trickle(fds, TRICKLERS); /* a header line every few requests */
    }
    int held = trickle(fds, TRICKLERS);
    qsort(took, ARRAY_LEN(took), sizeof(took[0]), by_value);
    double median = took[ARRAY_LEN(took) / 2];
    double worst = took[ARRAY_LEN(took) - 1];
    fprintf(stderr,
            "livez with %d trickling (%d still held): first %.1f ms, "
            "median %.2f ms, max %.1f ms\n",
            TRICKLERS, held, first * 1000, median * 1000, worst * 1000);
    cr_expect_lt(median, 0.1, "median %.1f ms", median * 1000);
    cr_expect_lt(worst, 1.0, "worst %.1f ms", worst * 1000);
    cr_expect_lt(first, 2.0, "first %.1f ms", first * 1000);
    cr_expect_gt(held, 500, "sidecar holds the newest connections");
    cr_assert_eq(h_get(&H, "/metrics", body, sizeof(body)), 200);
    cr_expect_geq(h_metric(body, "sidecar_http_connections_evicted_total"),
                  TRICKLERS - 1024);
    for (int i = 0; i < TRICKLERS; i++)
        if (fds[i] >= 0)
            close(fds[i]);
    h_signal(&H, SIGTERM);
    cr_expect_eq(h_wait_exit(&H, H_WAIT), 0);
}

T(a_request_must_finish_its_headers_within_the_deadline, 60)
{
    h_start(&H, probe_yaml);
    int port = h_http_port(&H);
    double t0 = h_now();
    int fd = start_trickle(port);
    /* A line a second: MHD's idle timeout (10 s) never fires. */
    double closed_at = 0;
    while (!closed_at && h_now() < t0 + 25) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, 1000) > 0 && closed_by_peer(fd))
            closed_at = h_now();
        else if (send(fd, trickle_line, sizeof(trickle_line) - 1,
                      MSG_NOSIGNAL) < 0)
            closed_at = h_now();
    }
    close(fd);
    cr_assert(closed_at, "still open after 25 s of trickling");
    double after = closed_at - t0;
    cr_expect_geq(after, 9.5, "closed after %.1f s", after);
    cr_expect_leq(after, 16, "closed after %.1f s", after);
    cr_assert_eq(h_get(&H, "/metrics", body, sizeof(body)), 200);
    cr_expect_eq(h_metric(body, "sidecar_http_connections_evicted_total"
                                "{reason=\"header_deadline\"}"),
                 1);
    h_signal(&H, SIGTERM);
    cr_expect_eq(h_wait_exit(&H, H_WAIT), 0);
}
