#include "base/ratelimit.h"

void ratelimit_init(struct ratelimit *rl, double per_s, double burst)
{
    *rl = (struct ratelimit){.per_s = per_s, .burst = burst, .tokens = burst};
}

bool ratelimit_allow(struct ratelimit *rl, double now)
{
    /* A clock that went back (a caller mixing clocks) refills nothing. */
    if (rl->started && now > rl->filled_at) {
        rl->tokens += (now - rl->filled_at) * rl->per_s;
        if (rl->tokens > rl->burst)
            rl->tokens = rl->burst;
    }
    if (!rl->started || now > rl->filled_at)
        rl->filled_at = now;
    rl->started = true;
    if (rl->tokens < 1.0) {
        rl->refused++;
        rl->refused_unreported++;
        return false;
    }
    rl->tokens -= 1.0;
    return true;
}

unsigned long long ratelimit_take_refused(struct ratelimit *rl)
{
    unsigned long long n = rl->refused_unreported;
    rl->refused_unreported = 0;
    return n;
}
