/*
 * Pure scalar parsers for sidecar.yaml (see parse.h). Every parser takes
 * a NUL-terminated string, accepts the whole string or nothing, and
 * checks for overflow before it happens.
 */
#include "conf/parse.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FRACTION_DIGITS_MAX 9
#define PORT_MAX            65535
#define STATUS_MIN          100
#define STATUS_MAX          599

struct unit {
    const char *name;
    uint64_t factor;
};

struct signame {
    int signo;
    const char *name;
};

/* A growable string for cfg_expand_env. */
struct strbuf {
    char *data;
    size_t len;
    size_t cap;
};

static const struct unit duration_units[] = {
    {"ms", 1},
    {"s", 1000},
    {"m", 60 * 1000},
    {"h", 60 * 60 * 1000},
};

static const struct unit size_units[] = {
    {"", 1},
    {"B", 1},
    {"KiB", UINT64_C(1) << 10},
    {"MiB", UINT64_C(1) << 20},
    {"GiB", UINT64_C(1) << 30},
    {"Ki", UINT64_C(1) << 10},
    {"Mi", UINT64_C(1) << 20},
    {"Gi", UINT64_C(1) << 30},
    {"kB", 1000},
    {"KB", 1000},
    {"MB", 1000 * 1000},
    {"GB", 1000 * 1000 * 1000},
};

/* Primary names first: cfg_signal_name() returns the first match. */
static const struct signame signames[] = {
    {SIGHUP, "SIGHUP"},       {SIGINT, "SIGINT"},       {SIGQUIT, "SIGQUIT"},
    {SIGILL, "SIGILL"},       {SIGTRAP, "SIGTRAP"},     {SIGABRT, "SIGABRT"},
    {SIGBUS, "SIGBUS"},       {SIGFPE, "SIGFPE"},       {SIGKILL, "SIGKILL"},
    {SIGUSR1, "SIGUSR1"},     {SIGSEGV, "SIGSEGV"},     {SIGUSR2, "SIGUSR2"},
    {SIGPIPE, "SIGPIPE"},     {SIGALRM, "SIGALRM"},     {SIGTERM, "SIGTERM"},
    {SIGSTKFLT, "SIGSTKFLT"}, {SIGCHLD, "SIGCHLD"},     {SIGCONT, "SIGCONT"},
    {SIGSTOP, "SIGSTOP"},     {SIGTSTP, "SIGTSTP"},     {SIGTTIN, "SIGTTIN"},
    {SIGTTOU, "SIGTTOU"},     {SIGURG, "SIGURG"},       {SIGXCPU, "SIGXCPU"},
    {SIGXFSZ, "SIGXFSZ"},     {SIGVTALRM, "SIGVTALRM"}, {SIGPROF, "SIGPROF"},
    {SIGWINCH, "SIGWINCH"},   {SIGIO, "SIGIO"},         {SIGPWR, "SIGPWR"},
    {SIGSYS, "SIGSYS"},       {SIGABRT, "SIGIOT"},      {SIGCHLD, "SIGCLD"},
    {SIGIO, "SIGPOLL"},
};

