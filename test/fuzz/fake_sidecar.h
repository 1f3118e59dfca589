/*
 * For the fuzz harnesses of the renderers and the HTTP layer: what the API
 * reads of the supervisor, a struct sidecar_view (sidecar/view.h), over
 * services and probes in any state but no process, no timer and no
 * socket, built from fuzz input (names, reasons and states), and the
 * checks on what the renderers make of it. Header-only: each harness is
 * one translation unit. Owns the strings it copies from the input.
 */
#ifndef SIDECAR_TEST_FUZZ_FAKE_SIDECAR_H
#define SIDECAR_TEST_FUZZ_FAKE_SIDECAR_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/checks.h"
#include "api/http.h"
#include "sidecar/view.h"
#include "test/fuzz/oracle.h"

#define FAKE_MAX 4

/* The fuzz input, consumed from the front. */
struct input {
    const uint8_t *p;
    size_t n;
};

static uint8_t take_byte(struct input *in)
{
    if (!in->n)
        return 0;
    in->n--;
    return *in->p++;
}

/* The bytes up to the next NUL (or the end), as a new C string. */
static char *take_string(struct input *in)
{
    const uint8_t *nul = memchr(in->p, '\0', in->n);
    size_t len = nul ? (size_t)(nul - in->p) : in->n;
    char *s = malloc(len + 1);
    CHECK(s, "out of memory");
    memcpy(s, in->p, len);
    s[len] = '\0';
    in->p += len + (nul != NULL);
    in->n -= len + (nul != NULL);
    return s;
}

struct fake {
    struct cfg_root root;
    struct cfg_service cfg_svcs[FAKE_MAX];
    struct cfg_probe cfg_probes[FAKE_MAX];
    struct svc svcs[FAKE_MAX];
    struct svc *svc_ptrs[FAKE_MAX];
    struct probe probes[FAKE_MAX];
    struct probe *probe_ptrs[FAKE_MAX];
    struct prober prober; /* the probes' owner */
    struct health_view health;
    struct reload_record reloads;
    struct sidecar_view view;
    struct http_stats stats;
    int success_codes[1];
};

/* A name or a reason: hostile bytes, or a plain name if the byte says. */
static char *take_name(struct input *in, const char *plain, size_t i)
{
    char *s;
    if (take_byte(in) & 1) {
        s = malloc(32);
        CHECK(s, "out of memory");
        snprintf(s, 32, "%s%zu", plain, i);
        return s;
    }
    return take_string(in);
}

