/*
 * The control commands (cli/ctl.c) against a real sidecar: restart, stop
 * and start a service, reload, push a ttl probe's result, with the token
 * from $SIDECAR_TOKEN or --token-file; and what a user sees when it goes
 * wrong: no token or a wrong one (4), an unknown name or a probe that is
 * not ttl (1, sidecar's message), the write API off (1, said so), a
 * broken config (1, FILE:LINE:COL), nobody listening or nobody answering
 * (3), a usage error (2).
 */
#define _DEFAULT_SOURCE
#include <criterion/criterion.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

#define T(name, secs) Test(control, name, .timeout = secs, .fini = teardown)

#define TOKEN "ctl-token-5d1e9a0b7c"

#define CONFIG                                                                 \
    "http:\n"                                                                  \
    "  listen: 127.0.0.1:0\n"                                                  \
    "  token: " TOKEN "\n"                                                     \
    "services:\n"                                                              \
    "  web:\n"                                                                 \
    "    role: main\n"                                                         \
    "    command: ['@HELPER@', 'run', 'web', '@DIR@/log']\n"                   \
    "probes:\n"                                                                \
    "  batch.job_1: { type: ttl, ttl: 1m }\n"                                  \
    "  port-one: { type: tcp, port: 1, period: 1m }\n"

static struct harness H;
static char url[64];
static char out[16384];

static void teardown(void)
{
    h_cleanup(&H);
}

static void start(const char *yaml)
{
    /* At debug, "service state changed" is logged. */
    h_start_args(&H, yaml, (const char *[]){"--log-level", "debug", NULL});
    snprintf(url, sizeof(url), "http://127.0.0.1:%d", h_http_port(&H));
    cr_assert_eq(unsetenv("SIDECAR_URL"), 0);
    cr_assert_eq(setenv("SIDECAR_TOKEN", TOKEN, 1), 0);
}

/* `sidecar ARGS... --url URL`: its exit status, its output in out. */
static int ctl(const char *a, const char *b, const char *c, const char *d)
{
    const char *args[8] = {a};
    size_t n = 1;
    for (const char *x[] = {b, c, d}, **p = x; p < x + 3 && *p; p++)
        args[n++] = *p;
    args[n++] = "--url";
    args[n++] = url;
    return h_run(args, out, sizeof(out), H_WAIT);
}

/* A token file in the test's directory with mode. */
static const char *token_file(const char *text, mode_t mode)
{
    static char path[256];
    snprintf(path, sizeof(path), "%s", h_path(&H, "token"));
    h_put_file(path, text);
    cr_assert_eq(chmod(path, mode), 0);
    return path;
}

T(service_commands_act_with_the_token_from_env_or_file, 40)
{
    start(CONFIG);
    cr_assert_not_null(h_wait_text(&H, "log", "start web", H_WAIT));
    size_t from = h_mark(&H);
    cr_expect_eq(ctl("restart", "web", NULL, NULL), 0, "%s", out);
    cr_expect(strncmp(out, "web: restarting (state ", 23) == 0, "%s", out);
    cr_expect_geq(
        h_wait_event(&H, from, H_WAIT, "service state changed", "web"), 0);

    /* The file wins over the environment; its newline is no part. */
    cr_assert_eq(setenv("SIDECAR_TOKEN", "not-the-token", 1), 0);
    const char *file = token_file(TOKEN "\n", 0600);
    cr_expect_eq(ctl("stop", "web", "--token-file", file), 0, "%s", out);
    cr_expect(strncmp(out, "web: stopping (state ", 21) == 0, "%s", out);
    cr_expect_null(strstr(out, "warning"), "%s", out);
    cr_expect(
        h_wait_status(&H, "/health/details", 200, out, sizeof(out), H_WAIT));
    double deadline = h_now() + H_WAIT;
    while (!strstr(out, "\"state\":\"stopped\"") && h_now() < deadline)
        h_get(&H, "/health/details", out, sizeof(out));
    cr_expect(strstr(out, "\"state\":\"stopped\""), "%s", out);

    /* A file every user may read works, with a warning. */
    file = token_file(TOKEN, 0644);
    cr_expect_eq(ctl("start", "web", "--token-file", file), 0, "%s", out);
    cr_expect(strstr(out, "web: starting (state "), "%s", out);
    cr_expect(strstr(out, "warning: --token-file"), "%s", out);
    cr_expect(strstr(out, "every user may read it (mode 0644)"), "%s", out);
    cr_expect_null(strstr(out, TOKEN), "%s", out);
}

/* The longest token http.token_file takes (4096 bytes and a newline):
 * the file sidecar reads works for the command too. */
