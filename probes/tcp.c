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

struct tcp {
    struct probe *p;
    struct connector conn;
    struct connect_target target;
};

static void on_done(struct connector *c, int fd)
{
    struct tcp *t = container_of(c, struct tcp, conn);
    bool ok = fd >= 0;

    if (ok)
        close(fd);
    /* Last: the core may start, cancel or destroy anything from here. */
    if (ok)
        probe_report(t->p, true, "connected to %s", t->target.label);
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
    struct tcp *t = calloc(1, sizeof(*t));
    int rc;

    if (t == NULL)
        return -ENOMEM;
    t->p = p;
    rc =
        connect_target_set(&t->target, cfg->host, strlen(cfg->host), cfg->port);
    if (rc == 0 && !t->target.literal && probe_resolver(p) == NULL)
        rc = -errno;
    if (rc < 0) {
        free(t);
        return rc;
    }
    connector_init(&t->conn, p->owner->loop, t->target.label, on_done);
    p->data = t;
    return 0;
}

static int tcp_start(struct probe *p)
{
    struct tcp *t = p->data;

    return connector_start_at(&t->conn, &t->target, p->owner->dns);
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
