#include <criterion/criterion.h>

#include "sidecar/service.h"

Test(backoff, doubles_from_initial_and_caps_at_max, .timeout = 5)
{
    struct cfg_backoff b = {.initial_ms = 500, .max_ms = 30000};
    double want[] = {0.5, 1, 2, 4, 8, 16, 30, 30, 30};
    for (unsigned i = 0; i < sizeof(want) / sizeof(want[0]); i++)
        cr_expect_float_eq(svc_backoff_delay(&b, i, 0), want[i], 1e-9,
                           "step %u", i);
    cr_expect_float_eq(svc_backoff_delay(&b, 1000, 0), 30, 1e-9);
}

Test(backoff, jitter_adds_up_to_ten_percent, .timeout = 5)
{
    struct cfg_backoff b = {.initial_ms = 1000, .max_ms = 8000};
    cr_expect_float_eq(svc_backoff_delay(&b, 2, 0.5), 4.2, 1e-9);
    cr_expect_float_eq(svc_backoff_delay(&b, 9, 0.999), 8.7992, 1e-9);
}

Test(backoff, zero_initial_means_immediate, .timeout = 5)
{
    struct cfg_backoff b = {.initial_ms = 0, .max_ms = 30000};
    cr_expect_float_eq(svc_backoff_delay(&b, 5, 0.9), 0, 1e-12);
}
