#define _GNU_SOURCE
#include "harness.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <math.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

double h_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static const char *env_or(const char *name, const char *def)
{
    const char *v = getenv(name);
    return v && *v ? v : def;
}

const char *h_path(struct harness *h, const char *name)
{
    static char path[512];
    snprintf(path, sizeof(path), "%s/%s", h->dir, name);
    return path;
}

/* Template with @HELPER@, @HELPERDIR@ and @DIR@ (as dir) replaced. */
static char *expand(const struct harness *h, const char *tmpl, const char *dir)
{
    char helper[512];
    const char *helper_dir =
        h->bin_dir[0] ? h->bin_dir : env_or("SIDECAR_HELPERS", "../build/test");
    snprintf(helper, sizeof(helper), "%s/fakesvc", helper_dir);
    size_t cap = strlen(tmpl) * 4 + 4096;
    char *out = malloc(cap);
    cr_assert(out);
    size_t n = 0;
    for (const char *p = tmpl; *p;) {
        const char *sub = NULL;
        size_t skip = 0;
        if (strncmp(p, "@HELPER@", 8) == 0) {
            sub = helper;
            skip = 8;
        } else if (strncmp(p, "@HELPERDIR@", 11) == 0) {
            sub = helper_dir;
            skip = 11;
        } else if (strncmp(p, "@DIR@", 5) == 0) {
            sub = dir;
            skip = 5;
        }
        if (sub) {
            size_t l = strlen(sub);
            cr_assert(n + l < cap);
            memcpy(out + n, sub, l);
            n += l;
            p += skip;
        } else {
            cr_assert(n + 1 < cap);
            out[n++] = *p++;
        }
    }
    out[n] = '\0';
    return out;
}

void h_write_config(const struct harness *h, const char *path, const char *dir,
                    const char *yaml_template, bool atomic)
{
    char *yaml = expand(h, yaml_template, dir ? dir : h->dir);
    char tmp[512];
    snprintf(tmp, sizeof(tmp), "%s.new", path);
    FILE *f = fopen(atomic ? tmp : path, "w");
    cr_assert(f, "cannot write %s: %s", atomic ? tmp : path, strerror(errno));
    /* Tests run side by side: an ephemeral port unless the test says. */
    if (strncmp(yaml, "http:", 5) != 0 && !strstr(yaml, "\nhttp:"))
        fputs("http:\n  listen: 127.0.0.1:0\n", f);
    /* And no readiness drain on SIGTERM unless the test wants one. */
    if (strncmp(yaml, "shutdown:", 9) != 0 && !strstr(yaml, "\nshutdown:"))
        fputs("shutdown:\n  drain: 0s\n", f);
    fputs(yaml, f);
    cr_assert_eq(fclose(f), 0);
    if (atomic)
        cr_assert_eq(rename(tmp, path), 0, "rename: %s", strerror(errno));
    free(yaml);
}

static void start(struct harness *h, const char *yaml_template,
                  const char *const *wrapper, const char *const *extra,
                  const struct h_creds *creds, const char *tee_to);

void h_start_args(struct harness *h, const char *yaml_template,
                  const char *const *extra)
{
    start(h, yaml_template, NULL, extra, NULL, NULL);
}

void h_start_as(struct harness *h, const char *yaml_template,
                const struct h_creds *creds)
{
    start(h, yaml_template, NULL, NULL, creds, NULL);
}

void h_start_teed(struct harness *h, const char *yaml_template,
                  const char *const *extra, const char *name)
{
    start(h, yaml_template, NULL, extra, NULL, name);
}

void h_start_wrapped(struct harness *h, const char *yaml_template,
                     const char *const *wrapper)
{
    start(h, yaml_template, wrapper, NULL, NULL, NULL);
}

/* In the child, before exec: the credentials and limit the test asked. */
static int take_creds(const struct harness *h, const struct h_creds *c)
{
    struct rlimit rl = {.rlim_cur = c->nproc, .rlim_max = c->nproc};
    if (chmod(h->dir, 0777) < 0 ||
        (c->nproc && setrlimit(RLIMIT_NPROC, &rl) < 0) ||
        setgroups(c->groups_count, c->groups) < 0 ||
        setresgid(c->uid, c->uid, c->uid) < 0)
        return -1;
    return setresuid(c->uid, c->uid, c->uid);
}

/*
 * A tee(1) appending what comes down a new pipe to path and passing it on
 * to out_fd (closed here); the pipe's write end.
 */
