/*
 * conf/ against hostile or careless configs: messages quote the file,
 * never what ${VAR} expands to; a write token no request could match is
 * refused, and so is a token_file that is not a regular file; aliases
 * cannot make a small file ask for gigabytes. Runs from test/.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "conf/load.h"

#include "cfgtest.h"

#define SECRET "hunter2-Pa55!word"

/* Loads text, expecting an error at line:col whose message has want. */
static void expect_error_has(const char *text, unsigned line, unsigned col,
                             const char *want)
{
    struct cfg_error err;
    struct cfg_root *root = ut_load(text, &err);

    cr_expect_null(root, "loaded: %s", text);
    cfg_free(root);
    cr_expect(strstr(err.msg, want) != NULL, "'%s' not in: %s", want, err.msg);
    cr_expect_eq(err.line, line, "line %u, expected %u: %s", err.line, line,
                 err.msg);
    cr_expect_eq(err.col, col, "column %u, expected %u: %s", err.col, col,
                 err.msg);
}

/* The same, and the message holds no part of SECRET. */
static void expect_secret_kept(const char *text, unsigned line, unsigned col,
                               const char *want)
{
    struct cfg_error err;
    struct cfg_root *root;

    setenv("API_PASS", SECRET, 1);
    expect_error_has(text, line, col, want);
    root = ut_load(text, &err);
    cfg_free(root);
    cr_expect(strstr(err.msg, "hunter2") == NULL, "secret in: %s", err.msg);
    cr_expect(strstr(err.msg, "Pa55") == NULL, "secret in: %s", err.msg);
}

#define MAIN_SERVICE "services:\n  web: {role: main, command: x}\n"

Test(cfg_hostile, url_error_quotes_the_reference, .timeout = 5)
{
    expect_secret_kept(MAIN_SERVICE
                       "probes:\n"
                       "  api:\n"
                       "    type: http\n"
                       "    url: \"htp://svc:${API_PASS}@host/\"\n",
                       6, 10, "found 'htp://svc:${API_PASS}@host/'");
}

Test(cfg_hostile, typed_values_quote_the_reference, .timeout = 5)
{
    expect_secret_kept(MAIN_SERVICE
                       "probes:\n"
                       "  db: {type: tcp, port: \"${API_PASS}\"}\n",
                       4, 25, "found '${API_PASS}'");
    expect_secret_kept(MAIN_SERVICE "probes:\n"
                                    "  db: {type: tcp, port: 1, period: "
                                    "\"x${API_PASS}\"}\n",
                       4, 36, "found 'x${API_PASS}'");
    expect_secret_kept("http: {listen: \"${API_PASS}\"}\n" MAIN_SERVICE, 1, 16,
                       "found '${API_PASS}'");
    expect_secret_kept("log: {level: \"${API_PASS}\"}\n" MAIN_SERVICE, 1, 14,
                       "found '${API_PASS}'");
    expect_secret_kept(MAIN_SERVICE "probes:\n"
                                    "  db: {type: tcp, port: 1, host: "
                                    "\"${API_PASS}\"}\n",
                       4, 34, "found '${API_PASS}'");
    expect_secret_kept("services:\n"
                       "  web:\n"
                       "    role: main\n"
                       "    command: x\n"
                       "    cwd: \"${API_PASS}\"\n",
                       5, 10, "found '${API_PASS}'");
}

Test(cfg_hostile, names_checked_later_quote_the_reference, .timeout = 5)
{
    expect_secret_kept("services:\n"
                       "  web:\n"
                       "    role: main\n"
                       "    command: x\n"
                       "    depends_on: [\"${API_PASS}\"]\n",
                       5, 18, "depends on '${API_PASS}', which is not");
    expect_secret_kept(MAIN_SERVICE "probes:\n"
                                    "  p: {type: tcp, port: 1, service: "
                                    "\"${API_PASS}\"}\n",
                       4, 36, "names service '${API_PASS}', which is not");
}

Test(cfg_hostile, token_with_a_newline_is_refused_at_its_key, .timeout = 5)
{
    setenv("SIDECAR_T_TOKEN", "abcdefghijklmnopqrstuvwxyz\n", 1);
    expect_error_has("http:\n  token: \"${SIDECAR_T_TOKEN}\"\n" MAIN_SERVICE, 2,
                     3,
                     "'token' has whitespace or a control character at byte "
                     "27 of its value");
    setenv("SIDECAR_T_TOKEN", "abcdefgh ijklmnopqrstuvwxyz", 1);
    expect_error_has("http:\n  token: \"${SIDECAR_T_TOKEN}\"\n" MAIN_SERVICE, 2,
                     3, "at byte 9 of its value; no request can match it");
    expect_error_has("http: {token: \"abcdefghijklmnop\\tq\"}\n" MAIN_SERVICE,
                     1, 8, "'token' has whitespace");
}

Test(cfg_hostile, short_token_loads, .timeout = 5)
{
    struct cfg_error err;
    struct cfg_root *root = ut_load("http: {token: abc}\n" MAIN_SERVICE, &err);

    cr_assert_not_null(root, "%u:%u: %s", err.line, err.col, err.msg);
    cr_expect_str_eq(root->http.token, "abc");
    cfg_free(root);
}

static char made_dir[] = "/tmp/sidecar-conf-XXXXXX";

