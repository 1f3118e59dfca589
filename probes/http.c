/*
 * The http probe kind on libcurl, for what the native transport
 * (httpnative.c) does not do: https, an IPv6 zone, credentials holding
 * '@' (kind_of() in probe.c picks; or probe_rekind(), for a plain probe
 * redirected to https). One easy handle
 * per probe, configured once from its cfg_probe and run on the prober's
 * curlm. A run passes when the status is in expect_status (default
 * 200-399) and the body, of which the first 64 KiB are read, contains
 * expect_body. Only a probe with expect_body
 * keeps the body; every probe keeps the excerpt a failure quotes, built
 * as the body arrives, in its own struct. Redirects are followed by hand,
 * by httpcheck_redirect()'s rule (curl's FOLLOWLOCATION knows no
 * same-host): the handle runs again with the next URL on the same curlm,
 * under the run's one deadline. TLS is verified unless insecure.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf/parse.h"
#include "probes/curlapi.h"
#include "probes/curlkind.h"
#include "probes/curlm.h"
#include "probes/httpcheck.h"
#include "probes/probe.h"

#define HTTP_BODY_MAX  HTTPCHECK_BODY_MAX
#define HTTP_BODY_KEEP 4096 /* expect_body's buffer kept between runs */

struct http {
    struct probe *p;
    struct curlkind_run run;    /* the easy handle, kept across runs */
    struct curl_slist *headers; /* built once */
    struct curl_slist *foreign; /* to another host: built at the first */
    char *body;                 /* with expect_body only */
    size_t len;                 /* body bytes read (kept, with expect_body) */
    size_t cap;
    bool truncated; /* stopped reading at HTTP_BODY_MAX (or no memory) */
    bool moved;     /* the handle holds a redirect's URL or method */
    unsigned hops;  /* redirects this run followed */
    /* Nothing of p->cfg is held across a run: a reload that keeps the
     * probe frees the config the run began with (p->cfg is the new one). */
    bool as_get; /* a 301-303 made the request under way a GET */
    struct httpcheck_excerpt excerpt; /* built as the body arrives */
    char errbuf[CURL_ERROR_SIZE];
};

/* CURLOPT_WRITEFUNCTION: reads the first HTTP_BODY_MAX bytes (keeps them
 * for expect_body), then stops the transfer (CURLE_WRITE_ERROR, read as
 * a complete response). */
static size_t on_body(char *data, size_t size, size_t nmemb, void *userp)
{
    struct http *h = userp;
    size_t n = size * nmemb;
    size_t take = HTTP_BODY_MAX - h->len;

    if (take > n)
        take = n;
    httpcheck_excerpt_add(&h->excerpt, data, take);
    if (h->p->cfg->expect_body == NULL) {
        h->len += take;
        if (take < n)
            h->truncated = true;
        return take;
    }
    if (h->len + take > h->cap) {
        size_t cap = h->cap ? h->cap : HTTP_BODY_KEEP;
        char *body;

        while (cap < h->len + take)
            cap *= 2;
        if (cap > HTTP_BODY_MAX)
            cap = HTTP_BODY_MAX;
        body = realloc(h->body, cap);
        if (body == NULL) {
            h->truncated = true;
            return 0;
        }
        h->body = body;
        h->cap = cap;
    }
    memcpy(h->body + h->len, data, take);
    h->len += take;
    if (take < n)
        h->truncated = true;
    return take;
}

/* Words the outcome of a finished transfer; true when it passes. */
static bool judge(struct http *h, CURLcode result, char *reason, size_t len)
{
    const struct cfg_probe *cfg = h->p->cfg;
    long status = 0;

    if (result == CURLE_WRITE_ERROR && h->truncated)
        result = CURLE_OK; /* we stopped reading, not curl */
    if (result != CURLE_OK) {
        curlkind_failure(reason, len, cfg, result, h->errbuf);
        return false;
    }
    if (curlapi.easy_getinfo(h->run.xfer.easy, CURLINFO_RESPONSE_CODE,
                             &status) != CURLE_OK)
        status = 0;
    return httpcheck_verdict(cfg, status, h->body, h->len, h->truncated,
                             &h->excerpt, reason, len);
}

/* One header of httpcheck_headers() into the list; "Name:" (an empty
 * value) removes curl's own header of that name and sends nothing. */
struct slist_out {
    struct curl_slist *list;
    bool lost; /* no memory for one */
};

static void add_header(void *arg, const char *name, const char *value)
{
    struct slist_out *out = arg;
    size_t n = strlen(name) + strlen(value) + 3;
    char *line = malloc(n);
    struct curl_slist *list = NULL;

    if (line != NULL) {
        snprintf(line, n, "%s:%s%s", name, value[0] ? " " : "", value);
        list = curlapi.slist_append(out->list, line);
        free(line);
    }
    if (list == NULL)
        out->lost = true;
    else
        out->list = list;
}

