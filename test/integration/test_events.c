/*
 * GET /events through real sockets: the stream's bytes (retry, id, data
 * objects parsed with jansson), live state changes, the replay of the
 * last 20, Last-Event-ID (the missed events exactly, "lost" after the
 * ring wrapped or above the newest), a client that stops reading dropped
 * while sidecar stays small and quick, 256 subscribers at once and the
 * 257th refused, a reload that moves http.listen ending streams, HEAD and
 * POST.
 */
#define _DEFAULT_SOURCE
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <jansson.h>
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

#define T(name, secs) Test(events, name, .timeout = secs, .fini = teardown)

#define TOKEN "events-test-token-0123456789"

static const char yaml[] = "http:\n"
                           "  listen: 127.0.0.1:0\n"
                           "  token: " TOKEN "\n"
                           "services:\n"
                           "  web:\n"
                           "    role: main\n"
                           "    command: ['@HELPER@', 'run', 'web', "
                           "'@DIR@/log']\n"
                           "    backoff: { initial: 0s }\n"
                           "probes:\n"
                           "  beat:\n"
                           "    type: ttl\n"
                           "    ttl: 1h\n"
                           "    importance: low\n"
                           "    failure_threshold: 1\n"
                           "    success_threshold: 1\n";

/* One subscriber: its socket and every byte it read. */
struct client {
    int fd;
    char *buf;
    size_t len;
    size_t cap;
    bool eof;
};

/* Connects and asks for the stream in HTTP/1.1 (chunked) or 1.0. */
static void subscribe_in(struct client *cl, int port, const char *last_id,
                         const char *version)
{
    char req[256];
    memset(cl, 0, sizeof(*cl));
    cl->fd = h_connect(port);
    cr_assert_geq(cl->fd, 0);
    int n = snprintf(req, sizeof(req),
                     "GET /events HTTP/%s\r\nHost: x\r\n%s%s%s\r\n", version,
                     last_id ? "Last-Event-ID: " : "", last_id ? last_id : "",
                     last_id ? "\r\n" : "");
    cr_assert_eq(write(cl->fd, req, (size_t)n), n);
}

/* HTTP/1.0: the body is the stream, no chunk in the way. */
static void subscribe(struct client *cl, int port, const char *last_id)
{
    subscribe_in(cl, port, last_id, "1.0");
}

/* Reads what is there within timeout_s; false at EOF or an error. */
static bool pull(struct client *cl, double timeout_s)
{
    struct pollfd p = {.fd = cl->fd, .events = POLLIN};
    if (cl->eof || poll(&p, 1, (int)(timeout_s * 1000)) <= 0)
        return !cl->eof;
    if (cl->cap - cl->len < 65536) {
        cl->cap = cl->cap * 2 + 65536;
        cl->buf = realloc(cl->buf, cl->cap + 1);
        cr_assert(cl->buf);
    }
    ssize_t r = read(cl->fd, cl->buf + cl->len, cl->cap - cl->len);
    if (r <= 0) {
        cl->eof = true;
        return false;
    }
    cl->len += (size_t)r;
    cl->buf[cl->len] = '\0';
    return true;
}

static void client_close(struct client *cl)
{
    if (cl->fd >= 0)
        close(cl->fd);
    free(cl->buf);
    cl->fd = -1;
    cl->buf = NULL;
}

/* The stream's events: ids and data objects, in order. */
struct parsed {
    unsigned long long ids[600];
    json_t *data[600];
    size_t n;
    long long lost; /* an "event: lost" block's count; 0: none */
    bool retry;     /* "retry: 1000" came first */
};

static void parsed_free(struct parsed *p)
{
    for (size_t i = 0; i < p->n; i++)
        json_decref(p->data[i]);
    p->n = 0;
}

