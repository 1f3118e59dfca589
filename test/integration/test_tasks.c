/*
 * One-shot tasks through the real binary: a shell-script migration that
 * fails once and then succeeds (restart: on-failure) before the app it
 * holds starts; one that fails for good, which stops sidecar with the app
 * never started; what /health/details, /metrics, the check endpoints and
 * `sidecar status` show of a completed task; and a reload that keeps a
 * completed task (not run again) or changes it (run again).
 */
#include <criterion/criterion.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

static struct harness H;
static char body[65536];
static char script[256]; /* the migration, a shell script in /tmp */

static void teardown(void)
{
    h_cleanup(&H);
    if (script[0])
        unlink(script);
    script[0] = '\0';
}

#define T(name, secs) Test(tasks, name, .timeout = secs, .fini = teardown)

/*
 * A migration as a user writes one: its first run fails (the database is
 * not there yet, say), every later one succeeds. $1 is where it keeps
 * what it did; with FAIL=1 in its environment it always fails.
 */
static void write_migration(void)
{
    snprintf(script, sizeof(script), "%s",
             h_temp_file("#!/bin/sh\n"
                         "set -e\n"
                         "echo \"migrating $1\"\n"
                         "if [ \"${FAIL:-0}\" = 1 ]; then\n"
                         "  echo 'schema is broken' >&2; exit 3\n"
                         "fi\n"
                         "if [ ! -e \"$1/tried\" ]; then\n"
                         "  : > \"$1/tried\"\n"
                         "  echo 'database not ready' >&2; exit 1\n"
                         "fi\n"
                         "echo run >> \"$1/migrated\"\n"));
}

/*
 * The pod: main waits for migrate to complete. restart is migrate's
 * policy line ("" for the default), extra goes after it (its env, say,
 * or another service).
 */
static void pod_yaml(char *yaml, size_t len, const char *restart,
                     const char *extra)
{
    snprintf(yaml, len,
             "services:\n"
             "  app:\n"
             "    role: main\n"
             "    command: ['@HELPER@', 'run', 'app', '@DIR@/log']\n"
             "    depends_on: {migrate: completed}\n"
             "  migrate:\n"
             "    role: task\n"
             "    command: ['/bin/sh', '%s', '@DIR@']\n"
             "    backoff: {initial: 10ms}\n"
             "%s%s",
             script, restart, extra);
}

#define ON_FAILURE "    restart: on-failure\n"

static void start_pod(const char *restart, const char *extra)
{
    char yaml[2048];
    write_migration();
    pod_yaml(yaml, sizeof(yaml), restart, extra);
    h_start(&H, yaml);
}

static long wait_event(const char *msg, const char *svc)
{
    long i = h_wait_event(&H, 0, H_WAIT, msg, svc);
    /* What happened instead, for whoever reads the failure. */
    for (size_t k = 0; i < 0 && k < H.count; k++)
        fprintf(stderr, "%s\n", H.raw[k]);
    cr_assert_geq(i, 0, "no \"%s\" of %s", msg, svc);
    return i;
}

T(a_migration_that_fails_once_then_succeeds_holds_the_app_until_done, 30)
{
    start_pod(ON_FAILURE, "");
    long failed = wait_event("service exited", "migrate");
    cr_expect_eq(h_int(&H, failed, "exit_code", -1), 1);
    long again = wait_event("service will restart", "migrate");
    long done = wait_event("service completed", "migrate");
    cr_expect_gt(done, again);
    cr_expect_eq(h_int(&H, done, "exit_code", -1), 0);
    cr_expect_geq(h_int(&H, done, "duration_ms", -1), 0);
    cr_expect_eq(h_int(&H, done, "restarts", -1), 1);
    long app = wait_event("service started", "app");
    cr_expect_gt(app, done, "the app starts only once migrate completed");
    cr_expect_str_eq(h_read_file(h_path(&H, "migrated")), "run\n");

    /* Done, not down: UP, ready, started; said as completed. */
    cr_assert(h_wait_status(&H, "/readyz", 200, body, sizeof(body), H_WAIT),
              "%s", body);
    cr_expect_eq(h_get(&H, "/startupz?verbose", body, sizeof(body)), 200);
    cr_expect(strstr(body, "[+]service:migrate completed (a task: done, not "
                           "down)\n"),
              "%s", body);
    cr_expect_eq(h_get(&H, "/livez?verbose", body, sizeof(body)), 200);
    cr_expect(strstr(body, "[+]service:migrate completed"), "%s", body);

    cr_expect_eq(h_get(&H, "/health/details", body, sizeof(body)), 200);
    json_error_t jerr;
    json_t *d = json_loads(body, 0, &jerr);
    cr_assert(d, "%s", jerr.text);
    cr_expect_str_eq(json_string_value(json_object_get(d, "status")), "UP");
    json_t *svcs = json_object_get(d, "services");
    json_t *m = NULL;
    size_t i;
    json_t *v;
    json_array_foreach(svcs, i, v)
    {
        if (strcmp(json_string_value(json_object_get(v, "name")), "migrate") ==
            0)
            m = v;
    }
    cr_assert(m, "%s", body);
    cr_expect_str_eq(json_string_value(json_object_get(m, "state")),
                     "completed");
    cr_expect_str_eq(json_string_value(json_object_get(m, "role")), "task");
    cr_expect_eq(json_integer_value(json_object_get(m, "last_exit_code")), 0);
    cr_expect_eq(json_integer_value(json_object_get(m, "restarts")), 1);
    json_decref(d);

    cr_expect_eq(h_get(&H, "/metrics", body, sizeof(body)), 200);
    cr_expect_eq(
        h_metric(body, "sidecar_service_completed{service=\"migrate\"}"), 1.0,
        "%s", body);
    cr_expect_eq(h_metric(body, "sidecar_service_completed{service=\"app\"}"),
                 0.0);
    cr_expect_eq(h_metric(body, "sidecar_service_up{service=\"migrate\"}"),
                 0.0);
    cr_expect_eq(h_metric(body, "sidecar_service_up{service=\"app\"}"), 1.0);

    char url[64];
    char out[8192];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d", h_http_port(&H));
    cr_expect_eq(h_run((const char *[]){"status", "--url", url, NULL}, out,
                       sizeof(out), 10),
                 0, "%s", out);
    cr_expect(strstr(out, "completed"), "%s", out);

    h_signal(&H, SIGTERM);
    cr_expect_eq(h_wait_exit(&H, H_WAIT), 0, "migrate's exit is no failure");
}

