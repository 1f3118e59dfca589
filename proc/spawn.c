#define _GNU_SOURCE /* pipe2, setgroups, close_range */
#include "proc/spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

extern char **environ;

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

/* Closes fds lo..hi, through close_range() or, before Linux 5.9, one by one. */
static void close_between(unsigned lo, unsigned hi)
{
    if (lo > hi || close_range(lo, hi, 0) == 0)
        return;
    long max = sysconf(_SC_OPEN_MAX);
    if (max <= 0)
        max = 65536;
    for (unsigned long fd = lo; fd <= hi && fd < (unsigned long)max; fd++)
        close((int)fd);
}

/* True when entry ("NAME=value") sets one of the names in hidden. */
static bool env_hidden(const char *entry, char *const *hidden)
{
    size_t len = strcspn(entry, "=");

    for (; hidden != NULL && *hidden != NULL; hidden++) {
        if (strlen(*hidden) == len && strncmp(entry, *hidden, len) == 0)
            return true;
    }
    return false;
}

char **spawn_env_without(char *const *envp, size_t keep, char *const *hidden)
{
    size_t n = 0;
    size_t out = 0;
    char **copy;

    while (envp[n] != NULL)
        n++;
    copy = calloc(n + 1, sizeof(*copy));
    if (copy == NULL)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        if (i < keep || !env_hidden(envp[i], hidden))
            copy[out++] = envp[i];
    }
    return copy;
}

/* True when pwd is an absolute name of our working directory. */
static bool names_cwd(const char *pwd)
{
    struct stat named;
    struct stat cwd;

    return pwd[0] == '/' && stat(pwd, &named) == 0 && stat(".", &cwd) == 0 &&
           named.st_dev == cwd.st_dev && named.st_ino == cwd.st_ino;
}

char **spawn_env_inherited(void)
{
    static char *const pwd[] = {"PWD", NULL};
    const char *dir = getenv("PWD");

    return spawn_env_without(environ, 0, dir && !names_cwd(dir) ? pwd : NULL);
}

void spawn_close_from(int lowfd)
{
    close_between((unsigned)lowfd, ~0u);
}

/* In the child: report the failed step and die like a shell would. */
static void __attribute__((noreturn)) child_fail(int status_fd, int step)
{
    struct spawn_failure f = {.step = step, .err = errno};
    ssize_t unused = write(status_fd, &f, sizeof(f));
    (void)unused;
    _exit(f.err == EACCES ? 126 : 127);
}

/* In the child: moves *fd (if one of 0-2) above them, close-on-exec. */
static int lift(int *fd)
{
    if (*fd < 0 || *fd > STDERR_FILENO)
        return 0;
    int moved = fcntl(*fd, F_DUPFD_CLOEXEC, STDERR_FILENO + 1);
    if (moved < 0)
        return -1;
    *fd = moved;
    return 0;
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

    /* Lift every fd we still need above 0-2 before wiring stdio. */
    int out = o->stdout_fd;
    int err = o->stderr_fd;
    if (lift(&status_fd) < 0)
        _exit(127);
    if (lift(&out) < 0 || lift(&err) < 0)
        child_fail(status_fd, SPAWN_STEP_STDIO);
    if (wire(-1, STDIN_FILENO, O_RDONLY) < 0 ||
        wire(out, STDOUT_FILENO, O_WRONLY) < 0 ||
        wire(err, STDERR_FILENO, O_WRONLY) < 0)
        child_fail(status_fd, SPAWN_STEP_STDIO);
    /* Keep 0-2 and the status pipe (close-on-exec); drop the rest. */
    close_between(STDERR_FILENO + 1, (unsigned)status_fd - 1);
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
    } else if (setgroups(0, NULL) < 0 && errno != EPERM) {
        /* None of sidecar's supplementary groups; EPERM (no CAP_SETGID)
         * keeps them, as spawn_kept_groups() warned at start. */
        child_fail(status_fd, SPAWN_STEP_GROUPS);
    }
    /*
     * Die with sidecar. After the id changes, which clear this setting;
     * then make sure sidecar did not die before it took effect.
     */
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0)
        child_fail(status_fd, SPAWN_STEP_SETUP);
    if (getppid() != parent)
        _exit(127);
    if (o->cwd && chdir(o->cwd) < 0)
        child_fail(status_fd, SPAWN_STEP_CWD);

    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    /* execvp() searches the PATH of the service's own environment. */
    environ = (char **)o->envp;
    execvp(o->argv[0], o->argv);
    child_fail(status_fd, SPAWN_STEP_EXEC);
}

bool spawn_may_set_groups(void)
{
    /*
     * The kernel checks the right (CAP_SETGID, in a user namespace that
     * allows setgroups) before anything else, then the size: a list
     * longer than any fails with EPERM, or with EINVAL where a child's
     * setgroups() would succeed. Nothing is changed either way; setting
     * sidecar's own list again would, in a user namespace where its
     * groups read as the overflow gid and that gid is mapped.
     */
    return setgroups((size_t)NGROUPS_MAX + 1, NULL) < 0 && errno != EPERM;
}

int spawn_kept_groups(gid_t **groups)
{
    *groups = NULL;
    if (spawn_may_set_groups())
        return 0;
    int n = getgroups(0, NULL);
    if (n <= 0)
        return n < 0 ? -errno : 0;
    gid_t *list = calloc((size_t)n, sizeof(*list));
    if (!list)
        return -ENOMEM;
    n = getgroups(n, list);
    if (n < 0) {
        int err = errno;
        free(list);
        return -err;
    }
    int kept = 0;
    for (int i = 0; i < n; i++) {
        if (list[i] != getegid()) /* its own gid gives nothing more */
            list[kept++] = list[i];
    }
    if (kept > 0)
        *groups = list;
    else
        free(list);
    return kept;
}

pid_t spawn_fork_blocked(void)
{
    sigset_t all;
    sigset_t old;
    sigfillset(&all);
    /* Cannot fail: SIG_SETMASK with sets of our own. */
    (void)sigprocmask(SIG_SETMASK, &all, &old);
    pid_t child = fork();
    if (child != 0) {
        int err = errno;
        (void)sigprocmask(SIG_SETMASK, &old, NULL);
        errno = err;
    }
    return child;
}

int spawn_process(const struct spawn_opts *o, pid_t *pid, int *status_fd)
{
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) < 0)
        return -errno;

    pid_t parent = getpid();
    pid_t child = spawn_fork_blocked();
    if (child == 0) {
        close(fds[0]);
        run_child(o, fds[1], parent);
    }
    int err = errno;
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
