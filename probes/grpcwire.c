/*
 * The gRPC health protocol without I/O (see grpcwire.h): a message is a
 * 5-byte frame (a compressed flag, a big-endian length) around protobuf;
 * HealthCheckRequest is {1: service (string)}, HealthCheckResponse
 * {1: status (enum)}. Everything a server sends is read into fixed
 * buffers and checked before it is trusted.
 */
#include "probes/grpcwire.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#define FRAME_HEAD 5
#define VARINT_MAX 10 /* bytes of a 64-bit varint */

int grpcwire_request(const char *service, unsigned char *out, size_t cap)
{
    size_t n = strlen(service);
    size_t msg = n ? 1 + (n < 128 ? 1 : 2) + n : 0; /* proto3: "" is left out */
    size_t at = FRAME_HEAD;

    if (n > GRPCWIRE_SERVICE_MAX || FRAME_HEAD + msg > cap)
        return -EMSGSIZE;
    out[0] = 0; /* not compressed */
    out[1] = 0;
    out[2] = 0;
    out[3] = (unsigned char)(msg >> 8);
    out[4] = (unsigned char)msg;
    if (n == 0)
        return FRAME_HEAD;
    out[at++] = 1 << 3 | 2; /* field 1, length-delimited */
    if (n < 128) {
        out[at++] = (unsigned char)n;
    } else {
        out[at++] = (unsigned char)(n & 0x7f) | 0x80;
        out[at++] = (unsigned char)(n >> 7);
    }
    memcpy(out + at, service, n);
    return (int)(at + n);
}

void grpcwire_reset(struct grpcwire_answer *a)
{
    a->grpc_status = -1;
    a->has_type = false;
    a->type[0] = '\0';
    a->message[0] = '\0';
    a->body_len = 0;
    a->body_over = false;
}

/* Copies n bytes of in into out (cap > 0) with control bytes as '?'. */
static void printable(const char *in, size_t n, char *out, size_t cap)
{
    if (n > cap - 1)
        n = cap - 1;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)in[i];
        out[i] = c < ' ' || c == 0x7f ? '?' : (char)c;
    }
    out[n] = '\0';
}

void grpcwire_decode_message(const char *in, size_t n, char *out, size_t cap)
{
    size_t used = 0;
    size_t i = 0;

    while (i < n && used < cap - 1) {
        unsigned char c = (unsigned char)in[i++];

        /* A '%' that starts no escape stays itself, as gRPC says. */
        if (c == '%' && i + 1 < n && util_hex_digit(in[i]) >= 0 &&
            util_hex_digit(in[i + 1]) >= 0) {
            c = (unsigned char)(util_hex_digit(in[i]) << 4 |
                                util_hex_digit(in[i + 1]));
            i += 2;
        }
        out[used++] = c < ' ' || c == 0x7f ? '?' : (char)c;
    }
    out[used] = '\0';
    if (i < n && cap > 4) { /* out is full: cut it visibly, */
        size_t at = cap - 4;

        /* before the character the cut would split (3 bytes follow at
         * most its first) */
        for (int k = 0;
             k < 3 && at > 0 && ((unsigned char)out[at] & 0xc0) == 0x80; k++)
            at--;
        memcpy(out + at, "...", 4);
    }
}

/* "name: value\r\n": the value, trimmed, if name matches; NULL if not. */
static const char *value_of(const char *line, size_t n, const char *name,
                            size_t *len)
{
    size_t k = strlen(name);
    size_t at = k + 1;

    if (n <= k || line[k] != ':' || strncasecmp(line, name, k) != 0)
        return NULL;
    while (at < n && (line[at] == ' ' || line[at] == '\t'))
        at++;
    while (n > at && (line[n - 1] == '\r' || line[n - 1] == '\n' ||
                      line[n - 1] == ' ' || line[n - 1] == '\t'))
        n--;
    *len = n - at;
    return line + at;
}

void grpcwire_header(struct grpcwire_answer *a, const char *line, size_t n)
{
    const char *v;
    size_t len;

    if ((v = value_of(line, n, "content-type", &len)) != NULL) {
        a->has_type = true;
        printable(v, len, a->type, sizeof(a->type));
    } else if ((v = value_of(line, n, "grpc-status", &len)) != NULL) {
        int code = 0;

        if (len == 0 || len > 3)
            code = -2;
        for (size_t i = 0; i < len && code >= 0; i++)
            code = v[i] >= '0' && v[i] <= '9' ? code * 10 + (v[i] - '0') : -2;
        a->grpc_status = code;
    } else if ((v = value_of(line, n, "grpc-message", &len)) != NULL) {
        grpcwire_decode_message(v, len, a->message, sizeof(a->message));
    }
}

void grpcwire_body(struct grpcwire_answer *a, const void *data, size_t n)
{
    size_t take = GRPCWIRE_BODY_MAX - a->body_len;

    if (take > n)
        take = n;
    memcpy(a->body + a->body_len, data, take);
    a->body_len += take;
    if (take < n)
        a->body_over = true;
}

