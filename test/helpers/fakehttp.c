/*
 * fakehttp: the HTTP target the probe tests control. One thread, poll(),
 * non-blocking sockets, hundreds of connections; one request per
 * connection (the answer says "Connection: close"). Dies with its parent.
 *
 *   fakehttp PORTFILE             serve on 127.0.0.1, an ephemeral port
 *                                 written to PORTFILE (atomically)
 *   fakehttp --tcp-only PORTFILE  accept connections and close them
 *   --port N (before PORTFILE)    serve on port N instead (SO_REUSEPORT:
 *                                 the test holds N, see h_reserve_port)
 *
 *   /healthz      200, body "ok"
 *   /reset        the connection reset (RST) instead of an answer
 *   /garbage      bytes that are not HTTP, then close
 *   /trickle      a valid 200, sent one byte a second
 *   /status/NNN   status NNN, body "status NNN"
 *   /body/TEXT    200, body TEXT (%XX decoded)
 *   /slow/MS      200 after MS milliseconds, body "slow MS"
 *   /hang         never answers
 *   /file/NAME    the status written in NAME, a file beside PORTFILE
 *                 (404 when missing), body "status NNN"
 *   /redirect     302 to /status/200
 *   /to/LOCATION  302 to LOCATION (%XX decoded): relative or absolute
 *   /hops/N       302 to /hops/N-1; /hops/0 is 200, body "arrived"
 *   /record/NAME  200; the request's head is written to NAME, a file
 *                 beside PORTFILE
 *   /method/NAME  200 when the request's method is NAME, else 405
 *   /header/NAME/VALUE
 *                 200 when the request has the header NAME: VALUE (name
 *                 in any case), else 400
 */
#define _DEFAULT_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define REQ_MAX  8192
#define RESP_MAX 8192

enum conn_state {
    READING, /* until the end of the request head */
    WAITING, /* a /slow answer, due at conn.due */
    WRITING,
    HANGING,   /* reads and drops whatever comes, answers never */
    TRICKLING, /* writes one byte at conn.due, then a second later */
    RESETTING, /* closes with SO_LINGER 0: the peer sees a reset */
};

struct conn {
    int fd;
    enum conn_state state;
    long long due; /* ms, monotonic */
    size_t in_len;
    size_t out_len;
    size_t out_off;
    char in[REQ_MAX];
    char out[RESP_MAX];
};

static struct conn **conns;
static size_t nconns;
static size_t cap;
static char dir[PATH_MAX];
static bool tcp_only;
static long long accept_paused_until; /* ms; after EMFILE or ENFILE */

static long long now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void die(const char *what)
{
    fprintf(stderr, "fakehttp: %s: %s\n", what, strerror(errno));
    exit(1);
}

static const char *status_text(int status)
{
    switch (status) {
    case 200:
        return "OK";
    case 204:
        return "No Content";
    case 301:
        return "Moved Permanently";
    case 302:
        return "Found";
    case 400:
        return "Bad Request";
    case 404:
        return "Not Found";
    case 500:
        return "Internal Server Error";
    case 503:
        return "Service Unavailable";
    default:
        return "Whatever";
    }
}

