/*
 * conf/values.c's splitter against the shells it stands in for: no word
 * that bash, as /bin/sh, reads as a keyword or builtin may start a string
 * that runs without a shell.
 */
#define _DEFAULT_SOURCE /* popen */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf/values.h"

/* "NAME x" must be left to /bin/sh; argv is freed if it was not. */
static void expect_shell_first(const char *name)
{
    char text[64];
    snprintf(text, sizeof(text), "%s x", name);
    char **argv = NULL;
    size_t argc = 0;
    int rc = cfg_command_split(text, &argv, &argc);
    cr_expect_eq(rc, -EINVAL, "'%s' runs without a shell", text);
    for (size_t i = 0; rc == 0 && i < argc; i++)
        free(argv[i]);
    if (rc == 0)
        free(argv);
}

Test(attack_stop, no_bash_keyword_or_builtin_starts_a_simple_command,
     .timeout = 10)
{
    FILE *f = popen("bash -c 'compgen -k; compgen -b' 2>/dev/null", "r");
    cr_assert(f);
    char name[64];
    size_t n = 0;
    while (fgets(name, sizeof(name), f)) {
        name[strcspn(name, "\n")] = '\0';
        expect_shell_first(name);
        n++;
    }
    int st = pclose(f);
    if (n == 0 || st != 0)
        cr_skip_test("no bash here to ask");
    /* coproc runs its command beside the shell, which then exits. */
    expect_shell_first("coproc");
}
