/*
 * sidecar/service.c's state machine, cell by cell (docs/ARCHITECTURE.md,
 * "A service's state machine"), through the process seam: a fake process
 * layer records what the service asks of it and nothing forks. Exits come
 * through the service's own child watcher, as ev_feed_event() delivers
 * them; timers and the rest are fed to svc_handle(). The log goes to
 * stderr before log_open(): each test sends it to a file and reads it.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <ev.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "proc/child.h"
#include "sidecar/service.h"

/* A group no process has: signals to it are only recorded. */
#define FAKE_PID 4194000

#define EXITED_WITH(code) ((code) << 8)
#define KILLED_BY(sig)    (sig)

static struct {
    int spawn_rc; /* what spawn answers: 0, or -errno */
    int spawns;
    int signals[8];
    size_t signals_count;
    bool group_alive;
    int end_groups;
} fake;

static int fake_spawn(struct child *c, const struct spawn_opts *o)
{
    (void)o;
    fake.spawns++;
    if (fake.spawn_rc < 0)
        return fake.spawn_rc;
    c->pid = FAKE_PID;
    c->pgid = FAKE_PID;
    return 0;
}

static int fake_signal(struct child *c, int sig)
{
    if (c->pgid <= 0)
        return -ESRCH;
    if (fake.signals_count < 8)
        fake.signals[fake.signals_count++] = sig;
    return 0;
}

static bool fake_group_alive(const struct child *c)
{
    return c->pgid > 0 && fake.group_alive;
}

static int fake_end_group(struct child *c)
{
    fake.end_groups++;
    c->pgid = 0;
    return 0;
}

static const struct svc_proc_ops fake_ops = {
    .spawn = fake_spawn,
    .signal = fake_signal,
    .group_alive = fake_group_alive,
    .end_group = fake_end_group,
};

/* What the owner was told: each state change, in order. */
static struct {
    enum svc_state from[16];
    enum svc_state to[16];
    size_t count;
} told;

static void on_change(struct svc *s, enum svc_state old, void *arg)
{
    (void)arg;
    cr_assert_lt(told.count, 16);
    told.from[told.count] = old;
    told.to[told.count] = s->state;
    told.count++;
}

static struct ev_loop *loop;
static FILE *log_file;
static int stderr_fd; /* the real one, back at teardown for sanitizers */
static char *argv_[] = {"fake", NULL};
static int success_codes[] = {0};
static struct cfg_service cfg;
static char *const no_env[] = {NULL};

static void setup(void)
{
    memset(&fake, 0, sizeof(fake));
    memset(&told, 0, sizeof(told));
    cfg = (struct cfg_service){
        .name = "svc",
        .command = {.argv = argv_, .argc = 1},
        .restart = CFG_RESTART_ALWAYS,
        .success_exit_codes = success_codes,
        .success_exit_codes_count = 1,
        .backoff = {.initial_ms = 500,
                    .max_ms = 30000,
                    .reset_after_ms = 30000},
        .max_restarts = 10,
        .restart_window_ms = 60000,
        .stop_signal = SIGTERM,
        .stop_timeout_ms = 10000,
    };
    loop = ev_loop_new(EVFLAG_AUTO);
    cr_assert(loop);
    log_file = tmpfile();
    cr_assert(log_file);
    stderr_fd = dup(STDERR_FILENO);
    cr_assert_geq(stderr_fd, 0);
    cr_assert_geq(dup2(fileno(log_file), STDERR_FILENO), 0);
}

static void teardown(void)
{
    ev_loop_destroy(loop);
    cr_assert_geq(dup2(stderr_fd, STDERR_FILENO), 0);
    close(stderr_fd);
    fclose(log_file);
}

TestSuite(svc_machine, .init = setup, .fini = teardown, .timeout = 5);

static struct svc *new_svc(void)
{
    char err[256];
    struct svc *s = svc_new(loop, &cfg, no_env, NULL, 4096, on_change, NULL,
                            err, sizeof(err));
    cr_assert(s, "%s", err);
    svc_set_proc_ops(s, &fake_ops);
    return s;
}

/* The leader exits with wait status st, as libev reports it. */
static void feed_exit(struct svc *s, int st)
{
    s->proc.exit_w.rstatus = st;
    ev_feed_event(loop, &s->proc.exit_w, EV_CHILD);
    ev_run(loop, EVRUN_NOWAIT);
}

/* Clears the log, the notifications and the fake's counts: what a cell
 * does is what follows. */
static void forget(void)
{
    memset(&told, 0, sizeof(told));
    memset(&fake.signals, 0, sizeof(fake.signals));
    fake.signals_count = 0;
    fake.spawns = 0;
    fake.end_groups = 0;
    cr_assert_eq(ftruncate(fileno(log_file), 0), 0);
    cr_assert_eq(lseek(fileno(log_file), 0, SEEK_SET), 0);
}

