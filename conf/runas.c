#define _DEFAULT_SOURCE /* syscall, getgrouplist */
#include "conf/runas.h"

#include <ctype.h>
#include <errno.h>
#include <grp.h>
#include <linux/capability.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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
 * Whether sidecar may change a child's uid, gid and groups (a child that
 * switches always sets its groups, which a user namespace may deny), and,
 * for another uid (other_uid), then signal it: such a child takes signals
 * only from CAP_KILL, and a probe or service sidecar cannot kill at its
 * timeout would be left running.
 */
static bool can_switch_ids(bool other_uid)
{
    struct __user_cap_header_struct hdr = {.version =
                                               _LINUX_CAPABILITY_VERSION_3};
    struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3];
    if (syscall(SYS_capget, &hdr, data) < 0)
        return geteuid() == 0 && spawn_may_set_groups();
    unsigned need = (1u << CAP_SETUID) | (1u << CAP_SETGID) |
                    (other_uid ? 1u << CAP_KILL : 0);
    return (data[0].effective & need) == need && spawn_may_set_groups();
}

void runas_of_service(const struct cfg_service *s, struct runas_cfg *out)
{
    *out = (struct runas_cfg){
        .kind = "service",
        .name = s->name,
        .user = &s->user,
        .group = &s->group,
        .cwd = s->cwd,
        .cwd_mark = s->cwd_mark,
        .env = {s->env, NULL},
        .env_count = {s->env_count, 0},
    };
}

void runas_of_probe(const struct cfg_root *root, const struct cfg_probe *p,
                    struct runas_cfg *out)
{
    const struct cfg_service *s = p->service_index != CFG_NO_INDEX
                                      ? &root->services[p->service_index]
                                      : NULL;
    *out = (struct runas_cfg){
        .kind = "probe",
        .name = p->name,
        .user = s && !p->user.name ? &s->user : &p->user,
        /* A user of its own brings its own group, as a service's. */
        .group = s && !p->user.name && !p->group.name ? &s->group : &p->group,
        .cwd = s && !p->cwd ? s->cwd : p->cwd,
        .cwd_mark = s && !p->cwd ? s->cwd_mark : p->cwd_mark,
        .env = {s ? s->env : NULL, p->env},
        .env_count = {s ? s->env_count : 0, p->env_count},
    };
}

int runas_ids(const struct runas_cfg *c, struct runas_ids *out,
              struct cfg_mark *at, char *errbuf, size_t errlen)
{
    unsigned long id;

    *out = (struct runas_ids){.uid = getuid(), .gid = getgid()};
    if (!c->user->name && !c->group->name)
        return 0;
    out->set = true;
    if (c->user->name) {
        struct passwd *pw = getpwnam(c->user->name);
        if (pw) {
            out->uid = pw->pw_uid;
            out->gid = pw->pw_gid;
            out->user_groups = true;
        } else if (parse_id(c->user->name, &id)) {
            out->uid = (uid_t)id;
            out->gid = (gid_t)id;
        } else {
            *at = c->user->mark;
            snprintf(errbuf, errlen, "%s '%s': user '%s' does not exist",
                     c->kind, c->name, c->user->written);
            return -ENOENT;
        }
    }
    if (c->group->name) {
        struct group *gr = getgrnam(c->group->name);
        if (gr) {
            out->gid = gr->gr_gid;
        } else if (parse_id(c->group->name, &id)) {
            out->gid = (gid_t)id;
        } else {
            *at = c->group->mark;
            snprintf(errbuf, errlen, "%s '%s': group '%s' does not exist",
                     c->kind, c->name, c->group->written);
            return -ENOENT;
        }
        out->user_groups = false; /* an explicit group stands alone */
    }
    /*
     * Never run a child as sidecar's own user in place of the one asked
     * for: without the capabilities to switch, say so now. (With them, a
     * failing setuid in the child is reported and the child exits.)
     */
    bool can_switch = can_switch_ids(out->uid != geteuid());
    if (!can_switch && (out->uid != geteuid() || out->gid != getegid())) {
        *at = c->user->name ? c->user->mark : c->group->mark;
        snprintf(errbuf, errlen,
                 "%s '%s': cannot run as %s%s%s (uid %lu, gid %lu): "
                 "sidecar runs as uid %lu without CAP_SETUID, "
                 "CAP_SETGID and CAP_KILL, or in a user namespace that "
                 "denies setgroups; run it as root or remove user/group",
                 c->kind, c->name, c->user->name ? c->user->written : "",
                 c->user->name && c->group->name ? ":" : "",
                 c->group->name ? c->group->written : "",
                 (unsigned long)out->uid, (unsigned long)out->gid,
                 (unsigned long)geteuid());
        return -EPERM;
    }
    if (!can_switch)
        out->set = false; /* already that user: nothing to switch */
    return 0;
}

/* The groups of a child that switches: its gid, and with user_groups
 * the user's supplementary groups. */
static int resolve_groups(const struct runas_cfg *c,
                          const struct runas_ids *ids, struct runas *out)
{
    /* A first call with no room asks how many groups there are. */
    int n = 0;
    if (!ids->user_groups ||
        getgrouplist(c->user->name, ids->gid, NULL, &n) >= 0 || n < 1)
        n = 1;
    out->groups = calloc((size_t)n, sizeof(gid_t));
    if (!out->groups)
        return -ENOMEM;
    out->groups[0] = ids->gid;
    out->groups_count = 1;
    if (ids->user_groups &&
        getgrouplist(c->user->name, ids->gid, out->groups, &n) >= 0)
        out->groups_count = (size_t)n;
    return 0;
}

