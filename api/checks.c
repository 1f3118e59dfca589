#include "api/checks.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/json.h"
#include "sidecar/view.h"

static const char *const endpoint_names[] = {"livez", "readyz", "startupz"};
/* What each endpoint tells, for "does not affect readiness". */
static const char *const endpoint_nouns[] = {"liveness", "readiness",
                                             "startup"};

const char *checks_endpoint_name(enum check_endpoint ep)
{
    return endpoint_names[ep];
}

struct check {
    const char *prefix; /* "service:" or "" */
    const char *name;   /* borrowed from the config or a static string */
    bool ok;            /* for this endpoint */
    const char *unwell; /* NULL when healthy, else put before the reason */
    const char *reason; /* borrowed from the probe or a static string */
    char why[64];       /* why an unwell check still passes */
};

/* Whether the check is called name ("service:" and all). */
static bool named(const struct check *c, const char *name)
{
    size_t n = strlen(c->prefix);
    return strncmp(name, c->prefix, n) == 0 && strcmp(name + n, c->name) == 0;
}

/*
 * Appends s to a text answer: control characters as \xNN and bytes that
 * are not valid UTF-8 as U+FFFD, so that a name, a reason (a probe's
 * output) or a query value (the client's bytes) keeps the answer UTF-8
 * text with one line a check.
 */
static int put_text(struct buf *b, const char *s)
{
    size_t n = strlen(s);
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0;) {
        unsigned char c = (unsigned char)s[i];
        size_t len = json_utf8_seq_len((const unsigned char *)s + i, n - i);
        if (c < 0x20 || c == 0x7f)
            rc = buf_printf(b, "\\x%02x", c);
        else if (len)
            rc = buf_append(b, s + i, len);
        else
            rc = buf_append(b, "\xef\xbf\xbd", 3);
        i += len ? len : 1;
    }
    return rc;
}

/* Appends the line "<before><text><after>", text shown as put_text() does. */
static int put_line(struct buf *b, const char *before, const char *text,
                    const char *after)
{
    int rc = buf_puts(b, before);
    if (rc == 0)
        rc = put_text(b, text);
    if (rc == 0)
        rc = buf_puts(b, after);
    return rc ? rc : buf_puts(b, "\n");
}

/* Appends "<mark><check's name>", the name shown as put_text() does. */
static int put_name(struct buf *b, const char *mark, const struct check *c)
{
    int rc = buf_puts(b, mark);
    if (rc == 0)
        rc = buf_puts(b, c->prefix);
    return rc ? rc : put_text(b, c->name);
}

/*
 * Appends what a check says after its name, and a newline: "ok", "failed:
 * reason", or for one that passes though it is not well "failing: reason
 * (why)" ("exited (why)" for a service).
 */
static int put_verdict(struct buf *b, const struct check *c)
{
    if (c->ok && !c->unwell)
        return buf_puts(b, "ok\n");
    int rc = buf_puts(b, c->ok ? c->unwell : "failed: ");
    if (rc == 0)
        rc = put_text(b, c->reason);
    if (rc == 0 && c->ok)
        rc = buf_printf(b, " (%s)", c->why);
    return rc ? rc : buf_puts(b, "\n");
}

static void probe_check(const struct sidecar_view *v, const struct probe *p,
                        enum check_endpoint ep, struct check *c)
{
    size_t idx = p->cfg->service_index;
    struct health_probe_in in =
        health_probe_of(p, idx == CFG_NO_INDEX ? NULL : v->svcs[idx]);
    bool critical = p->cfg->importance == CFG_IMPORTANCE_CRITICAL;
    c->prefix = "";
    c->name = p->cfg->name;
    c->ok = true;
    if (in.done)
        ; /* see health_compute() */
    else if (ep == CHECK_READYZ)
        c->ok = !critical || p->state == PROBE_PASSING;
    else if (ep == CHECK_STARTUPZ)
        c->ok = !critical || p->passed_once || v->health->started;
    if (p->state == PROBE_UNKNOWN)
        c->reason = p->has_result ? "unknown: too few results in a row"
                                  : "unknown: no result yet";
    else
        c->reason = p->last.reason;
    if (p->state == PROBE_PASSING)
        return;
    c->unwell = p->state == PROBE_FAILING ? "failing: " : "";
    if (in.done)
        snprintf(c->why, sizeof(c->why),
                 "its task completed: does not affect %s", endpoint_nouns[ep]);
    else if (ep == CHECK_STARTUPZ && critical)
        snprintf(c->why, sizeof(c->why), "%s",
                 p->passed_once ? "critical: passed once" : "startup is done");
    else
        snprintf(c->why, sizeof(c->why), "%s: does not affect %s",
                 probe_importance_name(p->cfg->importance), endpoint_nouns[ep]);
}

