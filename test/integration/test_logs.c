/*
 * The log stream as `kubectl logs | jq` sees it: every line one valid JSON
 * object, children's output relayed in order and complete, hostile bytes
 * escaped, long lines split and marked, back-pressure instead of loss.
 */
#define _DEFAULT_SOURCE
#include <criterion/criterion.h>
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
    h_cleanup(&H);
}

#define T(name, secs) Test(logs, name, .timeout = secs, .fini = teardown)

static const char one_shot[] = "services:\n"
                               "  main:\n"
                               "    role: main\n"
                               "    restart: never\n"
                               "    command: ['@HELPER@', %s]\n"
                               "log:\n"
                               "  max_line: %s\n";

static void start_one_shot(const char *args, const char *max_line)
{
    char yaml[1024];
    snprintf(yaml, sizeof(yaml), one_shot, args, max_line);
    h_start(&H, yaml);
}

/* Lines the child wrote to stdout, in order, as json objects. */
static size_t child_lines(json_t **out, size_t max)
{
    size_t n = 0;
    for (size_t i = 0; i < H.count && n < max; i++) {
        const char *stream = h_str(&H, (long)i, "stream");
        if (stream && strcmp(stream, "stdout") == 0)
            out[n++] = H.json[i];
    }
    return n;
}

T(hundred_thousand_lines_arrive_complete_and_in_order, 60)
{
    start_one_shot("'spam', '100000'", "16KiB");
    cr_assert_eq(h_wait_exit(&H, 50), 0);
    cr_expect_eq(H.invalid, 0, "%zu lines were not valid JSON", H.invalid);
    long want = 1;
    for (size_t i = 0; i < H.count; i++) {
        const char *m = h_str(&H, (long)i, "msg");
        const char *stream = h_str(&H, (long)i, "stream");
        if (!stream)
            continue;
        cr_expect_str_eq(h_str(&H, (long)i, "service"), "main");
        char expect[32];
        snprintf(expect, sizeof(expect), "line %ld", want);
        cr_assert_str_eq(m, expect, "line %zu out of order", i);
        want++;
    }
    cr_expect_eq(want - 1, 100000, "got %ld lines", want - 1);
}

T(hostile_bytes_become_valid_json, 20)
{
    start_one_shot("'bytes'", "16KiB");
    cr_assert_eq(h_wait_exit(&H, 10), 0);
    cr_expect_eq(H.invalid, 0);
    json_t *lines[4];
    cr_assert_eq(child_lines(lines, 4), 1);
    json_t *msg = json_object_get(lines[0], "msg");
    static const char want[] = "nul:\0 ctl:\x01\x1f esc:\x1b[31m "
                               "bad:\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd "
                               "quote:\" bs:\\ ok:\xc3\xa9";
    cr_assert_eq(json_string_length(msg), sizeof(want) - 1);
    cr_expect(memcmp(json_string_value(msg), want, sizeof(want) - 1) == 0);
}

T(last_line_without_newline_is_flushed_before_exit_event, 20)
{
    start_one_shot("'partial', 'no newline at the end'", "16KiB");
    cr_assert_eq(h_wait_exit(&H, 10), 0);
    json_t *lines[4];
    cr_assert_eq(child_lines(lines, 4), 1);
    cr_expect_str_eq(json_string_value(json_object_get(lines[0], "msg")),
                     "no newline at the end");
    long line = -1;
    for (size_t i = 0; i < H.count; i++) {
        if (H.json[i] == lines[0])
            line = (long)i;
    }
    cr_expect_lt(line, h_find_event(&H, 0, "service exited", "main"));
}

T(long_lines_are_split_at_the_cap_and_marked, 20)
{
    start_one_shot("'long', '40000'", "16KiB");
    cr_assert_eq(h_wait_exit(&H, 10), 0);
    json_t *lines[8];
    size_t n = child_lines(lines, 8);
    cr_assert_eq(n, 3);
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        size_t len = json_string_length(json_object_get(lines[i], "msg"));
        bool partial = json_is_true(json_object_get(lines[i], "partial"));
        cr_expect_eq(partial, i < 2, "piece %zu partial=%d", i, partial);
        cr_expect_leq(len, 16384);
        total += len;
    }
    cr_expect_eq(total, 40000);
}

static long rss_kib(pid_t pid)
{
    char path[64];
    char line[256];
    long kib = -1;
    snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    while (fgets(line, sizeof(line), f)) {
        if (sscanf(line, "VmRSS: %ld kB", &kib) == 1)
            break;
    }
    fclose(f);
    return kib;
}

/* How many lines of children's output arrived. */
static size_t relayed_lines(void)
{
    size_t n = 0;
    for (size_t k = 0; k < H.count; k++)
        n += h_str(&H, (long)k, "stream") != NULL;
    return n;
}

