/*
 * libcurl through dlopen (see curlapi.h), as systemd loads its optional
 * libraries: RTLD_NOW resolves libcurl's own dependencies at once, so a
 * broken install fails here, at load, and not in the middle of a check.
 */
#include "probes/curlapi.h"

#include <errno.h>
#include <stdio.h>

#include "base/dlib.h"

struct curlapi curlapi;

static bool loaded;
static char why[512];

#define FN(f)                                                                  \
    {                                                                          \
        "curl_" #f, offsetof(struct curlapi, f)                                \
    }

static const struct dlib_sym fns[] = {
    FN(easy_init),           FN(easy_setopt),         FN(easy_getinfo),
    FN(easy_perform),        FN(easy_cleanup),        FN(easy_strerror),
    FN(multi_init),          FN(multi_setopt),        FN(multi_add_handle),
    FN(multi_remove_handle), FN(multi_socket_action), FN(multi_info_read),
    FN(multi_assign),        FN(multi_cleanup),       FN(slist_append),
    FN(slist_free_all),      FN(version_info),        FN(global_init),
    FN(global_cleanup),
};

int curlapi_load(void)
{
    struct curlapi t;
    int rc;

    if (loaded)
        return 0;
    rc = dlib_load(CURLAPI_SONAME, fns, ARRAY_SIZE(fns), &t, why, sizeof(why));
    if (rc < 0)
        return rc;
    /* Once, before any handle: curl's own set-up is not lazy-safe. A
     * failed one may leave state behind: the library stays mapped. */
    if (t.global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        snprintf(why, sizeof(why),
                 "cannot load " CURLAPI_SONAME ": curl_global_init failed");
        return -ELIBACC;
    }
    curlapi = t;
    loaded = true;
    return 0;
}

const char *curlapi_error(void)
{
    return why;
}

bool curlapi_loaded(void)
{
    return loaded;
}

void curlapi_cleanup(void)
{
    if (loaded)
        curlapi.global_cleanup();
}
