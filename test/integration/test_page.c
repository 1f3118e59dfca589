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

/* A header of the last answer (its value, up to the line's end), or "". */
static const char *header(const char *name)
{
    static char value[512];
    char key[64];
    snprintf(key, sizeof(key), "\r\n%s: ", name);
    const char *resp = h_last_response();
    const char *end = strstr(resp, "\r\n\r\n");
    const char *at = strstr(resp, key);
    value[0] = '\0';
    if (at && end && at < end)
        snprintf(value, sizeof(value), "%.*s",
                 (int)strcspn(at + strlen(key), "\r"), at + strlen(key));
    return value;
}

T(the_page_is_served_from_the_binary_with_a_strict_policy, 20)
{
    h_start(&H, "services:\n"
                "  web:\n"
                "    role: main\n"
                "    command: ['sleep', '1000']\n");
    static const char *const files[][2] = {
        {"/", "text/html; charset=utf-8"},
        {"/ui/app.js", "text/javascript; charset=utf-8"},
        {"/ui/app.css", "text/css; charset=utf-8"},
    };
    size_t wire = 0;
    for (size_t i = 0; i < 3; i++) {
        cr_assert_eq(h_get(&H, files[i][0], body, sizeof(body)), 200, "%s",
                     files[i][0]);
        wire += strlen(h_last_response());
        cr_expect_str_eq(header("Content-Type"), files[i][1]);
        cr_expect_str_eq(header("Cache-Control"), "no-store");
        cr_expect_str_eq(header("X-Content-Type-Options"), "nosniff");
        cr_expect_str_eq(header("Referrer-Policy"), "no-referrer");
        const char *csp = header("Content-Security-Policy");
        static const char *const must[] = {
            "default-src 'none'", "script-src 'self'",      "style-src 'self'",
            "connect-src 'self'", "frame-ancestors 'none'", "base-uri 'none'",
            "form-action 'none'",
        };
        for (size_t m = 0; m < sizeof(must) / sizeof(must[0]); m++)
            cr_expect(strstr(csp, must[m]), "%s lacks %s", csp, must[m]);
        cr_expect(!strstr(csp, "unsafe"), "%s", csp);
        /* What the policy would block, or what would defeat it. */
        cr_expect(!strstr(body, "innerHTML") && !strstr(body, "eval(") &&
                      !strstr(body, "style=") && !strstr(body, " onclick") &&
                      !strstr(body, "://"),
                  "%s holds markup, inline code or an outside address",
                  files[i][0]);
    }
    cr_expect_leq(wire, 40 * 1024, "the page in all: %zu bytes", wire);
    cr_expect_eq(h_http(&H,
                        "HEAD / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                        "\r\n",
                        body, sizeof(body)),
                 200);
    cr_expect_str_eq(body, "", "HEAD has no body");
    cr_expect_eq(h_post_at(h_http_port(&H), "/", NULL, "", body, sizeof(body)),
                 405);
    cr_expect_eq(h_get(&H, "/ui/", body, sizeof(body)), 404);
}