T(the_longest_token_sidecar_reads_from_a_file_works, 30)
{
    static char tok[4096 + 2];
    memset(tok, 'k', 4096);
    strcpy(tok + 4096, "\n");
    char file[64];
    snprintf(file, sizeof(file), "%s", h_temp_file(tok));
    char yaml[1024];
    snprintf(yaml, sizeof(yaml),
             "http:\n"
             "  listen: 127.0.0.1:0\n"
             "  token_file: %s\n"
             "services:\n"
             "  web:\n"
             "    role: main\n"
             "    command: ['@HELPER@', 'run', 'web', '@DIR@/log']\n",
             file);
    start(yaml);
    cr_assert_eq(unsetenv("SIDECAR_TOKEN"), 0);
    cr_expect_eq(ctl("reload", "--token-file", file, NULL), 0, "%s", out);
    cr_expect_str_eq(out, "reloaded: nothing changed\n");
    unlink(file);
}

T(no_token_or_a_wrong_one_is_4_and_never_shown, 30)
{
    start(CONFIG);
    cr_assert_eq(unsetenv("SIDECAR_TOKEN"), 0);
    cr_expect_eq(ctl("restart", "web", NULL, NULL), 4, "%s", out);
    cr_expect_str_eq(out, "sidecar: restart web: no token: set "
                          "$SIDECAR_TOKEN or --token-file\n");
    cr_assert_eq(setenv("SIDECAR_TOKEN", "wrong-token-3f9e", 1), 0);
    cr_expect_eq(ctl("reload", NULL, NULL, NULL), 4, "%s", out);
    cr_expect_str_eq(out, "sidecar: reload: the token was refused\n");
    const char *file = token_file("wrong-token-from-file\n", 0600);
    cr_expect_eq(
        h_run((const char *[]){"probe", "pass", "batch.job_1", "--token-file",
                               file, "--url", url, NULL},
              out, sizeof(out), H_WAIT),
        4, "%s", out);
    cr_expect_str_eq(
        out, "sidecar: probe pass batch.job_1: the token was refused\n");
}

T(unknown_names_and_a_probe_not_ttl_are_refused_with_sidecars_words, 30)
{
    start(CONFIG);
    cr_expect_eq(ctl("restart", "nope", NULL, NULL), 1, "%s", out);
    cr_expect_str_eq(out, "sidecar: restart nope: no service named 'nope'\n");
    cr_expect_eq(ctl("probe", "fail", "nope", NULL), 1, "%s", out);
    cr_expect_str_eq(out, "sidecar: probe fail nope: no probe named 'nope'\n");
    cr_expect_eq(ctl("probe", "pass", "port-one", NULL), 1, "%s", out);
    cr_expect_str_eq(out, "sidecar: probe pass port-one: probe 'port-one' "
                          "is not a ttl probe\n");
    cr_expect_eq(ctl("start", "web", NULL, NULL), 1, "%s", out);
    cr_expect(strstr(out, "sidecar: start web: service 'web' is not stopped"),
              "%s", out);
    cr_expect_eq(ctl("stop", "a/b", NULL, NULL), 2, "%s", out);
    cr_expect_str_eq(out, "sidecar: stop a/b: no service can be named that: "
                          "names are up to 63 letters, digits, '.', '_' or "
                          "'-', starting with a letter or digit\n");
    /* Longer than any name: refused here, not by sidecar's generic 404. */
    char longest[200];
    memset(longest, 'a', sizeof(longest) - 1);
    longest[sizeof(longest) - 1] = '\0';
    cr_expect_eq(ctl("probe", "fail", longest, NULL), 2, "%s", out);
    cr_expect(strstr(out, ": no probe can be named that: "), "%s", out);
}

/* The reason goes as it is, spaces and percent signs too. */
T(probe_pass_and_fail_push_the_reason, 30)
{
    start(CONFIG);
    size_t from = h_mark(&H);
    cr_expect_eq(ctl("probe", "fail", "batch.job_1", "disk: 93% full"), 0, "%s",
                 out);
    cr_expect_str_eq(out, "batch.job_1: failed (state failing)\n");
    long i = h_wait_probe_state(&H, &from, "batch.job_1", "failing", H_WAIT);
    cr_assert_geq(i, 0);
    cr_expect_str_eq(h_str(&H, i, "reason"), "disk: 93% full");
    cr_expect_eq(ctl("probe", "pass", "batch.job_1", NULL), 0, "%s", out);
    cr_expect_str_eq(out, "batch.job_1: passed (state passing)\n");
    cr_expect_geq(
        h_wait_probe_state(&H, &from, "batch.job_1", "passing", H_WAIT), 0);
}

