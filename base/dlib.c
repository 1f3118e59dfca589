#include "base/dlib.h"

#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

static int fail(void *lib, const char *soname, const char *detail, char *why,
                size_t whylen)
{
    snprintf(why, whylen, "cannot load %s: %s", soname,
             detail ? detail : "unknown error");
    if (lib)
        (void)dlclose(lib);
    return -ELIBACC;
}

int dlib_load(const char *soname, const struct dlib_sym *syms, size_t n,
              void *table, char *why, size_t whylen)
{
    void *lib = dlopen(soname, RTLD_NOW | RTLD_LOCAL);

    if (lib == NULL)
        return fail(NULL, soname, dlerror(), why, whylen);
    for (size_t i = 0; i < n; i++) {
        void *sym;

        (void)dlerror();
        sym = dlsym(lib, syms[i].name);
        if (sym == NULL)
            return fail(lib, soname, dlerror(), why, whylen);
        /* POSIX: a function's address round-trips through void *. */
        memcpy((char *)table + syms[i].offset, &sym, sizeof(sym));
    }
    return 0;
}
