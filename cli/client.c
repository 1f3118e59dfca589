/*
 * The commands' HTTP client: a blocking HTTP/1.1 exchange over a socket
 * under one deadline, its answer read by the http probes' parser (which
 * ends it at its length or last chunk), or libcurl for https.
 */
#define _DEFAULT_SOURCE /* SOCK_NONBLOCK, SOCK_CLOEXEC */
#include "cli/client.h"

#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "conf/parse.h"
#include "probes/curlapi.h"
#include "probes/httpwire.h"

#define HOST_MAX 256

static int ATTR_FMT(2, 3) failed(struct client_answer *a, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(a->error, sizeof(a->error), fmt, ap);
    va_end(ap);
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

/* One answer being read: where its body goes. */
struct reading {
    const struct client_request *rq;
    struct client_answer *a;
    int (*status)(const struct reading *r); /* the final status so far */
    const struct httpwire *wire;
    void *easy;
    bool streaming; /* a 200's body is going to the sink */
};

/* A 200's body to the request's sink, any other into the answer's buf. */
static bool on_body(struct reading *r, const char *data, size_t n)
{
    if (r->rq->sink && r->status(r) == 200) {
        r->streaming = true;
        if (r->rq->sink(r->rq->sink_arg, data, n))
            return true;
        r->a->stopped = true;
        return false;
    }
    return buf_append(&r->a->body, data, n) == 0;
}

static int wire_status(const struct reading *r)
{
    return r->wire->status;
}

static bool keep_body(void *arg, const char *data, size_t n)
{
    return on_body(arg, data, n);
}

/*
 * Reads the answer into w until it is complete: at its length, its last
 * chunk or the close, as libcurl read it. 0, -ENOBUFS past the body's
 * cap, -ECANCELED when the sink stopped it, -EPROTO (w says why),
 * -ETIMEDOUT or -errno. A stream waits CLIENT_IDLE_MS for each read.
 */
static int recv_answer(int fd, struct reading *r, struct httpwire *w,
                       long long deadline)
{
    char chunk[16384];

    httpwire_init(w, NULL, 0, NULL, 0, false);
    httpwire_sink(w, keep_body, r);
    for (;;) {
        ssize_t n = recv(fd, chunk, sizeof(chunk), 0);
        enum httpwire_result res;

        if (n < 0 && errno == EAGAIN) {
            int rc = wait_for(fd, POLLIN, deadline);
            if (rc < 0)
                return rc;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -errno;
        res = n == 0 ? httpwire_eof(w) : httpwire_feed(w, chunk, (size_t)n);
        if (r->streaming)
            deadline = now_ms() + CLIENT_IDLE_MS;
        if (res == HTTPWIRE_DONE && r->a->stopped)
            return -ECANCELED;
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
    for (const char *c = url; *c; c++) {
        if ((unsigned char)*c <= ' ' || *c == 0x7f)
            return -1; /* nothing that could end the request line */
    }
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
    if (h_end == h || (size_t)(h_end - h) >= HOST_MAX)
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

/* The request's bytes: head, then the body as it is. */
static int put_request(struct buf *req, const struct client_request *rq,
                       const char *host, const char *port, const char *path)
{
    bool v6 = strchr(host, ':') != NULL;
    int rc = buf_printf(req,
                        "%s %s%s HTTP/1.1\r\nHost: %s%s%s:%s\r\n"
                        "User-Agent: sidecar/" SIDECAR_VERSION "\r\n"
                        "Accept: %s\r\nConnection: close\r\n",
                        rq->method, *path == '/' ? "" : "/", path,
                        v6 ? "[" : "", host, v6 ? "]" : "", port, rq->accept);
    if (rc == 0 && rq->token)
        rc = buf_printf(req, "Authorization: Bearer %s\r\n", rq->token);
    if (rc == 0 && strcmp(rq->method, "GET") != 0)
        rc = buf_printf(req,
                        "Content-Type: text/plain; charset=utf-8\r\n"
                        "Content-Length: %zu\r\n",
                        rq->body_len);
    if (rc == 0)
        rc = buf_puts(req, "\r\n");
    if (rc == 0 && rq->body_len)
        rc = buf_append(req, rq->body, rq->body_len);
    return rc;
}

static int request_plain(const struct client_request *rq,
                         struct client_answer *a)
{
    char host[HOST_MAX];
    char port[6];
    const char *path;
    long long deadline = now_ms() + CLIENT_TIMEOUT_MS;
    struct httpwire wire = {.status = 0}; /* 0 until an answer is read */
    struct reading r = {rq, a, wire_status, &wire, NULL, false};
    struct buf req;
    int fd = -1;

    if (split_url(rq->url, host, port, &path) < 0)
        return failed(a, "%s", "not a URL http://HOST[:PORT][/PATH]");
    buf_init(&req, CLIENT_BODY_MAX);
    int rc = put_request(&req, rq, host, port, path);
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_NUMERICSERV};
    struct addrinfo *ai = NULL;
    int gai = rc == 0 ? getaddrinfo(host, port, &hints, &ai) : 0;
    if (gai != 0) {
        buf_free(&req);
        return failed(a, "cannot resolve %s: %s", host, gai_strerror(gai));
    }
    if (rc == 0)
        rc = dial(ai, deadline, &fd);
    freeaddrinfo(ai);
    if (rc == 0)
        rc = send_all(fd, req.data, req.len, deadline);
    if (rc == 0)
        rc = recv_answer(fd, &r, &wire, deadline);
    if (fd >= 0)
        close(fd);
    buf_free(&req);
    a->status = wire.status;
    if (rc == -ETIMEDOUT && r.streaming)
        return failed(a, "nothing came for %lds", CLIENT_IDLE_MS / 1000);
    if (rc == -ETIMEDOUT)
        return failed(a, "timed out after %lds", CLIENT_TIMEOUT_MS / 1000);
    if (rc == -ENOBUFS)
        return failed(a, "%s", "the answer is larger than 4 MiB");
    if (rc == -EPROTO) {
        httpwire_reason(&wire, a->error, sizeof(a->error));
        return -1;
    }
    if (rc < 0)
        return failed(a, "%s", strerror(-rc));
    return 0;
}

static int curl_status(const struct reading *r)
{
    long code = 0;

    if (curlapi.easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &code) !=
        CURLE_OK)
        return 0;
    return (int)code;
}

static size_t on_data(char *p, size_t size, size_t n, void *arg)
{
    return on_body(arg, p, size * n) ? size * n : 0;
}

/* The request through libcurl (https); as request_plain. */
static int request_curl(const struct client_request *rq,
                        struct client_answer *a)
{
    char err[CURL_ERROR_SIZE] = "";
    struct curl_slist *headers = NULL;
    struct reading r = {rq, a, curl_status, NULL, NULL, false};
    struct buf line;
    CURLcode rc = CURLE_OUT_OF_MEMORY;
    long code = 0;

    if (curlapi_load() < 0)
        return failed(a, "%s", curlapi_error());
    r.easy = curlapi.easy_init();
    if (!r.easy)
        return failed(a, "%s", "out of memory");
    buf_init(&line, 8192);
    /* The token in a header only: never in the URL nor an argv. */
    if (buf_printf(&line, "Accept: %s%c", rq->accept, '\0') == 0)
        headers = curlapi.slist_append(NULL, line.data);
    buf_truncate(&line, 0);
    if (headers && rq->token &&
        (buf_printf(&line, "Authorization: Bearer %s%c", rq->token, '\0') < 0 ||
         !curlapi.slist_append(headers, line.data))) {
        curlapi.slist_free_all(headers);
        headers = NULL;
    }
    buf_free(&line);
    if (headers)
        rc = curlapi.easy_setopt(r.easy, CURLOPT_URL, rq->url);
    if (rc == CURLE_OK)
        rc = curlapi.easy_setopt(r.easy, CURLOPT_HTTPHEADER, headers);
    if (rc == CURLE_OK)
        rc = curlapi.easy_setopt(r.easy, CURLOPT_CONNECTTIMEOUT_MS,
                                 CLIENT_TIMEOUT_MS);
    if (rc == CURLE_OK && !rq->sink)
        rc = curlapi.easy_setopt(r.easy, CURLOPT_TIMEOUT_MS, CLIENT_TIMEOUT_MS);
    if (rc == CURLE_OK && rq->sink)
        rc = curlapi.easy_setopt(r.easy, CURLOPT_LOW_SPEED_LIMIT, 1L);
    if (rc == CURLE_OK && rq->sink)
        rc = curlapi.easy_setopt(r.easy, CURLOPT_LOW_SPEED_TIME,
                                 CLIENT_IDLE_MS / 1000);
    if (rc == CURLE_OK && strcmp(rq->method, "GET") != 0)
        rc = curlapi.easy_setopt(r.easy, CURLOPT_POST, 1L);
    if (rc == CURLE_OK && strcmp(rq->method, "GET") != 0)
        rc = curlapi.easy_setopt(r.easy, CURLOPT_POSTFIELDSIZE,
                                 (long)rq->body_len);
    if (rc == CURLE_OK && strcmp(rq->method, "GET") != 0)
        rc = curlapi.easy_setopt(r.easy, CURLOPT_POSTFIELDS,
                                 rq->body ? rq->body : "");
    if (rc == CURLE_OK)
        rc = curlapi.easy_setopt(r.easy, CURLOPT_NOSIGNAL, 1L);
    if (rc == CURLE_OK)
        rc = curlapi.easy_setopt(r.easy, CURLOPT_ERRORBUFFER, err);
    if (rc == CURLE_OK)
        rc = curlapi.easy_setopt(r.easy, CURLOPT_WRITEFUNCTION, on_data);
    if (rc == CURLE_OK)
        rc = curlapi.easy_setopt(r.easy, CURLOPT_WRITEDATA, &r);
    if (rc == CURLE_OK)
        rc = curlapi.easy_perform(r.easy);
    if (curlapi.easy_getinfo(r.easy, CURLINFO_RESPONSE_CODE, &code) == CURLE_OK)
        a->status = (int)code;
    curlapi.easy_cleanup(r.easy);
    curlapi.slist_free_all(headers);
    curlapi_cleanup();
    if (rc == CURLE_WRITE_ERROR && a->stopped)
        return failed(a, "%s", strerror(ECANCELED));
    if (rc == CURLE_WRITE_ERROR)
        return failed(a, "%s", "the answer is larger than 4 MiB");
    if (rc != CURLE_OK)
        return failed(a, "%s", err[0] ? err : curlapi.easy_strerror(rc));
    return 0;
}

int client_request(const struct client_request *rq, struct client_answer *a)
{
    *a = (struct client_answer){.status = 0};
    buf_init(&a->body, CLIENT_BODY_MAX);
    /* Nothing that could end the header and start another. */
    if (rq->token && cfg_token_bad_byte(rq->token) >= 0)
        return failed(a, "%s",
                      "the token holds a blank or a control character");
    if (strncasecmp(rq->url, "http://", 7) == 0)
        return request_plain(rq, a);
    if (strncasecmp(rq->url, "https://", 8) == 0)
        return request_curl(rq, a);
    return failed(a, "%s", "only http:// and https:// URLs");
}

void client_answer_free(struct client_answer *a)
{
    buf_free(&a->body);
}

int client_url(struct buf *url, const char *base, const char *path)
{
    size_t n = strlen(base);

    while (n && base[n - 1] == '/')
        n--;
    int rc = buf_append(url, base, n);
    if (rc == 0)
        rc = buf_puts(url, path);
    return rc == 0 ? buf_append(url, "", 1) : rc;
}
