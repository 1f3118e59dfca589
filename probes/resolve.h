/*
 * Host to addresses, for probes that connect. A literal (IPv4, IPv6 bare
 * or in brackets, with an optional "%zone") is parsed with no lookup. A
 * name goes to a struct resolver: c-ares driven by the loop, one per
 * prober, made only when some probe has a name. It owns the c-ares
 * channel, one ev_io per c-ares socket and one ev_timer; each lookup in
 * flight owns a small query the caller holds through a slot.
 */
#ifndef SIDECAR_PROBES_RESOLVE_H
#define SIDECAR_PROBES_RESOLVE_H

#include <ev.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#include "base/util.h"

#define RESOLVE_ADDRS_MAX 8 /* tried in order; more are dropped */

union resolve_sa {
    struct sockaddr sa;
    struct sockaddr_in in;
    struct sockaddr_in6 in6;
};

struct resolve_addrs {
    unsigned count;
    union resolve_sa addr[RESOLVE_ADDRS_MAX];
};

/* The length of sa's address for connect(). */
socklen_t resolve_sa_len(const union resolve_sa *sa);

/*
 * host as configured: 1 and *sa (port set) for a literal; 0 for a name to
 * look up; -EINVAL for anything else (characters no name has, a bad IPv6
 * literal, brackets around no IPv6). A zone names an interface or gives
 * its index; an interface unknown now leaves the scope 0.
 */
int resolve_literal(const char *host, unsigned port,
                    union resolve_sa *sa) ATTR_WUR;

struct resolver;
struct resolve_query;

/*
 * Reads the system's resolver settings (/etc/resolv.conf, once). NULL and
 * errno when c-ares cannot start. resolver_free(NULL) is a no-op; queries
 * still in flight end with no callback.
 */
struct resolver *resolver_new(struct ev_loop *loop) ATTR_WUR;
void resolver_free(struct resolver *r);

/*
 * error is NULL and addrs holds at least one address (port set), or error
 * says why the name did not resolve. Both are borrowed for the call.
 */
typedef void resolve_fn(void *arg, const struct resolve_addrs *addrs,
                        const char *error);

/*
 * Looks name up (TCP addresses, IPv4 and IPv6). *slot holds the query
 * until cb runs, and is NULL again before it does; cb may run before this
 * returns (an answer from /etc/hosts). 0, or -ENOMEM and no callback.
 */
int resolver_lookup(struct resolver *r, const char *name, unsigned port,
                    resolve_fn *cb, void *arg,
                    struct resolve_query **slot) ATTR_WUR;

/* Forgets the query in *slot (if any): its callback never runs. */
void resolve_cancel(struct resolve_query **slot);

#endif
