/*
 * Supervision through the real binary: restarts, backoff, crash loops,
 * exit status, stop order, stop timeouts, process groups and reaping.
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

#define T(name, secs) Test(supervise, name, .timeout = secs, .fini = teardown)

/* pid field of the n-th (0-based) "service started" of service. */
static long started_pid(size_t from, double timeout, const char *svc, long *idx)
{
    *idx = h_wait_event(&H, from, timeout, "service started", svc);
    cr_assert(*idx >= 0, "service %s did not start", svc);
    return (long)h_int(&H, *idx, "pid", -1);
}

T(restarts_after_kill9_without_delay, 20)
{
    h_start(&H, "services:\n"
                "  web:\n"
                "    role: main\n"
                "    command: ['@HELPER@', 'run', 'web', '@DIR@/log']\n"
                "    backoff: { initial: 0s }\n");
    long i1;
    long pid1 = started_pid(0, H_WAIT, "web", &i1);
    cr_assert(h_wait_file(&H, "log", 1, H_WAIT));
    double killed_at = h_now();
    cr_assert(kill((pid_t)pid1, SIGKILL) == 0);
    long ex = h_wait_event(&H, i1, H_WAIT, "service exited", "web");
    cr_assert(ex >= 0);
    cr_expect_eq(h_int(&H, ex, "exit_code", -1), 137);
    cr_expect_str_eq(h_str(&H, ex, "signal"), "SIGKILL");
    long i2;
    long pid2 = started_pid((size_t)ex, H_WAIT, "web", &i2);
    cr_expect_neq(pid2, pid1);
    cr_expect_eq(h_int(&H, i2, "restarts", -1), 1);
    /* From the exit seen to the new process, by sidecar's own clock:
     * well under the default backoff of 500 ms (a loaded machine may
     * take a while to schedule sidecar, but not that long). */
    long long gap = h_ts_ms(&H, i2) - h_ts_ms(&H, ex);
    cr_expect(gap >= 0 && gap < 400, "restart took %lld ms", gap);
    cr_expect_lt(h_now() - killed_at, H_WAIT);
    cr_assert(h_wait_file(&H, "log", 2, H_WAIT));
    h_signal(&H, SIGTERM);
    cr_expect_eq(h_wait_exit(&H, 10), 0);
}

/* The n-th "service will restart" backoff_ms lies in [base, base*1.1]. */
static void expect_backoff(size_t *from, int base)
{
    long i = h_wait_event(&H, *from, 10, "service will restart", "job");
    cr_assert(i >= 0, "no restart with backoff %d", base);
    long long ms = h_int(&H, i, "backoff_ms", -1);
    cr_expect(ms >= base && ms <= base + base / 10 + 1,
              "backoff_ms %lld, expected %d..%d", ms, base, base + base / 10);
    *from = (size_t)i + 1;
}

T(backoff_grows_then_resets_after_uptime, 30)
{
    /* Fails fast three times, then runs 2s (> reset_after) and fails;
     * reset_after is long enough that a fast failure on a loaded machine
     * is still fast. */
    h_start(&H,
            "services:\n"
            "  main:\n"
            "    role: main\n"
            "    command: ['@HELPER@', 'run', 'main', '@DIR@/log']\n"
            "  job:\n"
            "    command: >-\n"
            "      n=$(cat @DIR@/n 2>/dev/null || echo 0);\n"
            "      echo $((n+1)) > @DIR@/n;\n"
            "      if [ $n -ge 3 ]; then sleep 2; fi; exit 1\n"
            "    backoff: { initial: 100ms, max: 400ms, reset_after: 1500ms }\n"
            "    max_restarts: 0\n");
    size_t from = 0;
    expect_backoff(&from, 100);
    expect_backoff(&from, 200);
    expect_backoff(&from, 400);
    expect_backoff(&from, 100); /* after 2s of uptime */
    expect_backoff(&from, 100);
    cr_assert(h_wait_file(&H, "log", 1, H_WAIT)); /* main takes SIGTERM */
    h_signal(&H, SIGTERM);
    cr_expect_eq(h_wait_exit(&H, 10), 0);
}

