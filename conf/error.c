/*
 * Config errors: fills the caller's struct cfg_error (first error wins)
 * and prints it as "path:line:col: msg", the format editors jump to.
 */
#include "conf/error.h"

#include <stdarg.h>
#include <stdio.h>

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
 * terminal: a control character, or a byte that is not UTF-8 (a sequence
 * cut by the size limit, say), becomes '?'.
 */
static void make_printable(char *msg)
{
    unsigned char *p = (unsigned char *)msg;

    while (*p) {
        size_t len = utf8_len(p);

        if (len == 0 || *p < 0x20 || *p == 0x7f) {
            *p++ = '?';
            continue;
        }
        p += len;
    }
}

void cfg_error_set(struct cfg_error *err, const char *path, unsigned line,
                   unsigned col, const char *fmt, ...)
{
    va_list ap;

    if (err == NULL || err->msg[0] != '\0')
        return;
    snprintf(err->path, sizeof(err->path), "%s", path ? path : "");
    err->line = line;
    err->col = col;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
    va_end(ap);
    make_printable(err->msg);
    if (err->msg[0] == '\0')
        snprintf(err->msg, sizeof(err->msg), "invalid configuration");
}

void cfg_error_format(const struct cfg_error *err, char *out, size_t len)
{
    if (err->line > 0)
        snprintf(out, len, "%s:%u:%u: %s", err->path, err->line, err->col,
                 err->msg);
    else
        snprintf(out, len, "%s: %s", err->path, err->msg);
}

void cfg_error_print(const struct cfg_error *err, FILE *out)
{
    char line[sizeof(err->path) + CFG_ERROR_MSG_MAX + 32];
    cfg_error_format(err, line, sizeof(line));
    fprintf(out, "%s\n", line);
}
