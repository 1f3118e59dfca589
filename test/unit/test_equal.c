/*
 * conf/equal.c, through the loader: the same definition loaded twice, or
 * moved in the file, or with its indices shifted by other entries, is
 * equal; a change to any field that makes up a service or a probe is
 * not. Also the top-level 'reload' key, which decides when reloads run.
 */
#include <criterion/criterion.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf/equal.h"
#include "conf/load.h"

#define DOC_MAX 2048
#define SLEEP   "command: [sleep, \"60\"]"

/*
 * Service web among others: app (main), db (with a probe, so that
 * "healthy" may name it); %s%s%s: web's command unless its keys have one,
 * a separator, its keys.
 */
#define WEB_DOC                                                                \
    "services:\n"                                                              \
    "  app: {role: main, " SLEEP "}\n"                                         \
    "  db: {" SLEEP "}\n"                                                      \
    "  web: {%s%s%s}\n"                                                        \
    "probes:\n"                                                                \
    "  db-up: {type: tcp, port: 5432, service: db}\n"

/* Probe p beside the services app and db; %s: p's keys. */
#define PROBE_DOC                                                              \
    "services:\n"                                                              \
    "  app: {role: main, " SLEEP "}\n"                                         \
    "  db: {" SLEEP "}\n"                                                      \
    "probes:\n"                                                                \
    "  p: {%s}\n"

/* A service with every key set, web of the documents below. */
#define WEB_FULL                                                               \
    "    command: [/usr/bin/env, python3, -m, http.server]\n"                  \
    "    env: {A: \"1\", B: two}\n"                                            \
    "    cwd: /tmp\n"                                                          \
    "    user: nobody\n"                                                       \
    "    group: nogroup\n"                                                     \
    "    umask: \"027\"\n"                                                     \
    "    restart: on-failure\n"                                                \
    "    success_exit_codes: [0, 3]\n"                                         \
    "    backoff: {initial: 1s, max: 20s, reset_after: 1m}\n"                  \
    "    max_restarts: 4\n"                                                    \
    "    restart_window: 2m\n"                                                 \
    "    stop_signal: SIGQUIT\n"                                               \
    "    stop_timeout: 3s\n"                                                   \
    "    essential: true\n"                                                    \
    "    depends_on: {db: healthy, app: started}\n"                            \
    "    forward_signals: [SIGUSR1, SIGHUP]\n"

/* A probe with every http key set, p of the documents below. */
#define PROBE_FULL                                                             \
    "    type: http\n"                                                         \
    "    service: db\n"                                                        \
    "    importance: high\n"                                                   \
    "    period: 5s\n"                                                         \
    "    timeout: 2s\n"                                                        \
    "    initial_delay: 1s\n"                                                  \
    "    failure_threshold: 2\n"                                               \
    "    success_threshold: 3\n"                                               \
    "    on_failure: restart\n"                                                \
    "    url: https://127.0.0.1:8443/ready\n"                                  \
    "    method: HEAD\n"                                                       \
    "    headers: {Host: example.org, X-Check: \"1\"}\n"                       \
    "    expect_status: [200, 300-302]\n"                                      \
    "    expect_body: ok\n"                                                    \
    "    insecure: true\n"                                                     \
    "    follow_redirects: true\n"

/* Loads text under a token: ttl probes need one. */
static struct cfg_root *load(const char *text)
{
    static const char token[] = "http: {token: equal-token-0123456789}\n";
    struct cfg_root *root = NULL;
    struct cfg_error err;
    size_t len = strlen(token) + strlen(text);
    char *doc = malloc(len + 1);

    cr_assert_not_null(doc);
    snprintf(doc, len + 1, "%s%s", token, text);
    if (cfg_load_buffer("inline.yaml", doc, len, &root, &err) < 0)
        cr_assert_fail("%u:%u: %s, in:\n%s", err.line, err.col, err.msg, doc);
    free(doc);
    return root;
}

