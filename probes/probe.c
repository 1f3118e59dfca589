#include "probes/probe.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "conf/parse.h"
#include "probes/curlm.h"

static const char *const state_names[] = {"unknown", "passing", "failing"};
static const char *const importance_names[] = {"critical", "high", "low"};

const char *probe_state_name(enum probe_state state)
{
    return state_names[state];
}

const char *probe_importance_name(enum cfg_importance importance)
{
    return importance_names[importance];
}

static double ms(double seconds)
{
    return seconds * 1000.0;
}

bool probe_restart_held(const struct probe *p)
{
    return p->cfg->restart_on_failure && p->active && !p->passed_once &&
           !p->start_over;
}

/*
 * on_failure: restart of a failing probe: due once the service has
 * started, else held (and said so) until start_period runs out.
 */
static void restart_if_due(struct probe *p)
{
    if (!p->cfg->restart_on_failure || !p->active || p->state != PROBE_FAILING)
        return;
    if (probe_restart_held(p))
        LOG_INFO(
            "probe failing; restart held until start_period ends",
            LF_STR("probe", p->cfg->name), LF_STR("service", p->cfg->service),
            LF_INT("start_period_ms", p->cfg->start_period_ms),
            LF_INT("left_ms", (long long)ms(p->start_ends - util_mono_now())));
    else if (p->owner->restart)
        p->owner->restart(p, p->owner->notify_arg);
}

static void set_state(struct probe *p, enum probe_state state)
{
    enum probe_state old = p->state;
    if (old == state)
        return;
    p->state = state;
    p->state_since = ev_time();
    unsigned streak = state == PROBE_PASSING ? p->passes : p->failures;
    LOG_AT(state == PROBE_FAILING ? LOG_LEVEL_WARN : LOG_LEVEL_INFO,
           "probe state changed", LF_STR("probe", p->cfg->name),
           LF_STR("importance", importance_names[p->cfg->importance]),
           LF_STR("service", p->cfg->service), LF_STR("from", state_names[old]),
           LF_STR("to", state_names[state]),
           LF_STR("reason", p->has_result ? p->last.reason : "not running"),
           LF_INT("consecutive", state == PROBE_UNKNOWN ? 0 : streak),
           LF_INT("duration_ms",
                  p->has_result ? (long long)ms(p->last.duration) : 0));
    if (p->owner->notify)
        p->owner->notify(p, old, p->owner->notify_arg);
    restart_if_due(p);
}

/* One result: counts toward the thresholds, may flip the state. */
static void record(struct probe *p, bool ok, double duration,
                   const char *reason)
{
    p->has_result = true;
    p->last.ok = ok;
    p->last.duration = duration;
    p->last.at = ev_time();
    snprintf(p->last.reason, sizeof(p->last.reason), "%s", reason);
    if (ok) {
        p->passes++;
        p->failures = 0;
        if (p->passes >= p->cfg->success_threshold) {
            /* Set with the state, which notifies: the view follows. */
            p->passed_once = true;
            set_state(p, PROBE_PASSING);
        }
    } else {
        p->failures++;
        p->passes = 0;
        if (p->failures >= p->cfg->failure_threshold)
            set_state(p, PROBE_FAILING);
    }
}

/*
 * A ttl probe's result counts at once, whatever the thresholds: a push is
 * the service's own word, and a missed ttl is a failure by definition.
 */
static void record_at_once(struct probe *p, bool ok, const char *reason)
{
    unsigned *streak = ok ? &p->passes : &p->failures;
    unsigned need = ok ? p->cfg->success_threshold : p->cfg->failure_threshold;
    if (need > *streak + 1)
        *streak = need - 1;
    record(p, ok, 0, reason);
}

static bool is_exec(const struct probe *p)
{
    return p->cfg->type == CFG_PROBE_EXEC;
}

static void begin(struct probe *p);

/* Hands free exec slots to the probes waiting for one, first come first. */
static void fill_exec_slots(struct prober *pr)
{
    while (pr->queue_head && pr->exec_running < pr->exec_limit) {
        struct probe *next = pr->queue_head;
        pr->queue_head = next->queue_next;
        if (!pr->queue_head)
            pr->queue_tail = NULL;
        next->queue_next = NULL;
        next->queued = false;
        begin(next);
    }
}

static void release_exec_slot(struct prober *pr)
{
    pr->exec_running--;
    fill_exec_slots(pr);
}

static void dequeue(struct probe *p)
{
    struct prober *pr = p->owner;
    struct probe **link = &pr->queue_head;
    struct probe *prev = NULL;
    while (*link && *link != p) {
        prev = *link;
        link = &(*link)->queue_next;
    }
    if (!*link)
        return;
    *link = p->queue_next;
    if (pr->queue_tail == p)
        pr->queue_tail = prev;
    p->queue_next = NULL;
    p->queued = false;
}

