/*
 * conf/: the loader end to end. Every file in fixtures/bad/ must fail at
 * the line, column and message its EXPECTED entry gives; the files in
 * fixtures/good/ and sidecar.yaml.example must load, field by field.
 * Runs from test/, so fixture paths are relative to it.
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/util.h"
#include "conf/load.h"
#include "conf/parse.h"

#include "cfgtest.h"

#define BAD_DIR     "fixtures/bad/"
#define EXPECTED    BAD_DIR "EXPECTED"
#define BAD_MIN     35
#define ENTRIES_MAX 256

struct expected {
    char name[128];
    unsigned line;
    unsigned col;
    char msg[CFG_ERROR_MSG_MAX];
};

/* Reads EXPECTED: "name.yaml<TAB>LINE:COL: message" per line. */
static size_t read_expected(struct expected *out, size_t max)
{
    FILE *f = fopen(EXPECTED, "r");
    char line[1024];
    size_t n = 0;

    cr_assert_not_null(f, "cannot open %s", EXPECTED);
    while (fgets(line, sizeof(line), f) != NULL) {
        struct expected *e = &out[n];
        char *tab = strchr(line, '\t');
        int used = 0;

        line[strcspn(line, "\n")] = '\0';
        cr_assert_not_null(tab, "EXPECTED line without a tab: %s", line);
        cr_assert_lt(n, max);
        *tab = '\0';
        cr_assert_lt(strlen(line), sizeof(e->name), "name too long: %s", line);
        memcpy(e->name, line, strlen(line) + 1);
        cr_assert_eq(sscanf(tab + 1, "%u:%u: %n", &e->line, &e->col, &used), 2,
                     "EXPECTED line for %s: no LINE:COL", line);
        cr_assert_lt(strlen(tab + 1 + used), sizeof(e->msg));
        memcpy(e->msg, tab + 1 + used, strlen(tab + 1 + used) + 1);
        n++;
    }
    fclose(f);
    return n;
}

static struct cfg_root *load_ok(const char *path)
{
    struct cfg_root *root = NULL;
    struct cfg_error err;

    if (cfg_load(path, &root, &err) < 0)
        cr_assert_fail("%s:%u:%u: %s", err.path, err.line, err.col, err.msg);
    return root;
}

Test(cfg, rejects_every_bad_fixture, .timeout = 5)
{
    static struct expected cases[ENTRIES_MAX];
    size_t n = read_expected(cases, ARRAY_SIZE(cases));

    unsetenv("SIDECAR_TEST_SURELY_UNSET");
    cr_expect_geq(n, BAD_MIN, "only %zu bad fixtures", n);
    for (size_t i = 0; i < n; i++) {
        const struct expected *e = &cases[i];
        struct cfg_root *root = NULL;
        struct cfg_error err;
        char path[256];

        cr_assert_lt(snprintf(path, sizeof(path), BAD_DIR "%s", e->name),
                     (int)sizeof(path));
        cr_expect_eq(cfg_load(path, &root, &err), -1, "%s loaded", e->name);
        cfg_free(root);
        cr_expect_str_eq(err.msg, e->msg, "%s", e->name);
        cr_expect_eq(err.line, e->line, "%s: line %u, expected %u", e->name,
                     err.line, e->line);
        cr_expect_eq(err.col, e->col, "%s: column %u, expected %u", e->name,
                     err.col, e->col);
        cr_expect_str_eq(err.path, path);
    }
}

Test(cfg, every_bad_fixture_has_an_expected_entry, .timeout = 5)
{
    static struct expected cases[ENTRIES_MAX];
    size_t n = read_expected(cases, ARRAY_SIZE(cases));
    DIR *dir = opendir(BAD_DIR);
    struct dirent *de;
    size_t files = 0;

    cr_assert_not_null(dir);
    while ((de = readdir(dir)) != NULL) {
        size_t len = strlen(de->d_name);
        bool found = false;

        if (len < 5 || strcmp(de->d_name + len - 5, ".yaml") != 0)
            continue;
        files++;
        for (size_t i = 0; i < n && !found; i++)
            found = strcmp(cases[i].name, de->d_name) == 0;
        cr_expect(found, "%s has no line in EXPECTED", de->d_name);
    }
    closedir(dir);
    cr_expect_eq(files, n, "%zu .yaml files, %zu EXPECTED lines", files, n);
}

