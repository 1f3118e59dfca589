/*
 * Kubelet, emulated: the wrapper example of packaging/kubernetes/ run
 * locally and probed the way kubelet probes a container.
 *
 * The config is the ConfigMap's sidecar.yaml, with what only exists in the
 * pod swapped for local stand-ins (each swap must match exactly once, so
 * the test fails when the example drifts): pgbouncer and the orders app
 * become fakehttp on chosen ports, the database is a fakehttp listener the
 * test stops and starts, and sidecar listens on an ephemeral port of
 * 127.0.0.1 instead of :8558. The probes (paths, ports, periods, timeouts,
 * thresholds) and terminationGracePeriodSeconds are read from the
 * Deployment. Like kubelet, every probe is a GET on a fresh connection
 * with Connection: close, bound by timeoutSeconds, passing on 200-399;
 * liveness and readiness start once the startup probe has passed.
 */
#define _DEFAULT_SOURCE
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <yaml.h>

#include "harness.h"

#define MANIFEST "packaging/kubernetes/wrapper.yaml"
#define DOCS_MAX 8

static struct harness H;
static pid_t db_pid;

/* ---- the manifest, through libyaml's document API ---------------------- */

struct manifest {
    yaml_document_t docs[DOCS_MAX];
    size_t ndocs;
};

static void manifest_load(struct manifest *m, const char *path)
{
    FILE *f = fopen(path, "r");
    cr_assert(f, "%s: %s", path, strerror(errno));
    yaml_parser_t p;
    cr_assert(yaml_parser_initialize(&p));
    yaml_parser_set_input_file(&p, f);
    for (;;) {
        cr_assert_lt(m->ndocs, DOCS_MAX);
        yaml_document_t *d = &m->docs[m->ndocs];
        cr_assert(yaml_parser_load(&p, d), "%s: %s at line %zu", path,
                  p.problem, p.problem_mark.line + 1);
        if (!yaml_document_get_root_node(d)) {
            yaml_document_delete(d);
            break;
        }
        m->ndocs++;
    }
    yaml_parser_delete(&p);
    fclose(f);
}

static const char *scalar(yaml_node_t *n)
{
    return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value
                                            : NULL;
}

/* The value of key in mapping n, or NULL. */
static yaml_node_t *get(yaml_document_t *d, yaml_node_t *n, const char *key)
{
    if (!n || n->type != YAML_MAPPING_NODE)
        return NULL;
    for (yaml_node_pair_t *p = n->data.mapping.pairs.start;
         p < n->data.mapping.pairs.top; p++) {
        const char *k = scalar(yaml_document_get_node(d, p->key));
        if (k && strcmp(k, key) == 0)
            return yaml_document_get_node(d, p->value);
    }
    return NULL;
}

/* A path of keys, "a.b.c"; a numeric part indexes a sequence. */
static yaml_node_t *path(yaml_document_t *d, yaml_node_t *n, const char *keys)
{
    char buf[128];
    snprintf(buf, sizeof(buf), "%s", keys);
    for (char *save, *k = strtok_r(buf, ".", &save); n && k;
         k = strtok_r(NULL, ".", &save)) {
        if (n->type == YAML_SEQUENCE_NODE) {
            long i = strtol(k, NULL, 10);
            yaml_node_item_t *it = n->data.sequence.items.start + i;
            n = it < n->data.sequence.items.top ? yaml_document_get_node(d, *it)
                                                : NULL;
        } else {
            n = get(d, n, k);
        }
    }
    return n;
}

/* The document of that kind (its root), and which one it is. */
static yaml_node_t *find_kind(struct manifest *m, const char *kind,
                              yaml_document_t **doc)
{
    for (size_t i = 0; i < m->ndocs; i++) {
        yaml_node_t *root = yaml_document_get_root_node(&m->docs[i]);
        const char *k = scalar(get(&m->docs[i], root, "kind"));
        if (k && strcmp(k, kind) == 0) {
            *doc = &m->docs[i];
            return root;
        }
    }
    cr_assert_fail("%s: no %s", MANIFEST, kind);
    return NULL;
}

