/*
 * The event ring behind GET /events: the last state changes (base/log's
 * tap, LOG_CHANGE), at most EVENTS_MAX of them and EVENTS_BYTES_MAX bytes,
 * each kept as its server-sent event ("id: N\ndata: <JSON>\n\n"); ids run
 * from 1 for the process's life. Owned by the front end (api/frontend.c),
 * so it outlives the servers a reload replaces. Also serves the streams:
 * a subscriber is a cursor (the next id) and an offset into it; its bytes
 * wait in MHD's own bounded buffer, never here. A caught-up stream is
 * suspended in MHD and resumed from the loop when an event is recorded,
 * or every EVENTS_PING_S for a ": ping" comment. One whose next event has
 * left the ring is disconnected and counted.
 */
#ifndef SIDECAR_API_EVENTS_H
#define SIDECAR_API_EVENTS_H

#include <ev.h>
#include <microhttpd.h>
#include <stdbool.h>
#include <stddef.h>

#include "base/util.h"

#define EVENTS_MAX             256u
#define EVENTS_BYTES_MAX       ((size_t)128 * 1024)
#define EVENTS_REPLAY          20u  /* sent to a subscriber without an id */
#define EVENTS_SUBSCRIBERS_MAX 256u /* also at most half the connections */
#define EVENTS_PING_S          15.0

struct event {
    unsigned long long id;
    size_t len;
    char *text; /* "id: N\ndata: <JSON>\n\n" */
};

struct sub;

struct events {
    struct ev_loop *loop;
    struct event ring[EVENTS_MAX];
    size_t head;                 /* the oldest's slot */
    size_t count;                /* events in the ring */
    size_t bytes;                /* their texts' lengths */
    unsigned long long first_id; /* this process's first */
    unsigned long long next_id;
    /* For /metrics. */
    unsigned long long recorded;
    unsigned long long dropped_slow;
    unsigned subscribers;
    struct sub *subs; /* every stream, of every server */
    unsigned long long pings;
    ev_timer wake_w; /* zero delay: resume the streams after a record */
    ev_timer ping_w;
};

/*
 * An empty ring on loop (loop may be NULL: no streams, as in unit tests)
 * whose ids start at first_id (at least 1). sidecar starts them at its
 * start time in microseconds, so that an id of an earlier sidecar process
 * is below them: a client that outlived it is not resumed at a wrong id.
 */
void events_init(struct events *ev, struct ev_loop *loop,
                 unsigned long long first_id);

/* Frees the ring; the streams must be gone (their servers freed). */
void events_free(struct events *ev);

/*
 * Records one event: json is its object on one line. Drops the oldest
 * while the ring would hold more than its bounds. 0, -E2BIG (the event
 * alone is over the bytes' bound; not recorded), -ENOMEM.
 */
int events_record(struct events *ev, const char *json, size_t len) ATTR_WUR;

/* base/log's tap (log_tap_fn): records, and logs nothing. */
void events_tap(void *ctx, const char *json, size_t len);

/* The event with this id, or NULL when it is not in the ring. */
const struct event *events_get(const struct events *ev, unsigned long long id);

/* The oldest id in the ring (next_id when it is empty). */
unsigned long long events_oldest(const struct events *ev);

/*
 * Where a new subscriber starts: *first, the first id to send, and *lost,
 * 0, or how many events after last_id have left the ring (-1: unknown,
 * last_id is another process's: below this one's first, or above its
 * newest). has_last says whether the client sent Last-Event-ID.
 */
void events_start(const struct events *ev, bool has_last,
                  unsigned long long last_id, unsigned long long *first,
                  long long *lost);

/*
 * Answers GET /events on c for the server owner: the stream, or 503 past
 * max subscribers. kick(owner) has MHD run soon (from the loop) after a
 * stream of owner's was resumed. MHD_NO when it cannot (out of memory).
 */
enum MHD_Result events_answer(struct events *ev, void *owner,
                              void (*kick)(void *owner),
                              struct MHD_Connection *c, unsigned max);

/*
 * Ends owner's streams: each sends what it has, then its end. The caller
 * runs its MHD daemon afterwards.
 */
void events_end(struct events *ev, const void *owner);

#endif
