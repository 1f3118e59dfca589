/*
 * The fixes of issue 13 attacked from outside: ways around the header
 * deadline and the eviction at the connection limit, and what they must
 * leave working.
 */
#define _DEFAULT_SOURCE
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <netinet/in.h>
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

#define T(name, secs) Test(attack_http, name, .timeout = secs, .fini = teardown)

static const char svc_yaml[] =
    "probes:\n"
    "  p: { type: exec, command: 'true', period: 1s, timeout: 500ms }\n";

/* Headers complete, then a body announced that never comes whole. MHD
 * answers 100 Continue once its handler has seen the headers. */
static const char body_start[] = "GET /livez HTTP/1.1\r\nHost: x\r\n"
                                 "Expect: 100-continue\r\n"
                                 "Content-Length: 100000000\r\n\r\n";

static int connect_to(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    cr_assert_geq(fd, 0, "socket: %s", strerror(errno));
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    cr_assert_eq(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0,
                 "connect: %s", strerror(errno));
    return fd;
}

static void send_all(int fd, const char *s, size_t n)
{
    cr_assert_eq(send(fd, s, n, MSG_NOSIGNAL), (ssize_t)n, "send: %s",
                 strerror(errno));
}

/* True once the peer has closed fd (EOF or reset), without blocking. */
static bool closed_by_peer(int fd)
{
    char c;
    ssize_t n = recv(fd, &c, 1, MSG_DONTWAIT | MSG_PEEK);
    return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK);
}

/*
 * GET path on a new connection, waiting at most deadline_s for the whole
 * answer: its status, or -1 when none came in time.
 */
static int get_within(int port, const char *path, double deadline_s)
{
    char req[256];
    int n = snprintf(req, sizeof(req),
                     "GET %s HTTP/1.1\r\nHost: k\r\nConnection: close\r\n\r\n",
                     path);
    int fd = connect_to(port);
    send_all(fd, req, (size_t)n);
    char answer[4096];
    size_t got = 0;
    double deadline = h_now() + deadline_s;
    while (got + 1 < sizeof(answer) && h_now() < deadline) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, 50) <= 0)
            continue;
        ssize_t r = recv(fd, answer + got, sizeof(answer) - 1 - got, 0);
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    close(fd);
    answer[got] = '\0';
    int status = -1;
    if (sscanf(answer, "HTTP/1.%*d %d", &status) != 1)
        return -1;
    return status;
}

/* Waits at most deadline_s for the interim 100 Continue on fd. */
static bool wait_continue(int fd, double deadline_s)
{
    static const char want[] = "HTTP/1.1 100 Continue\r\n\r\n";
    char got[sizeof(want)];
    size_t n = 0;
    double deadline = h_now() + deadline_s;
    while (n + 1 < sizeof(got) && h_now() < deadline) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, 50) <= 0)
            continue;
        ssize_t r = recv(fd, got + n, sizeof(got) - 1 - n, 0);
        if (r <= 0)
            return false;
        n += (size_t)r;
    }
    got[n] = '\0';
    return strcmp(got, want) == 0;
}

T(a_body_trickled_after_the_headers_must_beat_the_deadline, 60)
{
    h_start(&H, svc_yaml);
    int port = h_http_port(&H);
    double t0 = h_now();
    int fd = connect_to(port);
    send_all(fd, body_start, sizeof(body_start) - 1);
    /* A byte a second: MHD's idle timeout (10 s) never fires. */
    double closed_at = 0;
    while (!closed_at && h_now() < t0 + 25) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, 1000) > 0 && closed_by_peer(fd))
            closed_at = h_now();
        else if (send(fd, "a", 1, MSG_NOSIGNAL) < 0)
            closed_at = h_now();
    }
    close(fd);
    cr_assert(closed_at, "still open after 25 s of a body a byte a second");
    double after = closed_at - t0;
    cr_expect_geq(after, 9.5, "closed after %.1f s", after);
    cr_expect_leq(after, 16, "closed after %.1f s", after);
    h_signal(&H, SIGTERM);
    cr_expect_eq(h_wait_exit(&H, 10), 0);
}

#define BODY_TRICKLERS 1100