static const struct cfg_service *service(const struct cfg_root *root,
                                         const char *name)
{
    for (size_t i = 0; i < root->services_count; i++) {
        if (strcmp(root->services[i].name, name) == 0)
            return &root->services[i];
    }
    cr_assert_fail("no service '%s'", name);
    return NULL;
}

static const struct cfg_probe *probe(const struct cfg_root *root,
                                     const char *name)
{
    for (size_t i = 0; i < root->probes_count; i++) {
        if (strcmp(root->probes[i].name, name) == 0)
            return &root->probes[i];
    }
    cr_assert_fail("no probe '%s'", name);
    return NULL;
}

/* Service name of document a against that of b, checked both ways. */
static bool services_equal(const char *a, const char *b, const char *name)
{
    struct cfg_root *ra = load(a);
    struct cfg_root *rb = load(b);
    const struct cfg_service *sa = service(ra, name);
    const struct cfg_service *sb = service(rb, name);
    bool equal = cfg_service_equal(sa, sb);

    cr_expect_eq(cfg_service_equal(sb, sa), equal, "not symmetric: %s", name);
    cfg_free(ra);
    cfg_free(rb);
    return equal;
}

/* Probe name of document a against that of b, checked both ways. */
static bool probes_equal(const char *a, const char *b, const char *name)
{
    struct cfg_root *ra = load(a);
    struct cfg_root *rb = load(b);
    const struct cfg_probe *pa = probe(ra, name);
    const struct cfg_probe *pb = probe(rb, name);
    bool equal = cfg_probe_equal(pa, pb);

    cr_expect_eq(cfg_probe_equal(pb, pa), equal, "not symmetric: %s", name);
    cfg_free(ra);
    cfg_free(rb);
    return equal;
}

/* WEB_DOC with web's keys (the inside of a flow mapping). */
static void web_doc(char *buf, size_t size, const char *keys)
{
    bool own = strstr(keys, "command:") != NULL;
    const char *command = own ? "" : SLEEP;
    const char *sep = !own && *keys ? ", " : "";
    int n = snprintf(buf, size, WEB_DOC, command, sep, keys);

    cr_assert(n > 0 && (size_t)n < size);
}

static bool web_equal(const char *a, const char *b)
{
    char doc_a[DOC_MAX];
    char doc_b[DOC_MAX];

    web_doc(doc_a, sizeof(doc_a), a);
    web_doc(doc_b, sizeof(doc_b), b);
    return services_equal(doc_a, doc_b, "web");
}

static void web_differs(const char *a, const char *b)
{
    cr_expect(!web_equal(a, b), "web {%s} equals web {%s}", a, b);
}

static bool p_equal(const char *a, const char *b)
{
    char doc_a[DOC_MAX];
    char doc_b[DOC_MAX];
    int na = snprintf(doc_a, sizeof(doc_a), PROBE_DOC, a);
    int nb = snprintf(doc_b, sizeof(doc_b), PROBE_DOC, b);

    cr_assert(na > 0 && (size_t)na < sizeof(doc_a));
    cr_assert(nb > 0 && (size_t)nb < sizeof(doc_b));
    return probes_equal(doc_a, doc_b, "p");
}

static void p_differs(const char *a, const char *b)
{
    cr_expect(!p_equal(a, b), "p {%s} equals p {%s}", a, b);
}

Test(equal, a_service_loaded_twice_is_equal, .timeout = 5)
{
    static const char doc[] = "services:\n"
                              "  app: {role: main, " SLEEP "}\n"
                              "  db: {" SLEEP "}\n"
                              "  web:\n" WEB_FULL "probes:\n"
                              "  db-up: {type: tcp, port: 5432, service: db}\n";
    struct cfg_root *root = load(doc);

    cr_expect(cfg_service_equal(service(root, "web"), service(root, "web")));
    cr_expect(services_equal(doc, doc, "web"));
    cr_expect(services_equal(doc, doc, "app"));
    cfg_free(root);
}

