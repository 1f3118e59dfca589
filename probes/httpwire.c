/*
 * HTTP/1.1 for the native http probe, bytes in and bytes out. The request
 * copies what libcurl 7.88 sends for the same probe (header order, the
 * path normalised, the fragment dropped), checked against curl's own
 * bytes (the headers by httpcheck_headers(), as http.c gives them to
 * curl). The parser reads the answer one byte
 * at a time through the header (so any split gives the same verdict) and
 * in runs through the body; it is as lenient as curl where that is safe
 * (bare LF line ends, obs-fold of a header it does not read) and refuses,
 * unlike curl 7.88, what could make it read a body of the wrong length
 * (two Content-Length that disagree, a folded one, a bare CR).
 */
#include "probes/httpwire.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf/parse.h"
#include "probes/httpcheck.h"

/* ---- the request ---- */

/* Appends that count past cap, as snprintf does, to size the buffer. */
struct out {
    char *buf;
    size_t cap;
    size_t len;
    bool over; /* something did not fit: len is only an upper bound */
};

static void put(struct out *o, const char *s, size_t n)
{
    if (o->over || n > o->cap - o->len)
        o->over = true;
    else
        memcpy(o->buf + o->len, s, n);
    o->len += n;
}

static void puts0(struct out *o, const char *s)
{
    put(o, s, strlen(s));
}

/* Bytes >= 0x80 of the path as %xx (lower case), as curl sends them. */
static void put_segment(struct out *o, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";

    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        char esc[3] = {'%', hex[c >> 4], hex[c & 15]};

        if (c >= 0x80)
            put(o, esc, 3);
        else
            put(o, s + i, 1);
    }
}

static bool is_dots(const char *s, size_t n, size_t dots)
{
    return n == dots && strncmp(s, "..", dots) == 0;
}

/*
 * The path with "." and ".." segments removed (RFC 3986 5.2.4), as curl
 * does unless told to send it as is; "" is "/". Works on the output: a
 * ".." drops what the last segment wrote.
 */
static void put_path(struct out *o, const char *path, size_t n)
{
    size_t start = o->len;
    size_t i = 1; /* past the path's leading '/' */

    if (n == 0) {
        put(o, "/", 1);
        return;
    }
    while (i <= n) {
        const char *seg = path + i;
        const char *slash = memchr(seg, '/', n - i);
        size_t len = slash ? (size_t)(slash - seg) : n - i;
        bool last = slash == NULL;

        if (is_dots(seg, len, 2)) {
            /* back to the '/' before the last segment written */
            while (o->len > start && !o->over && o->buf[o->len - 1] != '/')
                o->len--;
            if (o->len > start)
                o->len--;
        }
        if (is_dots(seg, len, 1) || is_dots(seg, len, 2)) {
            if (last)
                put(o, "/", 1);
        } else {
            put(o, "/", 1);
            put_segment(o, seg, len);
        }
        i += len + 1;
    }
    if (o->len == start)
        put(o, "/", 1);
}

static bool has_ctl(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];

        if (c < 0x20 || c == 0x7f || c == ' ')
            return true;
    }
    return false;
}

static void put_header(struct out *o, const char *name, const char *value)
{
    puts0(o, name);
    put(o, ": ", 2);
    puts0(o, value);
    put(o, "\r\n", 2);
}

/* A default header, unless one of the same name is configured. */
static void put_default(struct out *o, const struct cfg_probe *cfg,
                        const char *name, const char *value)
{
    if (httpcheck_header(cfg, name) == NULL)
        put_header(o, name, value);
}

/* What httpcheck_headers() gives: all but Host (in its place already) and
 * what is not to be sent. */
struct headers_out {
    struct out *o;
    const struct cfg_header *host;
};

static void put_given(void *arg, const char *name, const char *value)
{
    struct headers_out *h = arg;

    if (value[0] != '\0' && (h->host == NULL || name != h->host->name))
        put_header(h->o, name, value);
}

/* Base64 written as bytes come (RFC 4648, with padding). */
struct b64 {
    struct out *o;
    unsigned char group[3];
    size_t n;
};