/* Fills f from the input; f is zeroed first. */
static void fake_build(struct fake *f, struct input *in)
{
    static const struct probe_kind *const kinds[] = {
        &probe_kind_http, &probe_kind_tcp, &probe_kind_exec, &probe_kind_exec};
    uint8_t counts = take_byte(in);
    size_t nsvc = (counts & 0x0f) % (FAKE_MAX + 1);
    size_t nprobe = (counts >> 4) % (FAKE_MAX + 1);
    uint8_t flags = take_byte(in);

    memset(f, 0, sizeof(*f));
    f->root.name = take_name(in, "sidecar", 0);
    f->root.path = take_name(in, "sidecar.yaml", 0);
    f->root.services = f->cfg_svcs;
    f->root.services_count = nsvc;
    f->root.probes = f->cfg_probes;
    f->root.probes_count = nprobe;
    f->view.cfg = &f->root;
    f->view.svcs = (const struct svc *const *)f->svc_ptrs;
    f->view.svcs_count = nsvc;
    f->view.probes = (const struct probe *const *)f->probe_ptrs;
    f->view.probes_count = nprobe;
    f->view.health = &f->health;
    f->view.reloads = &f->reloads;
    f->view.started_at = 1700000000.0;
    f->view.start_mono = 1700000000.0;
    f->view.draining = flags & 1;
    f->view.shutting_down = flags & 2;
    f->health.status = (enum health_status)((flags >> 2) % 3);
    f->health.live = flags & 0x10;
    f->health.ready = flags & 0x20;
    f->health.started = flags & 0x40;
    http_stats_init(&f->stats);
    f->prober.probes = f->probe_ptrs;
    f->prober.count = nprobe;
    for (size_t i = 0; i < nsvc; i++) {
        struct cfg_service *c = &f->cfg_svcs[i];
        struct svc *s = &f->svcs[i];
        uint8_t b = take_byte(in);
        c->name = take_name(in, "svc", i);
        c->role = i == 0 ? CFG_ROLE_MAIN : CFG_ROLE_HELPER;
        c->essential = i == 0 || (b & 1);
        c->ready = (b & 0x80) ? CFG_READY_NOTIFY : CFG_READY_EXEC;
        c->success_exit_codes = f->success_codes;
        c->success_exit_codes_count = 1;
        s->cfg = c;
        s->state = (enum svc_state)((b >> 1) % (SVC_COMPLETED + 1));
        s->ever_started = b & 0x10;
        s->has_exited = b & 0x20;
        s->last_status = (b & 0x40) ? 9 : (take_byte(in) << 8);
        s->proc.pid = s->state == SVC_RUNNING ? 100 + (pid_t)i : 0;
        s->restarts = take_byte(in);
        s->started_at = 1700000000.0 + take_byte(in);
        s->start_mono = s->started_at;
        f->svc_ptrs[i] = s;
    }
    for (size_t i = 0; i < nprobe; i++) {
        struct cfg_probe *c = &f->cfg_probes[i];
        struct probe *p = &f->probes[i];
        uint8_t b = take_byte(in);
        uint8_t b2 = take_byte(in);
        c->name = take_name(in, "probe", i);
        c->type = (enum cfg_probe_type)(b % 4);
        c->importance = (enum cfg_importance)((b >> 2) % 3);
        c->service_index = CFG_NO_INDEX;
        if (nsvc && (b & 0x10)) {
            c->service_index = (b >> 5) % nsvc;
            c->service = f->cfg_svcs[c->service_index].name;
        }
        c->period_ms = 10000;
        c->timeout_ms = 1000;
        c->ttl_ms = 60000;
        c->failure_threshold = 1 + b2 % 3;
        c->success_threshold = 1 + (b2 >> 2) % 3;
        p->cfg = c;
        f->probe_ptrs[i] = p;
        p->owner = &f->prober;
        p->kind = kinds[c->type];
        p->state = (enum probe_state)((b2 >> 4) % 3);
        p->run = b2 & 0x40 ? PROBE_RUN_IDLE : PROBE_RUN_OFF;
        p->passed_once = b2 & 0x80;
        p->has_result = b & 0x80;
        p->passes = take_byte(in);
        p->failures = take_byte(in);
        p->last.ok = p->passes & 1;
        p->last.duration = take_byte(in) / 10.0;
        p->last.at = 1700000000.5;
        p->state_since = 1700000000.25;
        /* Freed with the probe (fake_free). */
        p->last.reason = take_string(in);
    }
}

static void fake_free(struct fake *f)
{
    free(f->root.name);
    free(f->root.path);
    for (size_t i = 0; i < f->root.services_count; i++)
        free(f->cfg_svcs[i].name);
    for (size_t i = 0; i < f->root.probes_count; i++) {
        free(f->cfg_probes[i].name);
        free((char *)f->probes[i].last.reason);
    }
}

static bool valid_utf8(const char *s, size_t n)
{
    for (size_t i = 0; i < n;) {
        size_t k = well_formed((const uint8_t *)s + i, n - i);
        if (!k)
            return false;
        i += k;
    }
    return true;
}

/* s with each byte outside a valid UTF-8 sequence as U+FFFD; free it. */
static char *expected_text(const char *s)
{
    struct text t = {NULL, 0, 0};
    size_t n = strlen(s);
    text_add(&t, "", 0);
    for (size_t i = 0; i < n;) {
        size_t k = well_formed((const uint8_t *)s + i, n - i);
        text_add(&t, k ? s + i : "\xef\xbf\xbd", k ? k : 3);
        i += k ? k : 1;
    }
    return t.data;
}

static const char *json_str(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    CHECK(json_is_string(v), "\"%s\" is not a string", key);
    return json_string_value(v);
}

