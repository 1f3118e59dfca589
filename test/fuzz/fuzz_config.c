/*
 * libFuzzer harness: the config loader, cfg_load_buffer(), on any bytes.
 * It must never crash, leak or hang; a failure must name a position
 * (path:line:col, within the input) and leave *out alone; a success must
 * hold every invariant conf/model.h promises its readers, and loading the
 * same bytes again must give services and probes equal to the first's
 * (conf/equal.c: what a reload keeps running).
 */
#define FUZZ_NAME "fuzz_config"
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf/equal.h"
#include "conf/load.h"
#include "conf/schema.h"
#include "test/fuzz/oracle.h"

#define PATH "fuzz.yaml"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    /* For ${VAR} in the inputs (and the dictionary). */
    setenv("FUZZ_SET", "value", 1);
    setenv("FUZZ_EMPTY", "", 1);
    setenv("FUZZ_PORT", "8558", 1);
    setenv("SIDECAR_TEST_TOKEN", "s3cret", 1);
    unsetenv("FUZZ_UNSET");
    return 0;
}

/* Lines as libyaml counts them: CR LF, CR, LF, NEL, LS and PS. */
static unsigned count_lines(const uint8_t *p, size_t n)
{
    unsigned lines = 1;
    for (size_t i = 0; i < n; i++) {
        if (p[i] == '\r' && i + 1 < n && p[i + 1] == '\n')
            i++;
        if (p[i] == '\n' || p[i] == '\r')
            lines++;
        else if (p[i] == 0xc2 && i + 1 < n && p[i + 1] == 0x85)
            lines++;
        else if (p[i] == 0xe2 && i + 2 < n && p[i + 1] == 0x80 &&
                 (p[i + 2] == 0xa8 || p[i + 2] == 0xa9))
            lines++;
    }
    return lines;
}

/* Whether s is valid UTF-8 (no overlongs, surrogates or cut sequences). */
static bool utf8(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        size_t len = *p < 0x80   ? 1
                     : *p < 0xc2 ? 0
                     : *p < 0xe0 ? 2
                     : *p < 0xf0 ? 3
                     : *p < 0xf5 ? 4
                                 : 0;
        unsigned char lo = *p == 0xe0 ? 0xa0 : *p == 0xf0 ? 0x90 : 0x80;
        unsigned char hi = *p == 0xed ? 0x9f : *p == 0xf4 ? 0x8f : 0xbf;
        if (!len)
            return false;
        for (size_t i = 1; i < len; i++) {
            if (p[i] < (i == 1 ? lo : 0x80) || p[i] > (i == 1 ? hi : 0xbf))
                return false;
        }
        p += len;
    }
    return true;
}

static void check_services(const struct cfg_root *root)
{
    size_t n = root->services_count;
    char *placed = calloc(n + 1, 1);
    CHECK(placed, "out of memory");
    if (n) {
        CHECK(root->main_index < n, "main_index %zu", root->main_index);
        const struct cfg_service *m = &root->services[root->main_index];
        CHECK(m->role == CFG_ROLE_MAIN && m->essential, "main '%s'", m->name);
    }
    for (size_t pos = 0; pos < n; pos++) {
        size_t i = root->start_order[pos];
        CHECK(i < n && !placed[i], "start_order[%zu] = %zu", pos, i);
        const struct cfg_service *s = &root->services[i];
        CHECK(cfg_name_valid(s->name), "service name '%s'", s->name);
        CHECK(s->command.argc > 0 && s->command.argv[0] &&
                  !s->command.argv[s->command.argc],
              "service '%s' command", s->name);
        CHECK(s->backoff.initial_ms <= s->backoff.max_ms, "'%s' backoff",
              s->name);
        CHECK(s->success_exit_codes_count > 0, "'%s' exit codes", s->name);
        CHECK(s->role != CFG_ROLE_MAIN || s->essential, "'%s'", s->name);
        for (size_t j = 0; j < s->deps_count; j++) {
            size_t d = s->deps[j].index;
            CHECK(d < n && d != i && placed[d], "'%s' dep %zu", s->name, j);
        }
        placed[i] = 1;
    }
    free(placed);
}

static void check_probes(const struct cfg_root *root)
{
    for (size_t i = 0; i < root->probes_count; i++) {
        const struct cfg_probe *p = &root->probes[i];
        CHECK(cfg_name_valid(p->name), "probe name '%s'", p->name);
        CHECK(strncmp(p->name, "service:", 8) != 0, "'%s'", p->name);
        CHECK(p->timeout_ms > 0, "'%s' timeout", p->name);
        CHECK(p->failure_threshold >= 1 && p->success_threshold >= 1,
              "'%s' thresholds", p->name);
        if (p->service) {
            CHECK(p->service_index < root->services_count &&
                      strcmp(root->services[p->service_index].name,
                             p->service) == 0,
                  "'%s' service", p->name);
        } else {
            CHECK(p->service_index == CFG_NO_INDEX, "'%s'", p->name);
            CHECK(!p->restart_on_failure, "'%s' on_failure", p->name);
        }
        if (p->type == CFG_PROBE_HTTP)
            CHECK(p->url && p->method && p->expect_status_count > 0,
                  "'%s' http", p->name);
        if (p->type == CFG_PROBE_TCP)
            CHECK(p->host && p->port >= 1 && p->port <= 65535, "'%s' tcp",
                  p->name);
        if (p->type == CFG_PROBE_EXEC)
            CHECK(p->command.argc > 0, "'%s' exec", p->name);
    }
}