static bool logged(const char *what)
{
    static char text[64 * 1024];
    ssize_t n = pread(fileno(log_file), text, sizeof(text) - 1, 0);
    cr_assert_geq(n, 0);
    text[n] = '\0';
    return strstr(text, what) != NULL;
}

/* A service in state, the way it gets there; the log and counts cleared. */
static struct svc *svc_in(enum svc_state state)
{
    struct svc *s = new_svc();
    switch (state) {
    case SVC_WAITING:
        break;
    case SVC_STARTING:
        svc_handle(s, SVC_EV_START);
        break;
    case SVC_RUNNING:
        svc_handle(s, SVC_EV_START);
        svc_handle(s, SVC_EV_EXEC_OK);
        break;
    case SVC_BACKOFF:
        cfg.restart = CFG_RESTART_ALWAYS; /* whatever an earlier cell set */
        svc_handle(s, SVC_EV_START);
        svc_handle(s, SVC_EV_EXEC_OK);
        feed_exit(s, EXITED_WITH(1));
        break;
    case SVC_STOPPING:
        svc_handle(s, SVC_EV_START);
        svc_handle(s, SVC_EV_EXEC_OK);
        svc_handle(s, SVC_EV_STOP);
        break;
    case SVC_STOPPED:
        svc_handle(s, SVC_EV_STOP);
        break;
    case SVC_EXITED:
        cfg.restart = CFG_RESTART_NEVER;
        svc_handle(s, SVC_EV_START);
        svc_handle(s, SVC_EV_EXEC_OK);
        feed_exit(s, EXITED_WITH(0));
        break;
    case SVC_FATAL:
        svc_handle(s, SVC_EV_ABANDON);
        break;
    case SVC_COMPLETED:
        cfg.role = CFG_ROLE_TASK;
        cfg.restart = CFG_RESTART_NEVER;
        svc_handle(s, SVC_EV_START);
        svc_handle(s, SVC_EV_EXEC_OK);
        feed_exit(s, EXITED_WITH(0));
        break;
    }
    cr_assert_eq(s->state, state, "%s, not %s", svc_state_name(s->state),
                 svc_state_name(state));
    forget();
    return s;
}

/* The owner was told exactly of from → to changes, in order. */
static void expect_told(size_t n, const enum svc_state *path)
{
    cr_expect_eq(told.count, n, "told %zu changes, not %zu", told.count, n);
    for (size_t i = 0; i < n && i < told.count; i++) {
        cr_expect_eq(told.from[i], path[i], "change %zu from %s", i,
                     svc_state_name(told.from[i]));
        cr_expect_eq(told.to[i], path[i + 1], "change %zu to %s", i,
                     svc_state_name(told.to[i]));
    }
}

#define EXPECT_PATH(...)                                                       \
    do {                                                                       \
        const enum svc_state path_[] = {__VA_ARGS__};                          \
        expect_told(ARRAY_SIZE(path_) - 1, path_);                             \
    } while (0)

static void expect_signals(size_t n, const int *sigs)
{
    cr_expect_eq(fake.signals_count, n, "%zu signals, not %zu",
                 fake.signals_count, n);
    for (size_t i = 0; i < n && i < fake.signals_count; i++)
        cr_expect_eq(fake.signals[i], sigs[i], "signal %zu is %d", i,
                     fake.signals[i]);
}

#define EXPECT_SIGNALS(...)                                                    \
    do {                                                                       \
        const int sigs_[] = {__VA_ARGS__};                                     \
        expect_signals(ARRAY_SIZE(sigs_), sigs_);                              \
    } while (0)

/* ---- the cells no caller reaches: a logged bug, nothing else ---- */

struct cell {
    enum svc_state state;
    enum svc_event ev;
};

