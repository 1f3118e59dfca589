/*
 * libmicrohttpd is loaded when `run` starts its HTTP server, never by
 * `status`, `check`'s config reading or `--version` (api/mhdapi.h), which
 * keeps GnuTLS's tree out of every short-lived command. When it cannot
 * load (a libmicrohttpd.so.12 without its functions, put first by
 * LD_LIBRARY_PATH), status works all the same, check says so at
 * http.listen, and run refuses to start, naming the library and dlerror().
 */
#define _DEFAULT_SOURCE
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

static struct harness H;

static void teardown(void)
{
    unsetenv("LD_LIBRARY_PATH");
    unsetenv("LD_DEBUG");
    h_cleanup(&H);
}

#define T(name, secs)                                                          \
    Test(libmicrohttpd, name, .timeout = secs, .fini = teardown)

static const char exec_only[] =
    "probes:\n"
    "  e: { type: exec, command: 'true', period: 1s, timeout: 500ms }\n";

#define NEEDS                                                                  \
    "the HTTP server needs libmicrohttpd: cannot load libmicrohttpd.so.12: "
#define UNDEFINED "libmicrohttpd.so.12: undefined symbol: MHD_"

/* Every sidecar from here on finds a fake libmicrohttpd.so.12 first. */
static void break_libmicrohttpd(void)
{
    h_use_fake_libs("fakemhd");
}

static int status_cmd(char *out, size_t len)
{
    char url[64];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d", h_http_port(&H));
    return h_run((const char *[]){"status", "--url", url, NULL}, out, len,
                 H_WAIT);
}

T(status_works_and_never_loads_it, 30)
{
    static char out[65536];

    h_start(&H, exec_only);
    cr_assert(h_wait_status(&H, "/readyz", 200, out, sizeof(out), H_WAIT));
    /* The loader's own account of what it opened, on stderr. */
    cr_assert_eq(setenv("LD_DEBUG", "files", 1), 0);
    cr_expect_eq(status_cmd(out, sizeof(out)), 0, "%s", out);
    cr_expect(strstr(out, ": UP  "), "%s", out);
    cr_expect(strstr(out, "file=libev.so.4"), "no LD_DEBUG output: %s", out);
    cr_expect_not(strstr(out, "libmicrohttpd"), "%s", out);
    cr_expect_eq(
        h_run((const char *[]){"--version", NULL}, out, sizeof(out), H_WAIT), 0,
        "%s", out);
    cr_expect_not(strstr(out, "libmicrohttpd"), "%s", out);
    unsetenv("LD_DEBUG");

    break_libmicrohttpd();
    cr_expect_eq(status_cmd(out, sizeof(out)), 0, "%s", out);
    cr_expect(strstr(out, ": UP  "), "%s", out);
}

T(check_says_it_cannot_load_and_run_refuses_naming_dlerror, 30)
{
    static char out[8192];
    const char *cfg = h_temp_file("http: { listen: '127.0.0.1:0' }\n"
                                  "probes:\n"
                                  "  e: { type: exec, command: 'true',"
                                  " period: 1s, timeout: 500ms }\n");
    char at[600];

    break_libmicrohttpd();
    cr_expect_eq(h_run((const char *[]){"check", "-c", cfg, NULL}, out,
                       sizeof(out), H_WAIT),
                 2, "%s", out);
    /* At http.listen's value, as the loader's own errors. */
    snprintf(at, sizeof(at), "%s:1:17: " NEEDS, cfg);
    cr_expect(strstr(out, at), "%s", out);
    cr_expect(strstr(out, UNDEFINED), "%s", out);

    cr_expect_eq(h_run((const char *[]){"run", "-c", cfg, NULL}, out,
                       sizeof(out), H_WAIT),
                 2, "%s", out);
    cr_expect(strstr(out, "sidecar: " NEEDS), "%s", out);
    cr_expect(strstr(out, UNDEFINED), "%s", out);
    cr_expect_not(strstr(out, "sidecar started"), "%s", out);
    unlink(cfg);
}
