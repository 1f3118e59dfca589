#include "sidecar/sidecar.h"

#include <assert.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <errno.h>

#include "base/buf.h"
#include "base/json.h"
#include "base/log.h"
#include "conf/load.h"
#include "conf/parse.h"
#include "probes/probe.h"
#include "proc/guard.h"
#include "proc/reaper.h"
#include "proc/spawn.h"
#include "sidecar/health.h"
#include "sidecar/notify.h"
#include "sidecar/reload.h"
#include "sidecar/service.h"
#include "sidecar/view.h"
#include "sidecar/watch.h"

/* Quiet time after the last change of the file before it is read, and
 * the longest changes that go on may put the read off. */
#define SIDECAR_WATCH_SETTLE_S    0.1
#define SIDECAR_WATCH_MAX_DELAY_S 1.0

/* Watchers for the signals sidecar handles (the rest keep their defaults):
 * one per signal number at most, and Linux numbers them 1 to 64. */
#define SIDECAR_SIGNALS_MAX 64

/* A config a reload replaced, kept while services of it still stop. */
struct retired_cfg {
    struct cfg_root *cfg;
    struct svc **svcs; /* as cfg->services: those stopping, else NULL */
    struct retired_cfg *next;
};

/*
 * The supervisor's lifecycle. Every change goes through lifecycle(), whose
 * table below names what each event does in each state.
 */
enum sc_state {
    SC_STARTING, /* built; sidecar_start() not called yet */
    SC_RUNNING,  /* supervising: starts what may start */
    SC_DRAINING, /* readiness off; stopping begins after shutdown.drain */
    SC_STOPPING, /* stopping every service, dependents first */
    SC_FINISHED, /* all stopped: the loop ends */
    SC_STATES
};

enum sc_event {
    SC_EV_START,       /* sidecar_start() */
    SC_EV_STOP_SIGNAL, /* SIGTERM or SIGINT */
    SC_EV_DRAINED,     /* shutdown.drain is over */
    SC_EV_SHUTDOWN,    /* stop now: an essential service is gone, or asked */
    SC_EV_ALL_STOPPED, /* every service is done */
    SC_EVENTS
};

/* Private to this file: the API sees it through sidecar/view.h only. */
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
    struct sidecar_frontend frontend;      /* the HTTP API; zero: none */
    struct health_probe_in *health_probes; /* scratch for recompute */
    struct health_service_in *health_services;
    struct reaper reaper;
    struct guard guard; /* kills the services' groups if we are SIGKILLed */
    ev_signal signal_w[SIDECAR_SIGNALS_MAX];
    size_t signals_count;
    double started_at; /* ev_now() of sidecar_start, for display */
    double start_mono; /* util_mono_now() of it, for the uptime */
    enum sc_state state;
    unsigned stop_signals;       /* SIGTERM/SIGINT received so far */
    ev_timer drain_w;            /* shutdown.drain */
    char drain_reason[64];       /* set when a drain begins, else empty */
    const struct svc *exit_from; /* whose status sidecar exits with */
    struct notify_queue changes; /* of services and probes, to handle */
    unsigned change_depth;       /* service_changed() running now */
    unsigned change_depth_max;
};

/* Watched even when no service takes them, so that they are logged and
 * ignored instead of ending sidecar. */
static const int always_watched[] = {SIGTERM, SIGINT, SIGHUP, SIGUSR1, SIGUSR2};

void sidecar_own_signals(void)
{
    sigset_t none;
    sigemptyset(&none);
    (void)sigprocmask(SIG_SETMASK, &none, NULL);

    int handled[ARRAY_SIZE(always_watched) + 1];
    handled[0] = SIGCHLD;
    memcpy(handled + 1, always_watched, sizeof(always_watched));
    for (size_t i = 0; i < ARRAY_SIZE(handled); i++) {
        struct sigaction sa;
        if (sigaction(handled[i], NULL, &sa) < 0 || sa.sa_handler != SIG_IGN)
            continue;
        sa.sa_handler = SIG_DFL;
        (void)sigaction(handled[i], &sa, NULL);
    }
}

/* True when every probe of the service at idx passes. */
static bool probes_pass(const struct sidecar *sc, size_t idx)
{
    for (size_t i = 0; i < sc->prober->count; i++) {
        const struct probe *p = sc->prober->probes[i];
        if (p->cfg->service_index == idx && p->state != PROBE_PASSING)
            return false;
    }
    return true;
}

/* True when the dependency is as far as the edge asks. */
static bool dep_met(const struct sidecar *sc, const struct cfg_dep *d)
{
    const struct svc *dep = sc->svcs[d->index];
    /* A completed task is past any condition: done, not down. */
    if (dep->state == SVC_COMPLETED)
        return true;
    if (d->cond == CFG_DEP_HEALTHY)
        return dep->state == SVC_RUNNING && probes_pass(sc, d->index);
    if (d->cond == CFG_DEP_COMPLETED)
        return false;
    return dep->ever_started && dep->state != SVC_FATAL;
}

/*
 * True when the dependency can never be met: nothing will run it again.
 * An exited one met started if it ever ran; it can never be healthy, nor
 * (a task) complete.
 */
static bool dep_doomed(const struct svc *dep, enum cfg_dep_cond cond)
{
    return dep->state == SVC_FATAL ||
           (dep->state == SVC_EXITED &&
            (!dep->ever_started || cond != CFG_DEP_STARTED));
}

/* The first dependency of s that can never be met, or NULL. */
static const struct svc *doomed_dep(const struct sidecar *sc,
                                    const struct svc *s)
{
    for (size_t j = 0; j < s->cfg->deps_count; j++) {
        const struct svc *dep = sc->svcs[s->cfg->deps[j].index];
        if (dep_doomed(dep, s->cfg->deps[j].cond))
            return dep;
    }
    return NULL;
}

/*
 * True while the service of that name in a config a reload replaced has
 * not stopped yet: its successor waits for it.
 */
static bool predecessor_busy(const struct sidecar *sc, const char *name)
{
    for (const struct retired_cfg *r = sc->retired; r; r = r->next) {
        for (size_t i = 0; i < r->cfg->services_count; i++) {
            const struct svc *s = r->svcs[i];
            if (s && !svc_is_done(s) && strcmp(s->cfg->name, name) == 0)
                return true;
        }
    }
    return false;
}

/* Readiness is off for good: draining, stopping, or stopped. */
static bool winding_down(const struct sidecar *sc)
{
    return sc->state == SC_DRAINING || sc->state == SC_STOPPING ||
           sc->state == SC_FINISHED;
}

/* The services are stopping, or stopped. */
static bool stopping(const struct sidecar *sc)
{
    return sc->state == SC_STOPPING || sc->state == SC_FINISHED;
}

