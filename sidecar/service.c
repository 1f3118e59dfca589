#define _DEFAULT_SOURCE /* random */
#include "sidecar/service.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/log.h"
#include "conf/parse.h"
#include "conf/runas.h"
#include "proc/child.h"
#include "proc/guard.h"
#include "proc/procfs.h"
#include "proc/reaper.h"
#include "proc/relay.h"
#include "proc/spawn.h"

static const char *const state_names[] = {
    [SVC_WAITING] = "waiting",     [SVC_STARTING] = "starting",
    [SVC_RUNNING] = "running",     [SVC_BACKOFF] = "backoff",
    [SVC_STOPPING] = "stopping",   [SVC_STOPPED] = "stopped",
    [SVC_EXITED] = "exited",       [SVC_FATAL] = "fatal",
    [SVC_COMPLETED] = "completed",
};

static const char *const event_names[] = {
    [SVC_EV_START] = "start",
    [SVC_EV_EXEC_OK] = "exec_ok",
    [SVC_EV_EXIT] = "exit",
    [SVC_EV_TIMER] = "timer",
    [SVC_EV_GROUP_GONE] = "group_gone",
    [SVC_EV_STOP] = "stop",
    [SVC_EV_KILL] = "kill",
    [SVC_EV_ABANDON] = "abandon",
    [SVC_EV_RESTART] = "restart",
    [SVC_EV_READY] = "ready",
    [SVC_EV_WATCHDOG] = "watchdog",
};

const char *svc_state_name(enum svc_state state)
{
    return state_names[state];
}

const char *svc_event_name(enum svc_event ev)
{
    return event_names[ev];
}

/* The process layer itself; tests set their own (svc_set_proc_ops()). */
static const struct svc_proc_ops real_proc = {
    .spawn = child_spawn,
    .signal = child_signal,
    .group_alive = child_group_alive,
    .end_group = child_end_group,
};

bool svc_has_process(const struct svc *s)
{
    return s->state == SVC_STARTING || s->state == SVC_RUNNING ||
           s->state == SVC_STOPPING;
}

bool svc_is_done(const struct svc *s)
{
    return s->state == SVC_STOPPED || s->state == SVC_EXITED ||
           s->state == SVC_FATAL || s->state == SVC_COMPLETED;
}

/* The shell's view of a wait status. */
static int exit_code_of(int st)
{
    if (WIFSIGNALED(st))
        return 128 + WTERMSIG(st);
    return WEXITSTATUS(st);
}

int svc_exit_code(const struct svc *s)
{
    return s->has_exited ? exit_code_of(s->last_status) : 0;
}

double svc_backoff_delay(const struct cfg_backoff *b, unsigned step,
                         double jitter01)
{
    double delay = (double)b->initial_ms / 1000.0;
    double max = (double)b->max_ms / 1000.0;
    for (unsigned i = 0; i < step && delay < max; i++)
        delay *= 2;
    if (delay > max)
        delay = max;
    return delay + delay * 0.1 * jitter01;
}

static void set_state(struct svc *s, enum svc_state state)
{
    enum svc_state old = s->state;
    if (old == state)
        return;
    s->state = state;
    s->state_since = ev_now(s->loop);
    LOG_CHANGE(LOG_LEVEL_DEBUG, "service state changed",
               LF_STR("service", s->cfg->name),
               LF_STR("from", state_names[old]),
               LF_STR("to", state_names[state]));
    if (s->notify)
        s->notify(s, old, s->notify_arg);
}

/*
 * How often a stopping service's group that outlived its leader is looked
 * at. Its members' ends are no event sidecar can watch: each is told to
 * its parent only, which may be another member, sidecar (an orphan, reaped
 * by the reaper's catch-all watcher) or, when sidecar is no subreaper,
 * init. kill(-pgid, 0) answers for all of them, and polling it costs one
 * system call a tick, only during such a stop (stop_timeout at most).
 */
#define SVC_GROUP_POLL_S 0.05

/*
 * After the SIGKILL of a stop, how long the group may take to go: more
 * means a process stuck in the kernel, or one sidecar may not signal. The
 * stop ends without it then (a leader is always waited for: it is ours).
 */
#define SVC_KILL_WAIT_S 5.0

/* Signals the service's whole process group (or its process, before setsid). */
static void signal_group(struct svc *s, int sig)
{
    int rc = s->ops->signal(&s->proc, sig);
    if (rc < 0 && rc != -ESRCH)
        LOG_WARN("cannot signal process group", LF_STR("service", s->cfg->name),
                 LF_INT("pgid", s->proc.pgid),
                 LF_STR("signal", cfg_signal_name(sig)),
                 LF_STR("error", strerror(-rc)));
}

static void arm_timer(struct svc *s, double after)
{
    /* From now, not from when this loop iteration began: a slow iteration
     * would cut a backoff or a stop_timeout short. */
    ev_now_update(s->loop);
    ev_timer_stop(s->loop, &s->timer_w);
    ev_timer_set(&s->timer_w, after, 0.);
    ev_timer_start(s->loop, &s->timer_w);
}

/*
 * Reads the exec status pipe. Returns 1 when exec succeeded (EOF), 0 when
 * it failed (reported), < 0 when there is no answer (yet).
 */
static int read_status_pipe(struct svc *s)
{
    char why[CHILD_WHY_MAX];
    int rc = child_exec_status(&s->proc, why, sizeof(why));
    if (rc == 0)
        LOG_CHANGE(LOG_LEVEL_ERROR, "service failed to start",
                   LF_STR("service", s->cfg->name), LF_INT("pid", s->proc.pid),
                   LF_STR("error", why),
                   LF_STR("command", s->cfg->command.argv[0]));
    return rc;
}

