/*
 * probes/resolve.c's literals (parsed with no lookup, bad hosts refused)
 * and probes/connect.c on a real loop: a refused port, a cancel with a
 * connect or a lookup in flight (no callback after it, nothing left).
 */
#define _DEFAULT_SOURCE
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "probes/connect.h"
#include "probes/resolve.h"

static void literal(const char *host, int family, const char *addr,
                    unsigned scope)
{
    union resolve_sa sa;
    char text[INET6_ADDRSTRLEN] = "";
    const void *a = family == AF_INET6 ? (const void *)&sa.in6.sin6_addr
                                       : (const void *)&sa.in.sin_addr;

    cr_assert_eq(resolve_literal(host, 8080, &sa), 1, "%s", host);
    cr_expect_eq(sa.sa.sa_family, family, "%s", host);
    inet_ntop(family, a, text, sizeof(text));
    cr_expect_str_eq(text, addr, "%s", host);
    if (family == AF_INET6) {
        cr_expect_eq(ntohs(sa.in6.sin6_port), 8080);
        cr_expect_eq(sa.in6.sin6_scope_id, scope, "%s", host);
        cr_expect_eq(resolve_sa_len(&sa), sizeof(struct sockaddr_in6));
    } else {
        cr_expect_eq(ntohs(sa.in.sin_port), 8080);
        cr_expect_eq(resolve_sa_len(&sa), sizeof(struct sockaddr_in));
    }
}

Test(resolve, literals_need_no_lookup, .timeout = 5)
{
    literal("127.0.0.1", AF_INET, "127.0.0.1", 0);
    literal("10.1.2.3", AF_INET, "10.1.2.3", 0);
    literal("::1", AF_INET6, "::1", 0);
    literal("[::1]", AF_INET6, "::1", 0);
    literal("fe80::1%7", AF_INET6, "fe80::1", 7);
    literal("[fe80::1%3]", AF_INET6, "fe80::1", 3);
    literal("fe80::1%lo", AF_INET6, "fe80::1", 1);
    literal("::ffff:10.0.0.1", AF_INET6, "::ffff:10.0.0.1", 0);
}

Test(resolve, names_are_looked_up_later, .timeout = 5)
{
    union resolve_sa sa;
    const char *names[] = {"localhost", "db",    "db.svc.cluster.local",
                           "my_host-1", "1.2.3", "256.1.1.1"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        cr_expect_eq(resolve_literal(names[i], 1, &sa), 0, "%s", names[i]);
}

Test(resolve, bad_hosts_are_refused, .timeout = 5)
{
    union resolve_sa sa;
    const char *bad[] = {
        "",         "[]",       "[127.0.0.1]", "[db]",    "::g",
        "1:2",      "a b",      "db/x",        "db?x",    "[::1",
        "::1]",     "fe80::1%", "fe80::1%e/0", "db%eth0", "fe80::1%a%b",
        "[::1]:80", "a@b"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        cr_expect_eq(resolve_literal(bad[i], 1, &sa), -EINVAL, "'%s'", bad[i]);
}

static int calls;
static int got;

static void on_done(struct connector *c, int fd)
{
    (void)c;
    calls++;
    got = fd;
    if (fd >= 0)
        close(fd);
}

static void stop_loop(EV_P_ ev_timer *w, int revents)
{
    (void)w;
    (void)revents;
    ev_break(EV_A_ EVBREAK_ALL);
}

/* Runs the loop until done ran or max_s passed. */
static void run(struct ev_loop *loop, double max_s)
{
    ev_timer t;
    ev_timer_init(&t, stop_loop, max_s, 0.);
    ev_timer_start(loop, &t);
    while (calls == 0 && ev_timer_remaining(loop, &t) > 0 &&
           ev_run(loop, EVRUN_ONCE))
        ;
    ev_timer_stop(loop, &t);
}

/* A loopback listener (backlog 0, its queue filled when full is true). */
static int listener(bool full, union resolve_sa *sa)
{
    socklen_t len = sizeof(sa->in);
    int lfd = socket(AF_INET, SOCK_STREAM, 0);
    cr_assert_geq(lfd, 0);
    cr_assert_eq(resolve_literal("127.0.0.1", 0, sa), 1);
    cr_assert_eq(bind(lfd, &sa->sa, sizeof(sa->in)), 0);
    cr_assert_eq(listen(lfd, 0), 0);
    cr_assert_eq(getsockname(lfd, &sa->sa, &len), 0);
    if (full) {
        int filler = socket(AF_INET, SOCK_STREAM, 0);
        cr_assert_eq(connect(filler, &sa->sa, len), 0);
    }
    return lfd;
}

Test(connect, connects_and_never_calls_back_from_start, .timeout = 5)
{
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    struct connector c;
    union resolve_sa sa;
    (void)listener(false, &sa);
    connector_init(&c, loop, "127.0.0.1:x", on_done);
    calls = 0;
    cr_assert_eq(connector_start(&c, &sa, NULL, NULL, 0), 0);
    cr_expect_eq(calls, 0);
    cr_expect_eq(connector_start(&c, &sa, NULL, NULL, 0), -EBUSY);
    run(loop, 2);
    cr_expect_eq(calls, 1);
    cr_expect_geq(got, 0);
    ev_loop_destroy(loop);
}

Test(connect, a_refused_port_says_so, .timeout = 5)
{
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    struct connector c;
    union resolve_sa sa;
    close(listener(false, &sa));
    connector_init(&c, loop, "127.0.0.1:x", on_done);
    calls = 0;
    cr_assert_eq(connector_start(&c, &sa, NULL, NULL, 0), 0);
    run(loop, 2);
    cr_expect_eq(calls, 1);
    cr_expect_eq(got, -ECONNREFUSED);
    cr_expect_str_eq(c.error, "cannot connect to 127.0.0.1:x: Connection "
                              "refused");
    ev_loop_destroy(loop);
}

static int count_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    int n = 0;
    cr_assert(d);
    while (readdir(d) != NULL)
        n++;
    closedir(d);
    return n;
}

Test(connect, cancel_in_flight_leaves_nothing, .timeout = 5)
{
    struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
    struct resolver *r = resolver_new(loop);
    struct connector c;
    union resolve_sa sa;
    int before = count_fds();
    (void)listener(true, &sa);
    cr_assert(r);
    connector_init(&c, loop, "hole", on_done);
    calls = 0;
    cr_assert_eq(connector_start(&c, &sa, NULL, NULL, 0), 0);
    run(loop, 0.2);
    cr_expect_eq(calls, 0, "a full backlog answered");
    connector_cancel(&c);
    /* A lookup the DNS server has yet to answer. */
    cr_assert_eq(connector_start(&c, NULL, r, "no-such-host.invalid", 1), 0);
    connector_cancel(&c);
    cr_assert_eq(connector_start(&c, NULL, r, "no-such-host.invalid", 1), 0);
    run(loop, 0.5);
    calls = 0;
    cr_assert_eq(connector_start(&c, NULL, r, "no-such-host.invalid", 1), 0);
    connector_cancel(&c);
    resolver_free(r); /* with the cancelled query in flight */
    run(loop, 0.2);
    cr_expect_eq(calls, 0, "called back after cancel");
    cr_expect_eq(count_fds(), before + 2,
                 "descriptors left: the listener and its "
                 "filler only");
    ev_loop_destroy(loop);
}