static const struct cell impossible[] = {
    {SVC_WAITING, SVC_EV_EXEC_OK},      {SVC_WAITING, SVC_EV_EXIT},
    {SVC_WAITING, SVC_EV_TIMER},        {SVC_WAITING, SVC_EV_GROUP_GONE},
    {SVC_WAITING, SVC_EV_RESTART},      {SVC_STARTING, SVC_EV_START},
    {SVC_STARTING, SVC_EV_GROUP_GONE},  {SVC_STARTING, SVC_EV_ABANDON},
    {SVC_RUNNING, SVC_EV_START},        {SVC_RUNNING, SVC_EV_TIMER},
    {SVC_RUNNING, SVC_EV_GROUP_GONE},   {SVC_RUNNING, SVC_EV_ABANDON},
    {SVC_BACKOFF, SVC_EV_EXEC_OK},      {SVC_BACKOFF, SVC_EV_EXIT},
    {SVC_BACKOFF, SVC_EV_GROUP_GONE},   {SVC_BACKOFF, SVC_EV_ABANDON},
    {SVC_BACKOFF, SVC_EV_RESTART},      {SVC_STOPPING, SVC_EV_START},
    {SVC_STOPPING, SVC_EV_ABANDON},     {SVC_STOPPED, SVC_EV_EXEC_OK},
    {SVC_STOPPED, SVC_EV_EXIT},         {SVC_STOPPED, SVC_EV_TIMER},
    {SVC_STOPPED, SVC_EV_GROUP_GONE},   {SVC_STOPPED, SVC_EV_ABANDON},
    {SVC_STOPPED, SVC_EV_RESTART},      {SVC_EXITED, SVC_EV_EXEC_OK},
    {SVC_EXITED, SVC_EV_EXIT},          {SVC_EXITED, SVC_EV_TIMER},
    {SVC_EXITED, SVC_EV_GROUP_GONE},    {SVC_EXITED, SVC_EV_ABANDON},
    {SVC_EXITED, SVC_EV_RESTART},       {SVC_FATAL, SVC_EV_EXEC_OK},
    {SVC_FATAL, SVC_EV_EXIT},           {SVC_FATAL, SVC_EV_TIMER},
    {SVC_FATAL, SVC_EV_GROUP_GONE},     {SVC_FATAL, SVC_EV_ABANDON},
    {SVC_FATAL, SVC_EV_RESTART},        {SVC_WAITING, SVC_EV_READY},
    {SVC_BACKOFF, SVC_EV_READY},        {SVC_STOPPED, SVC_EV_READY},
    {SVC_EXITED, SVC_EV_READY},         {SVC_FATAL, SVC_EV_READY},
    {SVC_WAITING, SVC_EV_WATCHDOG},     {SVC_STARTING, SVC_EV_WATCHDOG},
    {SVC_BACKOFF, SVC_EV_WATCHDOG},     {SVC_STOPPING, SVC_EV_WATCHDOG},
    {SVC_STOPPED, SVC_EV_WATCHDOG},     {SVC_EXITED, SVC_EV_WATCHDOG},
    {SVC_FATAL, SVC_EV_WATCHDOG},       {SVC_COMPLETED, SVC_EV_EXEC_OK},
    {SVC_COMPLETED, SVC_EV_EXIT},       {SVC_COMPLETED, SVC_EV_TIMER},
    {SVC_COMPLETED, SVC_EV_GROUP_GONE}, {SVC_COMPLETED, SVC_EV_ABANDON},
    {SVC_COMPLETED, SVC_EV_RESTART},    {SVC_COMPLETED, SVC_EV_READY},
    {SVC_COMPLETED, SVC_EV_WATCHDOG},
};

/* Legitimate: sent there, and nothing to do. */
static const struct cell ignored[] = {
    {SVC_WAITING, SVC_EV_KILL},   {SVC_STOPPED, SVC_EV_STOP},
    {SVC_STOPPED, SVC_EV_KILL},   {SVC_EXITED, SVC_EV_STOP},
    {SVC_EXITED, SVC_EV_KILL},    {SVC_FATAL, SVC_EV_STOP},
    {SVC_FATAL, SVC_EV_KILL},     {SVC_STOPPING, SVC_EV_READY},
    {SVC_COMPLETED, SVC_EV_STOP}, {SVC_COMPLETED, SVC_EV_KILL},
};

/* The cells with a handler: each has its own test below. */
#define HANDLED_CELLS 32

/* What the bug line says, in the JSON log. */
static void bug_line(char *buf, size_t len, const struct cell *c)
{
    snprintf(buf, len,
             "\"level\":\"error\","
             "\"msg\":\"bug: service event in impossible state\","
             "\"service\":\"svc\",\"state\":\"%s\",\"event\":\"%s\"",
             svc_state_name(c->state), svc_event_name(c->ev));
}

/* Feeds c's event in c's state: nothing changes, and bug says whether
 * the bug line is logged. */
static void expect_nothing(const struct cell *c, bool bug)
{
    struct svc *s = svc_in(c->state);
    int restarts = (int)s->restarts;
    svc_handle(s, c->ev);
    ev_run(loop, EVRUN_NOWAIT);
    const char *st = svc_state_name(c->state);
    const char *ev = svc_event_name(c->ev);
    cr_expect_eq(s->state, c->state, "%s in %s: now %s", ev, st,
                 svc_state_name(s->state));
    cr_expect_eq(told.count, 0, "%s in %s: owner told", ev, st);
    cr_expect_eq(fake.spawns + (int)fake.signals_count + fake.end_groups, 0,
                 "%s in %s: process layer called", ev, st);
    cr_expect_eq((int)s->restarts, restarts);
    char want[256];
    bug_line(want, sizeof(want), c);
    cr_expect_eq(logged(want), bug, "%s in %s: bug line %s", ev, st,
                 bug ? "missing" : "logged");
    if (!bug)
        cr_expect_not(logged("\"msg\""), "%s in %s: something logged", ev, st);
    svc_free(s);
}

