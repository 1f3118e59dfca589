/*
 * Pure parsers for the scalar types of sidecar.yaml: durations, signals,
 * sizes, integers, umasks, listen addresses, URLs, HTTP status ranges, and
 * the ${VAR} expansion applied to every value. No YAML, no I/O, no globals
 * (cfg_expand_env reads the environment); each is fuzzable on its own.
 * Return convention: 0 on success, -EINVAL for malformed input, -ERANGE
 * for well-formed input out of range; nothing is stored on failure.
 */
#ifndef SIDECAR_CONF_PARSE_H
#define SIDECAR_CONF_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "base/util.h"
#include "conf/model.h"

/* Enough for any cfg_format_duration() output ("2562047788015h12m55s807ms"). */
#define CFG_DURATION_STR_MAX 32

/*
 * Parses "250ms", "5s", "1m", "2h", compounds ("1m30s") and decimal
 * fractions ("1.5s") into milliseconds; "0" is the only bare number.
 */
int cfg_parse_duration(const char *s, int64_t *ms) ATTR_WUR;

/* Writes ms (>= 0) back in the syntax above, e.g. "1m30s", "0s". */
void cfg_format_duration(int64_t ms, char *buf, size_t len);

/*
 * Parses a signal name: "SIGTERM" or "TERM" (upper case), the Linux
 * aliases (SIGIOT, SIGCLD, SIGPOLL) and SIGRTMIN+n / SIGRTMAX-n.
 * Numbers are rejected: they differ between architectures.
 */
int cfg_parse_signal(const char *s, int *signo) ATTR_WUR;

/* "SIGTERM" for SIGTERM, "SIGRTMIN+2" for SIGRTMIN + 2; NULL if unknown. */
const char *cfg_signal_name(int signo);

/*
 * Parses a byte count: "16384", "16KiB", "1MiB", "1GiB" (also "Ki", "Mi",
 * "Gi"), "64KB"/"64kB", "1MB", "1GB" (1000-based), "512B". Integers only.
 */
int cfg_parse_size(const char *s, size_t *bytes) ATTR_WUR;

/* Parses a decimal integer ("-3", "42") into *out, min <= *out <= max. */
int cfg_parse_int(const char *s, long long min, long long max,
                  long long *out) ATTR_WUR;

/* Parses an octal umask, "022" or "0027" (always octal), at most 0777. */
int cfg_parse_umask(const char *s, mode_t *mask) ATTR_WUR;

/*
 * Splits "host:port", ":port" (host "" = all interfaces) or "[::1]:port"
 * into host (copied into a buffer of hostlen bytes, brackets removed) and
 * port (0-65535; 0 asks the kernel for a free port). A host that does not
 * fit is -EINVAL: -ERANGE always means the port.
 */
int cfg_parse_listen(const char *s, char *host, size_t hostlen,
                     unsigned *port) ATTR_WUR;

struct sockaddr_storage;

/*
 * The socket address of a listen host (as cfg_parse_listen() gives it)
 * and port: "" and 0.0.0.0 are every IPv4 interface, localhost is
 * 127.0.0.1, else an IPv4 or IPv6 address; a name is never resolved.
 * 0 with *ss filled, or -EINVAL (host is no address).
 */
int cfg_listen_addr(const char *host, unsigned port,
                    struct sockaddr_storage *ss) ATTR_WUR;

/*
 * An http:// or https:// URL split in place (spans into the string, not
 * NUL-terminated): userinfo (before the last '@' of the authority, 0 bytes
 * if none), host (brackets of an IPv6 literal removed), port (the scheme's
 * when not given), and target: path and query up to a '#', 0 bytes if the
 * URL has neither. The scheme is lower case; "http://h:/" has port 80.
 */
struct cfg_url {
    bool tls;
    bool ipv6;
    bool port_given;
    unsigned port;
    const char *user;
    size_t user_len;
    const char *host;
    size_t host_len;
    const char *target;
    size_t target_len;
};

/*
 * Splits url: 0, -EINVAL (no http:// or https://, no host, an unclosed
 * '[', a port that is not digits) or -ERANGE (a port of 0 or > 65535).
 */
int cfg_parse_url(const char *url, struct cfg_url *out) ATTR_WUR;

/* Parses one expect_status entry: "204" or "200-399", within 100-599. */
int cfg_parse_status_range(const char *s,
                           struct cfg_status_range *range) ATTR_WUR;

/*
 * Expands ${VAR} and ${VAR:-default} (default also when VAR is empty) in
 * in; "$$" is a literal "$", and a "$" followed by anything else is kept.
 * Returns 0 and a malloc'd *out (caller frees), -EINVAL with a message in
 * errmsg (unset VAR, bad name, unterminated "${"), or -ENOMEM.
 */
int cfg_expand_env(const char *in, char **out, char *errmsg,
                   size_t errlen) ATTR_WUR;

/*
 * The names of the variables in's ${VAR} references read, as
 * cfg_expand_env() reads them: 0 and a malloc'd NULL-terminated array of
 * malloc'd names in *out (free with cfg_free_names), or -ENOMEM.
 */
int cfg_env_names(const char *in, char ***out) ATTR_WUR;

/* Frees what cfg_env_names() made. cfg_free_names(NULL) is a no-op. */
void cfg_free_names(char **names);

/*
 * The offset of the first byte of token that no Authorization header
 * can carry (whitespace, a control character, DEL), or -1 if none.
 */
long cfg_token_bad_byte(const char *token);

#endif
