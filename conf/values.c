/*
 * The value parsers of sidecar.yaml's own types (see values.h):
 * commands, environments, headers, depends_on, listen addresses, umasks,
 * URLs, HTTP methods, status ranges and forwardable signals.
 */
#include "conf/values.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "conf/parse.h"

static const char *const cond_names[] = {"started", "healthy", "completed",
                                         NULL};

/* Signals sidecar keeps for itself, with the reason users are told. */
static const struct {
    int signo;
    const char *why;
} unforwardable[] = {
    {SIGTERM, "sidecar stops the services on it"},
    {SIGINT, "sidecar stops the services on it"},
    {SIGKILL, "it cannot be caught"},
    {SIGSTOP, "it cannot be caught"},
    {SIGCHLD, "sidecar reaps children on it"},
    {SIGPIPE, "sidecar ignores it"},
    {SIGSEGV, "it reports a fault in sidecar itself"},
    {SIGBUS, "it reports a fault in sidecar itself"},
    {SIGFPE, "it reports a fault in sidecar itself"},
    {SIGILL, "it reports a fault in sidecar itself"},
    {SIGABRT, "it reports a fault in sidecar itself"},
    {SIGTRAP, "it reports a fault in sidecar itself"},
    {SIGSYS, "it reports a fault in sidecar itself"},
};

/* Blanks: what separates the words of a simple command. */
#define BLANKS " \t"

/*
 * Characters that mean nothing to sh (dash or bash) anywhere in a word.
 * Deliberately few: anything else (quotes, $, globs, ~, #, !, redirections,
 * controls, non-ASCII bytes...) leaves the string to /bin/sh.
 */
#define PLAIN_CHARS                                                            \
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"           \
    "-_./:,+@"

/* Also plain after the first word: there '=' is no assignment, '%' no job. */
#define PLAIN_ARG_CHARS "=%"

/*
 * First words sh does not look up in PATH: keywords and the builtins of
 * dash and bash (some, such as echo or kill, differ from the program of
 * that name). Those with a character outside PLAIN_CHARS ({, [[, !) are
 * caught by their character.
 */
static const char *const shell_words[] = {
    ".",         ":",        "alias",   "bg",       "bind",    "break",
    "builtin",   "caller",   "case",    "cd",       "chdir",   "command",
    "compgen",   "complete", "compopt", "continue", "coproc",  "declare",
    "dirs",      "disown",   "do",      "done",     "echo",    "elif",
    "else",      "enable",   "esac",    "eval",     "exec",    "exit",
    "export",    "false",    "fc",      "fg",       "fi",      "for",
    "function",  "getopts",  "hash",    "help",     "history", "if",
    "in",        "jobs",     "kill",    "let",      "local",   "logout",
    "mapfile",   "popd",     "printf",  "pushd",    "pwd",     "read",
    "readarray", "readonly", "return",  "select",   "set",     "shift",
    "shopt",     "source",   "suspend", "test",     "then",    "time",
    "times",     "trap",     "true",    "type",     "typeset", "ulimit",
    "umask",     "unalias",  "unset",   "until",    "wait",    "while",
};

/* Length of the word at p when it is plain (see above), else 0. */
static size_t plain_word(const char *p, bool first)
{
    size_t len = strcspn(p, BLANKS);
    size_t plain = strspn(p, PLAIN_CHARS);
    while (!first && plain < len && strchr(PLAIN_ARG_CHARS, p[plain]))
        plain += 1 + strspn(p + plain + 1, PLAIN_CHARS);
    if (plain != len)
        return 0;
    for (size_t i = 0; first && i < ARRAY_SIZE(shell_words); i++) {
        if (strlen(shell_words[i]) == len &&
            memcmp(shell_words[i], p, len) == 0)
            return 0;
    }
    return len;
}

int cfg_command_split(const char *text, char ***argv, size_t *argc)
{
    size_t n = 0;
    for (const char *p = text + strspn(text, BLANKS); *p;
         p += strspn(p, BLANKS)) {
        size_t len = plain_word(p, n == 0);
        if (len == 0)
            return -EINVAL;
        p += len;
        n++;
    }
    if (n == 0)
        return -EINVAL;
    char **v = calloc(n + 1, sizeof(*v));
    if (!v)
        return -ENOMEM;
    const char *p = text;
    for (size_t i = 0; i < n; i++) {
        p += strspn(p, BLANKS);
        size_t len = strcspn(p, BLANKS);
        v[i] = strndup(p, len);
        if (!v[i]) {
            while (i--)
                free(v[i]);
            free(v);
            return -ENOMEM;
        }
        p += len;
    }
    *argv = v;
    *argc = n;
    return 0;
}

