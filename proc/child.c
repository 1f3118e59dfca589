#define _DEFAULT_SOURCE /* getpgid */
#include "proc/child.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "proc/spawn.h"

static void on_leader_exit(EV_P_ ev_child *w, int revents)
{
    (void)loop;
    (void)revents;
    struct child *c = container_of(w, struct child, exit_w);
    c->on_exit(c, w->rstatus);
}

static void on_exec_status(EV_P_ ev_io *w, int revents)
{
    (void)loop;
    (void)revents;
    struct child *c = container_of(w, struct child, exec_w);
    c->on_exec(c);
}

void child_init(struct child *c, struct ev_loop *loop, child_exit_fn *exit_cb,
                child_exec_fn *exec_cb)
{
    c->pid = 0;
    c->pgid = 0;
    c->loop = loop;
    c->on_exit = exit_cb;
    c->on_exec = exec_cb;
    ev_child_init(&c->exit_w, on_leader_exit, 0, 0);
    ev_io_init(&c->exec_w, on_exec_status, -1, EV_READ);
}

int child_spawn(struct child *c, const struct spawn_opts *o)
{
    pid_t pid;
    int status_fd;
    int rc = spawn_process(o, &pid, &status_fd);
    if (rc < 0)
        return rc;
    c->pid = pid;
    c->pgid = pid; /* setsid() in the child */
    ev_child_set(&c->exit_w, pid, 0);
    ev_child_start(c->loop, &c->exit_w);
    ev_io_set(&c->exec_w, status_fd, EV_READ);
    if (c->on_exec)
        ev_io_start(c->loop, &c->exec_w);
    return 0;
}

void child_adopt(struct child *c, pid_t pid)
{
    ev_child_stop(c->loop, &c->exit_w);
    c->pid = pid;
    ev_child_set(&c->exit_w, pid, 0);
    ev_child_start(c->loop, &c->exit_w);
}

void child_exit_later(struct child *c, int st)
{
    c->pid = 0;
    c->exit_w.rstatus = st;
    ev_feed_event(c->loop, &c->exit_w, EV_CHILD);
}

void child_exec_forget(struct child *c)
{
    if (c->exec_w.fd < 0)
        return;
    ev_io_stop(c->loop, &c->exec_w);
    close(c->exec_w.fd);
    ev_io_set(&c->exec_w, -1, EV_READ);
}

int child_exec_status(struct child *c, char *why, size_t len)
{
    struct spawn_failure f;
    ssize_t n;
    if (c->exec_w.fd < 0)
        return -EBADF;
    do {
        n = read(c->exec_w.fd, &f, sizeof(f));
    } while (n < 0 && errno == EINTR);
    if (n < 0 && errno == EAGAIN)
        return -EAGAIN;
    child_exec_forget(c);
    if (n != (ssize_t)sizeof(f))
        return 1; /* EOF: closed by the exec */
    snprintf(why, len, "%s: %s", spawn_step_name(f.step), strerror(f.err));
    return 0;
}

pid_t child_reap(struct child *c)
{
    pid_t pid = c->pid;
    ev_child_stop(c->loop, &c->exit_w);
    c->pid = 0;
    return pid;
}

int child_signal(struct child *c, int sig)
{
    if (c->pgid <= 0)
        return -ESRCH;
    int rc = kill(-c->pgid, sig) == 0 ? 0 : -errno;
    /* The leader when the group is gone; an adopted MAINPID that left the
     * group (a daemon's setsid) always: it is the service's process. */
    if (c->pid > 0 && (rc == -ESRCH || getpgid(c->pid) != c->pgid) &&
        kill(c->pid, sig) == 0)
        rc = 0;
    return rc;
}

bool child_group_alive(const struct child *c)
{
    /* EPERM: one is left that we may not signal. */
    return c->pgid > 0 && (kill(-c->pgid, 0) == 0 || errno != ESRCH);
}

int child_end_group(struct child *c)
{
    pid_t pgid = c->pgid;
    c->pgid = 0;
    if (pgid > 0 && kill(-pgid, SIGKILL) < 0)
        return -errno;
    return 0;
}

void child_stop(struct child *c)
{
    ev_child_stop(c->loop, &c->exit_w);
    child_exec_forget(c);
    c->pid = 0;
    c->pgid = 0;
}
