/*
 * Who runs as whom, and what never leaks: services get exactly the ids and
 * groups they are configured with, none of sidecar's own supplementary
 * groups; a sidecar that cannot switch users refuses a service with a
 * user instead of running it as itself; the token never reaches the log.
 */
#define _GNU_SOURCE
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

#define T(name, secs) Test(security, name, .timeout = secs, .fini = teardown)

T(services_get_their_ids_and_none_of_sidecars_groups, 20)
{
    if (geteuid() != 0)
        cr_skip_test("needs root");
    /* sidecar itself carries two supplementary groups: adm and sudo. */
    static const gid_t extra[] = {4, 27};
    h_start_as(&H,
               "services:\n"
               "  main:\n"
               "    role: main\n"
               "    restart: never\n"
               "    user: nobody\n"
               "    command: 'grep -E \"^(Uid|Gid|Groups)\" /proc/self/status; "
               "until [ -e @DIR@/done ]; do sleep 0.05; done'\n"
               "  grouped:\n"
               "    restart: never\n"
               "    user: nobody\n"
               "    group: daemon\n"
               "    command: 'grep -E \"^(Gid|Groups)\" /proc/self/status'\n"
               "  same:\n"
               "    restart: never\n"
               "    command: 'grep -E \"^Groups\" /proc/self/status'\n",
               &(struct h_creds){.uid = 0, .groups = extra, .groups_count = 2});
    cr_assert_geq(h_wait_event(&H, 0, 10, "service exited", "grouped"), 0);
    cr_assert_geq(h_wait_event(&H, 0, 10, "service exited", "same"), 0);
    h_touch(&H, "done");
    cr_assert_eq(h_wait_exit(&H, 10), 0);
    cr_expect_str_eq(h_line_of(&H, "main", "Uid:"),
                     "Uid:\t65534\t65534\t65534\t65534");
    cr_expect_str_eq(h_line_of(&H, "main", "Gid:"),
                     "Gid:\t65534\t65534\t65534\t65534");
    cr_expect_str_eq(h_line_of(&H, "main", "Groups:"), "Groups:\t65534 ");
    cr_expect_str_eq(h_line_of(&H, "grouped", "Gid:"), "Gid:\t1\t1\t1\t1");
    cr_expect_str_eq(h_line_of(&H, "grouped", "Groups:"), "Groups:\t1 ");
    /* Without user or group: sidecar's own user, none of its groups. */
    cr_expect_str_eq(h_line_of(&H, "same", "Groups:"), "Groups:\t ");
}

T(a_user_sidecar_cannot_switch_to_is_refused, 20)
{
    h_start_as(&H,
               "services:\n"
               "  main:\n"
               "    role: main\n"
               "    user: nobody\n"
               "    command: ['@HELPER@', 'run', 'main', '@DIR@/log']\n",
               &(struct h_creds){.uid = 64125});
    cr_expect_eq(h_wait_exit(&H, 10), 2, "a set-up error");
    /* The service's line in the file the harness wrote. */
    const char *cfg = h_read_file(H.cfg_path);
    const char *at = strstr(cfg, "\n  main:");
    cr_assert(at);
    int line = 2;
    for (const char *p = cfg; p < at; p++)
        line += *p == '\n';
    const char *err = h_read_file(H.err_path);
    char where[256];
    snprintf(where, sizeof(where),
             "%s:%d:3: service 'main': cannot run as nobody", H.cfg_path, line);
    cr_expect(strstr(err, where), "%s", err);
    cr_expect(strstr(err, "without CAP_SETUID, CAP_SETGID and CAP_KILL"), "%s",
              err);
    cr_expect_lt(h_find_event(&H, 0, "service started", "main"), 0);
    cr_expect_null(h_wait_file(&H, "log", 1, 0.2), "main ran anyway");
}

/*
 * Root without CAP_KILL can switch ids but not signal what then runs as
 * another user: a probe or service it could never stop at its timeout.
 * Refused, as without CAP_SETUID.
 */
