/*
 * A libmicrohttpd.so.12 without libmicrohttpd's functions (the Makefile
 * builds it into build/test/fakemhd/). With LD_LIBRARY_PATH at that
 * folder, sidecar's dlopen of libmicrohttpd finds it and its dlsym fails:
 * what a machine without a usable libmicrohttpd does to sidecar, made
 * deterministic (test_libmicrohttpd.c).
 */
int sidecar_fake_libmicrohttpd(void);

int sidecar_fake_libmicrohttpd(void)
{
    return 0;
}
