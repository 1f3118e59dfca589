/*
 * What the process around sidecar can do to it: launch it with signals
 * blocked or ignored, SIGKILL it, step the wall clock under it.
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
    Test(hostile_process, name, .timeout = secs, .fini = teardown)

/* The signals a launcher may pass on blocked or ignored (tini's tests). */
static const int inherited[] = {SIGCHLD, SIGTERM, SIGUSR1};

/*
 * Starts sidecar with inherited[] blocked (or, with ignore, set to
 * SIG_IGN): both survive fork and exec. The test process gets its own
 * state back once sidecar is forked.
 */
static void start_with_signals(const char *yaml, bool ignore)
{
    sigset_t set;
    sigset_t old;
    struct sigaction ign = {.sa_handler = SIG_IGN};
    struct sigaction saved[sizeof(inherited) / sizeof(inherited[0])];
    sigemptyset(&set);
    for (size_t i = 0; i < sizeof(inherited) / sizeof(inherited[0]); i++) {
        sigaddset(&set, inherited[i]);
        if (ignore)
            cr_assert(sigaction(inherited[i], &ign, &saved[i]) == 0);
    }
    if (!ignore)
        cr_assert(sigprocmask(SIG_BLOCK, &set, &old) == 0);
    h_start(&H, yaml);
    for (size_t i = 0; ignore && i < sizeof(inherited) / sizeof(inherited[0]);
         i++)
        cr_assert(sigaction(inherited[i], &saved[i], NULL) == 0);
    if (!ignore)
        cr_assert(sigprocmask(SIG_SETMASK, &old, NULL) == 0);
}

static void exits_with_main_status(bool ignore)
{
    start_with_signals("services:\n"
                       "  main:\n"
                       "    role: main\n"
                       "    restart: never\n"
                       "    command: ['@HELPER@', 'exit', '7']\n",
                       ignore);
    cr_expect_eq(h_wait_exit(&H, 15), 7,
                 "the main service's exit was not reaped");
}

static void forwards_and_stops(bool ignore)
{
    start_with_signals(
        "services:\n"
        "  main:\n"
        "    role: main\n"
        "    restart: never\n"
        "    forward_signals: [SIGUSR1]\n"
        "    command: ['@HELPER@', 'run', 'main', '@DIR@/log', 'log-usr1']\n",
        ignore);
    cr_assert(h_wait_file(&H, "log", 1, 10));
    /* Running, not just starting (which gets no signal): ready. */
    char b[256];
    double end = h_now() + 10;
    while (h_get(&H, "/readyz", b, sizeof(b)) != 200 && h_now() < end)
        h_pump(&H, 0.05);
    cr_assert_eq(h_get(&H, "/readyz", b, sizeof(b)), 200, "not ready: %s", b);
    h_signal(&H, SIGUSR1);
    const char *log = h_wait_file(&H, "log", 2, 10);
    cr_expect(log && strstr(log, "usr1 main"), "SIGUSR1 not forwarded: %s",
              log ? log : "(no second line)");
    h_signal(&H, SIGTERM);
    cr_expect_eq(h_wait_exit(&H, 15), 0, "SIGTERM did not stop sidecar");
}

T(exits_with_main_status_when_launched_with_signals_blocked, 30)
{
    exits_with_main_status(false);
}

T(exits_with_main_status_when_launched_with_signals_ignored, 30)
{
    exits_with_main_status(true);
}

T(forwards_and_stops_when_launched_with_signals_blocked, 40)
{
    forwards_and_stops(false);
}

T(forwards_and_stops_when_launched_with_signals_ignored, 40)
{
    forwards_and_stops(true);
}
