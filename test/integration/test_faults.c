/*
 * Fault injection: what sidecar must survive. A crash loop of 1000
 * immediate exits; fork failing (RLIMIT_NPROC); descriptors running out
 * (RLIMIT_NOFILE); 50 MB without a newline; a stopped service and a
 * stopped probe; its own stdout full or closed; probe targets that reset
 * connections, answer garbage or trickle a byte a second. Each test looks
 * from outside: the log, the HTTP endpoint, /proc.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

static struct harness H;
static pid_t fake_pid;

static void teardown(void)
{
    if (fake_pid > 0) {
        kill(fake_pid, SIGKILL);
        waitpid(fake_pid, NULL, 0);
        fake_pid = 0;
    }
    h_cleanup(&H);
}

#define T(name, secs) Test(faults, name, .timeout = secs, .fini = teardown)

/* utime + stime of pid, in seconds. */
static double cpu_seconds(pid_t pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    cr_assert(f);
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    /* Fields after the command, which may hold spaces: from the last ')'. */
    char *p = strrchr(buf, ')');
    cr_assert(p);
    unsigned long utime, stime;
    cr_assert_eq(sscanf(p + 2,
                        "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu",
                        &utime, &stime),
                 2);
    return (double)(utime + stime) / (double)sysconf(_SC_CLK_TCK);
}

static void set_limit(pid_t pid, int resource, rlim_t value)
{
    struct rlimit rl = {.rlim_cur = value, .rlim_max = value};
    cr_assert_eq(prlimit(pid, resource, &rl, NULL), 0, "prlimit: %s",
                 strerror(errno));
}

/* The named entry of /health/details' "services" or "probes". */
static json_t *details(const char *list, const char *name)
{
    static char body[65536];
    static json_t *doc;
    json_decref(doc);
    doc = NULL;
    if (h_get(&H, "/health/details", body, sizeof(body)) != 200)
        return NULL;
    doc = json_loads(body, 0, NULL);
    cr_assert(doc, "details are not JSON: %s", body);
    size_t i;
    json_t *e;
    json_array_foreach(json_object_get(doc, list), i, e)
    {
        if (strcmp(json_string_value(json_object_get(e, "name")), name) == 0)
            return e;
    }
    return NULL;
}

static long long restarts_of(const char *service)
{
    json_t *s = details("services", service);
    return s ? json_integer_value(json_object_get(s, "restarts")) : -1;
}

static const char *probe_state(const char *probe)
{
    json_t *p = details("probes", probe);
    return p ? json_string_value(json_object_get(p, "state")) : "";
}

/* The pid of the latest "service started" of service (from the log). */
static pid_t pid_of(const char *service)
{
    cr_assert_geq(h_wait_event(&H, 0, H_WAIT, "service started", service), 0);
    long idx = -1;
    for (long i = h_find_event(&H, 0, "service started", service); i >= 0;
         i = h_find_event(&H, (size_t)i + 1, "service started", service))
        idx = i;
    cr_assert_geq(idx, 0, "%s never started", service);
    return (pid_t)h_int(&H, idx, "pid", -1);
}

T(a_crash_loop_of_1000_exits_backs_off_and_goes_fatal, 90)
{
    h_start(&H, "services:\n"
                "  main:\n"
                "    role: main\n"
                "    command: ['@HELPER@', 'run', 'main', '@DIR@/log']\n"
                "  crash:\n"
                "    command: ['@HELPER@', 'exit', '1']\n"
                "    backoff: { initial: 2ms, max: 4ms }\n"
                "    max_restarts: 1000\n"
                "    restart_window: 10m\n");
    double t0 = h_now(), cpu0 = cpu_seconds(H.pid);
    long fatal =
        h_wait_event(&H, 0, 60, "service is crash-looping; giving up", "crash");
    cr_assert_geq(fatal, 0, "crash never went FATAL");
    double wall = h_now() - t0, cpu = cpu_seconds(H.pid) - cpu0;
    cr_expect_eq(h_count_events(&H, 0, "service started", "crash"), 1001,
                 "1000 restarts, then FATAL");

    /* Every restart waited at least its announced backoff. */
    size_t checked = 0;
    for (long w = h_find_event(&H, 0, "service will restart", "crash"); w >= 0;
         w = h_find_event(&H, (size_t)w + 1, "service will restart", "crash")) {
        long s = h_find_event(&H, (size_t)w + 1, "service started", "crash");
        cr_assert_geq(s, 0);
        long long gap = h_ts_ms(&H, s) - h_ts_ms(&H, w);
        long long backoff = h_int(&H, w, "backoff_ms", -1);
        cr_assert_geq(backoff, 2);
        cr_assert_geq(gap, backoff - 1,
                      "restart %zu after %lldms, backoff %lld", checked, gap,
                      backoff);
        checked++;
    }
    cr_expect_eq(checked, 1000);
    cr_expect_lt(cpu / wall, 0.5, "sidecar used %.2fs of CPU in %.2fs", cpu,
                 wall);
    /* A helper beyond repair: DEGRADED, and sidecar keeps serving. */
    char body[256];
    cr_expect_eq(h_get(&H, "/livez", body, sizeof(body)), 200);
    cr_expect_eq(h_get(&H, "/health", body, sizeof(body)), 200);
    cr_expect_str_eq(body, "{\"status\":\"DEGRADED\"}\n");
    fprintf(stderr,
            "faults: 1000 restarts in %.2fs, sidecar CPU %.2fs (%.0f%%)\n",
            wall, cpu, 100 * cpu / wall);
    h_signal(&H, SIGTERM);
    cr_expect_eq(h_wait_exit(&H, 10), 0);
}

