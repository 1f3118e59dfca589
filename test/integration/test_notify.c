/*
 * ready: notify (issue 18): a service says when it is ready through its
 * NOTIFY_SOCKET, and what it says is what the endpoints, the log and the
 * dependencies see. The services are fakesvc's notify mode, which sends
 * datagrams as sd_notify(3) does, step by step as the test touches files.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "harness.h"

static struct harness H;
static char body[16384];

static void teardown(void)
{
    h_cleanup(&H);
}

#define T(name, secs) Test(notify, name, .timeout = secs, .fini = teardown)

T(a_dependent_waits_until_its_dependency_says_ready, 30)
{
    h_start(&H,
            "services:\n"
            "  cache:\n"
            "    ready: notify\n"
            "    command: ['@HELPER@', 'notify', 'cache', '@DIR@/log',\n"
            "              '@@DIR@/go', 'READY=1|STATUS=serving 3 clients']\n"
            "  app:\n"
            "    role: main\n"
            "    depends_on: { cache: started }\n"
            "    command: ['@HELPER@', 'run', 'app', '@DIR@/log']\n");
    long i = h_wait_event(&H, 0, H_WAIT,
                          "service executed; waiting for it to say it is ready",
                          "cache");
    cr_assert_geq(i, 0);
    cr_expect_eq(h_str(&H, i, "notify_socket")[0], '@');
    cr_expect_eq(h_int(&H, i, "ready_timeout_ms", 0), 60000);
    cr_assert_eq(h_get(&H, "/health/details", body, sizeof(body)), 200);
    cr_expect(strstr(body, "\"name\":\"cache\",\"role\":\"helper\","
                           "\"state\":\"starting\""),
              "%s", body);
    cr_expect(strstr(body, "\"name\":\"app\",\"role\":\"main\","
                           "\"state\":\"waiting\""),
              "%s", body);
    cr_expect_eq(h_find_event(&H, 0, "service started", "cache"), -1);
    h_touch(&H, "go");
    long app = h_wait_event(&H, i, H_WAIT, "service started", "app");
    cr_assert_geq(app, 0);
    long cache = h_find_event(&H, i, "service started", "cache");
    cr_assert_geq(cache, 0);
    cr_expect_lt(cache, app);
    const char *log = h_wait_text(&H, "log", "start app", H_WAIT);
    cr_assert(log);
    cr_expect_lt(strstr(log, "start cache"), strstr(log, "start app"));
    cr_assert(h_wait_status(&H, "/readyz", 200, body, sizeof(body), H_WAIT));
    cr_assert_eq(h_get(&H, "/health/details", body, sizeof(body)), 200);
    cr_expect(strstr(body, "\"status_text\":\"serving 3 clients\""), "%s",
              body);
    char url[64];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d", h_http_port(&H));
    const char *args[] = {"status", "--url", url, NULL};
    char out[8192];
    h_run(args, out, sizeof(out), 10);
    cr_expect(strstr(out, "status: serving 3 clients"), "%s", out);
}

T(a_start_never_ready_fails_through_the_restart_policy, 30)
{
    /* fakesvc exits 0 on SIGTERM: on-failure restarts it all the same. */
    h_start(&H, "services:\n"
                "  mute:\n"
                "    ready: notify\n"
                "    ready_timeout: 300ms\n"
                "    restart: on-failure\n"
                "    backoff: { initial: 10ms }\n"
                "    command: ['@HELPER@', 'notify', 'mute', '@DIR@/log']\n"
                "  app:\n"
                "    role: main\n"
                "    command: ['@HELPER@', 'run', 'app', '@DIR@/log']\n");
    long i = h_wait_event(&H, 0, H_WAIT,
                          "service did not say it is ready in time; stopping "
                          "it",
                          "mute");
    cr_assert_geq(i, 0);
    cr_expect_eq(h_int(&H, i, "ready_timeout_ms", 0), 300);
    cr_assert_geq(h_wait_event(&H, i, H_WAIT, "service will restart", "mute"),
                  0);
    cr_expect_eq(h_find_event(&H, 0, "service started", "mute"), -1);
}

