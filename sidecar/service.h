/*
 * struct svc: one supervised service, as an explicit state machine.
 * Every transition goes through svc_handle() and every state change is
 * reported to the owner's notify callback, the one place others (the
 * supervisor now, probes and the status endpoint later) observe services.
 * Embeds a struct child (the process: proc/child.h), two ev_timers
 * (backoff, stop grace and ready_timeout; the poll for the end of a
 * stopping process group), for ready: notify, a struct sdnotify (its
 * NOTIFY_SOCKET, open while it has a process) and, for ready: {fd: N}, an
 * ev_io on the pipe the service writes its newline to; owns the relays of
 * the child's output.
 */
#ifndef SIDECAR_SIDECAR_SERVICE_H
#define SIDECAR_SIDECAR_SERVICE_H

#include <ev.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "base/util.h"
#include "conf/model.h"
#include "conf/runas.h"
#include "proc/child.h"
#include "proc/sdnotify.h"
#include "proc/spawn.h"

enum svc_state {
    SVC_WAITING,  /* not started yet: waiting for its dependencies */
    SVC_STARTING, /* forked; exec not confirmed yet, or (ready: notify)
                     executed and not ready yet */
    SVC_RUNNING,  /* exec succeeded, process alive */
    SVC_BACKOFF,  /* exited; restart timer pending */
    SVC_STOPPING, /* stop signal sent; until its whole group is gone */
    SVC_STOPPED,  /* stopped on request */
    SVC_EXITED,   /* exited and, by its restart policy, not restarted */
    SVC_FATAL,    /* crash loop: restarted too often, given up */
    /* a task that exited with a success code: done, not down */
    SVC_COMPLETED,
};

enum svc_event {
    SVC_EV_START,      /* start now (dependencies met, or asked to) */
    SVC_EV_EXEC_OK,    /* the status pipe closed: exec succeeded */
    SVC_EV_EXIT,       /* the process exited; status in last_status */
    SVC_EV_TIMER,      /* backoff over, or stop grace over */
    SVC_EV_GROUP_GONE, /* stopping: the group outlived its leader, now gone */
    SVC_EV_STOP,       /* stop gracefully */
    SVC_EV_KILL,       /* stop now: SIGKILL the process group */
    SVC_EV_ABANDON,    /* a dependency is gone for good: it can never start */
    SVC_EV_RESTART,    /* stop, then start again through the backoff */
    SVC_EV_READY,      /* ready: notify: the service sent READY=1 */
    SVC_EV_WATCHDOG,   /* watchdog: no WATCHDOG=1 for that long */
};

struct guard;
struct spawn_opts;
struct svc;
typedef void svc_notify_fn(struct svc *s, enum svc_state old, void *arg);

/*
 * The process layer as the state machine calls it, each as its child_*
 * namesake (proc/child.h): the real one unless a test sets its own
 * (svc_set_proc_ops()), so that unit tests drive every transition
 * without forking.
 */
struct svc_proc_ops {
    int (*spawn)(struct child *c, const struct spawn_opts *o);
    int (*signal)(struct child *c, int sig);
    bool (*group_alive)(const struct child *c);
    int (*end_group)(struct child *c);
};

struct svc {
    /* read-only outside service.c */
    const struct cfg_service *cfg;
    enum svc_state state;
    struct child proc;  /* pid: of the running process, else 0; pgid: its
                           process group, until all of it is gone */
    unsigned restarts;  /* automatic restarts so far */
    bool ever_started;  /* started at least once: exec succeeded, and with
                           ready: notify, it said READY=1 */
    bool has_exited;    /* last_status is valid */
    int last_status;    /* wait status of the last exit */
    double started_at;  /* ev_now() of the last spawn, for display */
    double start_mono;  /* util_mono_now() of it, for the uptime */
    double state_since; /* ev_now() of the last state change */
    /* ready: notify. What the running service said of itself: */
    const char *not_ready; /* "reloading", "stopping"; NULL: as its state */
    char status_text[SDNOTIFY_STATUS_MAX]; /* its last STATUS=; "" none */
    struct sdnotify notify_sock;           /* its NOTIFY_SOCKET */

