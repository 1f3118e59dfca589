/*
 * conf/runas.c and the exec probe keys that feed it: user, group, env and
 * cwd load as a service's do and are refused where a service's are, and
 * on other probe types; an exec probe of a service runs as that service
 * with its own keys over it; a probe of none has its own keys only; the
 * environment is inherit's less what env sets, and hides the token's
 * variables unless env names them. Without user or group nothing is
 * looked up, so these need no particular machine.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "cfgtest.h"
#include "conf/equal.h"
#include "conf/runas.h"
#include "conf/validate.h"

#define APP                                                                    \
    "services:\n"                                                              \
    "  app:\n"                                                                 \
    "    role: main\n"                                                         \
    "    command: [sleep, \"60\"]\n"                                           \
    "    cwd: /srv\n"                                                          \
    "    user: nobody\n"                                                       \
    "    group: nogroup\n"                                                     \
    "    env: {APP_MODE: blue, SHARED: svc}\n"

static const struct cfg_probe *probe(const struct cfg_root *r, const char *n)
{
    size_t i = cfg_find_probe(r, n);
    cr_assert_neq(i, CFG_NO_INDEX, "no probe %s", n);
    return &r->probes[i];
}

/* The value of name in envp, or NULL. */
static const char *env_of(char *const *envp, const char *name)
{
    size_t len = strlen(name);
    for (size_t i = 0; envp[i]; i++) {
        if (strncmp(envp[i], name, len) == 0 && envp[i][len] == '=')
            return envp[i] + len + 1;
    }
    return NULL;
}

Test(runas, exec_probe_keys_load_as_a_services_do, .timeout = 5)
{
    struct cfg_root *r = ut_load_ok(APP "probes:\n"
                                        "  p:\n"
                                        "    type: exec\n"
                                        "    service: app\n"
                                        "    command: 'true'\n"
                                        "    user: '0'\n"
                                        "    group: root\n"
                                        "    cwd: /var\n"
                                        "    env: {SHARED: probe, N: 1}\n");
    const struct cfg_probe *p = probe(r, "p");
    cr_expect_str_eq(p->user.name, "0");
    cr_expect_str_eq(p->group.name, "root");
    cr_expect_str_eq(p->cwd, "/var");
    cr_expect_eq(p->cwd_mark.line, 16);
    cr_expect_eq(p->cwd_mark.col, 10);
    cr_assert_eq(p->env_count, 2);
    cr_expect_str_eq(p->env[0], "SHARED=probe");
    cr_expect_str_eq(p->env[1], "N=1");
    cfg_free(r);
}

Test(runas, exec_probe_keys_are_refused_as_a_services_are, .timeout = 5)
{
    ut_expect_error("probes:\n  p:\n    type: exec\n    command: 'true'\n"
                    "    cwd: relative\n",
                    5, 10,
                    "expected an absolute path for 'cwd', found "
                    "'relative'");
    ut_expect_error("probes:\n  p:\n    type: exec\n    command: 'true'\n"
                    "    user: ''\n",
                    5, 11, "expected a non-empty string for 'user', found ''");
    ut_expect_error("probes:\n  p:\n    type: exec\n    command: 'true'\n"
                    "    group: ''\n",
                    5, 12, "expected a non-empty string for 'group', found ''");
    ut_expect_error("probes:\n  p:\n    type: exec\n    command: 'true'\n"
                    "    env: [A=1]\n",
                    5, 10,
                    "expected a mapping for 'env' of probe 'p', found a "
                    "sequence");
    ut_expect_error("probes:\n  p:\n    type: exec\n    command: 'true'\n"
                    "    env: {'A=B': 1}\n",
                    5, 11,
                    "invalid environment variable name 'A=B'; it must be "
                    "non-empty and without '='");
}

Test(runas, only_exec_probes_take_them, .timeout = 5)
{
    static const char *const keys[] = {"user: root", "group: root", "cwd: /",
                                       "env: {A: b}"};
    static const char *const names[] = {"user", "group", "cwd", "env"};
    for (size_t i = 0; i < 4; i++) {
        char doc[256];
        char msg[128];
        snprintf(doc, sizeof(doc),
                 "probes:\n  p:\n    type: tcp\n    port: 1\n    %s\n",
                 keys[i]);
        snprintf(msg, sizeof(msg), "key '%s' is not valid for a tcp probe",
                 names[i]);
        ut_expect_error(doc, 5, 5, msg);
    }
}

