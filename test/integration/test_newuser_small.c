/*
 * Small truths a new user trips over (issue 14, item 7): the auth scheme
 * is case-insensitive, an empty env value is the same as leaving it out,
 * PWD tells the truth about a child's working directory, counts agree
 * with their nouns, and each command has its own --help.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

static struct harness H;

static void teardown(void)
{
    if (H.pid > 0)
        h_cleanup(&H);
}

#define T(name, secs)                                                          \
    Test(newuser_small, name, .timeout = secs, .fini = teardown)

#define TOKEN "small-truths-token-0123456789"

/* POST /probes/batch/pass with this Authorization value; the status. */
static int post_with_auth(const char *auth)
{
    char req[512];
    char body[1024];
    snprintf(req, sizeof(req),
             "POST /probes/batch/pass HTTP/1.1\r\nHost: x\r\n"
             "Authorization: %s\r\nContent-Length: 2\r\n"
             "Connection: close\r\n\r\nok",
             auth);
    return h_http(&H, req, body, sizeof(body));
}

T(the_bearer_scheme_is_case_insensitive_and_strict, 30)
{
    h_start(&H, "http:\n"
                "  listen: \"127.0.0.1:0\"\n"
                "  token: " TOKEN "\n"
                "probes:\n"
                "  batch:\n"
                "    type: ttl\n"
                "    ttl: 60s\n");
    cr_assert_gt(h_http_port(&H), 0);
    /* RFC 9110 11.1: the scheme is case-insensitive; 11.4: 1*SP. */
    static const char *const good[] = {
        "Bearer " TOKEN, "bearer " TOKEN,   "BEARER " TOKEN,
        "bEaReR " TOKEN, "Bearer   " TOKEN,
    };
    for (size_t i = 0; i < sizeof(good) / sizeof(*good); i++)
        cr_expect_eq(post_with_auth(good[i]), 200, "%s", good[i]);
    static const char *const bad[] = {
        "Bearer\t" TOKEN, /* SP only, not HTAB */
        "Bearer \t" TOKEN,
        "Bearer" TOKEN,
        "Bearers " TOKEN,
        "Basic " TOKEN,
        "Bearer",
        "bearer " TOKEN "x",
        "bearer " TOKEN " " TOKEN,
        "bearer x" TOKEN,
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++)
        cr_expect_eq(post_with_auth(bad[i]), 401, "%s", bad[i]);
    /* The token never reaches the log, whatever the request. */
    for (size_t i = 0; i < H.count; i++)
        cr_expect(!strstr(H.raw[i], TOKEN), "%s", H.raw[i]);
}

/* Waits until each of the n helpers has exited, then stops sidecar. */
static void run_helpers(const char *const *names, size_t n)
{
    for (size_t i = 0; i < n; i++)
        cr_assert_geq(h_wait_event(&H, 0, H_WAIT, "service exited", names[i]),
                      0, "%s", names[i]);
    h_signal(&H, SIGTERM);
    cr_assert_geq(h_wait_exit(&H, H_WAIT), 0);
}

T(an_empty_env_value_leaves_the_variable_out, 30)
{
    setenv("SMALL_INHERITED", "from-sidecar", 1);
    setenv("SMALL_TOKEN", TOKEN, 1);
    static const char yaml[] = "http:\n"
                               "  listen: \"127.0.0.1:0\"\n"
                               "  token: ${SMALL_TOKEN}\n"
                               "services:\n"
                               "  main:\n"
                               "    role: main\n"
                               "    command: [sleep, \"60\"]\n"
                               "  printer:\n"
                               "    restart: never\n"
                               "    command: [env]\n"
                               "    env:\n"
                               "      SMALL_INHERITED: ~\n"
                               "      SMALL_NULL: null\n"
                               "      SMALL_BARE:\n"
                               "      SMALL_EMPTY: \"\"\n"
                               "      SMALL_TOKEN:\n"
                               "      SMALL_SET: yes\n";
    /* check agrees with run. */
    const char *path = h_temp_file(yaml);
    char out[4096];
    cr_expect_eq(h_run((const char *[]){"check", "-c", path, NULL}, out,
                       sizeof(out), H_WAIT),
                 0, "%s", out);
    unlink(path);

    h_start(&H, yaml);
    run_helpers((const char *[]){"printer"}, 1);
    /* As if the line were not there: sidecar's own value, or none. */
    cr_expect_str_eq(h_line_of(&H, "printer", "SMALL_INHERITED="),
                     "SMALL_INHERITED=from-sidecar");
    cr_expect_str_eq(h_line_of(&H, "printer", "SMALL_NULL="), "");
    cr_expect_str_eq(h_line_of(&H, "printer", "SMALL_BARE="), "");
    /* Naming the token's variable without a value does not pass it on. */
    cr_expect_str_eq(h_line_of(&H, "printer", "SMALL_TOKEN="), "");
    cr_expect_str_eq(h_line_of(&H, "printer", "SMALL_EMPTY="), "SMALL_EMPTY=");
    cr_expect_str_eq(h_line_of(&H, "printer", "SMALL_SET="), "SMALL_SET=yes");
}

