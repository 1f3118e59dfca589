/*
 * struct child: one process sidecar spawned (proc/spawn.c) with its own
 * process group, as services and exec probes run them: the leader's exit,
 * the exec status pipe, signals to the group. The owner embeds it, keeps
 * its own state machine and recovers itself with container_of() in the
 * callbacks. Embeds an ev_child (the leader) and an ev_io (the pipe).
 */
#ifndef SIDECAR_PROC_CHILD_H
#define SIDECAR_PROC_CHILD_H

#include <ev.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "base/util.h"

/* Room for the words of a failed start: "chdir: No such file or ...". */
#define CHILD_WHY_MAX 96

struct child;
struct spawn_opts;

/* The leader exited with wait status st; c->pid is still set. */
typedef void child_exit_fn(struct child *c, int st);

/* The exec status pipe is readable: child_exec_status() has the answer. */
typedef void child_exec_fn(struct child *c);

struct child {
    /* read-only outside child.c */
    pid_t pid;  /* the leader, until child_reap(); else 0 */
    pid_t pgid; /* its process group, until child_end_group(); else 0 */

    /* private */
    struct ev_loop *loop;
    ev_child exit_w;
    ev_io exec_w; /* the exec status pipe; fd -1 once answered */
    child_exit_fn *on_exit;
    child_exec_fn *on_exec;
};

/*
 * No process yet. exec_cb NULL: the status pipe is not watched, only
 * read when asked (child_exec_status()).
 */
void child_init(struct child *c, struct ev_loop *loop, child_exit_fn *exit_cb,
                child_exec_fn *exec_cb);

/*
 * Spawns o's command (its own session: pid and pgid are the same) and
 * watches it. -errno when nothing was started; no callback fires then.
 */
int child_spawn(struct child *c, const struct spawn_opts *o) ATTR_WUR;

/*
 * The leader is gone (reaped): pid, a process of its that sidecar now
 * parents (the subreaper inherits a dead leader's children), is watched
 * in its place, and is the one c->pid names; the group stays c->pgid.
 */
void child_adopt(struct child *c, pid_t pid);

/*
 * For a start that failed before any process: on_exit gets st from the
 * loop, never from inside this call, with no pid.
 */
void child_exit_later(struct child *c, int st);

/*
 * What the exec status pipe says: 1 the program was executed, 0 it was
 * not (why, of len bytes, says what failed), -EAGAIN no answer yet,
 * -EBADF no pipe (answered before). The pipe is closed once answered.
 */
int child_exec_status(struct child *c, char *why, size_t len);

/* Closes the status pipe: what it says from now on is not asked. */
void child_exec_forget(struct child *c);

/* The leader is reaped: stops watching it, returns its pid (0: none). */
pid_t child_reap(struct child *c);

/*
 * Sends sig to the group, and to the leader when the group does not exist
 * yet (before the child's setsid()) or the leader is not in it (an adopted
 * MAINPID that left it): 0, or -errno (-ESRCH: nothing left).
 */
int child_signal(struct child *c, int sig);

/* True while a process of the group is left (or one we may not signal). */
bool child_group_alive(const struct child *c);

/*
 * SIGKILLs what is left of the group, once its leader is reaped (its pid
 * may be reused: only the group is signalled), and forgets the group:
 * 0, or -errno (-ESRCH: nothing was left).
 */
int child_end_group(struct child *c);

/*
 * Stops every watcher and closes the pipe; no callback fires after. The
 * process, if any, is not signalled.
 */
void child_stop(struct child *c);

#endif