T(a_sidecar_without_cap_kill_refuses_another_user, 20)
{
    static const char *const no_kill[] = {"setpriv", "--bounding-set", "-kill",
                                          "--", NULL};
    h_start_wrapped(&H,
                    "services:\n"
                    "  main:\n"
                    "    role: main\n"
                    "    command: ['@HELPER@', 'run', 'main', '@DIR@/log']\n"
                    "probes:\n"
                    "  as-nobody:\n"
                    "    type: exec\n"
                    "    service: main\n"
                    "    user: nobody\n"
                    "    command: 'true'\n",
                    no_kill);
    cr_expect_eq(h_wait_exit(&H, 10), 2, "a set-up error");
    const char *err = h_read_file(H.err_path);
    cr_expect(strstr(err, "probe 'as-nobody': cannot run as nobody"), "%s",
              err);
    cr_expect(strstr(err, "without CAP_SETUID, CAP_SETGID and CAP_KILL"), "%s",
              err);
}

/* A group alone keeps sidecar's uid, which it may signal without
 * CAP_KILL: allowed. */
T(a_group_alone_needs_no_cap_kill, 20)
{
    static const char *const no_kill[] = {"setpriv", "--bounding-set", "-kill",
                                          "--", NULL};
    size_t from = 0;
    h_start_wrapped(&H,
                    "probes:\n"
                    "  as-nogroup:\n"
                    "    type: exec\n"
                    "    group: nogroup\n"
                    "    command: [id, -g]\n"
                    "    period: 1s\n"
                    "    failure_threshold: 1\n",
                    no_kill);
    long i = h_wait_probe_state(&H, &from, "as-nogroup", "passing", H_WAIT);
    cr_assert_geq(i, 0);
    cr_expect_str_eq(h_str(&H, i, "reason"), "65534");
    h_signal(&H, SIGTERM);
    cr_expect_eq(h_wait_exit(&H, 10), 0);
}

T(the_token_never_reaches_the_log, 20)
{
    static const char token[] = "tok-7f3a9c1e5b";
    h_start_args(&H,
                 "http:\n"
                 "  listen: 127.0.0.1:0\n"
                 "  token: tok-7f3a9c1e5b\n"
                 "services:\n"
                 "  web:\n"
                 "    role: main\n"
                 "    command: ['@HELPER@', 'run', 'web', '@DIR@/log']\n"
                 "probes:\n"
                 "  batch: { type: ttl, ttl: 5s }\n",
                 (const char *[]){"--log-level", "debug", NULL});
    char req[512], body[65536];
    /* Right, wrong, almost right; in the header, the path and the query. */
    const char *auth[] = {"tok-7f3a9c1e5b", "tok-7f3a9c1e5c", "tok-7f3a9c1e5",
                          "tok-7f3a9c1e5bb"};
    for (size_t i = 0; i < 4; i++) {
        snprintf(req, sizeof(req),
                 "POST /probes/batch/pass HTTP/1.1\r\nHost: x\r\n"
                 "Authorization: Bearer %s\r\nContent-Length: 0\r\n"
                 "Connection: close\r\n\r\n",
                 auth[i]);
        cr_expect_eq(h_http(&H, req, body, sizeof(body)), i == 0 ? 200 : 401);
    }
    cr_expect_eq(h_get(&H, "/readyz/tok-7f3a9c1e5b", body, sizeof(body)), 404);
    cr_expect_eq(h_get(&H, "/livez?token=tok-7f3a9c1e5b", body, sizeof(body)),
                 200);
    cr_expect_eq(h_get(&H, "/health/details", body, sizeof(body)), 200);
    cr_expect_null(strstr(body, token), "details show the token");
    cr_expect_eq(h_get(&H, "/metrics", body, sizeof(body)), 200);
    cr_expect_null(strstr(body, token), "metrics show the token");
    /* web handles SIGTERM once it has written its start. */
    cr_assert(h_wait_file(&H, "log", 1, H_WAIT));
    h_signal(&H, SIGTERM);
    cr_expect_eq(h_wait_exit(&H, 10), 0);
    cr_assert_gt(H.count, 5);
    for (size_t i = 0; i < H.count; i++)
        cr_expect_null(strstr(H.raw[i], token), "logged: %s", H.raw[i]);
    cr_expect_null(strstr(h_read_file(H.err_path), token), "on stderr");
}
