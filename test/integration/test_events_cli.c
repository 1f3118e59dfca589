/*
 * `sidecar events` (cli/follow.c) against a stand-in for GET /events
 * (test/helpers/fakesse.py): readable lines and --json lines from a
 * chunked stream cut anywhere, with ids, a ping, a `lost` event, an event
 * that is not JSON and one over 64 KiB (skipped, said so), then its end
 * (3); a 401 (4); nobody listening and nobody answering (3); lines that
 * come live; SIGINT (0, quietly) and a reader that goes away (SIGPIPE).
 */
#define _DEFAULT_SOURCE
#include <criterion/criterion.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

#define T(name, secs) Test(events_cli, name, .timeout = secs, .fini = teardown)

#define TS "2026-12-04T03:20:01.123Z "

static pid_t server;
static pid_t client;
static char portfile[256];
static char url[64];
static char out[16384];

static void teardown(void)
{
    if (client > 0) {
        kill(client, SIGKILL);
        waitpid(client, NULL, 0);
    }
    if (server > 0) {
        kill(server, SIGKILL);
        waitpid(server, NULL, 0);
        unlink(portfile);
        char req[300];
        snprintf(req, sizeof(req), "%s.req", portfile);
        unlink(req);
    }
}

/* fakesse.py in mode, its URL in url. */
static void serve(const char *mode)
{
    static char helper[512];
    const char *src = getenv("SIDECAR_SRC");

    snprintf(helper, sizeof(helper), "%s/test/helpers/fakesse.py",
             src && *src ? src : "..");
    snprintf(portfile, sizeof(portfile), "%s", h_temp_file(""));
    unlink(portfile);
    int port = h_run_port(
        (const char *[]){"/usr/bin/python3", helper, mode, portfile, NULL},
        portfile, &server);
    snprintf(url, sizeof(url), "http://127.0.0.1:%d", port);
}

/* The request the server read last. */
static const char *request(void)
{
    char path[300];
    snprintf(path, sizeof(path), "%s.req", portfile);
    return h_read_file(path);
}

static int events(const char *opt)
{
    return h_run((const char *[]){"events", "--url", url, opt, NULL}, out,
                 sizeof(out), H_WAIT);
}

T(readable_lines_until_the_stream_ends_then_3, 30)
{
    serve("script");
    cr_assert_eq(unsetenv("SIDECAR_TOKEN"), 0);
    cr_expect_eq(events(NULL), 3, "%s", out);
    static const char *const lines[] = {
        TS "service web: running -> backoff\n",
        /* The reason's first line; controls never reach the terminal. */
        TS "probe db: passing -> failing (HTTP 503)\n",
        " events lost: 3 left sidecar's ring before they could be read\n",
        TS "health: UP -> DEGRADED (live yes, ready yes, started yes)\n",
        TS "config reloaded (SIGHUP): added service:worker; changed "
           "probe:db\n",
        TS "something new n=7 who=\"a b\"\n",
        "sidecar: events: an event that is not a JSON object skipped: ",
        "sidecar: events: an event with a line over 65535 bytes skipped\n",
        TS "service web: running -> backoff\n",
        " ended the stream\n",
    };
    const char *at = out;
    for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
        const char *found = strstr(at, lines[i]);
        cr_expect(found, "no '%s' after: %s", lines[i], at);
        at = found ? found + strlen(lines[i]) : at;
    }
    cr_expect_null(strchr(out, '\x1b'), "%s", out);
    cr_expect_eq(h_count_of(out, "\n"), 10, "%s", out);
    const char *req = request();
    cr_expect(strncmp(req, "GET /events HTTP/1.1\r\n", 22) == 0, "%s", req);
    cr_expect(strstr(req, "\r\nAccept: text/event-stream\r\n"), "%s", req);
    cr_expect_null(strstr(req, "Authorization"), "%s", req);
}

T(json_lines_are_the_objects_as_sent, 30)
{
    serve("script");
    const char *file = h_temp_file("events-token-4c2b\n");
    cr_assert_eq(chmod(file, 0600), 0);
    cr_expect_eq(h_run((const char *[]){"events", "--json", "--token-file",
                                        file, "--url", url, NULL},
                       out, sizeof(out), H_WAIT),
                 3, "%s", out);
    unlink(file);
    cr_expect(strstr(out, "\n{\"lost\":3}\n"), "%s", out);
    cr_expect(strstr(out, "{\"ts\":\"2026-12-04T03:20:01.123Z\","
                          "\"level\":\"info\",\"msg\":\"something new\","
                          "\"n\":7,\"who\":\"a b\"}\n"),
              "%s", out);
    cr_expect(strstr(out, "HTTP 503\\nsecond line \\u001b[31m"), "%s", out);
    cr_expect_eq(h_count_of(out, "\n{"), 6, "%s", out); /* 7 objects */
    cr_expect(strstr(request(), "\r\nAuthorization: Bearer "
                                "events-token-4c2b\r\n"),
              "%s", request());
}

