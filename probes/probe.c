#include "probes/probe.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "conf/parse.h"
#include "conf/runas.h"
#include "probes/curlapi.h"
#include "probes/curlm.h"
#include "probes/httpnative.h"
#include "probes/resolve.h"

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

bool probe_is_active(const struct probe *p)
{
    return p->run != PROBE_RUN_OFF;
}

bool probe_restart_held(const struct probe *p)
{
    return p->cfg->restart_on_failure && probe_is_active(p) &&
           !p->passed_once && !p->start_over;
}

/*
 * on_failure: restart of a failing probe: due once the service has
 * started, else held (and said so) until start_period runs out.
 */
static void restart_if_due(struct probe *p)
{
    if (!p->cfg->restart_on_failure || !probe_is_active(p) ||
        p->state != PROBE_FAILING)
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
    LOG_CHANGE(state == PROBE_FAILING ? LOG_LEVEL_WARN : LOG_LEVEL_INFO,
               "probe state changed", LF_STR("probe", p->cfg->name),
               LF_STR("importance", importance_names[p->cfg->importance]),
               LF_STR("service", p->cfg->service),
               LF_STR("from", state_names[old]),
               LF_STR("to", state_names[state]),
               LF_STR("reason", p->has_result ? p->last.reason : "not running"),
               LF_INT("consecutive", state == PROBE_UNKNOWN ? 0 : streak),
               LF_INT("duration_ms",
                      p->has_result ? (long long)ms(p->last.duration) : 0));
    if (p->owner->notify)
        p->owner->notify(p, old, p->owner->notify_arg);
    restart_if_due(p);
}

/*
 * Keeps reason as p->last.reason. The buffer grows only for a longer
 * reason than it ever held, so a probe in a steady state allocates
 * nothing per run (a reason inline in struct probe cost 4 KiB a probe).
 */
static void keep_reason(struct probe *p, const char *reason)
{
    size_t n = strnlen(reason, PROBE_REPORT_MAX - 1);

    if (n >= p->reason_cap) {
        size_t cap = (n + 64) & ~(size_t)63;
        char *grown = realloc(p->reason_buf, cap);

        if (grown != NULL) {
            p->reason_buf = grown;
            p->reason_cap = cap;
        } else if (p->reason_cap == 0) {
            p->last.reason = "(reason lost: out of memory)";
            return;
        } else {
            n = p->reason_cap - 1; /* truncated into what is there */
        }
    }
    memcpy(p->reason_buf, reason, n);
    p->reason_buf[n] = '\0';
    p->last.reason = p->reason_buf;
}

