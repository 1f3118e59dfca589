#include "api/http.h"

#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "api/checks.h"
#include "api/control.h"
#include "api/details.h"
#include "api/events.h"
#include "api/metrics.h"
#include "api/mhdapi.h"
#include "api/page.h"
#include "base/buf.h"
#include "base/log.h"
#include "base/util.h"
#include "conf/parse.h"
#include "sidecar/view.h"

/* Bounds: enough idle clients must never lock kubelet out. */
#define HTTP_CONNECTION_LIMIT     1024u
#define HTTP_CONNECTION_TIMEOUT_S 10u
#define HTTP_MEMORY_LIMIT         ((size_t)16 * 1024)
#define HTTP_EXCLUDE_MAX          32
#define HTTP_BODY_MAX             ((size_t)1024 * 1024)
#define HTTP_POST_MAX             ((size_t)4096) /* a push's reason */
#define HTTP_RUN_MAX_MS           1000u          /* see rearm() */
#define HTTP_RETIRE_MAX_S         5.0 /* a replaced server's last answers */
#define HTTP_RETIRE_POLL_S        0.1

enum cached {
    CACHED_LIVEZ,
    CACHED_READYZ,
    CACHED_STARTUPZ,
    CACHED_HEALTH,
    CACHED_DETAILS, /* carry uptimes: re-rendered when over a second old */
    CACHED_METRICS,
    CACHED_NOT_FOUND,
    CACHED_NOT_ALLOWED, /* the read paths */
    CACHED_POST_ONLY,   /* the write paths */
    CACHED_BAD_FRAMING, /* ambiguous body length: 400, then close */
    CACHED_PAGE,        /* api/page.h's files, in its order */
    CACHED_PAGE_LAST = CACHED_PAGE + PAGE_FILES - 1,
    CACHED_COUNT,
};

struct post;

struct http_server {
    struct ev_loop *loop;
    struct MHD_Daemon *mhd;
    ev_io io_w;
    ev_timer timer_w;
    struct sidecar *sc;
    struct http_stats *stats; /* shared with the servers before and after */
    const char *token;        /* "" when the write API is off */
    struct post *reloads;     /* POST /reload requests waiting for the loop */
    /* Servers this one replaced (http.listen changed): they finish the
     * answers under way, then go, at the latest after HTTP_RETIRE_MAX_S. */
    struct http_server *retired;
    ev_timer retire_w;
    double retire_by;
    bool quiesced; /* its listen socket is closed */
    unsigned port;
    struct MHD_Response *responses[CACHED_COUNT];
    unsigned statuses[CACHED_COUNT];
    double rendered_at[CACHED_COUNT]; /* util_mono_now(); 0: render again */
    unsigned long long rendered_events[CACHED_COUNT]; /* events recorded */
    /* Connections waiting for a whole request (headers and body),
     * oldest first: the ones evicted at the limit or past the deadline. */
    struct conn *waiting_head;
    struct conn *waiting_tail;
    unsigned open;       /* connections not evicted */
    unsigned evict_at;   /* open connections past which the oldest goes */
    ev_timer deadline_w; /* the oldest waiting one's request deadline */
};

/*
 * A client must send a whole request, headers and body, within
 * HTTP_REQUEST_DEADLINE_S of connecting or of its previous answer: MHD's
 * timeout is an idle one, reset by each byte, which a client trickling a
 * header line (or a byte of a body) every few seconds never reaches. And
 * clients must never lock kubelet out: past evict_at open connections, a
 * new one makes the oldest still waiting for its request go. evict_at stays
 * HTTP_EVICT_HEADROOM_DIV-th below MHD's own limit, so MHD never stops
 * accepting (it accepts a few connections a run; the evicted ones close on the
 * next).
 */
#define HTTP_REQUEST_DEADLINE_S 10.0
#define HTTP_EVICT_HEADROOM_DIV 16u

/* One accepted connection (MHD's socket context). */
struct conn {
    struct http_server *srv;
    struct MHD_Connection *mhd;
    double waiting_since; /* util_mono_now(); while waiting */
    bool waiting;         /* in srv's waiting list */
    bool evicted;
    struct conn *prev;
    struct conn *next;
};

/*
 * Anyone who can connect can make MHD complain: what clients make us log
 * goes through a token bucket, HTTP_LOG_BURST lines at once and then
 * HTTP_LOG_PER_S a second; what it drops is counted (/metrics) and said
 * once when logging resumes.
 */
#define HTTP_LOG_BURST 20.0
#define HTTP_LOG_PER_S 1.0

void http_stats_init(struct http_stats *st)
{
    *st = (struct http_stats){.evicted_at_limit = 0};
    ratelimit_init(&st->log_limit, HTTP_LOG_PER_S, HTTP_LOG_BURST);
}

/* True when a line caused by a client may be logged at level. */
static bool may_log(struct http_server *srv, enum log_level level)
{
    if (!log_enabled(level))
        return false;
    struct ratelimit *rl = &srv->stats->log_limit;
    if (!ratelimit_allow(rl, util_mono_now()))
        return false;
    unsigned long long dropped = ratelimit_take_refused(rl);
    if (dropped)
        LOG_WARN("http log lines suppressed", LF_INT("dropped", dropped));
    return true;
}