static void respond(struct conn *c, int status, const char *extra,
                    const char *body, bool head)
{
    size_t blen;
    int n;

    /* These never carry a body (RFC 9110 6.4.1). */
    if (status < 200 || status == 204 || status == 304)
        body = "";
    blen = strlen(body);
    n = snprintf(c->out, sizeof(c->out),
                 "HTTP/1.1 %d %s\r\n"
                 "Content-Type: text/plain\r\n"
                 "Content-Length: %zu\r\n"
                 "Connection: close\r\n"
                 "%s"
                 "\r\n"
                 "%s",
                 status, status_text(status), blen, extra, head ? "" : body);
    if (n < 0 || (size_t)n >= sizeof(c->out))
        n = snprintf(c->out, sizeof(c->out),
                     "HTTP/1.1 500 Too Long\r\nContent-Length: 0\r\n"
                     "Connection: close\r\n\r\n");
    c->out_len = (size_t)n;
    c->out_off = 0;
    c->state = WRITING;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static void url_decode(char *s)
{
    char *w = s;

    for (char *r = s; *r; r++) {
        if (r[0] == '%' && hexval(r[1]) >= 0 && hexval(r[2]) >= 0) {
            *w++ = (char)(hexval(r[1]) * 16 + hexval(r[2]));
            r += 2;
        } else {
            *w++ = *r;
        }
    }
    *w = '\0';
}

/* Status from file dir/name; -1 when it cannot be read. */
static int file_status(const char *name)
{
    char path[PATH_MAX + 256];
    char text[32];
    FILE *f;
    size_t n;
    int w;

    if (strchr(name, '/') != NULL || name[0] == '.' || name[0] == '\0' ||
        strlen(name) > 255)
        return -1;
    w = snprintf(path, sizeof(path), "%s/%.255s", dir, name);
    if (w < 0 || (size_t)w >= sizeof(path))
        return -1;
    f = fopen(path, "r");
    if (f == NULL)
        return -1;
    n = fread(text, 1, sizeof(text) - 1, f);
    fclose(f);
    text[n] = '\0';
    return atoi(text);
}

/* Writes text to dir/name (a plain name), for the test to read. */
static void record(const char *name, const char *text)
{
    char path[PATH_MAX + 256];
    FILE *f;
    int w;

    if (strchr(name, '/') != NULL || name[0] == '.' || strlen(name) > 255)
        return;
    w = snprintf(path, sizeof(path), "%s/%.255s", dir, name);
    if (w < 0 || (size_t)w >= sizeof(path))
        return;
    f = fopen(path, "w");
    if (f == NULL)
        return;
    fputs(text, f);
    fclose(f);
}

/* True when request holds the header spec "NAME/VALUE" (name: any case). */
static bool has_header(const char *request, const char *spec)
{
    const char *slash = strchr(spec, '/');
    if (slash == NULL)
        return false;
    size_t nlen = (size_t)(slash - spec);
    const char *line = strstr(request, "\r\n");
    while (line != NULL) {
        line += 2;
        if (strncasecmp(line, spec, nlen) == 0 && line[nlen] == ':') {
            const char *v = line + nlen + 1;
            while (*v == ' ')
                v++;
            size_t vlen = strlen(slash + 1);
            if (strncmp(v, slash + 1, vlen) == 0 && v[vlen] == '\r')
                return true;
        }
        line = strstr(line, "\r\n");
    }
    return false;
}

static void handle(struct conn *c)
{
    char method[16];
    char path[REQ_MAX];
    char body[REQ_MAX + 32];
    bool head;
    int status;

    c->in[c->in_len] = '\0';
    if (sscanf(c->in, "%15s %8191s", method, path) != 2) {
        respond(c, 400, "", "bad request", false);
        return;
    }
    head = strcmp(method, "HEAD") == 0;
    if (strcmp(path, "/healthz") == 0) {
        respond(c, 200, "", "ok", head);
    } else if (strncmp(path, "/status/", 8) == 0) {
        status = atoi(path + 8);
        if (status < 100 || status > 999)
            status = 400;
        snprintf(body, sizeof(body), "status %d", status);
        respond(c, status, "", body, head);
    } else if (strncmp(path, "/body/", 6) == 0) {
        url_decode(path + 6);
        respond(c, 200, "", path + 6, head);
    } else if (strncmp(path, "/slow/", 6) == 0) {
        snprintf(body, sizeof(body), "slow %s", path + 6);
        respond(c, 200, "", body, head);
        c->state = WAITING;
        c->due = now_ms() + atoll(path + 6);
    } else if (strcmp(path, "/hang") == 0) {
        c->state = HANGING;
    } else if (strcmp(path, "/reset") == 0) {
        struct linger l = {.l_onoff = 1, .l_linger = 0};
        setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
        c->state = RESETTING;
    } else if (strcmp(path, "/garbage") == 0) {
        static const char junk[] =
            "\x16\x03\x01 not http at all \xff\xfe\r\n\r\n";
        memcpy(c->out, junk, sizeof(junk) - 1);
        c->out_len = sizeof(junk) - 1;
        c->out_off = 0;
        c->state = WRITING;
    } else if (strcmp(path, "/trickle") == 0) {
        respond(c, 200, "", "trickled", head);
        c->state = TRICKLING;
        c->due = now_ms();
    } else if (strncmp(path, "/file/", 6) == 0) {
        status = file_status(path + 6);
        if (status < 100 || status > 999) {
            respond(c, 404, "", "no such file", head);
            return;
        }
        snprintf(body, sizeof(body), "status %d", status);
        respond(c, status, "", body, head);
    } else if (strcmp(path, "/redirect") == 0) {
        respond(c, 302, "Location: /status/200\r\n", "redirect", head);
    } else if (strncmp(path, "/to/", 4) == 0) {
        url_decode(path + 4);
        snprintf(body, sizeof(body), "Location: %s\r\n", path + 4);
        respond(c, 302, body, "moved", head);
    } else if (strncmp(path, "/hops/", 6) == 0) {
        status = atoi(path + 6);
        snprintf(body, sizeof(body), "Location: /hops/%d\r\n", status - 1);
        respond(c, status > 0 ? 302 : 200, status > 0 ? body : "",
                status > 0 ? "hop" : "arrived", head);
    } else if (strncmp(path, "/record/", 8) == 0) {
        record(path + 8, c->in);
        respond(c, 200, "", "recorded", head);
    } else if (strncmp(path, "/method/", 8) == 0) {
        bool same = strcmp(method, path + 8) == 0;
        snprintf(body, sizeof(body), "method %s", method);
        respond(c, same ? 200 : 405, "", body, head);
    } else if (strncmp(path, "/header/", 8) == 0) {
        respond(c, has_header(c->in, path + 8) ? 200 : 400, "", "header", head);
    } else {
        respond(c, 404, "", "not found", head);
    }
}

static void drop(size_t i)
{
    close(conns[i]->fd);
    free(conns[i]);
    conns[i] = conns[--nconns];
}

static void accept_all(int lfd)
{
    for (;;) {
        int fd = accept(lfd, NULL, NULL);
        struct conn *c;

        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            /* Out of descriptors: the backlog waits 10 ms, not a spin. */
            if (errno == EMFILE || errno == ENFILE)
                accept_paused_until = now_ms() + 10;
            return;
        }
        if (tcp_only || fcntl(fd, F_SETFL, O_NONBLOCK) < 0) {
            close(fd);
            continue;
        }
        if (nconns == cap) {
            size_t ncap = cap ? cap * 2 : 64;
            struct conn **n = realloc(conns, ncap * sizeof(*n));

            if (n == NULL) {
                close(fd);
                continue;
            }
            conns = n;
            cap = ncap;
        }
        c = malloc(sizeof(*c));
        if (c == NULL) {
            close(fd);
            continue;
        }
        c->fd = fd;
        c->state = READING;
        c->in_len = 0;
        conns[nconns++] = c;
    }
}

