/*
 * libFuzzer harness: probes/grpcwire.c, the grpc probe's protocol.
 *
 * Answer mode (byte 0 % 3 == 0): byte 1 picks the HTTP status; the rest,
 * up to its first NUL, is header and trailer lines (split at '\n'), after
 * it the body. The body is fed whole, a byte at a time and in pieces a
 * PRNG picks: the three verdicts and reasons must agree. The reason is
 * NUL-terminated within its buffer and printable, and a pass says
 * "SERVING" after a 200 with grpc-status 0.
 *
 * Message mode (1): the rest is a grpc-message value, decoded into a
 * buffer of 1 to 256 bytes (byte 1): the result fits, has no control
 * byte, and is the input itself when that has no '%' or control byte
 * and fits.
 *
 * Request mode (2): the rest is a service name: a request is written
 * only for at most GRPCWIRE_SERVICE_MAX bytes, its frame's length is
 * the rest of it, and its field 1 is the name.
 */
#define FUZZ_NAME "fuzz_grpcwire"
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "probes/grpcwire.h"
#include "test/fuzz/oracle.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint32_t next(uint32_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 17;
    *s ^= *s << 5;
    return *s;
}

static void check_printable(const char *s, size_t cap)
{
    size_t n = strnlen(s, cap);

    CHECK(n < cap, "not NUL-terminated within %zu bytes", cap);
    for (size_t i = 0; i < n; i++)
        CHECK((unsigned char)s[i] >= ' ' && s[i] != 0x7f,
              "control byte 0x%02x at %zu", (unsigned char)s[i], i);
}

static bool judge(int way, long http, const char *head, size_t head_len,
                  const uint8_t *body, size_t n, char *reason, size_t len)
{
    struct grpcwire_answer a;
    uint32_t seed = (uint32_t)n * 2654435761u + 1;
    size_t at = 0;

    grpcwire_reset(&a);
    for (size_t i = 0; i < head_len;) {
        const char *end = memchr(head + i, '\n', head_len - i);
        size_t line = end ? (size_t)(end - head - i) + 1 : head_len - i;

        grpcwire_header(&a, head + i, line);
        i += line;
    }
    while (at < n) {
        size_t piece = way == 0 ? n : way == 1 ? 1 : 1 + next(&seed) % 16;

        if (piece > n - at)
            piece = n - at;
        grpcwire_body(&a, body + at, piece);
        at += piece;
    }
    CHECK(a.body_len <= GRPCWIRE_BODY_MAX, "body %zu", a.body_len);
    check_printable(a.type, sizeof(a.type));
    check_printable(a.message, sizeof(a.message));
    bool ok = grpcwire_verdict(&a, http, reason, len);
    check_printable(reason, len);
    if (ok)
        CHECK(http == 200 && a.grpc_status == 0 &&
                  strcmp(reason, "SERVING") == 0,
              "a pass: %ld %d '%s'", http, a.grpc_status, reason);
    return ok;
}

static void answer(const uint8_t *data, size_t size)
{
    static const long statuses[] = {200, 200, 200, 404, 503, 0};
    const uint8_t *nul = memchr(data + 1, 0, size - 1);
    size_t head_len = nul ? (size_t)(nul - data - 1) : size - 1;
    const uint8_t *body = nul ? nul + 1 : data + size;
    size_t n = (size_t)(data + size - body);
    long http = statuses[data[0] % 6];
    char reason[3][512];
    bool ok[3];

    for (int way = 0; way < 3; way++) {
        ok[way] = judge(way, http, (const char *)data + 1, head_len, body, n,
                        reason[way], sizeof(reason[way]));
        CHECK(ok[way] == ok[0] && strcmp(reason[way], reason[0]) == 0,
              "way %d: '%s' vs '%s'", way, reason[way], reason[0]);
    }
}

static void message(const uint8_t *data, size_t size)
{
    size_t cap = 1 + data[0] % GRPCWIRE_MESSAGE_MAX;
    char out[GRPCWIRE_MESSAGE_MAX];
    const char *in = (const char *)data + 1;
    size_t n = size - 1;
    bool plain = n < cap && memchr(in, '%', n) == NULL;

    for (size_t i = 0; i < n && plain; i++)
        plain = (unsigned char)in[i] >= ' ' && in[i] != 0x7f;
    memset(out, 'Z', sizeof(out));
    grpcwire_decode_message(in, n, out, cap);
    check_printable(out, cap);
    if (plain)
        CHECK(strlen(out) == n && memcmp(out, in, n) == 0, "changed: %s", out);
}

static void request(const uint8_t *data, size_t size)
{
    static char name[2048];
    unsigned char out[GRPCWIRE_REQUEST_MAX];
    size_t n = strnlen((const char *)data, size < 2047 ? size : 2047);

    memcpy(name, data, n);
    name[n] = '\0';
    int len = grpcwire_request(name, out, sizeof(out));
    if (n > GRPCWIRE_SERVICE_MAX) {
        CHECK(len == -EMSGSIZE, "a %zu-byte name gave %d", n, len);
        return;
    }
    CHECK(len >= 5, "a %zu-byte name gave %d", n, len);
    uint32_t msg = (uint32_t)out[1] << 24 | (uint32_t)out[2] << 16 |
                   (uint32_t)out[3] << 8 | out[4];
    CHECK(out[0] == 0 && msg == (uint32_t)len - 5, "frame %u of %d", msg, len);
    if (n == 0)
        return;
    size_t at = 5, got = 0;
    CHECK(out[at++] == 0x0a, "tag");
    for (unsigned shift = 0;; shift += 7) {
        got |= (size_t)(out[at] & 0x7f) << shift;
        if (!(out[at++] & 0x80))
            break;
    }
    CHECK(got == n && at + n == (size_t)len && memcmp(out + at, name, n) == 0,
          "field 1 of %zu bytes", n);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    switch (data[0] % 3) {
    case 0:
        answer(data + 1, size - 1);
        break;
    case 1:
        message(data + 1, size - 1);
        break;
    default:
        request(data + 1, size - 1);
        break;
    }
    return 0;
}
