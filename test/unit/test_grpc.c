/*
 * type: grpc: its keys and their errors (conf/), and the wire
 * (probes/grpcwire.c): the request's bytes, and every answer a server may
 * send judged, hostile ones included (truncated frames, huge lengths, bad
 * varints, a compressed flag, grpc-message escapes).
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "base/json.h"
#include "cfgtest.h"
#include "conf/equal.h"
#include "conf/load.h"
#include "probes/grpcwire.h"

Test(grpc_conf, keys_and_defaults, .timeout = 5)
{
    struct cfg_root *root = ut_load_ok("probes:\n"
                                       "  a: {type: grpc, port: 50051}\n"
                                       "  b:\n"
                                       "    type: grpc\n"
                                       "    host: ::1\n"
                                       "    port: 443\n"
                                       "    grpc_service: pkg.Svc\n"
                                       "    tls: true\n"
                                       "    insecure: true\n"
                                       "    timeout: 2s\n");

    cr_assert_not_null(root);
    cr_expect_eq(root->probes[0].type, CFG_PROBE_GRPC);
    cr_expect_str_eq(root->probes[0].host, "127.0.0.1");
    cr_expect_eq(root->probes[0].port, 50051);
    cr_expect_str_eq(root->probes[0].grpc_service, "");
    cr_expect_not(root->probes[0].tls);
    cr_expect_not(root->probes[0].insecure);
    cr_expect_eq(root->probes[0].timeout_ms, 1000);
    cr_expect_str_eq(root->probes[1].host, "::1");
    cr_expect_str_eq(root->probes[1].grpc_service, "pkg.Svc");
    cr_expect(root->probes[1].tls);
    cr_expect(root->probes[1].insecure);
    cr_expect_eq(root->probes[1].timeout_ms, 2000);
    cfg_free(root);
}

Test(grpc_conf, every_bad_key_fails_at_its_place, .timeout = 5)
{
    cr_expect_str_eq(ut_error_printed("probes:\n  a: {type: grpc}\n", NULL),
                     "inline.yaml:2:3: probe 'a' has no 'port'; a grpc probe "
                     "needs one\n");
    cr_expect_str_eq(
        ut_error_printed("probes:\n"
                         "  a: {type: grpc, port: 1, insecure: true}\n",
                         NULL),
        "inline.yaml:2:38: probe 'a': insecure only skips the check "
        "of TLS, which needs tls: true\n");
    cr_expect_str_eq(
        ut_error_printed("probes:\n"
                         "  a: {type: grpc, port: 1, url: http://x/}\n",
                         NULL),
        "inline.yaml:2:28: key 'url' is not valid for a grpc probe\n");
    cr_expect_str_eq(
        ut_error_printed("probes:\n"
                         "  a: {type: tcp, port: 1, tls: true}\n",
                         NULL),
        "inline.yaml:2:27: key 'tls' is not valid for a tcp probe\n");
    cr_expect_str_eq(
        ut_error_printed(
            "probes:\n"
            "  a: {type: grpc, port: 1, grpc_service: \"a\\tb\"}\n",
            NULL),
        "inline.yaml:2:42: expected a gRPC service name of up to 1024 "
        "printable "
        "bytes for 'grpc_service', found 'a?b'\n");
    cr_expect_str_eq(
        ut_error_printed("probes:\n"
                         "  a: {type: grpc, port: 1, host: \"a/b\"}\n",
                         NULL),
        "inline.yaml:2:34: expected a host name or an IP address for "
        "'host', found 'a/b'\n");
}

Test(grpc_conf, a_long_service_name_is_refused, .timeout = 5)
{
    char yaml[2200];
    char name[1100];

    memset(name, 'x', 1025);
    name[1025] = '\0';
    snprintf(yaml, sizeof(yaml),
             "probes:\n  a: {type: grpc, port: 1, grpc_service: %s}\n", name);
    cr_expect(
        strstr(ut_error_printed(yaml, NULL), "up to 1024 printable bytes"));
    name[1024] = '\0';
    snprintf(yaml, sizeof(yaml),
             "probes:\n  a: {type: grpc, port: 1, grpc_service: %s}\n", name);
    cfg_free(ut_load_ok(yaml));
}

/* A reload replaces a grpc probe whose grpc_service or tls changed. */
Test(grpc_conf, a_changed_key_is_a_new_probe, .timeout = 5)
{
    struct cfg_root *a =
        ut_load_ok("probes:\n"
                   "  p: {type: grpc, port: 1, grpc_service: x}\n"
                   "  q: {type: grpc, port: 1}\n"
                   "  r: {type: grpc, port: 1}\n");
    struct cfg_root *b =
        ut_load_ok("probes:\n"
                   "  p: {type: grpc, port: 1, grpc_service: y}\n"
                   "  q: {type: grpc, port: 1, tls: true}\n"
                   "  r: {type: grpc, port: 1}\n");

    cr_assert(a && b);
    cr_expect_not(cfg_probe_equal(&a->probes[0], &b->probes[0]));
    cr_expect_not(cfg_probe_equal(&a->probes[1], &b->probes[1]));
    cr_expect(cfg_probe_equal(&a->probes[2], &b->probes[2]));
    cfg_free(a);
    cfg_free(b);
}

