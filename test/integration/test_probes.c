/*
 * Probes through the real binary: exec checks, thresholds, timeouts, the
 * exec bulkhead, probes bound to services, on_failure: restart, depends_on
 * healthy, and the aggregate they feed.
 */
#define _DEFAULT_SOURCE
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"

static struct harness H;

static void teardown(void)
{
    h_cleanup(&H);
}

#define T(name, secs) Test(probes, name, .timeout = secs, .fini = teardown)

static const char *debug[] = {"--log-level", "debug", NULL};

/* Next "probe state changed" of probe, at or after *from, to state. */
static long wait_state(size_t *from, const char *probe, const char *to,
                       double timeout)
{
    return h_wait_probe_state(&H, from, probe, to, timeout);
}

static void touch(const char *name)
{
    h_touch(&H, name);
}

T(exec_probe_passes_fails_and_keeps_its_output_as_reason, 20)
{
    /* An http probe too: curl's sockets must not reach the exec probe. */
    h_start(&H, "probes:\n"
                "  web:\n"
                "    type: http\n"
                "    importance: low\n"
                "    url: http://127.0.0.1:9/\n"
                "    period: 100ms\n"
                "    timeout: 90ms\n"
                "  good:\n"
                "    type: exec\n"
                "    command: \"echo all fine; ls /proc/self/fd | wc -l\"\n"
                "    period: 1s\n"
                "    timeout: 900ms\n"
                "  bad:\n"
                "    type: exec\n"
                "    command: \"echo disk full >&2; exit 3\"\n"
                "    period: 1s\n"
                "    timeout: 900ms\n"
                "    failure_threshold: 1\n");
    size_t from = 0;
    long i = wait_state(&from, "good", "passing", H_WAIT);
    cr_assert_geq(i, 0);
    /* ls sees 0-2 and its own directory: no descriptor of sidecar's. */
    cr_expect_str_eq(h_str(&H, i, "reason"), "all fine\n4");
    from = 0;
    i = wait_state(&from, "bad", "failing", H_WAIT);
    cr_assert_geq(i, 0);
    cr_expect_str_eq(h_str(&H, i, "reason"), "exit 3: disk full");
    cr_expect_str_eq(h_str(&H, i, "importance"), "critical");
    h_signal(&H, SIGTERM);
    cr_expect_eq(h_wait_exit(&H, 10), 0);
}

T(a_hanging_exec_probe_fails_at_its_timeout, 20)
{
    h_start(&H, "probes:\n"
                "  hang:\n"
                "    type: exec\n"
                "    command: \"sleep 30 & sleep 30\"\n"
                "    period: 1s\n"
                "    timeout: 200ms\n"
                "    failure_threshold: 1\n");
    size_t from = 0;
    long i = wait_state(&from, "hang", "failing", H_WAIT);
    cr_assert_geq(i, 0);
    long long d = h_int(&H, i, "duration_ms", -1);
    cr_expect(d >= 200 && d <= 700, "timed out after %lld ms", d);
    cr_expect_str_eq(h_str(&H, i, "reason"), "timed out after 200ms");
    h_signal(&H, SIGTERM);
    cr_expect_eq(h_wait_exit(&H, 10), 0);
    /* Its whole process group was killed: check_survivors() in teardown
     * fails the test if a "sleep 30" is left. */
}

/*
 * kubelet's periodSeconds: 1 with a check that takes 1.5 s (timeout 2s):
 * valid, the runs never overlap and each passes. As kubelet's ticker keeps
 * the tick that fell in a run, the next run starts as the last ends (in
 * the same pass of the loop), not at the tick after.
 */
