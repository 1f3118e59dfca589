/*
 * bench/stamp.c — the stamp child of bench/compare (not a test).
 *
 *   stamp FILE PROG [ARG...]
 *
 * appends "<pid> <CLOCK_REALTIME ns>\n" to FILE, then becomes PROG with the
 * same pid (PROG without a slash is looked up in PATH). The services'
 * PROG is the bench's sleep, a symlink to this program: started as
 * "sleep", it waits for a signal. Started with fewer arguments, as a
 * runit or s6 run file (s6-supervise passes the service's name), it reads
 * FILE, PROG and the ARGs, one a line, from ./stamp-args. bench/compare
 * also starts each supervisor through it, to stamp the supervisor's exec.
 *
 * It is linked statically (Makefile), so each of its two execs runs no
 * dynamic loader, where `sh -c "echo $$ $(date) ...; exec sleep"` costs a
 * shell, a fork and three execs (about 2 ms on the bench machine): the
 * restart and start-up figures time the supervisors, not sh and date.
 * Every tool gets the same one.
 */
#define _POSIX_C_SOURCE 200809L
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAX_ARGS 16

/* Splits ./stamp-args into args (its lines); returns the count, -1 on error. */
static int read_args(char *buf, size_t size, char **args)
{
    int fd = open("stamp-args", O_RDONLY | O_CLOEXEC);
    ssize_t n;
    int count = 0;

    if (fd < 0)
        return -1;
    n = read(fd, buf, size - 1);
    close(fd);
    if (n <= 0)
        return -1;
    buf[n] = '\0';
    for (char *line = strtok(buf, "\n"); line && count < MAX_ARGS - 1;
         line = strtok(NULL, "\n"))
        args[count++] = line;
    args[count] = NULL;
    return count;
}

int main(int argc, char **argv)
{
    static char buf[4096];
    char *filed_args[MAX_ARGS];
    char **args = argv + 1;
    struct timespec now;
    char line[64];
    int fd;
    int len;

    if (strcmp(argv[0], "sleep") == 0 ||
        (strlen(argv[0]) > 6 &&
         strcmp(argv[0] + strlen(argv[0]) - 6, "/sleep") == 0)) {
        for (;;)
            pause();
    }
    if (argc < 3 && read_args(buf, sizeof(buf), filed_args) >= 2)
        args = filed_args;
    else if (argc < 3) {
        fprintf(stderr, "usage: stamp FILE PROG [ARG...]\n");
        return 2;
    }
    clock_gettime(CLOCK_REALTIME, &now);
    len = snprintf(line, sizeof(line), "%ld %lld%09ld\n", (long)getpid(),
                   (long long)now.tv_sec, now.tv_nsec);
    fd = open(args[0], O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0 || write(fd, line, (size_t)len) != len) {
        perror(args[0]);
        return 1;
    }
    close(fd);
    execvp(args[1], args + 1);
    perror(args[1]);
    return 127;
}