Test(equal, a_service_moved_in_the_file_is_equal, .timeout = 5)
{
    static const char a[] = "services:\n"
                            "  app: {role: main, " SLEEP "}\n"
                            "  db: {" SLEEP "}\n"
                            "  web:\n" WEB_FULL "probes:\n"
                            "  db-up: {type: tcp, port: 5432, service: db}\n";
    /* First, its keys in another order, a comment and blank lines. */
    static const char b[] = "# moved first\n"
                            "\n"
                            "services:\n"
                            "\n"
                            "  web:\n"
                            "    forward_signals: [SIGUSR1, SIGHUP]\n"
                            "    depends_on: {db: healthy, app: started}\n"
                            "    essential: true\n"
                            "    stop_timeout: 3s\n"
                            "    stop_signal: SIGQUIT\n"
                            "    restart_window: 2m\n"
                            "    max_restarts: 4\n"
                            "    backoff: {reset_after: 1m, max: 20s, "
                            "initial: 1s}\n"
                            "    success_exit_codes: [0, 3]\n"
                            "    restart: on-failure\n"
                            "    umask: \"027\"\n"
                            "    group: nogroup\n"
                            "    user: nobody\n"
                            "    cwd: /tmp\n"
                            "    env: {A: \"1\", B: two}\n"
                            "    command: [/usr/bin/env, python3, -m, "
                            "http.server]\n"
                            "\n"
                            "  app: {role: main, " SLEEP "}\n"
                            "  db: {" SLEEP "}\n"
                            "probes:\n"
                            "  db-up: {type: tcp, port: 5432, service: db}\n";
    struct cfg_root *ra = load(a);
    struct cfg_root *rb = load(b);

    cr_expect_neq(service(ra, "web")->mark.line, service(rb, "web")->mark.line);
    cr_expect(cfg_service_equal(service(ra, "web"), service(rb, "web")));
    cr_expect(cfg_service_equal(service(ra, "app"), service(rb, "app")));
    cr_expect(cfg_service_equal(service(ra, "db"), service(rb, "db")));
    cfg_free(ra);
    cfg_free(rb);
}

Test(equal, a_service_added_before_it_keeps_it_equal, .timeout = 5)
{
    static const char a[] = "services:\n"
                            "  app: {role: main, " SLEEP "}\n"
                            "  web: {" SLEEP ", depends_on: [app]}\n";
    static const char b[] = "services:\n"
                            "  new: {" SLEEP "}\n"
                            "  app: {role: main, " SLEEP "}\n"
                            "  web: {" SLEEP ", depends_on: [app]}\n";
    struct cfg_root *ra = load(a);
    struct cfg_root *rb = load(b);
    const struct cfg_service *wa = service(ra, "web");
    const struct cfg_service *wb = service(rb, "web");

    cr_expect_neq(wa - ra->services, wb - rb->services);
    cr_expect_neq(wa->deps[0].index, wb->deps[0].index);
    cr_expect(cfg_service_equal(wa, wb));
    cr_expect(cfg_service_equal(service(ra, "app"), service(rb, "app")));
    cfg_free(ra);
    cfg_free(rb);
}

Test(equal, a_moved_dependency_keeps_it_equal, .timeout = 5)
{
    static const char a[] = "services:\n"
                            "  app: {role: main, " SLEEP "}\n"
                            "  db: {" SLEEP "}\n"
                            "  web: {" SLEEP ", depends_on: [db, app]}\n";
    static const char b[] = "services:\n"
                            "  web: {" SLEEP ", depends_on: [db, app]}\n"
                            "  app: {role: main, " SLEEP "}\n"
                            "  db: {" SLEEP "}\n";
    struct cfg_root *ra = load(a);
    struct cfg_root *rb = load(b);
    const struct cfg_service *wa = service(ra, "web");
    const struct cfg_service *wb = service(rb, "web");

    cr_expect_neq(wa->deps[0].index, wb->deps[0].index);
    cr_expect_neq(wa->deps[1].index, wb->deps[1].index);
    cr_expect(cfg_service_equal(wa, wb));
    cfg_free(ra);
    cfg_free(rb);
}

