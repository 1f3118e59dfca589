/*
 * What a new user reads must be what happens (issue 14, items 4-6): a
 * service gets none of sidecar's supplementary groups unless it asks, and
 * sidecar says so when it cannot drop them; the check endpoints say why a
 * check passes though its probe or service is not well; the log names the
 * true reason for a shutdown, logs "service started" only for a program
 * that was executed, and says what changed in each "health changed".
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

static struct harness H;
static char body[16384];

static void teardown(void)
{
    h_cleanup(&H);
}

#define T(name, secs)                                                          \
    Test(newuser_truth, name, .timeout = secs, .fini = teardown)

/* The strings of list field key of line idx, joined with ','. */
static const char *list_of(long idx, const char *key)
{
    static char out[512];
    json_t *list = json_object_get(H.json[idx], key);
    size_t k;
    json_t *v;
    out[0] = '\0';
    json_array_foreach(list, k, v)
    {
        size_t len = strlen(out);
        snprintf(out + len, sizeof(out) - len, "%s%s", k ? "," : "",
                 json_string_value(v));
    }
    return out;
}

/* "4(adm)" as this machine's group database names gid. */
static const char *gid_name(gid_t gid)
{
    static char out[96];
    const struct group *gr = getgrgid(gid);
    if (gr)
        snprintf(out, sizeof(out), "%lu(%s)", (unsigned long)gid, gr->gr_name);
    else
        snprintf(out, sizeof(out), "%lu", (unsigned long)gid);
    return out;
}

#define KEPT_WARNING                                                           \
    "services and exec probes keep sidecar's supplementary groups: it "        \
    "cannot drop them without CAP_SETGID, or in a user namespace that "        \
    "denies setgroups"

T(a_root_sidecar_passes_none_of_its_groups_on, 30)
{
    if (geteuid() != 0)
        cr_skip_test("needs root");
    /* As `setpriv --groups 4,24 -- sidecar run` would start it. */
    static const gid_t extra[] = {4, 24};
    h_start_as(&H,
               "services:\n"
               "  main:\n"
               "    role: main\n"
               "    restart: never\n"
               "    command: 'id -G; until [ -e @DIR@/done ]; do sleep 0.05; "
               "done'\n"
               "  named:\n"
               "    restart: never\n"
               "    user: nobody\n"
               "    command: ['id', '-G']\n"
               "probes:\n"
               "  groups:\n"
               "    type: exec\n"
               "    command: ['id', '-G']\n"
               "    period: 500ms\n"
               "    timeout: 450ms\n",
               &(struct h_creds){.uid = 0, .groups = extra, .groups_count = 2});
    cr_assert_geq(h_wait_event(&H, 0, H_WAIT, "service exited", "named"), 0);
    size_t from = 0;
    long p = h_wait_probe_state(&H, &from, "groups", "passing", H_WAIT);
    cr_assert_geq(p, 0);
    cr_expect_str_eq(h_str(&H, p, "reason"), "0", "an exec probe has none");
    h_touch(&H, "done");
    cr_assert_eq(h_wait_exit(&H, H_WAIT), 0);
    cr_expect_str_eq(h_line_of(&H, "main", ""), "0");
    cr_expect_str_eq(h_line_of(&H, "named", ""), "65534",
                     "nobody's own groups");
    cr_expect_eq(h_find_event(&H, 0, KEPT_WARNING, NULL), -1);
}

/* A main service that prints its groups, as `id -G`. */
#define ID_MAIN                                                                \
    "services:\n"                                                              \
    "  main:\n"                                                                \
    "    role: main\n"                                                         \
    "    restart: never\n"                                                     \
    "    command: ['id', '-G']\n"

