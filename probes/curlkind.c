/*
 * What a probe kind on libcurl needs (http.c today; tcp and plain http://
 * probes no longer use libcurl): lazy creation of the prober's
 * curlm, the common easy-handle options (timeouts, one fresh connection
 * per run as kubelet does, proxies off as kubelet's prober has them), and
 * how a failed transfer reads in a probe's reason.
 */
#include "probes/curlkind.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "conf/parse.h"
#include "probes/curlapi.h"
#include "probes/curlm.h"

struct curlm *curlkind_multi(struct probe *p)
{
    struct prober *pr = p->owner;

    if (pr->curl == NULL)
        pr->curl = curlm_new(pr->loop);
    return pr->curl;
}

int curlkind_easy_new(const struct cfg_probe *cfg, const char *protocols,
                      char *errbuf, CURL **out)
{
    CURL *easy;
    CURLcode rc = CURLE_OK;
    long timeout_ms = (long)cfg->timeout_ms;
    int err = curlapi_load();

    if (err < 0)
        return err;
    easy = curlapi.easy_init();
    if (easy == NULL)
        return -ENOMEM;
    errbuf[0] = '\0';
    rc = curlapi.easy_setopt(easy, CURLOPT_ERRORBUFFER, errbuf);
    if (rc == CURLE_OK)
        rc = curlapi.easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
    /*
     * Removing a handle whose threaded DNS lookup still runs would wait
     * for getaddrinfo() to return, blocking the loop: leave it behind.
     */
    if (rc == CURLE_OK)
        rc = curlapi.easy_setopt(easy, CURLOPT_QUICK_EXIT, 1L);
    if (rc == CURLE_OK)
        rc = curlapi.easy_setopt(easy, CURLOPT_TIMEOUT_MS, timeout_ms);
    if (rc == CURLE_OK)
        rc = curlapi.easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms);
    /* curl's smallest receive buffer (16 KiB by default, one per handle
     * for the probe's life): about 5 KB of RSS less per probe; a health
     * answer fits, a larger body takes more reads. */
    if (rc == CURLE_OK)
        rc = curlapi.easy_setopt(easy, CURLOPT_BUFFERSIZE, 1024L);
    if (rc == CURLE_OK)
        rc = curlapi.easy_setopt(easy, CURLOPT_FORBID_REUSE, 1L);
    if (rc == CURLE_OK)
        rc = curlapi.easy_setopt(easy, CURLOPT_FRESH_CONNECT, 1L);
    /* "" overrides http_proxy and friends from the environment. */
    if (rc == CURLE_OK)
        rc = curlapi.easy_setopt(easy, CURLOPT_PROXY, "");
    if (rc == CURLE_OK)
        rc = curlapi.easy_setopt(easy, CURLOPT_PROTOCOLS_STR, protocols);
    if (rc == CURLE_OK)
        rc = curlapi.easy_setopt(easy, CURLOPT_REDIR_PROTOCOLS_STR, protocols);
    if (rc != CURLE_OK) {
        curlapi.easy_cleanup(easy);
        return rc == CURLE_OUT_OF_MEMORY ? -ENOMEM : -EINVAL;
    }
    *out = easy;
    return 0;
}

bool curlkind_http2(void)
{
    return (curlapi.version_info(CURLVERSION_NOW)->features &
            CURL_VERSION_HTTP2) != 0;
}

/* A certificate that failed verification, which insecure would skip. */
static bool verify_failed(CURLcode result)
{
    return result == CURLE_PEER_FAILED_VERIFICATION ||
           result == CURLE_SSL_ISSUER_ERROR ||
           result == CURLE_SSL_INVALIDCERTSTATUS;
}

void curlkind_failure(char *buf, size_t len, const struct cfg_probe *cfg,
                      CURLcode result, const char *errbuf)
{
    char limit[CFG_DURATION_STR_MAX];
    const char *hint = "";

    if (!cfg->insecure && verify_failed(result))
        hint = "; set insecure: true to skip verification (kubelet does not "
               "verify)";
    if (result == CURLE_OPERATION_TIMEDOUT) {
        cfg_format_duration(cfg->timeout_ms, limit, sizeof(limit));
        snprintf(buf, len, "timed out after %s", limit);
    } else if (errbuf[0] != '\0') {
        snprintf(buf, len, "%s%s", errbuf, hint);
    } else {
        snprintf(buf, len, "%s%s", curlapi.easy_strerror(result), hint);
    }
}

static void on_fail(EV_P_ ev_timer *w, int revents)
{
    struct curlkind_run *r = container_of(w, struct curlkind_run, fail_w);

    (void)loop;
    (void)revents;
    r->xfer.done(r->xfer.easy, CURLE_COULDNT_RESOLVE_HOST, r->xfer.arg);
}

