/*
 * Equality of service and probe definitions, for the diff a reload
 * applies: equal entries keep running untouched. Compares two entries of
 * (possibly different) struct cfg_root models, which keep their memory;
 * positions in the file and indices into a model are not part of it.
 */
#ifndef SIDECAR_CONF_EQUAL_H
#define SIDECAR_CONF_EQUAL_H

#include <stdbool.h>

#include "conf/model.h"

/*
 * True if a and b would run the same process the same way: the same name
 * and every key of conf/keys.c equal (cfg_keys_equal), so depends_on by
 * name and condition (in order), not by index. Strings by content; NULL
 * equals only NULL.
 */
bool cfg_service_equal(const struct cfg_service *a,
                       const struct cfg_service *b);

/*
 * True if a and b are the same check: the same name and every key of
 * conf/keys.c equal, so the bound service by name, not by service_index.
 */
bool cfg_probe_equal(const struct cfg_probe *a, const struct cfg_probe *b);

#endif