static void parse(const struct client *cl, struct parsed *p)
{
    memset(p, 0, sizeof(*p));
    const char *body = cl->buf ? strstr(cl->buf, "\r\n\r\n") : NULL;
    if (!body)
        return;
    body += 4;
    p->retry = strncmp(body, "retry: 1000\n\n", 13) == 0;
    for (const char *b = body; *b;) {
        const char *end = strstr(b, "\n\n");
        if (!end)
            break; /* the rest of a block still on its way */
        char *block = strndup(b, (size_t)(end - b));
        unsigned long long id;
        char *data = strstr(block, "data: ");
        if (strncmp(block, "event: lost\n", 12) == 0 && data) {
            json_t *o = json_loads(data + 6, 0, NULL);
            cr_assert(o, "%s", block);
            p->lost = json_integer_value(json_object_get(o, "lost"));
            json_decref(o);
        } else if (sscanf(block, "id: %llu\n", &id) == 1) {
            cr_assert(data, "%s", block);
            cr_assert_lt(p->n, 600);
            json_error_t err;
            json_t *o = json_loads(data + 6, 0, &err);
            cr_assert(json_is_object(o), "%s: %s", block, err.text);
            cr_assert(json_is_string(json_object_get(o, "ts")));
            cr_assert(json_is_string(json_object_get(o, "level")));
            p->ids[p->n] = id;
            p->data[p->n++] = o;
        } else {
            cr_assert(strcmp(block, "retry: 1000") == 0 ||
                          strcmp(block, ": ping") == 0,
                      "unknown block: %s", block);
        }
        free(block);
        b = end + 2;
    }
}

static const char *msg_of(const struct parsed *p, size_t i)
{
    return json_string_value(json_object_get(p->data[i], "msg"));
}

static const char *str_of(const struct parsed *p, size_t i, const char *key)
{
    return json_string_value(json_object_get(p->data[i], key));
}

/* Reads until an event with this msg (and key=value, if key) arrives. */
static long wait_for(struct client *cl, struct parsed *p, const char *msg,
                     const char *key, const char *value)
{
    for (double end = h_now() + H_WAIT; h_now() < end;) {
        pull(cl, 0.1);
        parse(cl, p);
        for (size_t i = 0; i < p->n; i++) {
            if (strcmp(msg_of(p, i), msg) == 0 &&
                (!key ||
                 (str_of(p, i, key) && strcmp(str_of(p, i, key), value) == 0)))
                return (long)i;
        }
        parsed_free(p);
        if (cl->eof)
            break;
    }
    return -1;
}

/* Reads until at least n events (or EOF, or the deadline). */
static void wait_count(struct client *cl, struct parsed *p, size_t n)
{
    for (double end = h_now() + H_WAIT; h_now() < end;) {
        pull(cl, 0.1);
        parse(cl, p);
        if (p->n >= n || cl->eof)
            return;
        parsed_free(p);
    }
    parse(cl, p);
}

static char body[65536];

static void push_why(int port, const char *what, const char *why)
{
    char path[64];
    snprintf(path, sizeof(path), "/probes/beat/%s", what);
    cr_assert_eq(h_post_at(port, path, TOKEN, why, body, sizeof(body)), 200);
}

static void push(int port, const char *what)
{
    push_why(port, what, "");
}

/* The newest event's id: the last of a fresh stream's replay. */
static unsigned long long newest(int port)
{
    cr_assert_eq(h_get_at(port, "/metrics", body, sizeof(body)), 200);
    size_t total = (size_t)h_metric(body, "sidecar_events_total");
    cr_assert_gt(total, 0);
    struct client cl;
    struct parsed p;
    subscribe(&cl, port, NULL);
    wait_count(&cl, &p, total < 20 ? total : 20); /* the replay */
    cr_assert_gt(p.n, 0, "%s", cl.buf);
    unsigned long long id = p.ids[p.n - 1];
    parsed_free(&p);
    client_close(&cl);
    return id;
}

/*
 * This process's first id, while the ring holds it: an id below it (an
 * earlier process's) gets the whole ring, from the oldest.
 */