/* The run is over (reported, timed out or not startable). */
static void finish(struct probe *p, bool ok, const char *reason)
{
    double duration = util_mono_now() - p->run_started;
    ev_timer_stop(p->owner->loop, &p->deadline_w);
    p->running = false;
    LOG_DEBUG("probe finished", LF_STR("probe", p->cfg->name),
              LF_BOOL("ok", ok), LF_INT("duration_ms", (long long)ms(duration)),
              LF_STR("reason", reason));
    record(p, ok, duration, reason);
    if (is_exec(p))
        release_exec_slot(p->owner);
}

/* Starts the kind's run now (a slot is free, for exec). */
static void begin(struct probe *p)
{
    if (is_exec(p))
        p->owner->exec_running++;
    int rc = p->kind->start(p);
    if (rc < 0) {
        char reason[128];
        snprintf(reason, sizeof(reason), "cannot start the check: %s",
                 strerror(-rc));
        finish(p, false, reason);
    }
}

static void on_tick(EV_P_ ev_timer *w, int revents)
{
    (void)revents;
    struct probe *p = container_of(w, struct probe, tick_w);
    if (p->cfg->type == CFG_PROBE_TTL) {
        char reason[96];
        char ttl[CFG_DURATION_STR_MAX];
        cfg_format_duration(p->cfg->ttl_ms, ttl, sizeof(ttl));
        snprintf(reason, sizeof(reason), "no result pushed within %s", ttl);
        /* Passing only while pushes arrive within ttl: fail at once. */
        record_at_once(p, false, reason);
        return;
    }
    /* libev has scheduled the next run already (re-phased after a stall).
     * Its remaining time counts from the loop's clock: bring that to now
     * first, or the next run looks early by this iteration's work so far.
     * The deadline counts from now too, not from when the loop woke. */
    ev_now_update(EV_A);
    double now = util_mono_now();
    double due = p->next_due;
    p->next_due = now + ev_timer_remaining(EV_A_ w);
    if (p->running)
        return; /* cannot happen while timeout < period; never overlap */
    LOG_DEBUG("probe started", LF_STR("probe", p->cfg->name),
              LF_INT("late_ms", (long long)ms(now - due)));
    p->running = true;
    p->run_started = now;
    ev_timer_set(&p->deadline_w, (double)p->cfg->timeout_ms / 1000.0, 0.);
    ev_timer_start(EV_A_ & p->deadline_w);
    if (is_exec(p) && p->owner->exec_running >= p->owner->exec_limit) {
        p->queued = true;
        if (p->owner->queue_tail)
            p->owner->queue_tail->queue_next = p;
        else
            p->owner->queue_head = p;
        p->owner->queue_tail = p;
        return;
    }
    begin(p);
}

static void on_deadline(EV_P_ ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    struct probe *p = container_of(w, struct probe, deadline_w);
    char reason[96];
    char timeout[CFG_DURATION_STR_MAX];
    cfg_format_duration(p->cfg->timeout_ms, timeout, sizeof(timeout));
    if (p->queued) {
        dequeue(p);
        snprintf(reason, sizeof(reason),
                 "timed out after %s waiting for an exec slot", timeout);
        p->running = false;
        record(p, false, util_mono_now() - p->run_started, reason);
        return;
    }
    p->kind->cancel(p);
    snprintf(reason, sizeof(reason), "timed out after %s", timeout);
    finish(p, false, reason);
}

