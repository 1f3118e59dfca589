#include <criterion/criterion.h>
#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "base/json.h"

/* Encodes s[0..n) and returns the JSON text (static buffer). */
static const char *enc(const char *s, size_t n)
{
    static char out[1024];
    struct buf b;
    buf_init(&b, 1024);
    cr_assert_eq(json_put_string(&b, s, n), 0);
    cr_assert_lt(b.len, sizeof(out));
    memcpy(out, b.data, b.len);
    out[b.len] = '\0';
    buf_free(&b);
    return out;
}

#define ENC(lit) enc(lit, sizeof(lit) - 1)

Test(json, escapes_quotes_backslashes_and_controls, .timeout = 5)
{
    cr_expect_str_eq(ENC("plain"), "\"plain\"");
    cr_expect_str_eq(ENC("a\"b\\c"), "\"a\\\"b\\\\c\"");
    cr_expect_str_eq(ENC("\n\r\t\b\f"), "\"\\n\\r\\t\\b\\f\"");
    cr_expect_str_eq(ENC("\x01\x1f\x7f"), "\"\\u0001\\u001f\x7f\"");
    cr_expect_str_eq(ENC("nul\0x"), "\"nul\\u0000x\"");
    cr_expect_str_eq(ENC(""), "\"\"");
}

Test(json, keeps_valid_utf8_and_replaces_invalid_bytes, .timeout = 5)
{
    cr_expect_str_eq(ENC("\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80"),
                     "\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\"");
    cr_expect_str_eq(ENC("\xff"), "\"\\ufffd\"");
    cr_expect_str_eq(ENC("\xc3"), "\"\\ufffd\"");            /* cut short */
    cr_expect_str_eq(ENC("\xc0\xaf"), "\"\\ufffd\\ufffd\""); /* overlong */
    cr_expect_str_eq(ENC("\xed\xa0\x80"),                    /* surrogate */
                     "\"\\ufffd\\ufffd\\ufffd\"");
    cr_expect_str_eq(ENC("\xf4\x90\x80\x80"), /* past U+10FFFF */
                     "\"\\ufffd\\ufffd\\ufffd\\ufffd\"");
    cr_expect_str_eq(ENC("a\xe2\x82z"), "\"a\\ufffd\\ufffdz\"");
}

Test(json, every_byte_sequence_parses_back, .timeout = 10)
{
    unsigned seed = 12345;
    char in[64];
    for (int round = 0; round < 20000; round++) {
        size_t n = (size_t)(rand_r(&seed) % sizeof(in));
        for (size_t i = 0; i < n; i++)
            in[i] = (char)(rand_r(&seed) & 0xff);
        const char *text = enc(in, n);
        json_error_t err;
        json_t *j = json_loads(text, JSON_DECODE_ANY | JSON_ALLOW_NUL, &err);
        cr_assert(j && json_is_string(j), "round %d: %s: %s", round, text,
                  err.text);
        json_decref(j);
    }
}

Test(json, a_full_buffer_leaves_it_unchanged, .timeout = 5)
{
    struct buf b;
    buf_init(&b, 8);
    cr_assert_eq(buf_append(&b, "ab", 2), 0);
    cr_expect_eq(json_put_string(&b, "\x01\x02\x03", 3), -ENOBUFS);
    cr_expect_eq(b.len, 2);
    cr_expect_str_eq(b.data, "ab");
    buf_free(&b);
}
