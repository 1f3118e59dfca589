/*
 * The supervisor's queue of state changes (sidecar/notify.c): changes are
 * handled from the loop, in order, never inside the call that made them
 * nor inside another's handling; a forgotten object is never handled. And
 * the supervisor on it: a chain of dependent services starts in order
 * with no nested handling, and a service a reload removes while its change
 * waits is handled, then freed, safely.
 */
#include <criterion/criterion.h>
#include <ev.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/log.h"
#include "conf/load.h"
#include "sidecar/notify.h"
#include "sidecar/sidecar.h"
#include "sidecar/view.h"

#define SEEN_MAX 256

/* What the handler saw: the objects' tags, in order. */
struct seen {
    int tags[SEEN_MAX];
    size_t n;
    int chain_left; /* the handler queues this many more, one a time */
};

static int obj_tags[SEEN_MAX];

static void record_handler(struct notify_queue *q, const struct notice *n,
                           void *arg)
{
    struct seen *s = arg;
    cr_assert_lt(s->n, SEEN_MAX);
    s->tags[s->n++] = *(const int *)n->obj;
    if (s->chain_left > 0) {
        s->chain_left--;
        notify_push(q, NOTIFY_SERVICE, &obj_tags[s->n], 0, 1);
    }
}

static void init_tags(void)
{
    for (int i = 0; i < SEEN_MAX; i++)
        obj_tags[i] = i;
}

Test(notify, handled_from_the_loop_in_order, .timeout = 5)
{
    struct ev_loop *loop = ev_default_loop(0);
    struct notify_queue q;
    struct seen s = {0};
    init_tags();
    cr_assert_eq(notify_init(&q, loop, record_handler, &s), 0);
    for (int i = 1; i <= 3; i++)
        notify_push(&q, NOTIFY_SERVICE, &obj_tags[i], 0, 1);
    cr_assert_eq(s.n, 0, "handled inside the push");
    ev_run(loop, EVRUN_NOWAIT);
    cr_assert_eq(s.n, 3);
    for (size_t i = 0; i < 3; i++)
        cr_assert_eq(s.tags[i], (int)i + 1);
    notify_fini(&q);
}

/* A change whose handling makes another, six deep: all in one pass, never
 * nested. */
Test(notify, chained_changes_never_nest, .timeout = 5)
{
    struct ev_loop *loop = ev_default_loop(0);
    struct notify_queue q;
    struct seen s = {.chain_left = 5};
    init_tags();
    cr_assert_eq(notify_init(&q, loop, record_handler, &s), 0);
    notify_push(&q, NOTIFY_SERVICE, &obj_tags[0], 0, 1);
    ev_run(loop, EVRUN_NOWAIT);
    cr_assert_eq(s.n, 6);
    for (size_t i = 0; i < 6; i++)
        cr_assert_eq(s.tags[i], (int)i);
    cr_assert_eq(notify_max_depth(&q), 1);
    notify_fini(&q);
}

/* More than the ring holds at first: it grows, keeping the order. */
Test(notify, grows_in_order, .timeout = 5)
{
    struct ev_loop *loop = ev_default_loop(0);
    struct notify_queue q;
    struct seen s = {0};
    init_tags();
    cr_assert_eq(notify_init(&q, loop, record_handler, &s), 0);
    for (int i = 0; i < 200; i++)
        notify_push(&q, NOTIFY_PROBE, &obj_tags[i], 0, 1);
    ev_run(loop, EVRUN_NOWAIT);
    cr_assert_eq(s.n, 200);
    for (size_t i = 0; i < 200; i++)
        cr_assert_eq(s.tags[i], (int)i);
    notify_fini(&q);
}

/* Freed with its changes queued: they are dropped, the object never read
 * (ASan in `make asan` would see it). */
Test(notify, forgotten_object_is_never_handled, .timeout = 5)
{
    struct ev_loop *loop = ev_default_loop(0);
    struct notify_queue q;
    struct seen s = {0};
    init_tags();
    int *gone = malloc(sizeof(*gone));
    cr_assert_not_null(gone);
    *gone = 99;
    cr_assert_eq(notify_init(&q, loop, record_handler, &s), 0);
    notify_push(&q, NOTIFY_SERVICE, gone, 0, 1);
    notify_push(&q, NOTIFY_SERVICE, &obj_tags[7], 0, 1);
    notify_push(&q, NOTIFY_SERVICE, gone, 1, 2);
    notify_forget(&q, gone);
    free(gone);
    ev_run(loop, EVRUN_NOWAIT);
    cr_assert_eq(s.n, 1);
    cr_assert_eq(s.tags[0], 7);
    notify_fini(&q);
}

/* The supervisor itself, on the default loop, with real processes. */

/* Only errors: a "bug:" line would show. */
static void quiet(void)
{
    log_set_level(LOG_LEVEL_ERROR);
}

static char cfg_path[64];

static void write_cfg(const char *text)
{
    FILE *f = fopen(cfg_path, "w");
    cr_assert_not_null(f);
    cr_assert_eq(fputs(text, f) >= 0, true);
    cr_assert_eq(fclose(f), 0);
}

static struct sidecar *start_sidecar(const char *text)
{
    char dir[] = "/tmp/sidecar-notify-XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    snprintf(cfg_path, sizeof(cfg_path), "%s/sidecar.yaml", dir);
    write_cfg(text);
    struct cfg_root *cfg;
    struct cfg_error err;
    cr_assert_eq(cfg_load(cfg_path, &cfg, &err), 0, "%u:%u: %s", err.line,
                 err.col, err.msg);
    char errbuf[256];
    struct sidecar *sc =
        sidecar_new(ev_default_loop(0), cfg, errbuf, sizeof(errbuf));
    cr_assert_not_null(sc, "%s", errbuf);
    sidecar_pin_log(sc, true, true); /* quiet() holds across reloads */
    sidecar_start(sc);
    return sc;
}