/*
 * A string: its words when it is a simple command (as supervisord runs
 * one: no shell in between to outlive, or to die before, the program),
 * else {"/bin/sh", "-c", text}.
 */
static int string_command(struct cfg_ctx *ctx, const struct cfg_key *key,
                          const struct cfg_node *val, struct cfg_command *cmd)
{
    char *text;

    if (cfg_read_text(ctx, "a string", key->name, val, &text) < 0)
        return -1;
    cmd->mark = val->mark;
    if (text[strspn(text, BLANKS "\r\n")] == '\0') {
        free(text);
        return cfg_fail_expected(ctx, "a non-empty command", key->name, val);
    }
    int rc = cfg_command_split(text, &cmd->argv, &cmd->argc);
    if (rc == -EINVAL) {
        cmd->argv = calloc(4, sizeof(*cmd->argv));
        rc = cmd->argv ? 0 : -ENOMEM;
    }
    if (rc < 0) {
        free(text);
        return cfg_fail(ctx, val, "out of memory");
    }
    if (cmd->argc) {
        free(text); /* split */
        return 0;
    }
    cmd->argc = 3; /* entries start NULL: cfg_free() copes with a failure */
    cmd->argv[2] = text;
    cmd->shell = true;
    if (cfg_dup_string(ctx, &cmd->argv[0], "/bin/sh") < 0 ||
        cfg_dup_string(ctx, &cmd->argv[1], "-c") < 0)
        return -1;
    return 0;
}

/* argv[i] = item i of the list; argv[0] names the program. */
static int argv_command(struct cfg_ctx *ctx, const struct cfg_key *key,
                        const struct cfg_node *val, struct cfg_command *cmd)
{
    for (size_t i = 0; i < val->count; i++) {
        const struct cfg_node *item = val->items[i];

        if (cfg_read_text(ctx, "a string", key->name, item, &cmd->argv[i]) < 0)
            return -1;
        if (i == 0 && cmd->argv[0][0] == '\0')
            return cfg_fail_expected(ctx, "a program name", key->name, item);
    }
    return 0;
}

/* command [struct cfg_command]: an argv list, or a string (see above). */
int cfg_value_command(struct cfg_ctx *ctx, const struct cfg_key *key,
                      const struct cfg_node *val, void *field)
{
    struct cfg_command *cmd = field;

    if (val->kind == CFG_NODE_MAP)
        return cfg_fail_expected(ctx, "a list of strings or a string",
                                 key->name, val);
    if (val->kind == CFG_NODE_SCALAR)
        return string_command(ctx, key, val, cmd);
    if (val->count == 0)
        return cfg_fail(ctx, val,
                        "expected a non-empty list for '%s', found an empty "
                        "one",
                        key->name);
    cmd->argv = calloc(val->count + 1, sizeof(*cmd->argv));
    if (cmd->argv == NULL)
        return cfg_fail(ctx, val, "out of memory");
    cmd->argc = val->count; /* entries start NULL: cfg_free() copes */
    cmd->mark = val->items[0]->mark;
    return argv_command(ctx, key, val, cmd);
}

/* Returns a malloc'd "name=value", or NULL. */
static char *join_env(const char *name, const char *value)
{
    size_t n = strlen(name), v = strlen(value);
    char *entry = malloc(n + v + 2);

    if (entry == NULL)
        return NULL;
    memcpy(entry, name, n);
    entry[n] = '=';
    memcpy(entry + n + 1, value, v + 1);
    return entry;
}

/*
 * env [char ** + count]: a mapping of NAME to scalar, as "NAME=value". A
 * NAME with an empty value is left out, as any key is: the service gets
 * sidecar's own value, if any.
 */
