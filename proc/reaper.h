/*
 * PID-1 duties that are not about any one service: become a child
 * subreaper when not PID 1, so orphaned grandchildren are reparented to
 * us; reap them (libev reaps every child; a catch-all ev_child logs the
 * ones no service claims); and at exit, kill and reap whatever adopted
 * processes are left. Owns one ev_child.
 */
#ifndef SIDECAR_PROC_REAPER_H
#define SIDECAR_PROC_REAPER_H

#include <ev.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct reaper {
    struct ev_loop *loop;
    ev_child any_w;
};

/* Sets up reaping. Warns (does not fail) when subreaping is impossible. */
void reaper_start(struct reaper *r, struct ev_loop *loop);

void reaper_stop(struct reaper *r);

/*
 * Writes "PID COMM, PID COMM" for the live processes of group pgid into
 * buf (len > 0; cut with "..." when it does not fit), for a log line;
 * returns how many there are. Scans /proc: for rare events only.
 */
size_t reaper_describe_group(pid_t pgid, char *buf, size_t len);

/*
 * SIGKILLs every remaining child of ours (adopted orphans, by now) and
 * reaps them, their own orphans included, waiting at most timeout_s.
 * Blocks: for the exit path only. Returns how many were reaped.
 */
int reaper_kill_children(double timeout_s);

#endif
