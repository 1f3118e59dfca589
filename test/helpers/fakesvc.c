/*
 * fakesvc: the one child program the integration tests supervise. Each
 * mode is a behaviour a real service has: exit with a code, record its
 * start and stop, ignore SIGTERM, flood stdout, orphan a grandchild,
 * leave a process tree, write hostile bytes.
 *
 *   fakesvc exit N                 exit N at once
 *   fakesvc run NAME FILE [ignore-term|slow-stop|graceful|log-usr1]
 *                                  append "start NAME" to FILE, then wait;
 *                                  on SIGTERM append "stop NAME", exit 0
 *                                  (slow-stop: after 300ms; graceful:
 *                                  write "stopping NAME" to stdout, 1 s
 *                                  later "done NAME", then append;
 *                                  log-usr1: on SIGUSR1 append "usr1 NAME")
 *   fakesvc spam N                 write lines "line 1".."line N", exit 0
 *   fakesvc orphan SECONDS PIDFILE fork a grandchild in its own session
 *                                  that writes its pid, lives SECONDS, exits;
 *                                  the middle process exits 0 once the
 *                                  grandchild has left its process group
 *   fakesvc tree PIDFILE           fork a child that ignores SIGTERM; once
 *                                  it does, write "LEADER CHILD"; wait
 *   fakesvc family PIDFILE         fork an ordinary child (our process
 *                                  group) and a detached one (setsid);
 *                                  once both run, write "ORDINARY
 *                                  DETACHED"; all three wait
 *   fakesvc bytes                  write invalid UTF-8, controls, NUL
 *   fakesvc partial TEXT           write TEXT without newline, exit 0
 *   fakesvc long N                 write one line of N 'x' bytes, exit 0
 *   fakesvc newlines N             write N newlines, 64 KiB a write
 *   fakesvc notify NAME FILE STEP...
 *                                  as run NAME FILE, then each STEP in
 *                                  turn: @PATH waits until PATH exists;
 *                                  +MS sleeps MS milliseconds;
 *                                  >PATH appends "sent NAME PID" to PATH;
 *                                  else one datagram to $NOTIFY_SOCKET,
 *                                  '|' for its newlines ("READY=1|STATUS=up")
 *   fakesvc hostile FILE N         sends $NOTIFY_SOCKET garbage, a NUL, a
 *                                  64 KiB and a 1 MiB datagram, a pipe's
 *                                  write end (then appends "passed-fd
 *                                  closed" to FILE once sidecar closed
 *                                  it), N datagrams as fast as it can,
 *                                  then READY=1; then waits
 *   fakesvc fork NAME FILE [bad]   a daemon that forks: the child runs as
 *                                  run NAME FILE; the parent sends
 *                                  "MAINPID=child|READY=1" (bad: first a
 *                                  MAINPID of its own parent) and exits 0
 */
#define _DEFAULT_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "test/helpers/dgram.h"

static const char *run_name;
static const char *run_file;

static void append(const char *file, const char *what, const char *name)
{
    char line[256];
    int n = snprintf(line, sizeof(line), "%s %s %d\n", what, name, getpid());
    int fd = open(file, O_WRONLY | O_APPEND | O_CREAT, 0644);
    if (fd < 0)
        _exit(90);
    if (write(fd, line, (size_t)n) != n)
        _exit(91);
    close(fd);
}

static void write_all(int fd, const char *p, size_t n);

static bool slow_stop;
static bool graceful;

/* "WHAT NAME\n" on stdout, async-signal-safe. */
static void say(const char *what)
{
    write_all(1, what, strlen(what));
    write_all(1, " ", 1);
    write_all(1, run_name, strlen(run_name));
    write_all(1, "\n", 1);
}

static void on_term(int sig)
{
    (void)sig;
    if (graceful)
        say("stopping");
    if (slow_stop || graceful)
        usleep((graceful ? 1000 : 300) * 1000);
    if (graceful)
        say("done");
    append(run_file, "stop", run_name);
    _exit(0);
}

static void on_usr1(int sig)
{
    (void)sig;
    append(run_file, "usr1", run_name);
}

static void wait_forever(void)
{
    for (;;)
        pause();
}

static void write_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            _exit(92);
        p += w;
        n -= (size_t)w;
    }
}

static int spam(long n)
{
    static char buf[1 << 16];
    size_t len = 0;
    for (long i = 1; i <= n; i++) {
        if (len > sizeof(buf) - 64) {
            write_all(1, buf, len);
            len = 0;
        }
        len += (size_t)snprintf(buf + len, 64, "line %ld\n", i);
    }
    write_all(1, buf, len);
    return 0;
}

