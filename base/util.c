#include "base/util.h"

#include <time.h>

double util_mono_now(void)
{
    struct timespec ts;
    /* Cannot fail for CLOCK_MONOTONIC on any kernel sidecar runs on. */
    (void)clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int util_hex_digit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = (char)(c | 0x20);
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}
