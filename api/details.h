/*
 * GET /health/details: the whole picture as JSON, for people and tools:
 * the aggregate, every probe (state, importance, last result, reason,
 * duration, consecutive passes and failures, last change, the last 32
 * results as "recent") and every service (state, pid, restarts, last
 * exit, uptime), and whether the write API is on ("control"). Rendered per
 * request (it carries uptimes); reads the supervisor's view (sidecar/view.h),
 * owns nothing.
 */
#ifndef SIDECAR_API_DETAILS_H
#define SIDECAR_API_DETAILS_H

#include "base/buf.h"
#include "base/util.h"

struct sidecar_view;

/* Appends the JSON document to body; now is util_mono_now(), uptimes count
 * from it. 0, or -ENOBUFS / -ENOMEM. */
int details_render(const struct sidecar_view *v, double now,
                   struct buf *body) ATTR_WUR;

#endif
