/*
 * What a probe kind built on libcurl needs (http.c: https; grpc.c:
 * HTTP/2; tcp.c and httpnative.c use no libcurl): the
 * prober's one struct curlm, created on first use; the easy-handle
 * options every such probe gets; and the wording of a failed transfer.
 * Owns nothing: the easy handles belong to the kinds, the curlm to the
 * prober.
 */
#ifndef SIDECAR_PROBES_CURLKIND_H
#define SIDECAR_PROBES_CURLKIND_H

#include <curl/curl.h>
#include <stdbool.h>
#include <stddef.h>

#include "base/util.h"
#include "probes/probe.h"

/* The prober's curlm, created on first use; NULL when out of memory. */
struct curlm *curlkind_multi(struct probe *p) ATTR_WUR;

/*
 * A new easy handle with the options every curl probe shares: curl's own
 * timeouts from cfg->timeout_ms, a fresh connection per run, no proxy,
 * no signals, a 1 KiB receive buffer, errors into errbuf (CURL_ERROR_SIZE
 * bytes, borrowed for the handle's life), only the protocols in protocols
 * ("http,https"). Loads libcurl first (curlapi_load). 0 and *out, or -errno:
 * -ELIBACC when libcurl cannot be loaded (curlapi_error() says why).
 */
int curlkind_easy_new(const struct cfg_probe *cfg, const char *protocols,
                      char *errbuf, CURL **out) ATTR_WUR;

/* Whether the loaded libcurl speaks HTTP/2 (Debian's, with nghttp2). */
bool curlkind_http2(void);

/*
 * Words a failed transfer into buf: "timed out after 1s" for curl's
 * timeout, else curl's error buffer, else curl_easy_strerror(result); a
 * certificate that failed verification (without insecure) adds "; set
 * insecure: true to skip verification (kubelet does not verify)".
 */
void curlkind_failure(char *buf, size_t len, const struct cfg_probe *cfg,
                      CURLcode result, const char *errbuf);

#endif