Test(grpcwire, the_request_is_a_frame_around_the_service, .timeout = 5)
{
    unsigned char out[GRPCWIRE_REQUEST_MAX];
    char name[300];

    cr_assert_eq(grpcwire_request("", out, sizeof(out)), 5);
    cr_expect_arr_eq(out, "\0\0\0\0\0", 5);
    cr_assert_eq(grpcwire_request("pkg.Svc", out, sizeof(out)), 5 + 9);
    cr_expect_arr_eq(out, "\0\0\0\0\x09\x0a\x07pkg.Svc", 14);
    memset(name, 'n', 300);
    name[299] = '\0';
    cr_assert_eq(grpcwire_request(name, out, sizeof(out)), 5 + 3 + 299);
    cr_expect_arr_eq(out, "\0\0\0\x01\x2e\x0a\xab\x02nn", 10); /* 299 */
    cr_expect_eq(grpcwire_request(name, out, 100), -EMSGSIZE);
}

/* Judges an answer: headers (NUL-separated, as lines), then body. */
static bool judge(long http, const char *type, const char *trailers,
                  const void *body, size_t n, char *reason)
{
    struct grpcwire_answer a;
    char line[512];

    grpcwire_reset(&a);
    grpcwire_header(&a, "HTTP/2 200 \r\n", 13);
    if (type) {
        snprintf(line, sizeof(line), "Content-Type: %s\r\n", type);
        grpcwire_header(&a, line, strlen(line));
    }
    /* In pieces, as curl may hand them. */
    for (size_t i = 0; i < n; i++)
        grpcwire_body(&a, (const char *)body + i, 1);
    for (const char *t = trailers; t && *t; t += strlen(t) + 1) {
        snprintf(line, sizeof(line), "%s\r\n", t);
        grpcwire_header(&a, line, strlen(line));
    }
    return grpcwire_verdict(&a, http, reason, 512);
}

#define GRPC "application/grpc"
#define OK   "grpc-status: 0\0"

