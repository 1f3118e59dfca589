/*
 * probes/httpwire.c: the request's bytes against what curl 7.88 sends for
 * the same probe (captured from curl itself), every shape of answer, each
 * split at every byte offset, and hostile answers; probes/httpcheck.c's
 * verdict; conf/parse.c's URL split that both conf/ and the probe use.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "conf/parse.h"
#include "probes/curlkind.h"
#include "probes/httpcheck.h"
#include "probes/httpwire.h"

#define REASON_MAX 512
#define UA         "User-Agent: sidecar/" SIDECAR_VERSION "\r\n"

static struct cfg_status_range ok_range = {200, 399};

static struct cfg_probe probe(const char *url, const char *method,
                              struct cfg_header *headers, size_t n)
{
    struct cfg_probe p = {0};

    p.url = (char *)url;
    p.method = (char *)method;
    p.headers = headers;
    p.headers_count = n;
    p.expect_status = &ok_range;
    p.expect_status_count = 1;
    return p;
}

/* The request of p, checked to fit exactly the size asked first. */
static int request(const struct cfg_probe *p, char *buf, size_t cap, char *err)
{
    size_t need = 0;
    size_t len = 0;
    int rc = httpwire_request(p, NULL, 0, &need, err, 128);

    if (rc != -ENOBUFS)
        return rc;
    cr_assert_lt(need, cap);
    rc = httpwire_request(p, buf, need, &len, err, 128);
    cr_assert_eq(rc, 0, "%s", p->url);
    cr_assert_leq(len, need);
    buf[len] = '\0';
    return 0;
}

struct golden {
    const char *url;
    const char *method;
    const char *want;
};

static const struct golden goldens[] = {
    {"http://127.0.0.1:8080", "GET",
     "GET / HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n" UA
     "Accept: */*\r\nConnection: close\r\n\r\n"},
    {"http://127.0.0.1:8080?x=1", "GET",
     "GET /?x=1 HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n" UA
     "Accept: */*\r\nConnection: close\r\n\r\n"},
    {"http://h/#frag", "GET",
     "GET / HTTP/1.1\r\nHost: h\r\n" UA "Accept: */*\r\nConnection: close"
     "\r\n\r\n"},
    {"http://h:80/a?b#c", "HEAD",
     "HEAD /a?b HTTP/1.1\r\nHost: h\r\n" UA "Accept: */*\r\nConnection: "
     "close\r\n\r\n"},
    {"http://h/?", "GET",
     "GET /? HTTP/1.1\r\nHost: h\r\n" UA "Accept: */*\r\nConnection: close"
     "\r\n\r\n"},
    {"http://h/a/../b/./c", "DELETE",
     "DELETE /b/c HTTP/1.1\r\nHost: h\r\n" UA "Accept: */*\r\nConnection: "
     "close\r\n\r\n"},
    {"http://[::1]:9000/x", "GET",
     "GET /x HTTP/1.1\r\nHost: [::1]:9000\r\n" UA "Accept: */*\r\n"
     "Connection: close\r\n\r\n"},
    {"http://LocalHost:81/%41/\xc3\xa9?q=\xc3\xa9", "GET",
     "GET /%41/%c3%a9?q=\xc3\xa9 HTTP/1.1\r\nHost: LocalHost:81\r\n" UA
     "Accept: */*\r\nConnection: close\r\n\r\n"},
    {"http://h/..", "GET",
     "GET / HTTP/1.1\r\nHost: h\r\n" UA "Accept: */*\r\nConnection: close"
     "\r\n\r\n"},
    {"http://h/a/..", "GET",
     "GET / HTTP/1.1\r\nHost: h\r\n" UA "Accept: */*\r\nConnection: close"
     "\r\n\r\n"},
    {"http://h/a/.", "GET",
     "GET /a/ HTTP/1.1\r\nHost: h\r\n" UA "Accept: */*\r\nConnection: close"
     "\r\n\r\n"},
    {"http://h/a//b/../c", "GET",
     "GET /a//c HTTP/1.1\r\nHost: h\r\n" UA "Accept: */*\r\nConnection: "
     "close\r\n\r\n"},
    {"http://h/a?x=/../y", "GET",
     "GET /a?x=/../y HTTP/1.1\r\nHost: h\r\n" UA "Accept: */*\r\n"
     "Connection: close\r\n\r\n"},
    {"http://u%40x:p%3Aq@h/", "GET",
     "GET / HTTP/1.1\r\nHost: h\r\nAuthorization: Basic dUB4OnA6cQ==\r\n" UA
     "Accept: */*\r\nConnection: close\r\n\r\n"},
    {"http://user@h/", "GET",
     "GET / HTTP/1.1\r\nHost: h\r\nAuthorization: Basic dXNlcjo=\r\n" UA
     "Accept: */*\r\nConnection: close\r\n\r\n"},
    {"http://:pw@h/", "GET",
     "GET / HTTP/1.1\r\nHost: h\r\nAuthorization: Basic OnB3\r\n" UA
     "Accept: */*\r\nConnection: close\r\n\r\n"},
    {"http://u:@h/", "GET",
     "GET / HTTP/1.1\r\nHost: h\r\nAuthorization: Basic dTo=\r\n" UA
     "Accept: */*\r\nConnection: close\r\n\r\n"},
    {"http://h/", "POST",
     "POST / HTTP/1.1\r\nHost: h\r\n" UA "Accept: */*\r\nConnection: "
     "close\r\nContent-Length: 0\r\nContent-Type: "
     "application/x-www-form-urlencoded\r\n\r\n"},
};

