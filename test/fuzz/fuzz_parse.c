/*
 * libFuzzer harness: the scalar parsers of conf/parse.h. The first byte
 * picks the parser (and some of its parameters); the rest is its input.
 * Each result is checked against a reference written here from the
 * header's description, and against its round trip where there is one
 * (cfg_format_duration, cfg_signal_name, formatting a listen address or a
 * status range back).
 */
#define FUZZ_NAME "fuzz_parse"
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf/parse.h"
#include "test/fuzz/oracle.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Bigger than any value a parser accepts: references saturate here. */
#define HUGE ((__int128)1 << 80)

static const struct {
    const char *name;
    const char *value;
} env[] = {
    {"FUZZ_SET", "value"},
    {"FUZZ_EMPTY", ""},
    {"FUZZ_DOLLAR", "${FUZZ_SET}$$ $"},
    {"FUZZ_BRACE", "}{:-"},
    {"_", "underscore"},
};

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    for (size_t i = 0; i < sizeof(env) / sizeof(env[0]); i++)
        setenv(env[i].name, env[i].value, 1);
    unsetenv("FUZZ_UNSET");
    return 0;
}

static bool digit(char c)
{
    return c >= '0' && c <= '9';
}

/* Reads digits at *s, saturating at HUGE; false if there are none. */
static bool ref_digits(const char **s, __int128 *v)
{
    const char *p = *s;
    *v = 0;
    for (; digit(*p); p++) {
        *v = *v * 10 + (*p - '0');
        if (*v > HUGE)
            *v = HUGE;
    }
    if (p == *s)
        return false;
    *s = p;
    return true;
}

/* Decimal integer, optionally negative, within min..max. */
static int ref_int(const char *s, long long min, long long max, long long *out)
{
    bool neg = *s == '-';
    const char *p = s + neg;
    __int128 v;
    if (!ref_digits(&p, &v) || *p != '\0')
        return -EINVAL;
    if (neg)
        v = -v;
    if (v < min || v > max)
        return -ERANGE;
    *out = (long long)v;
    return 0;
}

/* A duration per parse.h; any negative on failure. */
static int ref_duration(const char *s, int64_t *ms)
{
    static const struct {
        const char *name;
        int64_t factor;
    } units[] = {{"ms", 1}, {"s", 1000}, {"m", 60000}, {"h", 3600000}};
    __int128 total = 0;
    if (strcmp(s, "0") == 0) {
        *ms = 0;
        return 0;
    }
    if (*s == '\0')
        return -EINVAL;
    while (*s) {
        __int128 whole, frac = 0, scale = 1;
        if (!ref_digits(&s, &whole))
            return -EINVAL;
        if (*s == '.') {
            s++;
            for (; digit(*s); s++) {
                if (scale == 1000000000)
                    return -EINVAL;
                frac = frac * 10 + (*s - '0');
                scale *= 10;
            }
            if (scale == 1)
                return -EINVAL;
        }
        size_t n = 0;
        while ((s[n] >= 'a' && s[n] <= 'z') || (s[n] >= 'A' && s[n] <= 'Z'))
            n++;
        int64_t factor = 0;
        for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
            if (strlen(units[i].name) == n && !memcmp(units[i].name, s, n))
                factor = units[i].factor;
        }
        if (!factor || (frac * factor) % scale)
            return -EINVAL;
        s += n;
        total += whole * factor + frac * factor / scale;
        if (total > HUGE)
            total = HUGE;
    }
    if (total > INT64_MAX)
        return -ERANGE;
    *ms = (int64_t)total;
    return 0;
}

static int ref_size(const char *s, size_t *bytes)
{
    static const struct {
        const char *name;
        uint64_t factor;
    } units[] = {
        {"", 1},          {"B", 1},     {"KiB", 1024},   {"MiB", 1 << 20},
        {"GiB", 1 << 30}, {"Ki", 1024}, {"Mi", 1 << 20}, {"Gi", 1 << 30},
        {"kB", 1000},     {"KB", 1000}, {"MB", 1000000}, {"GB", 1000000000},
    };
    __int128 v;
    if (!ref_digits(&s, &v))
        return -EINVAL;
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
        if (strcmp(units[i].name, s) != 0)
            continue;
        v *= units[i].factor;
        if (v > SIZE_MAX)
            return -ERANGE;
        *bytes = (size_t)v;
        return 0;
    }
    return -EINVAL;
}

