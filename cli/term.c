#include "cli/term.h"

void term_put(FILE *out, const char *s, bool first_line)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        bool c1 = p[0] == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f;
        if (first_line && *p == '\n')
            break;
        fputc(*p < 0x20 || *p == 0x7f || c1 ? '?' : *p, out);
        p += c1;
    }
}
