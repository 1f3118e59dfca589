/*
 * libcurl, loaded when first needed: sidecar does not link it, so a
 * config without an http probe never maps libcurl's dependency tree
 * (krb5, ldap, ssh2, OpenSSL, ...) nor runs its set-up. curlapi_load()
 * dlopens CURLAPI_SONAME, resolves every function sidecar calls into the
 * table `curlapi` and runs curl_global_init, once; callers then call
 * curlapi.easy_init() where they would call curl_easy_init(). Types and
 * constants still come from <curl/curl.h>. No symbol here is named like
 * libcurl's own: libcurl would bind to it.
 */
#ifndef SIDECAR_PROBES_CURLAPI_H
#define SIDECAR_PROBES_CURLAPI_H

#include <curl/curl.h>
#include <stdbool.h>

#include "base/util.h"

/* Debian's libcurl4 (the OpenSSL flavour the headers come from). */
#define CURLAPI_SONAME "libcurl.so.4"

struct curlapi {
    CURL *(*easy_init)(void);
    CURLcode (*easy_setopt)(CURL *, CURLoption, ...);
    CURLcode (*easy_getinfo)(CURL *, CURLINFO, ...);
    CURLcode (*easy_perform)(CURL *);
    void (*easy_cleanup)(CURL *);
    const char *(*easy_strerror)(CURLcode);
    CURLM *(*multi_init)(void);
    CURLMcode (*multi_setopt)(CURLM *, CURLMoption, ...);
    CURLMcode (*multi_add_handle)(CURLM *, CURL *);
    CURLMcode (*multi_remove_handle)(CURLM *, CURL *);
    CURLMcode (*multi_socket_action)(CURLM *, curl_socket_t, int, int *);
    CURLMsg *(*multi_info_read)(CURLM *, int *);
    CURLMcode (*multi_assign)(CURLM *, curl_socket_t, void *);
    CURLMcode (*multi_cleanup)(CURLM *);
    struct curl_slist *(*slist_append)(struct curl_slist *, const char *);
    void (*slist_free_all)(struct curl_slist *);
    curl_version_info_data *(*version_info)(CURLversion);
    CURLcode (*global_init)(long);
    void (*global_cleanup)(void);
};

/* Valid once curlapi_load() returned 0. */
extern struct curlapi curlapi;

/*
 * Loads libcurl and runs curl_global_init, the first time; 0 then and
 * ever after. -ELIBACC when it cannot (curlapi_error() says why); a later
 * call tries again, so a reload after installing libcurl4 works.
 */
int curlapi_load(void) ATTR_WUR;

/* Why the last curlapi_load() failed: names the library and dlerror(). */
const char *curlapi_error(void);

/* Whether libcurl is loaded and initialised. */
bool curlapi_loaded(void);

/* curl_global_cleanup, at exit, if loaded; the library stays mapped. */
void curlapi_cleanup(void);

#endif
