#include "proc/reaper.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/log.h"
#include "base/util.h"

static void on_any_child(EV_P_ ev_child *w, int revents)
{
    (void)loop;
    (void)revents;
    LOG_DEBUG("reaped process", LF_INT("pid", w->rpid),
              LF_INT("status", w->rstatus));
}

void reaper_start(struct reaper *r, struct ev_loop *loop)
{
    r->loop = loop;
    if (getpid() != 1 && prctl(PR_SET_CHILD_SUBREAPER, 1) < 0)
        LOG_WARN("cannot become a child subreaper; orphans will not be "
                 "reaped by sidecar",
                 LF_STR("error", strerror(errno)));
    ev_child_init(&r->any_w, on_any_child, 0, 0);
    ev_child_start(loop, &r->any_w);
}

void reaper_stop(struct reaper *r)
{
    ev_child_stop(r->loop, &r->any_w);
}

/* What sidecar reads of a process's /proc/<pid>/stat. */
struct proc_stat {
    char comm[17]; /* at most 15 bytes and the NUL; longer ones cut */
    char state;    /* R, S, Z, ... */
    pid_t ppid;
    pid_t pgrp;
};

/* Reads /proc/<pid>/stat; -1 if the process is gone. */
static int read_stat(const char *pid, struct proc_stat *st)
{
    char path[300];
    char line[512];
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
    int ppid;
    int pgrp;
    if (!open_paren || !close_paren || close_paren < open_paren ||
        sscanf(close_paren + 1, " %c %d %d", &st->state, &ppid, &pgrp) != 3)
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

size_t reaper_describe_group(pid_t pgid, char *buf, size_t len)
{
    size_t count = 0;
    size_t used = 0;
    buf[0] = '\0';
    DIR *d = opendir("/proc");
    if (!d)
        return 0;
    for (;;) {
        struct dirent *de = readdir(d);
        if (!de)
            break;
        struct proc_stat st;
        if (!isdigit((unsigned char)de->d_name[0]) ||
            read_stat(de->d_name, &st) < 0 || st.pgrp != pgid ||
            st.state == 'Z')
            continue;
        count++;
        if (used >= len)
            continue;
        int n = snprintf(buf + used, len - used, "%s%s %s", used ? ", " : "",
                         de->d_name, st.comm);
        used = n < 0 || (size_t)n >= len - used ? len : used + (size_t)n;
    }
    closedir(d);
    if (used >= len && len > 4)
        memcpy(buf + len - 4, "...", 4); /* cut: say so */
    return count;
}

/* SIGKILLs every live child of ours. */
static void kill_children(void)
{
    pid_t self = getpid();
    DIR *d = opendir("/proc");
    if (!d)
        return;
    for (;;) {
        struct dirent *de = readdir(d);
        if (!de)
            break;
        if (!isdigit((unsigned char)de->d_name[0]))
            continue;
        struct proc_stat st;
        if (read_stat(de->d_name, &st) < 0 || st.ppid != self ||
            st.state == 'Z')
            continue; /* not ours, or dead and only waiting to be reaped */
        pid_t pid = (pid_t)atoi(de->d_name);
        if (kill(pid, SIGKILL) == 0)
            LOG_DEBUG("killing leftover process", LF_INT("pid", pid));
    }
    closedir(d);
}

/*
 * Kills and reaps in rounds: a killed process's own children are adopted
 * by us only once it is dead, and the next round finds them.
 */
int reaper_kill_children(double timeout_s)
{
    double deadline = util_mono_now() + timeout_s;
    int reaped = 0;
    bool rescan = true;
    for (;;) {
        if (rescan)
            kill_children();
        pid_t pid;
        rescan = false;
        for (;;) {
            pid = waitpid(-1, NULL, WNOHANG);
            if (pid <= 0)
                break;
            reaped++;
            rescan = true; /* its orphans are ours now */
        }
        if (pid < 0 && errno == ECHILD)
            return reaped; /* no child left at all */
        if (util_mono_now() >= deadline)
            return reaped;
        if (!rescan) {
            struct timespec tick = {0, 2 * 1000 * 1000};
            nanosleep(&tick, NULL);
        }
    }
}