Test(svc_machine, every_cell_is_listed_once)
{
    enum { STATES = SVC_COMPLETED + 1, EVENTS = SVC_EV_WATCHDOG + 1 };
    cr_expect_eq(ARRAY_SIZE(impossible) + ARRAY_SIZE(ignored) + HANDLED_CELLS,
                 STATES * EVENTS);
    /* No cell listed twice. */
    int seen[STATES][EVENTS] = {{0}};
    for (size_t i = 0; i < ARRAY_SIZE(impossible); i++)
        seen[impossible[i].state][impossible[i].ev]++;
    for (size_t i = 0; i < ARRAY_SIZE(ignored); i++)
        seen[ignored[i].state][ignored[i].ev]++;
    for (int st = 0; st < STATES; st++) {
        for (int ev = 0; ev < EVENTS; ev++)
            cr_expect_leq(seen[st][ev], 1, "%s/%s listed twice",
                          svc_state_name(st), svc_event_name(ev));
    }
}

Test(svc_machine, impossible_cells_log_a_bug_and_change_nothing)
{
    for (size_t i = 0; i < ARRAY_SIZE(impossible); i++)
        expect_nothing(&impossible[i], true);
}

Test(svc_machine, ignored_cells_change_nothing_and_log_nothing)
{
    for (size_t i = 0; i < ARRAY_SIZE(ignored); i++)
        expect_nothing(&ignored[i], false);
}

/* ---- WAITING, STOPPED, EXITED, FATAL ---- */

static void expect_start(enum svc_state from)
{
    struct svc *s = svc_in(from);
    svc_handle(s, SVC_EV_START);
    cr_expect_eq(s->state, SVC_STARTING, "from %s", svc_state_name(from));
    cr_expect_eq(fake.spawns, 1);
    cr_expect_eq(s->proc.pid, FAKE_PID);
    EXPECT_PATH(from, SVC_STARTING);
    svc_free(s);
}

Test(svc_machine, waiting_start_spawns)
{
    expect_start(SVC_WAITING);
}

Test(svc_machine, stopped_start_spawns)
{
    expect_start(SVC_STOPPED);
}

Test(svc_machine, exited_start_spawns)
{
    expect_start(SVC_EXITED);
}

Test(svc_machine, fatal_start_spawns)
{
    expect_start(SVC_FATAL);
}

Test(svc_machine, completed_start_runs_the_task_again)
{
    expect_start(SVC_COMPLETED);
}

Test(svc_machine, start_by_hand_is_a_fresh_restart_budget)
{
    cfg.max_restarts = 1;
    cfg.backoff.reset_after_ms = 3600000;
    struct svc *s = svc_in(SVC_BACKOFF); /* one restart spent */
    svc_handle(s, SVC_EV_TIMER);
    feed_exit(s, EXITED_WITH(1));
    cr_assert_eq(s->state, SVC_FATAL);
    cr_expect(logged("service is crash-looping; giving up"));
    svc_handle(s, SVC_EV_START);
    feed_exit(s, EXITED_WITH(1));
    cr_expect_eq(s->state, SVC_BACKOFF);
    svc_free(s);
}

Test(svc_machine, waiting_stop_is_stopped)
{
    struct svc *s = svc_in(SVC_WAITING);
    svc_handle(s, SVC_EV_STOP);
    cr_expect_eq(s->state, SVC_STOPPED);
    EXPECT_PATH(SVC_WAITING, SVC_STOPPED);
    cr_expect_eq(fake.signals_count, 0);
    svc_free(s);
}

Test(svc_machine, waiting_abandon_is_fatal)
{
    struct svc *s = svc_in(SVC_WAITING);
    svc_handle(s, SVC_EV_ABANDON);
    cr_expect_eq(s->state, SVC_FATAL);
    EXPECT_PATH(SVC_WAITING, SVC_FATAL);
    cr_expect_eq(fake.spawns, 0);
    svc_free(s);
}

/* ---- STARTING and RUNNING ---- */

Test(svc_machine, starting_exec_ok_is_running)
{
    struct svc *s = svc_in(SVC_STARTING);
    svc_handle(s, SVC_EV_EXEC_OK);
    cr_expect_eq(s->state, SVC_RUNNING);
    cr_expect(s->ever_started);
    EXPECT_PATH(SVC_STARTING, SVC_RUNNING);
    cr_expect(logged("\"msg\":\"service started\""));
    svc_free(s);
}

Test(svc_machine, running_exec_ok_says_started_again_only)
{
    struct svc *s = svc_in(SVC_RUNNING);
    svc_handle(s, SVC_EV_EXEC_OK);
    cr_expect_eq(s->state, SVC_RUNNING);
    cr_expect_eq(told.count, 0);
    cr_expect(logged("\"msg\":\"service started\""));
    svc_free(s);
}