T(reloading_takes_readyz_down_until_ready_again, 30)
{
    h_start(&H, "services:\n"
                "  app:\n"
                "    role: main\n"
                "    ready: notify\n"
                "    command: ['@HELPER@', 'notify', 'app', '@DIR@/log',\n"
                "              'READY=1', '@@DIR@/reload', 'RELOADING=1',\n"
                "              '@@DIR@/done', 'READY=1|STATUS=reloaded']\n");
    cr_assert(h_wait_status(&H, "/readyz", 200, body, sizeof(body), H_WAIT));
    h_touch(&H, "reload");
    cr_assert(
        h_wait_status(&H, "/readyz?verbose", 503, body, sizeof(body), H_WAIT));
    cr_expect(strstr(body, "service:app"), "%s", body);
    cr_expect(strstr(body, "reloading"), "%s", body);
    cr_expect(h_wait_status(&H, "/livez", 200, body, sizeof(body), 1));
    h_touch(&H, "done");
    cr_assert(h_wait_status(&H, "/readyz", 200, body, sizeof(body), H_WAIT));
    cr_expect_geq(h_wait_event(&H, 0, H_WAIT, "service is ready again", "app"),
                  0);
}

/* Sends text to the abstract address "@..." from this test's own pid. */
static void send_foreign(const char *addr, const char *text)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    size_t alen = strlen(addr);
    memcpy(sa.sun_path, addr, alen);
    sa.sun_path[0] = '\0';
    int fd = socket(AF_UNIX, SOCK_DGRAM, 0);
    cr_assert_geq(fd, 0);
    socklen_t salen =
        (socklen_t)(offsetof(struct sockaddr_un, sun_path) + alen);
    cr_expect_eq(
        sendto(fd, text, strlen(text), 0, (struct sockaddr *)&sa, salen),
        (ssize_t)strlen(text));
    close(fd);
}

T(another_process_cannot_say_ready_for_a_service, 30)
{
    h_start(&H, "services:\n"
                "  app:\n"
                "    role: main\n"
                "    ready: notify\n"
                "    command: ['@HELPER@', 'notify', 'app', '@DIR@/log',\n"
                "              '@@DIR@/go', 'READY=1']\n");
    long i = h_wait_event(&H, 0, H_WAIT,
                          "service executed; waiting for it to say it is ready",
                          "app");
    cr_assert_geq(i, 0);
    char addr[64];
    snprintf(addr, sizeof(addr), "%s", h_str(&H, i, "notify_socket"));
    send_foreign(addr, "READY=1");
    send_foreign(addr, "READY=1\nMAINPID=1");
    cr_assert(h_wait_status(&H, "/metrics", 200, body, sizeof(body), H_WAIT));
    for (int k = 0;
         k < 200 && h_metric(body, "sidecar_service_notify_dropped_total{"
                                   "service=\"app\",reason=\"foreign\"}") < 2;
         k++) {
        usleep(20 * 1000);
        h_get(&H, "/metrics", body, sizeof(body));
    }
    cr_expect_eq(h_metric(body, "sidecar_service_notify_dropped_total{"
                                "service=\"app\",reason=\"foreign\"}"),
                 2);
    cr_assert_eq(h_get(&H, "/health/details", body, sizeof(body)), 200);
    cr_expect(strstr(body, "\"state\":\"starting\""), "%s", body);
    h_touch(&H, "go");
    cr_expect_geq(h_wait_event(&H, i, H_WAIT, "service started", "app"), 0);
}

/* ---- ready: {fd: N}, s6's notification-fd ---- */