T(a_run_longer_than_the_period_passes_and_never_overlaps, 30)
{
    h_start_args(&H,
                 "probes:\n"
                 "  slow:\n"
                 "    type: exec\n"
                 "    command: [/bin/sh, -c, 'echo start >> @DIR@/runs;"
                 " sleep 1.5; echo end >> @DIR@/runs']\n"
                 "    period: 1s\n"
                 "    timeout: 2s\n"
                 "    success_threshold: 2\n",
                 debug);
    size_t from = 0;
    cr_assert_geq(wait_state(&from, "slow", "passing", H_WAIT), 0);
    const char *runs = h_wait_file(&H, "runs", 6, H_WAIT);
    cr_assert_not_null(runs);
    /* Overlapping runs would write two starts in a row. */
    const char *at = runs;
    for (int i = 0; i < 3; i++) {
        cr_assert_eq(strncmp(at, "start\nend\n", 10), 0, "runs: %s", runs);
        at += 10;
    }
    long last = -1;
    for (long i = h_find_event(&H, 0, "probe finished", NULL); i >= 0;
         i = h_find_event(&H, (size_t)i + 1, "probe finished", NULL))
        last = i;
    cr_assert_geq(last, 0);
    cr_expect(json_is_true(json_object_get(H.json[last], "ok")));
    cr_expect_geq(h_int(&H, last, "duration_ms", 0), 1400);
    /* Each later run starts when the one before ends: 500 ms after its
     * tick. Waiting for the next tick would leave 500 ms between them. */
    long fin = h_find_event(&H, 0, "probe finished", NULL);
    cr_assert_geq(fin, 0);
    long next = h_find_event(&H, (size_t)fin + 1, "probe started", NULL);
    cr_assert_geq(next, 0);
    cr_expect_lt(h_ts_ms(&H, next) - h_ts_ms(&H, fin), 250, "%lld ms",
                 h_ts_ms(&H, next) - h_ts_ms(&H, fin));
    cr_expect_geq(h_int(&H, next, "late_ms", -1), 300);
    h_signal(&H, SIGTERM);
    cr_expect_eq(h_wait_exit(&H, 10), 0);
}

T(thresholds_count_consecutive_results, 30)
{
    h_start_args(&H,
                 "probes:\n"
                 "  flag:\n"
                 "    type: exec\n"
                 "    command: \"test -e @DIR@/up\"\n"
                 "    period: 100ms\n"
                 "    timeout: 90ms\n"
                 "    failure_threshold: 3\n"
                 "    success_threshold: 2\n",
                 debug);
    size_t from = 0;
    long i = wait_state(&from, "flag", "failing", H_WAIT);
    cr_assert_geq(i, 0);
    cr_expect_eq(h_int(&H, i, "consecutive", -1), 3);
    /* Exactly three failed runs before the flip. */
    cr_expect_eq(h_count_events(&H, 0, "probe finished", NULL), 3);
    touch("up");
    i = wait_state(&from, "flag", "passing", H_WAIT);
    cr_assert_geq(i, 0);
    cr_expect_eq(h_int(&H, i, "consecutive", -1), 2);
    h_signal(&H, SIGTERM);
    cr_expect_eq(h_wait_exit(&H, 10), 0);
}

T(aggregate_follows_critical_and_high_probes, 30)
{
    h_start(&H, "probes:\n"
                "  core:\n"
                "    type: exec\n"
                "    command: \"test ! -e @DIR@/core-down\"\n"
                "    period: 500ms\n"
                "    timeout: 450ms\n"
                "    failure_threshold: 1\n"
                "  cache:\n"
                "    type: exec\n"
                "    importance: high\n"
                "    command: \"test ! -e @DIR@/cache-down\"\n"
                "    period: 500ms\n"
                "    timeout: 450ms\n"
                "    failure_threshold: 1\n"
                "  batch:\n"
                "    type: exec\n"
                "    importance: low\n"
                "    command: \"false\"\n"
                "    period: 500ms\n"
                "    timeout: 450ms\n"
                "    failure_threshold: 1\n");
    size_t from = 0;
    long i;
    for (;;) {
        i = h_wait_event(&H, from, H_WAIT, "health changed", NULL);
        cr_assert_geq(i, 0, "never UP");
        from = (size_t)i + 1;
        if (strcmp(h_str(&H, i, "to"), "UP") == 0)
            break;
    }
    cr_expect(json_is_true(json_object_get(H.json[i], "ready")));
    touch("cache-down");
    i = h_wait_event(&H, from, H_WAIT, "health changed", NULL);
    cr_assert_geq(i, 0);
    cr_expect_str_eq(h_str(&H, i, "to"), "DEGRADED");
    cr_expect_str_eq(h_str(&H, i, "cause"), "probe 'cache' (high) is failing");
    cr_expect(json_is_true(json_object_get(H.json[i], "ready")));
    from = (size_t)i + 1;
    touch("core-down");
    i = h_wait_event(&H, from, H_WAIT, "health changed", NULL);
    cr_assert_geq(i, 0);
    cr_expect_str_eq(h_str(&H, i, "to"), "DOWN");
    cr_expect(json_is_false(json_object_get(H.json[i], "ready")));
    cr_expect(json_is_true(json_object_get(H.json[i], "live")));
    h_signal(&H, SIGTERM);
    cr_expect_eq(h_wait_exit(&H, 10), 0);
}