static void expect_exit_to_backoff(enum svc_state from)
{
    struct svc *s = svc_in(from);
    feed_exit(s, KILLED_BY(SIGSEGV));
    cr_expect_eq(s->state, SVC_BACKOFF);
    cr_expect(s->has_exited);
    cr_expect_eq(svc_exit_code(s), 128 + SIGSEGV);
    cr_expect_eq(s->proc.pid, 0);
    cr_expect_eq(fake.end_groups, 1, "what the leader left is killed");
    EXPECT_PATH(from, SVC_BACKOFF);
    cr_expect(logged("\"msg\":\"service exited\""));
    cr_expect(logged("\"msg\":\"service will restart\""));
    cr_expect(ev_is_active(&s->timer_w), "backoff timer armed");
    svc_free(s);
}

Test(svc_machine, starting_exit_backs_off)
{
    expect_exit_to_backoff(SVC_STARTING);
}

Test(svc_machine, running_exit_backs_off)
{
    expect_exit_to_backoff(SVC_RUNNING);
}

Test(svc_machine, running_exit_by_policy_is_exited)
{
    cfg.restart = CFG_RESTART_ON_FAILURE;
    struct svc *s = svc_in(SVC_RUNNING);
    feed_exit(s, EXITED_WITH(0));
    cr_expect_eq(s->state, SVC_EXITED);
    EXPECT_PATH(SVC_RUNNING, SVC_EXITED);
    cr_expect(svc_is_done(s));
    svc_free(s);
}

Test(svc_machine, failed_spawn_exits_127_from_the_loop)
{
    struct svc *s = svc_in(SVC_WAITING);
    fake.spawn_rc = -EAGAIN;
    svc_handle(s, SVC_EV_START);
    cr_expect_eq(s->state, SVC_STARTING);
    EXPECT_PATH(SVC_WAITING, SVC_STARTING);
    cr_expect(logged("\"msg\":\"cannot start service\""));
    ev_run(loop, EVRUN_NOWAIT); /* the exit, from the loop */
    cr_expect_eq(s->state, SVC_BACKOFF);
    cr_expect_eq(svc_exit_code(s), 127);
    EXPECT_PATH(SVC_WAITING, SVC_STARTING, SVC_BACKOFF);
    svc_free(s);
}

static void expect_stop(enum svc_state from, enum svc_event ev)
{
    struct svc *s = svc_in(from);
    svc_handle(s, ev);
    cr_expect_eq(s->state, SVC_STOPPING);
    EXPECT_PATH(from, SVC_STOPPING);
    EXPECT_SIGNALS(SIGTERM, SIGCONT);
    cr_expect(logged("\"msg\":\"stopping service\""));
    cr_expect(ev_is_active(&s->timer_w), "stop_timeout armed");
    cr_expect_eq(s->restart_requested, ev == SVC_EV_RESTART);
    svc_free(s);
}

Test(svc_machine, starting_stop_signals_the_group)
{
    expect_stop(SVC_STARTING, SVC_EV_STOP);
}

Test(svc_machine, running_stop_signals_the_group)
{
    expect_stop(SVC_RUNNING, SVC_EV_STOP);
}

Test(svc_machine, starting_restart_stops_first)
{
    expect_stop(SVC_STARTING, SVC_EV_RESTART);
}

Test(svc_machine, running_restart_stops_first)
{
    expect_stop(SVC_RUNNING, SVC_EV_RESTART);
}

static void expect_kill(enum svc_state from)
{
    struct svc *s = svc_in(from);
    svc_handle(s, SVC_EV_KILL);
    cr_expect_eq(s->state, SVC_STOPPING);
    EXPECT_PATH(from, SVC_STOPPING);
    EXPECT_SIGNALS(SIGKILL);
    cr_expect(s->killed);
    cr_expect(logged("\"msg\":\"killing service\""));
    svc_free(s);
}

Test(svc_machine, starting_kill_kills_the_group)
{
    expect_kill(SVC_STARTING);
}

Test(svc_machine, running_kill_kills_the_group)
{
    expect_kill(SVC_RUNNING);
}

/* ---- BACKOFF ---- */

static void expect_restart(enum svc_event ev)
{
    struct svc *s = svc_in(SVC_BACKOFF);
    svc_handle(s, ev);
    cr_expect_eq(s->state, SVC_STARTING);
    cr_expect_eq(s->restarts, 1);
    cr_expect_eq(fake.spawns, 1);
    cr_expect_not(ev_is_active(&s->timer_w));
    EXPECT_PATH(SVC_BACKOFF, SVC_STARTING);
    svc_free(s);
}

Test(svc_machine, backoff_timer_restarts)
{
    expect_restart(SVC_EV_TIMER);
}

Test(svc_machine, backoff_start_restarts_now)
{
    expect_restart(SVC_EV_START);
}

