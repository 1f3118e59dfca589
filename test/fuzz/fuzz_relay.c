/*
 * libFuzzer harness: how a child's output becomes log lines. The input is
 * written, in chunks of a size it picks, into a pipe read by a real struct
 * relay (proc/relay.c) on a libev loop, with the log sink (log.c) on a
 * temporary file; then the child "exits" (relay_finish, log_close) and the
 * file is read back. In JSON format every line must be a JSON object of
 * the expected shape, no piece longer than max_line, and the pieces of
 * each line, joined, must decode to the input line (newline and one CR
 * before it removed) with invalid UTF-8 replaced by U+FFFD per byte. In
 * text format no line may hold a raw control character. A second mode
 * sends sidecar's own events (the LOG_* macros) with hostile field values.
 *
 * Input: byte 0 picks max_line, byte 1 the chunk size and the mode, the
 * rest is the child's output (or the event's message and field values).
 */
#define FUZZ_NAME "fuzz_relay"
#include <errno.h>
#include <ev.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/log.h"
#include "proc/relay.h"
#include "test/fuzz/oracle.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define SERVICE "web"
#define STREAM  "stdout"

static struct ev_loop *loop;
static int sink_fd = -1;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    char path[] = "/tmp/fuzz_relay.XXXXXX";
    (void)argc;
    (void)argv;
    loop = ev_default_loop(0);
    sink_fd = mkstemp(path);
    CHECK(loop && sink_fd >= 0, "set-up: %s", strerror(errno));
    unlink(path);
    return 0;
}

/* Appends what p[0..n) must decode to: invalid bytes as U+FFFD. */
static void add_expected(struct text *t, const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n;) {
        size_t k = well_formed(p + i, n - i);
        if (k) {
            text_add(t, p + i, k);
            i += k;
        } else {
            text_add(t, "\xef\xbf\xbd", 3);
            i++;
        }
    }
}

static size_t code_points(const char *s, size_t n)
{
    size_t count = 0;
    for (size_t i = 0; i < n; i++)
        count += ((unsigned char)s[i] & 0xc0) != 0x80;
    return count;
}

/* Writes all of p into the pipe, letting the loop run the relay. */
static void feed_pipe(int fd, const uint8_t *p, size_t n, size_t chunk)
{
    size_t off = 0;
    unsigned stuck = 0;
    while (off < n) {
        size_t want = n - off < chunk ? n - off : chunk;
        ssize_t w = write(fd, p + off, want);
        if (w > 0) {
            off += (size_t)w;
            stuck = 0;
        } else if (w < 0 && errno == EINTR) {
            continue;
        } else {
            CHECK(w < 0 && errno == EAGAIN, "write: %s", strerror(errno));
            CHECK(++stuck < 100000, "the relay stopped reading its pipe");
        }
        ev_run(loop, EVRUN_NOWAIT);
    }
}

/* Everything the sink wrote since the last rewind; caller frees. */
static char *read_sink(size_t *len)
{
    struct stat st;
    CHECK(fstat(sink_fd, &st) == 0, "fstat: %s", strerror(errno));
    char *out = malloc((size_t)st.st_size + 1);
    CHECK(out, "out of memory");
    CHECK(pread(sink_fd, out, (size_t)st.st_size, 0) == st.st_size, "pread");
    out[st.st_size] = '\0';
    *len = (size_t)st.st_size;
    return out;
}

static void rewind_sink(void)
{
    CHECK(ftruncate(sink_fd, 0) == 0 && lseek(sink_fd, 0, SEEK_SET) == 0,
          "truncate: %s", strerror(errno));
}

/* The lines the relay must produce from the child's output. */
static struct text *expected_lines(const uint8_t *p, size_t n, size_t *count)
{
    struct text *lines = calloc(n + 1, sizeof(*lines));
    size_t start = 0;
    CHECK(lines, "out of memory");
    *count = 0;
    for (size_t i = 0; i <= n; i++) {
        if (i < n && p[i] != '\n')
            continue;
        if (i == n && i == start)
            break; /* nothing after the last newline */
        size_t len = i - start;
        if (len && p[start + len - 1] == '\r')
            len--; /* CRLF output reads as LF */
        text_add(&lines[*count], "", 0);
        add_expected(&lines[(*count)++], p + start, len);
        start = i + 1;
    }
    return lines;
}

