/*
 * Literals by inet_pton; names by c-ares, whose sockets and timeouts the
 * loop drives (ARES_OPT_SOCK_STATE_CB, ares_process_fd, ares_timeout):
 * single-threaded, where libcurl's resolver on Debian is a thread per
 * lookup.
 */
#define _DEFAULT_SOURCE /* if_nametoindex, struct ares_addrinfo's types */
#include "probes/resolve.h"

#include <ares.h>
#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A c-ares socket the loop watches. */
struct rsock {
    ev_io w;
    struct resolver *r;
    struct rsock *next;
};

struct resolver {
    struct ev_loop *loop;
    ares_channel channel;
    ev_timer timer_w;
    struct rsock *socks;
};

struct resolve_query {
    struct resolve_query **slot; /* NULL once cancelled */
    resolve_fn *cb;
    void *arg;
};

socklen_t resolve_sa_len(const union resolve_sa *sa)
{
    return sa->sa.sa_family == AF_INET6 ? sizeof(sa->in6) : sizeof(sa->in);
}

static bool is_name(const char *s, size_t n)
{
    static const char ok[] = "abcdefghijklmnopqrstuvwxyz"
                             "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_";

    for (size_t i = 0; i < n; i++) {
        if (s[i] == '\0' || strchr(ok, s[i]) == NULL)
            return false;
    }
    return n > 0;
}

/* s[0..n) an IPv6 literal with an optional "%zone", into sa. */
static int parse_ipv6(const char *s, size_t n, unsigned port,
                      union resolve_sa *sa)
{
    char addr[INET6_ADDRSTRLEN];
    char zone[IF_NAMESIZE];
    const char *pct = memchr(s, '%', n);
    size_t len = pct ? (size_t)(pct - s) : n;
    size_t zlen = pct ? n - len - 1 : 0;
    char *end;
    unsigned long index;

    if (len >= sizeof(addr) || memchr(s, ':', len) == NULL)
        return -EINVAL;
    memcpy(addr, s, len);
    addr[len] = '\0';
    memset(sa, 0, sizeof(*sa));
    if (inet_pton(AF_INET6, addr, &sa->in6.sin6_addr) != 1)
        return -EINVAL;
    sa->in6.sin6_family = AF_INET6;
    sa->in6.sin6_port = htons((uint16_t)port);
    if (pct == NULL)
        return 1;
    if (zlen >= sizeof(zone) || !is_name(pct + 1, zlen))
        return -EINVAL;
    memcpy(zone, pct + 1, zlen);
    zone[zlen] = '\0';
    index = strtoul(zone, &end, 10);
    if (*end != '\0')
        index = if_nametoindex(zone);
    sa->in6.sin6_scope_id = (uint32_t)index;
    return 1;
}

int resolve_literal(const char *host, unsigned port, union resolve_sa *sa)
{
    size_t n = strlen(host);

    if (n >= 2 && host[0] == '[' && host[n - 1] == ']')
        return parse_ipv6(host + 1, n - 2, port, sa);
    if (memchr(host, ':', n) != NULL)
        return parse_ipv6(host, n, port, sa);
    if (!is_name(host, n))
        return -EINVAL;
    memset(sa, 0, sizeof(*sa));
    if (inet_pton(AF_INET, host, &sa->in.sin_addr) != 1)
        return 0;
    sa->in.sin_family = AF_INET;
    sa->in.sin_port = htons((uint16_t)port);
    return 1;
}

/* c-ares' next timeout, or none. */
static void rearm(struct resolver *r)
{
    struct timeval tv;

    ev_timer_stop(r->loop, &r->timer_w);
    if (ares_timeout(r->channel, NULL, &tv) == NULL)
        return;
    ev_timer_set(&r->timer_w, (double)tv.tv_sec + (double)tv.tv_usec / 1e6, 0.);
    ev_timer_start(r->loop, &r->timer_w);
}

