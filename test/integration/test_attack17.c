/*
 * Issue 17's native http probe attacked by hostile servers (forked
 * children): what the verdict and its reason must be, the same as libcurl
 * gave for the same answers.
 */
#define _DEFAULT_SOURCE
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

static struct harness H;
static pid_t servers[4];
static size_t nservers;

static void teardown(void)
{
    for (size_t i = 0; i < nservers; i++) {
        kill(servers[i], SIGKILL);
        waitpid(servers[i], NULL, 0);
    }
    nservers = 0;
    h_cleanup(&H);
}

#define T(name, secs) Test(attack17, name, .timeout = secs, .fini = teardown)

/*
 * A server in a child, one connection at a time: reads the request, sends
 * head, then fill over and over until the client goes or 20 s pass.
 * Returns its port.
 */
static int serve(const char *head, const char *fill)
{
    int port;
    int fd = h_listen(&port);
    pid_t pid;

    cr_assert_geq(fd, 0);
    cr_assert_lt(nservers, sizeof(servers) / sizeof(servers[0]));
    pid = fork();
    cr_assert_geq(pid, 0);
    if (pid > 0) {
        servers[nservers++] = pid;
        close(fd);
        return port;
    }
    alarm(30);
    for (;;) {
        int c = accept(fd, NULL, NULL);
        char req[4096];
        double end = h_now() + 20;

        if (c < 0)
            _exit(1);
        (void)h_read_request(c, req, sizeof(req));
        if (send(c, head, strlen(head), MSG_NOSIGNAL) >= 0) {
            while (fill && h_now() < end &&
                   send(c, fill, strlen(fill), MSG_NOSIGNAL) >= 0)
                ;
        }
        close(c);
    }
}

static char yaml[4096];

static void expect_state(const char *probe, const char *to, const char *reason)
{
    size_t from = 0;
    long i = h_wait_probe_state(&H, &from, probe, to, H_WAIT);

    cr_assert_geq(i, 0, "%s never went %s", probe, to);
    cr_expect_str_eq(h_str(&H, i, "reason"), reason, "probe %s", probe);
}

/* Without expect_body, at most 64 KiB of a body is read, as libcurl did:
 * a body of spaces that never ends (no excerpt fills) is no timeout. */
T(an_endless_body_of_spaces_is_read_to_64_kib_only, 30)
{
    static char blanks[4097];
    int ok, down;

    memset(blanks, ' ', sizeof(blanks) - 1);
    blanks[100] = '\n';
    ok = serve("HTTP/1.1 200 OK\r\n\r\n", blanks);
    down =
        serve("HTTP/1.1 503 No\r\nContent-Length: 1000000000\r\n\r\n", blanks);
    snprintf(yaml, sizeof(yaml),
             "probes:\n"
             "  ok:\n"
             "    type: http\n"
             "    url: http://127.0.0.1:%d/\n"
             "    period: 3s\n"
             "    timeout: 2s\n"
             "  down:\n"
             "    type: http\n"
             "    url: http://127.0.0.1:%d/\n"
             "    period: 3s\n"
             "    timeout: 2s\n"
             "    failure_threshold: 1\n",
             ok, down);
    h_start(&H, yaml);
    expect_state("ok", "passing", "HTTP 200");
    expect_state("down", "failing", "HTTP 503: ...");
    h_signal(&H, SIGTERM);
    cr_expect_eq(h_wait_exit(&H, 10), 0);
}

/*
 * A name server that never answers. c-ares before 1.23 ignores
 * resolv.conf's attempts: and tries 4 times (5 + 10 + 20 + 40 s): each
 * lookup a probe gave up on stayed in flight for 75 s and sent 8 queries,
 * where glibc (libcurl's resolver before) tries twice. Run in a mount
 * namespace whose /etc/resolv.conf names a silent server of the test's:
 * root only.
 */
