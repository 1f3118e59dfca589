/*
 * libFuzzer harness: probes/httpwire.c, the native http probe's protocol.
 *
 * Answer mode (byte 0 even): the rest is a server's answer. It is parsed
 * in one piece, in pieces whose sizes a PRNG seeded from byte 1 picks,
 * and one byte at a time, each followed by the close if the parser still
 * wants more; the three must agree on the result, the status, the error,
 * the body kept and the Location. Whatever the input: the body never
 * exceeds its cap (byte 0 picks a small one or the probe's 64 KiB), is cut
 * only once full, the Location never exceeds its buffer, DONE has a
 * status of 100-999, FAILED an error and a printable reason; a body read
 * by Content-Length is a run of the input.
 *
 * Request mode (byte 0 odd): the rest is split at NUL bytes into a URL,
 * a method and a header's name and value. A request that is written
 * fits the size first asked, is one request line "METHOD SP target SP
 * HTTP/1.1", header lines of "name:" with CR only before LF, and one
 * empty line at its end: no header or line can be injected.
 */
#define FUZZ_NAME "fuzz_httpwire"
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "probes/httpcheck.h"
#include "probes/httpwire.h"
#include "test/fuzz/oracle.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char body[3][HTTPCHECK_BODY_MAX];
static char loc[3][64];

struct outcome {
    enum httpwire_result res;
    struct httpwire r;
};

static uint32_t next(uint32_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 17;
    *s ^= *s << 5;
    return *s;
}

/* Parses text in pieces: 0 whole, 1 a byte at a time, 2 random sizes. */
static struct outcome parse(int way, const char *text, size_t len, size_t cap,
                            bool head, uint32_t seed)
{
    struct outcome o;
    size_t i = 0;

    httpwire_init(&o.r, body[way], cap, loc[way], sizeof(loc[way]), head);
    httpwire_reset(&o.r);
    o.res = HTTPWIRE_MORE;
    while (i < len && o.res == HTTPWIRE_MORE) {
        size_t n = way == 0 ? len : way == 1 ? 1 : 1 + next(&seed) % 64;

        if (n > len - i)
            n = len - i;
        o.res = httpwire_feed(&o.r, text + i, n);
        i += n;
    }
    if (o.res == HTTPWIRE_MORE)
        o.res = httpwire_eof(&o.r);
    return o;
}

static bool printable(const char *s)
{
    for (; *s; s++) {
        if ((unsigned char)*s < 0x20 || (unsigned char)*s == 0x7f)
            return false;
    }
    return true;
}

static bool has_run(const char *hay, size_t n, const char *needle, size_t k)
{
    if (k == 0)
        return true;
    for (size_t i = 0; i + k <= n; i++) {
        if (memcmp(hay + i, needle, k) == 0)
            return true;
    }
    return false;
}

static void check_one(const struct outcome *o, const char *text, size_t len,
                      size_t cap)
{
    char why[256];

    CHECK(o->r.body_len <= cap, "body %zu over cap %zu", o->r.body_len, cap);
    CHECK(!o->r.truncated || o->r.body_len == cap, "cut before full");
    CHECK(o->r.location_len <= sizeof(loc[0]), "location over its buffer");
    CHECK(o->res != HTTPWIRE_MORE, "MORE after the close");
    if (o->res == HTTPWIRE_DONE) {
        CHECK(o->r.status >= 100 && o->r.status <= 999, "status %d",
              o->r.status);
        CHECK(o->r.error == HTTPWIRE_OK, "DONE with error %d", o->r.error);
        if (o->r.have_length && !o->r.te_seen)
            CHECK(has_run(text, len, o->r.body, o->r.body_len),
                  "a Content-Length body that is not in the input");
    } else {
        CHECK(o->r.error != HTTPWIRE_OK, "FAILED without an error");
        httpwire_reason(&o->r, why, sizeof(why));
        CHECK(why[0] != '\0' && printable(why), "reason '%s'", why);
    }
}

static void same(const struct outcome *a, const struct outcome *b,
                 const char *how)
{
    CHECK(a->res == b->res, "%s: result %d vs %d", how, a->res, b->res);
    CHECK(a->r.error == b->r.error, "%s: error %d vs %d", how, a->r.error,
          b->r.error);
    if (a->res != HTTPWIRE_DONE)
        return;
    CHECK(a->r.status == b->r.status, "%s: status", how);
    CHECK(a->r.body_len == b->r.body_len, "%s: body %zu vs %zu", how,
          a->r.body_len, b->r.body_len);
    CHECK(memcmp(a->r.body, b->r.body, a->r.body_len) == 0, "%s: body", how);
    CHECK(a->r.truncated == b->r.truncated, "%s: truncated", how);
    CHECK(a->r.location_len == b->r.location_len &&
              memcmp(a->r.location, b->r.location, a->r.location_len) == 0,
          "%s: location", how);
}

