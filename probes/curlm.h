/*
 * The one libcurl multi handle of sidecar, driven by the libev loop
 * through the multi-socket API: CURLMOPT_SOCKETFUNCTION keeps one ev_io
 * per socket curl asks for, CURLMOPT_TIMERFUNCTION one ev_timer. Shared
 * by every probe on libcurl (http.c, grpc.c). Owns the CURLM, its
 * watchers and the per-socket state; never the easy handles nor their
 * transfers.
 */
#ifndef SIDECAR_PROBES_CURLM_H
#define SIDECAR_PROBES_CURLM_H

#include <curl/curl.h>
#include <ev.h>
#include <stdbool.h>

#include "base/util.h"

struct curlm;

/* Called from the loop when a transfer ends; easy is no longer added. */
typedef void curlm_done_fn(CURL *easy, CURLcode result, void *arg);

/*
 * One transfer while it is added: the caller's, embedded in its state, so
 * a run allocates nothing. Set easy, done and arg once; added is curlm's.
 */
struct curlm_transfer {
    CURL *easy;
    curlm_done_fn *done;
    void *arg;
    bool added;
};

/* NULL on failure (curl_multi_init or ENOMEM); libcurl must be loaded. */
struct curlm *curlm_new(struct ev_loop *loop) ATTR_WUR;

/*
 * Adds t's configured easy handle; t->done(easy, result, arg) follows
 * later, never from inside this call. 0, or -errno (done never comes
 * then). t is borrowed until done, or curlm_remove.
 */
int curlm_add(struct curlm *m, struct curlm_transfer *t) ATTR_WUR;

/* Abandons a transfer in flight: done is not called for it. A no-op when
 * t is not added. */
void curlm_remove(struct curlm *m, struct curlm_transfer *t);

/* Removes nothing it does not own: every easy handle must be removed
 * first. curlm_free(NULL) is a no-op. */
void curlm_free(struct curlm *m);

#endif
