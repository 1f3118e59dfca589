/*
 * A token bucket: at most burst events at once, then per_s a second, for
 * what outsiders can make sidecar do as often as they like (log a line,
 * say). Counts what it refused, in all and since the caller last asked.
 * Owned by whoever embeds it; holds no resources. Times are seconds on a
 * monotonic clock, given by the caller.
 */
#ifndef SIDECAR_BASE_RATELIMIT_H
#define SIDECAR_BASE_RATELIMIT_H

#include <stdbool.h>

struct ratelimit {
    double per_s;
    double burst;
    double tokens;
    double filled_at;                      /* when tokens was last topped up */
    bool started;                          /* filled_at is set */
    unsigned long long refused;            /* since ratelimit_init */
    unsigned long long refused_unreported; /* see ratelimit_take_refused */
};

/* A full bucket of burst tokens, refilled at per_s a second. */
void ratelimit_init(struct ratelimit *rl, double per_s, double burst);

/* True when an event at now may go ahead (and takes its token); false
 * counts it as refused. */
bool ratelimit_allow(struct ratelimit *rl, double now);

/* Events refused since the last call (0 if none), to report once. */
unsigned long long ratelimit_take_refused(struct ratelimit *rl);

#endif