/*
 * Binds the silent name server (port 53 of a 127.53.x.y of its own, never
 * answering): its socket. Writes a resolv.conf naming it into path, and into
 * wrap the sh -c script that mounts it on /etc/resolv.conf and execs "$@".
 */
static int silent_dns(char *path, size_t path_len, char *wrap, size_t wrap_len)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(53)};
    struct timeval tv = {.tv_sec = 0, .tv_usec = 200000};
    /* An address of this test's own: tests of the suite run at once. */
    char addr[32];
    int pid = (int)getpid();
    FILE *f;
    int fd;

    if (geteuid() != 0 || system("unshare -m true 2>/dev/null") != 0)
        cr_skip_test("needs root and unshare -m");
    fd = socket(AF_INET, SOCK_DGRAM, 0);
    cr_assert_geq(fd, 0);
    snprintf(addr, sizeof(addr), "127.53.%d.%d", pid / 250 % 250 + 1,
             pid % 250 + 1);
    cr_assert_eq(inet_pton(AF_INET, addr, &sa.sin_addr), 1);
    cr_assert_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    cr_assert_eq(setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)), 0);
    snprintf(path, path_len, "/tmp/sidecar-resolv-%d", (int)getpid());
    f = fopen(path, "w");
    cr_assert_not_null(f);
    fprintf(f, "nameserver %s\n", addr);
    fclose(f);
    snprintf(wrap, wrap_len, "mount --bind %s /etc/resolv.conf && exec \"$@\"",
             path);
    return fd;
}

T(a_silent_name_server_is_tried_twice_as_glibc_does, 60)
{
    char path[512];
    char wrap[700];
    const char *wrapper[] = {"unshare", "-m", "sh", "-c", wrap, "wrap", NULL};
    unsigned queries = 0;
    int fd = silent_dns(path, sizeof(path), wrap, sizeof(wrap));

    h_start_wrapped(&H,
                    "probes:\n"
                    "  t:\n"
                    "    type: tcp\n"
                    "    host: silent.example.test\n"
                    "    port: 9\n"
                    "    period: 50s\n"
                    "    timeout: 1s\n",
                    wrapper);
    /* One run's lookup: A and AAAA, at 0 and 5 s; none after 15 s. */
    for (double end = h_now() + 21; h_now() < end;) {
        char pkt[512];

        if (recv(fd, pkt, sizeof(pkt), 0) > 0)
            queries++;
    }
    unlink(path);
    close(fd);
    cr_expect_leq(queries, 4, "%u queries for one lookup", queries);
    cr_expect_geq(queries, 2, "%u queries for one lookup", queries);
    h_signal(&H, SIGTERM);
    cr_expect_eq(h_wait_exit(&H, 10), 0);
}

#define STATE_MAX 128

/* grpchealth.py serving: its state file into state and its port file into
 * portfile (the test unlinks both); its port. */
static int serve_grpc(char state[STATE_MAX], char portfile[STATE_MAX + 8])
{
    static char helper[512];
    const char *src = getenv("SIDECAR_SRC");

    cr_assert_lt(nservers, sizeof(servers) / sizeof(servers[0]));
    snprintf(helper, sizeof(helper), "%s/test/helpers/grpchealth.py",
             src && *src ? src : "..");
    snprintf(state, STATE_MAX, "%s", h_temp_file("=SERVING\n"));
    snprintf(portfile, STATE_MAX + 8, "%s.port", state);
    return h_run_port((const char *[]){"/usr/bin/python3", helper, "--mode",
                                       "serve", state, portfile, NULL},
                      portfile, &servers[nservers++]);
}

/*
 * Probes on libcurl under a silent name server: curl's threaded resolver
 * left one thread behind per run (CURLOPT_QUICK_EXIT), 20 grpc probes at
 * 1 s reached 201 threads in 15 s. sidecar's resolver looks the names up
 * on the loop: one thread throughout. localhost still resolves (from
 * /etc/hosts) and its grpc probe passes.
 */