static void service_check(const struct sidecar_view *v, const struct svc *s,
                          enum check_endpoint ep, struct check *c)
{
    struct health_service_in in = health_service_of(s);
    bool essential = s->cfg->essential;
    c->prefix = "service:";
    c->name = s->cfg->name;
    bool started = health_service_started(&in);
    if (ep == CHECK_LIVEZ)
        c->ok = !(essential && s->state == SVC_FATAL);
    else if (ep == CHECK_READYZ)
        c->ok = (started || v->health->started) &&
                !(essential && health_service_down(&in));
    else
        c->ok = started || v->health->started;
    c->reason = s->state == SVC_RUNNING && s->not_ready
                    ? s->not_ready
                    : svc_state_name(s->state);
    if (s->state == SVC_COMPLETED) { /* said as it is: ok would hide it */
        c->unwell = "";
        snprintf(c->why, sizeof(c->why), "a task: done, not down");
        return;
    }
    if (!health_service_down(&in))
        return;
    c->unwell = "";
    if (ep == CHECK_STARTUPZ)
        snprintf(c->why, sizeof(c->why), "%s",
                 !started  ? "startup is done"
                 : in.task ? "a task nothing waits for"
                           : "started once");
    else if (essential)
        snprintf(c->why, sizeof(c->why), "essential: fails %s only when fatal",
                 endpoint_nouns[ep]);
    else
        snprintf(c->why, sizeof(c->why), "not essential: does not affect %s",
                 endpoint_nouns[ep]);
}

/* Every check of the endpoint, in config order; NULL on ENOMEM. */
static struct check *collect(const struct sidecar_view *v,
                             enum check_endpoint ep, size_t *count)
{
    size_t n = v->probes_count + v->svcs_count + 1;
    struct check *all = calloc(n, sizeof(*all));
    if (!all)
        return NULL;
    n = 0;
    for (size_t i = 0; i < v->svcs_count; i++)
        service_check(v, v->svcs[i], ep, &all[n++]);
    for (size_t i = 0; i < v->probes_count; i++)
        probe_check(v, v->probes[i], ep, &all[n++]);
    if (ep == CHECK_READYZ && (v->draining || v->shutting_down)) {
        struct check *c = &all[n++];
        c->prefix = "";
        c->name = "shutdown";
        c->reason = "sidecar is shutting down";
    }
    *count = n;
    return all;
}

static bool excluded(const struct check *c, const char *const *ex, size_t n,
                     bool *used)
{
    bool hit = false;
    for (size_t i = 0; i < n; i++) {
        if (named(c, ex[i])) {
            used[i] = true;
            hit = true;
        }
    }
    return hit;
}

int checks_render(const struct sidecar_view *v, enum check_endpoint ep,
                  bool verbose, const char *const *exclude,
                  size_t exclude_count, struct buf *body)
{
    size_t n;
    struct check *all = collect(v, ep, &n);
    bool *used = calloc(exclude_count + 1, sizeof(*used));
    int rc = 0;
    if (!all || !used) {
        rc = -ENOMEM;
        goto out_free;
    }
    bool pass = true;
    for (size_t i = 0; i < n && rc == 0; i++) {
        const struct check *c = &all[i];
        if (excluded(c, exclude, exclude_count, used)) {
            if (verbose)
                rc = put_name(body, "[+]", c);
            if (verbose && rc == 0)
                rc = buf_puts(body, c->ok ? " excluded: ok\n"
                                          : " excluded: failed\n");
            continue;
        }
        pass = pass && c->ok;
        if (verbose)
            rc = put_name(body, c->ok ? "[+]" : "[-]", c);
        if (verbose && rc == 0)
            rc = buf_puts(body, " ");
        if (verbose && rc == 0)
            rc = put_verdict(body, c);
    }
    for (size_t i = 0; i < exclude_count && rc == 0 && verbose; i++) {
        if (!used[i])
            rc = put_line(body,
                          "warn: some health checks cannot be excluded: "
                          "no matches for \"",
                          exclude[i], "\"");
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

int checks_render_one(const struct sidecar_view *v, enum check_endpoint ep,
                      const char *name, struct buf *body)
{
    size_t n;
    struct check *all = collect(v, ep, &n);
    if (!all)
        return -ENOMEM;
    int rc = 404;
    for (size_t i = 0; i < n; i++) {
        if (!named(&all[i], name))
            continue;
        rc = put_verdict(body, &all[i]);
        if (rc == 0)
            rc = all[i].ok ? 200 : 503;
        break;
    }
    if (rc == 404 && put_line(body, "no check named \"", name, "\"") < 0)
        rc = -ENOMEM;
    free(all);
    return rc;
}