/*
 * Starts the first waiting service whose dependencies are met, or gives
 * up on the first whose dependencies never can be (which takes the pod
 * down if the service is essential). One step: the service's change is
 * handled (its notice comes back here for the next) before any other
 * service is looked at, so what the change leads to comes first: after
 * an essential service is given up, the shutdown stops the rest instead.
 */
static void start_ready(struct sidecar *sc)
{
    if (sc->state != SC_RUNNING)
        return; /* about to stop: start nothing new */
    for (size_t i = 0; i < sc->svcs_count; i++) {
        struct svc *s = sc->svcs[sc->cfg->start_order[i]];
        if (s->state != SVC_WAITING || predecessor_busy(sc, s->cfg->name))
            continue;
        const struct svc *dep = doomed_dep(sc, s);
        if (dep) {
            LOG_CHANGE(LOG_LEVEL_ERROR,
                       "dependency failed; service cannot start",
                       LF_STR("service", s->cfg->name),
                       LF_STR("dependency", dep->cfg->name),
                       LF_STR("state", svc_state_name(dep->state)));
            svc_handle(s, SVC_EV_ABANDON);
        } else {
            bool met = true;
            for (size_t j = 0; j < s->cfg->deps_count; j++)
                met = met && dep_met(sc, &s->cfg->deps[j]);
            if (met)
                svc_handle(s, SVC_EV_START);
        }
        if (s->state != SVC_WAITING)
            return;
    }
}

/* True while s has a process and depends on the service named name. */
static bool depends_alive(const struct svc *s, const char *name)
{
    if (!s || !svc_has_process(s))
        return false;
    for (size_t j = 0; j < s->cfg->deps_count; j++) {
        if (strcmp(s->cfg->deps[j].name, name) == 0)
            return true;
    }
    return false;
}

/*
 * True while a service that depends on the one named name still has a
 * process: one a reload took out (of any config replaced so far), and
 * with current, one of the current config too. Names, not indices: the
 * services may belong to different configs.
 */
static bool dependents_alive(const struct sidecar *sc, const char *name,
                             bool current)
{
    for (size_t i = 0; current && i < sc->svcs_count; i++) {
        if (depends_alive(sc->svcs[i], name))
            return true;
    }
    for (const struct retired_cfg *r = sc->retired; r; r = r->next) {
        for (size_t i = 0; i < r->cfg->services_count; i++) {
            if (depends_alive(r->svcs[i], name))
                return true;
        }
    }
    return false;
}

/* What a stop_step() did; ordered: a combination is the greatest. */
enum stop_progress {
    STOP_DONE,  /* every service is done */
    STOP_BUSY,  /* some still stop; nothing changed now */
    STOP_ACTED, /* a service changed state: its notice comes next */
};

/*
 * One step of stopping the services of svcs (indexed as cfg->services;
 * NULL slots skipped): stops, dependents first, the first one that no live
 * dependent (see dependents_alive) still needs, and returns there, as
 * start_ready() does; the notice of its change runs the next step.
 */
static enum stop_progress stop_step(const struct sidecar *sc,
                                    struct svc *const *svcs,
                                    const struct cfg_root *cfg, bool current)
{
    enum stop_progress progress = STOP_DONE;
    for (size_t k = cfg->services_count; k-- > 0;) {
        struct svc *s = svcs[cfg->start_order[k]];
        if (!s || svc_is_done(s))
            continue;
        /*
         * Nothing may (re)start now, not even after a restart that was
         * under way (STOP cancels it); live ones wait for dependents.
         */
        enum svc_state before = s->state;
        if (!svc_has_process(s) || s->state == SVC_STOPPING ||
            !dependents_alive(sc, s->cfg->name, current))
            svc_handle(s, SVC_EV_STOP);
        if (s->state != before)
            return STOP_ACTED;
        progress = STOP_BUSY;
    }
    return progress;
}

static void lifecycle(struct sidecar *sc, enum sc_event ev, const char *reason);

/* One step of the shutdown: see stop_step(); then the loop ends. */
static void continue_shutdown(struct sidecar *sc)
{
    enum stop_progress all = stop_step(sc, sc->svcs, sc->cfg, true);
    for (struct retired_cfg *r = sc->retired; r && all != STOP_ACTED;
         r = r->next) {
        enum stop_progress one = stop_step(sc, r->svcs, r->cfg, true);
        if (one > all)
            all = one;
    }
    if (all == STOP_DONE)
        lifecycle(sc, SC_EV_ALL_STOPPED, NULL);
}

void sidecar_shutdown(struct sidecar *sc, const char *reason)
{
    lifecycle(sc, SC_EV_SHUTDOWN, reason);
}

/* What the front end shows changed. */
static void refresh_frontend(const struct sidecar *sc)
{
    if (sc->frontend.refresh)
        sc->frontend.refresh(sc->frontend.arg);
}

/* Recomputes the aggregate from every service and probe. */
static void update_health(struct sidecar *sc, const char *cause)
{
    for (size_t i = 0; i < sc->svcs_count; i++)
        sc->health_services[i] = health_service_of(sc->svcs[i]);
    for (size_t i = 0; i < sc->prober->count; i++) {
        const struct probe *p = sc->prober->probes[i];
        size_t idx = p->cfg->service_index;
        sc->health_probes[i] =
            health_probe_of(p, idx == CFG_NO_INDEX ? NULL : sc->svcs[idx]);
    }
    struct health_view v = health_compute(
        sc->health_probes, sc->prober->count, sc->health_services,
        sc->svcs_count, sc->health.initialised && sc->health.view.started);
    if (winding_down(sc))
        v.ready = false;
    if (health_update(&sc->health, v, cause))
        refresh_frontend(sc);
}

/* The probes' callbacks only queue: handled from the loop (on_notice). */
static void on_probe_change(struct probe *p, enum probe_state old, void *arg)
{
    struct sidecar *sc = arg;
    notify_push(&sc->changes, NOTIFY_PROBE, p, (int)old, (int)p->state);
}

static void on_probe_restart(struct probe *p, void *arg)
{
    struct sidecar *sc = arg;
    notify_push(&sc->changes, NOTIFY_PROBE_RESTART, p, (int)p->state,
                (int)p->state);
}

/* A probe's state became now. */
static void probe_changed(struct sidecar *sc, struct probe *p,
                          enum probe_state now)
{
    char cause[192];
    snprintf(cause, sizeof(cause), "probe '%s' (%s) is %s", p->cfg->name,
             probe_importance_name(p->cfg->importance), probe_state_name(now));
    /* First the aggregate, so that its change names this cause. */
    update_health(sc, cause);
    if (!stopping(sc) && now == PROBE_PASSING)
        start_ready(sc);
}

/*
 * on_failure: restart is due (probes/ decides when: see
 * probe_restart_held). Not while the pod drains away: as kubelet stops
 * liveness probes of a pod being deleted, a restart would only cut short
 * the requests the drain lets finish.
 */