/* Re-arms the request deadline for the oldest waiting connection. */
static void arm_deadline(struct http_server *srv)
{
    ev_timer_stop(srv->loop, &srv->deadline_w);
    if (!srv->waiting_head)
        return;
    double left = srv->waiting_head->waiting_since + HTTP_REQUEST_DEADLINE_S -
                  util_mono_now();
    ev_timer_set(&srv->deadline_w, left > 0 ? left : 0., 0.);
    ev_timer_start(srv->loop, &srv->deadline_w);
}

/* The connection now waits for a whole request (at the tail). */
static void start_waiting(struct conn *cn)
{
    struct http_server *srv = cn->srv;
    if (cn->waiting || cn->evicted)
        return;
    cn->waiting = true;
    cn->waiting_since = util_mono_now();
    cn->next = NULL;
    cn->prev = srv->waiting_tail;
    if (srv->waiting_tail)
        srv->waiting_tail->next = cn;
    else
        srv->waiting_head = cn;
    srv->waiting_tail = cn;
    if (srv->waiting_head == cn)
        arm_deadline(srv);
}

static void stop_waiting(struct conn *cn)
{
    struct http_server *srv = cn->srv;
    if (!cn->waiting)
        return;
    bool was_head = srv->waiting_head == cn;
    if (cn->prev)
        cn->prev->next = cn->next;
    else
        srv->waiting_head = cn->next;
    if (cn->next)
        cn->next->prev = cn->prev;
    else
        srv->waiting_tail = cn->prev;
    cn->prev = NULL;
    cn->next = NULL;
    cn->waiting = false;
    if (was_head)
        arm_deadline(srv);
}

/*
 * Shuts the connection's socket down: MHD reads EOF on its next run and
 * closes it itself (closing the descriptor here would race with MHD, and
 * the number could already be a new connection's by then).
 */
static void evict(struct conn *cn, const char *why)
{
    struct http_server *srv = cn->srv;
    stop_waiting(cn);
    cn->evicted = true;
    srv->open--;
    const union MHD_ConnectionInfo *i =
        mhdapi.get_connection_info(cn->mhd, MHD_CONNECTION_INFO_CONNECTION_FD);
    if (i && shutdown(i->connect_fd, SHUT_RDWR) < 0 && errno != ENOTCONN) {
        int err = errno;
        if (may_log(srv, LOG_LEVEL_DEBUG))
            LOG_DEBUG("http connection not shut down",
                      LF_STR("error", strerror(err)));
    }
    if (may_log(srv, LOG_LEVEL_INFO))
        LOG_INFO("http connection evicted", LF_STR("reason", why));
}

static void on_request_deadline(EV_P_ ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    struct http_server *srv = container_of(w, struct http_server, deadline_w);
    double now = util_mono_now();
    /* The timer may fire a hair early: within a millisecond is due. */
    while (srv->waiting_head &&
           srv->waiting_head->waiting_since + HTTP_REQUEST_DEADLINE_S <=
               now + 0.001) {
        srv->stats->evicted_late++;
        evict(srv->waiting_head, "request not whole by the deadline");
    }
    arm_deadline(srv);
}

/* The connection limit: the oldest waiting connection goes, never cn. */
static void make_room(struct http_server *srv, const struct conn *cn)
{
    struct conn *oldest = srv->waiting_head;
    if (srv->open <= srv->evict_at || !oldest || oldest == cn)
        return;
    srv->stats->evicted_at_limit++;
    evict(oldest, "connection limit");
}

static void on_connection(void *cls, struct MHD_Connection *c,
                          void **socket_context,
                          enum MHD_ConnectionNotificationCode what)
{
    struct http_server *srv = cls;
    struct conn *cn = *socket_context;
    if (what == MHD_CONNECTION_NOTIFY_CLOSED) {
        if (!cn)
            return;
        stop_waiting(cn);
        if (!cn->evicted)
            srv->open--;
        free(cn);
        *socket_context = NULL;
        return;
    }
    /* Out of memory: untracked, MHD's limit and idle timeout still hold. */
    cn = calloc(1, sizeof(*cn));
    if (!cn)
        return;
    cn->srv = srv;
    cn->mhd = c;
    *socket_context = cn;
    srv->open++;
    start_waiting(cn);
    make_room(srv, cn);
}

/* The connection's tracking (NULL when it is untracked). */
static struct conn *conn_of(struct MHD_Connection *c)
{
    const union MHD_ConnectionInfo *i =
        mhdapi.get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return i ? i->socket_context : NULL;
}

/*
 * MHD must run again within MHD_get_timeout(): arm the timer for it, and
 * for no later than HTTP_RUN_MAX_MS. MHD 0.9.75 closes a connection whose
 * request outgrew its memory pool (too many query arguments: it cannot
 * even send its 431) without counting it as work pending, so the timeout
 * is the idle one, and under MHD_USE_TURBO the client hears nothing until
 * the next run (test/fuzz/regressions/http/).
 */
