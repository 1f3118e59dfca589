/*
 * The last-chance guard. When sidecar is not PID 1, a SIGKILL of sidecar
 * would leave the processes its services forked running (each service's
 * main process dies through PR_SET_PDEATHSIG, its children do not). The
 * guard is a child forked, not exec'd, at start that holds only the read
 * end of a pipe: sidecar writes it each service's process group as the
 * service starts and again once the group is gone. At EOF, however
 * sidecar ended, the guard SIGKILLs every group it still holds and exits.
 * It ignores the signals a terminal or `kill -- -PGID` sends sidecar's
 * group. struct sidecar owns one; services borrow it.
 */
#ifndef SIDECAR_PROC_GUARD_H
#define SIDECAR_PROC_GUARD_H

#include <stdbool.h>
#include <sys/types.h>

#include "base/util.h"

/* Groups the guard holds at once; beyond that a SIGKILL may leave some. */
#define GUARD_GROUPS_MAX 1024

struct guard {
    int fd;      /* the pipe's write end, non-blocking; -1: no guard */
    pid_t pid;   /* the guard's */
    bool warned; /* a lost record was logged */
};

/* No guard yet: the notes below do nothing until guard_start. */
void guard_init(struct guard *g);

/*
 * Forks the guard, unless sidecar is PID 1 (the kernel ends every process
 * of the container with it then; 0 and no guard). -errno when the pipe
 * or the fork failed: sidecar runs on without one.
 */
int guard_start(struct guard *g) ATTR_WUR;

/* The service whose process group is pgid started; g may be NULL. */
void guard_watch(struct guard *g, pid_t pgid);

/* pgid is gone (its leader reaped, the rest SIGKILLed); g may be NULL. */
void guard_forget(struct guard *g, pid_t pgid);

/* Closes the pipe: the guard kills what it still holds and exits. */
void guard_stop(struct guard *g);

/*
 * guard_stop, then reaps the guard, waiting at most timeout_s for it to
 * exit: what sidecar reaps after that is left over from its services.
 */
void guard_end(struct guard *g, double timeout_s);

#endif
