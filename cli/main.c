#define _DEFAULT_SOURCE /* srandom */
/*
 * sidecar's entry point: parses the command line, then for `run` walks a
 * straight checklist (config, logging, runtime, loop) and exits with the
 * main service's status; `check` validates a config (and, unless told
 * not to, what it names on this machine) and exits 0 or 2.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <ev.h>

#include "api/frontend.h"
#include "base/log.h"
#include "base/util.h"
#include "cli/ctl.h"
#include "cli/follow.h"
#include "cli/machine.h"
#include "cli/status.h"
#include "conf/load.h"
#include "probes/curlapi.h"
#include "sidecar/sidecar.h"

#define EXIT_USAGE          2
#define EXIT_RUNTIME        1
#define DEFAULT_CONFIG      "/etc/sidecar/sidecar.yaml"
#define DEFAULT_URL         "http://127.0.0.1:8558"
#define LOG_CLOSE_TIMEOUT_S 5.0

/* Each command's synopsis and options, for its --help and the global one. */
#define RUN_SYNOPSIS                                                           \
    "sidecar run [-c FILE] [--log-format json|text] [--log-level LEVEL]\n"
#define CHECK_SYNOPSIS  "sidecar check [-c FILE] [--no-machine]\n"
#define STATUS_SYNOPSIS "sidecar status [--url URL]\n"
#define SERVICE_SYNOPSIS                                                       \
    "sidecar restart|stop|start SERVICE [--url URL] [--token-file FILE]\n"
#define RELOAD_SYNOPSIS "sidecar reload [--url URL] [--token-file FILE]\n"
#define PROBE_SYNOPSIS                                                         \
    "sidecar probe pass|fail NAME [REASON] [--url URL] [--token-file FILE]\n"
#define EVENTS_SYNOPSIS                                                        \
    "sidecar events [--json] [--url URL] [--token-file FILE]\n"
#define CONFIG_OPTION                                                          \
    "  -c, --config FILE   config file (default: $SIDECAR_CONFIG, then\n"      \
    "                      " DEFAULT_CONFIG ")\n"
#define LOG_OPTIONS                                                            \
    "  --log-format FMT    json (default) or text; overrides log.format\n"     \
    "  --log-level LEVEL   debug, info, warn or error; overrides log.level\n"
#define URL_OPTION                                                             \
    "  --url URL           the sidecar to ask (default: $SIDECAR_URL, then\n"  \
    "                      " DEFAULT_URL ")\n"
#define NO_MACHINE_OPTION                                                      \
    "  --no-machine        check: leave out what depends on this machine\n"
#define TOKEN_OPTION                                                           \
    "  --token-file FILE   the write API's token, read from FILE (default:\n"  \
    "                      $SIDECAR_TOKEN)\n"
#define JSON_OPTION                                                            \
    "  --json              events: each event's JSON object, one a line\n"
#define HELP_OPTION "  -h, --help          show this help\n"
#define CTL_EXITS                                                              \
    "Exit 0 done, 1 refused (sidecar's reason printed), 2 usage,\n"            \
    "3 unreachable, 4 unauthorised (401: no token, or a wrong one).\n"

static const char usage[] =
    "Usage: " RUN_SYNOPSIS "       " CHECK_SYNOPSIS "       " STATUS_SYNOPSIS
    "       " SERVICE_SYNOPSIS "       " RELOAD_SYNOPSIS
    "       " PROBE_SYNOPSIS "       " EVENTS_SYNOPSIS
    "       sidecar --version | --help\n"
    "\n"
    "  run     supervise the configured services until stopped; exits with\n"
    "          the main service's status (128+N when signal N ended it)\n"
    "  check   validate the config: exit 0, or 2 with FILE:LINE:COL errors;\n"
    "          unless --no-machine, also on this machine:\n"
    "          " MACHINE_CHECKS "\n"
    "  status  show a running sidecar's health; exit 0 UP, 1 DEGRADED,\n"
    "          2 DOWN, 3 unreachable\n"
    "  restart, stop, start\n"
    "          restart, stop or start a service (the write API: a token)\n"
    "  reload  read the config again now; prints what changed\n"
    "  probe   push a ttl probe's result, with a reason if given\n"
    "  events  follow the state changes as they happen; exits 3 when the\n"
    "          stream cannot be reached or ends\n"
    "  These: exit 0 done, 1 refused (sidecar's reason printed), 2 usage,\n"
    "          3 unreachable, 4 unauthorised (401: no token, or a wrong one)\n"
    "\n" CONFIG_OPTION LOG_OPTIONS NO_MACHINE_OPTION URL_OPTION TOKEN_OPTION
        JSON_OPTION HELP_OPTION "\n"
    "'sidecar COMMAND --help' shows the options of that command.\n";