/* cfg's headers into *list: 0, or -ENOMEM (*list then freed, NULL). */
static int build_headers(const struct cfg_probe *cfg, struct curl_slist **list)
{
    struct slist_out out = {NULL, false};

    httpcheck_headers(cfg, add_header, &out);
    if (out.lost) {
        curlapi.slist_free_all(out.list);
        out.list = NULL;
    }
    *list = out.list;
    return out.lost ? -ENOMEM : 0;
}

/* The headers for another host, without credentials, built once. */
static struct curl_slist *foreign_headers(struct http *h)
{
    const struct cfg_probe *cfg = h->p->cfg;
    struct cfg_probe less = *cfg;

    if (h->foreign != NULL || cfg->headers_count == 0)
        return h->foreign ? h->foreign : h->headers;
    less.headers = calloc(cfg->headers_count, sizeof(*less.headers));
    if (less.headers == NULL)
        return NULL;
    less.headers_count = httpcheck_foreign_headers(cfg, less.headers);
    if (build_headers(&less, &h->foreign) < 0)
        h->foreign = NULL;
    free(less.headers);
    return h->foreign;
}

static int http_send(struct http *h, const char *url);

/* The method of the request under way. */
static const char *method_of(const struct http *h)
{
    return h->as_get ? "GET" : h->p->cfg->method;
}

/*
 * A redirect httpcheck_redirect() says to follow: the same handle again,
 * with curl's resolved Location. 0, or -errno with reason set.
 */
static int follow(struct http *h, const char *target, const char *method,
                  char *reason, size_t len)
{
    CURL *e = h->run.xfer.easy;
    bool to_get = strcmp(method, method_of(h)) != 0;
    char shown[HTTPCHECK_URL_MAX];
    CURLcode rc;
    int err;

    struct curl_slist *headers = h->headers;

    if (httpcheck_foreign(h->p->cfg, target))
        headers = foreign_headers(h);
    h->moved = true;
    rc = headers ? curlapi.easy_setopt(e, CURLOPT_URL, target)
                 : CURLE_OUT_OF_MEMORY;
    if (rc == CURLE_OK)
        rc = curlapi.easy_setopt(e, CURLOPT_HTTPHEADER, headers);
    if (rc == CURLE_OK && to_get)
        rc = curlapi.easy_setopt(e, CURLOPT_HTTPGET, 1L);
    if (rc == CURLE_OK && to_get)
        rc = curlapi.easy_setopt(e, CURLOPT_CUSTOMREQUEST, NULL);
    h->as_get = h->as_get || to_get;
    err = rc == CURLE_OK ? http_send(h, target) : -ENOMEM;
    if (err < 0) {
        httpcheck_url_shown(target, shown, sizeof(shown));
        snprintf(reason, len, "cannot follow the redirect to %s: %s", shown,
                 strerror(-err));
    }
    return err;
}

static void on_done(CURL *easy, CURLcode result, void *arg)
{
    struct http *h = arg;
    char reason[PROBE_REASON_MAX];
    const char *method = method_of(h);
    char *target = NULL;
    long status = 0;
    bool ok = false;

    if (result == CURLE_OK &&
        curlapi.easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status) ==
            CURLE_OK &&
        curlapi.easy_getinfo(easy, CURLINFO_REDIRECT_URL, &target) != CURLE_OK)
        target = NULL;
    switch (httpcheck_redirect(h->p->cfg, status, target, &h->hops, &method,
                               reason, sizeof(reason))) {
    case HTTPCHECK_FOLLOW:
        if (follow(h, target, method, reason, sizeof(reason)) == 0)
            return;
        break;
    case HTTPCHECK_PASS:
        ok = true;
        break;
    case HTTPCHECK_FAIL:
        break;
    case HTTPCHECK_JUDGE:
        ok = judge(h, result, reason, sizeof(reason));
        break;
    }
    if (h->cap > HTTP_BODY_KEEP) {
        free(h->body);
        h->body = NULL;
        h->cap = 0;
    }
    h->len = 0;
    /* Last: the core may start, cancel or destroy anything from here. */
    probe_report(h->p, ok, "%s", reason);
}