static unsigned long long first_id(int port)
{
    struct client cl;
    struct parsed p;
    subscribe(&cl, port, "1");
    wait_count(&cl, &p, 1);
    cr_assert_gt(p.n, 0, "%s", cl.buf);
    unsigned long long id = p.ids[0];
    parsed_free(&p);
    client_close(&cl);
    return id;
}

/* n probe changes: each push flips the probe (threshold 1). */
static void flap(int port, int n)
{
    for (int i = 0; i < n; i++)
        push(port, i % 2 ? "pass" : "fail");
}

T(a_stream_carries_a_killed_service_and_a_probe_change, 60)
{
    h_start(&H, yaml);
    int port = h_http_port(&H);
    cr_assert_geq(h_wait_event(&H, 0, H_WAIT, "service started", "web"), 0);
    struct client cl;
    struct parsed p;
    subscribe(&cl, port, NULL);
    cr_assert_geq(wait_for(&cl, &p, "service started", "service", "web"), 0);
    cr_expect(p.retry, "%s", cl.buf);
    cr_expect(strncmp(cl.buf, "HTTP/1.1 200 ", 13) == 0, "%s", cl.buf);
    cr_expect(strstr(cl.buf, "\r\nContent-Type: text/event-stream\r\n"), "%s",
              cl.buf);
    cr_expect(strstr(cl.buf, "\r\nCache-Control: no-store\r\n"), "%s", cl.buf);
    for (size_t i = 1; i < p.n; i++)
        cr_expect_eq(p.ids[i], p.ids[i - 1] + 1);
    parsed_free(&p);

    long i = h_wait_event(&H, 0, H_WAIT, "service started", "web");
    kill((pid_t)h_int(&H, i, "pid", -1), SIGKILL);
    long k = wait_for(&cl, &p, "service state changed", "to", "backoff");
    cr_assert_geq(k, 0, "%s", cl.buf);
    cr_expect_str_eq(str_of(&p, (size_t)k, "service"), "web");
    cr_expect_str_eq(str_of(&p, (size_t)k, "from"), "running");
    cr_expect_str_eq(str_of(&p, (size_t)k, "level"), "debug",
                     "the log's level, though the log does not print it");
    parsed_free(&p);
    cr_expect_geq(wait_for(&cl, &p, "service exited", "service", "web"), 0);
    parsed_free(&p);

    push(port, "fail");
    k = wait_for(&cl, &p, "probe state changed", "to", "failing");
    cr_assert_geq(k, 0, "%s", cl.buf);
    cr_expect_str_eq(str_of(&p, (size_t)k, "probe"), "beat");
    parsed_free(&p);
    client_close(&cl);
}

