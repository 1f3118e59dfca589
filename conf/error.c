/*
 * Config errors: fills the caller's struct cfg_error (first error wins)
 * and prints it as "path:line:col: msg", the format editors jump to.
 */
#include "conf/error.h"

#include <stdarg.h>
#include <stdio.h>

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
    if (err->msg[0] == '\0')
        snprintf(err->msg, sizeof(err->msg), "invalid configuration");
}

void cfg_error_print(const struct cfg_error *err, FILE *out)
{
    if (err->line > 0)
        fprintf(out, "%s:%u:%u: %s\n", err->path, err->line, err->col,
                err->msg);
    else
        fprintf(out, "%s: %s\n", err->path, err->msg);
}
