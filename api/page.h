/*
 * GET /: the status page, for people. Three files of api/ui/ (the page,
 * its script and its style), compiled into the binary with .incbin: no
 * file is read at run time, and the page needs nothing from outside. The
 * page reads /health/details and /events and posts to the write API, as
 * any client does; its policy (PAGE_CSP) lets it load only these files
 * and talk only to this server. Owns nothing but the bytes.
 */
#ifndef SIDECAR_API_PAGE_H
#define SIDECAR_API_PAGE_H

#include <stddef.h>

/* What the page may do: its own script and style, requests to its own
 * server, no inline code, no frames, no forms, no base; data: images for
 * its empty icon only (else the browser asks for /favicon.ico: a 404). */
#define PAGE_CSP                                                               \
    "default-src 'none'; script-src 'self'; style-src 'self'; "                \
    "img-src data:; connect-src 'self'; frame-ancestors 'none'; "              \
    "base-uri 'none'; form-action 'none'"

struct page_file {
    const char *path; /* the URL path it is served at */
    const char *type; /* its Content-Type */
    const char *data;
    size_t len;
};

#define PAGE_FILES 3

/* The i-th file (i < PAGE_FILES): "/", "/ui/app.js", "/ui/app.css". */
struct page_file page_file(size_t i);

/* The index of the file served at path, or PAGE_FILES for none. */
size_t page_find(const char *path);

#endif
