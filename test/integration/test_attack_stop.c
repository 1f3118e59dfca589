/*
 * Issue 14's stop, groups and small truths, attacked from outside: a
 * restart asked for while a stop waits for the group, sidecar in a user
 * namespace, a cwd whose PWD a shell would misread, Authorization values
 * with trailing blanks or a NUL.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

static struct harness H;

static void teardown(void)
{
    if (H.pid > 0)
        h_cleanup(&H);
}

#define T(name, secs) Test(attack_stop, name, .timeout = secs, .fini = teardown)

#define TOKEN "attack-stop-token-0123456789"

#define HTTP_WITH_TOKEN                                                        \
    "http:\n"                                                                  \
    "  listen: 127.0.0.1:0\n"                                                  \
    "  token: " TOKEN "\n"

/*
 * A stop of a shell whose program takes 1 s in its SIGTERM handler waits
 * for the group; a restart asked for meanwhile is answered 202, so the
 * service starts again once the group is gone, as after a restart.
 */
T(restart_asked_during_a_stops_group_wait_starts_it_again, 40)
{
    h_start(&H, HTTP_WITH_TOKEN
            "services:\n"
            "  main:\n"
            "    role: main\n"
            "    command: [@HELPER@, run, main, @DIR@/main.log]\n"
            "  app:\n"
            "    backoff: { initial: 0s }\n"
            "    command: \"@HELPER@ run app @DIR@/log graceful; exit 3\"\n");
    cr_assert(h_wait_text(&H, "log", "start app", H_WAIT));
    long st = h_wait_event(&H, 0, H_WAIT, "service started", "app");
    cr_assert_geq(st, 0);
    int port = h_http_port(&H);
    char body[512];
    cr_assert_eq(
        h_post_at(port, "/services/app/stop", TOKEN, "", body, sizeof(body)),
        202, "%s", body);
    long wait = h_wait_event(&H, (size_t)st, H_WAIT,
                             "waiting for the rest of the service's process "
                             "group",
                             "app");
    cr_assert_geq(wait, 0);
    cr_assert_eq(
        h_post_at(port, "/services/app/restart", TOKEN, "", body, sizeof(body)),
        202, "%s", body);
    long gone = h_wait_event(&H, (size_t)wait, H_WAIT,
                             "service's process group exited", "app");
    cr_assert_geq(gone, 0);
    long again =
        h_wait_event(&H, (size_t)gone, H_WAIT, "service started", "app");
    cr_expect_geq(again, 0, "the restart answered 202 was dropped");

    h_signal(&H, SIGTERM);
    cr_expect_eq(h_wait_exit(&H, H_WAIT), 0);
}

/* The first stdout line of service at or after from; NULL if none. */
static const char *first_output(size_t from, const char *service)
{
    for (size_t i = from; i < H.count; i++) {
        const char *stream = h_str(&H, (long)i, "stream");
        const char *svc = h_str(&H, (long)i, "service");
        if (stream && svc && strcmp(stream, "stdout") == 0 &&
            strcmp(svc, service) == 0)
            return h_str(&H, (long)i, "msg");
    }
    return NULL;
}

/*
 * cwd D/link/../x, link pointing elsewhere: the kernel runs the service
 * in link's sibling x, while a shell given PWD=D/link/../x folds the
 * '..' by hand and names D/x, another directory.
 */
T(a_cwd_with_dot_dot_gives_no_pwd_a_shell_misreads, 20)
{
    char dir[] = "/tmp/attack-stop-XXXXXX";
    cr_assert(mkdtemp(dir));
    char cmd[512];
    snprintf(cmd, sizeof(cmd),
             "mkdir %s/x %s/far %s/far/x %s/far/d && ln -s far/d %s/link", dir,
             dir, dir, dir, dir);
    cr_assert_eq(system(cmd), 0);
    char yaml[512];
    snprintf(yaml, sizeof(yaml),
             "services:\n"
             "  app:\n"
             "    role: main\n"
             "    restart: never\n"
             "    cwd: %s/link/../x\n"
             "    command: [bash, -c, pwd]\n",
             dir);
    h_start(&H, yaml);
    cr_expect_eq(h_wait_exit(&H, H_WAIT), 0);
    char want[256];
    snprintf(want, sizeof(want), "%s/far/x", dir);
    const char *got = first_output(0, "app");
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    cr_assert_eq(system(cmd), 0);
    cr_assert(got, "no output of pwd");
    cr_expect_str_eq(got, want);
}

/* POST /services/main/nothing with this Authorization value (len bytes,
 * NULs included): the status; 404 means the token was taken. */
