#include "cli/ctl.h"

#include <errno.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/util.h"
#include "cli/client.h"
#include "cli/term.h"
#include "conf/load.h"
#include "conf/parse.h"
#include "conf/schema.h"

#define NO_TOKEN "no token: set $SIDECAR_TOKEN or --token-file"

/* As sidecar reads http.token_file, so that one file serves both. */
static int read_token_file(const char *path, char *out)
{
    struct stat st;
    char why[128];
    char *token;

    if (cfg_read_token_file(path, &token, why, sizeof(why)) < 0) {
        fprintf(stderr, "sidecar: --token-file %s: %s\n", path, why);
        return -1;
    }
    if (stat(path, &st) == 0 && (st.st_mode & S_IROTH))
        fprintf(stderr,
                "sidecar: warning: --token-file %s: every user may read it "
                "(mode %04o); chmod o-r it\n",
                path, (unsigned)(st.st_mode & 07777));
    snprintf(out, CTL_TOKEN_MAX, "%s", token);
    free(token);
    return 0;
}

int ctl_token(const char *token_file, char *out)
{
    const char *from = "--token-file";

    out[0] = '\0';
    if (token_file && read_token_file(token_file, out) < 0)
        return -1;
    if (!token_file) {
        const char *env = getenv("SIDECAR_TOKEN");
        from = "$SIDECAR_TOKEN";
        if (env && strlen(env) >= CTL_TOKEN_MAX) {
            fprintf(stderr, "sidecar: %s: longer than %d bytes\n", from,
                    CTL_TOKEN_MAX - 1);
            return -1;
        }
        snprintf(out, CTL_TOKEN_MAX, "%s", env ? env : "");
    }
    if (cfg_token_bad_byte(out) >= 0) {
        fprintf(stderr,
                "sidecar: %s: the token holds a blank or a control "
                "character\n",
                from);
        return -1;
    }
    return 0;
}

int ctl_refused(const char *what, const char *token, int status, json_t *body)
{
    const char *msg = json_string_value(json_object_get(body, "error"));

    if (status == 401) {
        fprintf(stderr, "sidecar: %s: %s\n", what,
                *token ? "the token was refused" : NO_TOKEN);
        return CTL_EXIT_UNAUTHORISED;
    }
    fprintf(stderr, "sidecar: %s: ", what);
    if (msg)
        term_put(stderr, msg, false);
    else
        fprintf(stderr, "HTTP %d", status);
    fputc('\n', stderr);
    return CTL_EXIT_REFUSED;
}

/*
 * POSTs body to base + path and judges the answer: 0 with the answer's
 * JSON object in *answer on a 2xx, else the exit status,
 * having said why on stderr.
 */
static int post(const char *what, const char *base, const char *path,
                const char *token, const char *body, json_t **answer)
{
    struct buf url;
    struct client_answer a;
    int code = CTL_EXIT_REFUSED;

    *answer = NULL;
    buf_init(&url, 8192);
    if (client_url(&url, base, path) < 0) {
        buf_free(&url);
        fprintf(stderr, "sidecar: %s: too long a URL\n", what);
        return CTL_EXIT_USAGE;
    }
    const struct client_request rq = {
        .method = "POST",
        .url = url.data,
        .token = *token ? token : NULL,
        .body = body,
        .body_len = body ? strlen(body) : 0,
        .accept = "application/json",
    };
    if (client_request(&rq, &a) < 0) {
        fprintf(stderr, "sidecar: %s: no answer from %s: %s\n", what, base,
                a.error);
        code = CTL_EXIT_UNREACHABLE;
        goto out;
    }
    json_t *j = json_loadb(a.body.data ? a.body.data : "", a.body.len, 0, NULL);
    const char *msg = json_string_value(json_object_get(j, "error"));
    if (a.status >= 200 && a.status < 300 && !json_is_object(j)) {
        /* Another server at that URL: nothing was done. */
        fprintf(stderr,
                "sidecar: %s: %s is not sidecar: HTTP %d without its JSON "
                "answer\n",
                what, base, a.status);
        code = CTL_EXIT_UNREACHABLE;
    } else if (a.status >= 200 && a.status < 300) {
        *answer = j;
        code = 0;
    } else if (a.status == 404 && msg && strcmp(msg, "not found") == 0) {
        /* Without http.token the write paths do not exist. */
        fprintf(stderr,
                "sidecar: %s: the write API is off: this sidecar has no "
                "http.token (nor http.token_file)\n",
                what);
    } else {
        code = ctl_refused(what, token, a.status, j);
    }
    if (code != 0)
        json_decref(j);
out:
    client_answer_free(&a);
    buf_free(&url);
    return code;
}