static void b64_flush(struct b64 *b)
{
    static const char abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
                              "abcdefghijklmnopqrstuvwxyz0123456789+/";
    unsigned char *g = b->group;
    char q[4] = {abc[g[0] >> 2], abc[((g[0] & 3) << 4) | (g[1] >> 4)],
                 abc[((g[1] & 15) << 2) | (g[2] >> 6)], abc[g[2] & 63]};

    if (b->n == 0)
        return;
    if (b->n < 3)
        q[3] = '=';
    if (b->n < 2)
        q[2] = '=';
    put(b->o, q, 4);
    memset(g, 0, 3);
    b->n = 0;
}

static void b64_byte(struct b64 *b, unsigned char c)
{
    b->group[b->n++] = c;
    if (b->n == 3)
        b64_flush(b);
}

/*
 * curl's Authorization for credentials in the URL: Basic, of the user and
 * the password percent-decoded and joined by ':' ("user@" is "user:").
 */
static void put_basic(struct out *o, const struct cfg_url *u)
{
    struct b64 b = {o, {0, 0, 0}, 0};
    const char *colon = memchr(u->user, ':', u->user_len);

    put(o, "Authorization: Basic ", 21);
    for (size_t i = 0; i < u->user_len; i++) {
        const char *c = u->user + i;
        int hi = i + 2 < u->user_len ? util_hex_digit(c[1]) : -1;
        int lo = hi >= 0 ? util_hex_digit(c[2]) : -1;

        if (*c == '%' && lo >= 0) {
            b64_byte(&b, (unsigned char)(hi << 4 | lo));
            i += 2;
        } else {
            b64_byte(&b, (unsigned char)*c);
        }
    }
    if (colon == NULL)
        b64_byte(&b, ':');
    b64_flush(&b);
    put(o, "\r\n", 2);
}

static int refuse(int rc, char *err, size_t errlen, const char *why,
                  const char *what)
{
    snprintf(err, errlen, "%s%s", why, what);
    return rc;
}

static int check_url(const struct cfg_probe *cfg, const struct cfg_url *u,
                     char *err, size_t errlen)
{
    if (u->tls)
        return refuse(-ENOTSUP, err, errlen, "https needs libcurl", "");
    if (u->user_len > 0 && (memchr(u->user, '@', u->user_len) != NULL ||
                            has_ctl(u->user, u->user_len)))
        return refuse(-ENOTSUP, err, errlen,
                      "credentials in the URL that libcurl reads", "");
    if (memchr(u->host, '%', u->host_len) != NULL)
        return refuse(-ENOTSUP, err, errlen, "an IPv6 zone needs libcurl", "");
    if (has_ctl(u->host, u->host_len) || has_ctl(u->target, u->target_len))
        return refuse(-EINVAL, err, errlen,
                      "a control byte or space in the URL", "");
    for (size_t i = 0; i < cfg->headers_count; i++) {
        const struct cfg_header *h = &cfg->headers[i];

        if (h->name[0] == '\0' || strpbrk(h->name, ": \t\r\n") != NULL ||
            strpbrk(h->value, "\r\n") != NULL)
            return refuse(-EINVAL, err, errlen,
                          "a header with a CR, LF or bad name: ", h->name);
    }
    if (cfg->method[0] == '\0' || has_ctl(cfg->method, strlen(cfg->method)))
        return refuse(-EINVAL, err, errlen, "a bad method: ", cfg->method);
    return 0;
}

