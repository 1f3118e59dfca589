/*
 * The aggregation table of README.md "Probes and the aggregate": named rows
 * for the rules a user relies on, then every mix of critical / high / low
 * probe states and main / helper service states against the table as
 * written.
 */
#include <criterion/criterion.h>

#include "sidecar/health.h"

static const struct health_service_in running_main = {
    .essential = true, .state = SVC_RUNNING, .ever_started = true};

static struct health_view one_probe(enum cfg_importance imp,
                                    enum probe_state state)
{
    struct health_probe_in p = {
        .importance = imp,
        .state = state,
        .passed_once = state == PROBE_PASSING,
    };
    return health_compute(&p, 1, &running_main, 1, false);
}

Test(health, all_passing_is_up_live_ready_started, .timeout = 5)
{
    struct health_view v = one_probe(CFG_IMPORTANCE_CRITICAL, PROBE_PASSING);
    cr_expect_eq(v.status, HEALTH_UP);
    cr_expect(v.live && v.ready && v.started);
}

Test(health, failing_critical_is_down_not_ready_still_live, .timeout = 5)
{
    struct health_probe_in p[] = {
        {CFG_IMPORTANCE_CRITICAL, PROBE_FAILING, true, false},
    };
    struct health_view v = health_compute(p, 1, &running_main, 1, true);
    cr_expect_eq(v.status, HEALTH_DOWN);
    cr_expect(v.live);
    cr_expect(!v.ready);
}

Test(health, failing_high_is_degraded_and_stays_ready, .timeout = 5)
{
    struct health_probe_in p[] = {
        {CFG_IMPORTANCE_CRITICAL, PROBE_PASSING, true, false},
        {CFG_IMPORTANCE_HIGH, PROBE_FAILING, false, false},
    };
    struct health_view v = health_compute(p, 2, &running_main, 1, false);
    cr_expect_eq(v.status, HEALTH_DEGRADED);
    cr_expect(v.ready && v.live && v.started);
}

Test(health, failing_low_changes_nothing, .timeout = 5)
{
    struct health_view v = one_probe(CFG_IMPORTANCE_LOW, PROBE_FAILING);
    cr_expect_eq(v.status, HEALTH_UP);
    cr_expect(v.ready);
    v = one_probe(CFG_IMPORTANCE_LOW, PROBE_UNKNOWN);
    cr_expect_eq(v.status, HEALTH_UP);
}

Test(health, unknown_critical_is_degraded_not_ready_not_started, .timeout = 5)
{
    struct health_view v = one_probe(CFG_IMPORTANCE_CRITICAL, PROBE_UNKNOWN);
    cr_expect_eq(v.status, HEALTH_DEGRADED);
    cr_expect(!v.ready);
    cr_expect(!v.started);
    cr_expect(v.live, "unknown counts as passing for liveness");
}

Test(health, unknown_high_is_degraded_but_ready, .timeout = 5)
{
    struct health_view v = one_probe(CFG_IMPORTANCE_HIGH, PROBE_UNKNOWN);
    cr_expect_eq(v.status, HEALTH_DEGRADED);
    cr_expect(v.ready);
}

Test(health, main_between_restarts_is_down_but_live, .timeout = 5)
{
    struct health_service_in s = {true,  SVC_BACKOFF, true, false,
                                  false, false,       false};
    struct health_view v = health_compute(NULL, 0, &s, 1, true);
    cr_expect_eq(v.status, HEALTH_DOWN);
    cr_expect(v.live, "sidecar is repairing it: kubelet must not fight it");
    cr_expect(!v.ready);
}

Test(health, essential_fatal_is_not_live, .timeout = 5)
{
    struct health_service_in s[] = {
        {true, SVC_RUNNING, true, false, false, false, false},
        {true, SVC_FATAL, true, false, false, false, false},
    };
    struct health_view v = health_compute(NULL, 0, s, 2, true);
    cr_expect_eq(v.status, HEALTH_DOWN);
    cr_expect(!v.live);
}

Test(health, helper_down_is_degraded, .timeout = 5)
{
    struct health_service_in s[] = {
        {true, SVC_RUNNING, true, false, false, false, false},
        {false, SVC_FATAL, true, false, false, false, false},
    };
    struct health_view v = health_compute(NULL, 0, s, 2, true);
    cr_expect_eq(v.status, HEALTH_DEGRADED);
    cr_expect(v.live && v.ready);
}

