#include "sidecar/health.h"

#include "base/log.h"

static const char *const status_names[] = {"UP", "DEGRADED", "DOWN"};

const char *health_status_name(enum health_status status)
{
    return status_names[status];
}

struct health_probe_in health_probe_of(const struct probe *p,
                                       const struct svc *owner)
{
    struct health_probe_in in = {
        .importance = p->cfg->importance,
        .state = p->state,
        .passed_once = p->passed_once,
        .done = owner && owner->state == SVC_COMPLETED,
    };
    return in;
}

struct health_service_in health_service_of(const struct svc *s)
{
    struct health_service_in in = {
        .essential = s->cfg->essential,
        .state = s->state,
        .ever_started = s->ever_started,
        .exited_ok = s->has_exited && svc_exit_is_success(s),
        .task = s->cfg->role == CFG_ROLE_TASK,
        .awaited = s->cfg->depended_on,
        .not_ready = s->not_ready != NULL,
    };
    return in;
}

bool health_service_down(const struct health_service_in *s)
{
    if (s->state == SVC_COMPLETED)
        return false;
    if (s->state == SVC_RUNNING)
        return s->not_ready;
    /* A helper that did its work and exited with success is done. */
    return s->essential || s->state != SVC_EXITED || !s->exited_ok;
}

bool health_service_started(const struct health_service_in *s)
{
    if (s->task)
        return !s->awaited || s->state == SVC_COMPLETED;
    return s->ever_started;
}

static enum health_status worse(enum health_status a, enum health_status b)
{
    return a > b ? a : b;
}

struct health_view health_compute(const struct health_probe_in *probes,
                                  size_t probes_count,
                                  const struct health_service_in *services,
                                  size_t services_count, bool started_before)
{
    struct health_view v = {.status = HEALTH_UP, .live = true, .started = true};
    bool critical_unknown = false;

    for (size_t i = 0; i < services_count; i++) {
        const struct health_service_in *s = &services[i];
        if (health_service_down(s))
            v.status =
                worse(v.status, s->essential ? HEALTH_DOWN : HEALTH_DEGRADED);
        if (s->essential && s->state == SVC_FATAL)
            v.live = false;
        if (!health_service_started(s))
            v.started = false;
    }
    for (size_t i = 0; i < probes_count; i++) {
        const struct health_probe_in *p = &probes[i];
        /* Low: reported, never counted. A completed task's: stopped
         * with it, which is done, not down. */
        if (p->importance == CFG_IMPORTANCE_LOW || p->done)
            continue;
        bool critical = p->importance == CFG_IMPORTANCE_CRITICAL;
        if (p->state == PROBE_FAILING)
            v.status =
                worse(v.status, critical ? HEALTH_DOWN : HEALTH_DEGRADED);
        /* Unknown holds the aggregate at DEGRADED at best. */
        if (p->state == PROBE_UNKNOWN)
            v.status = worse(v.status, HEALTH_DEGRADED);
        if (critical && p->state == PROBE_UNKNOWN)
            critical_unknown = true;
        if (critical && !p->passed_once)
            v.started = false;
    }
    v.started = v.started || started_before;
    v.ready = v.started && v.status != HEALTH_DOWN && !critical_unknown;
    return v;
}

bool health_update(struct health *h, struct health_view view, const char *cause)
{
    struct health_view old = h->view;
    bool first = !h->initialised;
    h->view = view;
    h->initialised = true;
    /* Which of them changed: from and to alone may be equal. */
    const char *changed[4];
    size_t n = 0;
    if (first || old.status != view.status)
        changed[n++] = "status";
    if (first || old.live != view.live)
        changed[n++] = "live";
    if (first || old.ready != view.ready)
        changed[n++] = "ready";
    if (first || old.started != view.started)
        changed[n++] = "started";
    if (n == 0)
        return false;
    LOG_CHANGE(view.status == HEALTH_DOWN ? LOG_LEVEL_WARN : LOG_LEVEL_INFO,
               "health changed",
               LF_STR("from", first ? "none" : status_names[old.status]),
               LF_STR("to", status_names[view.status]),
               LF_LIST("changed", changed, n), LF_STR("cause", cause),
               LF_BOOL("live", view.live), LF_BOOL("ready", view.ready),
               LF_BOOL("started", view.started));
    return true;
}
