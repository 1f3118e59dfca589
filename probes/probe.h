/*
 * Probes: one struct probe per configured probe, owned by a struct prober
 * that schedules them on the loop. The core here owns timing (initial
 * delay, period with the first runs spread over it, a timeout that always
 * holds), thresholds, the state machine unknown/passing/failing, the
 * bulkhead for exec probes, service binding, and when on_failure: restart
 * may act. Each kind (probes/http.c, tcp.c, exec.c, grpc.c) only runs one
 * check and reports; ttl probes are fed by pushes instead of runs. Embeds three
 * ev_timers per probe.
 */
#ifndef SIDECAR_PROBES_PROBE_H
#define SIDECAR_PROBES_PROBE_H

#include <ev.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/util.h"
#include "conf/model.h"

/* Bytes of an exec probe's output its reason keeps, after "exit N: ". */
#define PROBE_OUTPUT_MAX 4096
/* Other reasons (http, a push) are cut to this, NUL included. */
#define PROBE_REASON_MAX 4096
/* What probe_report() keeps, NUL included: the output and its prefix
 * ("killed by SIGRTMIN+15: ", "cannot run: ..." is shorter). */
#define PROBE_REPORT_MAX (PROBE_OUTPUT_MAX + 64)
/* Results kept in struct probe's recent. */
#define PROBE_RECENT_MAX 32

enum probe_state { PROBE_UNKNOWN, PROBE_PASSING, PROBE_FAILING };

/*
 * Where a probe is in its schedule: the run's state machine, apart from
 * the result's (enum probe_state). Every change goes through one table in
 * probe.c.
 */
enum probe_run {
    PROBE_RUN_OFF,     /* not scheduled: its service does not run */
    PROBE_RUN_IDLE,    /* scheduled, between runs */
    PROBE_RUN_QUEUED,  /* due: an exec probe waiting for a slot (the
                          deadline counts) */
    PROBE_RUN_RUNNING, /* the kind runs the check */
    PROBE_RUNS
};

struct probe_result {
    bool ok;
    double duration;    /* seconds the run took */
    double at;          /* wall clock (ev_time()) when it ended */
    const char *reason; /* at most PROBE_REPORT_MAX - 1 bytes; set with
                           has_result */
};

struct probe;
struct prober;
struct runas;
struct curlm;
struct resolver;

/*
 * What a kind implements. start() begins one run and returns 0, or
 * -errno when nothing could be started (the core then records a failed
 * run itself). A started run ends with exactly one probe_report(), never
 * from inside start(), unless the core cancels it first (timeout, or the
 * probe's service stopped): after cancel() no report may come.
 */
struct probe_kind {
    const char *name;
    int (*init)(struct probe *p); /* once; may set p->data; 0 or -errno */
    int (*start)(struct probe *p);
    void (*cancel)(struct probe *p);
    void (*destroy)(struct probe *p); /* frees p->data */
};

extern const struct probe_kind probe_kind_http;
extern const struct probe_kind probe_kind_tcp;
extern const struct probe_kind probe_kind_exec;
extern const struct probe_kind probe_kind_grpc;

struct probe {
    /* read-only outside probes/ */
    const struct cfg_probe *cfg;
    struct prober *owner;
    enum probe_state state;
    enum probe_run run;
    bool passed_once;  /* has passed at least once since activation */
    bool start_over;   /* start_period has run out since the service's
                          start (on_failure: restart only) */
    double start_ends; /* util_mono_now() when it does */
    unsigned passes;   /* consecutive */
    unsigned failures; /* consecutive */
    bool has_result;
    struct probe_result last;
    /* The last PROBE_RECENT_MAX results, newest in bit 0 (1: passed):
     * the page's strip of marks. Kept when its service stops. */
    uint32_t recent;
    unsigned recent_count; /* how many of recent's bits are results */
    double state_since;    /* wall clock of the last state change */

    /* private to probes/ */
    const struct probe_kind *kind;
    void *data;          /* the kind's */
    ev_timer tick_w;     /* the next run (ttl: the deadline for a push) */
    ev_timer deadline_w; /* the run's timeout */
    ev_timer start_w;    /* start_period, counted from the service's start */
    double run_started;  /* util_mono_now() */
    double next_due;     /* util_mono_now() the next run is scheduled for */
    double offset;       /* seconds into the period of its first run */
    struct runas *as;    /* exec: who its runs run as (conf/runas.h), its
                            service's with its own keys; else NULL */
    char *reason_buf;    /* last.reason when owned; grows, never shrinks */
    size_t reason_cap;
    bool kept;        /* scratch of prober_commit() */
    bool tick_missed; /* a tick fell in the run under way */
    struct probe *queue_next;
};

