#include "api/frontend.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api/events.h"
#include "api/http.h"
#include "base/log.h"
#include "sidecar/view.h"

struct frontend {
    struct ev_loop *loop;
    struct sidecar *sc;
    struct http_server *http; /* serving now */
    struct http_server *next; /* bound to a reload's new http.listen */
    struct http_stats stats;  /* what clients cost, across reloads */
    struct events events;     /* GET /events' ring, across reloads */
};

/* errno after a call that sets it on failure, as -errno. */
static int neg_errno(void)
{
    return errno ? -errno : -EIO;
}

/*
 * A server on the new http.listen, unless it is the current one's. When
 * the port is ours already (only the host changed), the current server
 * stops listening first; if the new address then fails, the old one is
 * bound again.
 */
static int prepare(void *arg, const struct cfg_root *next, char *errbuf,
                   size_t errlen)
{
    struct frontend *fe = arg;
    const struct cfg_root *cur = sidecar_view(fe->sc).cfg;
    if (strcmp(next->http.listen, cur->http.listen) == 0 &&
        http_server_listening(fe->http))
        return 0;
    fe->next =
        http_server_new(fe->loop, next, fe->sc, &fe->stats, errbuf, errlen);
    if (fe->next)
        return 0;
    if (errno != EADDRINUSE || next->http.port != http_server_port(fe->http))
        return neg_errno();
    http_server_quiesce(fe->http);
    fe->next =
        http_server_new(fe->loop, next, fe->sc, &fe->stats, errbuf, errlen);
    if (fe->next)
        return 0;
    int rc = neg_errno();
    char again[256];
    struct http_server *back = http_server_new(
        fe->loop, cur, fe->sc, &fe->stats, again, sizeof(again));
    if (!back) {
        LOG_ERROR("the status endpoint is lost: cannot listen again",
                  LF_STR("listen", cur->http.listen), LF_STR("error", again));
        return rc;
    }
    http_server_retire(fe->http, back);
    fe->http = back;
    return rc;
}

static void commit(void *arg, const struct cfg_root *next)
{
    struct frontend *fe = arg;
    if (!fe->next) {
        http_server_reconfigure(fe->http, next);
        return;
    }
    http_server_retire(fe->http, fe->next);
    fe->http = fe->next;
    fe->next = NULL;
}

static void abort_reload(void *arg)
{
    struct frontend *fe = arg;
    http_server_free(fe->next);
    fe->next = NULL;
}

static void refresh(void *arg)
{
    struct frontend *fe = arg;
    http_server_refresh(fe->http);
}

static void frontend_free(void *arg)
{
    struct frontend *fe = arg;
    log_set_tap(NULL, NULL);
    http_server_free(fe->next);
    http_server_free(fe->http);
    events_free(&fe->events);
    free(fe);
}

/*
 * The first event id: the wall clock in microseconds, so that ids grow
 * from one sidecar process to the next (see events_init); 1 without it.
 * Below 2^53 until the year 2255: a browser's Number holds it exactly.
 */
static unsigned long long first_event_id(void)
{
    struct timespec now;
    if (clock_gettime(CLOCK_REALTIME, &now) < 0 || now.tv_sec <= 0)
        return 1;
    return (unsigned long long)now.tv_sec * 1000000u +
           (unsigned long long)now.tv_nsec / 1000u;
}

int frontend_attach(struct ev_loop *loop, struct sidecar *sc, char *errbuf,
                    size_t errlen)
{
    struct frontend *fe = calloc(1, sizeof(*fe));
    if (!fe) {
        snprintf(errbuf, errlen, "out of memory");
        return -ENOMEM;
    }
    fe->loop = loop;
    fe->sc = sc;
    http_stats_init(&fe->stats);
    events_init(&fe->events, loop, first_event_id());
    fe->stats.events = &fe->events;
    fe->http = http_server_new(loop, sidecar_view(sc).cfg, sc, &fe->stats,
                               errbuf, errlen);
    if (!fe->http) {
        int rc = neg_errno();
        free(fe);
        return rc;
    }
    log_set_tap(events_tap, &fe->events);
    struct sidecar_frontend hooks = {
        .arg = fe,
        .prepare = prepare,
        .commit = commit,
        .abort = abort_reload,
        .refresh = refresh,
        .free = frontend_free,
    };
    sidecar_set_frontend(sc, &hooks);
    return 0;
}