T(a_migration_that_fails_for_good_stops_sidecar_and_the_app_never_starts, 30)
{
    start_pod(ON_FAILURE, "    env: {FAIL: '1'}\n"
                          "    max_restarts: 2\n");
    cr_expect_eq(h_wait_exit(&H, H_WAIT), 1);
    cr_expect_eq(h_count_events(&H, 0, "service exited", "migrate"), 3,
                 "the first run and 2 restarts");
    cr_expect_geq(
        h_find_event(&H, 0, "service is crash-looping; giving up", "migrate"),
        0);
    long gave_up =
        h_find_event(&H, 0, "dependency failed; service cannot start", "app");
    cr_assert_geq(gave_up, 0);
    cr_expect_str_eq(h_str(&H, gave_up, "dependency"), "migrate");
    cr_expect_lt(h_find_event(&H, 0, "service started", "app"), 0);
    cr_expect_lt(h_find_event(&H, 0, "service completed", NULL), 0);
    long down = h_find_event(&H, 0, "shutting down", NULL);
    cr_assert_geq(down, 0);
    cr_expect_str_eq(h_str(&H, down, "reason"),
                     "main service 'app' never started: its dependency "
                     "'migrate' is fatal");
    cr_expect_str_eq(h_line_of(&H, "migrate", "schema"), "schema is broken");
}

T(a_task_that_fails_with_restart_never_names_its_exit_code, 30)
{
    start_pod("", "    env: {FAIL: '1'}\n");
    cr_expect_eq(h_wait_exit(&H, H_WAIT), 1);
    cr_expect_eq(h_count_events(&H, 0, "service exited", "migrate"), 1,
                 "a task is not run again by default");
    long down = h_find_event(&H, 0, "shutting down", NULL);
    cr_assert_geq(down, 0);
    cr_expect_str_eq(h_str(&H, down, "reason"),
                     "main service 'app' never started: its dependency "
                     "'migrate' failed with exit code 3");
}

/* Rewrites the config file and reloads it by SIGHUP; the reload's line. */
static long reload_to(const char *extra)
{
    char yaml[2048];
    pod_yaml(yaml, sizeof(yaml), ON_FAILURE, extra);
    h_write_config(&H, H.cfg_path, NULL, yaml, true);
    long r = h_sighup(&H, "config reloaded");
    cr_assert_geq(r, 0);
    return r;
}