int httpwire_request(const struct cfg_probe *cfg, char *buf, size_t cap,
                     size_t *len, char *err, size_t errlen)
{
    struct out o = {buf, cap, 0, false};
    const struct cfg_header *host;
    struct cfg_url u;
    const char *query;
    char port[8];
    int rc;

    if (cfg_parse_url(cfg->url, &u) < 0)
        return refuse(-EINVAL, err, errlen, "not an http:// URL", "");
    rc = check_url(cfg, &u, err, errlen);
    if (rc < 0)
        return rc;
    query = memchr(u.target, '?', u.target_len);
    if (query == NULL)
        query = u.target + u.target_len;

    puts0(&o, cfg->method);
    put(&o, " ", 1);
    put_path(&o, u.target, (size_t)(query - u.target));
    put(&o, query, (size_t)(u.target + u.target_len - query));
    put(&o, " HTTP/1.1\r\nHost: ", 17);
    host = httpcheck_header(cfg, "Host");
    if (host != NULL && host->value[0] != '\0') {
        puts0(&o, host->value);
    } else {
        put(&o, "[", u.ipv6);
        put(&o, u.host, u.host_len);
        put(&o, "]", u.ipv6);
        if (u.port != 80) {
            snprintf(port, sizeof(port), ":%u", u.port);
            puts0(&o, port);
        }
    }
    put(&o, "\r\n", 2);
    if (u.user_len > 0 && httpcheck_header(cfg, "Authorization") == NULL)
        put_basic(&o, &u);
    httpcheck_headers(cfg, put_given, &(struct headers_out){&o, host});
    /* http.c gives these an empty body: curl then sends both. */
    if (strcmp(cfg->method, "POST") == 0 || strcmp(cfg->method, "PUT") == 0 ||
        strcmp(cfg->method, "PATCH") == 0) {
        put_default(&o, cfg, "Content-Length", "0");
        put_default(&o, cfg, "Content-Type",
                    "application/x-www-form-urlencoded");
    }
    put(&o, "\r\n", 2);
    *len = o.len;
    return o.over ? -ENOBUFS : 0;
}

/* ---- the answer ---- */

enum state {
    ST_STATUS,     /* the status line */
    ST_LINE,       /* the start of a header or trailer line */
    ST_NAME,       /* a header's name */
    ST_VALUE,      /* a header's value */
    ST_SKIP,       /* the rest of a line that says nothing to us */
    ST_BODY,       /* Content-Length bytes */
    ST_UNTIL_EOF,  /* a body read until the close */
    ST_CHUNK_SIZE, /* a chunk's size */
    ST_CHUNK_EXT,  /* a chunk's extensions, ignored */
    ST_CHUNK_DATA, /* a chunk's bytes */
    ST_CHUNK_END,  /* the line end after a chunk's bytes */
    ST_DONE,
    ST_FAILED,
};

enum hdr {
    H_OTHER,
    H_LENGTH,
    H_TE,
    H_LOCATION,
};

static const char *const error_text[] = {
    [HTTPWIRE_OK] = "no error",
    [HTTPWIRE_EMPTY] = "empty answer: the server closed without a byte",
    [HTTPWIRE_NOT_HTTP] = "not HTTP/1.x",
    [HTTPWIRE_HEAD_TOO_BIG] = "the answer's header is over 16 KiB",
    [HTTPWIRE_NUL] = "a NUL byte in the answer's header",
    [HTTPWIRE_BARE_CR] = "a CR without LF in the answer's header",
    [HTTPWIRE_FOLD] = "a folded header line that cannot be read safely",
    [HTTPWIRE_NO_COLON] = "a header line without a colon",
    [HTTPWIRE_BAD_LENGTH] = "an invalid Content-Length",
    [HTTPWIRE_TWO_LENGTHS] = "two Content-Length headers that disagree",
    [HTTPWIRE_BAD_CHUNK] = "a malformed chunk in a chunked body",
    [HTTPWIRE_CLOSED_HEAD] = "the server closed inside the header",
    [HTTPWIRE_CLOSED_BODY] = "the server closed before the body's end",
    [HTTPWIRE_CLOSED_CHUNK] = "the server closed inside the chunked body",
};

void httpwire_init(struct httpwire *r, char *body, size_t body_cap,
                   char *location, size_t location_cap, bool head)
{
    memset(r, 0, sizeof(*r));
    r->body = body;
    r->body_cap = body_cap;
    r->location = location;
    r->location_cap = location ? location_cap : 0;
    r->head = head;
}

void httpwire_sink(struct httpwire *r, httpwire_sink_fn *sink, void *arg)
{
    r->sink = sink;
    r->sink_arg = arg;
}

void httpwire_on_location(struct httpwire *r, httpwire_location_fn *fn)
{
    r->location_fn = fn;
}

void httpwire_reset(struct httpwire *r)
{
    httpwire_sink_fn *sink = r->sink;
    httpwire_location_fn *fn = r->location_fn;
    void *arg = r->sink_arg;

    httpwire_init(r, r->body, r->body_cap, r->location, r->location_cap,
                  r->head);
    httpwire_sink(r, sink, arg);
    r->location_fn = fn;
}

