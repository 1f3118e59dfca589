/*
 * The tcp probe kind: a TCP connect on the loop (probes/connect.c),
 * passing once connected; the connection is closed at once. A literal
 * host is parsed once, at init: its runs allocate nothing. A name is
 * looked up at each run through the prober's resolver, made by the first
 * probe with a name. The core's deadline bounds the run and cancels it.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "probes/connect.h"
#include "probes/probe.h"
#include "probes/resolve.h"

/* Longest host name (253) plus brackets and ":65535". */
#define TCP_TARGET_MAX 272

struct tcp {
    struct probe *p;
    struct connector conn;
    bool literal;
    union resolve_sa addr;           /* a literal's */
    char host[TCP_TARGET_MAX];       /* a name's, without brackets */
    char target[TCP_TARGET_MAX + 8]; /* "host:port", "[v6]:port" */
};

static void on_done(struct connector *c, int fd)
{
    struct tcp *t = container_of(c, struct tcp, conn);
    bool ok = fd >= 0;

    if (ok)
        close(fd);
    /* Last: the core may start, cancel or destroy anything from here. */
    if (ok)
        probe_report(t->p, true, "connected to %s", t->target);
    else
        probe_report(t->p, false, "%s", c->error);
}

static void tcp_destroy(struct probe *p)
{
    struct tcp *t = p->data;

    if (t == NULL)
        return;
    connector_cancel(&t->conn);
    free(t);
    p->data = NULL;
}

static int tcp_init(struct probe *p)
{
    const struct cfg_probe *cfg = p->cfg;
    struct prober *pr = p->owner;
    const char *host = cfg->host;
    size_t n = strlen(host);
    struct tcp *t;
    int rc;
    int w;

    t = calloc(1, sizeof(*t));
    if (t == NULL)
        return -ENOMEM;
    t->p = p;
    rc = resolve_literal(host, cfg->port, &t->addr);
    if (rc < 0)
        goto out_free;
    t->literal = rc == 1;
    if (n >= 2 && host[0] == '[')
        w = snprintf(t->target, sizeof(t->target), "%s:%u", host, cfg->port);
    else if (strchr(host, ':') != NULL)
        w = snprintf(t->target, sizeof(t->target), "[%s]:%u", host, cfg->port);
    else
        w = snprintf(t->target, sizeof(t->target), "%s:%u", host, cfg->port);
    if (w < 0 || (size_t)w >= sizeof(t->target) || n >= sizeof(t->host)) {
        rc = -EINVAL;
        goto out_free;
    }
    memcpy(t->host, host, n + 1);
    if (!t->literal && pr->dns == NULL) {
        pr->dns = resolver_new(pr->loop);
        if (pr->dns == NULL) {
            rc = -errno;
            goto out_free;
        }
    }
    connector_init(&t->conn, pr->loop, t->target, on_done);
    p->data = t;
    return 0;

out_free:
    free(t);
    return rc;
}

static int tcp_start(struct probe *p)
{
    struct tcp *t = p->data;

    if (t->literal)
        return connector_start(&t->conn, &t->addr, NULL, NULL, 0);
    return connector_start(&t->conn, NULL, p->owner->dns, t->host,
                           p->cfg->port);
}

static void tcp_cancel(struct probe *p)
{
    struct tcp *t = p->data;

    connector_cancel(&t->conn);
}

const struct probe_kind probe_kind_tcp = {
    .name = "tcp",
    .init = tcp_init,
    .start = tcp_start,
    .cancel = tcp_cancel,
    .destroy = tcp_destroy,
};
