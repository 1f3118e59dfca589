/*
 * Issue 14 items 3 and 7: `sidecar check` refuses what `run` refuses, and
 * what would fail on this machine (users, groups, programs, directories,
 * the listen address), each error at its FILE:LINE:COL, every independent
 * one reported; --no-machine leaves out what depends on the machine.
 */
#define _GNU_SOURCE /* setresuid */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

#define T(name, secs) Test(newuser_check, name, .timeout = secs)

/* The output of the last run: stdout and stderr together. */
static char out[16384];
static char cfg_path[64];

/* `sidecar ARGS... -c FILE` on yaml; its exit code. */
static int run_on(const char *yaml, const char *const *args)
{
    const char *argv[8];
    size_t n = 0;
    snprintf(cfg_path, sizeof(cfg_path), "%s", h_temp_file(yaml));
    for (; args[n]; n++)
        argv[n] = args[n];
    argv[n++] = "-c";
    argv[n++] = cfg_path;
    argv[n] = NULL;
    int code = h_run(argv, out, sizeof(out), H_WAIT);
    unlink(cfg_path);
    return code;
}

static int check(const char *yaml)
{
    return run_on(yaml, (const char *[]){"check", NULL});
}

/* "FILE:LINE:COL: msg" for the first needle in yaml, as sidecar prints. */
static const char *at(const char *yaml, const char *needle, const char *msg)
{
    static char line[1024];
    const char *p = strstr(yaml, needle);
    cr_assert(p, "'%s' is not in the config", needle);
    unsigned ln = 1;
    const char *bol = yaml;
    for (const char *c = yaml; c < p; c++) {
        if (*c == '\n') {
            ln++;
            bol = c + 1;
        }
    }
    snprintf(line, sizeof(line), "%s:%u:%u: %s", cfg_path, ln,
             (unsigned)(p - bol) + 1, msg);
    return line;
}

#define EXPECT_ERROR(yaml, needle, msg)                                        \
    cr_expect(strstr(out, at(yaml, needle, msg)), "want: %s\ngot: %s",         \
              at(yaml, needle, msg), out)

#define MAIN "services:\n  web:\n    role: main\n"

T(an_unknown_user_is_an_error_at_its_value, 30)
{
    static const char yaml[] = MAIN "    command: [/bin/true]\n"
                                    "    user: no-such-user-4a7b\n";
    cr_expect_eq(check(yaml), 2, "%s", out);
    EXPECT_ERROR(yaml, "no-such-user-4a7b",
                 "service 'web': user 'no-such-user-4a7b' does not exist");
}

T(an_unknown_group_is_an_error_at_its_value, 30)
{
    static const char yaml[] = MAIN "    command: [/bin/true]\n"
                                    "    group: no-such-group-4a7b\n";
    cr_expect_eq(check(yaml), 2, "%s", out);
    EXPECT_ERROR(yaml, "no-such-group-4a7b",
                 "service 'web': group 'no-such-group-4a7b' does not exist");
}

/*
 * A host name is never resolved: run listens on an IP address or
 * localhost only, so check and run refuse a name at once, without asking
 * any resolver (.invalid never resolves, RFC 6761, but must not be asked).
 */
T(a_listen_host_that_is_no_address_is_refused_by_check_and_run, 30)
{
    static const char yaml[] = "http:\n"
                               "  listen: 'sidecar-check.invalid:8558'\n" MAIN
                               "    command: [/bin/true]\n";
    static const char msg[] = "expected an IP address or localhost before "
                              "the port for 'listen', found "
                              "'sidecar-check.invalid:8558'";
    double t0 = h_now();
    cr_expect_eq(check(yaml), 2, "%s", out);
    EXPECT_ERROR(yaml, "'sidecar-check.invalid", msg);
    cr_expect_eq(run_on(yaml, (const char *[]){"run", NULL}), 2, "%s", out);
    EXPECT_ERROR(yaml, "'sidecar-check.invalid", msg);
    cr_expect_lt(h_now() - t0, 5.0, "no resolver was waited for");
}

/* True when a TCP socket can bind addr (IPv4), port 0. */
static bool bindable(const char *addr)
{
    struct sockaddr_in in = {.sin_family = AF_INET};
    cr_assert_eq(inet_pton(AF_INET, addr, &in.sin_addr), 1);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    cr_assert_geq(fd, 0);
    bool ok = bind(fd, (struct sockaddr *)&in, sizeof(in)) == 0;
    close(fd);
    return ok;
}

/* 192.0.2.1 (TEST-NET-1, RFC 5737) is no address of this machine. */
T(an_address_not_on_this_machine_cannot_be_listened_on, 30)
{
    static const char yaml[] =
        "http:\n"
        "  listen: 192.0.2.1:8558\n" MAIN "    command: [/bin/true]\n";
    if (bindable("192.0.2.1"))
        cr_skip_test("192.0.2.1 can be bound here (net.ipv4.ip_nonlocal_bind"
                     "=1?): no address that is not this machine's to try");
    cr_expect_eq(check(yaml), 2, "%s", out);
    EXPECT_ERROR(yaml, "192.0.2.1",
                 "http.listen: cannot listen on 192.0.2.1:8558: ");
}