T(a_401_is_4, 30)
{
    serve("refuse");
    cr_assert_eq(unsetenv("SIDECAR_TOKEN"), 0);
    cr_expect_eq(events(NULL), 4, "%s", out);
    cr_expect_str_eq(out, "sidecar: events: no token: set $SIDECAR_TOKEN or "
                          "--token-file\n");
    cr_assert_eq(setenv("SIDECAR_TOKEN", "some-token", 1), 0);
    cr_expect_eq(events(NULL), 4, "%s", out);
    cr_expect_str_eq(out, "sidecar: events: the token was refused\n");
}

T(nobody_listening_or_answering_is_3, 30)
{
    snprintf(url, sizeof(url), "http://127.0.0.1:%d", h_free_port());
    cr_expect_eq(events(NULL), 3, "%s", out);
    char want[128];
    snprintf(want, sizeof(want),
             "sidecar: events: no answer from %s: Connection refused\n", url);
    cr_expect_str_eq(out, want);

    int port;
    int fd = h_listen(&port);
    cr_assert_geq(fd, 0);
    snprintf(url, sizeof(url), "http://127.0.0.1:%d", port);
    double t0 = h_now();
    cr_expect_eq(events("--json"), 3, "%s", out);
    cr_expect(strstr(out, ": timed out after 3s\n"), "%s", out);
    cr_expect_lt(h_now() - t0, 8);
    close(fd);
}

/* `sidecar events --json` with stdout on a pipe (its read end returned)
 * and stderr into err. */
static int start_client(const char *err)
{
    int fds[2];
    cr_assert_eq(pipe(fds), 0);
    client = fork();
    cr_assert_geq(client, 0);
    if (client == 0) {
        int e = open(err, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (e < 0 || dup2(fds[1], 1) < 0 || dup2(e, 2) < 0)
            _exit(120);
        close(fds[0]);
        const char *bin = getenv("SIDECAR_BIN");
        execl(bin ? bin : "../build/sidecar", "sidecar", "events", "--json",
              "--url", url, (char *)NULL);
        _exit(127);
    }
    close(fds[1]);
    return fds[0];
}

/* Reads fd into out until it holds lines lines, within timeout_s. */
static void read_lines(int fd, size_t lines, double timeout_s)
{
    size_t n = 0;
    double deadline = h_now() + timeout_s;
    out[0] = '\0';
    while (h_count_of(out, "\n") < lines && h_now() < deadline &&
           n + 1 < sizeof(out)) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, 100) <= 0)
            continue;
        ssize_t got = read(fd, out + n, sizeof(out) - 1 - n);
        if (got <= 0)
            break;
        n += (size_t)got;
        out[n] = '\0';
    }
}

/* Each line comes as it is sent (flushed: `| jq` works live); SIGINT ends
 * it with 0 and says nothing. */
T(lines_come_live_and_sigint_ends_quietly_with_0, 30)
{
    serve("hold");
    const char *err = h_temp_file("");
    int fd = start_client(err);
    /* Within 3 s: 15 events at most, under what a pipe's stdio buffer
     * would hold back. */
    read_lines(fd, 2, 3);
    cr_expect_geq(h_count_of(out, "\"msg\":\"service state changed\""), 2, "%s",
                  out);
    cr_assert_eq(kill(client, SIGINT), 0);
    int status;
    cr_assert_eq(waitpid(client, &status, 0), client);
    client = 0;
    cr_expect(WIFEXITED(status) && WEXITSTATUS(status) == 0, "status %#x",
              status);
    cr_expect_str_eq(h_read_file(err), "");
    close(fd);
    unlink(err);
}

/* A reader that goes away (`| head -1`) ends it as any filter: SIGPIPE. */
T(a_reader_that_goes_away_ends_it_by_sigpipe, 30)
{
    serve("hold");
    const char *err = h_temp_file("");
    int fd = start_client(err);
    read_lines(fd, 1, H_WAIT);
    cr_expect(strstr(out, "\"msg\":\"service state changed\""), "%s", out);
    close(fd);
    int status;
    cr_assert_eq(waitpid(client, &status, 0), client);
    client = 0;
    cr_expect(WIFSIGNALED(status) && WTERMSIG(status) == SIGPIPE, "status %#x",
              status);
    unlink(err);
}