Test(httpwire, request_bytes_are_what_curl_sends, .timeout = 5)
{
    char buf[1024];
    char err[128];

    for (size_t i = 0; i < ARRAY_SIZE(goldens); i++) {
        struct cfg_probe p = probe(goldens[i].url, goldens[i].method, NULL, 0);

        cr_assert_eq(request(&p, buf, sizeof(buf), err), 0, "%s: %s",
                     goldens[i].url, err);
        cr_expect_str_eq(buf, goldens[i].want, "%s", goldens[i].url);
    }
}

Test(httpwire, configured_headers_replace_defaults_of_their_name, .timeout = 5)
{
    struct cfg_header h[] = {
        {"Accept", "text/plain"},
        {"user-agent", "me"},
        {"X-E", ""},
        {"host", "other"},
        {"content-type", "text/plain"},
        {"Connection", "keep-alive"},
    };
    struct cfg_probe p = probe("http://127.0.0.1:1/", "PUT", h, ARRAY_SIZE(h));
    char buf[1024];
    char err[128];

    cr_assert_eq(request(&p, buf, sizeof(buf), err), 0, "%s", err);
    /* curl's order: Host in its place, the rest as configured, then
     * the body's headers curl adds. */
    cr_expect_str_eq(buf, "PUT / HTTP/1.1\r\nHost: other\r\n"
                          "Accept: text/plain\r\nuser-agent: me\r\n"
                          "content-type: text/plain\r\n"
                          "Connection: keep-alive\r\n"
                          "Content-Length: 0\r\n\r\n");
}

/* kubelet's way to drop a default: an empty value sends nothing, and
 * removes sidecar's header of that name; an empty Host keeps the URL's. */
Test(httpwire, an_empty_header_is_not_sent_and_removes_the_default,
     .timeout = 5)
{
    struct cfg_header h[] = {
        {"user-agent", ""},
        {"Accept", ""},
        {"X-E", ""},
        {"Host", ""},
    };
    struct cfg_probe p = probe("http://h:8/", "GET", h, ARRAY_SIZE(h));
    char buf[1024];
    char err[128];

    cr_assert_eq(request(&p, buf, sizeof(buf), err), 0, "%s", err);
    cr_expect_str_eq(buf, "GET / HTTP/1.1\r\nHost: h:8\r\n"
                          "Connection: close\r\n\r\n");
}

Test(httpwire, a_configured_authorization_replaces_the_urls, .timeout = 5)
{
    struct cfg_header h[] = {{"authorization", "Bearer t"}};
    struct cfg_probe p = probe("http://u:p@h/", "GET", h, 1);
    char buf[1024];
    char err[128];

    cr_assert_eq(request(&p, buf, sizeof(buf), err), 0, "%s", err);
    cr_expect_str_eq(buf, "GET / HTTP/1.1\r\nHost: h\r\n" UA "Accept: */*\r\n"
                          "authorization: Bearer t\r\nConnection: close"
                          "\r\n\r\n");
}

Test(httpwire, requests_that_cannot_be_sent_are_refused, .timeout = 5)
{
    struct cfg_header crlf[] = {{"X-A", "1\r\nX-Injected: 1"}};
    struct cfg_header colon[] = {{"X:A", "1"}};
    struct {
        const char *url;
        struct cfg_header *h;
        int rc;
        const char *says;
    } cases[] = {
        {"https://h/", NULL, -ENOTSUP, "https needs libcurl"},
        {"http://a@b@h/", NULL, -ENOTSUP, "credentials"},
        {"http://[fe80::1%25eth0]/", NULL, -ENOTSUP, "zone"},
        {"http://h/a\r\nb", NULL, -EINVAL, "control byte"},
        {"http://h/a b", NULL, -EINVAL, "control byte"},
        {"ftp://h/", NULL, -EINVAL, "not an http:// URL"},
        {"http://h/", crlf, -EINVAL, "header with a CR, LF"},
        {"http://h/", colon, -EINVAL, "bad name"},
    };
    char buf[1024];
    char err[128];
    size_t len;

    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        struct cfg_probe p =
            probe(cases[i].url, "GET", cases[i].h, cases[i].h ? 1 : 0);

        err[0] = '\0';
        cr_expect_eq(
            httpwire_request(&p, buf, sizeof(buf), &len, err, sizeof(err)),
            cases[i].rc, "%s", cases[i].url);
        cr_expect(strstr(err, cases[i].says) != NULL, "%s: %s", cases[i].url,
                  err);
    }
}

