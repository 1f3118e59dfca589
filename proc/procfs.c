#include "proc/procfs.h"

#include <stdio.h>
#include <string.h>

int procfs_read_stat(const char *pid, struct procfs_stat *st)
{
    char path[300];
    char line[1024];
    memset(st, 0, sizeof(*st));
    snprintf(path, sizeof(path), "/proc/%s/stat", pid);
    FILE *f = fopen(path, "re");
    if (!f)
        return -1;
    size_t n = fread(line, 1, sizeof(line) - 1, f);
    fclose(f);
    line[n] = '\0';
    /* "pid (comm) state ppid pgrp ...": comm may hold spaces and parens. */
    char *open_paren = strchr(line, '(');
    char *close_paren = strrchr(line, ')');
    if (!open_paren || !close_paren || close_paren < open_paren)
        return -1;
    int ppid = 0;
    int pgrp = 0;
    /* Fields 3-5, then 14-15 and 22-24 of proc(5). */
    int got = sscanf(close_paren + 1,
                     " %c %d %d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu "
                     "%*d %*d %*d %*d %*d %*d %llu %lu %ld",
                     &st->state, &ppid, &pgrp, &st->utime, &st->stime,
                     &st->start, &st->vsize, &st->rss);
    if (got < 3)
        return -1;
    size_t len = (size_t)(close_paren - open_paren - 1);
    if (len >= sizeof(st->comm))
        len = sizeof(st->comm) - 1;
    memcpy(st->comm, open_paren + 1, len);
    st->comm[len] = '\0';
    st->ppid = ppid;
    st->pgrp = pgrp;
    return 0;
}
