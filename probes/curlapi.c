/*
 * libcurl through dlopen (see curlapi.h), as systemd loads its optional
 * libraries: RTLD_NOW resolves libcurl's own dependencies at once, so a
 * broken install fails here, at load, and not in the middle of a check.
 */
#include "probes/curlapi.h"

#include <dlfcn.h>
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

struct curlapi curlapi;

static bool loaded;
static char why[512];

#define FN(f)                                                                  \
    {                                                                          \
        "curl_" #f, offsetof(struct curlapi, f)                                \
    }

static const struct {
    const char *name;
    size_t offset;
} fns[] = {
    FN(easy_init),           FN(easy_setopt),         FN(easy_getinfo),
    FN(easy_perform),        FN(easy_cleanup),        FN(easy_strerror),
    FN(multi_init),          FN(multi_setopt),        FN(multi_add_handle),
    FN(multi_remove_handle), FN(multi_socket_action), FN(multi_info_read),
    FN(multi_assign),        FN(multi_cleanup),       FN(slist_append),
    FN(slist_free_all),      FN(version_info),        FN(global_init),
    FN(global_cleanup),
};

static int fail(void *lib, const char *detail)
{
    snprintf(why, sizeof(why), "cannot load " CURLAPI_SONAME ": %s",
             detail ? detail : "unknown error");
    if (lib)
        (void)dlclose(lib);
    return -ELIBACC;
}

int curlapi_load(void)
{
    struct curlapi t;
    void *lib;

    if (loaded)
        return 0;
    lib = dlopen(CURLAPI_SONAME, RTLD_NOW | RTLD_LOCAL);
    if (lib == NULL)
        return fail(NULL, dlerror());
    for (size_t i = 0; i < ARRAY_SIZE(fns); i++) {
        void *sym;

        (void)dlerror();
        sym = dlsym(lib, fns[i].name);
        if (sym == NULL)
            return fail(lib, dlerror());
        /* POSIX: a function's address round-trips through void *. */
        memcpy((char *)&t + fns[i].offset, &sym, sizeof(sym));
    }
    /* Once, before any handle: curl's own set-up is not lazy-safe. */
    if (t.global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        return fail(lib, "curl_global_init failed");
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
