/*
 * cli/client: what a command learns when no answer came. A refused
 * connection must say so with status 0, never with whatever the stack
 * held (sidecar events would call it a broken stream).
 */
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cli/client.h"

/* A loopback port nobody listens on: bound, never listening. */
static int closed_port(int *fd)
{
    struct sockaddr_in sin = {.sin_family = AF_INET,
                              .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(sin);
    *fd = socket(AF_INET, SOCK_STREAM, 0);
    cr_assert_geq(*fd, 0);
    cr_assert_eq(bind(*fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
    cr_assert_eq(getsockname(*fd, (struct sockaddr *)&sin, &len), 0);
    return ntohs(sin.sin_port);
}

/* Leaves the stack below the caller full of 200s. */
static void __attribute__((noinline)) dirty_stack(void)
{
    volatile int junk[64 * 1024];
    for (size_t i = 0; i < sizeof(junk) / sizeof(junk[0]); i++)
        junk[i] = 200;
}

Test(client, no_answer_is_status_0, .timeout = 10)
{
    int fd;
    char url[64];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/events", closed_port(&fd));
    const struct client_request rq = {
        .method = "GET", .url = url, .accept = "text/event-stream"};
    struct client_answer a;
    dirty_stack();
    cr_expect_eq(client_request(&rq, &a), -1);
    cr_expect_eq(a.status, 0, "status %d without an answer", a.status);
    cr_expect_str_eq(a.error, "Connection refused");
    client_answer_free(&a);
    close(fd);
}
