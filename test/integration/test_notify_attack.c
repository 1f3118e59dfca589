/*
 * ready: notify from outside (issue 18): what sidecar's own environment
 * and a service's odd order of messages do to what users see.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

static struct harness H;
static char body[16384];

static void teardown(void)
{
    h_cleanup(&H);
}

#define T(name, secs) Test(notify, name, .timeout = secs, .fini = teardown)

/*
 * sidecar run by systemd (Type=notify) or podman --sdnotify=container has
 * a NOTIFY_SOCKET of its own: it names sidecar's supervisor, and a service
 * that is not ready: notify (redis-server's `supervised auto`, say) would
 * tell that supervisor it is ready on sidecar's behalf.
 */
T(sidecars_own_notify_socket_is_not_passed_on, 30)
{
    cr_assert_eq(setenv("NOTIFY_SOCKET", "@sidecars-supervisor", 1), 0);
    cr_assert_eq(setenv("WATCHDOG_USEC", "5000000", 1), 0);
    cr_assert_eq(setenv("WATCHDOG_PID", "1", 1), 0);
    h_start(&H, "services:\n"
                "  plain:\n"
                "    role: main\n"
                "    command: 'echo \"[$${NOTIFY_SOCKET-unset}]"
                " [$${WATCHDOG_USEC-unset}] [$${WATCHDOG_PID-unset}]\""
                " > @DIR@/env; exec sleep 30'\n"
                "  told:\n"
                "    env: { NOTIFY_SOCKET: '@mine' }\n"
                "    command: 'echo \"[$$NOTIFY_SOCKET]\" > @DIR@/told;"
                " exec sleep 30'\n");
    const char *env = h_wait_file(&H, "env", 1, H_WAIT);
    cr_assert(env);
    cr_expect(strstr(env, "[unset] [unset] [unset]"), "%s", env);
    /* A service's own env says what it means: kept. */
    const char *told = h_wait_file(&H, "told", 1, H_WAIT);
    cr_assert(told);
    cr_expect(strstr(told, "[@mine]"), "%s", told);
}

/* RELOADING=1 before the first READY=1: that READY=1 ends it too. */
T(reloading_before_the_first_ready_does_not_outlive_it, 30)
{
    h_start(&H, "services:\n"
                "  app:\n"
                "    role: main\n"
                "    ready: notify\n"
                "    command: ['@HELPER@', 'notify', 'app', '@DIR@/log',\n"
                "              'RELOADING=1', '@@DIR@/go', 'READY=1']\n");
    cr_assert_geq(
        h_wait_event(&H, 0, H_WAIT, "service says it is not ready", "app"), 0);
    h_touch(&H, "go");
    cr_assert_geq(h_wait_event(&H, 0, H_WAIT, "service started", "app"), 0);
    cr_expect(
        h_wait_status(&H, "/readyz?verbose", 200, body, sizeof(body), H_WAIT),
        "%s", body);
    cr_assert_eq(h_get(&H, "/health/details", body, sizeof(body)), 200);
    cr_expect(strstr(body, "\"not_ready\":null"), "%s", body);
}

/*
 * MAINPID= names a process of the group whose own parent still runs (a
 * grandchild of the first process): it is never sidecar's child, so its
 * exit could not be seen, and a stop would wait for it forever ("stuck in
 * the kernel"). Refused when the first process exits: the run ends then.
 */
T(a_mainpid_sidecar_cannot_wait_for_is_refused, 30)
{
    h_start(&H, "services:\n"
                "  d:\n"
                "    ready: notify\n"
                "    restart: never\n"
                "    command: ['sh', '-c', '(sleep 30 & echo $$! > @DIR@/main;"
                " wait) & until [ -s @DIR@/main ]; do sleep 0.02; done;"
                " @HELPER@ notify n @DIR@/log"
                " \"MAINPID=$$(cat @DIR@/main)|READY=1\" &"
                " until [ -e @DIR@/go ]; do sleep 0.02; done']\n"
                "  app:\n"
                "    role: main\n"
                "    command: ['@HELPER@', 'run', 'app', '@DIR@/log']\n");
    long named =
        h_wait_event(&H, 0, H_WAIT, "service named its main process", "d");
    cr_assert_geq(named, 0);
    cr_assert_geq(h_wait_event(&H, named, H_WAIT, "service started", "d"), 0);
    h_touch(&H, "go");
    long ex = h_wait_event(&H, named, H_WAIT, "service exited", "d");
    cr_assert_geq(ex, 0, "its end was never seen");
    cr_expect_eq(h_find_event(&H, named,
                              "service's first process exited; supervising "
                              "its MAINPID",
                              "d"),
                 -1);
    long refused = h_find_event(
        &H, named, "MAINPID refused: sidecar cannot wait for it", "d");
    cr_expect_geq(refused, 0);
    cr_expect_eq(h_int(&H, refused, "main_pid", 0),
                 h_int(&H, named, "main_pid", -1));
    h_signal(&H, SIGTERM);
    cr_expect_geq(h_wait_exit(&H, H_WAIT), 0);
}