static const char *get_str(json_t *o, const char *key, size_t *len)
{
    json_t *v = json_object_get(o, key);
    CHECK(json_is_string(v), "\"%s\" is not a string", key);
    if (len)
        *len = json_string_length(v);
    return json_string_value(v);
}

/* Checks the JSON lines of the sink against the expected lines. */
static void check_json_lines(const char *out, size_t out_len,
                             const struct text *lines, size_t count,
                             size_t max_line)
{
    struct text joined = {NULL, 0, 0};
    size_t done = 0;
    const char *p = out;
    text_add(&joined, "", 0);
    while (p < out + out_len) {
        const char *nl = memchr(p, '\n', (size_t)(out + out_len - p));
        json_error_t err;
        size_t msg_len;
        CHECK(nl, "last line without a newline");
        json_t *o = json_loadb(p, (size_t)(nl - p), JSON_ALLOW_NUL, &err);
        CHECK(json_is_object(o), "not a JSON object: %s: %.*s", err.text,
              (int)(nl - p), p);
        get_str(o, "ts", NULL);
        CHECK(strcmp(get_str(o, "level", NULL), "info") == 0, "level");
        CHECK(strcmp(get_str(o, "service", NULL), SERVICE) == 0, "service");
        CHECK(strcmp(get_str(o, "stream", NULL), STREAM) == 0, "stream");
        const char *msg = get_str(o, "msg", &msg_len);
        json_t *partial = json_object_get(o, "partial");
        CHECK(!partial || json_is_true(partial), "partial");
        CHECK(json_object_size(o) == 5u + (partial != NULL), "extra keys");
        CHECK(code_points(msg, msg_len) <= max_line,
              "a piece of %zu characters, max_line %zu",
              code_points(msg, msg_len), max_line);
        text_add(&joined, msg, msg_len);
        if (!partial) {
            CHECK(done < count, "more lines than the %zu expected", count);
            const struct text *want = &lines[done];
            CHECK(joined.len == want->len &&
                      memcmp(joined.data, want->data, want->len) == 0,
                  "line %zu: got %zu bytes '%.*s', expected %zu '%.*s'", done,
                  joined.len, (int)joined.len, joined.data, want->len,
                  (int)want->len, want->data);
            done++;
            joined.len = 0;
        }
        json_decref(o);
        p = nl + 1;
    }
    CHECK(joined.len == 0, "a line ends in a partial piece");
    CHECK(done == count, "%zu lines, expected %zu", done, count);
    free(joined.data);
}

/* Text format: one line an event, no raw control byte but tabs. */
static void check_text_lines(const char *out, size_t len, size_t count,
                             bool child)
{
    size_t whole = 0;
    for (const char *p = out; p < out + len;) {
        const char *nl = memchr(p, '\n', (size_t)(out + len - p));
        CHECK(nl, "last line without a newline");
        for (const char *c = p; c < nl; c++)
            CHECK((unsigned char)*c >= 0x20 || *c == '\t',
                  "raw control byte 0x%02x in a text line", (unsigned char)*c);
        CHECK(nl - p > 24 && p[4] == '-' && p[23] == 'Z', "timestamp");
        if (child) {
            bool partial = strncmp(p + 24, " " SERVICE "[" STREAM "]+ ",
                                   strlen(SERVICE STREAM) + 5) == 0;
            CHECK(partial || strncmp(p + 24, " " SERVICE "[" STREAM "] ",
                                     strlen(SERVICE STREAM) + 4) == 0,
                  "prefix: %.*s", (int)(nl - p), p);
            whole += !partial;
        } else {
            whole++;
        }
        p = nl + 1;
    }
    CHECK(whole == count, "%zu lines, expected %zu", whole, count);
}

