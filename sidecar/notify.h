/*
 * struct notify_queue: the supervisor's FIFO of state changes (of services
 * and probes) waiting to be handled. A change is pushed from inside the
 * call that made it and handled from the loop, right after the callback
 * that made it returns: a handler never runs inside another one, however
 * its own actions chain. Embedded in struct sidecar; owns its ring and
 * one watcher (never started, only fed).
 */
#ifndef SIDECAR_SIDECAR_NOTIFY_H
#define SIDECAR_SIDECAR_NOTIFY_H

#include <ev.h>
#include <stddef.h>

#include "base/util.h"

enum notify_kind {
    NOTIFY_SERVICE,       /* a struct svc changed state: old -> now */
    NOTIFY_PROBE,         /* a struct probe changed state: old -> now */
    NOTIFY_PROBE_RESTART, /* a probe's on_failure: restart is due */
};

/* One change, as it was when it happened. */
struct notice {
    enum notify_kind kind;
    void *obj; /* the service or probe; NULL once forgotten */
    int old;   /* its state before (enum svc_state or enum probe_state) */
    int now;   /* and after this change */
};

struct notify_queue;
typedef void notify_handler_fn(struct notify_queue *q, const struct notice *n,
                               void *arg);

struct notify_queue {
    /* private */
    struct ev_loop *loop;
    ev_idle dispatch_w; /* fed, never started */
    struct notice *ring;
    size_t cap;
    size_t head;
    size_t count;
    notify_handler_fn *handler;
    void *arg;
    unsigned depth;     /* handlers running now */
    unsigned max_depth; /* the most that ever ran at once */
};

/* Sets q up, empty: 0, or -ENOMEM. */
int notify_init(struct notify_queue *q, struct ev_loop *loop,
                notify_handler_fn *handler, void *arg) ATTR_WUR;

/*
 * Queues a change for the handler, called from the loop right after the
 * running callback returns (before any other event), or, outside the
 * loop, when it next runs. Never calls the handler itself, unless memory
 * runs out (logged): a late change would be worse than a nested one.
 */
void notify_push(struct notify_queue *q, enum notify_kind kind, void *obj,
                 int old, int now);

/* obj is about to be freed: its queued changes are dropped. */
void notify_forget(struct notify_queue *q, const void *obj);

/* The most handlers that have run nested: 1 unless something re-enters. */
unsigned notify_max_depth(const struct notify_queue *q);

/* Drops what is queued and frees. */
void notify_fini(struct notify_queue *q);

#endif