Test(equal, defaults_written_out_are_equal, .timeout = 5)
{
    cr_expect(web_equal("", "role: helper, restart: always, "
                            "success_exit_codes: [0], max_restarts: 10, "
                            "backoff: {initial: 500ms, max: 30s}, "
                            "stop_signal: TERM, stop_timeout: 10s, "
                            "essential: false, forward_signals: []"));
    cr_expect(web_equal("env: {A: \"1\"}", "env: {A: 1}"));
    cr_expect(web_equal("restart_window: 1m", "restart_window: 60s"));
    cr_expect(web_equal("depends_on: [db]", "depends_on: {db: started}"));
    cr_expect(
        p_equal("type: tcp, port: 80", "type: tcp, port: 80, host: 127.0.0.1"));
    cr_expect(p_equal("type: http, url: \"http://h/\"",
                      "type: http, url: \"http://h/\", method: GET, "
                      "expect_status: [200-399], period: 10s"));
}

Test(equal, a_service_by_another_name_differs, .timeout = 5)
{
    static const char doc[] = "services:\n"
                              "  app: {role: main, " SLEEP "}\n"
                              "  db: {" SLEEP "}\n"
                              "  web: {" SLEEP "}\n";
    struct cfg_root *root = load(doc);

    cr_expect(!cfg_service_equal(service(root, "db"), service(root, "web")));
    cfg_free(root);
}

Test(equal, null_and_empty_strings_differ, .timeout = 5)
{
    static const char doc[] = "services:\n"
                              "  app: {role: main, " SLEEP "}\n"
                              "probes:\n"
                              "  p: {type: http, url: \"http://h/\"}\n";
    struct cfg_root *root = load(doc);
    struct cfg_service svc = *service(root, "app");
    struct cfg_probe pr = *probe(root, "p");
    char empty[] = "";

    cr_assert_null(svc.user.name);
    svc.user.name = empty;
    cr_expect(!cfg_service_equal(service(root, "app"), &svc));
    cr_expect(!cfg_service_equal(&svc, service(root, "app")));
    cr_assert_null(pr.expect_body);
    pr.expect_body = empty;
    cr_expect(!cfg_probe_equal(probe(root, "p"), &pr));
    cr_expect(!cfg_probe_equal(&pr, probe(root, "p")));
    cfg_free(root);
}

Test(equal, command_differs, .timeout = 5)
{
    web_differs("command: [sleep, \"60\"]", "command: [sleep, \"61\"]");
    web_differs("command: [sleep, \"60\"]", "command: [sleep, \"60\", x]");
    web_differs("command: [sleep, \"60\"]", "command: [/bin/sleep, \"60\"]");
    web_differs("command: [sleep, \"60\"]", "command: sleep 60;");
    web_differs("command: sleep 60", "command: sleep 61");
    /* Same argv, but one is a string for /bin/sh and one a list. */
    web_differs("command: sleep 60;", "command: [/bin/sh, -c, sleep 60;]");
}

/* A simple string runs as its words: the very process a list starts. */
Test(equal, simple_string_command_equals_its_list, .timeout = 5)
{
    cr_expect(web_equal("command: [sleep, \"60\"]", "command: sleep 60"));
    cr_expect(web_equal("command: sleep 60", "command: \" sleep\t60 \""));
}

Test(equal, env_value_differs, .timeout = 5)
{
    web_differs("env: {A: \"1\"}", "env: {A: \"2\"}");
    web_differs("env: {A: \"1\"}", "env: {B: \"1\"}");
    web_differs("env: {A: \"1\"}", "env: {A: \"\"}");
    web_differs("", "env: {A: \"1\"}");
    web_differs("env: {A: \"1\"}", "env: {A: \"1\", B: \"2\"}");
}

