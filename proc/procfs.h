/*
 * What sidecar reads of a process from /proc/PID/stat: the reaper, to
 * find a group's processes and its own leftover children; the metrics, for
 * sidecar's own process_* figures. Stateless: no watchers, nothing owned.
 */
#ifndef SIDECAR_PROC_PROCFS_H
#define SIDECAR_PROC_PROCFS_H

#include <sys/types.h>

struct procfs_stat {
    char comm[17]; /* at most 15 bytes and the NUL; longer cut */
    char state;    /* R, S, Z, ... */
    pid_t ppid;
    pid_t pgrp;
    unsigned long utime;      /* clock ticks */
    unsigned long stime;      /* clock ticks */
    unsigned long long start; /* clock ticks after boot */
    unsigned long vsize;      /* bytes */
    long rss;                 /* pages */
};

/*
 * Reads /proc/<pid>/stat (pid a decimal PID, or "self") into *st, zeroed
 * first. Returns 0, or -1 if the process is gone or the line unreadable
 * (the fields up to pgrp missing); the later fields stay 0 when missing.
 */
int procfs_read_stat(const char *pid, struct procfs_stat *st);

#endif
