/*
 * The tcp probe kind: a TCP connect through libcurl (CURLOPT_CONNECT_ONLY),
 * so name resolution is curl's asynchronous resolver and the connect is
 * non-blocking on the prober's curlm. Passes once connected; the
 * connection is closed at once. One easy handle per probe.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "probes/curlapi.h"
#include "probes/curlkind.h"
#include "probes/curlm.h"
#include "probes/probe.h"

/* Longest host name (253) plus brackets, ":65535" and the scheme. */
#define TCP_URL_MAX 320

/*
 * The scheme only picks curl's protocol handler: with CONNECT_ONLY curl
 * stops once connected and sends nothing, through either handler (both
 * checked on libcurl 7.88.1). telnet's has no connect step of its own;
 * http, always built in, stands in when a libcurl lacks telnet.
 */
static const char *scheme(void)
{
    const curl_version_info_data *info = curlapi.version_info(CURLVERSION_NOW);

    for (size_t i = 0; info && info->protocols && info->protocols[i]; i++) {
        if (strcmp(info->protocols[i], "telnet") == 0)
            return "telnet";
    }
    return "http";
}

struct tcp {
    struct probe *p;
    struct curlm_transfer xfer;
    char target[TCP_URL_MAX]; /* "host:port", "[v6]:port" */
    char errbuf[CURL_ERROR_SIZE];
};

static bool is_name(const char *s, size_t n)
{
    static const char ok[] = "abcdefghijklmnopqrstuvwxyz"
                             "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_";

    for (size_t i = 0; i < n; i++) {
        if (s[i] == '\0' || strchr(ok, s[i]) == NULL)
            return false;
    }
    return n > 0;
}

/* An IPv6 literal (at least two colons), with an optional "%zone". */
static bool is_ipv6(const char *s, size_t n)
{
    static const char ok[] = "0123456789abcdefABCDEF:.";
    unsigned colons = 0;
    size_t i;

    for (i = 0; i < n && s[i] != '%'; i++) {
        if (s[i] == '\0' || strchr(ok, s[i]) == NULL)
            return false;
        if (s[i] == ':')
            colons++;
    }
    if (i < n && !is_name(s + i + 1, n - i - 1))
        return false;
    return colons >= 2;
}

/*
 * "host:port" for the reason into tcp->target, and the URL into url.
 * A host holding anything but a name, an IPv4 or an IPv6 literal (bare or
 * in brackets) is refused: it would change the meaning of the URL.
 */
static int build_target(struct tcp *t, const struct cfg_probe *cfg, char *url,
                        size_t len)
{
    const char *host = cfg->host;
    size_t n = strlen(host);
    const char *zone;
    int w;

    if (n >= 2 && host[0] == '[' && host[n - 1] == ']') {
        host++;
        n -= 2;
        if (!is_ipv6(host, n))
            return -EINVAL;
    } else if (memchr(host, ':', n) != NULL) {
        if (!is_ipv6(host, n))
            return -EINVAL;
    } else if (!is_name(host, n)) {
        return -EINVAL;
    }
    if (memchr(host, ':', n) == NULL) {
        w = snprintf(t->target, sizeof(t->target), "%.*s:%u", (int)n, host,
                     cfg->port);
        if (w < 0 || (size_t)w >= sizeof(t->target))
            return -EINVAL;
        w = snprintf(url, len, "%s://%s/", scheme(), t->target);
        return w < 0 || (size_t)w >= len ? -EINVAL : 0;
    }
    w = snprintf(t->target, sizeof(t->target), "[%.*s]:%u", (int)n, host,
                 cfg->port);
    if (w < 0 || (size_t)w >= sizeof(t->target))
        return -EINVAL;
    /* In a URL the zone's '%' is written "%25" (RFC 6874). */
    zone = memchr(host, '%', n);
    if (zone == NULL)
        w = snprintf(url, len, "%s://%s/", scheme(), t->target);
    else
        w = snprintf(url, len, "%s://[%.*s%%25%.*s]:%u/", scheme(),
                     (int)(zone - host), host,
                     (int)(n - (size_t)(zone - host) - 1), zone + 1, cfg->port);
    return w < 0 || (size_t)w >= len ? -EINVAL : 0;
}

static void on_done(CURL *easy, CURLcode result, void *arg)
{
    struct tcp *t = arg;
    char reason[PROBE_REASON_MAX];
    bool ok = result == CURLE_OK;

    (void)easy;
    if (ok)
        snprintf(reason, sizeof(reason), "connected to %s", t->target);
    else
        curlkind_failure(reason, sizeof(reason), t->p->cfg, result, t->errbuf);
    /* Last: the core may start, cancel or destroy anything from here. */
    probe_report(t->p, ok, "%s", reason);
}

static void tcp_destroy(struct probe *p)
{
    struct tcp *t = p->data;

    if (t == NULL)
        return;
    if (p->owner->curl)
        curlm_remove(p->owner->curl, &t->xfer);
    curlapi.easy_cleanup(t->xfer.easy);
    free(t);
    p->data = NULL;
}

static int tcp_init(struct probe *p)
{
    const struct cfg_probe *cfg = p->cfg;
    struct tcp *t = calloc(1, sizeof(*t));
    char url[TCP_URL_MAX + 32];
    CURLcode crc;
    int rc;

    if (t == NULL)
        return -ENOMEM;
    t->p = p;
    rc = curlapi_load(); /* before scheme() asks curl */
    if (rc < 0)
        goto out_free;
    rc = build_target(t, cfg, url, sizeof(url));
    if (rc < 0)
        goto out_free;
    rc = curlkind_easy_new(cfg, scheme(), t->errbuf, &t->xfer.easy);
    if (rc < 0)
        goto out_free;
    t->xfer.done = on_done;
    t->xfer.arg = t;
    crc = curlapi.easy_setopt(t->xfer.easy, CURLOPT_URL, url);
    if (crc == CURLE_OK)
        crc = curlapi.easy_setopt(t->xfer.easy, CURLOPT_CONNECT_ONLY, 1L);
    if (crc != CURLE_OK) {
        rc = crc == CURLE_OUT_OF_MEMORY ? -ENOMEM : -EINVAL;
        goto out_cleanup;
    }
    p->data = t;
    return 0;

out_cleanup:
    curlapi.easy_cleanup(t->xfer.easy);
out_free:
    free(t);
    return rc;
}

static int tcp_start(struct probe *p)
{
    struct tcp *t = p->data;
    struct curlm *m = curlkind_multi(p);
    if (m == NULL)
        return -ENOMEM;
    t->errbuf[0] = '\0';
    return curlm_add(m, &t->xfer);
}

static void tcp_cancel(struct probe *p)
{
    struct tcp *t = p->data;

    curlm_remove(p->owner->curl, &t->xfer);
}

const struct probe_kind probe_kind_tcp = {
    .name = "tcp",
    .init = tcp_init,
    .start = tcp_start,
    .cancel = tcp_cancel,
    .destroy = tcp_destroy,
};
