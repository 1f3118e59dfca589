/*
 * conf/parse.c: the scalar parsers, table-driven, including every error
 * of ${VAR} expansion.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "conf/parse.h"

struct duration_case {
    const char *in;
    int rc;
    int64_t ms;
};

static const struct duration_case durations[] = {
    {"0", 0, 0},
    {"0s", 0, 0},
    {"250ms", 0, 250},
    {"5s", 0, 5000},
    {"1m", 0, 60000},
    {"2h", 0, 7200000},
    {"1m30s", 0, 90000},
    {"1h2m3s4ms", 0, 3723004},
    {"1.5s", 0, 1500},
    {"0.25m", 0, 15000},
    {"1.001s", 0, 1001},
    {"1.000000000s", 0, 1000},
    {"500ms500ms", 0, 1000},
    {"9223372036854775807ms", 0, INT64_MAX},
    {"9223372036854775808ms", -ERANGE, 0},
    {"9223372036854776s", -ERANGE, 0},
    {"2562047788015216h", -ERANGE, 0},
    {"9223372036854775807ms1ms", -ERANGE, 0},
    {"", -EINVAL, 0},
    {"5", -EINVAL, 0},
    {"00", -EINVAL, 0},
    {"-1s", -EINVAL, 0},
    {"+1s", -EINVAL, 0},
    {"1d", -EINVAL, 0},
    {"1us", -EINVAL, 0},
    {"1S", -EINVAL, 0},
    {"5 s", -EINVAL, 0},
    {" 5s", -EINVAL, 0},
    {"5s ", -EINVAL, 0},
    {"1m30", -EINVAL, 0},
    {"1.5ms", -EINVAL, 0},
    {".5s", -EINVAL, 0},
    {"1.s", -EINVAL, 0},
    {"1.0000000001s", -EINVAL, 0},
    {"s", -EINVAL, 0},
    {"abc", -EINVAL, 0},
};

Test(cfg_parse, durations, .timeout = 5)
{
    for (size_t i = 0; i < ARRAY_SIZE(durations); i++) {
        const struct duration_case *c = &durations[i];
        int64_t ms = -42;
        int rc = cfg_parse_duration(c->in, &ms);

        cr_expect_eq(rc, c->rc, "'%s': rc %d, expected %d", c->in, rc, c->rc);
        cr_expect_eq(ms, c->rc == 0 ? c->ms : -42, "'%s': %lld ms", c->in,
                     (long long)ms);
    }
}

Test(cfg_parse, formats_durations_back, .timeout = 5)
{
    static const struct {
        int64_t ms;
        const char *out;
    } cases[] = {
        {0, "0s"},
        {1, "1ms"},
        {1500, "1s500ms"},
        {60000, "1m"},
        {90000, "1m30s"},
        {3723004, "1h2m3s4ms"},
        {INT64_MAX, "2562047788015h12m55s807ms"},
    };
    char buf[CFG_DURATION_STR_MAX];

    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        int64_t back;

        cfg_format_duration(cases[i].ms, buf, sizeof(buf));
        cr_expect_str_eq(buf, cases[i].out);
        cr_expect_eq(cfg_parse_duration(buf, &back), 0);
        cr_expect_eq(back, cases[i].ms, "round trip of %s", buf);
    }
}

Test(cfg_parse, signals, .timeout = 5)
{
    static const struct {
        const char *in;
        int signo;
    } good[] = {
        {"SIGTERM", SIGTERM},   {"TERM", SIGTERM},        {"SIGKILL", SIGKILL},
        {"HUP", SIGHUP},        {"SIGUSR1", SIGUSR1},     {"USR2", SIGUSR2},
        {"SIGWINCH", SIGWINCH}, {"SIGIOT", SIGABRT},      {"SIGCLD", SIGCHLD},
        {"SIGPOLL", SIGIO},     {"SIGSTKFLT", SIGSTKFLT}, {"SIGPWR", SIGPWR},
    };
    static const char *const bad[] = {
        "",          "15",      "-15",        "sigterm",
        "Term",      "SIG",     "SIGFOO",     "SIGTERM ",
        "SIGRTMIN+", "RTMIN-1", "SIGRTMAX+1", "SIGRTMIN+99",
    };
    int signo;

    for (size_t i = 0; i < ARRAY_SIZE(good); i++) {
        signo = -1;
        cr_expect_eq(cfg_parse_signal(good[i].in, &signo), 0, "%s", good[i].in);
        cr_expect_eq(signo, good[i].signo, "%s", good[i].in);
    }
    for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
        signo = -1;
        cr_expect_eq(cfg_parse_signal(bad[i], &signo), -EINVAL, "'%s'", bad[i]);
        cr_expect_eq(signo, -1);
    }
}

Test(cfg_parse, realtime_signals, .timeout = 5)
{
    int signo;

    cr_assert_eq(cfg_parse_signal("SIGRTMIN", &signo), 0);
    cr_expect_eq(signo, SIGRTMIN);
    cr_assert_eq(cfg_parse_signal("RTMIN+3", &signo), 0);
    cr_expect_eq(signo, SIGRTMIN + 3);
    cr_assert_eq(cfg_parse_signal("SIGRTMAX-1", &signo), 0);
    cr_expect_eq(signo, SIGRTMAX - 1);
    cr_expect_str_eq(cfg_signal_name(SIGRTMIN + 3), "SIGRTMIN+3");
    cr_expect_str_eq(cfg_signal_name(SIGRTMIN), "SIGRTMIN");
}

Test(cfg_parse, signal_names, .timeout = 5)
{
    cr_expect_str_eq(cfg_signal_name(SIGTERM), "SIGTERM");
    cr_expect_str_eq(cfg_signal_name(SIGABRT), "SIGABRT");
    cr_expect_str_eq(cfg_signal_name(SIGCHLD), "SIGCHLD");
    cr_expect_str_eq(cfg_signal_name(SIGIO), "SIGIO");
    cr_expect_null(cfg_signal_name(0));
    cr_expect_null(cfg_signal_name(-1));
    cr_expect_null(cfg_signal_name(1000));
    /* Every named signal parses back to itself. */
    for (int s = 1; s <= SIGRTMAX; s++) {
        const char *name = cfg_signal_name(s);
        int back;

        if (name == NULL)
            continue;
        cr_expect_eq(cfg_parse_signal(name, &back), 0, "%s", name);
        cr_expect_eq(back, s, "%s", name);
    }
}