Test(grpcwire, health_statuses, .timeout = 5)
{
    char r[512];

    cr_expect(judge(200, GRPC, OK, "\0\0\0\0\2\x08\x01", 7, r));
    cr_expect_str_eq(r, "SERVING");
    cr_expect_not(judge(200, GRPC, OK, "\0\0\0\0\2\x08\x02", 7, r));
    cr_expect_str_eq(r, "NOT_SERVING");
    cr_expect_not(judge(200, GRPC, OK, "\0\0\0\0\2\x08\x03", 7, r));
    cr_expect_str_eq(r, "SERVICE_UNKNOWN");
    /* proto3 leaves a zero out: an empty message is UNKNOWN. */
    cr_expect_not(judge(200, GRPC, OK, "\0\0\0\0\0", 5, r));
    cr_expect_str_eq(r, "UNKNOWN");
    cr_expect_not(judge(200, GRPC, OK, "\0\0\0\0\2\x08\x09", 7, r));
    cr_expect_str_eq(r, "unknown health status 9");
    /* Unknown fields are skipped, the last status wins. */
    cr_expect(judge(200, GRPC "+proto", OK,
                    "\0\0\0\0\x17\x08\x02\x12\x03xyz\x19"
                    "12345678\x25"
                    "1234\x08\x01",
                    5 + 23, r));
    cr_expect_str_eq(r, "SERVING");
    /* -1 takes ten bytes. */
    cr_expect_not(judge(200, GRPC, OK,
                        "\0\0\0\0\x0b\x08\xff\xff\xff\xff\xff\xff\xff\xff\xff"
                        "\x01",
                        16, r));
    cr_expect_str_eq(r, "unknown health status -1");
}

Test(grpcwire, error_statuses_and_their_messages, .timeout = 5)
{
    char r[512];

    /* Trailers-Only: no body at all. */
    cr_expect_not(judge(200, GRPC,
                        "grpc-status: 12\0grpc-message: Method not found: "
                        "grpc.health.v1.Health/Check\0",
                        "", 0, r));
    cr_expect_str_eq(r, "grpc-status 12 (UNIMPLEMENTED): Method not found: "
                        "grpc.health.v1.Health/Check");
    cr_expect_not(judge(200, GRPC, "grpc-status: 5\0", "", 0, r));
    cr_expect_str_eq(r, "grpc-status 5 (NOT_FOUND)");
    cr_expect_not(judge(200, GRPC, "grpc-status: 99\0", "", 0, r));
    cr_expect_str_eq(r, "grpc-status 99 (not a known code)");
    cr_expect_not(judge(200, GRPC, "grpc-status: x1\0", "", 0, r));
    cr_expect_str_eq(r, "not a gRPC answer: grpc-status is not a number");
    cr_expect_not(judge(200, GRPC, "grpc-status: 1234\0", "", 0, r));
    cr_expect_str_eq(r, "not a gRPC answer: grpc-status is not a number");
    cr_expect_not(judge(200, GRPC, "", "\0\0\0\0\2\x08\x01", 7, r));
    cr_expect_str_eq(r, "not a gRPC answer: no grpc-status");
}

Test(grpcwire, what_is_not_grpc_says_so, .timeout = 5)
{
    char r[512];

    cr_expect_not(judge(404, "text/html", "", "<html>", 6, r));
    cr_expect_str_eq(r, "not a gRPC server: HTTP status 404");
    cr_expect_not(judge(200, "text/html", OK, "<html>", 6, r));
    cr_expect_str_eq(r, "not a gRPC server: content-type 'text/html'");
    cr_expect_not(judge(200, NULL, OK, "\0\0\0\0\2\x08\x01", 7, r));
    cr_expect_str_eq(r, "not a gRPC server: content-type ''");
    cr_expect_not(judge(200, "application/grpcx", OK, "", 0, r));
    cr_expect_str_eq(r, "not a gRPC server: content-type 'application/grpcx'");
    cr_expect_not(judge(200, "text/\x1b[31mred", OK, "", 0, r));
    cr_expect_str_eq(r, "not a gRPC server: content-type 'text/?[31mred'");
}