static int start_relays(struct svc *s, int *out_wr, int *err_wr)
{
    int out_rd;
    int err_rd;
    int rc = spawn_output_pipe(&out_rd, out_wr);
    if (rc < 0)
        return rc;
    rc = spawn_output_pipe(&err_rd, err_wr);
    if (rc < 0) {
        close(out_rd);
        goto out_close_out;
    }
    s->out = relay_new(s->loop, out_rd, s->cfg->name, "stdout", s->max_line);
    s->err = relay_new(s->loop, err_rd, s->cfg->name, "stderr", s->max_line);
    if (s->out && s->err)
        return 0;
    relay_finish(s->out);
    relay_finish(s->err);
    s->out = s->err = NULL;
    close(*err_wr);
    rc = -ENOMEM;
out_close_out:
    close(*out_wr);
    return rc;
}

static void after_exit(struct svc *s, bool forced);

static bool waits_for_ready(const struct svc *s)
{
    return s->cfg->ready != CFG_READY_EXEC;
}

static void close_ready_pipe(struct svc *s)
{
    if (s->ready_w.fd < 0)
        return;
    ev_io_stop(s->loop, &s->ready_w);
    close(s->ready_w.fd);
    ev_io_set(&s->ready_w, -1, EV_READ);
}

/*
 * ready: {fd: N} (s6's notification-fd): a pipe whose write end the
 * service gets as descriptor N. *wr: that end, or -1 for other services.
 */
static int open_ready_pipe(struct svc *s, int *wr)
{
    int fds[2];
    *wr = -1;
    if (s->cfg->ready != CFG_READY_FD)
        return 0;
    int rc = spawn_output_pipe(&fds[0], &fds[1]);
    if (rc < 0)
        return rc;
    ev_io_set(&s->ready_w, fds[0], EV_READ);
    ev_io_start(s->loop, &s->ready_w);
    *wr = fds[1];
    return 0;
}

/*
 * envp with the variables of set ("NAME=value", n of them) first, and no
 * other entry of their names (the service's env's NOTIFY_SOCKET, say): a new
 * array of borrowed strings, to free() alone. NULL on ENOMEM.
 */
static char **env_with(char **envp, char *const *set, size_t n)
{
    size_t count = 0;
    while (envp[count])
        count++;
    char **out = calloc(count + n + 1, sizeof(*out));
    if (!out)
        return NULL;
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        out[k++] = set[i];
    for (size_t i = 0; i < count; i++) {
        bool named = false;
        for (size_t j = 0; j < n && !named; j++) {
            size_t len = strcspn(set[j], "=") + 1;
            named = strncmp(envp[i], set[j], len) == 0;
        }
        if (!named)
            out[k++] = envp[i];
    }
    return out;
}

/*
 * ready: notify: a fresh socket for each run (what the last run's
 * processes send is not read), named in the run's NOTIFY_SOCKET.
 */
static int open_notify(struct svc *s, char **envp, char ***with)
{
    s->said_ready = false;
    s->ready_pending = false;
    s->main_pid = 0;
    s->not_ready = NULL;
    s->status_text[0] = '\0';
    *with = NULL;
    if (s->cfg->ready != CFG_READY_NOTIFY)
        return 0;
    int rc = sdnotify_open(&s->notify_sock);
    if (rc < 0)
        return rc;
    snprintf(s->notify_env, sizeof(s->notify_env), "NOTIFY_SOCKET=%s",
             s->notify_sock.addr);
    snprintf(s->watchdog_env, sizeof(s->watchdog_env), "WATCHDOG_USEC=%lld",
             (long long)s->cfg->watchdog_ms * 1000);
    snprintf(s->watchdog_pid_env, sizeof(s->watchdog_pid_env), "WATCHDOG_PID=");
    char *set[] = {s->notify_env, s->watchdog_env, s->watchdog_pid_env};
    /* Without a watchdog, its variables are the service's env's, if any. */
    *with = s->cfg->watchdog_ms > 0 ? env_with(envp, set, ARRAY_SIZE(set))
                                    : env_with(envp, set, 1);
    return *with ? 0 : -ENOMEM;
}

/* Forks the process; a failure to fork counts as a failed run. */
static void spawn(struct svc *s)
{
    int out_wr;
    int err_wr;
    struct spawn_opts o = {
        .argv = s->cfg->command.argv,
        .set_umask = s->cfg->has_umask,
        .umask = s->cfg->umask,
    };
    runas_apply(&s->runas, &o);

    s->started_at = ev_now(s->loop);
    s->start_mono = util_mono_now();
    /* Without sidecar's token, unless the service's own env names it. */
    char **envp = runas_env(&s->runas, s->hidden_env);
    char **with = NULL;
    int ready_wr = -1;
    s->exec_seen = false;
    s->failed_run = false;
    int rc = envp ? open_notify(s, envp, &with) : -ENOMEM;
    if (rc == 0)
        rc = open_ready_pipe(s, &ready_wr);
    if (rc == 0)
        rc = start_relays(s, &out_wr, &err_wr);
    if (rc == 0) {
        o.envp = with ? with : envp;
        o.keep_fd = ready_wr;
        if (with && s->cfg->watchdog_ms > 0)
            o.pid_room = s->watchdog_pid_env + strlen("WATCHDOG_PID=");
        o.keep_at = ready_wr >= 0 ? s->cfg->ready_fd : 0;
        o.stdout_fd = out_wr;
        o.stderr_fd = err_wr;
        rc = s->ops->spawn(&s->proc, &o);
        close(out_wr);
        close(err_wr);
    }
    free(envp);
    free(with);
    if (ready_wr >= 0)
        close(ready_wr);
    if (rc < 0) {
        sdnotify_close(&s->notify_sock);
        close_ready_pipe(s);
        LOG_ERROR("cannot start service", LF_STR("service", s->cfg->name),
                  LF_STR("error", strerror(-rc)));
        /*
         * Counts as a run that exited 127, as a shell reports "cannot
         * run"; reported from the loop, never from inside this call.
         */
        child_exit_later(&s->proc, 127 << 8);
        set_state(s, SVC_STARTING);
        return;
    }
    guard_watch(s->guard, s->proc.pgid);
    set_state(s, SVC_STARTING);
}

/* The service has started: executed, and ready if it says so itself. */
static void started(struct svc *s)
{
    s->ever_started = true;
    LOG_CHANGE(LOG_LEVEL_INFO, "service started",
               LF_STR("service", s->cfg->name), LF_INT("pid", s->proc.pid),
               LF_INT("restarts", s->restarts));
}

