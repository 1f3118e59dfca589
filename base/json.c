#include "base/json.h"

#include <stdbool.h>

static const char hex[] = "0123456789abcdef";

size_t json_utf8_seq_len(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    size_t len;
    unsigned min;
    unsigned cp;

    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf) {
        len = 2;
        min = 0x80;
        cp = c & 0x1f;
    } else if (c >= 0xe0 && c <= 0xef) {
        len = 3;
        min = 0x800;
        cp = c & 0x0f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        len = 4;
        min = 0x10000;
        cp = c & 0x07;
    } else {
        return 0;
    }
    if (n < len)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return len;
}

size_t json_utf8_cut(const char *p, size_t max)
{
    for (size_t back = 1; back <= 3 && back <= max; back++) {
        unsigned char c = (unsigned char)p[max - back];
        if ((c & 0xc0) == 0x80)
            continue; /* continuation byte: keep looking for the lead */
        size_t need = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc0 ? 2 : 1;
        return need > back && back < max ? max - back : max;
    }
    return max;
}

static bool plain(unsigned char c)
{
    return c >= 0x20 && c < 0x80 && c != '"' && c != '\\';
}

static int put_escape(struct buf *b, unsigned char c)
{
    char esc[6] = {'\\', 0, 0, 0, 0, 0};
    size_t n = 2;

    switch (c) {
    case '"':
        esc[1] = '"';
        break;
    case '\\':
        esc[1] = '\\';
        break;
    case '\n':
        esc[1] = 'n';
        break;
    case '\r':
        esc[1] = 'r';
        break;
    case '\t':
        esc[1] = 't';
        break;
    case '\b':
        esc[1] = 'b';
        break;
    case '\f':
        esc[1] = 'f';
        break;
    default:
        esc[1] = 'u';
        esc[2] = '0';
        esc[3] = '0';
        esc[4] = hex[c >> 4];
        esc[5] = hex[c & 0xf];
        n = 6;
        break;
    }
    return buf_append(b, esc, n);
}

int json_put_string(struct buf *b, const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t start_len = b->len;
    size_t i = 0;
    int rc = buf_append(b, "\"", 1);

    while (rc == 0 && i < n) {
        size_t run = i;
        while (run < n && plain(p[run]))
            run++;
        if (run > i) {
            rc = buf_append(b, p + i, run - i);
            i = run;
            continue;
        }
        if (p[i] < 0x80) {
            rc = put_escape(b, p[i]);
            i++;
            continue;
        }
        size_t len = json_utf8_seq_len(p + i, n - i);
        if (len) {
            rc = buf_append(b, p + i, len);
            i += len;
        } else {
            rc = buf_append(b, "\\ufffd", 6);
            i++;
        }
    }
    if (rc == 0)
        rc = buf_append(b, "\"", 1);
    if (rc < 0)
        buf_truncate(b, start_len);
    return rc;
}