static void rearm(struct http_server *srv)
{
    MHD_UNSIGNED_LONG_LONG ms;
    ev_timer_stop(srv->loop, &srv->timer_w);
    if (mhdapi.get_timeout(srv->mhd, &ms) == MHD_YES) {
        if (ms > HTTP_RUN_MAX_MS)
            ms = HTTP_RUN_MAX_MS;
        ev_timer_set(&srv->timer_w, (double)ms / 1000.0, 0.);
        ev_timer_start(srv->loop, &srv->timer_w);
    }
}

static unsigned connections(struct http_server *srv)
{
    const union MHD_DaemonInfo *i =
        mhdapi.get_daemon_info(srv->mhd, MHD_DAEMON_INFO_CURRENT_CONNECTIONS);
    return i ? i->num_connections : 0;
}

/*
 * MHD takes its listen socket out of epoll at its connection limit or when
 * accept() runs out of descriptors, and puts it back only at the start of
 * a run, once connections have closed. When a run closed some, run again:
 * nothing else may ever wake us for the clients waiting in the backlog.
 */
static void drive(struct http_server *srv)
{
    unsigned before = connections(srv);
    mhdapi.run(srv->mhd);
    if (connections(srv) < before)
        mhdapi.run(srv->mhd);
    rearm(srv);
}

static void on_io(EV_P_ ev_io *w, int revents)
{
    (void)loop;
    (void)revents;
    drive(container_of(w, struct http_server, io_w));
}

static void on_timer(EV_P_ ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    drive(container_of(w, struct http_server, timer_w));
}

/* A replaced server goes once idle, or at retire_by whatever it does. */
static void on_retire_poll(EV_P_ ev_timer *w, int revents)
{
    (void)revents;
    struct http_server *srv = container_of(w, struct http_server, retire_w);
    struct http_server *old = srv->retired;
    if (old && (connections(old) > 0 || old->reloads) &&
        util_mono_now() < srv->retire_by)
        return;
    ev_timer_stop(EV_A_ w);
    srv->retired = NULL;
    http_server_free(old);
}

static struct MHD_Response *make_as(const char *body, size_t len,
                                    const char *type,
                                    enum MHD_ResponseMemoryMode mode)
{
    struct MHD_Response *r =
        mhdapi.create_response_from_buffer(len, (void *)body, mode);
    if (!r)
        return NULL;
    if (mhdapi.add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type) !=
            MHD_YES ||
        mhdapi.add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL,
                                   "no-store") != MHD_YES) {
        mhdapi.destroy_response(r);
        return NULL;
    }
    return r;
}

static struct MHD_Response *make(const char *body, size_t len, const char *type)
{
    return make_as(body, len, type, MHD_RESPMEM_MUST_COPY);
}

/*
 * The page's files, answered from the binary's own bytes (no copy) with
 * the page's policy: made once a server, they never change.
 */
static void put_page(struct http_server *srv)
{
    static const char *const headers[][2] = {
        {"Content-Security-Policy", PAGE_CSP},
        {MHD_HTTP_HEADER_X_CONTENT_TYPE_OPTIONS, "nosniff"},
        {"Referrer-Policy", "no-referrer"},
    };
    for (size_t i = 0; i < PAGE_FILES; i++) {
        struct page_file f = page_file(i);
        struct MHD_Response *r =
            make_as(f.data, f.len, f.type, MHD_RESPMEM_PERSISTENT);
        for (size_t h = 0; r && h < ARRAY_SIZE(headers); h++) {
            if (mhdapi.add_response_header(r, headers[h][0], headers[h][1]) !=
                MHD_YES) {
                mhdapi.destroy_response(r);
                r = NULL;
            }
        }
        if (!r) {
            LOG_ERROR("cannot render a response: out of memory");
            continue;
        }
        srv->responses[CACHED_PAGE + i] = r;
        srv->statuses[CACHED_PAGE + i] = MHD_HTTP_OK;
    }
}

/* Replaces one cached response; keeps the old one if rendering fails. */
static void put(struct http_server *srv, enum cached which, unsigned status,
                const char *body, const char *type)
{
    struct MHD_Response *r = make(body, strlen(body), type);
    if (!r) {
        LOG_ERROR("cannot render a response: out of memory");
        return;
    }
    /* Responses are reference-counted: one being sent stays alive. */
    if (srv->responses[which])
        mhdapi.destroy_response(srv->responses[which]);
    srv->responses[which] = r;
    srv->statuses[which] = status;
}

static void put_check(struct http_server *srv, enum cached which, bool ok,
                      const char *name)
{
    char body[64];
    snprintf(body, sizeof(body), ok ? "ok\n" : "%s check failed\n", name);
    put(srv, which, ok ? MHD_HTTP_OK : MHD_HTTP_SERVICE_UNAVAILABLE, body,
        "text/plain; charset=utf-8");
}

