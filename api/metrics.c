#include "api/metrics.h"

#include <dirent.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "api/events.h"
#include "api/http.h"
#include "base/json.h"
#include "proc/procfs.h"
#include "proc/sdnotify.h"
#include "sidecar/view.h"

static int header(struct buf *b, const char *name, const char *type,
                  const char *help)
{
    return buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name,
                      type);
}

/* A metric of one sample without labels. */
static int put_single(struct buf *b, const char *name, const char *type,
                      const char *help, unsigned long long value)
{
    int rc = header(b, name, type, help);
    return rc == 0 ? buf_printf(b, "%s %llu\n", name, value) : rc;
}

/*
 * A label value: backslash, double quote and newline escaped, and bytes
 * that are not valid UTF-8 as U+FFFD (a scraper rejects the whole
 * exposition for one such label).
 */
static int put_label(struct buf *b, const char *v)
{
    size_t n = strlen(v);
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0;) {
        size_t len = json_utf8_seq_len((const unsigned char *)v + i, n - i);
        if (v[i] == '\\' || v[i] == '"')
            rc = buf_printf(b, "\\%c", v[i]);
        else if (v[i] == '\n')
            rc = buf_puts(b, "\\n");
        else if (len)
            rc = buf_append(b, v + i, len);
        else
            rc = buf_append(b, "\xef\xbf\xbd", 3);
        i += len ? len : 1;
    }
    return rc;
}

/* name{probe="x",importance="y"} value */
static int probe_sample(struct buf *b, const char *name, const struct probe *p,
                        double value)
{
    int rc = buf_printf(b, "%s{probe=\"", name);
    if (rc == 0)
        rc = put_label(b, p->cfg->name);
    if (rc == 0)
        rc = buf_printf(b, "\",importance=\"%s\"} %.6g\n",
                        probe_importance_name(p->cfg->importance), value);
    return rc;
}

static int service_sample(struct buf *b, const char *name, const struct svc *s,
                          double value)
{
    int rc = buf_printf(b, "%s{service=\"", name);
    if (rc == 0)
        rc = put_label(b, s->cfg->name);
    if (rc == 0)
        rc = buf_printf(b, "\"} %.17g\n", value);
    return rc;
}

static int put_probes(struct buf *b, const struct sidecar_view *sv)
{
    static const struct {
        const char *name;
        const char *type;
        const char *help;
    } families[] = {
        {"sidecar_probe_success", "gauge",
         "Whether the last run of the probe passed (1) or not (0)."},
        {"sidecar_probe_passing", "gauge",
         "Whether the probe is passing after its thresholds (1) or not (0)."},
        {"sidecar_probe_duration_seconds", "gauge",
         "How long the last run of the probe took."},
    };
    int rc = 0;
    for (size_t f = 0; f < ARRAY_SIZE(families) && rc == 0; f++) {
        rc = header(b, families[f].name, families[f].type, families[f].help);
        for (size_t i = 0; i < sv->probes_count && rc == 0; i++) {
            const struct probe *p = sv->probes[i];
            double v = f == 0   ? (p->has_result && p->last.ok)
                       : f == 1 ? p->state == PROBE_PASSING
                                : p->last.duration;
            rc = probe_sample(b, families[f].name, p, v);
        }
    }
    return rc;
}

/* Notification datagrams dropped, of the services with ready: notify. */
static int put_notify_drops(struct buf *b, const struct sidecar_view *sv)
{
    static const char name[] = "sidecar_service_notify_dropped_total";
    int rc = header(b, name, "counter",
                    "Notification datagrams dropped, by reason (ready: "
                    "notify).");
    for (size_t i = 0; i < sv->svcs_count && rc == 0; i++) {
        const struct svc *s = sv->svcs[i];
        if (s->cfg->ready != CFG_READY_NOTIFY)
            continue;
        for (int r = 0; r < SDNOTIFY_DROPS && rc == 0; r++) {
            rc = buf_printf(b, "%s{service=\"", name);
            if (rc == 0)
                rc = put_label(b, s->cfg->name);
            if (rc == 0)
                rc = buf_printf(b, "\",reason=\"%s\"} %llu\n",
                                sdnotify_drop_name(r),
                                (unsigned long long)s->notify_sock.dropped[r]);
        }
    }
    return rc;
}

