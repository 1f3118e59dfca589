#include "api/events.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "api/mhdapi.h"

#define EVENTS_RETRY "retry: 1000\n\n"
#define EVENTS_BLOCK ((size_t)4096) /* MHD's advisory read size */

/* One stream: a cursor into the ring, nothing more of its bytes. */
static void on_wake(EV_P_ ev_timer *w, int revents);
static void on_ping(EV_P_ ev_timer *w, int revents);

struct sub {
    struct events *ev;
    void *owner; /* its server */
    void (*kick)(void *owner);
    struct MHD_Connection *conn;
    unsigned long long next; /* the next event's id */
    size_t off;              /* bytes of it already sent */
    char head[96];           /* retry, lost or ping: sent first */
    size_t head_len;
    size_t head_off;
    unsigned long long pings; /* the last ping sent */
    bool suspended;
    bool ending;  /* its server goes: send what is left, then end */
    bool dropped; /* too slow: closed */
    struct sub *prev;
    struct sub *next_sub;
};

void events_init(struct events *ev, struct ev_loop *loop,
                 unsigned long long first_id)
{
    memset(ev, 0, sizeof(*ev));
    ev->loop = loop;
    ev->first_id = first_id ? first_id : 1;
    ev->next_id = ev->first_id;
    ev_timer_init(&ev->wake_w, on_wake, 0., 0.);
    ev_timer_init(&ev->ping_w, on_ping, EVENTS_PING_S, EVENTS_PING_S);
}

void events_free(struct events *ev)
{
    if (ev->loop) {
        ev_timer_stop(ev->loop, &ev->wake_w);
        ev_timer_stop(ev->loop, &ev->ping_w);
    }
    for (size_t i = 0; i < ev->count; i++)
        free(ev->ring[(ev->head + i) % EVENTS_MAX].text);
    ev->count = 0;
    ev->bytes = 0;
}

unsigned long long events_oldest(const struct events *ev)
{
    return ev->count ? ev->ring[ev->head].id : ev->next_id;
}

const struct event *events_get(const struct events *ev, unsigned long long id)
{
    unsigned long long oldest = events_oldest(ev);
    if (id < oldest || id >= ev->next_id)
        return NULL;
    return &ev->ring[(ev->head + (size_t)(id - oldest)) % EVENTS_MAX];
}

static void drop_oldest(struct events *ev)
{
    struct event *e = &ev->ring[ev->head];
    ev->bytes -= e->len;
    free(e->text);
    *e = (struct event){.id = 0};
    ev->head = (ev->head + 1) % EVENTS_MAX;
    ev->count--;
}

/*
 * Streams move on from the loop, never inside the call that logged the
 * event (which may be MHD's own callback). A stream not suspended whose
 * next event has just left the ring may never read again (a client that
 * stopped reading): it goes now.
 */
static void wake(struct events *ev)
{
    if (ev->loop && ev->subs && !ev_is_active(&ev->wake_w))
        ev_timer_start(ev->loop, &ev->wake_w);
}

int events_record(struct events *ev, const char *json, size_t len)
{
    char id[48];
    int n = snprintf(id, sizeof(id), "id: %llu\ndata: ", ev->next_id);
    size_t total = (size_t)n + len + 2;
    if (total > EVENTS_BYTES_MAX)
        return -E2BIG;
    char *text = malloc(total);
    if (!text)
        return -ENOMEM;
    memcpy(text, id, (size_t)n);
    memcpy(text + n, json, len);
    memcpy(text + n + len, "\n\n", 2);
    while (ev->count == EVENTS_MAX || ev->bytes + total > EVENTS_BYTES_MAX)
        drop_oldest(ev);
    ev->ring[(ev->head + ev->count) % EVENTS_MAX] =
        (struct event){.id = ev->next_id, .len = total, .text = text};
    ev->count++;
    ev->bytes += total;
    ev->next_id++;
    ev->recorded++;
    wake(ev);
    return 0;
}

void events_tap(void *ctx, const char *json, size_t len)
{
    /* Nothing to log: a lost event shows as a gap in the ids of none. */
    if (events_record(ctx, json, len) < 0)
        return;
}