Test(cfg_parse, sizes, .timeout = 5)
{
    static const struct {
        const char *in;
        int rc;
        size_t bytes;
    } cases[] = {
        {"0", 0, 0},
        {"16384", 0, 16384},
        {"512B", 0, 512},
        {"16KiB", 0, 16384},
        {"16Ki", 0, 16384},
        {"1MiB", 0, 1048576},
        {"2GiB", 0, (size_t)2 << 30},
        {"64KB", 0, 64000},
        {"64kB", 0, 64000},
        {"1MB", 0, 1000000},
        {"1GB", 0, 1000000000},
        {"18446744073709551615", 0, SIZE_MAX},
        {"18446744073709551616", -ERANGE, 0},
        {"17179869184GiB", -ERANGE, 0},
        {"", -EINVAL, 0},
        {"KiB", -EINVAL, 0},
        {"64k", -EINVAL, 0},
        {"1.5MiB", -EINVAL, 0},
        {"-1", -EINVAL, 0},
        {"16 KiB", -EINVAL, 0},
        {"16kib", -EINVAL, 0},
        {"0x10", -EINVAL, 0},
    };

    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        size_t bytes = 42;
        int rc = cfg_parse_size(cases[i].in, &bytes);

        cr_expect_eq(rc, cases[i].rc, "'%s': rc %d", cases[i].in, rc);
        cr_expect_eq(bytes, cases[i].rc == 0 ? cases[i].bytes : 42, "'%s'",
                     cases[i].in);
    }
}

Test(cfg_parse, integers, .timeout = 5)
{
    long long v = 7;

    cr_expect_eq(cfg_parse_int("42", 0, 100, &v), 0);
    cr_expect_eq(v, 42);
    cr_expect_eq(cfg_parse_int("-3", -5, 5, &v), 0);
    cr_expect_eq(v, -3);
    cr_expect_eq(cfg_parse_int("-9223372036854775808", LLONG_MIN, 0, &v), 0);
    cr_expect_eq(v, LLONG_MIN);
    cr_expect_eq(cfg_parse_int("9223372036854775808", 0, LLONG_MAX, &v),
                 -ERANGE);
    cr_expect_eq(cfg_parse_int("101", 0, 100, &v), -ERANGE);
    cr_expect_eq(cfg_parse_int("-1", 0, 100, &v), -ERANGE);
    cr_expect_eq(cfg_parse_int("99999999999999999999x", 0, 100, &v), -EINVAL);
    cr_expect_eq(cfg_parse_int("", 0, 100, &v), -EINVAL);
    cr_expect_eq(cfg_parse_int("-", 0, 100, &v), -EINVAL);
    cr_expect_eq(cfg_parse_int("+1", 0, 100, &v), -EINVAL);
    cr_expect_eq(cfg_parse_int("1.0", 0, 100, &v), -EINVAL);
    cr_expect_eq(cfg_parse_int(" 1", 0, 100, &v), -EINVAL);
    cr_expect_eq(v, LLONG_MIN, "failures store nothing");
}