Test(health, a_finished_one_shot_helper_is_not_down, .timeout = 5)
{
    struct health_service_in s[] = {
        {true, SVC_RUNNING, true, false, false, false, false},
        {false, SVC_EXITED, true, true, false, false, false},
    };
    cr_expect_eq(health_compute(NULL, 0, s, 2, false).status, HEALTH_UP);
}

/* A task runs to completion: completed is done, not down, anywhere. */
Test(health, a_completed_task_is_up_even_essential, .timeout = 5)
{
    struct health_service_in s[] = {
        {true, SVC_RUNNING, true, false, false, false, false},
        {true, SVC_COMPLETED, true, true, true, true, false},
    };
    struct health_view v = health_compute(NULL, 0, s, 2, false);
    cr_expect_eq(v.status, HEALTH_UP);
    cr_expect(v.live && v.ready && v.started);
}

Test(health, a_failed_task_is_down_as_any_service, .timeout = 5)
{
    struct health_service_in s[] = {
        {true, SVC_RUNNING, true, false, false, false, false},
        {false, SVC_EXITED, true, false, true, true, false},
    };
    cr_expect_eq(health_compute(NULL, 0, s, 2, true).status, HEALTH_DEGRADED);
    s[1].essential = true;
    cr_expect_eq(health_compute(NULL, 0, s, 2, true).status, HEALTH_DOWN);
}

Test(health, startup_waits_for_an_awaited_task_to_complete, .timeout = 5)
{
    struct health_service_in s[] = {
        {true, SVC_RUNNING, true, false, false, false, false},
        {false, SVC_RUNNING, true, false, true, true, false},
    };
    cr_expect(!health_compute(NULL, 0, s, 2, false).started,
              "a task that runs has not completed");
    s[1].state = SVC_COMPLETED;
    cr_expect(health_compute(NULL, 0, s, 2, false).started);
}

Test(health, a_task_nothing_awaits_does_not_hold_startup, .timeout = 5)
{
    struct health_service_in s[] = {
        {true, SVC_RUNNING, true, false, false, false, false},
        {false, SVC_WAITING, false, false, true, false, false},
    };
    cr_expect(health_compute(NULL, 0, s, 2, false).started);
}

Test(health, startup_waits_for_every_service_and_latches, .timeout = 5)
{
    struct health_service_in s[] = {
        {true, SVC_RUNNING, true, false, false, false, false},
        {false, SVC_WAITING, false, false, false, false, false},
    };
    struct health_view v = health_compute(NULL, 0, s, 2, false);
    cr_expect(!v.started);
    cr_expect(!v.ready);
    struct health_probe_in p = {CFG_IMPORTANCE_CRITICAL, PROBE_UNKNOWN, false,
                                false};
    v = health_compute(&p, 1, s, 1, true);
    cr_expect(v.started, "startup stays done after a restart");
}

/*
 * The table of README.md, written out again as the oracle: a service is
 * up while it runs; a completed task, and a non-essential one that exited
 * with success (a finished one-shot), is done, not down; anything else
 * is down.
 */
static enum health_status oracle(const struct health_probe_in *p, size_t np,
                                 const struct health_service_in *s, size_t ns)
{
    bool down = false;
    bool degraded = false;
    for (size_t i = 0; i < ns; i++) {
        bool done =
            (!s[i].essential && s[i].state == SVC_EXITED && s[i].exited_ok) ||
            s[i].state == SVC_COMPLETED;
        bool up = s[i].state == SVC_RUNNING || done;
        down |= !up && s[i].essential;
        degraded |= !up && !s[i].essential;
    }
    for (size_t i = 0; i < np; i++) {
        if (p[i].importance == CFG_IMPORTANCE_CRITICAL)
            down |= p[i].state == PROBE_FAILING;
        if (p[i].importance == CFG_IMPORTANCE_HIGH)
            degraded |= p[i].state == PROBE_FAILING;
        if (p[i].importance != CFG_IMPORTANCE_LOW)
            degraded |= p[i].state == PROBE_UNKNOWN;
    }
    return down ? HEALTH_DOWN : degraded ? HEALTH_DEGRADED : HEALTH_UP;
}

Test(health, main_not_running_yet_or_any_more_is_down, .timeout = 5)
{
    static const enum svc_state states[] = {SVC_WAITING, SVC_STARTING,
                                            SVC_EXITED, SVC_STOPPING};
    for (size_t i = 0; i < sizeof(states) / sizeof(states[0]); i++) {
        struct health_service_in s = {true,  states[i], true, true,
                                      false, false,     false};
        cr_expect_eq(health_compute(NULL, 0, &s, 1, true).status, HEALTH_DOWN,
                     "main %s", svc_state_name(states[i]));
    }
}

