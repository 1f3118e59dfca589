#include "api/details.h"

#include <string.h>
#include <time.h>

#include "base/json.h"
#include "conf/keys.h"
#include "sidecar/view.h"

/* ,"key":"value" (value JSON-escaped; null when NULL). */
static int put_str(struct buf *b, const char *key, const char *value)
{
    int rc = buf_printf(b, ",\"%s\":", key);
    if (rc == 0)
        rc = value ? json_put_string(b, value, strlen(value))
                   : buf_puts(b, "null");
    return rc;
}

/* ,"key":"2026-11-23T12:51:55.123Z" from an ev_time() value. */
static int put_time(struct buf *b, const char *key, double t)
{
    time_t sec = (time_t)t;
    struct tm tm;
    char when[32];
    if (!gmtime_r(&sec, &tm))
        return buf_printf(b, ",\"%s\":null", key);
    strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
    return buf_printf(b, ",\"%s\":\"%s.%03dZ\"", key, when,
                      (int)((t - (double)sec) * 1000.0));
}

static int put_probe(struct buf *b, const struct probe *p, double now)
{
    int rc = buf_puts(b, "{\"name\":");
    if (rc == 0)
        rc = json_put_string(b, p->cfg->name, strlen(p->cfg->name));
    if (rc == 0)
        rc = put_str(b, "type", p->kind->name);
    if (rc == 0)
        rc =
            put_str(b, "importance", probe_importance_name(p->cfg->importance));
    if (rc == 0)
        rc = put_str(b, "service", p->cfg->service);
    if (rc == 0)
        rc = put_str(b, "state", probe_state_name(p->state));
    if (rc == 0)
        rc = put_time(b, "since", p->state_since);
    if (rc == 0)
        rc = buf_printf(b,
                        ",\"active\":%s,\"consecutive_passes\":%u,"
                        "\"consecutive_failures\":%u",
                        probe_is_active(p) ? "true" : "false", p->passes,
                        p->failures);
    if (rc == 0)
        rc = put_str(b, "on_failure",
                     p->cfg->restart_on_failure ? "restart" : NULL);
    /* Why a failing probe has not restarted its service yet. */
    if (rc == 0 && probe_restart_held(p))
        rc = put_time(b, "restart_held_until",
                      ev_time() + (p->start_ends - now));
    else if (rc == 0)
        rc = buf_puts(b, ",\"restart_held_until\":null");
    if (rc == 0 && !p->has_result)
        rc = buf_puts(b, ",\"last\":null");
    if (rc == 0 && p->has_result) {
        rc = buf_printf(b, ",\"last\":{\"ok\":%s,\"duration_ms\":%lld",
                        p->last.ok ? "true" : "false",
                        (long long)(p->last.duration * 1000.0));
        if (rc == 0)
            rc = put_time(b, "at", p->last.at);
        if (rc == 0)
            rc = put_str(b, "reason", p->last.reason);
        if (rc == 0)
            rc = buf_puts(b, "}");
    }
    /* The last results, oldest first: "PPFP". */
    char recent[PROBE_RECENT_MAX + 1];
    for (unsigned i = 0; i < p->recent_count; i++)
        recent[i] = p->recent >> (p->recent_count - 1 - i) & 1 ? 'P' : 'F';
    recent[p->recent_count] = '\0';
    if (rc == 0)
        rc = put_str(b, "recent", recent);
    return rc ? rc : buf_puts(b, "}");
}

