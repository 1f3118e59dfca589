/*
 * libFuzzer harness: request routing and query parsing of the HTTP layer,
 * through the real thing: http_server_new() (api/http.c, MHD on the
 * libev loop) on 127.0.0.1, serving a fake view of the supervisor
 * (fake_sidecar.h) with services web and cache and probes db (http), disk
 * (exec) and batch (ttl). The supervisor's side of sidecar/view.h is
 * stood in for below, so no struct sidecar is linked in. Each input is one
 * request on a new connection: a method, a URL (bytes that cannot go on a
 * request line are percent-encoded, so MHD decodes them back: hostile paths and
 * query values reach our code), an optional bearer token, and a body.
 *
 * The answer must be one well-formed HTTP response whose status and type
 * fit the route (README "HTTP API"), JSON bodies must parse, /metrics and
 * /health/details must pass the renderer checks, and a check answer must
 * be UTF-8 text with one line a check, in order; /<endpoint>/<name> must
 * answer exactly for the name MHD decoded; the status page's files are
 * the bytes compiled in (api/page.h). A push to the ttl probe then
 * shows in ?verbose as one line.
 *
 * Input: byte 0 flags (token, authorization, health view), byte 1 the
 * method, then the URL up to a NUL, then the body. An empty URL sends the
 * body as it is, raw requests, and half-closes (see check_raw).
 */
#define FUZZ_NAME "fuzz_http"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <ev.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdint.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "api/checks.h"
#include "api/http.h"
#include "api/page.h"
#include "base/buf.h"
#include "base/log.h"
#include "test/fuzz/fake_sidecar.h"

#define TOKEN     "s3cret"
#define BODY_MAX  ((size_t)1024 * 1024)
#define ANSWER_S  5.0 /* an answer takes microseconds: this is a hang */
#define URL_BYTES 2048
#define ARGS_MAX  100 /* query arguments, unless replaying (FUZZ_REPLAY) */

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* web and cache; db (http, of web), disk (exec, low), batch (ttl). */
static const uint8_t state[] = {
    0x32, 0x00, 0x00, 'p', 'o', 'd', 0x00,
    /* services: flags, name, last status, restarts, start */
    0x15, 0x00, 'w', 'e', 'b', 0x00, 0x00, 0x01, 0x0a, 0x14, 0x00, 'c', 'a',
    'c', 'h', 'e', 0x00, 0x00, 0x00, 0x14,
    /* probes: flags, flags, name, passes, failures, duration, reason */
    0x90, 0xd0, 0x00, 'd', 'b', 0x00, 0x03, 0x00, 0x05, 'H', 'T', 'T', 'P', ' ',
    '2', '0', '0', 0x00, 0x8a, 0x60, 0x00, 'd', 'i', 's', 'k', 0x00, 0x00, 0x02,
    0x01, 'e', 'x', 'i', 't', ' ', '1', ':', ' ', 'f', 'u', 'l', 'l', '\n', '2',
    0x00, 0x03, 0x40, 0x00, 'b', 'a', 't', 'c', 'h', 0x00, 0x00, 0x00, 0x00,
    0x00};

static struct ev_loop *loop;
static struct fake f;
static char token[sizeof(TOKEN)];
static struct http_server *srv;
static unsigned port;
static bool replay;

/*
 * The supervisor as the API calls it (sidecar/view.h), for the fake: its
 * view, and the commands of a sidecar that drains (the write API is on
 * only then, see build_state) but still takes pushes. Defined here, they
 * keep sidecar/sidecar.o out of the link (the server is given no struct
 * sidecar: NULL); should api/ ever call more of it, the link fails on
 * these being defined twice.
 */
struct sidecar_view sidecar_view(const struct sidecar *sc)
{
    (void)sc;
    return f.view;
}

int sidecar_reload(struct sidecar *sc, const char *trigger, struct buf *answer)
{
    (void)sc;
    (void)trigger;
    CHECK(f.view.draining, "a reload while not draining");
    CHECK(buf_puts(answer, "{\"reloaded\":false,\"error\":\"sidecar is "
                           "shutting down\"}\n") == 0,
          "out of memory");
    return -EBUSY;
}

