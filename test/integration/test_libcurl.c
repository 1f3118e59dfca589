/*
 * libcurl is loaded when the first http probe is configured, never
 * otherwise (probes/curlapi.h): seen in /proc/PID/maps of the real binary.
 * When it cannot load (a libcurl.so.4 without its functions, put first by
 * LD_LIBRARY_PATH), a config with an http probe is refused by check, run
 * and a reload, each naming the probe, the library and dlerror(); a config
 * without one, and `sidecar status`, work all the same.
 */
#define _DEFAULT_SOURCE
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

static struct harness H;

static void teardown(void)
{
    h_cleanup(&H);
}

#define T(name, secs) Test(libcurl, name, .timeout = secs, .fini = teardown)

static const char exec_only[] =
    "probes:\n"
    "  e: { type: exec, command: 'true', period: 1s, timeout: 500ms }\n";

/* https needs libcurl; a plain http:// probe, redirects and all, does not. */
static const char with_http[] =
    "probes:\n"
    "  e: { type: exec, command: 'true', period: 1s, timeout: 500ms }\n"
    "  web: { type: http, url: 'https://127.0.0.1:1/', period: 1s,"
    " timeout: 500ms }\n";

static const char with_plain_http[] =
    "probes:\n"
    "  e: { type: exec, command: 'true', period: 1s, timeout: 500ms }\n"
    "  plain: { type: http, url: 'http://127.0.0.1:1/', period: 1s,"
    " timeout: 500ms, follow_redirects: true }\n";

#define NEEDS     "probe 'web' needs libcurl: cannot load libcurl.so.4: "
#define UNDEFINED "libcurl.so.4: undefined symbol: curl_"

/* Every sidecar from here on finds a fake libcurl.so.4 first. */
static void break_libcurl(void)
{
    h_use_fake_libs("fakecurl");
}

static bool maps_libcurl(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/maps", (int)pid);
    return strstr(h_read_file(path), "libcurl") != NULL;
}

static int status_cmd(char *out, size_t len)
{
    char url[64];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d", h_http_port(&H));
    return h_run((const char *[]){"status", "--url", url, NULL}, out, len,
                 H_WAIT);
}

static void wait_up(void)
{
    char body[4096];
    cr_assert(h_wait_status(&H, "/readyz", 200, body, sizeof(body), H_WAIT));
}

T(check_and_run_refuse_an_http_probe_naming_it_libcurl_and_dlerror, 30)
{
    static char out[8192];
    const char *cfg = h_temp_file(with_http);

    break_libcurl();
    cr_expect_eq(h_run((const char *[]){"check", "-c", cfg, NULL}, out,
                       sizeof(out), H_WAIT),
                 2, "%s", out);
    cr_expect(strstr(out, NEEDS), "%s", out);
    cr_expect(strstr(out, UNDEFINED), "%s", out);
    cr_expect(strstr(out, cfg), "check names the file: %s", out);
    cr_expect_eq(h_run((const char *[]){"run", "-c", cfg, NULL}, out,
                       sizeof(out), H_WAIT),
                 2, "%s", out);
    cr_expect(strstr(out, NEEDS), "%s", out);
    cr_expect(strstr(out, UNDEFINED), "%s", out);
    unlink(cfg);
}

T(without_http_probes_no_libcurl_is_needed_and_a_reload_adding_one_is_refused,
  30)
{
    static char out[8192];

    break_libcurl();
    h_start(&H, exec_only);
    wait_up();
    cr_expect_not(maps_libcurl(H.pid));
    /* status fetches over plain HTTP: no libcurl either. */
    cr_expect_eq(status_cmd(out, sizeof(out)), 0, "%s", out);
    cr_expect(strstr(out, ": UP  "), "%s", out);

    h_write_config(&H, H.cfg_path, NULL, with_http, true);
    long r = h_sighup(&H, "config reload failed: nothing changed");
    cr_assert_geq(r, 0, "the reload was not refused");
    const char *error = h_str(&H, r, "error");
    cr_expect(error && strstr(error, NEEDS) && strstr(error, UNDEFINED), "%s",
              error ? error : "(no error)");
    /* The old config runs on, and says why the reload failed. */
    cr_expect_eq(status_cmd(out, sizeof(out)), 0, "%s", out);
    cr_expect_not(strstr(out, "web"), "%s", out);
    cr_expect_not(maps_libcurl(H.pid));
}

/*
 * A plain http:// probe runs on sidecar's own HTTP/1.1 exchange: a config
 * of them needs no libcurl, and maps none, even when none would load.
 */
T(plain_http_probes_need_no_libcurl, 30)
{
    static char out[8192];

    break_libcurl();
    h_start(&H, with_plain_http);
    cr_assert_geq(h_wait_event(&H, 0, H_WAIT, "sidecar started", NULL), 0);
    size_t from = 0;
    long i = h_wait_probe_state(&H, &from, "plain", "failing", H_WAIT);
    cr_assert_geq(i, 0);
    cr_expect_str_eq(h_str(&H, i, "reason"),
                     "cannot connect to 127.0.0.1:1: Connection refused");
    cr_expect_not(maps_libcurl(H.pid));
    const char *args[] = {"check", "-c", H.cfg_path, NULL};
    cr_expect_eq(h_run(args, out, sizeof(out), 10), 0, "%s", out);
}

T(the_first_http_probe_loads_libcurl_and_a_reload_adding_it_too, 30)
{
    static char out[8192];

    h_start(&H, exec_only);
    wait_up();
    cr_expect_not(maps_libcurl(H.pid), "no http probe, yet libcurl mapped");
    h_write_config(&H, H.cfg_path, NULL, with_http, true);
    cr_assert_geq(h_sighup(&H, "config reloaded"), 0);
    cr_expect(maps_libcurl(H.pid), "an http probe, and no libcurl mapped");
    size_t from = 0;
    cr_expect_geq(h_wait_probe_state(&H, &from, "web", "failing", H_WAIT), 0);
    cr_expect_eq(status_cmd(out, sizeof(out)), 2, "%s", out);
    h_cleanup(&H);

    h_start(&H, with_http);
    cr_assert_geq(h_wait_event(&H, 0, H_WAIT, "sidecar started", NULL), 0);
    cr_expect(maps_libcurl(H.pid));
}