/* True when one of env[0..n) sets the variable name[0..len). */
static bool env_has(char *const *env, size_t n, const char *name, size_t len)
{
    for (size_t i = 0; i < n; i++) {
        if (strncmp(env[i], name, len) == 0 && env[i][len] == '=')
            return true;
    }
    return false;
}

/* Appends "NAME=val" where var is "NAME=" and len its name's length. */
static int env_add(char **envp, size_t *n, const char *var, size_t len,
                   const char *val)
{
    size_t size = len + strlen(val) + 2;
    char *kv = malloc(size);
    if (!kv)
        return -ENOMEM;
    snprintf(kv, size, "%.*s=%s", (int)len, var, val);
    envp[(*n)++] = kv;
    return 0;
}

/* Set for a child with a user, unless its env sets them. */
static char *const user_vars[] = {"HOME=", "USER=", "LOGNAME="};

/* Never inherited by a child with a cwd: it names another directory. */
static char *const pwd_var[] = {"PWD="};

/*
 * True when path has a "." or ".." component. PWD may have none (POSIX):
 * a shell folds "link/.." by hand, into a directory the kernel's ".."
 * (the link target's parent) is not.
 */
static bool has_dot_component(const char *path)
{
    while (*path) {
        path += strspn(path, "/");
        size_t len = strcspn(path, "/");
        if (len && len <= 2 && strncmp(path, "..", len) == 0)
            return true;
        path += len;
    }
    return false;
}

/*
 * Adds c's env entries, env[1]'s first: the first of a name wins. A
 * mapping names each variable once, so an entry is compared with the
 * earlier levels' only (linear in a big service env, copied per probe).
 */
static int add_own(const struct runas_cfg *c, char **envp, size_t *n)
{
    for (size_t l = ARRAY_SIZE(c->env); l-- > 0;) {
        size_t earlier = *n;
        for (size_t i = 0; i < c->env_count[l]; i++) {
            const char *kv = c->env[l][i];
            if (env_has(envp, earlier, kv, strcspn(kv, "=")))
                continue;
            envp[*n] = strdup(kv);
            if (!envp[*n])
                return -ENOMEM;
            (*n)++;
        }
    }
    return 0;
}

/* See runas_resolve(): what the child gets besides inherit's. */
static int build_own(const struct runas_cfg *c, struct runas *out)
{
    /* + PWD, HOME, USER, LOGNAME and the NULL at the end */
    size_t cap = c->env_count[0] + c->env_count[1] + 5;
    char **own = calloc(cap, sizeof(char *));
    if (!own)
        return -ENOMEM;
    size_t n = 0;
    size_t configured;
    if (add_own(c, own, &n) < 0)
        goto out_free;
    configured = n;
    if (c->cwd && !env_has(own, n, "PWD", 3) && !has_dot_component(c->cwd) &&
        env_add(own, &n, "PWD", 3, c->cwd) < 0)
        goto out_free;
    if (c->user->name) {
        struct passwd *pw = getpwnam(c->user->name);
        const char *home = pw ? pw->pw_dir : "/";
        const char *user = pw ? pw->pw_name : c->user->name;
        const char *values[] = {home, user, user};
        for (size_t i = 0; i < ARRAY_SIZE(values); i++) {
            const char *var = user_vars[i];
            size_t len = strlen(var) - 1; /* without the '=' */
            if (!env_has(own, configured, var, len) &&
                env_add(own, &n, var, len, values[i]) < 0)
                goto out_free;
        }
    }
    out->own = own;
    out->own_count = n;
    return 0;
out_free:
    for (size_t i = 0; i < n; i++)
        free(own[i]);
    free(own);
    return -ENOMEM;
}

int runas_resolve(const struct runas_cfg *c, char *const *inherit,
                  struct runas *out, char *errbuf, size_t errlen)
{
    struct cfg_mark at;
    struct runas_ids ids;

    *out = (struct runas){0};
    int rc = runas_ids(c, &ids, &at, errbuf, errlen);
    if (rc < 0)
        return rc;
    if (c->cwd) {
        out->cwd = strdup(c->cwd);
        rc = out->cwd ? 0 : -ENOMEM;
    }
    if (rc == 0 && ids.set) {
        out->set_ids = true;
        out->uid = ids.uid;
        out->gid = ids.gid;
        rc = resolve_groups(c, &ids, out);
    }
    out->inherit = inherit;
    out->new_pwd = c->cwd != NULL;
    if (rc == 0)
        rc = build_own(c, out);
    if (rc < 0) {
        snprintf(errbuf, errlen, "%s '%s': out of memory", c->kind, c->name);
        runas_free(out);
    }
    return rc;
}

void runas_free(struct runas *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->own_count; i++)
        free(r->own[i]);
    free(r->own);
    free(r->groups);
    free(r->cwd);
    *r = (struct runas){0};
}

char **runas_env(const struct runas *r, char *const *hidden)
{
    size_t n = 0;
    while (r->inherit[n])
        n++;
    char **out = calloc(r->own_count + n + 1, sizeof(*out));
    if (!out)
        return NULL;
    size_t k = r->own_count;
    if (k)
        memcpy(out, r->own, k * sizeof(*out));
    for (size_t i = 0; i < n; i++) {
        const char *kv = r->inherit[i];
        size_t len = strcspn(kv, "=");
        if (!kv[len] || env_has(r->own, r->own_count, kv, len) ||
            (r->new_pwd && env_has(pwd_var, 1, kv, len)) ||
            spawn_env_hidden(kv, hidden))
            continue;
        out[k++] = r->inherit[i];
    }
    return out;
}

void runas_apply(const struct runas *r, struct spawn_opts *o)
{
    o->set_ids = r->set_ids;
    o->uid = r->uid;
    o->gid = r->gid;
    o->groups = r->groups;
    o->groups_count = r->groups_count;
    o->cwd = r->cwd;
}