/*
 * True once pid has been asleep ('S': blocked writing to its full pipe, as
 * nobody reads) in 20 looks 10 ms apart in a row, within timeout_s.
 */
static bool wait_blocked(pid_t pid, double timeout_s)
{
    double deadline = h_now() + timeout_s;
    for (int asleep = 0; asleep < 20; usleep(10000)) {
        if (h_now() > deadline)
            return false;
        asleep = h_proc_state(pid) == 'S' ? asleep + 1 : 0;
    }
    return true;
}

T(slow_reader_pauses_the_child_instead_of_buffering, 60)
{
    start_one_shot("'spam', '200000'", "16KiB");
    long i = h_wait_event(&H, 0, H_WAIT, "service started", "main");
    cr_assert_geq(i, 0);
    pid_t child = (pid_t)h_int(&H, i, "pid", -1);
    long before = rss_kib(H.pid);
    /* Stop reading: sidecar's stdout pipe fills, then the child's. */
    bool blocked = wait_blocked(child, H_WAIT);
    long during = rss_kib(H.pid);
    cr_expect(blocked, "child not blocked on its pipe (state %c)",
              h_proc_state(child));
    /* The relay holds at most 256 KiB plus one chunk; 10 MB were waiting. */
    cr_expect_lt(during - before, 2 * 1024,
                 "RSS grew %ld KiB while stdout was blocked", during - before);
    cr_assert_eq(h_wait_exit(&H, 50), 0);
    size_t n = relayed_lines();
    cr_expect_eq(n, 200000, "lines lost: got %zu", n);
}

T(a_burst_of_empty_lines_is_paced_per_line_and_loses_nothing, 60)
{
    /*
     * 64 KiB writes of newlines from a long name: each byte becomes a
     * ~150-byte object, 10 MB a write. Pacing per line keeps that out of
     * memory while nobody reads; pacing per read would not.
     */
    h_start(
        &H,
        "services:\n"
        "  a-service-name-that-is-sixty-three-characters-long-abcdefghijk:\n"
        "    role: main\n"
        "    restart: never\n"
        "    command: 'sleep 0.5; exec @HELPER@ newlines 262144'\n");
    long i = h_wait_event(&H, 0, H_WAIT, "service started", NULL);
    cr_assert_geq(i, 0);
    long before = rss_kib(H.pid); /* while the child still sleeps */
    pid_t child = (pid_t)h_int(&H, i, "pid", -1);
    cr_assert(h_wait_comm(child, "fakesvc", H_WAIT), "newlines never ran");
    cr_expect(wait_blocked(child, H_WAIT), "child not blocked on its pipe");
    long during = rss_kib(H.pid);
    cr_expect_lt(during - before, 2 * 1024,
                 "RSS grew %ld KiB while stdout was blocked", during - before);
    cr_assert_eq(h_wait_exit(&H, 50), 0);
    size_t n = relayed_lines();
    cr_expect_eq(n, 262144, "lines lost: got %zu", n);
    cr_expect_eq(h_find_event(&H, 0,
                              "log output could not keep up; events were "
                              "dropped",
                              NULL),
                 -1);
}

T(text_format_renders_the_same_events, 20)
{
    const char *args[] = {"--log-format", "text", NULL};
    h_start_args(&H,
                 "services:\n"
                 "  main:\n"
                 "    role: main\n"
                 "    restart: never\n"
                 "    command: ['@HELPER@', 'partial', 'hi there']\n",
                 args);
    cr_assert_eq(h_wait_exit(&H, 10), 0);
    bool started = false;
    bool relayed = false;
    for (size_t i = 0; i < H.count; i++) {
        started |=
            strstr(H.raw[i], " INFO  service started service=main ") != NULL;
        relayed |= strstr(H.raw[i], " main[stdout] hi there") != NULL;
    }
    cr_expect(started);
    cr_expect(relayed);
}

T(events_carry_timestamp_level_and_typed_fields, 20)
{
    start_one_shot("'exit', '3'", "16KiB");
    cr_assert_eq(h_wait_exit(&H, 10), 3);
    long i = h_find_event(&H, 0, "service exited", "main");
    cr_assert_geq(i, 0);
    const char *ts = h_str(&H, i, "ts");
    cr_assert(ts);
    /* 2026-11-23T12:51:55.123Z */
    cr_expect_eq(strlen(ts), 24);
    cr_expect_eq(ts[10], 'T');
    cr_expect_eq(ts[19], '.');
    cr_expect_eq(ts[23], 'Z');
    cr_expect_str_eq(h_str(&H, i, "level"), "warn");
    cr_expect(json_is_integer(json_object_get(H.json[i], "exit_code")));
    cr_expect(json_is_integer(json_object_get(H.json[i], "pid")));
}
