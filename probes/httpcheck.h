/*
 * The verdict of an http probe's answer, whoever fetched it (libcurl in
 * http.c, or the native exchange of httpwire.c): the status against
 * expect_status, the body against expect_body, and the words of the
 * reason. Owns nothing; no I/O.
 */
#ifndef SIDECAR_PROBES_HTTPCHECK_H
#define SIDECAR_PROBES_HTTPCHECK_H

#include <stdbool.h>
#include <stddef.h>

#include "conf/model.h"

#define HTTPCHECK_BODY_MAX (64 * 1024) /* body bytes judged, as kubelet */
#define HTTPCHECK_EXCERPT  200         /* body bytes quoted in a failure */

/*
 * The start of a body on one line, built as the body arrives: control
 * bytes (CR, LF, NUL, ...) become spaces, runs of spaces one, leading ones
 * none, up to HTTPCHECK_EXCERPT bytes. Reset it before each answer.
 */
struct httpcheck_excerpt {
    char text[HTTPCHECK_EXCERPT];
    size_t len;
    bool space; /* the last byte kept was a space: drop more */
    bool more;  /* bytes came once text was full */
};

void httpcheck_excerpt_reset(struct httpcheck_excerpt *e);

/* Adds n body bytes; false once it is full and wants no more. */
bool httpcheck_excerpt_add(struct httpcheck_excerpt *e, const char *data,
                           size_t n);

/*
 * The verdict of an answer whose excerpt was built as it arrived (body is
 * read only for expect_body; NULL, 0 without it): as httpcheck_judge().
 */
bool httpcheck_verdict(const struct cfg_probe *cfg, long status,
                       const char *body, size_t len, bool truncated,
                       const struct httpcheck_excerpt *e, char *reason,
                       size_t reason_len);

/*
 * true when status is in cfg->expect_status and body[0..len) contains
 * cfg->expect_body (truncated: more came than len). reason (len bytes)
 * gets "HTTP 200", "HTTP 503: <start of the body>" or "HTTP 200 but the
 * body does not contain 'x'".
 */
bool httpcheck_judge(const struct cfg_probe *cfg, long status, const char *body,
                     size_t len, bool truncated, char *reason,
                     size_t reason_len);

#endif
