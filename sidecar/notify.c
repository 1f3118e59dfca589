#include "sidecar/notify.h"

#include <errno.h>
#include <stdlib.h>

#include "base/log.h"

#define NOTIFY_RING_MIN 64

static void handle(struct notify_queue *q, const struct notice *n)
{
    q->depth++;
    if (q->depth > q->max_depth)
        q->max_depth = q->depth;
    q->handler(q, n, q->arg);
    q->depth--;
}

/* Handles every queued change, those the handlers queue included. */
static void dispatch(struct notify_queue *q)
{
    while (q->count) {
        struct notice n = q->ring[q->head];
        q->head = (q->head + 1) % q->cap;
        q->count--;
        if (n.obj) /* else forgotten: freed since */
            handle(q, &n);
    }
}

/*
 * Fed, at the highest priority, by the first push: libev invokes pending
 * watchers last in, first out, and a feed restarts that walk at the top
 * priority, so this runs as soon as the callback that pushed returns,
 * before any other event of the iteration; and it drains the queue, so
 * nothing waits for the next iteration (an ev_check or ev_idle would run
 * after this iteration's other events, or after the next poll).
 */
static void on_dispatch(EV_P_ ev_idle *w, int revents)
{
    (void)loop;
    (void)revents;
    dispatch(container_of(w, struct notify_queue, dispatch_w));
}

int notify_init(struct notify_queue *q, struct ev_loop *loop,
                notify_handler_fn *handler, void *arg)
{
    *q = (struct notify_queue){.loop = loop, .handler = handler, .arg = arg};
    ev_idle_init(&q->dispatch_w, on_dispatch);
    ev_set_priority(&q->dispatch_w, EV_MAXPRI);
    q->ring = calloc(NOTIFY_RING_MIN, sizeof(*q->ring));
    if (!q->ring)
        return -ENOMEM;
    q->cap = NOTIFY_RING_MIN;
    return 0;
}

/* Doubles the ring, keeping the order: 0, or -ENOMEM. */
static int grow(struct notify_queue *q)
{
    struct notice *ring = calloc(q->cap * 2, sizeof(*ring));
    if (!ring)
        return -ENOMEM;
    for (size_t i = 0; i < q->count; i++)
        ring[i] = q->ring[(q->head + i) % q->cap];
    free(q->ring);
    q->ring = ring;
    q->head = 0;
    q->cap *= 2;
    return 0;
}

void notify_push(struct notify_queue *q, enum notify_kind kind, void *obj,
                 int old, int now)
{
    struct notice n = {.kind = kind, .obj = obj, .old = old, .now = now};
    if (q->count == q->cap && grow(q) < 0) {
        LOG_ERROR("out of memory queueing a state change; handling it now");
        handle(q, &n);
        return;
    }
    q->ring[(q->head + q->count) % q->cap] = n;
    q->count++;
    ev_feed_event(q->loop, &q->dispatch_w, EV_CUSTOM);
}

void notify_forget(struct notify_queue *q, const void *obj)
{
    for (size_t i = 0; i < q->count; i++) {
        struct notice *n = &q->ring[(q->head + i) % q->cap];
        if (n->obj == obj)
            n->obj = NULL;
    }
}

unsigned notify_max_depth(const struct notify_queue *q)
{
    return q->max_depth;
}

void notify_fini(struct notify_queue *q)
{
    if (q->loop)
        ev_clear_pending(q->loop, &q->dispatch_w);
    free(q->ring);
    q->ring = NULL;
    q->count = 0;
}
