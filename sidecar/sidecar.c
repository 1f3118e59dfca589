#include "sidecar/sidecar.h"

#include <assert.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conf/parse.h"
#include "sidecar/log.h"

/* Watched even when no service takes them, so that they are logged and
 * ignored instead of ending sidecar. */
static const int always_watched[] = {SIGTERM, SIGINT, SIGHUP, SIGUSR1, SIGUSR2};

/* True when every probe of the service at idx passes. */
static bool probes_pass(const struct sidecar *sc, size_t idx)
{
    for (size_t i = 0; i < sc->prober->count; i++) {
        const struct probe *p = &sc->prober->probes[i];
        if (p->cfg->service_index == idx && p->state != PROBE_PASSING)
            return false;
    }
    return true;
}

/* True when the dependency is as far as the edge asks. */
static bool dep_met(const struct sidecar *sc, const struct cfg_dep *d)
{
    const struct svc *dep = sc->svcs[d->index];
    if (d->cond == CFG_DEP_HEALTHY)
        return dep->state == SVC_RUNNING && probes_pass(sc, d->index);
    return dep->ever_started && dep->state != SVC_FATAL;
}

/* True when the dependency can never be met: nothing will run it again. */
static bool dep_doomed(const struct svc *dep)
{
    return dep->state == SVC_FATAL ||
           (dep->state == SVC_EXITED && !dep->ever_started);
}

/*
 * Starts every waiting service whose dependencies are met, and gives up
 * on those whose dependencies never can be (which takes the pod down if
 * the service is essential).
 */
static void start_ready(struct sidecar *sc)
{
    if (sc->draining)
        return; /* about to stop: start nothing new */
    for (size_t i = 0; i < sc->svcs_count; i++) {
        struct svc *s = sc->svcs[sc->cfg->start_order[i]];
        if (s->state != SVC_WAITING)
            continue;
        bool met = true;
        for (size_t j = 0; j < s->cfg->deps_count && s->state == SVC_WAITING;
             j++) {
            const struct svc *dep = sc->svcs[s->cfg->deps[j].index];
            if (dep_doomed(dep)) {
                LOG_ERROR("dependency failed; service cannot start",
                          LF_STR("service", s->cfg->name),
                          LF_STR("dependency", dep->cfg->name),
                          LF_STR("state", svc_state_name(dep->state)));
                svc_handle(s, SVC_EV_ABANDON);
            }
            met = met && dep_met(sc, &s->cfg->deps[j]);
        }
        if (met && s->state == SVC_WAITING)
            svc_handle(s, SVC_EV_START);
    }
}

/* True while some service that depends on s still has a process. */
static bool dependents_alive(const struct sidecar *sc, size_t idx)
{
    for (size_t i = 0; i < sc->svcs_count; i++) {
        const struct svc *s = sc->svcs[i];
        for (size_t j = 0; j < s->cfg->deps_count; j++) {
            if (s->cfg->deps[j].index == idx && svc_has_process(s))
                return true;
        }
    }
    return false;
}

static void finish(struct sidecar *sc)
{
    if (sc->finished)
        return;
    sc->finished = true;
    int reaped = reaper_kill_children(1.0);
    LOG_INFO("sidecar exiting", LF_INT("exit_code", sidecar_exit_code(sc)),
             LF_INT("leftovers_reaped", reaped));
    ev_break(sc->loop, EVBREAK_ALL);
}

/*
 * One step of the shutdown: stop every service no live service depends
 * on; once none is left with a process, end the loop. Runs again on each
 * state change until done.
 */
static void continue_shutdown(struct sidecar *sc)
{
    bool all_done = true;
    for (size_t k = sc->svcs_count; k-- > 0;) {
        size_t idx = sc->cfg->start_order[k];
        struct svc *s = sc->svcs[idx];
        if (svc_is_done(s))
            continue;
        /*
         * Nothing may (re)start now, not even after a restart that was
         * under way (STOP cancels it); live ones wait for dependents.
         */
        if (!svc_has_process(s) || s->state == SVC_STOPPING ||
            !dependents_alive(sc, idx))
            svc_handle(s, SVC_EV_STOP);
        if (!svc_is_done(s))
            all_done = false;
    }
    if (all_done)
        finish(sc);
}

void sidecar_shutdown(struct sidecar *sc, const char *reason)
{
    if (sc->shutting_down)
        return;
    sc->shutting_down = true;
    LOG_INFO("shutting down", LF_STR("reason", reason));
    continue_shutdown(sc);
}