/* Runs `printenv PWD` as services with and without cwd, and as an exec
 * probe; sidecar's own PWD is set to pwd first. */
static void start_pwd_printers(const char *pwd)
{
    cr_assert_eq(setenv("PWD", pwd, 1), 0);
    h_start(&H, "services:\n"
                "  main:\n"
                "    role: main\n"
                "    command: [sleep, \"60\"]\n"
                "  in-dir:\n"
                "    restart: never\n"
                "    cwd: @DIR@\n"
                "    command: [printenv, PWD]\n"
                "  in-dir-own:\n"
                "    restart: never\n"
                "    cwd: @DIR@\n"
                "    env: { PWD: /what/env/says }\n"
                "    command: [printenv, PWD]\n"
                "  inherits:\n"
                "    restart: never\n"
                "    command: [printenv, PWD]\n"
                "probes:\n"
                "  pwd:\n"
                "    type: exec\n"
                "    command: [printenv, PWD]\n"
                "    period: 10s\n"
                "    timeout: 5s\n"
                "    failure_threshold: 1\n"
                "    success_threshold: 1\n");
}

/* The reason of the probe's first state change: PWD, or "exit 1". */
static const char *probe_reason(void)
{
    size_t from = 0;
    long at = -1;
    double deadline = h_now() + H_WAIT;
    while (at < 0 && h_now() < deadline) {
        at = h_find_event(&H, from, "probe state changed", NULL);
        if (at < 0)
            h_pump(&H, 0.1);
    }
    cr_assert_geq(at, 0, "no probe state change");
    return strdup(h_str(&H, at, "reason") ?: "(none)");
}

T(pwd_is_the_cwd_of_a_service_that_has_one, 30)
{
    char cwd[4096];
    cr_assert(getcwd(cwd, sizeof(cwd)));
    start_pwd_printers(cwd);
    const char *reason = probe_reason();
    run_helpers((const char *[]){"in-dir", "in-dir-own", "inherits"}, 3);
    cr_expect_str_eq(h_line_of(&H, "in-dir", "/"), H.dir);
    cr_expect_str_eq(h_line_of(&H, "in-dir-own", "/"), "/what/env/says");
    /* sidecar's PWD names its cwd, which these inherit: kept. */
    cr_expect_str_eq(h_line_of(&H, "inherits", "/"), cwd);
    cr_expect_str_eq(reason, cwd);
}

T(a_pwd_that_is_not_the_cwd_is_not_passed_on, 30)
{
    char cwd[4096];
    cr_assert(getcwd(cwd, sizeof(cwd)));
    cr_assert_str_neq(cwd, "/");
    start_pwd_printers("/"); /* a directory, but not sidecar's */
    const char *reason = probe_reason();
    run_helpers((const char *[]){"in-dir", "in-dir-own", "inherits"}, 3);
    cr_expect_str_eq(h_line_of(&H, "in-dir", "/"), H.dir);
    cr_expect_str_eq(h_line_of(&H, "in-dir-own", "/"), "/what/env/says");
    cr_expect_str_eq(h_line_of(&H, "inherits", "/"), "");
    cr_expect_str_eq(reason, "exit 1");
}

/* `sidecar check` on yaml says ok, with counts (as "1 service, 1 probe"). */
static void expect_check_ok(const char *yaml, const char *counts)
{
    char out[4096];
    char want[512];
    const char *path = h_temp_file(yaml);
    cr_expect_eq(h_run((const char *[]){"check", "-c", path, NULL}, out,
                       sizeof(out), H_WAIT),
                 0, "%s", out);
    snprintf(want, sizeof(want),
             "%s: ok (%s; checked on this machine: "
             "users, groups, programs, directories, listen address, "
             "libmicrohttpd, libcurl)\n",
             path, counts);
    cr_expect_str_eq(out, want);
    unlink(path);
}

