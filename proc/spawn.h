/*
 * Starting a child process the way a supervisor must: its own session and
 * process group, stdin from /dev/null, stdout/stderr onto given fds, no
 * other descriptor of ours, default signal mask and dispositions, killed if
 * sidecar dies, and credentials/cwd/umask applied. Services and exec
 * probes spawn through struct child (proc/child.h). Nothing here blocks:
 * whether exec succeeded is told by a close-on-exec pipe the caller watches.
 */
#ifndef SIDECAR_PROC_SPAWN_H
#define SIDECAR_PROC_SPAWN_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "base/util.h"

/* Room for a pid in decimal and its NUL. */
#define SPAWN_PID_ROOM 12

struct spawn_opts {
    char *const *argv; /* argv[0] is looked up in envp's PATH */
    char *const *envp; /* the child's whole environment */
    const char *cwd;   /* NULL: keep ours */
    int stdout_fd;     /* -1: /dev/null */
    int stderr_fd;     /* -1: /dev/null */
    int keep_fd;       /* with keep_at: given to the child as keep_at */
    int keep_at;       /* >= 3; 0: none (ready: {fd: N}'s pipe) */
    char *pid_room;    /* NULL, or SPAWN_PID_ROOM bytes inside an envp
                          entry, where the child writes its pid (decimal,
                          NUL-terminated): WATCHDOG_PID= */
    bool set_umask;
    mode_t umask;
    bool set_ids; /* switch to uid/gid/groups below; else no groups */
    uid_t uid;
    gid_t gid;
    const gid_t *groups;
    size_t groups_count;
};

/* What the child reports on the status pipe when it fails before exec. */
struct spawn_failure {
    int step; /* enum spawn_step */
    int err;  /* errno */
};

enum spawn_step {
    SPAWN_STEP_SETUP,
    SPAWN_STEP_STDIO,
    SPAWN_STEP_UMASK,
    SPAWN_STEP_GROUPS,
    SPAWN_STEP_GID,
    SPAWN_STEP_UID,
    SPAWN_STEP_CWD,
    SPAWN_STEP_EXEC,
};

/*
 * fork() with every signal blocked across it (glibc's own 32 and 33 too),
 * so that none of the parent's handlers runs in the child: returns as
 * fork() does (errno kept); the parent's mask is back on return, the
 * child's stays full until it sets its own. For a child that runs on
 * without exec (the guard); spawn_process() does not fork.
 */
pid_t spawn_fork_blocked(void);

/*
 * Starts o->argv: clone(CLONE_VM | CLONE_VFORK), as posix_spawn() does, so
 * the cost does not grow with sidecar's size; returns once the child has
 * exec'd or failed (a chdir or exec that hangs holds the caller). argv[0]
 * is looked up as execvp() would, in o->envp's PATH. On 0, *pid is the
 * child (also its process group and session id) and *status_fd the
 * non-blocking read end of its status pipe: EOF means exec succeeded, a
 * struct spawn_failure means it did not (the child then exits 127, or 126
 * for EACCES). -errno when the clone, its stack or a pipe failed; nothing
 * was started then.
 */
int spawn_process(const struct spawn_opts *o, pid_t *pid,
                  int *status_fd) ATTR_WUR;

/*
 * True when sidecar may set a child's supplementary groups, or drop them:
 * it has CAP_SETGID, in a user namespace that allows setgroups. Asking
 * changes nothing.
 */
bool spawn_may_set_groups(void);

/*
 * A child spawned without set_ids has no supplementary groups, unless
 * sidecar may not drop them (spawn_may_set_groups): then it keeps sidecar's.
 * Returns how many of those (less sidecar's own gid) children keep, with
 * *groups a new array of them (free()), NULL when 0; -errno if unknown.
 */
int spawn_kept_groups(gid_t **groups) ATTR_WUR;

/* "chdir", "exec", ... for a failed step. */
const char *spawn_step_name(int step);

/* Makes a pipe for a child's output: *rd non-blocking, both close-on-exec. */
int spawn_output_pipe(int *rd, int *wr) ATTR_WUR;

/* True when entry ("NAME=value") sets one of the names in hidden
 * (NULL-terminated; NULL hides nothing). */
bool spawn_env_hidden(const char *entry, char *const *hidden);

/*
 * envp less every "NAME=..." whose NAME is in hidden (NULL-terminated; NULL
 * hides nothing), except in envp's first keep entries: a new array of
 * envp's own strings, to free() alone. NULL on ENOMEM.
 */
char **spawn_env_without(char *const *envp, size_t keep,
                         char *const *hidden) ATTR_WUR;

/*
 * What children inherit: our environment less a PWD that does not name our
 * working directory (where a child without cwd starts) and less
 * NOTIFY_SOCKET, WATCHDOG_USEC and WATCHDOG_PID (they are sidecar's), as
 * spawn_env_without() returns it. It stat()s PWD, which may hang on a dead
 * mount: call it once at start, not from the loop (neither PWD nor our cwd
 * changes later).
 */
char **spawn_env_inherited(void) ATTR_WUR;

/* Closes every fd >= lowfd (for the child's side, and for tests). */
void spawn_close_from(int lowfd);

#endif