T(crash_loop_goes_fatal_and_stays_down, 30)
{
    h_start(&H, "services:\n"
                "  main:\n"
                "    role: main\n"
                "    command: ['@HELPER@', 'run', 'main', '@DIR@/log']\n"
                "  flaky:\n"
                "    command: ['@HELPER@', 'exit', '3']\n"
                "    backoff: { initial: 10ms, max: 10ms }\n"
                "    max_restarts: 3\n"
                "    restart_window: 1m\n");
    long fatal =
        h_wait_event(&H, 0, 10, "service is crash-looping; giving up", "flaky");
    cr_assert(fatal >= 0);
    cr_expect_str_eq(h_str(&H, fatal, "level"), "error");
    cr_expect_eq(h_int(&H, fatal, "exit_code", -1), 3);
    cr_expect_eq(h_count_events(&H, 0, "service started", "flaky"), 4);
    /* FATAL is final: no further start, and sidecar stays up. */
    h_pump(&H, 0.3);
    cr_expect_eq(h_count_events(&H, 0, "service started", "flaky"), 4);
    cr_expect_eq(h_find_event(&H, 0, "shutting down", NULL), -1);
    cr_assert(h_wait_file(&H, "log", 1, H_WAIT)); /* main takes SIGTERM */
    h_signal(&H, SIGTERM);
    cr_expect_eq(h_wait_exit(&H, 10), 0);
}

T(essential_helper_fatal_takes_sidecar_down, 30)
{
    h_start(&H, "services:\n"
                "  main:\n"
                "    role: main\n"
                "    command: ['@HELPER@', 'run', 'main', '@DIR@/log']\n"
                "  proxy:\n"
                "    essential: true\n"
                /* Once main has started (and handles SIGTERM). */
                "    command: 'until [ -s @DIR@/log ]; do sleep 0.01; done; "
                "exit 5'\n"
                "    backoff: { initial: 10ms }\n"
                "    max_restarts: 2\n");
    cr_expect_eq(h_wait_exit(&H, 15), 5);
    const char *log = h_wait_file(&H, "log", 2, 1);
    cr_assert(log, "main was not stopped");
    cr_expect(strstr(log, "stop main"));
}

T(main_exit_code_is_sidecars, 20)
{
    h_start(&H, "services:\n"
                "  main:\n"
                "    role: main\n"
                "    restart: never\n"
                /* Once helper has started (and handles SIGTERM). */
                "    command: ['sh', '-c', 'until [ -s @DIR@/log ]; do sleep "
                "0.01; done; exit 7']\n"
                "  helper:\n"
                "    command: ['@HELPER@', 'run', 'helper', '@DIR@/log']\n");
    cr_expect_eq(h_wait_exit(&H, 10), 7);
    const char *log = h_wait_file(&H, "log", 2, 1);
    cr_assert(log, "helper was not stopped");
    cr_expect(strstr(log, "stop helper"));
    long last = h_find_event(&H, 0, "sidecar exiting", NULL);
    cr_expect_eq(h_int(&H, last, "exit_code", -1), 7);
}

T(main_killed_by_signal_exits_128_plus_signal, 20)
{
    h_start(&H, "services:\n"
                "  main:\n"
                "    role: main\n"
                "    restart: on-failure\n"
                "    max_restarts: 1\n"
                "    backoff: { initial: 0s }\n"
                "    command: ['@HELPER@', 'run', 'main', '@DIR@/log']\n");
    long i;
    long pid = started_pid(0, H_WAIT, "main", &i);
    cr_assert(kill((pid_t)pid, SIGKILL) == 0);
    pid = started_pid((size_t)i + 1, H_WAIT, "main", &i);
    cr_assert(kill((pid_t)pid, SIGKILL) == 0);
    cr_expect_eq(h_wait_exit(&H, 10), 137);
}

