#include "base/util.h"

#include <time.h>

double util_mono_now(void)
{
    struct timespec ts;
    /* Cannot fail for CLOCK_MONOTONIC on any kernel sidecar runs on. */
    (void)clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}