/* The middle process waits until the grandchild has left its session. */
static int orphan(int seconds, const char *pidfile)
{
    int ready[2];
    if (pipe(ready) < 0)
        return 93;
    pid_t pid = fork();
    if (pid < 0)
        return 93;
    if (pid > 0) {
        char c;
        close(ready[1]);
        return read(ready[0], &c, 1) == 1 ? 0 : 98;
    }
    close(ready[0]);
    setsid();
    FILE *f = fopen(pidfile, "w");
    if (!f)
        _exit(94);
    fprintf(f, "%d\n", getpid());
    fclose(f);
    if (write(ready[1], "x", 1) != 1)
        _exit(99);
    close(ready[1]);
    sleep((unsigned)seconds);
    _exit(0);
}

static int tree(const char *pidfile)
{
    int ready[2];
    char c;
    if (pipe(ready) < 0)
        return 95;
    pid_t child = fork();
    if (child < 0)
        return 95;
    if (child == 0) {
        signal(SIGTERM, SIG_IGN);
        if (write(ready[1], "x", 1) != 1)
            _exit(99);
        wait_forever();
    }
    if (read(ready[0], &c, 1) != 1)
        return 98;
    FILE *f = fopen(pidfile, "w");
    if (!f)
        return 96;
    fprintf(f, "%d %d\n", getpid(), child);
    fclose(f);
    wait_forever();
    return 0;
}

/* A child that waits forever, in a session of its own if detached. */
static pid_t waiting_child(bool detached, int ready_fd)
{
    pid_t pid = fork();
    if (pid != 0)
        return pid;
    if (detached && setsid() < 0)
        _exit(97);
    if (write(ready_fd, "x", 1) != 1)
        _exit(99);
    wait_forever();
    return 0;
}

static int family(const char *pidfile)
{
    int ready[2];
    char c[2];
    if (pipe(ready) < 0)
        return 95;
    pid_t ordinary = waiting_child(false, ready[1]);
    pid_t detached = waiting_child(true, ready[1]);
    if (ordinary < 0 || detached < 0)
        return 95;
    for (size_t got = 0; got < sizeof(c);) {
        ssize_t n = read(ready[0], c + got, sizeof(c) - got);
        if (n <= 0)
            return 98;
        got += (size_t)n;
    }
    FILE *f = fopen(pidfile, "w");
    if (!f)
        return 96;
    fprintf(f, "%d %d\n", ordinary, detached);
    fclose(f);
    wait_forever();
    return 0;
}

/* One datagram to $NOTIFY_SOCKET, as sd_notify(3) sends it. */
static int notify(const char *text)
{
    const char *addr = getenv("NOTIFY_SOCKET");
    if (!addr || (addr[0] != '@' && addr[0] != '/'))
        return 80;
    char msg[4096];
    size_t len = strlen(text);
    if (len >= sizeof(msg))
        return 82;
    for (size_t i = 0; i < len; i++)
        msg[i] = text[i] == '|' ? '\n' : text[i];
    ssize_t n = dgram_send(addr, msg, len, -1, 0);
    if (n < 0 && errno == EINVAL)
        return 81; /* too long an address */
    return n == (ssize_t)len ? 0 : 84;
}

static int notify_steps(char **steps, int n)
{
    for (int i = 0; i < n; i++) {
        struct stat st;
        if (steps[i][0] == '@') {
            while (stat(steps[i] + 1, &st) < 0)
                usleep(10 * 1000);
        } else if (steps[i][0] == '+') {
            usleep((useconds_t)atoi(steps[i] + 1) * 1000);
        } else if (steps[i][0] == '>') {
            append(steps[i] + 1, "sent", run_name);
        } else if (notify(steps[i]) != 0) {
            return 85;
        }
    }
    return 0;
}

/* One datagram of len bytes to $NOTIFY_SOCKET, passing fd if >= 0. */
static ssize_t notify_raw(const char *buf, size_t len, int fd)
{
    return dgram_send(getenv("NOTIFY_SOCKET"), buf, len, fd, 0);
}

