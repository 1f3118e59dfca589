/*
 * bench/curlfloor.c — prints figures, asserts nothing (not a test).
 * The "libcurl floor": VmRSS of a bare program, then after dlopen of
 * libcurl.so.4 as sidecar does it (probes/curlapi.c), after
 * curl_global_init, and with N easy handles (argv[1], default 50) with
 * the 1 KiB receive buffer of sidecar's probes (probes/curlkind.c). Built by
 * `make build/bench/curlfloor`.
 */
#define _DEFAULT_SOURCE
#include <curl/curl.h>
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static long rss_kb(void)
{
    char line[256];
    long kb = -1;
    FILE *f = fopen("/proc/self/status", "r");

    while (f && fgets(line, sizeof(line), f)) {
        if (strncmp(line, "VmRSS:", 6) == 0)
            kb = strtol(line + 6, NULL, 10);
    }
    if (f)
        fclose(f);
    return kb;
}

int main(int argc, char **argv)
{
    int n = argc > 1 ? atoi(argv[1]) : 50;
    CURLcode (*global_init)(long);
    CURL *(*easy_init)(void);
    CURLcode (*easy_setopt)(CURL *, CURLoption, ...);
    void *lib;

    printf("bare program             %6ld kB\n", rss_kb());
    lib = dlopen("libcurl.so.4", RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
        fprintf(stderr, "curlfloor: %s\n", dlerror());
        return 1;
    }
    printf("libcurl loaded           %6ld kB\n", rss_kb());
    *(void **)&global_init = dlsym(lib, "curl_global_init");
    *(void **)&easy_init = dlsym(lib, "curl_easy_init");
    *(void **)&easy_setopt = dlsym(lib, "curl_easy_setopt");
    if (!global_init || !easy_init || !easy_setopt ||
        global_init(CURL_GLOBAL_DEFAULT)) {
        fprintf(stderr, "curlfloor: cannot initialise libcurl\n");
        return 1;
    }
    printf("curl_global_init run     %6ld kB\n", rss_kb());
    for (int i = 0; i < n; i++) {
        CURL *easy = easy_init();
        if (!easy || easy_setopt(easy, CURLOPT_BUFFERSIZE, 1024L) != CURLE_OK)
            return 1;
    }
    printf("%4d easy handles         %6ld kB\n", n, rss_kb());
    return 0;
}
