/*
 * bench/answerfloor.c — the floor under bench/http (not a test).
 *
 *   answerfloor PORTFILE
 *
 * The least an HTTP server can do: one thread, epoll, keep-alive, and
 * to every request (counted by its blank line) the same 200 answer as
 * sidecar's /readyz, written at once; a request saying "Connection: close"
 * has the connection closed after its answer. It binds 127.0.0.1 port 0, writes
 * the port to PORTFILE and serves until killed (or its parent dies).
 * wrk's latency against it, with sidecar running beside it, is what this
 * machine gives any server: what is left over is the server's own.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

static const char ANSWER[] = "HTTP/1.1 200 OK\r\n"
                             "Content-Type: text/plain; charset=utf-8\r\n"
                             "Cache-Control: no-store\r\n"
                             "Content-Length: 3\r\n\r\nok\n";

/* Requests that end in buf; *state carries "\r\n\r\n" matched so far. */
static int count_requests(const char *buf, ssize_t n, int *state)
{
    static const char end[] = "\r\n\r\n";
    int requests = 0;

    for (ssize_t i = 0; i < n; i++) {
        if (buf[i] == end[*state])
            (*state)++;
        else
            *state = buf[i] == '\r' ? 1 : 0;
        if (*state == 4) {
            requests++;
            *state = 0;
        }
    }
    return requests;
}

int main(int argc, char **argv)
{
    static int state[65536];
    struct sockaddr_in addr = {.sin_family = AF_INET};
    socklen_t addr_len = sizeof(addr);
    struct epoll_event ev = {.events = EPOLLIN};
    struct epoll_event ready[64];
    int one = 1;
    int lfd;
    int ep;
    FILE *f;

    if (argc != 2) {
        fprintf(stderr, "usage: answerfloor PORTFILE\n");
        return 2;
    }
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    signal(SIGPIPE, SIG_IGN);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    ep = epoll_create1(EPOLL_CLOEXEC);
    if (lfd < 0 || ep < 0 ||
        setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
        bind(lfd, (struct sockaddr *)&addr, sizeof(addr)) < 0 ||
        listen(lfd, 1024) < 0 ||
        getsockname(lfd, (struct sockaddr *)&addr, &addr_len) < 0) {
        perror("answerfloor");
        return 1;
    }
    ev.data.fd = lfd;
    epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
    f = fopen(argv[1], "w");
    if (!f || fprintf(f, "%d\n", ntohs(addr.sin_port)) < 0 || fclose(f)) {
        perror(argv[1]);
        return 1;
    }
    for (;;) {
        int n = epoll_wait(ep, ready, 64, -1);

        for (int i = 0; i < n; i++) {
            int fd = ready[i].data.fd;
            char buf[4096];
            ssize_t got;
            int requests;

            if (fd == lfd) {
                int c = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

                if (c < 0 || c >= 65536) {
                    if (c >= 0)
                        close(c);
                    continue;
                }
                setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
                state[c] = 0;
                ev.data.fd = c;
                epoll_ctl(ep, EPOLL_CTL_ADD, c, &ev);
                continue;
            }
            got = read(fd, buf, sizeof(buf));
            if (got <= 0) {
                close(fd);
                continue;
            }
            requests = count_requests(buf, got, &state[fd]);
            while (requests-- > 0)
                if (write(fd, ANSWER, sizeof(ANSWER) - 1) < 0)
                    break;
            /* wrk's -H "Connection: close": a new connection per request */
            if (memmem(buf, (size_t)got, "Connection: close", 17))
                close(fd);
        }
    }
}
