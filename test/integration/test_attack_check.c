/*
 * Issue 14 attacked from outside (items 2, 3 and 6): `check` must neither
 * refuse what run accepts nor report errors that follow from another, nor
 * name the wrong cause; a failing probe must not restart its service while
 * the pod drains away; "service started" only for a program that ran.
 */
#define _GNU_SOURCE /* setresuid */
#include <criterion/criterion.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

static struct harness H;

static void teardown(void)
{
    h_cleanup(&H);
}

#define T(name, secs)                                                          \
    Test(attack_check, name, .timeout = secs, .fini = teardown)

/* The output of the last check: stdout and stderr together. */
static char out[16384];
static char cfg_path[128];

static int check(const char *yaml)
{
    snprintf(cfg_path, sizeof(cfg_path), "%s", h_temp_file(yaml));
    int code = h_run((const char *[]){"check", "-c", cfg_path, NULL}, out,
                     sizeof(out), H_WAIT);
    unlink(cfg_path);
    return code;
}

#define MAIN "services:\n  web:\n    role: main\n"

T(a_program_by_absolute_path_runs_whatever_the_cwd, 30)
{
    char dir[] = "/tmp/sidecar-atk-XXXXXX";
    cr_assert(mkdtemp(dir));
    char link[64];
    snprintf(link, sizeof(link), "%s/link", dir);
    cr_assert_eq(symlink("/tmp", link), 0);
    char yaml[1024];
    snprintf(yaml, sizeof(yaml),
             MAIN "    command: [/bin/true]\n"
                  "    cwd: /tmp\n"
                  "  linked:\n"
                  "    command: [/bin/sleep, '1']\n"
                  "    cwd: %s\n",
             link);
    int code = check(yaml);
    unlink(link);
    rmdir(dir);
    cr_expect_eq(code, 0, "%s", out);
    cr_expect_null(strstr(out, "cannot run"), "%s", out);
}

T(a_cwd_that_fails_is_the_one_error_of_what_is_found_from_it, 30)
{
    static const char yaml[] = MAIN "    command: [./app, serve]\n"
                                    "    cwd: /nonexistent-7c1e\n"
                                    "  tool:\n"
                                    "    command: [app]\n"
                                    "    env: {PATH: 'bin:/usr/bin'}\n"
                                    "    cwd: /etc/passwd\n"
                                    "  other:\n"
                                    "    command: [/nonexistent-7c1e/prog]\n"
                                    "    cwd: /nonexistent-7c1e\n";
    cr_expect_eq(check(yaml), 2, "%s", out);
    cr_expect(strstr(out, "service 'web': cwd '/nonexistent-7c1e': No such "
                          "file or directory"),
              "%s", out);
    cr_expect(strstr(out, "service 'tool': cwd '/etc/passwd': not a "
                          "directory"),
              "%s", out);
    /* An absolute program does not depend on the cwd: its own error. */
    cr_expect(strstr(out, "service 'other': cannot run "
                          "'/nonexistent-7c1e/prog'"),
              "%s", out);
    cr_expect_eq(h_count_of(out, "\n"), 4, "one line an error: %s", out);
}

T(what_sidecar_may_not_enter_is_permission_denied, 30)
{
    char dir[] = "/tmp/sidecar-atk-XXXXXX";
    cr_assert(mkdtemp(dir));
    cr_assert_eq(chmod(dir, 0755), 0);
    char cmd[256];
    snprintf(cmd, sizeof(cmd),
             "mkdir -m 700 %s/private && cp /bin/true %s/private/", dir, dir);
    cr_assert_eq(system(cmd), 0);
    char yaml[1024];
    snprintf(yaml, sizeof(yaml),
             MAIN "    command: [%s/private/true]\n"
                  "  tool:\n"
                  "    command: [/bin/true]\n"
                  "    cwd: %s/private\n",
             dir, dir);
    int code = h_check_as(64125, dir, yaml, out, sizeof(out), H_WAIT);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    cr_expect_eq(system(cmd), 0);
    cr_expect_eq(code, 2, "%s", out);
    cr_expect(strstr(out, "service 'web': cannot run") &&
                  strstr(out, "/private/true': Permission denied\n"),
              "%s", out);
    cr_expect(strstr(out, "service 'tool': cwd") &&
                  strstr(out, "/private': Permission denied\n"),
              "%s", out);
    cr_expect_eq(h_count_of(out, "\n"), 2, "one line an error: %s", out);
}

