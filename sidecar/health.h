/*
 * Aggregation: services and probes to UP / DEGRADED / DOWN, and to the
 * three Kubernetes answers (live, ready, started), as the table of
 * README.md "Probes and the aggregate" fixes them (docs/ARCHITECTURE.md:
 * the tests that hold it). health_compute() is pure; struct health keeps
 * the current view, latches "started", and logs each change with its
 * cause.
 */
#ifndef SIDECAR_SIDECAR_HEALTH_H
#define SIDECAR_SIDECAR_HEALTH_H

#include <stdbool.h>
#include <stddef.h>

#include "conf/model.h"
#include "probes/probe.h"
#include "sidecar/service.h"

enum health_status { HEALTH_UP, HEALTH_DEGRADED, HEALTH_DOWN };

struct health_probe_in {
    enum cfg_importance importance;
    enum probe_state state;
    bool passed_once;
    bool done; /* its service is a task that completed: done with it */
};

struct health_service_in {
    bool essential;
    enum svc_state state;
    bool ever_started;
    bool exited_ok; /* its last exit code is one of success_exit_codes */
    bool task;      /* role task */
    bool awaited;   /* some service depends on it */
    bool not_ready; /* running, but it said RELOADING=1 or STOPPING=1 */
};

struct health_view {
    enum health_status status;
    bool live;    /* no essential service is FATAL */
    bool ready;   /* started, not DOWN, no critical probe unknown */
    bool started; /* every service started (an awaited task completed, one
                     nothing awaits aside), every critical probe passed */
};

/*
 * The view of these probes and services. started_before: startup was done
 * once already (it latches: a later restart does not undo it).
 */
struct health_view health_compute(const struct health_probe_in *probes,
                                  size_t probes_count,
                                  const struct health_service_in *services,
                                  size_t services_count, bool started_before);

/*
 * What the aggregate needs to know of a probe; owner: its service (NULL
 * for a probe of none).
 */
struct health_probe_in health_probe_of(const struct probe *p,
                                       const struct svc *owner);

/* What the aggregate needs to know of a service. */
struct health_service_in health_service_of(const struct svc *s);

/*
 * True when a service counts as down: anything but running (and ready, when
 * it says so itself) or completed, except a non-essential one that exited
 * with success (a finished one-shot helper).
 */
bool health_service_down(const struct health_service_in *s);

/*
 * True when the service does not hold startup: it started once; a task
 * once it completed, or always when nothing depends on it.
 */
bool health_service_started(const struct health_service_in *s);

const char *health_status_name(enum health_status status);

struct health {
    struct health_view view;
    bool initialised;
};

/* Stores a new view; logs any change, naming its cause. True if changed. */
bool health_update(struct health *h, struct health_view view,
                   const char *cause);

#endif
