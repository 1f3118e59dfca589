/*
 * A slow starter is not restarted while it starts (issue 14, item 2):
 * on_failure: restart acts once the probe has passed since the service's
 * current start, or once start_period (counted from that start) has run
 * out, even when the probe is failing already then. While held, the
 * probe's failures still count, and /health/details says why nothing
 * restarts.
 */
#define _DEFAULT_SOURCE
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

static struct harness H;

static void teardown(void)
{
    h_cleanup(&H);
}

#define T(name, secs)                                                          \
    Test(newuser_startp, name, .timeout = secs, .fini = teardown)

#define RESTARTING "restarting service: its probe is failing"
#define HELD       "probe failing; restart held until start_period ends"

/* The probe named name in /health/details (a new reference), or NULL. */
static json_t *details_probe(const char *name)
{
    static char body[65536];
    if (h_get(&H, "/health/details", body, sizeof(body)) != 200)
        return NULL;
    json_t *d = json_loads(body, 0, NULL);
    json_t *found = NULL;
    json_t *p;
    size_t i;
    json_array_foreach(json_object_get(d, "probes"), i, p)
    {
        const char *n = json_string_value(json_object_get(p, "name"));
        if (n && strcmp(n, name) == 0)
            found = json_incref(p);
    }
    json_decref(d);
    return found;
}

/*
 * Polls /health/details until the probe has failed n times in a row:
 * a count of its runs, not of seconds. The probe then, or NULL.
 */
static json_t *wait_failures(const char *name, long n, double timeout_s)
{
    for (double end = h_now() + timeout_s; h_now() < end; h_pump(&H, 0.05)) {
        json_t *p = details_probe(name);
        json_int_t got =
            json_integer_value(json_object_get(p, "consecutive_failures"));
        if (got >= n)
            return p;
        json_decref(p);
    }
    return NULL;
}

/* Field key of log line idx (borrowed), or NULL. */
static json_t *field(long idx, const char *key)
{
    if (idx < 0 || (size_t)idx >= H.count || !H.json[idx])
        return NULL;
    return json_object_get(H.json[idx], key);
}

/* Milliseconds from line a to line b, by their timestamps. */
static long long gap_ms(long a, long b)
{
    long long d = h_ts_ms(&H, b) - h_ts_ms(&H, a);
    return d < 0 ? d + 24LL * 3600 * 1000 : d; /* across midnight */
}

/*
 * The first "restart held" line after from comes before the restart
 * and says how long the hold has left (start_period counts from the
 * spawn, before any line of ours): the restart comes no sooner. From
 * that line, not from "service started", so that a slow exec on a busy
 * machine cannot eat the margin. 20ms: two timestamps cut to the ms.
 */
static void expect_held_until_restart(long from, long restart)
{
    long held = h_find_event(&H, (size_t)from, HELD, "app");
    cr_assert_geq(held, 0, "no log line says the restart is held");
    cr_expect_lt(held, restart);
    long long left = h_int(&H, held, "left_ms", -1);
    cr_expect_gt(left, 0, "left_ms %lld", left);
    cr_expect_geq(gap_ms(held, restart), left - 20,
                  "restarted %lldms after the hold, which had %lldms left",
                  gap_ms(held, restart), left);
}

