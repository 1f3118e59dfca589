#include "proc/relay.h"

#include <errno.h>
#include <ev.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/json.h"
#include "base/log.h"

#define RELAY_READ_SIZE (64 * 1024)

struct relay {
    struct ev_loop *loop;
    ev_io io;
    struct log_waiter waiter;
    char *service; /* a copy: a reload may free the config first */
    const char *stream;
    size_t max_line;
    bool closing;       /* the child is gone: drain, then free ourselves */
    struct buf line;    /* the line read so far, up to max_line bytes */
    struct buf pending; /* bytes read but not fed yet: the sink was full */
};

static void emit(struct relay *r, const char *p, size_t n, bool partial)
{
    if (n && p[n - 1] == '\r' && !partial)
        n--; /* CRLF output reads as LF */
    log_child_line(r->service, r->stream, p, n, partial);
}

/*
 * Keeps bytes of an unfinished line. Without memory for them the line so
 * far goes out as a partial piece rather than being lost.
 */
static void hold(struct relay *r, const char *p, size_t n)
{
    if (buf_append(&r->line, p, n) == 0)
        return;
    emit(r, r->line.data, r->line.len, true);
    buf_truncate(&r->line, 0);
    emit(r, p, n, true);
}

/*
 * Feeds bytes: every complete line goes out, a line that outgrows
 * max_line goes out in pieces, an unfinished tail (at most max_line bytes)
 * waits in r->line. Stops after any line that leaves the sink full and
 * returns how many bytes it took.
 */
static size_t feed(struct relay *r, const char *p, size_t n)
{
    size_t used = 0;
    while (used < n && log_has_room()) {
        const char *s = p + used;
        size_t left = n - used;
        const char *nl = memchr(s, '\n', left);
        size_t take = nl ? (size_t)(nl - s) : left;
        /* A CR before the LF is not part of the line's length. */
        size_t len = nl && take && s[take - 1] == '\r' ? take - 1 : take;

        if (r->line.len + len > r->max_line) {
            size_t room = r->max_line - r->line.len;
            if (r->line.len == 0) {
                size_t cut = json_utf8_cut(s, room);
                emit(r, s, cut, true);
                used += cut;
            } else {
                hold(r, s, room);
                size_t cut = json_utf8_cut(r->line.data, r->line.len);
                emit(r, r->line.data, cut, true);
                buf_consume(&r->line, cut);
                used += room;
            }
            continue;
        }
        if (!nl) {
            hold(r, s, take);
            return n;
        }
        if (r->line.len) {
            hold(r, s, take);
            emit(r, r->line.data, r->line.len, false);
            buf_truncate(&r->line, 0);
        } else {
            emit(r, s, take, false);
        }
        used += take + 1;
    }
    return used;
}

/*
 * Moves bytes from the pipe to the sink until the pipe is empty (-EAGAIN),
 * at EOF (0), on error, or with the sink full (-ENOBUFS, the rest of the
 * chunk kept in r->pending).
 */
static int pump(struct relay *r)
{
    char chunk[RELAY_READ_SIZE];
    for (;;) {
        if (r->pending.len) {
            size_t used = feed(r, r->pending.data, r->pending.len);
            buf_consume(&r->pending, used);
            if (r->pending.len)
                return -ENOBUFS;
        }
        if (!log_has_room())
            return -ENOBUFS;
        ssize_t n = read(r->io.fd, chunk, sizeof(chunk));
        if (n == 0)
            return 0;
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        size_t used = feed(r, chunk, (size_t)n);
        if (used < (size_t)n) {
            /* Fits: pending is empty here and holds a whole chunk. */
            if (buf_append(&r->pending, chunk + used, (size_t)n - used) < 0)
                return -ENOMEM;
            return -ENOBUFS;
        }
    }
}

/* The end: flush the unfinished line, close the pipe, free. */
static void destroy(struct relay *r)
{
    if (r->line.len)
        emit(r, r->line.data, r->line.len, false);
    ev_io_stop(r->loop, &r->io);
    log_cancel_wait(&r->waiter);
    close(r->io.fd);
    buf_free(&r->line);
    buf_free(&r->pending);
    free(r->service);
    free(r);
}

/* Runs the relay until it must wait; a closing relay ends when drained. */
static void run(struct relay *r)
{
    int rc = pump(r);
    if (rc == -ENOBUFS) {
        ev_io_stop(r->loop, &r->io);
        log_wait_for_room(&r->waiter);
    } else if (r->closing) {
        /* Writers are gone: an empty pipe is as good as EOF. */
        destroy(r);
    } else if (rc != -EAGAIN) {
        /* EOF or error before the child's exit was seen: wait for it. */
        ev_io_stop(r->loop, &r->io);
    } else if (!ev_is_active(&r->io)) {
        ev_io_start(r->loop, &r->io);
    }
}

static void on_readable(EV_P_ ev_io *w, int revents)
{
    (void)loop;
    (void)revents;
    run(container_of(w, struct relay, io));
}

static void on_room(struct log_waiter *lw)
{
    run(container_of(lw, struct relay, waiter));
}

struct relay *relay_new(struct ev_loop *loop, int fd, const char *service,
                        const char *stream, size_t max_line)
{
    struct relay *r = calloc(1, sizeof(*r));
    if (!r) {
        close(fd);
        return NULL;
    }
    r->service = strdup(service);
    if (!r->service) {
        free(r);
        close(fd);
        return NULL;
    }
    r->loop = loop;
    r->stream = stream;
    r->max_line = max_line;
    r->waiter.on_room = on_room;
    /* +1: a CR before the newline may ride on a line of max_line bytes. */
    buf_init(&r->line, max_line + 1);
    buf_init(&r->pending, RELAY_READ_SIZE);
    ev_io_init(&r->io, on_readable, fd, EV_READ);
    ev_io_start(loop, &r->io);
    return r;
}

void relay_finish(struct relay *r)
{
    if (!r)
        return;
    r->closing = true;
    ev_io_stop(r->loop, &r->io);
    log_cancel_wait(&r->waiter);
    run(r);
}