static enum httpwire_result fail(struct httpwire *r, enum httpwire_error e)
{
    r->error = e;
    r->state = ST_FAILED;
    return HTTPWIRE_FAILED;
}

/* Checks the status line's byte at its offset n: "HTTP/1.x ddd ...". */
static bool status_byte(struct httpwire *r, size_t n, char c)
{
    static const char prefix[] = "HTTP/1.";

    if (n < sizeof(prefix) - 1)
        return c == prefix[n];
    if (n == 7)
        return c == '0' || c == '1';
    if (n == 8)
        return c == ' ';
    if (n >= 9 && n <= 11) {
        if (c < '0' || c > '9')
            return false;
        r->status = r->status * 10 + (c - '0');
        return n != 9 || c != '0';
    }
    return n != 12 || c == ' ';
}

/* A header's name is read: which one is it. */
static enum hdr header_of(const struct httpwire *r)
{
    static const struct {
        const char *name;
        enum hdr hdr;
    } known[] = {
        {"content-length", H_LENGTH},
        {"transfer-encoding", H_TE},
        {"location", H_LOCATION},
    };

    for (size_t i = 0; i < ARRAY_SIZE(known); i++) {
        if (strlen(known[i].name) == r->name_len &&
            memcmp(known[i].name, r->name, r->name_len) == 0)
            return known[i].hdr;
    }
    return H_OTHER;
}

static bool is_ws(char c)
{
    return c == ' ' || c == '\t';
}

/* One byte of a header's value, leading whitespace skipped already. */
static enum httpwire_result value_byte(struct httpwire *r, char c)
{
    switch (r->hdr) {
    case H_LENGTH:
        if (is_ws(c)) {
            r->value_ws = r->digits > 0;
        } else if (c < '0' || c > '9' || r->value_ws) {
            return fail(r, HTTPWIRE_BAD_LENGTH);
        } else {
            if (r->value > (UINT64_C(1) << 53)) /* 8 PiB: no probe's */
                return fail(r, HTTPWIRE_BAD_LENGTH);
            r->value = r->value * 10 + (uint64_t)(c - '0');
            r->digits++;
        }
        break;
    case H_TE:
        if (c == ',') {
            r->te_len = 0;
            r->value_ws = false;
        } else if (is_ws(c)) {
            r->value_ws = r->te_len > 0;
        } else if (r->te_len < sizeof(r->te) && !r->value_ws) {
            r->te[r->te_len++] = (char)(c | 0x20);
        } else {
            r->te_len = sizeof(r->te); /* not "chunked" */
        }
        break;
    case H_LOCATION:
        if (r->location_len < r->location_cap)
            r->location[r->location_len++] = c;
        else
            r->location_cut = true;
        break;
    default:
        break;
    }
    return HTTPWIRE_MORE;
}

/* The end of a header line. */
static enum httpwire_result value_end(struct httpwire *r)
{
    switch (r->hdr) {
    case H_LENGTH:
        if (r->digits == 0)
            return fail(r, HTTPWIRE_BAD_LENGTH);
        if (r->have_length && r->length != r->value)
            return fail(r, HTTPWIRE_TWO_LENGTHS);
        r->have_length = true;
        r->length = r->value;
        break;
    case H_TE:
        /* the last coding decides; a second header continues the list */
        r->chunked = r->te_len == 7 && memcmp(r->te, "chunked", 7) == 0;
        break;
    case H_LOCATION:
        while (r->location_len > 0 && is_ws(r->location[r->location_len - 1]))
            r->location_len--;
        break;
    default:
        break;
    }
    return HTTPWIRE_MORE;
}

/* An empty line: the header, or the trailer, is over. */
static enum httpwire_result header_end(struct httpwire *r, bool trailer)
{
    if (trailer) {
        r->state = ST_DONE;
        return HTTPWIRE_DONE;
    }
    if (r->status < 200 && r->status != 101) {
        /* 100 Continue, 103 Early Hints: the answer comes after. */
        size_t head = r->head_bytes;

        httpwire_reset(r);
        r->head_bytes = head;
        return HTTPWIRE_MORE;
    }
    if (r->head || r->status < 200 || r->status == 204 || r->status == 304) {
        r->state = ST_DONE;
    } else if (r->chunked) {
        r->state = ST_CHUNK_SIZE;
        r->digits = 0;
        r->value = 0;
        r->line_bytes = 0;
    } else if (r->have_length && !r->te_seen) {
        r->left = r->length;
        r->state = r->left ? ST_BODY : ST_DONE;
    } else {
        r->state = ST_UNTIL_EOF;
    }
    return r->state == ST_DONE ? HTTPWIRE_DONE : HTTPWIRE_MORE;
}

