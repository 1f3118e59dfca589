/*
 * libmicrohttpd, loaded when `run` starts its HTTP server: sidecar does
 * not link it, so `status`, `check` and `--version` never map it nor the
 * GnuTLS tree Debian's build links (about 1.5 ms of every exec). Same
 * pattern as probes/curlapi.h: mhdapi_load() dlopens MHDAPI_SONAME and
 * fills the table `mhdapi`, once; api/http.c calls mhdapi.run() where it
 * would call MHD_run(). Types and constants still come from
 * <microhttpd.h>. No symbol here is named like the library's own.
 */
#ifndef SIDECAR_API_MHDAPI_H
#define SIDECAR_API_MHDAPI_H

#include <microhttpd.h>
#include <stdbool.h>

#include "base/util.h"

/* Debian's libmicrohttpd12, whose headers these are. */
#define MHDAPI_SONAME "libmicrohttpd.so.12"

struct mhdapi {
    struct MHD_Daemon *(*start_daemon)(unsigned int, uint16_t,
                                       MHD_AcceptPolicyCallback, void *,
                                       MHD_AccessHandlerCallback, void *, ...);
    void (*stop_daemon)(struct MHD_Daemon *);
    MHD_socket (*quiesce_daemon)(struct MHD_Daemon *);
    enum MHD_Result (*run)(struct MHD_Daemon *);
    enum MHD_Result (*get_timeout)(struct MHD_Daemon *,
                                   MHD_UNSIGNED_LONG_LONG *);
    const union MHD_DaemonInfo *(*get_daemon_info)(struct MHD_Daemon *,
                                                   enum MHD_DaemonInfoType,
                                                   ...);
    const union MHD_ConnectionInfo *(*get_connection_info)(
        struct MHD_Connection *, enum MHD_ConnectionInfoType, ...);
    int (*get_connection_values)(struct MHD_Connection *, enum MHD_ValueKind,
                                 MHD_KeyValueIterator, void *);
    const char *(*lookup_connection_value)(struct MHD_Connection *,
                                           enum MHD_ValueKind, const char *);
    void (*suspend_connection)(struct MHD_Connection *);
    void (*resume_connection)(struct MHD_Connection *);
    struct MHD_Response *(*create_response_from_callback)(
        uint64_t, size_t, MHD_ContentReaderCallback, void *,
        MHD_ContentReaderFreeCallback);
    struct MHD_Response *(*create_response_from_buffer)(
        size_t, void *, enum MHD_ResponseMemoryMode);
    enum MHD_Result (*add_response_header)(struct MHD_Response *, const char *,
                                           const char *);
    enum MHD_Result (*queue_response)(struct MHD_Connection *, unsigned int,
                                      struct MHD_Response *);
    void (*destroy_response)(struct MHD_Response *);
};

/* Valid once mhdapi_load() returned 0. */
extern struct mhdapi mhdapi;

/*
 * Loads libmicrohttpd, the first time; 0 then and ever after. -ELIBACC
 * when it cannot (mhdapi_error() says why); a later call tries again.
 */
int mhdapi_load(void) ATTR_WUR;

/* Why the last mhdapi_load() failed: names the library and dlerror(). */
const char *mhdapi_error(void);

#endif
