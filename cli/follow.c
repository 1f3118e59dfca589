#include "cli/follow.h"

#include <jansson.h>
#include <signal.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/client.h"
#include "cli/ctl.h"
#include "cli/term.h"

void follow_init(struct follow *f, FILE *out, FILE *err, bool json)
{
    *f = (struct follow){.out = out, .err = err, .json = json};
    buf_init(&f->line, FOLLOW_LINE_MAX);
    buf_init(&f->data, FOLLOW_LINE_MAX);
}

void follow_free(struct follow *f)
{
    buf_free(&f->line);
    buf_free(&f->data);
}

static const char *str(json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s ? s : "?";
}

static void put(struct follow *f, const char *s)
{
    term_put(f->out, s, false);
}

/* "MSG key=value ...": an event of a shape this version does not know. */
static void put_fields(struct follow *f, json_t *e)
{
    const char *key;
    json_t *v;

    put(f, str(e, "msg"));
    json_object_foreach(e, key, v)
    {
        if (!strcmp(key, "ts") || !strcmp(key, "level") || !strcmp(key, "msg"))
            continue;
        fputc(' ', f->out);
        put(f, key);
        fputc('=', f->out);
        /* A plain word as it is; anything else as JSON ("a b", 7). */
        const char *word = json_string_value(v);
        bool plain = word && *word && !word[strcspn(word, " \t\"=")];
        char *text =
            plain ? NULL : json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
        put(f, plain ? word : text ? text : "?");
        free(text);
    }
}

/* A state change as a person reads it, after its time. */
static void put_event(struct follow *f, json_t *e)
{
    const char *msg = str(e, "msg");

    put(f, str(e, "ts"));
    fputc(' ', f->out);
    if (!strcmp(msg, "service state changed") ||
        !strcmp(msg, "probe state changed")) {
        bool svc = msg[0] == 's';
        fputs(svc ? "service " : "probe ", f->out);
        put(f, str(e, svc ? "service" : "probe"));
        fputs(": ", f->out);
        put(f, str(e, "from"));
        fputs(" -> ", f->out);
        put(f, str(e, "to"));
        if (!svc && json_is_string(json_object_get(e, "reason"))) {
            fputs(" (", f->out);
            term_put(f->out, str(e, "reason"), true);
            fputc(')', f->out);
        }
    } else if (!strcmp(msg, "health changed")) {
        fputs("health: ", f->out);
        put(f, str(e, "from"));
        fputs(" -> ", f->out);
        put(f, str(e, "to"));
        fprintf(f->out, " (live %s, ready %s, started %s)",
                json_is_true(json_object_get(e, "live")) ? "yes" : "no",
                json_is_true(json_object_get(e, "ready")) ? "yes" : "no",
                json_is_true(json_object_get(e, "started")) ? "yes" : "no");
    } else if (!strcmp(msg, "config reloaded")) {
        fputs("config reloaded (", f->out);
        put(f, str(e, "trigger"));
        fputs("):", f->out);
        ctl_put_changes(f->out, e);
    } else if (!strcmp(msg, "config reload failed: nothing changed")) {
        fputs("config reload failed (", f->out);
        put(f, str(e, "trigger"));
        fputs("): ", f->out);
        term_put(f->out, str(e, "error"), true);
        fputs("; nothing changed", f->out);
    } else {
        put_fields(f, e);
    }
    fputc('\n', f->out);
}

/* {"lost":K}: events that left the ring before this reader had them. */
static void put_lost(struct follow *f, json_t *e)
{
    char ts[32];
    struct timespec now;
    struct tm tm;
    json_int_t k = json_integer_value(json_object_get(e, "lost"));

    clock_gettime(CLOCK_REALTIME, &now);
    gmtime_r(&now.tv_sec, &tm);
    strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
    fprintf(f->out, "%s.%03ldZ events lost: ", ts, now.tv_nsec / 1000000);
    if (k > 0)
        fprintf(f->out, "%lld", (long long)k);
    else
        fputs("some", f->out);
    fputs(" left sidecar's ring before they could be read\n", f->out);
}

/* The event being read is over its cap: said at once (a line that never
 * ends is never dispatched), and once. stderr failing ends nothing. */
static void too_big(struct follow *f)
{
    if (!f->too_big)
        fprintf(f->err,
                "sidecar: events: an event with a line over %d bytes "
                "skipped\n",
                FOLLOW_LINE_MAX - 1);
    f->too_big = true;
}