static int ref_umask(const char *s, mode_t *mask)
{
    size_t n = strlen(s);
    unsigned v = 0;
    if (n == 0 || n > 4 || strspn(s, "01234567") != n)
        return -EINVAL;
    for (size_t i = 0; i < n; i++)
        v = v * 8 + (unsigned)(s[i] - '0');
    if (v > 0777)
        return -ERANGE;
    *mask = (mode_t)v;
    return 0;
}

/*
 * A listen address per parse.h: -ERANGE only for a port past 65535; a
 * host that does not fit the caller's buffer is -EINVAL (the caller's
 * message then names the syntax, not the port range).
 */
static int ref_listen(const char *s, char *host, size_t hostlen, unsigned *port)
{
    const char *h, *at;
    size_t n;
    long long p;
    if (s[0] == '[') {
        const char *close = strchr(s, ']');
        if (!close || close == s + 1 || close[1] != ':')
            return -EINVAL;
        h = s + 1;
        n = (size_t)(close - h);
        at = close + 2;
    } else {
        const char *colon = strchr(s, ':');
        if (!colon || strchr(colon + 1, ':'))
            return -EINVAL;
        h = s;
        n = (size_t)(colon - s);
        at = colon + 1;
    }
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)h[i];
        if (c <= ' ' || c == 0x7f || c == '[' || c == ']' || c == '/')
            return -EINVAL;
    }
    if (n >= hostlen || !digit(at[0]))
        return -EINVAL;
    int rc = ref_int(at, 0, 65535, &p);
    if (rc < 0)
        return rc;
    memcpy(host, h, n);
    host[n] = '\0';
    *port = (unsigned)p;
    return 0;
}

static int ref_status(const char *s, struct cfg_status_range *r)
{
    const char *dash = strchr(s, '-');
    long long lo, hi;
    char part[8]; /* as parse.c: "0000200" is 200, "00000200" too long */
    size_t n = dash ? (size_t)(dash - s) : strlen(s);
    if (n == 0 || n >= sizeof(part) || !digit(s[0]))
        return -EINVAL;
    memcpy(part, s, n);
    part[n] = '\0';
    if (ref_int(part, 100, 599, &lo) < 0)
        return -EINVAL;
    hi = lo;
    if (dash && (!digit(dash[1]) || ref_int(dash + 1, 100, 599, &hi) < 0))
        return -EINVAL;
    if (hi < lo)
        return -ERANGE;
    r->lo = (int)lo;
    r->hi = (int)hi;
    return 0;
}

static bool name_char(char c, bool first)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
           (!first && digit(c));
}

/* ${VAR} expansion per parse.h into out (big enough); -EINVAL or 0. */
static int ref_expand(const char *s, char *out)
{
    size_t o = 0;
    while (*s) {
        if (s[0] == '$' && s[1] == '{') {
            const char *name = s + 2;
            const char *close = strchr(name, '}');
            const char *q = name;
            const char *def = NULL;
            if (!close || !name_char(*name, true))
                return -EINVAL;
            while (name_char(*q, false))
                q++;
            if (q != close) {
                if (q[0] != ':' || q[1] != '-')
                    return -EINVAL;
                def = q + 2;
                if (memchr(def, '$', (size_t)(close - def)))
                    return -EINVAL;
            }
            char var[256];
            size_t vn = (size_t)(q - name);
            const char *value = NULL; /* no variable has a longer name */
            if (vn < sizeof(var)) {
                memcpy(var, name, vn);
                var[vn] = '\0';
                value = getenv(var);
            }
            if (!value && !def)
                return -EINVAL;
            if (def && (!value || !*value)) {
                memcpy(out + o, def, (size_t)(close - def));
                o += (size_t)(close - def);
            } else {
                memcpy(out + o, value, strlen(value));
                o += strlen(value);
            }
            s = close + 1;
        } else if (s[0] == '$') {
            out[o++] = '$';
            s += s[1] == '$' ? 2 : 1;
        } else {
            out[o++] = *s++;
        }
    }
    out[o] = '\0';
    return 0;
}

