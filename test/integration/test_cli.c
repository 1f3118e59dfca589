/* The command line: check's exit codes and messages, --version, usage. */
#define _DEFAULT_SOURCE
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

Test(cli, check_accepts_a_valid_file, .timeout = 30)
{
    const char *path = h_temp_file("services:\n  web:\n    role: main\n"
                                   "    command: sleep 1\n");
    char out[4096];
    const char *args[] = {"check", "-c", path, NULL};
    cr_expect_eq(h_run(args, out, sizeof(out), H_WAIT), 0, "%s", out);
    unlink(path);
}

Test(cli, check_rejects_with_file_line_col_and_exit_2, .timeout = 30)
{
    const char *path =
        h_temp_file("services:\n  web:\n    role: main\n"
                    "    command: sleep 1\n    restart: sometimes\n");
    char out[4096];
    const char *args[] = {"check", "-c", path, NULL};
    cr_expect_eq(h_run(args, out, sizeof(out), H_WAIT), 2);
    char prefix[128];
    snprintf(prefix, sizeof(prefix), "%s:5:14: ", path);
    cr_expect(strncmp(out, prefix, strlen(prefix)) == 0, "got: %s", out);
    cr_expect(strstr(out, "sometimes"), "message names the value: %s", out);
    unlink(path);
}

Test(cli, run_with_a_broken_config_exits_2, .timeout = 30)
{
    const char *path = h_temp_file("services: [\n");
    char out[4096];
    const char *args[] = {"run", "-c", path, NULL};
    cr_expect_eq(h_run(args, out, sizeof(out), H_WAIT), 2);
    cr_expect(strstr(out, path), "%s", out);
    unlink(path);
}

Test(cli, missing_config_file_is_named, .timeout = 30)
{
    char out[4096];
    const char *args[] = {"check", "-c", "/nonexistent/sidecar.yaml", NULL};
    cr_expect_eq(h_run(args, out, sizeof(out), H_WAIT), 2);
    cr_expect(strstr(out, "/nonexistent/sidecar.yaml"), "%s", out);
}

Test(cli, version_and_usage, .timeout = 30)
{
    char out[4096];
    cr_expect_eq(
        h_run((const char *[]){"--version", NULL}, out, sizeof(out), H_WAIT),
        0);
    cr_expect(strncmp(out, "sidecar ", 8) == 0, "%s", out);
    cr_expect_eq(
        h_run((const char *[]){"frobnicate", NULL}, out, sizeof(out), H_WAIT),
        2);
    cr_expect(strstr(out, "Usage:"), "%s", out);
}