/* The event its lines made, printed; nothing for one with no data. */
static void dispatch(struct follow *f)
{
    bool lost = strcmp(f->event, "lost") == 0;
    json_error_t err;
    json_t *e = NULL;

    if (!f->too_big && f->data.len) {
        f->data.len--; /* the last data line's '\n' */
        e = json_loadb(f->data.data, f->data.len, 0, &err);
        if (!json_is_object(e))
            fprintf(f->err,
                    "sidecar: events: an event that is not a JSON object "
                    "skipped%s%s\n",
                    e ? "" : ": ", e ? "" : err.text);
    }
    if (json_is_object(e) && f->json &&
        !memchr(f->data.data, '\n', f->data.len)) {
        fwrite(f->data.data, 1, f->data.len, f->out);
        fputc('\n', f->out);
    } else if (json_is_object(e) && f->json) {
        char *text = json_dumps(e, JSON_COMPACT | JSON_PRESERVE_ORDER);
        if (text)
            fprintf(f->out, "%s\n", text);
        free(text);
    } else if (json_is_object(e)) {
        (lost ? put_lost : put_event)(f, e);
    }
    json_decref(e);
    if (fflush(f->out) != 0 || ferror(f->out))
        f->broken = true;
    buf_truncate(&f->data, 0);
    f->event[0] = '\0';
    f->too_big = false;
}

/* One line of the stream (its end of line gone): a field or the end of
 * an event (a blank line); a comment (": ping") or an unknown field is
 * ignored, as EventSource does. */
static void on_line(struct follow *f, char *line, size_t n)
{
    if (n == 0) {
        dispatch(f);
        return;
    }
    line[n] = '\0';
    char *colon = memchr(line, ':', n);
    char *value = colon ? colon + 1 : line + n;
    if (colon)
        *colon = '\0';
    value += *value == ' ';
    size_t len = n - (size_t)(value - line);
    if (!strcmp(line, "data") && !f->too_big &&
        (buf_append(&f->data, value, len) < 0 ||
         buf_append(&f->data, "\n", 1) < 0))
        too_big(f);
    else if (!strcmp(line, "event"))
        snprintf(f->event, sizeof(f->event), "%s", value);
}

bool follow_feed(struct follow *f, const char *p, size_t n)
{
    while (n > 0 && !f->broken) {
        const char *nl = memchr(p, '\n', n);
        size_t take = nl ? (size_t)(nl - p) : n;
        /* A line and its NUL within the cap, or it is skipped. */
        if (!f->skipping && (buf_append(&f->line, p, take) < 0 ||
                             (nl && buf_append(&f->line, "", 1) < 0))) {
            f->skipping = true;
            too_big(f); /* its event is incomplete */
            buf_truncate(&f->line, 0);
        }
        p += take + (nl != NULL);
        n -= take + (nl != NULL);
        if (!nl)
            break;
        if (!f->skipping) {
            size_t len = f->line.len - 1;
            if (len && f->line.data[len - 1] == '\r')
                len--;
            on_line(f, f->line.data, len);
        }
        f->skipping = false;
        buf_truncate(&f->line, 0);
    }
    return !f->broken;
}

static bool on_stream(void *arg, const char *data, size_t n)
{
    return follow_feed(arg, data, n);
}

/* Ctrl-C: the end the user asked for. */
static void on_stop(int sig)
{
    (void)sig;
    _exit(0);
}

int follow_command(const char *base, const char *token, bool json)
{
    struct sigaction stop = {.sa_handler = on_stop};
    struct follow f;
    struct client_answer a;
    struct buf url;
    int code = CTL_EXIT_UNREACHABLE;

    sigemptyset(&stop.sa_mask);
    if (sigaction(SIGINT, &stop, NULL) < 0 ||
        sigaction(SIGTERM, &stop, NULL) < 0 ||
        signal(SIGPIPE, SIG_DFL) == SIG_ERR) {
        perror("sidecar: events: sigaction");
        return CTL_EXIT_REFUSED;
    }
    buf_init(&url, 8192);
    if (client_url(&url, base, "/events") < 0) {
        buf_free(&url);
        fprintf(stderr, "sidecar: events: %s: too long a URL\n", base);
        return CTL_EXIT_USAGE;
    }
    follow_init(&f, stdout, stderr, json);
    const struct client_request rq = {
        .method = "GET",
        .url = url.data,
        .token = *token ? token : NULL,
        .accept = "text/event-stream",
        .sink = on_stream,
        .sink_arg = &f,
    };
    int rc = client_request(&rq, &a);
    if (f.broken) {
        fprintf(stderr, "sidecar: events: cannot write the events\n");
        code = CTL_EXIT_REFUSED;
    } else if (a.status == 200 && rc == 0) {
        fprintf(stderr, "sidecar: events: %s ended the stream\n", base);
    } else if (a.status == 200) {
        fprintf(stderr, "sidecar: events: the stream from %s broke: %s\n", base,
                a.error);
    } else if (rc < 0) {
        fprintf(stderr, "sidecar: events: no answer from %s: %s\n", base,
                a.error);
    } else {
        json_t *j =
            json_loadb(a.body.data ? a.body.data : "", a.body.len, 0, NULL);
        const char *msg = json_string_value(json_object_get(j, "error"));
        bool none = a.status == 404 && msg && !strcmp(msg, "not found");
        if (none)
            fprintf(stderr,
                    "sidecar: events: %s serves no /events (a "
                    "sidecar older than this command?)\n",
                    base);
        code =
            none ? CTL_EXIT_REFUSED : ctl_refused("events", token, a.status, j);
        json_decref(j);
    }
    client_answer_free(&a);
    follow_free(&f);
    buf_free(&url);
    return code;
}
