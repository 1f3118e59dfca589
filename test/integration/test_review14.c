/*
 * Review of issue 14: what the per-command --help texts promise holds. A
 * command refuses the options of another (they would do nothing), and
 * the help names the machine checks in the words of check's ok line.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

#define T(name, secs) Test(review14, name, .timeout = secs)

#define MACHINE_CHECKS                                                         \
    "users, groups, programs, directories, listen address, libmicrohttpd, "    \
    "libcurl"

T(a_command_refuses_the_options_of_another, 30)
{
    static const struct {
        const char *args[5];
        const char *says;
    } cases[] = {
        {{"run", "--no-machine", NULL}, "'run' takes no option --no-machine"},
        {{"run", "--url", "http://x", NULL}, "'run' takes no option --url"},
        {{"check", "--log-level", "debug", NULL},
         "'check' takes no option --log-level"},
        {{"check", "--url=http://x", NULL}, "'check' takes no option --url"},
        {{"status", "-c", "/etc/x.yaml", NULL},
         "'status' takes no option --config"},
        {{"status", "--no-machine", NULL},
         "'status' takes no option --no-machine"},
    };
    char out[8192];
    for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
        char usage[64];
        snprintf(usage, sizeof(usage), "Usage: sidecar %s ", cases[i].args[0]);
        cr_expect_eq(h_run(cases[i].args, out, sizeof(out), H_WAIT), 2, "%s",
                     out);
        cr_expect(strstr(out, cases[i].says), "want '%s' in:\n%s",
                  cases[i].says, out);
        cr_expect(strstr(out, usage), "no '%s' in:\n%s", usage, out);
    }
}

T(help_names_the_machine_checks_as_the_ok_line_does, 30)
{
    char out[8192];
    const char *path =
        h_temp_file("services: {web: {role: main, command: [/bin/true]}}\n");
    cr_expect_eq(h_run((const char *[]){"check", "-c", path, NULL}, out,
                       sizeof(out), H_WAIT),
                 0, "%s", out);
    unlink(path);
    cr_expect(strstr(out, "checked on this machine: " MACHINE_CHECKS ")"), "%s",
              out);
    cr_expect_eq(h_run((const char *[]){"check", "--help", NULL}, out,
                       sizeof(out), H_WAIT),
                 0);
    cr_expect(strstr(out, MACHINE_CHECKS), "check --help:\n%s", out);
    cr_expect_eq(
        h_run((const char *[]){"--help", NULL}, out, sizeof(out), H_WAIT), 0);
    cr_expect(strstr(out, MACHINE_CHECKS), "--help:\n%s", out);
}

/*
 * cwd makes a relative program relative to it, as chdir() before execvp()
 * does; an absolute one (and /bin/sh of a shell string) stays as it is.
 */
T(check_finds_absolute_programs_of_a_service_with_cwd, 30)
{
    static const struct {
        const char *cwd;
        const char *command;
        int code;
    } cases[] = {
        {"/tmp", "[/bin/true]", 0},
        {"/tmp", "'cd .. && exec true'", 0},
        {"/bin", "[./true]", 0}, /* from cwd, not from where check runs */
        {"/bin", "[./no-such-program-4a7b]", 2},
    };
    char out[8192];
    for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
        char yaml[512];
        snprintf(yaml, sizeof(yaml),
                 "services:\n"
                 "  web:\n"
                 "    role: main\n"
                 "    cwd: %s\n"
                 "    command: %s\n",
                 cases[i].cwd, cases[i].command);
        const char *path = h_temp_file(yaml);
        cr_expect_eq(h_run((const char *[]){"check", "-c", path, NULL}, out,
                           sizeof(out), H_WAIT),
                     cases[i].code, "cwd %s, command %s:\n%s", cases[i].cwd,
                     cases[i].command, out);
        unlink(path);
    }
    cr_expect(strstr(out, "cannot run './no-such-program-4a7b': No such file"),
              "%s", out);
}
