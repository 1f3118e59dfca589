/*
 * The one CURLM of sidecar on the libev loop (hiperfifo pattern): one ev_io
 * per socket curl asks for (struct sock, attached with curl_multi_assign),
 * one ev_timer for curl's timeout. Completions are read after every
 * curl_multi_socket_action and dispatched one at a time, so a done callback
 * may add or remove any handle, and even free the multi handle.
 */
#include "probes/curlm.h"

#include "probes/curlapi.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>

/* An ev_io for one of curl's sockets, on the list of its multi handle. */
struct sock {
    ev_io io_w;
    struct curlm *m;
    struct sock *prev;
    struct sock *next;
};

struct curlm {
    struct ev_loop *loop;
    CURLM *multi;
    ev_timer timer_w;
    struct sock *socks; /* every struct sock alive, for curlm_free */
    unsigned depth;     /* loop callbacks on the stack */
    bool doomed;        /* curlm_free was called under a callback */
};

static void destroy(struct curlm *m);

/* The struct curlm_transfer curlm_add stored in CURLOPT_PRIVATE. */
static struct curlm_transfer *transfer_of(CURL *easy)
{
    char *priv = NULL;

    if (curlapi.easy_getinfo(easy, CURLINFO_PRIVATE, &priv) != CURLE_OK)
        return NULL;
    return (struct curlm_transfer *)(void *)priv;
}

static void detach(struct curlm *m, struct curlm_transfer *t)
{
    /* Fails only for handles that are not in m: nothing left to undo. */
    (void)curlapi.multi_remove_handle(m->multi, t->easy);
    t->added = false;
}

/*
 * Dispatches finished transfers one message at a time: each done callback
 * may remove other handles (their messages go with them) or add new ones,
 * so nothing read from curl is kept across a callback.
 */
static void dispatch_done(struct curlm *m)
{
    while (!m->doomed) {
        int left;
        CURLMsg *msg = curlapi.multi_info_read(m->multi, &left);

        if (msg == NULL)
            break;
        if (msg->msg != CURLMSG_DONE)
            continue;

        CURL *easy = msg->easy_handle;
        CURLcode result = msg->data.result;
        struct curlm_transfer *t = transfer_of(easy);

        if (t == NULL) {
            (void)curlapi.multi_remove_handle(m->multi, easy);
            continue;
        }
        detach(m, t);
        t->done(easy, result, t->arg);
    }
}

/* Runs curl for one event, then its completions. */
static void drive(struct curlm *m, curl_socket_t fd, int ev_bitmask)
{
    int running;

    m->depth++;
    /* A failure here is curl's internal state (out of memory); the
     * transfers concerned end through info_read or their timeouts. */
    (void)curlapi.multi_socket_action(m->multi, fd, ev_bitmask, &running);
    dispatch_done(m);
    m->depth--;
    if (m->doomed && m->depth == 0)
        destroy(m);
}

static void on_io(EV_P_ ev_io *w, int revents)
{
    struct sock *s = container_of(w, struct sock, io_w);
    struct curlm *m = s->m;
    curl_socket_t fd = w->fd;
    int mask = 0;

    (void)loop;
    if (revents & EV_READ)
        mask |= CURL_CSELECT_IN;
    if (revents & EV_WRITE)
        mask |= CURL_CSELECT_OUT;
    if (revents & EV_ERROR)
        mask |= CURL_CSELECT_ERR;
    /* s may be freed by the call below (CURL_POLL_REMOVE). */
    drive(m, fd, mask);
}

static void on_timeout(EV_P_ ev_timer *w, int revents)
{
    struct curlm *m = container_of(w, struct curlm, timer_w);

    (void)loop;
    (void)revents;
    drive(m, CURL_SOCKET_TIMEOUT, 0);
}

static void sock_free(struct curlm *m, struct sock *s)
{
    ev_io_stop(m->loop, &s->io_w);
    if (s->prev)
        s->prev->next = s->next;
    else
        m->socks = s->next;
    if (s->next)
        s->next->prev = s->prev;
    free(s);
}

/*
 * CURLMOPT_SOCKETFUNCTION. CURL_POLL_REMOVE comes before curl closes the
 * socket: the watcher stops there, so a reused descriptor number never
 * meets a stale watcher. Out of memory, the socket goes unwatched and its
 * transfer ends at its timeout.
 */
