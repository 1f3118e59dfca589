#include "cli/status.h"

#include <curl/curl.h>
#include <jansson.h>
#include <string.h>

#include "base/buf.h"

#define STATUS_BODY_MAX   ((size_t)4 * 1024 * 1024)
#define STATUS_TIMEOUT_MS 3000L

static size_t on_data(char *p, size_t size, size_t n, void *arg)
{
    return buf_append(arg, p, size * n) == 0 ? size * n : 0;
}

/* GET url into body; 0 or -1 (with a message on stderr). */
static int fetch(const char *url, struct buf *body)
{
    CURL *easy = curl_easy_init();
    char err[CURL_ERROR_SIZE] = "";
    if (!easy)
        return -1;
    CURLcode rc = curl_easy_setopt(easy, CURLOPT_URL, url);
    if (rc == CURLE_OK)
        rc = curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, STATUS_TIMEOUT_MS);
    if (rc == CURLE_OK)
        rc = curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
    if (rc == CURLE_OK)
        rc = curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, err);
    if (rc == CURLE_OK)
        rc = curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, on_data);
    if (rc == CURLE_OK)
        rc = curl_easy_setopt(easy, CURLOPT_WRITEDATA, body);
    if (rc == CURLE_OK)
        rc = curl_easy_perform(easy);
    long code = 0;
    if (rc == CURLE_OK)
        curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &code);
    curl_easy_cleanup(easy);
    if (rc != CURLE_OK) {
        fprintf(stderr, "sidecar status: %s: %s\n", url,
                err[0] ? err : curl_easy_strerror(rc));
        return -1;
    }
    if (code != 200) {
        fprintf(stderr, "sidecar status: %s: HTTP %ld\n", url, code);
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
        for (const char *r = reason; *r && *r != '\n'; r++)
            fputc((unsigned char)*r < 0x20 || *r == 0x7f ? '?' : *r, out);
        fputc('\n', out);
    }
}

int status_command(const char *base_url, FILE *out)
{
    char url[1024];
    struct buf body;
    json_error_t err;
    snprintf(url, sizeof(url), "%s/health/details", base_url);
    buf_init(&body, STATUS_BODY_MAX);
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        return STATUS_EXIT_UNREACHABLE;
    int rc = fetch(url, &body);
    curl_global_cleanup();
    json_t *d = rc == 0 ? json_loadb(body.data, body.len, 0, &err) : NULL;
    buf_free(&body);
    if (!d) {
        if (rc == 0)
            fprintf(stderr, "sidecar status: %s: not a status: %s\n", url,
                    err.text);
        return STATUS_EXIT_UNREACHABLE;
    }
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