T(the_write_api_off_is_said_so, 30)
{
    start("services:\n"
          "  web:\n"
          "    role: main\n"
          "    command: ['@HELPER@', 'run', 'web', '@DIR@/log']\n");
    cr_expect_eq(ctl("restart", "web", NULL, NULL), 1, "%s", out);
    cr_expect_str_eq(out, "sidecar: restart web: the write API is off: this "
                          "sidecar has no http.token (nor "
                          "http.token_file)\n");
    cr_expect_eq(ctl("reload", NULL, NULL, NULL), 1, "%s", out);
    cr_expect(strstr(out, "sidecar: reload: the write API is off"), "%s", out);
}

T(reload_says_what_changed_or_where_the_file_is_wrong, 40)
{
    start(CONFIG);
    cr_expect_eq(ctl("reload", NULL, NULL, NULL), 0, "%s", out);
    cr_expect_str_eq(out, "reloaded: nothing changed\n");
    h_write_config(&H, H.cfg_path, NULL,
                   CONFIG "  extra: { type: ttl, ttl: 1m }\n", true);
    cr_expect_eq(ctl("reload", NULL, NULL, NULL), 0, "%s", out);
    cr_expect_str_eq(out, "reloaded: added probe:extra\n");
    h_put_file(H.cfg_path, "services:\n  web: [\n");
    cr_expect_eq(ctl("reload", NULL, NULL, NULL), 1, "%s", out);
    char want[256];
    snprintf(want, sizeof(want), "sidecar: reload: %s:3:1: ", H.cfg_path);
    cr_expect(strncmp(out, want, strlen(want)) == 0, "%s", out);
}

T(nobody_listening_is_3, 20)
{
    int port = h_free_port();
    snprintf(url, sizeof(url), "http://127.0.0.1:%d", port);
    cr_expect_eq(ctl("restart", "web", NULL, NULL), 3, "%s", out);
    char want[128];
    snprintf(want, sizeof(want),
             "sidecar: restart web: no answer from %s: Connection refused\n",
             url);
    cr_expect_str_eq(out, want);
}

T(a_server_that_never_answers_is_3_after_3s, 20)
{
    int port;
    int fd = h_listen(&port);
    cr_assert_geq(fd, 0);
    snprintf(url, sizeof(url), "http://127.0.0.1:%d", port);
    double t0 = h_now();
    cr_expect_eq(ctl("reload", NULL, NULL, NULL), 3, "%s", out);
    double took = h_now() - t0;
    cr_expect(strstr(out, "sidecar: reload: no answer from "), "%s", out);
    cr_expect(strstr(out, ": timed out after 3s\n"), "%s", out);
    cr_expect(took >= 2.9 && took < 8, "took %.2f s", took);
    close(fd);
}

/* Another web server at the URL: its 200 is not sidecar's "done". */
T(a_200_that_is_not_sidecars_answer_is_3, 20)
{
    int port;
    int fd = h_listen(&port);
    cr_assert_geq(fd, 0);
    snprintf(url, sizeof(url), "http://127.0.0.1:%d", port);
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        static const char page[] = "HTTP/1.1 200 OK\r\n"
                                   "Content-Type: text/html\r\n"
                                   "Content-Length: 14\r\n\r\n"
                                   "<p>welcome</p>";
        for (;;) {
            char req[8192];
            int c = accept(fd, NULL, NULL);
            if (c < 0)
                _exit(1);
            h_read_request(c, req, sizeof(req));
            if (write(c, page, sizeof(page) - 1) < 0)
                _exit(1);
            close(c);
        }
    }
    int code = ctl("restart", "web", NULL, NULL);
    int code2 = ctl("probe", "pass", "batch", NULL);
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    close(fd);
    cr_expect_eq(code, 3, "%s", out);
    cr_expect_eq(code2, 3, "%s", out);
    char want[160];
    snprintf(want, sizeof(want),
             "sidecar: probe pass batch: %s is not sidecar: HTTP 200 without "
             "its JSON answer\n",
             url);
    cr_expect_str_eq(out, want);
}