/* One result: counts toward the thresholds, may flip the state. */
static void record(struct probe *p, bool ok, double duration,
                   const char *reason)
{
    p->has_result = true;
    p->last.ok = ok;
    p->last.duration = duration;
    p->last.at = ev_time();
    p->recent = p->recent << 1 | ok;
    if (p->recent_count < PROBE_RECENT_MAX)
        p->recent_count++;
    keep_reason(p, reason);
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

enum run_event {
    RUN_EV_ACTIVATE,    /* its service runs (or it has none) */
    RUN_EV_DEACTIVATE,  /* its service stopped running */
    RUN_EV_LEAVE_QUEUE, /* its service stops: give up a wait for a slot */
    RUN_EV_TICK,        /* a run is due (ttl: no push came within ttl) */
    RUN_EV_SLOT,        /* an exec slot is free for it */
    RUN_EV_REPORT,      /* the kind's result */
    RUN_EV_DEADLINE,    /* the run's timeout */
    RUN_EVENTS
};

/* What an event brings: RUN_EV_REPORT's result, RUN_EV_ACTIVATE's since. */
struct run_in {
    bool ok;
    const char *reason;
    double since; /* util_mono_now() of the service's start */
};

static void run_handle(struct probe *p, enum run_event ev,
                       const struct run_in *in);

static void enqueue(struct probe *p)
{
    struct prober *pr = p->owner;
    if (pr->queue_tail)
        pr->queue_tail->queue_next = p;
    else
        pr->queue_head = p;
    pr->queue_tail = p;
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
}

/* Hands free exec slots to the probes waiting for one, first come first. */
static void fill_exec_slots(struct prober *pr)
{
    while (pr->queue_head && pr->exec_running < pr->exec_limit) {
        struct probe *next = pr->queue_head;
        dequeue(next);
        run_handle(next, RUN_EV_SLOT, &(struct run_in){0});
    }
}

static void release_exec_slot(struct prober *pr)
{
    pr->exec_running--;
    fill_exec_slots(pr);
}

/*
 * A run ended. A tick that fell in it is due now: as kubelet's ticker,
 * which keeps one missed tick, the next run starts at once (from the loop,
 * not from inside the kind's report), and the schedule keeps its phase.
 */
static void run_ended(struct probe *p)
{
    if (!p->tick_missed)
        return;
    p->tick_missed = false;
    if (p->run == PROBE_RUN_IDLE && ev_is_active(&p->tick_w))
        ev_feed_event(p->owner->loop, &p->tick_w, EV_TIMER);
}

/* The run is over (reported, timed out or not startable): IDLE. */
static void finish(struct probe *p, bool ok, const char *reason)
{
    double duration = util_mono_now() - p->run_started;
    ev_timer_stop(p->owner->loop, &p->deadline_w);
    p->run = PROBE_RUN_IDLE;
    LOG_DEBUG("probe finished", LF_STR("probe", p->cfg->name),
              LF_BOOL("ok", ok), LF_INT("duration_ms", (long long)ms(duration)),
              LF_STR("reason", reason));
    record(p, ok, duration, reason);
    if (is_exec(p))
        release_exec_slot(p->owner);
    run_ended(p);
}

/* Starts the kind's run now (a slot is free, for exec): RUNNING. */
static void begin(struct probe *p)
{
    p->run = PROBE_RUN_RUNNING;
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

/*
 * Ends what the run has under way, with no result: out of the queue, or
 * the kind cancelled (after which it never reports). refill: hand a freed
 * exec slot on now (else the caller does).
 */
static void abandon_run(struct probe *p, bool refill)
{
    ev_timer_stop(p->owner->loop, &p->deadline_w);
    p->tick_missed = false;
    if (p->run == PROBE_RUN_QUEUED) {
        dequeue(p);
    } else if (p->run == PROBE_RUN_RUNNING) {
        p->kind->cancel(p);
        if (is_exec(p) && refill)
            release_exec_slot(p->owner);
        else if (is_exec(p))
            p->owner->exec_running--;
    }
}

/* The run's actions, one per kind of cell of the table below. */
typedef void run_fn(struct probe *p, enum run_event ev,
                    const struct run_in *in);

static const char *const run_names[PROBE_RUNS] = {
    [PROBE_RUN_OFF] = "off",
    [PROBE_RUN_IDLE] = "idle",
    [PROBE_RUN_QUEUED] = "queued",
    [PROBE_RUN_RUNNING] = "running",
};

static const char *const run_event_names[RUN_EVENTS] = {
    [RUN_EV_ACTIVATE] = "activate",
    [RUN_EV_DEACTIVATE] = "deactivate",
    [RUN_EV_LEAVE_QUEUE] = "leave queue",
    [RUN_EV_TICK] = "tick",
    [RUN_EV_SLOT] = "slot",
    [RUN_EV_REPORT] = "report",
    [RUN_EV_DEADLINE] = "deadline",
};

/* A cell no path leads to: a bug, said, and nothing done. */
static void run_impossible(struct probe *p, enum run_event ev,
                           const struct run_in *in)
{
    (void)in;
    LOG_ERROR("bug: probe event in impossible state",
              LF_STR("probe", p->cfg->name), LF_STR("run", run_names[p->run]),
              LF_STR("event", run_event_names[ev]));
}

/* Nothing to do: activated or deactivated again (a reload tells every
 * probe where its service is), or nothing queued to leave. */
static void run_ignore(struct probe *p, enum run_event ev,
                       const struct run_in *in)
{
    (void)p;
    (void)ev;
    (void)in;
}

/* libev has scheduled the next run already (re-phased after a stall). Its
 * remaining time counts from the loop's clock: bring that to now first, or
 * the next run looks early by this iteration's work so far. */
static double reschedule(struct probe *p)
{
    ev_now_update(p->owner->loop);
    double now = util_mono_now();
    p->next_due = now + ev_timer_remaining(p->owner->loop, &p->tick_w);
    return now;
}

static void run_tick(struct probe *p, enum run_event ev,
                     const struct run_in *in)
{
    (void)ev;
    (void)in;
    if (p->cfg->type == CFG_PROBE_TTL) {
        char why[96];
        char ttl[CFG_DURATION_STR_MAX];
        cfg_format_duration(p->cfg->ttl_ms, ttl, sizeof(ttl));
        snprintf(why, sizeof(why), "no result pushed within %s", ttl);
        /* Passing only while pushes arrive within ttl: fail at once. */
        record_at_once(p, false, why);
        return;
    }
    double due = p->next_due;
    double now = reschedule(p);
    LOG_DEBUG("probe started", LF_STR("probe", p->cfg->name),
              LF_INT("late_ms", (long long)ms(now - due)));
    p->run_started = now;
    /* The deadline counts from now too, not from when the loop woke. */
    ev_timer_set(&p->deadline_w, (double)p->cfg->timeout_ms / 1000.0, 0.);
    ev_timer_start(p->owner->loop, &p->deadline_w);
    if (is_exec(p) && p->owner->exec_running >= p->owner->exec_limit) {
        p->run = PROBE_RUN_QUEUED;
        enqueue(p);
        return;
    }
    begin(p);
}

/* Due again while a run is under way (timeout may exceed period): runs
 * never overlap, so the tick waits for the run's end (run_ended()); its
 * next_due stays, and the run it starts says how late it is. */
static void run_overlap(struct probe *p, enum run_event ev,
                        const struct run_in *in)
{
    (void)ev;
    (void)in;
    p->tick_missed = true;
}

/* fill_exec_slots() took it out of the queue: the run starts. */
static void run_slot(struct probe *p, enum run_event ev,
                     const struct run_in *in)
{
    (void)ev;
    (void)in;
    begin(p);
}

static void run_report(struct probe *p, enum run_event ev,
                       const struct run_in *in)
{
    (void)ev;
    finish(p, in->ok, in->reason);
}

static void run_deadline(struct probe *p, enum run_event ev,
                         const struct run_in *in)
{
    (void)ev;
    (void)in;
    char why[96];
    char timeout[CFG_DURATION_STR_MAX];
    cfg_format_duration(p->cfg->timeout_ms, timeout, sizeof(timeout));
    if (p->run == PROBE_RUN_QUEUED) {
        dequeue(p);
        p->run = PROBE_RUN_IDLE;
        snprintf(why, sizeof(why),
                 "timed out after %s waiting for an exec slot", timeout);
        record(p, false, util_mono_now() - p->run_started, why);
        run_ended(p);
        return;
    }
    p->kind->cancel(p);
    snprintf(why, sizeof(why), "timed out after %s", timeout);
    finish(p, false, why);
}

/* Its service stops: a wait for a slot ends before any slot is freed, so
 * that none goes to a probe of this very service, only to be killed. */
static void run_leave_queue(struct probe *p, enum run_event ev,
                            const struct run_in *in)
{
    (void)ev;
    (void)in;
    abandon_run(p, false);
    p->run = PROBE_RUN_IDLE;
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

/*
 * A first run falls on a grid of PROBE_GRID_S of the monotonic clock, and
 * the runs after it follow a period (a multiple of the grid when it is a
 * multiple of 4 ms): probes due within a few milliseconds of each other
 * (hundreds sharing a period) run from one wake-up of the loop, not one
 * each. The delay from now to the first grid point at or after now + after.
 */
#define PROBE_GRID_S 0.004

static double on_grid(double now, double after)
{
    return ceil((now + after) / PROBE_GRID_S) * PROBE_GRID_S - now;
}

/* Scheduled from now (since: the service's start). */
static void run_activate(struct probe *p, enum run_event ev,
                         const struct run_in *in)
{
    (void)ev;
    double since = in->since;
    p->run = PROBE_RUN_IDLE;
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
        double now = util_mono_now();
        double first = on_grid(now, delay + p->offset);

        ev_timer_set(&p->tick_w, first, (double)p->cfg->period_ms / 1000.0);
        p->next_due = now + first;
    }
    ev_timer_start(p->owner->loop, &p->tick_w);
}

/* Stops scheduling; a run under way is abandoned. Back to unknown. */
static void run_deactivate(struct probe *p, enum run_event ev,
                           const struct run_in *in)
{
    (void)ev;
    (void)in;
    ev_timer_stop(p->owner->loop, &p->tick_w);
    ev_timer_stop(p->owner->loop, &p->start_w);
    abandon_run(p, true);
    p->run = PROBE_RUN_OFF;
    p->passes = 0;
    p->failures = 0;
    p->has_result = false;
    set_state(p, PROBE_UNKNOWN);
}

/*
 * What each event does in each state of the run. The tick and the
 * deadline timers run only while scheduled and while a run is under way,
 * only queued probes are in the exec queue, and a kind reports only a run
 * it was not cancelled from: every other cell is impossible.
 */
static run_fn *const run_table[PROBE_RUNS][RUN_EVENTS] = {
    [PROBE_RUN_OFF] =
        {
            [RUN_EV_ACTIVATE] = run_activate,
            [RUN_EV_DEACTIVATE] = run_ignore,
            [RUN_EV_LEAVE_QUEUE] = run_ignore,
            [RUN_EV_TICK] = run_impossible,
            [RUN_EV_SLOT] = run_impossible,
            [RUN_EV_REPORT] = run_impossible,
            [RUN_EV_DEADLINE] = run_impossible,
        },
    [PROBE_RUN_IDLE] =
        {
            [RUN_EV_ACTIVATE] = run_ignore,
            [RUN_EV_DEACTIVATE] = run_deactivate,
            [RUN_EV_LEAVE_QUEUE] = run_ignore,
            [RUN_EV_TICK] = run_tick,
            [RUN_EV_SLOT] = run_impossible,
            [RUN_EV_REPORT] = run_impossible,
            [RUN_EV_DEADLINE] = run_impossible,
        },
    [PROBE_RUN_QUEUED] =
        {
            [RUN_EV_ACTIVATE] = run_ignore,
            [RUN_EV_DEACTIVATE] = run_deactivate,
            [RUN_EV_LEAVE_QUEUE] = run_leave_queue,
            [RUN_EV_TICK] = run_overlap,
            [RUN_EV_SLOT] = run_slot,
            [RUN_EV_REPORT] = run_impossible,
            [RUN_EV_DEADLINE] = run_deadline,
        },
    [PROBE_RUN_RUNNING] =
        {
            [RUN_EV_ACTIVATE] = run_ignore,
            [RUN_EV_DEACTIVATE] = run_deactivate,
            [RUN_EV_LEAVE_QUEUE] = run_ignore,
            [RUN_EV_TICK] = run_overlap,
            [RUN_EV_SLOT] = run_impossible,
            [RUN_EV_REPORT] = run_report,
            [RUN_EV_DEADLINE] = run_deadline,
        },
};

static void run_handle(struct probe *p, enum run_event ev,
                       const struct run_in *in)
{
    run_table[p->run][ev](p, ev, in);
}

static void on_tick(EV_P_ ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    run_handle(container_of(w, struct probe, tick_w), RUN_EV_TICK,
               &(struct run_in){0});
}

static void on_deadline(EV_P_ ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    run_handle(container_of(w, struct probe, deadline_w), RUN_EV_DEADLINE,
               &(struct run_in){0});
}

void probe_report(struct probe *p, bool ok, const char *fmt, ...)
{
    char reason[PROBE_REPORT_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(reason, sizeof(reason), fmt, ap);
    va_end(ap);
    run_handle(p, RUN_EV_REPORT, &(struct run_in){.ok = ok, .reason = reason});
}

int probe_rekind(struct probe *p, const struct probe_kind *kind)
{
    void *old = p->data;
    void *data;
    int rc;

    p->data = NULL;
    rc = kind->init(p);
    data = p->data;
    p->data = old;
    if (rc < 0)
        return rc;
    p->kind->destroy(p);
    p->kind = kind;
    p->data = data;
    rc = kind->start(p);
    if (rc < 0) {
        char reason[128];
        snprintf(reason, sizeof(reason), "cannot start the check: %s",
                 strerror(-rc));
        finish(p, false, reason);
    }
    return 0;
}

int probe_ttl_push(struct probe *p, bool ok, const char *reason)
{
    if (p->cfg->type != CFG_PROBE_TTL)
        return -EINVAL;
    if (!probe_is_active(p))
        return -EAGAIN;
    ev_timer_again(p->owner->loop, &p->tick_w);
    record_at_once(p, ok,
                   reason && *reason ? reason
                   : ok              ? "pushed: pass"
                                     : "pushed: fail");
    return 0;
}

struct resolver *probe_resolver(struct probe *p)
{
    struct prober *pr = p->owner;

    if (pr->dns == NULL)
        pr->dns = resolver_new(pr->loop);
    return pr->dns;
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
    /* Leave the exec queue first: see run_leave_queue(). */
    for (size_t i = 0; i < pr->count && !running; i++) {
        if (belongs(pr->probes[i], service))
            run_handle(pr->probes[i], RUN_EV_LEAVE_QUEUE, &(struct run_in){0});
    }
    for (size_t i = 0; i < pr->count; i++) {
        struct probe *p = pr->probes[i];
        if (!belongs(p, service))
            continue;
        run_handle(p, running ? RUN_EV_ACTIVATE : RUN_EV_DEACTIVATE,
                   &(struct run_in){.since = since});
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
    /* HTTP/2 on libcurl, as http.c */
    [CFG_PROBE_GRPC] = &probe_kind_grpc,
};

/* A plain http:// probe runs on the native transport, with no libcurl. */
static const struct probe_kind *kind_of(const struct cfg_probe *cfg)
{
    if (httpnative_fits(cfg))
        return &probe_kind_http_native;
    return kinds[cfg->type];
}

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
    ev_timer_stop(pr->loop, &p->start_w);
    abandon_run(p, false); /* the caller refills the slots */
    p->kind->destroy(p);
    runas_free(p->as);
    free(p->as);
    free(p->reason_buf);
    free(p);
}

/*
 * An exec probe runs as its service, with its own keys over it: resolved
 * now, so a bad user fails the config (or the reload) before anything
 * runs. True on failure, with errbuf.
 */
static bool resolve_runas(struct probe *p, const struct cfg_root *cfg,
                          char *errbuf, size_t errlen)
{
    struct runas_cfg c;
    runas_of_probe(cfg, p->cfg, &c);
    p->as = calloc(1, sizeof(*p->as));
    if (!p->as) {
        snprintf(errbuf, errlen, "out of memory");
        return true;
    }
    if (runas_resolve(&c, p->owner->env, p->as, errbuf, errlen) == 0)
        return false;
    /* Where in the file, as for a service's and the errors `check` finds. */
    char why[256];
    snprintf(why, sizeof(why), "%s", errbuf);
    snprintf(errbuf, errlen, "%s:%u:%u: %s", cfg->path, p->cfg->mark.line,
             p->cfg->mark.col, why);
    free(p->as);
    p->as = NULL;
    return true;
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
    p->kind = kind_of(p->cfg);
    p->state_since = ev_time();
    p->offset = offset_of(cfg, i);
    ev_timer_init(&p->tick_w, on_tick, 0., 0.);
    ev_timer_init(&p->deadline_w, on_deadline, 0., 0.);
    ev_timer_init(&p->start_w, on_start_over, 0., 0.);
    if (p->cfg->type == CFG_PROBE_EXEC && resolve_runas(p, cfg, errbuf, errlen))
        goto out_free;
    int rc = p->kind->init(p);
    if (rc == -ELIBACC) {
        snprintf(errbuf, errlen, "probe '%s' needs libcurl: %s", p->cfg->name,
                 curlapi_error());
        goto out_free;
    }
    if (rc == -EPROTONOSUPPORT) {
        snprintf(errbuf, errlen, "probe '%s' needs libcurl with HTTP/2",
                 p->cfg->name);
        goto out_free;
    }
    if (rc < 0) {
        snprintf(errbuf, errlen, "probe '%s': cannot set up: %s", p->cfg->name,
                 strerror(-rc));
        goto out_free;
    }
    return p;
out_free:
    runas_free(p->as);
    free(p->as);
    free(p);
    return NULL;
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
    resolver_free(pr->dns);
    free(pr->probes);
    free(pr);
}
