/*
 * cli/follow's stream parser: what it prints does not depend on where the
 * stream is cut, and a line or an event past its cap is skipped without
 * being kept (memory stays within the caps).
 */
#define _DEFAULT_SOURCE /* open_memstream */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/follow.h"

#define EV1                                                                    \
    "{\"ts\":\"T1\",\"msg\":\"service state changed\",\"service\":\"web\","    \
    "\"from\":\"running\",\"to\":\"backoff\"}"
#define EV2                                                                    \
    "{\"ts\":\"T2\",\"msg\":\"probe state changed\",\"probe\":\"db\","         \
    "\"from\":\"unknown\",\"to\":\"passing\",\"reason\":\"HTTP 200\"}"

static const char stream[] = "retry: 1000\r\n\r\n: ping\n\nid: 1\ndata: " EV1
                             "\n\nid: 2\r\ndata:" EV2 "\r\n\r\n"
                             "event: lost\ndata: {\"lost\":-1}\n\n"
                             "data\n\n"
                             "id: 3\ndata: [1,2]\n\n"
                             "unknown: field\ndata: " EV1 "\n\n";

/* Feeds text in pieces of step bytes; what out and err got. */
static void feed(const char *text, size_t len, size_t step, bool json,
                 char **out, char **err)
{
    size_t out_len, err_len;
    FILE *o = open_memstream(out, &out_len);
    FILE *e = open_memstream(err, &err_len);
    cr_assert(o && e);
    struct follow f;
    follow_init(&f, o, e, json);
    for (size_t i = 0; i < len; i += step)
        cr_assert(follow_feed(&f, text + i, len - i < step ? len - i : step));
    cr_expect_leq(f.line.alloc, FOLLOW_LINE_MAX + 64);
    cr_expect_leq(f.data.alloc, FOLLOW_LINE_MAX + 64);
    follow_free(&f);
    fclose(o);
    fclose(e);
}

Test(follow, prints_the_same_wherever_the_stream_is_cut, .timeout = 10)
{
    char *whole, *whole_err;
    feed(stream, strlen(stream), strlen(stream), false, &whole, &whole_err);
    cr_expect(strstr(whole, "T1 service web: running -> backoff\n"
                            "T2 probe db: unknown -> passing (HTTP 200)\n"),
              "%s", whole);
    cr_expect(strstr(whole, "Z events lost: some left sidecar's ring"), "%s",
              whole);
    cr_expect(strstr(whole_err, "not a JSON object"), "%s", whole_err);
    for (size_t step = 1; step < 40; step += 3) {
        char *out, *err;
        feed(stream, strlen(stream), step, false, &out, &err);
        /* The lost line has the time it was read: all but that time. */
        const char *lost = strstr(out, "Z events lost");
        const char *whole_lost = strstr(whole, "Z events lost");
        cr_assert(lost && whole_lost, "step %zu: %s", step, out);
        size_t head = (size_t)(whole_lost - whole) - 23;
        cr_expect_eq(strncmp(out, whole, head), 0, "step %zu: %s", step, out);
        cr_expect_str_eq(lost, whole_lost);
        cr_expect_str_eq(err, whole_err);
        free(out);
        free(err);
    }
    free(whole);
    free(whole_err);
}

Test(follow, json_prints_each_object_as_sent, .timeout = 10)
{
    char *out, *err;
    feed(stream, strlen(stream), 7, true, &out, &err);
    cr_expect_str_eq(out, EV1 "\n" EV2 "\n{\"lost\":-1}\n" EV1 "\n");
    free(out);
    free(err);
}

/* A line that never ends is said at once, not when (never) it ends. */
Test(follow, a_line_past_the_cap_is_said_before_it_ends, .timeout = 20)
{
    size_t err_len;
    char *err;
    FILE *e = open_memstream(&err, &err_len);
    FILE *o = fopen("/dev/null", "w");
    cr_assert(o && e);
    struct follow f;
    follow_init(&f, o, e, false);
    char chunk[4096];
    memset(chunk, 'x', sizeof(chunk));
    cr_assert(follow_feed(&f, "data: ", 6));
    for (int i = 0; i < 64; i++) /* 256 KiB, no end of line */
        cr_assert(follow_feed(&f, chunk, sizeof(chunk)));
    fflush(e);
    cr_expect_str_eq(err, "sidecar: events: an event with a line over 65535 "
                          "bytes skipped\n");
    cr_expect_leq(f.line.alloc, FOLLOW_LINE_MAX + 64);
    follow_free(&f);
    fclose(o);
    fclose(e);
    free(err);
}

Test(follow, a_line_past_the_cap_is_skipped_not_kept, .timeout = 20)
{
    size_t big = (size_t)4 * FOLLOW_LINE_MAX;
    char *text = malloc(big + 256);
    cr_assert(text);
    strcpy(text, "data: \"");
    memset(text + 7, 'x', big);
    strcpy(text + 7 + big, "\"\n\nid: 9\ndata: " EV1 "\n\n");
    char *out, *err;
    feed(text, strlen(text), 4096, false, &out, &err);
    cr_expect_str_eq(out, "T1 service web: running -> backoff\n");
    cr_expect_str_eq(err, "sidecar: events: an event with a line over 65535 "
                          "bytes skipped\n");
    free(out);
    free(err);
    free(text);
}