T(usage_errors_are_2_and_each_command_has_its_help, 30)
{
    static const char *const cmds[] = {"restart", "stop",  "start",
                                       "reload",  "probe", "events"};
    for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
        char want[64];
        cr_expect_eq(h_run((const char *[]){cmds[i], "--help", NULL}, out,
                           sizeof(out), H_WAIT),
                     0, "%s", out);
        snprintf(want, sizeof(want), "Usage: sidecar %s", cmds[i]);
        if (i < 3)
            snprintf(want, sizeof(want), "Usage: sidecar restart|stop|start");
        cr_expect(strncmp(out, want, strlen(want)) == 0, "%s", out);
    }
    snprintf(url, sizeof(url), "http://127.0.0.1:1");
    cr_expect_eq(ctl("restart", NULL, NULL, NULL), 2, "%s", out);
    cr_expect(strncmp(out, "sidecar: restart: expected SERVICE\nUsage:", 41) ==
                  0,
              "%s", out);
    cr_expect_eq(ctl("probe", "maybe", "x", NULL), 2, "%s", out);
    cr_expect(strstr(out, "sidecar: probe: expected pass or fail, found "
                          "'maybe'\n"),
              "%s", out);
    cr_expect_eq(ctl("reload", "now", NULL, NULL), 2, "%s", out);
    cr_expect(strstr(out, "sidecar: unexpected argument 'now'\n"), "%s", out);
    cr_expect_eq(ctl("stop", "web", "--json", NULL), 2, "%s", out);
    cr_expect(strstr(out, "sidecar: 'stop' takes no option --json\n"), "%s",
              out);
    cr_expect_eq(ctl("stop", "web", "--token-file", "/nonexistent/token"), 2,
                 "%s", out);
    cr_expect_str_eq(out, "sidecar: --token-file /nonexistent/token: cannot "
                          "open: No such file or directory\n");
    const char *empty = h_temp_file("\n");
    cr_assert_eq(chmod(empty, 0600), 0);
    cr_expect_eq(ctl("stop", "web", "--token-file", empty), 2, "%s", out);
    cr_expect(strstr(out, ": empty\n"), "%s", out);
    unlink(empty);
    /* Read as sidecar reads http.token_file: one newline goes, no more. */
    const char *crlf = h_temp_file(TOKEN "\r\n");
    cr_assert_eq(chmod(crlf, 0600), 0);
    cr_expect_eq(ctl("stop", "web", "--token-file", crlf), 2, "%s", out);
    cr_expect_str_eq(out, "sidecar: --token-file: the token holds a blank or "
                          "a control character\n");
    unlink(crlf);
    /* A FIFO in the token's place is refused, not waited on. */
    char fifo[] = "/tmp/sidecar-token-fifo-XXXXXX";
    cr_assert(mkdtemp(fifo));
    char fifo_path[64];
    snprintf(fifo_path, sizeof(fifo_path), "%s/token", fifo);
    cr_assert_eq(mkfifo(fifo_path, 0600), 0);
    cr_expect_eq(ctl("stop", "web", "--token-file", fifo_path), 2, "%s", out);
    cr_expect(strstr(out, ": not a regular file\n"), "%s", out);
    unlink(fifo_path);
    rmdir(fifo);
    cr_assert_eq(setenv("SIDECAR_TOKEN", "two words", 1), 0);
    cr_expect_eq(ctl("stop", "web", NULL, NULL), 2, "%s", out);
    cr_expect_str_eq(out, "sidecar: $SIDECAR_TOKEN: the token holds a blank "
                          "or a control character\n");
}

/* `sidecar events` against the real GET /events: the replay first, then
 * a restart made with `sidecar restart`, live, as readable lines. */
T(events_follows_the_real_stream_live, 40)
{
    start(CONFIG);
    int fds[2];
    cr_assert_eq(pipe(fds), 0);
    pid_t client = fork();
    cr_assert_geq(client, 0);
    if (client == 0) {
        if (dup2(fds[1], 1) < 0)
            _exit(120);
        close(fds[0]);
        const char *bin = getenv("SIDECAR_BIN");
        execl(bin ? bin : "../build/sidecar", "sidecar", "events", "--url", url,
              (char *)NULL);
        _exit(127);
    }
    close(fds[1]);
    char got[16384];
    size_t n = 0;
    got[0] = '\0';
    bool restarted = false;
    double deadline = h_now() + H_WAIT;
    while (!strstr(got, "service web: running -> ") && h_now() < deadline &&
           n + 1 < sizeof(got)) {
        /* The replay has the start; then restart, once. */
        if (!restarted && strstr(got, "service web: ")) {
            cr_expect_eq(ctl("restart", "web", NULL, NULL), 0, "%s", out);
            restarted = true;
        }
        struct pollfd p = {.fd = fds[0], .events = POLLIN};
        if (poll(&p, 1, 100) <= 0)
            continue;
        ssize_t r = read(fds[0], got + n, sizeof(got) - 1 - n);
        if (r <= 0)
            break;
        n += (size_t)r;
        got[n] = '\0';
    }
    kill(client, SIGINT);
    int status;
    cr_assert_eq(waitpid(client, &status, 0), client);
    close(fds[0]);
    cr_expect(restarted, "%s", got);
    cr_expect(strstr(got, "service web: running -> "), "%s", got);
    cr_expect(WIFEXITED(status) && WEXITSTATUS(status) == 0, "status %#x",
              status);
}
