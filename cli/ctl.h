/*
 * The control commands: `sidecar restart|stop|start SERVICE`, `reload`
 * and `probe pass|fail NAME [REASON]`, each one POST of the write API
 * (api/control.c) through cli/client.h, and the token they send. Each
 * prints one line and returns the command's exit status.
 */
#ifndef SIDECAR_CLI_CTL_H
#define SIDECAR_CLI_CTL_H

#include <jansson.h>
#include <stddef.h>
#include <stdio.h>

#define CTL_EXIT_REFUSED      1 /* sidecar answered with an error */
#define CTL_EXIT_USAGE        2
#define CTL_EXIT_UNREACHABLE  3
#define CTL_EXIT_UNAUTHORISED 4 /* 401: no token, or the wrong one */
/* A token buffer's size: over http.token_file's longest (4096 bytes). */
#define CTL_TOKEN_MAX 8192

/*
 * The token into out (CTL_TOKEN_MAX bytes): token_file's content (read as
 * sidecar reads http.token_file: less one trailing newline) when not NULL, else
 * $SIDECAR_TOKEN; "" when neither. 0, or -1 with why on stderr (a file
 * that cannot be read, is empty or too long, a blank or control byte in
 * the token), which is a usage error. Warns when others may read the
 * file. The token itself is never printed.
 */
int ctl_token(const char *token_file, char *out);

/* POST /services/NAME/ACTION (action: restart, stop or start). */
int ctl_service(const char *base, const char *token, const char *action,
                const char *name);

/* POST /reload: prints what it added, removed and changed. */
int ctl_reload(const char *base, const char *token);

/*
 * Says why sidecar refused what (an answer with status and, if JSON,
 * body) on stderr, in sidecar's own words when it gave some; the exit
 * status: CTL_EXIT_UNAUTHORISED for a 401, else CTL_EXIT_REFUSED.
 */
int ctl_refused(const char *what, const char *token, int status, json_t *body);

/* A reload's lists ("added", "removed", "changed", "settings") as
 * " added a, b; changed c", or " nothing changed". */
void ctl_put_changes(FILE *out, json_t *changes);

/* POST /probes/NAME/pass or /fail, the reason (or none) as the body. */
int ctl_probe(const char *base, const char *token, const char *verdict,
              const char *name, const char *reason);

#endif