/* Pushes are write requests, and without a token there are none. */
T(a_ttl_probe_without_a_token_is_refused_by_check_and_run, 30)
{
    static const char yaml[] = "probes:\n"
                               "  batch:\n"
                               "    type: ttl\n"
                               "    ttl: 1m\n";
    static const char msg[] = "ttl probe 'batch' can never receive a result: "
                              "pushes need the write API; set http.token or "
                              "http.token_file";
    cr_expect_eq(check(yaml), 2, "%s", out);
    EXPECT_ERROR(yaml, "ttl\n", msg);
    cr_expect_eq(run_on(yaml, (const char *[]){"run", NULL}), 2, "%s", out);
    EXPECT_ERROR(yaml, "ttl\n", msg);
    /* An empty token is no token. */
    static const char empty[] = "http: {token: '${NO_SUCH_VAR_4A7B:-}'}\n"
                                "probes:\n"
                                "  batch: {type: ttl, ttl: 1m}\n";
    cr_expect_eq(check(empty), 2, "%s", out);
    EXPECT_ERROR(empty, "ttl,", msg);
    static const char good[] = "http:\n"
                               "  listen: 127.0.0.1:0\n"
                               "  token: 0123456789abcdef\n"
                               "probes:\n"
                               "  batch: {type: ttl, ttl: 1m}\n";
    cr_expect_eq(check(good), 0, "%s", out);
}

T(a_missing_service_program_is_an_error_at_it, 30)
{
    static const char yaml[] =
        MAIN "    command: [/nonexistent/prog-4a7b, --flag]\n"
             "  helper:\n"
             "    command: [no-such-program-4a7b]\n"
             "  own-path:\n"
             "    env: {PATH: /nonexistent-4a7b}\n"
             "    command: [sh, -c, 'exit 0']\n"
             "  not-a-program:\n"
             "    command: [/etc]\n";
    cr_expect_eq(check(yaml), 2, "%s", out);
    EXPECT_ERROR(yaml, "/nonexistent/prog-4a7b",
                 "service 'web': cannot run '/nonexistent/prog-4a7b': No "
                 "such file or directory");
    EXPECT_ERROR(yaml, "no-such-program-4a7b",
                 "service 'helper': cannot run 'no-such-program-4a7b': not "
                 "found in PATH=");
    /* The PATH the child gets: its own env's. */
    EXPECT_ERROR(yaml, "sh, -c",
                 "service 'own-path': cannot run 'sh': not found in "
                 "PATH=/nonexistent-4a7b");
    EXPECT_ERROR(yaml, "/etc]",
                 "service 'not-a-program': cannot run '/etc': not an "
                 "executable file");
}

T(a_missing_exec_probe_program_is_an_error_at_it, 30)
{
    static const char yaml[] = "probes:\n"
                               "  disk:\n"
                               "    type: exec\n"
                               "    command: [no-such-program-4a7b, /]\n"
                               "  fine:\n"
                               "    type: exec\n"
                               "    command: [true]\n";
    cr_expect_eq(check(yaml), 2, "%s", out);
    EXPECT_ERROR(yaml, "no-such-program-4a7b",
                 "probe 'disk': cannot run 'no-such-program-4a7b': not "
                 "found in PATH=");
    cr_expect_null(strstr(out, "'fine'"), "%s", out);
}

T(a_missing_cwd_is_an_error_at_it, 30)
{
    static const char yaml[] = MAIN "    command: [/bin/true]\n"
                                    "    cwd: /nonexistent-4a7b\n"
                                    "  file:\n"
                                    "    command: [/bin/true]\n"
                                    "    cwd: /etc/passwd\n";
    cr_expect_eq(check(yaml), 2, "%s", out);
    EXPECT_ERROR(yaml, "/nonexistent-4a7b",
                 "service 'web': cwd '/nonexistent-4a7b': No such file or "
                 "directory");
    EXPECT_ERROR(yaml, "/etc/passwd",
                 "service 'file': cwd '/etc/passwd': not a directory");
}

/*
 * fe80::1 is link-local: binding it needs an interface, which listen
 * cannot name, so it fails (EINVAL, or EAFNOSUPPORT without IPv6) even
 * where ip_nonlocal_bind lets any other address be bound.
 */
T(every_machine_error_is_reported, 30)
{
    static const char yaml[] = "http:\n"
                               "  listen: '[fe80::1]:8558'\n" MAIN
                               "    command: [no-such-program-4a7b]\n"
                               "    user: no-such-user-4a7b\n"
                               "    group: no-such-group-4a7b\n"
                               "    cwd: /nonexistent-4a7b\n"
                               "probes:\n"
                               "  disk:\n"
                               "    type: exec\n"
                               "    command: [/nonexistent/prog-4a7b]\n";
    cr_expect_eq(check(yaml), 2, "%s", out);
    EXPECT_ERROR(yaml, "'[fe80::1]", "http.listen: cannot listen on ");
    EXPECT_ERROR(yaml, "no-such-user-4a7b", "service 'web': user ");
    EXPECT_ERROR(yaml, "no-such-group-4a7b", "service 'web': group ");
    EXPECT_ERROR(yaml, "/nonexistent-4a7b", "service 'web': cwd ");
    EXPECT_ERROR(yaml, "no-such-program-4a7b", "service 'web': cannot run ");
    EXPECT_ERROR(yaml, "/nonexistent/prog-4a7b", "probe 'disk': cannot run ");
    cr_expect_eq(h_count_of(out, "\n"), 6, "one line an error: %s", out);
}

