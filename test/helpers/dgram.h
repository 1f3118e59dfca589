/*
 * One datagram to a unix socket named as $NOTIFY_SOCKET names it ("@name"
 * abstract, else a path), passing a descriptor with SCM_RIGHTS: what a
 * service sends sidecar's notification socket. For fakesvc and the
 * sdnotify unit tests.
 */
#ifndef SIDECAR_TEST_HELPERS_DGRAM_H
#define SIDECAR_TEST_HELPERS_DGRAM_H

#include <errno.h>
#include <stddef.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/un.h>
#include <unistd.h>

/*
 * Sends len bytes of buf to addr, passing fd unless it is -1, with flags
 * for sendmsg. Returns sendmsg's result; -1 with errno set on failure
 * (EINVAL: no address, or one too long).
 */
static inline ssize_t dgram_send(const char *addr, const void *buf, size_t len,
                                 int fd, int flags)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    size_t alen = addr ? strlen(addr) : 0;
    if (!alen || alen >= sizeof(sa.sun_path)) {
        errno = EINVAL;
        return -1;
    }
    memcpy(sa.sun_path, addr, alen);
    if (sa.sun_path[0] == '@')
        sa.sun_path[0] = '\0';
    int s = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (s < 0)
        return -1;
    struct iovec iov = {.iov_base = (void *)buf, .iov_len = len};
    union {
        struct cmsghdr align;
        char bytes[CMSG_SPACE(sizeof(int))];
    } control;
    struct msghdr mh = {
        .msg_name = &sa,
        .msg_namelen =
            (socklen_t)(offsetof(struct sockaddr_un, sun_path) + alen),
        .msg_iov = &iov,
        .msg_iovlen = 1,
    };
    if (fd >= 0) {
        mh.msg_control = control.bytes;
        mh.msg_controllen = sizeof(control.bytes);
        struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int));
        memcpy(CMSG_DATA(c), &fd, sizeof(int));
    }
    ssize_t n = sendmsg(s, &mh, flags);
    int err = errno;
    close(s);
    errno = err;
    return n;
}

#endif