    /* private */
    struct ev_loop *loop;
    ev_timer timer_w;
    ev_timer group_w;    /* polls a stopping group that outlived its leader */
    ev_io ready_w;       /* ready: {fd: N}: the pipe's read end; fd -1: none */
    ev_timer watchdog_w; /* watchdog: armed while RUNNING, WATCHDOG=1 resets */
    char watchdog_env[48];                      /* "WATCHDOG_USEC=..." */
    char watchdog_pid_env[SPAWN_PID_ROOM + 16]; /* "WATCHDOG_PID=", the
                                                   child writes the rest */
    struct relay *out;
    struct relay *err;
    size_t max_line;
    unsigned backoff_step;
    bool restart_requested; /* SVC_EV_RESTART: restart after this stop */
    bool killed;            /* this stop has SIGKILLed the group */
    bool stuck_said;        /* this stop said its leader outlives SIGKILL */
    bool exec_seen;         /* this run's exec succeeded */
    char notify_env[SDNOTIFY_ADDR_MAX + 16]; /* "NOTIFY_SOCKET=@..." */
    bool said_ready;                         /* this run sent READY=1 */
    bool draining;      /* reading the socket before acting on an exit */
    bool ready_pending; /* READY=1 read then: handled after the exit */
    pid_t main_pid;     /* MAINPID=, checked; 0: none (the leader) */
    unsigned long long main_pid_start; /* its start time: a reused pid */
    bool failed_run;       /* this stop ends a failed run (ready_timeout):
                              the restart policy applies as after a crash */
    double stop_mono;      /* util_mono_now() of the stop signal */
    double *restart_times; /* ring of max_restarts restart times (mono) */
    size_t restart_head;
    size_t restart_count;
    struct runas runas;      /* its ids, groups, cwd and environment */
    char *const *hidden_env; /* names left out of its env at spawn; borrowed */
    svc_notify_fn *notify;
    void *notify_arg;
    const struct svc_proc_ops *ops;
    struct guard *guard; /* borrowed; told of each process group */
};

/*
 * Creates a service in SVC_WAITING. Resolves user/group and builds the
 * environment now, from inherit (NULL-terminated; it must outlive
 * the service, conf/runas.h)
 * and cfg's env, so a bad user fails before anything starts: NULL with a
 * message in errbuf then. Each process gets that environment less the
 * variables named in hidden_env (NULL-terminated, or NULL: none), unless
 * cfg's env sets them. cfg and hidden_env are borrowed and must outlive
 * the service (or the next svc_reconfigure).
 */
struct svc *svc_new(struct ev_loop *loop, const struct cfg_service *cfg,
                    char *const *inherit, char *const *hidden_env,
                    size_t max_line, svc_notify_fn *notify, void *arg,
                    char *errbuf, size_t errlen) ATTR_WUR;

/*
 * After a reload: points s at cfg, a definition equal to its own in the
 * new config, and at that config's hidden_env, and caps the output lines
 * of its next process at max_line.
 */
void svc_reconfigure(struct svc *s, const struct cfg_service *cfg,
                     char *const *hidden_env, size_t max_line);

/* Tells g (NULL: none) of each process group the service starts and ends. */
void svc_set_guard(struct svc *s, struct guard *g);

/*
 * For tests: s calls the process layer through ops (borrowed) from now
 * on. Set it before the first event.
 */
void svc_set_proc_ops(struct svc *s, const struct svc_proc_ops *ops);

/* Stops every watcher and frees. The process, if any, is not signalled. */
void svc_free(struct svc *s);

/*
 * Feeds one event to the state machine: what it does in s's state is one
 * cell of the table in service.c. An event no caller sends in that state
 * is logged as a bug ("bug: service event in impossible state") and
 * changes nothing.
 */
void svc_handle(struct svc *s, enum svc_event ev);

/* Sends sig to the service's main process; 0, or -errno (-ESRCH: none). */
int svc_signal(struct svc *s, int sig);

const char *svc_state_name(enum svc_state state);

/* "start", "exit", ...: for the log. */
const char *svc_event_name(enum svc_event ev);

/* The shell's view of last_status: the code, or 128+signal. */
int svc_exit_code(const struct svc *s);

/* True when the last exit is one of the service's success_exit_codes. */
bool svc_exit_is_success(const struct svc *s);

/*
 * True in a state with a live process: STARTING, RUNNING, STOPPING (in
 * which the leader may be gone already, the rest of its group not).
 */
bool svc_has_process(const struct svc *s);

/*
 * True when nothing will start it again by itself: STOPPED, EXITED,
 * FATAL, COMPLETED.
 */
bool svc_is_done(const struct svc *s);

/*
 * Restart delay in seconds before the restart after `step` earlier ones:
 * initial * 2^step capped at max, plus jitter01 * 10% of that (jitter01
 * in [0,1)). Pure, for tests.
 */
double svc_backoff_delay(const struct cfg_backoff *b, unsigned step,
                         double jitter01);

#endif