/*
 * MAINPID= names a child of the first process that left its group with
 * setsid (a daemon's usual fork): a stop signals the group, and must
 * reach that process too, not leave it to SIGKILL after stop_timeout.
 */
T(a_stop_reaches_a_mainpid_outside_the_group, 30)
{
    h_start(&H, "services:\n"
                "  d:\n"
                "    ready: notify\n"
                "    restart: never\n"
                "    stop_timeout: 3s\n"
                "    command: ['sh', '-c', 'setsid sleep 300 & m=$$!;"
                " @HELPER@ notify n @DIR@/log \"MAINPID=$$m|READY=1\" &"
                " until [ -e @DIR@/go ]; do sleep 0.02; done']\n"
                "  app:\n"
                "    role: main\n"
                "    command: ['@HELPER@', 'run', 'app', '@DIR@/log']\n");
    long named =
        h_wait_event(&H, 0, H_WAIT, "service named its main process", "d");
    cr_assert_geq(named, 0);
    h_touch(&H, "go");
    long adopted = h_wait_event(
        &H, named, H_WAIT,
        "service's first process exited; supervising its MAINPID", "d");
    cr_assert_geq(adopted, 0);
    h_signal(&H, SIGTERM);
    long ex = h_wait_event(&H, adopted, H_WAIT, "service exited", "d");
    cr_assert_geq(ex, 0);
    cr_expect_eq(h_int(&H, ex, "pid", 0), h_int(&H, named, "main_pid", -1));
    cr_expect_str_eq(h_str(&H, ex, "signal"), "SIGTERM");
    cr_expect_eq(h_find_event(&H, adopted,
                              "service did not stop in time; killing it", "d"),
                 -1);
    cr_expect_geq(h_wait_exit(&H, H_WAIT), 0);
}

/*
 * STATUS= is the service's own text: `sidecar status` prints it to a
 * terminal, where U+009B (CSI, a C1 control: bytes C2 9B) starts an escape
 * sequence as ESC [ does in xterm and others.
 */
T(sidecar_status_prints_no_c1_control_of_a_status, 30)
{
    h_start(&H,
            "services:\n"
            "  app:\n"
            "    role: main\n"
            "    ready: notify\n"
            "    command: ['@HELPER@', 'notify', 'app', '@DIR@/log',\n"
            "              \"STATUS=a\\u009b2Jb\\u0085c\\u00e9|READY=1\"]\n");
    cr_assert_geq(h_wait_event(&H, 0, H_WAIT, "service started", "app"), 0);
    char url[64];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d", h_http_port(&H));
    const char *args[] = {"status", "--url", url, NULL};
    char out[8192];
    h_run(args, out, sizeof(out), 10);
    cr_expect(strstr(out, "status: a?2Jb?c\xc3\xa9\n"), "%s", out);
    cr_expect_null(strstr(out, "\xc2\x9b"), "%s", out);
}

/*
 * Service app (started, ready_timeout 500ms) says it is ready once
 * @DIR@/go exists, then writes @DIR@/sent. sidecar is stopped meanwhile,
 * until the timeout has passed: the ready must still win.
 */
