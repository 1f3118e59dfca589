#define _GNU_SOURCE /* struct ucred, SO_PASSCRED, MSG_CMSG_CLOEXEC */
#include "proc/sdnotify.h"

#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "base/log.h"

/*
 * Datagrams read per wakeup: a flood waits for the next loop iteration
 * instead of starving the others (the socket's queue holds the rest, and
 * a sender blocks or gets EAGAIN, never sidecar).
 */
#define SDNOTIFY_BATCH 32
/* Descriptors one datagram may pass before MSG_CTRUNC: all are closed. */
#define SDNOTIFY_FDS_MAX 16

static const char *const drop_names[] = {
    [SDNOTIFY_DROP_MALFORMED] = "malformed",
    [SDNOTIFY_DROP_OVERSIZED] = "oversized",
    [SDNOTIFY_DROP_FOREIGN] = "foreign",
    [SDNOTIFY_DROP_TRUNCATED] = "truncated",
};

const char *sdnotify_drop_name(enum sdnotify_drop why)
{
    return drop_names[why];
}

static bool key_is(const char *line, size_t klen, const char *key)
{
    return strlen(key) == klen && memcmp(line, key, klen) == 0;
}

static bool value_is_1(const char *v, size_t vlen)
{
    return vlen == 1 && v[0] == '1';
}

/* MAINPID's value: a decimal pid > 1 (not init, not a group). */
static int parse_pid(const char *v, size_t vlen, pid_t *out)
{
    long long pid = 0;
    if (vlen == 0 || vlen > 10)
        return -EINVAL;
    for (size_t i = 0; i < vlen; i++) {
        if (v[i] < '0' || v[i] > '9')
            return -EINVAL;
        pid = pid * 10 + (v[i] - '0');
    }
    if (pid <= 1 || pid > INT_MAX)
        return -EINVAL;
    *out = (pid_t)pid;
    return 0;
}

/* Copies a STATUS= value, cut at a UTF-8 character's start if too long. */
static void copy_status(struct sdnotify_msg *m, const char *v, size_t vlen)
{
    if (vlen >= sizeof(m->status)) {
        vlen = sizeof(m->status) - 1;
        while (vlen > 0 && ((unsigned char)v[vlen] & 0xC0) == 0x80)
            vlen--;
    }
    memcpy(m->status, v, vlen);
    m->status[vlen] = '\0';
    m->has_status = true;
}

int sdnotify_parse(const char *buf, size_t len, struct sdnotify_msg *m)
{
    memset(m, 0, sizeof(*m));
    if (memchr(buf, '\0', len))
        return -EINVAL;
    const char *end = buf + len;
    for (const char *line = buf; line < end;) {
        const char *nl = memchr(line, '\n', (size_t)(end - line));
        const char *eol = nl ? nl : end;
        size_t n = (size_t)(eol - line);
        if (n > 0) {
            const char *eq = memchr(line, '=', n);
            if (!eq || eq == line)
                return -EINVAL;
            size_t klen = (size_t)(eq - line);
            const char *v = eq + 1;
            size_t vlen = n - klen - 1;
            if (key_is(line, klen, "READY"))
                m->ready = m->ready || value_is_1(v, vlen);
            else if (key_is(line, klen, "STOPPING"))
                m->stopping = m->stopping || value_is_1(v, vlen);
            else if (key_is(line, klen, "RELOADING"))
                m->reloading = m->reloading || value_is_1(v, vlen);
            else if (key_is(line, klen, "WATCHDOG"))
                m->watchdog = m->watchdog || value_is_1(v, vlen);
            else if (key_is(line, klen, "STATUS"))
                copy_status(m, v, vlen);
            else if (key_is(line, klen, "MAINPID") &&
                     parse_pid(v, vlen, &m->mainpid) < 0)
                return -EINVAL;
        }
        line = eol + 1;
    }
    return 0;
}

/* Closes every descriptor a datagram passed; returns the credentials'. */
static const struct ucred *scan_control(struct sdnotify *n, struct msghdr *mh)
{
    const struct ucred *cred = NULL;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(mh); c; c = CMSG_NXTHDR(mh, c)) {
        if (c->cmsg_level != SOL_SOCKET)
            continue;
        if (c->cmsg_type == SCM_CREDENTIALS &&
            c->cmsg_len == CMSG_LEN(sizeof(struct ucred))) {
            cred = (const struct ucred *)(void *)CMSG_DATA(c);
        } else if (c->cmsg_type == SCM_RIGHTS) {
            size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
            for (size_t i = 0; i < count; i++) {
                int fd;
                memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(fd));
                close(fd);
                n->fds_closed++;
            }
        }
    }
    return cred;
}

static void drop(struct sdnotify *n, enum sdnotify_drop why, pid_t pid)
{
    n->dropped[why]++;
    LOG_DEBUG("notification dropped", LF_STR("socket", n->addr),
              LF_STR("reason", drop_names[why]), LF_INT("pid", pid));
}

