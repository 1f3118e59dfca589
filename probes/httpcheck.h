/*
 * The verdict of an http probe's answer, whoever fetched it (libcurl in
 * http.c, or the native exchange of httpwire.c): the status against
 * expect_status, the body against expect_body, and the words of the
 * reason. Owns nothing; no I/O.
 */
#ifndef SIDECAR_PROBES_HTTPCHECK_H
#define SIDECAR_PROBES_HTTPCHECK_H

#include <stdbool.h>
#include <stddef.h>

#include "base/util.h"
#include "conf/model.h"

#define HTTPCHECK_BODY_MAX (64 * 1024) /* body bytes judged, as kubelet */
#define HTTPCHECK_EXCERPT  200         /* body bytes quoted in a failure */
#define HTTPCHECK_HOPS_MAX 10          /* redirects a run follows, as kubelet */
#define HTTPCHECK_URL_MAX  2048        /* a redirect's URL, resolved */

/*
 * The start of a body on one line, built as the body arrives: control
 * bytes (CR, LF, NUL, ...) become spaces, runs of spaces one, leading ones
 * none, up to HTTPCHECK_EXCERPT bytes. Reset it before each answer.
 */
struct httpcheck_excerpt {
    char text[HTTPCHECK_EXCERPT];
    size_t len;
    bool space; /* the last byte kept was a space: drop more */
    bool more;  /* bytes came once text was full */
};

void httpcheck_excerpt_reset(struct httpcheck_excerpt *e);

/* Adds n body bytes; false once it is full and wants no more. */
bool httpcheck_excerpt_add(struct httpcheck_excerpt *e, const char *data,
                           size_t n);

/*
 * The verdict of an answer whose excerpt was built as it arrived (body is
 * read only for expect_body; NULL, 0 without it): as httpcheck_judge().
 */
bool httpcheck_verdict(const struct cfg_probe *cfg, long status,
                       const char *body, size_t len, bool truncated,
                       const struct httpcheck_excerpt *e, char *reason,
                       size_t reason_len);

/*
 * true when status is in cfg->expect_status and body[0..len) contains
 * cfg->expect_body (truncated: more came than len). reason (len bytes)
 * gets "HTTP 200", "HTTP 503: <start of the body>" or "HTTP 200 but the
 * body does not contain 'x'".
 */
bool httpcheck_judge(const struct cfg_probe *cfg, long status, const char *body,
                     size_t len, bool truncated, char *reason,
                     size_t reason_len);

/* One header of a request: name and value, borrowed. */
typedef void httpcheck_header_fn(void *arg, const char *name,
                                 const char *value);

/*
 * The configured header named name (any case), or NULL: it replaces a
 * default of that name, and with an empty value removes it.
 */
const struct cfg_header *httpcheck_header(const struct cfg_probe *cfg,
                                          const char *name);

/*
 * The one header rule of both transports: the headers of cfg's request
 * after Host (and a URL's credentials), in order: sidecar's User-Agent and
 * Accept, the configured ones, Connection: close; a default only unless a
 * header of its name is configured. A configured Host comes only with a
 * value. A configured empty value comes as "": it is not sent, and removes
 * a default of that name (kubelet's way to drop User-Agent or Accept), the
 * transport's own included.
 */
void httpcheck_headers(const struct cfg_probe *cfg, httpcheck_header_fn *fn,
                       void *arg);

/*
 * url as a reason or log line may quote it: without the user and password
 * of its authority ("http://u:p@h/x" is "http://h/x"), which a redirect
 * keeps from the probe's URL; cut to fit cap.
 */
void httpcheck_url_shown(const char *url, char *out, size_t cap);

/*
 * True when url (absolute) names another host than cfg->url (the name, in
 * any case, ports aside): a redirect there follows only with
 * follow_redirects: true, and without credentials.
 */
bool httpcheck_foreign(const struct cfg_probe *cfg, const char *url);

/*
 * The configured headers that may go to another host, copied (borrowed
 * strings) into out (cfg->headers_count entries): all but Authorization,
 * Cookie, Cookie2 and WWW-Authenticate, as Go's client drops them on a
 * redirect to another domain (libcurl too, for Authorization), and Host:
 * that host gets its own, as from Go's client. Their count.
 */
size_t httpcheck_foreign_headers(const struct cfg_probe *cfg,
                                 struct cfg_header *out);

/* What an answer leads to, by httpcheck_redirect(). */
enum httpcheck_next {
    HTTPCHECK_JUDGE,  /* the answer is the run's: httpcheck_verdict() */
    HTTPCHECK_FOLLOW, /* request the target next, with *method */
    HTTPCHECK_PASS,   /* a redirect not followed that passes: reason */
    HTTPCHECK_FAIL,   /* reason says why */
};

/*
 * The one redirect rule of both transports: what an answer with status
 * and target (its Location resolved to an absolute URL, NULL without one,
 * "" for one longer than HTTPCHECK_URL_MAX, which fails rather than pass
 * unseen) leads to under cfg->follow_redirects. *hops counts the redirects this
 * run followed (0 at its start; FOLLOW adds one); *method is the method
 * of the request answered, then the next one's (a 301, 302 or 303 to
 * other than GET or HEAD becomes GET, as Go's client does).
 */
enum httpcheck_next httpcheck_redirect(const struct cfg_probe *cfg, long status,
                                       const char *target, unsigned *hops,
                                       const char **method, char *reason,
                                       size_t reason_len);

/*
 * The reference loc (len bytes: a Location) resolved against the absolute
 * URL base (RFC 3986 5.2, dot segments left to the request, the fragment
 * dropped, the scheme in lower case) into out (cap bytes): 0, or -EINVAL
 * (base is no http(s) URL), -ENAMETOOLONG.
 */
int httpcheck_resolve(const char *base, const char *loc, size_t len, char *out,
                      size_t cap) ATTR_WUR;

#endif
