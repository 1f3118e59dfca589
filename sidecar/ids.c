#define _DEFAULT_SOURCE /* syscall */
#include "sidecar/ids.h"

#include <ctype.h>
#include <errno.h>
#include <grp.h>
#include <linux/capability.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "proc/spawn.h"

/* A numeric id such as "1000". */
static bool parse_id(const char *s, unsigned long *id)
{
    char *end;
    if (!isdigit((unsigned char)s[0]))
        return false;
    errno = 0;
    *id = strtoul(s, &end, 10);
    return !*end && !errno && *id <= 0xfffffffeUL;
}

/*
 * Whether sidecar may change a child's uid, gid and groups: a child that
 * switches always sets its groups, which a user namespace may deny.
 */
static bool can_switch_ids(void)
{
    struct __user_cap_header_struct hdr = {.version =
                                               _LINUX_CAPABILITY_VERSION_3};
    struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3];
    if (syscall(SYS_capget, &hdr, data) < 0)
        return geteuid() == 0 && spawn_may_set_groups();
    unsigned need = (1u << CAP_SETUID) | (1u << CAP_SETGID);
    return (data[0].effective & need) == need && spawn_may_set_groups();
}

int ids_resolve(const struct cfg_service *c, struct ids *out,
                struct cfg_mark *at, char *errbuf, size_t errlen)
{
    unsigned long id;

    *out = (struct ids){.uid = getuid(), .gid = getgid()};
    if (!c->user.name && !c->group.name)
        return 0;
    out->set = true;
    if (c->user.name) {
        struct passwd *pw = getpwnam(c->user.name);
        if (pw) {
            out->uid = pw->pw_uid;
            out->gid = pw->pw_gid;
            out->user_groups = true;
        } else if (parse_id(c->user.name, &id)) {
            out->uid = (uid_t)id;
            out->gid = (gid_t)id;
        } else {
            *at = c->user.mark;
            snprintf(errbuf, errlen, "service '%s': user '%s' does not exist",
                     c->name, c->user.written);
            return -ENOENT;
        }
    }
    if (c->group.name) {
        struct group *gr = getgrnam(c->group.name);
        if (gr) {
            out->gid = gr->gr_gid;
        } else if (parse_id(c->group.name, &id)) {
            out->gid = (gid_t)id;
        } else {
            *at = c->group.mark;
            snprintf(errbuf, errlen, "service '%s': group '%s' does not exist",
                     c->name, c->group.written);
            return -ENOENT;
        }
        out->user_groups = false; /* an explicit group stands alone */
    }
    /*
     * Never run a service as sidecar's own user in place of the one asked
     * for: without the capabilities to switch, say so now. (With them, a
     * failing setuid in the child is reported and the child exits.)
     */
    bool can_switch = can_switch_ids();
    if (!can_switch && (out->uid != geteuid() || out->gid != getegid())) {
        *at = c->user.name ? c->user.mark : c->group.mark;
        snprintf(errbuf, errlen,
                 "service '%s': cannot run as %s%s%s (uid %lu, gid %lu): "
                 "sidecar runs as uid %lu without CAP_SETUID and "
                 "CAP_SETGID, or in a user namespace that denies "
                 "setgroups; run it as root or remove user/group",
                 c->name, c->user.name ? c->user.written : "",
                 c->user.name && c->group.name ? ":" : "",
                 c->group.name ? c->group.written : "", (unsigned long)out->uid,
                 (unsigned long)out->gid, (unsigned long)geteuid());
        return -EPERM;
    }
    if (!can_switch)
        out->set = false; /* already that user: nothing to switch */
    return 0;
}
