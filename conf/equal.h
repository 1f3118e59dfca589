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
 * True if a and b would run the same process the same way: every field
 * but mark, with depends_on compared by name and condition (in order),
 * not by index. Strings by content; NULL equals only NULL.
 */
bool cfg_service_equal(const struct cfg_service *a,
                       const struct cfg_service *b);

/*
 * True if a and b are the same check: every field but mark, with the
 * bound service compared by name, not by service_index.
 */
bool cfg_probe_equal(const struct cfg_probe *a, const struct cfg_probe *b);

#endif