T(livez_answers_while_1100_connections_trickle_a_body, 120)
{
    struct rlimit rl;
    cr_assert_eq(getrlimit(RLIMIT_NOFILE, &rl), 0);
    if (rl.rlim_cur < 4 * BODY_TRICKLERS) {
        rl.rlim_cur =
            rl.rlim_max < 4 * BODY_TRICKLERS ? rl.rlim_max : 4 * BODY_TRICKLERS;
        cr_assert_eq(setrlimit(RLIMIT_NOFILE, &rl), 0);
    }
    if (rl.rlim_cur < BODY_TRICKLERS + 1200)
        cr_skip_test("RLIMIT_NOFILE %llu is too low",
                     (unsigned long long)rl.rlim_cur);
    h_start(&H, svc_yaml);
    int port = h_http_port(&H);
    static int fds[BODY_TRICKLERS];
    /* One at a time, each one's headers handled (100 Continue) before the
     * next comes: the newcomer is then never among several waiting for
     * their headers, of which the oldest would go. */
    int failed_at = -1;
    for (int i = 0; i < BODY_TRICKLERS; i++) {
        fds[i] = connect_to(port);
        send_all(fds[i], body_start, sizeof(body_start) - 1);
        (void)wait_continue(fds[i], 5);
        if (i % 64 == 63 && failed_at < 0 &&
            get_within(port, "/livez", 5) != 200)
            failed_at = i + 1;
    }
    int st = get_within(port, "/livez", 5);
    for (int i = 0; i < BODY_TRICKLERS; i++)
        close(fds[i]);
    cr_expect_eq(failed_at, -1, "/livez: no answer with %d bodies trickling",
                 failed_at);
    cr_expect_eq(st, 200, "/livez with %d bodies trickling: %d", BODY_TRICKLERS,
                 st);
    h_signal(&H, SIGTERM);
    cr_expect_eq(h_wait_exit(&H, 10), 0);
}

T(a_coding_mhd_does_not_decode_or_a_spaced_name_gets_400_and_close, 60)
{
    /* MHD read the first three until the client closed; took the first
     * of two codings; and took "Transfer-Encoding :" for another field,
     * leaving the chunk as a second request for a proxy that did not. */
    static const char *const framings[] = {
        "GET /livez HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: identity\r\n"
        "\r\n",
        "GET /livez HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked"
        "\r\n\r\n",
        "POST /livez HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked,"
        " identity\r\n\r\n",
        "GET /livez HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
        "Transfer-Encoding: identity\r\n\r\n0\r\n\r\n"
        "GET /readyz HTTP/1.1\r\nHost: x\r\n\r\n",
        "GET /livez HTTP/1.1\r\nHost: x\r\nTransfer-Encoding : chunked\r\n"
        "\r\n0\r\n\r\nGET /readyz HTTP/1.1\r\nHost: x\r\n\r\n",
        "GET /livez HTTP/1.1\r\nHost: x\r\nContent-Length\t: 35\r\n\r\n"
        "GET /readyz HTTP/1.1\r\nHost: x\r\n\r\n",
    };
    h_start(&H, svc_yaml);
    int port = h_http_port(&H);
    for (size_t i = 0; i < sizeof(framings) / sizeof(framings[0]); i++) {
        int fd = connect_to(port);
        send_all(fd, framings[i], strlen(framings[i]));
        static char answer[8192];
        bool eof;
        h_read_to_eof(fd, answer, sizeof(answer), 5, &eof);
        close(fd);
        cr_expect_eq(strncmp(answer, "HTTP/1.1 400 ", 13), 0,
                     "framing %zu: answer '%.60s'", i, answer);
        cr_expect_eq(h_count_of(answer, "HTTP/1."), 1,
                     "framing %zu: one answer, got '%s'", i, answer);
        cr_expect(eof, "framing %zu: the connection stays open", i);
    }
    /* Plain chunked still frames a body; the header's case is free. */
    int fd = connect_to(port);
    static const char chunked[] =
        "POST /livez HTTP/1.1\r\nHost: x\r\ntransfer-encoding: Chunked\r\n\r\n"
        "5\r\nhello\r\n0\r\n\r\n"
        "GET /livez HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    send_all(fd, chunked, sizeof(chunked) - 1);
    static char answer[8192];
    bool eof;
    h_read_to_eof(fd, answer, sizeof(answer), 5, &eof);
    close(fd);
    cr_expect_eq(strncmp(answer, "HTTP/1.1 405 ", 13), 0, "'%.60s'", answer);
    cr_expect_eq(h_count_of(answer, "HTTP/1.1 200 "), 1, "'%s'", answer);
    h_signal(&H, SIGTERM);
    cr_expect_eq(h_wait_exit(&H, 10), 0);
}

T(the_guard_is_no_leftover_at_exit, 30)
{
    /* Nothing a service forked is left: the only child at the end is the
     * last-chance guard, which ends on its own and must not be counted. */
    h_start(&H, "services:\n"
                "  main: { command: 'sleep 0.3', role: main, "
                "restart: never }\n");
    cr_assert_eq(h_wait_exit(&H, 15), 0);
    long idx = h_find_event(&H, 0, "sidecar exiting", NULL);
    cr_assert_geq(idx, 0, "no 'sidecar exiting'");
    cr_expect_eq(h_int(&H, idx, "leftovers_reaped", -1), 0,
                 "leftovers_reaped %lld with nothing left over",
                 h_int(&H, idx, "leftovers_reaped", -1));
}
