/*
 * A libcurl.so.4 without libcurl's functions (the Makefile builds it into
 * build/test/fakecurl/). With LD_LIBRARY_PATH at that folder, sidecar's
 * dlopen of libcurl finds it and its dlsym fails: what a machine without a
 * usable libcurl does to sidecar, made deterministic (test_libcurl.c).
 */
int sidecar_fake_libcurl(void);

int sidecar_fake_libcurl(void)
{
    return 0;
}