/*
 * The status pipe's EOF: the program was executed, so it has started,
 * unless it is to say when it is ready and has not said it yet.
 */
static void exec_ok(struct svc *s)
{
    s->exec_seen = true;
    if (!waits_for_ready(s) || s->said_ready) {
        started(s);
        return;
    }
    if (s->cfg->ready == CFG_READY_FD)
        LOG_INFO("service executed; waiting for it to say it is ready",
                 LF_STR("service", s->cfg->name), LF_INT("pid", s->proc.pid),
                 LF_INT("fd", s->cfg->ready_fd),
                 LF_INT("ready_timeout_ms", s->cfg->ready_timeout_ms));
    else
        LOG_INFO("service executed; waiting for it to say it is ready",
                 LF_STR("service", s->cfg->name), LF_INT("pid", s->proc.pid),
                 LF_STR("notify_socket", s->notify_sock.addr),
                 LF_INT("ready_timeout_ms", s->cfg->ready_timeout_ms));
}

/*
 * Before sidecar signals its child: whether the program was executed is
 * settled now. A child still on its way to exec (in a long PATH search,
 * say) dies there of the signal, and its EOF would then say "started".
 */
static void settle_exec(struct svc *s)
{
    if (read_status_pipe(s) == 1)
        exec_ok(s);
    child_exec_forget(&s->proc);
}

bool svc_exit_is_success(const struct svc *s)
{
    if (!WIFEXITED(s->last_status))
        return false;
    int code = WEXITSTATUS(s->last_status);
    for (size_t i = 0; i < s->cfg->success_exit_codes_count; i++) {
        if (s->cfg->success_exit_codes[i] == code)
            return true;
    }
    return false;
}

static bool wants_restart(const struct svc *s)
{
    switch (s->cfg->restart) {
    case CFG_RESTART_ALWAYS:
        return true;
    case CFG_RESTART_ON_FAILURE:
        return s->failed_run || !svc_exit_is_success(s);
    case CFG_RESTART_NEVER:
        return false;
    }
    return false;
}

/*
 * Records a restart at now. False when that would be more than
 * max_restarts within restart_window: the crash loop is declared.
 */
static bool note_restart(struct svc *s, double now)
{
    unsigned max = s->cfg->max_restarts;
    if (max == 0)
        return true;
    double window = (double)s->cfg->restart_window_ms / 1000.0;
    if (s->restart_count == max &&
        now - s->restart_times[s->restart_head] < window)
        return false;
    s->restart_times[s->restart_head] = now;
    s->restart_head = (s->restart_head + 1) % max;
    if (s->restart_count < max)
        s->restart_count++;
    return true;
}

/*
 * After an unplanned exit (or a requested restart, forced): restart later,
 * or settle in COMPLETED (a task's success), EXITED or FATAL.
 */
static void after_exit(struct svc *s, bool forced)
{
    double now = util_mono_now();
    double uptime = now - s->start_mono;

    /* A run failed by sidecar (ready_timeout, watchdog) is no success,
     * whatever the task's exit code after the stop signal. */
    if (!forced && !s->failed_run && s->cfg->role == CFG_ROLE_TASK &&
        svc_exit_is_success(s)) {
        LOG_CHANGE(LOG_LEVEL_INFO, "service completed",
                   LF_STR("service", s->cfg->name),
                   LF_INT("exit_code", svc_exit_code(s)),
                   LF_INT("duration_ms", (long long)(uptime * 1000.0)),
                   LF_INT("restarts", s->restarts));
        set_state(s, SVC_COMPLETED);
        return;
    }
    if (!forced && !wants_restart(s)) {
        set_state(s, SVC_EXITED);
        return;
    }
    if (!note_restart(s, now)) {
        LOG_CHANGE(LOG_LEVEL_ERROR, "service is crash-looping; giving up",
                   LF_STR("service", s->cfg->name),
                   LF_INT("restarts", s->restarts),
                   LF_INT("max_restarts", s->cfg->max_restarts),
                   LF_INT("restart_window_ms", s->cfg->restart_window_ms),
                   LF_INT("exit_code", svc_exit_code(s)));
        set_state(s, SVC_FATAL);
        return;
    }
    if (uptime * 1000.0 >= (double)s->cfg->backoff.reset_after_ms)
        s->backoff_step = 0;
    double jitter = (double)random() / ((double)RAND_MAX + 1.0);
    double delay = svc_backoff_delay(&s->cfg->backoff, s->backoff_step, jitter);
    if (s->backoff_step < 64)
        s->backoff_step++;
    LOG_CHANGE(LOG_LEVEL_INFO, "service will restart",
               LF_STR("service", s->cfg->name),
               LF_INT("backoff_ms", (long long)(delay * 1000.0)),
               LF_INT("restarts", s->restarts + 1));
    arm_timer(s, delay);
    set_state(s, SVC_BACKOFF);
}

/* "service exited", for the leader pid (0: it never ran, nothing to say). */
static void log_exit(struct svc *s, pid_t pid)
{
    int st = s->last_status;
    double uptime = util_mono_now() - s->start_mono;
    if (pid <= 0)
        return;
    if (WIFSIGNALED(st)) {
        LOG_CHANGE(s->state == SVC_STOPPING ? LOG_LEVEL_INFO : LOG_LEVEL_WARN,
                   "service exited", LF_STR("service", s->cfg->name),
                   LF_INT("pid", pid), LF_INT("exit_code", svc_exit_code(s)),
                   LF_STR("signal", cfg_signal_name(WTERMSIG(st))),
                   LF_INT("uptime_ms", (long long)(uptime * 1000.0)));
    } else {
        LOG_CHANGE(svc_exit_is_success(s) || s->state == SVC_STOPPING
                       ? LOG_LEVEL_INFO
                       : LOG_LEVEL_WARN,
                   "service exited", LF_STR("service", s->cfg->name),
                   LF_INT("pid", pid), LF_INT("exit_code", svc_exit_code(s)),
                   LF_INT("uptime_ms", (long long)(uptime * 1000.0)));
    }
}

