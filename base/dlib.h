/*
 * An optional library loaded with dlopen, as systemd loads its own: the
 * library's functions go into a table of function pointers that the
 * caller owns (probes/curlapi.h for libcurl, api/mhdapi.h for
 * libmicrohttpd), so a command that never needs the library never maps
 * it nor its dependencies. Owns nothing.
 */
#ifndef SIDECAR_BASE_DLIB_H
#define SIDECAR_BASE_DLIB_H

#include <stddef.h>

#include "base/util.h"

/* One function of the library, and where its address goes in a table. */
struct dlib_sym {
    const char *name;
    size_t offset;
};

/*
 * dlopens soname (RTLD_NOW: the library's own dependencies resolve here,
 * not in the middle of a request) and stores each of the n symbols at
 * table + syms[i].offset. 0; or -ELIBACC, with "cannot load SONAME:
 * dlerror()" in why, the library closed and table partly written.
 */
int dlib_load(const char *soname, const struct dlib_sym *syms, size_t n,
              void *table, char *why, size_t whylen) ATTR_WUR;

#endif
