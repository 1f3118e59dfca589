/*
 * Who a child runs as: a service, or an exec probe (its service's user,
 * group, env and cwd with its own keys over them). Its user and group
 * resolved on this machine, whether sidecar may switch to them, its
 * supplementary groups and its environment. One resolution for `run`
 * (svc_new, the probes) and `check`, so that both decide alike. The
 * lookups go through NSS and may be slow: callers run them at set-up,
 * never per tick. struct runas owns its groups and the strings it made.
 */
#ifndef SIDECAR_CONF_RUNAS_H
#define SIDECAR_CONF_RUNAS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "base/util.h"
#include "conf/model.h"

struct spawn_opts;

/* What the config asks for; every pointer borrowed from the model. */
struct runas_cfg {
    const char *kind; /* "service" or "probe", for messages */
    const char *name;
    const struct cfg_account *user;  /* name NULL: sidecar's */
    const struct cfg_account *group; /* name NULL: the user's, or sidecar's */
    const char *cwd;                 /* NULL: sidecar's */
    struct cfg_mark cwd_mark;
    char *const *env[2]; /* "NAME=value"; env[1]'s entries over env[0]'s */
    size_t env_count[2];
};

/* A service's. */
void runas_of_service(const struct cfg_service *s, struct runas_cfg *out);

/*
 * An exec probe's: its service's (in root, the probe's config), with the
 * probe's own user (and its group, else that user's, as for a service),
 * group or cwd in place of the service's when it has one, and the
 * probe's env over the service's; a probe of no service has its own keys
 * only.
 */
void runas_of_probe(const struct cfg_root *root, const struct cfg_probe *p,
                    struct runas_cfg *out);

struct runas_ids {
    bool set; /* switch the child's ids; false: it runs as sidecar does */
    uid_t uid;
    gid_t gid;
    bool user_groups; /* add the user's supplementary groups (no group) */
};

/*
 * Resolves c's user and group: a name, else a numeric id ("1000", as
 * Kubernetes' runAsUser gives them). 0 with *out filled; -ENOENT (no such
 * user or group) or -EPERM (not sidecar's own ids, and no CAP_SETUID and
 * CAP_SETGID to switch, or setgroups denied in its user namespace) with a
 * message in errbuf and *at the mark of the value at fault.
 */
int runas_ids(const struct runas_cfg *c, struct runas_ids *out,
              struct cfg_mark *at, char *errbuf, size_t errlen) ATTR_WUR;

/* A child's identity and environment, resolved. */
struct runas {
    bool set_ids; /* else: sidecar's ids, no supplementary groups */
    uid_t uid;
    gid_t gid;
    gid_t *groups;
    size_t groups_count;
    char *cwd;  /* a copy (a kept entry outlives its model); NULL:
                   sidecar's */
    char **own; /* made here: env, PWD, HOME, USER, LOGNAME */
    size_t own_count;
    char *const *inherit; /* borrowed: what else the child gets, less what
                             own sets (and PWD with a cwd), put together
                             at each spawn rather than held by each child */
    bool new_pwd;
};

/*
 * Resolves c (runas_ids(), then the user's groups) and the environment:
 * inherit (NULL-terminated; it must outlive out) less what c's env sets,
 * with c's env; with a cwd, PWD is that unless
 * env sets it (none if it has "." or ".."); with a user, HOME, USER and
 * LOGNAME are that user's unless env sets them. 0, or -errno with a
 * message in errbuf and nothing to free.
 */
int runas_resolve(const struct runas_cfg *c, char *const *inherit,
                  struct runas *out, char *errbuf, size_t errlen) ATTR_WUR;

/* Frees what runas_resolve() made; r is zeroed. NULL: a no-op. */
void runas_free(struct runas *r);

/*
 * The environment to spawn with: r's own entries, then inherit's less
 * those and less every variable named in hidden (NULL-terminated, or
 * NULL). A new array of borrowed strings, to free() alone; NULL on ENOMEM.
 */
char **runas_env(const struct runas *r, char *const *hidden) ATTR_WUR;

/* Sets o's ids, groups and cwd to r's (r must outlive o's use). */
void runas_apply(const struct runas *r, struct spawn_opts *o);

#endif
