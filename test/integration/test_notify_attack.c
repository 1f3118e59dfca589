/*
 * ready: notify from outside (issue 18): what sidecar's own environment
 * and a service's odd order of messages do to what users see.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

static struct harness H;

static void teardown(void)
{
    h_cleanup(&H);
}

#define T(name, secs) Test(notify, name, .timeout = secs, .fini = teardown)

/*
 * sidecar run by systemd (Type=notify) or podman --sdnotify=container has
 * a NOTIFY_SOCKET of its own: it names sidecar's supervisor, and a service
 * that is not ready: notify (redis-server's `supervised auto`, say) would
 * tell that supervisor it is ready on sidecar's behalf.
 */
T(sidecars_own_notify_socket_is_not_passed_on, 30)
{
    cr_assert_eq(setenv("NOTIFY_SOCKET", "@sidecars-supervisor", 1), 0);
    cr_assert_eq(setenv("WATCHDOG_USEC", "5000000", 1), 0);
    cr_assert_eq(setenv("WATCHDOG_PID", "1", 1), 0);
    h_start(&H, "services:\n"
                "  plain:\n"
                "    role: main\n"
                "    command: 'echo \"[$${NOTIFY_SOCKET-unset}]"
                " [$${WATCHDOG_USEC-unset}] [$${WATCHDOG_PID-unset}]\""
                " > @DIR@/env; exec sleep 30'\n"
                "  told:\n"
                "    env: { NOTIFY_SOCKET: '@mine' }\n"
                "    command: 'echo \"[$$NOTIFY_SOCKET]\" > @DIR@/told;"
                " exec sleep 30'\n");
    const char *env = h_wait_file(&H, "env", 1, H_WAIT);
    cr_assert(env);
    cr_expect(strstr(env, "[unset] [unset] [unset]"), "%s", env);
    /* A service's own env says what it means: kept. */
    const char *told = h_wait_file(&H, "told", 1, H_WAIT);
    cr_assert(told);
    cr_expect(strstr(told, "[@mine]"), "%s", told);
}