int cfg_value_env(struct cfg_ctx *ctx, const struct cfg_key *key,
                  const struct cfg_node *val, void *field)
{
    char ***env = field;
    size_t *count = cfg_key_count(key, field);

    if (cfg_expect_key_map(ctx, key, val) < 0)
        return -1;
    *env = calloc(val->count + 1, sizeof(**env));
    if (*env == NULL)
        return cfg_fail(ctx, val, "out of memory");
    for (size_t i = 0; i < val->count; i++) {
        const struct cfg_node *name = val->pairs[i].key;
        char *value;

        if (name->text[0] == '\0' || strchr(name->text, '=') != NULL)
            return cfg_fail(ctx, name,
                            "invalid environment variable name '%s'; it "
                            "must be non-empty and without '='",
                            name->text);
        if (cfg_node_is_null(val->pairs[i].value))
            continue;
        if (cfg_read_text(ctx, "a string", name->text, val->pairs[i].value,
                          &value) < 0)
            return -1;
        char *entry = join_env(name->text, value);
        free(value);
        if (entry == NULL)
            return cfg_fail(ctx, name, "out of memory");
        (*env)[(*count)++] = entry;
    }
    return 0;
}

static bool is_token(const char *s)
{
    static const char tchar[] = "!#$%&'*+-.^_`|~0123456789"
                                "abcdefghijklmnopqrstuvwxyz"
                                "ABCDEFGHIJKLMNOPQRSTUVWXYZ";

    return s[0] != '\0' && strspn(s, tchar) == strlen(s);
}

static bool has_control(const char *s)
{
    for (; *s != '\0'; s++) {
        if ((unsigned char)*s < ' ' || *s == 0x7f)
            return true;
    }
    return false;
}

/*
 * headers [struct cfg_header * + count]: a mapping of name to value; a
 * name with an empty value is left out, as any key is.
 */
int cfg_value_headers(struct cfg_ctx *ctx, const struct cfg_key *key,
                      const struct cfg_node *val, void *field)
{
    struct cfg_header **headers = field;
    size_t *count = cfg_key_count(key, field);

    if (cfg_expect_key_map(ctx, key, val) < 0)
        return -1;
    *headers = calloc(val->count ? val->count : 1, sizeof(**headers));
    if (*headers == NULL)
        return cfg_fail(ctx, val, "out of memory");
    for (size_t i = 0; i < val->count; i++) {
        const struct cfg_node *name = val->pairs[i].key;

        if (!is_token(name->text))
            return cfg_fail(ctx, name,
                            "invalid header name '%s'; expected letters, "
                            "digits and !#$%%&'*+-.^_`|~",
                            name->text);
        if (cfg_node_is_null(val->pairs[i].value))
            continue;
        /* Counted at once: cfg_free() frees what a failure leaves. */
        struct cfg_header *h = &(*headers)[(*count)++];
        if (cfg_read_text(ctx, "a string", name->text, val->pairs[i].value,
                          &h->value) < 0)
            return -1;
        if (has_control(h->value))
            return cfg_fail(ctx, val->pairs[i].value,
                            "header '%s' contains a control character",
                            name->text);
        if (cfg_dup_string(ctx, &h->name, name->text) < 0)
            return -1;
    }
    return 0;
}

/* One depends_on entry, from a name node and a condition node or NULL. */
static int read_dep(struct cfg_ctx *ctx, const struct cfg_key *key,
                    const struct cfg_node *name, const struct cfg_node *cond,
                    struct cfg_dep *dep)
{
    static const struct cfg_key cond_key = {.name = "depends_on",
                                            .names = cond_names};
    int value = CFG_DEP_STARTED;

    dep->index = CFG_NO_INDEX;
    if (name->kind != CFG_NODE_SCALAR || cfg_node_is_null(name))
        return cfg_fail_expected(ctx, "a service name", key->name, name);
    if (cond != NULL && !cfg_node_is_null(cond) &&
        cfg_value_enum(ctx, &cond_key, cond, &value) < 0)
        return -1;
    dep->cond = (enum cfg_dep_cond)value;
    if (cond == NULL) /* list form: the name is a value, and expanded */
        return cfg_read_text(ctx, "a service name", key->name, name,
                             &dep->name);
    return cfg_dup_string(ctx, &dep->name, name->text);
}

/*
 * depends_on [struct cfg_dep * + count]: {name: started|healthy|completed}
 * or a list of names (each then "started").
 */