Test(cfg, minimal_file_gets_every_default, .timeout = 5)
{
    struct cfg_root *root = load_ok("fixtures/good/minimal.yaml");
    const struct cfg_service *svc = &root->services[0];

    cr_expect_str_eq(root->path, "fixtures/good/minimal.yaml");
    cr_expect_str_eq(root->name, "sidecar");
    cr_expect_str_eq(root->http.listen, "0.0.0.0:8558");
    cr_expect_str_eq(root->http.host, "0.0.0.0");
    cr_expect_eq(root->http.port, 8558);
    cr_expect_str_eq(root->http.token, "");
    cr_expect_eq(root->log.format, CFG_LOG_JSON);
    cr_expect_eq(root->log.level, CFG_LOG_INFO);
    cr_expect_eq(root->log.max_line, 16384);
    cr_expect_eq(root->shutdown.drain_ms, 5000);
    cr_assert_eq(root->services_count, 1);
    cr_expect_eq(root->probes_count, 0);
    cr_expect_eq(root->main_index, 0);
    cr_expect_eq(root->start_order[0], 0);

    cr_expect_str_eq(svc->name, "app");
    cr_expect_eq(svc->mark.line, 3);
    cr_expect_eq(svc->mark.col, 3);
    cr_expect_eq(svc->role, CFG_ROLE_MAIN);
    /* A simple command string runs without a shell. */
    cr_assert_eq(svc->command.argc, 2);
    cr_expect(!svc->command.shell);
    cr_expect_str_eq(svc->command.argv[0], "sleep");
    cr_expect_str_eq(svc->command.argv[1], "infinity");
    cr_expect_null(svc->command.argv[2]);
    cr_expect_eq(svc->env_count, 0);
    cr_expect_null(svc->cwd);
    cr_expect_null(svc->user.name);
    cr_expect_null(svc->group.name);
    cr_expect(!svc->has_umask);
    cr_expect_eq(svc->restart, CFG_RESTART_ALWAYS);
    cr_assert_eq(svc->success_exit_codes_count, 1);
    cr_expect_eq(svc->success_exit_codes[0], 0);
    cr_expect_eq(svc->backoff.initial_ms, 500);
    cr_expect_eq(svc->backoff.max_ms, 30000);
    cr_expect_eq(svc->backoff.reset_after_ms, 30000);
    cr_expect_eq(svc->max_restarts, 10);
    cr_expect_eq(svc->restart_window_ms, 60000);
    cr_expect_eq(svc->stop_signal, SIGTERM);
    cr_expect_eq(svc->stop_timeout_ms, 10000);
    cr_expect(svc->essential, "role main implies essential");
    cr_expect_eq(svc->deps_count, 0);
    cr_assert_eq(svc->forward_signals_count, 2, "SIGHUP reloads sidecar");
    cr_expect_eq(svc->forward_signals[0], SIGUSR1);
    cr_expect_eq(svc->forward_signals[1], SIGUSR2);
    cfg_free(root);
}

Test(cfg, probes_only_file_is_valid, .timeout = 5)
{
    struct cfg_root *root = load_ok("fixtures/good/probes_only.yaml");
    const struct cfg_probe *api = &root->probes[0];
    const struct cfg_probe *db = &root->probes[1];

    cr_expect_str_eq(root->name, "prober");
    cr_expect_str_eq(root->http.host, "");
    cr_expect_eq(root->http.port, 8558);
    cr_expect_eq(root->services_count, 0);
    cr_expect_eq(root->main_index, CFG_NO_INDEX);
    cr_assert_eq(root->probes_count, 2);

    cr_expect_str_eq(api->name, "api");
    cr_expect_eq(api->type, CFG_PROBE_HTTP);
    cr_expect_null(api->service);
    cr_expect_eq(api->service_index, CFG_NO_INDEX);
    cr_expect_eq(api->importance, CFG_IMPORTANCE_CRITICAL);
    cr_expect_eq(api->period_ms, 10000);
    cr_expect_eq(api->timeout_ms, 1000);
    cr_expect_eq(api->initial_delay_ms, 0);
    cr_expect_eq(api->failure_threshold, 3);
    cr_expect_eq(api->success_threshold, 1);
    cr_expect(!api->restart_on_failure);
    cr_expect_str_eq(api->url, "http://127.0.0.1:8080/ready");
    cr_expect_str_eq(api->method, "GET");
    cr_expect_eq(api->headers_count, 0);
    cr_assert_eq(api->expect_status_count, 1);
    cr_expect_eq(api->expect_status[0].lo, 200);
    cr_expect_eq(api->expect_status[0].hi, 399);
    cr_expect_null(api->expect_body);
    cr_expect(!api->insecure);
    cr_expect_eq(api->follow_redirects, CFG_REDIRECTS_SAME_HOST);
    cr_expect_null(api->host);

    cr_expect_eq(db->type, CFG_PROBE_TCP);
    cr_expect_str_eq(db->host, "127.0.0.1");
    cr_expect_eq(db->port, 5432);
    cr_expect_eq(db->importance, CFG_IMPORTANCE_HIGH);
    cr_expect_null(db->url);
    cr_expect_null(db->method);
    cr_expect_eq(db->expect_status_count, 0);
    cfg_free(root);
}

