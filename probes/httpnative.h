/*
 * The http probe's own transport for plain http:// URLs: the request's
 * bytes written once (httpwire), a connect on the loop (connect.c), one
 * send, the answer parsed as it arrives and judged (httpcheck), the
 * connection closed. No libcurl, no allocation per run, about seven
 * system calls a check; a redirect is a new request on a new connection.
 * What it cannot do (https, an IPv6 zone, credentials holding '@') stays
 * with libcurl (http.c), and so does, from its first run, a probe
 * redirected to it.
 * Owns its socket, its watcher and its buffers.
 */
#ifndef SIDECAR_PROBES_HTTPNATIVE_H
#define SIDECAR_PROBES_HTTPNATIVE_H

#include <stdbool.h>

#include "conf/model.h"
#include "probes/probe.h"

/*
 * Whether cfg (an http probe) runs on the native transport: a plain
 * http:// URL and a request httpwire can write (follow_redirects plays
 * no part: the default config stays here, without libcurl).
 * Else it runs on libcurl (probe_kind_http), loaded for it.
 */
bool httpnative_fits(const struct cfg_probe *cfg);

/* The http probe kind on the native transport ("http" to the user). */
extern const struct probe_kind probe_kind_http_native;

#endif
