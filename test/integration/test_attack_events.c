/*
 * GET /events attacked from outside: clients connecting and leaving in a
 * storm while sidecar stops or reloads, hostile Last-Event-IDs.
 */
#define _DEFAULT_SOURCE
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

static struct harness H;
static pid_t storm_pid;

static void teardown(void)
{
    if (storm_pid > 0) {
        kill(storm_pid, SIGKILL);
        waitpid(storm_pid, NULL, 0);
        storm_pid = 0;
    }
    h_cleanup(&H);
}

#define T(name, secs)                                                          \
    Test(attack_events, name, .timeout = secs, .fini = teardown)

static const char yaml[] = "services:\n"
                           "  web:\n"
                           "    role: main\n"
                           "    command: ['@HELPER@', 'run', 'web', "
                           "'@DIR@/log']\n";

/*
 * A child that subscribes without end, a client a millisecond, each
 * leaving 64 clients later: new ones are always in the listen queue,
 * their requests sent. It ends when nothing listens any more.
 */
static pid_t storm(int port)
{
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid > 0)
        return pid;
    static const char req[] = "GET /events HTTP/1.1\r\nHost: x\r\n\r\n";
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int fds[64];
    for (size_t i = 0; i < 64; i++)
        fds[i] = -1;
    for (size_t i = 0;; i = (i + 1) % 64) {
        if (fds[i] >= 0)
            close(fds[i]);
        fds[i] = socket(AF_INET, SOCK_STREAM, 0);
        if (fds[i] < 0 || connect(fds[i], (struct sockaddr *)&a, sizeof(a)) < 0)
            _exit(0);
        if (write(fds[i], req, sizeof(req) - 1) < 0)
            _exit(0);
        poll(NULL, 0, 1);
    }
}

T(sigterm_in_a_storm_of_subscribers_ends_cleanly, 60)
{
    h_start(&H, yaml);
    int port = h_http_port(&H);
    cr_assert_geq(h_wait_event(&H, 0, H_WAIT, "service started", "web"), 0);
    storm_pid = storm(port);
    /* The storm is under way: its clients show in /metrics. */
    char body[65536];
    double end = h_now() + H_WAIT;
    while (h_now() < end) {
        if (h_get(&H, "/metrics", body, sizeof(body)) == 200 &&
            h_metric(body, "sidecar_event_subscribers") >= 8)
            break;
        poll(NULL, 0, 20);
    }
    h_signal(&H, SIGTERM);
    /* fakesvc ends with 0 on SIGTERM; an abort would be 134. */
    int code = h_wait_exit(&H, H_WAIT);
    cr_expect_eq(code, 0, "exit status %d", code);
}

/* The first "id: N" of a stream asked for with the header line hdr. */
static unsigned long long first_id(int port, const char *hdr)
{
    char req[256];
    char buf[8192];
    size_t len = 0;
    int fd = h_connect(port);
    cr_assert_geq(fd, 0);
    int n =
        snprintf(req, sizeof(req), "GET /events HTTP/1.0\r\n%s\r\n\r\n", hdr);
    cr_assert_eq(write(fd, req, (size_t)n), n);
    const char *id = NULL;
    for (double end = h_now() + H_WAIT; !id && h_now() < end;) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, 100) <= 0)
            continue;
        ssize_t r = read(fd, buf + len, sizeof(buf) - 1 - len);
        if (r <= 0)
            break;
        len += (size_t)r;
        buf[len] = '\0';
        id = strstr(buf, "\nid: ");
    }
    close(fd);
    cr_assert(id, "%s", buf);
    return strtoull(id + 5, NULL, 10);
}

/* Blanks around a header's value are not part of it (RFC 9110 5.5). */
T(last_event_id_with_trailing_blanks_resumes, 30)
{
    h_start(&H, yaml);
    int port = h_http_port(&H);
    cr_assert_geq(h_wait_event(&H, 0, H_WAIT, "service started", "web"), 0);
    /* An earlier process's id: the whole ring, from this one's first. */
    unsigned long long first = first_id(port, "Last-Event-ID: 1");
    char hdr[64];
    const char *tails[] = {"", " ", " \t"};
    for (size_t i = 0; i < 3; i++) {
        snprintf(hdr, sizeof(hdr), "Last-Event-ID: %llu%s", first + 1,
                 tails[i]);
        cr_expect_eq(first_id(port, hdr), first + 2, "'%s'", hdr);
    }
    /* Not an id: the replay, all of it while there are fewer than 20. */
    snprintf(hdr, sizeof(hdr), "Last-Event-ID: %llux", first + 1);
    cr_expect_eq(first_id(port, hdr), first);
}