/* Recomputes the aggregate from every service and probe. */
static void update_health(struct sidecar *sc, const char *cause)
{
    for (size_t i = 0; i < sc->svcs_count; i++)
        sc->health_services[i] = health_service_of(sc->svcs[i]);
    for (size_t i = 0; i < sc->prober->count; i++) {
        const struct probe *p = &sc->prober->probes[i];
        struct health_probe_in *in = &sc->health_probes[i];
        in->importance = p->cfg->importance;
        in->state = p->state;
        in->passed_once = p->passed_once;
    }
    struct health_view v = health_compute(
        sc->health_probes, sc->prober->count, sc->health_services,
        sc->svcs_count, sc->health.initialised && sc->health.view.started);
    if (sc->draining || sc->shutting_down)
        v.ready = false;
    if (health_update(&sc->health, v, cause) && sc->http)
        http_server_refresh(sc->http);
}

static void on_probe_change(struct probe *p, enum probe_state old, void *arg)
{
    (void)old;
    struct sidecar *sc = arg;
    char cause[192];
    snprintf(cause, sizeof(cause), "probe '%s' (%s) is %s", p->cfg->name,
             probe_importance_name(p->cfg->importance),
             probe_state_name(p->state));
    /* First the aggregate, so that its change names this cause. */
    update_health(sc, cause);
    size_t idx = p->cfg->service_index;
    if (p->state == PROBE_FAILING && p->cfg->restart_on_failure &&
        idx != CFG_NO_INDEX && !sc->shutting_down &&
        sc->svcs[idx]->state == SVC_RUNNING) {
        LOG_WARN("restarting service: its probe is failing",
                 LF_STR("service", sc->svcs[idx]->cfg->name),
                 LF_STR("probe", p->cfg->name));
        svc_handle(sc->svcs[idx], SVC_EV_RESTART);
    }
    if (!sc->shutting_down && p->state == PROBE_PASSING)
        start_ready(sc);
}

static void on_service_change(struct svc *s, enum svc_state old, void *arg)
{
    struct sidecar *sc = arg;
    /* First the aggregate, so that its change names this cause. */
    char cause[192];
    snprintf(cause, sizeof(cause), "service '%s' is %s", s->cfg->name,
             svc_state_name(s->state));
    update_health(sc, cause);
    /* A service's probes run while it runs, from unknown each time. */
    if ((old == SVC_RUNNING) != (s->state == SVC_RUNNING))
        prober_service_running(sc->prober, (size_t)(s->cfg - sc->cfg->services),
                               s->state == SVC_RUNNING);
    if (sc->shutting_down) {
        continue_shutdown(sc);
        return;
    }
    if ((s->state == SVC_EXITED || s->state == SVC_FATAL) &&
        s->cfg->essential) {
        sc->exit_from = s;
        char reason[160];
        snprintf(reason, sizeof(reason), "%s service '%s' %s",
                 s->cfg->role == CFG_ROLE_MAIN ? "main" : "essential",
                 s->cfg->name,
                 s->state == SVC_FATAL ? "is crash-looping"
                                       : "exited and will not restart");
        sidecar_shutdown(sc, reason);
        return;
    }
    start_ready(sc);
}

static void forward_signal(struct sidecar *sc, int sig)
{
    bool sent = false;
    for (size_t i = 0; i < sc->svcs_count; i++) {
        struct svc *s = sc->svcs[i];
        const struct cfg_service *c = s->cfg;
        for (size_t j = 0; j < c->forward_signals_count; j++) {
            if (c->forward_signals[j] != sig || svc_signal(s, sig) < 0)
                continue;
            LOG_INFO("forwarded signal", LF_STR("service", c->name),
                     LF_INT("pid", s->pid),
                     LF_STR("signal", cfg_signal_name(sig)));
            sent = true;
        }
    }
    if (!sent)
        LOG_INFO("signal ignored: no running service takes it",
                 LF_STR("signal", cfg_signal_name(sig)));
}

static void on_drained(EV_P_ ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    struct sidecar *sc = container_of(w, struct sidecar, drain_w);
    sidecar_shutdown(sc, sc->drain_reason);
}

/*
 * Readiness turns off at once and stays off for shutdown.drain before
 * anything is stopped, so Kubernetes takes the pod out of its endpoints
 * while it still serves. Liveness holds.
 */
static void begin_drain(struct sidecar *sc)
{
    double drain = (double)sc->cfg->shutdown.drain_ms / 1000.0;
    sc->draining = true;
    LOG_INFO("draining: not ready, stopping after the drain",
             LF_STR("reason", sc->drain_reason),
             LF_INT("drain_ms", sc->cfg->shutdown.drain_ms));
    update_health(sc, "draining");
    ev_now_update(sc->loop); /* the drain counts from now */
    ev_timer_init(&sc->drain_w, on_drained, drain, 0.);
    ev_timer_start(sc->loop, &sc->drain_w);
}

