#include "proc/guard.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/log.h"
#include "proc/spawn.h"

enum guard_op {
    GUARD_WATCH,
    GUARD_FORGET,
};

/* Smaller than PIPE_BUF: each write lands whole or not at all. */
struct guard_record {
    int op; /* enum guard_op */
    pid_t pgid;
};

void guard_init(struct guard *g)
{
    g->fd = -1;
    g->pid = 0;
    g->warned = false;
}

static bool is_fault(int sig)
{
    return sig == SIGSEGV || sig == SIGBUS || sig == SIGFPE || sig == SIGILL ||
           sig == SIGABRT || sig == SIGTRAP || sig == SIGSYS;
}

/*
 * In the guard: every signal but the faults is ignored. It shares
 * sidecar's process group, so Ctrl-C on a terminal or a SIGTERM to the
 * group reaches it too; it must wait for sidecar to go, not go first.
 * None of sidecar's handlers may run here either.
 */
static void ignore_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    for (int sig = 1; sig <= SIGRTMAX; sig++) {
        sa.sa_handler = is_fault(sig) ? SIG_DFL : SIG_IGN;
        (void)sigaction(sig, &sa, NULL); /* fails for KILL, STOP: fine */
    }
    sigset_t none;
    sigemptyset(&none);
    (void)sigprocmask(SIG_SETMASK, &none, NULL);
}

/* In the guard: the pipe on stdin, /dev/null on 1-2, nothing else. */
static void keep_only_pipe(int rd)
{
    if (dup2(rd, STDIN_FILENO) < 0)
        _exit(1);
    int null = open("/dev/null", O_WRONLY);
    if (null >= 0) {
        (void)dup2(null, STDOUT_FILENO);
        (void)dup2(null, STDERR_FILENO);
    }
    spawn_close_from(STDERR_FILENO + 1);
}

static void apply(pid_t *groups, size_t *count, const struct guard_record *r)
{
    if (r->op == GUARD_WATCH) {
        if (*count < GUARD_GROUPS_MAX)
            groups[(*count)++] = r->pgid;
        return;
    }
    for (size_t i = 0; i < *count; i++) {
        if (groups[i] == r->pgid) {
            groups[i] = groups[--*count];
            return;
        }
    }
}

/*
 * The guard itself: async-signal-safe calls only, as sidecar may have
 * threads (curl's resolver) when it forks. Blocks in read() until EOF.
 */
static void __attribute__((noreturn)) run_guard(int rd)
{
    pid_t groups[GUARD_GROUPS_MAX];
    size_t count = 0;

    ignore_signals();
    keep_only_pipe(rd);
    (void)prctl(PR_SET_NAME, "sidecar-guard", 0, 0, 0);
    for (;;) {
        struct guard_record r;
        ssize_t n = read(STDIN_FILENO, &r, sizeof(r));
        if (n < 0 && errno == EINTR)
            continue;
        if (n != (ssize_t)sizeof(r))
            break; /* EOF: sidecar is gone (records never split) */
        apply(groups, &count, &r);
    }
    for (size_t i = 0; i < count; i++)
        (void)kill(-groups[i], SIGKILL);
    _exit(0);
}

int guard_start(struct guard *g)
{
    if (getpid() == 1)
        return 0;
    int fds[2];
    if (pipe(fds) < 0)
        return -errno;
    /* The write end is ours alone: never in a service, never blocking. */
    if (fcntl(fds[1], F_SETFD, FD_CLOEXEC) < 0 ||
        fcntl(fds[1], F_SETFL, O_NONBLOCK) < 0) {
        int err = errno;
        close(fds[0]);
        close(fds[1]);
        return -err;
    }
    /* No handler of ours may run in the guard before it sets its own. */
    pid_t pid = spawn_fork_blocked();
    if (pid == 0) {
        close(fds[1]);
        run_guard(fds[0]);
    }
    int err = errno;
    close(fds[0]);
    if (pid < 0) {
        close(fds[1]);
        return -err;
    }
    g->fd = fds[1];
    g->pid = pid;
    LOG_DEBUG("last-chance guard started", LF_INT("pid", pid));
    return 0;
}

/*
 * A full pipe means the guard has not read for 8192 records: it is
 * stopped or starved. The record is dropped then, and said once: a lost
 * watch leaves that group to survive a SIGKILL of sidecar, a lost forget
 * has the guard kill a group number that may be reused by then.
 */
static void send_record(struct guard *g, enum guard_op op, pid_t pgid)
{
    if (!g || g->fd < 0 || pgid <= 0)
        return;
    struct guard_record r = {.op = op, .pgid = pgid};
    ssize_t n;
    do
        n = write(g->fd, &r, sizeof(r));
    while (n < 0 && errno == EINTR);
    if (n == (ssize_t)sizeof(r))
        return;
    int err = n < 0 ? errno : EIO;
    if (!g->warned)
        LOG_WARN("last-chance guard missed a record; a SIGKILL of sidecar "
                 "may leave processes behind",
                 LF_INT("guard_pid", g->pid), LF_INT("pgid", pgid),
                 LF_STR("error", strerror(err)));
    g->warned = true;
    if (err == EPIPE)
        guard_stop(g); /* it is gone: nothing more to tell it */
}

void guard_watch(struct guard *g, pid_t pgid)
{
    send_record(g, GUARD_WATCH, pgid);
}

void guard_forget(struct guard *g, pid_t pgid)
{
    send_record(g, GUARD_FORGET, pgid);
}

void guard_stop(struct guard *g)
{
    if (g->fd < 0)
        return;
    close(g->fd);
    g->fd = -1;
}

void guard_end(struct guard *g, double timeout_s)
{
    guard_stop(g);
    if (g->pid <= 0)
        return;
    double deadline = util_mono_now() + timeout_s;
    for (;;) {
        pid_t r = waitpid(g->pid, NULL, WNOHANG);
        if (r != 0 || util_mono_now() >= deadline)
            break; /* reaped, or not ours to wait for any more */
        struct timespec tick = {0, 2 * 1000 * 1000};
        nanosleep(&tick, NULL);
    }
    g->pid = 0;
}
