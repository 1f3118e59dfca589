/*
 * `sidecar status [--url URL]`: asks a running sidecar for
 * /health/details, prints it as a table for a person, and exits 0 UP,
 * 1 DEGRADED, 2 DOWN, 3 unreachable, so that it also serves as an exec
 * probe or a Docker HEALTHCHECK. A command-line tool: it may block.
 */
#ifndef SIDECAR_CLI_STATUS_H
#define SIDECAR_CLI_STATUS_H

#include <stdio.h>

#define STATUS_EXIT_UNREACHABLE 3

/* Runs the command against base_url (e.g. http://127.0.0.1:8558). */
int status_command(const char *base_url, FILE *out);

#endif
