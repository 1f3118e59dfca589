/*
 * `sidecar status`'s client. The API serves plain HTTP, so an http:// URL
 * is fetched by a small blocking HTTP/1.1 GET over a socket, under one
 * deadline, its answer read by the http probes' parser (probes/httpwire.h,
 * which ends it at its length or last chunk): the command never maps libcurl
 * (about 8 MB and most of its start-up). An https:// URL (a TLS proxy in front)
 * goes through libcurl, loaded then (probes/curlapi.h).
 */
#define _DEFAULT_SOURCE /* SOCK_NONBLOCK, SOCK_CLOEXEC */
#include "cli/status.h"

#include <errno.h>
#include <jansson.h>
#include <netdb.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "base/buf.h"
#include "probes/curlapi.h"
#include "probes/httpwire.h"

#define STATUS_BODY_MAX   ((size_t)4 * 1024 * 1024)
#define STATUS_TIMEOUT_MS 3000L
#define STATUS_HOST_MAX   256

static int ATTR_FMT(2, 3) failed(const char *url, const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "sidecar status: %s: ", url);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return -1;
}

static long long now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Waits for events on fd until the deadline: 0, -ETIMEDOUT or -errno. */
static int wait_for(int fd, short events, long long deadline)
{
    for (;;) {
        long long left = deadline - now_ms();
        struct pollfd p = {.fd = fd, .events = events};

        if (left <= 0)
            return -ETIMEDOUT;
        int n = poll(&p, 1, (int)left);
        if (n > 0)
            return 0;
        if (n == 0)
            return -ETIMEDOUT;
        if (errno != EINTR)
            return -errno;
    }
}

/* A connected socket to one of ai's addresses, tried in turn. */
static int dial(struct addrinfo *ai, long long deadline, int *out)
{
    int rc = -ECONNREFUSED;

    for (struct addrinfo *a = ai; a; a = a->ai_next) {
        int fd = socket(a->ai_family,
                        a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        int err = 0;
        socklen_t len = sizeof(err);

        if (fd < 0) {
            rc = -errno;
            continue;
        }
        if (connect(fd, a->ai_addr, a->ai_addrlen) == 0) {
            *out = fd;
            return 0;
        }
        rc = errno == EINPROGRESS ? wait_for(fd, POLLOUT, deadline) : -errno;
        if (rc == 0 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
            err = errno;
        if (rc == 0 && err == 0) {
            *out = fd;
            return 0;
        }
        if (rc == 0)
            rc = -err;
        close(fd);
        if (rc == -ETIMEDOUT)
            break;
    }
    return rc;
}

static int send_all(int fd, const char *p, size_t n, long long deadline)
{
    while (n > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);

        if (w < 0 && errno == EAGAIN) {
            int rc = wait_for(fd, POLLOUT, deadline);
            if (rc < 0)
                return rc;
            continue;
        }
        if (w < 0 && errno != EINTR)
            return -errno;
        if (w > 0) {
            p += w;
            n -= (size_t)w;
        }
    }
    return 0;
}

/* The parser's body sink: the body into a buf; false past its cap. */
static bool keep_body(void *arg, const char *data, size_t n)
{
    return buf_append(arg, data, n) == 0;
}

/*
 * Reads the answer into w (its body into body) until it is complete: at
 * its length, its last chunk or the close, as libcurl read it. 0,
 * -ENOBUFS past body's cap, -EPROTO (w says why), -ETIMEDOUT or -errno.
 */
static int recv_answer(int fd, struct httpwire *w, struct buf *body,
                       long long deadline)
{
    char chunk[16384];

    httpwire_init(w, NULL, 0, NULL, 0, false);
    httpwire_sink(w, keep_body, body);
    for (;;) {
        ssize_t r = recv(fd, chunk, sizeof(chunk), 0);
        enum httpwire_result res;

        if (r < 0 && errno == EAGAIN) {
            int rc = wait_for(fd, POLLIN, deadline);
            if (rc < 0)
                return rc;
            continue;
        }
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return -errno;
        res = r == 0 ? httpwire_eof(w) : httpwire_feed(w, chunk, (size_t)r);
        if (res == HTTPWIRE_DONE)
            return w->truncated ? -ENOBUFS : 0;
        if (res == HTTPWIRE_FAILED)
            return -EPROTO;
    }
}

/* Splits "http://host[:port][/path]" (host may be "[v6]"). */
static int split_url(const char *url, char *host, char *port, const char **path)
{
    const char *h = url + strlen("http://");
    const char *h_end;
    const char *p = h + strcspn(h, "/?#");

    *path = p;
    if (*h == '[') {
        h_end = memchr(h, ']', (size_t)(p - h));
        if (!h_end)
            return -1;
        h++;
    } else {
        h_end = memchr(h, ':', (size_t)(p - h));
        if (!h_end)
            h_end = p;
    }
    if (h_end == h || (size_t)(h_end - h) >= STATUS_HOST_MAX)
        return -1;
    memcpy(host, h, (size_t)(h_end - h));
    host[h_end - h] = '\0';
    h_end += *h_end == ']';
    if (h_end < p && *h_end == ':') {
        size_t n = (size_t)(p - h_end - 1);
        if (n == 0 || n > 5 || strspn(h_end + 1, "0123456789") < n)
            return -1;
        memcpy(port, h_end + 1, n);
        port[n] = '\0';
    } else if (h_end == p) {
        strcpy(port, "80");
    } else {
        return -1;
    }
    return 0;
}

/* GET an http:// url into body; 0 or -1 (with a message on stderr). */
static int fetch_plain(const char *url, struct buf *body)
{
    char host[STATUS_HOST_MAX];
    char port[6];
    const char *path;
    long long deadline = now_ms() + STATUS_TIMEOUT_MS;
    struct httpwire wire;
    char why[128];
    struct buf req;
    int fd = -1;

    if (split_url(url, host, port, &path) < 0)
        return failed(url, "%s", "not a URL http://HOST[:PORT][/PATH]");
    buf_init(&req, 4096);
    int rc =
        buf_printf(&req,
                   "GET %s%s HTTP/1.1\r\nHost: %s%s%s:%s\r\n"
                   "User-Agent: sidecar/" SIDECAR_VERSION "\r\n"
                   "Accept: application/json\r\nConnection: close\r\n\r\n",
                   *path == '/' ? "" : "/", path, strchr(host, ':') ? "[" : "",
                   host, strchr(host, ':') ? "]" : "", port);
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_NUMERICSERV};
    struct addrinfo *ai = NULL;
    int gai = getaddrinfo(host, port, &hints, &ai);
    if (gai != 0) {
        buf_free(&req);
        return failed(url, "cannot resolve %s: %s", host, gai_strerror(gai));
    }
    if (rc == 0)
        rc = dial(ai, deadline, &fd);
    freeaddrinfo(ai);
    if (rc == 0)
        rc = send_all(fd, req.data, req.len, deadline);
    if (rc == 0)
        rc = recv_answer(fd, &wire, body, deadline);
    if (fd >= 0)
        close(fd);
    buf_free(&req);
    if (rc == -ETIMEDOUT)
        return failed(url, "timed out after %lds", STATUS_TIMEOUT_MS / 1000);
    if (rc == -ENOBUFS)
        return failed(url, "%s", "the answer is larger than 4 MiB");
    if (rc == -EPROTO) {
        httpwire_reason(&wire, why, sizeof(why));
        return failed(url, "%s", why);
    }
    if (rc < 0)
        return failed(url, "%s", strerror(-rc));
    if (wire.status != 200)
        return failed(url, "HTTP %d", wire.status);
    return 0;
}