static const char *const rt_names[] = {
    "SIGRTMIN",    "SIGRTMIN+1",  "SIGRTMIN+2",  "SIGRTMIN+3",  "SIGRTMIN+4",
    "SIGRTMIN+5",  "SIGRTMIN+6",  "SIGRTMIN+7",  "SIGRTMIN+8",  "SIGRTMIN+9",
    "SIGRTMIN+10", "SIGRTMIN+11", "SIGRTMIN+12", "SIGRTMIN+13", "SIGRTMIN+14",
    "SIGRTMIN+15", "SIGRTMIN+16", "SIGRTMIN+17", "SIGRTMIN+18", "SIGRTMIN+19",
    "SIGRTMIN+20", "SIGRTMIN+21", "SIGRTMIN+22", "SIGRTMIN+23", "SIGRTMIN+24",
    "SIGRTMIN+25", "SIGRTMIN+26", "SIGRTMIN+27", "SIGRTMIN+28", "SIGRTMIN+29",
    "SIGRTMIN+30", "SIGRTMIN+31", "SIGRTMIN+32",
};

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static bool is_alpha(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool is_name_start(char c)
{
    return is_alpha(c) || c == '_';
}

static bool is_name_char(char c)
{
    return is_name_start(c) || is_digit(c);
}

/*
 * Reads a run of decimal digits at *s into *val and advances *s past all
 * of them. Returns 0 (also for an empty run: compare *s before and after),
 * or -ERANGE if the value exceeds max.
 */
static int read_digits(const char **s, uint64_t max, uint64_t *val)
{
    const char *p = *s;
    uint64_t v = 0;
    int rc = 0;

    for (; is_digit(*p); p++) {
        unsigned d = (unsigned)(*p - '0');

        if (v > (max - d) / 10)
            rc = -ERANGE;
        else
            v = v * 10 + d;
    }
    *val = v;
    *s = p;
    return rc;
}

static const struct unit *find_unit(const struct unit *units, size_t n,
                                    const char *name, size_t len)
{
    for (size_t i = 0; i < n; i++) {
        if (strlen(units[i].name) == len &&
            memcmp(units[i].name, name, len) == 0)
            return &units[i];
    }
    return NULL;
}

/*
 * Reads a ".digits" fraction at *s (nothing if *s is not at '.') as
 * frac / scale, at most FRACTION_DIGITS_MAX digits.
 */
static int read_fraction(const char **s, uint64_t *frac, uint64_t *scale)
{
    const char *p = *s;

    *frac = 0;
    *scale = 1;
    if (*p != '.')
        return 0;
    p++;
    for (; is_digit(*p); p++) {
        if (*scale == UINT64_C(1000000000))
            return -EINVAL;
        *frac = *frac * 10 + (uint64_t)(*p - '0');
        *scale *= 10;
    }
    if (*scale == 1)
        return -EINVAL;
    *s = p;
    return 0;
}

/* One "<digits>[.<digits>]<unit>" term of a duration, in milliseconds. */
static int duration_term(const char **s, uint64_t *ms)
{
    const char *p = *s;
    const char *start = p;
    const struct unit *u;
    uint64_t whole, frac, scale, frac_ms;
    int rc;

    rc = read_digits(&p, INT64_MAX, &whole);
    if (rc < 0)
        return rc;
    if (p == start)
        return -EINVAL;
    rc = read_fraction(&p, &frac, &scale);
    if (rc < 0)
        return rc;
    start = p;
    while (is_alpha(*p))
        p++;
    u = find_unit(duration_units, ARRAY_SIZE(duration_units), start,
                  (size_t)(p - start));
    if (u == NULL)
        return -EINVAL;
    if (whole > INT64_MAX / u->factor)
        return -ERANGE;
    /* frac < 10^9 and factor <= 3.6e6: the product fits in 64 bits. */
    frac_ms = frac * u->factor;
    if (frac_ms % scale != 0)
        return -EINVAL; /* finer than a millisecond */
    frac_ms /= scale;
    if (frac_ms > INT64_MAX - whole * u->factor)
        return -ERANGE;
    *ms = whole * u->factor + frac_ms;
    *s = p;
    return 0;
}

int cfg_parse_duration(const char *s, int64_t *ms)
{
    const char *p = s;
    uint64_t total = 0;

    if (strcmp(s, "0") == 0) {
        *ms = 0;
        return 0;
    }
    if (*p == '\0')
        return -EINVAL;
    while (*p != '\0') {
        uint64_t term;
        int rc = duration_term(&p, &term);

        if (rc < 0)
            return rc;
        if (term > INT64_MAX - total)
            return -ERANGE;
        total += term;
    }
    *ms = (int64_t)total;
    return 0;
}

void cfg_format_duration(int64_t ms, char *buf, size_t len)
{
    static const struct unit parts[] = {
        {"h", 60 * 60 * 1000}, {"m", 60 * 1000}, {"s", 1000}, {"ms", 1}};
    uint64_t rest = ms > 0 ? (uint64_t)ms : 0;
    size_t used = 0;

    if (len == 0)
        return;
    snprintf(buf, len, "0s");
    for (size_t i = 0; i < ARRAY_SIZE(parts) && rest > 0; i++) {
        uint64_t n = rest / parts[i].factor;
        int w;

        if (n == 0)
            continue;
        rest -= n * parts[i].factor;
        w = snprintf(buf + used, len - used, "%" PRIu64 "%s", n, parts[i].name);
        if (w < 0 || (size_t)w >= len - used)
            return;
        used += (size_t)w;
    }
}

/* Parses "RTMIN", "RTMIN+n", "RTMAX" or "RTMAX-n" (no "SIG" prefix). */
static int parse_rt_signal(const char *s, int *signo)
{
    int base, sign;
    long long n = 0;

    if (strncmp(s, "RTMIN", 5) == 0) {
        base = SIGRTMIN;
        sign = 1;
    } else if (strncmp(s, "RTMAX", 5) == 0) {
        base = SIGRTMAX;
        sign = -1;
    } else {
        return -EINVAL;
    }
    s += 5;
    if (*s != '\0') {
        if (*s != (sign > 0 ? '+' : '-') || !is_digit(s[1]))
            return -EINVAL;
        if (cfg_parse_int(s + 1, 0, SIGRTMAX - SIGRTMIN, &n) < 0)
            return -EINVAL;
    }
    *signo = base + sign * (int)n;
    return 0;
}

int cfg_parse_signal(const char *s, int *signo)
{
    const char *name = s;

    if (strncmp(name, "SIG", 3) == 0)
        name += 3;
    for (size_t i = 0; i < ARRAY_SIZE(signames); i++) {
        if (strcmp(signames[i].name + 3, name) == 0) {
            *signo = signames[i].signo;
            return 0;
        }
    }
    return parse_rt_signal(name, signo);
}

const char *cfg_signal_name(int signo)
{
    for (size_t i = 0; i < ARRAY_SIZE(signames); i++) {
        if (signames[i].signo == signo)
            return signames[i].name;
    }
    if (signo >= SIGRTMIN && signo <= SIGRTMAX &&
        (size_t)(signo - SIGRTMIN) < ARRAY_SIZE(rt_names))
        return rt_names[signo - SIGRTMIN];
    return NULL;
}

int cfg_parse_size(const char *s, size_t *bytes)
{
    const char *p = s;
    const struct unit *u;
    uint64_t v;
    int rc;

    rc = read_digits(&p, SIZE_MAX, &v);
    if (rc < 0)
        return rc;
    if (p == s)
        return -EINVAL;
    u = find_unit(size_units, ARRAY_SIZE(size_units), p, strlen(p));
    if (u == NULL)
        return -EINVAL;
    if (v > SIZE_MAX / u->factor)
        return -ERANGE;
    *bytes = (size_t)(v * u->factor);
    return 0;
}

int cfg_parse_int(const char *s, long long min, long long max, long long *out)
{
    const char *p = s;
    bool negative = false;
    uint64_t v;
    long long val;
    int rc;

    if (*p == '-') {
        negative = true;
        p++;
    }
    if (!is_digit(*p))
        return -EINVAL;
    rc = read_digits(&p, (uint64_t)LLONG_MAX + 1, &v);
    if (*p != '\0')
        return -EINVAL;
    if (rc < 0 || (!negative && v > LLONG_MAX))
        return -ERANGE;
    if (negative)
        val = v == (uint64_t)LLONG_MAX + 1 ? LLONG_MIN : -(long long)v;
    else
        val = (long long)v;
    if (val < min || val > max)
        return -ERANGE;
    *out = val;
    return 0;
}

int cfg_parse_umask(const char *s, mode_t *mask)
{
    unsigned v = 0;
    size_t n = strlen(s);

    if (n == 0 || n > 4)
        return -EINVAL;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '7')
            return -EINVAL;
        v = v * 8 + (unsigned)(s[i] - '0');
    }
    if (v > 0777)
        return -ERANGE;
    *mask = (mode_t)v;
    return 0;
}