/*
 * RLIMIT_NPROC does not bind root, and this test may not change another
 * uid's limits (no CAP_SYS_RESOURCE): sidecar runs as an unused uid with a
 * limit of 4 processes, which sidecar, its last-chance guard, main and
 * helper use up. With the helper killed, a process of the test's under
 * that uid takes its place, so every fork fails until that process goes.
 */
#define NOBODY_UID 64123

static pid_t hold_a_slot(void)
{
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        if (setresgid(NOBODY_UID, NOBODY_UID, NOBODY_UID) < 0 ||
            setresuid(NOBODY_UID, NOBODY_UID, NOBODY_UID) < 0)
            _exit(1);
        pause();
        _exit(0);
    }
    return pid;
}

T(fork_failing_backs_off_and_recovers, 30)
{
    h_start_as(&H,
               "services:\n"
               "  main:\n"
               "    role: main\n"
               "    command: ['@HELPER@', 'run', 'main', '@DIR@/log']\n"
               "  helper:\n"
               "    command: ['@HELPER@', 'run', 'helper', '@DIR@/hlog']\n"
               "    depends_on: [main]\n"
               "    backoff: { initial: 100ms, max: 400ms }\n"
               "    max_restarts: 0\n",
               &(struct h_creds){.uid = NOBODY_UID, .nproc = 4});
    cr_assert(h_wait_file(&H, "hlog", 1, H_WAIT));
    pid_t helper = pid_of("helper");
    size_t mark = H.count;
    cr_assert_eq(kill(helper, SIGKILL), 0);
    cr_assert(h_wait_pid_reaped(helper, H_WAIT));
    fake_pid = hold_a_slot();

    /* Each try fails, is logged with the reason, and backs off. */
    long fail = -1;
    for (int i = 0; i < 3; i++) {
        fail = h_wait_event(&H, fail < 0 ? mark : (size_t)fail + 1, H_WAIT,
                            "cannot start service", "helper");
        cr_assert_geq(fail, 0, "try %d was not reported", i);
        cr_expect_str_eq(h_str(&H, fail, "error"),
                         "Resource temporarily unavailable");
    }
    long first = h_find_event(&H, mark, "cannot start service", "helper");
    cr_expect_geq(h_ts_ms(&H, fail) - h_ts_ms(&H, first), 100 + 200 - 2,
                  "three tries with backoffs of 100 and 200 ms between");
    char body[256];
    cr_expect_eq(h_get(&H, "/livez", body, sizeof(body)), 200);
    cr_expect_eq(h_get(&H, "/health", body, sizeof(body)), 200);
    cr_expect_str_eq(body, "{\"status\":\"DEGRADED\"}\n");

    kill(fake_pid, SIGKILL);
    waitpid(fake_pid, NULL, 0);
    fake_pid = 0;
    cr_assert(h_wait_file(&H, "hlog", 2, H_WAIT),
              "the helper did not come back");
    h_signal(&H, SIGTERM);
    cr_expect_eq(h_wait_exit(&H, 10), 0);
}

