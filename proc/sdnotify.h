/*
 * struct sdnotify: one service's notification socket, the systemd
 * protocol (sd_notify(3)): an abstract unix datagram socket, its name in
 * the service's NOTIFY_SOCKET, each datagram newline-separated KEY=VALUE
 * assignments. Only a sender the owner accepts (by its SO_PASSCRED pid)
 * counts; anything else is dropped and counted. Owned by the service;
 * embeds one ev_io.
 */
#ifndef SIDECAR_PROC_SDNOTIFY_H
#define SIDECAR_PROC_SDNOTIFY_H

#include <ev.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "base/util.h"

/* A longer datagram is dropped (systemd's cap too: PIPE_BUF). */
#define SDNOTIFY_DATAGRAM_MAX 4096
/* STATUS= is kept up to this many bytes, cut at a UTF-8 boundary. */
#define SDNOTIFY_STATUS_MAX 256
/* "@" and the kernel's autobind name, 5 hex digits; room to spare. */
#define SDNOTIFY_ADDR_MAX 32

/* Why a datagram was dropped: the index of sdnotify.dropped[]. */
enum sdnotify_drop {
    SDNOTIFY_DROP_MALFORMED, /* a line not KEY=VALUE, a NUL, a bad MAINPID */
    SDNOTIFY_DROP_OVERSIZED, /* longer than SDNOTIFY_DATAGRAM_MAX */
    SDNOTIFY_DROP_FOREIGN,   /* no credentials, or not the service's pid */
    SDNOTIFY_DROP_TRUNCATED, /* its ancillary data did not fit (MSG_CTRUNC) */
};
#define SDNOTIFY_DROPS (SDNOTIFY_DROP_TRUNCATED + 1)

/* What one datagram says; what it does not set is false / 0. */
struct sdnotify_msg {
    bool ready;     /* READY=1 */
    bool stopping;  /* STOPPING=1 */
    bool reloading; /* RELOADING=1 */
    bool watchdog;  /* WATCHDOG=1 */
    pid_t mainpid;  /* MAINPID=N; 0: not said */
    bool has_status;
    char status[SDNOTIFY_STATUS_MAX]; /* STATUS=..., NUL-terminated */
    pid_t sender;                     /* from SCM_CREDENTIALS */
};

struct sdnotify;

/* True when pid may speak for the service (its group, or its MAINPID). */
typedef bool sdnotify_accept_fn(struct sdnotify *n, pid_t pid);
/* One accepted datagram. The callback may sdnotify_close() n. */
typedef void sdnotify_msg_fn(struct sdnotify *n, const struct sdnotify_msg *m);

struct sdnotify {
    /* read-only outside sdnotify.c */
    char addr[SDNOTIFY_ADDR_MAX];     /* NOTIFY_SOCKET's value: "@xxxxx" */
    uint64_t accepted;                /* datagrams acted upon */
    uint64_t dropped[SDNOTIFY_DROPS]; /* by reason */
    uint64_t fds_closed;              /* descriptors sent with SCM_RIGHTS */

    /* private */
    struct ev_loop *loop;
    ev_io io_w; /* fd -1 when closed */
    sdnotify_accept_fn *accept;
    sdnotify_msg_fn *on_msg;
};

/* Closed; the counters at 0. Open it with sdnotify_open(). */
void sdnotify_init(struct sdnotify *n, struct ev_loop *loop,
                   sdnotify_accept_fn *accept, sdnotify_msg_fn *on_msg);

/*
 * Binds a new socket (close-on-exec, non-blocking, SO_PASSCRED) to an
 * abstract name the kernel picks, and watches it. 0, or -errno (nothing
 * opened). Opening an open one is a no-op. The counters are kept.
 */
int sdnotify_open(struct sdnotify *n) ATTR_WUR;

/*
 * Reads what is queued now (a batch at most), as the watcher would: for an
 * owner that must see it before it acts on another event.
 */
void sdnotify_read_pending(struct sdnotify *n);

/* Stops the watcher and closes the socket; a no-op when closed. */
void sdnotify_close(struct sdnotify *n);

bool sdnotify_is_open(const struct sdnotify *n);

/* The sum of dropped[]. */
uint64_t sdnotify_dropped(const struct sdnotify *n);

/* "malformed", "oversized", ...: for the log and /metrics. */
const char *sdnotify_drop_name(enum sdnotify_drop why);

/*
 * Parses one datagram's text (len bytes, not NUL-terminated) into m.
 * Unknown keys and empty lines are ignored. 0, or -EINVAL when the
 * datagram is malformed (m is then undefined). Pure, for tests.
 */
int sdnotify_parse(const char *buf, size_t len,
                   struct sdnotify_msg *m) ATTR_WUR;

#endif