Test(health, a_helper_exiting_with_a_success_code_is_done, .timeout = 5)
{
    struct health_service_in s[] = {
        {true, SVC_RUNNING, true, false, false, false, false},
        {false, SVC_EXITED, true, false, false, false, false},
    };
    cr_expect_eq(health_compute(NULL, 0, s, 2, true).status, HEALTH_DEGRADED);
    s[1].exited_ok = true;
    cr_expect_eq(health_compute(NULL, 0, s, 2, true).status, HEALTH_UP);
}

Test(health, every_mix_matches_the_table, .timeout = 10)
{
    static const enum svc_state
        states[] =
            {
                SVC_WAITING,   SVC_STARTING, SVC_RUNNING, SVC_BACKOFF,
                SVC_STOPPING,  SVC_STOPPED,  SVC_EXITED,  SVC_FATAL,
                SVC_COMPLETED, /* the helper only: a task; a main is never one
                                */
            };
    size_t rows = 0;
    for (int c = 0; c < 3; c++)
        for (int h = 0; h < 3; h++)
            for (int l = 0; l < 3; l++)
                for (size_t m = 0; m < 8; m++)
                    for (size_t x = 0; x < 9; x++)
                        for (int ok = 0; ok < 2; ok++) {
                            struct health_probe_in p[] = {
                                {CFG_IMPORTANCE_CRITICAL, (enum probe_state)c,
                                 c == 1, false},
                                {CFG_IMPORTANCE_HIGH, (enum probe_state)h,
                                 h == 1, false},
                                {CFG_IMPORTANCE_LOW, (enum probe_state)l,
                                 l == 1, false},
                            };
                            struct health_service_in s[] = {
                                {true, states[m], states[m] != SVC_WAITING, ok,
                                 false, false, false},
                                {false, states[x], states[x] != SVC_WAITING, ok,
                                 states[x] == SVC_COMPLETED, false, false},
                            };
                            struct health_view v =
                                health_compute(p, 3, s, 2, false);
                            enum health_status want = oracle(p, 3, s, 2);
                            cr_assert_eq(v.status, want,
                                         "c=%d h=%d l=%d main=%s helper=%s", c,
                                         h, l, svc_state_name(states[m]),
                                         svc_state_name(states[x]));
                            cr_assert_eq(v.live, states[m] != SVC_FATAL);
                            bool started = c == 1 && states[m] != SVC_WAITING &&
                                           states[x] != SVC_WAITING;
                            cr_assert_eq(v.started, started);
                            cr_assert_eq(v.ready, started &&
                                                      want != HEALTH_DOWN &&
                                                      c != 0);
                            rows++;
                        }
    cr_expect_eq(rows, 3 * 3 * 3 * 8 * 9 * 2);
}

/* ready: notify: RELOADING=1 or STOPPING=1 from a running service. */
Test(health, a_running_service_that_says_not_ready_is_down, .timeout = 5)
{
    struct health_service_in s[] = {
        {true, SVC_RUNNING, true, false, false, false, true},
        {false, SVC_RUNNING, true, false, false, false, false},
    };
    struct health_view v = health_compute(NULL, 0, s, 2, true);
    cr_expect_eq(v.status, HEALTH_DOWN);
    cr_expect(v.live);
    cr_expect(!v.ready);
    s[0].not_ready = false;
    s[1].not_ready = true;
    v = health_compute(NULL, 0, s, 2, true);
    cr_expect_eq(v.status, HEALTH_DEGRADED, "a helper degrades it");
    cr_expect(v.ready);
}

/* A completed task's probes stopped with it: done, not down. */
Test(health, the_probes_of_a_completed_task_are_not_counted, .timeout = 5)
{
    struct health_service_in s[] = {
        {true, SVC_RUNNING, true, false, false, false, false},
        {false, SVC_COMPLETED, true, true, true, true, false},
    };
    struct health_probe_in p[] = {
        {CFG_IMPORTANCE_CRITICAL, PROBE_UNKNOWN, false, true},
        {CFG_IMPORTANCE_HIGH, PROBE_FAILING, false, true},
    };
    struct health_view v = health_compute(p, 2, s, 2, false);
    cr_expect_eq(v.status, HEALTH_UP);
    cr_expect(v.started && v.ready && v.live);
}