static void expect_argv(const struct cfg_command *cmd, const char *const *want,
                        size_t n)
{
    cr_assert_eq(cmd->argc, n);
    for (size_t i = 0; i < n; i++)
        cr_expect_str_eq(cmd->argv[i], want[i]);
    cr_expect_null(cmd->argv[n]);
}

static void check_full_services(const struct cfg_root *root)
{
    static const char *const web_argv[] = {"python3", "-m", "http.server",
                                           "8000"};
    static const char *const cache_argv[] = {"/bin/sh", "-c",
                                             "exec redis-server --port 6379"};
    const struct cfg_service *web = &root->services[0];
    const struct cfg_service *cache = &root->services[1];
    const struct cfg_service *warmer = &root->services[2];

    cr_expect_str_eq(web->name, "web");
    cr_expect_eq(web->role, CFG_ROLE_MAIN);
    expect_argv(&web->command, web_argv, ARRAY_SIZE(web_argv));
    cr_expect(!web->command.shell);
    cr_assert_eq(web->env_count, 4);
    cr_expect_str_eq(web->env[0], "PORT=8000");
    cr_expect_str_eq(web->env[1], "WORKERS=4");
    cr_expect_str_eq(web->env[2], "VERBOSE=true");
    cr_expect_str_eq(web->env[3], "PRICE=$5 none $HOME");
    cr_expect_str_eq(web->cwd, "/srv");
    cr_expect_str_eq(web->user.name, "www-data");
    cr_expect_str_eq(web->group.name, "staff");
    cr_expect(web->has_umask);
    cr_expect_eq(web->umask, 027);
    cr_expect_eq(web->restart, CFG_RESTART_ON_FAILURE);
    cr_assert_eq(web->success_exit_codes_count, 2);
    cr_expect_eq(web->success_exit_codes[0], 0);
    cr_expect_eq(web->success_exit_codes[1], 143);
    cr_expect_eq(web->backoff.initial_ms, 250);
    cr_expect_eq(web->backoff.max_ms, 60000);
    cr_expect_eq(web->backoff.reset_after_ms, 120000);
    cr_expect_eq(web->max_restarts, 5);
    cr_expect_eq(web->restart_window_ms, 300000);
    cr_expect_eq(web->stop_signal, SIGINT);
    cr_expect_eq(web->stop_timeout_ms, 30000);
    cr_expect(web->essential);
    cr_assert_eq(web->deps_count, 2);
    cr_expect_str_eq(web->deps[0].name, "cache");
    cr_expect_eq(web->deps[0].index, 1);
    cr_expect_eq(web->deps[0].cond, CFG_DEP_HEALTHY);
    cr_expect_str_eq(web->deps[1].name, "warmer");
    cr_expect_eq(web->deps[1].index, 2);
    cr_expect_eq(web->deps[1].cond, CFG_DEP_STARTED);
    cr_assert_eq(web->forward_signals_count, 2);
    cr_expect_eq(web->forward_signals[0], SIGHUP);
    cr_expect_eq(web->forward_signals[1], SIGWINCH);

    cr_expect_eq(cache->role, CFG_ROLE_HELPER);
    expect_argv(&cache->command, cache_argv, ARRAY_SIZE(cache_argv));
    cr_expect(cache->command.shell);
    cr_assert_eq(cache->env_count, 1);
    cr_expect_str_eq(cache->env[0], "LANG=C.UTF-8");
    cr_expect_eq(cache->stop_signal, SIGQUIT);
    cr_expect(cache->essential);
    cr_expect_eq(cache->forward_signals_count, 0, "helpers forward none");

    cr_expect(!warmer->essential);
    cr_assert_eq(warmer->env_count, 1, "env from the alias *shared");
    cr_expect_str_eq(warmer->env[0], "LANG=C.UTF-8");
    cr_expect_eq(warmer->restart, CFG_RESTART_NEVER);
    cr_expect(warmer->has_umask);
    cr_expect_eq(warmer->umask, 022, "a plain 022 is octal too");
    cr_assert_eq(warmer->deps_count, 1);
    cr_expect_eq(warmer->deps[0].index, 1);
    cr_expect_eq(warmer->deps[0].cond, CFG_DEP_STARTED);
    cr_expect_eq(warmer->forward_signals_count, 0);
    cr_expect_eq(warmer->max_restarts, 0);
    cr_expect_eq(warmer->stop_timeout_ms, 0);
}