/* Advances one connection; false when it is done with. */
static bool step(struct conn *c, short revents)
{
    ssize_t n;

    if (c->state == READING || c->state == HANGING) {
        if (!(revents & (POLLIN | POLLHUP | POLLERR)))
            return true;
        if (c->state == HANGING)
            c->in_len = 0;
        n = read(c->fd, c->in + c->in_len, sizeof(c->in) - 1 - c->in_len);
        if (n < 0)
            return errno == EAGAIN || errno == EINTR;
        if (n == 0)
            return false;
        if (c->state == HANGING)
            return true;
        c->in_len += (size_t)n;
        c->in[c->in_len] = '\0';
        if (strstr(c->in, "\r\n\r\n") != NULL)
            handle(c);
        else if (c->in_len == sizeof(c->in) - 1)
            respond(c, 400, "", "request too long", false);
        else
            return true;
    }
    if (c->state == RESETTING)
        return false;
    if (c->state == TRICKLING) {
        if (now_ms() < c->due)
            return true;
        n = send(c->fd, c->out + c->out_off, 1, MSG_NOSIGNAL);
        if (n < 0)
            return errno == EAGAIN || errno == EINTR;
        c->due = now_ms() + 1000;
        return ++c->out_off < c->out_len;
    }
    if (c->state == WAITING) {
        if (now_ms() < c->due)
            return true;
        c->state = WRITING;
    }
    if (c->state == WRITING) {
        n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off,
                 MSG_NOSIGNAL);
        if (n < 0)
            return errno == EAGAIN || errno == EINTR;
        c->out_off += (size_t)n;
        if (c->out_off < c->out_len)
            return true;
        shutdown(c->fd, SHUT_WR);
        return false;
    }
    return true;
}

static short wanted(const struct conn *c)
{
    switch (c->state) {
    case READING:
    case HANGING:
        return POLLIN;
    case WRITING:
        return POLLOUT;
    case RESETTING:
        return POLLOUT;
    case WAITING:
    case TRICKLING:
        return 0;
    }
    return 0;
}

