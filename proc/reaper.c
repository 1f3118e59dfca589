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
#include "proc/procfs.h"

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
        struct procfs_stat st;
        if (!isdigit((unsigned char)de->d_name[0]) ||
            procfs_read_stat(de->d_name, &st) < 0 || st.pgrp != pgid ||
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
        struct procfs_stat st;
        if (procfs_read_stat(de->d_name, &st) < 0 || st.ppid != self ||
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
