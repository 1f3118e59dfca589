/*
 * An http probe's verdict, shared by its two transports: expect_status,
 * expect_body, and a failure's excerpt of the body on one line.
 */
#include "probes/httpcheck.h"

#include <stdio.h>
#include <string.h>

static bool status_expected(const struct cfg_probe *cfg, long status)
{
    for (size_t i = 0; i < cfg->expect_status_count; i++) {
        if (status >= cfg->expect_status[i].lo &&
            status <= cfg->expect_status[i].hi)
            return true;
    }
    return false;
}

/* memmem, which C11 and POSIX lack; the body may hold NUL bytes. */
static bool contains(const char *hay, size_t hay_len, const char *needle)
{
    size_t n = strlen(needle);

    if (n == 0)
        return true;
    for (size_t i = 0; i + n <= hay_len; i++) {
        if (hay[i] == needle[0] && memcmp(hay + i, needle, n) == 0)
            return true;
    }
    return false;
}

/* n, or less so that out[0..n) does not end inside a UTF-8 sequence. */
static size_t utf8_cut(const char *out, size_t n)
{
    size_t lead = n;
    unsigned char c;
    size_t need;

    while (lead > 0 && ((unsigned char)out[lead - 1] & 0xc0) == 0x80)
        lead--;
    if (lead == 0)
        return n;
    c = (unsigned char)out[lead - 1];
    if ((c & 0xc0) != 0xc0)
        return n;
    need = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : 2;
    return n - (lead - 1) < need ? lead - 1 : n;
}

void httpcheck_excerpt_reset(struct httpcheck_excerpt *e)
{
    e->len = 0;
    e->space = true; /* drops leading spaces */
    e->more = false;
}

bool httpcheck_excerpt_add(struct httpcheck_excerpt *e, const char *data,
                           size_t n)
{
    for (size_t i = 0; i < n && !e->more; i++) {
        unsigned char c = (unsigned char)data[i];

        if (e->len == HTTPCHECK_EXCERPT) {
            e->more = true;
        } else if (c < 0x20 || c == 0x7f || c == ' ') {
            if (!e->space)
                e->text[e->len++] = ' ';
            e->space = true;
        } else {
            e->text[e->len++] = (char)c;
            e->space = false;
        }
    }
    return !e->more;
}

/* The excerpt as a reason quotes it: cut on a UTF-8 character boundary,
 * "..." when cut, no trailing space; outlen >= HTTPCHECK_EXCERPT + 4. */
static void excerpt(const struct httpcheck_excerpt *e, bool truncated,
                    char *out, size_t outlen)
{
    size_t n = e->len;

    memcpy(out, e->text, n);
    if (e->more || truncated) {
        n = utf8_cut(out, n);
        if (n + 4 <= outlen) {
            memcpy(out + n, "...", 3);
            n += 3;
        }
    }
    while (n > 0 && out[n - 1] == ' ')
        n--;
    out[n] = '\0';
}

bool httpcheck_verdict(const struct cfg_probe *cfg, long status,
                       const char *body, size_t len, bool truncated,
                       const struct httpcheck_excerpt *e, char *reason,
                       size_t reason_len)
{
    char text[HTTPCHECK_EXCERPT + 8];

    if (!status_expected(cfg, status)) {
        excerpt(e, truncated, text, sizeof(text));
        if (text[0] != '\0')
            snprintf(reason, reason_len, "HTTP %ld: %s", status, text);
        else
            snprintf(reason, reason_len, "HTTP %ld", status);
        return false;
    }
    if (cfg->expect_body && !contains(body, len, cfg->expect_body)) {
        snprintf(reason, reason_len,
                 "HTTP %ld but the body %sdoes not contain '%s'", status,
                 truncated ? "(its first 64 KiB) " : "", cfg->expect_body);
        return false;
    }
    snprintf(reason, reason_len, "HTTP %ld", status);
    return true;
}

bool httpcheck_judge(const struct cfg_probe *cfg, long status, const char *body,
                     size_t len, bool truncated, char *reason,
                     size_t reason_len)
{
    struct httpcheck_excerpt e;

    httpcheck_excerpt_reset(&e);
    httpcheck_excerpt_add(&e, body, len);
    return httpcheck_verdict(cfg, status, body, len, truncated, &e, reason,
                             reason_len);
}