int cfg_value_deps(struct cfg_ctx *ctx, const struct cfg_key *key,
                   const struct cfg_node *val, void *field)
{
    struct cfg_dep **deps = field;
    size_t *count = cfg_key_count(key, field);
    bool is_map = val->kind == CFG_NODE_MAP;

    if (val->kind == CFG_NODE_SCALAR)
        return cfg_fail_expected(ctx, "a mapping or a list of service names",
                                 key->name, val);
    *deps = calloc(val->count ? val->count : 1, sizeof(**deps));
    if (*deps == NULL)
        return cfg_fail(ctx, val, "out of memory");
    for (size_t i = 0; i < val->count; i++) {
        const struct cfg_node *name =
            is_map ? val->pairs[i].key : val->items[i];
        const struct cfg_node *cond = is_map ? val->pairs[i].value : NULL;

        (*count)++;
        if (read_dep(ctx, key, name, cond, &(*deps)[i]) < 0)
            return -1;
    }
    return 0;
}

/*
 * listen [char *, in struct cfg_root]: "host:port", ":port" or
 * "[v6]:port"; also sets http.host, http.port and http.listen_mark.
 */
int cfg_value_listen(struct cfg_ctx *ctx, const struct cfg_key *key,
                     const struct cfg_node *val, void *field)
{
    static const char what[] = "host:port, :port or [IPv6]:port";
    struct cfg_root *root = cfg_key_base(key, field);
    char host[256];
    unsigned port;
    struct sockaddr_storage addr;
    char *text;
    int rc;

    if (cfg_read_text(ctx, what, key->name, val, &text) < 0)
        return -1;
    rc = cfg_parse_listen(text, host, sizeof(host), &port);
    if (rc == -ERANGE)
        rc = cfg_fail_expected(ctx, "a port from 0 to 65535", key->name, val);
    else if (rc < 0)
        rc = cfg_fail_expected(ctx, what, key->name, val);
    else if (cfg_listen_addr(host, port, &addr) < 0) /* never a name */
        rc = cfg_fail_expected(
            ctx, "an IP address or localhost before the port", key->name, val);
    if (rc == 0)
        rc = cfg_dup_string(ctx, &root->http.host, host);
    if (rc < 0) {
        free(text);
        return rc;
    }
    root->http.listen = text;
    root->http.listen_mark = val->mark; /* 0:0 for the default */
    root->http.port = port;
    return 0;
}

/* umask [struct cfg_service]: octal, "022" or 022. */
int cfg_value_umask(struct cfg_ctx *ctx, const struct cfg_key *key,
                    const struct cfg_node *val, void *field)
{
    static const char what[] = "an octal umask such as 022";
    struct cfg_service *svc = field;
    char *text;
    int rc;

    if (cfg_read_text(ctx, what, key->name, val, &text) < 0)
        return -1;
    rc = cfg_parse_umask(text, &svc->umask);
    if (rc < 0)
        rc = cfg_fail_expected(ctx, what, key->name, val);
    svc->has_umask = rc == 0;
    free(text);
    return rc;
}

/* The highest ready fd: a descriptor any process may have. */
#define READY_FD_MAX 1023

int cfg_value_ready(struct cfg_ctx *ctx, const struct cfg_key *key,
                    const struct cfg_node *val, void *field)
{
    static const char what[] = "exec, notify or {fd: N} (N from 3 to 1023)";
    static const struct cfg_key fd_key = {"fd", CFG_INT, .min = 3,
                                          .max = READY_FD_MAX};
    struct cfg_service *svc = field;

    if (val->kind != CFG_NODE_MAP) {
        /* The words before "fd", which is a word only in the docs. */
        char *text;
        int rc = -1;
        if (cfg_read_text(ctx, what, key->name, val, &text) < 0)
            return -1;
        for (int i = 0; i < CFG_READY_FD && rc < 0; i++) {
            if (strcmp(text, key->names[i]) == 0) {
                svc->ready = (enum cfg_ready)i;
                rc = 0;
            }
        }
        if (rc < 0)
            cfg_fail_expected(ctx, what, key->name, val);
        free(text);
        return rc;
    }
    if (val->count != 1 || strcmp(val->pairs[0].key->text, "fd") != 0)
        return cfg_fail_expected(ctx, what, key->name, val);
    if (cfg_value_int(ctx, &fd_key, val->pairs[0].value, &svc->ready_fd) < 0)
        return -1;
    svc->ready = CFG_READY_FD;
    return 0;
}