static int connect_to(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    cr_assert_geq(fd, 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    cr_assert_eq(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    return fd;
}

static int count_fds(pid_t pid)
{
    char cmd[64];
    snprintf(cmd, sizeof(cmd), "ls /proc/%d/fd | wc -l", (int)pid);
    FILE *p = popen(cmd, "r");
    cr_assert(p);
    int n = -1;
    if (fscanf(p, "%d", &n) != 1)
        n = -1;
    pclose(p);
    return n;
}

T(out_of_descriptors_the_endpoint_recovers, 40)
{
    h_start(&H, "services:\n"
                "  main:\n"
                "    role: main\n"
                "    command: ['@HELPER@', 'run', 'main', '@DIR@/log']\n"
                "probes:\n"
                "  tick:\n"
                "    type: exec\n"
                "    command: 'true'\n"
                "    period: 200ms\n"
                "    timeout: 150ms\n");
    int port = h_http_port(&H);
    size_t from = 0;
    cr_assert_geq(h_wait_probe_state(&H, &from, "tick", "passing", H_WAIT), 0);
    int used = count_fds(H.pid);
    cr_assert_gt(used, 0);
    set_limit(H.pid, RLIMIT_NOFILE, (rlim_t)used + 8);

    /* 64 idle clients: sidecar takes what it can, the rest wait in the
     * backlog; then no descriptor is left for a probe's pipes either. */
    static int fds[64];
    for (int i = 0; i < 64; i++)
        fds[i] = connect_to(port);
    cr_assert_geq(h_wait_probe_state(&H, &from, "tick", "failing", 10), 0,
                  "the probe kept passing without descriptors");
    double cpu0 = cpu_seconds(H.pid);
    h_pump(&H, 1.0);
    double spin = cpu_seconds(H.pid) - cpu0;
    cr_expect_lt(spin, 0.5, "sidecar spun: %.2fs of CPU in 1s", spin);
    cr_expect(h_pid_alive(H.pid));

    for (int i = 0; i < 64; i++)
        close(fds[i]);
    bool ok = false;
    for (double end = h_now() + 10; !ok && h_now() < end; h_pump(&H, 0.05)) {
        char body[64];
        ok = h_get(&H, "/livez", body, sizeof(body)) == 200;
    }
    cr_expect(ok, "the endpoint did not recover");
    cr_expect_geq(h_wait_probe_state(&H, &from, "tick", "passing", 10), 0,
                  "the probe did not recover");
    h_signal(&H, SIGTERM);
    cr_expect_eq(h_wait_exit(&H, 10), 0);
}

/* Bytes of the flood service's output logged so far, in how many pieces,
 * how many of them partial. */
static size_t flood_relayed(size_t *pieces, size_t *partial)
{
    size_t bytes = 0;
    *pieces = *partial = 0;
    for (size_t i = 0; i < H.count; i++) {
        json_t *j = H.json[i];
        const char *svc =
            j ? json_string_value(json_object_get(j, "service")) : NULL;
        if (!svc || strcmp(svc, "flood") != 0 || !json_object_get(j, "stream"))
            continue;
        ++*pieces;
        *partial += json_is_true(json_object_get(j, "partial"));
        bytes += strlen(json_string_value(json_object_get(j, "msg")));
    }
    return bytes;
}

T(fifty_megabytes_without_a_newline, 90)
{
    h_start(&H, "services:\n"
                "  main:\n"
                "    role: main\n"
                "    command: ['@HELPER@', 'run', 'main', '@DIR@/log']\n"
                "  flood:\n"
                "    command: \"head -c 52428800 /dev/zero | tr '\\\\0' x\"\n"
                "    restart: never\n");
    h_http_port(&H); /* running, not just exec'd */
    long rss0 = h_status_kb(H.pid, "VmRSS");
    long done = h_wait_event(&H, 0, 45, "service exited", "flood");
    cr_assert_geq(done, 0);
    long hwm = h_status_kb(H.pid, "VmHWM");
    /* With the log full at the exit, the relay's last pieces follow the
     * "service exited" line: read on until they are in (or the deadline). */
    size_t pieces, partial;
    size_t bytes = flood_relayed(&pieces, &partial);
    for (double end = h_now() + H_WAIT; bytes < 52428800u && h_now() < end;) {
        bool open = h_pump(&H, 0.1);
        bytes = flood_relayed(&pieces, &partial);
        if (!open)
            break; /* sidecar's stdout closed: nothing more comes */
    }
    cr_expect_eq(bytes, 52428800u, "every byte relayed");
    cr_expect_eq(pieces, 3200u, "16 KiB pieces");
    cr_expect_eq(partial, 3199u, "all but the last are partial");
    cr_expect_eq(H.invalid, 0u);
    cr_expect_lt(hwm - rss0, 16 * 1024, "peak RSS grew by %ld kB", hwm - rss0);
    fprintf(stderr, "faults: 50 MB in %zu pieces; RSS %ld kB, peak %ld kB\n",
            pieces, rss0, hwm);
    h_signal(&H, SIGTERM);
    cr_expect_eq(h_wait_exit(&H, 10), 0);
}

T(a_stopped_service_stays_up_and_still_stops, 30)
{
    h_start(&H, "services:\n"
                "  main:\n"
                "    role: main\n"
                "    command: ['@HELPER@', 'run', 'main', '@DIR@/log']\n"
                "probes:\n"
                "  frozen:\n"
                "    type: exec\n"
                "    command: 'kill -STOP $$$$; true'\n" /* $$ is a literal $ */
                "    period: 1s\n"
                "    timeout: 300ms\n"
                "    failure_threshold: 1\n");
    cr_assert(h_wait_file(&H, "log", 1, H_WAIT));
    pid_t main_pid = pid_of("main");

    /* A probe that stops itself fails at its timeout and is killed. */
    size_t from = 0;
    long f = h_wait_probe_state(&H, &from, "frozen", "failing", H_WAIT);
    cr_assert_geq(f, 0);
    cr_expect_str_eq(h_str(&H, f, "reason"), "timed out after 300ms");

    cr_assert_eq(kill(main_pid, SIGSTOP), 0);
    h_pump(&H, 0.5);
    cr_expect_lt(h_find_event(&H, 0, "service exited", "main"), 0,
                 "a stopped service is not an exited one");
    cr_expect_str_eq(json_string_value(
                         json_object_get(details("services", "main"), "state")),
                     "running");
    cr_expect_eq(h_proc_state(main_pid), 'T');

    /* The stop signal comes with SIGCONT: it stops at once, not after
     * stop_timeout (10s) with SIGKILL. */
    double t = h_now();
    h_signal(&H, SIGTERM);
    cr_expect_eq(h_wait_exit(&H, 10), 0);
    cr_expect_lt(h_now() - t, 8.0); /* not stop_timeout (10 s) */
    cr_expect(h_wait_file(&H, "log", 2, 1), "main did not see its SIGTERM");
}

/* Supervision and probes go on while nobody reads sidecar's stdout. */
static void expect_supervision_goes_on(void)
{
    long long r0 = restarts_of("crash");
    cr_assert_geq(r0, 0);
    h_touch(&H, "down");
    bool failed = false;
    for (double end = h_now() + H_WAIT; !failed && h_now() < end; usleep(50000))
        failed = strcmp(probe_state("flag"), "failing") == 0;
    cr_expect(failed, "the probe did not fail");
    unlink(h_path(&H, "down"));
    bool passed = false;
    for (double end = h_now() + H_WAIT; !passed && h_now() < end; usleep(50000))
        passed = strcmp(probe_state("flag"), "passing") == 0;
    cr_expect(passed, "the probe did not pass again");
    long long r1 = r0;
    for (double end = h_now() + H_WAIT; r1 < r0 + 10 && h_now() < end;
         usleep(50000))
        r1 = restarts_of("crash");
    cr_expect_geq(r1, r0 + 10, "restarts went from %lld to %lld", r0, r1);
}

static const char *busy_yaml =
    "services:\n"
    "  main:\n"
    "    role: main\n"
    "    command: ['@HELPER@', 'run', 'main', '@DIR@/log']\n"
    "  crash:\n"
    "    command: ['@HELPER@', 'exit', '1']\n"
    "    backoff: { initial: 50ms, max: 50ms }\n"
    "    max_restarts: 0\n"
    "  chatty:\n"
    "    command: \"while :; do echo chatter; sleep 0.01; done\"\n"
    "probes:\n"
    "  flag:\n"
    "    type: exec\n"
    "    command: \"test ! -e @DIR@/down\"\n"
    "    period: 500ms\n"
    "    timeout: 450ms\n"
    "    failure_threshold: 1\n";

T(stdout_full_supervision_and_probes_go_on, 40)
{
    h_start(&H, busy_yaml);
    h_http_port(&H);
    /* A small pipe that nobody reads: full within moments (less room
     * left than a line or two of chatter takes). */
    int size = fcntl(H.out_fd, F_SETPIPE_SZ, 4096);
    cr_assert_gt(size, 0);
    int queued = 0;
    for (double end = h_now() + H_WAIT; queued < size - 512; usleep(10000)) {
        cr_assert_lt(h_now(), end, "the pipe did not fill: %d bytes", queued);
        cr_assert_eq(ioctl(H.out_fd, FIONREAD, &queued), 0);
    }
    expect_supervision_goes_on();
    /* Reading again: what was held back comes, in whole JSON lines. */
    size_t mark = H.count;
    cr_expect_geq(h_wait_event(&H, mark, 10, "service started", "crash"), 0);
    cr_expect_eq(H.invalid, 0u);
    h_signal(&H, SIGTERM);
    cr_expect_eq(h_wait_exit(&H, 10), 0);
}

T(stdout_closed_supervision_and_probes_go_on, 40)
{
    h_start(&H, busy_yaml);
    h_http_port(&H);
    close(H.out_fd);
    H.out_fd = -1;
    /* Its next line (a restart, a probe's change) gets EPIPE. */
    expect_supervision_goes_on();
    h_signal(&H, SIGTERM);
    cr_expect_eq(h_wait_exit(&H, 10), 0);
}

/* fakehttp on an ephemeral port (its pid in fake_pid). */
static int start_fakehttp(void)
{
    const char *dir = getenv("SIDECAR_HELPERS");
    char bin[512], portfile[256];
    snprintf(bin, sizeof(bin), "%s/fakehttp",
             dir && *dir ? dir : "../build/test");
    snprintf(portfile, sizeof(portfile), "/tmp/sidecar-faults-port.%d",
             (int)getpid());
    unlink(portfile);
    fake_pid = fork();
    cr_assert_geq(fake_pid, 0);
    if (fake_pid == 0) {
        execl(bin, "fakehttp", portfile, (char *)NULL);
        _exit(127);
    }
    int port = 0;
    for (double end = h_now() + H_WAIT; port <= 0; usleep(5000)) {
        cr_assert_lt(h_now(), end, "fakehttp did not start");
        FILE *f = fopen(portfile, "r");
        if (f) {
            if (fscanf(f, "%d", &port) != 1)
                port = 0;
            fclose(f);
        }
    }
    unlink(portfile);
    return port;
}

T(hostile_probe_targets_fail_with_a_reason, 30)
{
    int port = start_fakehttp();
    char yaml[2048];
    snprintf(yaml, sizeof(yaml),
             "probes:\n"
             "  reset: { type: http, url: 'http://127.0.0.1:%d/reset', "
             "period: 500ms, timeout: 400ms, failure_threshold: 1 }\n"
             "  garbage: { type: http, url: 'http://127.0.0.1:%d/garbage', "
             "period: 500ms, timeout: 400ms, failure_threshold: 1 }\n"
             "  trickle: { type: http, url: 'http://127.0.0.1:%d/trickle', "
             "period: 3s, timeout: 2s, failure_threshold: 1 }\n"
             "  fine: { type: http, url: 'http://127.0.0.1:%d/healthz', "
             "period: 1s, timeout: 900ms }\n",
             port, port, port, port);
    h_start(&H, yaml);
    const char *names[] = {"reset", "garbage", "trickle"};
    for (size_t i = 0; i < 3; i++) {
        size_t from = 0;
        long f = h_wait_probe_state(&H, &from, names[i], "failing", 10);
        cr_assert_geq(f, 0, "%s never failed", names[i]);
        const char *why = h_str(&H, f, "reason");
        cr_expect(why && *why, "%s failed without a reason", names[i]);
        fprintf(stderr, "faults: probe %s: %s\n", names[i], why);
    }
    size_t from = 0;
    long t = h_wait_probe_state(&H, &from, "trickle", "failing", 1);
    cr_expect_geq(h_int(&H, t, "duration_ms", 0), 1990, "trickle at timeout");
    /* Meanwhile the healthy probe never missed. */
    from = 0;
    cr_expect_geq(h_wait_probe_state(&H, &from, "fine", "passing", 1), 0);
    cr_expect_lt(h_wait_probe_state(&H, &from, "fine", "failing", 0.1), 0);
    h_signal(&H, SIGTERM);
    cr_expect_eq(h_wait_exit(&H, 10), 0);
}