T(replay_of_20_and_resume_with_last_event_id, 60)
{
    h_start(&H, yaml);
    int port = h_http_port(&H);
    flap(port, 30);
    unsigned long long top = newest(port);
    cr_assert_geq(top, 30);
    struct client cl;
    struct parsed p;

    subscribe(&cl, port, NULL);
    wait_count(&cl, &p, 20);
    pull(&cl, 0.3); /* nothing more comes */
    parsed_free(&p);
    parse(&cl, &p);
    cr_assert_eq(p.n, 20, "%s", cl.buf);
    cr_expect_eq(p.ids[0], top - 19);
    cr_expect_eq(p.ids[19], top);
    cr_expect_eq(p.lost, 0);
    parsed_free(&p);
    client_close(&cl);

    /* Exactly the missed ones, then live ones, no duplicate. */
    char last[32];
    snprintf(last, sizeof(last), "%llu", top - 5);
    subscribe(&cl, port, last);
    wait_count(&cl, &p, 5);
    parsed_free(&p);
    push(port, "fail");
    push(port, "pass");
    size_t want = (size_t)(newest(port) - top + 5);
    cr_assert_geq(want, 7);
    wait_count(&cl, &p, want);
    pull(&cl, 0.3);
    parsed_free(&p);
    parse(&cl, &p);
    cr_assert_eq(p.n, want, "%s", cl.buf);
    for (size_t i = 0; i < p.n; i++)
        cr_expect_eq(p.ids[i], top - 4 + i);
    cr_expect_eq(p.lost, 0);
    parsed_free(&p);
    client_close(&cl);

    /* Another process's id, above the newest or below the first: what it
     * missed is unknown, the whole ring comes, from the oldest. Ids start
     * at sidecar's start time in microseconds. */
    unsigned long long first = first_id(port);
    cr_expect_gt(first, 1700000000ull * 1000000u, "first id %llu", first);
    char above[32];
    snprintf(above, sizeof(above), "%llu", newest(port) + 1000);
    const char *other[] = {"999999", above};
    for (size_t i = 0; i < 2; i++) {
        subscribe(&cl, port, other[i]);
        wait_count(&cl, &p, 20);
        cr_expect_eq(p.lost, -1, "%s: %s", other[i], cl.buf);
        cr_expect_eq(p.ids[0], first, "%s: the whole ring, from the oldest",
                     other[i]);
        parsed_free(&p);
        client_close(&cl);
    }
}

T(lost_after_the_ring_wrapped, 90)
{
    h_start(&H, yaml);
    int port = h_http_port(&H);
    unsigned long long first = first_id(port);
    flap(port, 300);
    unsigned long long top = newest(port);
    struct client cl;
    struct parsed p;
    char last[32];
    snprintf(last, sizeof(last), "%llu", first); /* seen: the first only */
    subscribe(&cl, port, last);
    wait_count(&cl, &p, 256);
    pull(&cl, 0.3);
    parsed_free(&p);
    parse(&cl, &p);
    cr_assert_eq(p.n, 256, "%zu events", p.n);
    cr_expect_eq(p.ids[255], top);
    cr_expect_eq(p.ids[0], top - 255);
    cr_expect_eq(p.lost, (long long)(p.ids[0] - first - 1),
                 "lost %lld, oldest %llu, first %llu", p.lost, p.ids[0], first);
    parsed_free(&p);
    client_close(&cl);
}

