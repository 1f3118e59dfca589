/*
 * The issue 13 fixes to the config, tried again from outside: a secret in
 * a service's user or group that does not exist must reach neither the
 * log nor /health/details (errors quote the file, ${VAR} unexpanded).
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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

/* ---- a failure from outside the file is not over when the file is -------- */

static char token_dir[] = "/tmp/sidecar-attack-XXXXXX";
static char token_path[64];

static void teardown_token(void)
{
    h_cleanup(&H);
    unlink(token_path);
    rmdir(token_dir);
}

#define WATCHED_TOKEN_FILE                                                     \
    "reload: watch\n"                                                          \
    "http:\n"                                                                  \
    "  listen: '127.0.0.1:0'\n"                                                \
    "  token_file: '${ATTACK_TOKEN_FILE}'\n"

static const char with_token_file[] = WATCHED_TOKEN_FILE MAIN_SERVICE;
static const char with_token_file_and_one[] = WATCHED_TOKEN_FILE MAIN_SERVICE
    "  one:\n"
    "    command: ['@HELPER@', 'run', 'one', '@DIR@/log']\n";

static void put_token(const char *token)
{
    FILE *f = fopen(token_path, "w");
    cr_assert_not_null(f, "%s: %s", token_path, strerror(errno));
    cr_assert_geq(fputs(token, f), 0);
    cr_assert_eq(fclose(f), 0);
}

/* config.last_reload.ok of /health/details: 1, 0, or -1 if none. */
static int last_reload_ok(void)
{
    cr_assert_eq(get("/health/details"), 200, "%s", body);
    json_t *d = json_loads(body, 0, NULL);
    cr_assert_not_null(d, "not JSON: %s", body);
    json_t *r = json_object_get(json_object_get(d, "config"), "last_reload");
    json_t *ok = json_object_get(r, "ok");
    int is = json_is_boolean(ok) ? json_is_true(ok) : -1;
    json_decref(d);
    return is;
}

#define RELOAD_FAILED "config reload failed: nothing changed"
#define STILL_FAILED  "config file touched, content still the one that failed"

/*
 * The running config's bytes, after a failed reload, end the failure only
 * if they load again: here the failure is the token_file's, and a touch
 * or a revert of the config must not report it over.
 */
Test(attack_config, a_token_file_failure_outlives_a_touch_and_a_revert,
     .timeout = 60, .fini = teardown_token)
{
    const char *const debug[] = {"--log-level", "debug", NULL};
    cr_assert_not_null(mkdtemp(token_dir));
    snprintf(token_path, sizeof(token_path), "%s/token", token_dir);
    cr_assert_eq(setenv("ATTACK_TOKEN_FILE", token_path, 1), 0);
    put_token("a-good-token-0123456789\n");
    h_start_args(&H, with_token_file, debug);
    h_http_port(&H);
    cr_assert_geq(h_wait_event(&H, 0, 10, "watching the config file", NULL), 0);

    /* The Secret is broken; a SIGHUP finds it. */
    put_token("a broken token\n");
    size_t from = H.count;
    h_signal(&H, SIGHUP);
    cr_assert_geq(h_wait_event(&H, from, 10, RELOAD_FAILED, NULL), 0);
    cr_assert_eq(last_reload_ok(), 0);

    /* Touched: the same bytes that failed, nothing new to say. */
    from = H.count;
    h_write_config(&H, H.cfg_path, NULL, with_token_file, true);
    cr_expect_geq(h_wait_event(&H, from, 10, STILL_FAILED, NULL), 0,
                  "the touch was not seen as the bytes that failed");
    cr_expect_eq(last_reload_ok(), 0, "a touch called the failure over");

    /* An edit fails on the token; its revert fails on it too. */
    from = H.count;
    h_write_config(&H, H.cfg_path, NULL, with_token_file_and_one, true);
    cr_assert_geq(h_wait_event(&H, from, 10, RELOAD_FAILED, NULL), 0);
    from = H.count;
    h_write_config(&H, H.cfg_path, NULL, with_token_file, true);
    long at = h_wait_event(&H, from, 10, RELOAD_FAILED, NULL);
    cr_expect_geq(at, 0, "the revert was not loaded again");
    if (at >= 0)
        cr_expect_not_null(strstr(h_str(&H, at, "error"), "token_file"), "%s",
                           h_str(&H, at, "error"));
    cr_expect_eq(last_reload_ok(), 0, "a revert called the failure over");

    /* Mended, the Secret is read at the next reload. */
    put_token("a-good-token-0123456789\n");
    from = H.count;
    h_signal(&H, SIGHUP);
    cr_expect_geq(h_wait_event(&H, from, 10, "config reloaded", NULL), 0);
    cr_expect_eq(last_reload_ok(), 1);
}

/* A short token is guessable: `run` says so at start and at each reload
 * that keeps one, not only `check`. */
T(a_short_token_is_warned_of_at_start_and_at_reload, 30)
{
    static const char short_token[] = "http:\n"
                                      "  listen: 127.0.0.1:0\n"
                                      "  token: short-tok\n" MAIN_SERVICE;
    static const char warning[] =
        "the write token is shorter than 16 bytes; it can be guessed";
    h_start(&H, short_token);
    long at = h_wait_event(&H, 0, H_WAIT, warning, NULL);
    cr_assert_geq(at, 0, "no warning at start");
    cr_expect_null(strstr(H.raw[at], "short-tok"), "%s", H.raw[at]);
    size_t from = H.count;
    h_signal(&H, SIGHUP);
    cr_assert_geq(h_wait_event(&H, from, H_WAIT, "config reloaded", NULL), 0);
    at = h_wait_event(&H, from, H_WAIT, warning, NULL);
    cr_assert_geq(at, 0, "no warning at the reload");
    cr_expect_null(strstr(H.raw[at], "short-tok"), "%s", H.raw[at]);
}