static void expect_backoff_cancelled(enum svc_event ev)
{
    struct svc *s = svc_in(SVC_BACKOFF);
    svc_handle(s, ev);
    cr_expect_eq(s->state, SVC_STOPPED);
    cr_expect_not(ev_is_active(&s->timer_w));
    cr_expect_eq(fake.signals_count, 0);
    EXPECT_PATH(SVC_BACKOFF, SVC_STOPPED);
    svc_free(s);
}

Test(svc_machine, backoff_stop_is_stopped)
{
    expect_backoff_cancelled(SVC_EV_STOP);
}

Test(svc_machine, backoff_kill_is_stopped)
{
    expect_backoff_cancelled(SVC_EV_KILL);
}

/* ---- STOPPING ---- */

Test(svc_machine, stopping_exec_ok_says_started_and_stays)
{
    struct svc *s = svc_in(SVC_STARTING);
    svc_handle(s, SVC_EV_STOP);
    forget();
    svc_handle(s, SVC_EV_EXEC_OK);
    cr_expect_eq(s->state, SVC_STOPPING);
    cr_expect(s->ever_started);
    cr_expect_eq(told.count, 0);
    svc_free(s);
}

Test(svc_machine, stopping_exit_of_a_lone_leader_is_stopped)
{
    struct svc *s = svc_in(SVC_STOPPING);
    feed_exit(s, KILLED_BY(SIGTERM));
    cr_expect_eq(s->state, SVC_STOPPED);
    cr_expect_not(ev_is_active(&s->timer_w));
    cr_expect_eq(fake.end_groups, 1);
    EXPECT_PATH(SVC_STOPPING, SVC_STOPPED);
    cr_expect(logged("\"msg\":\"service exited\""));
    svc_free(s);
}

Test(svc_machine, stopping_exit_with_the_group_left_waits_for_it)
{
    fake.group_alive = true;
    struct svc *s = svc_in(SVC_STOPPING);
    feed_exit(s, EXITED_WITH(0));
    cr_expect_eq(s->state, SVC_STOPPING);
    cr_expect_eq(told.count, 0);
    cr_expect(ev_is_active(&s->group_w), "the group is polled");
    cr_expect(logged("waiting for the rest of the service's process group"));
    svc_free(s);
}

Test(svc_machine, stopping_group_gone_is_stopped)
{
    fake.group_alive = true;
    struct svc *s = svc_in(SVC_STOPPING);
    feed_exit(s, EXITED_WITH(0));
    forget();
    svc_handle(s, SVC_EV_GROUP_GONE);
    cr_expect_eq(s->state, SVC_STOPPED);
    cr_expect_not(ev_is_active(&s->group_w));
    cr_expect_eq(fake.end_groups, 1);
    EXPECT_PATH(SVC_STOPPING, SVC_STOPPED);
    cr_expect(logged("\"msg\":\"service's process group exited\""));
    svc_free(s);
}

Test(svc_machine, stopping_timer_kills_then_waits_for_the_leader)
{
    struct svc *s = svc_in(SVC_STOPPING);
    svc_handle(s, SVC_EV_TIMER);
    cr_expect_eq(s->state, SVC_STOPPING);
    EXPECT_SIGNALS(SIGKILL);
    cr_expect(logged("service did not stop in time; killing it"));
    svc_handle(s, SVC_EV_TIMER); /* the leader is ours: waited for */
    svc_handle(s, SVC_EV_TIMER); /* said once */
    cr_expect_eq(s->state, SVC_STOPPING);
    cr_expect(logged("process cannot be killed: it is stuck in the kernel"));
    cr_expect(ev_is_active(&s->timer_w));
    cr_expect_eq(told.count, 0);
    svc_free(s);
}

Test(svc_machine, stopping_timer_after_kill_gives_up_on_the_group)
{
    fake.group_alive = true;
    struct svc *s = svc_in(SVC_STOPPING);
    svc_handle(s, SVC_EV_TIMER);
    feed_exit(s, KILLED_BY(SIGKILL));
    cr_assert_eq(s->state, SVC_STOPPING);
    svc_handle(s, SVC_EV_TIMER);
    cr_expect_eq(s->state, SVC_STOPPED);
    EXPECT_PATH(SVC_STOPPING, SVC_STOPPED);
    cr_expect(logged("process group still there after SIGKILL"));
    svc_free(s);
}

Test(svc_machine, stopping_restart_restarts_after_the_stop)
{
    struct svc *s = svc_in(SVC_STOPPING);
    svc_handle(s, SVC_EV_RESTART);
    cr_expect_eq(s->state, SVC_STOPPING);
    cr_expect_eq(told.count, 0);
    cr_expect_eq(fake.signals_count, 0);
    feed_exit(s, KILLED_BY(SIGTERM));
    cr_expect_eq(s->state, SVC_BACKOFF);
    EXPECT_PATH(SVC_STOPPING, SVC_BACKOFF);
    svc_free(s);
}