static void check_full_probes(const struct cfg_root *root)
{
    static const char *const disk_argv[] = {
        "/bin/sh", "-c", "test $(df --output=avail / | tail -1) -gt 100000"};
    const struct cfg_probe *http = &root->probes[0];
    const struct cfg_probe *tcp = &root->probes[1];
    const struct cfg_probe *disk = &root->probes[2];
    const struct cfg_probe *ttl = &root->probes[3];

    cr_expect_str_eq(http->name, "web-http");
    cr_expect_eq(http->type, CFG_PROBE_HTTP);
    cr_expect_str_eq(http->service, "web");
    cr_expect_eq(http->service_index, 0);
    cr_expect_eq(http->importance, CFG_IMPORTANCE_CRITICAL);
    cr_expect_str_eq(http->url, "https://127.0.0.1:8000/healthz?full=1");
    cr_expect_str_eq(http->method, "HEAD");
    cr_assert_eq(http->headers_count, 2);
    cr_expect_str_eq(http->headers[0].name, "Host");
    cr_expect_str_eq(http->headers[0].value, "orders.local");
    cr_expect_str_eq(http->headers[1].name, "Authorization");
    cr_expect_str_eq(http->headers[1].value, "Bearer s3cret");
    cr_assert_eq(http->expect_status_count, 3);
    cr_expect(http->expect_status[0].lo == 200 &&
              http->expect_status[0].hi == 200);
    cr_expect(http->expect_status[1].lo == 204 &&
              http->expect_status[1].hi == 204);
    cr_expect(http->expect_status[2].lo == 300 &&
              http->expect_status[2].hi == 304);
    cr_expect_str_eq(http->expect_body, "\"ok\"");
    cr_expect(http->insecure);
    cr_expect_eq(http->follow_redirects, CFG_REDIRECTS_ALL);
    cr_expect_eq(http->period_ms, 5000);
    cr_expect_eq(http->timeout_ms, 1500);
    cr_expect_eq(http->initial_delay_ms, 2000);
    cr_expect_eq(http->failure_threshold, 5);
    cr_expect_eq(http->success_threshold, 2);
    cr_expect(http->restart_on_failure);

    cr_expect_eq(tcp->type, CFG_PROBE_TCP);
    cr_expect_eq(tcp->service_index, 1);
    cr_expect_eq(tcp->importance, CFG_IMPORTANCE_HIGH);
    cr_expect_str_eq(tcp->host, "localhost");
    cr_expect_eq(tcp->port, 6379, "a quoted number is a number");
    cr_expect_eq(tcp->period_ms, 2000);
    cr_expect_eq(tcp->timeout_ms, 500);

    cr_expect_eq(disk->type, CFG_PROBE_EXEC);
    cr_expect_eq(disk->importance, CFG_IMPORTANCE_LOW);
    expect_argv(&disk->command, disk_argv, ARRAY_SIZE(disk_argv));
    cr_expect(disk->command.shell);
    cr_expect_eq(disk->period_ms, 60000);
    cr_expect_eq(disk->timeout_ms, 10000);

    cr_expect_eq(ttl->type, CFG_PROBE_TTL);
    cr_expect_eq(ttl->ttl_ms, 2 * 3600 * 1000);
    cr_expect_eq(ttl->service_index, CFG_NO_INDEX);
}