/* README's example: two mistakes, two errors, as a compiler reports them. */
T(independent_config_errors_are_all_reported, 30)
{
    static const char yaml[] = MAIN "    command: [/bin/true]\n"
                                    "    restart: sometimes\n"
                                    "    stop_timeout: 10\n"
                                    "  other:\n"
                                    "    comand: [/bin/true]\n"
                                    "probes:\n"
                                    "  p: {type: tcp, port: 99999}\n";
    cr_expect_eq(check(yaml), 2, "%s", out);
    EXPECT_ERROR(yaml, "sometimes",
                 "expected one of always, on-failure, never for 'restart', "
                 "found 'sometimes'");
    EXPECT_ERROR(yaml, "10\n",
                 "expected a duration such as 500ms, 5s or 1m for "
                 "'stop_timeout', found '10'; add a unit, as in '10s'");
    EXPECT_ERROR(yaml, "comand",
                 "unknown key 'comand' in service 'other'; did you mean "
                 "'command'?");
    EXPECT_ERROR(yaml, "99999",
                 "expected an integer from 1 to 65535 for 'port', found "
                 "'99999'");
    cr_expect_eq(h_count_of(out, "\n"), 4, "one line an error: %s", out);
}

T(a_good_config_is_ok_and_names_the_machine_checks, 30)
{
    static const char yaml[] =
        "http:\n"
        "  listen: 127.0.0.1:0\n" MAIN "    command: [true]\n"
        "    cwd: /tmp\n"
        "    user: '0'\n"
        "    group: root\n"
        "probes:\n"
        "  disk: {type: exec, command: 'exit 0'}\n";
    cr_expect_eq(check(yaml), 0, "%s", out);
    char ok[128];
    snprintf(ok, sizeof(ok), "%s: ok (", cfg_path);
    cr_expect(strncmp(out, ok, strlen(ok)) == 0, "%s", out);
    cr_expect(strstr(out, "; checked on this machine: users, groups, "
                          "programs, directories, listen address, "
                          "libmicrohttpd, libcurl)\n"),
              "%s", out);
    cr_expect_eq(h_count_of(out, "\n"), 1, "%s", out);
}

T(no_machine_leaves_out_what_depends_on_the_machine, 30)
{
    static const char yaml[] = "http:\n"
                               "  listen: 192.0.2.1:8558\n" MAIN
                               "    command: [no-such-program-4a7b]\n"
                               "    user: no-such-user-4a7b\n"
                               "    cwd: /nonexistent-4a7b\n";
    cr_expect_eq(run_on(yaml, (const char *[]){"check", "--no-machine", NULL}),
                 0, "%s", out);
    char ok[128];
    snprintf(ok, sizeof(ok), "%s: ok (", cfg_path);
    cr_expect(strncmp(out, ok, strlen(ok)) == 0, "%s", out);
    cr_expect(strstr(out, "; machine checks left out)\n"), "%s", out);
    /* What does not depend on the machine is still checked. */
    static const char ttl[] = "probes: {b: {type: ttl, ttl: 1m}}\n";
    cr_expect_eq(run_on(ttl, (const char *[]){"check", "--no-machine", NULL}),
                 2, "%s", out);
}

/*
 * run refuses a user it cannot switch to (no CAP_SETUID): so does check,
 * run as that same user. The binary and the file are copies anyone can
 * read: the build tree may sit where uid 64125 cannot go.
 */
T(a_user_that_cannot_be_switched_to_is_an_error, 30)
{
    static const char yaml[] = MAIN "    command: [/bin/true]\n"
                                    "    user: nobody\n";
    if (geteuid() != 0)
        cr_skip_test("needs root to become uid 64125");
    char dir[] = "/tmp/sidecar-check-XXXXXX";
    cr_assert(mkdtemp(dir));
    cr_assert_eq(chmod(dir, 0755), 0);
    snprintf(cfg_path, sizeof(cfg_path), "%s/sidecar.yaml", dir);
    int code = h_check_as(64125, dir, yaml, out, sizeof(out), H_WAIT);
    char cmd[64];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir); /* before any assert */
    cr_expect_eq(system(cmd), 0);
    cr_expect_eq(code, 2, "%s", out);
    EXPECT_ERROR(yaml, "nobody", "service 'web': cannot run as nobody");
    cr_expect(strstr(out, "without CAP_SETUID, CAP_SETGID and CAP_KILL"), "%s",
              out);
}
