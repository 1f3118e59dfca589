/*
 * libFuzzer harness: the JSON string encoder of the logs and the HTTP
 * bodies, json_put_string(), on any bytes. The output must be one JSON
 * string (jansson parses it) whose text is the input with each byte that
 * is not part of a valid UTF-8 sequence replaced by U+FFFD, and nothing
 * else (json.h); a buffer too small for it must be left as it was.
 */
#define FUZZ_NAME "fuzz_json"
#include <errno.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/json.h"
#include "test/fuzz/oracle.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The text the encoding must decode to; *len set; caller frees. */
static char *expected_text(const uint8_t *p, size_t n, size_t *len)
{
    char *out = malloc(n * 3 + 1);
    size_t o = 0;
    CHECK(out, "out of memory");
    for (size_t i = 0; i < n;) {
        size_t k = well_formed(p + i, n - i);
        if (k) {
            memcpy(out + o, p + i, k);
            o += k;
            i += k;
        } else {
            memcpy(out + o, "\xef\xbf\xbd", 3);
            o += 3;
            i++;
        }
    }
    *len = o;
    return out;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct buf b;
    json_error_t err;
    size_t want_len;
    const char *s = (const char *)data;

    /* Room for any encoding: 6 bytes an input byte, quotes, a prefix. */
    buf_init(&b, size * 6 + 16);
    CHECK(buf_append(&b, "x", 1) == 0, "prefix");
    CHECK(json_put_string(&b, s, size) == 0, "encoding %zu bytes", size);
    CHECK(b.data[b.len] == '\0', "not terminated");
    for (size_t i = 1; i < b.len; i++)
        CHECK((unsigned char)b.data[i] >= 0x20, "raw control byte at %zu", i);
    json_t *j = json_loadb(b.data + 1, b.len - 1,
                           JSON_DECODE_ANY | JSON_ALLOW_NUL, &err);
    CHECK(j && json_is_string(j), "not a JSON string: %s: %.*s", err.text,
          (int)b.len, b.data);
    char *want = expected_text(data, size, &want_len);
    CHECK(json_string_length(j) == want_len &&
              memcmp(json_string_value(j), want, want_len) == 0,
          "decodes to %zu bytes, expected %zu", json_string_length(j),
          want_len);
    free(want);
    json_decref(j);

    /* One byte short of the encoding: -ENOBUFS and the prefix intact. */
    size_t full = b.len;
    buf_free(&b);
    buf_init(&b, full - 1);
    CHECK(buf_append(&b, "x", 1) == 0, "prefix");
    CHECK(json_put_string(&b, s, size) == -ENOBUFS, "fits in %zu", full - 1);
    CHECK(b.len == 1 && strcmp(b.data, "x") == 0, "buffer changed: %zu", b.len);
    buf_free(&b);
    return 0;
}
