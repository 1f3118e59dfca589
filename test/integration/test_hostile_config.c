/*
 * Hostile and careless configs through the real binary: services and exec
 * probes do not inherit the write token; http.token_file works and is
 * re-read on SIGHUP; a token no request could match is refused by check;
 * a failed reload does not show what ${VAR} expands to; an alias bomb is
 * refused at once.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

static struct harness H;
static char body[65536];

static void teardown(void)
{
    h_cleanup(&H);
}

#define T(name, secs)                                                          \
    Test(hostile_config, name, .timeout = secs, .fini = teardown)

#define TOKEN     "tok-0123456789abcdef"
#define NEW_TOKEN "tok-fedcba9876543210"
#define SECRET    "hunter2-Pa55word"

static int post_reload(int port, const char *token)
{
    return h_post_at(port, "/reload", token, "", body, sizeof(body));
}

/* True when the environment dump text sets name. */
static bool env_sets(const char *text, const char *name)
{
    size_t n = strlen(name);
    for (const char *l = text; l && *l;
         l = strchr(l, '\n'), l = l ? l + 1 : l) {
        if (strncmp(l, name, n) == 0 && l[n] == '=')
            return true;
    }
    return false;
}

T(services_and_exec_probes_do_not_inherit_the_token, 30)
{
    setenv("SIDECAR_TOKEN", TOKEN, 1);
    h_start(&H, "http:\n"
                "  listen: 127.0.0.1:0\n"
                "  token: \"${SIDECAR_TOKEN}\"\n"
                "services:\n"
                "  main:\n"
                "    role: main\n"
                "    command: 'env > @DIR@/main.tmp && mv @DIR@/main.tmp "
                "@DIR@/main.env; exec sleep 60'\n"
                "  asks:\n"
                "    restart: never\n"
                "    env: {SIDECAR_TOKEN: \"${SIDECAR_TOKEN}\"}\n"
                "    command: 'env > @DIR@/asks.tmp && mv @DIR@/asks.tmp "
                "@DIR@/asks.env'\n"
                "probes:\n"
                "  dump:\n"
                "    type: exec\n"
                "    period: 1s\n"
                "    timeout: 900ms\n"
                "    command: 'env > @DIR@/probe.tmp && mv @DIR@/probe.tmp "
                "@DIR@/probe.env'\n");
    cr_assert(h_wait_file(&H, "main.env", 1, H_WAIT), "main wrote no env");
    cr_assert(h_wait_file(&H, "asks.env", 1, H_WAIT), "asks wrote no env");
    cr_assert(h_wait_file(&H, "probe.env", 1, H_WAIT), "probe wrote no env");
    const char *main_env = h_read_file(h_path(&H, "main.env"));
    cr_expect(env_sets(main_env, "PATH"), "main has no PATH: %s", main_env);
    cr_expect_not(env_sets(main_env, "SIDECAR_TOKEN"), "main got the token");
    cr_expect_null(strstr(main_env, TOKEN), "main got the token");
    cr_expect_null(strstr(h_read_file(h_path(&H, "probe.env")), TOKEN),
                   "the exec probe got the token");
    cr_expect(env_sets(h_read_file(h_path(&H, "asks.env")), "SIDECAR_TOKEN"),
              "a service whose env names the token did not get it");
    /* sidecar itself still has it: the write API works. */
    cr_expect_eq(post_reload(h_http_port(&H), TOKEN), 200, "%s", body);
}

/* The token file sits outside the test's directory, which h_start makes:
 * it must be there before sidecar first reads its config. */
T(token_file_works_for_post_and_reload, 30)
{
    char dir[] = "/tmp/sidecar-tokfile-XXXXXX";
    char path[128];
    char tmpl[512];
    cr_assert_not_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/token", dir);
    h_put_file(path, TOKEN "\n");
    snprintf(tmpl, sizeof(tmpl),
             "http:\n"
             "  listen: 127.0.0.1:0\n"
             "  token_file: %s\n"
             "services:\n"
             "  main:\n"
             "    role: main\n"
             "    command: 'exec sleep 60'\n",
             path);
    h_start(&H, tmpl);
    int port = h_http_port(&H);
    cr_expect_eq(post_reload(port, TOKEN), 200, "%s", body);
    cr_expect_eq(post_reload(port, NEW_TOKEN), 401, "%s", body);

    h_put_file(path, NEW_TOKEN "\n");
    cr_assert_geq(h_sighup(&H, "config reloaded"), 0, "no reload after SIGHUP");
    cr_expect_eq(post_reload(port, NEW_TOKEN), 200, "%s", body);
    cr_expect_eq(post_reload(port, TOKEN), 401, "%s", body);
    for (size_t i = 0; i < H.count; i++) {
        cr_expect_null(strstr(H.raw[i], TOKEN), "logged: %s", H.raw[i]);
        cr_expect_null(strstr(H.raw[i], NEW_TOKEN), "logged: %s", H.raw[i]);
    }
    unlink(path);
    rmdir(dir);
}