Test(runas, a_probe_of_a_service_takes_its_keys_with_its_own_over_them,
     .timeout = 5)
{
    struct cfg_root *r = ut_load_ok(APP "probes:\n"
                                        "  as-app:\n"
                                        "    type: exec\n"
                                        "    service: app\n"
                                        "    command: 'true'\n"
                                        "  own:\n"
                                        "    type: exec\n"
                                        "    service: app\n"
                                        "    command: 'true'\n"
                                        "    user: root\n"
                                        "    cwd: /\n"
                                        "    env: {SHARED: probe}\n"
                                        "  own-group:\n"
                                        "    type: exec\n"
                                        "    service: app\n"
                                        "    command: 'true'\n"
                                        "    group: root\n"
                                        "  alone:\n"
                                        "    type: exec\n"
                                        "    command: 'true'\n"
                                        "    env: {X: y}\n");
    const struct cfg_service *app = &r->services[0];
    struct runas_cfg c;

    runas_of_probe(r, probe(r, "as-app"), &c);
    cr_expect_str_eq(c.kind, "probe");
    cr_expect_str_eq(c.name, "as-app");
    cr_expect_eq(c.user, &app->user);
    cr_expect_eq(c.group, &app->group);
    cr_expect_str_eq(c.cwd, "/srv");
    cr_expect_eq(c.cwd_mark.line, app->cwd_mark.line);
    cr_expect_eq(c.env[0], app->env);
    cr_expect_eq(c.env_count[0], 2);
    cr_expect_eq(c.env_count[1], 0);

    /* A user of its own comes with its own group (none here: that
     * user's), as a service's would; cwd and env apart. */
    runas_of_probe(r, probe(r, "own"), &c);
    cr_expect_str_eq(c.user->name, "root");
    cr_expect_null(c.group->name);
    cr_expect_str_eq(c.cwd, "/");
    cr_expect_eq(c.env_count[0], 2);
    cr_expect_eq(c.env_count[1], 1);

    /* A group alone: the service's user with that group. */
    runas_of_probe(r, probe(r, "own-group"), &c);
    cr_expect_eq(c.user, &app->user);
    cr_expect_str_eq(c.group->name, "root");

    runas_of_probe(r, probe(r, "alone"), &c);
    cr_expect_null(c.user->name);
    cr_expect_null(c.group->name);
    cr_expect_null(c.cwd);
    cr_expect_eq(c.env_count[0], 0);
    cr_expect_eq(c.env_count[1], 1);
    cfg_free(r);
}

Test(runas, env_is_inherits_less_what_env_sets_and_hides_the_token,
     .timeout = 5)
{
    struct cfg_root *r =
        ut_load_ok("services:\n"
                   "  app:\n"
                   "    role: main\n"
                   "    command: [sleep, \"60\"]\n"
                   "    env: {APP_MODE: blue, SHARED: svc}\n"
                   "probes:\n"
                   "  p:\n"
                   "    type: exec\n"
                   "    service: app\n"
                   "    command: 'true'\n"
                   "    cwd: /var/lib\n"
                   "    env: {SHARED: probe, OWN_TOKEN: mine}\n"
                   "  alone:\n"
                   "    type: exec\n"
                   "    command: 'true'\n");
    char *inherit[] = {"PATH=/bin",        "SHARED=sidecar", "TOKEN=secret",
                       "OWN_TOKEN=secret", "PWD=/elsewhere", NULL};
    char *const hidden[] = {"TOKEN", "OWN_TOKEN", NULL};
    char err[256];
    struct runas as;
    struct runas_cfg c;

    runas_of_probe(r, probe(r, "p"), &c);
    cr_assert_eq(runas_resolve(&c, inherit, &as, err, sizeof(err)), 0, "%s",
                 err);
    cr_expect(!as.set_ids);
    cr_expect_str_eq(as.cwd, "/var/lib");
    char **envp = runas_env(&as, hidden);
    cr_assert_not_null(envp);
    cr_expect_str_eq(env_of(envp, "SHARED"), "probe");
    cr_expect_str_eq(env_of(envp, "APP_MODE"), "blue");
    cr_expect_str_eq(env_of(envp, "PATH"), "/bin");
    cr_expect_str_eq(env_of(envp, "PWD"), "/var/lib");
    cr_expect_str_eq(env_of(envp, "OWN_TOKEN"), "mine", "env names it");
    cr_expect_null(env_of(envp, "TOKEN"));
    size_t n = 0;
    while (envp[n])
        n++;
    cr_expect_eq(n, 5, "one entry a name");
    free(envp);
    runas_free(&as);

    runas_of_probe(r, probe(r, "alone"), &c);
    cr_assert_eq(runas_resolve(&c, inherit, &as, err, sizeof(err)), 0, "%s",
                 err);
    cr_expect_null(as.cwd);
    envp = runas_env(&as, hidden);
    cr_assert_not_null(envp);
    cr_expect_str_eq(env_of(envp, "SHARED"), "sidecar");
    cr_expect_null(env_of(envp, "APP_MODE"));
    cr_expect_null(env_of(envp, "TOKEN"));
    cr_expect_null(env_of(envp, "OWN_TOKEN"));
    cr_expect_str_eq(env_of(envp, "PWD"), "/elsewhere");
    free(envp);
    runas_free(&as);
    cfg_free(r);
}

