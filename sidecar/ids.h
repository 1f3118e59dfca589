/*
 * Who a service runs as: its user and group resolved on this machine and
 * whether sidecar may switch to them. One resolution for `run` (svc_new)
 * and `check`, so that both decide alike. Owns nothing; the lookups go
 * through NSS and may be slow: callers run them at set-up, never per tick.
 */
#ifndef SIDECAR_SIDECAR_IDS_H
#define SIDECAR_SIDECAR_IDS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "base/util.h"
#include "conf/model.h"

struct ids {
    bool set; /* switch the child's ids; false: it runs as sidecar does */
    uid_t uid;
    gid_t gid;
    bool user_groups; /* add the user's supplementary groups (no group) */
};

/*
 * Resolves cfg's user and group: a name, else a numeric id ("1000", as
 * Kubernetes' runAsUser gives them). 0 with *out filled; -ENOENT (no such
 * user or group) or -EPERM (not sidecar's own ids, and no CAP_SETUID and
 * CAP_SETGID to switch, or setgroups denied in its user namespace) with a
 * message in errbuf and *at the mark of the value at fault.
 */
int ids_resolve(const struct cfg_service *cfg, struct ids *out,
                struct cfg_mark *at, char *errbuf, size_t errlen) ATTR_WUR;

#endif
