#include "api/control.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "base/json.h"
#include "probes/probe.h"
#include "sidecar/view.h"

/* {"error":"..."} with the given status. */
static int ATTR_FMT(3, 4)
    fail(struct buf *out, int status, const char *fmt, ...)
{
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    int rc = buf_puts(out, "{\"error\":");
    if (rc == 0)
        rc = json_put_string(out, msg, strlen(msg));
    if (rc == 0)
        rc = buf_puts(out, "}\n");
    return rc < 0 ? -ENOMEM : status;
}

/* {"<kind>":"<name>","state":"<state>"} with the given status. */
static int done(struct buf *out, int status, const char *kind, const char *name,
                const char *state)
{
    int rc = buf_printf(out, "{\"%s\":", kind);
    if (rc == 0)
        rc = json_put_string(out, name, strlen(name));
    if (rc == 0)
        rc = buf_printf(out, ",\"state\":\"%s\"}\n", state);
    return rc < 0 ? -ENOMEM : status;
}

/*
 * Splits "<name>/<action>" (what follows the prefix) into name and
 * action; false when it is not of that shape.
 */
static bool split(const char *rest, char *name, size_t len, const char **action)
{
    const char *slash = strchr(rest, '/');
    if (!slash || slash == rest || (size_t)(slash - rest) >= len ||
        strchr(slash + 1, '/'))
        return false;
    memcpy(name, rest, (size_t)(slash - rest));
    name[slash - rest] = '\0';
    *action = slash + 1;
    return true;
}

static int push(struct sidecar *sc, const char *name, const char *action,
                const char *body, size_t body_len, struct buf *out)
{
    bool ok = strcmp(action, "pass") == 0;
    if (!ok && strcmp(action, "fail") != 0)
        return fail(out, 404, "no action '%s': use pass or fail", action);
    char reason[PROBE_REASON_MAX];
    size_t n = body_len < sizeof(reason) - 1 ? body_len : sizeof(reason) - 1;
    memcpy(reason, body ? body : "", n);
    while (n && strchr(" \t\r\n", reason[n - 1]))
        n--;
    reason[n] = '\0';
    const char *state;
    int rc = sidecar_probe_push(sc, name, ok, reason, &state);
    if (rc == -ENOENT)
        return fail(out, 404, "no probe named '%s'", name);
    if (rc == -EINVAL)
        return fail(out, 409, "probe '%s' is not a ttl probe", name);
    if (rc == -EAGAIN)
        return fail(out, 409, "probe '%s' is not running (its service is not)",
                    name);
    return done(out, 200, "probe", name, state);
}

static int act(struct sidecar *sc, const char *name, const char *action,
               struct buf *out)
{
    const char *state;
    switch (sidecar_service_command(sc, name, action, &state)) {
    case 0:
        return done(out, 202, "service", name, state);
    case -ENOENT:
        return fail(out, 404, "no service named '%s'", name);
    case -EBUSY:
        return fail(out, 409, "sidecar is shutting down; '%s' stays as it is",
                    name);
    case -EAGAIN:
        return fail(out, 409, "service '%s' is waiting for its dependencies",
                    name);
    case -EALREADY:
        return fail(out, 409, "service '%s' is not stopped", name);
    default:
        return fail(out, 404, "no action '%s': use restart, stop or start",
                    action);
    }
}

int control_reload(struct sidecar *sc, struct buf *out)
{
    int rc = sidecar_reload(sc, "http", out);
    if (rc == -ENOMEM)
        return -ENOMEM;
    return rc == 0 ? 200 : rc == -EBUSY ? 409 : 422;
}

int control_handle(struct sidecar *sc, const char *url, const char *body,
                   size_t body_len, struct buf *out)
{
    char name[128];
    const char *action;
    if (strncmp(url, "/probes/", 8) == 0 &&
        split(url + 8, name, sizeof(name), &action))
        return push(sc, name, action, body, body_len, out);
    if (strncmp(url, "/services/", 10) == 0 &&
        split(url + 10, name, sizeof(name), &action))
        return act(sc, name, action, out);
    return fail(out, 404, "%s", "not found");
}