/* A line end (LF, CR LF) in a line's state. */
static enum httpwire_result line_end(struct httpwire *r)
{
    enum httpwire_result res;

    switch (r->state) {
    case ST_STATUS:
        if (r->line_bytes < 12)
            return fail(r, HTTPWIRE_NOT_HTTP);
        r->state = ST_LINE;
        return HTTPWIRE_MORE;
    case ST_LINE:
        return header_end(r, r->trailer);
    case ST_NAME:
        return fail(r, HTTPWIRE_NO_COLON);
    case ST_SKIP:
        r->state = ST_LINE;
        return HTTPWIRE_MORE;
    case ST_VALUE:
        res = value_end(r);
        if (res == HTTPWIRE_MORE)
            r->state = ST_LINE;
        return res;
    case ST_CHUNK_SIZE:
    case ST_CHUNK_EXT:
        if (r->digits == 0)
            return fail(r, HTTPWIRE_BAD_CHUNK);
        r->left = r->value;
        r->line_bytes = 0;
        if (r->left > 0) {
            r->state = ST_CHUNK_DATA;
            return HTTPWIRE_MORE;
        }
        r->trailer = true; /* the last chunk: a trailer follows */
        r->hdr = H_OTHER;
        r->state = ST_LINE;
        return HTTPWIRE_MORE;
    case ST_CHUNK_END:
        r->state = ST_CHUNK_SIZE;
        r->digits = 0;
        r->value = 0;
        r->line_bytes = 0;
        return HTTPWIRE_MORE;
    default:
        return HTTPWIRE_MORE;
    }
}

/* One byte of a header's name, or the colon after it. */
static enum httpwire_result name_byte(struct httpwire *r, char c)
{
    if (c == ':') {
        r->hdr = (uint8_t)header_of(r);
        /* the first Location counts, as Go's Header.Get and libcurl */
        if (r->hdr == H_LOCATION && r->location_seen)
            r->hdr = H_OTHER;
        r->location_seen |= r->hdr == H_LOCATION;
        r->digits = 0;
        r->value = 0;
        r->value_ws = false;
        r->te_len = 0;
        r->te_seen |= r->hdr == H_TE;
        if (r->hdr == H_LOCATION && r->location == NULL && r->location_fn) {
            r->location = r->location_fn(r->sink_arg, &r->location_cap);
            if (r->location == NULL)
                r->location_cap = 0;
        }
        if (r->hdr == H_LOCATION) {
            r->location_len = 0;
            r->location_cut = false;
        }
        /* a value we do not read is skipped in runs */
        r->state = r->hdr == H_OTHER ? ST_SKIP : ST_VALUE;
        r->name_len = 0; /* now counts the value's bytes */
    } else if (r->name_len < sizeof(r->name)) {
        r->name[r->name_len++] = (char)(c | 0x20);
    }
    /* a longer name is none we read: the colon is still needed */
    return HTTPWIRE_MORE;
}

/*
 * A byte of a status line known not to be HTTP (error says so, the run is
 * not over): its first bytes are kept, up to sizeof(first) or the line's
 * end, so that the reason quotes them whatever the split.
 */
static enum httpwire_result not_http_byte(struct httpwire *r, char c)
{
    if (c == '\r' || c == '\n')
        return fail(r, HTTPWIRE_NOT_HTTP);
    r->first[r->line_bytes++] = c;
    return r->line_bytes < sizeof(r->first) ? HTTPWIRE_MORE
                                            : fail(r, HTTPWIRE_NOT_HTTP);
}

