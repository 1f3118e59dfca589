/*
 * The status page's side of the API: what /health/details adds for it
 * ("recent", "control"). The page itself runs in a browser in
 * test/browser/.
 */
#define _DEFAULT_SOURCE
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "harness.h"

static struct harness H;

static void teardown(void)
{
    h_cleanup(&H);
}

#define T(name, secs) Test(page, name, .timeout = secs, .fini = teardown)

static char body[65536];

/* /health/details parsed (fails the test when it is not JSON). */
static json_t *details(void)
{
    cr_assert_eq(h_get(&H, "/health/details", body, sizeof(body)), 200);
    json_t *d = json_loads(body, 0, NULL);
    cr_assert(d, "%s", body);
    return d;
}

/* The probe's "recent", polled until it reads want (details may be up to
 * 1 s old). */
static bool wait_recent(const char *want, char *got, size_t len)
{
    double until = h_now() + H_WAIT;
    do {
        json_t *d = details();
        json_t *p = json_array_get(json_object_get(d, "probes"), 0);
        snprintf(got, len, "%s",
                 json_string_value(json_object_get(p, "recent")));
        json_decref(d);
        if (strcmp(got, want) == 0)
            return true;
        h_pump(&H, 0.1);
    } while (h_now() < until);
    return false;
}

static int push(const char *what)
{
    char path[64];
    snprintf(path, sizeof(path), "/probes/batch/%s", what);
    return h_post_at(h_http_port(&H), path, "s3cret", "", body, sizeof(body));
}

T(details_carry_the_last_32_results_and_control, 30)
{
    h_start(&H, "http:\n"
                "  listen: 127.0.0.1:0\n"
                "  token: s3cret\n"
                "probes:\n"
                "  batch:\n"
                "    type: ttl\n"
                "    ttl: 60s\n");
    char got[64];
    json_t *d = details();
    cr_expect(json_is_true(json_object_get(d, "control")), "%s", body);
    json_decref(d);
    cr_expect(wait_recent("", got, sizeof(got)), "no result yet: '%s'", got);
    cr_assert_eq(push("pass"), 200);
    cr_assert_eq(push("fail"), 200);
    cr_assert_eq(push("fail"), 200);
    cr_assert_eq(push("pass"), 200);
    cr_expect(wait_recent("PFFP", got, sizeof(got)), "oldest first: '%s'", got);
    /* 33 more: the oldest fall off, 32 are kept. */
    for (int i = 0; i < 32; i++)
        cr_assert_eq(push("pass"), 200);
    cr_assert_eq(push("fail"), 200);
    char want[40];
    memset(want, 'P', 31);
    strcpy(want + 31, "F");
    cr_expect(wait_recent(want, got, sizeof(got)), "'%s'", got);
}

T(without_a_token_details_say_control_is_off, 20)
{
    h_start(&H, "services:\n"
                "  web:\n"
                "    role: main\n"
                "    command: ['@HELPER@', 'run', 'web', '@DIR@/log']\n");
    cr_assert(h_wait_file(&H, "log", 1, H_WAIT));
    json_t *d = details();
    cr_expect(json_is_false(json_object_get(d, "control")), "%s", body);
    json_decref(d);
}