static double number(yaml_document_t *d, yaml_node_t *n, const char *key,
                     double def)
{
    const char *v = scalar(get(d, n, key));
    return v ? strtod(v, NULL) : def;
}

/* ---- kubelet's prober ------------------------------------------------- */

struct kprobe {
    const char *name;
    char path[64];
    double period, timeout;
    int failure_threshold, success_threshold;
    bool on;
    double due;
    int fails, passes; /* in a row */
    long runs, failed_runs;
};

struct kubelet {
    struct kprobe startup, readiness, liveness;
    struct kprobe watch; /* not kubelet's: /livez every 100 ms, when on */
    int port;            /* containerPort of the probes, mapped here */
    bool started, ready;
    bool would_restart; /* liveness or startup reached failureThreshold */
};

/* The named container's probe, as kubelet reads it (with its defaults). */
static void kprobe_read(struct kprobe *p, const char *name, yaml_document_t *d,
                        yaml_node_t *container, int *port)
{
    yaml_node_t *n = get(d, container, name);
    cr_assert(n, "%s: the sidecar container has no %s", MANIFEST, name);
    p->name = name;
    const char *path_ = scalar(path(d, n, "httpGet.path"));
    cr_assert(path_, "%s: %s is not an httpGet", MANIFEST, name);
    snprintf(p->path, sizeof(p->path), "%s", path_);
    p->period = number(d, n, "periodSeconds", 10);
    p->timeout = number(d, n, "timeoutSeconds", 1);
    p->failure_threshold = (int)number(d, n, "failureThreshold", 3);
    p->success_threshold = (int)number(d, n, "successThreshold", 1);
    cr_assert_eq(number(d, n, "initialDelaySeconds", 0), 0,
                 "this emulation assumes no initialDelaySeconds");

    /* A named port is the container's port of that name. */
    const char *port_ = scalar(path(d, n, "httpGet.port"));
    yaml_node_t *ports = get(d, container, "ports");
    cr_assert(port_ && ports && ports->type == YAML_SEQUENCE_NODE);
    int number_ = atoi(port_);
    for (yaml_node_item_t *it = ports->data.sequence.items.start;
         !number_ && it < ports->data.sequence.items.top; it++) {
        yaml_node_t *cp = yaml_document_get_node(d, *it);
        const char *cname = scalar(get(d, cp, "name"));
        if (cname && strcmp(cname, port_) == 0)
            number_ = (int)number(d, cp, "containerPort", 0);
    }
    cr_assert_gt(number_, 0, "%s: %s port %s is no container port", MANIFEST,
                 name, port_);
    *port = number_;
}