Test(cfg, full_file_sets_every_field, .timeout = 5)
{
    struct cfg_root *root;

    setenv("SIDECAR_TEST_TOKEN", "s3cret", 1);
    unsetenv("SIDECAR_TEST_POD");
    unsetenv("SIDECAR_TEST_UNSET");
    root = load_ok("fixtures/good/full.yaml");
    cr_expect_str_eq(root->name, "orders");
    cr_expect_str_eq(root->http.listen, "[::1]:9000");
    cr_expect_str_eq(root->http.host, "::1");
    cr_expect_eq(root->http.port, 9000);
    cr_expect_str_eq(root->http.token, "s3cret");
    cr_expect_eq(root->log.format, CFG_LOG_TEXT);
    cr_expect_eq(root->log.level, CFG_LOG_DEBUG);
    cr_expect_eq(root->log.max_line, 65536);
    cr_expect_eq(root->shutdown.drain_ms, 90000);
    cr_assert_eq(root->services_count, 3);
    cr_assert_eq(root->probes_count, 4);
    cr_expect_eq(root->main_index, 0);
    cr_expect_eq(root->start_order[0], 1, "cache first");
    cr_expect_eq(root->start_order[1], 2, "then warmer, which needs cache");
    cr_expect_eq(root->start_order[2], 0, "web last");
    check_full_services(root);
    check_full_probes(root);
    cfg_free(root);
}

Test(cfg, expands_environment_before_typing, .timeout = 5)
{
    struct cfg_root *root;

    setenv("SIDECAR_TEST_TOKEN", "t", 1);
    setenv("SIDECAR_TEST_POD", "orders-7f9c", 1);
    root = load_ok("fixtures/good/full.yaml");
    cr_expect_str_eq(root->name, "orders-7f9c");
    cfg_free(root);
}

Test(cfg, example_config_is_valid, .timeout = 5)
{
    struct cfg_root *root;

    unsetenv("SIDECAR_TOKEN");
    root = load_ok("../sidecar.yaml.example");
    cr_expect_str_eq(root->http.listen, "127.0.0.1:8558");
    cr_expect_str_eq(root->http.token, "");
    cr_expect_geq(root->services_count, 2);
    cr_expect_neq(root->main_index, CFG_NO_INDEX);
    cr_expect_geq(root->probes_count, 3);
    cfg_free(root);
}

Test(cfg, start_order_breaks_ties_by_file_order, .timeout = 5)
{
    static const char text[] = "services:\n"
                               "  d: {command: x, depends_on: [b]}\n"
                               "  c: {command: x}\n"
                               "  b: {command: x, depends_on: [a]}\n"
                               "  a: {command: x, role: main}\n"
                               "  e: {command: x, depends_on: [d, c]}\n";
    static const size_t want[] = {1, 3, 2, 0, 4}; /* c a b d e */
    struct cfg_error err;
    struct cfg_root *root = ut_load(text, &err);

    cr_assert_not_null(root, "%u:%u: %s", err.line, err.col, err.msg);
    for (size_t i = 0; i < ARRAY_SIZE(want); i++)
        cr_expect_eq(root->start_order[i], want[i], "position %zu", i);
    cfg_free(root);
}

Test(cfg, empty_value_means_default, .timeout = 5)
{
    static const char text[] = "name:\n"
                               "http:\n"
                               "services:\n"
                               "  web:\n"
                               "    role: main\n"
                               "    command: [\"true\"]\n"
                               "    stop_signal: ~\n"
                               "    backoff: null\n"
                               "probes:\n";
    struct cfg_error err;
    struct cfg_root *root = ut_load(text, &err);

    cr_assert_not_null(root, "%u:%u: %s", err.line, err.col, err.msg);
    cr_expect_str_eq(root->name, "sidecar");
    cr_expect_eq(root->services[0].stop_signal, SIGTERM);
    cr_expect_eq(root->services[0].backoff.initial_ms, 500);
    cr_expect_eq(root->probes_count, 0);
    cfg_free(root);
}