/* One byte of the status line, a header or a chunk's lines. */
static enum httpwire_result line_byte(struct httpwire *r, char c)
{
    if (r->state == ST_STATUS && r->error == HTTPWIRE_NOT_HTTP)
        return not_http_byte(r, c);
    if (r->cr && c != '\n')
        return fail(r, r->state >= ST_CHUNK_SIZE ? HTTPWIRE_BAD_CHUNK
                                                 : HTTPWIRE_BARE_CR);
    if (c == '\n') {
        r->cr = false;
        return line_end(r);
    }
    if (c == '\r') {
        r->cr = true;
        return HTTPWIRE_MORE;
    }
    if (c == '\0' && r->state <= ST_SKIP)
        return fail(r, HTTPWIRE_NUL);
    switch (r->state) {
    case ST_STATUS:
        if (r->line_bytes < sizeof(r->first))
            r->first[r->line_bytes] = c;
        if (status_byte(r, r->line_bytes++, c))
            return HTTPWIRE_MORE;
        if (r->line_bytes >= sizeof(r->first))
            return fail(r, HTTPWIRE_NOT_HTTP);
        r->error = HTTPWIRE_NOT_HTTP; /* the rest of first is read */
        return HTTPWIRE_MORE;
    case ST_LINE:
        if (is_ws(c)) {
            /* obs-fold: only a Location or an ignored header goes on */
            if (!r->any_header)
                return fail(r, HTTPWIRE_FOLD);
            if (r->hdr == H_LENGTH || r->hdr == H_TE)
                return fail(r, HTTPWIRE_FOLD);
            r->state = r->hdr == H_LOCATION ? ST_VALUE : ST_SKIP;
            return r->state == ST_VALUE ? value_byte(r, ' ') : HTTPWIRE_MORE;
        }
        r->any_header = true;
        r->name_len = 0;
        r->hdr = H_OTHER;
        /* a trailer says nothing we read */
        r->state = r->trailer ? ST_SKIP : ST_NAME;
        return r->trailer ? HTTPWIRE_MORE : name_byte(r, c);
    case ST_NAME:
        return name_byte(r, c);
    case ST_VALUE:
        if (is_ws(c) && r->name_len == 0)
            return HTTPWIRE_MORE; /* leading whitespace */
        r->name_len = 1;
        return value_byte(r, c);
    case ST_CHUNK_SIZE:
        if (util_hex_digit(c) >= 0) {
            if (r->digits++ >= 16 || (r->value >> 56) != 0)
                return fail(r, HTTPWIRE_BAD_CHUNK);
            r->value = r->value * 16 + (uint64_t)util_hex_digit(c);
            return HTTPWIRE_MORE;
        }
        if (c != ';' && !is_ws(c))
            return fail(r, HTTPWIRE_BAD_CHUNK);
        r->state = ST_CHUNK_EXT;
        return HTTPWIRE_MORE;
    case ST_CHUNK_END:
        return fail(r, HTTPWIRE_BAD_CHUNK);
    default: /* ST_SKIP, ST_CHUNK_EXT */
        return HTTPWIRE_MORE;
    }
}

/*
 * Keeps body bytes and gives them to the sink; DONE once more came than
 * the buffer holds, or, with no buffer, once the sink wants no more.
 */
static enum httpwire_result body(struct httpwire *r, const char *data, size_t n)
{
    size_t room = r->body_cap - r->body_len;
    size_t take = n < room ? n : room;
    bool more = r->sink == NULL || r->sink(r->sink_arg, data, n);

    if (take > 0)
        memcpy(r->body + r->body_len, data, take);
    r->body_len += take;
    r->body_seen += n;
    if (r->body_cap == 0 && r->sink != NULL && more)
        return HTTPWIRE_MORE;
    if (take < n || (r->body_cap == 0 && !more)) {
        r->truncated = true;
        r->state = ST_DONE;
        return HTTPWIRE_DONE;
    }
    return HTTPWIRE_MORE;
}

/* The length of the run at data that holds no CR, LF or NUL. */
static size_t plain_run(const char *data, size_t len)
{
    size_t n = 0;

    while (n < len && data[n] != '\n' && data[n] != '\r' && data[n] != '\0')
        n++;
    return n;
}

/* Body bytes of the states that count them: how many this one takes. */
static size_t counted(struct httpwire *r, size_t n)
{
    return r->left < n ? (size_t)r->left : n;
}

