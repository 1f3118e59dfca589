/*
 * conf/values.c: which command strings run without a shell, and the
 * words they are split into. Any doubt must leave the string to
 * /bin/sh -c, so the rejections are as much the point as the splits.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf/load.h"
#include "conf/values.h"

#include "cfgtest.h"

static void free_words(char **argv, size_t argc)
{
    for (size_t i = 0; i < argc; i++)
        free(argv[i]);
    free(argv);
}

/* text splits into exactly the n words of want, NULL-terminated. */
static void expect_words(const char *text, const char *const *want, size_t n)
{
    char **argv = NULL;
    size_t argc = 0;
    int rc = cfg_command_split(text, &argv, &argc);
    cr_assert_eq(rc, 0, "'%s' not split: %d", text, rc);
    cr_assert_eq(argc, n, "'%s': %zu words, expected %zu", text, argc, n);
    for (size_t i = 0; i < n; i++)
        cr_expect_str_eq(argv[i], want[i], "'%s' word %zu", text, i);
    cr_expect_null(argv[n]);
    free_words(argv, argc);
}

#define EXPECT_WORDS(text, ...)                                                \
    do {                                                                       \
        static const char *const want_[] = {__VA_ARGS__};                      \
        expect_words(text, want_, ARRAY_SIZE(want_));                          \
    } while (0)

/* text needs a shell: -EINVAL, and nothing is stored. */
static void expect_shell(const char *text)
{
    char **argv = (char **)"untouched";
    size_t argc = 42;
    int rc = cfg_command_split(text, &argv, &argc);
    cr_expect_eq(rc, -EINVAL, "'%s' was split (%d)", text, rc);
    cr_expect_eq(argc, 42);
    cr_expect_eq((const char *)argv, "untouched");
    if (rc == 0)
        free_words(argv, argc);
}

Test(command, splits_a_simple_command_into_words, .timeout = 5)
{
    EXPECT_WORDS("python3 app.py", "python3", "app.py");
    EXPECT_WORDS("redis-server --port 0 --save", "redis-server", "--port", "0",
                 "--save");
    EXPECT_WORDS("sleep", "sleep");
    EXPECT_WORDS("/usr/bin/env A_B-C.d:e,f+g@h", "/usr/bin/env",
                 "A_B-C.d:e,f+g@h");
    EXPECT_WORDS("./run --x", "./run", "--x");
}

Test(command, blanks_are_spaces_and_tabs_in_any_number, .timeout = 5)
{
    EXPECT_WORDS("  a   b  ", "a", "b");
    EXPECT_WORDS("\ta\t\tb\t", "a", "b");
    EXPECT_WORDS(" \t a \t b \t ", "a", "b");
}

Test(command, equals_and_percent_are_plain_after_the_first_word, .timeout = 5)
{
    EXPECT_WORDS("gunicorn --bind=0.0.0.0:8000 app:app", "gunicorn",
                 "--bind=0.0.0.0:8000", "app:app");
    EXPECT_WORDS("stress --load 50% a=b=c %x=", "stress", "--load", "50%",
                 "a=b=c", "%x=");
    /* First: an assignment, a job. */
    expect_shell("FOO=1 app");
    expect_shell("=x app");
    expect_shell("%1");
    expect_shell("app% x");
}

Test(command, any_shell_character_needs_a_shell, .timeout = 5)
{
    static const char special[] = "'\"\\$`;&|<>(){}*?[]~#!^\n\r\v\f";
    for (const char *c = special; *c; c++) {
        char text[32];
        /* In the first word, alone, and inside a later word. */
        snprintf(text, sizeof(text), "app%c", *c);
        expect_shell(text);
        snprintf(text, sizeof(text), "app %c", *c);
        expect_shell(text);
        snprintf(text, sizeof(text), "app a%cb c", *c);
        expect_shell(text);
    }
    expect_shell("app > out");
    expect_shell("a && b");
    expect_shell("app &");
    expect_shell("echo $HOME");
    expect_shell("ls ~/x");
    expect_shell("app # comment");
    expect_shell("app\nother");
}

Test(command, control_bytes_need_a_shell, .timeout = 5)
{
    for (int c = 1; c < 0x20; c++) {
        if (c == '\t')
            continue;
        char text[16];
        snprintf(text, sizeof(text), "app a%cb", c);
        expect_shell(text);
    }
    expect_shell("app \x7f");
}

Test(command, a_shell_keyword_or_builtin_first_needs_a_shell, .timeout = 5)
{
    static const char *const first[] = {
        "exec",  "cd",    "export", ".",     "source",  "set",   "if",
        "for",   "while", "until",  "case",  "eval",    "trap",  "ulimit",
        "umask", "wait",  "echo",   "kill",  "true",    "false", "test",
        ":",     "read",  "local",  "alias", "command", "time",  "printf",
    };
    for (size_t i = 0; i < ARRAY_SIZE(first); i++) {
        char text[64];
        snprintf(text, sizeof(text), "%s app x", first[i]);
        expect_shell(text);
        snprintf(text, sizeof(text), "%s", first[i]);
        expect_shell(text);
    }
    /* Only as the first word, and only the very name. */
    EXPECT_WORDS("app exec cd .", "app", "exec", "cd", ".");
    EXPECT_WORDS("execute x", "execute", "x");
    EXPECT_WORDS("Exec x", "Exec", "x");
    EXPECT_WORDS("./exec", "./exec");
    EXPECT_WORDS("truex", "truex");
    EXPECT_WORDS("..", "..");
}

