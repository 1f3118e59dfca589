/*
 * `check`'s machine checks (see machine.h). Each one predicts a refusal
 * or a failure of `run` from the rule run follows: ids_resolve() as
 * svc_new(), cfg_listen_addr() as the server, execvp()'s PATH search and
 * chdir() as the child (sidecar/spawn.c).
 */
#include "sidecar/machine.h"

#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "conf/parse.h"
#include "sidecar/ids.h"

extern char **environ;

#define WHY_MAX 160

struct report {
    const char *path; /* the config file */
    struct cfg_error *err;
    int rc; /* -1 once anything failed */
};

/* Adds one error at mark: every check stands alone. */
static void ATTR_FMT(3, 4)
    fail(struct report *r, struct cfg_mark at, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    cfg_error_vset(r->err, r->path, at.line, at.col, fmt, ap);
    va_end(ap);
    cfg_error_resume(r->err);
    r->rc = -1;
}

/* The value of PATH in env ("NAME=value", at most n of them), or NULL. */
static const char *path_in(char *const *env, size_t n)
{
    for (size_t i = 0; i < n && env[i]; i++) {
        if (strncmp(env[i], "PATH=", 5) == 0)
            return env[i] + 5;
    }
    return NULL;
}

/* 0 when file is an executable file, else -errno (-EACCES: not one). */
static int runnable(const char *file)
{
    struct stat st;
    if (stat(file, &st) < 0)
        return -errno;
    return S_ISREG(st.st_mode) && (st.st_mode & 0111) ? 0 : -EACCES;
}

static void say_why(int rc, char *why, size_t len)
{
    snprintf(why, len, "%s",
             rc == -EACCES ? "not an executable file" : strerror(-rc));
}

/*
 * dir/name (name alone when dirlen is 0), from cwd (when set) if that is
 * not absolute; -1: too long.
 */
static int join(char *out, size_t len, const char *cwd, const char *dir,
                size_t dirlen, const char *name)
{
    bool from_cwd = cwd && (dirlen ? dir : name)[0] != '/';
    int n = snprintf(out, len, "%s%s%.*s%s%s", from_cwd ? cwd : "",
                     from_cwd ? "/" : "", (int)dirlen, dir, dirlen ? "/" : "",
                     name);
    return n < 0 || (size_t)n >= len ? -1 : 0;
}

/*
 * Looks prog up as execvp() in the child will: a name with a '/' as it
 * is, any other in each directory of path (NULL: the system's default
 * path), relative ones from the child's cwd. 0, or -1 with why filled.
 */
static int find_program(const char *prog, const char *path, const char *cwd,
                        char *why, size_t len)
{
    char file[PATH_MAX];
    char def[256];
    int rc;
    if (strchr(prog, '/')) {
        rc = join(file, sizeof(file), cwd, "", 0, prog) < 0 ? -ENAMETOOLONG
                                                            : runnable(file);
        if (rc < 0)
            say_why(rc, why, len);
        return rc < 0 ? -1 : 0;
    }
    if (!path) {
        size_t n = confstr(_CS_PATH, def, sizeof(def));
        path = n > 0 && n <= sizeof(def) ? def : "/bin:/usr/bin";
    }
    why[0] = '\0';
    for (const char *dir = path;; dir++) {
        size_t dirlen = strcspn(dir, ":");
        if (join(file, sizeof(file), cwd, dir, dirlen, prog) == 0) {
            rc = runnable(file);
            if (rc == 0)
                return 0;
            /* There but not runnable: execvp() fails with it (EACCES). */
            if (!why[0] && rc != -ENOENT && rc != -ENOTDIR) {
                int n = snprintf(why, len, "%s: ", file);
                if (n > 0 && (size_t)n < len)
                    say_why(rc, why + n, len - (size_t)n);
            }
        }
        dir += dirlen;
        if (!*dir)
            break;
    }
    if (!why[0]) /* a long PATH is cut short: the message has a cap */
        snprintf(why, len, "not found in PATH=%.*s", (int)(len / 2), path);
    return -1;
}

static void check_listen(struct report *r, const struct cfg_root *cfg)
{
    struct sockaddr_storage ss;
    if (cfg_listen_addr(cfg->http.host, cfg->http.port, &ss) < 0) {
        fail(r, cfg->http.listen_mark, "http.listen: '%s' is no address",
             cfg->http.host); /* the loader refuses it first */
        return;
    }
    socklen_t len = ss.ss_family == AF_INET6 ? sizeof(struct sockaddr_in6)
                                             : sizeof(struct sockaddr_in);
    int one = 1;
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    /* SO_REUSEADDR: a sidecar starting meanwhile may bind it too. */
    int rc = fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one,
                                  sizeof(one)) < 0
                 ? -1
                 : bind(fd, (struct sockaddr *)&ss, len);
    int saved = errno;
    if (fd >= 0)
        close(fd);
    /* In use: by the very sidecar this file is checked for, maybe. */
    if (rc < 0 && saved != EADDRINUSE)
        fail(r, cfg->http.listen_mark, "http.listen: cannot listen on %s: %s",
             cfg->http.listen, strerror(saved));
}

/* who: "service 'web'" or "probe 'disk'". */
static void check_program(struct report *r, const char *who,
                          const struct cfg_command *cmd, const char *path,
                          const char *cwd)
{
    char why[WHY_MAX];
    if (find_program(cmd->argv[0], path, cwd, why, sizeof(why)) < 0)
        fail(r, cmd->mark, "%s: cannot run '%s': %s", who, cmd->argv[0], why);
}

static void check_service(struct report *r, const struct cfg_service *svc)
{
    char who[96];
    char why[CFG_ERROR_MSG_MAX];
    struct cfg_mark at;
    struct ids ids;
    struct stat st;
    snprintf(who, sizeof(who), "service '%s'", svc->name);
    int rc = ids_resolve(svc, &ids, &at, why, sizeof(why));
    if (rc < 0)
        fail(r, at, "%s", why);
    /* A missing user hid the group: look it up on its own too. */
    struct cfg_service group_only = *svc;
    group_only.user.name = NULL;
    if (rc == -ENOENT && svc->user.name && svc->group.name &&
        ids_resolve(&group_only, &ids, &at, why, sizeof(why)) == -ENOENT)
        fail(r, at, "%s", why);
    if (svc->cwd && stat(svc->cwd, &st) < 0)
        fail(r, svc->cwd_mark, "%s: cwd '%s': %s", who, svc->cwd,
             strerror(errno));
    else if (svc->cwd && !S_ISDIR(st.st_mode))
        fail(r, svc->cwd_mark, "%s: cwd '%s': not a directory", who, svc->cwd);
    /* The child's PATH: its env's, else sidecar's (sidecar/service.c). */
    const char *path = path_in(svc->env, svc->env_count);
    check_program(r, who, &svc->command,
                  path ? path : path_in(environ, SIZE_MAX), svc->cwd);
}

int machine_check(const struct cfg_root *cfg, struct cfg_error *err)
{
    struct report r = {cfg->path, err, 0};
    check_listen(&r, cfg);
    for (size_t i = 0; i < cfg->services_count; i++)
        check_service(&r, &cfg->services[i]);
    for (size_t i = 0; i < cfg->probes_count; i++) {
        const struct cfg_probe *p = &cfg->probes[i];
        char who[96];
        if (p->type != CFG_PROBE_EXEC)
            continue;
        /* Sidecar's environment and cwd (probes/exec.c). */
        snprintf(who, sizeof(who), "probe '%s'", p->name);
        check_program(&r, who, &p->command, path_in(environ, SIZE_MAX), NULL);
    }
    return r.rc;
}