/*
 * Who an exec probe runs as is resolved at set-up, on the loop (start and
 * each reload): its service's env is copied once per probe, in time linear
 * in it. 300 probes of a service with 4000 variables took 12 s when each
 * entry was compared with every other.
 */
Test(runas, a_big_service_env_resolves_in_linear_time, .timeout = 5)
{
    enum { VARS = 4000, PROBES = 300 };
    struct buf y;
    buf_init(&y, 1 << 20);
    cr_assert_eq(buf_puts(&y, "services:\n  app:\n    role: main\n"
                              "    command: [sleep, \"60\"]\n    env: {"),
                 0);
    for (int i = 0; i < VARS; i++)
        cr_assert_eq(buf_printf(&y, "%sV%04d: v", i ? ", " : "", i), 0);
    cr_assert_eq(buf_puts(&y, "}\nprobes:\n  p:\n    type: exec\n"
                              "    service: app\n    command: 'true'\n"
                              "    env: {V0001: mine}\n"),
                 0);
    struct cfg_root *r = ut_load_ok(y.data);
    char err[256];
    struct runas as;
    struct runas_cfg c;
    char *inherit[] = {NULL}; /* borrowed by as: it outlives the loop */
    runas_of_probe(r, probe(r, "p"), &c);
    for (int i = 0; i < PROBES; i++) {
        cr_assert_eq(runas_resolve(&c, inherit, &as, err, sizeof(err)), 0, "%s",
                     err);
        cr_assert_eq(as.own_count, VARS, "one entry a name");
        if (i < PROBES - 1)
            runas_free(&as);
    }
    char **envp = runas_env(&as, NULL);
    cr_assert_not_null(envp);
    cr_expect_str_eq(env_of(envp, "V0001"), "mine");
    cr_expect_str_eq(env_of(envp, "V3999"), "v");
    free(envp);
    runas_free(&as);
    cfg_free(r);
    buf_free(&y);
}

Test(runas, an_unknown_probe_user_names_the_probe, .timeout = 5)
{
    struct cfg_root *r = ut_load_ok("probes:\n"
                                    "  p:\n"
                                    "    type: exec\n"
                                    "    command: 'true'\n"
                                    "    user: no-such-user-19\n");
    struct runas_cfg c;
    struct runas as;
    char err[256];
    runas_of_probe(r, &r->probes[0], &c);
    cr_expect_eq(runas_resolve(&c, (char *[]){NULL}, &as, err, sizeof(err)),
                 -ENOENT);
    cr_expect_str_eq(err, "probe 'p': user 'no-such-user-19' does not exist");
    cfg_free(r);
}

Test(runas, a_changed_probe_key_changes_the_probe, .timeout = 5)
{
    struct cfg_root *a = ut_load_ok("probes:\n  p: {type: exec, command: "
                                    "'true', user: root, env: {A: b}}\n");
    static const char *const others[] = {
        "probes:\n  p: {type: exec, command: 'true', user: '0', env: {A: "
        "b}}\n",
        "probes:\n  p: {type: exec, command: 'true', user: root, env: {A: "
        "c}}\n",
        "probes:\n  p: {type: exec, command: 'true', user: root, group: "
        "root, env: {A: b}}\n",
        "probes:\n  p: {type: exec, command: 'true', user: root, cwd: /, "
        "env: {A: b}}\n",
    };
    for (size_t i = 0; i < 4; i++) {
        struct cfg_root *b = ut_load_ok(others[i]);
        cr_expect(!cfg_probe_equal(&a->probes[0], &b->probes[0]), "%s",
                  others[i]);
        cfg_free(b);
    }
    cfg_free(a);
}
