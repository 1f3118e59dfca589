/*
 * HTTP/1.1 on the wire for the native http probe, with no I/O: the bytes
 * of a probe's one request, written once from its cfg_probe as libcurl
 * would send them; and an incremental parser of the answer, fed bytes as
 * they arrive, that keeps the status, the first bytes of the body in a
 * buffer the caller owns, and the Location. The parser's state lives in
 * the caller's struct and never allocates: reset it for each run.
 */
#ifndef SIDECAR_PROBES_HTTPWIRE_H
#define SIDECAR_PROBES_HTTPWIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/util.h"
#include "conf/model.h"

#define HTTPWIRE_HEAD_MAX       (16 * 1024) /* status line and headers, bytes */
#define HTTPWIRE_CHUNK_LINE_MAX 4096 /* a chunk size with its extensions */

/*
 * Writes the request of cfg (an http probe) into buf (cap bytes); *len
 * gets its length, or the length needed when it returns -ENOBUFS (call
 * with cap 0 to size buf: an upper bound, exact once it fits). -EINVAL: the
 * URL, the method or a header cannot be sent safely (a CR, LF or other control
 * byte); -ENOTSUP: what only libcurl sends (https, an IPv6 zone, credentials
 * with an '@' or a control byte; others are sent as curl sends them). A
 * failure but -ENOBUFS words itself in err (errlen bytes).
 */
int httpwire_request(const struct cfg_probe *cfg, char *buf, size_t cap,
                     size_t *len, char *err, size_t errlen) ATTR_WUR;

enum httpwire_result {
    HTTPWIRE_MORE,   /* feed more, or say the connection closed */
    HTTPWIRE_DONE,   /* the answer is complete: close */
    HTTPWIRE_FAILED, /* httpwire_reason() says why: close */
};

enum httpwire_error {
    HTTPWIRE_OK,
    HTTPWIRE_EMPTY,        /* closed before any byte */
    HTTPWIRE_NOT_HTTP,     /* the first line is no HTTP/1.0 or 1.1 status */
    HTTPWIRE_HEAD_TOO_BIG, /* over HTTPWIRE_HEAD_MAX */
    HTTPWIRE_NUL,          /* a NUL byte in the header */
    HTTPWIRE_BARE_CR,      /* a CR not followed by LF */
    HTTPWIRE_FOLD,         /* a folded line that cannot be read safely */
    HTTPWIRE_NO_COLON,     /* a header line without a colon, as curl */
    HTTPWIRE_BAD_LENGTH,   /* Content-Length not digits, or too large */
    HTTPWIRE_TWO_LENGTHS,  /* two Content-Length that disagree */
    HTTPWIRE_BAD_CHUNK,    /* a chunk size or its end is malformed */
    HTTPWIRE_CLOSED_HEAD,  /* closed inside the header */
    HTTPWIRE_CLOSED_BODY,  /* closed before Content-Length bytes */
    HTTPWIRE_CLOSED_CHUNK, /* closed inside the chunked body */
};

/*
 * Body bytes as they arrive (after de-chunking), before the buffer keeps
 * them; false once the caller wants no more of them.
 */
typedef bool httpwire_sink_fn(void *arg, const char *data, size_t n);

/*
 * Where a Location is kept when httpwire_init() gave no buffer: called
 * (with the sink's arg) at the first Location header, it returns a buffer
 * of *cap bytes that the parser keeps from then on, or NULL to drop it.
 * A caller that follows redirects allocates only once a server sends one.
 */
typedef char *httpwire_location_fn(void *arg, size_t *cap);

/*
 * One answer's parser. Set up with httpwire_init(), reset per run with
 * httpwire_reset(); read the public fields once it says DONE.
 */
struct httpwire {
    /* public, read-only */
    int status;      /* the final status, e.g. 200 */
    size_t body_len; /* bytes of the body kept in body */
    bool truncated;  /* more body came than body_cap: stopped there */
    size_t location_len;
    bool location_cut; /* the Location did not fit in its buffer */
    enum httpwire_error error;
    /* private: the caller's buffers */
    char *body;
    size_t body_cap;
    char *location;
    size_t location_cap;
    bool head; /* the request was HEAD: no body */
    httpwire_sink_fn *sink;
    void *sink_arg;
    httpwire_location_fn *location_fn;
    /* private: the state of one run */
    uint8_t state;
    uint8_t hdr; /* which header the current line is */
    bool cr;     /* a CR was seen: LF must follow */
    bool chunked;
    bool te_seen; /* a Transfer-Encoding: Content-Length is ignored */
    bool trailer; /* after the last chunk */
    bool have_length;
    bool any_header;    /* of this response: a fold needs one */
    bool value_ws;      /* whitespace after a value's token */
    bool location_seen; /* a later Location is skipped */
    uint8_t name_len;
    uint8_t te_len;
    char name[18];  /* the start of a header's name, lower case */
    char te[8];     /* the last token of a Transfer-Encoding */
    char first[16]; /* the first bytes of the answer, for "not HTTP" */
    size_t head_bytes;
    size_t line_bytes;
    size_t digits;
    uint64_t value;  /* Content-Length or chunk size being read */
    uint64_t length; /* Content-Length */
    uint64_t left;   /* body or chunk bytes still to come */
    uint64_t body_seen;
};

/*
 * Sets r up for answers to a request that was HEAD (head) or not, with
 * the caller's buffers: body (body_cap bytes, HTTPCHECK_BODY_MAX for a
 * probe) and location (location_cap bytes; NULL, 0: not kept).
 */
void httpwire_init(struct httpwire *r, char *body, size_t body_cap,
                   char *location, size_t location_cap, bool head);

/*
 * Gives every body byte to sink too. With a body buffer of 0 bytes the
 * answer is DONE (truncated) once sink returns false, and the rest is
 * never read.
 */
void httpwire_sink(struct httpwire *r, httpwire_sink_fn *sink, void *arg);

/* Asks fn for a Location buffer when one is needed (see its type). */
void httpwire_on_location(struct httpwire *r, httpwire_location_fn *fn);

/* Forgets the last answer (the sink stays): call before each run. */
void httpwire_reset(struct httpwire *r);

/*
 * Parses the next len bytes of the answer, split anywhere. MORE: all were
 * read; DONE: the answer is complete (bytes after it are ignored); FAILED.
 * Once DONE or FAILED, it says so again without reading.
 */
enum httpwire_result httpwire_feed(struct httpwire *r, const char *data,
                                   size_t len);

/* The server closed: DONE for a body read until the close, else FAILED. */
enum httpwire_result httpwire_eof(struct httpwire *r);

/* Words a failure in buf (len bytes): "not HTTP: the answer starts ...". */
void httpwire_reason(const struct httpwire *r, char *buf, size_t len);

#endif
