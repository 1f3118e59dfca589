#include "base/log.h"

#include <errno.h>
#include <ev.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/json.h"
#include "base/util.h"

/*
 * Children's lines stop being read above HIGH_WATER and resume below
 * LOW_WATER; relays check after every line, so the buffer overshoots by
 * one line at most (a max_line piece, escaped: 6 MiB in the worst case).
 * Anything past OUT_MAX is counted as dropped and reported once there is
 * room again, which only a sink that stopped draining can bring about.
 */
#define LOG_HIGH_WATER (256u * 1024)
#define LOG_LOW_WATER  (64u * 1024)
#define LOG_OUT_MAX    (16u * 1024 * 1024)
#define LOG_CHANGE_MAX (64u * 1024) /* a state change's JSON object */

static struct {
    struct ev_loop *loop;
    int fd;
    bool own_fd;   /* fd is our own reopened description, close it */
    int old_flags; /* to restore on fd when !own_fd; -1: untouched */
    bool broken;   /* the reader went away: discard from now on */
    enum log_format format;
    enum log_level level;
    struct buf out;
    ev_prepare flush_w;
    ev_io write_w;
    struct log_waiter waiters; /* list head */
    unsigned long long dropped;
    time_t ts_sec; /* ts_prefix caches "YYYY-MM-DDTHH:MM:SS" of ts_sec */
    char ts_prefix[24];
    log_tap_fn *tap;
    void *tap_ctx;
    bool in_tap;
    struct buf change; /* a state change's JSON object, for the tap */
} sink = {
    .fd = -1,
    .old_flags = -1,
    .level = LOG_LEVEL_INFO,
    .out = {.max = LOG_OUT_MAX},
    .change = {.max = LOG_CHANGE_MAX},
    .waiters = {.prev = &sink.waiters, .next = &sink.waiters},
};

static const char *const level_names[] = {"debug", "info", "warn", "error"};
static const char *const level_labels[] = {"DEBUG", "INFO ", "WARN ", "ERROR"};

static void flush(void);

void log_set_format(enum log_format format)
{
    sink.format = format;
}

void log_set_level(enum log_level level)
{
    sink.level = level;
}

bool log_enabled(enum log_level level)
{
    return level >= sink.level;
}

int log_level_parse(const char *s, enum log_level *out)
{
    for (size_t i = 0; i < ARRAY_SIZE(level_names); i++) {
        if (strcmp(s, level_names[i]) == 0) {
            *out = (enum log_level)i;
            return 0;
        }
    }
    return -EINVAL;
}

int log_format_parse(const char *s, enum log_format *out)
{
    if (strcmp(s, "json") == 0)
        *out = LOG_FORMAT_JSON;
    else if (strcmp(s, "text") == 0)
        *out = LOG_FORMAT_TEXT;
    else
        return -EINVAL;
    return 0;
}

/* Appends "2026-11-23T12:51:55.123Z". */
static int put_timestamp(struct buf *b)
{
    struct timespec now;
    if (clock_gettime(CLOCK_REALTIME, &now) < 0)
        return -errno;
    if (now.tv_sec != sink.ts_sec || !sink.ts_prefix[0]) {
        struct tm tm;
        if (!gmtime_r(&now.tv_sec, &tm))
            return -EOVERFLOW;
        strftime(sink.ts_prefix, sizeof(sink.ts_prefix), "%Y-%m-%dT%H:%M:%S",
                 &tm);
        sink.ts_sec = now.tv_sec;
    }
    return buf_printf(b, "%s.%03ldZ", sink.ts_prefix, now.tv_nsec / 1000000);
}

static int put_key(struct buf *b, const char *key)
{
    int rc = buf_puts(b, ",\"");
    if (rc == 0)
        rc = buf_puts(b, key);
    if (rc == 0)
        rc = buf_puts(b, "\":");
    return rc;
}

static int put_json_field(struct buf *b, const struct log_field *f)
{
    int rc = put_key(b, f->key);
    if (rc < 0)
        return rc;
    switch (f->type) {
    case LOG_FIELD_STR:
        if (!f->s)
            return buf_puts(b, "null");
        return json_put_string(b, f->s, strlen(f->s));
    case LOG_FIELD_INT:
        return buf_printf(b, "%lld", f->i);
    case LOG_FIELD_BOOL:
        return buf_puts(b, f->i ? "true" : "false");
    case LOG_FIELD_LIST:
        rc = buf_puts(b, "[");
        for (long long k = 0; k < f->i && rc == 0; k++) {
            if (k)
                rc = buf_puts(b, ",");
            if (rc == 0)
                rc = json_put_string(b, f->list[k], strlen(f->list[k]));
        }
        return rc ? rc : buf_puts(b, "]");
    }
    return -EINVAL;
}

