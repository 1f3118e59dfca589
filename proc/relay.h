/*
 * struct relay: reads one pipe of a child (its stdout or stderr), cuts the
 * bytes into lines and hands each to the log sink. Lines longer than the
 * cap are split into pieces marked partial. When the sink is full the relay
 * stops, mid-chunk if need be, and waits for room, so the child blocks on
 * its pipe instead of lines being dropped or memory growing. Owns the read
 * end of the pipe and one ev_io.
 */
#ifndef SIDECAR_PROC_RELAY_H
#define SIDECAR_PROC_RELAY_H

#include <stddef.h>

#include "base/util.h"

struct ev_loop;
struct relay;

/*
 * Starts relaying fd (non-blocking, owned from now on) as service/stream;
 * service is copied, stream is borrowed and must outlive the relay (a
 * string literal). NULL on ENOMEM (fd is closed then).
 */
struct relay *relay_new(struct ev_loop *loop, int fd, const char *service,
                        const char *stream, size_t max_line) ATTR_WUR;

/*
 * The child has exited (and its process group been killed): relays what
 * is left in the pipe, then a last line that had no newline, then closes
 * the pipe and frees the relay. Usually all of that happens now; if the
 * sink is full, the relay finishes by itself once there is room, and at
 * the latest in log_close(). The caller must forget r either way.
 * relay_finish(NULL) is a no-op.
 */
void relay_finish(struct relay *r);

#endif
