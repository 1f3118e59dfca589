/*
 * The issue 13 fixes to the config, tried again from outside: a secret in
 * a service's user or group that does not exist must reach neither the
 * log nor /health/details (errors quote the file, ${VAR} unexpanded).
 */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

#define SECRET "attack-secret-0123456789"

static struct harness H;
static char body[65536];

static void teardown(void)
{
    h_cleanup(&H);
}

#define T(name, secs)                                                          \
    Test(attack_config, name, .timeout = secs, .fini = teardown)

#define MAIN_SERVICE                                                           \
    "services:\n"                                                              \
    "  main:\n"                                                                \
    "    role: main\n"                                                         \
    "    command: ['@HELPER@', 'run', 'main', '@DIR@/log']\n"

static int get(const char *path)
{
    char req[512];
    snprintf(req, sizeof(req),
             "GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", path);
    return h_http(&H, req, body, sizeof(body));
}

/* No line sidecar wrote so far, and neither endpoint, holds the secret. */
static void expect_no_secret(void)
{
    h_pump(&H, 0);
    for (size_t i = 0; i < H.count; i++)
        cr_expect_null(strstr(H.raw[i], SECRET), "logged: %s", H.raw[i]);
    cr_assert_eq(get("/health/details"), 200, "%s", body);
    cr_expect_null(strstr(body, SECRET), "/health/details: %s", body);
    cr_assert_eq(get("/metrics"), 200, "%s", body);
    cr_expect_null(strstr(body, SECRET), "/metrics: %s", body);
}

/* A reload by SIGHUP of tmpl fails; its error quotes the file's text. */
static void expect_reload_fails_quoting(const char *tmpl, const char *quoted)
{
    size_t from = H.count;
    h_write_config(&H, H.cfg_path, NULL, tmpl, true);
    h_signal(&H, SIGHUP);
    long at = h_wait_event(&H, from, 10,
                           "config reload failed: nothing changed", NULL);
    cr_assert_geq(at, 0, "the reload did not fail");
    const char *error = h_str(&H, at, "error");
    cr_assert_not_null(error);
    cr_expect_not_null(strstr(error, quoted), "error: %s", error);
    expect_no_secret();
}

T(user_and_group_errors_quote_the_file_not_the_secret, 30)
{
    cr_assert_eq(setenv("ATTACK_SECRET", SECRET, 1), 0);
    h_start(&H, MAIN_SERVICE);
    h_http_port(&H);
    expect_reload_fails_quoting(MAIN_SERVICE "    user: '${ATTACK_SECRET}'\n",
                                "user '${ATTACK_SECRET}'");
    expect_reload_fails_quoting(MAIN_SERVICE
                                "    group: 'g-${ATTACK_SECRET}'\n",
                                "group 'g-${ATTACK_SECRET}'");
}

/* At start too: the error that ends `run` quotes the file. */
T(a_secret_user_at_start_is_not_printed, 30)
{
    cr_assert_eq(setenv("ATTACK_SECRET", SECRET, 1), 0);
    h_start(&H, MAIN_SERVICE "    user: '${ATTACK_SECRET}'\n");
    cr_expect_neq(h_wait_exit(&H, 10), 0);
    for (size_t i = 0; i < H.count; i++)
        cr_expect_null(strstr(H.raw[i], SECRET), "logged: %s", H.raw[i]);
    long at = h_find_event(&H, 0, "cannot set up services", NULL);
    cr_assert_geq(at, 0, "no error logged");
    cr_expect_not_null(strstr(h_str(&H, at, "error"), "'${ATTACK_SECRET}'"),
                       "%s", h_str(&H, at, "error"));
}
