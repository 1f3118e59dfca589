#define _GNU_SOURCE /* pipe2, setgroups, close_range, clone, strchrnul */
#include "proc/spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

extern char **environ;

/* Code that runs in the child, in sidecar's memory: see run_child(). */
#define CHILD_CODE __attribute__((no_sanitize("address", "undefined")))

/* 32-bit ABIs: the plain calls take 16-bit ids. */
#ifdef SYS_setgid32
#define SYS_SETGID SYS_setgid32
#define SYS_SETUID SYS_setuid32
#else
#define SYS_SETGID SYS_setgid
#define SYS_SETUID SYS_setuid
#endif

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
CHILD_CODE static void close_between(unsigned lo, unsigned hi)
{
    if (lo > hi || close_range(lo, hi, 0) == 0)
        return;
    long max = sysconf(_SC_OPEN_MAX);
    if (max <= 0)
        max = 65536;
    for (unsigned long fd = lo; fd <= hi && fd < (unsigned long)max; fd++)
        close((int)fd);
}

bool spawn_env_hidden(const char *entry, char *const *hidden)
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
        if (i < keep || !spawn_env_hidden(envp[i], hidden))
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
    /* sidecar's own supervisor's channel (systemd, podman --sdnotify). */
    static char *const hidden[] = {"PWD", "NOTIFY_SOCKET", "WATCHDOG_USEC",
                                   "WATCHDOG_PID", NULL};
    const char *dir = getenv("PWD");

    return spawn_env_without(environ, 0,
                             dir && !names_cwd(dir) ? hidden : hidden + 1);
}

void spawn_close_from(int lowfd)
{
    close_between((unsigned)lowfd, ~0u);
}

/*
 * The child runs in sidecar's own memory, as glibc's posix_spawn() runs
 * its child: clone(CLONE_VM | CLONE_VFORK) on a stack of its own, so its
 * cost does not grow with sidecar's size (no page table to copy, no
 * copy-on-write fault in sidecar after). The calling thread sleeps until
 * the child has called execve() or _exit(). Every step from here to the
 * exec therefore keeps to these rules:
 * - it writes no memory but its own stack, errno (the sleeping caller's
 *   thread-local, which spawn_process() does not read after) and
 *   o->pid_room, a buffer of this spawn's caller that nothing reads
 *   before the exec (its pid, which only the child knows before then);
 *   what it reads (struct spawn_opts, argv, envp) nobody changes meanwhile;
 * - it makes system calls only, and pure string functions: setgroups,
 *   setgid and setuid go through syscall(), as glibc's wrappers would
 *   broadcast the change to every thread of sidecar (curl's resolver);
 *   dispositions and the mask are set with the raw calls too, which also
 *   reach glibc's own signals 32 and 33;
 * - it has its own signal dispositions (no CLONE_SIGHAND): resetting them
 *   changes nothing of sidecar's, and every signal stays blocked until they
 *   are all default, so no handler of sidecar's can run on this stack;
 * - it is not instrumented (CHILD_CODE): the sanitizers would mark shadow
 *   memory for frames that never return, on a stack that is then unmapped.
 * What the child waits on, sidecar waits on: a chdir() into a dead mount
 * holds the loop, as it would posix_spawn()'s caller.
 */

/* A kernel signal set: 64 bits, every signal glibc's sigset_t has room for. */
typedef unsigned long long ksigset;

/* What the child is given: it reads it, never writes it. */
struct child_args {
    const struct spawn_opts *o;
    int status_fd;
    pid_t parent;
    char **sh; /* the child's own: see exec_file() */
};

CHILD_CODE static void set_mask(const ksigset *set, ksigset *old)
{
    (void)syscall(SYS_rt_sigprocmask, SIG_SETMASK, set, old, sizeof(*set));
}

/*
 * Every disposition back to SIG_DFL through the raw call: glibc's
 * sigaction() refuses 32 and 33, yet an ignored disposition of theirs is
 * inherited across exec like any other. KILL and STOP fail: fine.
 */
CHILD_CODE static void reset_signals(void)
{
    struct {
        void *handler;
        unsigned long flags;
        void *restorer;
        ksigset mask;
    } ksa = {0};
    for (int sig = 1; sig < NSIG; sig++)
        (void)syscall(SYS_rt_sigaction, sig, &ksa, NULL, sizeof(ksa.mask));
}

