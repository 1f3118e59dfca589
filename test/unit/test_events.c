/*
 * The event ring (api/events.c) without MHD: ids, its two bounds, where a
 * subscriber starts (the replay, Last-Event-ID, lost), and base/log's tap
 * that feeds it.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/events.h"
#include "base/log.h"

static void record_n(struct events *ev, int n, size_t len)
{
    char *json = malloc(len + 1);
    cr_assert(json);
    memset(json, 'x', len);
    json[0] = '{';
    json[len - 1] = '}';
    json[len] = '\0';
    for (int i = 0; i < n; i++)
        cr_assert_eq(events_record(ev, json, len), 0);
    free(json);
}

Test(events, ids_from_1_as_server_sent_events, .timeout = 5)
{
    struct events ev;
    events_init(&ev, NULL, 1);
    cr_expect_eq(events_oldest(&ev), 1);
    cr_expect_null(events_get(&ev, 1));
    cr_assert_eq(events_record(&ev, "{\"a\":1}", 7), 0);
    cr_assert_eq(events_record(&ev, "{\"b\":2}", 7), 0);
    const struct event *e = events_get(&ev, 2);
    cr_assert(e);
    cr_expect_eq(e->id, 2);
    cr_expect_eq(e->len, strlen("id: 2\ndata: {\"b\":2}\n\n"));
    cr_expect(memcmp(e->text, "id: 2\ndata: {\"b\":2}\n\n", e->len) == 0);
    cr_expect_eq(ev.recorded, 2);
    cr_expect_null(events_get(&ev, 3));
    events_free(&ev);
}

Test(events, at_most_256_the_oldest_go, .timeout = 5)
{
    struct events ev;
    events_init(&ev, NULL, 1);
    record_n(&ev, 300, 10);
    cr_expect_eq(ev.count, EVENTS_MAX);
    cr_expect_eq(events_oldest(&ev), 45);
    cr_expect_null(events_get(&ev, 44));
    cr_assert(events_get(&ev, 45));
    cr_expect_eq(events_get(&ev, 300)->id, 300);
    cr_expect_eq(ev.next_id, 301);
    events_free(&ev);
}

Test(events, at_most_128_kib, .timeout = 5)
{
    struct events ev;
    events_init(&ev, NULL, 1);
    record_n(&ev, 40, 10000);
    cr_expect_leq(ev.bytes, EVENTS_BYTES_MAX);
    cr_expect_eq(ev.count, EVENTS_BYTES_MAX / (10000 + 16));
    cr_expect_eq(events_oldest(&ev), 41 - ev.count);
    /* One alone over the bound is refused, and takes no id. */
    char *big = calloc(1, EVENTS_BYTES_MAX);
    cr_assert(big);
    cr_expect_eq(events_record(&ev, big, EVENTS_BYTES_MAX), -E2BIG);
    cr_expect_eq(ev.next_id, 41);
    free(big);
    events_free(&ev);
}

static void start(const struct events *ev, bool has, unsigned long long last,
                  unsigned long long want_first, long long want_lost)
{
    unsigned long long first;
    long long lost;
    events_start(ev, has, last, &first, &lost);
    cr_expect_eq(first, want_first, "last %llu: first %llu, not %llu", last,
                 first, want_first);
    cr_expect_eq(lost, want_lost, "last %llu: lost %lld, not %lld", last, lost,
                 want_lost);
}

Test(events, where_a_subscriber_starts, .timeout = 5)
{
    struct events ev;
    events_init(&ev, NULL, 1);
    start(&ev, false, 0, 1, 0); /* empty: the next one */
    start(&ev, true, 0, 1, 0);
    start(&ev, true, 5, 1, -1); /* above the newest */
    record_n(&ev, 10, 4);
    start(&ev, false, 0, 1, 0); /* fewer than 20: all */
    record_n(&ev, 290, 4);      /* 300: the ring holds 45..300 */
    start(&ev, false, 0, 281, 0);
    start(&ev, true, 290, 291, 0);
    start(&ev, true, 300, 301, 0); /* caught up */
    start(&ev, true, 301, 45, -1);
    start(&ev, true, 44, 45, 0); /* the oldest is the next one */
    start(&ev, true, 43, 45, 1);
    start(&ev, true, 0, 45, 44);
    events_free(&ev);
}

/* Ids from an earlier process are below this one's first. */
Test(events, an_id_of_another_process_resumes_nothing, .timeout = 5)
{
    struct events ev;
    events_init(&ev, NULL, 1000);
    start(&ev, true, 5, 1000, -1);  /* empty, and an earlier process's */
    start(&ev, true, 999, 1000, 0); /* just before the first: none lost */
    record_n(&ev, 10, 4);           /* 1000..1009 */
    start(&ev, false, 0, 1000, 0);
    start(&ev, true, 5, 1000, -1);
    start(&ev, true, 998, 1000, -1);
    start(&ev, true, 1004, 1005, 0);
    start(&ev, true, 1010, 1000, -1); /* above the newest */
    cr_expect_eq(events_oldest(&ev), 1000);
    cr_expect(events_get(&ev, 1009));
    cr_expect_null(events_get(&ev, 999));
    events_free(&ev);
}

static char tapped[4096];
static int taps;

static void tap(void *ctx, const char *json, size_t len)
{
    cr_assert_eq(ctx, &taps);
    cr_assert_lt(len, sizeof(tapped));
    memcpy(tapped, json, len);
    tapped[len] = '\0';
    taps++;
}

Test(events, the_tap_gets_state_changes_whatever_the_level, .timeout = 5)
{
    log_set_level(LOG_LEVEL_ERROR);
    log_set_format(LOG_FORMAT_TEXT);
    log_set_tap(tap, &taps);
    LOG_INFO("not a change", LF_STR("k", "v"));
    cr_expect_eq(taps, 0);
    LOG_CHANGE(LOG_LEVEL_DEBUG, "service state changed",
               LF_STR("service", "web"), LF_INT("n", 3), LF_BOOL("b", true));
    cr_assert_eq(taps, 1);
    json_error_t err;
    json_t *o = json_loads(tapped, 0, &err);
    cr_assert(o, "%s: %s", tapped, err.text);
    cr_expect_str_eq(json_string_value(json_object_get(o, "level")), "debug");
    cr_expect_str_eq(json_string_value(json_object_get(o, "msg")),
                     "service state changed");
    cr_expect_str_eq(json_string_value(json_object_get(o, "service")), "web");
    cr_expect_eq(json_integer_value(json_object_get(o, "n")), 3);
    cr_expect(json_is_true(json_object_get(o, "b")));
    cr_expect(json_is_string(json_object_get(o, "ts")));
    cr_expect_null(strchr(tapped, '\n'));
    json_decref(o);
    log_set_tap(NULL, NULL);
    LOG_CHANGE(LOG_LEVEL_ERROR, "after", LF_INT("n", 1));
    cr_expect_eq(taps, 1);
}

Test(events, the_tap_feeds_the_ring, .timeout = 5)
{
    struct events ev;
    events_init(&ev, NULL, 1);
    log_set_level(LOG_LEVEL_ERROR);
    log_set_tap(events_tap, &ev);
    LOG_CHANGE(LOG_LEVEL_INFO, "health changed", LF_STR("to", "UP"));
    log_set_tap(NULL, NULL);
    const struct event *e = events_get(&ev, 1);
    cr_assert(e);
    cr_expect(strstr(e->text, "\"msg\":\"health changed\",\"to\":\"UP\"}\n\n"),
              "%.*s", (int)e->len, e->text);
    events_free(&ev);
}