/* Same text, or both NULL/JSON null; name is what is compared. */
static void check_json_text(json_t *o, const char *key, const char *raw)
{
    if (!raw) {
        CHECK(json_is_null(json_object_get(o, key)), "\"%s\" not null", key);
        return;
    }
    char *want = expected_text(raw);
    const char *got = json_str(o, key);
    CHECK(strcmp(got, want) == 0, "\"%s\": '%s' decodes as '%s'", key, raw,
          got);
    free(want);
}

/* /health/details: JSON, every name and reason round-trips. */
static void check_details(const struct fake *f, const char *body, size_t len)
{
    json_error_t err;
    json_t *d = json_loadb(body, len, 0, &err);
    CHECK(json_is_object(d), "details not JSON: %s: %.*s", err.text, (int)len,
          body);
    CHECK(len && body[len - 1] == '\n' && !memchr(body, '\n', len - 1),
          "details not one line");
    check_json_text(d, "name", f->root.name);
    json_t *config = json_object_get(d, "config");
    CHECK(json_is_object(config), "details without config");
    check_json_text(config, "path", f->root.path);
    json_str(d, "status");
    json_t *probes = json_object_get(d, "probes");
    json_t *svcs = json_object_get(d, "services");
    CHECK(json_array_size(probes) == f->view.probes_count, "probes");
    CHECK(json_array_size(svcs) == f->view.svcs_count, "services");
    for (size_t i = 0; i < f->view.probes_count; i++) {
        const struct probe *p = &f->probes[i];
        json_t *o = json_array_get(probes, i);
        check_json_text(o, "name", p->cfg->name);
        check_json_text(o, "service", p->cfg->service);
        json_t *last = json_object_get(o, "last");
        CHECK(p->has_result ? json_is_object(last) : json_is_null(last),
              "last");
        if (p->has_result)
            check_json_text(last, "reason", p->last.reason);
    }
    for (size_t i = 0; i < f->view.svcs_count; i++)
        check_json_text(json_array_get(svcs, i), "name", f->svcs[i].cfg->name);
    json_decref(d);
}

static bool metric_char(char c, bool first)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
           c == ':' || (!first && c >= '0' && c <= '9');
}

/*
 * One sample line of the Prometheus text format 0.0.4: name, optional
 * {label="value",...} with values escaped (\\ \" \n only, valid UTF-8),
 * a space and a float. The value of label `want_label` goes to *label
 * (unescaped, malloc'd) if asked for.
 */
static void parse_sample(const char *line, size_t n, const char *family,
                         const char *want_label, char **label)
{
    size_t i = 0;
    while (i < n && metric_char(line[i], i == 0))
        i++;
    CHECK(i > 0 && strlen(family) == i && !memcmp(line, family, i),
          "sample '%.*s' not of family %s", (int)n, line, family);
    if (i < n && line[i] == '{') {
        i++;
        while (i < n && line[i] != '}') {
            size_t name = i;
            struct text v = {NULL, 0, 0};
            while (i < n && metric_char(line[i], i == name) && line[i] != ':')
                i++;
            CHECK(i > name && i + 1 < n && line[i] == '=' && line[i + 1] == '"',
                  "label in '%.*s'", (int)n, line);
            size_t name_len = i - name;
            text_add(&v, "", 0);
            for (i += 2; i < n && line[i] != '"'; i++) {
                if (line[i] == '\\') {
                    CHECK(i + 1 < n && strchr("\\\"n", line[i + 1]),
                          "bad escape in '%.*s'", (int)n, line);
                    text_add(&v, line[i + 1] == 'n' ? "\n" : line + i + 1, 1);
                    i++;
                } else {
                    text_add(&v, line + i, 1);
                }
            }
            CHECK(i < n, "unterminated label value in '%.*s'", (int)n, line);
            i++;
            CHECK(valid_utf8(v.data, v.len), "label value not UTF-8");
            if (label && strlen(want_label) == name_len &&
                !memcmp(line + name, want_label, name_len)) {
                free(*label);
                *label = v.data;
            } else {
                free(v.data);
            }
            if (i < n && line[i] == ',')
                i++;
        }
        CHECK(i < n, "unterminated labels in '%.*s'", (int)n, line);
        i++;
    }
    CHECK(i < n && line[i] == ' ', "no value in '%.*s'", (int)n, line);
    char value[64];
    size_t vn = n - i - 1;
    CHECK(vn > 0 && vn < sizeof(value), "value in '%.*s'", (int)n, line);
    memcpy(value, line + i + 1, vn);
    value[vn] = '\0';
    char *end;
    strtod(value, &end);
    CHECK(*end == '\0', "value '%s'", value);
}

