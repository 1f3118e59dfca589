/*
 * exec probes as their service: the service's user, groups, environment
 * and cwd, or the probe's own user, group, env and cwd over them; a probe
 * of no service runs as sidecar; the token's variables reach none. And
 * the reason: "exit N: " then the first 4096 bytes of the output, whole.
 */
#define _DEFAULT_SOURCE
#include <criterion/criterion.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"

static struct harness H;

static void teardown(void)
{
    h_cleanup(&H);
}

#define T(name, secs) Test(execas, name, .timeout = secs, .fini = teardown)

/* The reason of probe's first change to state `to`; fails the test if
 * none comes. */
static const char *reason_of(const char *probe, const char *to)
{
    size_t from = 0;
    long i = h_wait_probe_state(&H, &from, probe, to, H_WAIT);
    cr_assert_geq(i, 0, "probe '%s' never %s", probe, to);
    const char *reason = h_str(&H, i, "reason");
    cr_assert_not_null(reason);
    return reason;
}

/* The reason /health/details gives for probe once it has one (a static
 * copy): details are cached up to 1 s, so an answer may predate the run
 * the log just told of. */
static const char *details_reason(const char *probe)
{
    static char body[256 * 1024];
    static char out[16 * 1024];
    double deadline = h_now() + H_WAIT;
    out[0] = '\0';
    while (out[0] == '\0' && h_now() < deadline) {
        cr_assert_eq(h_get(&H, "/health/details", body, sizeof(body)), 200);
        json_error_t err;
        json_t *j = json_loads(body, 0, &err);
        cr_assert_not_null(j, "%s", err.text);
        json_t *probes = json_object_get(j, "probes");
        size_t i;
        json_t *p;
        json_array_foreach(probes, i, p)
        {
            const char *name = json_string_value(json_object_get(p, "name"));
            json_t *last = json_object_get(p, "last");
            if (name && strcmp(name, probe) == 0 && json_is_object(last))
                snprintf(out, sizeof(out), "%s",
                         json_string_value(json_object_get(last, "reason")));
        }
        json_decref(j);
        if (out[0] == '\0')
            h_pump(&H, 0.1);
    }
    return out;
}

T(a_long_output_keeps_exactly_4096_bytes_after_its_prefix, 20)
{
    /* 5000 bytes: 'x's, and 2500 two-byte 'é's, cut between two. */
    h_start(&H, "probes:\n"
                "  long:\n"
                "    type: exec\n"
                "    command: \"head -c 5000 /dev/zero | tr '\\\\0' x; "
                "exit 1\"\n"
                "    period: 2s\n"
                "    failure_threshold: 1\n"
                "  wide:\n"
                "    type: exec\n"
                "    command: \"i=0; while [ $$i -lt 2500 ]; do printf "
                "'\\\\303\\\\251'; i=$$((i+1)); done; kill -9 $$$$\"\n"
                "    period: 2s\n"
                "    failure_threshold: 1\n");
    char want[4200];
    memset(want, 'x', 4096);
    want[4096] = '\0';
    char line[4300];
    snprintf(line, sizeof(line), "exit 1: %s", want);
    cr_expect_str_eq(reason_of("long", "failing"), line);
    cr_expect_str_eq(details_reason("long"), line);
    size_t n = (size_t)snprintf(want, sizeof(want), "killed by SIGKILL: ");
    for (int i = 0; i < 2048; i++, n += 2)
        memcpy(want + n, "\xc3\xa9", 2);
    want[n] = '\0';
    cr_expect_str_eq(reason_of("wide", "failing"), want);
    cr_expect_str_eq(details_reason("wide"), want);
    h_signal(&H, SIGTERM);
    cr_expect_eq(h_wait_exit(&H, 10), 0);
}