/* user, group [struct cfg_account]: the name, and the text it came from. */
int cfg_value_account(struct cfg_ctx *ctx, const struct cfg_key *key,
                      const struct cfg_node *val, void *field)
{
    struct cfg_account *account = field;

    if (cfg_value_string(ctx, key, val, &account->name) < 0)
        return -1;
    account->mark = val->mark;
    return cfg_dup_string(ctx, &account->written, val->text);
}

/* cwd [char *]: an absolute path. */
int cfg_value_path(struct cfg_ctx *ctx, const struct cfg_key *key,
                   const struct cfg_node *val, void *field)
{
    char **dst = field;

    if (cfg_value_string(ctx, key, val, field) < 0)
        return -1;
    if ((*dst)[0] != '/')
        return cfg_fail_expected(ctx, "an absolute path", key->name, val);
    return 0;
}

/* url [char *]: http:// or https://, a host, a port if any (1-65535). */
int cfg_value_url(struct cfg_ctx *ctx, const struct cfg_key *key,
                  const struct cfg_node *val, void *field)
{
    char **dst = field;
    struct cfg_url url;

    if (cfg_value_string(ctx, key, val, field) < 0)
        return -1;
    if (cfg_parse_url(*dst, &url) < 0 ||
        strpbrk(*dst, " \"<>\\^`{|}") != NULL || has_control(*dst))
        return cfg_fail_expected(ctx, "an http:// or https:// URL", key->name,
                                 val);
    return 0;
}

/* method [char *]: an upper-case HTTP method. */
int cfg_value_method(struct cfg_ctx *ctx, const struct cfg_key *key,
                     const struct cfg_node *val, void *field)
{
    char **dst = field;

    if (cfg_value_string(ctx, key, val, field) < 0)
        return -1;
    if (strspn(*dst, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") != strlen(*dst))
        return cfg_fail_expected(ctx, "an HTTP method such as GET or HEAD",
                                 key->name, val);
    return 0;
}

/* grpc_service [char *]: up to key->max bytes, no control byte. */
int cfg_value_grpc_service(struct cfg_ctx *ctx, const struct cfg_key *key,
                           const struct cfg_node *val, void *field)
{
    char **dst = field;

    if (cfg_value_string(ctx, key, val, field) < 0)
        return -1;
    if (strlen(*dst) > (uint64_t)key->max || has_control(*dst))
        return cfg_fail_expected(
            ctx, "a gRPC service name of up to 1024 printable bytes", key->name,
            val);
    return 0;
}

/* on_failure [bool]: "restart" is the only action. */
int cfg_value_on_failure(struct cfg_ctx *ctx, const struct cfg_key *key,
                         const struct cfg_node *val, void *field)
{
    int action;

    if (cfg_value_enum(ctx, key, val, &action) < 0)
        return -1;
    *(bool *)field = true;
    return 0;
}

/* One forward_signals entry [int]: a signal sidecar lets go of. */
int cfg_value_forward_signal(struct cfg_ctx *ctx, const struct cfg_key *key,
                             const struct cfg_node *val, void *field)
{
    int signo;

    if (cfg_value_signal(ctx, key, val, &signo) < 0)
        return -1;
    for (size_t i = 0; i < ARRAY_SIZE(unforwardable); i++) {
        if (unforwardable[i].signo == signo)
            return cfg_fail(ctx, val, "%s cannot be forwarded: %s",
                            cfg_signal_name(signo), unforwardable[i].why);
    }
    *(int *)field = signo;
    return 0;
}

/* One expect_status entry [struct cfg_status_range]. */
int cfg_value_status(struct cfg_ctx *ctx, const struct cfg_key *key,
                     const struct cfg_node *val, void *field)
{
    static const char what[] =
        "a status from 100 to 599 or a range such as 200-399";
    char *text;
    int rc;

    if (cfg_read_text(ctx, what, key->name, val, &text) < 0)
        return -1;
    rc = cfg_parse_status_range(text, field);
    if (rc < 0)
        rc = cfg_fail_expected(ctx, what, key->name, val);
    free(text);
    return rc;
}
