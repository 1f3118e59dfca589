/*
 * exec probes: runs the command in its own session and process group
 * (proc/spawn.c: no descriptor of ours, default signal state), as its
 * service runs (its ids, groups, env and cwd, with the probe's own keys
 * over them: p->as, resolved by probe.c), keeps
 * the first PROBE_OUTPUT_MAX bytes of its stdout+stderr as the reason
 * (less a UTF-8 character the cut would tear),
 * passes on exit 0. Cancelling SIGKILLs the whole group; libev reaps it.
 * Owns, per run, a pipe, an ev_io and a struct child (proc/child.h).
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/json.h"
#include "conf/parse.h"
#include "conf/runas.h"
#include "probes/probe.h"
#include "proc/child.h"
#include "proc/spawn.h"

struct exec_run {
    struct probe *p;
    struct child proc;
    ev_io out_w;
    struct buf out; /* the first PROBE_OUTPUT_MAX bytes */
    bool cut;       /* more came than out keeps */
};

static void on_child_exit(struct child *c, int st);

static int exec_init(struct probe *p)
{
    struct exec_run *r = calloc(1, sizeof(*r));
    if (!r)
        return -ENOMEM;
    r->p = p;
    child_init(&r->proc, p->owner->loop, on_child_exit, NULL);
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
        r->cut |= keep < (size_t)n;
        /* The reason is a C string: a NUL would hide what follows. As a
         * byte that is not UTF-8 it shows as U+FFFD, like any such. */
        for (char *z = memchr(chunk, '\0', keep); z;
             z = memchr(z, '\0', keep - (size_t)(z - chunk)))
            *z = (char)0xff;
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
    (void)child_signal(&r->proc, SIGKILL);
    child_stop(&r->proc);
    if (r->out_w.fd >= 0) {
        ev_io_stop(loop, &r->out_w);
        close(r->out_w.fd);
        ev_io_set(&r->out_w, -1, EV_READ);
    }
}

/* Output as a reason: never a torn UTF-8 character where it was cut (as
 * a log line's pieces), trailing whitespace trimmed. */
static const char *output_text(struct exec_run *r)
{
    if (r->cut)
        buf_truncate(&r->out, json_utf8_cut(r->out.data, r->out.len));
    while (r->out.len && strchr(" \t\r\n", r->out.data[r->out.len - 1]))
        buf_truncate(&r->out, r->out.len - 1);
    return r->out.len ? r->out.data : "";
}

static void on_child_exit(struct child *c, int st)
{
    struct exec_run *r = container_of(c, struct exec_run, proc);
    struct probe *p = r->p;
    char why[CHILD_WHY_MAX];
    bool exec_failed = child_exec_status(c, why, sizeof(why)) == 0;

    /* What is left of its group goes first, so nothing keeps writing. */
    (void)child_reap(c);
    (void)child_end_group(c);
    drain(r);
    release(r);
    const char *out = output_text(r);
    if (exec_failed) {
        probe_report(p, false, "cannot run: %s", why);
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
    /* Less the token's variables, unless its (service's) env sets them. */
    char **envp = runas_env(p->as, p->owner->hidden_env);
    struct spawn_opts o = {
        .argv = p->cfg->command.argv,
        .envp = envp,
        .stdout_fd = wr,
        .stderr_fd = wr,
    };
    runas_apply(p->as, &o);
    rc = envp ? child_spawn(&r->proc, &o) : -ENOMEM;
    free(envp);
    close(wr);
    if (rc < 0) {
        close(rd);
        return rc;
    }
    buf_truncate(&r->out, 0);
    r->cut = false;
    ev_io_init(&r->out_w, on_output, rd, EV_READ);
    ev_io_start(p->owner->loop, &r->out_w);
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