static void fuzz_duration(const char *s)
{
    int64_t ms = -1, want = -1;
    int rc = cfg_parse_duration(s, &ms);
    int ref = ref_duration(s, &want);
    CHECK((rc == 0) == (ref == 0), "'%s': rc %d, reference %d", s, rc, ref);
    CHECK(rc == 0 || rc == -EINVAL || rc == -ERANGE, "'%s': rc %d", s, rc);
    if (rc < 0)
        return;
    CHECK(ms == want, "'%s': %lld, reference %lld", s, (long long)ms,
          (long long)want);
    char text[CFG_DURATION_STR_MAX];
    int64_t back = -1;
    cfg_format_duration(ms, text, sizeof(text));
    CHECK(cfg_parse_duration(text, &back) == 0 && back == ms,
          "'%s' = %lld ms formats as '%s', which parses as %lld", s,
          (long long)ms, text, (long long)back);
}

/* cfg_format_duration of any value, into a buffer of any size. */
static void fuzz_format_duration(const uint8_t *data, size_t size)
{
    int64_t ms = 0;
    size_t len = size > 8 ? data[8] % (CFG_DURATION_STR_MAX + 1) : 0;
    memcpy(&ms, data, size < 8 ? size : 8);
    char *small = malloc(len ? len : 1);
    char text[CFG_DURATION_STR_MAX];
    int64_t back = -1;
    CHECK(small, "out of memory");
    cfg_format_duration(ms, small, len);
    CHECK(len == 0 || memchr(small, '\0', len), "not terminated in %zu", len);
    free(small);
    cfg_format_duration(ms, text, sizeof(text));
    CHECK(memchr(text, '\0', sizeof(text)), "not terminated");
    CHECK(cfg_parse_duration(text, &back) == 0, "'%s' does not parse", text);
    CHECK(back == (ms > 0 ? ms : 0), "%lld ms formats as '%s', parses as %lld",
          (long long)ms, text, (long long)back);
}

static void fuzz_signal(const char *s)
{
    int signo = 0, back = 0;
    int rc = cfg_parse_signal(s, &signo);
    CHECK(rc == 0 || rc == -EINVAL, "'%s': rc %d", s, rc);
    if (rc < 0)
        return;
    CHECK(signo >= 1 && signo <= SIGRTMAX, "'%s': %d", s, signo);
    const char *name = cfg_signal_name(signo);
    CHECK(name, "'%s' = %d has no name", s, signo);
    CHECK(cfg_parse_signal(name, &back) == 0 && back == signo,
          "'%s' = %d is named '%s', which parses as %d", s, signo, name, back);
    CHECK(strcmp(s, name) == 0 || strcmp(s, name + 3) == 0 ||
              strncmp(s, "SIGRT", 5) == 0 || strncmp(s, "RT", 2) == 0 ||
              strstr("SIGIOT SIGCLD SIGPOLL", s),
          "'%s' is named '%s'", s, name);
}

static void fuzz_signal_name(const uint8_t *data, size_t size)
{
    int signo = 0, back = 0;
    memcpy(&signo, data, size < sizeof(signo) ? size : sizeof(signo));
    const char *name = cfg_signal_name(signo);
    if (!name)
        return;
    CHECK(cfg_parse_signal(name, &back) == 0 && back == signo,
          "%d is named '%s', which parses as %d", signo, name, back);
}

static void fuzz_size(const char *s)
{
    size_t bytes = 0, want = 0;
    int rc = cfg_parse_size(s, &bytes);
    int ref = ref_size(s, &want);
    CHECK((rc == 0) == (ref == 0), "'%s': rc %d, reference %d", s, rc, ref);
    CHECK(rc == 0 || rc == -EINVAL || rc == -ERANGE, "'%s': rc %d", s, rc);
    CHECK(rc < 0 || bytes == want, "'%s': %zu, reference %zu", s, bytes, want);
}

static void fuzz_int(const char *s, uint8_t bounds)
{
    static const long long limits[] = {LLONG_MIN, -1,    0,        1,
                                       255,       65535, LLONG_MAX};
    long long min = limits[(bounds >> 4) % 7], max = limits[bounds % 7];
    long long v = 0, want = 0;
    int rc = cfg_parse_int(s, min, max, &v);
    int ref = ref_int(s, min, max, &want);
    CHECK(rc == ref, "'%s' in %lld..%lld: rc %d, reference %d", s, min, max, rc,
          ref);
    CHECK(rc < 0 || v == want, "'%s': %lld, reference %lld", s, v, want);
}

