#include "sidecar/checks.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sidecar/sidecar.h"

static const char *const endpoint_names[] = {"livez", "readyz", "startupz"};

const char *checks_endpoint_name(enum check_endpoint ep)
{
    return endpoint_names[ep];
}

struct check {
    char name[80];
    bool ok;
    const char *reason; /* borrowed from the probe or a static string */
};

static void probe_check(const struct sidecar *sc, const struct probe *p,
                        enum check_endpoint ep, struct check *c)
{
    bool critical = p->cfg->importance == CFG_IMPORTANCE_CRITICAL;
    snprintf(c->name, sizeof(c->name), "%s", p->cfg->name);
    c->ok = true;
    if (ep == CHECK_READYZ)
        c->ok = !critical || p->state == PROBE_PASSING;
    else if (ep == CHECK_STARTUPZ)
        c->ok = !critical || p->passed_once || sc->health.view.started;
    if (p->state == PROBE_UNKNOWN)
        c->reason = p->has_result ? "unknown: too few results in a row"
                                  : "unknown: no result yet";
    else
        c->reason = p->last.reason;
}

static void service_check(const struct sidecar *sc, const struct svc *s,
                          enum check_endpoint ep, struct check *c)
{
    struct health_service_in in = health_service_of(s);
    snprintf(c->name, sizeof(c->name), "service:%s", s->cfg->name);
    if (ep == CHECK_LIVEZ)
        c->ok = !(s->cfg->essential && s->state == SVC_FATAL);
    else if (ep == CHECK_READYZ)
        c->ok = (s->ever_started || sc->health.view.started) &&
                !(s->cfg->essential && health_service_down(&in));
    else
        c->ok = s->ever_started || sc->health.view.started;
    c->reason = svc_state_name(s->state);
}

/* Every check of the endpoint, in config order; NULL on ENOMEM. */
static struct check *collect(const struct sidecar *sc, enum check_endpoint ep,
                             size_t *count)
{
    size_t n = sc->prober->count + sc->svcs_count + 1;
    struct check *all = calloc(n, sizeof(*all));
    if (!all)
        return NULL;
    n = 0;
    for (size_t i = 0; i < sc->svcs_count; i++)
        service_check(sc, sc->svcs[i], ep, &all[n++]);
    for (size_t i = 0; i < sc->prober->count; i++)
        probe_check(sc, &sc->prober->probes[i], ep, &all[n++]);
    if (ep == CHECK_READYZ && (sc->draining || sc->shutting_down)) {
        struct check *c = &all[n++];
        snprintf(c->name, sizeof(c->name), "shutdown");
        c->reason = "sidecar is shutting down";
    }
    *count = n;
    return all;
}

static bool excluded(const char *name, const char *const *ex, size_t n,
                     bool *used)
{
    bool hit = false;
    for (size_t i = 0; i < n; i++) {
        if (strcmp(name, ex[i]) == 0) {
            used[i] = true;
            hit = true;
        }
    }
    return hit;
}

int checks_render(const struct sidecar *sc, enum check_endpoint ep,
                  bool verbose, const char *const *exclude,
                  size_t exclude_count, struct buf *body)
{
    size_t n;
    struct check *all = collect(sc, ep, &n);
    bool *used = calloc(exclude_count + 1, sizeof(*used));
    int rc = 0;
    if (!all || !used) {
        rc = -ENOMEM;
        goto out_free;
    }
    bool pass = true;
    for (size_t i = 0; i < n && rc == 0; i++) {
        const struct check *c = &all[i];
        if (excluded(c->name, exclude, exclude_count, used)) {
            if (verbose)
                rc = buf_printf(body, "[+]%s excluded: %s\n", c->name,
                                c->ok ? "ok" : "failed");
            continue;
        }
        pass = pass && c->ok;
        if (verbose && c->ok)
            rc = buf_printf(body, "[+]%s ok\n", c->name);
        else if (verbose)
            rc = buf_printf(body, "[-]%s failed: %s\n", c->name, c->reason);
    }
    for (size_t i = 0; i < exclude_count && rc == 0 && verbose; i++) {
        if (!used[i])
            rc = buf_printf(body,
                            "warn: some health checks cannot be excluded: "
                            "no matches for \"%s\"\n",
                            exclude[i]);
    }
    if (rc == 0 && verbose)
        rc = buf_printf(body, "%s check %s\n", endpoint_names[ep],
                        pass ? "passed" : "failed");
    else if (rc == 0)
        rc = pass ? buf_puts(body, "ok\n")
                  : buf_printf(body, "%s check failed\n", endpoint_names[ep]);
    if (rc == 0)
        rc = pass ? 200 : 503;
out_free:
    free(all);
    free(used);
    return rc;
}

int checks_render_one(const struct sidecar *sc, enum check_endpoint ep,
                      const char *name, struct buf *body)
{
    size_t n;
    struct check *all = collect(sc, ep, &n);
    if (!all)
        return -ENOMEM;
    int rc = 404;
    for (size_t i = 0; i < n; i++) {
        if (strcmp(all[i].name, name) != 0)
            continue;
        rc = all[i].ok ? buf_puts(body, "ok\n")
                       : buf_printf(body, "failed: %s\n", all[i].reason);
        if (rc == 0)
            rc = all[i].ok ? 200 : 503;
        break;
    }
    if (rc == 404 && buf_printf(body, "no check named \"%s\"\n", name) < 0)
        rc = -ENOMEM;
    free(all);
    return rc;
}