static void answer(const uint8_t *data, size_t size)
{
    static const size_t caps[] = {0, 1, 7, 64, HTTPCHECK_BODY_MAX};
    size_t cap = caps[(data[0] >> 1) % 5];
    bool head = (data[0] & 0x10) != 0;
    uint32_t seed = 0x9e3779b9u ^ data[1];
    const char *text = (const char *)data + 2;
    size_t len = size - 2;
    struct outcome whole = parse(0, text, len, cap, head, seed);
    struct outcome bytes = parse(1, text, len, cap, head, seed);
    struct outcome random = parse(2, text, len, cap, head, seed);

    check_one(&whole, text, len, cap);
    same(&whole, &bytes, "byte at a time");
    same(&whole, &random, "random pieces");
}

/* The next NUL-terminated field of the input, or "" past its end. */
static const char *field(char **p, char *end)
{
    char *s = *p;
    char *nul;

    if (s >= end)
        return "";
    nul = memchr(s, '\0', (size_t)(end - s));
    *p = nul ? nul + 1 : end;
    return s;
}

static void check_request(const char *req, size_t len, const char *method)
{
    const char *line_end = strstr(req, "\r\n");
    size_t m = strlen(method);

    CHECK(strlen(req) == len, "a NUL in the request");
    CHECK(len >= 4 && memcmp(req + len - 4, "\r\n\r\n", 4) == 0,
          "no empty line at the end");
    CHECK(strstr(req, "\r\n\r\n") == req + len - 4, "an empty line inside");
    CHECK(line_end != NULL, "no request line");
    CHECK(strncmp(req, method, m) == 0 && req[m] == ' ', "method");
    CHECK(line_end - req > 9 && memcmp(line_end - 9, " HTTP/1.1", 9) == 0,
          "request line '%.*s'", (int)(line_end - req), req);
    CHECK(memchr(req + m + 1, ' ', (size_t)(line_end - req) - m - 10) == NULL,
          "a space in the target");
    for (size_t i = 0; i < len; i++) {
        CHECK(req[i] != '\r' || req[i + 1] == '\n', "a CR without LF");
        CHECK(req[i] != '\n' || (i > 0 && req[i - 1] == '\r'),
              "an LF without CR");
    }
    for (const char *l = line_end + 2; l < req + len - 2;) {
        const char *e = strstr(l, "\r\n");
        const char *colon = memchr(l, ':', (size_t)(e - l));

        CHECK(colon != NULL && colon > l, "header line '%.*s'", (int)(e - l),
              l);
        CHECK(memchr(l, ' ', (size_t)(colon - l)) == NULL, "a space in a name");
        l = e + 2;
    }
}

static void request(const uint8_t *data, size_t size)
{
    char *copy = malloc(size + 1);
    char *p, *end;
    struct cfg_header h;
    struct cfg_probe cfg = {0};
    char err[256];
    size_t need = 0;
    size_t len = 0;
    char *buf;
    int rc;

    CHECK(copy, "out of memory");
    memcpy(copy, data + 1, size - 1);
    copy[size - 1] = '\0';
    p = copy;
    end = copy + size - 1;
    cfg.url = (char *)field(&p, end);
    cfg.method = (char *)field(&p, end);
    h.name = (char *)field(&p, end);
    h.value = (char *)field(&p, end);
    cfg.headers = &h;
    cfg.headers_count = h.name[0] ? 1 : 0;
    err[0] = '\0';
    rc = httpwire_request(&cfg, NULL, 0, &need, err, sizeof(err));
    if (rc != -ENOBUFS) {
        CHECK(rc == -EINVAL || rc == -ENOTSUP, "rc %d", rc);
        CHECK(err[0] != '\0', "a refusal without a message");
        free(copy);
        return;
    }
    buf = malloc(need + 1);
    CHECK(buf, "out of memory");
    rc = httpwire_request(&cfg, buf, need, &len, err, sizeof(err));
    CHECK(rc == 0 && len <= need, "rc %d, %zu of %zu", rc, len, need);
    buf[len] = '\0';
    check_request(buf, len, cfg.method);
    free(buf);
    free(copy);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    if (data[0] & 1)
        request(data, size);
    else
        answer(data, size);
    return 0;
}