static void probe_restart_due(struct sidecar *sc, struct probe *p)
{
    size_t idx = p->cfg->service_index;
    if (idx == CFG_NO_INDEX || stopping(sc) ||
        sc->svcs[idx]->state != SVC_RUNNING)
        return;
    if (sc->state == SC_DRAINING) {
        LOG_INFO("probe failing; no restart while draining",
                 LF_STR("probe", p->cfg->name),
                 LF_STR("service", p->cfg->service));
        return;
    }
    LOG_CHANGE(LOG_LEVEL_WARN, "restarting service: its probe is failing",
               LF_STR("service", sc->svcs[idx]->cfg->name),
               LF_STR("probe", p->cfg->name),
               LF_BOOL("passed_since_start", p->passed_once),
               LF_INT("start_period_ms", p->cfg->start_period_ms));
    svc_handle(sc->svcs[idx], SVC_EV_RESTART);
}

static bool is_current(const struct sidecar *sc, const struct svc *s)
{
    for (size_t i = 0; i < sc->svcs_count; i++) {
        if (sc->svcs[i] == s)
            return true;
    }
    return false;
}

/*
 * Stops, in dependency order, what reloads took out of the config. Only
 * those count as dependents: a kept service that depends on a changed one
 * keeps running while that one restarts. One step, as stop_step(): true
 * when a service changed state.
 */
static bool continue_retiring(struct sidecar *sc)
{
    for (struct retired_cfg *r = sc->retired; r; r = r->next) {
        if (stop_step(sc, r->svcs, r->cfg, false) == STOP_ACTED)
            return true;
    }
    return false;
}

/*
 * A service a reload removed or replaced changed state: stop the next
 * ones, start its successor once it is done, free it later (not inside
 * its own callback).
 */
static void on_retired_change(struct sidecar *sc, struct svc *s)
{
    if (s->cfg->role == CFG_ROLE_MAIN && s->has_exited) {
        sc->retired_main_code = svc_exit_code(s);
        sc->has_retired_main_code = true;
    }
    if (svc_is_done(s) && !ev_is_active(&sc->sweep_w))
        ev_timer_start(sc->loop, &sc->sweep_w);
    if (stopping(sc)) {
        continue_shutdown(sc);
        return;
    }
    if (!continue_retiring(sc))
        start_ready(sc);
}

static void on_watch_started(EV_P_ ev_timer *w, int revents);

/* Frees the retired services that are done, and their configs after. */
static void on_sweep(EV_P_ ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    struct sidecar *sc = container_of(w, struct sidecar, sweep_w);
    struct retired_cfg **link = &sc->retired;
    while (*link) {
        struct retired_cfg *r = *link;
        bool left = false;
        for (size_t i = 0; i < r->cfg->services_count; i++) {
            if (r->svcs[i] && svc_is_done(r->svcs[i])) {
                notify_forget(&sc->changes, r->svcs[i]);
                svc_free(r->svcs[i]);
                r->svcs[i] = NULL;
            }
            left = left || r->svcs[i];
        }
        if (left) {
            link = &r->next;
            continue;
        }
        *link = r->next;
        cfg_free(r->cfg);
        free(r->svcs);
        free(r);
    }
}

/* The service's callback only queues: handled from the loop (on_notice). */
static void on_service_change(struct svc *s, enum svc_state old, void *arg)
{
    struct sidecar *sc = arg;
    notify_push(&sc->changes, NOTIFY_SERVICE, s, (int)old, (int)s->state);
}

/*
 * A service went from old to now. Each notice is one change, handled in
 * order: what follows an edge (its probes start or stop, an essential one
 * takes the pod down) follows each edge once, even when the service has
 * changed again since; what reads the others (the aggregate, the
 * dependencies) reads them as they are.
 */
static void service_changed(struct sidecar *sc, struct svc *s,
                            enum svc_state old, enum svc_state now)
{
    if (!is_current(sc, s)) {
        on_retired_change(sc, s);
        return;
    }
    /* First the aggregate, so that its change names this cause. */
    char cause[192];
    /* old == now: a running service said it is (not) ready. */
    const char *said = now == SVC_RUNNING && s->not_ready ? s->not_ready : NULL;
    snprintf(cause, sizeof(cause), "service '%s' is %s", s->cfg->name,
             said         ? said
             : old == now ? "ready"
                          : svc_state_name(now));
    update_health(sc, cause);
    /* A service's probes run while it runs, from unknown each time. */
    if ((old == SVC_RUNNING) != (now == SVC_RUNNING))
        prober_service_running(sc->prober, s->cfg->name, now == SVC_RUNNING,
                               s->start_mono);
    if (stopping(sc)) {
        continue_shutdown(sc);
        return;
    }
    if ((now == SVC_EXITED || now == SVC_FATAL) && s->cfg->essential) {
        sc->exit_from = s;
        const char *what = now == SVC_FATAL ? "is crash-looping"
                                            : "exited and will not restart";
        /* Given up while waiting (start_ready): a dependency never can. */
        const struct svc *dep = old == SVC_WAITING ? doomed_dep(sc, s) : NULL;
        char why[160];
        if (dep) {
            char failed[48];
            snprintf(failed, sizeof(failed), "%s with exit code %d",
                     svc_exit_is_success(dep) ? "exited" : "failed",
                     svc_exit_code(dep));
            snprintf(why, sizeof(why), "never started: its dependency '%s' %s",
                     dep->cfg->name,
                     dep->state == SVC_FATAL ? "is fatal"
                     : dep->ever_started     ? failed
                                             : "exited without running");
            what = why;
        }
        char reason[256];
        snprintf(reason, sizeof(reason), "%s service '%s' %s",
                 s->cfg->role == CFG_ROLE_MAIN ? "main" : "essential",
                 s->cfg->name, what);
        lifecycle(sc, SC_EV_SHUTDOWN, reason);
        return;
    }
    start_ready(sc);
}

/* One queued change, from the loop: never inside another's handling. */
static void on_notice(struct notify_queue *q, const struct notice *n, void *arg)
{
    (void)q;
    struct sidecar *sc = arg;
    switch (n->kind) {
    case NOTIFY_SERVICE:
        sc->change_depth++;
        if (sc->change_depth > sc->change_depth_max)
            sc->change_depth_max = sc->change_depth;
        service_changed(sc, n->obj, (enum svc_state)n->old,
                        (enum svc_state)n->now);
        sc->change_depth--;
        break;
    case NOTIFY_PROBE:
        probe_changed(sc, n->obj, (enum probe_state)n->now);
        break;
    case NOTIFY_PROBE_RESTART:
        probe_restart_due(sc, n->obj);
        break;
    }
}

