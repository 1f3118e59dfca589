/*
 * Text from a sidecar (a probe's reason, a service's STATUS=, an error)
 * printed for a person: no control byte reaches the terminal.
 */
#ifndef SIDECAR_CLI_TERM_H
#define SIDECAR_CLI_TERM_H

#include <stdbool.h>
#include <stdio.h>

/*
 * Prints s with C0, DEL and C1 controls (U+0080-U+009F, bytes C2 80-9F:
 * U+009B is CSI to xterm and others) shown as '?'; with first_line, only
 * up to its first newline.
 */
void term_put(FILE *out, const char *s, bool first_line);

#endif