T(a_sidecar_that_cannot_drop_its_groups_says_so_and_runs, 30)
{
    if (geteuid() != 0)
        cr_skip_test("needs root to become another user with groups");
    static const gid_t extra[] = {4, 24};
    const uid_t uid = 64125;
    h_start_as(
        &H, ID_MAIN,
        &(struct h_creds){.uid = uid, .groups = extra, .groups_count = 2});
    long w = h_wait_event(&H, 0, H_WAIT, KEPT_WARNING, NULL);
    cr_assert_geq(w, 0, "no warning of the groups kept");
    cr_expect_str_eq(h_str(&H, w, "level"), "warn");
    char want[256];
    snprintf(want, sizeof(want), "%s,", gid_name(4));
    snprintf(want + strlen(want), sizeof(want) - strlen(want), "%s",
             gid_name(24));
    cr_expect_str_eq(list_of(w, "groups"), want);
    cr_expect_eq(h_wait_exit(&H, H_WAIT), 0, "it runs all the same");
    cr_expect_str_eq(h_line_of(&H, "main", ""), "64125 4 24",
                     "kept, as warned");
    cr_expect_eq(h_count_events(&H, 0, KEPT_WARNING, NULL), 1, "said once");
}

T(a_sidecar_whose_only_group_is_its_own_does_not_warn, 30)
{
    if (geteuid() != 0)
        cr_skip_test("needs root to become another user with groups");
    /* Kubernetes' fsGroup equal to runAsGroup gives this. */
    static const gid_t own[] = {64125};
    h_start_as(
        &H, ID_MAIN,
        &(struct h_creds){.uid = 64125, .groups = own, .groups_count = 1});
    cr_expect_eq(h_wait_exit(&H, H_WAIT), 0);
    cr_expect_str_eq(h_line_of(&H, "main", ""), "64125");
    cr_expect_eq(h_find_event(&H, 0, KEPT_WARNING, NULL), -1);
}

static const char degraded_yaml[] =
    "services:\n"
    "  web:\n"
    "    role: main\n"
    "    command: ['@HELPER@', 'run', 'web', '@DIR@/log']\n"
    "  low:\n"
    "    restart: never\n"
    "    command: ['@HELPER@', 'exit', '1']\n"
    "probes:\n"
    "  core:\n"
    "    type: exec\n"
    "    command: 'test ! -e @DIR@/core-down'\n"
    "    period: 500ms\n"
    "    timeout: 450ms\n"
    "    failure_threshold: 1\n"
    "  cache:\n"
    "    type: exec\n"
    "    importance: high\n"
    "    command: 'echo cache is cold; exit 1'\n"
    "    period: 500ms\n"
    "    timeout: 450ms\n"
    "    failure_threshold: 1\n";

static void expect_get(const char *path, int status, const char *text)
{
    cr_expect_eq(h_get(&H, path, body, sizeof(body)), status, "%s", path);
    cr_expect_str_eq(body, text, "%s:\n%s", path, body);
}

