#define _GNU_SOURCE /* struct ucred, SCM_RIGHTS helpers */
#include <criterion/criterion.h>
#include <errno.h>
#include <ev.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "proc/sdnotify.h"
#include "test/helpers/dgram.h"

static struct sdnotify_msg last;
static int msgs;
static pid_t allowed;

static bool accept_allowed(struct sdnotify *n, pid_t pid)
{
    (void)n;
    return pid == allowed;
}

static void on_msg(struct sdnotify *n, const struct sdnotify_msg *m)
{
    (void)n;
    last = *m;
    msgs++;
}

static int parse(const char *s, struct sdnotify_msg *m)
{
    return sdnotify_parse(s, strlen(s), m);
}

Test(sdnotify, parses_the_keys_it_knows, .timeout = 5)
{
    struct sdnotify_msg m;
    cr_assert_eq(parse("READY=1\nSTATUS=Serving 3 clients\nMAINPID=4242\n"
                       "WATCHDOG=1\nX_UNKNOWN=whatever\n\n",
                       &m),
                 0);
    cr_expect(m.ready);
    cr_expect(m.watchdog);
    cr_expect(!m.stopping);
    cr_expect(!m.reloading);
    cr_expect_eq(m.mainpid, 4242);
    cr_expect(m.has_status);
    cr_expect_str_eq(m.status, "Serving 3 clients");
    cr_assert_eq(parse("STOPPING=1", &m), 0);
    cr_expect(m.stopping);
    cr_expect(!m.ready);
    cr_assert_eq(parse("RELOADING=1\nREADY=0", &m), 0);
    cr_expect(m.reloading);
    cr_expect(!m.ready, "only READY=1 is ready");
    cr_assert_eq(parse("STATUS=", &m), 0);
    cr_expect(m.has_status);
    cr_expect_str_eq(m.status, "");
    cr_assert_eq(parse("", &m), 0);
    cr_expect(!m.has_status);
}

Test(sdnotify, refuses_malformed_datagrams, .timeout = 5)
{
    struct sdnotify_msg m;
    cr_expect_eq(parse("READY", &m), -EINVAL);
    cr_expect_eq(parse("READY=1\ngarbage", &m), -EINVAL);
    cr_expect_eq(parse("=1", &m), -EINVAL);
    cr_expect_eq(parse("MAINPID=abc", &m), -EINVAL);
    cr_expect_eq(parse("MAINPID=1", &m), -EINVAL, "never init");
    cr_expect_eq(parse("MAINPID=-5", &m), -EINVAL);
    cr_expect_eq(parse("MAINPID=99999999999", &m), -EINVAL);
    cr_expect_eq(sdnotify_parse("READY=1\0STATUS=x", 16, &m), -EINVAL);
}

Test(sdnotify, cuts_a_long_status_at_a_character, .timeout = 5)
{
    char text[1024] = "STATUS=";
    /* "é" is two bytes: the cut never splits one. */
    for (size_t i = 0; i < 300; i++)
        strcat(text, "\xc3\xa9");
    struct sdnotify_msg m;
    cr_assert_eq(parse(text, &m), 0);
    size_t len = strlen(m.status);
    cr_expect_lt(len, (size_t)SDNOTIFY_STATUS_MAX);
    cr_expect_eq(len % 2, 0);
}

/* Sends len bytes to n's socket, passing fd (-1: none) with SCM_RIGHTS. */
static ssize_t send_to(const struct sdnotify *n, const void *buf, size_t len,
                       int fd)
{
    return dgram_send(n->addr, buf, len, fd, MSG_DONTWAIT);
}

/* Runs loop until cond holds, or 3 s. */
#define RUN_UNTIL(loop, cond)                                                  \
    do {                                                                       \
        for (int i_ = 0; i_ < 3000 && !(cond); i_++) {                         \
            ev_run(loop, EVRUN_NOWAIT);                                        \
            if (!(cond))                                                       \
                nanosleep(&(struct timespec){0, 1000000}, NULL);               \
        }                                                                      \
    } while (0)

static struct ev_loop *loop;
static struct sdnotify n;

static void setup(void)
{
    loop = ev_loop_new(EVFLAG_AUTO);
    cr_assert(loop);
    msgs = 0;
    allowed = getpid();
    sdnotify_init(&n, loop, accept_allowed, on_msg);
    cr_assert(!sdnotify_is_open(&n));
    cr_assert_eq(sdnotify_open(&n), 0);
}

static void teardown(void)
{
    sdnotify_close(&n);
    ev_loop_destroy(loop);
}

