/*
 * Issue 14, item 1: a command string must keep its graceful stop. A string
 * with shell syntax runs under /bin/sh, which dies at SIGTERM at once
 * while the program it started is still in its handler: the whole process
 * group keeps stop_timeout, counted from the stop signal, and its output
 * is relayed meanwhile. A simple string runs without a shell at all.
 */
#define _DEFAULT_SOURCE
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

static struct harness H;

static void teardown(void)
{
    h_cleanup(&H);
}

#define T(name, secs)                                                          \
    Test(newuser_stop, name, .timeout = secs, .fini = teardown)

#define WAITED     "waiting for the rest of the service's process group"
#define GROUP_GONE "service's process group exited"
#define TOO_LATE   "service did not stop in time; killing it"

/* A program that traps SIGTERM, says so, takes 1 s, says "done", exits 0,
 * started by a shell that cannot exec it (the "; exit 3" follows). */
#define GRACEFUL_UNDER_SH                                                      \
    "    command: \"@HELPER@ run app @DIR@/log graceful; exit 3\"\n"

/* The pid fakesvc wrote in its "start app PID" line. */
static int program_pid(void)
{
    const char *text = h_wait_text(&H, "log", "start app", H_WAIT);
    cr_assert(text, "the program did not start");
    int pid = 0;
    cr_assert_eq(sscanf(strstr(text, "start app"), "start app %d", &pid), 1);
    return pid;
}

/* First line at or after from of service whose msg contains text; -1. */
static long find_containing(size_t from, const char *service, const char *text)
{
    for (size_t i = from; i < H.count; i++) {
        const char *msg = h_str(&H, (long)i, "msg");
        const char *svc = h_str(&H, (long)i, "service");
        if (msg && svc && strcmp(svc, service) == 0 && strstr(msg, text))
            return (long)i;
    }
    return -1;
}

/* Same, waiting up to timeout_s for it. */
static long wait_containing(size_t from, const char *service, const char *text,
                            double timeout_s)
{
    double deadline = h_now() + timeout_s;
    for (;;) {
        long i = find_containing(from, service, text);
        if (i >= 0 || h_now() >= deadline || !h_pump(&H, 0.1))
            return i >= 0 ? i : find_containing(from, service, text);
    }
}

/* The pid of the "service started" of service at or after from. */
static pid_t started_pid(size_t from, const char *service, long *idx)
{
    *idx = h_wait_event(&H, from, H_WAIT, "service started", service);
    cr_assert_geq(*idx, 0, "%s did not start", service);
    return (pid_t)h_int(&H, *idx, "pid", -1);
}

T(sh_string_program_finishes_its_sigterm_handler_on_stop, 30)
{
    h_start(&H, "services:\n"
                "  app:\n"
                "    role: main\n" GRACEFUL_UNDER_SH);
    int program = program_pid();
    long st;
    pid_t leader = started_pid(0, "app", &st);
    cr_assert(h_wait_comm(leader, "sh", H_WAIT), "sh does not lead");
    cr_assert_neq(leader, program);

    h_signal(&H, SIGTERM);
    /* The service's code is its leader's: sh, killed by SIGTERM. */
    cr_expect_eq(h_wait_exit(&H, H_WAIT), 128 + SIGTERM);

    long exited = h_find_event(&H, 0, "service exited", "app");
    cr_assert_geq(exited, 0);
    cr_expect_eq(h_int(&H, exited, "pid", -1), leader);
    cr_expect_str_eq(h_str(&H, exited, "signal"), "SIGTERM");
    long waited = h_find_event(&H, (size_t)exited, WAITED, "app");
    cr_assert_geq(waited, 0, "no line says the group is waited for");
    char pid_text[16];
    snprintf(pid_text, sizeof(pid_text), "%d", program);
    cr_expect(strstr(h_str(&H, waited, "left"), pid_text), "left: %s",
              h_str(&H, waited, "left"));
    /* Its shutdown lines are relayed, after the leader's exit. */
    long stopping = h_find_event(&H, 0, "stopping app", "app");
    long done = h_find_event(&H, 0, "done app", "app");
    cr_expect_geq(stopping, 0, "the program's first shutdown line is lost");
    cr_assert_geq(done, 0, "the program's last line is lost: killed?");
    cr_expect_str_eq(h_str(&H, done, "stream"), "stdout");
    cr_expect_gt(done, exited);
    long gone = h_find_event(&H, (size_t)done, GROUP_GONE, "app");
    cr_assert_geq(gone, 0, "no line says the group is gone");
    cr_expect_geq(h_int(&H, gone, "since_stop_ms", -1), 900,
                  "the program takes 1 s");
    cr_expect_gt(h_find_event(&H, (size_t)gone, "sidecar exiting", NULL), gone);
    /* Its handler ran to its end: it was not SIGKILLed. */
    cr_expect(strstr(h_read_file(h_path(&H, "log")), "stop app"),
              "the program's SIGTERM handler did not finish");
    cr_expect_lt(h_find_event(&H, 0, TOO_LATE, "app"), 0);
    cr_expect(h_wait_pid_reaped((pid_t)program, H_WAIT));
}

