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
#include <ev.h>
#include <stdbool.h>
#include <stddef.h>

#include "base/util.h"
#include "probes/connect.h"
#include "probes/curlm.h"
#include "probes/probe.h"
#include "probes/resolve.h"

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

/*
 * One run's transfer on the prober's curlm, its host name looked up first
 * by the prober's resolver (probe_resolver()) and handed to curl with
 * CURLOPT_RESOLVE: curl never resolves, so never starts a resolver thread
 * (one left behind per run whose name server did not answer). Set p,
 * errbuf (the handle's) and xfer's easy, done and arg once.
 */
struct curlkind_run {
    struct curlm_transfer xfer;
    struct probe *p;
    char *errbuf;
    /* private */
    struct connect_target target;
    struct resolve_query *query;
    struct curl_slist *resolve; /* the handle's CURLOPT_RESOLVE */
    ev_timer fail_w;            /* a failed lookup, reported from the loop */
};

/*
 * Starts the transfer of the handle's URL, whose host is host (len bytes,
 * as in the URL) and port: a literal at once, a name once looked up.
 * xfer.done follows, never inside this call; a failed lookup as
 * CURLE_COULDNT_RESOLVE_HOST with errbuf "cannot resolve NAME: why", as a
 * tcp probe words it. 0, or -errno and no callback.
 */
int curlkind_start(struct curlkind_run *r, const char *host, size_t len,
                   unsigned port) ATTR_WUR;

/* Ends the run's lookup or transfer (if any): done does not run. */
void curlkind_cancel(struct curlkind_run *r);

/* Cancels, then frees what the run holds, the easy handle included. */
void curlkind_free(struct curlkind_run *r);

#endif
