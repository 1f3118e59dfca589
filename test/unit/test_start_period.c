/*
 * A probe's start_period: its default, its values, where it is an error,
 * and that a reload sees a change of it (conf/equal.c).
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "conf/equal.h"
#include "conf/load.h"

#include "cfgtest.h"

#define DOC_MAX 1024

/* Probe p of service app; %s: more of p's keys, one per line. */
#define DOC                                                                    \
    "services:\n"                                                              \
    "  app: {role: main, command: [sleep, \"60\"]}\n"                          \
    "probes:\n"                                                                \
    "  p:\n"                                                                   \
    "    type: tcp\n"                                                          \
    "    port: 80\n"                                                           \
    "%s"

#define RESTART "    service: app\n    on_failure: restart\n"

/* DOC with keys, in a static buffer. */
static const char *doc_with(const char *keys)
{
    static char doc[DOC_MAX];
    int n = snprintf(doc, sizeof(doc), DOC, keys);

    cr_assert(n > 0 && (size_t)n < sizeof(doc));
    return doc;
}

static struct cfg_root *load(const char *keys, struct cfg_error *err)
{
    return ut_load(doc_with(keys), err);
}

/* start_period of p once keys are loaded, which must load. */
static long long period_of(const char *keys)
{
    struct cfg_root *root = ut_load_ok(doc_with(keys));
    long long ms = root->probes[0].start_period_ms;
    cfg_free(root);
    return ms;
}

/* keys fail to load at line:col (of the whole DOC) with msg. */
static void expect_error(const char *keys, unsigned line, unsigned col,
                         const char *msg)
{
    ut_expect_error(doc_with(keys), line, col, msg);
}

static bool equal(const char *a, const char *b)
{
    struct cfg_error err;
    struct cfg_root *ra = load(a, &err);
    struct cfg_root *rb = load(b, &err);

    cr_assert(ra && rb, "%u:%u: %s", err.line, err.col, err.msg);
    bool eq = cfg_probe_equal(&ra->probes[0], &rb->probes[0]);
    cr_expect_eq(cfg_probe_equal(&rb->probes[0], &ra->probes[0]), eq);
    cfg_free(ra);
    cfg_free(rb);
    return eq;
}

Test(start_period, defaults_to_a_minute, .timeout = 5)
{
    cr_expect_eq(period_of(RESTART), 60000);
    /* Set on every probe, used only by on_failure: restart. */
    cr_expect_eq(period_of(""), 60000);
}

Test(start_period, takes_a_duration, .timeout = 5)
{
    cr_expect_eq(period_of(RESTART "    start_period: 2s\n"), 2000);
    cr_expect_eq(period_of(RESTART "    start_period: 1500ms\n"), 1500);
    cr_expect_eq(period_of(RESTART "    start_period: 5m\n"), 300000);
    /* 0: no wait; a failure restarts at once, as before start_period. */
    cr_expect_eq(period_of(RESTART "    start_period: 0s\n"), 0);
    /* Empty: the default, as for every key. */
    cr_expect_eq(period_of(RESTART "    start_period:\n"), 60000);
}

Test(start_period, rejects_what_is_not_a_duration, .timeout = 5)
{
    static const char *const bad[] = {"-1s", "soon", "10", "[1s]", "400d"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char keys[128];
        struct cfg_error err;
        snprintf(keys, sizeof(keys), RESTART "    start_period: %s\n", bad[i]);
        struct cfg_root *root = load(keys, &err);
        cr_expect_null(root, "loaded start_period: %s", bad[i]);
        cfg_free(root);
        cr_expect_eq(err.line, 9, "start_period: %s: line %u", bad[i],
                     err.line);
        cr_expect_eq(err.col, 19, "start_period: %s: column %u", bad[i],
                     err.col);
        cr_expect(strstr(err.msg, "'start_period'"), "%s", err.msg);
    }
}

Test(start_period, needs_on_failure_restart, .timeout = 5)
{
    expect_error("    service: app\n    start_period: 5s\n", 8, 19,
                 "probe 'p': start_period only holds back on_failure: "
                 "restart, which the probe does not set");
    expect_error("    start_period: 5s\n", 7, 19,
                 "probe 'p': start_period only holds back on_failure: "
                 "restart, which the probe does not set");
}

Test(start_period, a_change_is_a_change, .timeout = 5)
{
    cr_expect(!equal(RESTART, RESTART "    start_period: 2s\n"));
    cr_expect(!equal(RESTART "    start_period: 2s\n",
                     RESTART "    start_period: 3s\n"));
    cr_expect(equal(RESTART, RESTART "    start_period: 1m\n"));
    cr_expect(equal(RESTART "    start_period: 2s\n",
                    RESTART "    start_period: 2000ms\n"));
}
