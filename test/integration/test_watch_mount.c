/*
 * `reload: watch` through a single-file bind mount, as `docker run -v
 * FILE:/etc/sidecar/sidecar.yaml` makes: sidecar runs in a private mount
 * namespace where its config path is a bind mount of a file in another
 * directory, and the "host" writes that file in place. The mount point's
 * directory gets no event for it: only a watch on the file itself does.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

static struct harness H;

static void teardown(void)
{
    h_cleanup(&H);
}

#define MAIN_SERVICE                                                           \
    "reload: watch\n"                                                          \
    "services:\n"                                                              \
    "  main:\n"                                                                \
    "    role: main\n"                                                         \
    "    command: ['@HELPER@', 'run', 'main', '@DIR@/log']\n"

/* The test's own file bind-mounted onto itself, in a namespace of its own:
 * skips the test with the reason when that is not allowed here. */
static void need_bind_mounts(void)
{
    if (geteuid() != 0)
        cr_skip_test("needs root to bind-mount a file");
    char path[64];
    char cmd[256];
    char out[256] = "";
    snprintf(path, sizeof(path), "%s", h_temp_file(""));
    snprintf(cmd, sizeof(cmd),
             "unshare -m --propagation private mount --bind '%s' '%s' 2>&1",
             path, path);
    FILE *p = popen(cmd, "r");
    cr_assert_not_null(p);
    size_t n = fread(out, 1, sizeof(out) - 1, p);
    while (n > 0 && out[n - 1] == '\n')
        n--;
    out[n] = '\0';
    int st = pclose(p);
    unlink(path);
    if (st != 0)
        cr_skip_test("cannot bind-mount a file in a new mount namespace: %s",
                     n ? out : "unshare or mount failed");
}

/*
 * Sidecar's config is DIR/mnt/sidecar.yaml, a bind mount of the config
 * the harness wrote, DIR/sidecar.yaml (the "host" file, in another
 * directory); the mount exists only in sidecar's namespace. The last -c
 * wins.
 */
static const char *const bind_mounted[] = {
    "unshare",
    "-m",
    "--propagation",
    "private",
    "sh",
    "-ec",
    "t=\"$SIDECAR_TEST_DIR/mnt/sidecar.yaml\"\n"
    "mkdir \"$SIDECAR_TEST_DIR/mnt\"\n"
    ": >\"$t\"\n"
    "mount --bind \"$SIDECAR_TEST_DIR/sidecar.yaml\" \"$t\"\n"
    "exec \"$@\" -c \"$t\"\n",
    "sh",
    NULL,
};

/* A host-side edit in place (truncate and write): reloaded, and the
 * service it adds starts. */
static void edit_and_expect_reload(const char *tmpl, const char *svc)
{
    size_t m = h_mark(&H);
    h_write_config(&H, H.cfg_path, NULL, tmpl, false);
    long r = h_wait_event(&H, m, H_WAIT, "config reloaded", NULL);
    cr_assert_geq(r, 0, "no \"config reloaded\" after an edit in place");
    cr_expect_str_eq(h_str(&H, r, "trigger"), "watch");
    cr_expect_geq(h_wait_event(&H, (size_t)r, H_WAIT, "service started", svc),
                  0, "service %s did not start", svc);
}

Test(watch_mount, an_edit_in_place_reloads_through_a_single_file_bind_mount,
     .timeout = 60, .fini = teardown)
{
    need_bind_mounts();
    h_start_wrapped(&H, MAIN_SERVICE, bind_mounted);
    long w = h_wait_event(&H, 0, H_WAIT, "watching the config file", NULL);
    cr_assert_geq(w, 0, "sidecar did not start (see %s)", H.err_path);
    char target[256];
    snprintf(target, sizeof(target), "%s", h_path(&H, "mnt/sidecar.yaml"));
    cr_expect_str_eq(h_str(&H, w, "path"), target);
    cr_assert_geq(h_wait_event(&H, 0, H_WAIT, "service started", "main"), 0);
    /* What sidecar read came through the mount: out here it is empty. */
    cr_expect_str_eq(h_read_file(target), "");

    edit_and_expect_reload(MAIN_SERVICE
                           "  one:\n"
                           "    command: ['@HELPER@', 'run', 'one', "
                           "'@DIR@/log']\n",
                           "one");
    edit_and_expect_reload(MAIN_SERVICE
                           "  one:\n"
                           "    command: ['@HELPER@', 'run', 'one', "
                           "'@DIR@/log']\n"
                           "  two:\n"
                           "    command: ['@HELPER@', 'run', 'two', "
                           "'@DIR@/log']\n",
                           "two");
    cr_expect_eq(h_count_events(&H, 0, "config reloaded", NULL), 2);
    cr_expect_eq(h_stop_once_started(&H, "log", "main"), 0);
}
