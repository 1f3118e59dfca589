/*
 * `sidecar status`'s own HTTP/1.1 client (cli/status.c) against canned
 * answers from a server in a forked child: Content-Length, chunked, up to
 * the close, a status other than 200, a body over 4 MiB, a body cut short
 * and a server that never answers. Each is what a user sees: the table
 * and exit 0 for a good answer, else one line on stderr and exit 3.
 */
#define _DEFAULT_SOURCE
#include <criterion/criterion.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

#define T(name, secs) Test(status, name, .timeout = secs, .fini = teardown)

#define DETAILS                                                                \
    "{\"name\":\"canned\",\"version\":\"9.9\",\"status\":\"UP\","              \
    "\"live\":true,\"ready\":true,\"started\":true,\"services\":[],"           \
    "\"probes\":[]}"

static pid_t server;
static int port;
static bool hold_open; /* serve() keeps the connection open after it */

static void teardown(void)
{
    hold_open = false;
    if (server > 0) {
        kill(server, SIGKILL);
        waitpid(server, NULL, 0);
        server = 0;
    }
}

/* Serves head then body (len bytes) to one client, then closes; with
 * head NULL, reads the request and never answers. */
static void serve(const char *head, const char *body, size_t len)
{
    int fd = h_listen(&port);
    cr_assert_geq(fd, 0);
    server = fork();
    cr_assert_geq(server, 0);
    if (server > 0) {
        close(fd);
        return;
    }
    int c = accept(fd, NULL, NULL);
    char req[4096];
    (void)h_read_request(c, req, sizeof(req));
    if (!head) {
        pause();
        _exit(0);
    }
    if (write(c, head, strlen(head)) < 0 || (len && write(c, body, len) < 0))
        _exit(1);
    if (hold_open)
        pause();
    close(c);
    _exit(0);
}

static int status_cmd(char *out, size_t len)
{
    char url[64];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d", port);
    return h_run((const char *[]){"status", "--url", url, NULL}, out, len, 10);
}

T(a_content_length_answer_is_read_whole, 15)
{
    static char out[8192];
    char head[128];
    snprintf(head, sizeof(head),
             "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
             "content-length: %zu\r\n\r\n",
             strlen(DETAILS));
    serve(head, DETAILS "trailing bytes past the length", strlen(DETAILS) + 30);
    cr_expect_eq(status_cmd(out, sizeof(out)), 0, "%s", out);
    cr_expect(strstr(out, "canned 9.9: UP  (live yes, ready yes, started yes)"),
              "%s", out);
}

T(a_chunked_answer_is_decoded, 15)
{
    static char out[8192];
    static char body[1024];
    size_t half = strlen(DETAILS) / 2;
    snprintf(body, sizeof(body), "%zx;ext=1\r\n%.*s\r\n%zx\r\n%s\r\n0\r\n\r\n",
             half, (int)half, DETAILS, strlen(DETAILS) - half, DETAILS + half);
    serve("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", body,
          strlen(body));
    cr_expect_eq(status_cmd(out, sizeof(out)), 0, "%s", out);
    cr_expect(strstr(out, "canned 9.9: UP"), "%s", out);
}

T(an_answer_up_to_the_close_is_read_whole, 15)
{
    static char out[8192];
    serve("HTTP/1.0 200 OK\r\n\r\n", DETAILS, strlen(DETAILS));
    cr_expect_eq(status_cmd(out, sizeof(out)), 0, "%s", out);
    cr_expect(strstr(out, "canned 9.9: UP"), "%s", out);
}

/* The answer ends at its length or its last chunk, as libcurl read it: a
 * server (a proxy) that keeps the connection open anyway is no timeout. */
T(an_answer_is_complete_at_its_end_though_the_connection_stays, 15)
{
    static char out[8192];
    static char chunked[1024];
    char head[128];
    double t0;

    snprintf(head, sizeof(head),
             "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\n\r\n", strlen(DETAILS));
    hold_open = true;
    serve(head, DETAILS, strlen(DETAILS));
    t0 = h_now();
    cr_expect_eq(status_cmd(out, sizeof(out)), 0, "%s", out);
    cr_expect(strstr(out, "canned 9.9: UP"), "%s", out);
    cr_expect_lt(h_now() - t0, 2, "waited for the close");
    teardown();
    snprintf(chunked, sizeof(chunked), "%zx\r\n%s\r\n0\r\n\r\n",
             strlen(DETAILS), DETAILS);
    hold_open = true;
    serve("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", chunked,
          strlen(chunked));
    t0 = h_now();
    cr_expect_eq(status_cmd(out, sizeof(out)), 0, "%s", out);
    cr_expect(strstr(out, "canned 9.9: UP"), "%s", out);
    cr_expect_lt(h_now() - t0, 2, "waited for the close");
}

/* 100 Continue or 103 Early Hints come before the answer (a proxy may send
 * them): skipped, as libcurl did. */
T(interim_1xx_answers_are_skipped, 15)
{
    static char out[8192];
    char head[256];

    snprintf(head, sizeof(head),
             "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\n"
             "Link: </a>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: %zu\r\n\r\n",
             strlen(DETAILS));
    serve(head, DETAILS, strlen(DETAILS));
    cr_expect_eq(status_cmd(out, sizeof(out)), 0, "%s", out);
    cr_expect(strstr(out, "canned 9.9: UP"), "%s", out);
}

T(a_status_but_200_is_unreachable, 15)
{
    static char out[8192];
    serve("HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\n\r\n", "not found",
          9);
    cr_expect_eq(status_cmd(out, sizeof(out)), 3, "%s", out);
    cr_expect(strstr(out, "/health/details: HTTP 404\n"), "%s", out);
}

T(a_body_cut_short_or_malformed_is_unreachable, 15)
{
    static char out[8192];
    serve("HTTP/1.1 200 OK\r\nContent-Length: 500\r\n\r\n", DETAILS,
          strlen(DETAILS));
    cr_expect_eq(status_cmd(out, sizeof(out)), 3, "%s", out);
    cr_expect(strstr(out, "closed before the body's end"), "%s", out);
    teardown();
    serve("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
          "zz\r\nabc\r\n", 9);
    cr_expect_eq(status_cmd(out, sizeof(out)), 3, "%s", out);
    cr_expect(strstr(out, "a malformed chunk in a chunked body"), "%s", out);
}

T(a_body_over_4_mib_is_refused, 20)
{
    static char out[8192];
    size_t len = (size_t)5 * 1024 * 1024;
    char *big = malloc(len);
    cr_assert(big);
    memset(big, ' ', len);
    serve("HTTP/1.1 200 OK\r\n\r\n", big, len);
    free(big);
    cr_expect_eq(status_cmd(out, sizeof(out)), 3, "%s", out);
    cr_expect(strstr(out, "larger than 4 MiB"), "%s", out);
}

T(a_server_that_never_answers_times_out_after_3s, 15)
{
    static char out[8192];
    serve(NULL, NULL, 0);
    double t0 = h_now();
    cr_expect_eq(status_cmd(out, sizeof(out)), 3, "%s", out);
    double took = h_now() - t0;
    cr_expect(strstr(out, "timed out after 3s"), "%s", out);
    cr_expect(took >= 2.9 && took < 6, "took %.2f s", took);
}