Test(cfg, aliases_share_nodes, .timeout = 5)
{
    static const char text[] = "services:\n"
                               "  web:\n"
                               "    role: main\n"
                               "    command: &cmd [\"sleep\", \"1000\"]\n"
                               "    stop_timeout: &grace 3s\n"
                               "  twin:\n"
                               "    command: *cmd\n"
                               "    stop_timeout: *grace\n";
    struct cfg_error err;
    struct cfg_root *root = ut_load(text, &err);

    cr_assert_not_null(root, "%u:%u: %s", err.line, err.col, err.msg);
    cr_expect_str_eq(root->services[1].command.argv[1], "1000");
    cr_expect_eq(root->services[1].stop_timeout_ms, 3000);
    cfg_free(root);
}

Test(cfg, alias_cannot_refer_to_itself, .timeout = 5)
{
    ut_expect_error("services: &s\n  web: *s\n", 2, 8,
                    "unknown alias '*s'; define '&s' on a complete node before "
                    "it");
}

Test(cfg, env_values_are_expanded_keys_are_not, .timeout = 5)
{
    setenv("CFG_T_CMD", "sleep 5", 1);
    ut_expect_error(
        "services:\n  web:\n    role: main\n    command: "
        "${CFG_T_CMD}\n    ${CFG_T_CMD}: x\n",
        5, 5,
        "unknown key '${CFG_T_CMD}' in service 'web'; expected one "
        "of: role, command, env, cwd, user, group, umask, restart, "
        "success_exit_codes, backoff, max_restarts, restart_window, "
        "stop_signal, stop_timeout, essential, depends_on, "
        "forward_signals, ready, ready_timeout, watchdog");
}

Test(cfg, expansion_error_points_at_value, .timeout = 5)
{
    unsetenv("CFG_T_UNSET");
    ut_expect_error("probes:\n  db:\n    type: tcp\n    port: ${CFG_T_UNSET}\n",
                    4, 11,
                    "environment variable CFG_T_UNSET is not set; write "
                    "${CFG_T_UNSET:-} for an empty default");
}

Test(cfg, expanded_value_is_typed, .timeout = 5)
{
    setenv("CFG_T_PORT", "abc", 1);
    ut_expect_error("probes:\n  db:\n    type: tcp\n    port: ${CFG_T_PORT}\n",
                    4, 11,
                    "expected an integer for 'port', found '${CFG_T_PORT}'");
}

Test(cfg, first_error_wins, .timeout = 5)
{
    ut_expect_error("services:\n  web:\n    restrat: always\n    role: mian\n",
                    3, 5,
                    "unknown key 'restrat' in service 'web'; did you mean "
                    "'restart'?");
}

Test(cfg, duplicate_key_reported_in_file_order, .timeout = 5)
{
    ut_expect_error("name: a\nname: b\nservices:\n  web: {x: 1, x: 2}\n", 2, 1,
                    "duplicate key 'name' (first at line 1, column 1)");
}

Test(cfg, rejects_deep_nesting, .timeout = 5)
{
    char text[200];

    memset(text, '[', sizeof(text) - 1);
    text[sizeof(text) - 1] = '\0';
    memcpy(text, "name: ", 6);
    ut_expect_error(text, 1, 38, "nesting deeper than 32 levels");
}

Test(cfg, long_values_are_cut_in_messages, .timeout = 5)
{
    ut_expect_error(
        "services:\n  web:\n    role: main\n    command: x\n"
        "    restart: "
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n",
        5, 14,
        "expected one of always, on-failure, never for 'restart', "
        "found 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa...'");
}

Test(cfg, missing_file_has_no_position, .timeout = 5)
{
    struct cfg_root *root = NULL;
    struct cfg_error err;

    cr_assert_eq(cfg_load("fixtures/no-such-file.yaml", &root, &err), -1);
    cr_expect_null(root);
    cr_expect_eq(err.line, 0);
    cr_expect_str_eq(err.msg, "cannot open: No such file or directory");
}

Test(cfg, directory_is_not_a_file, .timeout = 5)
{
    struct cfg_root *root = NULL;
    struct cfg_error err;

    cr_assert_eq(cfg_load("fixtures", &root, &err), -1);
    cr_expect_str_eq(err.msg, "not a regular file");
}