/* Report the failed step and die like a shell would. */
CHILD_CODE static void __attribute__((noreturn))
child_fail(int status_fd, int step)
{
    struct spawn_failure f = {.step = step, .err = errno};
    ssize_t unused = write(status_fd, &f, sizeof(f));
    (void)unused;
    _exit(f.err == EACCES ? 126 : 127);
}

/* pid in decimal into room (SPAWN_PID_ROOM bytes), NUL-terminated. */
CHILD_CODE static void put_pid(char *room, long pid)
{
    char digits[SPAWN_PID_ROOM];
    int n = 0;
    do {
        digits[n++] = (char)('0' + pid % 10);
        pid /= 10;
    } while (pid > 0 && n < SPAWN_PID_ROOM - 1);
    for (int i = 0; i < n; i++)
        room[i] = digits[n - 1 - i];
    room[n] = '\0';
}

/* Moves *fd (if one of 0-2) above them, close-on-exec. */
CHILD_CODE static int lift(int *fd)
{
    if (*fd < 0 || *fd > STDERR_FILENO)
        return 0;
    int moved = fcntl(*fd, F_DUPFD_CLOEXEC, STDERR_FILENO + 1);
    if (moved < 0)
        return -1;
    *fd = moved;
    return 0;
}

/* Puts fd on target, or /dev/null when fd is -1. */
CHILD_CODE static int wire(int fd, int target, int flags)
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

/* The first PATH of envp, as getenv() would find it; glibc's default. */
CHILD_CODE static const char *env_path(char *const *envp)
{
    for (; *envp != NULL; envp++) {
        if (strncmp(*envp, "PATH=", 5) == 0)
            return *envp + 5;
    }
    return "/bin:/usr/bin";
}

/*
 * execve(), then, when the kernel knows no such format (ENOEXEC), a shell
 * on the file, as execvp() does: /bin/sh file argv[1]... The shell's argv
 * is built in sh, room for argv's count + 2 at the bottom of the child's
 * stack.
 */
CHILD_CODE static void exec_file(const char *file, char *const *argv,
                                 char *const *envp, char **sh)
{
    (void)execve(file, argv, envp);
    if (errno != ENOEXEC)
        return;
    sh[0] = "/bin/sh";
    sh[1] = (char *)file;
    size_t i = 1;
    do
        sh[i + 1] = argv[i];
    while (argv[i++] != NULL);
    (void)execve(sh[0], sh, envp);
}

/*
 * execvp() over envp's PATH rather than sidecar's environ, which the
 * child may not set: a name with a slash is run as it is; otherwise each
 * element in turn (an empty one is the working directory), going on after
 * the errors execvp() goes on after, and EACCES if any element gave it.
 * Returns with errno set when nothing could be run.
 */
CHILD_CODE static void exec_search(char *const *argv, char *const *envp,
                                   char **sh)
{
    const char *file = argv[0];
    char path[PATH_MAX + NAME_MAX + 1];
    bool denied = false;

    if (file[0] == '\0') {
        errno = ENOENT;
        return;
    }
    if (strchr(file, '/') != NULL) {
        exec_file(file, argv, envp, sh);
        return;
    }
    size_t flen = strlen(file) + 1;
    if (flen > NAME_MAX + 1) {
        errno = ENAMETOOLONG;
        return;
    }
    for (const char *p = env_path(envp);; p++) {
        const char *end = strchrnul(p, ':');
        size_t len = (size_t)(end - p);
        if (len < PATH_MAX) { /* longer: skipped, as execvp() does */
            memcpy(path, p, len);
            path[len] = '/';
            memcpy(path + len + (len > 0), file, flen);
            exec_file(path, argv, envp, sh);
            if (errno == EACCES)
                denied = true;
            else if (errno != ENOENT && errno != ESTALE && errno != ENOTDIR &&
                     errno != ENODEV && errno != ETIMEDOUT)
                return;
        }
        p = end;
        if (*p == '\0')
            break;
    }
    if (denied)
        errno = EACCES;
}

/*
 * From clone() to exec. Signals are all blocked on entry (see
 * spawn_process) and unblocked last, after every disposition is back to
 * default.
 */