Test(svc_machine, stopping_stop_cancels_a_restart)
{
    struct svc *s = svc_in(SVC_RUNNING);
    svc_handle(s, SVC_EV_RESTART);
    forget();
    svc_handle(s, SVC_EV_STOP);
    cr_expect_eq(s->state, SVC_STOPPING);
    cr_expect_eq(told.count, 0);
    cr_expect_eq(fake.signals_count, 0, "signalled once only");
    feed_exit(s, KILLED_BY(SIGTERM));
    cr_expect_eq(s->state, SVC_STOPPED);
    EXPECT_PATH(SVC_STOPPING, SVC_STOPPED);
    svc_free(s);
}

Test(svc_machine, stopping_kill_kills_once_and_cancels_a_restart)
{
    struct svc *s = svc_in(SVC_RUNNING);
    svc_handle(s, SVC_EV_RESTART);
    forget();
    svc_handle(s, SVC_EV_KILL);
    svc_handle(s, SVC_EV_KILL);
    cr_expect_eq(s->state, SVC_STOPPING);
    EXPECT_SIGNALS(SIGKILL);
    cr_expect_eq(told.count, 0);
    feed_exit(s, KILLED_BY(SIGKILL));
    cr_expect_eq(s->state, SVC_STOPPED);
    EXPECT_PATH(SVC_STOPPING, SVC_STOPPED);
    svc_free(s);
}

/* ---- tasks: a success completes, a failure goes through the policy ---- */

static struct svc *running_task(enum cfg_restart restart)
{
    cfg.role = CFG_ROLE_TASK;
    cfg.restart = restart;
    struct svc *s = svc_in(SVC_RUNNING);
    return s;
}

Test(svc_machine, task_success_is_completed_and_said)
{
    struct svc *s = running_task(CFG_RESTART_NEVER);
    feed_exit(s, EXITED_WITH(0));
    cr_expect_eq(s->state, SVC_COMPLETED);
    EXPECT_PATH(SVC_RUNNING, SVC_COMPLETED);
    cr_expect(svc_is_done(s));
    cr_expect(logged("\"msg\":\"service completed\",\"service\":\"svc\","
                     "\"exit_code\":0,\"duration_ms\":"));
    cr_expect_not(ev_is_active(&s->timer_w));
    svc_free(s);
}

Test(svc_machine, task_success_code_of_its_own_is_completed)
{
    static int codes[] = {0, 3};
    cfg.success_exit_codes = codes;
    cfg.success_exit_codes_count = 2;
    struct svc *s = running_task(CFG_RESTART_ON_FAILURE);
    feed_exit(s, EXITED_WITH(3));
    cr_expect_eq(s->state, SVC_COMPLETED);
    cr_expect(logged("\"exit_code\":3"));
    svc_free(s);
}

Test(svc_machine, task_failure_with_restart_never_is_exited)
{
    struct svc *s = running_task(CFG_RESTART_NEVER);
    feed_exit(s, EXITED_WITH(1));
    cr_expect_eq(s->state, SVC_EXITED);
    cr_expect_not(logged("service completed"));
    svc_free(s);
}

Test(svc_machine, task_failure_with_on_failure_backs_off)
{
    struct svc *s = running_task(CFG_RESTART_ON_FAILURE);
    feed_exit(s, EXITED_WITH(1));
    cr_expect_eq(s->state, SVC_BACKOFF);
    svc_handle(s, SVC_EV_TIMER);
    svc_handle(s, SVC_EV_EXEC_OK);
    feed_exit(s, EXITED_WITH(0));
    cr_expect_eq(s->state, SVC_COMPLETED);
    cr_expect_eq(s->restarts, 1);
    svc_free(s);
}

Test(svc_machine, task_killed_by_a_signal_is_no_success)
{
    struct svc *s = running_task(CFG_RESTART_NEVER);
    feed_exit(s, KILLED_BY(SIGKILL));
    cr_expect_eq(s->state, SVC_EXITED);
    svc_free(s);
}

Test(svc_machine, helper_success_is_exited_not_completed)
{
    cfg.restart = CFG_RESTART_NEVER;
    struct svc *s = svc_in(SVC_RUNNING);
    feed_exit(s, EXITED_WITH(0));
    cr_expect_eq(s->state, SVC_EXITED);
    cr_expect_not(logged("service completed"));
    svc_free(s);
}

/* ---- ready: notify: STARTING until READY=1 ---- */

Test(svc_machine, notify_exec_ok_waits_for_ready)
{
    cfg.ready = CFG_READY_NOTIFY;
    struct svc *s = svc_in(SVC_STARTING);
    cr_expect_eq(s->notify_sock.addr[0], '@', "a socket for the run");
    svc_handle(s, SVC_EV_EXEC_OK);
    cr_expect_eq(s->state, SVC_STARTING);
    cr_expect_not(s->ever_started);
    cr_expect_eq(told.count, 0);
    cr_expect(logged("service executed; waiting for it to say it is ready"));
    cr_expect_not(logged("\"service started\""));
    svc_handle(s, SVC_EV_READY);
    cr_expect_eq(s->state, SVC_RUNNING);
    cr_expect(s->ever_started);
    cr_expect(logged("\"service started\""));
    EXPECT_PATH(SVC_STARTING, SVC_RUNNING);
    svc_free(s);
}