/* Opened without O_NONBLOCK, a FIFO with no writer blocks forever. */
Test(cfg, fifo_is_refused_without_blocking, .timeout = 5)
{
    char dir[] = "/tmp/sidecar-conf-XXXXXX";
    char fifo[64];
    struct cfg_root *root = NULL;
    struct cfg_error err;

    cr_assert_not_null(mkdtemp(dir));
    snprintf(fifo, sizeof(fifo), "%s/sidecar.yaml", dir);
    cr_assert_eq(mkfifo(fifo, 0600), 0);
    cr_expect_eq(cfg_load(fifo, &root, &err), -1);
    cr_expect_null(root);
    cr_expect_eq(err.line, 0);
    cr_expect_str_eq(err.msg, "not a regular file");
    unlink(fifo);
    rmdir(dir);
}

Test(cfg, oversized_buffer_is_refused, .timeout = 5)
{
    static char big[1024 * 1024 + 1];
    struct cfg_root *root = NULL;
    struct cfg_error err;

    memset(big, '#', sizeof(big));
    cr_assert_eq(cfg_load_buffer("big.yaml", big, sizeof(big), &root, &err),
                 -1);
    cr_expect_str_eq(err.msg,
                     "larger than 1048576 bytes; is this the right file?");
}

Test(cfg, error_prints_as_path_line_col, .timeout = 5)
{
    struct cfg_error err;
    char buf[512] = "";
    FILE *out;

    cfg_error_set(NULL, "x", 1, 1, "ignored");
    memset(&err, 0, sizeof(err));
    cfg_error_set(&err, "a.yaml", 3, 7, "bad %s", "thing");
    cfg_error_set(&err, "b.yaml", 1, 1, "second");
    out = fmemopen(buf, sizeof(buf), "w");
    cr_assert_not_null(out);
    cfg_error_print(&err, out);
    err.line = 0;
    cfg_error_print(&err, out);
    fclose(out);
    cr_expect_str_eq(buf, "a.yaml:3:7: bad thing\na.yaml: bad thing\n");
}

Test(cfg, load_clears_a_stale_error, .timeout = 5)
{
    struct cfg_error err;
    struct cfg_root *root;

    cr_assert_null(ut_load("services: []\n", &err));
    root = ut_load("probes: {p: {type: tcp, port: 1}}\n", &err);
    cr_expect_not_null(root, "stale error kept: %s", err.msg);
    cr_expect_str_eq(err.msg, "");
    cfg_free(root);
}

Test(cfg, free_null_is_a_no_op, .timeout = 5)
{
    cfg_free(NULL);
}

/* A task: restart never unless it says on-failure; completed awaits it. */
Test(cfg, a_task_defaults_to_restart_never_and_may_be_awaited, .timeout = 5)
{
    struct cfg_root *root = ut_load_ok("services:\n"
                                       "  app:\n"
                                       "    role: main\n"
                                       "    command: x\n"
                                       "    depends_on: {migrate: completed}\n"
                                       "  migrate: {role: task, command: m}\n"
                                       "  warm:\n"
                                       "    role: task\n"
                                       "    command: w\n"
                                       "    restart: on-failure\n");
    const struct cfg_service *app = &root->services[0];
    const struct cfg_service *migrate = &root->services[1];
    const struct cfg_service *warm = &root->services[2];
    cr_expect_eq(migrate->role, CFG_ROLE_TASK);
    cr_expect_eq(migrate->restart, CFG_RESTART_NEVER);
    cr_expect(migrate->depended_on);
    cr_expect_not(migrate->essential, "a task is not essential unless said");
    cr_expect_eq(warm->restart, CFG_RESTART_ON_FAILURE);
    cr_expect_not(warm->depended_on);
    cr_expect_not(app->depended_on);
    cr_expect_eq(app->deps[0].cond, CFG_DEP_COMPLETED);
    cr_expect_eq(root->start_order[0], 1, "the task first");
    cfg_free(root);
}

Test(cfg, started_and_healthy_may_point_at_a_task, .timeout = 5)
{
    struct cfg_root *root = ut_load_ok("services:\n"
                                       "  app:\n"
                                       "    role: main\n"
                                       "    command: x\n"
                                       "    depends_on: [seed]\n"
                                       "  seed: {role: task, command: s}\n");
    cr_expect_eq(root->services[0].deps[0].cond, CFG_DEP_STARTED);
    cr_expect(root->services[1].depended_on);
    cfg_free(root);
}