/*
 * The leader is gone: its status is the service's (its group may not be);
 * returns its pid, 0 when it never ran.
 */
static pid_t reap(struct svc *s)
{
    settle_exec(s);
    s->has_exited = true;
    return child_reap(&s->proc);
}

/*
 * The end of the process group: whatever is left of it is killed before
 * its output is drained, so no writer keeps the pipes full. Its leader is
 * reaped, so only the group is signalled: the leader's pid may be reused.
 */
static void end_group(struct svc *s)
{
    pid_t pgid = s->proc.pgid;
    ev_timer_stop(s->loop, &s->timer_w);
    ev_timer_stop(s->loop, &s->group_w);
    int rc = s->ops->end_group(&s->proc);
    if (rc < 0 && rc != -ESRCH)
        LOG_WARN("cannot kill what is left of the process group",
                 LF_STR("service", s->cfg->name), LF_INT("pgid", pgid),
                 LF_STR("error", strerror(-rc)));
    if (pgid > 0)
        guard_forget(s->guard, pgid);
    sdnotify_close(&s->notify_sock);
    close_ready_pipe(s);
    ev_timer_stop(s->loop, &s->watchdog_w);
    relay_finish(s->out);
    relay_finish(s->err);
    s->out = s->err = NULL;
    s->killed = false;
    s->stuck_said = false;
}

/*
 * A stop is over, its group ended: stopped, started again if asked, or,
 * after a failed run, what the restart policy says.
 */
static void end_stop(struct svc *s)
{
    if (s->failed_run && !s->restart_requested) {
        after_exit(s, false);
        s->failed_run = false;
    } else if (s->restart_requested) {
        s->restart_requested = false;
        after_exit(s, true);
    } else {
        set_state(s, SVC_STOPPED);
    }
}

/* Milliseconds since the stop signal, for the log. */
static long long since_stop_ms(const struct svc *s)
{
    return (long long)((util_mono_now() - s->stop_mono) * 1000.0);
}

/*
 * The leader of a stopping service exited. The rest of its group (the
 * program a shell started, say, still in its SIGTERM handler) keeps what
 * is left of stop_timeout, counted from the stop signal, and its output
 * is relayed meanwhile.
 */
static void leader_gone_while_stopping(struct svc *s)
{
    pid_t pid = reap(s);
    bool alone = !s->ops->group_alive(&s->proc);
    if (alone)
        end_group(s); /* its output first, then the exit line */
    log_exit(s, pid);
    if (alone) {
        end_stop(s);
        return;
    }
    char left[256];
    size_t n = reaper_describe_group(s->proc.pgid, left, sizeof(left));
    LOG_INFO("waiting for the rest of the service's process group",
             LF_STR("service", s->cfg->name), LF_INT("pgid", s->proc.pgid),
             LF_INT("processes", (long long)n), LF_STR("left", left),
             LF_INT("since_stop_ms", since_stop_ms(s)));
    ev_timer_start(s->loop, &s->group_w);
}

static void group_gone(struct svc *s)
{
    pid_t pgid = s->proc.pgid;
    end_group(s); /* its last output first */
    LOG_INFO("service's process group exited", LF_STR("service", s->cfg->name),
             LF_INT("pgid", pgid), LF_INT("since_stop_ms", since_stop_ms(s)));
    end_stop(s);
}

/* Stops with sig (the stop_signal, or a watchdog's SIGABRT). */
static void stop_with(struct svc *s, int sig)
{
    settle_exec(s);
    ev_timer_stop(s->loop, &s->watchdog_w);
    s->stop_mono = util_mono_now();
    LOG_CHANGE(LOG_LEVEL_INFO, "stopping service",
               LF_STR("service", s->cfg->name), LF_INT("pid", s->proc.pid),
               LF_STR("signal", cfg_signal_name(sig)),
               LF_INT("stop_timeout_ms", s->cfg->stop_timeout_ms));
    signal_group(s, sig);
    /* A stopped (SIGSTOP) process must wake to see the signal. */
    if (sig != SIGKILL && sig != SIGCONT)
        signal_group(s, SIGCONT);
    arm_timer(s, (double)s->cfg->stop_timeout_ms / 1000.0);
    set_state(s, SVC_STOPPING);
}

static void begin_stop(struct svc *s)
{
    stop_with(s, s->cfg->stop_signal);
}

/* A notify service enters RUNNING: its watchdog starts, if it has one. */
static void arm_watchdog(struct svc *s)
{
    if (s->cfg->watchdog_ms <= 0)
        return;
    ev_now_update(s->loop);
    ev_timer_set(&s->watchdog_w, 0., (double)s->cfg->watchdog_ms / 1000.0);
    ev_timer_again(s->loop, &s->watchdog_w);
}

/* RUNNING: no WATCHDOG=1 for watchdog: aborted, a failed run. */
static void watchdog_expired(struct svc *s)
{
    LOG_CHANGE(LOG_LEVEL_WARN, "watchdog timeout",
               LF_STR("service", s->cfg->name), LF_INT("pid", s->proc.pid),
               LF_INT("watchdog_ms", s->cfg->watchdog_ms));
    s->failed_run = true;
    stop_with(s, SIGABRT);
}

/*
 * SIGKILLs the group, naming what is left of it. The group then has
 * SVC_KILL_WAIT_S to go (and a leader all the time it needs).
 */
static void kill_now(struct svc *s, const char *why)
{
    char left[256];
    settle_exec(s);
    size_t n = reaper_describe_group(s->proc.pgid, left, sizeof(left));
    LOG_WARN(why, LF_STR("service", s->cfg->name), LF_INT("pid", s->proc.pid),
             LF_INT("pgid", s->proc.pgid), LF_INT("processes", (long long)n),
             LF_STR("left", left));
    signal_group(s, SIGKILL);
    s->killed = true;
    arm_timer(s, SVC_KILL_WAIT_S);
}