T(a_slow_starter_comes_up_without_a_restart, 60)
{
    /* The wrapper manifest's settings, faster: an app that listens after
     * 4 s, probed every 500ms, failing after 2 failures, default
     * start_period. */
    int port = h_reserve_port();
    char yaml[2048];
    snprintf(yaml, sizeof(yaml),
             "services:\n"
             "  app:\n"
             "    role: main\n"
             "    command: ['/bin/sh', '-c', 'sleep 4; exec "
             "@HELPERDIR@/fakehttp --port %d @DIR@/app.port']\n"
             "probes:\n"
             "  app-http:\n"
             "    type: http\n"
             "    service: app\n"
             "    url: http://127.0.0.1:%d/healthz\n"
             "    period: 500ms\n"
             "    timeout: 400ms\n"
             "    failure_threshold: 2\n"
             "    on_failure: restart\n",
             port, port);
    h_start(&H, yaml);

    /* Failing while it starts: that counts for health, the restart waits. */
    size_t from = 0;
    cr_assert_geq(h_wait_probe_state(&H, &from, "app-http", "failing", H_WAIT),
                  0);
    json_t *p = wait_failures("app-http", 4, H_WAIT);
    cr_assert(p,
              "the probe never failed 4 times in a row (restarted?): %ld "
              "restarts",
              (long)h_count_events(&H, 0, RESTARTING, "app"));
    cr_expect_str_eq(json_string_value(json_object_get(p, "on_failure")),
                     "restart");
    cr_expect(json_is_string(json_object_get(p, "restart_held_until")),
              "details do not say the restart is held");
    json_decref(p);
    long held = h_find_event(&H, 0, HELD, "app");
    cr_expect_geq(held, 0, "no log line says the restart is held");
    cr_expect_eq(h_int(&H, held, "start_period_ms", -1), 60000);
    cr_expect_str_eq(h_str(&H, held, "probe"), "app-http");

    /* It comes up, once, and the pod is ready. */
    cr_assert_geq(h_wait_probe_state(&H, &from, "app-http", "passing", 20), 0,
                  "the app never came up");
    char body[256];
    cr_assert(h_wait_status(&H, "/readyz", 200, body, sizeof(body), H_WAIT));
    cr_expect_eq(h_count_events(&H, 0, "service started", "app"), 1);
    cr_expect_eq(h_count_events(&H, 0, RESTARTING, NULL), 0);
    p = details_probe("app-http");
    cr_expect(json_is_null(json_object_get(p, "restart_held_until")));
    json_decref(p);
    h_signal(&H, SIGTERM);
    cr_expect_eq(h_wait_exit(&H, 10), 143, "exits as the app did");
}

T(one_that_never_comes_up_restarts_when_start_period_ends, 60)
{
    /* Nothing ever listens there; the probe fails from its first runs. */
    int closed = h_reserve_port();
    char yaml[2048];
    snprintf(yaml, sizeof(yaml),
             "services:\n"
             "  app:\n"
             "    role: main\n"
             "    command: ['@HELPER@', 'run', 'app', '@DIR@/log']\n"
             "    backoff: { initial: 100ms }\n"
             "probes:\n"
             "  app-tcp:\n"
             "    type: tcp\n"
             "    service: app\n"
             "    port: %d\n"
             "    period: 500ms\n"
             "    timeout: 400ms\n"
             "    failure_threshold: 2\n"
             "    on_failure: restart\n"
             "    start_period: 2s\n",
             closed);
    h_start(&H, yaml);
    long s1 = h_wait_event(&H, 0, H_WAIT, "service started", "app");
    cr_assert_geq(s1, 0, "sidecar did not start the app");
    size_t from = 0;
    long f1 = h_wait_probe_state(&H, &from, "app-tcp", "failing", H_WAIT);
    cr_assert_geq(f1, 0);
    long r1 = h_wait_event(&H, (size_t)f1, H_WAIT, RESTARTING, "app");
    cr_assert_geq(r1, 0, "never restarted");
    /* Failing well before: no state change comes when the budget ends. */
    cr_expect_lt(gap_ms(s1, f1), 1700, "failing only after %lldms",
                 gap_ms(s1, f1));
    expect_held_until_restart(f1, r1);
    /* Not long after start_period (a loose bound). */
    cr_expect_leq(gap_ms(s1, r1), 6000, "restarted after %lldms",
                  gap_ms(s1, r1));
    cr_expect(json_is_false(field(r1, "passed_since_start")));
    cr_expect_eq(h_int(&H, r1, "start_period_ms", -1), 2000);

    /* After the restart the gate is closed again: held once more. */
    long s2 = h_wait_event(&H, (size_t)r1, H_WAIT, "service started", "app");
    cr_assert_geq(s2, 0);
    cr_expect_eq(h_int(&H, s2, "restarts", -1), 1);
    long r2 = h_wait_event(&H, (size_t)s2, H_WAIT, RESTARTING, "app");
    cr_assert_geq(r2, 0, "not restarted again");
    expect_held_until_restart((long)s2, r2);
    cr_expect_leq(gap_ms(s2, r2), 6000, "restarted again after %lldms",
                  gap_ms(s2, r2));
    cr_expect_eq(h_stop_once_started(&H, "log", "app"), 0);
}