int sidecar_service_command(struct sidecar *sc, const char *name,
                            const char *action, const char **now)
{
    (void)sc;
    (void)action;
    (void)now;
    for (size_t i = 0; i < f.view.svcs_count; i++) {
        if (!strcmp(f.view.svcs[i]->cfg->name, name)) {
            CHECK(f.view.draining, "a service command while not draining");
            return -EBUSY;
        }
    }
    return -ENOENT;
}

int sidecar_probe_push(struct sidecar *sc, const char *name, bool ok,
                       const char *reason, const char **now)
{
    (void)sc;
    for (size_t i = 0; i < f.view.probes_count; i++) {
        if (!strcmp(f.probes[i].cfg->name, name)) {
            int rc = probe_ttl_push(&f.probes[i], ok, reason);
            *now = probe_state_name(f.probes[i].state);
            return rc;
        }
    }
    return -ENOENT;
}

static void on_tick(EV_P_ ev_timer *w, int revents)
{
    (void)loop;
    (void)w;
    (void)revents;
}

/* (Re)builds the fake sidecar; flags pick the view and the shutdown. */
static void build_state(uint8_t flags)
{
    uint8_t bytes[sizeof(state)];
    struct input in = {bytes, sizeof(bytes)};
    memcpy(bytes, state, sizeof(state));
    bytes[1] = flags & 0x7c; /* view; draining below */
    for (size_t i = 0; i < f.prober.count; i++)
        ev_timer_stop(loop, &f.probes[i].tick_w);
    fake_free(&f);
    fake_build(&f, &in);
    f.root.http.listen = "127.0.0.1:0";
    f.root.http.host = "127.0.0.1";
    f.root.http.token = token;
    /* The write API acts only while draining: no service is ever
     * restarted (no process is spawned) from here. */
    snprintf(token, sizeof(token), "%s", flags & 1 ? TOKEN : "");
    f.view.draining = flags & 1;
    f.prober.loop = loop;
    for (size_t i = 0; i < f.prober.count; i++)
        ev_timer_init(&f.probes[i].tick_w, on_tick, 60., 60.);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    char err[256];
    (void)argc;
    (void)argv;
    loop = ev_default_loop(0);
    replay = getenv("FUZZ_REPLAY") != NULL;
    log_set_level(LOG_LEVEL_ERROR);
    build_state(0);
    srv = http_server_new(loop, &f.root, NULL, &f.stats, err, sizeof(err));
    CHECK(srv, "http_server_new: %s", err);
    port = http_server_port(srv);
    return 0;
}

/* The client's side of one exchange. */
struct client {
    ev_io io;
    ev_timer guard;
    struct text in;
    bool eof;
};