typedef void probe_notify_fn(struct probe *p, enum probe_state old, void *arg);

/* on_failure: restart is due now: restart p's service. */
typedef void probe_restart_fn(struct probe *p, void *arg);

struct prober {
    struct ev_loop *loop;
    struct probe **probes; /* cfg->probes_count, in config order */
    size_t count;
    struct curlm *curl;   /* shared by http probes; NULL if none */
    struct resolver *dns; /* probes' names; NULL while none has one */
    unsigned exec_running;
    unsigned exec_limit;
    char *const *env;         /* what exec probes inherit; borrowed */
    char *const *hidden_env;  /* cfg->http.token_vars: kept from exec probes */
    struct probe *queue_head; /* exec probes waiting for a slot */
    struct probe *queue_tail;
    probe_notify_fn *notify;
    probe_restart_fn *restart;
    void *notify_arg; /* for both */
};

/*
 * Builds every probe of cfg (none runs yet). notify is called on each
 * state change, after it the probe's restart when due (from the state
 * change or later, when start_period runs out). NULL with a message in
 * errbuf on failure. cfg and env (what exec probes inherit, less cfg's
 * token variables) are borrowed and must outlive the prober. An exec probe
 * resolves who it runs as here, once (NSS lookups: never per run).
 */
struct prober *prober_new(struct ev_loop *loop, const struct cfg_root *cfg,
                          char *const *env, probe_notify_fn *notify,
                          probe_restart_fn *restart, void *arg, char *errbuf,
                          size_t errlen) ATTR_WUR;

/*
 * The prober's resolver, made on first use by a probe that names a host:
 * NULL and errno when c-ares cannot start.
 */
struct resolver *probe_resolver(struct probe *p) ATTR_WUR;

/* Starts the probes that belong to no service. */
void prober_start(struct prober *pr);

/*
 * The service named service started running (true) or stopped running:
 * its probes start from unknown, or stop and return to unknown. since is
 * the util_mono_now() of the service's current start (its spawn), which
 * start_period counts from. NULL names the probes of no service (which
 * run while running is true).
 */
void prober_service_running(struct prober *pr, const char *service,
                            bool running, double since);

/*
 * A reload, in two steps. prober_stage() builds the probes of cfg that are
 * new (none runs yet): kept_from[i] is the index among the current probes
 * of one whose definition equals cfg->probes[i], to keep with its state,
 * history and schedule, or CFG_NO_INDEX for a new probe i. NULL with a
 * message in errbuf, and nothing changed.
 */
struct probe **prober_stage(struct prober *pr, const struct cfg_root *cfg,
                            const size_t *kept_from, char *errbuf,
                            size_t errlen) ATTR_WUR;

/*
 * Then either prober_commit(), which cannot fail and notifies nothing: the
 * prober takes cfg's probes (and staged); current probes not kept are
 * stopped and freed. Or prober_unstage(), which frees staged.
 */
void prober_commit(struct prober *pr, const struct cfg_root *cfg,
                   const size_t *kept_from, struct probe **staged);
void prober_unstage(const struct cfg_root *cfg, const size_t *kept_from,
                    struct probe **staged);

/* After a commit: exec probes waiting for a slot take the ones free now
 * (exec_probe_limit may have grown, a removed probe held one). */
void prober_fill_exec_slots(struct prober *pr);

/* Stops everything in flight and frees. prober_free(NULL) is a no-op. */
void prober_free(struct prober *pr);

/*
 * Moves p to kind for good, its run under way starting over there (the
 * native http transport meeting a redirect to https). Called by the
 * running kind as its last act: its data is freed here. 0 (the new kind
 * reports, or the core records why it could not start), or -errno when
 * kind cannot be set up: nothing changed, and the caller reports.
 */
int probe_rekind(struct probe *p, const struct probe_kind *kind) ATTR_WUR;

/* Called by a kind when its run ends; see struct probe_kind. */
void probe_report(struct probe *p, bool ok, const char *fmt, ...)
    ATTR_FMT(3, 4);

/*
 * A push for a ttl probe (from the HTTP API): counts as one result and
 * restarts its ttl. -EINVAL for a probe of another type, -EAGAIN while
 * the probe is not active.
 */
int probe_ttl_push(struct probe *p, bool ok, const char *reason);

/*
 * True while on_failure: restart waits for the service to start: the
 * probe has not passed since the service's start and start_period has not
 * run out. Its failures count all the same; only the restart waits.
 */
bool probe_restart_held(const struct probe *p);

/* True while p is scheduled: its service runs, or it has none. */
bool probe_is_active(const struct probe *p);

const char *probe_state_name(enum probe_state state);
const char *probe_importance_name(enum cfg_importance importance);

#endif