/* Splits off the host part of a listen address; *port_at gets the port. */
static int split_listen(const char *s, const char **host, size_t *hostlen,
                        const char **port_at)
{
    const char *colon;

    if (s[0] == '[') {
        const char *close = strchr(s, ']');

        if (close == NULL || close == s + 1 || close[1] != ':')
            return -EINVAL;
        *host = s + 1;
        *hostlen = (size_t)(close - s - 1);
        *port_at = close + 2;
        return 0;
    }
    colon = strrchr(s, ':');
    if (colon == NULL || memchr(s, ':', (size_t)(colon - s)) != NULL)
        return -EINVAL; /* no port, or an IPv6 address without [] */
    *host = s;
    *hostlen = (size_t)(colon - s);
    *port_at = colon + 1;
    return 0;
}

int cfg_parse_listen(const char *s, char *host, size_t hostlen, unsigned *port)
{
    const char *h, *port_at;
    size_t n;
    long long p;
    int rc;

    rc = split_listen(s, &h, &n, &port_at);
    if (rc < 0)
        return rc;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)h[i];

        if (c <= ' ' || c == 0x7f || c == '[' || c == ']' || c == '/')
            return -EINVAL;
    }
    if (n >= hostlen)
        return -EINVAL; /* no host name is that long */
    if (!is_digit(port_at[0]))
        return -EINVAL;
    rc = cfg_parse_int(port_at, 0, PORT_MAX, &p);
    if (rc < 0)
        return rc;
    memcpy(host, h, n);
    host[n] = '\0';
    *port = (unsigned)p;
    return 0;
}