Test(cfg_parse, umasks, .timeout = 5)
{
    mode_t m = 1;

    cr_expect_eq(cfg_parse_umask("022", &m), 0);
    cr_expect_eq(m, 022);
    cr_expect_eq(cfg_parse_umask("0777", &m), 0);
    cr_expect_eq(m, 0777);
    cr_expect_eq(cfg_parse_umask("0", &m), 0);
    cr_expect_eq(m, 0);
    cr_expect_eq(cfg_parse_umask("1000", &m), -ERANGE);
    cr_expect_eq(cfg_parse_umask("18", &m), -EINVAL);
    cr_expect_eq(cfg_parse_umask("", &m), -EINVAL);
    cr_expect_eq(cfg_parse_umask("00022", &m), -EINVAL);
    cr_expect_eq(cfg_parse_umask("0o22", &m), -EINVAL);
}

Test(cfg_parse, listen_addresses, .timeout = 5)
{
    static const struct {
        const char *in;
        int rc;
        const char *host;
        unsigned port;
    } cases[] = {
        {"0.0.0.0:8558", 0, "0.0.0.0", 8558},
        {":8558", 0, "", 8558},
        {"127.0.0.1:0", 0, "127.0.0.1", 0},
        {"localhost:65535", 0, "localhost", 65535},
        {"[::1]:9000", 0, "::1", 9000},
        {"[::]:80", 0, "::", 80},
        {"127.0.0.1:65536", -ERANGE, NULL, 0},
        {"8558", -EINVAL, NULL, 0},
        {"host:", -EINVAL, NULL, 0},
        {"host:-1", -EINVAL, NULL, 0},
        {"host:+1", -EINVAL, NULL, 0},
        {"host:80x", -EINVAL, NULL, 0},
        {"::1:80", -EINVAL, NULL, 0},
        {"[::1]80", -EINVAL, NULL, 0},
        {"[]:80", -EINVAL, NULL, 0},
        {"[::1:80", -EINVAL, NULL, 0},
        {"my host:80", -EINVAL, NULL, 0},
        {"", -EINVAL, NULL, 0},
    };

    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        char host[64] = "untouched";
        unsigned port = 1;
        int rc = cfg_parse_listen(cases[i].in, host, sizeof(host), &port);

        cr_expect_eq(rc, cases[i].rc, "'%s': rc %d", cases[i].in, rc);
        if (cases[i].rc != 0) {
            cr_expect_str_eq(host, "untouched");
            continue;
        }
        cr_expect_str_eq(host, cases[i].host, "'%s'", cases[i].in);
        cr_expect_eq(port, cases[i].port, "'%s'", cases[i].in);
    }
}

Test(cfg_parse, listen_host_too_long, .timeout = 5)
{
    char host[4];
    unsigned port;

    cr_expect_eq(cfg_parse_listen("abc:1", host, sizeof(host), &port), 0);
    /* -EINVAL, not -ERANGE: that one means the port (its message says so) */
    cr_expect_eq(cfg_parse_listen("abcd:1", host, sizeof(host), &port),
                 -EINVAL);
}

Test(cfg_parse, status_ranges, .timeout = 5)
{
    struct cfg_status_range r = {0, 0};

    cr_expect_eq(cfg_parse_status_range("200", &r), 0);
    cr_expect(r.lo == 200 && r.hi == 200);
    cr_expect_eq(cfg_parse_status_range("200-399", &r), 0);
    cr_expect(r.lo == 200 && r.hi == 399);
    cr_expect_eq(cfg_parse_status_range("100-599", &r), 0);
    cr_expect_eq(cfg_parse_status_range("99", &r), -ERANGE);
    cr_expect_eq(cfg_parse_status_range("600", &r), -ERANGE);
    cr_expect_eq(cfg_parse_status_range("399-200", &r), -ERANGE);
    cr_expect_eq(cfg_parse_status_range("200-", &r), -EINVAL);
    cr_expect_eq(cfg_parse_status_range("-200", &r), -EINVAL);
    cr_expect_eq(cfg_parse_status_range("2xx", &r), -EINVAL);
    cr_expect_eq(cfg_parse_status_range("200-300-400", &r), -EINVAL);
    cr_expect_eq(cfg_parse_status_range("", &r), -EINVAL);
    cr_expect(r.lo == 100 && r.hi == 599, "failures store nothing");
}