void events_start(const struct events *ev, bool has_last,
                  unsigned long long last_id, unsigned long long *first,
                  long long *lost)
{
    unsigned long long oldest = events_oldest(ev);
    *lost = 0;
    if (!has_last) {
        unsigned long long n = ev->next_id - oldest;
        *first = n > EVENTS_REPLAY ? ev->next_id - EVENTS_REPLAY : oldest;
    } else if (last_id >= ev->next_id || last_id + 1 < ev->first_id) {
        *first = oldest; /* another process's id: what it missed is unknown */
        *lost = -1;
    } else if (last_id + 1 < oldest) {
        *first = oldest;
        *lost = (long long)(oldest - last_id - 1);
    } else {
        *first = last_id + 1;
    }
}

static void unlink_sub(struct sub *s)
{
    struct events *ev = s->ev;
    if (s->prev)
        s->prev->next_sub = s->next_sub;
    else
        ev->subs = s->next_sub;
    if (s->next_sub)
        s->next_sub->prev = s->prev;
    ev->subscribers--;
    if (!ev->subs && ev->loop) {
        ev_timer_stop(ev->loop, &ev->ping_w);
        ev_timer_stop(ev->loop, &ev->wake_w);
    }
}

/* Copies what is left of src (from *off) into out[*n..max). True: all. */
static bool copy(char *out, size_t *n, size_t max, const char *src, size_t len,
                 size_t *off)
{
    size_t k = len - *off;
    if (k > max - *n)
        k = max - *n;
    memcpy(out + *n, src + *off, k);
    *n += k;
    *off += k;
    return *off == len;
}

static void set_head(struct sub *s, const char *text)
{
    size_t len = strlen(text);
    memcpy(s->head, text, len);
    s->head_len = len;
    s->head_off = 0;
}

/* MHD's content reader: whole events after the cursor, as many as fit. */
static ssize_t read_stream(void *cls, uint64_t pos, char *out, size_t max)
{
    struct sub *s = cls;
    struct events *ev = s->ev;
    size_t n = 0;
    (void)pos;
    if (s->dropped)
        return MHD_CONTENT_READER_END_WITH_ERROR;
    while (n < max) {
        if (s->head_off < s->head_len) {
            if (!copy(out, &n, max, s->head, s->head_len, &s->head_off))
                break;
            continue;
        }
        const struct event *e = events_get(ev, s->next);
        if (!e && s->next < events_oldest(ev)) {
            /* Its next event left the ring before it could be sent. */
            ev->dropped_slow++;
            s->dropped = true;
            return MHD_CONTENT_READER_END_WITH_ERROR;
        }
        if (e) {
            if (!copy(out, &n, max, e->text, e->len, &s->off))
                break;
            s->next++;
            s->off = 0;
            continue;
        }
        if (s->pings == ev->pings || s->ending)
            break;
        s->pings = ev->pings;
        set_head(s, ": ping\n\n");
    }
    if (n)
        return (ssize_t)n;
    if (s->ending)
        return MHD_CONTENT_READER_END_OF_STREAM;
    /* Caught up: nothing until wake() or a ping resumes it. */
    s->suspended = true;
    mhdapi.suspend_connection(s->conn);
    return 0;
}

static void free_stream(void *cls)
{
    struct sub *s = cls;
    unlink_sub(s);
    free(s);
}

static void resume(struct sub *s)
{
    if (!s->suspended)
        return;
    s->suspended = false;
    mhdapi.resume_connection(s->conn);
    s->kick(s->owner);
}