Test(httpwire, the_url_is_split_as_conf_validates_it, .timeout = 5)
{
    struct cfg_url u;

    cr_assert_eq(cfg_parse_url("http://u:p@[::1]:8080/a?b#c", &u), 0);
    cr_expect(!u.tls && u.ipv6 && u.port_given);
    cr_expect_eq(u.port, 8080);
    cr_expect(u.user_len == 3 && strncmp(u.user, "u:p", 3) == 0);
    cr_expect(u.host_len == 3 && strncmp(u.host, "::1", 3) == 0);
    cr_expect(u.target_len == 4 && strncmp(u.target, "/a?b", 4) == 0);
    cr_assert_eq(cfg_parse_url("https://h", &u), 0);
    cr_expect(u.tls && u.port == 443 && u.target_len == 0);
    cr_assert_eq(cfg_parse_url("http://h:/", &u), 0);
    cr_expect_eq(u.port, 80);
    cr_expect_eq(cfg_parse_url("http://h:0/", &u), -ERANGE);
    cr_expect_eq(cfg_parse_url("http://h:65536/", &u), -ERANGE);
    cr_expect_eq(cfg_parse_url("http://h:8x/", &u), -EINVAL);
    cr_expect_eq(cfg_parse_url("http:///x", &u), -EINVAL);
    cr_expect_eq(cfg_parse_url("http://u@/", &u), -EINVAL);
    cr_expect_eq(cfg_parse_url("http://[::1/", &u), -EINVAL);
    cr_expect_eq(cfg_parse_url("http://[::1]x/", &u), -EINVAL);
    cr_expect_eq(cfg_parse_url("HTTP://h/", &u), -EINVAL);
}

/* ---- answers ---- */

static char body_buf[HTTPCHECK_BODY_MAX];
static char loc_buf[64];

/* What feeding an answer gave: the last result, the parser's fields. */
struct seen {
    enum httpwire_result res;
    struct httpwire r;
};

/* Feeds text in pieces of step bytes (0: in one), then the close if
 * eof and it still wants more. */
static struct seen run_split(const char *text, size_t len, bool head,
                             size_t split, bool eof)
{
    struct seen s;

    httpwire_init(&s.r, body_buf, sizeof(body_buf), loc_buf, sizeof(loc_buf),
                  head);
    httpwire_reset(&s.r);
    if (split == 0 || split >= len) {
        s.res = httpwire_feed(&s.r, text, len);
    } else {
        s.res = httpwire_feed(&s.r, text, split);
        if (s.res == HTTPWIRE_MORE)
            s.res = httpwire_feed(&s.r, text + split, len - split);
    }
    if (eof && s.res == HTTPWIRE_MORE)
        s.res = httpwire_eof(&s.r);
    return s;
}

static struct seen run(const char *text, bool eof)
{
    return run_split(text, strlen(text), false, 0, eof);
}

static struct seen run_bytes(const char *text, size_t len, bool eof)
{
    struct seen s;

    httpwire_init(&s.r, body_buf, sizeof(body_buf), loc_buf, sizeof(loc_buf),
                  false);
    s.res = HTTPWIRE_MORE;
    for (size_t i = 0; i < len && s.res == HTTPWIRE_MORE; i++)
        s.res = httpwire_feed(&s.r, text + i, 1);
    if (eof && s.res == HTTPWIRE_MORE)
        s.res = httpwire_eof(&s.r);
    return s;
}

static void expect_body(const struct seen *s, const char *body)
{
    cr_expect_eq(s->r.body_len, strlen(body));
    cr_expect(memcmp(s->r.body, body, s->r.body_len) == 0, "body '%.*s'",
              (int)s->r.body_len, s->r.body);
}

static void expect_failure(const char *text, bool eof, enum httpwire_error e,
                           const char *says)
{
    struct seen s = run(text, eof);
    char why[256];

    cr_expect_eq(s.res, HTTPWIRE_FAILED, "%s", text);
    cr_expect_eq(s.r.error, e, "%s: error %d", text, s.r.error);
    httpwire_reason(&s.r, why, sizeof(why));
    cr_expect(strstr(why, says) != NULL, "reason '%s' lacks '%s'", why, says);
}

struct shape {
    const char *name;
    const char *text;
    bool eof;  /* the server closes after text */
    bool head; /* the request was HEAD */
    enum httpwire_result res;
    int status;
    const char *body;
};