/* Sends sig to every service that takes it; true when one did. */
static bool forward_signal(struct sidecar *sc, int sig)
{
    bool sent = false;
    for (size_t i = 0; i < sc->svcs_count; i++) {
        struct svc *s = sc->svcs[i];
        const struct cfg_service *c = s->cfg;
        for (size_t j = 0; j < c->forward_signals_count; j++) {
            if (c->forward_signals[j] != sig || svc_signal(s, sig) < 0)
                continue;
            LOG_INFO("forwarded signal", LF_STR("service", c->name),
                     LF_INT("pid", s->proc.pid),
                     LF_STR("signal", cfg_signal_name(sig)));
            sent = true;
        }
    }
    return sent;
}

static void on_drained(EV_P_ ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    struct sidecar *sc = container_of(w, struct sidecar, drain_w);
    lifecycle(sc, SC_EV_DRAINED, NULL);
}

/*
 * The lifecycle's actions, one per kind of cell of the table below; each
 * takes the event and its reason (a signal's name for SC_EV_STOP_SIGNAL,
 * the cause for SC_EV_SHUTDOWN, else NULL).
 */
typedef void lifecycle_fn(struct sidecar *sc, enum sc_event ev,
                          const char *reason);

static const char *const sc_state_names[SC_STATES] = {
    [SC_STARTING] = "starting", [SC_RUNNING] = "running",
    [SC_DRAINING] = "draining", [SC_STOPPING] = "stopping",
    [SC_FINISHED] = "finished",
};

static const char *const sc_event_names[SC_EVENTS] = {
    [SC_EV_START] = "start",
    [SC_EV_STOP_SIGNAL] = "stop signal",
    [SC_EV_DRAINED] = "drained",
    [SC_EV_SHUTDOWN] = "shutdown",
    [SC_EV_ALL_STOPPED] = "all stopped",
};

/* A cell no path leads to: a bug, said, and nothing done. */
static void lc_impossible(struct sidecar *sc, enum sc_event ev,
                          const char *reason)
{
    (void)reason;
    LOG_ERROR("bug: supervisor event in impossible state",
              LF_STR("state", sc_state_names[sc->state]),
              LF_STR("event", sc_event_names[ev]));
}

/* Nothing to do: a shutdown asked when one is under way or over, or the
 * services' last changes seen again after the end. */
static void lc_ignore(struct sidecar *sc, enum sc_event ev, const char *reason)
{
    (void)sc;
    (void)ev;
    (void)reason;
}

static void lc_run(struct sidecar *sc, enum sc_event ev, const char *reason)
{
    (void)ev;
    (void)reason;
    sc->state = SC_RUNNING;
}

/*
 * Readiness turns off at once and stays off for shutdown.drain before
 * anything is stopped, so Kubernetes takes the pod out of its endpoints
 * while it still serves. Liveness holds.
 */
static void lc_drain(struct sidecar *sc, enum sc_event ev, const char *signal)
{
    (void)ev;
    double drain = (double)sc->cfg->shutdown.drain_ms / 1000.0;
    snprintf(sc->drain_reason, sizeof(sc->drain_reason), "received %s", signal);
    sc->state = SC_DRAINING;
    LOG_CHANGE(LOG_LEVEL_INFO, "draining: not ready, stopping after the drain",
               LF_STR("reason", sc->drain_reason),
               LF_INT("drain_ms", sc->cfg->shutdown.drain_ms));
    update_health(sc, "draining");
    ev_now_update(sc->loop); /* the drain counts from now */
    ev_timer_init(&sc->drain_w, on_drained, drain, 0.);
    ev_timer_start(sc->loop, &sc->drain_w);
}

static void lc_shutdown(struct sidecar *sc, enum sc_event ev,
                        const char *reason)
{
    (void)ev;
    sc->state = SC_STOPPING;
    ev_timer_stop(sc->loop, &sc->drain_w);
    LOG_CHANGE(LOG_LEVEL_INFO, "shutting down", LF_STR("reason", reason));
    continue_shutdown(sc);
}

/* The drain is over, or a second stop signal cuts it short: stop now. */
static void lc_end_drain(struct sidecar *sc, enum sc_event ev,
                         const char *reason)
{
    (void)reason;
    lc_shutdown(sc, ev, sc->drain_reason);
}

static void lc_signal_again(struct sidecar *sc, enum sc_event ev,
                            const char *signal)
{
    (void)ev;
    if (sc->stop_signals == 1) {
        /* Stopping on its own already (an essential service is gone). */
        LOG_INFO("already shutting down", LF_STR("signal", signal));
        return;
    }
    /* Asked again while stopping: no more waiting for grace periods. */
    LOG_WARN("stop signal during shutdown: killing every service now",
             LF_STR("signal", signal));
    for (size_t i = 0; i < sc->svcs_count; i++)
        svc_handle(sc->svcs[i], SVC_EV_KILL);
    for (struct retired_cfg *r = sc->retired; r; r = r->next) {
        for (size_t i = 0; i < r->cfg->services_count; i++) {
            if (r->svcs[i])
                svc_handle(r->svcs[i], SVC_EV_KILL);
        }
    }
}

static void lc_finish(struct sidecar *sc, enum sc_event ev, const char *reason)
{
    (void)ev;
    (void)reason;
    sc->state = SC_FINISHED;
    /* Nothing left for it: it exits too, and is no leftover. */
    guard_end(&sc->guard, 0.5);
    int reaped = reaper_kill_children(1.0);
    LOG_INFO("sidecar exiting", LF_INT("exit_code", sidecar_exit_code(sc)),
             LF_INT("leftovers_reaped", reaped));
    ev_break(sc->loop, EVBREAK_ALL);
}

/*
 * What each event does in each state. Signal watchers start with
 * sidecar_start(), services' changes come after it, the drain timer runs
 * only while draining, and only stopping ends in all stopped: every other
 * cell is impossible. A stop signal may still come in the loop's last
 * iteration, and the services' last changes be handled after the end.
 */
static lifecycle_fn *const lifecycle_table[SC_STATES][SC_EVENTS] = {
    [SC_STARTING] =
        {
            [SC_EV_START] = lc_run,
            [SC_EV_STOP_SIGNAL] = lc_impossible,
            [SC_EV_DRAINED] = lc_impossible,
            [SC_EV_SHUTDOWN] = lc_impossible,
            [SC_EV_ALL_STOPPED] = lc_impossible,
        },
    [SC_RUNNING] =
        {
            [SC_EV_START] = lc_impossible,
            [SC_EV_STOP_SIGNAL] = lc_drain,
            [SC_EV_DRAINED] = lc_impossible,
            [SC_EV_SHUTDOWN] = lc_shutdown,
            [SC_EV_ALL_STOPPED] = lc_impossible,
        },
    [SC_DRAINING] =
        {
            [SC_EV_START] = lc_impossible,
            [SC_EV_STOP_SIGNAL] = lc_end_drain,
            [SC_EV_DRAINED] = lc_end_drain,
            [SC_EV_SHUTDOWN] = lc_shutdown,
            [SC_EV_ALL_STOPPED] = lc_impossible,
        },
    [SC_STOPPING] =
        {
            [SC_EV_START] = lc_impossible,
            [SC_EV_STOP_SIGNAL] = lc_signal_again,
            [SC_EV_DRAINED] = lc_impossible,
            [SC_EV_SHUTDOWN] = lc_ignore,
            [SC_EV_ALL_STOPPED] = lc_finish,
        },
    [SC_FINISHED] =
        {
            [SC_EV_START] = lc_impossible,
            [SC_EV_STOP_SIGNAL] = lc_signal_again,
            [SC_EV_DRAINED] = lc_impossible,
            [SC_EV_SHUTDOWN] = lc_ignore,
            [SC_EV_ALL_STOPPED] = lc_ignore,
        },
};