/* stop_timeout is over, or the SIGKILL that followed had its time. */
static void stop_timer(struct svc *s)
{
    if (!s->killed) {
        kill_now(s, "service did not stop in time; killing it");
    } else if (s->proc.pid > 0) {
        /* A leader is always waited for; said once, not every 5 s. */
        if (!s->stuck_said)
            LOG_WARN("process cannot be killed: it is stuck in the kernel; "
                     "waiting for it",
                     LF_STR("service", s->cfg->name),
                     LF_INT("pid", s->proc.pid),
                     LF_INT("since_stop_ms", since_stop_ms(s)));
        s->stuck_said = true;
        arm_timer(s, SVC_KILL_WAIT_S);
    } else {
        char left[256];
        reaper_describe_group(s->proc.pgid, left, sizeof(left));
        LOG_WARN("process group still there after SIGKILL; stopped without it",
                 LF_STR("service", s->cfg->name), LF_INT("pgid", s->proc.pgid),
                 LF_STR("left", left));
        end_group(s);
        end_stop(s);
    }
}

/* WAITING, STOPPED, EXITED, FATAL, COMPLETED: started (first, or by hand). */
static void start_fresh(struct svc *s)
{
    /* A fresh restart budget. */
    s->backoff_step = 0;
    s->restart_count = 0;
    spawn(s);
}

/* WAITING: stopped before it ever started. */
static void stop_unstarted(struct svc *s)
{
    set_state(s, SVC_STOPPED);
}

/* WAITING: a dependency is gone for good. */
static void abandon(struct svc *s)
{
    set_state(s, SVC_FATAL);
}

/*
 * STARTING, its exec just confirmed: running when ready (or when it does
 * not say it itself), else waiting for ready_timeout.
 */
static void finish_start(struct svc *s)
{
    if (!waits_for_ready(s) || s->said_ready) {
        if (s->state != SVC_RUNNING)
            arm_watchdog(s);
        set_state(s, SVC_RUNNING);
    } else
        arm_timer(s, (double)s->cfg->ready_timeout_ms / 1000.0);
}

static void exec_succeeded(struct svc *s)
{
    exec_ok(s);
    finish_start(s);
}

/* READY=1 ends a RELOADING=1, said before or after the first READY=1. */
static bool ends_reloading(struct svc *s)
{
    if (!s->not_ready || strcmp(s->not_ready, "reloading") != 0)
        return false;
    s->not_ready = NULL;
    return true;
}

/* STARTING: READY=1; running once its exec is confirmed too. */
static void became_ready(struct svc *s)
{
    ends_reloading(s);
    s->said_ready = true;
    if (!s->exec_seen)
        return; /* exec_succeeded() finishes the start */
    ev_timer_stop(s->loop, &s->timer_w);
    started(s);
    arm_watchdog(s);
    set_state(s, SVC_RUNNING);
}

/* RUNNING: READY=1 again, after RELOADING=1: ready again. */
static void ready_again(struct svc *s)
{
    if (!ends_reloading(s))
        return;
    LOG_INFO("service is ready again", LF_STR("service", s->cfg->name));
    if (s->notify)
        s->notify(s, s->state, s->notify_arg);
}

static void on_ready_pipe(EV_P_ ev_io *w, int revents);

/* STARTING: ready_timeout is over; the run failed. */
static void ready_timed_out(struct svc *s)
{
    /*
     * What the service said in time may be queued still (sidecar starved
     * of CPU): libev runs the expired timer before the readable socket.
     */
    sdnotify_read_pending(&s->notify_sock);
    if (s->ready_w.fd >= 0)
        on_ready_pipe(s->loop, &s->ready_w, EV_READ);
    if (s->state != SVC_STARTING)
        return;
    LOG_CHANGE(LOG_LEVEL_WARN,
               "service did not say it is ready in time; stopping it",
               LF_STR("service", s->cfg->name), LF_INT("pid", s->proc.pid),
               LF_INT("ready_timeout_ms", s->cfg->ready_timeout_ms));
    s->failed_run = true;
    begin_stop(s);
}

/*
 * The leader is dead: MAINPID's process, if still there (a zombie too)
 * and still the one named (its start time, read when it was named),
 * must be sidecar's child now (the leader's, reparented), or its end
 * would never be told to sidecar, and a stop would wait for it for good.
 */
static bool main_pid_is_ours(struct svc *s, pid_t pid)
{
    struct procfs_stat st;
    char name[24];
    snprintf(name, sizeof(name), "%d", (int)pid);
    if (procfs_read_stat(name, &st) < 0)
        return false;
    if (st.start != s->main_pid_start) {
        /* It died, and its pid was given to another process since. */
        LOG_WARN("MAINPID refused: that process is gone, its pid reused",
                 LF_STR("service", s->cfg->name), LF_INT("main_pid", pid));
        return false;
    }
    if (st.ppid == getpid())
        return true;
    LOG_WARN("MAINPID refused: sidecar cannot wait for it",
             LF_STR("service", s->cfg->name), LF_INT("main_pid", pid),
             LF_INT("parent", st.ppid));
    return false;
}

/*
 * ready: notify: the leader exited after naming another process of its
 * with MAINPID= (a daemon that forks): that one is the service's process
 * now, reparented to sidecar, its group the same. True when adopted. A
 * MAINPID= still queued counts: the socket is read first.
 */
static bool adopt_main_pid(struct svc *s)
{
    if (s->cfg->ready != CFG_READY_NOTIFY)
        return false;
    s->draining = true;
    sdnotify_read_pending(&s->notify_sock);
    s->draining = false;
    pid_t main = s->main_pid;
    if (main <= 0 || main == s->proc.pid || !main_pid_is_ours(s, main))
        return false;
    bool exec_seen = s->exec_seen;
    pid_t leader = reap(s);
    s->has_exited = false; /* the service has not: its main process runs */
    LOG_INFO("service's first process exited; supervising its MAINPID",
             LF_STR("service", s->cfg->name), LF_INT("pid", leader),
             LF_INT("exit_code", exit_code_of(s->last_status)),
             LF_INT("main_pid", main));
    child_adopt(&s->proc, main);
    /* The reap read the exec's EOF, and closed its pipe: no EXEC_OK comes. */
    if (!exec_seen && s->exec_seen && s->state == SVC_STARTING)
        finish_start(s);
    if (s->ready_pending) {
        s->ready_pending = false;
        svc_handle(s, SVC_EV_READY);
    }
    return true;
}