static int hostile(const char *file, long flood)
{
    static char big[1 << 20];
    memset(big, 'A', sizeof(big));
    memcpy(big, "STATUS=", 7);
    notify_raw("garbage without an equals sign", 30, -1);
    notify_raw("READY=1\0STATUS=nul", 19, -1);
    notify_raw(big, 64 * 1024, -1);
    notify_raw(big, sizeof(big), -1); /* EMSGSIZE here: never arrives */
    int p[2];
    if (pipe(p) < 0)
        return 95;
    notify_raw("STATUS=with a descriptor", 24, p[1]);
    close(p[1]);
    for (long i = 0; i < flood; i++)
        notify_raw("WATCHDOG=1", 10, -1);
    if (notify("READY=1|STATUS=survived") != 0)
        return 85;
    char c;
    if (read(p[0], &c, 1) == 0)
        append(file, "passed-fd", "closed");
    wait_forever();
    return 0;
}

static int fork_daemon(bool bad)
{
    int ready[2];
    char c;
    if (pipe(ready) < 0)
        return 95;
    pid_t child = fork();
    if (child < 0)
        return 95;
    if (child == 0) {
        signal(SIGTERM, on_term);
        append(run_file, "start", run_name);
        if (write(ready[1], "x", 1) != 1)
            _exit(99);
        wait_forever();
    }
    if (read(ready[0], &c, 1) != 1)
        return 98;
    char msg[64];
    if (bad) {
        snprintf(msg, sizeof(msg), "MAINPID=%d", (int)getppid());
        if (notify(msg) != 0)
            return 85;
    }
    snprintf(msg, sizeof(msg), "MAINPID=%d|READY=1", (int)child);
    return notify(msg) != 0 ? 85 : 0;
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "";
    if (strcmp(mode, "exit") == 0 && argc == 3)
        return atoi(argv[2]);
    if (strcmp(mode, "run") == 0 && argc >= 4) {
        run_name = argv[2];
        run_file = argv[3];
        const char *flag = argc > 4 ? argv[4] : "";
        slow_stop = strcmp(flag, "slow-stop") == 0;
        graceful = strcmp(flag, "graceful") == 0;
        signal(SIGTERM, strcmp(flag, "ignore-term") == 0 ? SIG_IGN : on_term);
        if (strcmp(flag, "log-usr1") == 0)
            signal(SIGUSR1, on_usr1);
        append(run_file, "start", run_name);
        wait_forever();
    }
    if (strcmp(mode, "hostile") == 0 && argc == 4)
        return hostile(argv[2], atol(argv[3]));
    if (strcmp(mode, "fork") == 0 && argc >= 4) {
        run_name = argv[2];
        run_file = argv[3];
        return fork_daemon(argc > 4 && strcmp(argv[4], "bad") == 0);
    }
    if (strcmp(mode, "notify") == 0 && argc >= 4) {
        run_name = argv[2];
        run_file = argv[3];
        signal(SIGTERM, on_term);
        append(run_file, "start", run_name);
        int rc = notify_steps(argv + 4, argc - 4);
        if (rc)
            return rc;
        wait_forever();
    }
    if (strcmp(mode, "spam") == 0 && argc == 3)
        return spam(atol(argv[2]));
    if (strcmp(mode, "orphan") == 0 && argc == 4)
        return orphan(atoi(argv[2]), argv[3]);
    if (strcmp(mode, "tree") == 0 && argc == 3)
        return tree(argv[2]);
    if (strcmp(mode, "family") == 0 && argc == 3)
        return family(argv[2]);
    if (strcmp(mode, "bytes") == 0) {
        static const char b[] = "nul:\0 ctl:\x01\x1f esc:\x1b[31m "
                                "bad:\xff\xfe\xc3 quote:\" bs:\\ ok:\xc3\xa9\n";
        write_all(1, b, sizeof(b) - 1);
        return 0;
    }
    if (strcmp(mode, "partial") == 0 && argc == 3) {
        write_all(1, argv[2], strlen(argv[2]));
        return 0;
    }
    if (strcmp(mode, "newlines") == 0 && argc == 3) {
        long n = atol(argv[2]);
        char *p = malloc((size_t)n);
        if (!p)
            return 97;
        memset(p, '\n', (size_t)n);
        for (long off = 0; off < n; off += 65536)
            write_all(1, p + off, (size_t)(n - off < 65536 ? n - off : 65536));
        free(p);
        return 0;
    }
    if (strcmp(mode, "long") == 0 && argc == 3) {
        long n = atol(argv[2]);
        char *p = malloc((size_t)n + 1);
        if (!p)
            return 97;
        memset(p, 'x', (size_t)n);
        p[n] = '\n';
        write_all(1, p, (size_t)n + 1);
        free(p);
        return 0;
    }
    fprintf(stderr, "fakesvc: bad arguments\n");
    return 64;
}