static void on_readable(EV_P_ ev_io *w, int revents)
{
    struct client *c = container_of(w, struct client, io);
    char chunk[16384];
    (void)revents;
    for (;;) {
        ssize_t n = read(w->fd, chunk, sizeof(chunk));
        if (n > 0) {
            text_add(&c->in, chunk, (size_t)n);
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            return;
        c->eof = true; /* EOF, or a reset: the answer is what came */
        ev_break(EV_A_ EVBREAK_ONE);
        return;
    }
}

static void on_guard(EV_P_ ev_timer *w, int revents)
{
    (void)loop;
    (void)w;
    (void)revents;
    CHECK(false, "no answer within %.0f s", ANSWER_S);
}

/* Sends req on a new connection and returns all that comes back; with
 * half_close, then says it has no more to send (a partial request ends
 * there: MHD closes, with or without an answer). */
static struct text exchange(const char *req, size_t len, bool half_close)
{
    struct sockaddr_in sa = {.sin_family = AF_INET};
    struct client c = {.eof = false};
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    CHECK(fd >= 0, "socket: %s", strerror(errno));
    sa.sin_port = htons((uint16_t)port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    /* libFuzzer's SIGALRM (-timeout) may interrupt: the connection then
     * goes on, and connect() says EALREADY until it is made. */
    int rc = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
    while (rc < 0 && (errno == EINTR || errno == EALREADY))
        rc = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
    CHECK(rc == 0 || errno == EISCONN, "connect: %s", strerror(errno));
    for (size_t off = 0; off < len;) {
        ssize_t w = write(fd, req + off, len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && errno == EPIPE)
            break; /* MHD refused it before the end */
        CHECK(w > 0, "write: %s", strerror(errno));
        off += (size_t)w;
    }
    CHECK(!half_close || shutdown(fd, SHUT_WR) == 0 || errno == ENOTCONN,
          "shutdown: %s", strerror(errno));
    CHECK(fcntl(fd, F_SETFL, O_NONBLOCK) == 0, "fcntl");
    text_add(&c.in, "", 0);
    ev_io_init(&c.io, on_readable, fd, EV_READ);
    ev_io_start(loop, &c.io);
    ev_timer_init(&c.guard, on_guard, ANSWER_S, 0.);
    ev_timer_start(loop, &c.guard);
    ev_run(loop, 0);
    ev_io_stop(loop, &c.io);
    ev_timer_stop(loop, &c.guard);
    /* A reset, not a FIN: it ends MHD's TIME_WAIT, whose port a later
     * connect() could pick (and wait a second for its SYN). */
    struct linger lg = {1, 0};
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
    close(fd);
    return c.in;
}

/* One parsed HTTP response. */
struct response {
    int status;
    const char *type; /* Content-Type, "" if none */
    const char *body;
    size_t len;
};

static bool header_is(const char *line, size_t n, const char *name,
                      const char **value)
{
    size_t k = strlen(name);
    if (n <= k + 1 || strncasecmp(line, name, k) != 0 || line[k] != ':')
        return false;
    *value = line + k + 1;
    while (**value == ' ')
        (*value)++;
    return true;
}

/* Parses raw (NUL-terminated header block patched in place). */
static struct response parse_response(struct text *raw, bool head)
{
    struct response r = {0, "", NULL, 0};
    char *end = strstr(raw->data, "\r\n\r\n");
    size_t content_length = SIZE_MAX;
    CHECK(raw->len > 12 && end, "no HTTP response: '%.*s'", (int)raw->len,
          raw->data);
    CHECK(!strncmp(raw->data, "HTTP/1.", 7) && raw->data[8] == ' ',
          "status line '%.40s'", raw->data);
    r.status = atoi(raw->data + 9);
    end[2] = '\0';
    for (char *p = strstr(raw->data, "\r\n") + 2; *p;) {
        char *eol = strstr(p, "\r\n");
        const char *v;
        CHECK(eol, "header line");
        *eol = '\0';
        if (header_is(p, (size_t)(eol - p), "Content-Type", &v))
            r.type = v;
        if (header_is(p, (size_t)(eol - p), "Content-Length", &v))
            content_length = strtoul(v, NULL, 10);
        p = eol + 2;
    }
    r.body = end + 4;
    r.len = raw->len - (size_t)(r.body - raw->data);
    if (head)
        CHECK(r.len == 0, "a body of %zu bytes for HEAD", r.len);
    else
        CHECK(content_length == r.len, "Content-Length %zu, body %zu",
              content_length, r.len);
    return r;
}

static const char *const methods[] = {
    "GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "get", "PATCH",
};

static int hex(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/*
 * What MHD makes of part of a URL: %XX decoded (other '%' kept), '+' a
 * space in the query, and the C string ends at a decoded NUL. Frees
 * nothing; returns a new string.
 */
static char *unescape(const char *s, size_t n, bool plus)
{
    char *out = malloc(n + 1);
    size_t o = 0;
    CHECK(out, "out of memory");
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '%' && i + 2 < n && hex(s[i + 1]) >= 0 &&
            hex(s[i + 2]) >= 0) {
            out[o++] = (char)(hex(s[i + 1]) * 16 + hex(s[i + 2]));
            i += 2;
        } else {
            out[o++] = plus && s[i] == '+' ? ' ' : s[i];
        }
    }
    out[o] = '\0';
    return out;
}

/* The query as our on_argument() sees it. */
struct query {
    bool any;
    bool verbose;
    char *exclude[32];
    size_t exclude_count;
};

static void parse_query(const char *url, struct query *q)
{
    const char *p = strchr(url, '?');
    memset(q, 0, sizeof(*q));
    if (!p)
        return;
    for (p++; *p;) {
        size_t n = strcspn(p, "&");
        const char *eq = memchr(p, '=', n);
        char *key = unescape(p, eq ? (size_t)(eq - p) : n, true);
        char *value =
            eq ? unescape(eq + 1, n - (size_t)(eq - p) - 1, true) : NULL;
        if (!strcmp(key, "verbose"))
            q->verbose = true;
        if (!strcmp(key, "exclude") && value && q->exclude_count < 32) {
            q->exclude[q->exclude_count++] = value;
            value = NULL;
        }
        free(key);
        free(value);
        p += n + (p[n] == '&');
    }
    q->any = q->verbose || q->exclude_count;
}

static void free_query(struct query *q)
{
    for (size_t i = 0; i < q->exclude_count; i++)
        free(q->exclude[i]);
}

static bool type_is(const struct response *r, const char *type)
{
    return strcmp(r->type, type) == 0;
}

#define JSON_TYPE    "application/json"
#define TEXT_TYPE    "text/plain; charset=utf-8"
#define METRICS_TYPE "text/plain; version=0.0.4"

static void check_json(const struct response *r)
{
    json_error_t err;
    CHECK(type_is(r, JSON_TYPE), "%d type '%s'", r->status, r->type);
    if (!r->body || !r->len)
        return; /* HEAD */
    json_t *j = json_loadb(r->body, r->len, 0, &err);
    CHECK(json_is_object(j), "not JSON: %s: %.*s", err.text, (int)r->len,
          r->body);
    json_decref(j);
}

static void check_405(const struct response *r)
{
    CHECK(r->status == 405, "status %d, expected 405", r->status);
    check_json(r);
}

/* The answer to a write request (token on, a control path). */
static void check_control(const struct response *r, int auth, size_t body_len,
                          bool reload)
{
    if (auth != 1) {
        CHECK(r->status == 401, "status %d without the token", r->status);
    } else if (body_len > 4096) {
        CHECK(r->status == 413, "status %d for %zu bytes", r->status, body_len);
    } else if (reload) {
        /* The token is on only while draining: a reload is refused. */
        CHECK(r->status == 409, "reload status %d while draining", r->status);
    } else {
        CHECK(r->status == 200 || r->status == 202 || r->status == 404 ||
                  r->status == 409,
              "control status %d", r->status);
    }
    check_json(r);
}

static const struct {
    const char *path;
    bool checks;
    enum check_endpoint ep;
} routes[] = {
    {"/livez", true, CHECK_LIVEZ},   {"/healthz", true, CHECK_LIVEZ},
    {"/readyz", true, CHECK_READYZ}, {"/startupz", true, CHECK_STARTUPZ},
    {"/health", false, CHECK_LIVEZ},
};

/*
 * Checks the answer against the route README's table gives the request:
 * method, path (decoded as MHD does), query, authorization.
 */
static void check_answer(const struct response *r, const char *method,
                         const char *url, int auth, size_t body_len)
{
    bool read = !strcmp(method, "GET") || !strcmp(method, "HEAD");
    bool head = !strcmp(method, "HEAD");
    char *path = unescape(url, strcspn(url, "?"), false);
    bool reload = !strcmp(path, "/reload");
    bool control = !strncmp(path, "/probes/", 8) ||
                   !strncmp(path, "/services/", 10) || reload;
    struct query q;
    parse_query(url, &q);
    if (token[0] && control) {
        if (!strcmp(method, "POST"))
            check_control(r, auth, body_len, reload);
        else
            check_405(r);
        goto out;
    }
    if (!strcmp(path, "/metrics") || !strcmp(path, "/health/details")) {
        if (!read) {
            check_405(r);
        } else if (!strcmp(path, "/metrics")) {
            CHECK(r->status == 200 && type_is(r, METRICS_TYPE), "metrics");
            if (!head)
                check_metrics(&f, r->body, r->len);
        } else {
            CHECK(r->status == 200 && type_is(r, JSON_TYPE), "details");
            if (!head)
                check_details(&f, r->body, r->len);
        }
        goto out;
    }
    for (size_t i = 0; i < ARRAY_SIZE(routes); i++) {
        size_t n = strlen(routes[i].path);
        if (strncmp(path, routes[i].path, n) != 0)
            continue;
        if (path[n] == '/' && path[n + 1] && routes[i].checks) {
            if (!read) {
                check_405(r);
            } else {
                CHECK(type_is(r, TEXT_TYPE), "type '%s'", r->type);
                if (!head)
                    check_one(&f, routes[i].ep, path + n + 1, r->status,
                              r->body, r->len);
            }
            goto out;
        }
        if (path[n] != '\0')
            continue;
        if (!read) {
            check_405(r);
        } else if (!routes[i].checks) {
            CHECK(r->status == 200 || r->status == 503, "health %d", r->status);
            check_json(r);
        } else {
            CHECK(type_is(r, TEXT_TYPE), "type '%s'", r->type);
            if (!head)
                check_checks(
                    &f, routes[i].ep, q.verbose, (const char *const *)q.exclude,
                    q.any ? q.exclude_count : 0, r->status, r->body, r->len);
        }
        goto out;
    }
    /* The status page's files: exactly the bytes compiled in. */
    static const char *const page[][2] = {
        {"/", "text/html; charset=utf-8"},
        {"/ui/app.js", "text/javascript; charset=utf-8"},
        {"/ui/app.css", "text/css; charset=utf-8"},
    };
    for (size_t i = 0; i < ARRAY_SIZE(page); i++) {
        if (strcmp(path, page[i][0]) != 0)
            continue;
        if (!read) {
            check_405(r);
        } else {
            struct page_file pf = page_file(i);
            CHECK(r->status == 200 && type_is(r, page[i][1]), "page %d '%s'",
                  r->status, r->type);
            CHECK(head || (r->len == pf.len &&
                           memcmp(r->body, pf.data, pf.len) == 0),
                  "%s: %zu bytes, not the %zu compiled in", path, r->len,
                  pf.len);
        }
        goto out;
    }
    CHECK(r->status == 404, "status %d for '%s', expected 404", r->status,
          path);
    check_json(r);
out:
    free_query(&q);
    free(path);
}

/* After a push to batch, ?verbose shows its reason on its one line. */
static void check_after_push(void)
{
    struct buf b;
    buf_init(&b, BODY_MAX);
    int status = checks_render(&f.view, CHECK_READYZ, true, NULL, 0, &b);
    check_checks(&f, CHECK_READYZ, true, NULL, 0, status, b.data, b.len);
    buf_free(&b);
}

/* A header line as MHD and any proxy read it alike: a token, a colon,
 * then visible bytes, spaces or tabs (up to an optional CR). */
static bool plain_header(const char *p, size_t n)
{
    size_t i = 0;
    if (n && p[n - 1] == '\r')
        n--;
    while (i < n && (isalnum((unsigned char)p[i]) || p[i] == '-'))
        i++;
    if (i == 0 || i == n || p[i] != ':')
        return false;
    for (i++; i < n; i++) {
        unsigned char c = (unsigned char)p[i];
        if ((c < 0x20 && c != '\t') || c == 0x7f)
            return false;
    }
    return true;
}

/*
 * Counts the header lines named name in the header block at p (after the
 * request line, up to the first empty line; CR LF or LF). -1 when a line
 * is not plain_header(): MHD's reading of it is its own (a line opening
 * with ':' ends its block, say), not a question of length.
 */
static int count_headers(const char *p, size_t n, const char *name)
{
    int count = 0;
    size_t k = strlen(name);
    const char *end = p + n;
    const char *eol = memchr(p, '\n', n);
    for (p = eol ? eol + 1 : end; p < end; p = eol + 1) {
        eol = memchr(p, '\n', (size_t)(end - p));
        if (!eol)
            return -1; /* partial: MHD has not read it whole either */
        if (eol == p || (eol == p + 1 && *p == '\r'))
            return count;
        if (!plain_header(p, (size_t)(eol - p)))
            return -1;
        count += (size_t)(eol - p) > k && p[k] == ':' &&
                 strncasecmp(p, name, k) == 0;
    }
    return -1;
}

/* True when every status line in raw is a refusal (MHD's or ours). */
static bool only_refusals(const struct text *raw)
{
    if (raw->data == NULL)
        return true;
    const char *end = raw->data + raw->len;
    for (const char *p = strstr(raw->data, "HTTP/1."); p;
         p = strstr(p + 1, "HTTP/1.")) {
        /* A status line: at the start or after a newline, and whole. */
        if ((p != raw->data && p[-1] != '\n') || end - p < 12)
            continue;
        int status = atoi(p + 9);
        if (status != 400 && status != 414 && status != 431 && status != 505)
            return false;
    }
    return true;
}

/*
 * An empty URL: the rest of the input is sent as it is (requests, maybe
 * several, maybe partial), then the client half-closes. What comes back
 * is HTTP responses; a request whose length is ambiguous (two
 * Content-Length or Transfer-Encoding headers, or one of each) is refused, and
 * nothing after it is answered: a request smuggled in its body must never
 * be.
 */
static void check_raw(const uint8_t *p, size_t n)
{
    struct text raw = exchange((const char *)p, n, true);
    if (getenv("FUZZ_DEBUG"))
        fprintf(stderr, "%.*s\n%s\n", (int)n, (const char *)p, raw.data);
    CHECK(raw.len == 0 || strncmp(raw.data, "HTTP/1.", 7) == 0,
          "not an HTTP response: '%.40s'", raw.data);
    const char *req = (const char *)p;
    int lengths = count_headers(req, n, "Content-Length");
    int encodings = count_headers(req, n, "Transfer-Encoding");
    bool ambiguous =
        n && req[0] >= 'A' && req[0] <= 'Z' &&
        (lengths > 1 || encodings > 1 || (lengths > 0 && encodings > 0));
    /* MHD 0.9.75 may send the header block of its own 400 twice (a bare
     * CR in Content-Length's value): refusals only, not one answer. */
    CHECK(!ambiguous || only_refusals(&raw),
          "an answer past an ambiguous length: '%s'", raw.data);
    free(raw.data);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const auths[] = {
        "", "Authorization: Bearer " TOKEN "\r\n",
        "Authorization: Bearer nope\r\n", "Authorization: Bearer s3cre\r\n"};
    struct input in = {data, size};
    uint8_t flags = take_byte(&in);
    const char *method = methods[take_byte(&in) % ARRAY_SIZE(methods)];
    int auth = (flags >> 1) & 3;
    char *raw_url = take_string(&in);
    struct text url = {NULL, 0, 0};
    struct text req = {NULL, 0, 0};
    char head[256];

    build_state(flags);
    http_server_refresh(srv);
    if (!raw_url[0]) {
        check_raw(in.p, in.n);
        goto out;
    }
    /*
     * The URL on the request line: what cannot go there as %XX. At most
     * ARGS_MAX arguments when fuzzing: more overflow MHD's memory pool,
     * and it then takes a second to close (see rearm() in api/http.c),
     * which would slow fuzzing down a hundredfold once found. Replaying
     * (test/fuzz/run sets FUZZ_REPLAY) takes the URL whole.
     */
    text_add(&url, "", 0);
    size_t args = 0;
    for (size_t i = 0; raw_url[i] && i < URL_BYTES; i++) {
        unsigned char c = (unsigned char)raw_url[i];
        char esc[4];
        args += c == '&';
        if (args >= ARGS_MAX && !replay)
            break;
        snprintf(esc, sizeof(esc), "%%%02X", c);
        text_add(&url, c <= 0x20 || c >= 0x7f ? esc : raw_url + i,
                 c <= 0x20 || c >= 0x7f ? 3 : 1);
    }
    if (!url.len || url.data[0] != '/')
        goto out; /* MHD's business, not ours */
    snprintf(head, sizeof(head),
             " HTTP/1.1\r\nHost: fuzz\r\nConnection: close\r\n%s"
             "Content-Length: %zu\r\n\r\n",
             auths[auth], in.n);
    text_add(&req, method, strlen(method));
    text_add(&req, " ", 1);
    text_add(&req, url.data, url.len);
    text_add(&req, head, strlen(head));
    text_add(&req, in.p, in.n);
    struct text raw = exchange(req.data, req.len, false);
    if (getenv("FUZZ_DEBUG"))
        fprintf(stderr, "%s\n%s\n", req.data, raw.data);
    if (raw.len == 0) {
        /* MHD closes without a word (not even its 431) a request whose
         * arguments outgrow its memory pool: hundreds, or long ones. */
        CHECK(args >= 150 || url.len > 4096, "no answer to '%s'", url.data);
        free(raw.data);
        goto out;
    }
    struct response r = parse_response(&raw, !strcmp(method, "HEAD"));
    /* MHD's own refusals (a URL past its memory limit, say) are fine. */
    if (r.status != 414 && r.status != 431 && r.status != 400)
        check_answer(&r, method, url.data, auth, in.n);
    if (token[0] && auth == 1 && !strcmp(method, "POST"))
        check_after_push();
    free(raw.data);
out:
    free(req.data);
    free(url.data);
    free(raw_url);
    return 0;
}