/* "NAME: WHAT (state STATE)" from {"service"|"probe":...,"state":...}. */
static void print_done(const char *name, const char *what, json_t *answer)
{
    const char *state = json_string_value(json_object_get(answer, "state"));

    term_put(stdout, name, false);
    printf(": %s", what);
    if (state) {
        fputs(" (state ", stdout);
        term_put(stdout, state, false);
        fputc(')', stdout);
    }
    fputc('\n', stdout);
}

/* POST /KIND/NAME/ACTION: as post(). */
static int post_to(const char *what, const char *base, const char *token,
                   const char *kind, const char *name, const char *action,
                   const char *body, json_t **answer)
{
    char path[128];

    /* The config's own rule: a name it refuses cannot be on sidecar. Its
     * bytes are all URL-safe, so it goes into the path as it is. */
    if (!cfg_name_valid(name)) {
        fprintf(stderr,
                "sidecar: %s: no %s can be named that: names are up to 63 "
                "letters, digits, '.', '_' or '-', starting with a letter "
                "or digit\n",
                what, strcmp(kind, "probes") == 0 ? "probe" : "service");
        return CTL_EXIT_USAGE;
    }
    snprintf(path, sizeof(path), "/%s/%s/%s", kind, name, action);
    return post(what, base, path, token, body, answer);
}

int ctl_service(const char *base, const char *token, const char *action,
                const char *name)
{
    static const char *const doing[][2] = {
        {"restart", "restarting"}, {"stop", "stopping"}, {"start", "starting"}};
    char what[256];
    json_t *answer;

    snprintf(what, sizeof(what), "%s %s", action, name);
    int code =
        post_to(what, base, token, "services", name, action, NULL, &answer);
    if (code != 0)
        return code;
    for (size_t i = 0; i < ARRAY_SIZE(doing); i++) {
        if (strcmp(doing[i][0], action) == 0)
            print_done(name, doing[i][1], answer);
    }
    json_decref(answer);
    return 0;
}

int ctl_probe(const char *base, const char *token, const char *verdict,
              const char *name, const char *reason)
{
    char what[256];
    json_t *answer;

    snprintf(what, sizeof(what), "probe %s %s", verdict, name);
    int code =
        post_to(what, base, token, "probes", name, verdict, reason, &answer);
    if (code != 0)
        return code;
    print_done(name, strcmp(verdict, "pass") == 0 ? "passed" : "failed",
               answer);
    json_decref(answer);
    return 0;
}

/* " added a, b" for a non-empty list; whether it printed. */
static bool put_list(FILE *out, json_t *changes, const char *key, bool more)
{
    json_t *list = json_object_get(changes, key);
    json_t *v;
    size_t i;

    if (!json_array_size(list))
        return more;
    fprintf(out, "%s %s ", more ? ";" : "", key);
    json_array_foreach(list, i, v)
    {
        if (i)
            fputs(", ", out);
        term_put(out, json_string_value(v) ? json_string_value(v) : "?", false);
    }
    return true;
}

void ctl_put_changes(FILE *out, json_t *changes)
{
    static const char *const keys[] = {"added", "removed", "changed",
                                       "settings"};
    bool any = false;

    for (size_t i = 0; i < ARRAY_SIZE(keys); i++)
        any = put_list(out, changes, keys[i], any);
    if (!any)
        fputs(" nothing changed", out);
}

int ctl_reload(const char *base, const char *token)
{
    json_t *answer;

    int code = post("reload", base, "/reload", token, NULL, &answer);
    if (code != 0)
        return code;
    fputs("reloaded:", stdout);
    ctl_put_changes(stdout, answer);
    fputc('\n', stdout);
    json_decref(answer);
    return 0;
}