/* A test's .fini: the directory write_file() made, and what is in it. */
static void remove_made(void)
{
    char cmd[64];
    if (strcmp(made_dir + sizeof(made_dir) - 7, "XXXXXX") == 0)
        return;
    snprintf(cmd, sizeof(cmd), "rm -rf %s", made_dir);
    if (system(cmd) != 0)
        fprintf(stderr, "cannot remove %s\n", made_dir);
}

/* A file in a fresh directory under /tmp (removed by remove_made); its
 * path in path. */
static void write_file(char *path, size_t len, const char *name,
                       const char *data)
{
    char *dir = made_dir;
    FILE *f;

    cr_assert_not_null(mkdtemp(dir));
    cr_assert_lt(snprintf(path, len, "%s/%s", dir, name), (int)len);
    f = fopen(path, "w");
    cr_assert_not_null(f);
    cr_assert_eq(fwrite(data, 1, strlen(data), f), strlen(data));
    cr_assert_eq(fclose(f), 0);
}

static struct cfg_root *load_with_token_file(const char *path,
                                             struct cfg_error *err)
{
    char text[512];

    snprintf(text, sizeof(text), "http:\n  token_file: %s\n" MAIN_SERVICE,
             path);
    return ut_load(text, err);
}

Test(cfg_hostile, token_file_is_read_less_one_newline, .timeout = 5,
     .fini = remove_made)
{
    char path[128];
    struct cfg_error err;
    struct cfg_root *root;

    write_file(path, sizeof(path), "token", "0123456789abcdef-file\n");
    root = load_with_token_file(path, &err);
    cr_assert_not_null(root, "%u:%u: %s", err.line, err.col, err.msg);
    cr_expect_str_eq(root->http.token, "0123456789abcdef-file");
    cfg_free(root);
}

Test(cfg_hostile, token_file_errors_name_the_file_not_the_token, .timeout = 5,
     .fini = remove_made)
{
    char path[128];
    char fifo[160];
    struct cfg_error err;
    struct cfg_root *root;

    write_file(path, sizeof(path), "token", "0123456789abcdef-file\n\n");
    root = load_with_token_file(path, &err);
    cr_expect_null(root);
    cfg_free(root);
    cr_expect_eq(err.line, 2);
    cr_expect_eq(err.col, 3);
    cr_expect(strstr(err.msg, path) != NULL, "%s", err.msg);
    cr_expect(strstr(err.msg, "whitespace or a control character") != NULL,
              "%s", err.msg);
    cr_expect(strstr(err.msg, "0123456789") == NULL, "%s", err.msg);

    /* A FIFO must not block the loader (the test's timeout would fire). */
    snprintf(fifo, sizeof(fifo), "%s.fifo", path);
    cr_assert_eq(mkfifo(fifo, 0600), 0);
    root = load_with_token_file(fifo, &err);
    cr_expect_null(root);
    cfg_free(root);
    cr_expect(strstr(err.msg, "not a regular file") != NULL, "%s", err.msg);
    cr_expect(strstr(err.msg, fifo) != NULL, "%s", err.msg);
}

Test(cfg_hostile, token_file_errors_quote_the_path_as_written, .timeout = 5)
{
    struct cfg_error err;
    struct cfg_root *root;

    cr_assert_eq(setenv("CFG_T_SECRET_DIR", "/hidden-0123456789", 1), 0);
    root = load_with_token_file("${CFG_T_SECRET_DIR}/token", &err);
    cr_expect_null(root);
    cfg_free(root);
    cr_expect(strstr(err.msg, "${CFG_T_SECRET_DIR}/token") != NULL, "%s",
              err.msg);
    cr_expect(strstr(err.msg, "hidden-0123456789") == NULL, "%s", err.msg);
}

Test(cfg_hostile, token_and_token_file_together_are_refused, .timeout = 5)
{
    expect_error_has("http:\n"
                     "  token: abcdefghijklmnopq\n"
                     "  token_file: /nonexistent\n" MAIN_SERVICE,
                     3, 3, "'token' and 'token_file' are both set");
}

/*
 * One 100 KiB string aliased 200 times: 20 MB of text from a 100 KB
 * file, past the 16 MiB bound at the 164th alias. Small enough to load
 * in full where there is no bound.
 */
Test(cfg_hostile, aliases_cannot_repeat_more_than_16_mib, .timeout = 20)
{
    const size_t string_len = 100 * 1024;
    const size_t aliases = 200;
    size_t cap = string_len + aliases * 32 + 256;
    char *text = malloc(cap);
    size_t used;
    struct cfg_error err;
    struct cfg_root *root;

    cr_assert_not_null(text);
    used = (size_t)snprintf(text, cap,
                            "services:\n  web:\n    role: main\n"
                            "    command: x\n    env:\n      A0: &s \"");
    memset(text + used, 'x', string_len);
    used += string_len;
    used += (size_t)snprintf(text + used, cap - used, "\"\n");
    for (size_t i = 1; i <= aliases; i++)
        used +=
            (size_t)snprintf(text + used, cap - used, "      A%zu: *s\n", i);
    root = ut_load(text, &err);
    free(text);
    cr_expect_null(root, "a 20 MB expansion loaded");
    cfg_free(root);
    cr_expect_str_eq(err.msg, "aliases repeat more than 16 MiB of text; "
                              "write the configuration out");
    cr_expect_eq(err.line, 6 + 164, "line %u", err.line);
    cr_expect_eq(err.col, 13, "column %u", err.col);
}
