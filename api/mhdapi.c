/* libmicrohttpd through dlopen (see mhdapi.h and base/dlib.h). */
#include "api/mhdapi.h"

#include "base/dlib.h"

struct mhdapi mhdapi;

static bool loaded;
static char why[512];

#define FN(f)                                                                  \
    {                                                                          \
        "MHD_" #f, offsetof(struct mhdapi, f)                                  \
    }

static const struct dlib_sym fns[] = {
    FN(start_daemon),
    FN(stop_daemon),
    FN(quiesce_daemon),
    FN(run),
    FN(get_timeout),
    FN(get_daemon_info),
    FN(get_connection_info),
    FN(get_connection_values),
    FN(lookup_connection_value),
    FN(suspend_connection),
    FN(resume_connection),
    FN(create_response_from_callback),
    FN(create_response_from_buffer),
    FN(add_response_header),
    FN(queue_response),
    FN(destroy_response),
};

int mhdapi_load(void)
{
    struct mhdapi t;
    int rc;

    if (loaded)
        return 0;
    rc = dlib_load(MHDAPI_SONAME, fns, ARRAY_SIZE(fns), &t, why, sizeof(why));
    if (rc < 0)
        return rc;
    mhdapi = t;
    loaded = true;
    return 0;
}

const char *mhdapi_error(void)
{
    return why;
}