/* A varint at *at, before end: 0 and *out, or -1 (cut short, too long). */
static int varint(const unsigned char *p, size_t *at, size_t end, uint64_t *out)
{
    uint64_t v = 0;

    for (unsigned i = 0; i < VARINT_MAX && *at < end; i++) {
        unsigned char b = p[(*at)++];

        v |= (uint64_t)(b & 0x7f) << (7 * i);
        if (!(b & 0x80)) {
            *out = v;
            return 0;
        }
    }
    return -1;
}

/* Walks the fields of a HealthCheckResponse, skipping unknown ones. */
static const char *health_status(const unsigned char *p, size_t len,
                                 long *status)
{
    size_t at = 0;

    *status = 0;
    while (at < len) {
        uint64_t tag, v;

        if (varint(p, &at, len, &tag) < 0 || tag >> 3 == 0)
            return "a malformed message";
        switch (tag & 7) {
        case 0:
            if (varint(p, &at, len, &v) < 0)
                return "a malformed message";
            if (tag >> 3 == 1)
                *status = (long)(int32_t)(uint32_t)v; /* an enum is int32 */
            break;
        case 1:
        case 5:
            if (len - at < ((tag & 7) == 1 ? 8u : 4u))
                return "a malformed message";
            at += (tag & 7) == 1 ? 8 : 4;
            break;
        case 2:
            if (varint(p, &at, len, &v) < 0 || v > len - at)
                return "a malformed message";
            at += (size_t)v;
            break;
        default:
            return "a malformed message";
        }
        if (tag >> 3 == 1 && (tag & 7) != 0)
            return "a malformed message";
    }
    return NULL;
}

const char *grpcwire_response(const struct grpcwire_answer *a, long *status)
{
    const unsigned char *b = a->body;
    uint32_t len;

    if (a->body_len == 0)
        return "no message";
    if (a->body_len < FRAME_HEAD)
        return "a truncated message";
    if (b[0] != 0)
        return "a compressed message"; /* none was accepted */
    len = (uint32_t)b[1] << 24 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 8 |
          b[4];
    if (len > GRPCWIRE_BODY_MAX - FRAME_HEAD)
        return "an oversized message";
    if (FRAME_HEAD + len > a->body_len)
        return "a truncated message";
    if (FRAME_HEAD + len < a->body_len || a->body_over)
        return "more than one message";
    return health_status(b + FRAME_HEAD, len, status);
}

static const char *code_name(int code)
{
    static const char *const names[] = {
        "OK",
        "CANCELLED",
        "UNKNOWN",
        "INVALID_ARGUMENT",
        "DEADLINE_EXCEEDED",
        "NOT_FOUND",
        "ALREADY_EXISTS",
        "PERMISSION_DENIED",
        "RESOURCE_EXHAUSTED",
        "FAILED_PRECONDITION",
        "ABORTED",
        "OUT_OF_RANGE",
        "UNIMPLEMENTED",
        "INTERNAL",
        "UNAVAILABLE",
        "DATA_LOSS",
        "UNAUTHENTICATED",
    };

    return code >= 0 && (size_t)code < ARRAY_SIZE(names) ? names[code]
                                                         : "not a known code";
}

/* application/grpc, alone or with +proto, +json, ;params. */
static bool grpc_type(const char *type)
{
    static const char want[] = "application/grpc";
    size_t k = sizeof(want) - 1;

    return strncasecmp(type, want, k) == 0 &&
           (type[k] == '\0' || type[k] == '+' || type[k] == ';');
}

bool grpcwire_verdict(const struct grpcwire_answer *a, long http_status,
                      char *reason, size_t len)
{
    static const char *const health[] = {"UNKNOWN", "SERVING", "NOT_SERVING",
                                         "SERVICE_UNKNOWN"};
    const char *bad;
    long status;

    if (http_status != 200) {
        snprintf(reason, len, "not a gRPC server: HTTP status %ld",
                 http_status);
        return false;
    }
    if (!a->has_type || !grpc_type(a->type)) {
        snprintf(reason, len, "not a gRPC server: content-type '%s'", a->type);
        return false;
    }
    if (a->grpc_status == -1 || a->grpc_status == -2) {
        snprintf(reason, len, "not a gRPC answer: %s",
                 a->grpc_status == -1 ? "no grpc-status"
                                      : "grpc-status is not a number");
        return false;
    }
    if (a->grpc_status != 0) {
        snprintf(reason, len, "grpc-status %d (%s)%s%s", a->grpc_status,
                 code_name(a->grpc_status), a->message[0] ? ": " : "",
                 a->message);
        return false;
    }
    bad = grpcwire_response(a, &status);
    if (bad != NULL) {
        snprintf(reason, len, "not a HealthCheckResponse: %s", bad);
        return false;
    }
    if (status >= 0 && (size_t)status < ARRAY_SIZE(health))
        snprintf(reason, len, "%s", health[status]);
    else
        snprintf(reason, len, "unknown health status %ld", status);
    return status == 1;
}