/* A text value goes bare when it is one plain word, else JSON-quoted. */
static int put_text_value(struct buf *b, const char *s)
{
    size_t n = strlen(s);
    bool bare = n > 0;
    for (size_t i = 0; i < n && bare; i++) {
        unsigned char c = (unsigned char)s[i];
        bare = c > 0x20 && c < 0x7f && c != '"' && c != '=';
    }
    return bare ? buf_append(b, s, n) : json_put_string(b, s, n);
}

static int put_text_field(struct buf *b, const struct log_field *f)
{
    int rc = buf_printf(b, " %s=", f->key);
    if (rc < 0)
        return rc;
    switch (f->type) {
    case LOG_FIELD_STR:
        return put_text_value(b, f->s ? f->s : "null");
    case LOG_FIELD_INT:
        return buf_printf(b, "%lld", f->i);
    case LOG_FIELD_BOOL:
        return buf_puts(b, f->i ? "true" : "false");
    case LOG_FIELD_LIST:
        /* a,b,c (config names have no commas); "-" when empty */
        for (long long k = 0; k < f->i && rc == 0; k++) {
            if (k)
                rc = buf_puts(b, ",");
            if (rc == 0)
                rc = put_text_value(b, f->list[k]);
        }
        return rc ? rc : (f->i ? 0 : buf_puts(b, "-"));
    }
    return -EINVAL;
}

/* The event as a line without its newline: a JSON object, or text. */
static int format_event(struct buf *b, bool json, enum log_level level,
                        const char *msg, const struct log_field *fields,
                        size_t n)
{
    int rc = buf_puts(b, json ? "{\"ts\":\"" : "");
    if (rc == 0)
        rc = put_timestamp(b);
    if (json) {
        if (rc == 0)
            rc = buf_printf(b,
                            "\",\"level\":\"%s\",\"msg\":", level_names[level]);
        if (rc == 0)
            rc = json_put_string(b, msg, strlen(msg));
    } else if (rc == 0) {
        rc = buf_printf(b, " %s %s", level_labels[level], msg);
    }
    for (size_t i = 0; i < n && rc == 0; i++)
        rc = json ? put_json_field(b, &fields[i])
                  : put_text_field(b, &fields[i]);
    if (rc == 0 && json)
        rc = buf_puts(b, "}");
    return rc;
}

