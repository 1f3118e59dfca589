/*
 * A run: connect (connect.c), send the request written at init in one
 * send() when the socket takes it (a probe's request is a few hundred
 * bytes), then read the answer as the socket turns readable and feed it
 * to the parser until it says done or failed, or the server closes. The
 * core's deadline bounds the run and cancels it. Without expect_body only
 * the start of the body is kept, for a failure's excerpt: the read stops
 * there, the rest is never read. A redirect that httpcheck_redirect() says
 * to follow is a new request on a new connection (a probe allocates its
 * redirect state at its first Location); one to what only libcurl does
 * (https) moves the probe to libcurl for good (probe_rekind()), where the
 * run starts over: a server that redirects there once does each time.
 */
#define _DEFAULT_SOURCE /* MSG_NOSIGNAL */
#include "probes/httpnative.h"

#include <errno.h>
#include <ev.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/log.h"
#include "conf/parse.h"
#include "probes/connect.h"
#include "probes/curlapi.h"
#include "probes/httpcheck.h"
#include "probes/httpwire.h"

#define HTTPNATIVE_READ 4096 /* bytes read at a time, on the stack */

/* A probe's redirect state, made at its first Location. */
struct hop {
    char location[HTTPCHECK_URL_MAX]; /* the parser's */
    char url[HTTPCHECK_URL_MAX];      /* the request under way */
    struct connect_target target;
    char *req;
    size_t req_cap;
    struct cfg_header *headers; /* those sent to another host */
};

struct httpnative {
    struct probe *p;
    struct connector conn;
    struct connect_target target;
    ev_io io_w;
    int fd; /* the connection of the run under way, or -1 */
    char *req;
    size_t req_len;
    /* the request under way: cfg's, or a redirect's in hop */
    const char *out;
    size_t out_len;
    size_t sent;
    /* Nothing of p->cfg is held across a run: a reload that keeps the
     * probe frees the config the run began with (p->cfg is the new one). */
    bool as_get; /* a 301-303 made the request under way a GET */
    const struct connect_target *at;
    unsigned hops; /* redirects this run followed */
    struct hop *hop;
    struct httpwire wire;
    char *body; /* with expect_body only: HTTPCHECK_BODY_MAX */
    struct httpcheck_excerpt excerpt; /* built as the body arrives */
    size_t body_seen;                 /* body bytes given to on_body */
};

/* The URL and method of the request under way. */
static const char *url_of(const struct httpnative *n)
{
    return n->hops > 0 ? n->hop->url : n->p->cfg->url;
}

static const char *method_of(const struct httpnative *n)
{
    return n->as_get ? "GET" : n->p->cfg->method;
}

static void close_conn(struct httpnative *n)
{
    if (n->fd >= 0) {
        ev_io_stop(n->p->owner->loop, &n->io_w);
        close(n->fd);
        n->fd = -1;
    }
}

/* Ends the run: the connection closed first, the report last (the core may
 * start, cancel or free anything from it). */
static void finish(struct httpnative *n, bool ok, const char *reason)
{
    close_conn(n);
    probe_report(n->p, ok, "%s", reason);
}

/* Sends out (out_len bytes) to at, with the parser reset. */
static int request(struct httpnative *n, const char *out, size_t out_len,
                   const struct connect_target *at)
{
    n->out = out;
    n->out_len = out_len;
    n->at = at;
    n->sent = 0;
    n->body_seen = 0;
    httpwire_reset(&n->wire);
    httpcheck_excerpt_reset(&n->excerpt);
    return connector_start_at(&n->conn, at, n->p->owner->dns);
}

/*
 * The rest of the run goes to libcurl, as does the probe from now on. Last
 * act of the run on this transport: n is freed.
 */
static void move_to_curl(struct httpnative *n, const char *target)
{
    struct probe *p = n->p;
    char shown[HTTPCHECK_URL_MAX];
    int rc;

    httpcheck_url_shown(target, shown, sizeof(shown));
    LOG_INFO("probe moves to libcurl", LF_STR("probe", p->cfg->name),
             LF_STR("redirect", shown));
    rc = probe_rekind(p, &probe_kind_http);
    if (rc < 0)
        probe_report(p, false, "cannot follow the redirect to %s: %s", shown,
                     rc == -ELIBACC ? curlapi_error() : strerror(-rc));
}

/* The run fails: the redirect to hop->url cannot be followed. */
static void cannot_follow(struct httpnative *n, const char *why)
{
    char shown[HTTPCHECK_URL_MAX];

    httpcheck_url_shown(n->hop->url, shown, sizeof(shown));
    probe_report(n->p, false, "cannot follow the redirect to %s: %s", shown,
                 why);
}

