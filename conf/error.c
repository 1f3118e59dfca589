/*
 * Config errors: fills the caller's struct cfg_error (the first error of
 * each independent item) and prints them as "path:line:col: msg", the
 * format editors jump to.
 */
#include "conf/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* Length of the valid UTF-8 sequence at p, or 0. */
static size_t utf8_len(const unsigned char *p)
{
    size_t len = p[0] < 0x80   ? 1
                 : p[0] < 0xc2 ? 0
                 : p[0] < 0xe0 ? 2
                 : p[0] < 0xf0 ? 3
                 : p[0] < 0xf5 ? 4
                               : 0;
    unsigned char lo = p[0] == 0xe0 ? 0xa0 : p[0] == 0xf0 ? 0x90 : 0x80;
    unsigned char hi = p[0] == 0xed ? 0x9f : p[0] == 0xf4 ? 0x8f : 0xbf;

    for (size_t i = 1; i < len; i++) {
        if (p[i] < (i == 1 ? lo : 0x80) || p[i] > (i == 1 ? hi : 0xbf))
            return 0; /* also a sequence cut short by the NUL */
    }
    return len;
}

/*
 * Messages quote keys, names and references as written, and go to a
 * terminal: a control character (C0, DEL or C1: U+009B is CSI), or a byte
 * that is not UTF-8 (a sequence cut by the size limit, say), becomes '?'.
 */
static void make_printable(char *msg)
{
    unsigned char *p = (unsigned char *)msg;

    while (*p) {
        size_t len = utf8_len(p);

        if (len == 0 || *p < 0x20 || *p == 0x7f ||
            (p[0] == 0xc2 && p[1] < 0xa0)) {
            *p++ = '?';
            continue;
        }
        p += len;
    }
}

/* Whether that very error is kept already. */
static bool is_kept(const struct cfg_error *err, unsigned line, unsigned col,
                    const char *msg)
{
    if (err->count == 0)
        return false;
    if (err->line == line && err->col == col && strcmp(err->msg, msg) == 0)
        return true;
    for (size_t i = 0; i + 1 < err->count && i + 1 < CFG_ERRORS_MAX; i++) {
        const struct cfg_error_next *e = &err->next[i];
        if (e->line == line && e->col == col && strcmp(e->msg, msg) == 0)
            return true;
    }
    return false;
}

void cfg_error_vset(struct cfg_error *err, const char *path, unsigned line,
                    unsigned col, const char *fmt, va_list ap)
{
    struct cfg_error_next *next;
    char msg[CFG_ERROR_MSG_MAX] = {0}; /* copied whole, sent whole by check */

    if (err == NULL || err->latched)
        return;
    err->latched = true;
    vsnprintf(msg, sizeof(msg), fmt, ap);
    make_printable(msg);
    if (msg[0] == '\0')
        snprintf(msg, sizeof(msg), "invalid configuration");
    /* Once only: an alias (*name) repeats its node, and its errors. */
    if (is_kept(err, line, col, msg))
        return;
    if (err->count++ == 0) {
        snprintf(err->path, sizeof(err->path), "%s", path ? path : "");
        err->line = line;
        err->col = col;
        memcpy(err->msg, msg, sizeof(msg));
    } else if (err->count <= CFG_ERRORS_MAX) {
        next = &err->next[err->count - 2];
        next->line = line;
        next->col = col;
        memcpy(next->msg, msg, sizeof(msg));
    }
    /* Beyond CFG_ERRORS_MAX: counted only. */
}

void cfg_error_set(struct cfg_error *err, const char *path, unsigned line,
                   unsigned col, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    cfg_error_vset(err, path, line, col, fmt, ap);
    va_end(ap);
}

void cfg_error_resume(struct cfg_error *err)
{
    if (err != NULL)
        err->latched = false;
}

static void format_one(const char *path, unsigned line, unsigned col,
                       const char *msg, char *out, size_t len)
{
    if (line > 0)
        snprintf(out, len, "%s:%u:%u: %s", path, line, col, msg);
    else
        snprintf(out, len, "%s: %s", path, msg);
}

void cfg_error_format(const struct cfg_error *err, char *out, size_t len)
{
    format_one(err->path, err->line, err->col, err->msg, out, len);
}

void cfg_error_print(const struct cfg_error *err, FILE *out)
{
    char line[sizeof(err->path) + CFG_ERROR_MSG_MAX + 32];
    size_t kept = err->count < CFG_ERRORS_MAX ? err->count : CFG_ERRORS_MAX;

    cfg_error_format(err, line, sizeof(line));
    fprintf(out, "%s\n", line);
    for (size_t i = 1; i < kept; i++) {
        const struct cfg_error_next *e = &err->next[i - 1];

        format_one(err->path, e->line, e->col, e->msg, line, sizeof(line));
        fprintf(out, "%s\n", line);
    }
    if (err->count > kept)
        fprintf(out, "%s: %zu more errors\n", err->path, err->count - kept);
}