/* The stream's socket, or -1 when MHD does not say. */
static int sub_fd(const struct sub *s)
{
    const union MHD_ConnectionInfo *i =
        mhdapi.get_connection_info(s->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    return i ? i->connect_fd : -1;
}

/* Shuts the socket down: MHD sees the end on its next run and closes. */
static void drop(struct sub *s)
{
    int fd = sub_fd(s);
    s->dropped = true;
    s->ev->dropped_slow++;
    if (fd >= 0)
        (void)shutdown(fd, SHUT_RDWR);
}

static void on_wake(EV_P_ ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    struct events *ev = container_of(w, struct events, wake_w);
    unsigned long long oldest = events_oldest(ev);
    for (struct sub *s = ev->subs; s; s = s->next_sub) {
        if (s->suspended)
            resume(s);
        else if (!s->dropped && s->next < oldest)
            drop(s);
    }
}

static void on_ping(EV_P_ ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    struct events *ev = container_of(w, struct events, ping_w);
    ev->pings++;
    for (struct sub *s = ev->subs; s; s = s->next_sub)
        resume(s);
}

/* Last-Event-ID: digits only, else it is as if none was sent. MHD keeps
 * the blanks after a value, which are not part of it (RFC 9110 5.5). */
static bool parse_id(const char *v, unsigned long long *id)
{
    if (!v || *v < '0' || *v > '9')
        return false;
    char *end;
    errno = 0;
    *id = strtoull(v, &end, 10);
    return errno == 0 && end[strspn(end, " \t")] == '\0';
}

/* Queues r with its type, never cached; r is released either way. */
static enum MHD_Result queue(struct MHD_Connection *c, unsigned status,
                             struct MHD_Response *r, const char *type)
{
    enum MHD_Result rc =
        mhdapi.add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type) ==
                    MHD_YES &&
                mhdapi.add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL,
                                           "no-store") == MHD_YES
            ? mhdapi.queue_response(c, status, r)
            : MHD_NO;
    mhdapi.destroy_response(r);
    return rc;
}

static enum MHD_Result refuse(struct MHD_Connection *c)
{
    static const char body[] = "{\"error\":\"too many event subscribers\"}\n";
    struct MHD_Response *r = mhdapi.create_response_from_buffer(
        sizeof(body) - 1, (void *)body, MHD_RESPMEM_PERSISTENT);
    return r ? queue(c, MHD_HTTP_SERVICE_UNAVAILABLE, r, "application/json")
             : MHD_NO;
}

/* True when the client closed its end (or the socket failed). */
static bool peer_gone(struct sub *s)
{
    int fd = sub_fd(s);
    char c;
    if (fd < 0)
        return false;
    ssize_t n = recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
    return n == 0 ||
           (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR);
}

/*
 * MHD sees no hang-up of a suspended connection: at the cap, the streams
 * whose clients left go now rather than at their next event or ping (a
 * client refused meanwhile comes back after its retry).
 */
static void sweep_gone(struct events *ev)
{
    for (struct sub *s = ev->subs; s; s = s->next_sub) {
        if (s->suspended && !s->ending && peer_gone(s)) {
            s->ending = true;
            resume(s);
        }
    }
}

enum MHD_Result events_answer(struct events *ev, void *owner,
                              void (*kick)(void *owner),
                              struct MHD_Connection *c, unsigned max)
{
    if (ev->subscribers >= max) {
        sweep_gone(ev);
        return refuse(c);
    }
    struct sub *s = calloc(1, sizeof(*s));
    if (!s)
        return MHD_NO;
    unsigned long long last = 0;
    bool has_last = parse_id(
        mhdapi.lookup_connection_value(c, MHD_HEADER_KIND, "Last-Event-ID"),
        &last);
    long long lost;
    events_start(ev, has_last, last, &s->next, &lost);
    s->ev = ev;
    s->owner = owner;
    s->kick = kick;
    s->conn = c;
    s->pings = ev->pings;
    if (lost)
        snprintf(s->head, sizeof(s->head),
                 EVENTS_RETRY "event: lost\ndata: {\"lost\":%lld}\n\n", lost);
    else
        snprintf(s->head, sizeof(s->head), EVENTS_RETRY);
    s->head_len = strlen(s->head);
    struct MHD_Response *r = mhdapi.create_response_from_callback(
        MHD_SIZE_UNKNOWN, EVENTS_BLOCK, read_stream, s, free_stream);
    if (!r) {
        free(s);
        return MHD_NO;
    }
    /* Linked now: from here on free_stream() unlinks and frees it. */
    s->next_sub = ev->subs;
    if (ev->subs)
        ev->subs->prev = s;
    ev->subs = s;
    ev->subscribers++;
    if (ev->loop && !ev_is_active(&ev->ping_w))
        ev_timer_start(ev->loop, &ev->ping_w);
    /* Released: frees s too when it was not queued. */
    return queue(c, MHD_HTTP_OK, r, "text/event-stream");
}

void events_end(struct events *ev, const void *owner)
{
    for (struct sub *s = ev->subs; s; s = s->next_sub) {
        if (s->owner != owner)
            continue;
        s->ending = true;
        resume(s);
    }
}
