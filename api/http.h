/*
 * The status endpoint: libmicrohttpd in external-epoll mode on the libev
 * loop (one ev_io on MHD's epoll fd, one ev_timer from MHD_get_timeout),
 * no threads; the first http_server_new() loads the library
 * (api/mhdapi.h). Serves the Kubernetes checks and the aggregate from
 * responses rendered when health changes, never per request. Owns the
 * MHD daemon, its watchers and the cached responses; reads the
 * supervisor through sidecar/view.h only.
 */
#ifndef SIDECAR_API_HTTP_H
#define SIDECAR_API_HTTP_H

#include <ev.h>
#include <stdbool.h>
#include <stddef.h>

#include "base/ratelimit.h"
#include "base/util.h"
#include "conf/model.h"

struct events;
struct http_server;
struct sidecar;

/*
 * What outside clients cost, kept across the servers a reload may put in
 * place: owned by the front end (api/frontend.h), counted by its servers,
 * read by /metrics.
 */
struct http_stats {
    struct ratelimit log_limit; /* the lines clients can make us log */
    unsigned long long evicted_at_limit;
    unsigned long long evicted_late; /* request not whole by the deadline */
    struct events *events; /* GET /events' ring (api/events.h); NULL: 404 */
};

/* Zero counts and a full log bucket. */
void http_stats_init(struct http_stats *st);

/*
 * Listens on cfg->http.listen and serves sidecar_view(sc) (the cached
 * answers are re-rendered by http_server_refresh); with http.token, also
 * the write API (api/control.h) on sc. Counts what clients cost in stats.
 * sc and stats are borrowed. NULL with a message in errbuf and errno set
 * (EADDRINUSE, ...; ELIBACC when libmicrohttpd cannot load) on failure.
 */
struct http_server *http_server_new(struct ev_loop *loop,
                                    const struct cfg_root *cfg,
                                    struct sidecar *sc,
                                    struct http_stats *stats, char *errbuf,
                                    size_t errlen) ATTR_WUR;

/* Re-renders the cached responses from the current health view. */
void http_server_refresh(struct http_server *srv);

/* The port bound (useful with port 0). */
unsigned http_server_port(const struct http_server *srv);

/* After a reload that kept http.listen: takes cfg's token. */
void http_server_reconfigure(struct http_server *srv,
                             const struct cfg_root *cfg);

/* Stops accepting connections (closes the listen socket, once); serves
 * the connections it has. */
void http_server_quiesce(struct http_server *srv);

/* False once quiesced. */
bool http_server_listening(const struct http_server *srv);

/*
 * After a reload that moved http.listen: old stops accepting and answers
 * what it has under way, then successor frees it (within 5 s). successor
 * owns old from now on.
 */
void http_server_retire(struct http_server *old, struct http_server *successor);

/* Stops serving and frees. http_server_free(NULL) is a no-op. */
void http_server_free(struct http_server *srv);

#endif