T(a_reader_that_stops_is_dropped_and_sidecar_stays_small, 120)
{
    h_start(&H, yaml);
    int port = h_http_port(&H);
    /* A tiny receive buffer and no read ever after the headers. */
    int small = 1024;
    struct client stuck = {.fd = socket(AF_INET, SOCK_STREAM, 0)};
    cr_assert_eq(
        setsockopt(stuck.fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small)), 0);
    struct sockaddr_in sin = {.sin_family = AF_INET,
                              .sin_port = htons((uint16_t)port),
                              .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    cr_assert_eq(connect(stuck.fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
    static const char req[] = "GET /events HTTP/1.0\r\n\r\n";
    cr_assert_eq(write(stuck.fd, req, sizeof(req) - 1), sizeof(req) - 1);
    /* 4 KB a failure: megabytes in all, more than the kernel buffers. */
    static char why[4001];
    memset(why, 'x', sizeof(why) - 1);
    long rss_before = h_status_kb(H.pid, "VmRSS");
    double worst = 0;
    for (int round = 0; round < 40; round++) {
        for (int i = 0; i < 50; i++) {
            push_why(port, "fail", why);
            push(port, "pass");
            h_pump(&H, 0); /* the log's lines: else they wait in sidecar */
        }
        double t0 = h_now();
        cr_assert_eq(h_get_at(port, "/livez", body, sizeof(body)), 200);
        if (h_now() - t0 > worst)
            worst = h_now() - t0;
    }
    cr_assert_eq(h_get_at(port, "/metrics", body, sizeof(body)), 200);
    cr_expect_geq(h_metric(body, "sidecar_event_subscribers_dropped_total"), 1,
                  "%s", body);
    cr_expect_geq(h_metric(body, "sidecar_events_total"), 4000);
    long rss_after = h_status_kb(H.pid, "VmRSS");
    if (h_rss_counts(H.pid))
        cr_expect_lt(rss_after - rss_before, 4096, "RSS %ld kB -> %ld kB",
                     rss_before, rss_after);
    cr_expect_lt(worst, 1.0, "/livez took %.3f s", worst);
    fprintf(stderr,
            "events: %.0f events, %.0f dropped; VmRSS %ld -> %ld kB; slowest "
            "/livez %.1f ms\n",
            h_metric(body, "sidecar_events_total"),
            h_metric(body, "sidecar_event_subscribers_dropped_total"),
            rss_before, rss_after, worst * 1000);
    /* Its socket was shut: it reads what was buffered, then the end. */
    for (double end = h_now() + H_WAIT; h_now() < end && !stuck.eof;)
        pull(&stuck, 0.1);
    cr_expect(stuck.eof);
    client_close(&stuck);
}

#define SUBS 256

T(256_subscribers_get_an_event_the_257th_gets_503, 120)
{
    struct rlimit rl;
    cr_assert_eq(getrlimit(RLIMIT_NOFILE, &rl), 0);
    if (rl.rlim_cur < 2048) {
        rl.rlim_cur = rl.rlim_max < 2048 ? rl.rlim_max : 2048;
        cr_assert_eq(setrlimit(RLIMIT_NOFILE, &rl), 0);
    }
    if (rl.rlim_cur < SUBS + 700)
        cr_skip_test("RLIMIT_NOFILE %llu is too low",
                     (unsigned long long)rl.rlim_cur);
    h_start(&H, yaml);
    int port = h_http_port(&H);
    static struct client cl[SUBS];
    struct parsed p;
    for (int i = 0; i < SUBS; i++)
        subscribe(&cl[i], port, NULL);
    /* Each has its retry line: all are subscribed. */
    for (int i = 0; i < SUBS; i++) {
        for (double end = h_now() + H_WAIT;
             h_now() < end && !strstr(cl[i].buf ? cl[i].buf : "", "retry:");)
            pull(&cl[i], 0.1);
        cr_assert(cl[i].buf && strstr(cl[i].buf, "retry: 1000"), "%d", i);
    }
    cr_expect_eq(h_get_at(port, "/events", body, sizeof(body)), 503);
    cr_expect_str_eq(body, "{\"error\":\"too many event subscribers\"}\n");
    double t0 = h_now();
    cr_expect_eq(h_get_at(port, "/livez", body, sizeof(body)), 200);
    cr_expect_lt(h_now() - t0, 1.0);
    push(port, "fail");
    for (int i = 0; i < SUBS; i++) {
        cr_expect_geq(
            wait_for(&cl[i], &p, "probe state changed", "to", "failing"), 0,
            "subscriber %d", i);
        parsed_free(&p);
    }
    cr_assert_eq(h_get_at(port, "/metrics", body, sizeof(body)), 200);
    cr_expect_eq(h_metric(body, "sidecar_event_subscribers"), SUBS);

    /* Clients that left make room at once, not at the next ping (15 s). */
    for (int i = 0; i < 10; i++)
        client_close(&cl[i]);
    double t1 = h_now();
    bool in = false;
    while (!in && h_now() < t1 + 5) {
        struct client extra;
        subscribe(&extra, port, NULL);
        while (!extra.eof && !strstr(extra.buf ? extra.buf : "", "\r\n\r\n"))
            pull(&extra, 0.1);
        in = extra.buf && strncmp(extra.buf, "HTTP/1.1 200 ", 13) == 0;
        client_close(&extra);
        if (!in)
            h_pump(&H, 0.1);
    }
    cr_expect(in, "a new subscriber within 5 s of 10 leaving");
    for (int i = 10; i < SUBS; i++)
        client_close(&cl[i]);
}

T(a_reload_that_moves_http_listen_ends_streams, 60)
{
    h_start(&H, yaml);
    int port = h_http_port(&H);
    struct client cl;
    struct parsed p;
    subscribe(&cl, port, NULL);
    cr_assert_geq(wait_for(&cl, &p, "service started", "service", "web"), 0);
    parsed_free(&p);
    char moved[sizeof(yaml) + 16];
    snprintf(moved, sizeof(moved), "%s", yaml);
    char *at = strstr(moved, "127.0.0.1:0");
    memcpy(at, "localhost:0", 11);
    h_write_config(&H, H.cfg_path, NULL, moved, true);
    size_t from = h_mark(&H);
    cr_assert_geq(h_sighup(&H, "config reloaded"), 0);
    for (double end = h_now() + H_WAIT; h_now() < end && !cl.eof;)
        pull(&cl, 0.1);
    cr_expect(cl.eof, "the stream ended");
    parse(&cl, &p);
    cr_assert_gt(p.n, 0);
    unsigned long long last = p.ids[p.n - 1];
    parsed_free(&p);
    client_close(&cl);
    /* The client comes back on the new address where it left off. */
    long i = h_wait_event(&H, from, H_WAIT, "http listening", NULL);
    cr_assert_geq(i, 0);
    char id[32];
    snprintf(id, sizeof(id), "%llu", last);
    subscribe(&cl, (int)h_int(&H, i, "port", -1), id);
    long k = wait_for(&cl, &p, "config reloaded", NULL, NULL);
    cr_assert_geq(k, 0, "%s", cl.buf);
    cr_expect_eq(p.ids[0], last + 1);
    cr_expect_eq(p.lost, 0);
    parsed_free(&p);
    client_close(&cl);
}

T(a_stop_sends_the_last_events_then_a_clean_end, 60)
{
    h_start(&H, yaml);
    int port = h_http_port(&H);
    cr_assert_geq(h_wait_event(&H, 0, H_WAIT, "service started", "web"), 0);
    struct client cl;
    subscribe_in(&cl, port, NULL, "1.1");
    while (!cl.eof && !strstr(cl.buf ? cl.buf : "", "retry: 1000"))
        pull(&cl, 0.1);
    h_signal(&H, SIGTERM);
    for (double end = h_now() + H_WAIT; h_now() < end && !cl.eof;)
        pull(&cl, 0.1);
    cr_assert(cl.eof);
    cr_expect(strstr(cl.buf, "\r\nTransfer-Encoding: chunked\r\n"), "%s",
              cl.buf);
    cr_expect(strstr(cl.buf, "\"msg\":\"shutting down\""), "%s", cl.buf);
    cr_expect(strstr(cl.buf, "\"msg\":\"service exited\",\"service\":\"web\""),
              "%s", cl.buf);
    /* The last chunk: the stream ended, it was not cut. */
    cr_expect(cl.len >= 5 && strcmp(cl.buf + cl.len - 5, "0\r\n\r\n") == 0,
              "%s", cl.buf);
    client_close(&cl);
    cr_expect_eq(h_wait_exit(&H, H_WAIT), 0);
}

T(head_and_post, 30)
{
    h_start(&H, yaml);
    int port = h_http_port(&H);
    cr_expect_eq(h_http_at(port,
                           "HEAD /events HTTP/1.1\r\nHost: x\r\n"
                           "Connection: close\r\n\r\n",
                           body, sizeof(body)),
                 200);
    cr_expect(strstr(h_last_response(), "Content-Type: text/event-stream"),
              "%s", h_last_response());
    cr_expect_str_eq(body, "");
    cr_expect_eq(h_post_at(port, "/events", TOKEN, "", body, sizeof(body)),
                 405);
    cr_assert_eq(h_get_at(port, "/metrics", body, sizeof(body)), 200);
    cr_expect_eq(h_metric(body, "sidecar_event_subscribers"), 0);
}