static const struct shape shapes[] = {
    {"content-length", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
     false, false, HTTPWIRE_DONE, 200, "hello"},
    {"http/1.0 until close", "HTTP/1.0 200 OK\r\n\r\nall of it", true, false,
     HTTPWIRE_DONE, 200, "all of it"},
    {"chunked",
     "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
     "5\r\nhello\r\n7;ext=1\r\n, world\r\n0\r\nX-T: 1\r\n\r\n",
     false, false, HTTPWIRE_DONE, 200, "hello, world"},
    {"chunked, upper-case hex",
     "HTTP/1.1 200 OK\r\ntransfer-encoding: "
     "CHUNKED\r\n\r\nA\r\n0123456789\r\n0\r\n\r\n",
     false, false, HTTPWIRE_DONE, 200, "0123456789"},
    {"chunked overrides content-length",
     "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: gzip, "
     "chunked\r\n\r\n4\r\nabcd\r\n0\r\n\r\n",
     false, false, HTTPWIRE_DONE, 200, "abcd"},
    {"a transfer-encoding not chunked: until close",
     "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nTransfer-Encoding: gzip\r\n\r\n"
     "abcd",
     true, false, HTTPWIRE_DONE, 200, "abcd"},
    {"head has no body", "HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n", false,
     true, HTTPWIRE_DONE, 200, ""},
    {"204 has no body", "HTTP/1.1 204 No Content\r\n\r\n", false, false,
     HTTPWIRE_DONE, 204, ""},
    {"304 has no body",
     "HTTP/1.1 304 Not Modified\r\nContent-Length: 7\r\n"
     "\r\n",
     false, false, HTTPWIRE_DONE, 304, ""},
    {"1xx then the answer",
     "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early"
     "\r\nLink: x\r\n\r\nHTTP/1.1 503 Down\r\n"
     "Content-Length: 4\r\n\r\ndown",
     false, false, HTTPWIRE_DONE, 503, "down"},
    {"bare LF line ends, as curl reads them",
     "HTTP/1.1 200 OK\nContent-Length: 2\n\nok", false, false, HTTPWIRE_DONE,
     200, "ok"},
    {"no reason phrase", "HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n", false,
     false, HTTPWIRE_DONE, 200, ""},
    {"same content-length twice",
     "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n"
     "content-length:  2 \r\n\r\nok",
     false, false, HTTPWIRE_DONE, 200, "ok"},
    {"folded unknown header",
     "HTTP/1.1 200 OK\r\nX-A: 1\r\n  2\r\n"
     "Content-Length: 1\r\n\r\nx",
     false, false, HTTPWIRE_DONE, 200, "x"},
    {"an empty or long name",
     "HTTP/1.1 200 OK\r\n: x\r\nX-A-Rather-Long-Header"
     "-Name: 1\r\nContent-Length: 1\r\n\r\nx",
     false, false, HTTPWIRE_DONE, 200, "x"},
    {"location",
     "HTTP/1.1 302 Found\r\nLocation:  /next \r\n"
     "Content-Length: 0\r\n\r\n",
     false, false, HTTPWIRE_DONE, 302, ""},
    {"waits for more", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhel", false,
     false, HTTPWIRE_MORE, 200, "hel"},
    {"bytes after the answer are ignored",
     "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 500", false, false,
     HTTPWIRE_DONE, 200, "ok"},
};

static void check_shape(const struct shape *sh, const struct seen *s,
                        size_t split)
{
    cr_expect_eq(s->res, sh->res, "%s (split %zu): %d", sh->name, split,
                 s->res);
    cr_expect_eq(s->r.status, sh->status, "%s (split %zu)", sh->name, split);
    cr_expect_eq(s->r.body_len, strlen(sh->body), "%s (split %zu)", sh->name,
                 split);
    cr_expect(memcmp(s->r.body, sh->body, s->r.body_len) == 0,
              "%s (split %zu): '%.*s'", sh->name, split, (int)s->r.body_len,
              s->r.body);
}

Test(httpwire, every_shape_of_answer, .timeout = 10)
{
    for (size_t i = 0; i < ARRAY_SIZE(shapes); i++) {
        const struct shape *sh = &shapes[i];
        size_t len = strlen(sh->text);

        for (size_t split = 0; split < len; split++) {
            struct seen s = run_split(sh->text, len, sh->head, split, sh->eof);

            check_shape(sh, &s, split);
        }
    }
}

Test(httpwire, one_byte_at_a_time_gives_the_same_answer, .timeout = 10)
{
    for (size_t i = 0; i < ARRAY_SIZE(shapes); i++) {
        const struct shape *sh = &shapes[i];
        struct seen s;

        if (sh->head)
            continue;
        s = run_bytes(sh->text, strlen(sh->text), sh->eof);
        check_shape(sh, &s, 1);
    }
}