/* STARTING, RUNNING: an unplanned exit; what the leader left goes now. */
static void exited(struct svc *s)
{
    if (adopt_main_pid(s))
        return;
    pid_t pid = reap(s);
    end_group(s);
    log_exit(s, pid);
    after_exit(s, false);
}

static void restart_live(struct svc *s)
{
    s->restart_requested = true;
    begin_stop(s);
}

static void kill_live(struct svc *s)
{
    ev_timer_stop(s->loop, &s->watchdog_w);
    s->stop_mono = util_mono_now();
    kill_now(s, "killing service");
    set_state(s, SVC_STOPPING);
}

/* BACKOFF: its timer is over, or a start by hand cuts it short. */
static void restart_now(struct svc *s)
{
    ev_timer_stop(s->loop, &s->timer_w);
    s->restarts++;
    spawn(s);
}

static void cancel_backoff(struct svc *s)
{
    ev_timer_stop(s->loop, &s->timer_w);
    set_state(s, SVC_STOPPED);
}

/* STOPPING: a stop outranks a restart, and the policy after a failed run. */
static void cancel_restart(struct svc *s)
{
    s->restart_requested = false;
    s->failed_run = false;
}

static void restart_after_stop(struct svc *s)
{
    s->restart_requested = true;
}

static void kill_stopping(struct svc *s)
{
    s->restart_requested = false;
    s->failed_run = false;
    if (!s->killed)
        kill_now(s, "killing service");
}

/* The IGNORE(why) cells: sent there, and nothing to do. */
static void ignore(struct svc *s)
{
    (void)s;
}

typedef void svc_action(struct svc *s);

/*
 * What each event does in each state: every cell is written out. A
 * handler; IGNORE(why), an event a caller may send there that changes
 * nothing; or IMPOSSIBLE, an event nothing sends there (svc_handle logs
 * it as a bug and changes nothing). Who sends what: the service's own
 * watchers EXEC_OK (the status pipe, open from spawn to reap or a stop),
 * EXIT (the leader, from spawn to reap), TIMER (armed in BACKOFF and
 * STOPPING only) and GROUP_GONE (STOPPING only); sidecar.c START
 * (WAITING, or by hand when idle: BACKOFF or done), STOP (any state),
 * KILL (every service, at a second stop signal), ABANDON (WAITING only)
 * and RESTART (with a process: a failing probe, or by hand); the
 * notification socket (ready: notify, open from spawn to the group's end)
 * READY; the watchdog timer (armed in RUNNING only) WATCHDOG. TIMER in
 * STARTING is ready_timeout (armed once a notify service is executed).
 */
#define IGNORE(why) ignore
#define IMPOSSIBLE  NULL
#define SVC_STATES  (SVC_COMPLETED + 1)
#define SVC_EVENTS  (SVC_EV_WATCHDOG + 1)