void http_server_refresh(struct http_server *srv)
{
    if (srv->retired) /* its keep-alive clients hear the same */
        http_server_refresh(srv->retired);
    srv->rendered_at[CACHED_DETAILS] = 0;
    srv->rendered_at[CACHED_METRICS] = 0;
    const struct health_view *v = sidecar_view(srv->sc).health;
    char body[64];
    put_check(srv, CACHED_LIVEZ, v->live, "livez");
    put_check(srv, CACHED_READYZ, v->ready, "readyz");
    put_check(srv, CACHED_STARTUPZ, v->started, "startupz");
    snprintf(body, sizeof(body), "{\"status\":\"%s\"}\n",
             health_status_name(v->status));
    put(srv, CACHED_HEALTH,
        v->status == HEALTH_DOWN ? MHD_HTTP_SERVICE_UNAVAILABLE : MHD_HTTP_OK,
        body, "application/json");
}

static const struct {
    const char *path;
    enum cached which;
    enum check_endpoint ep;
} routes[] = {
    {"/livez", CACHED_LIVEZ, CHECK_LIVEZ},
    {"/healthz", CACHED_LIVEZ, CHECK_LIVEZ},
    {"/readyz", CACHED_READYZ, CHECK_READYZ},
    {"/startupz", CACHED_STARTUPZ, CHECK_STARTUPZ},
    {"/health", CACHED_HEALTH, CHECK_LIVEZ},
};

/* ?verbose (with or without a value) and ?exclude= (repeatable). */
struct query {
    bool verbose;
    const char *exclude[HTTP_EXCLUDE_MAX];
    size_t exclude_count;
};

static enum MHD_Result on_argument(void *cls, enum MHD_ValueKind kind,
                                   const char *key, const char *value)
{
    struct query *q = cls;
    (void)kind;
    if (strcmp(key, "verbose") == 0)
        q->verbose = true;
    else if (strcmp(key, "exclude") == 0 && value &&
             q->exclude_count < HTTP_EXCLUDE_MAX)
        q->exclude[q->exclude_count++] = value;
    return MHD_YES;
}

/* Queues a response made for this request only (and lets go of it). */
static enum MHD_Result queue_new(struct MHD_Connection *c, int status,
                                 const struct buf *body, const char *type,
                                 bool challenge)
{
    struct MHD_Response *r =
        make(body->data ? body->data : "", body->len, type);
    if (!r)
        return MHD_NO;
    if (challenge)
        mhdapi.add_response_header(r, MHD_HTTP_HEADER_WWW_AUTHENTICATE,
                                   "Bearer");
    enum MHD_Result rc = mhdapi.queue_response(c, (unsigned)status, r);
    mhdapi.destroy_response(r);
    return rc;
}

/* Queues a cached response; closes when it was never rendered (ENOMEM). */
static enum MHD_Result queue_cached(struct http_server *srv,
                                    struct MHD_Connection *c, enum cached which)
{
    if (!srv->responses[which])
        return MHD_NO;
    return mhdapi.queue_response(c, srv->statuses[which],
                                 srv->responses[which]);
}

/*
 * The checks with ?verbose or ?exclude=, or one check at /<ep>/<name>:
 * rendered for the request (the plain answers are cached).
 */
static enum MHD_Result answer_checks(struct http_server *srv,
                                     struct MHD_Connection *c,
                                     enum check_endpoint ep, const char *one)
{
    struct buf body;
    struct query q = {.verbose = false};
    buf_init(&body, HTTP_BODY_MAX);
    mhdapi.get_connection_values(c, MHD_GET_ARGUMENT_KIND, on_argument, &q);
    struct sidecar_view v = sidecar_view(srv->sc);
    int status = one ? checks_render_one(&v, ep, one, &body)
                     : checks_render(&v, ep, q.verbose, q.exclude,
                                     q.exclude_count, &body);
    enum MHD_Result rc =
        status < 0
            ? MHD_NO
            : queue_new(c, status, &body, "text/plain; charset=utf-8", false);
    buf_free(&body);
    return rc;
}

/*
 * The details and the metrics carry uptimes and process figures: they are
 * rendered when health changes or when over a second old, never more
 * often, so a flood of scrapes costs no more than one a second.
 */
#define HTTP_LIVE_MAX_AGE_S 1.0

static enum MHD_Result answer_live(struct http_server *srv,
                                   struct MHD_Connection *c, enum cached which)
{
    double now = util_mono_now();
    /* Any event recorded since: a page refetches on each, sees it. */
    unsigned long long events =
        srv->stats->events ? srv->stats->events->recorded : 0;
    if (!srv->responses[which] || srv->rendered_at[which] == 0 ||
        now - srv->rendered_at[which] > HTTP_LIVE_MAX_AGE_S ||
        srv->rendered_events[which] != events) {
        struct buf body;
        buf_init(&body, HTTP_BODY_MAX);
        bool details = which == CACHED_DETAILS;
        struct sidecar_view v = sidecar_view(srv->sc);
        int rc = details ? details_render(&v, now, &body)
                         : metrics_render(&v, srv->stats, &body);
        if (rc == 0) {
            put(srv, which, MHD_HTTP_OK, body.data,
                details ? "application/json" : "text/plain; version=0.0.4");
            srv->rendered_at[which] = now;
            srv->rendered_events[which] = events;
        }
        buf_free(&body);
    }
    return queue_cached(srv, c, which);
}