T(a_newline_on_the_descriptor_is_ready, 30)
{
    h_start(&H, "services:\n"
                "  s6:\n"
                "    ready: {fd: 7}\n"
                "    command: 'ls /proc/$$$$/fd > @DIR@/fds; until [ -e "
                "@DIR@/go ]; do sleep 0.02; done; echo >&7; exec sleep 100'\n"
                "  app:\n"
                "    role: main\n"
                "    depends_on: { s6: started }\n"
                "    command: ['@HELPER@', 'run', 'app', '@DIR@/log']\n");
    const char *fds = h_wait_file(&H, "fds", 4, H_WAIT);
    cr_assert(fds);
    /* stdio and N, nothing of sidecar's; a shell saves stdout at >= 10
     * for the redirection. */
    int seen7 = 0;
    for (const char *p = fds; *p; p = strchr(p, '\n') + 1) {
        int fd = atoi(p);
        cr_expect(fd <= 2 || fd == 7 || fd >= 10, "fd %d: %s", fd, fds);
        seen7 += fd == 7;
    }
    cr_expect_eq(seen7, 1, "%s", fds);
    cr_assert_eq(h_get(&H, "/health/details", body, sizeof(body)), 200);
    cr_expect(strstr(body, "\"name\":\"s6\",\"role\":\"helper\","
                           "\"state\":\"starting\""),
              "%s", body);
    cr_expect_eq(h_find_event(&H, 0, "service started", "app"), -1);
    h_touch(&H, "go");
    long app = h_wait_event(&H, 0, H_WAIT, "service started", "app");
    cr_assert_geq(app, 0);
    long s6 = h_find_event(&H, 0, "service started", "s6");
    cr_assert_geq(s6, 0);
    cr_expect_lt(s6, app);
}

T(eof_before_ready_leaves_it_to_ready_timeout, 30)
{
    h_start(&H, "services:\n"
                "  shut:\n"
                "    ready: {fd: 3}\n"
                "    ready_timeout: 500ms\n"
                "    restart: never\n"
                "    command: 'exec 3>&-; exec sleep 100'\n"
                "  app:\n"
                "    role: main\n"
                "    command: ['@HELPER@', 'run', 'app', '@DIR@/log']\n");
    long i = h_wait_event(&H, 0, H_WAIT,
                          "service closed its readiness descriptor before it "
                          "was ready",
                          "shut");
    cr_assert_geq(i, 0);
    cr_expect_eq(h_int(&H, i, "fd", 0), 3);
    long t = h_wait_event(&H, i, H_WAIT,
                          "service did not say it is ready in time; stopping "
                          "it",
                          "shut");
    cr_assert_geq(t, 0);
    cr_expect_geq(h_ts_ms(&H, t) - h_ts_ms(&H, i), 300);
    cr_assert(
        h_wait_status(&H, "/health/details", 200, body, sizeof(body), H_WAIT));
    for (int k = 0; k < 200 && !strstr(body, "\"state\":\"exited\""); k++) {
        usleep(20 * 1000);
        h_get(&H, "/health/details", body, sizeof(body));
    }
    cr_expect(strstr(body, "\"name\":\"shut\",\"role\":\"helper\","
                           "\"state\":\"exited\""),
              "%s", body);
}

/* ---- MAINPID=: a daemon that forks ---- */

/* The pid fakesvc wrote in its "start NAME PID" line. */
static long started_pid(const char *log, const char *name)
{
    char key[64];
    snprintf(key, sizeof(key), "start %s ", name);
    const char *p = strstr(log, key);
    return p ? atol(p + strlen(key)) : -1;
}

