/*
 * JSON string encoding for log lines and, later, HTTP bodies. Takes any
 * bytes: invalid UTF-8 becomes U+FFFD per bad byte, control characters and
 * NUL are escaped, so the output is always valid JSON.
 */
#ifndef SIDECAR_BASE_JSON_H
#define SIDECAR_BASE_JSON_H

#include <stddef.h>

#include "base/buf.h"

/*
 * Appends s[0..n) as a quoted JSON string. 0, or -ENOBUFS / -ENOMEM with b
 * unchanged.
 */
int json_put_string(struct buf *b, const char *s, size_t n) ATTR_WUR;

/*
 * Length of the valid UTF-8 sequence at s[0..n), 1-4, or 0 when the bytes
 * there are not one (overlong, surrogate, past U+10FFFF, cut short).
 */
size_t json_utf8_seq_len(const unsigned char *s, size_t n);

/*
 * Where to cut p (at least max bytes) to keep at most max bytes without
 * tearing a UTF-8 sequence in two: before a lead byte whose sequence would
 * not fit; max when none would.
 */
size_t json_utf8_cut(const char *p, size_t max);

#endif
