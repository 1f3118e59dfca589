/*
 * bench/checkfloor.c — prints figures, asserts nothing (not a test).
 *
 *   checkfloor PORT N SECONDS
 *
 * The floor under bench/compare's probe mix: N plain HTTP checks
 * (GET /healthz, Connection: close) and N tcp checks (connect, close) of
 * 127.0.0.1:PORT each second, spread evenly over the second, done with
 * blocking sockets and nothing else: no loop, no timers, no verdicts, no
 * state. Prints the CPU it used (user and system) as a share of one core.
 * Whatever checks the same way costs at least this; on loopback the
 * kernel runs both ends of each handshake in the checker's context.
 */
#define _POSIX_C_SOURCE 200809L
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static double cpu_seconds(void)
{
    struct rusage ru;

    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

/* One check; returns 0 when it passed. */
static int check(const struct sockaddr_in *to, const char *request,
                 size_t request_len)
{
    char answer[1024];
    ssize_t n;
    int ok = 0;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

    if (fd < 0)
        return -1;
    if (connect(fd, (const struct sockaddr *)to, sizeof(*to)) < 0) {
        close(fd);
        return -1;
    }
    if (request) {
        ok = -1;
        if (write(fd, request, request_len) == (ssize_t)request_len) {
            n = read(fd, answer, sizeof(answer));
            if (n >= 12 && memcmp(answer, "HTTP/1.1 200", 12) == 0)
                ok = 0;
            while (n > 0)
                n = read(fd, answer, sizeof(answer));
        }
    }
    close(fd);
    return ok;
}

int main(int argc, char **argv)
{
    struct sockaddr_in to = {.sin_family = AF_INET};
    char request[256];
    struct timespec next;
    long checks;
    long step_ns;
    long failed = 0;
    double c0;
    int len;
    int n;

    if (argc != 4 || atoi(argv[1]) <= 0 || atoi(argv[2]) <= 0 ||
        atoi(argv[3]) <= 0) {
        fprintf(stderr, "usage: checkfloor PORT N SECONDS\n");
        return 2;
    }
    to.sin_port = htons((unsigned short)atoi(argv[1]));
    to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    n = atoi(argv[2]);
    checks = 2L * n * atoi(argv[3]);
    step_ns = 1000000000L / (2L * n);
    len = snprintf(request, sizeof(request),
                   "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:%s\r\n"
                   "User-Agent: sidecar\r\nConnection: close\r\n\r\n",
                   argv[1]);
    clock_gettime(CLOCK_MONOTONIC, &next);
    c0 = cpu_seconds();
    for (long i = 0; i < checks; i++) {
        next.tv_nsec += step_ns;
        if (next.tv_nsec >= 1000000000L) {
            next.tv_nsec -= 1000000000L;
            next.tv_sec++;
        }
        clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL);
        if (check(&to, i % 2 ? NULL : request, (size_t)len) < 0)
            failed++;
    }
    printf("%ld checks, %ld failed, CPU %.2f %% of a core, %.4f ms a check\n",
           checks, failed, 100.0 * (cpu_seconds() - c0) / atoi(argv[3]),
           1000.0 * (cpu_seconds() - c0) / (double)checks);
    return 0;
}