Test(httpwire, the_location_is_kept_and_bounded, .timeout = 5)
{
    struct seen s = run("HTTP/1.1 301 Moved\r\nLocation:  http://h/next \r\n"
                        "Content-Length: 0\r\n\r\n",
                        false);
    char big[512];

    cr_assert_eq(s.res, HTTPWIRE_DONE);
    cr_expect_eq(s.r.location_len, strlen("http://h/next"));
    cr_expect(memcmp(loc_buf, "http://h/next", s.r.location_len) == 0);
    cr_expect(!s.r.location_cut);
    snprintf(big, sizeof(big),
             "HTTP/1.1 301 Moved\r\nLocation: /%0200d\r\n"
             "Content-Length: 0\r\n\r\n",
             7);
    s = run(big, false);
    cr_assert_eq(s.res, HTTPWIRE_DONE);
    cr_expect(s.r.location_cut);
    cr_expect_eq(s.r.location_len, sizeof(loc_buf));
}

/*
 * Of several Location headers the first counts, as Go's Header.Get (kubelet)
 * and libcurl take it: a server cannot have the two transports disagree.
 */
Test(httpwire, the_first_location_counts, .timeout = 5)
{
    struct seen s = run("HTTP/1.1 302 Found\r\nLocation: /first\r\n"
                        "Location: /second\r\nContent-Length: 0\r\n\r\n",
                        false);

    cr_assert_eq(s.res, HTTPWIRE_DONE);
    cr_expect_eq(s.r.location_len, strlen("/first"));
    cr_expect(memcmp(loc_buf, "/first", s.r.location_len) == 0);
}

Test(httpwire, the_body_is_cut_at_the_cap_and_the_read_stops, .timeout = 5)
{
    size_t n = HTTPCHECK_BODY_MAX + 100;
    char *text = malloc(n + 64);
    int head;
    struct seen s;

    cr_assert_not_null(text);
    head =
        snprintf(text, 64, "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\n\r\n", n);
    memset(text + head, 'a', n);
    s = run_split(text, (size_t)head + n, false, 0, false);
    cr_expect_eq(s.res, HTTPWIRE_DONE);
    cr_expect(s.r.truncated);
    cr_expect_eq(s.r.body_len, HTTPCHECK_BODY_MAX);
    /* exactly the cap is not truncated */
    head = snprintf(text, 64, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n",
                    HTTPCHECK_BODY_MAX);
    s = run_split(text, (size_t)head + HTTPCHECK_BODY_MAX, false, 0, false);
    cr_expect_eq(s.res, HTTPWIRE_DONE);
    cr_expect(!s.r.truncated);
    free(text);
}

/*
 * An answer that is not HTTP is quoted by its first 16 bytes (up to its
 * first line's end), whatever the split, so that the reason says what
 * answered: not "S" for an SSH server, nor "HTTP/1.1 100" for a status
 * of 1000. A TLS alert's NUL or a bare CR is part of the quote.
 */
Test(httpwire, not_http_is_quoted_by_its_first_bytes_at_any_split, .timeout = 5)
{
    static const struct {
        const char *text;
        size_t len;
        bool eof;
        const char *says;
    } cases[] = {
        {"SSH-2.0-OpenSSH_9.2\r\n", 21, false, "\"SSH-2.0-OpenSSH_\""},
        {"HTTP/1.1 1000 OK\r\n\r\n", 20, false, "\"HTTP/1.1 1000 OK\""},
        {"hello\n", 6, false, "\"hello\""},
        {"hi", 2, true, "\"hi\""},
        {"\x15\x03\x01\x00\x02\x02\x32", 7, true,
         "\"\\x15\\x03\\x01\\x00\\x02\\x022\""},
        {"X\rY", 3, true, "\"X\""},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        for (size_t split = 0; split <= cases[i].len; split++) {
            struct seen s =
                split == cases[i].len
                    ? run_bytes(cases[i].text, cases[i].len, cases[i].eof)
                    : run_split(cases[i].text, cases[i].len, false, split,
                                cases[i].eof);
            char why[256];

            cr_expect_eq(s.res, HTTPWIRE_FAILED, "case %zu split %zu", i,
                         split);
            cr_expect_eq(s.r.error, HTTPWIRE_NOT_HTTP, "case %zu split %zu: %d",
                         i, split, s.r.error);
            httpwire_reason(&s.r, why, sizeof(why));
            cr_expect(strstr(why, cases[i].says) != NULL,
                      "case %zu split %zu: '%s' lacks '%s'", i, split, why,
                      cases[i].says);
        }
    }
}

/* A CR without LF in a chunk's framing is a malformed chunk: it is not
 * in the header, as the reason said. */
Test(httpwire, a_bare_cr_in_chunk_framing_is_a_malformed_chunk, .timeout = 5)
{
    expect_failure("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                   "5\r\nhello\rX",
                   false, HTTPWIRE_BAD_CHUNK, "a malformed chunk");
    expect_failure("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                   "5\rX",
                   false, HTTPWIRE_BAD_CHUNK, "a malformed chunk");
    expect_failure("HTTP/1.1 200 OK\rX", false, HTTPWIRE_BARE_CR,
                   "a CR without LF in the answer's header");
}