Test(equal, env_order_differs, .timeout = 5)
{
    web_differs("env: {A: \"1\", B: \"2\"}", "env: {B: \"2\", A: \"1\"}");
}

Test(equal, cwd_differs, .timeout = 5)
{
    web_differs("", "cwd: /tmp");
    web_differs("cwd: /tmp", "cwd: /var");
}

Test(equal, user_differs, .timeout = 5)
{
    web_differs("", "user: nobody");
    web_differs("user: nobody", "user: root");
}

Test(equal, group_differs, .timeout = 5)
{
    web_differs("", "group: nogroup");
    web_differs("group: nogroup", "group: root");
}

Test(equal, umask_differs, .timeout = 5)
{
    web_differs("umask: \"022\"", "umask: \"077\"");
    web_differs("", "umask: \"022\"");
    /* 000 is set, to nothing: not the same as inheriting sidecar's. */
    web_differs("", "umask: \"000\"");
}

Test(equal, restart_differs, .timeout = 5)
{
    web_differs("", "restart: on-failure");
    web_differs("restart: always", "restart: never");
}

Test(equal, success_exit_codes_differ, .timeout = 5)
{
    web_differs("", "success_exit_codes: [1]");
    web_differs("success_exit_codes: [0]", "success_exit_codes: [0, 1]");
    web_differs("success_exit_codes: [0, 1]", "success_exit_codes: [1, 0]");
}

Test(equal, backoff_differs, .timeout = 5)
{
    web_differs("", "backoff: {initial: 1s}");
    web_differs("", "backoff: {max: 1m}");
    web_differs("", "backoff: {reset_after: 10s}");
}

Test(equal, max_restarts_differs, .timeout = 5)
{
    web_differs("", "max_restarts: 11");
    web_differs("max_restarts: 0", "max_restarts: 1");
}

Test(equal, restart_window_differs, .timeout = 5)
{
    web_differs("", "restart_window: 61s");
}

Test(equal, stop_signal_differs, .timeout = 5)
{
    web_differs("", "stop_signal: SIGQUIT");
    web_differs("stop_signal: SIGINT", "stop_signal: SIGQUIT");
}

Test(equal, stop_timeout_differs, .timeout = 5)
{
    web_differs("", "stop_timeout: 5s");
}

Test(equal, role_and_essential_differ, .timeout = 5)
{
    /*
     * Either way round, web and app differ in their role alone: the
     * defaults that follow from the role are written out.
     */
    static const char helper[] = "services:\n"
                                 "  app: {role: main, " SLEEP ", "
                                 "forward_signals: []}\n"
                                 "  web: {" SLEEP ", essential: true, "
                                 "forward_signals: [USR1]}\n";
    static const char as_main[] = "services:\n"
                                  "  app: {" SLEEP ", essential: true, "
                                  "forward_signals: []}\n"
                                  "  web: {role: main, " SLEEP ", "
                                  "forward_signals: [USR1]}\n";

    web_differs("", "essential: true");
    cr_expect(!services_equal(helper, as_main, "web"), "role");
    cr_expect(!services_equal(helper, as_main, "app"), "role");
}

Test(equal, depends_on_differs, .timeout = 5)
{
    web_differs("", "depends_on: [db]");
    web_differs("depends_on: [db]", "depends_on: [app]");
    web_differs("depends_on: [db]", "depends_on: {db: healthy}");
    web_differs("depends_on: [db]", "depends_on: [db, app]");
    web_differs("depends_on: [app, db]", "depends_on: [db, app]");
}

Test(equal, forward_signals_differ, .timeout = 5)
{
    web_differs("", "forward_signals: [SIGUSR1]");
    web_differs("forward_signals: [SIGUSR1]", "forward_signals: [SIGUSR2]");
    web_differs("forward_signals: [SIGUSR1, SIGUSR2]",
                "forward_signals: [SIGUSR2, SIGUSR1]");
}