static void lifecycle(struct sidecar *sc, enum sc_event ev, const char *reason)
{
    lifecycle_table[sc->state][ev](sc, ev, reason);
}

static void on_signal(EV_P_ ev_signal *w, int revents)
{
    (void)loop;
    (void)revents;
    struct sidecar *sc = w->data;
    int sig = w->signum;

    if (sig == SIGHUP) {
        /* Reloads, then goes to the services that take it as well. */
        (void)sidecar_reload(sc, "SIGHUP", NULL);
        (void)forward_signal(sc, sig);
        return;
    }
    if (sig != SIGTERM && sig != SIGINT) {
        if (!forward_signal(sc, sig))
            LOG_INFO("signal ignored: no running service takes it",
                     LF_STR("signal", cfg_signal_name(sig)));
        return;
    }
    sc->stop_signals++;
    lifecycle(sc, SC_EV_STOP_SIGNAL, cfg_signal_name(sig));
}

/* At start and at each reload: `check` says it too, but nobody may run it. */
static void warn_if_short_token(const struct cfg_root *cfg)
{
    if (cfg_token_is_short(cfg))
        LOG_WARN(CFG_TOKEN_SHORT_WARNING, LF_STR("path", cfg->path),
                 LF_INT("line", cfg->http.token_mark.line));
}

struct sidecar *sidecar_new(struct ev_loop *loop, struct cfg_root *cfg,
                            char *errbuf, size_t errlen)
{
    struct sidecar *sc = calloc(1, sizeof(*sc));
    if (!sc)
        goto out_nomem;
    sc->loop = loop;
    sc->cfg = cfg;
    guard_init(&sc->guard);
    if (notify_init(&sc->changes, loop, on_notice, sc) < 0)
        goto out_free;
    ev_timer_init(&sc->sweep_w, on_sweep, 0., 0.);
    ev_timer_init(&sc->recheck_w, on_watch_started, 0., 0.);
    sc->env = spawn_env_inherited();
    if (!sc->env)
        goto out_free;
    if (cfg->services_count) {
        sc->svcs = calloc(cfg->services_count, sizeof(*sc->svcs));
        if (!sc->svcs)
            goto out_free;
    }
    for (size_t i = 0; i < cfg->services_count; i++) {
        sc->svcs[i] =
            svc_new(loop, &cfg->services[i], sc->env, cfg->http.token_vars,
                    cfg->log.max_line, on_service_change, sc, errbuf, errlen);
        if (!sc->svcs[i]) {
            /* Where in the file, as for the errors `check` finds. */
            char why[256];
            snprintf(why, sizeof(why), "%s", errbuf);
            snprintf(errbuf, errlen, "%s:%u:%u: %s", cfg->path,
                     cfg->services[i].mark.line, cfg->services[i].mark.col,
                     why);
            goto out_fail;
        }
        svc_set_guard(sc->svcs[i], &sc->guard);
        sc->svcs_count++;
    }
    if (cfg->main_index != CFG_NO_INDEX)
        sc->exit_from = sc->svcs[cfg->main_index];
    sc->prober = prober_new(loop, cfg, sc->env, on_probe_change,
                            on_probe_restart, sc, errbuf, errlen);
    if (!sc->prober)
        goto out_fail;
    sc->health_probes =
        calloc(cfg->probes_count + 1, sizeof(*sc->health_probes));
    sc->health_services =
        calloc(cfg->services_count + 1, sizeof(*sc->health_services));
    if (!sc->health_probes || !sc->health_services)
        goto out_free;
    return sc;
out_free:
    snprintf(errbuf, errlen, "out of memory");
out_fail:
    sc->cfg = NULL; /* the caller's still */
    sidecar_free(sc);
    return NULL;
out_nomem:
    snprintf(errbuf, errlen, "out of memory");
    return NULL;
}

/* Starts a watcher for sig unless one runs already. */
static void watch_signal(struct sidecar *sc, int sig)
{
    for (size_t i = 0; i < sc->signals_count; i++) {
        if (sc->signal_w[i].signum == sig)
            return;
    }
    assert(sc->signals_count < SIDECAR_SIGNALS_MAX); /* one per number */
    ev_signal *w = &sc->signal_w[sc->signals_count++];
    ev_signal_init(w, on_signal, sig);
    w->data = sc;
    ev_signal_start(sc->loop, w);
}

/* Every signal a service takes is caught, so that it can be forwarded. */
static void watch_forwarded_signals(struct sidecar *sc)
{
    for (size_t i = 0; i < sc->svcs_count; i++) {
        const struct cfg_service *c = sc->svcs[i]->cfg;
        for (size_t j = 0; j < c->forward_signals_count; j++)
            watch_signal(sc, c->forward_signals[j]);
    }
}

/* May free the watch (the new config turns it off): file_watch allows it. */
static void on_config_changed(void *arg)
{
    (void)sidecar_reload(arg, "watch", NULL);
}

/* The file may have changed between its load and the watch's start. */
static void on_watch_started(EV_P_ ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    on_config_changed(container_of(w, struct sidecar, recheck_w));
}

/* Watches the config file while reload is watch. */
static void apply_watch(struct sidecar *sc)
{
    bool want = sc->cfg->reload == CFG_RELOAD_WATCH;
    if (want == (sc->watch != NULL))
        return;
    if (!want) {
        file_watch_free(sc->watch);
        sc->watch = NULL;
        LOG_INFO("stopped watching the config file",
                 LF_STR("path", sc->cfg->path));
        return;
    }
    char errbuf[256];
    sc->watch = file_watch_new(sc->loop, sc->cfg->path, SIDECAR_WATCH_SETTLE_S,
                               SIDECAR_WATCH_MAX_DELAY_S, on_config_changed, sc,
                               errbuf, sizeof(errbuf));
    if (!sc->watch)
        LOG_WARN("cannot watch the config file: reload with SIGHUP or "
                 "POST /reload",
                 LF_STR("path", sc->cfg->path), LF_STR("error", errbuf));
    else
        LOG_INFO("watching the config file", LF_STR("path", sc->cfg->path));
    if (sc->watch)
        ev_timer_start(sc->loop, &sc->recheck_w);
}