static void end_sidecar(struct sidecar *sc)
{
    sidecar_free(sc);
    unlink(cfg_path);
    *strrchr(cfg_path, '/') = '\0';
    rmdir(cfg_path);
}

/* Each a service that waits for the one before it. */
#define CHAIN_CFG                                                              \
    "services:\n"                                                              \
    "  s1: {role: main, command: [sleep, \"30\"], stop_timeout: 1s}\n"         \
    "  s2: {command: [sleep, \"30\"], depends_on: [s1]}\n"                     \
    "  s3: {command: [sleep, \"30\"], depends_on: [s2]}\n"                     \
    "  s4: {command: [sleep, \"30\"], depends_on: [s3]}\n"                     \
    "  s5: {command: [sleep, \"30\"], depends_on: [s4]}\n"                     \
    "  s6: {command: [sleep, \"30\"], depends_on: [s5]}\n"

struct poll {
    ev_timer w;
    struct sidecar *sc;
    int ticks;
    int step;
};

static bool all_running(const struct sidecar_view *v)
{
    for (size_t i = 0; i < v->svcs_count; i++) {
        if (v->svcs[i]->state != SVC_RUNNING)
            return false;
    }
    return true;
}

static void on_chain_poll(EV_P_ ev_timer *w, int revents)
{
    (void)revents;
    struct poll *p = container_of(w, struct poll, w);
    struct sidecar_view v = sidecar_view(p->sc);
    if (all_running(&v) || ++p->ticks > 400) {
        ev_timer_stop(EV_A_ w);
        sidecar_shutdown(p->sc, "test over");
    }
}

Test(notify, dependency_chain_starts_in_order_unnested, .timeout = 20,
     .init = quiet)
{
    struct sidecar *sc = start_sidecar(CHAIN_CFG);
    struct poll p = {.sc = sc};
    ev_timer_init(&p.w, on_chain_poll, 0.01, 0.01);
    ev_timer_start(ev_default_loop(0), &p.w);
    ev_run(ev_default_loop(0), 0);
    struct sidecar_view v = sidecar_view(sc);
    cr_assert_eq(v.svcs_count, 6);
    for (size_t i = 0; i < v.svcs_count; i++) {
        cr_assert(v.svcs[i]->ever_started, "%s never started",
                  v.svcs[i]->cfg->name);
        if (i > 0)
            cr_assert_gt(v.svcs[i]->start_mono, v.svcs[i - 1]->start_mono,
                         "%s started before %s", v.svcs[i]->cfg->name,
                         v.svcs[i - 1]->cfg->name);
    }
    cr_assert_eq(sidecar_change_depth_max(sc), 1);
    cr_assert(v.shutting_down);
    end_sidecar(sc);
}

/* b fails and waits in its backoff; the reload removes it. */
#define RELOAD_CFG_A                                                           \
    "services:\n"                                                              \
    "  a: {role: main, command: [sleep, \"30\"], stop_timeout: 1s}\n"          \
    "  b: {command: [\"false\"], backoff: {initial: 10s, max: 10s}}\n"
#define RELOAD_CFG_B                                                           \
    "services:\n"                                                              \
    "  a: {role: main, command: [sleep, \"30\"], stop_timeout: 1s}\n"

static struct svc *removed;

static void on_reload_poll(EV_P_ ev_timer *w, int revents)
{
    (void)revents;
    struct poll *p = container_of(w, struct poll, w);
    struct sidecar_view v = sidecar_view(p->sc);
    if (++p->ticks > 400) {
        ev_timer_stop(EV_A_ w);
        sidecar_shutdown(p->sc, "test timed out");
        return;
    }
    if (p->step == 0 && v.svcs[0]->state == SVC_RUNNING &&
        v.svcs[1]->state == SVC_BACKOFF) {
        removed = (struct svc *)v.svcs[1];
        write_cfg(RELOAD_CFG_B);
        cr_assert_eq(sidecar_reload(p->sc, "test", NULL), 0);
        /* Stopped inside the reload; its change waits for the loop. */
        cr_assert_eq(removed->state, SVC_STOPPED);
        p->step = 1;
        p->ticks = 0;
        return;
    }
    /* Some turns of the loop: its change handled, the sweep has freed it. */
    if (p->step == 1 && p->ticks > 10) {
        ev_timer_stop(EV_A_ w);
        sidecar_shutdown(p->sc, "test over");
    }
}

Test(notify, service_removed_with_its_change_pending, .timeout = 20,
     .init = quiet)
{
    struct sidecar *sc = start_sidecar(RELOAD_CFG_A);
    struct poll p = {.sc = sc};
    ev_timer_init(&p.w, on_reload_poll, 0.01, 0.01);
    ev_timer_start(ev_default_loop(0), &p.w);
    ev_run(ev_default_loop(0), 0);
    cr_assert_eq(p.step, 1, "b never reached its backoff");
    struct sidecar_view v = sidecar_view(sc);
    cr_assert_eq(v.svcs_count, 1);
    cr_assert_eq(sidecar_exit_code(sc), 143);
    cr_assert_eq(sidecar_change_depth_max(sc), 1);
    end_sidecar(sc);
}
