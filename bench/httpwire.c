/*
 * bench/httpwire — prints figures, asserts nothing (not a test).
 * The CPU cost of what a native http probe does per run besides the
 * system calls: reset the parser, parse a typical 200 answer (fakehttp's,
 * and a Go net/http one with a Date header and a chunked body) in one
 * read, and judge it (probes/httpcheck.c). Also the one-time cost of
 * writing the request. Usage: build/bench/httpwire [ITERATIONS]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "probes/httpcheck.h"
#include "probes/httpwire.h"

static const char fakehttp[] = "HTTP/1.1 200 OK\r\n"
                               "Content-Type: text/plain\r\n"
                               "Content-Length: 2\r\n"
                               "Connection: close\r\n"
                               "\r\n"
                               "ok";

static const char gohttp[] = "HTTP/1.1 200 OK\r\n"
                             "Content-Type: application/json\r\n"
                             "Date: Thu, 03 Dec 2026 16:50:00 GMT\r\n"
                             "Connection: close\r\n"
                             "Transfer-Encoding: chunked\r\n"
                             "\r\n"
                             "1b\r\n{\"status\":\"ok\",\"checks\":[]}\r\n"
                             "0\r\n\r\n";

static char body[HTTPCHECK_BODY_MAX];

static double cpu_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/* cfg NULL: parse only. */
static double per_answer(const struct cfg_probe *cfg, const char *answer,
                         long n)
{
    struct httpwire r;
    char reason[512];
    size_t len = strlen(answer);
    unsigned passed = 0;
    double t0;

    httpwire_init(&r, body, sizeof(body), NULL, 0, false);
    t0 = cpu_ns();
    for (long i = 0; i < n; i++) {
        httpwire_reset(&r);
        if (httpwire_feed(&r, answer, len) != HTTPWIRE_DONE)
            continue;
        passed +=
            cfg == NULL || httpcheck_judge(cfg, r.status, r.body, r.body_len,
                                           r.truncated, reason, sizeof(reason));
    }
    if (passed != (unsigned)n) {
        fprintf(stderr, "httpwire: %u of %ld passed\n", passed, n);
        exit(1);
    }
    return (cpu_ns() - t0) / (double)n;
}

int main(int argc, char **argv)
{
    long n = argc > 1 ? atol(argv[1]) : 1000000;
    struct cfg_status_range range = {200, 399};
    struct cfg_header hd = {"X-Probe", "sidecar"};
    struct cfg_probe cfg = {
        .url = "http://127.0.0.1:8080/healthz?full=1",
        .method = "GET",
        .headers = &hd,
        .headers_count = 1,
        .expect_status = &range,
        .expect_status_count = 1,
    };
    char req[512];
    char err[128];
    size_t len;
    double t0;
    long m = n / 10 ? n / 10 : 1;

    t0 = cpu_ns();
    for (long i = 0; i < m; i++) {
        if (httpwire_request(&cfg, req, sizeof(req), &len, err, sizeof(err)))
            return 1;
    }
    printf("request, once per probe:        %6.0f ns (%zu bytes)\n",
           (cpu_ns() - t0) / (double)m, len);
    printf("fakehttp 200, parse only:       %6.0f ns per run\n",
           per_answer(NULL, fakehttp, n));
    printf("fakehttp 200, 2-byte body:      %6.0f ns per run\n",
           per_answer(&cfg, fakehttp, n));
    printf("Go-style 200, chunked JSON:     %6.0f ns per run\n",
           per_answer(&cfg, gohttp, n));
    cfg.expect_body = "\"ok\"";
    printf("same, with expect_body:         %6.0f ns per run\n",
           per_answer(&cfg, gohttp, n));
    return 0;
}