T(sigterm_stops_in_reverse_dependency_order, 20)
{
    h_start(&H, "services:\n"
                "  app:\n"
                "    role: main\n"
                "    command: ['@HELPER@', 'run', 'app', '@DIR@/log',"
                " 'slow-stop']\n"
                "    depends_on: [api]\n"
                "  api:\n"
                "    command: ['@HELPER@', 'run', 'api', '@DIR@/log']\n"
                "    depends_on: { db: started }\n"
                "  db:\n"
                "    command: ['@HELPER@', 'run', 'db', '@DIR@/log']\n");
    cr_assert(h_wait_file(&H, "log", 3, H_WAIT));
    /* Started in dependency order: each after the one it depends on. */
    long db = h_find_event(&H, 0, "service started", "db");
    long api = h_find_event(&H, 0, "service started", "api");
    long app = h_find_event(&H, 0, "service started", "app");
    cr_expect(db >= 0 && db < api && api < app, "start order %ld %ld %ld", db,
              api, app);
    h_signal(&H, SIGTERM);
    cr_expect_eq(h_wait_exit(&H, 10), 0);
    /*
     * Stopped in reverse: each only after its dependents have exited.
     * app takes 300ms to stop; api signalled at once would stop first.
     */
    const char *log = h_wait_file(&H, "log", 6, 1);
    cr_assert(log);
    const char *stops = strstr(log, "stop ");
    cr_assert(stops, "%s", log);
    char order[3][16];
    for (int i = 0; i < 3; i++) {
        cr_assert_eq(sscanf(stops, "stop %15s", order[i]), 1, "%s", log);
        stops = strchr(stops, '\n') + 1;
    }
    const char *want[] = {"app", "api", "db"};
    for (int i = 0; i < 3; i++)
        cr_expect_str_eq(order[i], want[i], "stop %d of:\n%s", i + 1, log);
}

T(service_ignoring_sigterm_is_killed_after_stop_timeout, 20)
{
    h_start(&H, "services:\n"
                "  main:\n"
                "    role: main\n"
                "    stop_timeout: 300ms\n"
                "    command: ['@HELPER@', 'run', 'main', '@DIR@/log',"
                " 'ignore-term']\n");
    cr_assert(h_wait_file(&H, "log", 1, H_WAIT));
    double t0 = h_now();
    h_signal(&H, SIGTERM);
    cr_expect_eq(h_wait_exit(&H, 10), 137);
    cr_expect_geq(h_now() - t0, 0.3);
    cr_expect_geq(
        h_find_event(&H, 0, "service did not stop in time; killing it", "main"),
        0);
}

T(no_grandchild_survives_a_stop, 20)
{
    h_start(&H, "services:\n"
                "  main:\n"
                "    role: main\n"
                "    stop_timeout: 500ms\n"
                "    command: ['@HELPER@', 'tree', '@DIR@/tree']\n");
    const char *text = h_wait_file(&H, "tree", 1, H_WAIT);
    cr_assert(text);
    int leader;
    int child;
    cr_assert_eq(sscanf(text, "%d %d", &leader, &child), 2);
    cr_assert(h_pid_alive(child));
    /* The leader dies; its group goes with it, sidecar still running. */
    cr_assert(kill(leader, SIGKILL) == 0);
    cr_expect(h_wait_pid_dead(child, H_WAIT),
              "grandchild %d outlived its leader", child);
    cr_expect(!H.exited);
    /* And on a stop: TERM to the group, which the grandchild ignores; it
     * has the group's stop_timeout, then SIGKILL. */
    text = h_wait_file(&H, "tree", 1, H_WAIT);
    long i = h_wait_event(&H, 0, H_WAIT, "service will restart", "main");
    cr_assert_geq(i, 0);
    i = h_wait_event(&H, (size_t)i, H_WAIT, "service started", "main");
    cr_assert_geq(i, 0);
    int leader2 = 0;
    int child2 = 0;
    double deadline = h_now() + H_WAIT;
    while (h_now() < deadline && leader2 != (int)h_int(&H, i, "pid", -1)) {
        text = h_wait_file(&H, "tree", 1, 1);
        if (text && sscanf(text, "%d %d", &leader2, &child2) != 2)
            leader2 = 0;
    }
    cr_assert_eq(leader2, h_int(&H, i, "pid", -1));
    h_signal(&H, SIGTERM);
    cr_expect_eq(h_wait_exit(&H, 10), 128 + SIGTERM);
    cr_expect(h_wait_pid_dead(child2, H_WAIT), "grandchild %d survived a stop",
              child2);
    cr_expect_geq(
        h_find_event(&H, 0, "service did not stop in time; killing it", "main"),
        0);
}