/* Requests target (a resolved Location) with method, on a new connection. */
static void follow(struct httpnative *n, const char *target, const char *method)
{
    struct hop *hop = n->hop;
    struct cfg_probe next = *n->p->cfg;
    struct cfg_url u;
    char err[128];
    size_t len = 0;
    int rc;

    close_conn(n);
    snprintf(hop->url, sizeof(hop->url), "%s", target);
    next.url = hop->url;
    next.method = (char *)method;
    if (next.headers_count > 0 && httpcheck_foreign(n->p->cfg, hop->url)) {
        if (hop->headers == NULL)
            hop->headers = calloc(next.headers_count, sizeof(*hop->headers));
        if (hop->headers == NULL) {
            cannot_follow(n, strerror(ENOMEM));
            return;
        }
        next.headers_count = httpcheck_foreign_headers(n->p->cfg, hop->headers);
        next.headers = hop->headers;
    }
    rc = httpwire_request(&next, NULL, 0, &len, err, sizeof(err));
    if (rc == -ENOTSUP) {
        move_to_curl(n, hop->url);
        return;
    }
    if (rc == -ENOBUFS && len > hop->req_cap) {
        char *req = realloc(hop->req, len);

        rc = req ? -ENOBUFS : -ENOMEM;
        if (req) {
            hop->req = req;
            hop->req_cap = len;
        }
    }
    if (rc == -ENOBUFS)
        rc = httpwire_request(&next, hop->req, hop->req_cap, &len, err,
                              sizeof(err));
    if (rc == 0 && cfg_parse_url(hop->url, &u) == 0)
        rc = connect_target_set(&hop->target, u.host, u.host_len, u.port);
    if (rc == 0 && !hop->target.literal && probe_resolver(n->p) == NULL)
        rc = -errno;
    n->as_get = strcmp(method, "GET") == 0;
    if (rc == 0)
        rc = request(n, hop->req, len, &hop->target);
    if (rc < 0)
        cannot_follow(n, rc == -EINVAL ? err : strerror(-rc));
}

static void judge(struct httpnative *n, enum httpwire_result r)
{
    char reason[PROBE_REASON_MAX];
    char next[HTTPCHECK_URL_MAX];
    const char *target = NULL;
    const char *method = method_of(n);
    bool ok = false;

    if (r != HTTPWIRE_DONE) {
        httpwire_reason(&n->wire, reason, sizeof(reason));
        finish(n, false, reason);
        return;
    }
    /* A Location cut at its buffer, or too long resolved, is "". */
    if (n->wire.location_len > 0)
        target = "";
    if (n->wire.location_len > 0 && !n->wire.location_cut &&
        httpcheck_resolve(url_of(n), n->wire.location, n->wire.location_len,
                          next, sizeof(next)) == 0)
        target = next;
    switch (httpcheck_redirect(n->p->cfg, n->wire.status, target, &n->hops,
                               &method, reason, sizeof(reason))) {
    case HTTPCHECK_FOLLOW:
        follow(n, target, method);
        return;
    case HTTPCHECK_PASS:
        ok = true;
        break;
    case HTTPCHECK_FAIL:
        break;
    case HTTPCHECK_JUDGE:
        ok = httpcheck_verdict(n->p->cfg, n->wire.status, n->body,
                               n->wire.body_len, n->wire.truncated, &n->excerpt,
                               reason, sizeof(reason));
        break;
    }
    finish(n, ok, reason);
}

static void io_failed(struct httpnative *n, const char *doing, int err)
{
    char reason[CONNECT_ERROR_MAX + 64];

    snprintf(reason, sizeof(reason), "%s %s: %s", doing, n->at->label,
             strerror(err));
    finish(n, false, reason);
}

static void watch(struct httpnative *n, int events)
{
    struct ev_loop *loop = n->p->owner->loop;

    ev_io_stop(loop, &n->io_w);
    ev_io_set(&n->io_w, n->fd, events);
    ev_io_start(loop, &n->io_w);
}

/* Sends what is left of the request; then waits for the answer. */
static void send_more(struct httpnative *n)
{
    while (n->sent < n->out_len) {
        ssize_t w =
            send(n->fd, n->out + n->sent, n->out_len - n->sent, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            watch(n, EV_WRITE);
            return;
        }
        if (w < 0) {
            io_failed(n, "cannot send to", errno);
            return;
        }
        n->sent += (size_t)w;
    }
    watch(n, EV_READ);
}

/*
 * Reads what has arrived. A short read means the socket is drained for
 * now (level-triggered: the loop says when more comes), which saves the
 * read that would only say EAGAIN.
 */
static void read_more(struct httpnative *n)
{
    char buf[HTTPNATIVE_READ];

    for (;;) {
        ssize_t got = recv(n->fd, buf, sizeof(buf), 0);
        enum httpwire_result r;

        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        if (got < 0) {
            io_failed(n, "cannot read from", errno);
            return;
        }
        r = got == 0 ? httpwire_eof(&n->wire)
                     : httpwire_feed(&n->wire, buf, (size_t)got);
        if (r != HTTPWIRE_MORE) {
            judge(n, r);
            return;
        }
        if ((size_t)got < sizeof(buf))
            return;
    }
}

