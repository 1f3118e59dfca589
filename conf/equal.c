/*
 * Field by field equality of services and probes (see equal.h), in the
 * order of conf/model.h. Left out: the marks (edits move them),
 * deps[].index and service_index (adding or removing another service
 * shifts them; the names they resolve are compared instead). Arrays are equal
 * when their lengths and their entries, in order, are.
 */
#include "conf/equal.h"

#include <stddef.h>
#include <string.h>

/* By content; NULL (unset) is not "". */
static bool str_equal(const char *a, const char *b)
{
    if (a == NULL || b == NULL)
        return a == b;
    return strcmp(a, b) == 0;
}

static bool strs_equal(char *const *a, size_t a_count, char *const *b,
                       size_t b_count)
{
    if (a_count != b_count)
        return false;
    for (size_t i = 0; i < a_count; i++) {
        if (!str_equal(a[i], b[i]))
            return false;
    }
    return true;
}

static bool ints_equal(const int *a, size_t a_count, const int *b,
                       size_t b_count)
{
    if (a_count != b_count)
        return false;
    for (size_t i = 0; i < a_count; i++) {
        if (a[i] != b[i])
            return false;
    }
    return true;
}

static bool command_equal(const struct cfg_command *a,
                          const struct cfg_command *b)
{
    return a->shell == b->shell &&
           strs_equal(a->argv, a->argc, b->argv, b->argc);
}

static bool backoff_equal(const struct cfg_backoff *a,
                          const struct cfg_backoff *b)
{
    return a->initial_ms == b->initial_ms && a->max_ms == b->max_ms &&
           a->reset_after_ms == b->reset_after_ms;
}

/* By name and condition, in order; the index is the model's own. */
static bool deps_equal(const struct cfg_service *a, const struct cfg_service *b)
{
    if (a->deps_count != b->deps_count)
        return false;
    for (size_t i = 0; i < a->deps_count; i++) {
        if (!str_equal(a->deps[i].name, b->deps[i].name) ||
            a->deps[i].cond != b->deps[i].cond)
            return false;
    }
    return true;
}

static bool headers_equal(const struct cfg_probe *a, const struct cfg_probe *b)
{
    if (a->headers_count != b->headers_count)
        return false;
    for (size_t i = 0; i < a->headers_count; i++) {
        if (!str_equal(a->headers[i].name, b->headers[i].name) ||
            !str_equal(a->headers[i].value, b->headers[i].value))
            return false;
    }
    return true;
}

static bool status_equal(const struct cfg_probe *a, const struct cfg_probe *b)
{
    if (a->expect_status_count != b->expect_status_count)
        return false;
    for (size_t i = 0; i < a->expect_status_count; i++) {
        if (a->expect_status[i].lo != b->expect_status[i].lo ||
            a->expect_status[i].hi != b->expect_status[i].hi)
            return false;
    }
    return true;
}

bool cfg_service_equal(const struct cfg_service *a, const struct cfg_service *b)
{
    return str_equal(a->name, b->name) && a->role == b->role &&
           command_equal(&a->command, &b->command) &&
           strs_equal(a->env, a->env_count, b->env, b->env_count) &&
           str_equal(a->cwd, b->cwd) && str_equal(a->user.name, b->user.name) &&
           str_equal(a->group.name, b->group.name) &&
           a->has_umask == b->has_umask && a->umask == b->umask &&
           a->restart == b->restart &&
           ints_equal(a->success_exit_codes, a->success_exit_codes_count,
                      b->success_exit_codes, b->success_exit_codes_count) &&
           backoff_equal(&a->backoff, &b->backoff) &&
           a->max_restarts == b->max_restarts &&
           a->restart_window_ms == b->restart_window_ms &&
           a->stop_signal == b->stop_signal &&
           a->stop_timeout_ms == b->stop_timeout_ms &&
           a->essential == b->essential && deps_equal(a, b) &&
           ints_equal(a->forward_signals, a->forward_signals_count,
                      b->forward_signals, b->forward_signals_count);
}

bool cfg_probe_equal(const struct cfg_probe *a, const struct cfg_probe *b)
{
    return str_equal(a->name, b->name) && a->type == b->type &&
           str_equal(a->service, b->service) &&
           a->importance == b->importance && a->period_ms == b->period_ms &&
           a->timeout_ms == b->timeout_ms &&
           a->initial_delay_ms == b->initial_delay_ms &&
           a->failure_threshold == b->failure_threshold &&
           a->success_threshold == b->success_threshold &&
           a->restart_on_failure == b->restart_on_failure &&
           a->start_period_ms == b->start_period_ms &&
           str_equal(a->url, b->url) && str_equal(a->method, b->method) &&
           headers_equal(a, b) && status_equal(a, b) &&
           str_equal(a->expect_body, b->expect_body) &&
           a->insecure == b->insecure &&
           a->follow_redirects == b->follow_redirects &&
           str_equal(a->host, b->host) && a->port == b->port &&
           command_equal(&a->command, &b->command) && a->ttl_ms == b->ttl_ms;
}