T(orphaned_grandchild_is_reaped, 20)
{
    h_start(&H, "services:\n"
                "  main:\n"
                "    role: main\n"
                "    command: ['@HELPER@', 'run', 'main', '@DIR@/log']\n"
                "  forker:\n"
                "    restart: never\n"
                "    command: ['@HELPER@', 'orphan', '3', '@DIR@/gc']\n");
    const char *text = h_wait_file(&H, "gc", 1, H_WAIT);
    cr_assert(text);
    int gc = atoi(text);
    cr_assert_gt(gc, 0);
    /* Its parent exited: as subreaper, sidecar is its parent now. */
    double deadline = h_now() + H_WAIT;
    while (h_parent_of(gc) != H.pid && h_now() < deadline)
        usleep(5000);
    cr_expect_eq(h_parent_of(gc), H.pid, "orphan not adopted by sidecar");
    /* It lives 3s in its own session; sidecar must reap it, not leave a
     * zombie behind, while sidecar itself keeps running. */
    cr_expect(h_wait_pid_reaped(gc, H_WAIT), "orphan %d was not reaped", gc);
    cr_expect(!H.exited);
    h_signal(&H, SIGTERM);
    cr_expect_eq(h_wait_exit(&H, 10), 0);
}

T(children_die_with_a_sigkilled_sidecar, 20)
{
    h_start(&H, "services:\n"
                "  main:\n"
                "    role: main\n"
                "    command: ['@HELPER@', 'run', 'main', '@DIR@/log']\n");
    long i;
    long pid = started_pid(0, H_WAIT, "main", &i);
    cr_assert(h_wait_file(&H, "log", 1, H_WAIT));
    h_signal(&H, SIGKILL);
    cr_expect_eq(h_wait_exit(&H, H_WAIT), 137);
    cr_expect(h_wait_pid_dead((pid_t)pid, H_WAIT), "child %ld outlived sidecar",
              pid);
}

/* SIGHUP reloads sidecar; it reaches only a service that lists it. */
T(sighup_reloads_and_reaches_only_who_lists_it, 20)
{
    h_start(&H, "services:\n"
                "  main:\n"
                "    role: main\n"
                "    restart: never\n"
                "    command: ['@HELPER@', 'run', 'main', '@DIR@/log']\n"
                "  taker:\n"
                "    restart: never\n"
                "    forward_signals: [SIGHUP]\n"
                "    command: ['@HELPER@', 'run', 'taker', '@DIR@/log']\n");
    cr_assert(h_wait_file(&H, "log", 2, H_WAIT));
    long i;
    long pid = started_pid(0, H_WAIT, "main", &i);
    /* Both running, not just starting (which gets no signal): ready. */
    char b[256];
    cr_assert(h_wait_status(&H, "/readyz", 200, b, sizeof(b), H_WAIT),
              "not ready: %s", b);
    h_signal(&H, SIGHUP);
    long r = h_wait_event(&H, 0, H_WAIT, "config reloaded", NULL);
    cr_assert_geq(r, 0, "SIGHUP did not reload the config");
    cr_expect_str_eq(h_str(&H, r, "trigger"), "SIGHUP");
    /* fakesvc does not handle SIGHUP, so the one that takes it dies. */
    long exit = h_wait_event(&H, 0, H_WAIT, "service exited", "taker");
    cr_assert_geq(exit, 0);
    cr_expect_eq(h_int(&H, exit, "exit_code", -1), 128 + SIGHUP);
    cr_expect_geq(h_find_event(&H, 0, "forwarded signal", "taker"), 0);
    cr_expect_lt(h_find_event(&H, 0, "forwarded signal", "main"), 0);
    cr_expect(h_pid_alive((pid_t)pid), "main got SIGHUP");
    cr_expect_lt(h_find_event(&H, 0, "service exited", "main"), 0);
}