/* Once at start: the groups no child can be rid of, as "4(adm)". */
static void warn_kept_groups(void)
{
    gid_t *gids;
    int n = spawn_kept_groups(&gids);
    if (n < 0) {
        LOG_WARN("cannot read sidecar's supplementary groups",
                 LF_STR("error", strerror(-n)));
        return;
    }
    if (n == 0)
        return;
    char(*names)[64] = calloc((size_t)n, sizeof(*names));
    const char **list = calloc((size_t)n, sizeof(*list));
    for (int i = 0; names && list && i < n; i++) {
        const struct group *gr = getgrgid(gids[i]);
        snprintf(names[i], sizeof(names[i]), "%lu%s%.40s%s",
                 (unsigned long)gids[i], gr ? "(" : "", gr ? gr->gr_name : "",
                 gr ? ")" : "");
        list[i] = names[i];
    }
    LOG_WARN("services and exec probes keep sidecar's supplementary groups: "
             "it cannot drop them without CAP_SETGID, or in a user namespace "
             "that denies setgroups",
             LF_LIST("groups", list, names && list ? n : 0));
    free(list);
    free(names);
    free(gids);
}

void sidecar_start(struct sidecar *sc)
{
    warn_if_short_token(sc->cfg);
    reaper_start(&sc->reaper, sc->loop);
    int rc = guard_start(&sc->guard);
    if (rc < 0)
        LOG_WARN("cannot start the last-chance guard; a SIGKILL of sidecar "
                 "may leave services' processes behind",
                 LF_STR("error", strerror(-rc)));
    for (size_t i = 0; i < ARRAY_SIZE(always_watched); i++)
        watch_signal(sc, always_watched[i]);
    watch_forwarded_signals(sc);
    apply_watch(sc);
    warn_kept_groups();
    LOG_INFO("sidecar started", LF_STR("name", sc->cfg->name),
             LF_STR("version", SIDECAR_VERSION), LF_INT("pid", getpid()),
             LF_INT("services", sc->svcs_count),
             LF_INT("probes", sc->cfg->probes_count));
    sc->started_at = ev_now(sc->loop);
    sc->start_mono = util_mono_now();
    lifecycle(sc, SC_EV_START, NULL);
    update_health(sc, "sidecar started");
    refresh_frontend(sc);
    prober_start(sc->prober);
    start_ready(sc);
}

/* What a reload builds before it changes anything. */
struct reload_work {
    struct cfg_root *next;
    struct reload_plan plan;
    struct svc **svcs;      /* as next->services: kept ones and new ones */
    struct probe **probes;  /* the new probes, staged */
    bool frontend_prepared; /* for next: commit or abort it */
    struct health_probe_in *health_probes;
    struct health_service_in *health_services;
    struct retired_cfg *retired; /* for the current config */
};

static void reload_work_free(struct sidecar *sc, struct reload_work *w)
{
    for (size_t i = 0; w->svcs && i < w->next->services_count; i++) {
        bool kept = w->plan.svc_from && w->plan.svc_from[i] != CFG_NO_INDEX &&
                    w->plan.svc_same[i];
        if (!kept) {
            notify_forget(&sc->changes, w->svcs[i]);
            svc_free(w->svcs[i]);
        }
    }
    free(w->svcs);
    if (w->probes)
        prober_unstage(w->next, w->plan.probe_kept_from, w->probes);
    if (w->frontend_prepared)
        sc->frontend.abort(sc->frontend.arg);
    free(w->health_probes);
    free(w->health_services);
    if (w->retired)
        free(w->retired->svcs);
    free(w->retired);
    reload_plan_free(&w->plan);
    cfg_free(w->next);
}

static void record_reload(struct sidecar *sc, const char *trigger, bool ok,
                          const char *error)
{
    struct reload_record *r = &sc->reloads;
    if (ok)
        r->ok++;
    else
        r->failed++;
    r->any = true;
    r->last_ok = ok;
    r->last_at = ev_time();
    snprintf(r->last_trigger, sizeof(r->last_trigger), "%s", trigger);
    snprintf(r->last_error, sizeof(r->last_error), "%s", ok ? "" : error);
    r->failed_digest_known = false; /* failed_on() sets it */
}

/* {"reloaded":false,"error":...}: the answer to a reload that did nothing. */
static int put_refusal(struct buf *answer, const char *error)
{
    if (!answer)
        return 0;
    int rc = buf_puts(answer, "{\"reloaded\":false,\"error\":");
    if (rc == 0)
        rc = json_put_string(answer, error, strlen(error));
    if (rc == 0)
        rc = buf_puts(answer, "}\n");
    return rc < 0 ? -ENOMEM : 0;
}

static int reload_failed(struct sidecar *sc, const char *trigger,
                         const char *error, struct buf *answer)
{
    record_reload(sc, trigger, false, error);
    LOG_CHANGE(LOG_LEVEL_ERROR, "config reload failed: nothing changed",
               LF_STR("trigger", trigger), LF_STR("path", sc->cfg->path),
               LF_STR("error", error));
    refresh_frontend(sc); /* /health/details shows it */
    return put_refusal(answer, error) < 0 ? -ENOMEM : -EINVAL;
}

/* The front end gets ready for next (it may bind a new http.listen). */
static int prepare_frontend(struct sidecar *sc, struct reload_work *w,
                            char *errbuf, size_t errlen)
{
    if (!sc->frontend.prepare)
        return 0;
    if (sc->frontend.prepare(sc->frontend.arg, w->next, errbuf, errlen) < 0)
        return -1;
    w->frontend_prepared = true;
    return 0;
}

/* Everything that can fail, before anything changes. */
static int prepare_reload(struct sidecar *sc, struct reload_work *w,
                          char *errbuf, size_t errlen)
{
    const struct cfg_root *next = w->next;
    if (reload_plan_make(&w->plan, sc->cfg, next) < 0)
        goto out_nomem;
    w->svcs = calloc(next->services_count + 1, sizeof(*w->svcs));
    w->health_probes =
        calloc(next->probes_count + 1, sizeof(*w->health_probes));
    w->health_services =
        calloc(next->services_count + 1, sizeof(*w->health_services));
    w->retired = calloc(1, sizeof(*w->retired));
    if (!w->svcs || !w->health_probes || !w->health_services || !w->retired)
        goto out_nomem;
    w->retired->svcs =
        calloc(sc->cfg->services_count + 1, sizeof(struct svc *));
    if (!w->retired->svcs)
        goto out_nomem;
    for (size_t i = 0; i < next->services_count; i++) {
        size_t from = w->plan.svc_from[i];
        if (from != CFG_NO_INDEX && w->plan.svc_same[i]) {
            w->svcs[i] = sc->svcs[from];
            continue;
        }
        char why[256];
        w->svcs[i] = svc_new(sc->loop, &next->services[i], sc->env,
                             next->http.token_vars, next->log.max_line,
                             on_service_change, sc, why, sizeof(why));
        if (!w->svcs[i]) {
            snprintf(errbuf, errlen, "%s:%u:%u: %s", next->path,
                     next->services[i].mark.line, next->services[i].mark.col,
                     why);
            return -1;
        }
        svc_set_guard(w->svcs[i], &sc->guard);
    }
    w->probes =
        prober_stage(sc->prober, next, w->plan.probe_kept_from, errbuf, errlen);
    if (!w->probes)
        return -1;
    /* Last: when it fails, the front end has put back what it changed
     * (the current address). */
    return prepare_frontend(sc, w, errbuf, errlen);
out_nomem:
    snprintf(errbuf, errlen, "out of memory");
    return -1;
}

