/*
 * `sidecar status`: /health/details through the commands' client
 * (cli/client.h), printed as a table.
 */
#include "cli/status.h"

#include <jansson.h>
#include <stdbool.h>
#include <string.h>

#include "cli/client.h"
#include "cli/term.h"

/* GET url into a's body; 0 or -1 (with a message on stderr). */
static int fetch(const char *url, struct client_answer *a)
{
    const struct client_request rq = {
        .method = "GET", .url = url, .accept = "application/json"};

    if (client_request(&rq, a) < 0) {
        fprintf(stderr, "sidecar status: %s: %s\n", url, a->error);
        return -1;
    }
    if (a->status != 200) {
        fprintf(stderr, "sidecar status: %s: HTTP %d\n", url, a->status);
        return -1;
    }
    return 0;
}

static const char *str(json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s ? s : "-";
}

static const char *yes(json_t *o, const char *key)
{
    return json_is_true(json_object_get(o, key)) ? "yes" : "no";
}

/* A service's own words (STATUS=), controls shown as '?'. */
static void print_status_text(const char *text, FILE *out)
{
    fprintf(out, "%-24s status: ", "");
    term_put(out, text, false);
    fputc('\n', out);
}

static void print_services(json_t *services, FILE *out)
{
    size_t i;
    json_t *s;
    if (!json_array_size(services))
        return;
    fprintf(out, "\n%-24s %-9s %8s %8s %9s %10s\n", "SERVICE", "STATE", "PID",
            "RESTARTS", "LAST EXIT", "UPTIME");
    json_array_foreach(services, i, s)
    {
        char exit_code[16] = "-";
        char uptime[24] = "-";
        json_t *e = json_object_get(s, "last_exit_code");
        json_t *u = json_object_get(s, "uptime_s");
        if (json_is_integer(e))
            snprintf(exit_code, sizeof(exit_code), "%lld",
                     (long long)json_integer_value(e));
        if (json_is_number(u))
            snprintf(uptime, sizeof(uptime), "%.1fs", json_number_value(u));
        fprintf(out, "%-24s %-9s %8lld %8lld %9s %10s\n", str(s, "name"),
                str(s, "state"),
                (long long)json_integer_value(json_object_get(s, "pid")),
                (long long)json_integer_value(json_object_get(s, "restarts")),
                exit_code, uptime);
        /* What a ready: notify service says of itself (STATUS=). */
        json_t *text = json_object_get(s, "status_text");
        if (json_is_string(text))
            print_status_text(json_string_value(text), out);
    }
}

static void print_probes(json_t *probes, FILE *out)
{
    size_t i;
    json_t *p;
    if (!json_array_size(probes))
        return;
    fprintf(out, "\n%-24s %-10s %-8s %8s  %s\n", "PROBE", "IMPORTANCE", "STATE",
            "TOOK", "REASON");
    json_array_foreach(probes, i, p)
    {
        json_t *last = json_object_get(p, "last");
        char took[24] = "-";
        const char *reason = "-";
        if (json_is_object(last)) {
            snprintf(took, sizeof(took), "%lldms",
                     (long long)json_integer_value(
                         json_object_get(last, "duration_ms")));
            reason = str(last, "reason");
        }
        fprintf(out, "%-24s %-10s %-8s %8s  ", str(p, "name"),
                str(p, "importance"), str(p, "state"), took);
        /* The first line of its reason; control bytes shown as '?', so
         * a probe's output cannot recolour or rewrite the terminal. */
        term_put(out, reason, true);
        fputc('\n', out);
    }
}

int status_command(const char *base_url, FILE *out)
{
    struct buf url;
    struct client_answer a;
    json_error_t err;
    buf_init(&url, 4096);
    if (client_url(&url, base_url, "/health/details") < 0) {
        fprintf(stderr, "sidecar status: %s: too long a URL\n", base_url);
        return STATUS_EXIT_UNREACHABLE;
    }
    int rc = fetch(url.data, &a);
    json_t *d = rc == 0 ? json_loadb(a.body.data, a.body.len, 0, &err) : NULL;
    client_answer_free(&a);
    if (!d && rc == 0)
        fprintf(stderr, "sidecar status: %s: not a status: %s\n", url.data,
                err.text);
    buf_free(&url);
    if (!d)
        return STATUS_EXIT_UNREACHABLE;
    const char *status = str(d, "status");
    fprintf(out, "%s %s: %s  (live %s, ready %s, started %s%s)\n",
            str(d, "name"), str(d, "version"), status, yes(d, "live"),
            yes(d, "ready"), yes(d, "started"),
            json_is_true(json_object_get(d, "draining")) ? ", draining" : "");
    print_services(json_object_get(d, "services"), out);
    print_probes(json_object_get(d, "probes"), out);
    int code = strcmp(status, "UP") == 0         ? 0
               : strcmp(status, "DEGRADED") == 0 ? 1
               : strcmp(status, "DOWN") == 0     ? 2
                                                 : STATUS_EXIT_UNREACHABLE;
    json_decref(d);
    return code;
}