T(a_forking_daemon_is_supervised_through_its_mainpid, 40)
{
    h_start(&H, "services:\n"
                "  daemon:\n"
                "    ready: notify\n"
                "    backoff: { initial: 10ms }\n"
                "    command: ['@HELPER@', 'fork', 'daemon', '@DIR@/log', "
                "'bad']\n"
                "  app:\n"
                "    role: main\n"
                "    depends_on: { daemon: started }\n"
                "    command: ['@HELPER@', 'run', 'app', '@DIR@/log']\n");
    long refused =
        h_wait_event(&H, 0, H_WAIT,
                     "MAINPID refused: not a process of the service", "daemon");
    cr_assert_geq(refused, 0);
    cr_expect_eq(h_int(&H, refused, "main_pid", 0), H.pid);
    long adopted = h_wait_event(
        &H, 0, H_WAIT,
        "service's first process exited; supervising its MAINPID", "daemon");
    cr_assert_geq(adopted, 0);
    cr_expect_eq(h_int(&H, adopted, "exit_code", -1), 0);
    const char *log = h_wait_text(&H, "log", "start app", H_WAIT);
    cr_assert(log);
    long main_pid = started_pid(log, "daemon");
    cr_assert_gt(main_pid, 0);
    cr_expect_eq(h_int(&H, adopted, "main_pid", 0), main_pid);
    cr_expect_eq(h_parent_of((pid_t)main_pid), H.pid, "reparented to sidecar");
    cr_assert_eq(h_get(&H, "/health/details", body, sizeof(body)), 200);
    char want[96];
    snprintf(want, sizeof(want),
             "\"name\":\"daemon\",\"role\":\"helper\",\"state\":\"running\","
             "\"essential\":false,\"pid\":%ld",
             main_pid);
    cr_expect(strstr(body, want), "%s", body);
    /* Its end is the service's: logged with its pid, then restarted. */
    size_t from = h_mark(&H);
    cr_assert_eq(kill((pid_t)main_pid, SIGKILL), 0);
    long ex = h_wait_event(&H, from, H_WAIT, "service exited", "daemon");
    cr_assert_geq(ex, 0);
    cr_expect_eq(h_int(&H, ex, "pid", 0), main_pid);
    cr_expect_geq(
        h_wait_event(&H, ex, H_WAIT, "service will restart", "daemon"), 0);
    /* A stop reaches the new main process through the group. */
    long again = h_wait_event(
        &H, ex, H_WAIT,
        "service's first process exited; supervising its MAINPID", "daemon");
    cr_assert_geq(again, 0);
    h_signal(&H, SIGTERM);
    cr_assert_geq(h_wait_exit(&H, H_WAIT), 0);
    char stop[64];
    snprintf(stop, sizeof(stop), "stop daemon %lld",
             h_int(&H, again, "main_pid", 0));
    cr_expect(h_wait_text(&H, "log", stop, H_WAIT), "%s",
              h_read_file(h_path(&H, "log")));
}

/* ---- watchdog ---- */

T(a_silent_watchdog_aborts_and_restarts_the_service, 40)
{
    h_start(&H, "services:\n"
                "  dog:\n"
                "    role: main\n"
                "    ready: notify\n"
                "    watchdog: 400ms\n"
                "    backoff: { initial: 10ms }\n"
                "    command: 'echo $$WATCHDOG_USEC $$WATCHDOG_PID $$$$ >> "
                "@DIR@/env; exec @HELPER@ notify dog @DIR@/log READY=1 +200 "
                "WATCHDOG=1 +200 WATCHDOG=1 +200 WATCHDOG=1'\n");
    long ready = h_wait_event(&H, 0, H_WAIT, "service started", "dog");
    cr_assert_geq(ready, 0);
    long t = h_wait_event(&H, ready, H_WAIT, "watchdog timeout", "dog");
    cr_assert_geq(t, 0);
    cr_expect_eq(h_str(&H, t, "level")[0], 'w');
    cr_expect_eq(h_int(&H, t, "watchdog_ms", 0), 400);
    /* Three pings 200 ms apart held it: 600 ms, then 400 ms of silence. */
    long long after = h_ts_ms(&H, t) - h_ts_ms(&H, ready);
    cr_expect_geq(after, 900, "fired %lld ms after ready", after);
    long ex = h_wait_event(&H, t, H_WAIT, "service exited", "dog");
    cr_assert_geq(ex, 0);
    cr_expect_str_eq(h_str(&H, ex, "signal"), "SIGABRT");
    cr_expect_geq(h_wait_event(&H, ex, H_WAIT, "service will restart", "dog"),
                  0);
    const char *env = h_wait_file(&H, "env", 1, H_WAIT);
    cr_assert(env);
    long usec = 0, pid = 0, self = 0;
    cr_assert_eq(sscanf(env, "%ld %ld %ld", &usec, &pid, &self), 3, "%s", env);
    cr_expect_eq(usec, 400000);
    cr_expect_eq(pid, self, "WATCHDOG_PID is the service's pid: %s", env);
}