static int put_service(struct buf *b, const struct svc *s, double now)
{
    int rc = buf_puts(b, "{\"name\":");
    if (rc == 0)
        rc = json_put_string(b, s->cfg->name, strlen(s->cfg->name));
    if (rc == 0)
        rc = put_str(b, "role", cfg_role_name(s->cfg->role));
    if (rc == 0)
        rc = put_str(b, "state", svc_state_name(s->state));
    if (rc == 0)
        rc = buf_printf(b, ",\"essential\":%s,\"pid\":%d,\"restarts\":%u",
                        s->cfg->essential ? "true" : "false", (int)s->proc.pid,
                        s->restarts);
    if (rc == 0 && s->has_exited)
        rc = buf_printf(b, ",\"last_exit_code\":%d", svc_exit_code(s));
    else if (rc == 0)
        rc = buf_puts(b, ",\"last_exit_code\":null");
    if (rc == 0 && s->state == SVC_RUNNING)
        rc = buf_printf(b, ",\"uptime_s\":%.3f", now - s->start_mono);
    else if (rc == 0)
        rc = buf_puts(b, ",\"uptime_s\":null");
    /* ready: notify: what the service says of itself. */
    if (rc == 0)
        rc = put_str(b, "status_text",
                     s->status_text[0] ? s->status_text : NULL);
    if (rc == 0)
        rc = put_str(b, "not_ready", s->not_ready);
    return rc ? rc : buf_puts(b, "}");
}

/*
 * ,"config":{"path":..,"watch":..,"reloads":N,"reload_failures":N,
 * "last_reload":null|{"at":..,"trigger":..,"ok":..,"error":..}}
 */
static int put_config(struct buf *b, const struct sidecar_view *v)
{
    const struct reload_record *r = v->reloads;
    int rc = buf_puts(b, ",\"config\":{\"path\":");
    if (rc == 0)
        rc = json_put_string(b, v->cfg->path, strlen(v->cfg->path));
    if (rc == 0)
        rc = buf_printf(b,
                        ",\"watch\":%s,\"reloads\":%u,\"reload_failures\":%u,"
                        "\"last_reload\":",
                        v->watching ? "true" : "false", r->ok, r->failed);
    if (rc == 0 && !r->any)
        return buf_puts(b, "null}");
    if (rc == 0)
        rc = buf_puts(b, "{\"trigger\":");
    if (rc == 0)
        rc = json_put_string(b, r->last_trigger, strlen(r->last_trigger));
    if (rc == 0)
        rc = put_time(b, "at", r->last_at);
    if (rc == 0)
        rc = buf_printf(b, ",\"ok\":%s", r->last_ok ? "true" : "false");
    if (rc == 0)
        rc = put_str(b, "error", r->last_ok ? NULL : r->last_error);
    return rc ? rc : buf_puts(b, "}}");
}

int details_render(const struct sidecar_view *sv, double now, struct buf *b)
{
    const struct health_view *v = sv->health;
    int rc = buf_puts(b, "{\"status\":");
    if (rc == 0)
        rc = json_put_string(b, health_status_name(v->status),
                             strlen(health_status_name(v->status)));
    if (rc == 0)
        rc = put_str(b, "name", sv->cfg->name);
    if (rc == 0)
        rc = put_str(b, "version", SIDECAR_VERSION);
    if (rc == 0)
        rc = buf_printf(b,
                        ",\"uptime_s\":%.3f,\"live\":%s,\"ready\":%s,"
                        "\"started\":%s,\"draining\":%s",
                        now - sv->start_mono, v->live ? "true" : "false",
                        v->ready ? "true" : "false",
                        v->started ? "true" : "false",
                        sv->draining ? "true" : "false");
    /* Whether the write API is on: the page shows its buttons. */
    if (rc == 0)
        rc = buf_printf(
            b, ",\"control\":%s",
            sv->cfg->http.token && sv->cfg->http.token[0] ? "true" : "false");
    if (rc == 0)
        rc = put_config(b, sv);
    if (rc == 0)
        rc = buf_puts(b, ",\"probes\":[");
    for (size_t i = 0; i < sv->probes_count && rc == 0; i++) {
        if (i)
            rc = buf_puts(b, ",");
        if (rc == 0)
            rc = put_probe(b, sv->probes[i], now);
    }
    if (rc == 0)
        rc = buf_puts(b, "],\"services\":[");
    for (size_t i = 0; i < sv->svcs_count && rc == 0; i++) {
        if (i)
            rc = buf_puts(b, ",");
        if (rc == 0)
            rc = put_service(b, sv->svcs[i], now);
    }
    return rc ? rc : buf_puts(b, "]}\n");
}