/* One probe: GET on a new connection, within timeout; true on 200-399. */
static bool kubelet_get(int port, const char *path_, double timeout)
{
    double deadline = h_now() + timeout;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    cr_assert_geq(fd, 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    char req[256], resp[1024];
    int n = snprintf(req, sizeof(req),
                     "GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
                     "User-Agent: kube-probe/1.33\r\nAccept: */*\r\n"
                     "Connection: close\r\n\r\n",
                     path_, port);
    size_t got = 0, sent = 0;
    bool connected = false;
    if (connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0)
        connected = true;
    else if (errno != EINPROGRESS)
        goto out;
    for (;;) {
        int left = (int)((deadline - h_now()) * 1000);
        if (left <= 0)
            goto out;
        struct pollfd pfd = {.fd = fd,
                             .events = sent < (size_t)n ? POLLOUT : POLLIN};
        if (poll(&pfd, 1, left) <= 0)
            continue;
        if (!connected) {
            int err = 0;
            socklen_t len = sizeof(err);
            getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
            if (err)
                goto out;
            connected = true;
        }
        if (sent < (size_t)n) {
            ssize_t w = write(fd, req + sent, (size_t)n - sent);
            if (w < 0 && errno != EAGAIN)
                goto out;
            sent += w > 0 ? (size_t)w : 0;
            continue;
        }
        ssize_t r = read(fd, resp + got, sizeof(resp) - 1 - got);
        if (r < 0 && (errno == EAGAIN || errno == EINTR))
            continue;
        if (r <= 0)
            break;
        got += (size_t)r;
        if (got == sizeof(resp) - 1)
            break; /* all kubelet would read of the body */
    }
    resp[got] = '\0';
    int status = 0;
    close(fd);
    return sscanf(resp, "HTTP/1.%*d %d", &status) == 1 && status >= 200 &&
           status < 400;
out:
    close(fd);
    return false;
}

static void kprobe_run(struct kubelet *k, struct kprobe *p)
{
    bool ok = kubelet_get(k->port, p->path, p->timeout);
    p->runs++;
    while (p->due <= h_now()) /* a ticker: missed ticks are dropped */
        p->due += p->period;
    if (ok) {
        p->fails = 0;
        p->passes++;
    } else {
        p->failed_runs++;
        p->passes = 0;
        p->fails++;
    }
    if (p == &k->startup && p->passes >= p->success_threshold) {
        k->started = true;
        p->on = false;
        k->readiness.on = k->liveness.on = true;
        k->readiness.due = k->liveness.due = h_now();
    } else if (p == &k->readiness) {
        if (p->passes >= p->success_threshold)
            k->ready = true;
        if (p->fails >= p->failure_threshold)
            k->ready = false;
    }
    if ((p == &k->startup || p == &k->liveness) &&
        p->fails >= p->failure_threshold)
        k->would_restart = true;
}

/* Runs the due probes, else reads sidecar's log until the next is due. */
static void kubelet_step(struct kubelet *k)
{
    struct kprobe *all[] = {&k->startup, &k->readiness, &k->liveness,
                            &k->watch};
    struct kprobe *next = NULL;
    for (size_t i = 0; i < 4; i++) {
        if (all[i]->on && (!next || all[i]->due < next->due))
            next = all[i];
    }
    cr_assert(next);
    double wait = next->due - h_now();
    if (wait > 0)
        h_pump(&H, wait);
    else
        kprobe_run(k, next);
}

#define kubelet_until(k, cond, secs, what)                                     \
    do {                                                                       \
        double end_ = h_now() + (secs);                                        \
        while (!(cond)) {                                                      \
            cr_assert_lt(h_now(), end_, "not %s within %.0fs", what,           \
                         (double)(secs));                                      \
            cr_assert(!(k)->would_restart, "kubelet would restart it");        \
            kubelet_step(k);                                                   \
        }                                                                      \
    } while (0)

/* The database: a listener on port, started and stopped by the test. */
static void db_start(int port, const char *portfile)
{
    const char *dir = getenv("SIDECAR_HELPERS");
    char bin[512], port_[16];
    snprintf(bin, sizeof(bin), "%s/fakehttp",
             dir && *dir ? dir : "../build/test");
    snprintf(port_, sizeof(port_), "%d", port);
    unlink(portfile);
    db_pid = fork();
    cr_assert_geq(db_pid, 0);
    if (db_pid == 0) {
        execl(bin, "fakehttp", "--tcp-only", "--port", port_, portfile,
              (char *)NULL);
        _exit(127);
    }
    for (double end = h_now() + H_WAIT; access(portfile, F_OK) != 0;) {
        cr_assert_lt(h_now(), end, "the database stand-in did not start");
        usleep(5000);
    }
}

static void db_stop(void)
{
    if (db_pid > 0) {
        kill(db_pid, SIGKILL);
        waitpid(db_pid, NULL, 0);
        db_pid = 0;
    }
}

static void teardown(void)
{
    db_stop();
    h_cleanup(&H);
}

/* Replaces the one occurrence of from in s (size cap) by to. */
static void swap(char *s, size_t cap, const char *from, const char *to)
{
    char *at = strstr(s, from);
    cr_assert(at, "%s: the config no longer has %s", MANIFEST, from);
    cr_assert(!strstr(at + 1, from), "%s: %s is there twice", MANIFEST, from);
    size_t flen = strlen(from), tlen = strlen(to), rest = strlen(at + flen);
    cr_assert_lt(strlen(s) - flen + tlen, cap);
    memmove(at + tlen, at + flen, rest + 1);
    memcpy(at, to, tlen);
}

/* pid of the latest "service started" of service. */
static pid_t started_pid(const char *service)
{
    long idx = -1;
    for (long i = h_find_event(&H, 0, "service started", service); i >= 0;
         i = h_find_event(&H, (size_t)i + 1, "service started", service))
        idx = i;
    cr_assert_geq(idx, 0);
    return (pid_t)h_int(&H, idx, "pid", -1);
}

Test(kubelet, wrapper_example_under_kubelet_probes, .timeout = 120,
     .fini = teardown)
{
    static struct manifest m;
    const char *src = getenv("SIDECAR_SRC");
    char file[512];
    snprintf(file, sizeof(file), "%s/%s", src && *src ? src : ".", MANIFEST);
    manifest_load(&m, file);

    yaml_document_t *cm, *dep;
    yaml_node_t *cm_root = find_kind(&m, "ConfigMap", &cm);
    yaml_node_t *dep_root = find_kind(&m, "Deployment", &dep);
    const char *embedded =
        scalar(get(cm, get(cm, cm_root, "data"), "sidecar.yaml"));
    cr_assert(embedded, "%s: the ConfigMap has no sidecar.yaml", MANIFEST);
    yaml_node_t *pod = path(dep, dep_root, "spec.template.spec");
    yaml_node_t *container = path(dep, pod, "containers.0");
    double grace = number(dep, pod, "terminationGracePeriodSeconds", 30);

    struct kubelet k = {0};
    int p1, p2, p3;
    kprobe_read(&k.startup, "startupProbe", dep, container, &p1);
    kprobe_read(&k.readiness, "readinessProbe", dep, container, &p2);
    kprobe_read(&k.liveness, "livenessProbe", dep, container, &p3);
    cr_assert(p1 == 8558 && p2 == 8558 && p3 == 8558,
              "probes on %d %d %d, sidecar listens on 8558", p1, p2, p3);
    k.watch = (struct kprobe){.name = "watch",
                              .path = "/livez",
                              .period = 0.1,
                              .timeout = 1,
                              .failure_threshold = 1,
                              .success_threshold = 1};

    /* The stand-ins, on ports this test holds from now on (fakehttp
     * --port shares them): a port picked free and released could be
     * taken by another process before a stand-in binds it, and the
     * database's again between its stop and its start. */
    int app_port = h_reserve_port();
    int pool_port = h_reserve_port();
    int db_port = h_reserve_port();
    static char yaml[16384];
    char to[512];
    snprintf(yaml, sizeof(yaml), "%s", embedded);
    swap(yaml, sizeof(yaml), "listen: \":8558\"", "listen: \"127.0.0.1:0\"");
    snprintf(to, sizeof(to),
             "[\"@HELPERDIR@/fakehttp\", \"--tcp-only\", \"--port\", "
             "\"%d\", \"@DIR@/pool.port\"]",
             pool_port);
    swap(yaml, sizeof(yaml),
         "[\"pgbouncer\", \"/etc/pgbouncer/pgbouncer.ini\"]", to);
    snprintf(to, sizeof(to), "port: %d", pool_port);
    swap(yaml, sizeof(yaml), "port: 6432", to);
    snprintf(to, sizeof(to),
             "[\"@HELPERDIR@/fakehttp\", \"--port\", \"%d\", "
             "\"@DIR@/app.port\"]",
             app_port);
    swap(yaml, sizeof(yaml), "[\"/app/orders\", \"--listen\", \":8080\"]", to);
    snprintf(to, sizeof(to), "http://127.0.0.1:%d/healthz", app_port);
    swap(yaml, sizeof(yaml), "http://127.0.0.1:8080/healthz", to);
    char db_port_[16], db_file[64];
    snprintf(db_port_, sizeof(db_port_), "%d", db_port);
    snprintf(db_file, sizeof(db_file), "/tmp/sidecar-kubelet-db.%d",
             (int)getpid());
    cr_assert_eq(setenv("DATABASE_HOST", "127.0.0.1", 1), 0);
    cr_assert_eq(setenv("DATABASE_PORT", db_port_, 1), 0);
    db_start(db_port, db_file);

    /* Container start: kubelet runs the startup probe alone. */
    h_start(&H, yaml);
    k.port = h_http_port(&H);
    double t0 = h_now();
    k.startup.on = true;
    k.startup.due = t0;
    kubelet_until(&k, k.started, 20, "started");
    double t_started = h_now() - t0;
    kubelet_until(&k, k.ready, 10, "ready");
    double t_ready = h_now() - t0;

    /* A critical dependency fails: the pod leaves its endpoints, and comes
     * back when it returns; liveness never fails. */
    double t = h_now();
    db_stop();
    kubelet_until(&k, !k.ready, 15, "unready with the database down");
    double t_unready = h_now() - t;
    db_start(db_port, db_file);
    t = h_now();
    kubelet_until(&k, k.ready, 15, "ready with the database back");
    double t_back = h_now() - t;

    /* The app dies: sidecar restarts it itself; /livez, watched every
     * 100 ms, never fails, so kubelet never restarts the container. */
    pid_t app = started_pid("orders");
    size_t mark = H.count;
    k.watch.on = true;
    k.watch.due = h_now();
    cr_assert_eq(kill(app, SIGKILL), 0);
    t = h_now();
    kubelet_until(&k, h_find_event(&H, mark, "service started", "orders") >= 0,
                  10, "orders restarted");
    double t_restart = h_now() - t;
    kubelet_until(&k, k.ready, 15, "ready after the restart");
    cr_expect_neq(started_pid("orders"), app);
    cr_expect_eq(k.watch.failed_runs, 0, "/livez failed %ld of %ld times",
                 k.watch.failed_runs, k.watch.runs);
    long watched = k.watch.runs, watch_failed = k.watch.failed_runs;

    /* SIGTERM: readiness fails while the app still serves; the app is
     * signalled only after the drain; all within the grace period. */
    app = started_pid("orders");
    mark = H.count;
    double t_term = h_now();
    h_signal(&H, SIGTERM);
    kubelet_until(&k, !k.ready, k.readiness.period * 2, "unready on SIGTERM");
    double t_drained = h_now() - t_term;
    h_pump(&H, 0.05); /* what sidecar logged until now */
    cr_expect_lt(h_find_event(&H, mark, "stopping service", "orders"), 0,
                 "orders was stopped before readiness failed");
    cr_expect(h_pid_alive(app));
    cr_expect(kubelet_get(app_port, "/healthz", 1), "the app stopped serving");
    k.watch.failed_runs = k.watch.runs = 0;
    kubelet_until(&k, h_find_event(&H, mark, "stopping service", "orders") >= 0,
                  grace, "orders stopped");
    double t_stop = h_now() - t_term;
    cr_expect_geq(t_stop, 4.9, "the drain lasted %.2fs", t_stop);
    cr_expect_eq(k.watch.failed_runs, 0, "/livez failed during the drain");
    cr_expect_eq(k.liveness.failed_runs, 0);
    int code = h_wait_exit(&H, grace - (h_now() - t_term));
    double t_exit = h_now() - t_term;
    cr_expect_eq(code, 143, "sidecar exits as the app did (SIGTERM)");
    cr_expect_lt(t_exit, grace);
    cr_expect(!k.would_restart);

    fprintf(stderr,
            "kubelet: started %.1fs ready %.1fs; db down -> unready %.1fs, "
            "back -> ready %.1fs; app killed -> restarted %.1fs, /livez "
            "%ld/%ld ok; SIGTERM -> unready %.1fs, app stopped %.1fs, exit "
            "%d at %.1fs (grace %.0fs); kubelet probes: startup %ld, "
            "readiness %ld, liveness %ld, liveness failures %ld\n",
            t_started, t_ready, t_unready, t_back, t_restart,
            watched - watch_failed, watched, t_drained, t_stop, code, t_exit,
            grace, k.startup.runs, k.readiness.runs, k.liveness.runs,
            k.liveness.failed_runs);
    for (size_t i = 0; i < m.ndocs; i++)
        yaml_document_delete(&m.docs[i]);
    unlink(db_file);
}