/* The one service family with a sample for each reason, of some services. */
static bool notify_family(const char *family)
{
    return !strcmp(family, "sidecar_service_notify_dropped_total");
}

/*
 * The service of a service family's sample number index: the index-th
 * service, or for the notify drops, one of SDNOTIFY_DROPS samples of each
 * service with ready: notify. NULL past the last.
 */
static const struct svc *sample_service(const struct fake *f,
                                        const char *family, size_t index)
{
    if (!notify_family(family))
        return index < f->view.svcs_count ? &f->svcs[index] : NULL;
    size_t n = index / SDNOTIFY_DROPS;
    for (size_t i = 0; i < f->view.svcs_count; i++) {
        if (f->svcs[i].cfg->ready == CFG_READY_NOTIFY && n-- == 0)
            return &f->svcs[i];
    }
    return NULL;
}

/* A probe or service family ends with its samples, one for each. */
static void check_family_done(const struct fake *f, const char *family,
                              size_t samples)
{
    if (!strncmp(family, "sidecar_probe_", 14))
        CHECK(samples == f->view.probes_count, "%zu samples of %s", samples,
              family);
    if (!strncmp(family, "sidecar_service_", 16))
        CHECK(!sample_service(f, family, samples) &&
                  (samples == 0 || sample_service(f, family, samples - 1)) &&
                  (!notify_family(family) || samples % SDNOTIFY_DROPS == 0),
              "%zu samples of %s", samples, family);
}

/*
 * /metrics: every line a comment (# HELP / # TYPE), blank or a sample of
 * the family last typed; the probe and service labels round-trip, one
 * sample a probe or a service per family, in order.
 */
static void check_metrics(const struct fake *f, const char *body, size_t len)
{
    char family[128] = "";
    size_t index = 0;
    CHECK(valid_utf8(body, len), "metrics not UTF-8");
    CHECK(len && body[len - 1] == '\n', "metrics end");
    for (const char *p = body; p < body + len;) {
        const char *nl = memchr(p, '\n', (size_t)(body + len - p));
        size_t n = (size_t)(nl - p);
        char *label = NULL;
        if (n == 0) {
            p = nl + 1;
            continue;
        }
        if (n > 7 && !strncmp(p, "# TYPE ", 7)) {
            const char *sp = memchr(p + 7, ' ', n - 7);
            check_family_done(f, family, index);
            CHECK(sp && (size_t)(sp - p - 7) < sizeof(family), "TYPE line");
            memcpy(family, p + 7, (size_t)(sp - p - 7));
            family[sp - p - 7] = '\0';
            index = 0;
        } else if (p[0] != '#') {
            bool probe = !strncmp(family, "sidecar_probe_", 14);
            bool svc = !strncmp(family, "sidecar_service_", 16);
            parse_sample(p, n, family,
                         probe ? "probe"
                         : svc ? "service"
                               : "",
                         probe || svc ? &label : NULL);
            if (probe || svc) {
                const struct svc *s =
                    svc ? sample_service(f, family, index) : NULL;
                CHECK(probe ? index < f->view.probes_count : s != NULL,
                      "too many samples of %s", family);
                const char *name =
                    probe ? f->probes[index].cfg->name : s->cfg->name;
                char *want = expected_text(name);
                CHECK(label && strcmp(label, want) == 0,
                      "%s sample %zu: label '%s', name '%s'", family, index,
                      label ? label : "(none)", name);
                free(want);
                index++;
            }
            free(label);
        } else {
            CHECK(n > 7 && !strncmp(p, "# HELP ", 7), "comment '%.*s'", (int)n,
                  p);
        }
        p = nl + 1;
    }
    check_family_done(f, family, index);
}

