/*
 * GET /metrics: Prometheus text format (version 0.0.4). The aggregate and
 * its three Kubernetes answers, per probe (labels probe, importance)
 * success, state and duration of the last run, per service (label
 * service) restarts, state and start time, and the standard process_*
 * family for sidecar itself, and what HTTP clients cost. Rendered per
 * scrape (process figures move); reads the supervisor's view
 * (sidecar/view.h), owns nothing.
 */
#ifndef SIDECAR_API_METRICS_H
#define SIDECAR_API_METRICS_H

#include "base/buf.h"
#include "base/util.h"

struct http_stats;
struct sidecar_view;

/* Appends the exposition to body. 0, or -ENOBUFS / -ENOMEM. */
int metrics_render(const struct sidecar_view *v, const struct http_stats *st,
                   struct buf *body) ATTR_WUR;

#endif