T(probes_on_libcurl_start_no_resolver_thread, 60)
{
    char state[STATE_MAX], portfile[STATE_MAX + 8];
    char path[512];
    char wrap[700];
    const char *wrapper[] = {"unshare", "-m", "sh", "-c", wrap, "wrap", NULL};
    size_t at;
    long threads = 0;
    int port;
    int fd = silent_dns(path, sizeof(path), wrap, sizeof(wrap));

    port = serve_grpc(state, portfile);
    at = (size_t)snprintf(yaml, sizeof(yaml),
                          "probes:\n"
                          "  local: {type: grpc, host: localhost, port: %d, "
                          "period: 1s, failure_threshold: 1}\n"
                          "  web: {type: http, url: 'https://silent.example."
                          "test:8443/', period: 1s, failure_threshold: 1}\n",
                          port);
    for (int i = 0; i < 20; i++)
        at += (size_t)snprintf(yaml + at, sizeof(yaml) - at,
                               "  g%d: {type: grpc, host: silent.example.test, "
                               "port: 50051, period: 1s, timeout: 1s, "
                               "failure_threshold: 1}\n",
                               i);
    h_start_wrapped(&H, yaml, wrapper);
    expect_state("local", "passing", "SERVING");
    expect_state("g19", "failing", "timed out after 1s");
    expect_state("web", "failing", "timed out after 1s");
    for (double end = h_now() + 5; h_now() < end; h_pump(&H, 0.2)) {
        long n = h_status_kb(H.pid, "Threads");

        if (n > threads)
            threads = n;
    }
    unlink(state);
    unlink(portfile);
    unlink(path);
    close(fd);
    cr_expect_eq(threads, 1, "%ld threads", threads);
    h_signal(&H, SIGTERM);
    cr_expect_eq(h_wait_exit(&H, 10), 0);
}

/*
 * A probe on libcurl hands curl the addresses of each run's lookup, which
 * stay in curl's DNS cache: a name whose address changed is connected to
 * at its new address at the next run. /etc/hosts, rewritten in place
 * (the same inode, under a bind mount), changes it.
 */
T(a_changed_address_wins_at_the_next_run, 60)
{
    char state[STATE_MAX], portfile[STATE_MAX + 8];
    char path[512];
    char hosts[512];
    char wrap[1400];
    char resolv[700];
    const char *wrapper[] = {"unshare", "-m", "sh", "-c", wrap, "wrap", NULL};
    size_t from = 0;
    FILE *f;
    long i;
    int port;
    int fd = silent_dns(path, sizeof(path), resolv, sizeof(resolv));

    snprintf(hosts, sizeof(hosts), "/tmp/sidecar-hosts-%d", (int)getpid());
    h_put_file(hosts, "127.0.0.2 svc.test\n");
    snprintf(wrap, sizeof(wrap), "mount --bind %s /etc/hosts && %s", hosts,
             resolv);
    port = serve_grpc(state, portfile);
    snprintf(yaml, sizeof(yaml),
             "probes:\n"
             "  g: {type: grpc, host: svc.test, port: %d, period: 1s, "
             "failure_threshold: 1}\n",
             port);
    h_start_wrapped(&H, yaml, wrapper);
    i = h_wait_probe_state(&H, &from, "g", "failing", H_WAIT);
    cr_assert_geq(i, 0, "g never failed at 127.0.0.2");
    f = fopen(hosts, "w"); /* truncates: the same inode, still mounted */
    cr_assert_not_null(f);
    fputs("127.0.0.1 svc.test\n", f);
    cr_assert_eq(fclose(f), 0);
    expect_state("g", "passing", "SERVING");
    unlink(hosts);
    unlink(state);
    unlink(portfile);
    unlink(path);
    close(fd);
    h_signal(&H, SIGTERM);
    cr_expect_eq(h_wait_exit(&H, 10), 0);
}