T(a_cut_output_ends_before_a_torn_utf8_character, 20)
{
    /* 4095 and 4094 bytes, then a 3-byte euro sign the cut would tear. */
    h_start(&H, "probes:\n"
                "  one:\n"
                "    type: exec\n"
                "    command: \"head -c 4095 /dev/zero | tr '\\\\0' x; "
                "printf '\\\\342\\\\202\\\\254'; exit 1\"\n"
                "    period: 2s\n"
                "    failure_threshold: 1\n"
                "  two:\n"
                "    type: exec\n"
                "    command: \"head -c 4094 /dev/zero | tr '\\\\0' x; "
                "printf '\\\\342\\\\202\\\\254'; exit 1\"\n"
                "    period: 2s\n"
                "    failure_threshold: 1\n");
    char want[4200];
    int n = snprintf(want, sizeof(want), "exit 1: ");
    memset(want + n, 'x', 4095);
    want[n + 4095] = '\0';
    cr_expect_str_eq(reason_of("one", "failing"), want);
    cr_expect_str_eq(details_reason("one"), want);
    want[n + 4094] = '\0';
    cr_expect_str_eq(reason_of("two", "failing"), want);
    cr_expect_str_eq(details_reason("two"), want);
    h_signal(&H, SIGTERM);
    cr_expect_eq(h_wait_exit(&H, 10), 0);
}

T(a_nul_byte_in_the_output_hides_nothing_after_it, 20)
{
    h_start(&H, "probes:\n"
                "  nul:\n"
                "    type: exec\n"
                "    command: \"printf '\\\\0up\\\\0to\\\\0'; exit 1\"\n"
                "    period: 2s\n"
                "    failure_threshold: 1\n");
    /* Each NUL shows as U+FFFD, as a byte that is not UTF-8 does. */
    static const char want[] = "exit 1: \xef\xbf\xbdup\xef\xbf\xbdto"
                               "\xef\xbf\xbd";
    cr_expect_str_eq(reason_of("nul", "failing"), want);
    cr_expect_str_eq(details_reason("nul"), want);
    h_signal(&H, SIGTERM);
    cr_expect_eq(h_wait_exit(&H, 10), 0);
}

/* A file only root may read: its path (static); the caller unlinks it. */
static const char *root_only_file(void)
{
    static char path[256];
    snprintf(path, sizeof(path), "%s", h_temp_file("top secret\n"));
    cr_assert_eq(chmod(path, 0600), 0);
    return path;
}

T(a_probe_runs_as_its_service_or_its_own_keys_and_never_gets_the_token, 30)
{
    if (geteuid() != 0)
        cr_skip_test("needs root");
    const char *secret = root_only_file();
    cr_assert_eq(setenv("EXECAS_TOKEN", "tok-execas-0123456789", 1), 0);
    static char yaml[4096];
    snprintf(yaml, sizeof(yaml),
             "http:\n"
             "  listen: 127.0.0.1:0\n"
             "  token: ${EXECAS_TOKEN}\n"
             "services:\n"
             "  app:\n"
             "    role: main\n"
             "    user: nobody\n"
             "    cwd: /tmp\n"
             "    env: {APP_MODE: blue, SHARED: svc}\n"
             "    command: 'trap \"exit 0\" TERM; while :; do sleep 0.05; "
             "done'\n"
             "probes:\n"
             "  asapp:\n"
             "    type: exec\n"
             "    service: app\n"
             "    command: 'id -u; id -G; pwd; echo $$APP_MODE $$SHARED "
             "$$HOME $$USER $${EXECAS_TOKEN-none}; cat %s'\n"
             "    period: 2s\n"
             "    failure_threshold: 1\n"
             "  asroot:\n"
             "    type: exec\n"
             "    service: app\n"
             "    user: root\n"
             "    cwd: /\n"
             "    env: {SHARED: probe}\n"
             "    command: 'id -u; id -G; pwd; echo $$APP_MODE $$SHARED "
             "$$HOME $${EXECAS_TOKEN-none}; cat %s'\n"
             "    period: 2s\n"
             "  alone:\n"
             "    type: exec\n"
             "    command: 'id -u; echo $${APP_MODE-none} "
             "$${EXECAS_TOKEN-none}'\n"
             "    period: 2s\n",
             secret, secret);
    h_start(&H, yaml);
    char want[512];
    snprintf(want, sizeof(want),
             "exit 1: 65534\n65534\n/tmp\nblue svc /nonexistent nobody "
             "none\ncat: %s: Permission denied",
             secret);
    cr_expect_str_eq(reason_of("asapp", "failing"), want);
    cr_expect_str_eq(reason_of("asroot", "passing"),
                     "0\n0\n/\nblue probe /root none\ntop secret");
    /* No service: sidecar's ids, none of a service's env, no token. */
    cr_expect_str_eq(reason_of("alone", "passing"), "0\nnone none");
    unlink(secret);
    h_signal(&H, SIGTERM);
    cr_expect_eq(h_wait_exit(&H, 10), 0);
}

