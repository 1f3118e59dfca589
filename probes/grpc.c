/*
 * The grpc probe kind: grpc.health.v1.Health/Check as kubelet's grpc probe
 * and grpc-health-probe call it, one small framed message over libcurl's
 * HTTP/2 on the prober's curlm (no gRPC stack): prior knowledge on plain
 * TCP, ALPN h2 with tls. One easy handle per probe, configured once; the
 * answer is gathered and judged by grpcwire.c, whose fixed buffers hold
 * everything a run keeps. Names are looked up by curlkind_start(), never by
 * curl.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "probes/curlapi.h"
#include "probes/curlkind.h"
#include "probes/curlm.h"
#include "probes/grpcwire.h"
#include "probes/probe.h"

#define GRPC_PATH "/grpc.health.v1.Health/Check"
#define URL_MAX   (sizeof("https://[]:65535" GRPC_PATH) + 3 * 253)

struct grpc {
    struct probe *p;
    struct curlkind_run run;    /* the easy handle, kept across runs */
    struct curl_slist *headers; /* built once */
    struct grpcwire_answer answer;
    unsigned char req[GRPCWIRE_REQUEST_MAX];
    char errbuf[CURL_ERROR_SIZE];
};

static size_t on_body(char *data, size_t size, size_t nmemb, void *userp)
{
    struct grpc *g = userp;

    grpcwire_body(&g->answer, data, size * nmemb);
    return size * nmemb;
}

/* Headers and trailers alike: a Trailers-Only answer has no body. */
static size_t on_header(char *line, size_t size, size_t nmemb, void *userp)
{
    struct grpc *g = userp;

    grpcwire_header(&g->answer, line, size * nmemb);
    return size * nmemb;
}

/* How an HTTP/1 server, or one that only accepts, fails prior knowledge;
 * a TLS server closes the stream before any HTTP/2 answer came. */
static bool no_http2(CURL *easy, CURLcode result)
{
    long version = 0;

    if (result == CURLE_PARTIAL_FILE)
        return curlapi.easy_getinfo(easy, CURLINFO_HTTP_VERSION, &version) ==
                   CURLE_OK &&
               version != CURL_HTTP_VERSION_2_0;
    return result == CURLE_HTTP2 || result == CURLE_SEND_ERROR ||
           result == CURLE_RECV_ERROR || result == CURLE_GOT_NOTHING ||
           result == CURLE_WEIRD_SERVER_REPLY;
}

static bool judge(struct grpc *g, CURLcode result, char *reason, size_t len)
{
    long status = 0;
    long version = 0;

    if (result != CURLE_OK) {
        curlkind_failure(reason, len, g->p->cfg, result, g->errbuf);
        if (!g->p->cfg->tls && no_http2(g->run.xfer.easy, result))
            snprintf(reason + strlen(reason), len - strlen(reason),
                     " (no HTTP/2 answer: not a gRPC server?)");
        return false;
    }
    if (curlapi.easy_getinfo(g->run.xfer.easy, CURLINFO_HTTP_VERSION,
                             &version) != CURLE_OK ||
        version != CURL_HTTP_VERSION_2_0) {
        snprintf(reason, len,
                 "not a gRPC server: it did not agree to HTTP/2 (ALPN h2)");
        return false;
    }
    if (curlapi.easy_getinfo(g->run.xfer.easy, CURLINFO_RESPONSE_CODE,
                             &status) != CURLE_OK)
        status = 0;
    return grpcwire_verdict(&g->answer, status, reason, len);
}

static void on_done(CURL *easy, CURLcode result, void *arg)
{
    struct grpc *g = arg;
    char reason[PROBE_REASON_MAX];
    bool ok;

    (void)easy;
    ok = judge(g, result, reason, sizeof(reason));
    /* Last: the core may start, cancel or destroy anything from here. */
    probe_report(g->p, ok, "%s", reason);
}

static int add_header(struct grpc *g, const char *line)
{
    struct curl_slist *list = curlapi.slist_append(g->headers, line);

    if (list == NULL)
        return -ENOMEM;
    g->headers = list;
    return 0;
}

/* grpc-timeout is at most 8 digits: milliseconds, or seconds beyond. */
static int build_headers(struct grpc *g, const struct cfg_probe *cfg)
{
    char timeout[48];
    int rc;

    if (cfg->timeout_ms <= 99999999)
        snprintf(timeout, sizeof(timeout), "grpc-timeout: %lldm",
                 (long long)cfg->timeout_ms);
    else
        snprintf(timeout, sizeof(timeout), "grpc-timeout: %lldS",
                 (long long)(cfg->timeout_ms + 999) / 1000);
    rc = add_header(g, "content-type: application/grpc");
    if (rc == 0)
        rc = add_header(g, "te: trailers");
    if (rc == 0)
        rc = add_header(g, timeout);
    if (rc == 0)
        rc = add_header(g, "Accept:"); /* curl's default, removed */
    if (rc == 0)
        rc = add_header(g, "Expect:");
    return rc;
}

/* http[s]://host:port/...; an IPv6 literal in brackets, its zone's '%'
 * escaped. */
