/*
 * struct sidecar: the root object. Owns the config, the services (one
 * struct svc per configured service), the probes, the aggregate health,
 * the signal watchers, the reaper and the config file's watch; starts
 * services in dependency order, stops them in reverse, binds probes to
 * their services, forwards signals, reloads the config (applying what
 * changed), and decides when and with what status sidecar exits. The
 * front end (the HTTP API) reads and drives it through sidecar/view.h
 * only, and is called back through the hooks it registers there.
 */
#ifndef SIDECAR_SIDECAR_SIDECAR_H
#define SIDECAR_SIDECAR_SIDECAR_H

#include <ev.h>
#include <stdbool.h>
#include <stddef.h>

#include "base/util.h"
#include "conf/model.h"

struct sidecar;

/*
 * Takes the signal state sidecar relies on, whatever the launcher passed
 * on: an empty mask (a blocked SIGCHLD would leave services unreaped, a
 * blocked SIGTERM unheard) and the default action for the signals it
 * handles that were set to ignore. Forwarded signals get their handler
 * when watched. For main's first line.
 */
void sidecar_own_signals(void);

/*
 * Builds the runtime from a loaded config (nothing starts yet) and takes
 * the config (sidecar_free frees it). NULL with a message in errbuf when
 * a service cannot be set up (unknown user, ...); the caller keeps cfg.
 */
struct sidecar *sidecar_new(struct ev_loop *loop, struct cfg_root *cfg,
                            char *errbuf, size_t errlen) ATTR_WUR;

/* Installs signal handling and reaping, and starts what can start. */
void sidecar_start(struct sidecar *sc);

/* Stops every service in reverse dependency order, then ends the loop. */
void sidecar_shutdown(struct sidecar *sc, const char *reason);

/*
 * --log-level and --log-format were given: they keep winning over the
 * config's log settings across reloads.
 */
void sidecar_pin_log(struct sidecar *sc, bool level, bool format);

/* The status to exit with once the loop has ended. */
int sidecar_exit_code(const struct sidecar *sc);

/*
 * The most handlings of a service's change that ever ran nested: 1, as
 * changes are queued and handled from the loop, one after the other (for
 * tests).
 */
unsigned sidecar_change_depth_max(const struct sidecar *sc);

/* Stops all watchers and frees. sidecar_free(NULL) is a no-op. */
void sidecar_free(struct sidecar *sc);

#endif