static CURLcode set_method(CURL *easy, const char *method)
{
    CURLcode rc = CURLE_OK;

    if (strcmp(method, "GET") == 0)
        return CURLE_OK;
    if (strcmp(method, "HEAD") == 0)
        return curlapi.easy_setopt(easy, CURLOPT_NOBODY, 1L);
    /* Requests that usually carry a body get an empty one
     * ("Content-Length: 0"), as kubelet's Go client sends. */
    if (strcmp(method, "POST") == 0 || strcmp(method, "PUT") == 0 ||
        strcmp(method, "PATCH") == 0) {
        rc = curlapi.easy_setopt(easy, CURLOPT_POSTFIELDS, "");
        if (rc == CURLE_OK)
            rc = curlapi.easy_setopt(easy, CURLOPT_POSTFIELDSIZE, 0L);
    }
    if (rc == CURLE_OK)
        rc = curlapi.easy_setopt(easy, CURLOPT_CUSTOMREQUEST, method);
    return rc;
}

static CURLcode configure(struct http *h, const struct cfg_probe *cfg)
{
    CURL *e = h->run.xfer.easy;
    CURLcode rc = curlapi.easy_setopt(e, CURLOPT_URL, cfg->url);

    if (rc == CURLE_OK)
        rc = set_method(e, cfg->method);
    if (rc == CURLE_OK && h->headers)
        rc = curlapi.easy_setopt(e, CURLOPT_HTTPHEADER, h->headers);
    if (rc == CURLE_OK)
        rc = curlapi.easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    if (rc == CURLE_OK)
        rc = curlapi.easy_setopt(e, CURLOPT_WRITEDATA, h);
    /* HTTP/1.1 as the native transport: one request per connection,
     * Connection: close as sent; and curl 7.88's HTTP/2 leaves an answer
     * over the 1 KiB buffer unread until the server closes (a timeout). */
    if (rc == CURLE_OK)
        rc = curlapi.easy_setopt(e, CURLOPT_HTTP_VERSION,
                                 (long)CURL_HTTP_VERSION_1_1);
    if (rc == CURLE_OK && cfg->insecure)
        rc = curlapi.easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 0L);
    if (rc == CURLE_OK && cfg->insecure)
        rc = curlapi.easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 0L);
    return rc;
}

static void http_destroy(struct probe *p)
{
    struct http *h = p->data;

    if (h == NULL)
        return;
    curlkind_free(&h->run);
    curlapi.slist_free_all(h->headers);
    curlapi.slist_free_all(h->foreign);
    free(h->body);
    free(h);
    p->data = NULL;
}

static int http_init(struct probe *p)
{
    const struct cfg_probe *cfg = p->cfg;
    struct http *h = calloc(1, sizeof(*h));
    CURLcode crc;
    int rc;

    if (h == NULL)
        return -ENOMEM;
    h->p = p;
    h->run.p = p;
    h->run.errbuf = h->errbuf;
    rc = curlkind_easy_new(cfg, "http,https", h->errbuf, &h->run.xfer.easy);
    if (rc < 0)
        goto out_free;
    h->run.xfer.done = on_done;
    h->run.xfer.arg = h;
    rc = build_headers(cfg, &h->headers);
    if (rc < 0)
        goto out_cleanup;
    crc = configure(h, cfg);
    if (crc != CURLE_OK) {
        rc = crc == CURLE_OUT_OF_MEMORY ? -ENOMEM : -EINVAL;
        goto out_cleanup;
    }
    p->data = h;
    return 0;

out_cleanup:
    curlapi.slist_free_all(h->headers);
    curlapi.easy_cleanup(h->run.xfer.easy);
out_free:
    free(h);
    return rc;
}

/* One request of the run to url: the first, or a redirect's. */
static int http_send(struct http *h, const char *url)
{
    struct cfg_url u;

    if (cfg_parse_url(url, &u) < 0)
        return -EINVAL;
    h->len = 0;
    h->truncated = false;
    httpcheck_excerpt_reset(&h->excerpt);
    h->errbuf[0] = '\0';
    return curlkind_start(&h->run, u.host, u.host_len, u.port);
}

static int http_start(struct probe *p)
{
    struct http *h = p->data;
    const struct cfg_probe *cfg = p->cfg;
    CURLcode rc = CURLE_OK;

    if (h->moved) {
        rc = curlapi.easy_setopt(h->run.xfer.easy, CURLOPT_URL, cfg->url);
        if (rc == CURLE_OK)
            rc = curlapi.easy_setopt(h->run.xfer.easy, CURLOPT_HTTPHEADER,
                                     h->headers);
        if (rc == CURLE_OK)
            rc = set_method(h->run.xfer.easy, cfg->method);
        if (rc != CURLE_OK)
            return -ENOMEM;
        h->moved = false;
    }
    h->hops = 0;
    h->as_get = false;
    return http_send(h, cfg->url);
}

static void http_cancel(struct probe *p)
{
    struct http *h = p->data;

    curlkind_cancel(&h->run);
}

const struct probe_kind probe_kind_http = {
    .name = "http",
    .init = http_init,
    .start = http_start,
    .cancel = http_cancel,
    .destroy = http_destroy,
};