/* The probes the commit to next frees: their queued changes go first. */
static void forget_dropped_probes(struct sidecar *sc,
                                  const struct cfg_root *next,
                                  const size_t *kept_from)
{
    for (size_t j = 0; j < sc->prober->count; j++) {
        bool kept = false;
        for (size_t i = 0; i < next->probes_count && !kept; i++)
            kept = kept_from[i] == j;
        if (!kept)
            notify_forget(&sc->changes, sc->prober->probes[j]);
    }
}

/* The swap: cannot fail. The current config joins the retired ones. */
static void commit_reload(struct sidecar *sc, struct reload_work *w)
{
    struct cfg_root *cur = sc->cfg;
    struct cfg_root *next = w->next;
    const struct reload_plan *plan = &w->plan;
    for (size_t i = 0; i < cur->services_count; i++) {
        if (plan->svc_gone[i])
            w->retired->svcs[i] = sc->svcs[i];
    }
    for (size_t i = 0; i < next->services_count; i++) {
        size_t from = plan->svc_from[i];
        if (from == CFG_NO_INDEX)
            continue;
        if (plan->svc_same[i])
            svc_reconfigure(w->svcs[i], &next->services[i],
                            next->http.token_vars, next->log.max_line);
        else
            w->retired->svcs[from] = sc->svcs[from];
    }
    free(sc->svcs);
    sc->svcs = w->svcs;
    sc->svcs_count = next->services_count;
    free(sc->health_probes);
    sc->health_probes = w->health_probes;
    free(sc->health_services);
    sc->health_services = w->health_services;
    w->retired->cfg = cur;
    w->retired->next = sc->retired;
    sc->retired = w->retired;
    sc->cfg = next;
    forget_dropped_probes(sc, next, plan->probe_kept_from);
    prober_commit(sc->prober, next, plan->probe_kept_from, w->probes);
    sc->exit_from =
        next->main_index != CFG_NO_INDEX ? sc->svcs[next->main_index] : NULL;
    if (w->frontend_prepared)
        sc->frontend.commit(sc->frontend.arg, next);
    if (!sc->log_level_pinned)
        log_set_level((enum log_level)next->log.level);
    if (!sc->log_format_pinned)
        log_set_format(next->log.format == CFG_LOG_TEXT ? LOG_FORMAT_TEXT
                                                        : LOG_FORMAT_JSON);
    /* Taken over: what is left of w is freed by the caller. */
    w->svcs = NULL;
    w->probes = NULL;
    w->frontend_prepared = false;
    w->health_probes = NULL;
    w->health_services = NULL;
    w->retired = NULL;
    w->next = NULL;
}

/* After the swap: the stops, starts and probe runs the changes call for. */
static void act_on_reload(struct sidecar *sc)
{
    watch_forwarded_signals(sc);
    apply_watch(sc);
    /* Every stop it may begin now, before the probes and starts below:
     * the notices of these changes go on from there. */
    while (continue_retiring(sc))
        ;
    /* Probes of a restarting service stop; new ones start if they may. */
    prober_service_running(sc->prober, NULL, true, sc->start_mono);
    for (size_t i = 0; i < sc->svcs_count; i++)
        prober_service_running(sc->prober, sc->svcs[i]->cfg->name,
                               sc->svcs[i]->state == SVC_RUNNING,
                               sc->svcs[i]->start_mono);
    prober_fill_exec_slots(sc->prober);
    update_health(sc, "config reloaded");
    refresh_frontend(sc);
    ev_timer_start(sc->loop, &sc->sweep_w); /* frees what is done already */
    start_ready(sc);
}

static void log_reload(const struct reload_plan *p, const char *trigger,
                       const char *path)
{
    /* Always: the one record of what a reload did, whatever the level. */
    LOG_CHANGE_ALWAYS(
        LOG_LEVEL_INFO, "config reloaded", LF_STR("trigger", trigger),
        LF_STR("path", path),
        LF_LIST("added", (const char *const *)p->added.v, p->added.n),
        LF_LIST("removed", (const char *const *)p->removed.v, p->removed.n),
        LF_LIST("changed", (const char *const *)p->changed.v, p->changed.n),
        LF_LIST("kept", (const char *const *)p->kept.v, p->kept.n),
        LF_LIST("settings", (const char *const *)p->settings.v, p->settings.n));
}

/*
 * A reload failed on the bytes of this digest or, when unread, on the
 * read error whose text has it (a FIFO, no permission: no bytes to tell
 * apart): the watch reports each only once.
 */
static int failed_on(struct sidecar *sc, uint64_t digest, bool unread,
                     const char *trigger, const char *error, struct buf *answer)
{
    int rc = reload_failed(sc, trigger, error, answer);
    sc->reloads.failed_digest = digest;
    sc->reloads.failed_unread = unread;
    sc->reloads.failed_digest_known = true;
    return rc;
}

/*
 * Whether the watch has anything to try in these bytes (or this read
 * error, when unread): not when they are what failed last (its error was
 * reported already; whatever writes beside the file, it is not logged
 * again), nor when they are the running config's and no reload failed
 * since. The running bytes after a failure are loaded again, as a SIGHUP
 * would: a bad edit reverted ends the failure, but one that came from
 * outside the file (a token_file, a user) is still there, and must not be
 * called over.
 */
static bool watch_has_news(const struct sidecar *sc, uint64_t digest,
                           bool unread)
{
    const struct reload_record *r = &sc->reloads;
    if (r->failed_digest_known && r->failed_unread == unread &&
        digest == r->failed_digest) {
        LOG_DEBUG(unread ? "config file touched, still unreadable"
                         : "config file touched, content still the one that "
                           "failed",
                  LF_STR("path", sc->cfg->path));
        return false;
    }
    if (unread)
        return true;
    if (digest != sc->cfg->digest || (r->any && !r->last_ok))
        return true;
    LOG_DEBUG("config file touched, content unchanged",
              LF_STR("path", sc->cfg->path));
    return false;
}

