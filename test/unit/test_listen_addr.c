/*
 * conf/parse.c cfg_listen_addr(): the one rule for what http.listen's host
 * may be, used by the loader, the server and `check`. Never a name.
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "conf/parse.h"

/* host:port as cfg_listen_addr() makes it, "" when refused. */
static const char *addr_of(const char *host, unsigned port)
{
    static char out[INET6_ADDRSTRLEN + 16];
    struct sockaddr_storage ss;
    const struct sockaddr_in *in4 = (const struct sockaddr_in *)&ss;
    const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)&ss;
    char text[INET6_ADDRSTRLEN];

    out[0] = '\0';
    if (cfg_listen_addr(host, port, &ss) < 0)
        return out;
    if (ss.ss_family == AF_INET) {
        inet_ntop(AF_INET, &in4->sin_addr, text, sizeof(text));
        snprintf(out, sizeof(out), "%s:%u", text, ntohs(in4->sin_port));
    } else {
        cr_assert_eq(ss.ss_family, AF_INET6);
        inet_ntop(AF_INET6, &in6->sin6_addr, text, sizeof(text));
        snprintf(out, sizeof(out), "[%s]:%u", text, ntohs(in6->sin6_port));
    }
    return out;
}

Test(listen_addr, addresses_and_localhost, .timeout = 5)
{
    cr_expect_str_eq(addr_of("", 8558), "0.0.0.0:8558");
    cr_expect_str_eq(addr_of("0.0.0.0", 0), "0.0.0.0:0");
    cr_expect_str_eq(addr_of("localhost", 80), "127.0.0.1:80");
    cr_expect_str_eq(addr_of("10.1.2.3", 65535), "10.1.2.3:65535");
    cr_expect_str_eq(addr_of("::1", 8558), "[::1]:8558");
    cr_expect_str_eq(addr_of("::", 1), "[::]:1");
}

Test(listen_addr, never_a_name, .timeout = 5)
{
    struct sockaddr_storage ss;

    cr_expect_eq(cfg_listen_addr("example.com", 80, &ss), -EINVAL);
    cr_expect_eq(cfg_listen_addr("LOCALHOST", 80, &ss), -EINVAL);
    cr_expect_eq(cfg_listen_addr("127.1", 80, &ss), -EINVAL);
    cr_expect_eq(cfg_listen_addr("ip6-localhost", 80, &ss), -EINVAL);
}
