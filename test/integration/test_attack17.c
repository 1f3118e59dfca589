/*
 * Issue 17's native http probe attacked by hostile servers (forked
 * children): what the verdict and its reason must be, the same as libcurl
 * gave for the same answers.
 */
#define _DEFAULT_SOURCE
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

static struct harness H;
static pid_t servers[4];
static size_t nservers;

static void teardown(void)
{
    for (size_t i = 0; i < nservers; i++) {
        kill(servers[i], SIGKILL);
        waitpid(servers[i], NULL, 0);
    }
    nservers = 0;
    h_cleanup(&H);
}

#define T(name, secs) Test(attack17, name, .timeout = secs, .fini = teardown)

/*
 * A server in a child, one connection at a time: reads the request, sends
 * head, then fill over and over until the client goes or 20 s pass.
 * Returns its port.
 */
static int serve(const char *head, const char *fill)
{
    int port;
    int fd = h_listen(&port);
    pid_t pid;

    cr_assert_geq(fd, 0);
    cr_assert_lt(nservers, sizeof(servers) / sizeof(servers[0]));
    pid = fork();
    cr_assert_geq(pid, 0);
    if (pid > 0) {
        servers[nservers++] = pid;
        close(fd);
        return port;
    }
    alarm(30);
    for (;;) {
        int c = accept(fd, NULL, NULL);
        char req[4096];
        size_t got = 0;
        double end = h_now() + 20;

        if (c < 0)
            _exit(1);
        while (got < sizeof(req) - 1) {
            ssize_t r = read(c, req + got, sizeof(req) - 1 - got);
            if (r <= 0)
                break;
            got += (size_t)r;
            req[got] = '\0';
            if (strstr(req, "\r\n\r\n"))
                break;
        }
        if (send(c, head, strlen(head), MSG_NOSIGNAL) >= 0) {
            while (fill && h_now() < end &&
                   send(c, fill, strlen(fill), MSG_NOSIGNAL) >= 0)
                ;
        }
        close(c);
    }
}

static char yaml[4096];

static void expect_state(const char *probe, const char *to, const char *reason)
{
    size_t from = 0;
    long i = h_wait_probe_state(&H, &from, probe, to, H_WAIT);

    cr_assert_geq(i, 0, "%s never went %s", probe, to);
    cr_expect_str_eq(h_str(&H, i, "reason"), reason, "probe %s", probe);
}

/* Without expect_body, at most 64 KiB of a body is read, as libcurl did:
 * a body of spaces that never ends (no excerpt fills) is no timeout. */
T(an_endless_body_of_spaces_is_read_to_64_kib_only, 30)
{
    static char blanks[4097];
    int ok, down;

    memset(blanks, ' ', sizeof(blanks) - 1);
    blanks[100] = '\n';
    ok = serve("HTTP/1.1 200 OK\r\n\r\n", blanks);
    down =
        serve("HTTP/1.1 503 No\r\nContent-Length: 1000000000\r\n\r\n", blanks);
    snprintf(yaml, sizeof(yaml),
             "probes:\n"
             "  ok:\n"
             "    type: http\n"
             "    url: http://127.0.0.1:%d/\n"
             "    period: 3s\n"
             "    timeout: 2s\n"
             "  down:\n"
             "    type: http\n"
             "    url: http://127.0.0.1:%d/\n"
             "    period: 3s\n"
             "    timeout: 2s\n"
             "    failure_threshold: 1\n",
             ok, down);
    h_start(&H, yaml);
    expect_state("ok", "passing", "HTTP 200");
    expect_state("down", "failing", "HTTP 503: ...");
    h_signal(&H, SIGTERM);
    cr_expect_eq(h_wait_exit(&H, 10), 0);
}