static void build_url(const struct cfg_probe *cfg, char *url, size_t len)
{
    bool v6 = strchr(cfg->host, ':') != NULL;
    size_t at = (size_t)snprintf(url, len, "%s://%s",
                                 cfg->tls ? "https" : "http", v6 ? "[" : "");

    for (const char *c = cfg->host; *c && at + 4 < len; c++)
        at +=
            (size_t)snprintf(url + at, len - at, *c == '%' ? "%%25" : "%c", *c);
    snprintf(url + at, len - at, "%s:%u%s", v6 ? "]" : "", cfg->port,
             GRPC_PATH);
}

static CURLcode configure(struct grpc *g, const struct cfg_probe *cfg,
                          size_t req_len)
{
    CURL *e = g->run.xfer.easy;
    char url[URL_MAX];
    CURLcode rc;

    build_url(cfg, url, sizeof(url));
    rc = curlapi.easy_setopt(e, CURLOPT_URL, url);
    if (rc == CURLE_OK)
        rc = curlapi.easy_setopt(
            e, CURLOPT_HTTP_VERSION,
            cfg->tls ? (long)CURL_HTTP_VERSION_2TLS
                     : (long)CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE);
    if (rc == CURLE_OK)
        rc = curlapi.easy_setopt(e, CURLOPT_POSTFIELDS, g->req);
    if (rc == CURLE_OK)
        rc = curlapi.easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long)req_len);
    if (rc == CURLE_OK)
        rc = curlapi.easy_setopt(e, CURLOPT_HTTPHEADER, g->headers);
    if (rc == CURLE_OK)
        rc = curlapi.easy_setopt(e, CURLOPT_USERAGENT,
                                 "sidecar/" SIDECAR_VERSION);
    /* curl 7.88's HTTP/2 under multi_socket_action leaves an answer larger
     * than curlkind's 1 KiB buffer (a long grpc-message) unread until the
     * server closes: the probe timed out. Its default, 16 KiB, reads it. */
    if (rc == CURLE_OK)
        rc = curlapi.easy_setopt(e, CURLOPT_BUFFERSIZE,
                                 (long)CURL_MAX_WRITE_SIZE);
    if (rc == CURLE_OK)
        rc = curlapi.easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    if (rc == CURLE_OK)
        rc = curlapi.easy_setopt(e, CURLOPT_WRITEDATA, g);
    if (rc == CURLE_OK)
        rc = curlapi.easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
    if (rc == CURLE_OK)
        rc = curlapi.easy_setopt(e, CURLOPT_HEADERDATA, g);
    if (rc == CURLE_OK && cfg->insecure)
        rc = curlapi.easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 0L);
    if (rc == CURLE_OK && cfg->insecure)
        rc = curlapi.easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 0L);
    return rc;
}

static void grpc_destroy(struct probe *p)
{
    struct grpc *g = p->data;

    if (g == NULL)
        return;
    curlkind_free(&g->run);
    curlapi.slist_free_all(g->headers);
    free(g);
    p->data = NULL;
}

static int grpc_init(struct probe *p)
{
    const struct cfg_probe *cfg = p->cfg;
    struct grpc *g = calloc(1, sizeof(*g));
    int req_len;
    CURLcode crc;
    int rc;

    if (g == NULL)
        return -ENOMEM;
    g->p = p;
    g->run.p = p;
    g->run.errbuf = g->errbuf;
    req_len = grpcwire_request(cfg->grpc_service, g->req, sizeof(g->req));
    rc = req_len < 0 ? req_len : 0;
    if (rc == 0)
        rc = curlkind_easy_new(cfg, "http,https", g->errbuf, &g->run.xfer.easy);
    if (rc < 0)
        goto out_free;
    /* Debian's libcurl has nghttp2; another build may not. */
    if (!curlkind_http2()) {
        rc = -EPROTONOSUPPORT;
        goto out_cleanup;
    }
    g->run.xfer.done = on_done;
    g->run.xfer.arg = g;
    rc = build_headers(g, cfg);
    if (rc < 0)
        goto out_cleanup;
    crc = configure(g, cfg, (size_t)req_len);
    if (crc != CURLE_OK) {
        rc = crc == CURLE_OUT_OF_MEMORY ? -ENOMEM : -EINVAL;
        goto out_cleanup;
    }
    p->data = g;
    return 0;

out_cleanup:
    curlapi.slist_free_all(g->headers);
    curlapi.easy_cleanup(g->run.xfer.easy);
out_free:
    free(g);
    return rc;
}

static int grpc_start(struct probe *p)
{
    struct grpc *g = p->data;

    grpcwire_reset(&g->answer);
    g->errbuf[0] = '\0';
    return curlkind_start(&g->run, p->cfg->host, strlen(p->cfg->host),
                          p->cfg->port);
}

static void grpc_cancel(struct probe *p)
{
    struct grpc *g = p->data;

    curlkind_cancel(&g->run);
}

const struct probe_kind probe_kind_grpc = {
    .name = "grpc",
    .init = grpc_init,
    .start = grpc_start,
    .cancel = grpc_cancel,
    .destroy = grpc_destroy,
};