static int post_auth(int port, const char *value, size_t len)
{
    char req[512];
    int head = snprintf(req, sizeof(req),
                        "POST /services/main/nothing HTTP/1.1\r\nHost: x\r\n"
                        "Connection: close\r\nContent-Length: 0\r\n"
                        "Authorization: ");
    cr_assert_lt((size_t)head + len + 4, sizeof(req));
    memcpy(req + head, value, len);
    memcpy(req + head + len, "\r\n\r\n", 4);
    int fd = h_connect(port);
    cr_assert_geq(fd, 0);
    cr_assert_eq(write(fd, req, (size_t)head + len + 4),
                 (ssize_t)((size_t)head + len + 4));
    char resp[2048];
    bool eof;
    h_read_to_eof(fd, resp, sizeof(resp), H_WAIT, &eof);
    close(fd);
    int status = -1;
    cr_assert_eq(sscanf(resp, "HTTP/1.%*d %d", &status), 1, "%s", resp);
    return status;
}

#define AUTH(port, literal) post_auth(port, literal, sizeof(literal) - 1)

/* RFC 9110 5.5: whitespace after a field value is no part of it. */
T(bearer_token_takes_trailing_blanks, 20)
{
    h_start(&H, HTTP_WITH_TOKEN "services:\n"
                                "  main:\n"
                                "    role: main\n"
                                "    command: [sleep, '1000']\n");
    cr_assert_geq(h_wait_event(&H, 0, H_WAIT, "service started", "main"), 0);
    int port = h_http_port(&H);
    cr_expect_eq(AUTH(port, "Bearer " TOKEN), 404);
    cr_expect_eq(AUTH(port, "Bearer " TOKEN "  "), 404);
    cr_expect_eq(AUTH(port, "Bearer " TOKEN " \t "), 404);
    cr_expect_eq(AUTH(port, "bearer  " TOKEN "\t"), 404);
    cr_expect_neq(AUTH(port, "Bearer " TOKEN "x\0"), 404);
    cr_expect_eq(AUTH(port, "Bearer " TOKEN " x"), 401);
    cr_expect_eq(AUTH(port, "Bearer\t" TOKEN), 401);
    cr_expect_eq(AUTH(port, "Bearer"), 401);
    cr_expect_eq(AUTH(port, "Bearer   "), 401);

    h_signal(&H, SIGTERM);
    cr_expect_eq(h_wait_exit(&H, H_WAIT), 128 + SIGTERM);
}

/* What a sidecar run in a new user namespace did and said. */
struct userns_run {
    char groups[128]; /* its own "Groups:" line, read from outside */
    char out[16384];  /* its stdout and stderr */
    int code;         /* exit code, -1 if killed or hung */
};

/*
 * Runs `sidecar CMD -c CONFIG` (config from yaml) as root with groups 4
 * and 24, in a new user namespace mapping uid 0 and gid_map, setgroups
 * set to allow or deny there, as a privileged runtime would set it up.
 * For run, its groups are read once it says "sidecar started". Skips the
 * test where there are no user namespaces.
 */
static void run_in_userns(const char *cmd, const char *yaml,
                          const char *setgroups_mode, const char *gid_map,
                          struct userns_run *r)
{
    if (geteuid() != 0)
        cr_skip_test("needs root to map ids in a user namespace");
    memset(r, 0, sizeof(*r));
    const char *cfg = h_temp_file(yaml);
    char cfg_path[64];
    snprintf(cfg_path, sizeof(cfg_path), "%s", cfg);
    char out_path[] = "/tmp/sidecar-test-userns-XXXXXX";
    int out = mkstemp(out_path);
    cr_assert_geq(out, 0);
    const char *bin = getenv("SIDECAR_BIN");
    const char *argv[] = {bin && *bin ? bin : "../build/sidecar", cmd, "-c",
                          cfg_path, NULL};
    int ready[2];
    int go[2];
    cr_assert_eq(pipe2(ready, O_CLOEXEC), 0);
    cr_assert_eq(pipe2(go, O_CLOEXEC), 0);
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        static const gid_t extra[] = {4, 24};
        char c;
        if (setgroups(2, extra) < 0 || unshare(CLONE_NEWUSER) < 0)
            _exit(99);
        if (write(ready[1], "r", 1) != 1 || read(go[0], &c, 1) != 1)
            _exit(98);
        dup2(out, 1);
        dup2(out, 2);
        execv(argv[0], (char *const *)argv);
        _exit(97);
    }
    close(ready[1]);
    close(go[0]);
    char c;
    if (read(ready[0], &c, 1) != 1) {
        waitpid(pid, NULL, 0);
        unlink(cfg_path);
        unlink(out_path);
        cr_skip_test("no user namespaces here");
    }
    static const char *const files[] = {"setgroups", "uid_map", "gid_map"};
    const char *texts[] = {setgroups_mode, "0 0 1\n", gid_map};
    for (size_t i = 0; i < 3; i++) {
        char path[64];
        snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, files[i]);
        int fd = open(path, O_WRONLY);
        cr_assert_geq(fd, 0, "%s: %s", path, strerror(errno));
        size_t n = strlen(texts[i]);
        cr_assert_eq(write(fd, texts[i], n), (ssize_t)n, "%s: %s", path,
                     strerror(errno));
        close(fd);
    }
    cr_assert_eq(write(go[1], "g", 1), 1);
    double deadline = h_now() + H_WAIT;
    bool started = strcmp(cmd, "run") != 0;
    int st = 0;
    pid_t w;
    while ((w = waitpid(pid, &st, WNOHANG)) == 0 && h_now() < deadline) {
        if (!started && strstr(h_read_file(out_path), "sidecar started")) {
            char path[64];
            snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
            const char *status = h_read_file(path);
            const char *line = strstr(status, "Groups:");
            snprintf(r->groups, sizeof(r->groups), "%.*s",
                     line ? (int)strcspn(line, "\n") : 0, line ? line : "");
            started = true;
        }
        usleep(10000);
    }
    if (w == 0) {
        kill(pid, SIGKILL);
        waitpid(pid, &st, 0);
    }
    r->code = w == pid && WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    snprintf(r->out, sizeof(r->out), "%s", h_read_file(out_path));
    close(out);
    close(ready[0]);
    close(go[1]);
    unlink(cfg_path);
    unlink(out_path);
}

