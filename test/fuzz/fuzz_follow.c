/*
 * libFuzzer harness: `sidecar events`' stream parser (cli/follow.h) on
 * any bytes, as a hostile server could send them. Byte 0 picks how the
 * stream is cut. --json: the output is the same whole, a byte at a time
 * and in those pieces, and each line is one JSON object; readable: no
 * control byte reaches the terminal (C0 but the newline ending each line,
 * DEL, C1). Either way the line and event buffers stay within their cap.
 */
#define _DEFAULT_SOURCE /* open_memstream */
#define FUZZ_NAME       "fuzz_follow"
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/follow.h"
#include "test/fuzz/oracle.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* What f printed for the stream fed in pieces of step bytes (0: whole);
 * the caller frees it. */
static char *run(const char *p, size_t n, size_t step, bool json)
{
    char *out = NULL;
    char *err = NULL;
    size_t out_len, err_len;
    FILE *o = open_memstream(&out, &out_len);
    FILE *e = open_memstream(&err, &err_len);
    CHECK(o && e, "open_memstream");
    struct follow f;
    follow_init(&f, o, e, json);
    for (size_t i = 0; i < n;) {
        size_t k = step && n - i > step ? step : n - i;
        CHECK(follow_feed(&f, p + i, k), "a memory stream failed");
        CHECK(f.line.alloc <= FOLLOW_LINE_MAX * 2 &&
                  f.data.alloc <= FOLLOW_LINE_MAX * 2,
              "buffers of %zu and %zu bytes", f.line.alloc, f.data.alloc);
        i += k;
    }
    follow_free(&f);
    fclose(o);
    fclose(e);
    free(err);
    return out;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    size_t step = (size_t)data[0] % 64 + 1;
    const char *p = (const char *)data + 1;
    size_t n = size - 1;

    char *whole = run(p, n, 0, true);
    char *bytes = run(p, n, 1, true);
    char *pieces = run(p, n, step, true);
    CHECK(!strcmp(whole, bytes) && !strcmp(whole, pieces),
          "json: a byte at a time or in %zu-byte pieces differs", step);
    for (char *line = whole, *nl; (nl = strchr(line, '\n')); line = nl + 1) {
        json_t *o = json_loadb(line, (size_t)(nl - line), 0, NULL);
        CHECK(json_is_object(o), "json: a line is no object: %.*s",
              (int)(nl - line), line);
        json_decref(o);
    }
    free(whole);
    free(bytes);
    free(pieces);

    char *text = run(p, n, step, false);
    for (const unsigned char *c = (const unsigned char *)text; *c; c++) {
        CHECK((*c >= 0x20 || *c == '\n') && *c != 0x7f &&
                  !(c[0] == 0xc2 && c[1] >= 0x80 && c[1] <= 0x9f),
              "a control byte %#x printed", *c);
    }
    CHECK(!*text || text[strlen(text) - 1] == '\n', "a line left open");
    free(text);
    return 0;
}
