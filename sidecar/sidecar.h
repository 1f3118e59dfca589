/*
 * struct sidecar: the root object. Owns the services (one struct svc per
 * configured service), the probes, the aggregate health, the signal
 * watchers and the reaper; starts services in dependency order, stops
 * them in reverse, binds probes to their services, forwards signals, and
 * decides when and with what status sidecar exits. Borrows the config.
 */
#ifndef SIDECAR_SIDECAR_SIDECAR_H
#define SIDECAR_SIDECAR_SIDECAR_H

#include <ev.h>
#include <stdbool.h>
#include <stddef.h>

#include "conf/model.h"
#include "probes/probe.h"
#include "sidecar/health.h"
#include "sidecar/http.h"
#include "sidecar/reaper.h"
#include "sidecar/service.h"
#include "sidecar/util.h"

/* Watchers for the signals sidecar handles (the rest keep their defaults):
 * one per signal number at most, and Linux numbers them 1 to 64. */
#define SIDECAR_SIGNALS_MAX 64

struct sidecar {
    struct ev_loop *loop;
    const struct cfg_root *cfg;
    struct svc **svcs; /* cfg->services_count, in config order */
    size_t svcs_count;
    struct prober *prober;
    struct health health;
    struct http_server *http;
    struct health_probe_in *health_probes; /* scratch for recompute */
    struct health_service_in *health_services;
    struct reaper reaper;
    ev_signal signal_w[SIDECAR_SIGNALS_MAX];
    size_t signals_count;
    double started_at;     /* ev_now() of sidecar_start */
    unsigned stop_signals; /* SIGTERM/SIGINT received so far */
    bool draining;         /* readiness off, stop not begun yet */
    ev_timer drain_w;      /* shutdown.drain */
    char drain_reason[64];
    bool shutting_down;
    const struct svc *exit_from; /* whose status sidecar exits with */
    bool finished;
};

/*
 * Builds the runtime from a loaded config (nothing starts yet). NULL with a
 * message in errbuf when a service cannot be set up (unknown user, ...).
 */
struct sidecar *sidecar_new(struct ev_loop *loop, const struct cfg_root *cfg,
                            char *errbuf, size_t errlen) ATTR_WUR;

/* Installs signal handling and reaping, and starts what can start. */
void sidecar_start(struct sidecar *sc);

/* Stops every service in reverse dependency order, then ends the loop. */
void sidecar_shutdown(struct sidecar *sc, const char *reason);

/* The status to exit with once the loop has ended. */
int sidecar_exit_code(const struct sidecar *sc);

/* Stops all watchers and frees. sidecar_free(NULL) is a no-op. */
void sidecar_free(struct sidecar *sc);

#endif
