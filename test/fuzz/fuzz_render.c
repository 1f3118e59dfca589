/*
 * libFuzzer harness: the renderers of the HTTP answers, on a fake sidecar
 * (test/fuzz/fake_sidecar.h) whose service and probe names, reasons and
 * states come from the input: hostile names (quotes, backslashes,
 * newlines, invalid UTF-8, very long) and reasons. /metrics must stay
 * Prometheus text format with every label escaped and round-tripping,
 * /health/details JSON with every name and reason round-tripping, and the
 * check answers (?verbose, ?exclude=, /<endpoint>/<name>) one line a
 * check, UTF-8, without raw control characters.
 */
#define FUZZ_NAME "fuzz_render"

#include <errno.h>
#include <stdint.h>

#include "api/checks.h"
#include "api/details.h"
#include "api/metrics.h"
#include "base/buf.h"
#include "test/fuzz/fake_sidecar.h"

#define BODY_MAX    ((size_t)1024 * 1024)
#define EXCLUDE_MAX 4

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void render_checks(const struct fake *f, struct input *in)
{
    enum check_endpoint ep = (enum check_endpoint)(take_byte(in) % 3);
    size_t nex = take_byte(in) % (EXCLUDE_MAX + 1);
    char *ex[EXCLUDE_MAX];
    char *names[2 * FAKE_MAX + 1];
    size_t n = check_names(f, ep, names);
    char *one = NULL;
    struct buf b;
    /* An exclude or the one name: a check's own name, or any bytes. */
    for (size_t i = 0; i <= nex; i++) {
        uint8_t pick = take_byte(in);
        char *s = pick < 128 && n ? strdup(names[pick % n]) : take_string(in);
        CHECK(s, "out of memory");
        if (i < nex)
            ex[i] = s;
        else
            one = s;
    }
    bool pass[2];
    for (int verbose = 0; verbose < 2; verbose++) {
        buf_init(&b, BODY_MAX);
        int status = checks_render(&f->view, ep, verbose,
                                   (const char *const *)ex, nex, &b);
        pass[verbose] = check_checks(f, ep, verbose, (const char *const *)ex,
                                     nex, status, b.data, b.len);
        buf_free(&b);
    }
    CHECK(pass[0] == pass[1], "verbose and plain answers differ");
    buf_init(&b, BODY_MAX);
    int status = checks_render_one(&f->view, ep, one, &b);
    check_one(f, ep, one, status, b.data, b.len);
    buf_free(&b);
    for (size_t i = 0; i < nex; i++)
        free(ex[i]);
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(one);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct input in = {data, size};
    struct fake f;
    struct buf b;

    fake_build(&f, &in);

    buf_init(&b, BODY_MAX);
    CHECK(metrics_render(&f.view, &f.stats, &b) == 0, "metrics_render");
    check_metrics(&f, b.data, b.len);
    buf_free(&b);

    buf_init(&b, BODY_MAX);
    CHECK(details_render(&f.view, 1700000100.0, &b) == 0, "details_render");
    check_details(&f, b.data, b.len);
    buf_free(&b);

    /* A tiny cap: the renderers fail cleanly, never past it. */
    buf_init(&b, take_byte(&in));
    int rc = metrics_render(&f.view, &f.stats, &b);
    CHECK(rc == 0 || rc == -ENOBUFS, "metrics_render %d", rc);
    buf_free(&b);
    buf_init(&b, take_byte(&in));
    rc = details_render(&f.view, 1700000100.0, &b);
    CHECK(rc == 0 || rc == -ENOBUFS, "details_render %d", rc);
    buf_free(&b);

    render_checks(&f, &in);
    fake_free(&f);
    return 0;
}