int cfg_listen_addr(const char *host, unsigned port,
                    struct sockaddr_storage *ss)
{
    struct sockaddr_in *in4 = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;

    memset(ss, 0, sizeof(*ss));
    if (host[0] == '\0')
        host = "0.0.0.0";
    else if (strcmp(host, "localhost") == 0)
        host = "127.0.0.1";
    if (inet_pton(AF_INET, host, &in4->sin_addr) == 1) {
        in4->sin_family = AF_INET;
        in4->sin_port = htons((uint16_t)port);
        return 0;
    }
    if (inet_pton(AF_INET6, host, &in6->sin6_addr) == 1) {
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons((uint16_t)port);
        return 0;
    }
    memset(ss, 0, sizeof(*ss));
    return -EINVAL;
}

int cfg_parse_url(const char *url, struct cfg_url *out)
{
    struct cfg_url u = {0};
    const char *p, *end, *at, *h;
    uint64_t port = 0;

    if (strncmp(url, "http://", 7) == 0) {
        p = url + 7;
    } else if (strncmp(url, "https://", 8) == 0) {
        p = url + 8;
        u.tls = true;
    } else {
        return -EINVAL;
    }
    end = p + strcspn(p, "/?#");
    at = NULL;
    for (const char *c = p; c < end; c++) {
        if (*c == '@')
            at = c;
    }
    if (at != NULL) {
        u.user = p;
        u.user_len = (size_t)(at - p);
        p = at + 1;
    }
    h = p;
    if (*p == '[') {
        const char *close = memchr(p, ']', (size_t)(end - p));

        if (close == NULL)
            return -EINVAL;
        u.ipv6 = true;
        u.host = p + 1;
        u.host_len = (size_t)(close - p - 1);
        p = close + 1;
    } else {
        while (p < end && *p != ':')
            p++;
        u.host = h;
        u.host_len = (size_t)(p - h);
    }
    if (u.host_len == 0 || (p < end && *p != ':'))
        return -EINVAL;
    if (p < end) {
        const char *digits = ++p;

        if (read_digits(&p, PORT_MAX, &port) < 0)
            return -ERANGE;
        if (p != end)
            return -EINVAL;
        u.port_given = p > digits;
        if (u.port_given && port == 0)
            return -ERANGE;
    }
    u.port = u.port_given ? (unsigned)port : u.tls ? 443 : 80;
    u.target = end;
    u.target_len = strcspn(end, "#");
    *out = u;
    return 0;
}

static int parse_status(const char *s, int *code)
{
    long long v;
    int rc;

    if (!is_digit(s[0]))
        return -EINVAL;
    rc = cfg_parse_int(s, STATUS_MIN, STATUS_MAX, &v);
    if (rc < 0)
        return rc;
    *code = (int)v;
    return 0;
}

int cfg_parse_status_range(const char *s, struct cfg_status_range *range)
{
    char lo[8];
    const char *dash = strchr(s, '-');
    size_t n = dash ? (size_t)(dash - s) : strlen(s);
    struct cfg_status_range r;
    int rc;

    if (n == 0 || n >= sizeof(lo))
        return -EINVAL;
    memcpy(lo, s, n);
    lo[n] = '\0';
    rc = parse_status(lo, &r.lo);
    if (rc < 0)
        return rc;
    r.hi = r.lo;
    if (dash != NULL) {
        rc = parse_status(dash + 1, &r.hi);
        if (rc < 0)
            return rc;
        if (r.hi < r.lo)
            return -ERANGE;
    }
    *range = r;
    return 0;
}

static int sb_append(struct strbuf *sb, const char *s, size_t n)
{
    if (sb->cap - sb->len <= n) {
        size_t cap = sb->cap ? sb->cap : 64;
        char *p;

        while (cap - sb->len <= n) {
            if (cap > SIZE_MAX / 2)
                return -ENOMEM;
            cap *= 2;
        }
        p = realloc(sb->data, cap);
        if (p == NULL)
            return -ENOMEM;
        sb->data = p;
        sb->cap = cap;
    }
    memcpy(sb->data + sb->len, s, n);
    sb->len += n;
    sb->data[sb->len] = '\0';
    return 0;
}

