/*
 * A TCP connect on the loop, with no thread and no library: the host's
 * addresses (a literal as is, a name through struct resolver), then a
 * non-blocking connect to each in turn until one succeeds, watched by one
 * ev_io. The caller embeds a struct connector, owns it and bounds it in
 * time (connector_cancel() on its own timeout); the socket, the watcher
 * and the lookup in flight belong to the connector until it calls back.
 */
#ifndef SIDECAR_PROBES_CONNECT_H
#define SIDECAR_PROBES_CONNECT_H

#include <ev.h>
#include <stdbool.h>

#include "base/util.h"
#include "probes/resolve.h"

#define CONNECT_ERROR_MAX 320
#define CONNECT_HOST_MAX  256 /* a name (253), or an IPv6 literal and zone */

/*
 * Where a probe connects, parsed once from its config: a literal's
 * address, or a name to look up at each run; and its "host:port" (an IPv6
 * literal in brackets) for reasons.
 */
struct connect_target {
    bool literal;
    unsigned port;
    union resolve_sa addr;            /* a literal's */
    char host[CONNECT_HOST_MAX];      /* without brackets */
    char label[CONNECT_HOST_MAX + 8]; /* "host:port", "[v6]:port" */
};

/*
 * host (len bytes: a name, an IPv4 or an IPv6 literal, bare or in
 * brackets, with an optional zone) and port into t: 0, or -EINVAL for a
 * host resolve_literal() refuses or one too long.
 */
int connect_target_set(struct connect_target *t, const char *host, size_t len,
                       unsigned port) ATTR_WUR;

struct connector;

/*
 * The attempt ended. fd >= 0: connected, and the fd is the callee's to
 * use and close (a tcp probe closes it, an HTTP probe would talk on it).
 * fd < 0: -errno, and c->error says what failed in words.
 */
typedef void connector_fn(struct connector *c, int fd);

struct connector {
    /* read-only */
    char error[CONNECT_ERROR_MAX];
    /* private */
    struct ev_loop *loop;
    const char *label; /* "host:port", for the error */
    const char *name;  /* being looked up; borrowed */
    ev_io io_w;
    int fd;     /* the socket connecting, or the fd of a result fed */
    int result; /* a result fed to io_w: 0 or -errno */
    int err;    /* the last address's errno */
    bool busy;
    bool starting; /* inside connector_start(): results are fed */
    unsigned next; /* the next of addrs to try */
    struct resolve_addrs addrs;
    struct resolve_query *query;
    connector_fn *done;
};

/* Once, before any start. label ("host:port") is borrowed. */
void connector_init(struct connector *c, struct ev_loop *loop,
                    const char *label, connector_fn *done);

/*
 * Starts one attempt: to the literal addr, or (addr NULL) to name's
 * addresses looked up through r (name is borrowed until done or
 * cancel). done runs exactly once, from the loop,
 * never inside this call, unless connector_cancel() comes first. 0, or
 * -errno and no callback (one attempt at a time: -EBUSY).
 */
int connector_start(struct connector *c, const union resolve_sa *addr,
                    struct resolver *r, const char *name,
                    unsigned port) ATTR_WUR;

/* connector_start() to t; r (the prober's resolver) only for a name. Errors
 * then name t's label (t is borrowed until done or cancel). */
int connector_start_at(struct connector *c, const struct connect_target *t,
                       struct resolver *r) ATTR_WUR;

/* Ends the attempt (if any): closes its socket, forgets its lookup; done
 * does not run. Leaves c ready for another start, or to be freed. */
void connector_cancel(struct connector *c);

#endif
