/*
 * An http probe's verdict, shared by its two transports: expect_status,
 * expect_body, and a failure's excerpt of the body on one line.
 */
#include "probes/httpcheck.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "conf/parse.h"

static bool status_expected(const struct cfg_probe *cfg, long status)
{
    for (size_t i = 0; i < cfg->expect_status_count; i++) {
        if (status >= cfg->expect_status[i].lo &&
            status <= cfg->expect_status[i].hi)
            return true;
    }
    return false;
}

/* memmem, which C11 and POSIX lack; the body may hold NUL bytes. */
static bool contains(const char *hay, size_t hay_len, const char *needle)
{
    size_t n = strlen(needle);

    if (n == 0)
        return true;
    for (size_t i = 0; i + n <= hay_len; i++) {
        if (hay[i] == needle[0] && memcmp(hay + i, needle, n) == 0)
            return true;
    }
    return false;
}

/* n, or less so that out[0..n) does not end inside a UTF-8 sequence. */
static size_t utf8_cut(const char *out, size_t n)
{
    size_t lead = n;
    unsigned char c;
    size_t need;

    while (lead > 0 && ((unsigned char)out[lead - 1] & 0xc0) == 0x80)
        lead--;
    if (lead == 0)
        return n;
    c = (unsigned char)out[lead - 1];
    if ((c & 0xc0) != 0xc0)
        return n;
    need = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : 2;
    return n - (lead - 1) < need ? lead - 1 : n;
}

void httpcheck_excerpt_reset(struct httpcheck_excerpt *e)
{
    e->len = 0;
    e->space = true; /* drops leading spaces */
    e->more = false;
}

bool httpcheck_excerpt_add(struct httpcheck_excerpt *e, const char *data,
                           size_t n)
{
    for (size_t i = 0; i < n && !e->more; i++) {
        unsigned char c = (unsigned char)data[i];

        if (e->len == HTTPCHECK_EXCERPT) {
            e->more = true;
        } else if (c < 0x20 || c == 0x7f || c == ' ') {
            if (!e->space)
                e->text[e->len++] = ' ';
            e->space = true;
        } else {
            e->text[e->len++] = (char)c;
            e->space = false;
        }
    }
    return !e->more;
}

/* The excerpt as a reason quotes it: cut on a UTF-8 character boundary,
 * "..." when cut, no trailing space; outlen >= HTTPCHECK_EXCERPT + 4. */
static void excerpt(const struct httpcheck_excerpt *e, bool truncated,
                    char *out, size_t outlen)
{
    size_t n = e->len;

    memcpy(out, e->text, n);
    if (e->more || truncated) {
        n = utf8_cut(out, n);
        if (n + 4 <= outlen) {
            memcpy(out + n, "...", 3);
            n += 3;
        }
    }
    while (n > 0 && out[n - 1] == ' ')
        n--;
    out[n] = '\0';
}

bool httpcheck_verdict(const struct cfg_probe *cfg, long status,
                       const char *body, size_t len, bool truncated,
                       const struct httpcheck_excerpt *e, char *reason,
                       size_t reason_len)
{
    char text[HTTPCHECK_EXCERPT + 8];

    if (!status_expected(cfg, status)) {
        excerpt(e, truncated, text, sizeof(text));
        if (text[0] != '\0')
            snprintf(reason, reason_len, "HTTP %ld: %s", status, text);
        else
            snprintf(reason, reason_len, "HTTP %ld", status);
        return false;
    }
    if (cfg->expect_body && !contains(body, len, cfg->expect_body)) {
        snprintf(reason, reason_len,
                 "HTTP %ld but the body %sdoes not contain '%s'", status,
                 truncated ? "(its first 64 KiB) " : "", cfg->expect_body);
        return false;
    }
    snprintf(reason, reason_len, "HTTP %ld", status);
    return true;
}

bool httpcheck_judge(const struct cfg_probe *cfg, long status, const char *body,
                     size_t len, bool truncated, char *reason,
                     size_t reason_len)
{
    struct httpcheck_excerpt e;

    httpcheck_excerpt_reset(&e);
    httpcheck_excerpt_add(&e, body, len);
    return httpcheck_verdict(cfg, status, body, len, truncated, &e, reason,
                             reason_len);
}

