/*
 * Config errors: where (file, 1-based line and column) and what (found vs
 * expected). The loader fills one struct cfg_error and stops at the first
 * error; callers print it with cfg_error_print(). The loader never exits.
 */
#ifndef SIDECAR_CONF_ERROR_H
#define SIDECAR_CONF_ERROR_H

#include <stddef.h>
#include <stdio.h>

#define CFG_ERROR_MSG_MAX 256

struct cfg_error {
    char path[512];
    unsigned line; /* 1-based; 0 when the error has no position */
    unsigned col;  /* 1-based */
    char msg[CFG_ERROR_MSG_MAX];
};

/*
 * Sets err (if err is not NULL and holds no error yet): first error wins.
 * Control characters and bytes that are not UTF-8 in the message become
 * '?', so that it prints safely.
 * An err holds no error while msg[0] == '\0': zero it before first use
 * (cfg_load() and cfg_load_buffer() do so themselves).
 */
void cfg_error_set(struct cfg_error *err, const char *path, unsigned line,
                   unsigned col, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

/* "path:line:col: msg" (or "path: msg" without position) into out. */
void cfg_error_format(const struct cfg_error *err, char *out, size_t len);

/* Prints "path:line:col: msg\n" (or "path: msg\n" without position). */
void cfg_error_print(const struct cfg_error *err, FILE *out);

#endif
