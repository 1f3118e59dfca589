/*
 * `check`'s machine checks (see machine.h). Each one predicts a refusal
 * or a failure of `run` from the rule run follows: runas_ids() as
 * svc_new() and the exec probes, cfg_listen_addr() as the server,
 * execvp()'s PATH search and chdir() as the child (proc/spawn.c),
 * mhdapi_load() as the server, curlapi_load() as the first http probe.
 */
#define _DEFAULT_SOURCE /* initgroups, setgroups */
#include "cli/machine.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "api/mhdapi.h"
#include "conf/parse.h"
#include "conf/runas.h"
#include "probes/curlapi.h"
#include "probes/curlkind.h"
#include "probes/httpnative.h"

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

#define NOT_EXECUTABLE 1 /* runnable(): a file sidecar may not execute */

/*
 * 0 when file is a regular file sidecar's user may execute (a child that
 * switches user is not predicted), NOT_EXECUTABLE, or -errno of stat()
 * (-EACCES: a directory on the way may not be searched).
 */
static int runnable(const char *file)
{
    struct stat st;
    if (stat(file, &st) < 0)
        return -errno;
    return S_ISREG(st.st_mode) && access(file, X_OK) == 0 ? 0 : NOT_EXECUTABLE;
}

static void say_why(int rc, char *why, size_t len)
{
    snprintf(why, len, "%s",
             rc == NOT_EXECUTABLE ? "not an executable file" : strerror(-rc));
}

/* dir/name (dir empty: name), from cwd (when set) unless that is
 * absolute; -1: too long. */
static int join(char *out, size_t len, const char *cwd, const char *dir,
                size_t dirlen, const char *name)
{
    bool from_cwd = cwd && (dirlen ? dir[0] : name[0]) != '/';
    int n = snprintf(out, len, "%s%s%.*s%s%s", from_cwd ? cwd : "",
                     from_cwd ? "/" : "", (int)dirlen, dir, dirlen ? "/" : "",
                     name);
    return n < 0 || (size_t)n >= len ? -1 : 0;
}

/*
 * A script's interpreter (#!/usr/bin/python3), which its exec needs too:
 * 0, or -1 with why filled. One read of the file's head, as the kernel
 * does; a file that cannot be read, or a relative interpreter (from the
 * child's cwd), is left to exec.
 */