T(a_reload_that_changes_the_service_changes_its_exec_probe, 30)
{
    if (geteuid() != 0)
        cr_skip_test("needs root");
    static const char before[] = "services:\n"
                                 "  app:\n"
                                 "    role: main\n"
                                 "    user: nobody\n"
                                 "    env: {MODE: one}\n"
                                 "    command: 'trap \"exit 0\" TERM; "
                                 "while :; do sleep 0.05; done'\n"
                                 "probes:\n"
                                 "  who:\n"
                                 "    type: exec\n"
                                 "    service: app\n"
                                 "    command: 'echo $$(id -u) $$MODE'\n"
                                 "    period: 200ms\n"
                                 "    timeout: 150ms\n";
    static const char after[] = "services:\n"
                                "  app:\n"
                                "    role: main\n"
                                "    user: daemon\n"
                                "    env: {MODE: two}\n"
                                "    command: 'trap \"exit 0\" TERM; "
                                "while :; do sleep 0.05; done'\n"
                                "probes:\n"
                                "  who:\n"
                                "    type: exec\n"
                                "    service: app\n"
                                "    command: 'echo $$(id -u) $$MODE'\n"
                                "    period: 200ms\n"
                                "    timeout: 150ms\n";
    h_start(&H, before);
    cr_expect_str_eq(reason_of("who", "passing"), "65534 one");
    h_write_config(&H, H.cfg_path, NULL, after, true);
    long at = h_sighup(&H, "config reloaded");
    cr_assert_geq(at, 0);
    size_t from = (size_t)at;
    long i = h_wait_probe_state(&H, &from, "who", "passing", H_WAIT);
    cr_assert_geq(i, 0);
    cr_expect_str_eq(h_str(&H, i, "reason"), "1 two");
    h_signal(&H, SIGTERM);
    cr_expect_eq(h_wait_exit(&H, 10), 0);
}

T(a_probe_user_sidecar_cannot_switch_to_is_refused, 20)
{
    h_start_as(&H,
               "probes:\n"
               "  disk:\n"
               "    type: exec\n"
               "    user: nobody\n"
               "    command: 'true'\n",
               &(struct h_creds){.uid = 64125});
    cr_expect_eq(h_wait_exit(&H, 10), 2, "a set-up error");
    const char *err = h_read_file(H.err_path);
    cr_expect(strstr(err, "probe 'disk': cannot run as nobody"), "%s", err);
    cr_expect(strstr(err, "without CAP_SETUID, CAP_SETGID and CAP_KILL"), "%s",
              err);
}

T(run_refuses_a_probe_user_that_does_not_exist_where_it_is, 20)
{
    h_start(&H, "probes:\n"
                "  disk:\n"
                "    type: exec\n"
                "    user: no-such-user-19\n"
                "    command: 'true'\n");
    cr_expect_eq(h_wait_exit(&H, 10), 2, "a set-up error");
    const char *err = h_read_file(H.err_path);
    char want[512];
    /* FILE:LINE:COL of the entry (after the harness's http lines), as a
     * service's in run and as check gives it. */
    snprintf(want, sizeof(want), "sidecar: %s:", H.cfg_path);
    cr_expect(strstr(err, want), "%s", err);
    snprintf(want, sizeof(want),
             ":3: probe 'disk': user 'no-such-user-19' does not exist");
    cr_expect(strstr(err, want), "%s", err);
}

T(check_refuses_a_probe_user_that_does_not_exist, 20)
{
    const char *path = h_temp_file("probes:\n"
                                   "  disk:\n"
                                   "    type: exec\n"
                                   "    user: no-such-user-19\n"
                                   "    command: 'true'\n");
    char out[4096];
    int rc = h_run((const char *[]){"check", "-c", path, NULL}, out,
                   sizeof(out), 10);
    unlink(path);
    cr_expect_eq(rc, 2, "%s", out);
    cr_expect(strstr(out, ":4:11: probe 'disk': user 'no-such-user-19' does "
                          "not exist"),
              "%s", out);
}
