#include "sidecar/relay.h"

#include <errno.h>
#include <ev.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sidecar/buf.h"
#include "sidecar/log.h"

#define RELAY_READ_SIZE (64 * 1024)

struct relay {
    struct ev_loop *loop;
    ev_io io;
    struct log_waiter waiter;
    const char *service;
    const char *stream;
    size_t max_line;
    struct buf line; /* the line read so far, up to max_line bytes */
};

static void emit(struct relay *r, const char *p, size_t n, bool partial)
{
    if (n && p[n - 1] == '\r' && !partial)
        n--; /* CRLF output reads as LF */
    log_child_line(r->service, r->stream, p, n, partial);
}

/*
 * Where to cut a piece of at most max bytes so that a UTF-8 sequence is
 * not torn in two: before a lead byte whose sequence would not fit.
 */
static size_t cut_point(const char *p, size_t max)
{
    for (size_t back = 1; back <= 3 && back <= max; back++) {
        unsigned char c = (unsigned char)p[max - back];
        if ((c & 0xc0) == 0x80)
            continue; /* continuation byte: keep looking for the lead */
        size_t need = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc0 ? 2 : 1;
        return need > back && back < max ? max - back : max;
    }
    return max;
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
 * max_line goes out in pieces, and an unfinished tail (at most max_line
 * bytes) waits in r->line.
 */
static void feed(struct relay *r, const char *p, size_t n)
{
    while (n) {
        const char *nl = memchr(p, '\n', n);
        size_t take = nl ? (size_t)(nl - p) : n;

        if (r->line.len + take > r->max_line) {
            size_t room = r->max_line - r->line.len;
            if (r->line.len == 0) {
                size_t cut = cut_point(p, room);
                emit(r, p, cut, true);
                p += cut;
                n -= cut;
            } else {
                hold(r, p, room);
                size_t cut = cut_point(r->line.data, r->line.len);
                emit(r, r->line.data, cut, true);
                buf_consume(&r->line, cut);
                p += room;
                n -= room;
            }
            continue;
        }
        if (!nl) {
            hold(r, p, take);
            return;
        }
        if (r->line.len) {
            hold(r, p, take);
            emit(r, r->line.data, r->line.len, false);
            buf_truncate(&r->line, 0);
        } else {
            emit(r, p, take, false);
        }
        p += take + 1;
        n -= take + 1;
    }
}

/* Reads until EAGAIN, EOF, or (when paced) the sink is full. */
static int pump(struct relay *r, bool paced)
{
    char chunk[RELAY_READ_SIZE];
    for (;;) {
        if (paced && !log_has_room())
            return -ENOBUFS;
        ssize_t n = read(r->io.fd, chunk, sizeof(chunk));
        if (n > 0) {
            feed(r, chunk, (size_t)n);
            continue;
        }
        if (n == 0)
            return 0;
        if (errno == EINTR)
            continue;
        return -errno;
    }
}

static void on_readable(EV_P_ ev_io *w, int revents)
{
    (void)revents;
    struct relay *r = container_of(w, struct relay, io);
    int rc = pump(r, true);
    if (rc == -ENOBUFS) {
        ev_io_stop(EV_A_ w);
        log_wait_for_room(&r->waiter);
    } else if (rc != -EAGAIN) {
        /* EOF or error before the child's exit was seen: wait for it. */
        ev_io_stop(EV_A_ w);
    }
}

static void on_room(struct log_waiter *lw)
{
    struct relay *r = container_of(lw, struct relay, waiter);
    ev_io_start(r->loop, &r->io);
}

struct relay *relay_new(struct ev_loop *loop, int fd, const char *service,
                        const char *stream, size_t max_line)
{
    struct relay *r = calloc(1, sizeof(*r));
    if (!r) {
        close(fd);
        return NULL;
    }
    r->loop = loop;
    r->service = service;
    r->stream = stream;
    r->max_line = max_line;
    r->waiter.on_room = on_room;
    buf_init(&r->line, max_line);
    ev_io_init(&r->io, on_readable, fd, EV_READ);
    ev_io_start(loop, &r->io);
    return r;
}

void relay_finish(struct relay *r)
{
    if (!r)
        return;
    ev_io_stop(r->loop, &r->io);
    log_cancel_wait(&r->waiter);
    (void)pump(r, false);
    if (r->line.len)
        emit(r, r->line.data, r->line.len, false);
    close(r->io.fd);
    buf_free(&r->line);
    free(r);
}
