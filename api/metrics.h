/*
 * GET /metrics: Prometheus text format (version 0.0.4). The aggregate and
 * its three Kubernetes answers, per probe (labels probe, importance)
 * success, state and duration of the last run, per service (label
 * service) restarts, state and start time, and the standard process_*
 * family for sidecar itself. Rendered per scrape (process figures move);
 * reads the sidecar, owns nothing.
 */
#ifndef SIDECAR_API_METRICS_H
#define SIDECAR_API_METRICS_H

#include "base/buf.h"
#include "base/util.h"

struct sidecar;

/* Appends the exposition to body. 0, or -ENOBUFS / -ENOMEM. */
int metrics_render(const struct sidecar *sc, struct buf *body) ATTR_WUR;

#endif