/*
 * The parser's body sink: the excerpt; false once no more is wanted: the
 * excerpt is full, or more than HTTPCHECK_BODY_MAX came (as libcurl's
 * transport reads no further), so that a body of blanks that never fills
 * the excerpt is not read until the deadline.
 */
static bool on_body(void *arg, const char *data, size_t n)
{
    struct httpnative *hn = arg;

    hn->body_seen += n;
    return httpcheck_excerpt_add(&hn->excerpt, data, n) &&
           hn->body_seen <= HTTPCHECK_BODY_MAX;
}

static void on_io(EV_P_ ev_io *w, int revents)
{
    struct httpnative *n = container_of(w, struct httpnative, io_w);

    (void)loop;
    if (revents & EV_WRITE)
        send_more(n);
    else
        read_more(n);
}

static void on_connected(struct connector *c, int fd)
{
    struct httpnative *n = container_of(c, struct httpnative, conn);

    if (fd < 0) {
        probe_report(n->p, false, "%s", c->error);
        return;
    }
    n->fd = fd;
    send_more(n);
}

static void native_cancel(struct probe *p)
{
    struct httpnative *n = p->data;

    connector_cancel(&n->conn);
    if (n->fd >= 0) {
        ev_io_stop(p->owner->loop, &n->io_w);
        close(n->fd);
        n->fd = -1;
    }
}

/* The URL's parts when cfg fits the native transport: 0, else -ENOTSUP. */
static int native_url(const struct cfg_probe *cfg, struct cfg_url *u,
                      size_t *req_len)
{
    char err[128];

    if (cfg_parse_url(cfg->url, u) < 0 || u->tls)
        return -ENOTSUP;
    /* Sized with cap 0: -ENOBUFS and the length when it can be sent. */
    if (httpwire_request(cfg, NULL, 0, req_len, err, sizeof(err)) != -ENOBUFS)
        return -ENOTSUP;
    return 0;
}

bool httpnative_fits(const struct cfg_probe *cfg)
{
    struct cfg_url u;
    size_t len;

    return cfg->type == CFG_PROBE_HTTP && native_url(cfg, &u, &len) == 0;
}

/* The parser's Location buffer, made at the first one a server sends. */
static char *location_buf(void *arg, size_t *cap)
{
    struct httpnative *n = arg;

    if (n->hop == NULL)
        n->hop = calloc(1, sizeof(*n->hop));
    if (n->hop == NULL)
        return NULL;
    *cap = sizeof(n->hop->location);
    return n->hop->location;
}

static void native_destroy(struct probe *p)
{
    struct httpnative *n = p->data;

    if (n == NULL)
        return;
    native_cancel(p);
    if (n->hop) {
        free(n->hop->req);
        free(n->hop->headers);
    }
    free(n->hop);
    free(n->body);
    free(n->req);
    free(n);
    p->data = NULL;
}

static int native_init(struct probe *p)
{
    const struct cfg_probe *cfg = p->cfg;
    struct httpnative *n;
    struct cfg_url u;
    char err[128];
    size_t len = 0;
    int rc;

    rc = native_url(cfg, &u, &len);
    if (rc < 0)
        return rc;
    n = calloc(1, sizeof(*n));
    if (n == NULL)
        return -ENOMEM;
    n->p = p;
    n->fd = -1;
    p->data = n;
    n->req = malloc(len);
    rc = n->req
             ? httpwire_request(cfg, n->req, len, &n->req_len, err, sizeof(err))
             : -ENOMEM;
    if (rc == 0)
        rc = connect_target_set(&n->target, u.host, u.host_len, u.port);
    if (rc == 0 && !n->target.literal && probe_resolver(p) == NULL)
        rc = -errno;
    /* Not zeroed: pages of it a run never writes are never resident. */
    n->body = cfg->expect_body ? malloc(HTTPCHECK_BODY_MAX) : NULL;
    if (rc == 0 && cfg->expect_body && n->body == NULL)
        rc = -ENOMEM;
    connector_init(&n->conn, p->owner->loop, n->target.label, on_connected);
    ev_io_init(&n->io_w, on_io, -1, 0);
    if (rc < 0) {
        native_destroy(p);
        return rc;
    }
    httpwire_init(&n->wire, n->body, n->body ? HTTPCHECK_BODY_MAX : 0, NULL, 0,
                  strcmp(cfg->method, "HEAD") == 0);
    httpwire_sink(&n->wire, on_body, n);
    if (cfg->follow_redirects != CFG_REDIRECTS_NONE)
        httpwire_on_location(&n->wire, location_buf);
    return 0;
}

static int native_start(struct probe *p)
{
    struct httpnative *n = p->data;

    n->as_get = false;
    n->hops = 0;
    return request(n, n->req, n->req_len, &n->target);
}

const struct probe_kind probe_kind_http_native = {
    .name = "http",
    .init = native_init,
    .start = native_start,
    .cancel = native_cancel,
    .destroy = native_destroy,
};