T(after_a_pass_a_failure_restarts_at_once_then_the_gate_closes, 60)
{
    /* An app whose health the test sets; default start_period (60s),
     * which none of this waits for. */
    int port = h_reserve_port();
    char yaml[2048];
    snprintf(yaml, sizeof(yaml),
             "services:\n"
             "  app:\n"
             "    role: main\n"
             "    command: ['@HELPERDIR@/fakehttp', '--port', '%d', "
             "'@DIR@/app.port']\n"
             "    backoff: { initial: 100ms }\n"
             "probes:\n"
             "  app-http:\n"
             "    type: http\n"
             "    service: app\n"
             "    url: http://127.0.0.1:%d/file/health\n"
             "    period: 300ms\n"
             "    timeout: 250ms\n"
             "    failure_threshold: 2\n"
             "    on_failure: restart\n",
             port, port);
    h_start(&H, yaml);
    /* Healthy from the start (a run before this line fails, held). */
    h_put_file(h_path(&H, "health"), "200\n");
    size_t from = 0;
    cr_assert_geq(h_wait_probe_state(&H, &from, "app-http", "passing", H_WAIT),
                  0);

    /* Started (it passed): a failure restarts it at once, as before. */
    h_put_file(h_path(&H, "health"), "500\n");
    long f1 = h_wait_probe_state(&H, &from, "app-http", "failing", H_WAIT);
    cr_assert_geq(f1, 0);
    long r1 = h_wait_event(&H, (size_t)f1, H_WAIT, RESTARTING, "app");
    cr_assert_geq(r1, 0, "not restarted");
    cr_expect(json_is_true(field(r1, "passed_since_start")));
    cr_expect_lt(gap_ms(f1, r1), 1000, "restarted %lldms after failing",
                 gap_ms(f1, r1));
    cr_expect_lt(h_find_event(&H, (size_t)f1, HELD, "app"), 0,
                 "held though it had passed");

    /* The new process has not passed yet: its failures wait for
     * start_period, however many. */
    long s2 = h_wait_event(&H, (size_t)r1, H_WAIT, "service started", "app");
    cr_assert_geq(s2, 0);
    from = (size_t)s2;
    cr_assert_geq(h_wait_probe_state(&H, &from, "app-http", "failing", H_WAIT),
                  0);
    json_t *p = wait_failures("app-http", 6, H_WAIT);
    cr_assert(p, "the probe never failed 6 times in a row after the restart");
    cr_expect(json_is_string(json_object_get(p, "restart_held_until")));
    json_decref(p);
    cr_expect_eq(h_count_events(&H, 0, RESTARTING, "app"), 1,
                 "restarted again while starting");
    cr_expect_geq(h_find_event(&H, (size_t)s2, HELD, "app"), 0);

    /* Healthy again: up, with one restart. */
    h_put_file(h_path(&H, "health"), "200\n");
    cr_assert_geq(h_wait_probe_state(&H, &from, "app-http", "passing", H_WAIT),
                  0);
    char body[256];
    cr_assert(h_wait_status(&H, "/readyz", 200, body, sizeof(body), H_WAIT));
    cr_expect_eq(h_count_events(&H, 0, "service started", "app"), 2);
    cr_expect_eq(h_count_events(&H, 0, RESTARTING, "app"), 1);
    h_signal(&H, SIGTERM);
    cr_expect_eq(h_wait_exit(&H, 10), 143, "exits as the app did");
}
