#include "sidecar/reaper.h"

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

#include "sidecar/log.h"
#include "sidecar/util.h"

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

/* The parent pid and state letter from /proc/<pid>/stat; -1 if gone. */
static pid_t parent_of(const char *pid, char *state)
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
    /* "pid (comm) state ppid ...": comm may hold spaces and parens. */
    char *close_paren = strrchr(line, ')');
    int ppid;
    if (!close_paren || sscanf(close_paren + 1, " %c %d", state, &ppid) != 2)
        return -1;
    return ppid;
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
        char state;
        if (parent_of(de->d_name, &state) != self || state == 'Z')
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