static size_t on_data(char *p, size_t size, size_t n, void *arg)
{
    return buf_append(arg, p, size * n) == 0 ? size * n : 0;
}

/* GET an https:// url into body through libcurl; as fetch_plain. */
static int fetch_curl(const char *url, struct buf *body)
{
    char err[CURL_ERROR_SIZE] = "";
    CURL *easy;
    CURLcode rc;
    long code = 0;

    if (curlapi_load() < 0)
        return failed(url, "%s", curlapi_error());
    easy = curlapi.easy_init();
    if (!easy)
        return failed(url, "%s", "out of memory");
    rc = curlapi.easy_setopt(easy, CURLOPT_URL, url);
    if (rc == CURLE_OK)
        rc = curlapi.easy_setopt(easy, CURLOPT_TIMEOUT_MS, STATUS_TIMEOUT_MS);
    if (rc == CURLE_OK)
        rc = curlapi.easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
    if (rc == CURLE_OK)
        rc = curlapi.easy_setopt(easy, CURLOPT_ERRORBUFFER, err);
    if (rc == CURLE_OK)
        rc = curlapi.easy_setopt(easy, CURLOPT_WRITEFUNCTION, on_data);
    if (rc == CURLE_OK)
        rc = curlapi.easy_setopt(easy, CURLOPT_WRITEDATA, body);
    if (rc == CURLE_OK)
        rc = curlapi.easy_perform(easy);
    if (rc == CURLE_OK)
        rc = curlapi.easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &code);
    curlapi.easy_cleanup(easy);
    curlapi_cleanup();
    if (rc != CURLE_OK)
        return failed(url, "%s", err[0] ? err : curlapi.easy_strerror(rc));
    if (code != 200)
        return failed(url, "HTTP %ld", code);
    return 0;
}

static int fetch(const char *url, struct buf *body)
{
    if (strncasecmp(url, "http://", 7) == 0)
        return fetch_plain(url, body);
    if (strncasecmp(url, "https://", 8) == 0)
        return fetch_curl(url, body);
    return failed(url, "%s", "only http:// and https:// URLs");
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

/*
 * A service's own words: no control reaches the terminal, C0, DEL or C1
 * (U+0080-U+009F, bytes C2 80-9F: U+009B is CSI to xterm and others).
 */
static void print_status_text(const char *text, FILE *out)
{
    fprintf(out, "%-24s status: ", "");
    for (const unsigned char *p = (const unsigned char *)text; *p; p++) {
        bool c1 = p[0] == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f;
        fputc(*p < 0x20 || *p == 0x7f || c1 ? '?' : *p, out);
        p += c1;
    }
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
    int rc = fetch(url, &body);
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
