/*
 * exec probes: runs the command in its own session and process group
 * (proc/spawn.c: no descriptor of ours, default signal state), keeps
 * the first PROBE_OUTPUT_MAX bytes of its stdout+stderr as the reason,
 * passes on exit 0. Cancelling SIGKILLs the whole group; libev reaps it.
 * Owns, per run, a pipe, an ev_io and an ev_child.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/buf.h"
#include "conf/parse.h"
#include "probes/probe.h"
#include "proc/spawn.h"

#define PROBE_OUTPUT_MAX 4096

struct exec_run {
    struct probe *p;
    pid_t pid;
    int status_fd; /* spawn's exec status pipe */
    ev_child child_w;
    ev_io out_w;
    struct buf out; /* the first PROBE_OUTPUT_MAX bytes */
};

static int exec_init(struct probe *p)
{
    struct exec_run *r = calloc(1, sizeof(*r));
    if (!r)
        return -ENOMEM;
    r->p = p;
    r->status_fd = -1;
    ev_io_init(&r->out_w, NULL, -1, EV_READ);
    buf_init(&r->out, PROBE_OUTPUT_MAX);
    p->data = r;
    return 0;
}

/*
 * Reads what the pipe has: the first bytes are kept, the rest dropped. At
 * EOF the watcher stops (a pipe at EOF is always readable).
 */
static void drain(struct exec_run *r)
{
    char chunk[64 * 1024];
    for (;;) {
        ssize_t n = read(r->out_w.fd, chunk, sizeof(chunk));
        if (n < 0 && errno == EINTR)
            continue;
        if (n == 0)
            ev_io_stop(r->p->owner->loop, &r->out_w);
        if (n <= 0)
            return;
        size_t room = r->out.max - r->out.len;
        size_t keep = (size_t)n < room ? (size_t)n : room;
        if (keep && buf_append(&r->out, chunk, keep) < 0)
            return;
    }
}

static void on_output(EV_P_ ev_io *w, int revents)
{
    (void)loop;
    (void)revents;
    drain(container_of(w, struct exec_run, out_w));
}

/* Ends the run's resources: group killed, watchers stopped, fds closed. */
static void release(struct exec_run *r)
{
    struct ev_loop *loop = r->p->owner->loop;
    if (r->pid > 0 && kill(-r->pid, SIGKILL) < 0 && errno == ESRCH)
        kill(r->pid, SIGKILL); /* before its setsid() */
    r->pid = 0;
    ev_child_stop(loop, &r->child_w);
    if (r->out_w.fd >= 0) {
        ev_io_stop(loop, &r->out_w);
        close(r->out_w.fd);
        ev_io_set(&r->out_w, -1, EV_READ);
    }
    if (r->status_fd >= 0) {
        close(r->status_fd);
        r->status_fd = -1;
    }
}

/* Output as a reason: trailing whitespace trimmed. */
static const char *output_text(struct exec_run *r)
{
    while (r->out.len && strchr(" \t\r\n", r->out.data[r->out.len - 1]))
        buf_truncate(&r->out, r->out.len - 1);
    return r->out.len ? r->out.data : "";
}

static void on_child_exit(EV_P_ ev_child *w, int revents)
{
    (void)loop;
    (void)revents;
    struct exec_run *r = container_of(w, struct exec_run, child_w);
    struct probe *p = r->p;
    int st = w->rstatus;
    struct spawn_failure f;
    bool exec_failed = read(r->status_fd, &f, sizeof(f)) == sizeof(f);

    /*
     * What is left of its group goes first, so nothing keeps writing. The
     * leader is reaped: only its group may be signalled now.
     */
    kill(-r->pid, SIGKILL);
    r->pid = 0;
    drain(r);
    release(r);
    const char *out = output_text(r);
    if (exec_failed) {
        probe_report(p, false, "cannot run: %s: %s", spawn_step_name(f.step),
                     strerror(f.err));
    } else if (WIFEXITED(st) && WEXITSTATUS(st) == 0) {
        probe_report(p, true, "%s", *out ? out : "exit 0");
    } else if (WIFSIGNALED(st)) {
        probe_report(p, false, "killed by %s%s%s",
                     cfg_signal_name(WTERMSIG(st)), *out ? ": " : "", out);
    } else {
        probe_report(p, false, "exit %d%s%s", WEXITSTATUS(st), *out ? ": " : "",
                     out);
    }
}

static int exec_start(struct probe *p)
{
    struct exec_run *r = p->data;
    int rd;
    int wr;
    int rc = spawn_output_pipe(&rd, &wr);
    if (rc < 0)
        return rc;
    /* sidecar's environment less its token: a probe has no env to ask. */
    char **envp = spawn_env_without(p->owner->env, 0, p->owner->hidden_env);
    struct spawn_opts o = {
        .argv = p->cfg->command.argv,
        .envp = envp,
        .stdout_fd = wr,
        .stderr_fd = wr,
    };
    pid_t pid;
    rc = envp ? spawn_process(&o, &pid, &r->status_fd) : -ENOMEM;
    free(envp);
    close(wr);
    if (rc < 0) {
        close(rd);
        return rc;
    }
    buf_truncate(&r->out, 0);
    r->pid = pid;
    struct ev_loop *loop = p->owner->loop;
    ev_child_init(&r->child_w, on_child_exit, pid, 0);
    ev_child_start(loop, &r->child_w);
    ev_io_init(&r->out_w, on_output, rd, EV_READ);
    ev_io_start(loop, &r->out_w);
    return 0;
}

static void exec_cancel(struct probe *p)
{
    release(p->data);
}

static void exec_destroy(struct probe *p)
{
    struct exec_run *r = p->data;
    if (!r)
        return;
    release(r);
    buf_free(&r->out);
    free(r);
    p->data = NULL;
}

const struct probe_kind probe_kind_exec = {
    .name = "exec",
    .init = exec_init,
    .start = exec_start,
    .cancel = exec_cancel,
    .destroy = exec_destroy,
};
