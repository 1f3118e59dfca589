/*
 * The supervisor as its front end (the HTTP API, api/) may know it, and
 * the only way: a read-only view of the state, a few commands, and the
 * hooks through which the supervisor calls the front end back. The rule:
 * api/ reads the supervisor only through struct sidecar_view and acts only
 * through the commands below, never struct sidecar; the supervisor knows
 * the API only through struct sidecar_frontend, and includes nothing of
 * api/.
 */
#ifndef SIDECAR_SIDECAR_VIEW_H
#define SIDECAR_SIDECAR_VIEW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/util.h"
#include "conf/model.h"
#include "probes/probe.h"
#include "sidecar/health.h"
#include "sidecar/service.h"

struct sidecar;

/* How the reloads went, for /health/details and /metrics. */
struct reload_record {
    unsigned ok;
    unsigned failed;
    bool any; /* a reload has been tried */
    bool last_ok;
    double last_at; /* ev_time() */
    char last_trigger[16];
    char last_error[640]; /* "FILE:LINE:COL: message" when it failed */
    /* The last attempt failed on the bytes of this cfg_digest(), or, when
     * failed_unread, on a read error whose text has this cfg_digest(). */
    bool failed_digest_known;
    bool failed_unread;
    uint64_t failed_digest;
};

/*
 * What the API reads: a snapshot of pointers into the supervisor's state,
 * good until the loop runs again (a reload replaces the config and the
 * arrays). Everything it points to is read-only for the reader.
 */
struct sidecar_view {
    const struct cfg_root *cfg;    /* the running config */
    const struct svc *const *svcs; /* as cfg->services, in config order */
    size_t svcs_count;
    const struct probe *const *probes; /* as cfg->probes, in config order */
    size_t probes_count;
    const struct health_view *health; /* the aggregate */
    const struct reload_record *reloads;
    bool draining;      /* readiness off, stop not begun yet */
    bool shutting_down; /* stopping the services */
    bool watching;      /* the config file is watched (reload: watch) */
    double started_at;  /* ev_now() at sidecar_start, for display */
    double start_mono;  /* util_mono_now() of it, for uptimes */
};

/* The view of sc as it is now. */
struct sidecar_view sidecar_view(const struct sidecar *sc);

/*
 * Loads the config file again and, when it is valid, applies what changed:
 * services added start, removed ones stop (in dependency order), changed
 * ones restart, the others keep running; probes likewise; the front end
 * follows (struct sidecar_frontend); log settings apply at once. trigger
 * names the cause in the log ("SIGHUP", "http", "watch"). Appends the
 * JSON answer to answer when given. 0 reloaded; -EALREADY (trigger
 * "watch" only) the file holds the running config (which ends a failed
 * reload's report), or the bytes or the read error the last reload failed
 * on (reported already); -EBUSY shutting down; -EINVAL invalid,
 * unreadable or not applicable (nothing changed); -ENOMEM.
 */
int sidecar_reload(struct sidecar *sc, const char *trigger, struct buf *answer);

/*
 * Restarts, stops or starts (action "restart", "stop", "start") the
 * service called name, as asked from outside; *state is then its state's
 * name. -ENOENT no such service; -EBUSY shutting down; -EAGAIN (restart,
 * start) it waits for its dependencies; -EALREADY (start) it is not
 * stopped; -EINVAL another action.
 */
int sidecar_service_command(struct sidecar *sc, const char *name,
                            const char *action, const char **state) ATTR_WUR;

/*
 * A result pushed for the ttl probe called name (see probe_ttl_push);
 * *state is then its state's name. -ENOENT no such probe; -EINVAL not a
 * ttl probe; -EAGAIN not running (its service is not).
 */
int sidecar_probe_push(struct sidecar *sc, const char *name, bool ok,
                       const char *reason, const char **state) ATTR_WUR;

/*
 * The front end as the supervisor sees it: hooks, each called with arg.
 * A reload calls prepare, last of what may fail, then commit once nothing
 * can fail any more, or abort when it is given up after prepare; refresh
 * whenever what the view shows changed (the health, a reload's result);
 * free from sidecar_free.
 */
struct sidecar_frontend {
    void *arg;
    /* Get ready to serve next (bind a new http.listen): 0, or <0 with a
     * message in err, and the reload is refused with nothing changed. */
    int (*prepare)(void *arg, const struct cfg_root *next, char *err,
                   size_t len);
    /* The reload to next is applied: switch over. Cannot fail. */
    void (*commit)(void *arg, const struct cfg_root *next);
    /* A prepared reload was given up: let go of what prepare made. */
    void (*abort)(void *arg);
    void (*refresh)(void *arg);
    void (*free)(void *arg);
};

/* Sets sc's front end (copied); sc owns fe->arg from now on. */
void sidecar_set_frontend(struct sidecar *sc,
                          const struct sidecar_frontend *fe);

#endif