Test(httpwire, hostile_answers_fail_with_their_reason, .timeout = 5)
{
    expect_failure("SSH-2.0-OpenSSH_9.2\r\n", false, HTTPWIRE_NOT_HTTP,
                   "not HTTP/1.x: the answer starts with \"SSH-2.0-OpenSSH_\"");
    expect_failure("HTTP/2 200\r\n\r\n", false, HTTPWIRE_NOT_HTTP,
                   "starts with \"HTTP/2 200\"");
    expect_failure("HTTP/1.1 20\r\n\r\n", false, HTTPWIRE_NOT_HTTP, "not HTTP");
    expect_failure("HTTP/1.1 099 x\r\n\r\n", false, HTTPWIRE_NOT_HTTP,
                   "not HTTP");
    expect_failure("HTTP/1.1 2000\r\n\r\n", false, HTTPWIRE_NOT_HTTP,
                   "not HTTP");
    expect_failure("", true, HTTPWIRE_EMPTY, "empty answer");
    expect_failure("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", true,
                   HTTPWIRE_CLOSED_BODY,
                   "closed before the body's end: 3 of 10 bytes");
    expect_failure("HTTP/1.1 200 OK\r\nContent-", true, HTTPWIRE_CLOSED_HEAD,
                   "closed inside the header");
    expect_failure("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n"
                   "ab",
                   true, HTTPWIRE_CLOSED_CHUNK, "inside the chunked body");
    expect_failure("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n",
                   true, HTTPWIRE_CLOSED_CHUNK, "inside the chunked body");
    expect_failure("HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", false,
                   HTTPWIRE_BAD_LENGTH, "invalid Content-Length");
    expect_failure("HTTP/1.1 200 OK\r\nContent-Length: 1 2\r\n\r\n", false,
                   HTTPWIRE_BAD_LENGTH, "invalid Content-Length");
    expect_failure("HTTP/1.1 200 OK\r\nContent-Length:\r\n\r\n", false,
                   HTTPWIRE_BAD_LENGTH, "invalid Content-Length");
    expect_failure("HTTP/1.1 200 OK\r\nContent-Length: "
                   "99999999999999999999999\r\n\r\n",
                   false, HTTPWIRE_BAD_LENGTH, "invalid Content-Length");
    expect_failure("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: "
                   "3\r\n\r\n",
                   false, HTTPWIRE_TWO_LENGTHS, "disagree");
    expect_failure("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n 3\r\n\r\n", false,
                   HTTPWIRE_FOLD, "folded");
    expect_failure("HTTP/1.1 200 OK\r\n X: 1\r\n\r\n", false, HTTPWIRE_FOLD,
                   "folded");
    expect_failure("HTTP/1.1 200 OK\r\ngarbage line\r\n\r\n", false,
                   HTTPWIRE_NO_COLON, "without a colon");
    expect_failure("HTTP/1.1 200 OK\r\nX-A-Rather-Long-Header-Name\r\n\r\n",
                   false, HTTPWIRE_NO_COLON, "without a colon");
    expect_failure("HTTP/1.1 200 OK\rX: 1\r\n\r\n", false, HTTPWIRE_BARE_CR,
                   "CR without LF");
    expect_failure("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                   "10000000000000000\r\n",
                   false, HTTPWIRE_BAD_CHUNK, "malformed chunk");
    expect_failure("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                   "x\r\n",
                   false, HTTPWIRE_BAD_CHUNK, "malformed chunk");
    expect_failure("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                   "\r\n",
                   false, HTTPWIRE_BAD_CHUNK, "malformed chunk");
    expect_failure("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                   "2\r\nabc\r\n",
                   false, HTTPWIRE_BAD_CHUNK, "malformed chunk");
}

Test(httpwire, a_nul_in_the_header_fails, .timeout = 5)
{
    struct seen s = run_bytes("HTTP/1.1 200 \0K\r\n\r\n", 19, false);

    cr_expect_eq(s.res, HTTPWIRE_FAILED);
    cr_expect_eq(s.r.error, HTTPWIRE_NUL);
    s = run_split("HTTP/1.1 200 OK\r\nX: a\0b\r\n\r\n", 27, false, 0, false);
    cr_expect_eq(s.res, HTTPWIRE_FAILED);
    cr_expect_eq(s.r.error, HTTPWIRE_NUL);
}