/* A stream was resumed: MHD runs from the loop, at once. */
static void kick(void *owner)
{
    struct http_server *srv = owner;
    ev_timer_stop(srv->loop, &srv->timer_w);
    ev_timer_set(&srv->timer_w, 0., 0.);
    ev_timer_start(srv->loop, &srv->timer_w);
}

/*
 * GET /events: a stream (api/events.h). Its request is whole, so it is out
 * of the deadline's list and never evicted while it lasts; its cap keeps
 * half the connections below the eviction limit for everyone else,
 * kubelet first.
 */
static enum MHD_Result answer_events(struct http_server *srv,
                                     struct MHD_Connection *c,
                                     const char *method)
{
    if (strcmp(method, "HEAD") == 0) {
        struct buf none;
        buf_init(&none, 0);
        return queue_new(c, MHD_HTTP_OK, &none, "text/event-stream", false);
    }
    if (strcmp(method, "GET") != 0)
        return queue_cached(srv, c, CACHED_NOT_ALLOWED);
    unsigned max = srv->evict_at / 2;
    enum MHD_Result rc = events_answer(
        srv->stats->events, srv, kick, c,
        max < EVENTS_SUBSCRIBERS_MAX ? max : EVENTS_SUBSCRIBERS_MAX);
    /* A server that goes never holds a stream: MHD must not stop with
     * one suspended. This one sends what it has and ends. */
    if (srv->quiesced)
        events_end(srv->stats->events, srv);
    return rc;
}

static bool has_query(struct MHD_Connection *c)
{
    struct query q = {.verbose = false};
    mhdapi.get_connection_values(c, MHD_GET_ARGUMENT_KIND, on_argument, &q);
    return q.verbose || q.exclude_count;
}

/*
 * A write request: its body, kept (capped). A POST /reload also waits
 * here, its connection suspended, for the reload to run from the loop
 * rather than inside MHD: a reload may replace this very server.
 */
struct post {
    struct buf body;
    bool too_big;
    struct http_server *srv;
    struct MHD_Connection *conn;
    ev_timer reload_w; /* zero delay */
    bool reload_done;
    int reload_status;
    struct buf answer;
    struct post *next; /* in srv->reloads while suspended */
};

static bool is_control(const char *url)
{
    return strncmp(url, "/probes/", 8) == 0 ||
           strncmp(url, "/services/", 10) == 0 || strcmp(url, "/reload") == 0;
}

static void unlink_reload(struct post *p)
{
    struct post **link = &p->srv->reloads;
    while (*link && *link != p)
        link = &(*link)->next;
    if (*link)
        *link = p->next;
    p->next = NULL;
}

static void on_reload_due(EV_P_ ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    struct post *p = container_of(w, struct post, reload_w);
    struct http_server *srv = p->srv;
    unlink_reload(p);
    /* May retire srv, which stays until its connections are answered. */
    p->reload_status = control_reload(srv->sc, &p->answer);
    p->reload_done = true;
    mhdapi.resume_connection(p->conn);
    drive(srv);
}

/* Suspends the request until the loop has run the reload. */
static enum MHD_Result wait_for_reload(struct http_server *srv,
                                       struct MHD_Connection *c, struct post *p)
{
    p->srv = srv;
    p->conn = c;
    buf_init(&p->answer, HTTP_BODY_MAX);
    ev_timer_init(&p->reload_w, on_reload_due, 0., 0.);
    ev_timer_start(srv->loop, &p->reload_w);
    p->next = srv->reloads;
    srv->reloads = p;
    mhdapi.suspend_connection(c);
    return MHD_YES;
}

/*
 * "Bearer <token>", the token compared in constant time. The scheme is
 * case-insensitive and one or more SP (no HTAB) follow it (RFC 9110
 * 11.1 and 11.4: credentials = auth-scheme [ 1*SP token68 ]); blanks
 * after it are no part of the field's value (5.5).
 */