static int put_services(struct buf *b, const struct sidecar_view *sv)
{
    int rc = header(b, "sidecar_service_restarts_total", "counter",
                    "Automatic restarts of the service.");
    for (size_t i = 0; i < sv->svcs_count && rc == 0; i++)
        rc = service_sample(b, "sidecar_service_restarts_total", sv->svcs[i],
                            sv->svcs[i]->restarts);
    if (rc == 0)
        rc = header(b, "sidecar_service_up", "gauge",
                    "Whether the service is running (1) or not (0).");
    for (size_t i = 0; i < sv->svcs_count && rc == 0; i++)
        rc = service_sample(b, "sidecar_service_up", sv->svcs[i],
                            sv->svcs[i]->state == SVC_RUNNING);
    /* Apart from up: a done task is not up, and not down either. */
    if (rc == 0)
        rc = header(b, "sidecar_service_completed", "gauge",
                    "Whether the task has completed (1) or not (0).");
    for (size_t i = 0; i < sv->svcs_count && rc == 0; i++)
        rc = service_sample(b, "sidecar_service_completed", sv->svcs[i],
                            sv->svcs[i]->state == SVC_COMPLETED);
    if (rc == 0)
        rc = header(b, "sidecar_service_start_time_seconds", "gauge",
                    "Unix time the service's latest process started.");
    for (size_t i = 0; i < sv->svcs_count && rc == 0; i++)
        rc = service_sample(b, "sidecar_service_start_time_seconds",
                            sv->svcs[i], sv->svcs[i]->started_at);
    return rc ? rc : put_notify_drops(b, sv);
}

/* The reloads: counted by result, and how the last one went. */
static int put_reloads(struct buf *b, const struct reload_record *r,
                       double started_at)
{
    int rc = header(b, "sidecar_config_reloads_total", "counter",
                    "Config reloads, by result.");
    if (rc == 0)
        rc = buf_printf(b,
                        "sidecar_config_reloads_total{result=\"success\"} %u\n"
                        "sidecar_config_reloads_total{result=\"failure\"} %u\n",
                        r->ok, r->failed);
    if (rc == 0)
        rc = header(b, "sidecar_config_last_reload_successful", "gauge",
                    "Whether the last reload applied (1) or failed (0); 1 "
                    "before any.");
    if (rc == 0)
        rc = buf_printf(b, "sidecar_config_last_reload_successful %d\n",
                        !r->any || r->last_ok);
    if (rc == 0)
        rc = header(b, "sidecar_config_last_reload_timestamp_seconds", "gauge",
                    "Unix time of the last reload, or of the start before "
                    "any.");
    if (rc == 0)
        rc =
            buf_printf(b, "sidecar_config_last_reload_timestamp_seconds %.3f\n",
                       r->any ? r->last_at : started_at);
    return rc;
}

/* The process_* family, from /proc/self. */
static int put_process(struct buf *b)
{
    long tck = sysconf(_SC_CLK_TCK);
    long page = sysconf(_SC_PAGESIZE);
    char line[1024];
    struct procfs_stat st;
    (void)procfs_read_stat("self", &st); /* zeros if unreadable */
    unsigned long long btime = 0;
    FILE *f = fopen("/proc/stat", "re");
    if (f) {
        while (fgets(line, sizeof(line), f)) {
            if (sscanf(line, "btime %llu", &btime) == 1)
                break;
        }
        fclose(f);
    }
    long fds = 0;
    DIR *d = opendir("/proc/self/fd");
    if (d) {
        while (readdir(d))
            fds++;
        closedir(d);
        fds -= 3; /* ".", ".." and the directory's own descriptor */
    }
    struct rlimit rl = {0, 0};
    getrlimit(RLIMIT_NOFILE, &rl);
    int rc = header(b, "process_cpu_seconds_total", "counter",
                    "Total user and system CPU time spent in seconds.");
    if (rc == 0)
        rc = buf_printf(b, "process_cpu_seconds_total %.2f\n",
                        (double)(st.utime + st.stime) / (double)tck);
    if (rc == 0)
        rc = header(b, "process_open_fds", "gauge",
                    "Number of open file descriptors.");
    if (rc == 0)
        rc = buf_printf(b, "process_open_fds %ld\n", fds);
    if (rc == 0)
        rc = header(b, "process_max_fds", "gauge",
                    "Maximum number of open file descriptors.");
    if (rc == 0)
        rc = buf_printf(b, "process_max_fds %.17g\n", (double)rl.rlim_cur);
    if (rc == 0)
        rc = header(b, "process_virtual_memory_bytes", "gauge",
                    "Virtual memory size in bytes.");
    if (rc == 0)
        rc = buf_printf(b, "process_virtual_memory_bytes %lu\n", st.vsize);
    if (rc == 0)
        rc = header(b, "process_resident_memory_bytes", "gauge",
                    "Resident memory size in bytes.");
    if (rc == 0)
        rc =
            buf_printf(b, "process_resident_memory_bytes %ld\n", st.rss * page);
    if (rc == 0)
        rc = header(b, "process_start_time_seconds", "gauge",
                    "Start time of the process since unix epoch in seconds.");
    if (rc == 0)
        rc = buf_printf(b, "process_start_time_seconds %.2f\n",
                        (double)btime + (double)st.start / (double)tck);
    return rc;
}

