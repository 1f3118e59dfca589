/*
 * The write API behind http.token: pushes for ttl probes, restart /
 * stop / start of services and config reloads, as POST
 * /probes/<name>/pass|fail, POST /services/<name>/restart|stop|start and
 * POST /reload. Authentication is the HTTP
 * layer's; this module words the answer as JSON. Acts through the
 * supervisor's commands (sidecar/view.h); owns nothing.
 */
#ifndef SIDECAR_API_CONTROL_H
#define SIDECAR_API_CONTROL_H

#include <stddef.h>

#include "base/buf.h"
#include "base/util.h"

struct sidecar;

/*
 * Handles one POST to url (under /probes/ or /services/) with its body
 * (the reason of a push). Returns the HTTP status and appends a JSON
 * answer to out; -ENOMEM when out could not hold it.
 */
int control_handle(struct sidecar *sc, const char *url, const char *body,
                   size_t body_len, struct buf *out) ATTR_WUR;

/*
 * POST /reload: reloads the config now (never from inside MHD: it may
 * replace the server). Returns the HTTP status (200 reloaded, 409 shutting
 * down, 422 the new config is invalid or cannot be applied) and appends
 * the JSON answer to out; -ENOMEM when out could not hold it.
 */
int control_reload(struct sidecar *sc, struct buf *out) ATTR_WUR;

#endif