/*
 * How the checks' text answers must show a name, reason or query value:
 * control characters as \xNN, bytes outside valid UTF-8 as U+FFFD, so an
 * answer is UTF-8 with one line a check. Caller frees.
 */
static char *shown(const char *s)
{
    struct text t = {NULL, 0, 0};
    size_t n = strlen(s);
    text_add(&t, "", 0);
    for (size_t i = 0; i < n;) {
        unsigned char c = (unsigned char)s[i];
        size_t k = well_formed((const uint8_t *)s + i, n - i);
        char esc[8];
        if (c < 0x20 || c == 0x7f) {
            snprintf(esc, sizeof(esc), "\\x%02x", c);
            text_add(&t, esc, 4);
        } else {
            text_add(&t, k ? s + i : "\xef\xbf\xbd", k ? k : 3);
        }
        i += k ? k : 1;
    }
    return t.data;
}

/* The names of the checks of an endpoint, in order; free with free(). */
static size_t check_names(const struct fake *f, enum check_endpoint ep,
                          char **names)
{
    size_t n = 0;
    for (size_t i = 0; i < f->view.svcs_count; i++) {
        size_t len = strlen(f->svcs[i].cfg->name) + 9;
        names[n] = malloc(len);
        CHECK(names[n], "out of memory");
        snprintf(names[n++], len, "service:%s", f->svcs[i].cfg->name);
    }
    for (size_t i = 0; i < f->view.probes_count; i++) {
        names[n] = strdup(f->probes[i].cfg->name);
        CHECK(names[n++], "out of memory");
    }
    if (ep == CHECK_READYZ && (f->view.draining || f->view.shutting_down)) {
        names[n] = strdup("shutdown");
        CHECK(names[n++], "out of memory");
    }
    return n;
}

/* Whether line [p, p + n) starts with a then b. */
static bool starts2(const char *p, size_t n, const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    return n >= la + lb && !memcmp(p, a, la) && !memcmp(p + la, b, lb);
}

static bool line_is(const char *p, size_t n, const char *a, const char *b,
                    const char *c)
{
    size_t la = strlen(a), lb = strlen(b), lc = strlen(c);
    return n == la + lb + lc && starts2(p, n, a, b) &&
           !memcmp(p + la + lb, c, lc);
}

/*
 * The answer of checks_render (status and body): with verbose, one line
 * a check in order, "[+]name ok", "[+]name <what is wrong> (<why it
 * passes>)", "[-]name failed: ...", "[+]name excluded: ok|failed" when
 * excluded, a warn line for each exclude that matches nothing, then the
 * verdict; else "ok" or "<ep> check failed". Returns whether it passed.
 */
