/*
 * Structured logging: sidecar's own events and its children's output lines,
 * one JSON object per line on stdout (or a line of text for a person).
 * The sink is process-wide (the one global besides the libev loop): an
 * output buffer flushed without blocking by an ev_prepare + ev_io pair on
 * fd 1. Children's lines wait (struct log_waiter) while the buffer is over
 * its high-water mark; sidecar's own events are never held back.
 */
#ifndef SIDECAR_BASE_LOG_H
#define SIDECAR_BASE_LOG_H

#include <stdbool.h>
#include <stddef.h>

#include "base/util.h"

struct ev_loop;

enum log_level {
    LOG_LEVEL_DEBUG,
    LOG_LEVEL_INFO,
    LOG_LEVEL_WARN,
    LOG_LEVEL_ERROR
};
enum log_format { LOG_FORMAT_JSON, LOG_FORMAT_TEXT };

enum log_field_type {
    LOG_FIELD_STR,
    LOG_FIELD_INT,
    LOG_FIELD_BOOL,
    LOG_FIELD_LIST, /* i strings at list: a JSON array of strings */
};

/* A typed field of an event; strings are borrowed for the call only. */
struct log_field {
    const char *key;
    enum log_field_type type;
    const char *s;
    long long i;
    const char *const *list;
};

#define LF_STR(k, v)                                                           \
    {                                                                          \
        .key = (k), .type = LOG_FIELD_STR, .s = (v)                            \
    }
#define LF_INT(k, v)                                                           \
    {                                                                          \
        .key = (k), .type = LOG_FIELD_INT, .i = (long long)(v)                 \
    }
#define LF_BOOL(k, v)                                                          \
    {                                                                          \
        .key = (k), .type = LOG_FIELD_BOOL, .i = !!(v)                         \
    }

#define LF_LIST(k, v, n)                                                       \
    {                                                                          \
        .key = (k), .type = LOG_FIELD_LIST, .list = (v), .i = (long long)(n)   \
    }

/*
 * LOG_INFO("service started", LF_STR("service", name), LF_INT("pid", pid));
 * Fields are evaluated only when the level is enabled.
 */
#define LOG_AT(lvl, msg, ...)                                                  \
    do {                                                                       \
        if (log_enabled(lvl))                                                  \
            LOG_FLAGGED(lvl, LOG_F_ALWAYS, msg, __VA_ARGS__);                  \
    } while (0)
/* Whatever log.level says: for the few events an operator must always
 * see, as a config reload. */
#define LOG_ALWAYS(lvl, msg, ...)                                              \
    LOG_FLAGGED(lvl, LOG_F_ALWAYS, msg, __VA_ARGS__)
/*
 * A state change (a service's, a probe's, the aggregate's, a reload): the
 * tap (log_set_tap) receives it whatever log.level says; the log prints
 * it when lvl is enabled. Fields are evaluated only when one of them
 * wants it.
 */
#define LOG_CHANGE(lvl, msg, ...)                                              \
    do {                                                                       \
        if (log_enabled(lvl) || log_tapped())                                  \
            LOG_FLAGGED(lvl, LOG_F_CHANGE, msg, __VA_ARGS__);                  \
    } while (0)
#define LOG_CHANGE_ALWAYS(lvl, msg, ...)                                       \
    LOG_FLAGGED(lvl, LOG_F_CHANGE | LOG_F_ALWAYS, msg, __VA_ARGS__)
#define LOG_FLAGGED(lvl, flags, msg, ...)                                      \
    do {                                                                       \
        const struct log_field lf_[] = {{0}, __VA_ARGS__};                     \
        log_emit((lvl), (flags), (msg), lf_ + 1, ARRAY_SIZE(lf_) - 1);         \
    } while (0)
#define LOG_DEBUG(...) LOG_AT(LOG_LEVEL_DEBUG, __VA_ARGS__)
#define LOG_INFO(...)  LOG_AT(LOG_LEVEL_INFO, __VA_ARGS__)
#define LOG_WARN(...)  LOG_AT(LOG_LEVEL_WARN, __VA_ARGS__)
#define LOG_ERROR(...) LOG_AT(LOG_LEVEL_ERROR, __VA_ARGS__)

/* Called when the sink has room again; see log_wait_for_room(). */
struct log_waiter {
    struct log_waiter *prev;
    struct log_waiter *next;
    void (*on_room)(struct log_waiter *w);
};

/*
 * Points the sink at fd (normally 1) and makes it non-blocking; until this
 * is called events go to stderr synchronously. 0 or -errno.
 */
int log_open(struct ev_loop *loop, int fd) ATTR_WUR;

/* Writes out what is buffered, waiting at most timeout_s; restores fd. */
void log_close(double timeout_s);

void log_set_format(enum log_format format);
void log_set_level(enum log_level level);
bool log_enabled(enum log_level level);

/* log_emit's flags: print whatever the level; a state change (tapped). */
#define LOG_F_ALWAYS 1u
#define LOG_F_CHANGE 2u

/* Emits one event as flags say. Use the LOG_* macros. */
void log_emit(enum log_level level, unsigned flags, const char *msg,
              const struct log_field *fields, size_t n);

/*
 * Called with each state change (LOG_CHANGE) as one JSON object, exactly
 * the JSON log line without its newline (ts, level, msg, the fields),
 * whatever log.format and log.level say; json is good for the call only.
 * The tap must not log state changes itself (those would not reach it).
 */
typedef void log_tap_fn(void *ctx, const char *json, size_t len);

/* One tap at most; log_set_tap(NULL, NULL) removes it. */
void log_set_tap(log_tap_fn *fn, void *ctx);

/* True while a tap is set. */
bool log_tapped(void);

/*
 * Relays one line of a child's output (without its newline). partial marks
 * a piece of a line longer than the cap. Always accepted; callers pace
 * themselves with log_has_room().
 */
void log_child_line(const char *service, const char *stream, const char *line,
                    size_t len, bool partial);

/* False while the output buffer is over its high-water mark. */
bool log_has_room(void);

/* Calls w->on_room once the buffer drains below its low-water mark. */
void log_wait_for_room(struct log_waiter *w);

/* Withdraws a waiter (no-op if it is not waiting). */
void log_cancel_wait(struct log_waiter *w);

/* Log level / format names as written in config and on the command line. */
int log_level_parse(const char *s, enum log_level *out) ATTR_WUR;
int log_format_parse(const char *s, enum log_format *out) ATTR_WUR;

#endif