enum httpwire_result httpwire_feed(struct httpwire *r, const char *data,
                                   size_t len)
{
    enum httpwire_result res = HTTPWIRE_MORE;
    size_t i = 0;

    while (i < len && res == HTTPWIRE_MORE) {
        size_t n;

        switch (r->state) {
        case ST_DONE:
            return HTTPWIRE_DONE;
        case ST_FAILED:
            return HTTPWIRE_FAILED;
        case ST_UNTIL_EOF:
            return body(r, data + i, len - i);
        case ST_BODY:
        case ST_CHUNK_DATA:
            n = counted(r, len - i);
            res = body(r, data + i, n);
            r->left -= n;
            i += n;
            if (r->left == 0 && res == HTTPWIRE_MORE) {
                r->state = r->state == ST_BODY ? ST_DONE : ST_CHUNK_END;
                res = r->state == ST_DONE ? HTTPWIRE_DONE : HTTPWIRE_MORE;
            }
            break;
        case ST_CHUNK_SIZE:
        case ST_CHUNK_EXT:
        case ST_CHUNK_END:
            if (++r->line_bytes > HTTPWIRE_CHUNK_LINE_MAX)
                return fail(r, HTTPWIRE_BAD_CHUNK);
            res = line_byte(r, data[i++]);
            break;
        default:
            n = r->state == ST_SKIP && !r->cr ? plain_run(data + i, len - i)
                                              : 0;
            if (n > HTTPWIRE_HEAD_MAX - r->head_bytes)
                return fail(r, HTTPWIRE_HEAD_TOO_BIG);
            r->head_bytes += n;
            i += n;
            if (n > 0)
                break;
            if (++r->head_bytes > HTTPWIRE_HEAD_MAX)
                return fail(r, HTTPWIRE_HEAD_TOO_BIG);
            res = line_byte(r, data[i++]);
            break;
        }
    }
    if (r->state == ST_DONE)
        return HTTPWIRE_DONE;
    return r->state == ST_FAILED ? HTTPWIRE_FAILED : res;
}

enum httpwire_result httpwire_eof(struct httpwire *r)
{
    switch (r->state) {
    case ST_DONE:
    case ST_UNTIL_EOF:
        r->state = ST_DONE;
        return HTTPWIRE_DONE;
    case ST_FAILED:
        return HTTPWIRE_FAILED;
    case ST_STATUS:
        if (r->error == HTTPWIRE_NOT_HTTP)
            return fail(r, HTTPWIRE_NOT_HTTP);
        return fail(r, r->head_bytes ? HTTPWIRE_CLOSED_HEAD : HTTPWIRE_EMPTY);
    case ST_BODY:
        return fail(r, HTTPWIRE_CLOSED_BODY);
    case ST_CHUNK_SIZE:
    case ST_CHUNK_EXT:
    case ST_CHUNK_DATA:
    case ST_CHUNK_END:
        return fail(r, HTTPWIRE_CLOSED_CHUNK);
    default:
        return fail(r,
                    r->trailer ? HTTPWIRE_CLOSED_CHUNK : HTTPWIRE_CLOSED_HEAD);
    }
}

/* The answer's first bytes, quoted, C-escaped: "SSH-2.0-Op". */
static void quote_first(const struct httpwire *r, char *buf, size_t len)
{
    size_t n =
        r->line_bytes < sizeof(r->first) ? r->line_bytes : sizeof(r->first);
    size_t k = 0;

    for (size_t i = 0; i < n && k + 5 < len; i++) {
        unsigned char c = (unsigned char)r->first[i];

        if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\')
            buf[k++] = (char)c;
        else
            k += (size_t)snprintf(buf + k, len - k, "\\x%02x", c);
    }
    buf[k] = '\0';
}

void httpwire_reason(const struct httpwire *r, char *buf, size_t len)
{
    char first[sizeof(r->first) * 4 + 1];

    switch (r->error) {
    case HTTPWIRE_NOT_HTTP:
        quote_first(r, first, sizeof(first));
        snprintf(buf, len, "not HTTP/1.x: the answer starts with \"%s\"",
                 first);
        break;
    case HTTPWIRE_CLOSED_BODY:
        snprintf(buf, len, "%s: %llu of %llu bytes", error_text[r->error],
                 (unsigned long long)r->body_seen,
                 (unsigned long long)r->length);
        break;
    default:
        snprintf(buf, len, "%s", error_text[r->error]);
        break;
    }
}
