/*
 * The one libcurl multi handle of sidecar, driven by the libev loop
 * through the multi-socket API: CURLMOPT_SOCKETFUNCTION keeps one ev_io
 * per socket curl asks for, CURLMOPT_TIMERFUNCTION one ev_timer. Shared
 * by every http and tcp probe. Owns the CURLM, its watchers and the
 * per-socket state; never the easy handles.
 */
#ifndef SIDECAR_PROBES_CURLM_H
#define SIDECAR_PROBES_CURLM_H

#include <curl/curl.h>
#include <ev.h>

#include "base/util.h"

struct curlm;

/* Called from the loop when a transfer ends; easy is no longer added. */
typedef void curlm_done_fn(CURL *easy, CURLcode result, void *arg);

/* NULL on failure (curl_multi_init or ENOMEM). */
struct curlm *curlm_new(struct ev_loop *loop) ATTR_WUR;

/*
 * Adds a configured easy handle; done(easy, result, arg) follows later,
 * never from inside this call. 0, or -errno (done never comes then).
 */
int curlm_add(struct curlm *m, CURL *easy, curlm_done_fn *done,
              void *arg) ATTR_WUR;

/* Abandons a transfer in flight: done is not called for it. */
void curlm_remove(struct curlm *m, CURL *easy);

/* Removes nothing it does not own: every easy handle must be removed
 * first. curlm_free(NULL) is a no-op. */
void curlm_free(struct curlm *m);

#endif