/* A signal outside the default two reaches the service that lists it;
 * SIGQUIT would end a sidecar that is not PID 1 if it were not watched. */
T(any_listed_signal_is_forwarded, 20)
{
    h_start(&H, "services:\n"
                "  main:\n"
                "    role: main\n"
                "    restart: never\n"
                "    forward_signals: [SIGQUIT]\n"
                "    command: ['@HELPER@', 'run', 'main', '@DIR@/log']\n");
    cr_assert(h_wait_file(&H, "log", 1, H_WAIT));
    h_signal(&H, SIGUSR1); /* not listed: logged and ignored */
    cr_assert_geq(h_wait_event(&H, 0, H_WAIT,
                               "signal ignored: no running service takes it",
                               NULL),
                  0);
    h_signal(&H, SIGQUIT);
    cr_expect_eq(h_wait_exit(&H, 10), 128 + SIGQUIT);
    long i = h_find_event(&H, 0, "forwarded signal", "main");
    cr_assert_geq(i, 0);
    cr_expect_str_eq(h_str(&H, i, "signal"), "SIGQUIT");
}

T(each_service_runs_in_its_own_process_group_with_clean_signals, 20)
{
    h_start(
        &H,
        "services:\n"
        "  main:\n"
        "    role: main\n"
        "    restart: never\n"
        "    env: { GREETING: hello }\n"
        "    cwd: /tmp\n"
        "    umask: '027'\n"
        "    command: >-\n"
        "      echo \"pgid=$(ps -o pgid= $$$$ | tr -d ' ') pid=$$$$\";\n"
        "      grep -E '^Sig(Blk|Ign)' /proc/self/status;\n"
        "      echo \"env=$GREETING cwd=$(pwd)\";\n"
        "      ls -l /proc/self/fd | grep -c -- '->';\n"
        "      echo \"stdin=$(readlink /proc/self/fd/0) umask=$(umask)\"\n");
    cr_expect_eq(h_wait_exit(&H, 10), 0);
    long i = h_find_event(&H, 0, "service started", "main");
    long pid = h_int(&H, i, "pid", -1);
    char want[64];
    snprintf(want, sizeof(want), "pgid=%ld pid=%ld", pid, pid);
    bool pg = false;
    bool blk = false;
    bool ign = false;
    bool env = false;
    bool fds = false;
    bool stdin_umask = false;
    for (size_t k = 0; k < H.count; k++) {
        const char *m = h_str(&H, (long)k, "msg");
        if (!m || !h_str(&H, (long)k, "stream"))
            continue;
        pg |= strcmp(m, want) == 0;
        blk |= strcmp(m, "SigBlk:\t0000000000000000") == 0;
        ign |= strcmp(m, "SigIgn:\t0000000000000000") == 0;
        env |= strcmp(m, "env=hello cwd=/tmp") == 0;
        /* ls sees 0, 1, 2 and its own directory fd: nothing of sidecar's */
        fds |= strcmp(m, "4") == 0;
        stdin_umask |= strcmp(m, "stdin=/dev/null umask=0027") == 0;
    }
    cr_expect(pg, "not its own process group (want '%s')", want);
    cr_expect(blk, "signal mask not reset");
    cr_expect(ign, "ignored signals not reset");
    for (size_t k = 0; k < H.count && !ign; k++)
        if (strstr(H.raw[k], "Sig"))
            cr_log_error("%s", H.raw[k]);
    cr_expect(env, "env/cwd not applied");
    cr_expect(fds, "descriptors leaked into the child");
    cr_expect(stdin_umask, "stdin is not /dev/null or umask not applied");
}

