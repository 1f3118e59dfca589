/*
 * exec probes as their service: the service's user, groups, environment
 * and cwd, or the probe's own user, group, env and cwd over them; a probe
 * of no service runs as sidecar; the token's variables reach none. And
 * the reason: "exit N: " then the first 4096 bytes of the output, whole.
 */
#define _DEFAULT_SOURCE
#include <criterion/criterion.h>
#include <jansson.h>
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

#define T(name, secs) Test(execas, name, .timeout = secs, .fini = teardown)

/* The reason of probe's first change to state `to`; fails the test if
 * none comes. */
static const char *reason_of(const char *probe, const char *to)
{
    size_t from = 0;
    long i = h_wait_probe_state(&H, &from, probe, to, H_WAIT);
    cr_assert_geq(i, 0, "probe '%s' never %s", probe, to);
    const char *reason = h_str(&H, i, "reason");
    cr_assert_not_null(reason);
    return reason;
}

/* The reason /health/details gives for probe (a static copy). */
static const char *details_reason(const char *probe)
{
    static char body[256 * 1024];
    static char out[16 * 1024];
    cr_assert_eq(h_get(&H, "/health/details", body, sizeof(body)), 200);
    json_error_t err;
    json_t *j = json_loads(body, 0, &err);
    cr_assert_not_null(j, "%s", err.text);
    json_t *probes = json_object_get(j, "probes");
    size_t i;
    json_t *p;
    out[0] = '\0';
    json_array_foreach(probes, i, p)
    {
        const char *name = json_string_value(json_object_get(p, "name"));
        json_t *last = json_object_get(p, "last");
        if (name && strcmp(name, probe) == 0 && json_is_object(last))
            snprintf(out, sizeof(out), "%s",
                     json_string_value(json_object_get(last, "reason")));
    }
    json_decref(j);
    return out;
}

T(a_long_output_keeps_exactly_4096_bytes_after_its_prefix, 20)
{
    /* 5000 bytes: 'x's, and 2500 two-byte 'é's, cut between two. */
    h_start(&H, "probes:\n"
                "  long:\n"
                "    type: exec\n"
                "    command: \"head -c 5000 /dev/zero | tr '\\\\0' x; "
                "exit 1\"\n"
                "    period: 2s\n"
                "    failure_threshold: 1\n"
                "  wide:\n"
                "    type: exec\n"
                "    command: \"i=0; while [ $$i -lt 2500 ]; do printf "
                "'\\\\303\\\\251'; i=$$((i+1)); done; kill -9 $$$$\"\n"
                "    period: 2s\n"
                "    failure_threshold: 1\n");
    char want[4200];
    memset(want, 'x', 4096);
    want[4096] = '\0';
    char line[4300];
    snprintf(line, sizeof(line), "exit 1: %s", want);
    cr_expect_str_eq(reason_of("long", "failing"), line);
    cr_expect_str_eq(details_reason("long"), line);
    size_t n = (size_t)snprintf(want, sizeof(want), "killed by SIGKILL: ");
    for (int i = 0; i < 2048; i++, n += 2)
        memcpy(want + n, "\xc3\xa9", 2);
    want[n] = '\0';
    cr_expect_str_eq(reason_of("wide", "failing"), want);
    cr_expect_str_eq(details_reason("wide"), want);
    h_signal(&H, SIGTERM);
    cr_expect_eq(h_wait_exit(&H, 10), 0);
}