static bool authorized(const struct http_server *srv, struct MHD_Connection *c)
{
    const char *auth = mhdapi.lookup_connection_value(
        c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    /* No token (a reload took it away mid-request): nothing matches. */
    if (!srv->token[0] || !auth || strncasecmp(auth, "Bearer ", 7) != 0)
        return false;
    const char *given = auth + 7 + strspn(auth + 7, " ");
    size_t want_len = strlen(srv->token);
    size_t given_len = strlen(given);
    while (given_len &&
           (given[given_len - 1] == ' ' || given[given_len - 1] == '\t'))
        given_len--;
    unsigned char diff = want_len != given_len;
    for (size_t i = 0; i < want_len; i++)
        diff |= (unsigned char)(srv->token[i] ^ given[i < given_len ? i : 0]);
    return diff == 0;
}

/* POST /probes/..., /services/... and /reload: token, then the action. */
static enum MHD_Result answer_control(struct http_server *srv,
                                      struct MHD_Connection *c, const char *url,
                                      struct post *post)
{
    struct buf out;
    buf_init(&out, HTTP_BODY_MAX);
    int status;
    bool challenge = false;
    if (!post->reload_done && !authorized(srv, c)) {
        status = 401;
        challenge = true;
        status = buf_puts(&out, "{\"error\":\"a valid bearer token is "
                                "required\"}\n") < 0
                     ? -ENOMEM
                     : status;
    } else if (post->too_big) {
        status = buf_puts(&out, "{\"error\":\"body too large\"}\n") < 0
                     ? -ENOMEM
                     : 413;
    } else if (strcmp(url, "/reload") == 0 && !post->reload_done) {
        buf_free(&out);
        return wait_for_reload(srv, c, post);
    } else if (strcmp(url, "/reload") == 0) {
        status = buf_append(&out, post->answer.data ? post->answer.data : "",
                            post->answer.len) < 0
                     ? -ENOMEM
                     : post->reload_status;
    } else {
        status =
            control_handle(srv->sc, url, post->body.data, post->body.len, &out);
    }
    enum MHD_Result rc =
        status < 0 ? MHD_NO
                   : queue_new(c, status, &out, "application/json", challenge);
    buf_free(&out);
    return rc;
}

static void on_completed(void *cls, struct MHD_Connection *c, void **req,
                         enum MHD_RequestTerminationCode why)
{
    struct http_server *srv = cls;
    struct conn *cn = conn_of(c);
    /* Answered: a keep-alive connection waits for its next request. */
    if (cn && why == MHD_REQUEST_TERMINATED_COMPLETED_OK)
        start_waiting(cn);
    if (*req && *req != srv) {
        struct post *post = *req;
        if (post->srv && !post->reload_done) {
            ev_timer_stop(srv->loop, &post->reload_w);
            unlink_reload(post);
        }
        buf_free(&post->body);
        buf_free(&post->answer);
        free(post);
    }
    *req = NULL;
}

struct framing {
    unsigned content_lengths;
    unsigned transfer_encodings;
    bool unknown_coding; /* a Transfer-Encoding MHD does not decode */
    bool spaced_name;    /* whitespace in a field name */
};

static enum MHD_Result on_header(void *cls, enum MHD_ValueKind kind,
                                 const char *key, const char *value)
{
    struct framing *f = cls;
    (void)kind;
    if (key[strcspn(key, " \t")] != '\0')
        f->spaced_name = true;
    if (strcasecmp(key, MHD_HTTP_HEADER_CONTENT_LENGTH) == 0) {
        f->content_lengths++;
    } else if (strcasecmp(key, MHD_HTTP_HEADER_TRANSFER_ENCODING) == 0) {
        f->transfer_encodings++;
        if (!value || strcasecmp(value, "chunked") != 0)
            f->unknown_coding = true;
    }
    return MHD_YES;
}

/*
 * Where the body ends must be beyond doubt (RFC 9112 6.3): MHD takes the
 * first of two Content-Length (or Transfer-Encoding) headers and parses
 * what follows as another request, a way to smuggle one past a proxy that
 * took the other. It reads a body in any coding but plain "chunked" until
 * the client closes, and takes "Content-Length :" for another field,
 * which a lenient proxy would not (RFC 9112 5.1: reject). All of these
 * are refused, and their answer closes the connection.
 */
static bool framing_ambiguous(struct MHD_Connection *c)
{
    struct framing f = {.content_lengths = 0};
    mhdapi.get_connection_values(c, MHD_HEADER_KIND, on_header, &f);
    return f.content_lengths > 1 || f.transfer_encodings > 1 ||
           (f.content_lengths && f.transfer_encodings) || f.unknown_coding ||
           f.spaced_name;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c,
                                  const char *url, const char *method,
                                  const char *version, const char *upload,
                                  size_t *upload_size, void **req)
{
    struct http_server *srv = cls;
    (void)version;
    /* Decided on the first call: the token may change while it waits. */
    bool post =
        *req ? *req != srv
             : strcmp(method, "POST") == 0 && srv->token[0] && is_control(url);
    /*
     * The first call only announces the headers; answering then would
     * turn keep-alive off. Only a write request keeps its body (capped);
     * others are read and dropped.
     */
    if (!*req) {
        if (framing_ambiguous(c))
            return queue_cached(srv, c, CACHED_BAD_FRAMING);
        struct post *p = post ? calloc(1, sizeof(*p)) : NULL;
        if (post && !p)
            return MHD_NO;
        if (p)
            buf_init(&p->body, HTTP_POST_MAX);
        *req = p ? (void *)p : (void *)srv;
        return MHD_YES;
    }
    if (*upload_size) {
        if (post &&
            buf_append(&((struct post *)*req)->body, upload, *upload_size) < 0)
            ((struct post *)*req)->too_big = true;
        *upload_size = 0;
        return MHD_YES;
    }
    /* The request is whole: from here on no deadline, no eviction. A
     * body trickled after the headers must beat the deadline too. */
    struct conn *cn = conn_of(c);
    if (cn)
        stop_waiting(cn);
    if (post)
        return answer_control(srv, c, url, *req);
    if (srv->token[0] && is_control(url))
        return queue_cached(srv, c, CACHED_POST_ONLY);
    bool read = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
    if (strcmp(url, "/metrics") == 0)
        return read ? answer_live(srv, c, CACHED_METRICS)
                    : queue_cached(srv, c, CACHED_NOT_ALLOWED);
    if (strcmp(url, "/health/details") == 0)
        return read ? answer_live(srv, c, CACHED_DETAILS)
                    : queue_cached(srv, c, CACHED_NOT_ALLOWED);
    if (strcmp(url, "/events") == 0 && srv->stats->events)
        return answer_events(srv, c, method);
    for (size_t i = 0; i < ARRAY_SIZE(routes); i++) {
        size_t n = strlen(routes[i].path);
        if (strncmp(url, routes[i].path, n) != 0)
            continue;
        bool checks = routes[i].which != CACHED_HEALTH;
        if (url[n] == '/' && url[n + 1] && checks)
            return read ? answer_checks(srv, c, routes[i].ep, url + n + 1)
                        : queue_cached(srv, c, CACHED_NOT_ALLOWED);
        if (url[n] != '\0')
            continue;
        enum cached which = read ? routes[i].which : CACHED_NOT_ALLOWED;
        if (read && checks && has_query(c))
            return answer_checks(srv, c, routes[i].ep, NULL);
        return queue_cached(srv, c, which);
    }
    size_t page = page_find(url);
    if (page < PAGE_FILES)
        return queue_cached(srv, c,
                            read ? (enum cached)(CACHED_PAGE + page)
                                 : CACHED_NOT_ALLOWED);
    return queue_cached(srv, c, CACHED_NOT_FOUND);
}

/* MHD's own complaints go to our log, not to stderr. */
static void ATTR_FMT(2, 0) on_mhd_log(void *cls, const char *fmt, va_list ap)
{
    if (!may_log(cls, LOG_LEVEL_WARN))
        return;
    char msg[256];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    size_t n = strlen(msg);
    while (n && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
        msg[--n] = '\0';
    LOG_WARN("http server", LF_STR("error", msg));
}

/*
 * At most HTTP_CONNECTION_LIMIT clients, and never so many that probes,
 * pipes and restarts run out of descriptors: each service and probe may
 * need a few, and sidecar itself some.
 */
static unsigned connection_limit(const struct cfg_root *cfg)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur == RLIM_INFINITY)
        return HTTP_CONNECTION_LIMIT;
    rlim_t reserve = 64 + 4 * (rlim_t)(cfg->services_count + cfg->probes_count);
    rlim_t room = rl.rlim_cur > reserve + 16 ? rl.rlim_cur - reserve : 16;
    return room < HTTP_CONNECTION_LIMIT ? (unsigned)room
                                        : HTTP_CONNECTION_LIMIT;
}

