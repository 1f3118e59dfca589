/*
 * Small helpers every module may use: container_of for embedded libev
 * watchers, ARRAY_SIZE, attributes, and the clock durations are measured
 * on.
 */
#ifndef SIDECAR_BASE_UTIL_H
#define SIDECAR_BASE_UTIL_H

#include <stddef.h>

#define container_of(ptr, type, member)                                        \
    ((type *)(void *)((char *)(ptr)-offsetof(type, member)))

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#define ATTR_WUR       __attribute__((warn_unused_result))
#define ATTR_FMT(f, a) __attribute__((format(printf, f, a)))

/*
 * Seconds on the monotonic clock, for every interval: uptimes, windows,
 * run durations. ev_now() and ev_time() follow the wall clock, which
 * steps; they are for timestamps shown to people.
 */
double util_mono_now(void);

/* The value of a hexadecimal digit (either case), or -1. */
int util_hex_digit(char c);

#endif