struct options {
    const struct command *command;
    const char *config;
    const char *log_format;
    const char *log_level;
    const char *url;
    const char *token_file;
    bool no_machine;
    bool json;
    char **args; /* the command's arguments */
    int nargs;
};

static int cmd_run(const struct options *o);
static int cmd_check(const struct options *o);
static int cmd_status(const struct options *o);
static int cmd_service(const struct options *o);
static int cmd_reload(const struct options *o);
static int cmd_probe(const struct options *o);
static int cmd_events(const struct options *o);

static const struct command {
    const char *name;
    int (*run)(const struct options *o);
    const char *options; /* the getopt values of the options it takes */
    const char *usage;   /* for --help */
    int min_args, max_args;
    const char *args; /* what they are, for a usage error */
} commands[] = {
    {"run", cmd_run, "cfl",
     "Usage: " RUN_SYNOPSIS "\n"
     "Supervise the configured services until stopped; exit with the main\n"
     "service's status (128+N when signal N ended it), or 2 on a usage or\n"
     "config error.\n"
     "\n" CONFIG_OPTION LOG_OPTIONS HELP_OPTION,
     0, 0, ""},
    {"check", cmd_check, "cm",
     "Usage: " CHECK_SYNOPSIS "\n"
     "Validate the config without running anything, then what depends on\n"
     "this machine (" MACHINE_CHECKS "):\n"
     "print \"FILE: ok (N services, M probes; ...)\" and exit 0, or print\n"
     "every FILE:LINE:COL error on stderr and exit 2.\n"
     "\n" CONFIG_OPTION NO_MACHINE_OPTION HELP_OPTION,
     0, 0, ""},
    {"status", cmd_status, "u",
     "Usage: " STATUS_SYNOPSIS "\n"
     "Show a running sidecar's health: exit 0 UP, 1 DEGRADED, 2 DOWN,\n"
     "3 unreachable.\n"
     "\n" URL_OPTION HELP_OPTION,
     0, 0, ""},
#define SERVICE_COMMAND(name, does)                                            \
    {                                                                          \
        name, cmd_service, "ut",                                               \
            "Usage: " SERVICE_SYNOPSIS "\n" does                               \
            " a service through the write API\n"                               \
            "(POST /services/SERVICE/" name                                    \
            "), with the token of http.token.\n"                               \
            "Prints \"SERVICE: " name                                          \
            "ing (state STATE)\", or why not.\n" CTL_EXITS                     \
            "\n" URL_OPTION TOKEN_OPTION HELP_OPTION,                          \
            1, 1, "SERVICE"                                                    \
    }
    SERVICE_COMMAND("restart", "Restart"),
    SERVICE_COMMAND("stop", "Stop"),
    SERVICE_COMMAND("start", "Start"),
    {"reload", cmd_reload, "ut",
     "Usage: " RELOAD_SYNOPSIS "\n"
     "Read the config again now (POST /reload), with the token of\n"
     "http.token. Prints what was added, removed and changed, or the\n"
     "FILE:LINE:COL error that left everything as it was.\n" CTL_EXITS
     "\n" URL_OPTION TOKEN_OPTION HELP_OPTION,
     0, 0, ""},
    {"probe", cmd_probe, "ut",
     "Usage: " PROBE_SYNOPSIS "\n"
     "Push a result to a ttl probe (POST /probes/NAME/pass or /fail), with\n"
     "REASON as its reason, with the token of http.token.\n" CTL_EXITS
     "\n" URL_OPTION TOKEN_OPTION HELP_OPTION,
     2, 3, "pass|fail NAME [REASON]"},
    {"events", cmd_events, "utj",
     "Usage: " EVENTS_SYNOPSIS "\n"
     "Follow a running sidecar's state changes (GET /events) until\n"
     "interrupted: one line each, its UTC time then what changed; with\n"
     "--json each event's JSON object as sent, one a line. Exits 3 when\n"
     "the stream cannot be reached or ends, 0 on SIGINT or SIGTERM.\n"
     "\n" JSON_OPTION URL_OPTION TOKEN_OPTION HELP_OPTION,
     0, 0, ""},
};

/* Daemons must not let a pipe land on 0-2 because one of them was closed. */
static int ensure_stdio_open(void)
{
    for (int fd = 0; fd <= 2; fd++) {
        if (fcntl(fd, F_GETFD) >= 0 || errno != EBADF)
            continue;
        int nfd = open("/dev/null", fd == 0 ? O_RDONLY : O_WRONLY);
        if (nfd < 0)
            return -1;
        if (nfd != fd) {
            close(nfd);
            return -1;
        }
    }
    return 0;
}

/* The long name of the option whose getopt value is c. */
static const char *long_name(const struct option *opts, int c)
{
    for (; opts->name; opts++) {
        if (opts->val == c)
            return opts->name;
    }
    return "?";
}

