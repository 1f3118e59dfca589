/*
 * `sidecar events`: follows GET /events (Server-Sent Events) through
 * cli/client.h's streamed body and prints each event as it comes: one
 * readable line (its UTC time, then what changed), or with --json the
 * event's JSON object as sent, one a line, flushed at once. The parser
 * (struct follow) holds one line and one event, each capped: a longer
 * one is skipped, never kept whole.
 */
#ifndef SIDECAR_CLI_FOLLOW_H
#define SIDECAR_CLI_FOLLOW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "base/buf.h"

#define FOLLOW_LINE_MAX (64 * 1024) /* a line, and an event's data */

struct follow {
    FILE *out; /* the events */
    FILE *err; /* what was skipped, and why */
    bool json;
    struct buf line; /* the line being read */
    struct buf data; /* the event's data lines, joined by '\n' */
    char event[16];  /* its "event:" ("" for a message) */
    bool skipping;   /* the rest of an over-long line */
    bool too_big;    /* the event's data went past its cap */
    bool broken;     /* out could not be written */
};

void follow_init(struct follow *f, FILE *out, FILE *err, bool json);

/* Reads the next n bytes of the stream, split anywhere, and prints each
 * event it completes; false once out cannot be written. */
bool follow_feed(struct follow *f, const char *p, size_t n);

void follow_free(struct follow *f);

/*
 * Follows base's /events until the stream ends or breaks (3, having said
 * which on stderr), or SIGINT or SIGTERM (0); 4 on a 401, 1 for another
 * answer but 200 (sidecar's message), 1 when stdout cannot be written.
 * SIGPIPE ends it as it ends any filter. token: "" for none.
 */
int follow_command(const char *base, const char *token, bool json);

#endif
