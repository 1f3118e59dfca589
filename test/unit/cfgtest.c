/* Loading config text in unit tests (see cfgtest.h). */
#include "cfgtest.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

struct cfg_root *ut_load(const char *text, struct cfg_error *err)
{
    struct cfg_root *root = NULL;

    if (cfg_load_buffer("inline.yaml", text, strlen(text), &root, err) < 0)
        return NULL;
    return root;
}

struct cfg_root *ut_load_ok(const char *text)
{
    struct cfg_error err;
    struct cfg_root *root = ut_load(text, &err);

    cr_assert_not_null(root, "%u:%u: %s", err.line, err.col, err.msg);
    return root;
}

void ut_expect_error(const char *text, unsigned line, unsigned col,
                     const char *msg)
{
    struct cfg_error err;
    struct cfg_root *root = ut_load(text, &err);

    cr_expect_null(root, "loaded: %s", text);
    cfg_free(root);
    cr_expect_str_eq(err.msg, msg);
    cr_expect_eq(err.line, line, "line %u, expected %u: %s", err.line, line,
                 err.msg);
    cr_expect_eq(err.col, col, "column %u, expected %u: %s", err.col, col,
                 err.msg);
}

const char *ut_error_printed(const char *text, struct cfg_error *err)
{
    static char buf[8192];
    struct cfg_error mine;
    struct cfg_root *root;
    FILE *out = fmemopen(buf, sizeof(buf), "w");

    if (err == NULL)
        err = &mine;
    root = ut_load(text, err);
    cr_assert_null(root, "loaded: %s", text);
    cr_assert_not_null(out);
    cfg_error_print(err, out);
    fclose(out);
    return buf;
}
