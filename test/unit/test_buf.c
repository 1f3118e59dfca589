#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "base/buf.h"

Test(buf, appends_within_the_cap_and_refuses_past_it, .timeout = 5)
{
    struct buf b;
    buf_init(&b, 10);
    cr_expect_eq(buf_puts(&b, "hello"), 0);
    cr_expect_eq(buf_printf(&b, "%d", 12345), 0);
    cr_expect_eq(b.len, 10);
    cr_expect_str_eq(b.data, "hello12345");
    cr_expect_eq(buf_append(&b, "x", 1), -ENOBUFS);
    cr_expect_eq(buf_printf(&b, "%s", "y"), -ENOBUFS);
    cr_expect_eq(b.len, 10);
    buf_free(&b);
    cr_expect_eq(b.len, 0);
    cr_expect_null(b.data);
}

Test(buf, consume_and_truncate_keep_it_terminated, .timeout = 5)
{
    struct buf b;
    buf_init(&b, 1 << 20);
    for (int i = 0; i < 1000; i++)
        cr_assert_eq(buf_puts(&b, "0123456789"), 0);
    cr_expect_eq(b.len, 10000);
    buf_consume(&b, 9995);
    cr_expect_str_eq(b.data, "56789");
    buf_truncate(&b, 2);
    cr_expect_str_eq(b.data, "56");
    buf_consume(&b, 100);
    cr_expect_eq(b.len, 0);
    buf_free(&b);
}