static void fuzz_umask(const char *s)
{
    mode_t m = 0, want = 0;
    int rc = cfg_parse_umask(s, &m);
    int ref = ref_umask(s, &want);
    CHECK(rc == ref, "'%s': rc %d, reference %d", s, rc, ref);
    CHECK(rc < 0 || m == want, "'%s': %o, reference %o", s, (unsigned)m,
          (unsigned)want);
}

static void fuzz_listen(const char *s, uint8_t len)
{
    /* Exactly hostlen bytes, so that ASan sees a write past them. */
    size_t hostlen = len ? len : 256;
    char *host = malloc(hostlen);
    char want[256], again[300], host2[256];
    unsigned port = 0, want_port = 0, port2 = 0;
    CHECK(host, "out of memory");
    int rc = cfg_parse_listen(s, host, hostlen, &port);
    int ref = ref_listen(s, want, hostlen, &want_port);
    CHECK(rc == ref, "'%s' (host buffer %zu): rc %d, reference %d", s, hostlen,
          rc, ref);
    if (rc == 0) {
        CHECK(strcmp(host, want) == 0 && port == want_port,
              "'%s': '%s' %u, reference '%s' %u", s, host, port, want,
              want_port);
        snprintf(again, sizeof(again), strchr(host, ':') ? "[%s]:%u" : "%s:%u",
                 host, port);
        CHECK(cfg_parse_listen(again, host2, sizeof(host2), &port2) == 0 &&
                  strcmp(host2, host) == 0 && port2 == port,
              "'%s' is '%s' port %u, written back as '%s'", s, host, port,
              again);
    }
    free(host);
}

static void fuzz_status(const char *s)
{
    struct cfg_status_range r = {0, 0}, want = {0, 0}, back = {0, 0};
    char again[32];
    int rc = cfg_parse_status_range(s, &r);
    int ref = ref_status(s, &want);
    CHECK((rc == 0) == (ref == 0), "'%s': rc %d, reference %d", s, rc, ref);
    CHECK(rc == 0 || rc == -EINVAL || rc == -ERANGE, "'%s': rc %d", s, rc);
    if (rc < 0)
        return;
    CHECK(r.lo == want.lo && r.hi == want.hi, "'%s': %d-%d, reference %d-%d", s,
          r.lo, r.hi, want.lo, want.hi);
    snprintf(again, sizeof(again), "%d-%d", r.lo, r.hi);
    CHECK(cfg_parse_status_range(again, &back) == 0 && back.lo == r.lo &&
              back.hi == r.hi,
          "'%s' written back as '%s'", s, again);
}

static void fuzz_expand(const char *s, uint8_t len)
{
    size_t errlen = len % 200;
    char *errmsg = malloc(errlen ? errlen : 1);
    char *out = NULL;
    /* Each byte grows to at most the longest value or itself. */
    char *want = malloc(strlen(s) * 16 + 1);
    CHECK(errmsg && want, "out of memory");
    if (errlen)
        errmsg[0] = '\0';
    int rc = cfg_expand_env(s, &out, errmsg, errlen);
    int ref = ref_expand(s, want);
    CHECK(rc == ref, "'%s': rc %d, reference %d", s, rc, ref);
    if (rc == 0) {
        CHECK(strcmp(out, want) == 0, "'%s': '%s', reference '%s'", s, out,
              want);
        free(out);
    } else if (errlen) {
        CHECK(memchr(errmsg, '\0', errlen), "'%s': unterminated message", s);
        CHECK(errlen == 1 || errmsg[0], "'%s': no message", s);
    }
    free(want);
    free(errmsg);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    uint8_t op = data[0], arg = data[1];
    data += 2;
    size -= 2;
    /* A string of exactly the input: ASan sees any read past its NUL. */
    char *s = malloc(size + 1);
    CHECK(s, "out of memory");
    memcpy(s, data, size);
    s[size] = '\0';
    switch (op % 11) {
    case 0:
        fuzz_duration(s);
        break;
    case 1:
        fuzz_format_duration(data, size);
        break;
    case 2:
        fuzz_signal(s);
        break;
    case 3:
        fuzz_signal_name(data, size);
        break;
    case 4:
        fuzz_size(s);
        break;
    case 5:
        fuzz_int(s, arg);
        break;
    case 6:
        fuzz_umask(s);
        break;
    case 7:
        fuzz_listen(s, arg);
        break;
    case 8:
        fuzz_status(s);
        break;
    default:
        fuzz_expand(s, arg);
        break;
    }
    free(s);
    return 0;
}