const struct cfg_header *httpcheck_header(const struct cfg_probe *cfg,
                                          const char *name)
{
    size_t n = strlen(name);

    for (size_t i = 0; i < cfg->headers_count; i++) {
        const char *h = cfg->headers[i].name;
        size_t k = 0;

        while (k < n &&
               tolower((unsigned char)h[k]) == tolower((unsigned char)name[k]))
            k++;
        if (k == n && h[k] == '\0')
            return &cfg->headers[i];
    }
    return NULL;
}

static void put_default(const struct cfg_probe *cfg, httpcheck_header_fn *fn,
                        void *arg, const char *name, const char *value)
{
    if (httpcheck_header(cfg, name) == NULL)
        fn(arg, name, value);
}

void httpcheck_headers(const struct cfg_probe *cfg, httpcheck_header_fn *fn,
                       void *arg)
{
    const struct cfg_header *host = httpcheck_header(cfg, "Host");

    put_default(cfg, fn, arg, "User-Agent", "sidecar/" SIDECAR_VERSION);
    put_default(cfg, fn, arg, "Accept", "*/*");
    for (size_t i = 0; i < cfg->headers_count; i++) {
        const struct cfg_header *h = &cfg->headers[i];

        /* an empty Host would remove the one HTTP/1.1 needs */
        if (h != host || h->value[0] != '\0')
            fn(arg, h->name, h->value);
    }
    put_default(cfg, fn, arg, "Connection", "close");
}

static bool is_redirect(long status)
{
    return status == 301 || status == 302 || status == 303 || status == 307 ||
           status == 308;
}

/* Host names equal in any case, ports aside (kubelet's Hostname()). */
/* The authority of url ("scheme://AUTHORITY/..."): its start and length,
 * 0 without one ("file:x", "mailto:x"). */
static size_t authority(const char *url, const char **at)
{
    const char *slashes = strstr(url, "://");

    if (slashes == NULL || strcspn(url, "/?#") < (size_t)(slashes - url))
        return 0;
    *at = slashes + 3;
    return strcspn(*at, "/?#");
}

void httpcheck_url_shown(const char *url, char *out, size_t cap)
{
    const char *auth = NULL;
    size_t len = authority(url, &auth);
    const char *user_end = NULL;

    for (size_t i = 0; i < len; i++) {
        if (auth[i] == '@')
            user_end = auth + i;
    }
    if (user_end == NULL)
        snprintf(out, cap, "%s", url);
    else
        snprintf(out, cap, "%.*s%s", (int)(auth - url), url, user_end + 1);
}

/* Whether url's host name (any scheme; none is "") is cfg->url's, in any
 * case, the port and the user aside: kubelet's test, on Go's Hostname(). */
static bool same_host_name(const struct cfg_probe *cfg, const char *url)
{
    struct cfg_url from;
    const char *host = NULL;
    size_t len = authority(url, &host);
    const char *at;

    if (cfg_parse_url(cfg->url, &from) < 0)
        return false;
    at = len ? memchr(host, '@', len) : NULL;
    while (at != NULL) { /* the last '@' ends the user */
        len -= (size_t)(at + 1 - host);
        host = at + 1;
        at = memchr(host, '@', len);
    }
    if (len > 0 && host[0] == '[') {
        const char *close = memchr(host, ']', len);
        len = close ? (size_t)(close - host - 1) : len - 1;
        host++;
    } else {
        const char *colon = len ? memchr(host, ':', len) : NULL;
        if (colon != NULL)
            len = (size_t)(colon - host);
    }
    return len == from.host_len && strncasecmp(host, from.host, len) == 0;
}

bool httpcheck_foreign(const struct cfg_probe *cfg, const char *url)
{
    return !same_host_name(cfg, url);
}

/* A header another host does not get: a credential, or the Host that
 * names this one (the other host gets its own). */
static bool is_local(const char *name)
{
    static const char *const names[] = {"Authorization", "Cookie", "Cookie2",
                                        "WWW-Authenticate", "Host"};
    struct cfg_header one = {(char *)name, ""};
    struct cfg_probe only = {.headers = &one, .headers_count = 1};

    for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
        if (httpcheck_header(&only, names[i]) != NULL)
            return true;
    }
    return false;
}

size_t httpcheck_foreign_headers(const struct cfg_probe *cfg,
                                 struct cfg_header *out)
{
    size_t n = 0;