struct http_server *http_server_new(struct ev_loop *loop,
                                    const struct cfg_root *cfg,
                                    struct sidecar *sc,
                                    struct http_stats *stats, char *errbuf,
                                    size_t errlen)
{
    struct sockaddr_storage ss;
    /* Here, not at exec: only run's server needs libmicrohttpd. */
    if (mhdapi_load() < 0) {
        snprintf(errbuf, errlen, "the HTTP server needs libmicrohttpd: %s",
                 mhdapi_error());
        errno = ELIBACC;
        return NULL;
    }
    if (cfg_listen_addr(cfg->http.host, cfg->http.port, &ss) < 0) {
        snprintf(errbuf, errlen,
                 "http.listen: '%s' is not an IP address (or localhost)",
                 cfg->http.host);
        errno = EINVAL; /* the caller may look at errno */
        return NULL;
    }
    struct http_server *srv = calloc(1, sizeof(*srv));
    if (!srv) {
        snprintf(errbuf, errlen, "out of memory");
        return NULL;
    }
    srv->loop = loop;
    srv->sc = sc;
    srv->stats = stats;
    srv->token = cfg->http.token ? cfg->http.token : "";
    unsigned limit = connection_limit(cfg);
    srv->evict_at = limit - (limit / HTTP_EVICT_HEADROOM_DIV + 1);
    ev_timer_init(&srv->deadline_w, on_request_deadline, 0., 0.);
    unsigned flags = MHD_USE_EPOLL | MHD_USE_TURBO | MHD_USE_ERROR_LOG |
                     MHD_ALLOW_SUSPEND_RESUME |
                     (ss.ss_family == AF_INET6 ? MHD_USE_IPv6 : 0);
    srv->mhd = mhdapi.start_daemon(
        flags, (uint16_t)cfg->http.port, NULL, NULL, on_request, srv,
        MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, srv,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, srv,
        MHD_OPTION_NOTIFY_CONNECTION, on_connection, srv, MHD_OPTION_SOCK_ADDR,
        (struct sockaddr *)&ss, MHD_OPTION_CONNECTION_LIMIT, limit,
        MHD_OPTION_CONNECTION_TIMEOUT, HTTP_CONNECTION_TIMEOUT_S,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, HTTP_MEMORY_LIMIT, MHD_OPTION_END);
    if (!srv->mhd) {
        int saved = errno; /* the caller may look at EADDRINUSE */
        snprintf(errbuf, errlen, "http.listen: cannot listen on %s: %s",
                 cfg->http.listen, strerror(saved));
        free(srv);
        errno = saved;
        return NULL;
    }
    const union MHD_DaemonInfo *epfd =
        mhdapi.get_daemon_info(srv->mhd, MHD_DAEMON_INFO_EPOLL_FD);
    const union MHD_DaemonInfo *port =
        mhdapi.get_daemon_info(srv->mhd, MHD_DAEMON_INFO_BIND_PORT);
    srv->port = port ? port->port : cfg->http.port;
    put(srv, CACHED_NOT_FOUND, MHD_HTTP_NOT_FOUND,
        "{\"error\":\"not found\"}\n", "application/json");
    static const char not_allowed[] = "{\"error\":\"method not allowed\"}\n";
    put(srv, CACHED_NOT_ALLOWED, MHD_HTTP_METHOD_NOT_ALLOWED, not_allowed,
        "application/json");
    put(srv, CACHED_POST_ONLY, MHD_HTTP_METHOD_NOT_ALLOWED, not_allowed,
        "application/json");
    if (srv->responses[CACHED_NOT_ALLOWED])
        mhdapi.add_response_header(srv->responses[CACHED_NOT_ALLOWED],
                                   MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
    if (srv->responses[CACHED_POST_ONLY])
        mhdapi.add_response_header(srv->responses[CACHED_POST_ONLY],
                                   MHD_HTTP_HEADER_ALLOW, "POST");
    put(srv, CACHED_BAD_FRAMING, MHD_HTTP_BAD_REQUEST,
        "{\"error\":\"ambiguous message length\"}\n", "application/json");
    if (srv->responses[CACHED_BAD_FRAMING])
        mhdapi.add_response_header(srv->responses[CACHED_BAD_FRAMING],
                                   MHD_HTTP_HEADER_CONNECTION, "close");
    put_page(srv);
    http_server_refresh(srv);
    ev_io_init(&srv->io_w, on_io, epfd->epoll_fd, EV_READ);
    ev_io_start(loop, &srv->io_w);
    ev_timer_init(&srv->timer_w, on_timer, 0., 0.);
    ev_timer_init(&srv->retire_w, on_retire_poll, 0., HTTP_RETIRE_POLL_S);
    rearm(srv);
    LOG_INFO("http listening", LF_STR("listen", cfg->http.listen),
             LF_INT("port", srv->port));
    return srv;
}

unsigned http_server_port(const struct http_server *srv)
{
    return srv->port;
}

void http_server_reconfigure(struct http_server *srv,
                             const struct cfg_root *cfg)
{
    srv->token = cfg->http.token ? cfg->http.token : "";
}

void http_server_quiesce(struct http_server *srv)
{
    /* Once only: MHD hands the same descriptor back every time, and by
     * the second its number may belong to a new server's socket. */
    if (srv->quiesced)
        return;
    srv->quiesced = true;
    MHD_socket fd = mhdapi.quiesce_daemon(srv->mhd);
    if (fd != MHD_INVALID_SOCKET)
        close(fd);
}

bool http_server_listening(const struct http_server *srv)
{
    return !srv->quiesced;
}

/* Its streams send what they have and end (clients come back elsewhere). */
static void end_streams(struct http_server *srv)
{
    if (!srv->stats->events)
        return;
    events_end(srv->stats->events, srv);
    /* Resumed, read, written: a run each, none of them waits. */
    for (int i = 0; i < 3; i++)
        mhdapi.run(srv->mhd);
    rearm(srv);
}

void http_server_retire(struct http_server *old, struct http_server *successor)
{
    http_server_quiesce(old);
    end_streams(old);
    old->token = ""; /* its config goes; no new writes through it */
    if (successor->retired)
        http_server_free(successor->retired); /* a reload ago: long done */
    successor->retired = old;
    ev_now_update(successor->loop);
    successor->retire_by = util_mono_now() + HTTP_RETIRE_MAX_S;
    ev_timer_again(successor->loop, &successor->retire_w);
}

void http_server_free(struct http_server *srv)
{
    if (!srv)
        return;
    /* No new client while its streams end first: each writes its end if
     * the socket takes it. */
    http_server_quiesce(srv);
    end_streams(srv);
    ev_io_stop(srv->loop, &srv->io_w);
    ev_timer_stop(srv->loop, &srv->timer_w);
    ev_timer_stop(srv->loop, &srv->retire_w);
    http_server_free(srv->retired);
    /* MHD must not stop with connections suspended: let them go first. */
    while (srv->reloads) {
        struct post *p = srv->reloads;
        srv->reloads = p->next;
        p->next = NULL;
        ev_timer_stop(srv->loop, &p->reload_w);
        p->reload_done = true; /* unanswered: closed below */
        mhdapi.resume_connection(p->conn);
    }
    mhdapi.stop_daemon(srv->mhd);
    /* Closing the connections above re-armed it. */
    ev_timer_stop(srv->loop, &srv->deadline_w);
    for (size_t i = 0; i < CACHED_COUNT; i++) {
        if (srv->responses[i])
            mhdapi.destroy_response(srv->responses[i]);
    }
    free(srv);
}