/* A header that never ends, a chunk line that never ends: bounded. */
Test(httpwire, endless_lines_are_bounded, .timeout = 5)
{
    size_t n = HTTPWIRE_HEAD_MAX + 10;
    char *text = malloc(n + 64);
    struct seen s;

    cr_assert_not_null(text);
    strcpy(text, "HTTP/1.1 200 OK\r\nX-Big: ");
    memset(text + strlen(text), 'x', n);
    s = run_split(text, n, false, 0, false);
    cr_expect_eq(s.res, HTTPWIRE_FAILED);
    cr_expect_eq(s.r.error, HTTPWIRE_HEAD_TOO_BIG);
    /* many small headers count the same */
    free(text);
    text = malloc(HTTPWIRE_HEAD_MAX * 2);
    cr_assert_not_null(text);
    n = (size_t)sprintf(text, "HTTP/1.1 200 OK\r\n");
    while (n < HTTPWIRE_HEAD_MAX + 100)
        n += (size_t)sprintf(text + n, "A: b\r\n");
    s = run_split(text, n, false, 0, false);
    cr_expect_eq(s.r.error, HTTPWIRE_HEAD_TOO_BIG);
    /* a chunk size of endless zeros, or endless extensions */
    n = (size_t)sprintf(text, "HTTP/1.1 200 OK\r\nTransfer-Encoding: "
                              "chunked\r\n\r\n1;");
    memset(text + n, 'e', HTTPWIRE_CHUNK_LINE_MAX);
    s = run_split(text, n + HTTPWIRE_CHUNK_LINE_MAX, false, 0, false);
    cr_expect_eq(s.r.error, HTTPWIRE_BAD_CHUNK);
    n = (size_t)sprintf(text, "HTTP/1.1 200 OK\r\nTransfer-Encoding: "
                              "chunked\r\n\r\n");
    memset(text + n, '0', 64);
    s = run_split(text, n + 64, false, 0, false);
    cr_expect_eq(s.r.error, HTTPWIRE_BAD_CHUNK);
    free(text);
}

Test(httpwire, reset_forgets_the_last_answer, .timeout = 5)
{
    struct httpwire r;
    const char *a = "HTTP/1.1 500 OK\r\nLocation: /x\r\nContent-Length: 3\r\n"
                    "\r\nbad";
    const char *b = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";

    httpwire_init(&r, body_buf, sizeof(body_buf), loc_buf, sizeof(loc_buf),
                  false);
    cr_assert_eq(httpwire_feed(&r, a, strlen(a)), HTTPWIRE_DONE);
    httpwire_reset(&r);
    cr_assert_eq(httpwire_feed(&r, b, strlen(b)), HTTPWIRE_DONE);
    cr_expect_eq(r.status, 200);
    cr_expect_eq(r.location_len, 0);
    expect_body(&(struct seen){HTTPWIRE_DONE, r}, "ok");
}

/* ---- the verdict ---- */

Test(httpcheck, verdicts_and_their_reasons, .timeout = 5)
{
    struct cfg_probe p = probe("http://h/", "GET", NULL, 0);
    char why[REASON_MAX];

    cr_expect(httpcheck_judge(&p, 200, "ok", 2, false, why, sizeof(why)));
    cr_expect_str_eq(why, "HTTP 200");
    cr_expect(!httpcheck_judge(&p, 503, "down\r\n  now\0x", 13, false, why,
                               sizeof(why)));
    cr_expect_str_eq(why, "HTTP 503: down now x");
    cr_expect(!httpcheck_judge(&p, 500, NULL, 0, false, why, sizeof(why)));
    cr_expect_str_eq(why, "HTTP 500");
    p.expect_body = "ready";
    cr_expect(httpcheck_judge(&p, 204, "is ready", 8, false, why, sizeof(why)));
    cr_expect(!httpcheck_judge(&p, 200, "nope", 4, true, why, sizeof(why)));
    cr_expect_str_eq(
        why, "HTTP 200 but the body (its first 64 KiB) does not contain "
             "'ready'");
}

Test(httpcheck, a_location_resolves_against_the_url_it_answered, .timeout = 5)
{
    static const struct {
        const char *base, *loc, *want;
    } cases[] = {
        {"http://h:81/a/b?q", "/x", "http://h:81/x"},
        {"http://h:81/a/b?q", "c", "http://h:81/a/c"},
        {"http://h/a/b", "../c?d", "http://h/a/../c?d"},
        {"http://h/a/b?q#f", "?r", "http://h/a/b?r"},
        {"http://h/a/b?q#f", "#g", "http://h/a/b?q"},
        {"http://h", "x", "http://h/x"},
        {"https://h/a", "//o:1/p#f", "https://o:1/p"},
        {"http://h/a", "HTTPS://O/p", "https://O/p"},
    };
    char out[HTTPCHECK_URL_MAX];

    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        cr_assert_eq(httpcheck_resolve(cases[i].base, cases[i].loc,
                                       strlen(cases[i].loc), out, sizeof(out)),
                     0);
        cr_expect_str_eq(out, cases[i].want, "%s + %s", cases[i].base,
                         cases[i].loc);
    }
    cr_expect_eq(httpcheck_resolve("http://h/", "/abcdef", 7, out, 8),
                 -ENAMETOOLONG);
}