Test(equal, a_probe_loaded_twice_is_equal, .timeout = 5)
{
    static const char doc[] =
        "services:\n"
        "  app: {role: main, " SLEEP "}\n"
        "  db: {" SLEEP "}\n"
        "probes:\n"
        "  p:\n" PROBE_FULL "  tcp: {type: tcp, host: \"::1\", port: 5432}\n"
        "  exec: {type: exec, command: [true]}\n"
        "  ttl: {type: ttl, ttl: 1m}\n";
    struct cfg_root *root = load(doc);

    cr_expect(cfg_probe_equal(probe(root, "p"), probe(root, "p")));
    cr_expect(probes_equal(doc, doc, "p"));
    cr_expect(probes_equal(doc, doc, "tcp"));
    cr_expect(probes_equal(doc, doc, "exec"));
    cr_expect(probes_equal(doc, doc, "ttl"));
    cfg_free(root);
}

Test(equal, a_reordered_probe_is_equal, .timeout = 5)
{
    static const char a[] =
        "services:\n"
        "  app: {role: main, " SLEEP "}\n"
        "  db: {" SLEEP "}\n"
        "probes:\n"
        "  p:\n" PROBE_FULL "  q: {type: ttl, ttl: 1m, service: app}\n";
    /* p last, its keys in another order; a service before db. */
    static const char b[] = "services:\n"
                            "  new: {" SLEEP "}\n"
                            "  app: {role: main, " SLEEP "}\n"
                            "  db: {" SLEEP "}\n"
                            "probes:\n"
                            "  q: {type: ttl, ttl: 1m, service: app}\n"
                            "  p:\n"
                            "    follow_redirects: true\n"
                            "    insecure: true\n"
                            "    expect_body: ok\n"
                            "    expect_status: [200, 300-302]\n"
                            "    headers: {Host: example.org, X-Check: "
                            "\"1\"}\n"
                            "    method: HEAD\n"
                            "    url: https://127.0.0.1:8443/ready\n"
                            "    on_failure: restart\n"
                            "    success_threshold: 3\n"
                            "    failure_threshold: 2\n"
                            "    initial_delay: 1s\n"
                            "    timeout: 2s\n"
                            "    period: 5s\n"
                            "    importance: high\n"
                            "    service: db\n"
                            "    type: http\n";
    struct cfg_root *ra = load(a);
    struct cfg_root *rb = load(b);
    const struct cfg_probe *pa = probe(ra, "p");
    const struct cfg_probe *pb = probe(rb, "p");

    cr_expect_neq(pa - ra->probes, pb - rb->probes);
    cr_expect_neq(pa->mark.line, pb->mark.line);
    cr_expect_neq(pa->service_index, pb->service_index);
    cr_expect(cfg_probe_equal(pa, pb));
    cr_expect(cfg_probe_equal(probe(ra, "q"), probe(rb, "q")));
    cfg_free(ra);
    cfg_free(rb);
}

Test(equal, a_probe_by_another_name_differs, .timeout = 5)
{
    static const char doc[] = "probes:\n"
                              "  p: {type: ttl, ttl: 1m}\n"
                              "  q: {type: ttl, ttl: 1m}\n";
    struct cfg_root *root = load(doc);

    cr_expect(!cfg_probe_equal(probe(root, "p"), probe(root, "q")));
    cfg_free(root);
}

Test(equal, probe_type_differs, .timeout = 5)
{
    static const char doc[] = "probes:\n"
                              "  p: {type: tcp, port: 80}\n";
    struct cfg_root *root = load(doc);
    struct cfg_probe other = *probe(root, "p");

    p_differs("type: tcp, port: 80", "type: http, url: \"http://h:80/\"");
    p_differs("type: exec, command: [true]", "type: ttl, ttl: 1m");
    /* The type alone, every other field kept. */
    other.type = CFG_PROBE_HTTP;
    cr_expect(!cfg_probe_equal(probe(root, "p"), &other));
    cfg_free(root);
}