static svc_action *const actions[SVC_STATES][SVC_EVENTS] = {
    [SVC_WAITING] =
        {
            [SVC_EV_START] = start_fresh,
            [SVC_EV_EXEC_OK] = IMPOSSIBLE,
            [SVC_EV_EXIT] = IMPOSSIBLE,
            [SVC_EV_TIMER] = IMPOSSIBLE,
            [SVC_EV_GROUP_GONE] = IMPOSSIBLE,
            [SVC_EV_STOP] = stop_unstarted,
            [SVC_EV_KILL] =
                IGNORE("no process to kill: KILL goes to every service"),
            [SVC_EV_ABANDON] = abandon,
            [SVC_EV_RESTART] = IMPOSSIBLE,
            [SVC_EV_READY] = IMPOSSIBLE,
            [SVC_EV_WATCHDOG] = IMPOSSIBLE,
        },
    [SVC_STARTING] =
        {
            [SVC_EV_START] = IMPOSSIBLE,
            [SVC_EV_EXEC_OK] = exec_succeeded,
            [SVC_EV_EXIT] = exited,
            [SVC_EV_TIMER] = ready_timed_out,
            [SVC_EV_GROUP_GONE] = IMPOSSIBLE,
            [SVC_EV_STOP] = begin_stop,
            [SVC_EV_KILL] = kill_live,
            [SVC_EV_ABANDON] = IMPOSSIBLE,
            [SVC_EV_RESTART] = restart_live,
            [SVC_EV_READY] = became_ready,
            [SVC_EV_WATCHDOG] = IMPOSSIBLE,
        },
    [SVC_RUNNING] =
        {
            [SVC_EV_START] = IMPOSSIBLE,
            [SVC_EV_EXEC_OK] = exec_succeeded,
            [SVC_EV_EXIT] = exited,
            [SVC_EV_TIMER] = IMPOSSIBLE,
            [SVC_EV_GROUP_GONE] = IMPOSSIBLE,
            [SVC_EV_STOP] = begin_stop,
            [SVC_EV_KILL] = kill_live,
            [SVC_EV_ABANDON] = IMPOSSIBLE,
            [SVC_EV_RESTART] = restart_live,
            [SVC_EV_READY] = ready_again,
            [SVC_EV_WATCHDOG] = watchdog_expired,
        },
    [SVC_BACKOFF] =
        {
            [SVC_EV_START] = restart_now,
            [SVC_EV_EXEC_OK] = IMPOSSIBLE,
            [SVC_EV_EXIT] = IMPOSSIBLE,
            [SVC_EV_TIMER] = restart_now,
            [SVC_EV_GROUP_GONE] = IMPOSSIBLE,
            [SVC_EV_STOP] = cancel_backoff,
            [SVC_EV_KILL] = cancel_backoff,
            [SVC_EV_ABANDON] = IMPOSSIBLE,
            [SVC_EV_RESTART] = IMPOSSIBLE,
            [SVC_EV_READY] = IMPOSSIBLE,
            [SVC_EV_WATCHDOG] = IMPOSSIBLE,
        },
    [SVC_STOPPING] =
        {
            [SVC_EV_START] = IMPOSSIBLE,
            [SVC_EV_EXEC_OK] = exec_ok,
            [SVC_EV_EXIT] = leader_gone_while_stopping,
            [SVC_EV_TIMER] = stop_timer,
            [SVC_EV_GROUP_GONE] = group_gone,
            [SVC_EV_STOP] = cancel_restart,
            [SVC_EV_KILL] = kill_stopping,
            [SVC_EV_ABANDON] = IMPOSSIBLE,
            [SVC_EV_RESTART] = restart_after_stop,
            [SVC_EV_READY] = IGNORE("a READY=1 sent before the stop signal"),
            [SVC_EV_WATCHDOG] = IMPOSSIBLE,
        },
    [SVC_STOPPED] =
        {
            [SVC_EV_START] = start_fresh,
            [SVC_EV_EXEC_OK] = IMPOSSIBLE,
            [SVC_EV_EXIT] = IMPOSSIBLE,
            [SVC_EV_TIMER] = IMPOSSIBLE,
            [SVC_EV_GROUP_GONE] = IMPOSSIBLE,
            [SVC_EV_STOP] = IGNORE("stopped already: a `stop` by hand"),
            [SVC_EV_KILL] =
                IGNORE("no process to kill: KILL goes to every service"),
            [SVC_EV_ABANDON] = IMPOSSIBLE,
            [SVC_EV_RESTART] = IMPOSSIBLE,
            [SVC_EV_READY] = IMPOSSIBLE,
            [SVC_EV_WATCHDOG] = IMPOSSIBLE,
        },
    [SVC_EXITED] =
        {
            [SVC_EV_START] = start_fresh,
            [SVC_EV_EXEC_OK] = IMPOSSIBLE,
            [SVC_EV_EXIT] = IMPOSSIBLE,
            [SVC_EV_TIMER] = IMPOSSIBLE,
            [SVC_EV_GROUP_GONE] = IMPOSSIBLE,
            [SVC_EV_STOP] = IGNORE("nothing to stop: a `stop` by hand"),
            [SVC_EV_KILL] =
                IGNORE("no process to kill: KILL goes to every service"),
            [SVC_EV_ABANDON] = IMPOSSIBLE,
            [SVC_EV_RESTART] = IMPOSSIBLE,
            [SVC_EV_READY] = IMPOSSIBLE,
            [SVC_EV_WATCHDOG] = IMPOSSIBLE,
        },
    [SVC_FATAL] =
        {
            [SVC_EV_START] = start_fresh,
            [SVC_EV_EXEC_OK] = IMPOSSIBLE,
            [SVC_EV_EXIT] = IMPOSSIBLE,
            [SVC_EV_TIMER] = IMPOSSIBLE,
            [SVC_EV_GROUP_GONE] = IMPOSSIBLE,
            [SVC_EV_STOP] = IGNORE("nothing to stop: a `stop` by hand"),
            [SVC_EV_KILL] =
                IGNORE("no process to kill: KILL goes to every service"),
            [SVC_EV_ABANDON] = IMPOSSIBLE,
            [SVC_EV_RESTART] = IMPOSSIBLE,
            [SVC_EV_READY] = IMPOSSIBLE,
            [SVC_EV_WATCHDOG] = IMPOSSIBLE,
        },
    [SVC_COMPLETED] =
        {
            [SVC_EV_START] = start_fresh,
            [SVC_EV_EXEC_OK] = IMPOSSIBLE,
            [SVC_EV_EXIT] = IMPOSSIBLE,
            [SVC_EV_TIMER] = IMPOSSIBLE,
            [SVC_EV_GROUP_GONE] = IMPOSSIBLE,
            [SVC_EV_STOP] = IGNORE("nothing to stop: a `stop` by hand"),
            [SVC_EV_KILL] =
                IGNORE("no process to kill: KILL goes to every service"),
            [SVC_EV_ABANDON] = IMPOSSIBLE,
            [SVC_EV_RESTART] = IMPOSSIBLE,
            [SVC_EV_READY] = IMPOSSIBLE,
            [SVC_EV_WATCHDOG] = IMPOSSIBLE,
        },
};

void svc_handle(struct svc *s, enum svc_event ev)
{
    svc_action *act = actions[s->state][ev];
    if (!act) {
        LOG_ERROR("bug: service event in impossible state",
                  LF_STR("service", s->cfg->name),
                  LF_STR("state", state_names[s->state]),
                  LF_STR("event", event_names[ev]));
        return;
    }
    act(s);
}

int svc_signal(struct svc *s, int sig)
{
    /* Before exec the child would die of it: dispositions are default. */
    if (s->state != SVC_RUNNING)
        return -ESRCH;
    if (kill(s->proc.pid, sig) < 0)
        return -errno;
    return 0;
}

static void on_child(struct child *c, int st)
{
    struct svc *s = container_of(c, struct svc, proc);
    s->last_status = st;
    svc_handle(s, SVC_EV_EXIT);
}

static void on_timer(EV_P_ ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    svc_handle(container_of(w, struct svc, timer_w), SVC_EV_TIMER);
}

static void on_watchdog(EV_P_ ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    struct svc *s = container_of(w, struct svc, watchdog_w);
    ev_timer_stop(s->loop, w);
    svc_handle(s, SVC_EV_WATCHDOG);
}

static void on_group_poll(EV_P_ ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    struct svc *s = container_of(w, struct svc, group_w);
    if (!s->ops->group_alive(&s->proc))
        svc_handle(s, SVC_EV_GROUP_GONE);
}

static void on_status(struct child *c)
{
    struct svc *s = container_of(c, struct svc, proc);
    if (read_status_pipe(s) == 1)
        svc_handle(s, SVC_EV_EXEC_OK);
}

/* The service's own processes: its group, however they got there. */
static bool notify_from_service(struct sdnotify *n, pid_t pid)
{
    struct svc *s = container_of(n, struct svc, notify_sock);
    return pid == s->proc.pid ||
           (s->proc.pgid > 0 && getpgid(pid) == s->proc.pgid);
}