static bool check_checks(const struct fake *f, enum check_endpoint ep,
                         bool verbose, const char *const *ex, size_t nex,
                         int status, const char *body, size_t len)
{
    char *names[2 * FAKE_MAX + 1];
    size_t n = check_names(f, ep, names);
    const char *epn = checks_endpoint_name(ep);
    const char *p = body;
    bool pass = true;
    if (getenv("FUZZ_DEBUG"))
        fprintf(stderr, "body: %.*s\n", (int)len, body);
    CHECK(status == 200 || status == 503, "status %d", status);
    CHECK(valid_utf8(body, len), "checks answer not UTF-8: %.*s", (int)len,
          body);
    CHECK(len && body[len - 1] == '\n', "no final newline");
    for (size_t i = 0; i < len; i++)
        CHECK((unsigned char)body[i] >= 0x20 || body[i] == '\n',
              "raw control byte 0x%02x", (unsigned char)body[i]);
    size_t line = 0, want_lines = verbose ? n + 1 : 1;
    bool *used = calloc(nex + 1, sizeof(*used));
    CHECK(used, "out of memory");
    for (size_t i = 0; i < n; i++) {
        for (size_t j = 0; j < nex; j++)
            used[j] = used[j] || !strcmp(names[i], ex[j]);
    }
    for (size_t j = 0; j < nex; j++)
        want_lines += verbose && !used[j];
    size_t warned = 0;
    while (p < body + len) {
        const char *nl = memchr(p, '\n', (size_t)(body + len - p));
        size_t m = (size_t)(nl - p);
        CHECK(line < want_lines, "more than %zu lines: %.*s", want_lines,
              (int)len, body);
        if (verbose && line < n) {
            char *name = shown(names[line]);
            bool excluded = false;
            for (size_t j = 0; j < nex; j++)
                excluded = excluded || !strcmp(names[line], ex[j]);
            if (excluded) {
                CHECK(line_is(p, m, "[+]", name, " excluded: ok") ||
                          line_is(p, m, "[+]", name, " excluded: failed"),
                      "line %zu: '%.*s', check '%s' excluded", line, (int)m, p,
                      name);
            } else if (starts2(p, m, "[-]", name)) {
                CHECK(starts2(p + 3 + strlen(name), m - 3 - strlen(name),
                              " failed: ", ""),
                      "line %zu: '%.*s'", line, (int)m, p);
                pass = false;
            } else {
                size_t at = 3 + strlen(name);
                CHECK(line_is(p, m, "[+]", name, " ok") ||
                          (starts2(p, m, "[+]", name) && m > at + 3 &&
                           p[at] == ' ' && p[m - 1] == ')'),
                      "line %zu: '%.*s', check '%s'", line, (int)m, p, name);
            }
            free(name);
        } else if (verbose && line < want_lines - 1) {
            while (warned < nex && used[warned])
                warned++;
            CHECK(warned < nex, "warn line %zu", line);
            char *x = shown(ex[warned++]);
            CHECK(line_is(p, m,
                          "warn: some health checks cannot be excluded: "
                          "no matches for \"",
                          x, "\""),
                  "line %zu: '%.*s', unused exclude '%s'", line, (int)m, p, x);
            free(x);
        } else if (verbose) {
            CHECK(line_is(p, m, epn, " check ", pass ? "passed" : "failed"),
                  "verdict '%.*s', pass %d", (int)m, p, pass);
        } else {
            pass = m == 2 && !memcmp(p, "ok", 2);
            CHECK(pass || line_is(p, m, epn, " check failed", ""),
                  "answer '%.*s'", (int)m, p);
        }
        line++;
        p = nl + 1;
    }
    CHECK(line == want_lines, "%zu lines, expected %zu: %.*s", line, want_lines,
          (int)len, body);
    CHECK((status == 200) == pass, "status %d, pass %d", status, pass);
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(used);
    return pass;
}

/* checks_render_one: 200 "ok" or "... (why)", 503 "failed: ...", 404 for
 * no such check. */
static void check_one(const struct fake *f, enum check_endpoint ep,
                      const char *one, int status, const char *body, size_t len)
{
    char *names[2 * FAKE_MAX + 1];
    size_t n = check_names(f, ep, names);
    bool known = false;
    for (size_t i = 0; i < n; i++) {
        known = known || !strcmp(names[i], one);
        free(names[i]);
    }
    CHECK(valid_utf8(body, len), "answer not UTF-8: %.*s", (int)len, body);
    CHECK(len && body[len - 1] == '\n' && !memchr(body, '\n', len - 1),
          "not one line: %.*s", (int)len, body);
    for (size_t i = 0; i + 1 < len; i++)
        CHECK((unsigned char)body[i] >= 0x20, "raw control byte 0x%02x",
              (unsigned char)body[i]);
    if (!known) {
        char *x = shown(one);
        CHECK(status == 404 &&
                  line_is(body, len - 1, "no check named \"", x, "\""),
              "unknown check '%s': %d %.*s", x, status, (int)len, body);
        free(x);
    } else if (status == 200) {
        CHECK((len == 3 && !memcmp(body, "ok\n", 3)) ||
                  (len > 3 && body[len - 2] == ')'),
              "200 '%.*s'", (int)len, body);
    } else {
        CHECK(status == 503 && starts2(body, len, "failed: ", ""),
              "known check '%s': %d %.*s", one, status, (int)len, body);
    }
}

#endif