Test(equal, probe_service_differs, .timeout = 5)
{
    p_differs("type: ttl, ttl: 1m", "type: ttl, ttl: 1m, service: app");
    p_differs("type: ttl, ttl: 1m, service: app",
              "type: ttl, ttl: 1m, service: db");
}

Test(equal, probe_importance_differs, .timeout = 5)
{
    p_differs("type: ttl, ttl: 1m", "type: ttl, ttl: 1m, importance: low");
    p_differs("type: ttl, ttl: 1m, importance: high",
              "type: ttl, ttl: 1m, importance: low");
}

Test(equal, probe_timing_differs, .timeout = 5)
{
    p_differs("type: ttl, ttl: 1m", "type: ttl, ttl: 1m, period: 20s");
    p_differs("type: ttl, ttl: 1m", "type: ttl, ttl: 1m, timeout: 2s");
    p_differs("type: ttl, ttl: 1m", "type: ttl, ttl: 1m, initial_delay: 1s");
}

Test(equal, probe_thresholds_differ, .timeout = 5)
{
    p_differs("type: ttl, ttl: 1m", "type: ttl, ttl: 1m, failure_threshold: 4");
    p_differs("type: ttl, ttl: 1m", "type: ttl, ttl: 1m, success_threshold: 2");
}

Test(equal, probe_on_failure_differs, .timeout = 5)
{
    p_differs("type: ttl, ttl: 1m, service: app",
              "type: ttl, ttl: 1m, service: app, on_failure: restart");
}

Test(equal, probe_url_differs, .timeout = 5)
{
    p_differs("type: http, url: \"http://h/a\"",
              "type: http, url: \"http://h/b\"");
    p_differs("type: http, url: \"http://h/\"",
              "type: http, url: \"https://h/\"");
}

Test(equal, probe_method_differs, .timeout = 5)
{
    p_differs("type: http, url: \"http://h/\"",
              "type: http, url: \"http://h/\", method: HEAD");
    p_differs("type: http, url: \"http://h/\", method: POST",
              "type: http, url: \"http://h/\", method: HEAD");
}

Test(equal, probe_headers_differ, .timeout = 5)
{
    static const char base[] = "type: http, url: \"http://h/\"";

    p_differs(base, "type: http, url: \"http://h/\", headers: {X-A: \"1\"}");
    p_differs("type: http, url: \"http://h/\", headers: {X-A: \"1\"}",
              "type: http, url: \"http://h/\", headers: {X-A: \"2\"}");
    p_differs("type: http, url: \"http://h/\", headers: {X-A: \"1\"}",
              "type: http, url: \"http://h/\", headers: {X-B: \"1\"}");
    p_differs("type: http, url: \"http://h/\", headers: {X-A: \"1\"}",
              "type: http, url: \"http://h/\", "
              "headers: {X-A: \"1\", X-B: \"2\"}");
    p_differs("type: http, url: \"http://h/\", "
              "headers: {X-A: \"1\", X-B: \"2\"}",
              "type: http, url: \"http://h/\", "
              "headers: {X-B: \"2\", X-A: \"1\"}");
}

Test(equal, probe_expect_status_differs, .timeout = 5)
{
    p_differs("type: http, url: \"http://h/\"",
              "type: http, url: \"http://h/\", expect_status: [200]");
    p_differs("type: http, url: \"http://h/\", expect_status: [200]",
              "type: http, url: \"http://h/\", expect_status: [201]");
    p_differs("type: http, url: \"http://h/\", expect_status: [200]",
              "type: http, url: \"http://h/\", expect_status: [200-201]");
    p_differs("type: http, url: \"http://h/\", expect_status: [200-299]",
              "type: http, url: \"http://h/\", expect_status: [201-299]");
    p_differs("type: http, url: \"http://h/\", expect_status: [200]",
              "type: http, url: \"http://h/\", expect_status: [200, 204]");
    p_differs("type: http, url: \"http://h/\", expect_status: [200, 204]",
              "type: http, url: \"http://h/\", expect_status: [204, 200]");
}