static void on_timeout(EV_P_ ev_timer *w, int revents)
{
    struct resolver *r = container_of(w, struct resolver, timer_w);

    (void)loop;
    (void)revents;
    ares_process_fd(r->channel, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
    rearm(r);
}

static void on_sock(EV_P_ ev_io *w, int revents)
{
    struct rsock *s = container_of(w, struct rsock, w);
    struct resolver *r = s->r; /* s may be freed by ares_process_fd() */
    int fd = w->fd;

    (void)loop;
    ares_process_fd(r->channel, revents & EV_READ ? fd : ARES_SOCKET_BAD,
                    revents & EV_WRITE ? fd : ARES_SOCKET_BAD);
    rearm(r);
}

/* c-ares opens, changes or closes a socket: the loop follows. */
static void on_sock_state(void *data, ares_socket_t fd, int readable,
                          int writable)
{
    struct resolver *r = data;
    struct rsock **link = &r->socks;
    struct rsock *s;
    int events = (readable ? EV_READ : 0) | (writable ? EV_WRITE : 0);

    while (*link && (*link)->w.fd != fd)
        link = &(*link)->next;
    s = *link;
    if (s != NULL) {
        ev_io_stop(r->loop, &s->w);
        if (events == 0) {
            *link = s->next;
            free(s);
            return;
        }
    } else if (events != 0) {
        s = calloc(1, sizeof(*s));
        if (s == NULL)
            return; /* the query times out */
        s->r = r;
        s->next = r->socks;
        r->socks = s;
    } else {
        return;
    }
    ev_io_init(&s->w, on_sock, fd, events);
    ev_io_start(r->loop, &s->w);
}

struct resolver *resolver_new(struct ev_loop *loop)
{
    struct resolver *r = calloc(1, sizeof(*r));
    struct ares_options opts = {0};
    int mask = ARES_OPT_SOCK_STATE_CB;
    int version = 0;
    int rc;

    if (r == NULL)
        return NULL;
    rc = ares_library_init(ARES_LIB_INIT_ALL);
    if (rc != ARES_SUCCESS)
        goto out_free;
    r->loop = loop;
    ev_timer_init(&r->timer_w, on_timeout, 0., 0.);
    opts.sock_state_cb = on_sock_state;
    opts.sock_state_cb_data = r;
    /*
     * c-ares before 1.23 ignores resolv.conf's attempts: and tries 4 times
     * (5 + 10 + 20 + 40 s): a lookup into a silent server outlived the
     * probe that gave up on it by a minute and sent 8 queries. glibc's 2
     * tries instead (RES_DFLRETRY), as the resolver libcurl used; a newer
     * c-ares keeps what resolv.conf says.
     */
    (void)ares_version(&version);
    if (version < 0x011700) {
        opts.tries = 2;
        mask |= ARES_OPT_TRIES;
    }
    rc = ares_init_options(&r->channel, &opts, mask);
    if (rc != ARES_SUCCESS)
        goto out_cleanup;
    return r;

out_cleanup:
    ares_library_cleanup();
out_free:
    free(r);
    errno = rc == ARES_ENOMEM ? ENOMEM : EIO;
    return NULL;
}

void resolver_free(struct resolver *r)
{
    if (r == NULL)
        return;
    /* Calls back each query in flight with ARES_EDESTRUCTION. */
    ares_destroy(r->channel);
    while (r->socks) {
        struct rsock *s = r->socks;
        r->socks = s->next;
        ev_io_stop(r->loop, &s->w);
        free(s);
    }
    ev_timer_stop(r->loop, &r->timer_w);
    ares_library_cleanup();
    free(r);
}

static void on_answer(void *arg, int status, int timeouts,
                      struct ares_addrinfo *res)
{
    struct resolve_query *q = arg;
    struct resolve_addrs addrs = {0};
    const char *error = NULL;

    (void)timeouts;
    if (q->slot == NULL)
        goto out_free;
    *q->slot = NULL;
    for (const struct ares_addrinfo_node *n = res ? res->nodes : NULL;
         n && addrs.count < RESOLVE_ADDRS_MAX; n = n->ai_next) {
        union resolve_sa *sa = &addrs.addr[addrs.count];
        if (n->ai_family != AF_INET && n->ai_family != AF_INET6)
            continue;
        if (n->ai_addrlen > sizeof(*sa))
            continue;
        memcpy(sa, n->ai_addr, n->ai_addrlen);
        addrs.count++;
    }
    if (status != ARES_SUCCESS)
        error = ares_strerror(status);
    else if (addrs.count == 0)
        error = "no IPv4 or IPv6 address";
    q->cb(q->arg, &addrs, error);
out_free:
    ares_freeaddrinfo(res);
    free(q);
}

int resolver_lookup(struct resolver *r, const char *name, unsigned port,
                    resolve_fn *cb, void *arg, struct resolve_query **slot)
{
    struct ares_addrinfo_hints hints = {
        .ai_flags = ARES_AI_NUMERICSERV,
        .ai_family = AF_UNSPEC,
        .ai_socktype = SOCK_STREAM,
    };
    struct resolve_query *q = malloc(sizeof(*q));
    char service[8];

    if (q == NULL)
        return -ENOMEM;
    q->slot = slot;
    q->cb = cb;
    q->arg = arg;
    *slot = q;
    snprintf(service, sizeof(service), "%u", port);
    ares_getaddrinfo(r->channel, name, service, &hints, on_answer, q);
    rearm(r);
    return 0;
}

void resolve_cancel(struct resolve_query **slot)
{
    if (*slot == NULL)
        return;
    (*slot)->slot = NULL;
    *slot = NULL;
}