static void expect_ready_read_before_the_timeout(void)
{
    long i = h_wait_event(&H, 0, H_WAIT,
                          "service executed; waiting for it to say it is ready",
                          "app");
    cr_assert_geq(i, 0);
    cr_assert_eq(kill(H.pid, SIGSTOP), 0);
    h_touch(&H, "go");
    const char *sent = h_wait_file(&H, "sent", 1, H_WAIT);
    usleep(700 * 1000); /* ready_timeout passes while sidecar is stopped */
    cr_assert_eq(kill(H.pid, SIGCONT), 0);
    cr_assert(sent);
    cr_expect_geq(h_wait_event(&H, i, H_WAIT, "service started", "app"), 0);
    cr_expect_eq(h_find_event(&H, i,
                              "service did not say it is ready in time; "
                              "stopping it",
                              "app"),
                 -1);
}

/*
 * A READY=1 sent within ready_timeout counts, even when sidecar reads it
 * only once the timeout is over too (sidecar starved of CPU: a container's
 * CPU limit, here a SIGSTOP): the timer then fired first.
 */
T(a_ready_sent_in_time_is_read_before_the_timeout_acts, 30)
{
    h_start(&H, "services:\n"
                "  app:\n"
                "    role: main\n"
                "    ready: notify\n"
                "    ready_timeout: 500ms\n"
                "    command: ['@HELPER@', 'notify', 'app', '@DIR@/log',\n"
                "              '@@DIR@/go', 'READY=1', '>@DIR@/sent']\n");
    expect_ready_read_before_the_timeout();
}

/* The same with ready: {fd: N}: the newline is in the pipe in time. */
T(a_ready_newline_written_in_time_is_read_before_the_timeout_acts, 30)
{
    h_start(&H, "services:\n"
                "  app:\n"
                "    role: main\n"
                "    ready: {fd: 5}\n"
                "    ready_timeout: 500ms\n"
                "    command: ['sh', '-c', 'until [ -e @DIR@/go ]; do sleep "
                "0.01; done; echo >&5; echo > @DIR@/sent; exec sleep 60']\n");
    expect_ready_read_before_the_timeout();
}

/*
 * MAINPID= names a process that dies, and its pid goes to another process
 * that is sidecar's child when the leader exits (set up here through
 * ns_last_pid): that is not the process the service named, and adopting
 * it would supervise, and signal, a stranger.
 */
T(a_mainpid_whose_pid_was_reused_is_refused, 30)
{
    if (geteuid() != 0 || access("/proc/sys/kernel/ns_last_pid", W_OK) != 0)
        cr_skip_test("needs root to set ns_last_pid");
    h_start(&H, "services:\n"
                "  d:\n"
                "    ready: notify\n"
                "    restart: never\n"
                "    command: ['sh', '-c', 'sleep 30 & c=$$!;"
                " @HELPER@ notify n @DIR@/log \"MAINPID=$$c|READY=1\" &"
                " until [ -e @DIR@/go ]; do sleep 0.02; done;"
                " kill $$c; wait $$c; i=0; while [ $$i -lt 200 ]; do"
                " echo $$((c - 1)) > /proc/sys/kernel/ns_last_pid;"
                " sleep 30 & d=$$!; [ $$d = $$c ] && break; kill $$d;"
                " i=$$((i + 1)); done;"
                " [ $$d = $$c ] && touch @DIR@/reused']\n"
                "  app:\n"
                "    role: main\n"
                "    command: ['@HELPER@', 'run', 'app', '@DIR@/log']\n");
    long named =
        h_wait_event(&H, 0, H_WAIT, "service named its main process", "d");
    cr_assert_geq(named, 0);
    cr_assert_geq(h_wait_event(&H, named, H_WAIT, "service started", "d"), 0);
    h_touch(&H, "go");
    long ex = h_wait_event(&H, named, H_WAIT, "service exited", "d");
    cr_assert_geq(ex, 0, "its end was never seen");
    if (access(h_path(&H, "reused"), F_OK) != 0)
        cr_skip_test("the pid could not be given again in 200 tries");
    cr_expect_eq(h_find_event(&H, named,
                              "service's first process exited; supervising "
                              "its MAINPID",
                              "d"),
                 -1, "a stranger with the named pid was adopted");
    cr_expect_geq(h_find_event(&H, named,
                               "MAINPID refused: that process is gone, its "
                               "pid reused",
                               "d"),
                  0);
    h_signal(&H, SIGTERM);
    cr_expect_geq(h_wait_exit(&H, H_WAIT), 0);
}
