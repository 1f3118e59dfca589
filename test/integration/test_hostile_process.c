/*
 * What the process around sidecar can do to it: launch it with signals
 * blocked or ignored, SIGKILL it, step the wall clock under it.
 */
#define _DEFAULT_SOURCE
#include <criterion/criterion.h>
#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

static struct harness H;
static char offset_file[64]; /* libfaketime's, when a test made one */

static void teardown(void)
{
    h_cleanup(&H);
    if (offset_file[0])
        unlink(offset_file);
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
    cr_expect_eq(h_wait_exit(&H, H_WAIT), 7,
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
    cr_assert(h_wait_file(&H, "log", 1, H_WAIT));
    /* Running, not just starting (which gets no signal): ready. */
    char b[256];
    cr_assert(h_wait_status(&H, "/readyz", 200, b, sizeof(b), H_WAIT),
              "not ready: %s", b);
    h_signal(&H, SIGUSR1);
    const char *log = h_wait_file(&H, "log", 2, H_WAIT);
    cr_expect(log && strstr(log, "usr1 main"), "SIGUSR1 not forwarded: %s",
              log ? log : "(no second line)");
    h_signal(&H, SIGTERM);
    cr_expect_eq(h_wait_exit(&H, H_WAIT), 0, "SIGTERM did not stop sidecar");
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

/* libfaketime, from the Debian package (scripts/deps.sh test). */
static const char *faketime_lib(void)
{
    static const char *const candidates[] = {
        "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1",
        "/usr/lib/aarch64-linux-gnu/faketime/libfaketime.so.1",
        "/usr/lib/faketime/libfaketime.so.1",
    };
    const char *env = getenv("SIDECAR_FAKETIME_LIB");
    if (env && *env)
        return env;
    for (size_t i = 0; i < sizeof(candidates) / sizeof(candidates[0]); i++) {
        if (access(candidates[i], R_OK) == 0)
            return candidates[i];
    }
    return NULL;
}

/* Sets the wall-clock offset libfaketime reads on every call. */
static void set_clock_offset(const char *path, const char *offset)
{
    char line[64];
    snprintf(line, sizeof(line), "%s\n", offset);
    h_put_file(path, line);
}

/* sidecar's own uptime_s from /health/details, or -1. */
static double sidecar_uptime(void)
{
    char body[8192];
    if (h_get(&H, "/health/details", body, sizeof(body)) != 200)
        return -1;
    json_t *d = json_loads(body, 0, NULL);
    double up = d ? json_number_value(json_object_get(d, "uptime_s")) : -1;
    json_decref(d);
    return up;
}

/*
 * A service that exits every 1.6 s stays within 3 restarts in 2 s, and
 * keeps doing so when the wall clock steps back an hour: restart windows
 * and uptimes are measured on the monotonic clock.
 */
T(wall_clock_step_back_changes_no_duration, 60)
{
    const char *lib = faketime_lib();
    cr_assert(lib, "libfaketime not found: install faketime "
                   "(sh scripts/deps.sh test) or set SIDECAR_FAKETIME_LIB");
    snprintf(offset_file, sizeof(offset_file), "/tmp/sidecar-faketime-XXXXXX");
    int fd = mkstemp(offset_file);
    cr_assert(fd >= 0);
    close(fd);
    set_clock_offset(offset_file, "+0");
    /* Only sidecar's wall clock moves; its monotonic clock does not. */
    setenv("LD_PRELOAD", lib, 1);
    setenv("FAKETIME_TIMESTAMP_FILE", offset_file, 1);
    setenv("FAKETIME_NO_CACHE", "1", 1);
    setenv("FAKETIME_DONT_FAKE_MONOTONIC", "1", 1);
    char asan[512];
    const char *old_asan = getenv("ASAN_OPTIONS");
    snprintf(asan, sizeof(asan), "%s%sverify_asan_link_order=0",
             old_asan ? old_asan : "", old_asan ? ":" : "");
    setenv("ASAN_OPTIONS", asan, 1);
    h_start(&H, "services:\n"
                "  main:\n"
                "    role: main\n"
                "    restart: always\n"
                "    max_restarts: 3\n"
                "    restart_window: 2s\n"
                "    backoff: { initial: 0s }\n"
                "    env: { LD_PRELOAD: '' }\n"
                "    command: 'sleep 1.6; exit 1'\n");
    unsetenv("LD_PRELOAD");
    /* Three restarts fill the window's ring: from now on each exit is
     * checked against the restart three back. */
    size_t from = 0;
    for (int i = 0; i < 3; i++) {
        long r = h_wait_event(&H, from, H_WAIT, "service will restart", "main");
        cr_assert_geq(r, 0, "restart %d did not come", i + 1);
        from = (size_t)r + 1;
    }
    long long before_step = h_ts_ms(&H, (long)from - 1);
    double up_before = sidecar_uptime();
    cr_assert_gt(up_before, 0, "no uptime in /health/details");
    set_clock_offset(offset_file, "-3600");
    size_t stepped_at = from;
    for (int i = 0; i < 2; i++) {
        long r = h_wait_event(&H, from, H_WAIT, "service will restart", "main");
        cr_expect_geq(r, 0, "restart after the clock step did not come");
        if (r < 0)
            break;
        from = (size_t)r + 1;
    }
    /* The step reached sidecar: its log's timestamps went an hour back
     * (or forward by nearly a day, past midnight). */
    long long step = h_ts_ms(&H, (long)from - 1) - before_step;
    cr_expect(from == stepped_at || step < -3000000 || step > 80000000,
              "the wall clock did not step (%lld ms)", step);
    cr_expect_lt(
        h_find_event(&H, 0, "service is crash-looping; giving up", "main"), 0,
        "the clock step was taken for a crash loop");
    /* The uptime went on growing (details are re-rendered each second). */
    double up_after = -1;
    double end = h_now() + H_WAIT;
    while (h_now() < end) {
        up_after = sidecar_uptime();
        if (up_after > up_before + 4.0)
            break;
        h_pump(&H, 0.1);
    }
    cr_expect_gt(up_after, up_before + 4.0,
                 "uptime_s went from %.3f to %.3f across the clock step",
                 up_before, up_after);
    h_signal(&H, SIGTERM);
    cr_expect_neq(h_wait_exit(&H, H_WAIT), -1);
}

/* The SigIgn mask of pid (bit N-1 for signal N), 0 if unreadable. */
static unsigned long long sig_ignored(pid_t pid)
{
    char path[64];
    char line[128];
    unsigned long long mask = 0;
    snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    while (fgets(line, sizeof(line), f)) {
        if (sscanf(line, "SigIgn: %llx", &mask) == 1)
            break;
    }
    fclose(f);
    return mask;
}

/*
 * The descriptors of pid from 3 to 1023, as "fd:target " in out: all that
 * sidecar has in these tests; memcheck keeps its own far above (near
 * 20000, a log file and a pipe).
 */
static int extra_fds(pid_t pid, char *out, size_t len)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
    DIR *d = opendir(path);
    if (!d)
        return -1;
    int n = 0;
    struct dirent *de;
    out[0] = '\0';
    while ((de = readdir(d))) {
        int fd = atoi(de->d_name);
        char link[128];
        char target[128] = "";
        if (de->d_name[0] == '.' || fd <= 2 || fd >= 1024)
            continue;
        snprintf(link, sizeof(link), "%s/%d", path, fd);
        ssize_t got = readlink(link, target, sizeof(target) - 1);
        if (got > 0)
            target[got] = '\0';
        n++;
        size_t used = strlen(out);
        snprintf(out + used, len - used, "%d:%s ", fd, target);
    }
    closedir(d);
    return n;
}

/*
 * SIGKILL of sidecar (not PID 1): the service's main process dies by
 * PR_SET_PDEATHSIG and the guard SIGKILLs its process group, so an
 * ordinary child of the service goes too. A child that detached into a
 * session of its own is out of reach and survives (as documented).
 */
T(sigkill_of_sidecar_takes_down_a_services_ordinary_children, 40)
{
    h_start(&H, "services:\n"
                "  main:\n"
                "    role: main\n"
                "    restart: never\n"
                "    command: ['@HELPER@', 'family', '@DIR@/pids']\n");
    const char *pids = h_wait_file(&H, "pids", 1, H_WAIT);
    cr_assert(pids, "the service did not fork its children");
    int ordinary = 0;
    int detached = 0;
    cr_assert_eq(sscanf(pids, "%d %d", &ordinary, &detached), 2, "%s", pids);
    h_signal(&H, SIGKILL);
    cr_expect_eq(h_wait_exit(&H, H_WAIT), 137);
    cr_expect(h_wait_pid_dead((pid_t)ordinary, H_WAIT),
              "the service's ordinary child %d outlived sidecar", ordinary);
    cr_expect(h_pid_alive((pid_t)detached),
              "the detached child %d is expected to survive", detached);
    kill((pid_t)detached, SIGKILL);
    cr_expect(h_wait_pid_dead((pid_t)detached, H_WAIT));
}

/*
 * The guard holds nothing of sidecar's but its pipe, shrugs off the
 * signals a terminal or a group kill would send, and leaves with sidecar.
 */
T(guard_holds_only_its_pipe_ignores_stop_signals_and_leaves_with_sidecar, 40)
{
    h_start(&H, "services:\n"
                "  main:\n"
                "    role: main\n"
                "    command: ['@HELPER@', 'run', 'main', '@DIR@/log']\n");
    cr_assert(h_wait_file(&H, "log", 1, H_WAIT));
    pid_t guard = h_wait_child(&H, H.pid, "sidecar-guard", H_WAIT);
    cr_assert(guard > 0, "no sidecar-guard child");
    char extra[512];
    cr_expect_eq(extra_fds(guard, extra, sizeof(extra)), 0,
                 "the guard holds more than 0-2: %s", extra);
    char path[64];
    char target[64] = "";
    snprintf(path, sizeof(path), "/proc/%d/fd/0", (int)guard);
    cr_expect(readlink(path, target, sizeof(target) - 1) > 0 &&
                  strncmp(target, "pipe:", 5) == 0,
              "the guard's stdin is %s, not its pipe", target);
    /* Ignored, so discarded as they are sent: kill() cannot end it. */
    static const int stop[] = {SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1};
    unsigned long long ignored = sig_ignored(guard);
    for (size_t i = 0; i < sizeof(stop) / sizeof(stop[0]); i++) {
        cr_expect(ignored & (1ULL << (stop[i] - 1)),
                  "the guard does not ignore signal %d", stop[i]);
        cr_assert(kill(guard, stop[i]) == 0);
    }
    cr_expect(h_pid_alive(guard), "a stop signal ended the guard");
    h_signal(&H, SIGTERM);
    cr_expect_eq(h_wait_exit(&H, H_WAIT), 0);
    cr_expect(h_wait_pid_dead(guard, H_WAIT), "the guard outlived sidecar");
}
