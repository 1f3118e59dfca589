#define _GNU_SOURCE /* pipe2, execvpe, setgroups, close_range */
#include "sidecar/spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

static const char *const step_names[] = {
    [SPAWN_STEP_SETUP] = "setup", [SPAWN_STEP_STDIO] = "stdio",
    [SPAWN_STEP_UMASK] = "umask", [SPAWN_STEP_GROUPS] = "setgroups",
    [SPAWN_STEP_GID] = "setgid",  [SPAWN_STEP_UID] = "setuid",
    [SPAWN_STEP_CWD] = "chdir",   [SPAWN_STEP_EXEC] = "exec",
};

const char *spawn_step_name(int step)
{
    if (step < 0 || (size_t)step >= ARRAY_SIZE(step_names))
        return "unknown";
    return step_names[step];
}

int spawn_output_pipe(int *rd, int *wr)
{
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) < 0)
        return -errno;
    if (fcntl(fds[0], F_SETFL, O_NONBLOCK) < 0) {
        int err = errno;
        close(fds[0]);
        close(fds[1]);
        return -err;
    }
    *rd = fds[0];
    *wr = fds[1];
    return 0;
}

void spawn_close_from(int lowfd)
{
    if (close_range((unsigned)lowfd, ~0u, 0) == 0)
        return;
    /* Kernels before 5.9: walk the table. */
    long max = sysconf(_SC_OPEN_MAX);
    for (long fd = lowfd; fd < (max > 0 ? max : 1024); fd++)
        close((int)fd);
}

/* In the child: report the failed step and die like a shell would. */
static void __attribute__((noreturn)) child_fail(int status_fd, int step)
{
    struct spawn_failure f = {.step = step, .err = errno};
    ssize_t unused = write(status_fd, &f, sizeof(f));
    (void)unused;
    _exit(f.err == EACCES ? 126 : 127);
}

/* In the child: put fd on target, or /dev/null when fd is -1. */
static int wire(int fd, int target, int flags)
{
    int src = fd;
    if (fd < 0) {
        src = open("/dev/null", flags | O_CLOEXEC);
        if (src < 0)
            return -1;
    }
    if (src != target && dup2(src, target) < 0)
        return -1;
    if (src == target && fcntl(target, F_SETFD, 0) < 0)
        return -1;
    return 0;
}

/*
 * glibc refuses sigaction() on the two real-time signals it keeps for
 * itself (32 and 33), yet an ignored disposition of theirs is inherited
 * across exec like any other: reset them with the raw system call.
 */
static void reset_reserved_signals(void)
{
    struct {
        void *handler;
        unsigned long flags;
        void *restorer;
        unsigned long long mask;
    } ksa = {0};
    for (int sig = 32; sig < SIGRTMIN; sig++)
        (void)syscall(SYS_rt_sigaction, sig, &ksa, NULL, sizeof(ksa.mask));
}

/*
 * The child between fork and exec: only async-signal-safe calls. Signals
 * are all blocked on entry (see spawn_process) and unblocked last, after
 * every disposition is back to default, so no handler of ours runs here.
 */
static void __attribute__((noreturn))
run_child(const struct spawn_opts *o, int status_fd, pid_t parent)
{
    struct sigaction dfl;
    memset(&dfl, 0, sizeof(dfl));
    dfl.sa_handler = SIG_DFL;
    for (int sig = 1; sig < NSIG; sig++)
        (void)sigaction(sig, &dfl, NULL); /* fails for KILL/STOP: fine */
    reset_reserved_signals();

    if (setsid() < 0)
        child_fail(status_fd, SPAWN_STEP_SETUP);
    /* Die with sidecar; then check it did not die before this line. */
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0)
        child_fail(status_fd, SPAWN_STEP_SETUP);
    if (getppid() != parent)
        _exit(127);

    /* Move the status pipe above the stdio range before wiring stdio. */
    if (status_fd <= STDERR_FILENO) {
        int moved = fcntl(status_fd, F_DUPFD_CLOEXEC, STDERR_FILENO + 1);
        if (moved < 0)
            _exit(127);
        status_fd = moved;
    }
    if (wire(-1, STDIN_FILENO, O_RDONLY) < 0 ||
        wire(o->stdout_fd, STDOUT_FILENO, O_WRONLY) < 0 ||
        wire(o->stderr_fd, STDERR_FILENO, O_WRONLY) < 0)
        child_fail(status_fd, SPAWN_STEP_STDIO);
    /* Keep 0-2 and the status pipe (close-on-exec); drop the rest. */
    if (status_fd > STDERR_FILENO + 1)
        (void)close_range(STDERR_FILENO + 1, (unsigned)status_fd - 1, 0);
    spawn_close_from(status_fd + 1);

    if (o->set_umask)
        umask(o->umask);
    if (o->set_ids) {
        if (setgroups(o->groups_count, o->groups) < 0)
            child_fail(status_fd, SPAWN_STEP_GROUPS);
        if (setgid(o->gid) < 0)
            child_fail(status_fd, SPAWN_STEP_GID);
        if (setuid(o->uid) < 0)
            child_fail(status_fd, SPAWN_STEP_UID);
    }
    if (o->cwd && chdir(o->cwd) < 0)
        child_fail(status_fd, SPAWN_STEP_CWD);

    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    execvpe(o->argv[0], o->argv, o->envp);
    child_fail(status_fd, SPAWN_STEP_EXEC);
}

int spawn_process(const struct spawn_opts *o, pid_t *pid, int *status_fd)
{
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) < 0)
        return -errno;

    sigset_t all;
    sigset_t old;
    sigfillset(&all);
    sigprocmask(SIG_SETMASK, &all, &old);
    pid_t parent = getpid();
    pid_t child = fork();
    if (child == 0) {
        close(fds[0]);
        run_child(o, fds[1], parent);
    }
    int err = errno;
    sigprocmask(SIG_SETMASK, &old, NULL);
    close(fds[1]);
    if (child < 0) {
        close(fds[0]);
        return -err;
    }
    if (fcntl(fds[0], F_SETFL, O_NONBLOCK) < 0) {
        /* Cannot fail on a pipe we own; if it did, read would block. */
        err = errno;
        close(fds[0]);
        kill(child, SIGKILL);
        return -err;
    }
    *pid = child;
    *status_fd = fds[0];
    return 0;
}