static int on_socket(CURL *easy, curl_socket_t fd, int what, void *userp,
                     void *socketp)
{
    struct curlm *m = userp;
    struct sock *s = socketp;
    int events = 0;

    (void)easy;
    if (what == CURL_POLL_REMOVE) {
        if (s) {
            (void)curlapi.multi_assign(m->multi, fd, NULL);
            sock_free(m, s);
        }
        return 0;
    }
    if (what & CURL_POLL_IN)
        events |= EV_READ;
    if (what & CURL_POLL_OUT)
        events |= EV_WRITE;
    if (s == NULL) {
        s = calloc(1, sizeof(*s));
        if (s == NULL)
            return 0;
        if (curlapi.multi_assign(m->multi, fd, s) != CURLM_OK) {
            free(s);
            return 0;
        }
        s->m = m;
        s->next = m->socks;
        if (m->socks)
            m->socks->prev = s;
        m->socks = s;
        ev_io_init(&s->io_w, on_io, fd, events);
    } else {
        ev_io_stop(m->loop, &s->io_w);
        ev_io_set(&s->io_w, fd, events);
    }
    if (events)
        ev_io_start(m->loop, &s->io_w);
    return 0;
}

/*
 * CURLMOPT_TIMERFUNCTION: only (re)arms the ev_timer; curl must not be
 * re-entered from here. -1 deletes the timer; 0 fires on the next loop
 * iteration.
 */
static int on_timer(CURLM *multi, long timeout_ms, void *userp)
{
    struct curlm *m = userp;

    (void)multi;
    ev_timer_stop(m->loop, &m->timer_w);
    if (timeout_ms >= 0) {
        ev_timer_set(&m->timer_w, (double)timeout_ms / 1000.0, 0.0);
        ev_timer_start(m->loop, &m->timer_w);
    }
    return 0;
}

struct curlm *curlm_new(struct ev_loop *loop)
{
    struct curlm *m = calloc(1, sizeof(*m));

    if (m == NULL)
        return NULL;
    m->loop = loop;
    ev_timer_init(&m->timer_w, on_timeout, 0.0, 0.0);
    m->multi = curlapi.multi_init();
    if (m->multi == NULL)
        goto out_free;
    if (curlapi.multi_setopt(m->multi, CURLMOPT_SOCKETFUNCTION, on_socket) !=
            CURLM_OK ||
        curlapi.multi_setopt(m->multi, CURLMOPT_SOCKETDATA, m) != CURLM_OK ||
        curlapi.multi_setopt(m->multi, CURLMOPT_TIMERFUNCTION, on_timer) !=
            CURLM_OK ||
        curlapi.multi_setopt(m->multi, CURLMOPT_TIMERDATA, m) != CURLM_OK)
        goto out_cleanup;
    return m;

out_cleanup:
    (void)curlapi.multi_cleanup(m->multi);
out_free:
    free(m);
    return NULL;
}

int curlm_add(struct curlm *m, struct curlm_transfer *t)
{
    CURLMcode rc;

    if (m->doomed)
        return -ESHUTDOWN;
    if (t->added)
        return -EALREADY;
    if (curlapi.easy_setopt(t->easy, CURLOPT_PRIVATE, t) != CURLE_OK)
        return -EINVAL;
    /* Schedules curl's timer (0 ms): the transfer starts, and can only
     * end, from the loop. */
    rc = curlapi.multi_add_handle(m->multi, t->easy);
    if (rc != CURLM_OK) {
        switch (rc) {
        case CURLM_OUT_OF_MEMORY:
            return -ENOMEM;
        case CURLM_ADDED_ALREADY:
            return -EALREADY;
        default:
            return -EINVAL;
        }
    }
    t->added = true;
    return 0;
}

void curlm_remove(struct curlm *m, struct curlm_transfer *t)
{
    if (t->added)
        detach(m, t);
}

/* Frees m once nothing of it is on the stack. */
static void destroy(struct curlm *m)
{
    /* Stop every watcher before curl closes what is left (with
     * FORBID_REUSE nothing should be); curl_multi_cleanup may still
     * report CURL_POLL_REMOVE for some, which frees them. */
    for (struct sock *s = m->socks; s; s = s->next)
        ev_io_stop(m->loop, &s->io_w);
    (void)curlapi.multi_cleanup(m->multi);
    while (m->socks)
        sock_free(m, m->socks);
    ev_timer_stop(m->loop, &m->timer_w);
    free(m);
}

void curlm_free(struct curlm *m)
{
    if (m == NULL)
        return;
    if (m->depth > 0) {
        m->doomed = true; /* drive() finishes the job */
        return;
    }
    destroy(m);
}