/* Run as root, the child switches to its user before chdir and exec:
 * what that user may not enter fails there, not what root may not. */
T(what_the_service_user_may_not_enter_is_permission_denied, 30)
{
    char dir[] = "/tmp/sidecar-atk-XXXXXX"; /* 0700 */
    cr_assert(mkdtemp(dir));
    char cmd[256];
    snprintf(cmd, sizeof(cmd), "cp /bin/true %s/", dir);
    cr_assert_eq(system(cmd), 0);
    char yaml[1024];
    snprintf(yaml, sizeof(yaml),
             MAIN "    command: [%s/true]\n"
                  "    user: nobody\n"
                  "  tool:\n"
                  "    command: [/bin/true]\n"
                  "    user: '64125'\n"
                  "    cwd: %s\n"
                  "  fine:\n"
                  "    command: [/bin/true]\n"
                  "    user: nobody\n"
                  "    cwd: /tmp\n"
                  "  root:\n"
                  "    command: [%s/true]\n"
                  "    cwd: %s\n",
             dir, dir, dir, dir);
    int code = check(yaml);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    cr_expect_eq(system(cmd), 0);
    cr_expect_eq(code, 2, "%s", out);
    cr_expect(strstr(out, "service 'web': cannot run") &&
                  strstr(out, "/true': Permission denied\n"),
              "%s", out);
    cr_expect(strstr(out, "service 'tool': cwd") &&
                  strstr(out, "': Permission denied\n"),
              "%s", out);
    cr_expect_eq(h_count_of(out, "\n"), 2, "one line an error: %s", out);
}

/* exec() of a script needs its #! interpreter: "No such file or
 * directory" for a file that is there. */
T(a_script_whose_interpreter_is_missing_is_an_error, 30)
{
    char dir[] = "/tmp/sidecar-atk-XXXXXX";
    cr_assert(mkdtemp(dir));
    char path[64];
    snprintf(path, sizeof(path), "%s/app.py", dir);
    h_put_file(path, "#!/nonexistent-7c1e/python3 -u\nprint(1)\n");
    cr_assert_eq(chmod(path, 0755), 0);
    snprintf(path, sizeof(path), "%s/ok.sh", dir);
    h_put_file(path, "#! /bin/sh\nexit 0\n");
    cr_assert_eq(chmod(path, 0755), 0);
    char yaml[1024];
    snprintf(yaml, sizeof(yaml),
             MAIN "    command: [%s/app.py]\n"
                  "probes:\n"
                  "  p: {type: exec, command: [%s/ok.sh]}\n",
             dir, dir);
    int code = check(yaml);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    cr_expect_eq(system(cmd), 0);
    cr_expect_eq(code, 2, "%s", out);
    cr_expect(strstr(out,
                     "/app.py': its interpreter /nonexistent-7c1e/python3: "
                     "No such file or directory\n"),
              "%s", out);
    cr_expect_eq(h_count_of(out, "\n"), 1, "%s", out);
}

T(an_error_in_an_anchor_is_reported_once, 30)
{
    static const char yaml[] =
        "services:\n"
        "  a: &bad {command: [/bin/true], role: main, restart: bogus}\n"
        "  b: *bad\n"
        "  c: *bad\n";
    cr_expect_eq(check(yaml), 2, "%s", out);
    cr_expect_eq(h_count_of(out, "'bogus'"), 1, "%s", out);
    cr_expect_eq(h_count_of(out, "\n"), 1, "%s", out);
}