static void run_relay(const uint8_t *data, size_t size, size_t max_line,
                      size_t chunk, bool text)
{
    int fds[2];
    size_t count, out_len;
    CHECK(pipe(fds) == 0, "pipe: %s", strerror(errno));
    CHECK(fcntl(fds[0], F_SETFL, O_NONBLOCK) == 0 &&
              fcntl(fds[1], F_SETFL, O_NONBLOCK) == 0,
          "fcntl");
    struct relay *r = relay_new(loop, fds[0], SERVICE, STREAM, max_line);
    CHECK(r, "relay_new");
    feed_pipe(fds[1], data, size, chunk);
    close(fds[1]);
    ev_run(loop, EVRUN_NOWAIT);
    relay_finish(r);
    log_close(10.0);
    char *out = read_sink(&out_len);
    struct text *lines = expected_lines(data, size, &count);
    if (getenv("FUZZ_DEBUG"))
        fprintf(stderr, "%zu bytes in, %zu lines, %zu bytes out\n", size, count,
                out_len);
    if (text)
        check_text_lines(out, out_len, count, true);
    else
        check_json_lines(out, out_len, lines, count, max_line);
    for (size_t i = 0; i < count; i++)
        free(lines[i].data);
    free(lines);
    free(out);
}

/*
 * sidecar's own event: messages are literals, values come from outside
 * (probe output, errors, names): the input split at NULs into three.
 */
static void run_event(const uint8_t *data, size_t size, bool text)
{
    static const char *const keys[3] = {"reason", "output", "error"};
    char *copy = malloc(size + 3);
    const char *in[3];
    size_t out_len;
    CHECK(copy, "out of memory");
    memcpy(copy, data, size);
    memset(copy + size, 0, 3);
    in[0] = copy;
    for (size_t i = 1; i < 3; i++)
        in[i] = in[i - 1] + strlen(in[i - 1]) + (in[i - 1] < copy + size);
    LOG_ERROR("probe failed", LF_STR(keys[0], in[0]), LF_STR(keys[1], in[1]),
              LF_STR(keys[2], in[2]), LF_INT("n", (long long)size),
              LF_BOOL("b", size & 1), LF_STR("none", NULL));
    log_close(10.0);
    char *out = read_sink(&out_len);
    if (text) {
        check_text_lines(out, out_len, 1, false);
    } else {
        json_error_t err;
        json_t *o = json_loadb(out, out_len, JSON_ALLOW_NUL, &err);
        CHECK(json_is_object(o), "not a JSON object: %s: %s", err.text, out);
        CHECK(out_len && out[out_len - 1] == '\n' &&
                  !memchr(out, '\n', out_len - 1),
              "not one line");
        for (size_t i = 0; i < 3; i++) {
            struct text want = {NULL, 0, 0};
            size_t n;
            const char *s = get_str(o, keys[i], &n);
            text_add(&want, "", 0);
            add_expected(&want, (const uint8_t *)in[i], strlen(in[i]));
            CHECK(n == want.len && memcmp(s, want.data, n) == 0,
                  "\"%s\" does not round-trip", keys[i]);
            free(want.data);
        }
        CHECK(json_integer_value(json_object_get(o, "n")) == (long long)size,
              "n");
        CHECK(json_is_null(json_object_get(o, "none")), "none");
        json_decref(o);
    }
    free(out);
    free(copy);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    /* 4..131 bytes, to split often; or 256 bytes to 32 KiB in steps. */
    size_t max_line = data[0] < 128 ? 4u + data[0] : 256u * (data[0] - 127u);
    size_t chunk = (size_t)1 << ((data[1] & 0x0f) % 14);
    bool text = data[1] & 0x40;
    bool event = data[1] & 0x80;
    rewind_sink();
    log_set_format(text ? LOG_FORMAT_TEXT : LOG_FORMAT_JSON);
    log_set_level(LOG_LEVEL_INFO);
    CHECK(log_open(loop, sink_fd) == 0, "log_open");
    if (event)
        run_event(data + 2, size - 2, text);
    else
        run_relay(data + 2, size - 2, max_line, chunk, text);
    return 0;
}
