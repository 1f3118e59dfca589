/*
 * The checks of `sidecar check` that depend on the machine it runs on,
 * made after the config loaded: each service's user and group (resolved
 * as run resolves them, sidecar/ids.h, with its capability rule), cwd and
 * program (with the rights of the user the child runs as), each exec
 * probe's program (argv[0] in the PATH the child will get), whether
 * http.listen's address can be bound here and libmicrohttpd loads
 * (api/mhdapi.h), and, for a config with an http probe, whether libcurl
 * loads (probes/curlapi.h). Owns nothing. Its calls block (NSS, stat,
 * bind, fork, dlopen): for `check`, never for run's loop.
 */
#ifndef SIDECAR_CLI_MACHINE_H
#define SIDECAR_CLI_MACHINE_H

#include "base/util.h"
#include "conf/error.h"
#include "conf/model.h"

/* What machine_check() looks at, as `check` says it. */
#define MACHINE_CHECKS                                                         \
    "users, groups, programs, directories, listen address, libmicrohttpd, "    \
    "libcurl"

/*
 * Checks cfg on this machine. 0, or -1 with every error (they are
 * independent) added to err at the value at fault, as the loader's are.
 */
int machine_check(const struct cfg_root *cfg, struct cfg_error *err) ATTR_WUR;

#endif