CHILD_CODE static int run_child(void *arg)
{
    const struct child_args *a = arg;
    const struct spawn_opts *o = a->o;
    int status_fd = a->status_fd;
    ksigset none = 0;

    reset_signals();
    if (setsid() < 0)
        child_fail(status_fd, SPAWN_STEP_SETUP);
    if (o->pid_room)
        put_pid(o->pid_room, (long)syscall(SYS_getpid));

    /* Lift every fd we still need above 0-2 before wiring stdio. */
    int out = o->stdout_fd;
    int err = o->stderr_fd;
    if (lift(&status_fd) < 0)
        _exit(127);
    if (lift(&out) < 0 || lift(&err) < 0)
        child_fail(status_fd, SPAWN_STEP_STDIO);
    int keep = o->keep_at > STDERR_FILENO ? o->keep_fd : -1;
    if (lift(&keep) < 0)
        child_fail(status_fd, SPAWN_STEP_STDIO);
    if (wire(-1, STDIN_FILENO, O_RDONLY) < 0 ||
        wire(out, STDOUT_FILENO, O_WRONLY) < 0 ||
        wire(err, STDERR_FILENO, O_WRONLY) < 0)
        child_fail(status_fd, SPAWN_STEP_STDIO);
    /* The status pipe moves off keep_at, which keep then takes. */
    int at = keep >= 0 ? o->keep_at : status_fd;
    if (keep >= 0 && status_fd == at) {
        status_fd = fcntl(status_fd, F_DUPFD_CLOEXEC, at + 1);
        if (status_fd < 0)
            _exit(127);
    }
    if (keep >= 0 && wire(keep, at, 0) < 0)
        child_fail(status_fd, SPAWN_STEP_STDIO);
    /* Keep 0-2, the status pipe (close-on-exec) and at; drop the rest. */
    unsigned lo = (unsigned)(status_fd < at ? status_fd : at);
    unsigned hi = (unsigned)(status_fd < at ? at : status_fd);
    close_between(STDERR_FILENO + 1, lo - 1);
    if (hi > lo)
        close_between(lo + 1, hi - 1);
    close_between(hi + 1, ~0u);

    if (o->set_umask)
        umask(o->umask);
    if (o->set_ids) {
        if (syscall(SYS_setgroups, o->groups_count, o->groups) < 0)
            child_fail(status_fd, SPAWN_STEP_GROUPS);
        if (syscall(SYS_SETGID, o->gid) < 0)
            child_fail(status_fd, SPAWN_STEP_GID);
        if (syscall(SYS_SETUID, o->uid) < 0)
            child_fail(status_fd, SPAWN_STEP_UID);
    } else if (syscall(SYS_setgroups, 0, NULL) < 0 && errno != EPERM) {
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
    if (getppid() != a->parent)
        _exit(127);
    if (o->cwd && chdir(o->cwd) < 0)
        child_fail(status_fd, SPAWN_STEP_CWD);

    set_mask(&none, NULL);
    exec_search(o->argv, o->envp, a->sh);
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
    ksigset all = ~0ull;
    ksigset old;
    set_mask(&all, &old);
    pid_t child = fork();
    if (child != 0) {
        int err = errno;
        set_mask(&old, NULL);
        errno = err;
    }
    return child;
}

/* The child's stack, over exec_search()'s path and the shell's argv. */
#define CHILD_STACK (32 * 1024)

int spawn_process(const struct spawn_opts *o, pid_t *pid, int *status_fd)
{
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) < 0)
        return -errno;

    size_t argc = 0;
    while (o->argv[argc] != NULL)
        argc++;
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    size_t sh_size = (argc + 2) * sizeof(char *);
    size_t size = CHILD_STACK + PATH_MAX + sh_size;
    size = (size + page - 1) / page * page;
    void *stack = mmap(NULL, size, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
    if (stack == MAP_FAILED) {
        int err = errno;
        close(fds[0]);
        close(fds[1]);
        return -err;
    }

    struct child_args a = {
        .o = o, .status_fd = fds[1], .parent = getpid(), .sh = stack};
    ksigset all = ~0ull;
    ksigset old;
    set_mask(&all, &old);
    /* Returns once the child has exec'd or exited: its stack is free. */
    pid_t child = clone(run_child, (char *)stack + size,
                        CLONE_VM | CLONE_VFORK | SIGCHLD, &a);
    int err = errno;
    set_mask(&old, NULL);
    munmap(stack, size);
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