Test(httpcheck, the_redirect_rule_is_kubelets, .timeout = 5)
{
    struct cfg_probe p = probe("http://Web:80/a", "POST", NULL, 0);
    const char *method = "POST";
    char reason[REASON_MAX];
    unsigned hops = 0;

    cr_expect_eq(httpcheck_redirect(&p, 302, "http://web:81/b", &hops, &method,
                                    reason, sizeof(reason)),
                 HTTPCHECK_FOLLOW);
    cr_expect_eq(hops, 1);
    cr_expect_str_eq(method, "GET");
    cr_expect_eq(httpcheck_redirect(&p, 302, "http://other/b", &hops, &method,
                                    reason, sizeof(reason)),
                 HTTPCHECK_PASS);
    cr_expect_str_eq(reason, "HTTP 302: redirect to another host "
                             "(http://other/b) not followed, as kubelet");
    /* kubelet compares host names whatever the scheme: file:/// has none,
     * a pass not followed; ftp: on the same host is followed, and Go's
     * client fails it. A URL's user and password are never quoted. */
    cr_expect_eq(httpcheck_redirect(&p, 302, "file:///etc/x", &hops, &method,
                                    reason, sizeof(reason)),
                 HTTPCHECK_PASS);
    cr_expect_str_eq(reason, "HTTP 302: redirect to another host "
                             "(file:///etc/x) not followed, as kubelet");
    cr_expect_eq(httpcheck_redirect(&p, 302, "ftp://u:pw@WEB:21/b", &hops,
                                    &method, reason, sizeof(reason)),
                 HTTPCHECK_FAIL);
    cr_expect_str_eq(reason, "HTTP 302: a redirect to ftp://WEB:21/b, which "
                             "is no http:// or https:// URL");
    cr_expect_eq(httpcheck_redirect(&p, 302, "http://u:pw@other/b", &hops,
                                    &method, reason, sizeof(reason)),
                 HTTPCHECK_PASS);
    cr_expect_str_eq(reason, "HTTP 302: redirect to another host "
                             "(http://other/b) not followed, as kubelet");
    cr_expect_eq(httpcheck_redirect(&p, 200, "http://web/b", &hops, &method,
                                    reason, sizeof(reason)),
                 HTTPCHECK_JUDGE);
    cr_expect_eq(httpcheck_redirect(&p, 302, NULL, &hops, &method, reason,
                                    sizeof(reason)),
                 HTTPCHECK_JUDGE);
    hops = 10;
    cr_expect_eq(httpcheck_redirect(&p, 307, "http://web/b", &hops, &method,
                                    reason, sizeof(reason)),
                 HTTPCHECK_FAIL);
    cr_expect_str_eq(reason, "HTTP 307: stopped after 10 redirects");
    p.follow_redirects = CFG_REDIRECTS_ALL;
    hops = 0;
    method = "POST";
    cr_expect_eq(httpcheck_redirect(&p, 307, "https://other/b", &hops, &method,
                                    reason, sizeof(reason)),
                 HTTPCHECK_FOLLOW);
    cr_expect_str_eq(method, "POST");
    p.follow_redirects = CFG_REDIRECTS_SAME_HOST;
    p.url = "http://u:p@[::1]:80/a";
    hops = 0;
    cr_expect_eq(httpcheck_redirect(&p, 302, "http://[::1]:81/b", &hops,
                                    &method, reason, sizeof(reason)),
                 HTTPCHECK_FOLLOW);
    cr_expect_eq(httpcheck_redirect(&p, 302, "http://[::2]/b", &hops, &method,
                                    reason, sizeof(reason)),
                 HTTPCHECK_PASS);
    p.follow_redirects = CFG_REDIRECTS_NONE;
    cr_expect_eq(httpcheck_redirect(&p, 302, "http://web/b", &hops, &method,
                                    reason, sizeof(reason)),
                 HTTPCHECK_JUDGE);
}

/* kubelet never verifies: a failed verification says how to turn it off. */
Test(curlkind, a_failed_verification_names_insecure, .timeout = 5)
{
    struct cfg_probe p = probe("https://h/", "GET", NULL, 0);
    char reason[REASON_MAX];

    curlkind_failure(reason, sizeof(reason), &p, CURLE_PEER_FAILED_VERIFICATION,
                     "SSL certificate problem: self-signed certificate");
    cr_expect_str_eq(reason, "SSL certificate problem: self-signed "
                             "certificate; set insecure: true to skip "
                             "verification (kubelet does not verify)");
    curlkind_failure(reason, sizeof(reason), &p, CURLE_COULDNT_CONNECT,
                     "Failed to connect");
    cr_expect_str_eq(reason, "Failed to connect");
}