T(a_reload_keeps_a_completed_task_done_and_runs_a_changed_one_again, 30)
{
    start_pod(ON_FAILURE, "");
    wait_event("service completed", "migrate");
    long app = wait_event("service started", "app");
    pid_t app_pid = (pid_t)h_int(&H, app, "pid", 0);

    /* Kept: a new helper only. Not run again. */
    long r = reload_to("  extra:\n"
                       "    command: ['@HELPER@', 'run', 'extra', "
                       "'@DIR@/log']\n");
    cr_assert_geq(
        h_wait_event(&H, (size_t)r, H_WAIT, "service started", "extra"), 0);
    cr_expect_eq(h_count_events(&H, 0, "service started", "migrate"), 2,
                 "the failed run and the good one, none after the reload");
    cr_expect_str_eq(h_read_file(h_path(&H, "migrated")), "run\n");

    /* Changed: runs again; the app already runs and keeps running. */
    r = reload_to("    env: {VERSION: '2'}\n"
                  "  extra:\n"
                  "    command: ['@HELPER@', 'run', 'extra', "
                  "'@DIR@/log']\n");
    long done =
        h_wait_event(&H, (size_t)r, H_WAIT, "service completed", "migrate");
    cr_assert_geq(done, 0);
    cr_expect_str_eq(h_read_file(h_path(&H, "migrated")), "run\nrun\n");
    cr_expect(h_pid_alive(app_pid));
    cr_expect_lt(h_find_event(&H, (size_t)r, "stopping service", "app"), 0);
    cr_assert(h_wait_status(&H, "/readyz", 200, body, sizeof(body), H_WAIT));
    h_signal(&H, SIGTERM);
    cr_expect_eq(h_wait_exit(&H, H_WAIT), 0);
}

/* A task that completed is past healthy too: its dependent does not hang
 * though its probes stopped with it. */
T(healthy_towards_a_task_is_met_once_it_completed, 30)
{
    h_start(&H, "services:\n"
                "  app:\n"
                "    role: main\n"
                "    command: ['@HELPER@', 'run', 'app', '@DIR@/log']\n"
                "    depends_on: {seed: healthy}\n"
                "  seed:\n"
                "    role: task\n"
                "    command: ['/bin/sh', '-c', 'echo seeded']\n"
                "probes:\n"
                "  seed-done:\n"
                "    type: exec\n"
                "    service: seed\n"
                "    command: ['true']\n"
                "    period: 2s\n");
    long done = wait_event("service completed", "seed");
    cr_expect_gt(wait_event("service started", "app"), done);
    h_signal(&H, SIGTERM);
    cr_expect_eq(h_wait_exit(&H, H_WAIT), 0);
}

/*
 * The probes of a task stop when it completes, and are done with it: a
 * critical one (that never had the time to pass, here) holds neither the
 * aggregate, nor readiness, nor startup. It once kept /readyz 503 and the
 * pod DEGRADED for good.
 */
T(the_probes_of_a_completed_task_count_no_more, 30)
{
    h_start(&H, "services:\n"
                "  app:\n"
                "    role: main\n"
                "    command: ['@HELPER@', 'run', 'app', '@DIR@/log']\n"
                "    depends_on: {seed: completed}\n"
                "  seed:\n"
                "    role: task\n"
                "    command: ['/bin/sh', '-c', 'echo seeded']\n"
                "probes:\n"
                "  seed-check:\n"
                "    type: exec\n"
                "    service: seed\n"
                "    command: ['false']\n"
                "    importance: critical\n"
                "    period: 30s\n");
    wait_event("service started", "app");
    cr_assert(h_wait_status(&H, "/readyz", 200, body, sizeof(body), H_WAIT),
              "%s", body);
    cr_expect_eq(h_get(&H, "/startupz", body, sizeof(body)), 200, "%s", body);
    cr_expect_eq(h_get(&H, "/readyz?verbose", body, sizeof(body)), 200);
    cr_expect(strstr(body, "[+]seed-check "), "%s", body);
    cr_expect(strstr(body, " (its task completed: does not affect "
                           "readiness)\n"),
              "%s", body);
    cr_expect_eq(h_get(&H, "/health", body, sizeof(body)), 200);
    cr_expect(strstr(body, "\"status\":\"UP\""), "%s", body);
    h_signal(&H, SIGTERM);
    cr_expect_eq(h_wait_exit(&H, H_WAIT), 0);
}

/*
 * healthy towards a task that failed for good: it will not run again, so
 * it can never be healthy. The app is given up as with completed; it
 * once waited for ever, sidecar neither ready nor gone. The seed's probe
 * never passes: one that could might pass in the instant between the
 * task's start and its exit (a busy machine), and then the app rightly
 * starts.
 */
T(healthy_towards_a_task_that_failed_for_good_gives_the_app_up, 30)
{
    h_start(&H, "services:\n"
                "  app:\n"
                "    role: main\n"
                "    command: ['@HELPER@', 'run', 'app', '@DIR@/log']\n"
                "    depends_on: {seed: healthy}\n"
                "  seed:\n"
                "    role: task\n"
                "    command: ['/bin/sh', '-c', 'exit 3']\n"
                "probes:\n"
                "  seed-up:\n"
                "    type: exec\n"
                "    service: seed\n"
                "    command: ['false']\n");
    cr_expect_eq(h_wait_exit(&H, H_WAIT), 1);
    long down = h_find_event(&H, 0, "shutting down", NULL);
    cr_assert_geq(down, 0);
    cr_expect_str_eq(h_str(&H, down, "reason"),
                     "main service 'app' never started: its dependency "
                     "'seed' failed with exit code 3");
    cr_expect_lt(h_find_event(&H, 0, "service started", "app"), 0);
}
