/*
 * The commands' one HTTP client: a blocking request to a running sidecar.
 * An http:// URL is a small HTTP/1.1 exchange over a socket, its answer
 * read by the http probes' parser (probes/httpwire.h), so the commands
 * never map libcurl; an https:// URL (a TLS proxy in front) goes through
 * libcurl, loaded then. A command-line tool: it may block.
 */
#ifndef SIDECAR_CLI_CLIENT_H
#define SIDECAR_CLI_CLIENT_H

#include <stdbool.h>
#include <stddef.h>

#include "base/buf.h"
#include "base/util.h"

#define CLIENT_BODY_MAX   ((size_t)4 * 1024 * 1024)
#define CLIENT_TIMEOUT_MS 3000L  /* to connect and have the answer */
#define CLIENT_IDLE_MS    45000L /* a stream: three of /events' pings */
#define CLIENT_ERROR_MAX  256

/* A stream's body as it arrives; false to stop reading. */
typedef bool client_sink_fn(void *arg, const char *data, size_t n);

struct client_request {
    const char *method; /* "GET" or "POST" */
    const char *url;    /* http:// or https://, the path included */
    const char *token;  /* sent as "Authorization: Bearer"; NULL: none */
    const char *body;   /* POST's body, sent as it is; NULL: none */
    size_t body_len;
    const char *accept; /* the Accept header */
    /* A 200's body goes to sink as it comes, read until the server ends
     * it, with CLIENT_IDLE_MS between bytes instead of a deadline. */
    client_sink_fn *sink;
    void *sink_arg;
};

struct client_answer {
    int status;      /* the final HTTP status */
    struct buf body; /* the body (not a streamed one), at most BODY_MAX */
    bool stopped;    /* the sink asked to stop */
    char error[CLIENT_ERROR_MAX]; /* why there is no answer */
};

/*
 * Sends rq and reads its answer into a (set up here; client_answer_free()
 * it whatever this returns). 0 when an answer came, whatever its status;
 * -1 when none did (a->error says why: "Connection refused", "timed out
 * after 3s", a malformed answer, ...). The token is never in a->error.
 */
int client_request(const struct client_request *rq,
                   struct client_answer *a) ATTR_WUR;

void client_answer_free(struct client_answer *a);

/* Appends base (its trailing slashes dropped), path and a NUL to url
 * (url->data is then the URL); as buf_append. */
int client_url(struct buf *url, const char *base, const char *path) ATTR_WUR;

#endif