/*
 * MAINPID=pid: taken when pid is of the service's process group, or a
 * child of its leader; else refused, logged (a pid outside would make
 * sidecar supervise, and signal, a process that is not the service's).
 */
static void name_main_pid(struct svc *s, pid_t pid, pid_t sender)
{
    struct procfs_stat st;
    char name[24];
    snprintf(name, sizeof(name), "%d", (int)pid);
    bool ours = procfs_read_stat(name, &st) == 0 &&
                (st.pgrp == s->proc.pgid || st.ppid == s->proc.pid);
    if (!ours) {
        LOG_WARN("MAINPID refused: not a process of the service",
                 LF_STR("service", s->cfg->name), LF_INT("main_pid", pid),
                 LF_INT("sender", sender));
        return;
    }
    if (s->main_pid != pid)
        LOG_INFO("service named its main process",
                 LF_STR("service", s->cfg->name), LF_INT("main_pid", pid));
    s->main_pid = pid;
    s->main_pid_start = st.start;
}

/* Says what the service says of its readiness, when it changed. */
static void said_not_ready(struct svc *s, const char *what)
{
    if (s->not_ready && strcmp(s->not_ready, what) == 0)
        return;
    s->not_ready = what;
    LOG_INFO("service says it is not ready", LF_STR("service", s->cfg->name),
             LF_STR("reason", what));
    if (s->notify && s->state == SVC_RUNNING)
        s->notify(s, s->state, s->notify_arg);
}

static void on_notification(struct sdnotify *n, const struct sdnotify_msg *m)
{
    struct svc *s = container_of(n, struct svc, notify_sock);
    if (m->has_status && strcmp(s->status_text, m->status) != 0) {
        memcpy(s->status_text, m->status, sizeof(s->status_text));
        LOG_DEBUG("service status", LF_STR("service", s->cfg->name),
                  LF_STR("status", s->status_text));
    }
    if (m->mainpid > 0)
        name_main_pid(s, m->mainpid, m->sender);
    if (m->watchdog && ev_is_active(&s->watchdog_w))
        ev_timer_again(s->loop, &s->watchdog_w);
    if (m->stopping)
        said_not_ready(s, "stopping");
    else if (m->reloading)
        said_not_ready(s, "reloading");
    if (m->ready && !m->stopping && !m->reloading && s->draining)
        s->ready_pending = true;
    else if (m->ready && !m->stopping && !m->reloading)
        svc_handle(s, SVC_EV_READY);
}

/*
 * ready: {fd: N}: a newline is ready, whatever came before it. EOF before
 * it is no failure, as in s6: the service is never ready then, and
 * ready_timeout decides. Either way the pipe has said all it will.
 */
static void on_ready_pipe(EV_P_ ev_io *w, int revents)
{
    (void)loop;
    (void)revents;
    struct svc *s = container_of(w, struct svc, ready_w);
    char buf[256];
    for (int i = 0; i < 16; i++) {
        ssize_t n = read(w->fd, buf, sizeof(buf));
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            return;
        if (n > 0 && !memchr(buf, '\n', (size_t)n))
            continue;
        if (n <= 0)
            LOG_INFO("service closed its readiness descriptor before it was "
                     "ready",
                     LF_STR("service", s->cfg->name),
                     LF_INT("fd", s->cfg->ready_fd));
        close_ready_pipe(s);
        if (n > 0)
            svc_handle(s, SVC_EV_READY);
        return;
    }
}

struct svc *svc_new(struct ev_loop *loop, const struct cfg_service *cfg,
                    char *const *inherit, char *const *hidden_env,
                    size_t max_line, svc_notify_fn *notify, void *arg,
                    char *errbuf, size_t errlen)
{
    struct svc *s = calloc(1, sizeof(*s));
    if (!s) {
        snprintf(errbuf, errlen, "service '%s': out of memory", cfg->name);
        return NULL;
    }
    s->cfg = cfg;
    s->hidden_env = hidden_env;
    s->loop = loop;
    s->max_line = max_line;
    s->notify = notify;
    s->notify_arg = arg;
    s->ops = &real_proc;
    s->state = SVC_WAITING;
    s->state_since = ev_now(loop);
    child_init(&s->proc, loop, on_child, on_status);
    sdnotify_init(&s->notify_sock, loop, notify_from_service, on_notification);
    ev_io_init(&s->ready_w, on_ready_pipe, -1, EV_READ);
    ev_timer_init(&s->watchdog_w, on_watchdog, 0., 0.);
    ev_timer_init(&s->timer_w, on_timer, 0., 0.);
    ev_timer_init(&s->group_w, on_group_poll, SVC_GROUP_POLL_S,
                  SVC_GROUP_POLL_S);
    struct runas_cfg as;
    runas_of_service(cfg, &as);
    if (runas_resolve(&as, inherit, &s->runas, errbuf, errlen) < 0)
        goto out_free;
    if (cfg->max_restarts) {
        s->restart_times = calloc(cfg->max_restarts, sizeof(double));
        if (!s->restart_times)
            goto out_nomem;
    }
    return s;
out_nomem:
    snprintf(errbuf, errlen, "service '%s': out of memory", cfg->name);
out_free:
    svc_free(s);
    return NULL;
}

void svc_reconfigure(struct svc *s, const struct cfg_service *cfg,
                     char *const *hidden_env, size_t max_line)
{
    s->cfg = cfg;
    s->hidden_env = hidden_env;
    s->max_line = max_line;
}

void svc_set_guard(struct svc *s, struct guard *g)
{
    s->guard = g;
}

void svc_set_proc_ops(struct svc *s, const struct svc_proc_ops *ops)
{
    s->ops = ops;
}

void svc_free(struct svc *s)
{
    if (!s)
        return;
    child_stop(&s->proc);
    sdnotify_close(&s->notify_sock);
    close_ready_pipe(s);
    ev_timer_stop(s->loop, &s->watchdog_w);
    ev_timer_stop(s->loop, &s->timer_w);
    ev_timer_stop(s->loop, &s->group_w);
    relay_finish(s->out);
    relay_finish(s->err);
    runas_free(&s->runas);
    free(s->restart_times);
    free(s);
}