Test(cfg, completed_needs_a_task_and_names_both, .timeout = 5)
{
    ut_expect_error("services:\n"
                    "  app:\n"
                    "    role: main\n"
                    "    command: x\n"
                    "    depends_on: {db: completed}\n"
                    "  db: {command: d}\n",
                    5, 18,
                    "service 'app' waits for 'db' to be completed, but only "
                    "a task completes; 'db' needs 'role: task'");
}

Test(cfg, a_task_may_not_restart_always, .timeout = 5)
{
    ut_expect_error("services:\n"
                    "  app: {role: main, command: x}\n"
                    "  m: {role: task, command: m, restart: always}\n",
                    3, 40,
                    "service 'm' has role task, which runs to completion; "
                    "restart may be on-failure or never");
}

/* ready: exec, notify, or s6's {fd: N} (issue 18). */
Test(cfg, ready_is_a_word_or_a_descriptor, .timeout = 5)
{
    struct cfg_error err;
    struct cfg_root *root = ut_load("services:\n  a:\n    role: main\n"
                                    "    command: x\n    ready: {fd: 5}\n"
                                    "  b:\n    command: x\n    ready: notify\n"
                                    "    ready_timeout: 2s\n"
                                    "  c:\n    command: x\n",
                                    &err);
    cr_assert_not_null(root, "%s", err.msg);
    cr_expect_eq(root->services[0].ready, CFG_READY_FD);
    cr_expect_eq(root->services[0].ready_fd, 5);
    cr_expect_eq(root->services[1].ready, CFG_READY_NOTIFY);
    cr_expect_eq(root->services[1].ready_timeout_ms, 2000);
    cr_expect_eq(root->services[2].ready, CFG_READY_EXEC);
    cr_expect_eq(root->services[2].ready_timeout_ms, 60000);
    cfg_free(root);
    ut_expect_error("services:\n  a:\n    role: main\n    command: x\n"
                    "    ready: {fd: 2}\n",
                    5, 17,
                    "expected an integer from 3 to 1023 for 'fd', found '2'");
    ut_expect_error("services:\n  a:\n    role: main\n    command: x\n"
                    "    ready: fd\n",
                    5, 12,
                    "expected exec, notify or {fd: N} (N from 3 to 1023) for "
                    "'ready', found 'fd'");
    ut_expect_error("services:\n  a:\n    role: main\n    command: x\n"
                    "    ready: {fdx: 3}\n",
                    5, 12,
                    "expected exec, notify or {fd: N} (N from 3 to 1023) for "
                    "'ready', found a mapping");
}

/* kubelet accepts periodSeconds: 1 with its default 1 s timeout, and a
 * timeout longer than the period: runs then wait for each other. */
Test(cfg, a_timeout_as_long_as_the_period_or_longer_is_valid, .timeout = 5)
{
    struct cfg_root *root =
        ut_load_ok("probes:\n"
                   "  one: { type: tcp, port: 80, period: 1s }\n"
                   "  two: { type: tcp, port: 80, period: 1s, timeout: 5s }\n");

    cr_expect_eq(root->probes[0].timeout_ms, 1000);
    cr_expect_eq(root->probes[0].period_ms, 1000);
    cr_expect_eq(root->probes[1].timeout_ms, 5000);
    cfg_free(root);
}

Test(cfg, follow_redirects_is_same_host_true_or_false, .timeout = 5)
{
    static const struct {
        const char *value;
        enum cfg_redirects want;
    } cases[] = {
        {"same-host", CFG_REDIRECTS_SAME_HOST},
        {"true", CFG_REDIRECTS_ALL},
        {"false", CFG_REDIRECTS_NONE},
    };
    char text[256];

    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        snprintf(text, sizeof(text),
                 "probes:\n  web: { type: http, url: 'http://h/', "
                 "follow_redirects: %s }\n",
                 cases[i].value);
        struct cfg_root *root = ut_load_ok(text);
        cr_expect_eq(root->probes[0].follow_redirects, cases[i].want, "%s",
                     cases[i].value);
        cfg_free(root);
    }
    ut_expect_error("probes:\n  web: { type: http, url: 'http://h/', "
                    "follow_redirects: yes }\n",
                    2, 58,
                    "expected one of same-host, true, false for "
                    "'follow_redirects', found 'yes'");
}
