/*
 * The configuration model: what conf/load.c builds from sidecar.yaml and
 * everything else reads. Immutable once cfg_load() returns; runtime objects
 * keep const pointers into it. Every string and array is owned by the
 * struct cfg_root that holds it and released by cfg_free().
 * Durations are int64_t milliseconds; every field is filled (defaults
 * applied), so readers never test for "unset".
 */
#ifndef SIDECAR_CONF_MODEL_H
#define SIDECAR_CONF_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define CFG_NO_INDEX ((size_t)-1)

/* A shorter write token is accepted with a warning: it can be guessed. */
#define CFG_TOKEN_MIN 16

/* Where a node sat in the file, 1-based, for errors found after loading. */
struct cfg_mark {
    unsigned line;
    unsigned col;
};

enum cfg_role { CFG_ROLE_MAIN, CFG_ROLE_HELPER, CFG_ROLE_TASK };
enum cfg_restart {
    CFG_RESTART_ALWAYS,
    CFG_RESTART_ON_FAILURE,
    CFG_RESTART_NEVER
};
enum cfg_dep_cond { CFG_DEP_STARTED, CFG_DEP_HEALTHY, CFG_DEP_COMPLETED };
/* Who says a service is ready: its exec, or the service itself. */
enum cfg_ready { CFG_READY_EXEC, CFG_READY_NOTIFY, CFG_READY_FD };
enum cfg_log_format { CFG_LOG_JSON, CFG_LOG_TEXT };
enum cfg_log_level { CFG_LOG_DEBUG, CFG_LOG_INFO, CFG_LOG_WARN, CFG_LOG_ERROR };
enum cfg_reload { CFG_RELOAD_MANUAL, CFG_RELOAD_WATCH };
enum cfg_probe_type {
    CFG_PROBE_HTTP,
    CFG_PROBE_TCP,
    CFG_PROBE_EXEC,
    CFG_PROBE_TTL,
    CFG_PROBE_GRPC
};
/* follow_redirects: kubelet's rule by default. */
enum cfg_redirects {
    CFG_REDIRECTS_SAME_HOST, /* "same-host": while the host name is the URL's */
    CFG_REDIRECTS_ALL,       /* true: to any host */
    CFG_REDIRECTS_NONE       /* false: a 3xx is the answer */
};
enum cfg_importance {
    CFG_IMPORTANCE_CRITICAL,
    CFG_IMPORTANCE_HIGH,
    CFG_IMPORTANCE_LOW
};

/*
 * A command: always an argv vector ending in NULL. A YAML list is used as
 * is (argv[0] looked up in PATH at exec time), and so is a YAML string
 * that is a simple command, split into its words; any other string becomes
 * {"/bin/sh", "-c", string, NULL}, with shell = true.
 */
struct cfg_command {
    char **argv;
    size_t argc;
    bool shell;           /* sidecar put /bin/sh -c in front */
    struct cfg_mark mark; /* of argv[0] in the file (the string's, if one) */
};

struct cfg_dep {
    char *name;
    size_t index; /* into cfg_root.services */
    enum cfg_dep_cond cond;
};

struct cfg_backoff {
    int64_t initial_ms;     /* default 500 */
    int64_t max_ms;         /* default 30000 */
    int64_t reset_after_ms; /* default 30000 */
};

/* A service's or an exec probe's user or group. */
struct cfg_account {
    char *name;    /* expanded; NULL: not set */
    char *written; /* as in the file, ${VAR} unexpanded: what errors quote */
    struct cfg_mark mark; /* of the value */
};