static void check_root(const struct cfg_root *root)
{
    CHECK(root->services_count + root->probes_count > 0, "empty model");
    CHECK(root->name && root->name[0], "name");
    CHECK(root->http.listen && root->http.host && root->http.token, "http");
    CHECK(root->http.port <= 65535, "port %u", root->http.port);
    CHECK(root->log.max_line >= 256 && root->log.max_line <= 1024 * 1024,
          "max_line %zu", root->log.max_line);
    CHECK(root->exec_probe_limit >= 1, "exec_probe_limit");
    CHECK(root->reload == CFG_RELOAD_MANUAL || root->reload == CFG_RELOAD_WATCH,
          "reload %d", (int)root->reload);
    check_services(root);
    check_probes(root);
}

/* The same bytes loaded again: entry i equal to entry i of root. */
static void check_equal_again(const uint8_t *data, size_t size,
                              const struct cfg_root *root)
{
    struct cfg_root *again = NULL;
    struct cfg_error err;

    CHECK(cfg_load_buffer(PATH, (const char *)data, size, &again, &err) == 0,
          "second load failed: %u:%u: %s", err.line, err.col, err.msg);
    CHECK(again->services_count == root->services_count &&
              again->probes_count == root->probes_count,
          "second load: %zu services, %zu probes; first: %zu, %zu",
          again->services_count, again->probes_count, root->services_count,
          root->probes_count);
    CHECK(again->reload == root->reload, "reload");
    for (size_t i = 0; i < root->services_count; i++) {
        const struct cfg_service *s = &root->services[i];
        CHECK(cfg_service_equal(s, s), "service '%s' not equal to itself",
              s->name);
        CHECK(cfg_service_equal(s, &again->services[i]) &&
                  cfg_service_equal(&again->services[i], s),
              "service '%s' not equal to its second load", s->name);
    }
    for (size_t i = 0; i < root->probes_count; i++) {
        const struct cfg_probe *p = &root->probes[i];
        CHECK(cfg_probe_equal(p, p), "probe '%s' not equal to itself", p->name);
        CHECK(cfg_probe_equal(p, &again->probes[i]) &&
                  cfg_probe_equal(&again->probes[i], p),
              "probe '%s' not equal to its second load", p->name);
    }
    cfg_free(again);
}

/* An error points into the file and prints as text. */
static void check_error(const uint8_t *data, size_t size, unsigned line,
                        unsigned col, const char *msg)
{
    CHECK(msg[0] != '\0', "an error without a message");
    CHECK(line >= 1 && col >= 1, "no position: %u:%u: %s", line, col, msg);
    CHECK(line <= count_lines(data, size), "line %u of %u: %s", line,
          count_lines(data, size), msg);
    /* Printed on a terminal by `sidecar check`: text, no control bytes. */
    for (const char *c = msg; *c; c++)
        CHECK((unsigned char)*c >= 0x20 && *c != 0x7f,
              "control byte 0x%02x in the message: %s", (unsigned char)*c, msg);
    CHECK(utf8(msg), "message not UTF-8: %s", msg);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct cfg_root *const sentinel = (struct cfg_root *)&sentinel;
    struct cfg_root *root = sentinel;
    struct cfg_error err;

    if (cfg_load_buffer(PATH, (const char *)data, size, &root, &err) == 0) {
        CHECK(root != sentinel && root != NULL, "no model");
        CHECK(err.msg[0] == '\0', "success with an error: %s", err.msg);
        check_root(root);
        check_equal_again(data, size, root);
        cfg_free(root);
        return 0;
    }
    CHECK(root == sentinel, "*out set on failure");
    CHECK(err.msg[0] != '\0', "failure without a message");
    CHECK(err.count >= 1, "failure counted as %zu errors", err.count);
    CHECK(strcmp(err.path, PATH) == 0, "path '%s'", err.path);
    check_error(data, size, err.line, err.col, err.msg);
    /* Every error reported, not just the first. */
    for (size_t i = 1; i < err.count && i < CFG_ERRORS_MAX; i++)
        check_error(data, size, err.next[i - 1].line, err.next[i - 1].col,
                    err.next[i - 1].msg);
    return 0;
}