T(watchdog_needs_ready_notify, 10)
{
    const char *cfg = h_temp_file("services:\n"
                                  "  a:\n"
                                  "    role: main\n"
                                  "    command: sleep 1\n"
                                  "    watchdog: 10s\n");
    char out[1024];
    const char *args[] = {"check", "--no-machine", "-c", cfg, NULL};
    cr_expect_eq(h_run(args, out, sizeof(out), 10), 2);
    cr_expect(strstr(out, ":5:15: service 'a': watchdog needs 'ready: notify'"),
              "%s", out);
}

/* ---- real programs, hostile senders ---- */

T(redis_says_ready_before_its_dependent_starts, 40)
{
    if (system("command -v redis-server >/dev/null && "
               "command -v redis-cli >/dev/null") != 0)
        cr_skip_test("redis-server and redis-cli are not installed");
    /* Debian's redis-server speaks sd_notify with --supervised systemd. */
    h_start(&H, "services:\n"
                "  cache:\n"
                "    ready: notify\n"
                "    cwd: @DIR@\n"
                "    command: \"redis-server --supervised systemd --save '' "
                "--port 0 --unixsocket @DIR@/redis.sock\"\n"
                "  app:\n"
                "    role: main\n"
                "    depends_on: { cache: started }\n"
                "    command: 'redis-cli -s @DIR@/redis.sock ping > "
                "@DIR@/pong 2>&1; exec @HELPER@ run app @DIR@/log'\n");
    long app = h_wait_event(&H, 0, H_WAIT, "service started", "app");
    cr_assert_geq(app, 0);
    long cache = h_find_event(&H, 0, "service started", "cache");
    cr_assert_geq(cache, 0);
    cr_expect_lt(cache, app);
    const char *pong = h_wait_file(&H, "pong", 1, H_WAIT);
    cr_assert(pong);
    cr_expect_str_eq(pong, "PONG\n", "redis answered its first dependent");
    cr_assert_eq(h_get(&H, "/health/details", body, sizeof(body)), 200);
    cr_expect(strstr(body, "\"status_text\":\"Ready to accept connections"),
              "%s", body);
}

T(hostile_datagrams_are_counted_and_ignored_while_serving, 60)
{
    h_start(&H, "services:\n"
                "  evil:\n"
                "    role: main\n"
                "    ready: notify\n"
                "    command: ['@HELPER@', 'hostile', '@DIR@/log', '20000']\n");
    /* The loop keeps serving while the flood lasts. */
    int served = 0;
    double end = h_now() + H_WAIT;
    while (h_now() < end &&
           h_find_event(&H, 0, "service started", "evil") < 0) {
        cr_assert_eq(h_get(&H, "/livez", body, sizeof(body)), 200);
        served++;
        h_pump(&H, 0.01);
    }
    cr_assert_geq(h_wait_event(&H, 0, H_WAIT, "service started", "evil"), 0);
    cr_expect_gt(served, 0);
    cr_expect(h_wait_text(&H, "log", "passed-fd closed", H_WAIT),
              "sidecar kept a descriptor the service passed");
    char series[160];
    static const char *const reasons[] = {"malformed", "oversized"};
    for (size_t r = 0; r < 2; r++) {
        snprintf(series, sizeof(series),
                 "sidecar_service_notify_dropped_total{service=\"evil\","
                 "reason=\"%s\"}",
                 reasons[r]);
        double v = 0;
        for (int k = 0; k < 100 && v < (r == 0 ? 2 : 1); k++) {
            h_get(&H, "/metrics", body, sizeof(body));
            v = h_metric(body, series);
            usleep(20 * 1000);
        }
        cr_expect_eq(v, r == 0 ? 2 : 1, "%s: %g", reasons[r], v);
    }
    cr_assert_eq(h_get(&H, "/health/details", body, sizeof(body)), 200);
    cr_expect(strstr(body, "\"status_text\":\"survived\""), "%s", body);
    cr_expect_eq(h_get(&H, "/livez", body, sizeof(body)), 200);
}