Test(command, no_word_is_no_simple_command, .timeout = 5)
{
    expect_shell("");
    expect_shell(" ");
    expect_shell("\t \t");
}

Test(command, non_ascii_needs_a_shell, .timeout = 5)
{
    expect_shell("python3 caf\xc3\xa9.py");
    expect_shell("app\xc2\xa0--x"); /* a no-break space is no blank */
    expect_shell("\xe2\x80\x8b"
                 "app"); /* a zero-width space */
    expect_shell("app \xff\xfe");
}

Test(command, very_long_input, .timeout = 10)
{
    size_t words = 200000;
    char *text = malloc(words * 2 + 1);
    cr_assert_not_null(text);
    for (size_t i = 0; i < words; i++)
        memcpy(text + 2 * i, "a ", 2);
    text[words * 2] = '\0';
    char **argv = NULL;
    size_t argc = 0;
    cr_assert_eq(cfg_command_split(text, &argv, &argc), 0);
    cr_expect_eq(argc, words);
    cr_expect_str_eq(argv[words - 1], "a");
    cr_expect_null(argv[words]);
    free_words(argv, argc);

    /* One word of a megabyte, then one bad byte at its very end. */
    size_t len = 1 << 20;
    char *one = malloc(len + 2);
    cr_assert_not_null(one);
    memset(one, 'x', len);
    one[len] = '\0';
    cr_assert_eq(cfg_command_split(one, &argv, &argc), 0);
    cr_expect_eq(argc, 1);
    cr_expect_eq(strlen(argv[0]), len);
    free_words(argv, argc);
    one[len] = '$';
    one[len + 1] = '\0';
    expect_shell(one);
    text[words * 2 - 1] = ';';
    expect_shell(text);
    free(one);
    free(text);
}

Test(command, config_runs_simple_strings_without_a_shell, .timeout = 5)
{
    struct cfg_root *root =
        ut_load_ok("services:\n"
                   "  app: {role: main, command: '  python3  app.py  '}\n"
                   "  sh: {command: 'exec python3 app.py'}\n"
                   "probes:\n"
                   "  plain: {type: exec, command: 'test-ready --quick'}\n"
                   "  piped: {type: exec, command: 'ready | grep ok'}\n");
    const struct cfg_command *app = &root->services[0].command;
    cr_expect(!app->shell);
    cr_assert_eq(app->argc, 2);
    cr_expect_str_eq(app->argv[0], "python3");
    cr_expect_str_eq(app->argv[1], "app.py");
    const struct cfg_command *sh = &root->services[1].command;
    cr_expect(sh->shell);
    cr_assert_eq(sh->argc, 3);
    cr_expect_str_eq(sh->argv[0], "/bin/sh");
    cr_expect_str_eq(sh->argv[2], "exec python3 app.py");
    const struct cfg_command *plain = &root->probes[0].command;
    cr_expect(!plain->shell);
    cr_assert_eq(plain->argc, 2);
    cr_expect_str_eq(plain->argv[0], "test-ready");
    const struct cfg_command *piped = &root->probes[1].command;
    cr_expect(piped->shell);
    cr_expect_str_eq(piped->argv[2], "ready | grep ok");
    cfg_free(root);
}

/* ${VAR} is expanded first: the words are those of the expanded text. */
Test(command, words_come_from_the_expanded_string, .timeout = 5)
{
    setenv("CMD_TEST_ARGS", "--a  --b", 1);
    setenv("CMD_TEST_EVIL", "x; rm -rf /", 1);
    struct cfg_root *root =
        ut_load_ok("services:\n"
                   "  app: {role: main, command: 'app ${CMD_TEST_ARGS}'}\n"
                   "  b: {command: 'app ${CMD_TEST_EVIL}'}\n");
    const struct cfg_command *app = &root->services[0].command;
    cr_expect(!app->shell);
    cr_assert_eq(app->argc, 3);
    cr_expect_str_eq(app->argv[2], "--b");
    cr_expect(root->services[1].command.shell);
    cfg_free(root);
}

Test(command, a_blank_string_is_refused, .timeout = 5)
{
    static const char *const blank[] = {"' '", "\"\\t\"", "\" \\n \""};
    for (size_t i = 0; i < ARRAY_SIZE(blank); i++) {
        char yaml[128];
        snprintf(yaml, sizeof(yaml),
                 "services:\n  app: {role: main, command: %s}\n", blank[i]);
        struct cfg_root *root = NULL;
        struct cfg_error err;
        cr_expect_lt(
            cfg_load_buffer("inline.yaml", yaml, strlen(yaml), &root, &err), 0,
            "%s loaded", blank[i]);
        cr_expect(strstr(err.msg, "a non-empty command"), "%s", err.msg);
        cfg_free(root);
    }
}