T(restart_waits_for_the_whole_group_before_starting_again, 40)
{
    static const char token[] = "restart-token-0123456789";
    h_start(&H, "http:\n"
                "  listen: 127.0.0.1:0\n"
                "  token: restart-token-0123456789\n"
                "services:\n"
                "  app:\n"
                "    role: main\n"
                "    backoff: { initial: 0s }\n" GRACEFUL_UNDER_SH);
    int first = program_pid();
    long st;
    (void)started_pid(0, "app", &st);
    char body[512];
    cr_assert_eq(h_post_at(h_http_port(&H), "/services/app/restart", token, "",
                           body, sizeof(body)),
                 202, "%s", body);
    long again;
    pid_t leader2 = started_pid((size_t)st + 1, "app", &again);
    cr_assert(leader2 > 0);

    long done = h_find_event(&H, (size_t)st, "done app", "app");
    cr_assert_geq(done, 0, "the first program's last line is lost");
    long gone = h_find_event(&H, (size_t)done, GROUP_GONE, "app");
    cr_assert_geq(gone, 0);
    cr_expect_lt(gone, again,
                 "the new process started before the group "
                 "of the old one was gone");
    const char *log = h_wait_file(&H, "log", 3, H_WAIT);
    cr_assert(log, "the new program did not start");
    const char *stop = strstr(log, "stop app");
    cr_assert(stop, "the first program's handler did not finish:\n%s", log);
    cr_expect(strstr(stop, "start app"), "no start after the stop:\n%s", log);
    cr_expect(h_wait_pid_reaped((pid_t)first, H_WAIT));

    h_signal(&H, SIGTERM);
    cr_expect_eq(h_wait_exit(&H, H_WAIT), 128 + SIGTERM);
}

/*
 * The shell traps SIGTERM and leaves 1 s after it; the program it started
 * ignores SIGTERM. It is SIGKILLed stop_timeout (2 s) after the stop
 * signal, not 2 s after its leader left.
 */
T(group_member_ignoring_sigterm_is_killed_at_stop_timeout, 30)
{
    h_start(&H, "services:\n"
                "  app:\n"
                "    role: main\n"
                "    stop_timeout: 2s\n"
                "    command: \"trap 'sleep 1; exit 0' TERM; "
                "@HELPER@ run app @DIR@/log ignore-term & wait\"\n");
    int program = program_pid();
    h_signal(&H, SIGTERM);
    /* The leader's code: its trap exits 0, whatever became of the rest. */
    cr_expect_eq(h_wait_exit(&H, H_WAIT), 0);

    long stop = h_find_event(&H, 0, "stopping service", "app");
    long exited = h_find_event(&H, 0, "service exited", "app");
    long kill = h_find_event(&H, 0, TOO_LATE, "app");
    cr_assert_geq(stop, 0);
    cr_assert_geq(exited, 0);
    cr_assert_geq(kill, 0,
                  "the program left after its leader was not "
                  "killed at stop_timeout");
    cr_expect_eq(h_int(&H, exited, "exit_code", -1), 0);
    cr_expect_gt(kill, exited, "the leader left 1 s after the signal");
    long long exit_ms = h_ts_ms(&H, exited) - h_ts_ms(&H, stop);
    long long kill_ms = h_ts_ms(&H, kill) - h_ts_ms(&H, stop);
    cr_expect_geq(exit_ms, 900, "the leader's trap takes 1 s");
    /* From the stop signal: not before 2 s less a margin, and well before
     * the 3 s that counting from the leader's exit would make. */
    cr_expect_geq(kill_ms, 1900, "killed %lld ms after the stop", kill_ms);
    cr_expect_lt(kill_ms, 2900, "killed %lld ms after the stop", kill_ms);
    char pid_text[16];
    snprintf(pid_text, sizeof(pid_text), "%d", program);
    const char *left = h_str(&H, kill, "left");
    cr_expect(left && strstr(left, pid_text), "left: %s", left);
    cr_expect_geq(h_find_event(&H, (size_t)kill, GROUP_GONE, "app"), 0);
    cr_expect(h_wait_pid_reaped((pid_t)program, H_WAIT));
    cr_expect(!strstr(h_read_file(h_path(&H, "log")), "stop app"));
}

