/*
 * One attempt: socket(SOCK_NONBLOCK | SOCK_CLOEXEC), connect(), and on
 * EINPROGRESS an ev_io for writability and SO_ERROR; on failure the next
 * address in the order given. Results known inside connector_start() are fed
 * to io_w (ev(3) "AVOIDING FINISHING BEFORE RETURNING").
 */
#define _DEFAULT_SOURCE /* SOCK_NONBLOCK, SOCK_CLOEXEC */
#include "probes/connect.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static void complete(struct connector *c, int fd_or_err)
{
    if (c->starting) {
        /* Delivered by on_io(); busy until then. */
        c->result = fd_or_err < 0 ? fd_or_err : 0;
        c->fd = fd_or_err < 0 ? -1 : fd_or_err;
        ev_feed_event(c->loop, &c->io_w, EV_CUSTOM);
        return;
    }
    c->busy = false;
    c->done(c, fd_or_err);
}

static void connect_failed(struct connector *c, int err)
{
    const union resolve_sa *sa = &c->addrs.addr[c->next - 1];
    char ip[INET6_ADDRSTRLEN] = "?";
    const void *a = sa->sa.sa_family == AF_INET6
                        ? (const void *)&sa->in6.sin6_addr
                        : (const void *)&sa->in.sin_addr;

    c->err = err;
    inet_ntop(sa->sa.sa_family, a, ip, sizeof(ip));
    /* The address tried says which, when a name has several. */
    if (c->addrs.count > 1)
        snprintf(c->error, sizeof(c->error), "cannot connect to %s (%s): %s",
                 c->label, ip, strerror(err));
    else
        snprintf(c->error, sizeof(c->error), "cannot connect to %s: %s",
                 c->label, strerror(err));
}

/*
 * Whether a connect that said EINPROGRESS is done already: on loopback the
 * handshake runs inside connect(), and one getsockopt() then spares a
 * watcher, a wake-up of the loop and SO_ERROR.
 */
static bool established(int fd)
{
    struct tcp_info info;
    socklen_t len = sizeof(info);

    return getsockopt(fd, IPPROTO_TCP, TCP_INFO, &info, &len) == 0 &&
           info.tcpi_state == TCP_ESTABLISHED;
}

/* Tries the addresses left, until one connects or is in progress. */
static void try_next(struct connector *c)
{
    while (c->next < c->addrs.count) {
        const union resolve_sa *sa = &c->addrs.addr[c->next++];
        int fd = socket(sa->sa.sa_family,
                        SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0) {
            connect_failed(c, errno);
            continue;
        }
        if (connect(fd, &sa->sa, resolve_sa_len(sa)) == 0 ||
            (errno == EINPROGRESS && established(fd))) {
            complete(c, fd);
            return;
        }
        if (errno == EINPROGRESS) {
            c->fd = fd;
            ev_io_set(&c->io_w, fd, EV_WRITE);
            ev_io_start(c->loop, &c->io_w);
            return;
        }
        connect_failed(c, errno);
        close(fd);
    }
    complete(c, -c->err);
}

static void on_io(EV_P_ ev_io *w, int revents)
{
    struct connector *c = container_of(w, struct connector, io_w);
    int fd = c->fd;
    int err = 0;
    socklen_t len = sizeof(err);

    if (revents & EV_CUSTOM) {
        c->busy = false;
        c->fd = -1;
        c->done(c, c->result < 0 ? c->result : fd);
        return;
    }
    ev_io_stop(EV_A_ w);
    c->fd = -1;
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
        err = errno;
    if (err == 0) {
        complete(c, fd);
        return;
    }
    close(fd);
    connect_failed(c, err);
    try_next(c);
}

static void on_resolved(void *arg, const struct resolve_addrs *addrs,
                        const char *error)
{
    struct connector *c = arg;

    if (error != NULL) {
        snprintf(c->error, sizeof(c->error), "cannot resolve %s: %s", c->name,
                 error);
        complete(c, -EHOSTUNREACH);
        return;
    }
    c->addrs = *addrs;
    try_next(c);
}

void connector_init(struct connector *c, struct ev_loop *loop,
                    const char *label, connector_fn *done)
{
    memset(c, 0, sizeof(*c));
    c->loop = loop;
    c->label = label;
    c->fd = -1;
    c->done = done;
    ev_init(&c->io_w, on_io);
}

int connector_start(struct connector *c, const union resolve_sa *addr,
                    struct resolver *r, const char *name, unsigned port)
{
    int rc = 0;

    if (c->busy)
        return -EBUSY;
    c->busy = true;
    c->starting = true;
    c->error[0] = '\0';
    c->next = 0;
    c->err = EHOSTUNREACH; /* replaced by the first address's */
    c->name = name;
    if (addr != NULL) {
        c->addrs.count = 1;
        c->addrs.addr[0] = *addr;
        try_next(c);
    } else {
        rc = resolver_lookup(r, name, port, on_resolved, c, &c->query);
        if (rc < 0)
            c->busy = false;
    }
    c->starting = false;
    return rc;
}

void connector_cancel(struct connector *c)
{
    resolve_cancel(&c->query);
    ev_io_stop(c->loop, &c->io_w);
    ev_clear_pending(c->loop, &c->io_w);
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    c->busy = false;
}

int connect_target_set(struct connect_target *t, const char *host, size_t len,
                       unsigned port)
{
    bool brackets = len >= 2 && host[0] == '[' && host[len - 1] == ']';
    const char *bare = brackets ? host + 1 : host;
    size_t n = brackets ? len - 2 : len;
    int rc;
    int w;

    if (n == 0 || n >= sizeof(t->host) || memchr(bare, '\0', n) != NULL)
        return -EINVAL;
    memcpy(t->host, bare, n);
    t->host[n] = '\0';
    rc = resolve_literal(t->host, port, &t->addr);
    if (rc < 0)
        return rc;
    t->literal = rc == 1;
    t->port = port;
    w = snprintf(t->label, sizeof(t->label),
                 memchr(t->host, ':', n) ? "[%s]:%u" : "%s:%u", t->host, port);
    return w < 0 || (size_t)w >= sizeof(t->label) ? -EINVAL : 0;
}

int connector_start_at(struct connector *c, const struct connect_target *t,
                       struct resolver *r)
{
    c->label = t->label; /* a redirect may connect elsewhere */
    if (t->literal)
        return connector_start(c, &t->addr, NULL, NULL, 0);
    return connector_start(c, NULL, r, t->host, t->port);
}