static int check_interpreter(const char *file, char *why, size_t len)
{
    char head[256];
    int fd = open(file, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    ssize_t n = read(fd, head, sizeof(head) - 1);
    close(fd);
    if (n < 2 || head[0] != '#' || head[1] != '!')
        return 0;
    head[n] = '\0';
    char *interp = head + 2 + strspn(head + 2, " \t");
    interp[strcspn(interp, " \t\n")] = '\0';
    int rc = interp[0] == '/' ? runnable(interp) : 0;
    if (rc == 0)
        return 0;
    int at = snprintf(why, len, "its interpreter %.64s: ", interp);
    if (at > 0 && (size_t)at < len)
        say_why(rc, why + at, len - (size_t)at);
    return -1;
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
        if (rc != 0)
            say_why(rc, why, len);
        return rc != 0 ? -1 : check_interpreter(file, why, len);
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
                return check_interpreter(file, why, len);
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

/* Whether find_program() looks anything up from cwd. */
static bool needs_cwd(const char *prog, const char *path)
{
    if (strchr(prog, '/'))
        return prog[0] != '/';
    for (const char *dir = path; dir; dir = strchr(dir, ':')) {
        if (dir != path)
            dir++;
        if (dir[0] != '/') /* relative, or empty: the cwd itself */
            return true;
    }
    return false;
}

static void check_listen(struct report *r, const struct cfg_root *cfg)
{
    struct sockaddr_storage ss;
    /* As run would: it loads libmicrohttpd to start its server. */
    if (mhdapi_load() < 0)
        fail(r, cfg->http.listen_mark,
             "the HTTP server needs libmicrohttpd: %s", mhdapi_error());
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

/* chdir() as the child will, with no more rights than sidecar's. */
static bool check_cwd(struct report *r, const char *who,
                      const struct runas_cfg *as)
{
    struct stat st;
    const char *why = NULL;
    if (stat(as->cwd, &st) < 0 ||
        (S_ISDIR(st.st_mode) && access(as->cwd, X_OK) < 0))
        why = strerror(errno);
    else if (!S_ISDIR(st.st_mode))
        why = "not a directory";
    if (why)
        fail(r, as->cwd_mark, "%s: cwd '%s': %s", who, as->cwd, why);
    return !why;
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

/* The child's cwd, then its program, with the rights of this process. */
static void check_files(struct report *r, const char *who,
                        const struct runas_cfg *as,
                        const struct cfg_command *cmd)
{
    bool cwd_ok = !as->cwd || check_cwd(r, who, as);
    /* The child's PATH: its env's, else sidecar's (conf/runas.c). */
    const char *path = path_in(as->env[1], as->env_count[1]);
    if (!path)
        path = path_in(as->env[0], as->env_count[0]);
    if (!path)
        path = path_in(environ, SIZE_MAX);
    /* Not from a cwd already reported: that error is its cause. */
    if (cwd_ok || !needs_cwd(cmd->argv[0], path))
        check_program(r, who, cmd, path, as->cwd);
}

static int read_all(int fd, void *buf, size_t len)
{
    for (size_t got = 0; got < len;) {
        ssize_t n = read(fd, (char *)buf + got, len - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        got += (size_t)n;
    }
    return 0;
}

/*
 * check_files() as the user the child switches to (proc/spawn.c: its
 * groups, gid, uid), whose rights are not root's: in a child process,
 * which takes those ids for good and hands back r's errors whole. -1 when
 * that cannot be done (the caller checks with its own rights).
 */
static int check_files_as(struct report *r, const char *who,
                          const struct runas_cfg *as,
                          const struct cfg_command *cmd,
                          const struct runas_ids *ids)
{
    int fds[2];
    if (pipe(fds) < 0)
        return -1;
    pid_t pid = fork();
    if (pid == 0) {
        close(fds[0]);
        int rc = ids->user_groups ? initgroups(as->user->name, ids->gid)
                                  : setgroups(1, &ids->gid);
        if (rc < 0 || setgid(ids->gid) < 0 || setuid(ids->uid) < 0)
            _exit(1);
        check_files(r, who, as, cmd);
        bool sent =
            write(fds[1], r->err, sizeof(*r->err)) ==
                (ssize_t)sizeof(*r->err) &&
            write(fds[1], &r->rc, sizeof(r->rc)) == (ssize_t)sizeof(r->rc);
        _exit(sent ? 0 : 1);
    }
    close(fds[1]);
    struct cfg_error got;
    int got_rc;
    bool done = pid > 0 && read_all(fds[0], &got, sizeof(got)) == 0 &&
                read_all(fds[0], &got_rc, sizeof(got_rc)) == 0;
    close(fds[0]);
    int status;
    while (pid > 0 && waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (!done)
        return -1;
    *r->err = got;
    r->rc = got_rc;
    return 0;
}

/* A service or an exec probe: its ids, then its files as its user. */
static void check_child(struct report *r, const struct runas_cfg *as,
                        const struct cfg_command *cmd)
{
    static const struct cfg_account nobody;
    char who[96];
    char why[CFG_ERROR_MSG_MAX];
    struct cfg_mark at;
    struct runas_ids ids;
    snprintf(who, sizeof(who), "%s '%s'", as->kind, as->name);
    int rc = runas_ids(as, &ids, &at, why, sizeof(why));
    if (rc < 0)
        fail(r, at, "%s", why);
    if (rc == 0 && ids.set && check_files_as(r, who, as, cmd, &ids) == 0)
        return;
    /* A missing user hid the group: look it up on its own too. */
    struct runas_cfg group_only = *as;
    group_only.user = &nobody;
    if (rc == -ENOENT && as->user->name && as->group->name &&
        runas_ids(&group_only, &ids, &at, why, sizeof(why)) == -ENOENT)
        fail(r, at, "%s", why);
    check_files(r, who, as, cmd);
}

int machine_check(const struct cfg_root *cfg, struct cfg_error *err)
{
    struct report r = {cfg->path, err, 0};
    check_listen(&r, cfg);
    struct runas_cfg as;
    for (size_t i = 0; i < cfg->services_count; i++) {
        runas_of_service(&cfg->services[i], &as);
        check_child(&r, &as, &cfg->services[i].command);
    }
    for (size_t i = 0; i < cfg->probes_count; i++) {
        const struct cfg_probe *p = &cfg->probes[i];
        if (((p->type == CFG_PROBE_HTTP && !httpnative_fits(p)) ||
             p->type == CFG_PROBE_GRPC) &&
            curlapi_load() < 0) {
            /* As run would: it loads libcurl for its first such probe. */
            fail(&r, p->mark, "probe '%s' needs libcurl: %s", p->name,
                 curlapi_error());
            break; /* the same answer for every other */
        }
        if (p->type == CFG_PROBE_GRPC && !curlkind_http2())
            fail(&r, p->mark, "probe '%s' needs libcurl with HTTP/2", p->name);
        if (p->type != CFG_PROBE_EXEC)
            continue;
        runas_of_probe(cfg, p, &as);
        check_child(&r, &as, &p->command);
    }
    return r.rc;
}
