/*
 * The HTTP API as the supervisor's front end (struct sidecar_frontend in
 * sidecar/view.h): the status endpoint across reloads. Owns the server
 * serving now, the one a reload has bound on a new http.listen until it
 * commits, and what clients cost across them (struct http_stats). The
 * supervisor owns this once attached, and frees it in sidecar_free.
 */
#ifndef SIDECAR_API_FRONTEND_H
#define SIDECAR_API_FRONTEND_H

#include <ev.h>
#include <stddef.h>

#include "base/util.h"

struct sidecar;

/*
 * Listens on the running config's http.listen, serving sc, and attaches
 * to sc as its front end. 0, or -errno with a message in errbuf (nothing
 * attached).
 */
int frontend_attach(struct ev_loop *loop, struct sidecar *sc, char *errbuf,
                    size_t errlen) ATTR_WUR;

#endif