Test(grpcwire, hostile_bodies_fail_with_what_is_wrong, .timeout = 5)
{
    static const struct {
        const char *body;
        size_t n;
        const char *reason;
    } cases[] = {
        {"", 0, "no message"},
        {"\0\0\0", 3, "a truncated message"},
        {"\0\0\0\0\2\x08", 6, "a truncated message"},
        {"\1\0\0\0\2\x08\x01", 7, "a compressed message"},
        {"\0\xff\xff\xff\xff\x08\x01", 7, "an oversized message"},
        {"\0\0\0\0\x3c\x08\x01", 7, "an oversized message"},
        {"\0\0\0\0\2\x08\x01\0\0\0\0\0", 12, "more than one message"},
        /* a varint past its message, and one of eleven bytes */
        {"\0\0\0\0\2\x08\x81", 7, "a malformed message"},
        {"\0\0\0\0\x0c\x08\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", 17,
         "a malformed message"},
        /* field 0, a group, status not a varint, a length past the end */
        {"\0\0\0\0\2\x00\x01", 7, "a malformed message"},
        {"\0\0\0\0\2\x0b\x0c", 7, "a malformed message"},
        {"\0\0\0\0\2\x0a\x00", 7, "a malformed message"},
        {"\0\0\0\0\3\x12\x05x", 8, "a malformed message"},
        {"\0\0\0\0\3\x12\xff\xff", 8, "a malformed message"},
        {"\0\0\0\0\3\x19xx", 8, "a malformed message"},
    };
    char r[512];
    char want[128];

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        cr_expect_not(judge(200, GRPC, OK, cases[i].body, cases[i].n, r),
                      "case %zu", i);
        snprintf(want, sizeof(want), "not a HealthCheckResponse: %s",
                 cases[i].reason);
        cr_expect_str_eq(r, want, "case %zu", i);
    }
    /* A long body is kept to its first bytes, never more. */
    static char big[100000];
    cr_expect_not(judge(200, GRPC, OK, big, sizeof(big), r));
    cr_expect_str_eq(r, "not a HealthCheckResponse: more than one message");
}

Test(grpcwire, grpc_message_is_decoded_printable_and_bounded, .timeout = 5)
{
    char out[GRPCWIRE_MESSAGE_MAX];
    char in[2000];
    const char *s;

    s = "caf%C3%A9 100%25 %zz %4 %";
    grpcwire_decode_message(s, strlen(s), out, sizeof(out));
    cr_expect_str_eq(out, "caf\xc3\xa9 100% %zz %4 %");
    s = "a%0Ab%00c%7Fd\te";
    grpcwire_decode_message(s, strlen(s), out, sizeof(out));
    cr_expect_str_eq(out, "a?b?c?d?e");
    memset(in, 'x', sizeof(in));
    grpcwire_decode_message(in, sizeof(in), out, sizeof(out));
    cr_expect_eq(strlen(out), sizeof(out) - 1);
    cr_expect_str_eq(out + sizeof(out) - 4, "...");
    grpcwire_decode_message(in, sizeof(out) - 1, out, sizeof(out));
    cr_expect_eq(out[sizeof(out) - 2], 'x', "what fits is not cut");
    grpcwire_decode_message("abc", 3, out, 1);
    cr_expect_str_eq(out, "");
}

/* The cut before "..." drops a whole character, never half of one. */
Test(grpcwire, a_cut_grpc_message_stays_utf8, .timeout = 5)
{
    char out[GRPCWIRE_MESSAGE_MAX];
    char in[1 + 2 * 300];

    for (size_t skew = 0; skew < 4; skew++) {
        memset(in, 'a', skew);
        for (size_t i = skew; i + 1 < sizeof(in); i += 2)
            memcpy(in + i, "\xc3\xa9", 2); /* e acute */
        grpcwire_decode_message(in, sizeof(in) - 1, out, sizeof(out));
        size_t n = strlen(out);
        cr_expect_str_eq(out + n - 3, "...");
        for (size_t at = 0; at < n;
             at += json_utf8_seq_len((const unsigned char *)out + at, n - at))
            cr_assert_neq(
                json_utf8_seq_len((const unsigned char *)out + at, n - at), 0,
                "skew %zu: invalid UTF-8 at %zu", skew, at);
    }
}
