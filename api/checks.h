/*
 * The named checks behind /livez, /readyz and /startupz, as the Kubernetes
 * API server lists them: every probe by its name, every service as
 * service:<name>, and "shutdown" while draining. Each check passes or
 * fails for one endpoint exactly when it alone would fail that endpoint,
 * so the endpoint passes when every check not excluded passes. Renders
 * the ?verbose / ?exclude= and /<endpoint>/<check> answers. Reads the
 * supervisor's view (sidecar/view.h); owns nothing.
 */
#ifndef SIDECAR_API_CHECKS_H
#define SIDECAR_API_CHECKS_H

#include <stdbool.h>
#include <stddef.h>

#include "base/buf.h"
#include "base/util.h"

struct sidecar_view;

enum check_endpoint { CHECK_LIVEZ, CHECK_READYZ, CHECK_STARTUPZ };

/*
 * Writes the endpoint's answer into body: with verbose, one line a check
 * ("[+]name ok", "[-]name failed: reason", "[+]name excluded: ok") and
 * "<endpoint> check passed|failed" last; else "ok" or "<endpoint> check
 * failed". A check that passes though its probe or service is not well
 * says so: "[+]name failing: reason (high: does not affect readiness)",
 * "[+]service:name exited (not essential: ...)". Names, reasons and
 * excludes show control characters as \xNN and invalid UTF-8 as U+FFFD.
 * Returns the HTTP status (200 or 503), or -errno.
 */
int checks_render(const struct sidecar_view *v, enum check_endpoint ep,
                  bool verbose, const char *const *exclude,
                  size_t exclude_count, struct buf *body) ATTR_WUR;

/*
 * One check, as its line in the verbose answer without mark and name: 200
 * "ok" (or "failing: reason (why)"), 503 "failed: reason", 404 when there
 * is none.
 */
int checks_render_one(const struct sidecar_view *v, enum check_endpoint ep,
                      const char *name, struct buf *body) ATTR_WUR;

const char *checks_endpoint_name(enum check_endpoint ep);

#endif
