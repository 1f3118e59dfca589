/*
 * The write API behind http.token: pushes for ttl probes and restart /
 * stop / start of services, as POST /probes/<name>/pass|fail and POST
 * /services/<name>/restart|stop|start. Authentication is the HTTP
 * layer's; this module only acts and words the answer as JSON. Acts on
 * the sidecar; owns nothing.
 */
#ifndef SIDECAR_SIDECAR_CONTROL_H
#define SIDECAR_SIDECAR_CONTROL_H

#include <stddef.h>

#include "sidecar/buf.h"
#include "sidecar/util.h"

struct sidecar;

/*
 * Handles one POST to url (under /probes/ or /services/) with its body
 * (the reason of a push). Returns the HTTP status and appends a JSON
 * answer to out; -ENOMEM when out could not hold it.
 */
int control_handle(struct sidecar *sc, const char *url, const char *body,
                   size_t body_len, struct buf *out) ATTR_WUR;

#endif
