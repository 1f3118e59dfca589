/*
 * The gRPC health protocol (grpc.health.v1.Health/Check) without I/O, for
 * probes/grpc.c: the request's body (a 5-byte gRPC frame around the
 * protobuf HealthCheckRequest{service = 1}), and an answer gathered as it
 * arrives (its header lines and trailers, its body's first bytes) and
 * judged: SERVING passes; every other answer fails with a reason. Bounded
 * by fixed buffers: a hostile server's answer allocates nothing.
 */
#ifndef SIDECAR_PROBES_GRPCWIRE_H
#define SIDECAR_PROBES_GRPCWIRE_H

#include <stdbool.h>
#include <stddef.h>

#include "base/util.h"

#define GRPCWIRE_SERVICE_MAX 1024 /* as conf/keys.c's grpc_service */
/* frame header, the field's tag, its length as a varint (2 bytes) */
#define GRPCWIRE_REQUEST_MAX (5 + 1 + 2 + GRPCWIRE_SERVICE_MAX)
#define GRPCWIRE_BODY_MAX    64  /* a HealthCheckResponse takes 7 */
#define GRPCWIRE_MESSAGE_MAX 256 /* grpc-message kept, decoded */
#define GRPCWIRE_TYPE_MAX    64  /* content-type kept, for the reason */

/* The answer so far; grpcwire_reset() before each run. */
struct grpcwire_answer {
    int grpc_status;                    /* -1: none yet; -2: not a number */
    bool has_type;                      /* a content-type came */
    char type[GRPCWIRE_TYPE_MAX];       /* its value, printable, cut */
    char message[GRPCWIRE_MESSAGE_MAX]; /* grpc-message, decoded, printable */
    unsigned char body[GRPCWIRE_BODY_MAX];
    size_t body_len;
    bool body_over; /* more than GRPCWIRE_BODY_MAX bytes came */
};

/*
 * Writes the request's body for service (at most GRPCWIRE_SERVICE_MAX
 * bytes) into out: its length, or -EMSGSIZE when it does not fit cap.
 */
int grpcwire_request(const char *service, unsigned char *out,
                     size_t cap) ATTR_WUR;

void grpcwire_reset(struct grpcwire_answer *a);

/* One header or trailer line as curl hands it ("name: value\r\n"); keeps
 * content-type, grpc-status and grpc-message, ignores the rest. */
void grpcwire_header(struct grpcwire_answer *a, const char *line, size_t n);

/* Body bytes: the first GRPCWIRE_BODY_MAX are kept. */
void grpcwire_body(struct grpcwire_answer *a, const void *data, size_t n);

/*
 * The message of the answer's body: NULL and the HealthCheckResponse's
 * status in *status (0, UNKNOWN, when the field is absent, as proto3 has
 * it), or a static text saying what is wrong with the body.
 */
const char *grpcwire_response(const struct grpcwire_answer *a, long *status);

/*
 * The verdict of a finished exchange whose HTTP status was http_status:
 * true when the server says SERVING. reason gets "SERVING", the health
 * status's name, "grpc-status N (NAME): message", or why the answer is
 * not gRPC's.
 */
bool grpcwire_verdict(const struct grpcwire_answer *a, long http_status,
                      char *reason, size_t len);

/* Decodes a grpc-message value (percent-encoded UTF-8) into out (cap > 0):
 * control bytes become '?', and what does not fit is cut with "...". */
void grpcwire_decode_message(const char *in, size_t n, char *out, size_t cap);

#endif
