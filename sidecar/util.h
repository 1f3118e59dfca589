/*
 * Small helpers every module may use: container_of for embedded libev
 * watchers, ARRAY_SIZE, and attributes.
 */
#ifndef SIDECAR_SIDECAR_UTIL_H
#define SIDECAR_SIDECAR_UTIL_H

#include <stddef.h>

#define container_of(ptr, type, member)                                        \
    ((type *)(void *)((char *)(ptr)-offsetof(type, member)))

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#define ATTR_WUR       __attribute__((warn_unused_result))
#define ATTR_FMT(f, a) __attribute__((format(printf, f, a)))

#endif