static void serve(int lfd)
{
    struct pollfd *pfds = NULL;
    size_t pcap = 0;

    for (;;) {
        long long now = now_ms();
        long long next = -1;

        if (nconns + 1 > pcap) {
            pcap = (nconns + 1) * 2;
            free(pfds);
            pfds = malloc(pcap * sizeof(*pfds));
            if (pfds == NULL)
                die("malloc");
        }
        pfds[0].fd = now < accept_paused_until ? -1 : lfd;
        pfds[0].events = POLLIN;
        pfds[0].revents = 0;
        if (pfds[0].fd < 0)
            next = accept_paused_until - now;
        for (size_t i = 0; i < nconns; i++) {
            pfds[i + 1].fd = conns[i]->fd;
            pfds[i + 1].events = wanted(conns[i]);
            pfds[i + 1].revents = 0;
            bool timed =
                conns[i]->state == WAITING || conns[i]->state == TRICKLING;
            if (timed && (next < 0 || conns[i]->due - now < next))
                next = conns[i]->due > now ? conns[i]->due - now : 0;
        }
        if (poll(pfds, nconns + 1, next < 0 ? 1000 : (int)next) < 0) {
            if (errno == EINTR)
                continue;
            die("poll");
        }
        if (getppid() == 1)
            exit(0);
        /* Backwards: drop() moves the last connection into slot i. */
        for (size_t i = nconns; i > 0; i--) {
            if (!step(conns[i - 1], pfds[i].revents))
                drop(i - 1);
        }
        if (pfds[0].revents & POLLIN)
            accept_all(lfd);
    }
}

static void write_port(const char *portfile, unsigned port)
{
    char tmp[PATH_MAX];
    FILE *f;

    snprintf(tmp, sizeof(tmp), "%s.tmp.%d", portfile, (int)getpid());
    f = fopen(tmp, "w");
    if (f == NULL)
        die(tmp);
    fprintf(f, "%u\n", port);
    if (fclose(f) != 0)
        die(tmp);
    if (rename(tmp, portfile) != 0)
        die("rename");
}

int main(int argc, char **argv)
{
    struct sockaddr_in sa;
    socklen_t salen = sizeof(sa);
    struct rlimit rl;
    const char *portfile;
    char *slash;
    int one = 1;
    int lfd;

    int arg = 1;
    unsigned port = 0;
    if (arg < argc && strcmp(argv[arg], "--tcp-only") == 0) {
        tcp_only = true;
        arg++;
    }
    bool bad_port = false;
    if (arg + 1 < argc && strcmp(argv[arg], "--port") == 0) {
        char *end;
        unsigned long n = strtoul(argv[arg + 1], &end, 10);
        bad_port = *end || end == argv[arg + 1] || n == 0 || n > 65535;
        port = (unsigned)n;
        arg += 2;
    }
    if (arg + 1 != argc || bad_port) {
        fprintf(stderr, "usage: fakehttp [--tcp-only] [--port N] PORTFILE\n");
        return 2;
    }
    portfile = argv[arg];
    /* The parent's death kills us; if it is already gone, go now. */
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0)
        die("prctl");
    if (getppid() == 1)
        return 0;
    signal(SIGPIPE, SIG_IGN);
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        (void)setrlimit(RLIMIT_NOFILE, &rl);
    }

    snprintf(dir, sizeof(dir), "%s", portfile);
    slash = strrchr(dir, '/');
    if (slash == NULL)
        snprintf(dir, sizeof(dir), ".");
    else if (slash == dir)
        dir[1] = '\0';
    else
        *slash = '\0';

    lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (lfd < 0)
        die("socket");
    if (setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0)
        die("setsockopt");
    /* A chosen port is one the test holds with h_reserve_port(). */
    if (port != 0 &&
        setsockopt(lfd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) != 0)
        die("setsockopt");
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    sa.sin_port = htons((uint16_t)port);
    if (bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) != 0)
        die("bind");
    if (listen(lfd, SOMAXCONN) != 0)
        die("listen");
    if (getsockname(lfd, (struct sockaddr *)&sa, &salen) != 0)
        die("getsockname");
    write_port(portfile, ntohs(sa.sin_port));
    serve(lfd);
    return 0;
}