T(check_counts_agree_with_their_nouns, 30)
{
    expect_check_ok("services:\n"
                    "  web:\n"
                    "    role: main\n"
                    "    command: [sleep, \"1\"]\n"
                    "probes:\n"
                    "  port:\n"
                    "    type: tcp\n"
                    "    host: 127.0.0.1\n"
                    "    port: 1\n",
                    "1 service, 1 probe");
    expect_check_ok("services:\n"
                    "  web:\n"
                    "    role: main\n"
                    "    command: [sleep, \"1\"]\n"
                    "  cache:\n"
                    "    command: [sleep, \"1\"]\n",
                    "2 services, 0 probes");
}

/* Runs `sidecar ARGS` with stdout into out and stderr into err; its exit
 * status, -1 when it did not exit by itself. */
static int run_split(const char *const *args, char *out, char *err, size_t len)
{
    const char *bin = getenv("SIDECAR_BIN") ?: "../build/sidecar";
    const char *argv[16] = {bin};
    size_t argc = 1;
    for (size_t i = 0; args[i] && argc < 15; i++)
        argv[argc++] = args[i];
    argv[argc] = NULL;
    FILE *fo = tmpfile();
    FILE *fe = tmpfile();
    cr_assert(fo && fe);
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        dup2(fileno(fo), 1);
        dup2(fileno(fe), 2);
        execv(bin, (char *const *)argv);
        _exit(127);
    }
    int st;
    cr_assert_eq(waitpid(pid, &st, 0), pid);
    char *bufs[] = {out, err};
    FILE *files[] = {fo, fe};
    for (int i = 0; i < 2; i++) {
        rewind(files[i]);
        size_t n = fread(bufs[i], 1, len - 1, files[i]);
        bufs[i][n] = '\0';
        fclose(files[i]);
    }
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

T(each_command_has_its_own_help, 30)
{
    static const struct {
        const char *command;
        const char *has[3];   /* options it takes */
        const char *hasnt[2]; /* the other commands' */
    } cases[] = {
        {"run",
         {"-c, --config FILE", "--log-format", "--log-level"},
         {"sidecar check", "--url"}},
        {"check", {"-c, --config FILE"}, {"sidecar run", "--url"}},
        {"status", {"--url URL"}, {"sidecar run", "--config"}},
    };
    static char out[8192];
    static char err[8192];
    for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
        const char *cmd = cases[i].command;
        char head[64];
        snprintf(head, sizeof(head), "Usage: sidecar %s", cmd);
        for (int form = 0; form < 2; form++) {
            const char *flag = form ? "-h" : "--help";
            cr_expect_eq(run_split((const char *[]){cmd, flag, NULL}, out, err,
                                   sizeof(out)),
                         0, "%s %s", cmd, flag);
            cr_expect_str_empty(err, "%s %s: %s", cmd, flag, err);
            cr_expect(strncmp(out, head, strlen(head)) == 0, "%s %s: %s", cmd,
                      flag, out);
            for (size_t j = 0; j < 3 && cases[i].has[j]; j++)
                cr_expect(strstr(out, cases[i].has[j]), "%s: no %s in %s", cmd,
                          cases[i].has[j], out);
            for (size_t j = 0; j < 2; j++)
                cr_expect(!strstr(out, cases[i].hasnt[j]), "%s: %s in %s", cmd,
                          cases[i].hasnt[j], out);
        }
        /* An unknown option is still a usage error: that usage, exit 2. */
        cr_expect_eq(run_split((const char *[]){cmd, "--bogus", NULL}, out, err,
                               sizeof(out)),
                     2, "%s --bogus", cmd);
        cr_expect_str_empty(out, "%s --bogus: %s", cmd, out);
        cr_expect(strstr(err, head), "%s --bogus: %s", cmd, err);
    }
    /* Without a command: the global text, every command in it. */
    cr_expect_eq(
        run_split((const char *[]){"--help", NULL}, out, err, sizeof(out)), 0);
    cr_expect(strstr(out, "sidecar run") && strstr(out, "sidecar check") &&
                  strstr(out, "sidecar status"),
              "%s", out);
    cr_expect(strstr(out, "\n  -h, --help "), "no -h, --help line: %s", out);
    /* An unknown command is an error, --help or not. */
    cr_expect_eq(run_split((const char *[]){"frobnicate", "--help", NULL}, out,
                           err, sizeof(out)),
                 2);
    cr_expect(strstr(err, "unknown command 'frobnicate'"), "%s", err);
}
