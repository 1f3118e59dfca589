/*
 * cfg-keys: prints the rows of conf/keys.c, the schema of sidecar.yaml,
 * one key a line, for test/packaging/check-man to hold the man page to:
 *
 *   WHERE <TAB> KEY <TAB> KIND <TAB> DEFAULT <TAB> REQUIRED <TAB> CHANGE
 *   <TAB> DOC
 *
 * WHERE is top, service, probe, or probe:TYPE for a key of one probe type
 * (one line per type); KEY is the path within it (http.listen,
 * backoff.initial); DEFAULT is as the file would write it, "-" if none;
 * REQUIRED is "required" or "-"; CHANGE is what a change does on reload:
 * restart, apply or none. Exits 1 if a row has no doc line.
 */
#include <stdio.h>
#include <string.h>

#include "conf/keys.h"

static const char *const changes[] = {"restart", "apply", "none"};

static int print_section(const struct cfg_section *section, const char *where,
                         const char *prefix, const char *const *types)
{
    int rc = 0;

    for (size_t i = 0; i < section->count; i++) {
        const struct cfg_key *k = &section->keys[i];
        char path[128];

        snprintf(path, sizeof(path), "%s%s%s", prefix, *prefix ? "." : "",
                 k->name);
        if (k->doc == NULL || *k->doc == '\0') {
            fprintf(stderr, "cfg-keys: %s %s has no doc line\n", where, path);
            rc = 1;
        }
        for (unsigned t = 0; types != NULL && types[t] != NULL; t++) {
            if (k->types == 0 || !(k->types & CFG_PROBE_BIT(t)))
                continue;
            printf("%s:%s\t%s\t%s\t%s\t%s\t%s\t%s\n", where, types[t], path,
                   cfg_kind_name(k->kind), k->def ? k->def : "-",
                   k->flags & CFG_KEY_REQUIRED ? "required" : "-",
                   changes[k->change], k->doc ? k->doc : "");
        }
        if (k->types == 0)
            printf("%s\t%s\t%s\t%s\t%s\t%s\t%s\n", where, path,
                   cfg_kind_name(k->kind), k->def ? k->def : "-",
                   k->flags & CFG_KEY_REQUIRED ? "required" : "-",
                   changes[k->change], k->doc ? k->doc : "");
        if (k->kind == CFG_SECTION)
            rc |= print_section(k->section, where, path, types);
    }
    return rc;
}

int main(void)
{
    /* The probe types by value: the names of the probe's type row. */
    const struct cfg_key *type = &cfg_probe_section.keys[0];
    int rc;

    if (strcmp(type->name, "type") != 0) {
        fprintf(stderr, "cfg-keys: the first probe key is not 'type'\n");
        return 1;
    }
    rc = print_section(&cfg_top_section, "top", "", NULL);
    rc |= print_section(&cfg_service_section, "service", "", NULL);
    rc |= print_section(&cfg_probe_section, "probe", "", type->names);
    return rc;
}