T(a_service_probe_runs_only_while_its_service_runs, 30)
{
    h_start(&H, "services:\n"
                "  web:\n"
                "    role: main\n"
                "    command: ['@HELPER@', 'run', 'web', '@DIR@/log']\n"
                "    backoff: { initial: 300ms }\n"
                "probes:\n"
                "  web-up:\n"
                "    type: exec\n"
                "    service: web\n"
                "    command: \"true\"\n"
                "    period: 100ms\n"
                "    timeout: 90ms\n");
    size_t from = 0;
    long i = wait_state(&from, "web-up", "passing", H_WAIT);
    cr_assert_geq(i, 0);
    long s = h_find_event(&H, 0, "service started", "web");
    cr_assert(kill((pid_t)h_int(&H, s, "pid", -1), SIGKILL) == 0);
    i = wait_state(&from, "web-up", "unknown", H_WAIT);
    cr_assert_geq(i, 0, "probe did not return to unknown");
    long ex = h_find_event(&H, 0, "service exited", "web");
    cr_expect_lt(ex, i + 1);
    /* Nothing runs during the 300ms backoff; it passes again after. */
    i = wait_state(&from, "web-up", "passing", H_WAIT);
    cr_assert_geq(i, 0);
    long again = h_find_event(&H, (size_t)s + 1, "service started", "web");
    cr_expect_lt(again, i);
    cr_assert(h_wait_file(&H, "log", 2, H_WAIT)); /* its TERM handler is set */
    h_signal(&H, SIGTERM);
    cr_expect_eq(h_wait_exit(&H, 10), 0);
}

T(on_failure_restart_restarts_the_service_through_backoff, 30)
{
    h_start(&H, "services:\n"
                "  web:\n"
                "    role: main\n"
                "    command: ['@HELPER@', 'run', 'web', '@DIR@/log']\n"
                "    backoff: { initial: 100ms }\n"
                "probes:\n"
                "  web-ok:\n"
                "    type: exec\n"
                "    service: web\n"
                "    command: \"test ! -e @DIR@/sick\"\n"
                "    period: 100ms\n"
                "    timeout: 90ms\n"
                "    failure_threshold: 2\n"
                "    on_failure: restart\n");
    size_t from = 0;
    cr_assert_geq(wait_state(&from, "web-ok", "passing", H_WAIT), 0);
    touch("sick");
    long i = h_wait_event(&H, from, H_WAIT,
                          "restarting service: its probe is failing", "web");
    cr_assert_geq(i, 0);
    unlink(h_path(&H, "sick"));
    i = h_wait_event(&H, (size_t)i, H_WAIT, "service will restart", "web");
    cr_assert_geq(i, 0);
    i = h_wait_event(&H, (size_t)i, H_WAIT, "service started", "web");
    cr_assert_geq(i, 0);
    cr_expect_eq(h_int(&H, i, "restarts", -1), 1);
    cr_expect_geq(wait_state(&from, "web-ok", "passing", H_WAIT), 0);
    /* start, stop (the restart), start: the new handler is in place. */
    cr_assert(h_wait_file(&H, "log", 3, H_WAIT));
    h_signal(&H, SIGTERM);
    cr_expect_eq(h_wait_exit(&H, 10), 0);
}

