/*
 * Equality of services and probes (see equal.h): the name, and every key
 * of conf/keys.c whose change restarts the entry, compared as
 * cfg_keys_equal() says.
 */
#include "conf/equal.h"

#include <string.h>

#include "conf/keys.h"

bool cfg_service_equal(const struct cfg_service *a, const struct cfg_service *b)
{
    return strcmp(a->name, b->name) == 0 &&
           cfg_keys_equal(&cfg_service_section, a, b);
}

bool cfg_probe_equal(const struct cfg_probe *a, const struct cfg_probe *b)
{
    return strcmp(a->name, b->name) == 0 &&
           cfg_keys_equal(&cfg_probe_section, a, b);
}