/* Reports a malformed reference ref..end (end at its '}'). */
static int bad_ref(const char *ref, const char *end, const char *why,
                   char *errmsg, size_t errlen)
{
    int n = end - ref + 1 < 64 ? (int)(end - ref + 1) : 64;

    snprintf(errmsg, errlen, "invalid reference '%.*s': %s", n, ref, why);
    return -EINVAL;
}

/*
 * Expands the reference "${...}" starting at *s (which points at '$')
 * into sb, and advances *s past its closing '}'.
 */
static int expand_ref(const char **s, struct strbuf *sb, char *errmsg,
                      size_t errlen)
{
    const char *ref = *s;
    const char *name = ref + 2;
    const char *end = strchr(name, '}');
    const char *def = NULL;
    const char *q = name;
    const char *value;
    char *var;
    int rc;

    if (end == NULL) {
        snprintf(errmsg, errlen,
                 "'${' without a closing '}' (write '$$' for a literal '$')");
        return -EINVAL;
    }
    while (is_name_char(*q))
        q++;
    if (q[0] == ':' && q[1] == '-')
        def = q + 2;
    if (!is_name_start(name[0]) || (def == NULL && q != end))
        return bad_ref(ref, end,
                       "expected ${NAME} or ${NAME:-default}, NAME made of "
                       "letters, digits and '_'",
                       errmsg, errlen);
    if (def != NULL && memchr(def, '$', (size_t)(end - def)) != NULL)
        return bad_ref(ref, end, "a default is literal text without '$'",
                       errmsg, errlen);
    var = strndup(name, (size_t)(q - name));
    if (var == NULL)
        return -ENOMEM;
    value = getenv(var);
    if (value == NULL && def == NULL) {
        snprintf(errmsg, errlen,
                 "environment variable %s is not set; write ${%s:-} for an "
                 "empty default",
                 var, var);
        free(var);
        return -EINVAL;
    }
    free(var);
    if (def != NULL && (value == NULL || value[0] == '\0'))
        rc = sb_append(sb, def, (size_t)(end - def));
    else
        rc = sb_append(sb, value, strlen(value));
    *s = end + 1;
    return rc;
}

int cfg_expand_env(const char *in, char **out, char *errmsg, size_t errlen)
{
    struct strbuf sb = {NULL, 0, 0};
    const char *p = in;
    int rc = sb_append(&sb, "", 0);

    while (rc == 0 && *p != '\0') {
        if (p[0] == '$' && p[1] == '{') {
            rc = expand_ref(&p, &sb, errmsg, errlen);
        } else if (p[0] == '$') {
            rc = sb_append(&sb, "$", 1);
            p += p[1] == '$' ? 2 : 1;
        } else {
            size_t n = strcspn(p, "$");

            rc = sb_append(&sb, p, n);
            p += n;
        }
    }
    if (rc < 0) {
        if (rc == -ENOMEM)
            snprintf(errmsg, errlen, "out of memory");
        free(sb.data);
        return rc;
    }
    *out = sb.data;
    return 0;
}

void cfg_free_names(char **names)
{
    if (names == NULL)
        return;
    for (char **n = names; *n != NULL; n++)
        free(*n);
    free(names);
}

/* Appends a copy of name[0..len) to the NULL-terminated *names. */
static int add_name(char ***names, size_t *count, const char *name, size_t len)
{
    char **grown = realloc(*names, (*count + 2) * sizeof(**names));

    if (grown == NULL)
        return -ENOMEM;
    *names = grown;
    grown[*count] = strndup(name, len);
    if (grown[*count] == NULL)
        return -ENOMEM;
    grown[++*count] = NULL;
    return 0;
}

int cfg_env_names(const char *in, char ***out)
{
    char **names = calloc(1, sizeof(*names));
    size_t count = 0;
    const char *p = in;

    if (names == NULL)
        return -ENOMEM;
    while (*p != '\0') {
        const char *name = p + 2;
        const char *q = name;

        if (p[0] != '$') {
            p++;
            continue;
        }
        if (p[1] != '{') {
            p += p[1] == '$' ? 2 : 1; /* as cfg_expand_env reads "$$" */
            continue;
        }
        while (is_name_char(*q))
            q++;
        if (q > name && add_name(&names, &count, name, (size_t)(q - name))) {
            cfg_free_names(names);
            return -ENOMEM;
        }
        p = strchr(q, '}');
        p = p != NULL ? p + 1 : q;
    }
    *out = names;
    return 0;
}

long cfg_token_bad_byte(const char *token)
{
    for (const char *c = token; *c != '\0'; c++) {
        if ((unsigned char)*c <= ' ' || *c == 0x7f)
            return (long)(c - token);
    }
    return -1;
}