T(depends_on_healthy_waits_for_the_probes, 30)
{
    h_start(&H, "services:\n"
                "  app:\n"
                "    role: main\n"
                "    command: ['@HELPER@', 'run', 'app', '@DIR@/log']\n"
                "    depends_on: { db: healthy }\n"
                "  db:\n"
                "    command: ['@HELPER@', 'run', 'db', '@DIR@/log']\n"
                "probes:\n"
                "  db-ready:\n"
                "    type: exec\n"
                "    service: db\n"
                "    command: \"test -e @DIR@/db-ready\"\n"
                "    period: 100ms\n"
                "    timeout: 90ms\n");
    cr_assert(h_wait_file(&H, "log", 1, H_WAIT));
    h_pump(&H, 0.5);
    cr_expect_eq(h_find_event(&H, 0, "service started", "app"), -1,
                 "app started before db was healthy");
    touch("db-ready");
    size_t from = 0;
    long pass = wait_state(&from, "db-ready", "passing", H_WAIT);
    cr_assert_geq(pass, 0);
    long app = h_wait_event(&H, (size_t)pass, H_WAIT, "service started", "app");
    cr_expect_geq(app, 0);
    /* Its SIGTERM handler is in place once it wrote its start line. */
    cr_assert(h_wait_file(&H, "log", 2, H_WAIT));
    h_signal(&H, SIGTERM);
    cr_expect_eq(h_wait_exit(&H, 10), 0);
}

T(the_exec_bulkhead_caps_concurrent_probes, 30)
{
    h_start(&H,
            "exec_probe_limit: 2\n"
            "probes:\n"
            "  p1: { type: exec, command: \"echo s >> @DIR@/c; "
            "sleep 0.4; echo e >> @DIR@/c\", period: 1s, timeout: 900ms }\n"
            "  p2: { type: exec, command: \"echo s >> @DIR@/c; "
            "sleep 0.4; echo e >> @DIR@/c\", period: 1s, timeout: 900ms }\n"
            "  p3: { type: exec, command: \"echo s >> @DIR@/c; "
            "sleep 0.4; echo e >> @DIR@/c\", period: 1s, timeout: 900ms }\n"
            "  p4: { type: exec, command: \"echo s >> @DIR@/c; "
            "sleep 0.4; echo e >> @DIR@/c\", period: 1s, timeout: 900ms }\n"
            "  p5: { type: exec, command: \"echo s >> @DIR@/c; "
            "sleep 0.4; echo e >> @DIR@/c\", period: 1s, timeout: 900ms }\n"
            "  p6: { type: exec, command: \"echo s >> @DIR@/c; "
            "sleep 0.4; echo e >> @DIR@/c\", period: 1s, timeout: 900ms }\n");
    const char *text = h_wait_file(&H, "c", 24, 10);
    cr_assert(text, "probes did not run twice each");
    int now = 0;
    int most = 0;
    for (const char *p = text; *p; p++) {
        if (*p == 's' && ++now > most)
            most = now;
        if (*p == 'e')
            now--;
    }
    cr_expect_eq(most, 2, "%d exec probes ran at once", most);
    h_signal(&H, SIGTERM);
    cr_expect_eq(h_wait_exit(&H, 10), 0);
}