/* Before log_open() (and after log_close()) events go straight to stderr. */
static void write_unopened(const struct buf *b)
{
    size_t off = 0;
    while (off < b->len) {
        ssize_t w = write(STDERR_FILENO, b->data + off, b->len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return;
        off += (size_t)w;
    }
}

static void report_dropped(void)
{
    if (!sink.dropped || sink.out.len > LOG_LOW_WATER)
        return;
    unsigned long long n = sink.dropped;
    sink.dropped = 0;
    LOG_WARN("log output could not keep up; events were dropped",
             LF_INT("dropped", n));
}

/* Appends one event's line to the output (or stderr before log_open). */
static void emit_line(bool json, enum log_level level, const char *msg,
                      const struct log_field *fields, size_t n,
                      const struct buf *rendered)
{
    struct buf tmp;
    struct buf *b = &sink.out;
    if (!sink.loop) {
        buf_init(&tmp, 64 * 1024);
        b = &tmp;
    }
    size_t start = b->len;
    int rc = rendered ? buf_append(b, rendered->data, rendered->len)
                      : format_event(b, json, level, msg, fields, n);
    if (rc == 0)
        rc = buf_puts(b, "\n");
    if (!sink.loop) {
        if (rc == 0)
            write_unopened(&tmp);
        buf_free(&tmp);
    } else if (rc < 0) {
        buf_truncate(&sink.out, start);
        sink.dropped++;
    }
}

void log_emit(enum log_level level, unsigned flags, const char *msg,
              const struct log_field *fields, size_t n)
{
    bool print = (flags & LOG_F_ALWAYS) || log_enabled(level);
    bool json = sink.format == LOG_FORMAT_JSON;
    const struct buf *rendered = NULL;
    if ((flags & LOG_F_CHANGE) && sink.tap && !sink.in_tap) {
        /* Rendered once: the tap's object is the JSON line's too. */
        buf_truncate(&sink.change, 0);
        if (format_event(&sink.change, true, level, msg, fields, n) == 0) {
            sink.in_tap = true;
            sink.tap(sink.tap_ctx, sink.change.data, sink.change.len);
            sink.in_tap = false;
            rendered = json ? &sink.change : NULL;
        }
    }
    if (print)
        emit_line(json, level, msg, fields, n, rendered);
}

void log_set_tap(log_tap_fn *fn, void *ctx)
{
    sink.tap = fn;
    sink.tap_ctx = fn ? ctx : NULL;
    if (!fn)
        buf_free(&sink.change);
}

bool log_tapped(void)
{
    return sink.tap != NULL;
}

/*
 * A child's bytes as a terminal may show them: control characters (which
 * could move the cursor or recolour the screen) become \xNN.
 */
static int put_text_bytes(struct buf *b, const char *p, size_t n)
{
    int rc = 0;
    size_t start = 0;
    for (size_t i = 0; i <= n && rc == 0; i++) {
        unsigned char c = i < n ? (unsigned char)p[i] : 0;
        if (i < n && (c >= 0x20 || c == '\t') && c != 0x7f)
            continue;
        rc = buf_append(b, p + start, i - start);
        if (rc == 0 && i < n)
            rc = buf_printf(b, "\\x%02x", c);
        start = i + 1;
    }
    return rc;
}

static int format_child_line(struct buf *b, const char *service,
                             const char *stream, const char *line, size_t len,
                             bool partial)
{
    int rc;
    if (sink.format == LOG_FORMAT_TEXT) {
        rc = put_timestamp(b);
        if (rc == 0)
            rc = buf_printf(b, " %s[%s]%s ", service, stream,
                            partial ? "+" : "");
        if (rc == 0)
            rc = put_text_bytes(b, line, len);
        return rc ? rc : buf_puts(b, "\n");
    }
    rc = buf_puts(b, "{\"ts\":\"");
    if (rc == 0)
        rc = put_timestamp(b);
    if (rc == 0)
        rc = buf_puts(b, "\",\"level\":\"info\",\"service\":");
    if (rc == 0)
        rc = json_put_string(b, service, strlen(service));
    if (rc == 0)
        rc = buf_printf(b, ",\"stream\":\"%s\",\"msg\":", stream);
    if (rc == 0)
        rc = json_put_string(b, line, len);
    if (rc == 0 && partial)
        rc = buf_puts(b, ",\"partial\":true");
    return rc ? rc : buf_puts(b, "}\n");
}

void log_child_line(const char *service, const char *stream, const char *line,
                    size_t len, bool partial)
{
    if (!sink.loop) {
        struct buf tmp;
        buf_init(&tmp, LOG_OUT_MAX);
        if (format_child_line(&tmp, service, stream, line, len, partial) == 0)
            write_unopened(&tmp);
        buf_free(&tmp);
        return;
    }
    size_t start = sink.out.len;
    if (format_child_line(&sink.out, service, stream, line, len, partial) < 0) {
        buf_truncate(&sink.out, start);
        sink.dropped++;
    }
}

bool log_has_room(void)
{
    return sink.out.len < LOG_HIGH_WATER;
}

static void waiter_unlink(struct log_waiter *w)
{
    w->prev->next = w->next;
    w->next->prev = w->prev;
    w->prev = w->next = w;
}

void log_wait_for_room(struct log_waiter *w)
{
    if (w->next && w->next != w)
        return; /* already waiting */
    w->prev = sink.waiters.prev;
    w->next = &sink.waiters;
    sink.waiters.prev->next = w;
    sink.waiters.prev = w;
}

void log_cancel_wait(struct log_waiter *w)
{
    if (w->next && w->next != w)
        waiter_unlink(w);
}

/*
 * Wakes every waiter. The list is moved aside first, so a waiter that
 * waits again (or cancels another) while being called cannot loop us.
 */
static void wake_waiters(void)
{
    struct log_waiter woken = {.prev = &woken, .next = &woken};
    if (sink.waiters.next == &sink.waiters)
        return;
    woken.next = sink.waiters.next;
    woken.prev = sink.waiters.prev;
    woken.next->prev = &woken;
    woken.prev->next = &woken;
    sink.waiters.next = sink.waiters.prev = &sink.waiters;
    while (woken.next != &woken) {
        struct log_waiter *w = woken.next;
        waiter_unlink(w);
        w->on_room(w);
    }
}

/* Writes what it can without blocking; arms write_w for the rest. */
static void flush(void)
{
    size_t off = 0;
    while (off < sink.out.len && !sink.broken) {
        ssize_t w = write(sink.fd, sink.out.data + off, sink.out.len - off);
        if (w > 0) {
            off += (size_t)w;
        } else if (w < 0 && errno == EINTR) {
            continue;
        } else if (w < 0 && errno == EAGAIN) {
            break;
        } else {
            sink.broken = true; /* EPIPE and friends: nobody reads us */
        }
    }
    if (sink.broken)
        off = sink.out.len;
    buf_consume(&sink.out, off);
    if (sink.out.len < LOG_LOW_WATER) {
        report_dropped();
        wake_waiters();
    }
    /* After waking: the waiters may have refilled the buffer. */
    if (sink.out.len && !ev_is_active(&sink.write_w))
        ev_io_start(sink.loop, &sink.write_w);
    else if (!sink.out.len && ev_is_active(&sink.write_w))
        ev_io_stop(sink.loop, &sink.write_w);
}

static void on_prepare(EV_P_ ev_prepare *w, int revents)
{
    (void)loop;
    (void)w;
    (void)revents;
    if (sink.out.len && !ev_is_active(&sink.write_w))
        flush();
}

static void on_writable(EV_P_ ev_io *w, int revents)
{
    (void)loop;
    (void)w;
    (void)revents;
    flush();
}

/*
 * A pipe or terminal on fd is reopened through /proc so that O_NONBLOCK
 * lands on a description of our own, not on the one our parent shares.
 * Regular files never block and are written as they are.
 */
static int open_output(int fd)
{
    struct stat st;
    if (fstat(fd, &st) < 0)
        return -errno;
    sink.fd = fd;
    sink.own_fd = false;
    sink.old_flags = -1;
    if (S_ISREG(st.st_mode))
        return 0;
    if (S_ISFIFO(st.st_mode) || S_ISCHR(st.st_mode)) {
        char path[32];
        snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
        int nfd = open(path, O_WRONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
        if (nfd >= 0) {
            sink.fd = nfd;
            sink.own_fd = true;
            return 0;
        }
    }
    int flags = fcntl(fd, F_GETFL);
    if (flags < 0)
        return -errno;
    if (fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0)
        return -errno;
    sink.old_flags = flags;
    return 0;
}

int log_open(struct ev_loop *loop, int fd)
{
    int rc = open_output(fd);
    if (rc < 0)
        return rc;
    sink.loop = loop;
    sink.broken = false;
    ev_prepare_init(&sink.flush_w, on_prepare);
    ev_prepare_start(loop, &sink.flush_w);
    ev_io_init(&sink.write_w, on_writable, sink.fd, EV_WRITE);
    /* The flush watchers must not keep ev_run() alive on their own. */
    ev_unref(loop);
    return 0;
}

void log_close(double timeout_s)
{
    if (!sink.loop)
        return;
    double deadline = util_mono_now() + timeout_s;
    /*
     * Relays of exited children may still wait for room: flushing wakes
     * them as before, so they finish, paced, within the deadline.
     */
    flush();
    while ((sink.out.len || sink.waiters.next != &sink.waiters) &&
           !sink.broken) {
        double left = deadline - util_mono_now();
        if (left <= 0)
            break;
        struct pollfd p = {.fd = sink.fd, .events = POLLOUT};
        if (poll(&p, 1, (int)(left * 1000) + 1) < 0 && errno != EINTR)
            break;
        flush();
    }
    ev_ref(sink.loop);
    ev_prepare_stop(sink.loop, &sink.flush_w);
    ev_io_stop(sink.loop, &sink.write_w);
    if (sink.own_fd)
        close(sink.fd);
    else if (sink.old_flags >= 0)
        fcntl(sink.fd, F_SETFL, sink.old_flags);
    buf_free(&sink.out);
    sink.loop = NULL;
    sink.fd = -1;
}