T(simple_string_runs_the_program_itself, 30)
{
    /* Blanks around and between the words, a tab among them. */
    h_start(&H, "services:\n"
                "  app:\n"
                "    role: main\n"
                "    command: \"  @HELPER@\trun app  @DIR@/log \"\n");
    int program = program_pid();
    long st;
    pid_t leader = started_pid(0, "app", &st);
    cr_expect_eq(leader, program, "the service's process is not the program");
    cr_expect(h_wait_comm(leader, "fakesvc", H_WAIT));
    char body[8192];
    cr_assert_eq(h_get(&H, "/health/details", body, sizeof(body)), 200);
    char want[48];
    snprintf(want, sizeof(want), "\"pid\":%d", program);
    cr_expect(strstr(body, want), "%s not in %s", want, body);

    h_signal(&H, SIGTERM);
    /* The program's own code: it exits 0 on SIGTERM. */
    cr_expect_eq(h_wait_exit(&H, H_WAIT), 0);
    cr_expect(strstr(h_read_file(h_path(&H, "log")), "stop app"));
    cr_expect_lt(h_find_event(&H, 0, WAITED, "app"), 0,
                 "a program that leads its group leaves nothing to wait for");
}

/* Exec probes take the same commands: no sh to say "not found". */
T(exec_probe_simple_string_runs_without_a_shell, 20)
{
    h_start(&H, "probes:\n"
                "  p:\n"
                "    type: exec\n"
                "    command: \"no-such-program-for-sidecar --check\"\n"
                "    period: 1s\n"
                "    timeout: 900ms\n"
                "    failure_threshold: 1\n");
    size_t from = 0;
    long i = h_wait_probe_state(&H, &from, "p", "failing", H_WAIT);
    cr_assert_geq(i, 0);
    cr_expect_str_eq(h_str(&H, i, "reason"),
                     "cannot run: exec: No such file or directory");
    h_signal(&H, SIGTERM);
    cr_expect_eq(h_wait_exit(&H, H_WAIT), 0);
}

/* True when name is an executable file in a directory of $PATH. */
static bool on_path(const char *name)
{
    const char *path = getenv("PATH");
    while (path && *path) {
        size_t len = strcspn(path, ":");
        char file[4096];
        snprintf(file, sizeof(file), "%.*s/%s", (int)len, path, name);
        if (len && access(file, X_OK) == 0)
            return true;
        path += len + (path[len] == ':');
    }
    return false;
}

/*
 * Real redis-server under /bin/sh, as the README's example ran it before
 * it said exec (sh leads, its SIGTERM is the service's status), and with
 * exec (redis leads and gives its own status). Both shut down cleanly.
 */
static void redis_stops_cleanly(const char *exec, int code)
{
    if (!on_path("redis-server"))
        cr_skip_test("redis-server is not installed; nothing to check");
    char yaml[512];
    snprintf(yaml, sizeof(yaml),
             "services:\n"
             "  cache:\n"
             "    role: main\n"
             "    cwd: @DIR@\n"
             "    command: \"%sredis-server --save '' --port 0 "
             "--unixsocket @DIR@/redis.sock\"\n",
             exec);
    h_start(&H, yaml);
    /* 7.0 on a socket: "The server is now ready to accept connections
     * at PATH"; 7.2 and later: "Ready to accept connections unix". */
    cr_assert_geq(
        wait_containing(0, "cache", "eady to accept connections", H_WAIT), 0,
        "redis did not start");
    h_signal(&H, SIGTERM);
    cr_expect_eq(h_wait_exit(&H, H_WAIT), code);
    long got = find_containing(0, "cache", "Received SIGTERM");
    long bye = find_containing(0, "cache", "ready to exit, bye bye");
    cr_expect_geq(got, 0, "redis did not log its SIGTERM");
    cr_expect_geq(bye, 0, "redis was killed before its shutdown ended");
    cr_expect_gt(bye, got);
    cr_expect_lt(h_find_event(&H, 0, TOO_LATE, "cache"), 0);
}

T(redis_server_under_sh_shuts_down_cleanly, 40)
{
    redis_stops_cleanly("", 128 + SIGTERM);
}

T(redis_server_after_exec_shuts_down_cleanly_and_gives_its_status, 40)
{
    redis_stops_cleanly("exec ", 0);
}