T(failed_reload_does_not_show_the_expanded_secret, 30)
{
    static const char good[] = "services:\n"
                               "  main:\n"
                               "    role: main\n"
                               "    command: 'exec sleep 60'\n";
    static const char typo[] = "services:\n"
                               "  main:\n"
                               "    role: main\n"
                               "    command: 'exec sleep 60'\n"
                               "probes:\n"
                               "  api:\n"
                               "    type: http\n"
                               "    url: \"htp://svc:${API_PASS}@host/\"\n";
    setenv("API_PASS", SECRET, 1);
    h_start(&H, good);
    cr_assert_geq(h_wait_event(&H, 0, H_WAIT, "service started", "main"), 0);
    h_write_config(&H, H.cfg_path, NULL, typo, true);
    long r = h_sighup(&H, "config reload failed: nothing changed");
    cr_assert_geq(r, 0, "no failed reload");
    const char *error = h_str(&H, r, "error");
    cr_assert_not_null(error);
    cr_expect(strstr(error, "${API_PASS}") != NULL, "error: %s", error);
    cr_expect_eq(h_get(&H, "/health/details", body, sizeof(body)), 200);
    cr_expect(strstr(body, "${API_PASS}") != NULL, "details: %s", body);
    cr_expect_null(strstr(body, SECRET), "details show the secret: %s", body);
    /* Every line it will log: sleep dies of SIGTERM, and sidecar with it. */
    h_signal(&H, SIGTERM);
    cr_expect_eq(h_wait_exit(&H, H_WAIT), 128 + SIGTERM);
    for (size_t i = 0; i < H.count; i++)
        cr_expect_null(strstr(H.raw[i], SECRET), "logged: %s", H.raw[i]);
    cr_expect_null(strstr(h_read_file(H.err_path), SECRET), "on stderr");
}

/* ---- sidecar check ------------------------------------------------------ */

/* `sidecar check -c path` within 1 GiB of address space: exit code. */
static int check(const char *path, char *out, size_t len)
{
    const char *args[] = {"check", "-c", path, NULL};
    return h_run_limited(args, 1ul << 30, out, len, H_WAIT);
}

T(check_refuses_a_token_with_a_newline, 20)
{
    char out[4096];
    char want[128];
    const char *path =
        h_temp_file("http:\n  token: \"${SIDECAR_T_NL}\"\n"
                    "services:\n  web: {role: main, command: x}\n");
    setenv("SIDECAR_T_NL", "abcdefghijklmnopqrstuvwxyz\n", 1);
    cr_expect_eq(check(path, out, sizeof(out)), 2, "%s", out);
    snprintf(want, sizeof(want), "%s:2:3: 'token' has whitespace", path);
    cr_expect(strstr(out, want) != NULL, "%s", out);
    cr_expect_null(strstr(out, "abcdefghij"), "check printed the token");
    unlink(path);
}

T(check_warns_of_a_short_token, 20)
{
    char out[4096];
    char want[128];
    const char *path =
        h_temp_file("http:\n  token: abc\n"
                    "services:\n  web: {role: main, command: sleep 1}\n");
    cr_expect_eq(check(path, out, sizeof(out)), 0, "%s", out);
    snprintf(want, sizeof(want), "%s:2:3: warning: ", path);
    cr_expect(strstr(out, want) != NULL, "%s", out);
    cr_expect(strstr(out, "shorter than 16 bytes") != NULL, "%s", out);
    unlink(path);
}

/*
 * The bomb: a 500 KB string aliased 200 times in one env mapping,
 * shared by 2390 services (587 KB, ~958k nodes, ~239 GB of text). Before
 * the bound, 1 GiB of address space ran out.
 */
T(check_refuses_an_alias_bomb_at_once, 60)
{
    const size_t string_len = 500 * 1000;
    const size_t aliases = 200;
    const size_t services = 2390;
    size_t cap = string_len + aliases * 16 + services * 64 + 4096;
    char *text = malloc(cap);
    cr_assert_not_null(text);
    size_t used = (size_t)snprintf(text, cap,
                                   "services:\n  s0:\n    role: main\n"
                                   "    command: x\n    env: &e\n"
                                   "      A0: &s \"");
    memset(text + used, 'x', string_len);
    used += string_len;
    used += (size_t)snprintf(text + used, cap - used, "\"\n");
    for (size_t i = 1; i < aliases; i++)
        used +=
            (size_t)snprintf(text + used, cap - used, "      A%zu: *s\n", i);
    for (size_t i = 1; i < services; i++)
        used += (size_t)snprintf(text + used, cap - used,
                                 "  s%zu: {command: x, env: *e}\n", i);
    cr_assert_lt(used, cap);
    const char *path = h_temp_file(text);
    free(text);
    char out[4096];
    double t0 = h_now();
    int code = check(path, out, sizeof(out));
    double took = h_now() - t0;
    unlink(path);
    cr_expect_eq(code, 2, "exit %d: %s", code, out);
    cr_expect(strstr(out, "aliases repeat more than 16 MiB of text") != NULL,
              "%s", out);
    cr_expect_lt(took, 10, "check took %.1f s", took);
}