static int start_tee(struct harness *h, const char *path, int out_fd)
{
    int fds[2];
    cr_assert_eq(pipe2(fds, O_CLOEXEC), 0);
    h->tee_pid = fork();
    cr_assert_geq(h->tee_pid, 0);
    if (h->tee_pid == 0) {
        dup2(fds[0], 0);
        dup2(out_fd, 1);
        execlp("tee", "tee", "-a", path, (char *)NULL);
        _exit(121);
    }
    close(fds[0]);
    close(out_fd);
    return fds[1];
}

static void start(struct harness *h, const char *yaml_template,
                  const char *const *wrapper, const char *const *extra,
                  const struct h_creds *creds, const char *tee_to)
{
    memset(h, 0, sizeof(*h));
    h->pid = -1;
    h->out_fd = -1;
    snprintf(h->dir, sizeof(h->dir), "/tmp/sidecar-test-XXXXXX");
    cr_assert(mkdtemp(h->dir), "mkdtemp: %s", strerror(errno));
    snprintf(h->cfg_path, sizeof(h->cfg_path), "%s/sidecar.yaml", h->dir);
    snprintf(h->err_path, sizeof(h->err_path), "%s/stderr", h->dir);
    if (creds) {
        char cmd[1536];
        snprintf(h->bin_dir, sizeof(h->bin_dir), "%s/bin", h->dir);
        snprintf(cmd, sizeof(cmd),
                 "mkdir -m 755 '%s' && cp '%s' '%s/sidecar' && "
                 "cp '%s/fakesvc' '%s/fakesvc'",
                 h->bin_dir, env_or("SIDECAR_BIN", "../build/sidecar"),
                 h->bin_dir, env_or("SIDECAR_HELPERS", "../build/test"),
                 h->bin_dir);
        cr_assert_eq(system(cmd), 0, "%s", cmd);
    }

    h_write_config(h, h->cfg_path, NULL, yaml_template, false);

    int fds[2];
    cr_assert(pipe2(fds, O_CLOEXEC) == 0);
    if (tee_to)
        fds[1] = start_tee(h, h_path(h, tee_to), fds[1]);
    char copy[256];
    snprintf(copy, sizeof(copy), "%s/sidecar", h->bin_dir);
    const char *bin = creds ? copy : env_or("SIDECAR_BIN", "../build/sidecar");
    const char *argv[32];
    size_t argc = 0;
    for (size_t i = 0; wrapper && wrapper[i] && argc < 26; i++)
        argv[argc++] = wrapper[i];
    argv[argc++] = bin;
    argv[argc++] = "run";
    argv[argc++] = "-c";
    argv[argc++] = h->cfg_path;
    for (size_t i = 0; extra && extra[i] && argc < 31; i++)
        argv[argc++] = extra[i];
    argv[argc] = NULL;

    pid_t pid = fork();
    cr_assert(pid >= 0);
    if (pid == 0) {
        int err = open(h->err_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        int in = open("/dev/null", O_RDONLY);
        if (err < 0 || in < 0)
            _exit(120);
        dup2(in, 0);
        dup2(fds[1], 1);
        dup2(err, 2);
        /* Every process of this test inherits the marker; see
         * check_survivors(). */
        setenv("SIDECAR_TEST_DIR", h->dir, 1);
        if (creds && take_creds(h, creds) < 0) {
            dprintf(2, "harness: cannot take the credentials: %s\n",
                    strerror(errno));
            _exit(122);
        }
        execvp(argv[0], (char *const *)argv);
        _exit(121);
    }
    close(fds[1]);
    fcntl(fds[0], F_SETFL, O_NONBLOCK);
    h->pid = pid;
    h->out_fd = fds[0];
}

void h_start(struct harness *h, const char *yaml_template)
{
    h_start_args(h, yaml_template, NULL);
}

static void add_line(struct harness *h, const char *p, size_t n)
{
    if (h->count == h->cap) {
        h->cap = h->cap ? h->cap * 2 : 1024;
        h->raw = realloc(h->raw, h->cap * sizeof(char *));
        h->json = realloc(h->json, h->cap * sizeof(json_t *));
        cr_assert(h->raw && h->json);
    }
    char *line = strndup(p, n);
    cr_assert(line);
    json_error_t jerr;
    json_t *j = json_loadb(p, n, JSON_ALLOW_NUL, &jerr);
    if (!j || !json_is_object(j)) {
        h->invalid++;
        json_decref(j);
        j = NULL;
    }
    h->raw[h->count] = line;
    h->json[h->count] = j;
    h->count++;
}

static void feed(struct harness *h, const char *p, size_t n)
{
    h->partial = realloc(h->partial, h->partial_len + n + 1);
    cr_assert(h->partial);
    memcpy(h->partial + h->partial_len, p, n);
    h->partial_len += n;
    size_t start = 0;
    for (size_t i = 0; i < h->partial_len; i++) {
        if (h->partial[i] == '\n') {
            add_line(h, h->partial + start, i - start);
            start = i + 1;
        }
    }
    memmove(h->partial, h->partial + start, h->partial_len - start);
    h->partial_len -= start;
}

bool h_pump(struct harness *h, double timeout_s)
{
    if (h->out_fd < 0)
        return false;
    double deadline = h_now() + timeout_s;
    static char chunk[1 << 16];
    for (;;) {
        ssize_t n = read(h->out_fd, chunk, sizeof(chunk));
        if (n > 0) {
            feed(h, chunk, (size_t)n);
            /* A writer faster than us must not keep us here. */
            if (h_now() >= deadline)
                return true;
            continue;
        }
        if (n == 0) {
            close(h->out_fd);
            h->out_fd = -1;
            return false;
        }
        if (errno == EINTR)
            continue;
        double left = deadline - h_now();
        if (left <= 0)
            return true;
        struct pollfd p = {.fd = h->out_fd, .events = POLLIN};
        poll(&p, 1, (int)(left * 1000) + 1);
        if (!(p.revents & (POLLIN | POLLHUP)))
            return true;
    }
}

static bool field_is(const json_t *j, const char *key, const char *want)
{
    const char *v = json_string_value(json_object_get(j, key));
    return v && strcmp(v, want) == 0;
}

long h_find_event(const struct harness *h, size_t from, const char *msg,
                  const char *service)
{
    for (size_t i = from; i < h->count; i++) {
        const json_t *j = h->json[i];
        if (j && field_is(j, "msg", msg) &&
            (!service || field_is(j, "service", service)))
            return (long)i;
    }
    return -1;
}

long h_wait_event(struct harness *h, size_t from, double timeout_s,
                  const char *msg, const char *service)
{
    double deadline = h_now() + timeout_s;
    for (;;) {
        long idx = h_find_event(h, from, msg, service);
        if (idx >= 0)
            return idx;
        double left = deadline - h_now();
        if (left <= 0)
            return -1;
        if (!h_pump(h, left > 0.05 ? 0.05 : left) && h->out_fd < 0)
            return h_find_event(h, from, msg, service);
    }
}

size_t h_count_events(const struct harness *h, size_t from, const char *msg,
                      const char *service)
{
    size_t n = 0;
    for (size_t i = from; i < h->count; i++) {
        const json_t *j = h->json[i];
        if (j && field_is(j, "msg", msg) &&
            (!service || field_is(j, "service", service)))
            n++;
    }
    return n;
}

long long h_int(const struct harness *h, long idx, const char *key,
                long long def)
{
    if (idx < 0 || (size_t)idx >= h->count || !h->json[idx])
        return def;
    json_t *v = json_object_get(h->json[idx], key);
    return json_is_integer(v) ? json_integer_value(v) : def;
}

const char *h_str(const struct harness *h, long idx, const char *key)
{
    if (idx < 0 || (size_t)idx >= h->count || !h->json[idx])
        return NULL;
    return json_string_value(json_object_get(h->json[idx], key));
}

const char *h_line_of(const struct harness *h, const char *service,
                      const char *prefix)
{
    for (size_t i = 0; i < h->count; i++) {
        const char *svc = h_str(h, (long)i, "service");
        const char *msg = h_str(h, (long)i, "msg");
        if (svc && msg && h_str(h, (long)i, "stream") &&
            strcmp(svc, service) == 0 &&
            strncmp(msg, prefix, strlen(prefix)) == 0)
            return msg;
    }
    return "";
}

void h_signal(struct harness *h, int sig)
{
    cr_assert(h->pid > 0 && !h->exited);
    cr_assert(kill(h->pid, sig) == 0);
}

size_t h_mark(struct harness *h)
{
    h_pump(h, 0);
    return h->count;
}

long h_sighup(struct harness *h, const char *msg)
{
    size_t from = h_mark(h);
    h_signal(h, SIGHUP);
    return h_wait_event(h, from, H_WAIT, msg, NULL);
}

int h_stop_once_started(struct harness *h, const char *log, const char *name)
{
    char start[128];
    snprintf(start, sizeof(start), "start %s ", name);
    cr_assert(h_wait_text(h, log, start, H_WAIT), "%s did not start", name);
    h_signal(h, SIGTERM);
    return h_wait_exit(h, H_WAIT);
}

int h_wait_exit(struct harness *h, double timeout_s)
{
    double deadline = h_now() + timeout_s;
    while (!h->exited) {
        int st;
        pid_t r = waitpid(h->pid, &st, WNOHANG);
        if (r == h->pid) {
            h->exited = true;
            h->exit_code =
                WIFSIGNALED(st) ? 128 + WTERMSIG(st) : WEXITSTATUS(st);
            break;
        }
        if (h_now() > deadline)
            return -1;
        if (!h_pump(h, 0.02) && h->out_fd < 0)
            usleep(20000); /* nothing to read: do not spin on waitpid */
    }
    while (h->out_fd >= 0 &&
           h_pump(h, deadline - h_now() > 0.1 ? deadline - h_now() : 0.1))
        ;
    return h->exit_code;
}

static void check_stderr(struct harness *h)
{
    FILE *f = fopen(h->err_path, "r");
    if (!f)
        return;
    char line[1024];
    while (fgets(line, sizeof(line), f)) {
        cr_expect(!strstr(line, "AddressSanitizer") &&
                      !strstr(line, "LeakSanitizer") &&
                      !strstr(line, "runtime error:"),
                  "sanitizer report on sidecar's stderr: %s", line);
    }
    fclose(f);
}

/* True when /proc/<pid>/environ holds SIDECAR_TEST_DIR=dir. */
static bool has_marker(const char *pid, const char *marker)
{
    char path[300];
    static char env[1 << 16];
    snprintf(path, sizeof(path), "/proc/%s/environ", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return false;
    size_t n = fread(env, 1, sizeof(env) - 1, f);
    fclose(f);
    for (size_t i = 0; i < n; i += strlen(env + i) + 1) {
        env[n] = '\0';
        if (strcmp(env + i, marker) == 0)
            return true;
    }
    return false;
}

/* Counts live processes carrying the marker; kills and reports them too. */
static size_t find_marked(const char *marker, bool kill_them)
{
    size_t found = 0;
    DIR *d = opendir("/proc");
    if (!d)
        return 0;
    for (;;) {
        struct dirent *de = readdir(d);
        if (!de)
            break;
        pid_t pid = (pid_t)atoi(de->d_name);
        if (pid <= 0 || !h_pid_alive(pid) || !has_marker(de->d_name, marker))
            continue;
        found++;
        if (kill_them) {
            cr_log_error("process %d outlived the test", (int)pid);
            kill(pid, SIGKILL);
        }
    }
    closedir(d);
    return found;
}

/*
 * No process started by a test may survive it: once sidecar is gone,
 * anything still carrying the marker is a leak (given 10s to finish dying:
 * a loaded machine may take that long to schedule the last exits).
 */
static void check_survivors(struct harness *h)
{
    char marker[200];
    snprintf(marker, sizeof(marker), "SIDECAR_TEST_DIR=%s", h->dir);
    double deadline = h_now() + 10;
    while (find_marked(marker, false) && h_now() < deadline)
        usleep(10000);
    cr_expect_eq(find_marked(marker, true), 0,
                 "processes of this test outlived it");
}

void h_cleanup(struct harness *h)
{
    if (h->pid > 0 && !h->exited) {
        kill(h->pid, SIGKILL);
        waitpid(h->pid, NULL, 0);
        h->exited = true;
    }
    if (h->dir[0]) {
        check_survivors(h);
        check_stderr(h);
        char cmd[256];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", h->dir);
        if (system(cmd) != 0)
            cr_log_warn("cannot remove %s", h->dir);
    }
    if (h->out_fd >= 0)
        close(h->out_fd);
    if (h->tee_pid > 0) { /* its input is closed by now: it is on its way */
        kill(h->tee_pid, SIGKILL);
        waitpid(h->tee_pid, NULL, 0);
    }
    for (size_t i = 0; i < h->count; i++) {
        free(h->raw[i]);
        json_decref(h->json[i]);
    }
    free(h->raw);
    free(h->json);
    free(h->partial);
    memset(h, 0, sizeof(*h));
}

char h_proc_state(pid_t pid)
{
    char path[64];
    char buf[512];
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *p = strrchr(buf, ')');
    return p && p[1] == ' ' ? p[2] : 0;
}

bool h_pid_alive(pid_t pid)
{
    char s = h_proc_state(pid);
    return s != 0 && s != 'Z' && s != 'X';
}

bool h_wait_pid_reaped(pid_t pid, double timeout_s)
{
    double deadline = h_now() + timeout_s;
    while (h_proc_state(pid) != 0) {
        if (h_now() > deadline)
            return false;
        usleep(5000);
    }
    return true;
}

bool h_wait_pid_dead(pid_t pid, double timeout_s)
{
    double deadline = h_now() + timeout_s;
    while (h_pid_alive(pid)) {
        if (h_now() > deadline)
            return false;
        usleep(5000);
    }
    return true;
}

const char *h_wait_file(struct harness *h, const char *name, int min_lines,
                        double timeout_s)
{
    static char text[65536];
    double deadline = h_now() + timeout_s;
    for (;;) {
        FILE *f = fopen(name[0] == '/' ? name : h_path(h, name), "r");
        if (f) {
            size_t n = fread(text, 1, sizeof(text) - 1, f);
            fclose(f);
            text[n] = '\0';
            int lines = 0;
            for (size_t i = 0; i < n; i++)
                lines += text[i] == '\n';
            if (lines >= min_lines)
                return text;
        }
        if (h_now() > deadline)
            return NULL;
        h_pump(h, 0.01);
    }
}

const char *h_wait_text(struct harness *h, const char *name, const char *text,
                        double timeout_s)
{
    double deadline = h_now() + timeout_s;
    for (;;) {
        const char *got = h_wait_file(h, name, 0, 0);
        if (got && strstr(got, text))
            return got;
        if (h_now() > deadline)
            return NULL;
        h_pump(h, 0.01);
    }
}

long long h_ts_ms(const struct harness *h, long idx)
{
    const char *ts = h_str(h, idx, "ts");
    int hh;
    int mm;
    int ss;
    int ms;
    /* 2026-11-23T12:51:55.123Z */
    if (!ts || sscanf(ts, "%*10sT%d:%d:%d.%dZ", &hh, &mm, &ss, &ms) != 4)
        return -1;
    return ((hh * 60LL + mm) * 60 + ss) * 1000 + ms;
}

pid_t h_parent_of(pid_t pid)
{
    char path[64];
    char buf[512];
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *p = strrchr(buf, ')');
    int ppid;
    if (!p || sscanf(p + 1, " %*c %d", &ppid) != 1)
        return -1;
    return (pid_t)ppid;
}

/* True when /proc/<pid>/comm reads comm. */
static bool comm_is(pid_t pid, const char *comm)
{
    char path[64];
    char buf[64];
    snprintf(path, sizeof(path), "/proc/%d/comm", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return false;
    bool same = fgets(buf, sizeof(buf), f) &&
                strncmp(buf, comm, strlen(comm)) == 0 &&
                buf[strlen(comm)] == '\n';
    fclose(f);
    return same;
}

bool h_wait_comm(pid_t pid, const char *comm, double timeout_s)
{
    double deadline = h_now() + timeout_s;
    while (h_now() < deadline) {
        if (comm_is(pid, comm))
            return true;
        usleep(2000);
    }
    return false;
}

int h_children(pid_t pid, pid_t *out, int max)
{
    char path[96];
    snprintf(path, sizeof(path), "/proc/%d/task/%d/children", (int)pid,
             (int)pid);
    FILE *f = fopen(path, "r");
    cr_assert(f, "%s: %s", path, strerror(errno));
    int n = 0;
    int c;
    while (n < max && fscanf(f, "%d", &c) == 1)
        out[n++] = (pid_t)c;
    fclose(f);
    return n;
}

pid_t h_wait_child(struct harness *h, pid_t pid, const char *comm,
                   double timeout_s)
{
    double deadline = h_now() + timeout_s;
    do {
        pid_t kids[64];
        int n = h_children(pid, kids, 64);
        for (int i = 0; i < n; i++) {
            if (comm_is(kids[i], comm))
                return kids[i];
        }
        h_pump(h, 0.05);
    } while (h_now() < deadline);
    return 0;
}

long h_wait_probe_state(struct harness *h, size_t *from, const char *probe,
                        const char *to, double timeout_s)
{
    double deadline = h_now() + timeout_s;
    for (;;) {
        long i = h_wait_event(h, *from, deadline - h_now(),
                              "probe state changed", NULL);
        if (i < 0)
            return -1;
        *from = (size_t)i + 1;
        const char *p = h_str(h, i, "probe");
        const char *t = h_str(h, i, "to");
        if (p && t && strcmp(p, probe) == 0 && strcmp(t, to) == 0)
            return i;
    }
}

int h_free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    cr_assert_geq(fd, 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    cr_assert_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    cr_assert_eq(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    close(fd);
    return ntohs(a.sin_port);
}

/* A TCP socket bound to 127.0.0.1:0 with SO_REUSEPORT set if reuse. */
static int bind_loopback(bool reuse, int *port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    cr_assert_geq(fd, 0);
    int one = 1;
    cr_assert(!reuse ||
              setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) == 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    cr_assert_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    cr_assert_eq(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    *port = ntohs(a.sin_port);
    return fd;
}

int h_listen(int *port)
{
    int fd = bind_loopback(false, port);
    cr_assert_eq(listen(fd, 4096), 0);
    return fd;
}

int h_reserve_port(void)
{
    int port;
    (void)bind_loopback(true, &port); /* kept open until the test exits */
    return port;
}

int h_http_port(struct harness *h)
{
    long i = h_wait_event(h, 0, H_WAIT, "http listening", NULL);
    cr_assert_geq(i, 0, "sidecar did not listen");
    return (int)h_int(h, i, "port", -1);
}

static char last_response[65536]; /* of h_http, head and body */

const char *h_last_response(void)
{
    return last_response;
}

int h_connect(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    cr_assert_geq(fd, 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    struct timeval tv = {.tv_sec = 10};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
        close(fd); /* not listening (any more) */
        return -1;
    }
    return fd;
}

int h_http(struct harness *h, const char *request, char *body, size_t len)
{
    return h_http_at(h_http_port(h), request, body, len);
}

int h_http_at(int port, const char *request, char *body, size_t len)
{
    body[0] = '\0';
    int fd = h_connect(port);
    if (fd < 0)
        return -1;
    size_t n = strlen(request);
    cr_assert_eq(write(fd, request, n), (ssize_t)n);
    char *resp = last_response;
    size_t got = 0;
    for (;;) {
        ssize_t r = read(fd, resp + got, sizeof(last_response) - 1 - got);
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    close(fd);
    resp[got] = '\0';
    int status = -1;
    if (sscanf(resp, "HTTP/1.%*d %d", &status) != 1)
        return -1;
    const char *b = strstr(resp, "\r\n\r\n");
    snprintf(body, len, "%s", b ? b + 4 : "");
    return status;
}

int h_post_at(int port, const char *path, const char *token,
              const char *payload, char *body, size_t len)
{
    char req[8192];
    char auth[256] = "";
    if (token)
        snprintf(auth, sizeof(auth), "Authorization: Bearer %s\r\n", token);
    snprintf(req, sizeof(req),
             "POST %s HTTP/1.1\r\nHost: x\r\n%sContent-Length: %zu\r\n"
             "Connection: close\r\n\r\n%s",
             path, auth, strlen(payload), payload);
    return h_http_at(port, req, body, len);
}

long h_status_kb(pid_t pid, const char *field)
{
    char path[64], line[256];
    snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    cr_assert(f);
    long kb = -1;
    size_t len = strlen(field);
    while (fgets(line, sizeof(line), f)) {
        if (strncmp(line, field, len) == 0 && line[len] == ':')
            kb = strtol(line + len + 1, NULL, 10);
    }
    fclose(f);
    return kb;
}

/*
 * Whether sidecar's RSS means anything: not under ASan, whose quarantine
 * keeps what is freed, nor under memcheck (make valgrind), which does the
 * same and is the process itself (its exe is valgrind's tool).
 */
bool h_rss_counts(pid_t pid)
{
#if defined(__SANITIZE_ADDRESS__)
    return false;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
    return false;
#endif
#endif
    char path[64];
    char exe[512];
    snprintf(path, sizeof(path), "/proc/%d/exe", (int)pid);
    ssize_t n = readlink(path, exe, sizeof(exe) - 1);
    if (n <= 0)
        return false;
    exe[n] = '\0';
    const char *base = strrchr(exe, '/');
    return strcmp(base ? base + 1 : exe, "sidecar") == 0;
}

int h_get(struct harness *h, const char *path, char *body, size_t len)
{
    return h_get_at(h_http_port(h), path, body, len);
}

int h_get_at(int port, const char *path, char *body, size_t len)
{
    char req[512];
    snprintf(req, sizeof(req),
             "GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", path);
    return h_http_at(port, req, body, len);
}

bool h_wait_status(struct harness *h, const char *path, int status, char *body,
                   size_t len, double timeout_s)
{
    double deadline = h_now() + timeout_s;
    while (h_get(h, path, body, len) != status) {
        if (h_now() > deadline)
            return false;
        h_pump(h, 0.02);
    }
    return true;
}

/* The sample on line p when its series is series (or, for a bare name,
 * any series of that name): true, its value in *value. */
static bool sample_of(const char *p, const char *series, double *value)
{
    size_t n = strlen(series);
    if (strncmp(p, series, n) != 0)
        return false;
    if (p[n] == '{' && !strchr(series, '{'))
        p = strchr(p + n, '}') ? strchr(p + n, '}') + 1 : p + n;
    else
        p += n;
    if (*p != ' ')
        return false;
    *value = strtod(p + 1, NULL);
    return true;
}

double h_metric(const char *text, const char *series)
{
    double sum = 0;
    bool found = false;
    for (const char *p = text; p && *p;) {
        double v;
        if (sample_of(p, series, &v)) {
            sum += v;
            found = true;
        }
        p = strchr(p, '\n');
        p = p ? p + 1 : NULL;
    }
    return found ? sum : NAN;
}

void h_touch(struct harness *h, const char *name)
{
    FILE *f = fopen(h_path(h, name), "w");
    cr_assert(f, "cannot create %s", name);
    fclose(f);
}

void h_put_file(const char *path, const char *text)
{
    char tmp[512];
    snprintf(tmp, sizeof(tmp), "%s.new", path);
    FILE *f = fopen(tmp, "w");
    cr_assert(f, "cannot write %s: %s", tmp, strerror(errno));
    cr_assert_geq(fputs(text, f), 0);
    cr_assert_eq(fclose(f), 0);
    cr_assert_eq(rename(tmp, path), 0, "rename: %s", strerror(errno));
}

const char *h_read_file(const char *path)
{
    static char text[65536];
    FILE *f = fopen(path, "r");
    cr_assert(f, "%s: %s", path, strerror(errno));
    size_t n = fread(text, 1, sizeof(text) - 1, f);
    fclose(f);
    text[n] = '\0';
    return text;
}

const char *h_temp_file(const char *text)
{
    static char path[64];
    snprintf(path, sizeof(path), "/tmp/sidecar-test-file-XXXXXX");
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0, "mkstemp: %s", strerror(errno));
    size_t len = strlen(text);
    cr_assert_eq(write(fd, text, len), (ssize_t)len);
    cr_assert_eq(close(fd), 0);
    return path;
}

/* Reads fd into out until EOF or the deadline; past len - 1 bytes, reads
 * and drops (a writer must not block on a full pipe). */
static void read_until(int fd, char *out, size_t len, double deadline)
{
    size_t used = 0;
    char drop[4096];
    for (double left; (left = deadline - h_now()) > 0;) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, (int)(left * 1000) + 1) <= 0)
            continue;
        bool room = used < len - 1;
        ssize_t n = read(fd, room ? out + used : drop,
                         room ? len - 1 - used : sizeof(drop));
        if (n == 0 || (n < 0 && errno != EINTR))
            break;
        if (n > 0 && room)
            used += (size_t)n;
    }
    out[used] = '\0';
}

/* Waits for pid until the deadline, then kills it: how it ended, as
 * h_run says. */
static int reap_by(pid_t pid, double deadline)
{
    int st;
    pid_t w;
    while ((w = waitpid(pid, &st, WNOHANG)) == 0 && h_now() < deadline)
        usleep(10000);
    if (w == 0) {
        kill(pid, SIGKILL);
        waitpid(pid, &st, 0);
        return -1;
    }
    cr_assert_eq(w, pid, "waitpid: %s", strerror(errno));
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/*
 * Runs argv (argv[0] the program's path) with stdout and stderr into out,
 * within as_bytes of address space and as uid (NO_UID: as this process),
 * for at most timeout_s; as h_run().
 */
#define NO_UID ((uid_t)-1)
static int run_captured(const char *const *argv, rlim_t as_bytes, uid_t uid,
                        char *out, size_t len, double timeout_s)
{
    int fds[2];
    cr_assert_eq(pipe2(fds, O_CLOEXEC), 0);
    double deadline = h_now() + timeout_s;
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        struct rlimit as = {as_bytes, as_bytes};
        if (as_bytes != RLIM_INFINITY && !getenv("ASAN_OPTIONS"))
            setrlimit(RLIMIT_AS, &as);
        dup2(fds[1], 1);
        dup2(fds[1], 2);
        if (uid != NO_UID &&
            (setgroups(0, NULL) < 0 || setresgid(uid, uid, uid) < 0 ||
             setresuid(uid, uid, uid) < 0))
            _exit(120);
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    close(fds[1]);
    read_until(fds[0], out, len, deadline);
    close(fds[0]);
    return reap_by(pid, deadline);
}

int h_run_limited(const char *const *args, rlim_t as_bytes, char *out,
                  size_t len, double timeout_s)
{
    const char *argv[32] = {env_or("SIDECAR_BIN", "../build/sidecar")};
    size_t argc = 1;
    for (size_t i = 0; args[i] && argc < 31; i++)
        argv[argc++] = args[i];
    argv[argc] = NULL;
    return run_captured(argv, as_bytes, NO_UID, out, len, timeout_s);
}

int h_run(const char *const *args, char *out, size_t len, double timeout_s)
{
    return h_run_limited(args, RLIM_INFINITY, out, len, timeout_s);
}

int h_check_as(uid_t uid, const char *dir, const char *yaml, char *out,
               size_t len, double timeout_s)
{
    char bin[PATH_MAX];
    char cfg[PATH_MAX];
    char cmd[2 * PATH_MAX];
    snprintf(bin, sizeof(bin), "%s/sidecar", dir);
    snprintf(cfg, sizeof(cfg), "%s/sidecar.yaml", dir);
    snprintf(cmd, sizeof(cmd), "cp '%s' '%s'",
             env_or("SIDECAR_BIN", "../build/sidecar"), bin);
    cr_assert_eq(system(cmd), 0);
    h_put_file(cfg, yaml);
    cr_assert_eq(chmod(cfg, 0644), 0);
    const char *argv[] = {bin, "check", "-c", cfg, NULL};
    return run_captured(argv, RLIM_INFINITY, uid, out, len, timeout_s);
}

size_t h_read_request(int fd, char *req, size_t cap)
{
    size_t got = 0;

    req[0] = '\0';
    while (fd >= 0 && got < cap - 1) {
        ssize_t r = read(fd, req + got, cap - 1 - got);
        if (r <= 0)
            break;
        got += (size_t)r;
        req[got] = '\0';
        if (strstr(req, "\r\n\r\n"))
            break;
    }
    return got;
}

void h_use_fake_libs(const char *sub)
{
    char dir[512];

    snprintf(dir, sizeof(dir), "%s/%s",
             env_or("SIDECAR_HELPERS", "../build/test"), sub);
    cr_assert_eq(setenv("LD_LIBRARY_PATH", dir, 1), 0);
}

size_t h_read_to_eof(int fd, char *out, size_t cap, double timeout_s, bool *eof)
{
    size_t n = 0;
    double deadline = h_now() + timeout_s;
    *eof = false;
    while (n + 1 < cap && h_now() < deadline) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, 50) <= 0)
            continue;
        ssize_t got = recv(fd, out + n, cap - 1 - n, 0);
        if (got == 0 || (got < 0 && errno == ECONNRESET)) {
            *eof = true;
            break;
        }
        if (got < 0)
            continue;
        n += (size_t)got;
    }
    out[n] = '\0';
    return n;
}

size_t h_count_of(const char *hay, const char *needle)
{
    size_t n = 0;
    for (const char *p = strstr(hay, needle); p; p = strstr(p + 1, needle))
        n++;
    return n;
}

int h_run_port(const char *const *argv, const char *portfile, pid_t *pid)
{
    *pid = fork();
    cr_assert_geq(*pid, 0);
    if (*pid == 0) {
        int null = open("/dev/null", O_RDWR);
        if (null < 0)
            _exit(120);
        dup2(null, 0);
        dup2(null, 1);
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    double deadline = h_now() + H_WAIT;
    for (;;) {
        FILE *f = fopen(portfile, "r");
        int port = 0;
        if (f) {
            if (fscanf(f, "%d", &port) != 1)
                port = 0;
            fclose(f);
        }
        if (port > 0)
            return port;
        cr_assert_lt(h_now(), deadline, "%s wrote no port", argv[0]);
        cr_assert_eq(waitpid(*pid, NULL, WNOHANG), 0, "%s died", argv[0]);
        usleep(5000);
    }
}
