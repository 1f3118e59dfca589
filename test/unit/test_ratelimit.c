#include <criterion/criterion.h>

#include "base/ratelimit.h"

Test(ratelimit, a_burst_then_the_rate, .timeout = 5)
{
    struct ratelimit rl;
    ratelimit_init(&rl, 2, 5);
    unsigned allowed = 0;
    for (int i = 0; i < 100; i++)
        allowed += ratelimit_allow(&rl, 10.0);
    cr_expect_eq(allowed, 5, "the burst at once");
    cr_expect_eq(rl.refused, 95);
    /* 1.5 s later: three more tokens at 2 a second. */
    allowed = 0;
    for (int i = 0; i < 100; i++)
        allowed += ratelimit_allow(&rl, 11.5);
    cr_expect_eq(allowed, 3);
    cr_expect_eq(rl.refused, 192);
}

Test(ratelimit, refills_no_more_than_the_burst, .timeout = 5)
{
    struct ratelimit rl;
    ratelimit_init(&rl, 1000, 3);
    cr_expect(ratelimit_allow(&rl, 0));
    unsigned allowed = 1;
    for (int i = 0; i < 10; i++)
        allowed += ratelimit_allow(&rl, 3600);
    cr_expect_eq(allowed, 4);
}

Test(ratelimit, refused_are_reported_once, .timeout = 5)
{
    struct ratelimit rl;
    ratelimit_init(&rl, 1, 1);
    cr_expect(ratelimit_allow(&rl, 0));
    cr_expect_not(ratelimit_allow(&rl, 0.1));
    cr_expect_not(ratelimit_allow(&rl, 0.2));
    cr_expect_eq(ratelimit_take_refused(&rl), 2);
    cr_expect_eq(ratelimit_take_refused(&rl), 0);
    cr_expect(ratelimit_allow(&rl, 1.2));
    cr_expect_eq(rl.refused, 2, "the total stays");
}

Test(ratelimit, a_clock_going_back_refills_nothing, .timeout = 5)
{
    struct ratelimit rl;
    ratelimit_init(&rl, 1, 1);
    cr_expect(ratelimit_allow(&rl, 100));
    cr_expect_not(ratelimit_allow(&rl, 50));
    cr_expect_not(ratelimit_allow(&rl, 100.5));
    cr_expect(ratelimit_allow(&rl, 101));
}