/* Every key is a row of conf/keys.c, which equality walks. */
struct cfg_service {
    char *name;
    struct cfg_mark mark; /* of the service's key */
    enum cfg_role role;   /* default helper */
    struct cfg_command command;
    char **env; /* "NAME=value" strings, file order */
    size_t env_count;
    char *cwd;                /* NULL: inherit sidecar's */
    struct cfg_mark cwd_mark; /* of its value */
    struct cfg_account user;  /* name NULL: inherit */
    struct cfg_account group; /* name NULL: user's primary group, or inherit */
    bool has_umask;
    mode_t umask;
    enum cfg_restart restart; /* default always; never for a task */
    int *success_exit_codes;  /* default {0} */
    size_t success_exit_codes_count;
    struct cfg_backoff backoff;
    unsigned max_restarts;     /* default 10; 0: never FATAL */
    int64_t restart_window_ms; /* default 60000 */
    int stop_signal;           /* default SIGTERM */
    int64_t stop_timeout_ms;   /* default 10000 */
    bool essential;            /* always true for role main */
    struct cfg_dep *deps;      /* depends_on, file order */
    size_t deps_count;
    bool depended_on; /* some service's depends_on names it (conf/validate) */
    int *forward_signals; /* default {SIGUSR1,SIGUSR2} for main, {} */
    size_t forward_signals_count;
    enum cfg_ready ready;     /* default exec */
    int ready_fd;             /* CFG_READY_FD: the descriptor N (>= 3) */
    int64_t ready_timeout_ms; /* default 60000; notify and fd only */
    int64_t watchdog_ms;      /* default 0: none; ready: notify only */
};

/* One entry of expect_status: a code is a range with lo == hi. */
struct cfg_status_range {
    int lo;
    int hi;
};

struct cfg_header {
    char *name;
    char *value;
};

/* Every key is a row of conf/keys.c, which equality walks. */
struct cfg_probe {
    char *name;
    struct cfg_mark mark;
    enum cfg_probe_type type;
    char *service;        /* NULL: not tied to a service */
    size_t service_index; /* into cfg_root.services, or CFG_NO_INDEX */
    enum cfg_importance importance; /* default critical */
    int64_t period_ms;              /* default 10000 */
    int64_t timeout_ms;             /* default 1000; may exceed period */
    int64_t initial_delay_ms;       /* default 0 */
    unsigned failure_threshold;     /* default 3, >= 1 */
    unsigned success_threshold;     /* default 1, >= 1 */
    /* on_failure: restart acts once the probe has passed since its
     * service's start, or start_period after that start (default 60000). */
    bool restart_on_failure;
    int64_t start_period_ms;

    /* type http */
    char *url;
    char *method; /* default "GET" */
    struct cfg_header *headers;
    size_t headers_count;
    struct cfg_status_range *expect_status; /* default {200-399} */
    size_t expect_status_count;
    char *expect_body;                   /* NULL: any body */
    bool insecure;                       /* http and grpc */
    enum cfg_redirects follow_redirects; /* default same-host; at most 10 */

    /* type tcp and grpc */
    char *host;
    unsigned port;

    /* type grpc */
    char *grpc_service; /* the name asked about; default "" */
    bool tls;

    /* type exec: with a service, user, group and cwd replace the
     * service's and env is added over the service's (conf/runas.h) */
    struct cfg_command command;
    char **env; /* "NAME=value" strings, file order */
    size_t env_count;
    char *cwd;                /* NULL: the service's, or sidecar's */
    struct cfg_mark cwd_mark; /* of its value */
    struct cfg_account user;  /* name NULL: the service's, or sidecar's */
    struct cfg_account group; /* name NULL: the service's, or as a service's */

    /* type ttl */
    int64_t ttl_ms;
};

struct cfg_root {
    char *path;
    uint64_t digest; /* of the bytes loaded: FNV-1a, to tell edits apart */
    char *name;      /* default "sidecar" */
    enum cfg_reload reload; /* default manual; watch: also on file change */
    struct {
        char *listen; /* default "0.0.0.0:8558" */
        char *host;   /* split from listen; "" for all interfaces */
        unsigned port;
        char *token;       /* "" when write endpoints are off */
        char *token_file;  /* NULL: no token_file (the token is inline) */
        char **token_vars; /* NULL-terminated: the variables token reads,
                              kept from services that do not name them */
        struct cfg_mark token_mark;  /* of the token or token_file key */
        struct cfg_mark listen_mark; /* of listen's value; 0:0: the default */
    } http;
    struct {
        enum cfg_log_format format; /* default json */
        enum cfg_log_level level;   /* default info */
        size_t max_line;            /* bytes; default 16384 */
    } log;
    struct {
        int64_t drain_ms; /* default 5000 */
    } shutdown;
    unsigned exec_probe_limit;    /* exec probes at once; default 8 */
    struct cfg_service *services; /* file order */
    size_t services_count;
    size_t main_index;        /* CFG_NO_INDEX when there are no services */
    size_t *start_order;      /* services_count indices, dependencies first */
    struct cfg_probe *probes; /* file order */
    size_t probes_count;
};

#endif