/* What HTTP clients cost: connections evicted, log lines dropped. */
static int put_http(struct buf *b, const struct http_stats *st)
{
    int rc = header(b, "sidecar_http_connections_evicted_total", "counter",
                    "HTTP connections closed before their request was "
                    "whole, by reason.");
    /* "header_deadline" is the published label: the deadline covers the
     * body too now, the name stays for the dashboards that use it. */
    if (rc == 0)
        rc = buf_printf(b,
                        "sidecar_http_connections_evicted_total"
                        "{reason=\"limit\"} %llu\n"
                        "sidecar_http_connections_evicted_total"
                        "{reason=\"header_deadline\"} %llu\n",
                        st->evicted_at_limit, st->evicted_late);
    if (rc == 0)
        rc = put_single(b, "sidecar_log_lines_suppressed_total", "counter",
                        "Log lines caused by HTTP clients that the rate limit "
                        "dropped.",
                        st->log_limit.refused);
    const struct events *ev = st->events;
    if (rc == 0)
        rc = put_single(b, "sidecar_event_subscribers", "gauge",
                        "Clients following GET /events now.",
                        ev ? ev->subscribers : 0);
    if (rc == 0)
        rc = put_single(b, "sidecar_events_total", "counter",
                        "State changes recorded for GET /events.",
                        ev ? ev->recorded : 0);
    if (rc == 0)
        rc = put_single(b, "sidecar_event_subscribers_dropped_total", "counter",
                        "GET /events clients disconnected because their next "
                        "event left the ring before it could be sent.",
                        ev ? ev->dropped_slow : 0);
    return rc;
}

int metrics_render(const struct sidecar_view *sv, const struct http_stats *st,
                   struct buf *b)
{
    const struct health_view *v = sv->health;
    int rc = header(b, "sidecar_health_status", "gauge",
                    "The aggregate: 0 UP, 1 DEGRADED, 2 DOWN.");
    if (rc == 0)
        rc = buf_printf(b, "sidecar_health_status %d\n", (int)v->status);
    if (rc == 0)
        rc = header(b, "sidecar_live", "gauge", "What /livez answers (1 200).");
    if (rc == 0)
        rc = buf_printf(b, "sidecar_live %d\n", v->live);
    if (rc == 0)
        rc = header(b, "sidecar_ready", "gauge",
                    "What /readyz answers (1 200).");
    if (rc == 0)
        rc = buf_printf(b, "sidecar_ready %d\n", v->ready);
    if (rc == 0)
        rc = header(b, "sidecar_started", "gauge",
                    "What /startupz answers (1 200).");
    if (rc == 0)
        rc = buf_printf(b, "sidecar_started %d\n", v->started);
    if (rc == 0)
        rc = put_probes(b, sv);
    if (rc == 0)
        rc = put_services(b, sv);
    if (rc == 0)
        rc = put_reloads(b, sv->reloads, sv->started_at);
    if (rc == 0)
        rc = put_http(b, st);
    if (rc == 0)
        rc = put_process(b);
    return rc;
}