int sidecar_reload(struct sidecar *sc, const char *trigger, struct buf *answer)
{
    if (winding_down(sc)) {
        LOG_WARN("config reload refused: shutting down",
                 LF_STR("trigger", trigger));
        return put_refusal(answer, "sidecar is shutting down") < 0 ? -ENOMEM
                                                                   : -EBUSY;
    }
    struct reload_work w = {0};
    struct cfg_error err;
    char errbuf[sizeof(sc->reloads.last_error)];
    char *data;
    size_t len;
    if (cfg_read_file(sc->cfg->path, &data, &len, &err) < 0) {
        cfg_error_format(&err, errbuf, sizeof(errbuf));
        uint64_t error = cfg_digest(errbuf, strlen(errbuf));
        if (strcmp(trigger, "watch") == 0 && !watch_has_news(sc, error, true))
            return -EALREADY;
        return failed_on(sc, error, true, trigger, errbuf, answer);
    }
    uint64_t digest = cfg_digest(data, len);
    if (strcmp(trigger, "watch") == 0 && !watch_has_news(sc, digest, false)) {
        free(data);
        return -EALREADY;
    }
    int loaded = cfg_load_buffer(sc->cfg->path, data, len, &w.next, &err);
    free(data);
    if (loaded < 0) {
        cfg_error_format(&err, errbuf, sizeof(errbuf));
        return failed_on(sc, digest, false, trigger, errbuf, answer);
    }
    if (prepare_reload(sc, &w, errbuf, sizeof(errbuf)) < 0) {
        reload_work_free(sc, &w);
        return failed_on(sc, digest, false, trigger, errbuf, answer);
    }
    commit_reload(sc, &w);
    record_reload(sc, trigger, true, NULL);
    log_reload(&w.plan, trigger, sc->cfg->path);
    warn_if_short_token(sc->cfg);
    int rc = 0;
    if (answer) {
        rc = buf_puts(answer, "{\"reloaded\":true,");
        if (rc == 0)
            rc = reload_plan_put_json(&w.plan, answer);
        if (rc == 0)
            rc = buf_puts(answer, "}\n");
    }
    reload_work_free(sc, &w);
    act_on_reload(sc);
    return rc < 0 ? -ENOMEM : 0;
}

struct sidecar_view sidecar_view(const struct sidecar *sc)
{
    return (struct sidecar_view){
        .cfg = sc->cfg,
        .svcs = (const struct svc *const *)sc->svcs,
        .svcs_count = sc->svcs_count,
        .probes = (const struct probe *const *)sc->prober->probes,
        .probes_count = sc->prober->count,
        .health = &sc->health.view,
        .reloads = &sc->reloads,
        /* Since the drain began, through the stop that follows it. */
        .draining = sc->state == SC_DRAINING ||
                    (stopping(sc) && sc->drain_reason[0] != '\0'),
        .shutting_down = stopping(sc),
        .watching = sc->watch != NULL,
        .started_at = sc->started_at,
        .start_mono = sc->start_mono,
    };
}

int sidecar_service_command(struct sidecar *sc, const char *name,
                            const char *action, const char **state)
{
    struct svc *s = NULL;
    for (size_t i = 0; i < sc->svcs_count && !s; i++) {
        if (strcmp(sc->svcs[i]->cfg->name, name) == 0)
            s = sc->svcs[i];
    }
    if (!s)
        return -ENOENT;
    if (winding_down(sc))
        return -EBUSY;
    bool starts =
        strcmp(action, "restart") == 0 || strcmp(action, "start") == 0;
    if (s->state == SVC_WAITING && starts)
        return -EAGAIN;
    bool idle = svc_is_done(s) || s->state == SVC_BACKOFF;
    if (strcmp(action, "restart") == 0)
        svc_handle(s, svc_has_process(s) ? SVC_EV_RESTART : SVC_EV_START);
    else if (strcmp(action, "stop") == 0)
        svc_handle(s, SVC_EV_STOP);
    else if (strcmp(action, "start") == 0 && idle)
        svc_handle(s, SVC_EV_START);
    else if (strcmp(action, "start") == 0)
        return -EALREADY;
    else
        return -EINVAL;
    LOG_INFO("service control request", LF_STR("service", name),
             LF_STR("action", action),
             LF_STR("state", svc_state_name(s->state)));
    *state = svc_state_name(s->state);
    return 0;
}

int sidecar_probe_push(struct sidecar *sc, const char *name, bool ok,
                       const char *reason, const char **state)
{
    struct probe *p = NULL;
    for (size_t i = 0; i < sc->prober->count && !p; i++) {
        if (strcmp(sc->prober->probes[i]->cfg->name, name) == 0)
            p = sc->prober->probes[i];
    }
    if (!p)
        return -ENOENT;
    int rc = probe_ttl_push(p, ok, reason);
    *state = probe_state_name(p->state);
    return rc;
}

void sidecar_set_frontend(struct sidecar *sc, const struct sidecar_frontend *fe)
{
    sc->frontend = *fe;
}

void sidecar_pin_log(struct sidecar *sc, bool level, bool format)
{
    sc->log_level_pinned = level;
    sc->log_format_pinned = format;
}

int sidecar_exit_code(const struct sidecar *sc)
{
    /* A main service a reload replaced, whose successor never ran. */
    bool successor_ran = sc->exit_from && (sc->exit_from->ever_started ||
                                           sc->exit_from->has_exited);
    if (!successor_ran && sc->has_retired_main_code)
        return sc->retired_main_code;
    if (!sc->exit_from)
        return 0;
    int code = svc_exit_code(sc->exit_from);
    /* Giving up is a failure, even on a service that kept exiting 0. */
    if (sc->exit_from->state == SVC_FATAL && code == 0)
        code = 1;
    return code;
}

unsigned sidecar_change_depth_max(const struct sidecar *sc)
{
    return sc->change_depth_max;
}

void sidecar_free(struct sidecar *sc)
{
    if (!sc)
        return;
    /* First: what is freed below is never handled after. */
    notify_fini(&sc->changes);
    file_watch_free(sc->watch);
    ev_timer_stop(sc->loop, &sc->sweep_w);
    ev_timer_stop(sc->loop, &sc->recheck_w);
    while (sc->retired) {
        struct retired_cfg *r = sc->retired;
        sc->retired = r->next;
        for (size_t i = 0; i < r->cfg->services_count; i++)
            svc_free(r->svcs[i]);
        free(r->svcs);
        cfg_free(r->cfg);
        free(r);
    }
    for (size_t i = 0; i < sc->signals_count; i++)
        ev_signal_stop(sc->loop, &sc->signal_w[i]);
    if (sc->reaper.loop)
        reaper_stop(&sc->reaper);
    guard_stop(&sc->guard);
    ev_timer_stop(sc->loop, &sc->drain_w);
    if (sc->frontend.free)
        sc->frontend.free(sc->frontend.arg);
    prober_free(sc->prober);
    for (size_t i = 0; i < sc->svcs_count; i++)
        svc_free(sc->svcs[i]);
    free(sc->svcs);
    free(sc->health_probes);
    free(sc->health_services);
    free(sc->env);
    cfg_free(sc->cfg);
    free(sc);
}