Test(svc_machine, notify_ready_before_exec_ok_runs_at_exec_ok)
{
    cfg.ready = CFG_READY_NOTIFY;
    struct svc *s = svc_in(SVC_STARTING);
    svc_handle(s, SVC_EV_READY);
    cr_expect_eq(s->state, SVC_STARTING);
    cr_expect_eq(told.count, 0);
    svc_handle(s, SVC_EV_EXEC_OK);
    cr_expect_eq(s->state, SVC_RUNNING);
    cr_expect(s->ever_started);
    EXPECT_PATH(SVC_STARTING, SVC_RUNNING);
    svc_free(s);
}

Test(svc_machine, starting_timer_is_ready_timeout_through_the_policy)
{
    cfg.ready = CFG_READY_NOTIFY;
    cfg.restart = CFG_RESTART_ON_FAILURE;
    struct svc *s = svc_in(SVC_STARTING);
    svc_handle(s, SVC_EV_EXEC_OK);
    svc_handle(s, SVC_EV_TIMER);
    cr_expect_eq(s->state, SVC_STOPPING);
    cr_expect(logged("service did not say it is ready in time"));
    EXPECT_SIGNALS(SIGTERM, SIGCONT);
    /* It exits 0 on SIGTERM: still a failed run, so on-failure restarts. */
    feed_exit(s, EXITED_WITH(0));
    cr_expect_eq(s->state, SVC_BACKOFF);
    cr_expect_eq(s->notify_sock.addr[0], '\0', "closed with the group");
    EXPECT_PATH(SVC_STARTING, SVC_STOPPING, SVC_BACKOFF);
    svc_free(s);
}

Test(svc_machine, task_ready_timeout_then_exit_0_is_no_completion)
{
    cfg.ready = CFG_READY_NOTIFY;
    cfg.role = CFG_ROLE_TASK;
    cfg.restart = CFG_RESTART_NEVER;
    struct svc *s = svc_in(SVC_STARTING);
    svc_handle(s, SVC_EV_EXEC_OK);
    svc_handle(s, SVC_EV_TIMER);
    cr_assert_eq(s->state, SVC_STOPPING);
    /* It exits 0 on SIGTERM: a failed run, not a completed task. */
    feed_exit(s, EXITED_WITH(0));
    cr_expect_eq(s->state, SVC_EXITED);
    cr_expect_not(logged("service completed"));
    svc_free(s);
}

Test(svc_machine, running_ready_ends_a_reload)
{
    cfg.ready = CFG_READY_NOTIFY;
    struct svc *s = svc_in(SVC_STARTING);
    svc_handle(s, SVC_EV_EXEC_OK);
    svc_handle(s, SVC_EV_READY);
    forget();
    svc_handle(s, SVC_EV_READY);
    cr_expect_eq(told.count, 0, "ready already: nothing to tell");
    s->not_ready = "reloading";
    svc_handle(s, SVC_EV_READY);
    cr_expect_eq(s->state, SVC_RUNNING);
    cr_expect_null(s->not_ready);
    EXPECT_PATH(SVC_RUNNING, SVC_RUNNING);
    cr_expect(logged("service is ready again"));
    svc_free(s);
}

/* ---- watchdog: RUNNING x WATCHDOG ---- */

Test(svc_machine, running_watchdog_aborts_a_failed_run)
{
    cfg.ready = CFG_READY_NOTIFY;
    cfg.watchdog_ms = 100;
    cfg.restart = CFG_RESTART_ON_FAILURE;
    struct svc *s = svc_in(SVC_STARTING);
    svc_handle(s, SVC_EV_EXEC_OK);
    cr_expect_not(ev_is_active(&s->watchdog_w), "not before ready");
    svc_handle(s, SVC_EV_READY);
    cr_assert_eq(s->state, SVC_RUNNING);
    cr_expect(ev_is_active(&s->watchdog_w), "armed at ready");
    forget();
    svc_handle(s, SVC_EV_WATCHDOG);
    cr_expect_eq(s->state, SVC_STOPPING);
    cr_expect(logged("\"msg\":\"watchdog timeout\""));
    cr_expect_not(ev_is_active(&s->watchdog_w));
    EXPECT_SIGNALS(SIGABRT, SIGCONT);
    /* It caught SIGABRT and exited 0: a failed run all the same. */
    feed_exit(s, EXITED_WITH(0));
    cr_expect_eq(s->state, SVC_BACKOFF);
    EXPECT_PATH(SVC_RUNNING, SVC_STOPPING, SVC_BACKOFF);
    svc_free(s);
}
