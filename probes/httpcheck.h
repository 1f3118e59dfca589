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
 * true when status is in cfg->expect_status and body[0..len) contains
 * cfg->expect_body (truncated: more came than len). reason (len bytes)
 * gets "HTTP 200", "HTTP 503: <start of the body>" or "HTTP 200 but the
 * body does not contain 'x'".
 */
bool httpcheck_judge(const struct cfg_probe *cfg, long status, const char *body,
                     size_t len, bool truncated, char *reason,
                     size_t reason_len);

#endif
