/*
 * Loading config text in unit tests, shared by the conf suites: as file
 * "inline.yaml", so messages and positions are those a user would see.
 * The returned models are the caller's (cfg_free()).
 */
#ifndef SIDECAR_TEST_UNIT_CFGTEST_H
#define SIDECAR_TEST_UNIT_CFGTEST_H

#include "conf/load.h"

/* The model of text, or NULL with err filled. */
struct cfg_root *ut_load(const char *text, struct cfg_error *err);

/* The model of text; the test fails, saying the error, when it does not
 * load. */
struct cfg_root *ut_load_ok(const char *text);

/* What cfg_error_print() prints for text, which must not load (a static
 * buffer, until the next call); the errors into *err unless NULL. */
const char *ut_error_printed(const char *text, struct cfg_error *err);

/* text does not load, and its first error is msg at line:col. */
void ut_expect_error(const char *text, unsigned line, unsigned col,
                     const char *msg);

#endif
