/*
 * struct buf: a growable byte buffer with a hard cap (curl's dynbuf). Every
 * append either fits entirely or fails with -ENOBUFS and leaves the buffer
 * as it was, so a caller never holds half a record. Owned by whoever embeds
 * it; buf_free() releases the storage.
 */
#ifndef SIDECAR_BASE_BUF_H
#define SIDECAR_BASE_BUF_H

#include <stddef.h>

#include "base/util.h"

struct buf {
    char *data;
    size_t len;
    size_t alloc;
    size_t max; /* appends that would grow len past max fail */
};

/* Sets up an empty buffer that may hold at most max bytes. */
void buf_init(struct buf *b, size_t max);

/* Appends n bytes. 0, or -ENOBUFS (over max) / -ENOMEM; b unchanged then. */
int buf_append(struct buf *b, const void *p, size_t n) ATTR_WUR;

/* Appends a NUL-terminated string; as buf_append. */
int buf_puts(struct buf *b, const char *s) ATTR_WUR;

/* Appends printf output; as buf_append. */
int buf_printf(struct buf *b, const char *fmt, ...) ATTR_WUR ATTR_FMT(2, 3);

/* Drops the first n bytes (n <= len). */
void buf_consume(struct buf *b, size_t n);

/* Truncates to len bytes (len <= b->len); keeps the storage. */
void buf_truncate(struct buf *b, size_t len);

/* Releases the storage; the buffer is empty and usable again. */
void buf_free(struct buf *b);

#endif