    for (size_t i = 0; i < cfg->headers_count; i++) {
        if (!is_local(cfg->headers[i].name))
            out[n++] = cfg->headers[i];
    }
    return n;
}

enum httpcheck_next httpcheck_redirect(const struct cfg_probe *cfg, long status,
                                       const char *target, unsigned *hops,
                                       const char **method, char *reason,
                                       size_t reason_len)
{
    struct cfg_url to;
    char shown[HTTPCHECK_URL_MAX];

    if (cfg->follow_redirects == CFG_REDIRECTS_NONE || !is_redirect(status) ||
        target == NULL)
        return HTTPCHECK_JUDGE;
    if (target[0] == '\0') {
        snprintf(reason, reason_len,
                 "HTTP %ld: a Location longer than %d bytes, not followed",
                 status, HTTPCHECK_URL_MAX);
        return HTTPCHECK_FAIL;
    }
    httpcheck_url_shown(target, shown, sizeof(shown));
    /* kubelet compares host names first, whatever the scheme (file:///
     * has none): another is a redirect not followed. Then Go's client
     * fails what it cannot request (ftp: on the same host). */
    if (cfg->follow_redirects == CFG_REDIRECTS_SAME_HOST &&
        !same_host_name(cfg, target)) {
        snprintf(reason, reason_len,
                 "HTTP %ld: redirect to another host (%s) not followed, as "
                 "kubelet",
                 status, shown);
        return HTTPCHECK_PASS;
    }
    if (cfg_parse_url(target, &to) < 0) {
        snprintf(reason, reason_len,
                 "HTTP %ld: a redirect to %s, which is no http:// or "
                 "https:// URL",
                 status, shown);
        return HTTPCHECK_FAIL;
    }
    if (*hops >= HTTPCHECK_HOPS_MAX) {
        snprintf(reason, reason_len, "HTTP %ld: stopped after %d redirects",
                 status, HTTPCHECK_HOPS_MAX);
        return HTTPCHECK_FAIL;
    }
    if (status <= 303 && strcmp(*method, "GET") != 0 &&
        strcmp(*method, "HEAD") != 0)
        *method = "GET";
    ++*hops;
    return HTTPCHECK_FOLLOW;
}

/* A scheme ("http:") starts loc: letters, digits, + - . then ':'. */
static size_t scheme_len(const char *loc, size_t len)
{
    size_t i = 0;

    if (len == 0 || !isalpha((unsigned char)loc[0]))
        return 0;
    while (i < len && (isalnum((unsigned char)loc[i]) || loc[i] == '+' ||
                       loc[i] == '-' || loc[i] == '.'))
        i++;
    return i < len && loc[i] == ':' ? i + 1 : 0;
}

int httpcheck_resolve(const char *base, const char *loc, size_t len, char *out,
                      size_t cap)
{
    size_t scheme = scheme_len(loc, len);
    size_t keep; /* bytes of base kept before loc */
    size_t frag = strcspn(loc, "#") < len ? strcspn(loc, "#") : len;
    const char *path, *slash;
    struct cfg_url u;
    int n;

    if (cfg_parse_url(base, &u) < 0)
        return -EINVAL;
    len = frag;
    path = u.target;
    if (scheme > 0) {
        keep = 0;
    } else if (len >= 2 && loc[0] == '/' && loc[1] == '/') {
        keep = (size_t)(strchr(base, ':') - base) + 1;
    } else if (len > 0 && loc[0] == '/') {
        keep = (size_t)(path - base);
    } else if (len == 0 || loc[0] == '?') {
        keep = (size_t)(path - base) + strcspn(path, len ? "?#" : "#");
    } else {
        slash = NULL;
        for (const char *c = path; *c && *c != '?' && *c != '#'; c++) {
            if (*c == '/')
                slash = c;
        }
        keep = slash ? (size_t)(slash - base) + 1 : (size_t)(path - base);
        if (slash == NULL) {
            n = snprintf(out, cap, "%.*s/%.*s", (int)keep, base, (int)len, loc);
            return n < 0 || (size_t)n >= cap ? -ENAMETOOLONG : 0;
        }
    }
    n = snprintf(out, cap, "%.*s%.*s", (int)keep, base, (int)len, loc);
    if (n < 0 || (size_t)n >= cap)
        return -ENAMETOOLONG;
    for (size_t i = 0; i < scheme; i++)
        out[i] = (char)tolower((unsigned char)out[i]);
    return 0;
}