T(checks_that_pass_say_what_is_wrong_and_why_it_does_not_count, 30)
{
    h_start(&H, degraded_yaml);
    size_t from = 0;
    cr_assert_geq(h_wait_probe_state(&H, &from, "cache", "failing", H_WAIT), 0);
    from = 0;
    cr_assert_geq(h_wait_probe_state(&H, &from, "core", "passing", H_WAIT), 0);
    cr_assert_geq(h_wait_event(&H, 0, H_WAIT, "service exited", "low"), 0);
    cr_assert(h_wait_status(&H, "/readyz", 200, body, sizeof(body), H_WAIT));
    expect_get("/health", 200, "{\"status\":\"DEGRADED\"}\n");

    expect_get("/readyz?verbose", 200,
               "[+]service:web ok\n"
               "[+]service:low exited (not essential: does not affect "
               "readiness)\n"
               "[+]core ok\n"
               "[+]cache failing: exit 1: cache is cold (high: does not "
               "affect readiness)\n"
               "readyz check passed\n");
    expect_get("/readyz/cache", 200,
               "failing: exit 1: cache is cold (high: does not affect "
               "readiness)\n");
    expect_get("/readyz/service:low", 200,
               "exited (not essential: does not affect readiness)\n");
    expect_get("/readyz/core", 200, "ok\n");
    expect_get("/readyz", 200, "ok\n");
    expect_get("/livez?verbose", 200,
               "[+]service:web ok\n"
               "[+]service:low exited (not essential: does not affect "
               "liveness)\n"
               "[+]core ok\n"
               "[+]cache failing: exit 1: cache is cold (high: does not "
               "affect liveness)\n"
               "livez check passed\n");
    expect_get("/startupz?verbose", 200,
               "[+]service:web ok\n"
               "[+]service:low exited (started once)\n"
               "[+]core ok\n"
               "[+]cache failing: exit 1: cache is cold (high: does not "
               "affect startup)\n"
               "startupz check passed\n");
    /* Excluded checks still answer only for the endpoint. */
    expect_get("/readyz?verbose&exclude=cache", 200,
               "[+]service:web ok\n"
               "[+]service:low exited (not essential: does not affect "
               "readiness)\n"
               "[+]core ok\n"
               "[+]cache excluded: ok\n"
               "readyz check passed\n");

    /* A critical probe fails readiness, and only readiness. */
    h_touch(&H, "core-down");
    cr_assert_geq(h_wait_probe_state(&H, &from, "core", "failing", H_WAIT), 0);
    cr_assert(h_wait_status(&H, "/readyz", 503, body, sizeof(body), H_WAIT));
    expect_get("/readyz/core", 503, "failed: exit 1\n");
    expect_get("/livez/core", 200,
               "failing: exit 1 (critical: does not affect liveness)\n");
    expect_get("/startupz/core", 200,
               "failing: exit 1 (critical: passed once)\n");
    h_signal(&H, SIGTERM);
    cr_expect_eq(h_wait_exit(&H, H_WAIT), 0);
}

T(liveness_says_an_essential_service_is_down_but_not_yet_fatal, 30)
{
    h_start(&H, "services:\n"
                "  main:\n"
                "    role: main\n"
                "    command: ['@HELPER@', 'exit', '1']\n"
                "    backoff: { initial: 60s, max: 60s }\n");
    cr_assert_geq(h_wait_event(&H, 0, H_WAIT, "service will restart", "main"),
                  0);
    expect_get("/livez?verbose", 200,
               "[+]service:main backoff (essential: fails liveness only "
               "when fatal)\n"
               "livez check passed\n");
    expect_get("/readyz/service:main", 503, "failed: backoff\n");
    h_signal(&H, SIGTERM);
    cr_expect_geq(h_wait_exit(&H, H_WAIT), 0);
}

/* The reason of the "shutting down" line, "" when there is none. */
static const char *shutdown_reason(void)
{
    long i = h_find_event(&H, 0, "shutting down", NULL);
    return i < 0 ? "" : h_str(&H, i, "reason");
}

T(a_main_service_that_never_ran_is_not_called_crash_looping, 30)
{
    h_start(&H, "services:\n"
                "  app:\n"
                "    role: main\n"
                "    command: ['@HELPER@', 'run', 'app', '@DIR@/log']\n"
                "    depends_on: [db]\n"
                "  db:\n"
                "    command: ['/nonexistent/db']\n"
                "    backoff: { initial: 0s }\n"
                "    max_restarts: 1\n");
    cr_expect_eq(h_wait_exit(&H, H_WAIT), 1);
    cr_expect_str_eq(shutdown_reason(), "main service 'app' never started: "
                                        "its dependency 'db' is fatal");
    h_cleanup(&H);

    h_start(&H, "services:\n"
                "  app:\n"
                "    role: main\n"
                "    command: ['@HELPER@', 'run', 'app', '@DIR@/log']\n"
                "    depends_on: [db]\n"
                "  db:\n"
                "    command: ['/nonexistent/db']\n"
                "    restart: never\n");
    cr_expect_geq(h_wait_exit(&H, H_WAIT), 1);
    cr_expect_str_eq(shutdown_reason(),
                     "main service 'app' never started: its dependency 'db' "
                     "exited without running");
    h_cleanup(&H);

    /* A real crash loop still says so. */
    h_start(&H, "services:\n"
                "  app:\n"
                "    role: main\n"
                "    command: ['@HELPER@', 'exit', '3']\n"
                "    backoff: { initial: 0s }\n"
                "    max_restarts: 1\n");
    cr_expect_eq(h_wait_exit(&H, H_WAIT), 3);
    cr_expect_str_eq(shutdown_reason(), "main service 'app' is crash-looping");
}

