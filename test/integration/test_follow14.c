/*
 * Follow-up of issue 14's review: a stop whose main process outlives its
 * SIGKILL (stuck in the kernel) is waited for, and sidecar says so once
 * rather than re-arming its timer silently every 5 s. A frozen cgroup v1
 * freezer holds the process in the kernel (state D) as a hung NFS mount
 * would, until the test thaws it.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

#define FREEZER "/sys/fs/cgroup/freezer"
#define STUCK                                                                  \
    "process cannot be killed: it is stuck in the kernel; waiting for it"

static struct harness H;
static char cgroup[128]; /* the test's freezer cgroup, once made */

/* Writes text to file of the test's cgroup; false when it cannot. */
static bool put(const char *file, const char *text)
{
    char path[192];
    snprintf(path, sizeof(path), "%s/%s", cgroup, file);
    FILE *f = fopen(path, "w");
    if (!f)
        return false;
    bool ok = fputs(text, f) >= 0;
    return fclose(f) == 0 && ok;
}

/* True when the cgroup's freezer.state reads want. */
static bool state_is(const char *want)
{
    char path[192];
    char got[32] = "";
    snprintf(path, sizeof(path), "%s/freezer.state", cgroup);
    FILE *f = fopen(path, "r");
    if (!f)
        return false;
    bool read = fgets(got, sizeof(got), f) != NULL;
    fclose(f);
    return read && strncmp(got, want, strlen(want)) == 0;
}

static void pause_briefly(void)
{
    nanosleep(&(struct timespec){.tv_nsec = 10 * 1000 * 1000}, NULL);
}

/* The state letter of pid in /proc (R, S, D...), or '?'. */
static char proc_state(long pid)
{
    char path[64];
    char line[512];
    snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return '?';
    char *end = fgets(line, sizeof(line), f) ? strrchr(line, ')') : NULL;
    fclose(f);
    return end && end[1] == ' ' ? end[2] : '?';
}

static void teardown(void)
{
    if (cgroup[0])
        put("freezer.state", "THAWED");
    h_cleanup(&H);
    /* Its process is gone once thawed: the cgroup empties. */
    double deadline = h_now() + H_WAIT;
    while (cgroup[0] && rmdir(cgroup) < 0 && errno == EBUSY &&
           h_now() < deadline)
        pause_briefly();
}

#define T(name, secs) Test(follow14, name, .timeout = secs, .fini = teardown)

T(a_main_process_stuck_in_the_kernel_is_reported_once, 60)
{
    if (geteuid() != 0)
        cr_skip_test("needs root to make a freezer cgroup");
    snprintf(cgroup, sizeof(cgroup), FREEZER "/sidecar-test-%ld",
             (long)getpid());
    if (mkdir(cgroup, 0755) < 0) {
        cgroup[0] = '\0';
        cr_skip_test("no cgroup v1 freezer here (%s): %s", FREEZER,
                     strerror(errno));
    }
    h_start(&H, "services:\n"
                "  app:\n"
                "    role: main\n"
                "    stop_timeout: 200ms\n"
                "    command: ['@HELPER@', 'run', 'app', '@DIR@/log', "
                "'ignore-term']\n");
    long started = h_wait_event(&H, 0, H_WAIT, "service started", "app");
    cr_assert_geq(started, 0);
    /* SIGTERM ignored from then on: only the SIGKILL is fatal. */
    cr_assert(h_wait_text(&H, "log", "start app", H_WAIT));
    long pid = (long)h_int(&H, started, "pid", -1);
    char text[32];
    snprintf(text, sizeof(text), "%ld\n", pid);
    cr_assert(put("cgroup.procs", text), "cannot move %ld: %s", pid,
              strerror(errno));
    cr_assert(put("freezer.state", "FROZEN\n"));
    double deadline = h_now() + H_WAIT;
    while (!state_is("FROZEN") && h_now() < deadline)
        pause_briefly();
    cr_assert(state_is("FROZEN"), "the cgroup did not freeze");
    cr_expect_eq(proc_state(pid), 'D', "frozen, yet not in the kernel");

    h_signal(&H, SIGTERM);
    long killed =
        h_wait_event(&H, (size_t)started, H_WAIT,
                     "service did not stop in time; killing it", "app");
    cr_assert_geq(killed, 0);
    long stuck = h_wait_event(&H, (size_t)killed, H_WAIT, STUCK, "app");
    cr_assert_geq(stuck, 0, "nothing says the process outlives SIGKILL");
    cr_expect_str_eq(h_str(&H, stuck, "level"), "warn");
    cr_expect_eq(h_int(&H, stuck, "pid", -1), pid);
    /* The next check, 5 s on, finds it there still and says nothing. */
    double quiet_until = h_now() + 6.0;
    while (h_now() < quiet_until)
        h_pump(&H, quiet_until - h_now());
    cr_expect_eq(h_count_events(&H, 0, STUCK, NULL), 1, "said more than once");
    cr_expect_eq(h_count_events(&H, 0, "service exited", "app"), 0);

    /* Thawed, it dies of the SIGKILL, and sidecar exits with it. */
    cr_assert(put("freezer.state", "THAWED\n"));
    cr_expect_eq(h_wait_exit(&H, H_WAIT), 137);
}
