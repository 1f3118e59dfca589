/*
 * Config errors: where (file, 1-based line and column) and what (found vs
 * expected). The loader fills one struct cfg_error with every error that
 * does not follow from another, as a compiler does: within one item
 * (a key's value, an entry) the first error wins, and cfg_error_resume()
 * moves on to the next, independent item. Callers print them with
 * cfg_error_print(). The loader never exits.
 */
#ifndef SIDECAR_CONF_ERROR_H
#define SIDECAR_CONF_ERROR_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#define CFG_ERROR_MSG_MAX 384 /* room for a service's whole key list */
#define CFG_ERRORS_MAX    20  /* errors kept; the rest are only counted */

/* An error after the first: same file. */
struct cfg_error_next {
    unsigned line; /* as in struct cfg_error */
    unsigned col;
    char msg[CFG_ERROR_MSG_MAX];
};

struct cfg_error {
    /* The first error: what a reload reports. */
    char path[512];
    unsigned line; /* 1-based; 0 when the error has no position */
    unsigned col;  /* 1-based */
    char msg[CFG_ERROR_MSG_MAX];
    /* Every error found, the first included, and those after it (in the
     * order found, as many as fit). */
    size_t count;
    struct cfg_error_next next[CFG_ERRORS_MAX - 1];
    bool latched; /* an error was set since the last cfg_error_resume() */
};

/*
 * Records an error in err (if err is not NULL), unless one was recorded
 * since the last cfg_error_resume(): within one item the first error
 * wins, and what follows is its consequence. One kept already (same
 * place and message: an alias repeats its node) is not counted again.
 * Control characters and bytes that are not UTF-8 in the message become
 * '?', so that it prints safely.
 * An err holds no error while msg[0] == '\0': zero it before first use
 * (cfg_load() and cfg_load_buffer() do so themselves). Errors after the
 * first share its path.
 */
void cfg_error_set(struct cfg_error *err, const char *path, unsigned line,
                   unsigned col, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

/* cfg_error_set() with its arguments in ap, for callers' own fail(). */
void cfg_error_vset(struct cfg_error *err, const char *path, unsigned line,
                    unsigned col, const char *fmt, va_list ap)
    __attribute__((format(printf, 5, 0)));

/*
 * Ends the item that failed: what is checked next does not depend on it,
 * so its first error is recorded too. A no-op without an error since the
 * last call, and for a NULL err.
 */
void cfg_error_resume(struct cfg_error *err);

/* The first error, "path:line:col: msg" (or "path: msg") into out. */
void cfg_error_format(const struct cfg_error *err, char *out, size_t len);

/*
 * Prints every error kept, one "path:line:col: msg" line each (or
 * "path: msg" without position), and how many more were found.
 */
void cfg_error_print(const struct cfg_error *err, FILE *out);

#endif
