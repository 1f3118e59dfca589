/*
 * What every fuzz harness shares: CHECK, which aborts (a finding for
 * libFuzzer) with the harness's FUZZ_NAME and a message; a growable byte
 * string; and a UTF-8 decoder written from Unicode's table 3-7, not from
 * base/json.c, to judge what sidecar encodes. Define FUZZ_NAME first.
 */
#ifndef SIDECAR_TEST_FUZZ_ORACLE_H
#define SIDECAR_TEST_FUZZ_ORACLE_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(cond, ...)                                                       \
    do {                                                                       \
        if (!(cond)) {                                                         \
            fprintf(stderr, "%s: %s: ", FUZZ_NAME, #cond);                     \
            fprintf(stderr, __VA_ARGS__);                                      \
            fputc('\n', stderr);                                               \
            abort();                                                           \
        }                                                                      \
    } while (0)

/* A growable byte string, always NUL-terminated once written to. */
struct text {
    char *data;
    size_t len;
    size_t cap;
};

static inline void text_add(struct text *t, const void *p, size_t n)
{
    if (t->len + n + 1 > t->cap) {
        t->cap = (t->len + n + 1) * 2;
        t->data = realloc(t->data, t->cap);
        CHECK(t->data, "out of memory");
    }
    memcpy(t->data + t->len, p, n);
    t->len += n;
    t->data[t->len] = '\0';
}

/* Length of the well-formed UTF-8 sequence at p (Unicode table 3-7), or 0. */
static inline size_t well_formed(const uint8_t *p, size_t n)
{
    size_t len = p[0] < 0x80   ? 1
                 : p[0] < 0xc2 ? 0
                 : p[0] < 0xe0 ? 2
                 : p[0] < 0xf0 ? 3
                 : p[0] < 0xf5 ? 4
                               : 0;
    uint8_t lo = 0x80, hi = 0xbf;
    if (len == 0 || len > n)
        return 0;
    if (p[0] == 0xe0)
        lo = 0xa0;
    else if (p[0] == 0xed)
        hi = 0x9f;
    else if (p[0] == 0xf0)
        lo = 0x90;
    else if (p[0] == 0xf4)
        hi = 0x8f;
    for (size_t i = 1; i < len; i++) {
        if (p[i] < (i == 1 ? lo : 0x80) || p[i] > (i == 1 ? hi : 0xbf))
            return 0;
    }
    return len;
}

#endif