static int parse_args(int argc, char **argv, struct options *o)
{
    static const struct option longopts[] = {
        {"config", required_argument, NULL, 'c'},
        {"log-format", required_argument, NULL, 'f'},
        {"log-level", required_argument, NULL, 'l'},
        {"url", required_argument, NULL, 'u'},
        {"token-file", required_argument, NULL, 't'},
        {"json", no_argument, NULL, 'j'},
        {"no-machine", no_argument, NULL, 'm'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    /* The command comes first: sidecar run -c FILE. */
    const char *help = usage;
    if (argc > 1 && argv[1][0] != '-') {
        for (size_t i = 0; i < ARRAY_SIZE(commands); i++) {
            if (strcmp(commands[i].name, argv[1]) == 0)
                o->command = &commands[i];
        }
        if (!o->command) {
            fprintf(stderr, "sidecar: unknown command '%s'\n%s", argv[1],
                    usage);
            return -1;
        }
        help = o->command->usage;
        optind = 2;
    }
    for (;;) {
        int c = getopt_long(argc, argv, "c:hV", longopts, NULL);
        if (c == -1)
            break;
        /* A command takes the options its --help lists, no other. */
        if (o->command && c != 0 && strchr("cflmutj", c) &&
            !strchr(o->command->options, c)) {
            fprintf(stderr, "sidecar: '%s' takes no option --%s\n%s",
                    o->command->name, long_name(longopts, c), help);
            return -1;
        }
        switch (c) {
        case 'c':
            o->config = optarg;
            break;
        case 'f':
            o->log_format = optarg;
            break;
        case 'l':
            o->log_level = optarg;
            break;
        case 'u':
            o->url = optarg;
            break;
        case 'm':
            o->no_machine = true;
            break;
        case 't':
            o->token_file = optarg;
            break;
        case 'j':
            o->json = true;
            break;
        case 'h':
            fputs(help, stdout);
            exit(0);
        case 'V':
            printf("sidecar %s\n", SIDECAR_VERSION);
            exit(0);
        default:
            fputs(help, stderr);
            return -1;
        }
    }
    if (!o->command) {
        fputs(usage, stderr);
        return -1;
    }
    o->args = argv + optind;
    o->nargs = argc - optind;
    if (o->nargs > o->command->max_args) {
        fprintf(stderr, "sidecar: unexpected argument '%s'\n%s",
                o->args[o->command->max_args], help);
        return -1;
    }
    if (o->nargs < o->command->min_args) {
        fprintf(stderr, "sidecar: %s: expected %s\n%s", o->command->name,
                o->command->args, help);
        return -1;
    }
    if (!o->config)
        o->config = getenv("SIDECAR_CONFIG");
    if (!o->config || !*o->config)
        o->config = DEFAULT_CONFIG;
    return 0;
}

static int load_config(const char *path, struct cfg_root **cfg)
{
    struct cfg_error err = {0};
    if (cfg_load(path, cfg, &err) == 0)
        return 0;
    cfg_error_print(&err, stderr);
    return -1;
}

/* The config, then (with it loaded) this machine: every error of both. */
static int cmd_check(const struct options *o)
{
    struct cfg_root *cfg;
    struct cfg_error err = {0};
    if (load_config(o->config, &cfg) < 0)
        return EXIT_USAGE;
    if (cfg_token_is_short(cfg))
        fprintf(stderr, "%s:%u:%u: warning: " CFG_TOKEN_SHORT_WARNING "\n",
                cfg->path, cfg->http.token_mark.line, cfg->http.token_mark.col);
    if (!o->no_machine && machine_check(cfg, &err) < 0) {
        cfg_error_print(&err, stderr);
        cfg_free(cfg);
        return EXIT_USAGE;
    }
    printf("%s: ok (%zu service%s, %zu probe%s; %s)\n", o->config,
           cfg->services_count, cfg->services_count == 1 ? "" : "s",
           cfg->probes_count, cfg->probes_count == 1 ? "" : "s",
           o->no_machine ? "machine checks left out"
                         : "checked on this machine: " MACHINE_CHECKS);
    cfg_free(cfg);
    return 0;
}

/* Config first, command line over it. */
static int setup_logging(const struct options *o, const struct cfg_root *cfg)
{
    enum log_format format =
        cfg->log.format == CFG_LOG_TEXT ? LOG_FORMAT_TEXT : LOG_FORMAT_JSON;
    enum log_level level = (enum log_level)cfg->log.level;
    if (o->log_format && log_format_parse(o->log_format, &format) < 0) {
        fprintf(stderr,
                "sidecar: --log-format: expected json or text, "
                "found '%s'\n",
                o->log_format);
        return -1;
    }
    if (o->log_level && log_level_parse(o->log_level, &level) < 0) {
        fprintf(stderr,
                "sidecar: --log-level: expected debug, info, warn "
                "or error, found '%s'\n",
                o->log_level);
        return -1;
    }
    log_set_format(format);
    log_set_level(level);
    return 0;
}

/* --url, else $SIDECAR_URL, else the default. */
static const char *base_url(const struct options *o)
{
    const char *url = o->url;
    if (!url || !*url)
        url = getenv("SIDECAR_URL");
    if (!url || !*url)
        url = DEFAULT_URL;
    return url;
}

static int cmd_status(const struct options *o)
{
    return status_command(base_url(o), stdout);
}

static int cmd_service(const struct options *o)
{
    char token[CTL_TOKEN_MAX];
    if (ctl_token(o->token_file, token) < 0)
        return EXIT_USAGE;
    return ctl_service(base_url(o), token, o->command->name, o->args[0]);
}

static int cmd_reload(const struct options *o)
{
    char token[CTL_TOKEN_MAX];
    if (ctl_token(o->token_file, token) < 0)
        return EXIT_USAGE;
    return ctl_reload(base_url(o), token);
}

static int cmd_probe(const struct options *o)
{
    char token[CTL_TOKEN_MAX];
    const char *verdict = o->args[0];
    if (strcmp(verdict, "pass") != 0 && strcmp(verdict, "fail") != 0) {
        fprintf(stderr, "sidecar: probe: expected pass or fail, found '%s'\n%s",
                verdict, o->command->usage);
        return EXIT_USAGE;
    }
    if (ctl_token(o->token_file, token) < 0)
        return EXIT_USAGE;
    return ctl_probe(base_url(o), token, verdict, o->args[1],
                     o->nargs > 2 ? o->args[2] : NULL);
}

static int cmd_events(const struct options *o)
{
    char token[CTL_TOKEN_MAX];
    if (ctl_token(o->token_file, token) < 0)
        return EXIT_USAGE;
    return follow_command(base_url(o), token, o->json);
}

static int cmd_run(const struct options *o)
{
    struct cfg_root *cfg;
    char errbuf[512];
    int code = EXIT_USAGE;

    if (load_config(o->config, &cfg) < 0)
        return EXIT_USAGE;
    if (setup_logging(o, cfg) < 0)
        goto out_free_cfg;
    /* As many descriptors as allowed: clients must not starve probes. */
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        (void)setrlimit(RLIMIT_NOFILE, &rl);
    }
    /* Writes to a closed pipe or socket are errors to handle, not deaths. */
    signal(SIGPIPE, SIG_IGN);
    srandom((unsigned)time(NULL) ^ (unsigned)getpid());

    struct ev_loop *loop = ev_default_loop(EVFLAG_AUTO);
    if (!loop) {
        fprintf(stderr, "sidecar: cannot initialise the event loop\n");
        code = EXIT_RUNTIME;
        goto out_cleanup;
    }
    int rc = log_open(loop, STDOUT_FILENO);
    if (rc < 0) {
        fprintf(stderr, "sidecar: cannot set up stdout: %s\n", strerror(-rc));
        code = EXIT_RUNTIME;
        goto out_cleanup;
    }
    struct sidecar *sc = sidecar_new(loop, cfg, errbuf, sizeof(errbuf));
    if (sc)
        cfg = NULL; /* the sidecar's now, and a reload may replace it */
    /* The HTTP API: the supervisor's front end, over its view. */
    if (!sc || frontend_attach(loop, sc, errbuf, sizeof(errbuf)) < 0) {
        LOG_ERROR("cannot set up services", LF_STR("error", errbuf));
        fprintf(stderr, "sidecar: %s\n", errbuf);
        sidecar_free(sc);
        goto out_close_log;
    }
    sidecar_pin_log(sc, o->log_level != NULL, o->log_format != NULL);
    sidecar_start(sc);
    ev_run(loop, 0);
    code = sidecar_exit_code(sc);
    /* Flush first, with the signal watchers still catching signals. */
    log_close(LOG_CLOSE_TIMEOUT_S);
    sidecar_free(sc);
    goto out_cleanup;
out_close_log:
    log_close(LOG_CLOSE_TIMEOUT_S);
out_cleanup:
    curlapi_cleanup(); /* libcurl, if the first http probe loaded it */
out_free_cfg:
    cfg_free(cfg);
    return code;
}

int main(int argc, char **argv)
{
    struct options o = {0};

    sidecar_own_signals();
    if (ensure_stdio_open() < 0)
        return EXIT_RUNTIME;
    if (parse_args(argc, argv, &o) < 0)
        return EXIT_USAGE;
    return o.command->run(&o);
}