/* "-host:port" drops what an earlier run left in the curlm's DNS cache,
 * then "+host:port:a,b": the '+' lets the entry expire there as curl's
 * own do (60 s), so names a redirect chain brings are not kept for ever. */
static struct curl_slist *resolve_list(const struct connect_target *t,
                                       const struct resolve_addrs *addrs)
{
    char line[CONNECT_HOST_MAX + 16 +
              RESOLVE_ADDRS_MAX * (INET6_ADDRSTRLEN + 3)];
    size_t at;
    struct curl_slist *list;
    struct curl_slist *more;

    snprintf(line, sizeof(line), "-%s:%u", t->host, t->port);
    list = curlapi.slist_append(NULL, line);
    if (list == NULL)
        return NULL;
    at = (size_t)snprintf(line, sizeof(line), "+%s:%u:", t->host, t->port);
    for (unsigned i = 0; i < addrs->count; i++) {
        const union resolve_sa *sa = &addrs->addr[i];
        bool v6 = sa->sa.sa_family == AF_INET6;
        char ip[INET6_ADDRSTRLEN];

        if (inet_ntop(sa->sa.sa_family,
                      v6 ? (const void *)&sa->in6.sin6_addr
                         : (const void *)&sa->in.sin_addr,
                      ip, sizeof(ip)) == NULL)
            continue;
        at += (size_t)snprintf(line + at, sizeof(line) - at,
                               v6 ? "%s[%s]" : "%s%s", i ? "," : "", ip);
    }
    more = curlapi.slist_append(list, line);
    if (more == NULL)
        curlapi.slist_free_all(list);
    return more;
}

/* The lookup failed (why): reported from the loop, as a tcp probe words it. */
static void fail(struct curlkind_run *r, const char *why)
{
    if (snprintf(r->errbuf, CURL_ERROR_SIZE, "cannot resolve %s: %s",
                 r->target.host, why) < 0)
        r->errbuf[0] = '\0';
    ev_timer_set(&r->fail_w, 0., 0.);
    ev_timer_start(r->p->owner->loop, &r->fail_w);
}

static void on_resolved(void *arg, const struct resolve_addrs *addrs,
                        const char *error)
{
    struct curlkind_run *r = arg;
    struct curl_slist *list = NULL;
    struct curlm *m = curlkind_multi(r->p);

    if (error != NULL) {
        fail(r, error);
        return;
    }
    if (m != NULL)
        list = resolve_list(&r->target, addrs);
    if (list == NULL ||
        curlapi.easy_setopt(r->xfer.easy, CURLOPT_RESOLVE, list) != CURLE_OK) {
        curlapi.slist_free_all(list);
        list = NULL;
    }
    if (list != NULL) {
        curlapi.slist_free_all(r->resolve); /* curl held it until now */
        r->resolve = list;
    }
    if (list == NULL || curlm_add(m, &r->xfer) < 0) {
        fail(r, strerror(ENOMEM));
    }
}

int curlkind_start(struct curlkind_run *r, const char *host, size_t len,
                   unsigned port)
{
    struct curlm *m = curlkind_multi(r->p);
    struct resolver *dns;
    int rc;

    if (m == NULL)
        return -ENOMEM;
    ev_timer_init(&r->fail_w, on_fail, 0., 0.);
    /* An IPv6 literal in a URL (its zone "%25"-escaped): no lookup. */
    if (len > 0 && host[0] == '[')
        return curlm_add(m, &r->xfer);
    /* A name c-ares cannot take (an IDN in an https:// URL, which curl
     * converts with libidn2): curl resolves it, as before. */
    rc = connect_target_set(&r->target, host, len, port);
    if (rc == -EINVAL)
        return curlm_add(m, &r->xfer);
    if (rc < 0)
        return rc;
    if (r->target.literal)
        return curlm_add(m, &r->xfer); /* curl starts no thread for it */
    dns = probe_resolver(r->p);
    if (dns == NULL)
        return -errno;
    return resolver_lookup(dns, r->target.host, port, on_resolved, r,
                           &r->query);
}

void curlkind_cancel(struct curlkind_run *r)
{
    resolve_cancel(&r->query);
    ev_timer_stop(r->p->owner->loop, &r->fail_w);
    if (r->p->owner->curl != NULL)
        curlm_remove(r->p->owner->curl, &r->xfer);
}

void curlkind_free(struct curlkind_run *r)
{
    curlkind_cancel(r);
    curlapi.easy_cleanup(r->xfer.easy);
    r->xfer.easy = NULL;
    curlapi.slist_free_all(r->resolve);
    r->resolve = NULL;
}