/* A listener that never accepts: the kernel completes the handshakes. */
static int listen_local(int *port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    cr_assert_geq(fd, 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    cr_assert_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    cr_assert_eq(listen(fd, 4096), 0);
    cr_assert_eq(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    *port = ntohs(a.sin_port);
    return fd;
}

static int cmp_ll(const void *a, const void *b)
{
    long long x = *(const long long *)a;
    long long y = *(const long long *)b;
    return (x > y) - (x < y);
}

T(two_hundred_probes_keep_their_schedule, 60)
{
    int port;
    int lfd = listen_local(&port);
    static char yaml[200 * 128];
    size_t n = (size_t)snprintf(yaml, sizeof(yaml), "probes:\n");
    for (int i = 0; i < 200; i++)
        n += (size_t)snprintf(yaml + n, sizeof(yaml) - n,
                              "  t%d: { type: tcp, port: %d, period: 1s, "
                              "timeout: 500ms }\n",
                              i, port);
    h_start_args(&H, yaml, debug);
    double end = h_now() + 3.5;
    while (h_now() < end)
        h_pump(&H, end - h_now());
    static long long late[2000];
    size_t runs = 0;
    static int per_probe[200];
    for (size_t k = 0; k < H.count; k++) {
        const char *m = h_str(&H, (long)k, "msg");
        if (!m || strcmp(m, "probe started") != 0 || runs == 2000)
            continue;
        late[runs++] = h_int(&H, (long)k, "late_ms", -1);
        per_probe[atoi(h_str(&H, (long)k, "probe") + 1)]++;
    }
    for (int i = 0; i < 200; i++)
        cr_expect_geq(per_probe[i], 3, "t%d ran %d times", i, per_probe[i]);
    qsort(late, runs, sizeof(late[0]), cmp_ll);
    long long p99 = late[runs * 99 / 100];
    /* Well within the period (1 s): probes serialized or a tick lost would
     * be late by hundreds of ms each; a loaded machine adds tens. */
    cr_expect_lt(p99, 300, "p99 lateness %lld ms over %zu runs", p99, runs);
    cr_expect_eq(h_count_events(&H, 0, "probe state changed", NULL), 200,
                 "every probe passes once and stays so");
    h_signal(&H, SIGTERM);
    cr_expect_eq(h_wait_exit(&H, 10), 0);
    close(lfd);
}

T(a_ttl_probe_without_pushes_fails_after_its_ttl, 20)
{
    h_start(&H, "http:\n"
                "  listen: 127.0.0.1:0\n"
                "  token: probes-token-0123456789\n"
                "probes:\n"
                "  batch:\n"
                "    type: ttl\n"
                "    importance: high\n"
                "    ttl: 500ms\n"
                "    failure_threshold: 2\n");
    size_t from = 0;
    long i = wait_state(&from, "batch", "failing", H_WAIT);
    cr_assert_geq(i, 0);
    /* By sidecar's clock, from its start: the test's would count the time
     * a loaded machine takes to start it. */
    long long took = h_ts_ms(&H, i) -
                     h_ts_ms(&H, h_find_event(&H, 0, "sidecar started", NULL));
    /* Passing only while pushes come within ttl: failing after one ttl,
     * whatever failure_threshold says (two would be 1000 ms). */
    cr_expect(took >= 480 && took < 950, "failing after %lld ms", took);
    cr_expect_str_eq(h_str(&H, i, "reason"), "no result pushed within 500ms");
    h_signal(&H, SIGTERM);
    cr_expect_eq(h_wait_exit(&H, 10), 0);
}

/*
 * A probe's last reason lives in a buffer that grows only for a longer
 * reason: a long one after a short one, then a short one after it, each
 * shown whole and alone in /health/details (no tail of the long one).
 */
T(reason_grows_and_shrinks_without_leftovers, 40)
{
    static char body[64 * 1024];
    static const char *const want[] = {"\"exit 1: short\"", "xxxxxxxxxxxxxxxx",
                                       "\"exit 1: short\"", NULL};
    h_start(&H, "http: { listen: '127.0.0.1:0' }\n"
                "probes:\n"
                "  flip:\n"
                "    type: exec\n"
                "    command: \"if [ -e @DIR@/long ]; then "
                "head -c 6000 /dev/zero | tr '\\\\0' x; "
                "else echo short; fi; exit 1\"\n"
                "    period: 200ms\n"
                "    timeout: 150ms\n");
    for (size_t i = 0; want[i] != NULL; i++) {
        double end = h_now() + 10;
        bool seen = false;

        if (i == 1)
            h_touch(&H, "long");
        if (i == 2)
            cr_assert_eq(unlink(h_path(&H, "long")), 0);
        while (!seen && h_now() < end) {
            int status = h_get(&H, "/health/details", body, sizeof(body));

            cr_assert_eq(status, 200);
            seen = strstr(body, want[i]) != NULL;
            if (!seen)
                h_pump(&H, 0.05);
        }
        cr_assert(seen, "no reason with %s in %s", want[i], body);
    }
    cr_assert_eq(h_count_of(body, "xxxxxxxx"), 0, "leftover: %s", body);
}