/* Reads one datagram: 1 when one was read (used or dropped), else 0. */
static int read_one(struct sdnotify *n)
{
    char buf[SDNOTIFY_DATAGRAM_MAX];
    union {
        struct cmsghdr align;
        char bytes[CMSG_SPACE(sizeof(struct ucred)) +
                   CMSG_SPACE(SDNOTIFY_FDS_MAX * sizeof(int))];
    } control;
    struct iovec iov = {.iov_base = buf, .iov_len = sizeof(buf)};
    struct msghdr mh = {
        .msg_iov = &iov,
        .msg_iovlen = 1,
        .msg_control = control.bytes,
        .msg_controllen = sizeof(control.bytes),
    };
    /* MSG_TRUNC: the datagram's real length, so the cap is exact. */
    ssize_t got =
        recvmsg(n->io_w.fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC | MSG_TRUNC);
    if (got < 0) {
        if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
            LOG_WARN("cannot read the notification socket",
                     LF_STR("socket", n->addr),
                     LF_STR("error", strerror(errno)));
        return 0;
    }
    const struct ucred *cred = scan_control(n, &mh);
    pid_t pid = cred ? cred->pid : 0;
    if ((size_t)got > sizeof(buf) || (mh.msg_flags & MSG_TRUNC)) {
        drop(n, SDNOTIFY_DROP_OVERSIZED, pid);
        return 1;
    }
    if (mh.msg_flags & MSG_CTRUNC) {
        drop(n, SDNOTIFY_DROP_TRUNCATED, pid);
        return 1;
    }
    if (!cred || pid <= 0 || !n->accept(n, pid)) {
        drop(n, SDNOTIFY_DROP_FOREIGN, pid);
        return 1;
    }
    struct sdnotify_msg m;
    if (sdnotify_parse(buf, (size_t)got, &m) < 0) {
        drop(n, SDNOTIFY_DROP_MALFORMED, pid);
        return 1;
    }
    m.sender = pid;
    n->accepted++;
    n->on_msg(n, &m);
    return 1;
}

static void on_readable(EV_P_ ev_io *w, int revents)
{
    (void)loop;
    (void)revents;
    sdnotify_read_pending(container_of(w, struct sdnotify, io_w));
}

void sdnotify_read_pending(struct sdnotify *n)
{
    /* on_msg may close n: look at it again after each datagram. */
    for (int i = 0; i < SDNOTIFY_BATCH && n->io_w.fd >= 0; i++) {
        if (!read_one(n))
            break;
    }
}

void sdnotify_init(struct sdnotify *n, struct ev_loop *loop,
                   sdnotify_accept_fn *accept, sdnotify_msg_fn *on_msg)
{
    memset(n, 0, sizeof(*n));
    n->loop = loop;
    n->accept = accept;
    n->on_msg = on_msg;
    ev_io_init(&n->io_w, on_readable, -1, EV_READ);
}

bool sdnotify_is_open(const struct sdnotify *n)
{
    return n->io_w.fd >= 0;
}

/*
 * An abstract name (Linux): nothing on disk to create, to chown for a
 * service running as another user, or to leave behind when sidecar is
 * SIGKILLed; the kernel picks a free one (autobind). Anyone in the network
 * namespace may send to it, which is why the sender's pid is checked.
 */
int sdnotify_open(struct sdnotify *n)
{
    if (sdnotify_is_open(n))
        return 0;
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return -errno;
    int one = 1;
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    socklen_t salen = sizeof(sa_family_t);
    int rc = 0;
    if (setsockopt(fd, SOL_SOCKET, SO_PASSCRED, &one, sizeof(one)) < 0 ||
        bind(fd, (struct sockaddr *)&sa, salen) < 0) {
        rc = -errno;
        goto out_close_fd;
    }
    salen = sizeof(sa);
    if (getsockname(fd, (struct sockaddr *)&sa, &salen) < 0) {
        rc = -errno;
        goto out_close_fd;
    }
    size_t len = salen - offsetof(struct sockaddr_un, sun_path);
    if (len < 2 || sa.sun_path[0] != '\0' || len > sizeof(n->addr) - 1) {
        rc = -EINVAL;
        goto out_close_fd;
    }
    n->addr[0] = '@';
    memcpy(n->addr + 1, sa.sun_path + 1, len - 1);
    n->addr[len] = '\0';
    ev_io_set(&n->io_w, fd, EV_READ);
    ev_io_start(n->loop, &n->io_w);
    return 0;
out_close_fd:
    close(fd);
    return rc;
}

void sdnotify_close(struct sdnotify *n)
{
    if (!sdnotify_is_open(n))
        return;
    ev_io_stop(n->loop, &n->io_w);
    close(n->io_w.fd);
    ev_io_set(&n->io_w, -1, EV_READ);
    n->addr[0] = '\0';
}

uint64_t sdnotify_dropped(const struct sdnotify *n)
{
    uint64_t sum = 0;
    for (size_t i = 0; i < SDNOTIFY_DROPS; i++)
        sum += n->dropped[i];
    return sum;
}