Test(sdnotify, opens_an_abstract_socket_and_reads_a_datagram, .init = setup,
     .fini = teardown, .timeout = 5)
{
    cr_assert(sdnotify_is_open(&n));
    cr_expect_eq(n.addr[0], '@');
    cr_expect_gt(strlen(n.addr), 1);
    const char *text = "READY=1\nSTATUS=up";
    cr_assert_eq(send_to(&n, text, strlen(text), -1), (ssize_t)strlen(text));
    RUN_UNTIL(loop, msgs == 1);
    cr_assert_eq(msgs, 1);
    cr_expect(last.ready);
    cr_expect_str_eq(last.status, "up");
    cr_expect_eq(last.sender, getpid());
    cr_expect_eq(n.accepted, 1);
    cr_expect_eq(sdnotify_dropped(&n), 0);
    cr_expect_eq(sdnotify_open(&n), 0, "open twice is a no-op");
}

Test(sdnotify, drops_a_foreign_sender, .init = setup, .fini = teardown,
     .timeout = 5)
{
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0)
        _exit(send_to(&n, "READY=1", 7, -1) == 7 ? 0 : 1);
    int st;
    cr_assert_eq(waitpid(pid, &st, 0), pid);
    cr_assert_eq(st, 0);
    RUN_UNTIL(loop, n.dropped[SDNOTIFY_DROP_FOREIGN] == 1);
    cr_expect_eq(n.dropped[SDNOTIFY_DROP_FOREIGN], 1);
    cr_expect_eq(msgs, 0);
}

Test(sdnotify, drops_malformed_and_oversized_datagrams, .init = setup,
     .fini = teardown, .timeout = 5)
{
    cr_assert_eq(send_to(&n, "garbage", 7, -1), 7);
    size_t big = SDNOTIFY_DATAGRAM_MAX + 1;
    char *buf = malloc(64 * 1024);
    cr_assert(buf);
    memset(buf, 'A', 64 * 1024);
    memcpy(buf, "STATUS=", 7);
    cr_assert_eq(send_to(&n, buf, big, -1), (ssize_t)big);
    cr_assert_eq(send_to(&n, buf, 64 * 1024, -1), 64 * 1024);
    free(buf);
    /* The exact cap still counts. */
    char ok[SDNOTIFY_DATAGRAM_MAX];
    memset(ok, 'B', sizeof(ok));
    memcpy(ok, "STATUS=", 7);
    cr_assert_eq(send_to(&n, ok, sizeof(ok), -1), (ssize_t)sizeof(ok));
    RUN_UNTIL(loop, msgs == 1);
    cr_expect_eq(msgs, 1);
    cr_expect_eq(n.dropped[SDNOTIFY_DROP_MALFORMED], 1);
    cr_expect_eq(n.dropped[SDNOTIFY_DROP_OVERSIZED], 2);
}

Test(sdnotify, closes_passed_descriptors, .init = setup, .fini = teardown,
     .timeout = 5)
{
    int p[2];
    cr_assert_eq(pipe(p), 0);
    cr_assert_eq(send_to(&n, "READY=1", 7, p[1]), 7);
    close(p[1]);
    RUN_UNTIL(loop, msgs == 1);
    cr_expect_eq(msgs, 1);
    cr_expect_eq(n.fds_closed, 1);
    /* sidecar kept no copy: the pipe's last writer is gone. */
    char c;
    cr_expect_eq(read(p[0], &c, 1), 0);
    close(p[0]);
}

/* The kernel queues few datagrams (net.unix.max_dgram_qlen): a flooding
 * sender blocks while the loop reads, and none is lost. */
Test(sdnotify, a_flood_is_read_without_loss, .init = setup, .fini = teardown,
     .timeout = 20)
{
    enum { FLOOD = 5000 };
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        for (int i = 0; i < FLOOD; i++) {
            while (send_to(&n, "WATCHDOG=1", 10, -1) != 10)
                nanosleep(&(struct timespec){0, 100000}, NULL);
        }
        _exit(0);
    }
    allowed = pid;
    for (int i = 0; i < 15000 && msgs < FLOOD; i++) {
        ev_run(loop, EVRUN_NOWAIT);
        nanosleep(&(struct timespec){0, 100000}, NULL);
    }
    int st;
    cr_assert_eq(waitpid(pid, &st, 0), pid);
    cr_expect_eq(msgs, FLOOD);
    cr_expect(last.watchdog);
    cr_expect_eq(sdnotify_dropped(&n), 0);
}

Test(sdnotify, close_stops_reading, .init = setup, .fini = teardown,
     .timeout = 5)
{
    char addr[SDNOTIFY_ADDR_MAX];
    strcpy(addr, n.addr);
    sdnotify_close(&n);
    cr_expect(!sdnotify_is_open(&n));
    sdnotify_close(&n);
    strcpy(n.addr, addr);
    cr_expect_lt(send_to(&n, "READY=1", 7, -1), 0, "nobody listens there");
    n.addr[0] = '\0';
}