#define PRINT_GROUPS                                                           \
    "http: {listen: '127.0.0.1:0'}\n"                                          \
    "services:\n"                                                              \
    "  app:\n"                                                                 \
    "    role: main\n"                                                         \
    "    restart: never\n"                                                     \
    "    command: [sh, -c, 'sleep 1; id -G']\n"

/*
 * A user namespace that allows setgroups but maps none of sidecar's
 * supplementary groups (they read as the overflow gid 65534): children
 * can drop them, so nothing is to be said, and finding that out must
 * not change sidecar's own groups, even where 65534 is mapped.
 */
T(a_userns_with_unmapped_groups_drops_them_and_keeps_sidecars_own, 30)
{
    struct userns_run r;
    run_in_userns("run", PRINT_GROUPS, "allow", "0 0 1\n65534 65534 1\n", &r);
    cr_expect_eq(r.code, 0, "%s", r.out);
    cr_expect_str_eq(r.groups, "Groups:\t4 24 ", "sidecar's own: %s", r.groups);
    cr_expect(strstr(r.out, "\"msg\":\"0\""), "the service's groups: %s",
              r.out);
    cr_expect(!strstr(r.out, "supplementary groups"), "%s", r.out);

    run_in_userns("run", PRINT_GROUPS, "allow", "0 0 1\n", &r);
    cr_expect_eq(r.code, 0, "%s", r.out);
    cr_expect(strstr(r.out, "\"msg\":\"0\""), "%s", r.out);
    cr_expect(!strstr(r.out, "supplementary groups"), "%s", r.out);
}

/*
 * Where setgroups is denied (unshare -U -r sets it so), no child can be
 * given groups: a service with user or group is one sidecar cannot run
 * as asked. Its own user runs as sidecar does (keeping its groups, as
 * said at start); another is refused by run and check alike, with the
 * reason, rather than failing at each start.
 */
T(a_userns_that_denies_setgroups_runs_its_own_user_refuses_others, 30)
{
    struct userns_run r;
    run_in_userns("run", PRINT_GROUPS "    user: root\n", "deny", "0 0 1\n",
                  &r);
    cr_expect_eq(r.code, 0, "%s", r.out);
    cr_expect(strstr(r.out, "\"msg\":\"0 65534\""), "%s", r.out);
    cr_expect(strstr(r.out, "keep sidecar's supplementary groups"), "%s",
              r.out);
    cr_expect(!strstr(r.out, "setgroups: Operation not permitted"), "%s",
              r.out);

    static const char nobody[] = PRINT_GROUPS "    user: nobody\n";
    run_in_userns("check", nobody, "deny", "0 0 1\n", &r);
    cr_expect_eq(r.code, 2, "%s", r.out);
    cr_expect(strstr(r.out, ":7:11: service 'app': cannot run as nobody"), "%s",
              r.out);
    cr_expect(strstr(r.out, "denies setgroups"), "%s", r.out);
    run_in_userns("run", nobody, "deny", "0 0 1\n", &r);
    cr_expect_eq(r.code, 2, "%s", r.out);
    cr_expect(strstr(r.out, "cannot run as nobody"), "%s", r.out);
}
