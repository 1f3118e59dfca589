/*
 * What a probe kind on libcurl needs (http.c today; tcp and plain http://
 * probes no longer use libcurl): lazy creation of the prober's
 * curlm, the common easy-handle options (timeouts, one fresh connection
 * per run as kubelet does, proxies off as kubelet's prober has them), and
 * how a failed transfer reads in a probe's reason.
 */
#include "probes/curlkind.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>

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