T(a_c1_control_in_a_name_does_not_reach_the_terminal, 30)
{
    /* U+009B is CSI: with it a terminal would take what follows as a
     * command. */
    static const char yaml[] = MAIN "    command: [/bin/true]\n"
                                    "    user: \"\\u009b31mred\"\n";
    cr_expect_eq(check(yaml), 2, "%s", out);
    cr_expect(strstr(out, "31mred"), "%s", out);
    cr_expect_null(strstr(out, "\xc2\x9b"), "%s", out);
}

/*
 * kubelet stops liveness probes of a pod being deleted ("quiet
 * shutdown"): a service must not be restarted while the pod drains away.
 * Its probe still counts for readiness.
 */
T(a_failing_probe_restarts_nothing_during_the_drain, 60)
{
    h_start(&H, "shutdown: {drain: 3s}\n"
                "services:\n"
                "  app:\n"
                "    role: main\n"
                "    command: ['@HELPER@', 'run', 'app', '@DIR@/log']\n"
                "probes:\n"
                "  alive:\n"
                "    type: exec\n"
                "    service: app\n"
                "    command: ['/bin/sh', '-c', 'test ! -e @DIR@/down']\n"
                "    period: 100ms\n"
                "    timeout: 90ms\n"
                "    failure_threshold: 1\n"
                "    on_failure: restart\n"
                "    start_period: 0s\n");
    size_t from = 0;
    cr_assert_geq(h_wait_probe_state(&H, &from, "alive", "passing", H_WAIT), 0);
    cr_assert(h_wait_text(&H, "log", "start app", H_WAIT));
    h_signal(&H, SIGTERM);
    long drain =
        h_wait_event(&H, from, H_WAIT,
                     "draining: not ready, stopping after the drain", NULL);
    cr_assert_geq(drain, 0);
    h_touch(&H, "down");
    from = (size_t)drain;
    cr_assert_geq(h_wait_probe_state(&H, &from, "alive", "failing", H_WAIT), 0);
    cr_expect_eq(h_wait_exit(&H, H_WAIT), 0);
    cr_expect_eq(
        h_count_events(&H, 0, "restarting service: its probe is failing", NULL),
        0, "restarted while draining");
    cr_expect_eq(h_count_events(&H, 0, "service started", "app"), 1);
}

/*
 * A stop that comes while the child is still on its way to exec (here a
 * long PATH search; the stop: an essential helper exits at once) kills it
 * there: it never ran, and the log must not say it started, after it was
 * told to stop.
 */
T(a_service_stopped_before_its_exec_is_not_said_to_start, 60)
{
    static char yaml[160 * 1024];
    int n = snprintf(yaml, sizeof(yaml),
                     "services:\n"
                     "  gone:\n"
                     "    command: [/bin/false]\n"
                     "    essential: true\n"
                     "    restart: never\n"
                     "  app:\n"
                     "    role: main\n"
                     "    command: [sleep, '100']\n"
                     "    env:\n"
                     "      PATH: '");
    for (int i = 0; i < 12000; i++)
        n += snprintf(yaml + n, sizeof(yaml) - (size_t)n, "/nx/%d:", i);
    snprintf(yaml + n, sizeof(yaml) - (size_t)n, "/bin:/usr/bin'\n");
    h_start(&H, yaml);
    cr_expect_eq(h_wait_exit(&H, H_WAIT), 1, "exits as 'gone' did");
    long stop = h_find_event(&H, 0, "stopping service", "app");
    long started = h_find_event(&H, 0, "service started", "app");
    cr_assert_geq(stop, 0);
    cr_expect(started < 0 || started < stop,
              "'service started' at line %ld, after 'stopping service' at "
              "line %ld",
              started, stop);
    cr_expect_geq(h_find_event(&H, 0, "service exited", "app"), 0);
}