/* Expands in; returns its result (caller frees) or NULL with msg set. */
static char *expand(const char *in, char *msg, size_t len)
{
    char *out = NULL;
    int rc;

    msg[0] = '\0';
    rc = cfg_expand_env(in, &out, msg, len);
    cr_assert((rc == 0) == (out != NULL), "'%s': rc %d", in, rc);
    return out;
}

Test(cfg_parse, expands_environment, .timeout = 5)
{
    static const struct {
        const char *in;
        const char *out;
    } cases[] = {
        {"", ""},
        {"plain", "plain"},
        {"${CFG_T_SET}", "value"},
        {"a${CFG_T_SET}b${CFG_T_SET}c", "avaluebvaluec"},
        {"${CFG_T_EMPTY}", ""},
        {"${CFG_T_UNSET:-fallback}", "fallback"},
        {"${CFG_T_EMPTY:-fallback}", "fallback"},
        {"${CFG_T_SET:-fallback}", "value"},
        {"${CFG_T_UNSET:-}", ""},
        {"${CFG_T_UNSET:-a b:c-d}", "a b:c-d"},
        {"$$", "$"},
        {"$${CFG_T_SET}", "${CFG_T_SET}"},
        {"price: 5$", "price: 5$"},
        {"$HOME", "$HOME"},
        {"$ {x}", "$ {x}"},
        {"$$$$", "$$"},
        {"${CFG_T_DOLLAR}", "$${X}"},
        {"${_underscore_1}", "u"},
    };
    char msg[256];

    setenv("CFG_T_SET", "value", 1);
    setenv("CFG_T_EMPTY", "", 1);
    setenv("CFG_T_DOLLAR", "$${X}", 1);
    setenv("_underscore_1", "u", 1);
    unsetenv("CFG_T_UNSET");
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        char *out = expand(cases[i].in, msg, sizeof(msg));

        cr_expect_not_null(out, "'%s': %s", cases[i].in, msg);
        if (out != NULL)
            cr_expect_str_eq(out, cases[i].out, "'%s'", cases[i].in);
        free(out);
    }
}

Test(cfg_parse, expansion_errors, .timeout = 5)
{
    static const struct {
        const char *in;
        const char *msg;
    } cases[] = {
        {"${CFG_T_UNSET}",
         "environment variable CFG_T_UNSET is not set; write ${CFG_T_UNSET:-} "
         "for an empty default"},
        {"x ${CFG_T_UNSET} y",
         "environment variable CFG_T_UNSET is not set; write ${CFG_T_UNSET:-} "
         "for an empty default"},
        {"${", "'${' without a closing '}' (write '$$' for a literal '$')"},
        {"${CFG_T_SET", "'${' without a closing '}' (write '$$' for a "
                        "literal '$')"},
        {"${A:-b", "'${' without a closing '}' (write '$$' for a literal "
                   "'$')"},
        {"${}", "invalid reference '${}': expected ${NAME} or "
                "${NAME:-default}, NAME made of letters, digits and '_'"},
        {"${1A}", "invalid reference '${1A}': expected ${NAME} or "
                  "${NAME:-default}, NAME made of letters, digits and '_'"},
        {"${A-B}", "invalid reference '${A-B}': expected ${NAME} or "
                   "${NAME:-default}, NAME made of letters, digits and '_'"},
        {"${A:=b}", "invalid reference '${A:=b}': expected ${NAME} or "
                    "${NAME:-default}, NAME made of letters, digits and '_'"},
        {"${ A}", "invalid reference '${ A}': expected ${NAME} or "
                  "${NAME:-default}, NAME made of letters, digits and '_'"},
        {"${:-x}", "invalid reference '${:-x}': expected ${NAME} or "
                   "${NAME:-default}, NAME made of letters, digits and '_'"},
        {"${A:-${B}}", "invalid reference '${A:-${B}': a default is literal "
                       "text without '$'"},
    };
    char msg[256];

    setenv("CFG_T_SET", "value", 1);
    unsetenv("CFG_T_UNSET");
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        char *out = expand(cases[i].in, msg, sizeof(msg));

        cr_expect_null(out, "'%s' expanded to '%s'", cases[i].in,
                       out ? out : "");
        cr_expect_str_eq(msg, cases[i].msg, "'%s'", cases[i].in);
        free(out);
    }
}

Test(cfg_parse, expansion_truncates_long_references, .timeout = 5)
{
    char in[200], msg[256];
    char *out;

    memset(in, 'A', sizeof(in));
    memcpy(in, "${1", 3);
    memcpy(in + sizeof(in) - 2, "}", 2);
    out = expand(in, msg, sizeof(msg));
    cr_expect_null(out);
    cr_expect(strlen(msg) < 200, "%s", msg);
    cr_expect_not_null(strstr(msg, "${1AAA"));
    free(out);
}