T(runs_as_configured_user, 20)
{
    if (geteuid() != 0)
        cr_skip_test("needs root");
    h_start(&H, "services:\n"
                "  main:\n"
                "    role: main\n"
                "    restart: never\n"
                "    user: nobody\n"
                "    command: 'echo \"uid=$(id -u) home=$HOME\"'\n");
    cr_expect_eq(h_wait_exit(&H, 10), 0);
    bool seen = false;
    for (size_t k = 0; k < H.count; k++) {
        const char *m = h_str(&H, (long)k, "msg");
        seen |= m && strcmp(m, "uid=65534 home=/nonexistent") == 0;
    }
    cr_expect(seen, "did not run as nobody");
}

T(exec_failure_is_reported_and_counts_as_exit_127, 20)
{
    h_start(&H, "services:\n"
                "  main:\n"
                "    role: main\n"
                "    restart: never\n"
                "    command: ['/nonexistent/binary']\n");
    cr_expect_eq(h_wait_exit(&H, 10), 127);
    long i = h_find_event(&H, 0, "service failed to start", "main");
    cr_assert_geq(i, 0);
    cr_expect_str_eq(h_str(&H, i, "error"), "exec: No such file or directory");
}

T(children_with_a_user_die_with_a_sigkilled_sidecar, 20)
{
    if (geteuid() != 0)
        cr_skip_test("needs root");
    h_start(&H, "services:\n"
                "  main:\n"
                "    role: main\n"
                "    user: nobody\n"
                "    command: ['sleep', '1000']\n");
    long i;
    long pid = started_pid(0, H_WAIT, "main", &i);
    /* Wait for the exec: by then the uid has changed. */
    cr_assert(h_wait_comm((pid_t)pid, "sleep", H_WAIT));
    h_signal(&H, SIGKILL);
    cr_expect_eq(h_wait_exit(&H, H_WAIT), 137);
    cr_expect(h_wait_pid_dead((pid_t)pid, H_WAIT), "child %ld outlived sidecar",
              pid);
}

T(main_waiting_on_a_failed_dependency_takes_sidecar_down, 20)
{
    h_start(&H, "services:\n"
                "  main:\n"
                "    role: main\n"
                "    command: ['@HELPER@', 'run', 'main', '@DIR@/log']\n"
                "    depends_on: [db]\n"
                "  db:\n"
                "    command: ['/nonexistent/db']\n"
                "    backoff: { initial: 0s }\n"
                "    max_restarts: 1\n");
    int code = h_wait_exit(&H, 10);
    cr_expect_eq(code, 1, "exit %d", code);
    long i =
        h_find_event(&H, 0, "dependency failed; service cannot start", "main");
    cr_assert_geq(i, 0);
    cr_expect_str_eq(h_str(&H, i, "dependency"), "db");
    cr_expect_eq(h_find_event(&H, 0, "service started", "main"), -1);
}

T(crash_looping_main_never_exits_0, 20)
{
    h_start(&H, "services:\n"
                "  main:\n"
                "    role: main\n"
                "    command: ['true']\n"
                "    backoff: { initial: 0s }\n"
                "    max_restarts: 2\n");
    cr_expect_eq(h_wait_exit(&H, 10), 1);
}

T(a_writer_left_in_the_group_cannot_stall_sidecar, 30)
{
    /* The leader exits while a background writer floods the pipe. */
    h_start(&H, "services:\n"
                "  main:\n"
                "    role: main\n"
                "    restart: never\n"
                "    command: '(while :; do echo x; done) & sleep 0.2; "
                "exit 3'\n");
    cr_expect_eq(h_wait_exit(&H, 20), 3);
    cr_expect_eq(H.invalid, 0);
}

T(path_is_searched_in_the_services_own_environment, 20)
{
    /* Only the service's PATH has the helpers' directory. */
    h_start(&H, "services:\n"
                "  main:\n"
                "    role: main\n"
                "    restart: never\n"
                "    env: { PATH: '@HELPERDIR@:/usr/bin:/bin' }\n"
                "    command: ['fakesvc', 'exit', '4']\n");
    cr_expect_eq(h_wait_exit(&H, 10), 4);
}