static void on_signal(EV_P_ ev_signal *w, int revents)
{
    (void)loop;
    (void)revents;
    struct sidecar *sc = w->data;
    int sig = w->signum;

    if (sig != SIGTERM && sig != SIGINT) {
        forward_signal(sc, sig);
        return;
    }
    unsigned n = ++sc->stop_signals;
    if (!sc->shutting_down && !sc->draining) {
        snprintf(sc->drain_reason, sizeof(sc->drain_reason), "received %s",
                 cfg_signal_name(sig));
        begin_drain(sc);
        return;
    }
    if (!sc->shutting_down) {
        /* A second one during the drain: stop now. */
        ev_timer_stop(sc->loop, &sc->drain_w);
        sidecar_shutdown(sc, sc->drain_reason);
        return;
    }
    if (n == 1) {
        /* Stopping on its own already (an essential service is gone). */
        LOG_INFO("already shutting down",
                 LF_STR("signal", cfg_signal_name(sig)));
        return;
    }
    /* Asked again while stopping: no more waiting for grace periods. */
    LOG_WARN("stop signal during shutdown: killing every service now",
             LF_STR("signal", cfg_signal_name(sig)));
    for (size_t i = 0; i < sc->svcs_count; i++)
        svc_handle(sc->svcs[i], SVC_EV_KILL);
}

struct sidecar *sidecar_new(struct ev_loop *loop, const struct cfg_root *cfg,
                            char *errbuf, size_t errlen)
{
    struct sidecar *sc = calloc(1, sizeof(*sc));
    if (!sc)
        goto out_nomem;
    sc->loop = loop;
    sc->cfg = cfg;
    if (cfg->services_count) {
        sc->svcs = calloc(cfg->services_count, sizeof(*sc->svcs));
        if (!sc->svcs)
            goto out_free;
    }
    for (size_t i = 0; i < cfg->services_count; i++) {
        sc->svcs[i] = svc_new(loop, &cfg->services[i], cfg->log.max_line,
                              on_service_change, sc, errbuf, errlen);
        if (!sc->svcs[i]) {
            /* Where in the file, as for the errors `check` finds. */
            char why[256];
            snprintf(why, sizeof(why), "%s", errbuf);
            snprintf(errbuf, errlen, "%s:%u:%u: %s", cfg->path,
                     cfg->services[i].mark.line, cfg->services[i].mark.col,
                     why);
            sidecar_free(sc);
            return NULL;
        }
        sc->svcs_count++;
    }
    if (cfg->main_index != CFG_NO_INDEX)
        sc->exit_from = sc->svcs[cfg->main_index];
    sc->prober = prober_new(loop, cfg, on_probe_change, sc, errbuf, errlen);
    if (!sc->prober) {
        sidecar_free(sc);
        return NULL;
    }
    sc->http = http_server_new(loop, cfg, sc, errbuf, errlen);
    if (!sc->http) {
        sidecar_free(sc);
        return NULL;
    }
    sc->health_probes =
        calloc(cfg->probes_count + 1, sizeof(*sc->health_probes));
    sc->health_services =
        calloc(cfg->services_count + 1, sizeof(*sc->health_services));
    if (!sc->health_probes || !sc->health_services)
        goto out_free;
    return sc;
out_free:
    sidecar_free(sc);
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

void sidecar_start(struct sidecar *sc)
{
    reaper_start(&sc->reaper, sc->loop);
    for (size_t i = 0; i < ARRAY_SIZE(always_watched); i++)
        watch_signal(sc, always_watched[i]);
    for (size_t i = 0; i < sc->svcs_count; i++) {
        const struct cfg_service *c = sc->svcs[i]->cfg;
        for (size_t j = 0; j < c->forward_signals_count; j++)
            watch_signal(sc, c->forward_signals[j]);
    }
    LOG_INFO("sidecar started", LF_STR("name", sc->cfg->name),
             LF_STR("version", SIDECAR_VERSION), LF_INT("pid", getpid()),
             LF_INT("services", sc->svcs_count),
             LF_INT("probes", sc->cfg->probes_count));
    sc->started_at = ev_now(sc->loop);
    update_health(sc, "sidecar started");
    http_server_refresh(sc->http);
    prober_start(sc->prober);
    start_ready(sc);
}

int sidecar_exit_code(const struct sidecar *sc)
{
    if (!sc->exit_from)
        return 0;
    int code = svc_exit_code(sc->exit_from);
    /* Giving up is a failure, even on a service that kept exiting 0. */
    if (sc->exit_from->state == SVC_FATAL && code == 0)
        code = 1;
    return code;
}

void sidecar_free(struct sidecar *sc)
{
    if (!sc)
        return;
    for (size_t i = 0; i < sc->signals_count; i++)
        ev_signal_stop(sc->loop, &sc->signal_w[i]);
    if (sc->reaper.loop)
        reaper_stop(&sc->reaper);
    ev_timer_stop(sc->loop, &sc->drain_w);
    http_server_free(sc->http);
    prober_free(sc->prober);
    for (size_t i = 0; i < sc->svcs_count; i++)
        svc_free(sc->svcs[i]);
    free(sc->svcs);
    free(sc->health_probes);
    free(sc->health_services);
    free(sc);
}