void probe_report(struct probe *p, bool ok, const char *fmt, ...)
{
    char reason[PROBE_REASON_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(reason, sizeof(reason), fmt, ap);
    va_end(ap);
    if (p->running && !p->queued)
        finish(p, ok, reason);
}

int probe_ttl_push(struct probe *p, bool ok, const char *reason)
{
    if (p->cfg->type != CFG_PROBE_TTL)
        return -EINVAL;
    if (!p->active)
        return -EAGAIN;
    /* Re-armed first: the result's notify may deactivate the probe. */
    ev_timer_again(p->owner->loop, &p->tick_w);
    record_at_once(p, ok,
                   reason && *reason ? reason
                   : ok              ? "pushed: pass"
                                     : "pushed: fail");
    return 0;
}

/* start_period is over: a probe failing already restarts now, though its
 * state does not change. */
static void on_start_over(EV_P_ ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    struct probe *p = container_of(w, struct probe, start_w);
    p->start_over = true;
    restart_if_due(p);
}

static void activate(struct probe *p, double since)
{
    if (p->active)
        return;
    p->active = true;
    p->passes = 0;
    p->failures = 0;
    p->passed_once = false;
    /* The timers count from the loop's clock: from now, as next_due. */
    ev_now_update(p->owner->loop);
    p->start_ends = since + (double)p->cfg->start_period_ms / 1000.0;
    double left = p->start_ends - util_mono_now();
    p->start_over = !p->cfg->restart_on_failure || left <= 0;
    if (!p->start_over) {
        ev_timer_set(&p->start_w, left, 0.);
        ev_timer_start(p->owner->loop, &p->start_w);
    }
    double delay = (double)p->cfg->initial_delay_ms / 1000.0;
    if (p->cfg->type == CFG_PROBE_TTL) {
        double ttl = (double)p->cfg->ttl_ms / 1000.0;
        ev_timer_set(&p->tick_w, delay + ttl, ttl);
    } else {
        ev_timer_set(&p->tick_w, delay + p->offset,
                     (double)p->cfg->period_ms / 1000.0);
        p->next_due = util_mono_now() + delay + p->offset;
    }
    ev_timer_start(p->owner->loop, &p->tick_w);
}

/* Stops scheduling; a run in flight is abandoned. Back to unknown. */
static void deactivate(struct probe *p)
{
    if (!p->active)
        return;
    p->active = false;
    ev_timer_stop(p->owner->loop, &p->tick_w);
    ev_timer_stop(p->owner->loop, &p->deadline_w);
    ev_timer_stop(p->owner->loop, &p->start_w);
    if (p->queued) {
        dequeue(p);
    } else if (p->running) {
        p->kind->cancel(p);
        if (is_exec(p))
            release_exec_slot(p->owner);
    }
    p->running = false;
    p->passes = 0;
    p->failures = 0;
    p->has_result = false;
    set_state(p, PROBE_UNKNOWN);
}

void prober_start(struct prober *pr)
{
    prober_service_running(pr, NULL, true, util_mono_now());
}

/* True when p belongs to the service named service (NULL: to none). */
static bool belongs(const struct probe *p, const char *service)
{
    if (!service || !p->cfg->service)
        return service == p->cfg->service;
    return strcmp(service, p->cfg->service) == 0;
}

void prober_service_running(struct prober *pr, const char *service,
                            bool running, double since)
{
    /* Leave the exec queue first: a slot freed below must not go to a
     * probe of this very service, only to be killed at once. */
    for (size_t i = 0; i < pr->count && !running; i++) {
        if (belongs(pr->probes[i], service) && pr->probes[i]->queued)
            dequeue(pr->probes[i]);
    }
    for (size_t i = 0; i < pr->count; i++) {
        struct probe *p = pr->probes[i];
        if (!belongs(p, service))
            continue;
        if (running)
            activate(p, since);
        else
            deactivate(p);
    }
}

static int ttl_noop(struct probe *p)
{
    (void)p;
    return 0;
}

static void ttl_cancel(struct probe *p)
{
    (void)p;
}

/* ttl probes are fed by pushes; their kind never runs anything. */
static const struct probe_kind probe_kind_ttl = {
    .name = "ttl",
    .init = ttl_noop,
    .start = ttl_noop,
    .cancel = ttl_cancel,
    .destroy = ttl_cancel,
};

static const struct probe_kind *const kinds[] = {
    [CFG_PROBE_HTTP] = &probe_kind_http,
    [CFG_PROBE_TCP] = &probe_kind_tcp,
    [CFG_PROBE_EXEC] = &probe_kind_exec,
    [CFG_PROBE_TTL] = &probe_kind_ttl,
};

/*
 * Where in its period the first run of cfg->probes[i] falls: probes that
 * share a period are spread evenly over it, in config order, so that they
 * do not all fire on the same tick.
 */
static double offset_of(const struct cfg_root *cfg, size_t i)
{
    const struct cfg_probe *c = &cfg->probes[i];
    size_t rank = 0;
    size_t same = 0;
    for (size_t j = 0; j < cfg->probes_count; j++) {
        if (cfg->probes[j].period_ms != c->period_ms)
            continue;
        if (j < i)
            rank++;
        same++;
    }
    return (double)c->period_ms / 1000.0 * (double)rank / (double)same;
}

/* Stops whatever p has under way and frees it; nothing is notified. */
static void probe_free(struct probe *p)
{
    if (!p)
        return;
    struct prober *pr = p->owner;
    ev_timer_stop(pr->loop, &p->tick_w);
    ev_timer_stop(pr->loop, &p->deadline_w);
    ev_timer_stop(pr->loop, &p->start_w);
    if (p->queued) {
        dequeue(p);
    } else if (p->running) {
        p->kind->cancel(p);
        if (is_exec(p))
            pr->exec_running--; /* the caller refills the slots */
    }
    p->kind->destroy(p);
    free(p);
}

/* A new probe for cfg->probes[i], not running. NULL with errbuf. */
static struct probe *probe_new(struct prober *pr, const struct cfg_root *cfg,
                               size_t i, char *errbuf, size_t errlen)
{
    struct probe *p = calloc(1, sizeof(*p));
    if (!p) {
        snprintf(errbuf, errlen, "out of memory");
        return NULL;
    }
    p->cfg = &cfg->probes[i];
    p->owner = pr;
    p->kind = kinds[p->cfg->type];
    p->state_since = ev_time();
    p->offset = offset_of(cfg, i);
    ev_timer_init(&p->tick_w, on_tick, 0., 0.);
    ev_timer_init(&p->deadline_w, on_deadline, 0., 0.);
    ev_timer_init(&p->start_w, on_start_over, 0., 0.);
    int rc = p->kind->init(p);
    if (rc < 0) {
        snprintf(errbuf, errlen, "probe '%s': cannot set up: %s", p->cfg->name,
                 strerror(-rc));
        free(p);
        return NULL;
    }
    return p;
}

struct prober *prober_new(struct ev_loop *loop, const struct cfg_root *cfg,
                          char *const *env, probe_notify_fn *notify,
                          probe_restart_fn *restart, void *arg, char *errbuf,
                          size_t errlen)
{
    struct prober *pr = calloc(1, sizeof(*pr));
    size_t *none = calloc(cfg->probes_count + 1, sizeof(*none));
    if (!pr || !none) {
        snprintf(errbuf, errlen, "out of memory");
        goto out_free;
    }
    pr->loop = loop;
    pr->env = env;
    pr->notify = notify;
    pr->restart = restart;
    pr->notify_arg = arg;
    for (size_t i = 0; i < cfg->probes_count; i++)
        none[i] = CFG_NO_INDEX;
    struct probe **staged = prober_stage(pr, cfg, none, errbuf, errlen);
    if (!staged)
        goto out_free;
    prober_commit(pr, cfg, none, staged);
    free(none);
    return pr;
out_free:
    free(none);
    free(pr);
    return NULL;
}

struct probe **prober_stage(struct prober *pr, const struct cfg_root *cfg,
                            const size_t *kept_from, char *errbuf,
                            size_t errlen)
{
    struct probe **staged = calloc(cfg->probes_count + 1, sizeof(*staged));
    if (!staged) {
        snprintf(errbuf, errlen, "out of memory");
        return NULL;
    }
    for (size_t i = 0; i < cfg->probes_count; i++) {
        if (kept_from[i] != CFG_NO_INDEX)
            continue;
        staged[i] = probe_new(pr, cfg, i, errbuf, errlen);
        if (!staged[i]) {
            prober_unstage(cfg, kept_from, staged);
            return NULL;
        }
    }
    return staged;
}

void prober_unstage(const struct cfg_root *cfg, const size_t *kept_from,
                    struct probe **staged)
{
    for (size_t i = 0; staged && i < cfg->probes_count; i++) {
        if (kept_from[i] == CFG_NO_INDEX)
            probe_free(staged[i]);
    }
    free(staged);
}

void prober_commit(struct prober *pr, const struct cfg_root *cfg,
                   const size_t *kept_from, struct probe **staged)
{
    for (size_t i = 0; i < pr->count; i++)
        pr->probes[i]->kept = false;
    for (size_t i = 0; i < cfg->probes_count; i++) {
        if (kept_from[i] == CFG_NO_INDEX)
            continue;
        staged[i] = pr->probes[kept_from[i]];
        staged[i]->cfg = &cfg->probes[i]; /* an equal definition */
        staged[i]->kept = true;
    }
    for (size_t i = 0; i < pr->count; i++) {
        if (!pr->probes[i]->kept)
            probe_free(pr->probes[i]);
    }
    free(pr->probes);
    pr->probes = staged;
    pr->count = cfg->probes_count;
    pr->exec_limit = cfg->exec_probe_limit;
    pr->hidden_env = cfg->http.token_vars;
}

void prober_fill_exec_slots(struct prober *pr)
{
    fill_exec_slots(pr);
}

void prober_free(struct prober *pr)
{
    if (!pr)
        return;
    for (size_t i = 0; i < pr->count; i++)
        probe_free(pr->probes[i]);
    curlm_free(pr->curl);
    free(pr->probes);
    free(pr);
}
