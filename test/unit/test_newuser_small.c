/*
 * conf/: an env or headers entry with an empty value (NAME:, ~, null) is
 * left out, as the README says of any key; a quoted "" is a value.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "conf/load.h"

#include "cfgtest.h"

Test(newuser_small, empty_env_values_are_left_out)
{
    struct cfg_root *root = ut_load_ok("services:\n"
                                       "  web:\n"
                                       "    role: main\n"
                                       "    command: [sleep, \"1\"]\n"
                                       "    env:\n"
                                       "      A: ~\n"
                                       "      B: \"\"\n"
                                       "      C: null\n"
                                       "      D:\n"
                                       "      E: 5\n");
    const struct cfg_service *s = &root->services[0];

    cr_assert_eq(s->env_count, 2);
    cr_expect_str_eq(s->env[0], "B=");
    cr_expect_str_eq(s->env[1], "E=5");
    cr_expect_null(s->env[2]);
    cfg_free(root);
}

Test(newuser_small, empty_header_values_are_left_out)
{
    struct cfg_root *root = ut_load_ok("probes:\n"
                                       "  web:\n"
                                       "    type: http\n"
                                       "    url: http://127.0.0.1:8000/\n"
                                       "    headers:\n"
                                       "      X-A: ~\n"
                                       "      X-B: b\n"
                                       "      X-C:\n");
    const struct cfg_probe *p = &root->probes[0];

    cr_assert_eq(p->headers_count, 1);
    cr_expect_str_eq(p->headers[0].name, "X-B");
    cr_expect_str_eq(p->headers[0].value, "b");
    cfg_free(root);
}

Test(newuser_small, an_empty_value_still_needs_a_valid_name)
{
    struct cfg_error err;
    const char text[] = "services:\n"
                        "  web:\n"
                        "    role: main\n"
                        "    command: [sleep, \"1\"]\n"
                        "    env: { \"A=B\": ~ }\n";

    cr_expect_null(ut_load(text, &err));
    cr_expect(strstr(err.msg, "invalid environment variable name 'A=B'"), "%s",
              err.msg);
}
