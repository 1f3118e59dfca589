/* The command line: check's exit codes and messages, --version, usage. */
#define _DEFAULT_SOURCE
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *bin(void)
{
    const char *b = getenv("SIDECAR_BIN");
    return b ? b : "../build/sidecar";
}

/* Runs a shell command line, captures stdout+stderr; returns exit code. */
static int run(const char *args, char *out, size_t outlen)
{
    char cmd[1024];
    snprintf(cmd, sizeof(cmd), "'%s' %s 2>&1", bin(), args);
    FILE *p = popen(cmd, "r");
    cr_assert(p);
    size_t n = fread(out, 1, outlen - 1, p);
    out[n] = '\0';
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static char *write_tmp(const char *text)
{
    static char path[64];
    snprintf(path, sizeof(path), "/tmp/sidecar-cli-XXXXXX");
    int fd = mkstemp(path);
    cr_assert(fd >= 0);
    cr_assert(write(fd, text, strlen(text)) == (ssize_t)strlen(text));
    close(fd);
    return path;
}

Test(cli, check_accepts_a_valid_file, .timeout = 10)
{
    char *path = write_tmp("services:\n  web:\n    role: main\n"
                           "    command: sleep 1\n");
    char args[128];
    char out[4096];
    snprintf(args, sizeof(args), "check -c %s", path);
    cr_expect_eq(run(args, out, sizeof(out)), 0, "%s", out);
    unlink(path);
}

Test(cli, check_rejects_with_file_line_col_and_exit_2, .timeout = 10)
{
    char *path = write_tmp("services:\n  web:\n    role: main\n"
                           "    command: sleep 1\n    restart: sometimes\n");
    char args[128];
    char out[4096];
    snprintf(args, sizeof(args), "check -c %s", path);
    cr_expect_eq(run(args, out, sizeof(out)), 2);
    char prefix[128];
    snprintf(prefix, sizeof(prefix), "%s:5:14: ", path);
    cr_expect(strncmp(out, prefix, strlen(prefix)) == 0, "got: %s", out);
    cr_expect(strstr(out, "sometimes"), "message names the value: %s", out);
    unlink(path);
}

Test(cli, run_with_a_broken_config_exits_2, .timeout = 10)
{
    char *path = write_tmp("services: [\n");
    char args[128];
    char out[4096];
    snprintf(args, sizeof(args), "run -c %s", path);
    cr_expect_eq(run(args, out, sizeof(out)), 2);
    cr_expect(strstr(out, path), "%s", out);
    unlink(path);
}

Test(cli, missing_config_file_is_named, .timeout = 10)
{
    char out[4096];
    cr_expect_eq(run("check -c /nonexistent/sidecar.yaml", out, sizeof(out)),
                 2);
    cr_expect(strstr(out, "/nonexistent/sidecar.yaml"), "%s", out);
}

Test(cli, version_and_usage, .timeout = 10)
{
    char out[4096];
    cr_expect_eq(run("--version", out, sizeof(out)), 0);
    cr_expect(strncmp(out, "sidecar ", 8) == 0, "%s", out);
    cr_expect_eq(run("frobnicate", out, sizeof(out)), 2);
    cr_expect(strstr(out, "Usage:"), "%s", out);
}
