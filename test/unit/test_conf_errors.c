/*
 * conf/: every independent error is reported, as a compiler reports them
 * (issue 14 item 7), and the rules `run` follows are the loader's: a ttl
 * probe needs the token, http.listen an address (issue 14 item 3).
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cfgtest.h"
#include "conf/load.h"

static struct cfg_error err;

#define MAIN "services:\n  app: {role: main, command: x}\n"

Test(cfg_errors, every_bad_value_and_key_is_reported, .timeout = 5)
{
    cr_expect_str_eq(
        ut_error_printed("services:\n"
                         "  app:\n"
                         "    role: main\n"
                         "    command: x\n"
                         "    restart: sometimes\n"
                         "    stop_timeout: 10\n"
                         "  other: {comand: x}\n"
                         "log: {level: loud}\n",
                         &err),
        "inline.yaml:5:14: expected one of always, on-failure, never "
        "for 'restart', found 'sometimes'\n"
        "inline.yaml:6:19: expected a duration such as 500ms, 5s or "
        "1m for 'stop_timeout', found '10'; add a unit, as in "
        "'10s'\n"
        "inline.yaml:7:11: unknown key 'comand' in service 'other'; "
        "did you mean 'command'?\n"
        "inline.yaml:8:14: expected one of debug, info, warn, error "
        "for 'level', found 'loud'\n");
    cr_expect_eq(err.count, 4);
}

/* What follows from an error is not another: one entry, one error. */
/* ready's words are exec and notify: "fd" is no word to suggest. */
Test(cfg_errors, an_unknown_ready_word_names_what_is_accepted, .timeout = 5)
{
    cr_expect_str_eq(
        ut_error_printed("services:\n"
                         "  app:\n"
                         "    role: main\n"
                         "    command: x\n"
                         "    ready: NOTIFY\n",
                         &err),
        "inline.yaml:5:12: expected exec, notify or {fd: N} (N from "
        "3 to 1023) for 'ready', found 'NOTIFY'\n");
}

Test(cfg_errors, consequences_are_not_reported, .timeout = 5)
{
    /* Without its role, no service is main; without its type, the probe
     * has no keys to check. */
    cr_expect_str_eq(ut_error_printed("services:\n"
                                      "  app: {role: boss, command: x}\n"
                                      "probes:\n"
                                      "  p: {type: icmp, port: 1}\n",
                                      &err),
                     "inline.yaml:2:15: expected one of main, helper, task for "
                     "'role', found 'boss'\n"
                     "inline.yaml:4:13: expected one of http, tcp, exec, ttl, "
                     "grpc for 'type', found 'icmp'\n");
}

Test(cfg_errors, independent_checks_across_entries_are_all_reported,
     .timeout = 5)
{
    cr_expect_str_eq(
        ut_error_printed(MAIN "  a: {command: x, depends_on: [nope]}\n"
                              "  b: {command: x, depends_on: [gone]}\n"
                              "probes:\n"
                              "  p: {type: tcp, port: 1, service: none}\n"
                              "  t: {type: ttl, ttl: 1m}\n",
                         &err),
        "inline.yaml:3:32: service 'a' depends on 'nope', which is "
        "not defined\n"
        "inline.yaml:4:32: service 'b' depends on 'gone', which is "
        "not defined\n"
        "inline.yaml:6:36: probe 'p' names service 'none', which is "
        "not defined\n"
        "inline.yaml:7:13: ttl probe 't' can never receive a result: "
        "pushes need the write API; set http.token or "
        "http.token_file\n");
}

Test(cfg_errors, past_the_cap_errors_are_counted, .timeout = 5)
{
    char text[4096] = "";

    for (int i = 0; i < CFG_ERRORS_MAX + 5; i++)
        snprintf(text + strlen(text), sizeof(text) - strlen(text),
                 "bad%02d: 1\n", i);
    const char *out = ut_error_printed(text, &err);
    size_t lines = 0;
    for (const char *c = out; *c; c++)
        lines += *c == '\n';
    cr_expect_eq(err.count, CFG_ERRORS_MAX + 5);
    cr_expect_eq(lines, CFG_ERRORS_MAX + 1, "%s", out);
    cr_expect(strstr(out, "\ninline.yaml: 5 more errors\n"), "%s", out);
    cr_expect_str_eq(err.next[CFG_ERRORS_MAX - 2].msg,
                     "unknown key 'bad19' in the top-level mapping; "
                     "expected one of: name, reload, http, log, shutdown, "
                     "exec_probe_limit, services, probes");
}

Test(cfg_errors, a_ttl_probe_loads_with_a_token, .timeout = 5)
{
    cfg_free(ut_load_ok("http: {token: t-0123456789abcdef}\n"
                        "probes: {t: {type: ttl, ttl: 1m}}\n"));
}

Test(cfg_errors, listen_takes_an_address_never_a_name, .timeout = 5)
{
    static const char *const good[] = {"localhost:1", ":1",
                                       "0.0.0.0:1",   "10.1.2.3:8558",
                                       "[::1]:1",     "[fe80::1]:0"};
    char text[256];

    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        snprintf(text, sizeof(text), "http: {listen: '%s'}\n" MAIN, good[i]);
        cfg_free(ut_load_ok(text));
    }
    cr_expect_str_eq(
        ut_error_printed("http: {listen: 'pod.invalid:8558'}\n" MAIN, &err),
        "inline.yaml:1:16: expected an IP address or localhost "
        "before the port for 'listen', found "
        "'pod.invalid:8558'\n");
}