Test(equal, probe_expect_body_differs, .timeout = 5)
{
    p_differs("type: http, url: \"http://h/\"",
              "type: http, url: \"http://h/\", expect_body: ok");
    p_differs("type: http, url: \"http://h/\", expect_body: ok",
              "type: http, url: \"http://h/\", expect_body: OK");
}

Test(equal, probe_insecure_differs, .timeout = 5)
{
    p_differs("type: http, url: \"https://h/\"",
              "type: http, url: \"https://h/\", insecure: true");
}

Test(equal, probe_follow_redirects_differs, .timeout = 5)
{
    p_differs("type: http, url: \"http://h/\"",
              "type: http, url: \"http://h/\", follow_redirects: true");
}

Test(equal, probe_host_and_port_differ, .timeout = 5)
{
    p_differs("type: tcp, port: 80", "type: tcp, port: 80, host: localhost");
    p_differs("type: tcp, port: 80, host: \"::1\"",
              "type: tcp, port: 80, host: 127.0.0.1");
    p_differs("type: tcp, port: 80", "type: tcp, port: 81");
}

Test(equal, probe_command_differs, .timeout = 5)
{
    p_differs("type: exec, command: [true]", "type: exec, command: [false]");
    p_differs("type: exec, command: [test, -f, /a]",
              "type: exec, command: [test, -f, /b]");
    p_differs("type: exec, command: [true]", "type: exec, command: [true, x]");
    p_differs("type: exec, command: [true]", "type: exec, command: true");
}

Test(equal, probe_ttl_differs, .timeout = 5)
{
    p_differs("type: ttl, ttl: 1m", "type: ttl, ttl: 2m");
}

Test(equal, reload_defaults_to_manual, .timeout = 5)
{
    struct cfg_root *root = load("services:\n"
                                 "  app: {role: main, " SLEEP "}\n");

    cr_expect_eq(root->reload, CFG_RELOAD_MANUAL);
    cfg_free(root);
    root = load("reload:\n"
                "services:\n"
                "  app: {role: main, " SLEEP "}\n");
    cr_expect_eq(root->reload, CFG_RELOAD_MANUAL, "an empty value");
    cfg_free(root);
}

Test(equal, reload_takes_manual_and_watch, .timeout = 5)
{
    struct cfg_root *root = load("reload: watch\n"
                                 "probes:\n"
                                 "  p: {type: ttl, ttl: 1m}\n");

    cr_expect_eq(root->reload, CFG_RELOAD_WATCH);
    cfg_free(root);
    root = load("reload: manual\n"
                "probes:\n"
                "  p: {type: ttl, ttl: 1m}\n");
    cr_expect_eq(root->reload, CFG_RELOAD_MANUAL);
    cfg_free(root);
}

Test(equal, reload_rejects_other_values_at_their_position, .timeout = 5)
{
    static const char doc[] = "name: pod\n"
                              "reload: sometimes\n"
                              "probes:\n"
                              "  p: {type: ttl, ttl: 1m}\n";
    struct cfg_root *root = NULL;
    struct cfg_error err;

    cr_assert_eq(cfg_load_buffer("inline.yaml", doc, strlen(doc), &root, &err),
                 -1);
    cr_expect_null(root);
    cr_expect_str_eq(err.path, "inline.yaml");
    cr_expect_eq(err.line, 2);
    cr_expect_eq(err.col, 9);
    cr_expect_str_eq(err.msg,
                     "expected one of manual, watch for 'reload', found "
                     "'sometimes'");
}
