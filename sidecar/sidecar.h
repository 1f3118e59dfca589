/*
 * struct sidecar: the root object. Owns the config, the services (one
 * struct svc per configured service), the probes, the aggregate health,
 * the signal watchers, the reaper and the config file's watch; starts
 * services in dependency order, stops them in reverse, binds probes to
 * their services, forwards signals, reloads the config (applying what
 * changed), and decides when and with what status sidecar exits.
 */
#ifndef SIDECAR_SIDECAR_SIDECAR_H
#define SIDECAR_SIDECAR_SIDECAR_H

#include <ev.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "api/http.h"
#include "base/buf.h"
#include "base/util.h"
#include "conf/model.h"
#include "probes/probe.h"
#include "proc/guard.h"
#include "proc/reaper.h"
#include "sidecar/health.h"
#include "sidecar/service.h"
#include "sidecar/watch.h"

/* Watchers for the signals sidecar handles (the rest keep their defaults):
 * one per signal number at most, and Linux numbers them 1 to 64. */
#define SIDECAR_SIGNALS_MAX 64

/* A config a reload replaced, kept while services of it still stop. */
struct retired_cfg {
    struct cfg_root *cfg;
    struct svc **svcs; /* as cfg->services: those stopping, else NULL */
    struct retired_cfg *next;
};

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

struct sidecar {
    struct ev_loop *loop;
    struct cfg_root *cfg;        /* owned; replaced by a reload */
    char **env;                  /* what children inherit: decided at start */
    struct retired_cfg *retired; /* configs whose services still stop */
    ev_timer sweep_w;            /* frees what stopped, outside callbacks */
    struct file_watch *watch;    /* reload: watch */
    ev_timer recheck_w;          /* the file once the watch runs */
    bool log_level_pinned;       /* --log-level wins over reloads */
    bool log_format_pinned;      /* --log-format too */
    struct reload_record reloads;
    int retired_main_code; /* exit code of a main service a reload replaced */
    bool has_retired_main_code;
    struct svc **svcs; /* cfg->services_count, in config order */
    size_t svcs_count;
    struct prober *prober;
    struct health health;
    struct http_server *http;
    struct http_stats http_stats; /* its clients' cost, across reloads */
    struct health_probe_in *health_probes; /* scratch for recompute */
    struct health_service_in *health_services;
    struct reaper reaper;
    struct guard guard; /* kills the services' groups if we are SIGKILLed */
    ev_signal signal_w[SIDECAR_SIGNALS_MAX];
    size_t signals_count;
    double started_at;     /* ev_now() of sidecar_start, for display */
    double start_mono;     /* util_mono_now() of it, for the uptime */
    unsigned stop_signals; /* SIGTERM/SIGINT received so far */
    bool draining;         /* readiness off, stop not begun yet */
    ev_timer drain_w;      /* shutdown.drain */
    char drain_reason[64];
    bool shutting_down;
    const struct svc *exit_from; /* whose status sidecar exits with */
    bool finished;
};

/*
 * Takes the signal state sidecar relies on, whatever the launcher passed
 * on: an empty mask (a blocked SIGCHLD would leave services unreaped, a
 * blocked SIGTERM unheard) and the default action for the signals it
 * handles that were set to ignore. Forwarded signals get their handler
 * when watched. For main's first line.
 */
void sidecar_own_signals(void);

/*
 * Builds the runtime from a loaded config (nothing starts yet) and takes
 * the config (sidecar_free frees it). NULL with a message in errbuf when
 * a service cannot be set up (unknown user, ...); the caller keeps cfg.
 */
struct sidecar *sidecar_new(struct ev_loop *loop, struct cfg_root *cfg,
                            char *errbuf, size_t errlen) ATTR_WUR;

/* Installs signal handling and reaping, and starts what can start. */
void sidecar_start(struct sidecar *sc);

/* Stops every service in reverse dependency order, then ends the loop. */
void sidecar_shutdown(struct sidecar *sc, const char *reason);

/*
 * Loads the config file again and, when it is valid, applies what changed:
 * services added start, removed ones stop (in dependency order), changed
 * ones restart, the others keep running; probes likewise; http.listen
 * rebinds; log settings apply at once. trigger names the cause in the
 * log ("SIGHUP", "http", "watch"). Appends the JSON answer to answer
 * when given. 0 reloaded; -EALREADY (trigger "watch" only) the file holds
 * the running config (which ends a failed reload's report), or the bytes
 * or the read error the last reload failed on (reported already); -EBUSY
 * shutting down; -EINVAL invalid, unreadable or not applicable (nothing
 * changed); -ENOMEM.
 */
int sidecar_reload(struct sidecar *sc, const char *trigger, struct buf *answer);

/* The status to exit with once the loop has ended. */
int sidecar_exit_code(const struct sidecar *sc);

/* Stops all watchers and frees. sidecar_free(NULL) is a no-op. */
void sidecar_free(struct sidecar *sc);

#endif