T(service_started_only_for_a_program_that_was_executed, 30)
{
    h_start(&H, "services:\n"
                "  main:\n"
                "    role: main\n"
                "    restart: never\n"
                "    command: 'until [ -e @DIR@/done ]; do sleep 0.05; done'\n"
                "  ghost:\n"
                "    restart: never\n"
                "    command: ['/nonexistent/ghost']\n");
    long failed =
        h_wait_event(&H, 0, H_WAIT, "service failed to start", "ghost");
    cr_assert_geq(failed, 0);
    long exited = h_wait_event(&H, 0, H_WAIT, "service exited", "ghost");
    cr_assert_geq(exited, 0);
    cr_expect_eq(h_int(&H, exited, "exit_code", -1), 127);
    long started = h_wait_event(&H, 0, H_WAIT, "service started", "main");
    cr_assert_geq(started, 0);
    h_touch(&H, "done");
    cr_expect_eq(h_wait_exit(&H, H_WAIT), 0);
    cr_expect_eq(h_find_event(&H, 0, "service started", "ghost"), -1,
                 "a program that could not be executed did not start");
    long main_exit = h_find_event(&H, 0, "service exited", "main");
    cr_assert_gt(main_exit, started);
    cr_expect_eq(h_int(&H, started, "pid", -1),
                 h_int(&H, main_exit, "pid", -2));
    cr_expect_eq(h_int(&H, started, "restarts", -1), 0);
}

T(health_changed_says_what_changed, 30)
{
    h_start(&H, "shutdown:\n"
                "  drain: 300ms\n"
                "services:\n"
                "  web:\n"
                "    role: main\n"
                "    command: ['@HELPER@', 'run', 'web', '@DIR@/log']\n");
    cr_assert(h_wait_text(&H, "log", "start web", H_WAIT));
    cr_assert(h_wait_status(&H, "/readyz", 200, body, sizeof(body), H_WAIT));
    size_t mark = h_mark(&H);
    h_signal(&H, SIGTERM);
    /* Draining: UP to UP, only readiness turns off. */
    long drain = h_wait_event(&H, mark, H_WAIT, "health changed", NULL);
    cr_assert_geq(drain, 0);
    cr_expect_str_eq(h_str(&H, drain, "cause"), "draining");
    cr_expect_str_eq(h_str(&H, drain, "from"), "UP");
    cr_expect_str_eq(h_str(&H, drain, "to"), "UP");
    cr_expect_str_eq(list_of(drain, "changed"), "ready");
    cr_expect_eq(h_wait_exit(&H, H_WAIT), 0);
    /* Every line names what changed; status exactly when from is not to. */
    long first = h_find_event(&H, 0, "health changed", NULL);
    cr_assert_geq(first, 0);
    cr_expect_str_eq(list_of(first, "changed"), "status,live,ready,started");
    for (long i = first; i >= 0;
         i = h_find_event(&H, (size_t)i + 1, "health changed", NULL)) {
        const char *changed = list_of(i, "changed");
        cr_expect_neq(changed[0], '\0', "line %ld", i);
        bool moved = strcmp(h_str(&H, i, "from"), h_str(&H, i, "to")) != 0;
        cr_expect_eq(strncmp(changed, "status", 6) == 0, moved, "line %ld: %s",
                     i, changed);
    }
}
