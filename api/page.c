#include "api/page.h"

#include <string.h>

/*
 * Each file's bytes between two symbols, put into .rodata by the
 * assembler: it reads the file at build time from the directory the
 * compiler runs in (the top of the tree; the Makefile rebuilds this
 * object when a file of api/ui/ changes). Hidden: no PLT, no GOT.
 */
#define UI_FILE(sym, file)                                                     \
    __asm__(".pushsection .rodata\n"                                           \
            ".globl " #sym "\n.hidden " #sym "\n"                              \
            ".globl " #sym "_end\n.hidden " #sym "_end\n" #sym ":\n"           \
            ".incbin \"" file "\"\n" #sym "_end:\n"                            \
            ".popsection\n");                                                  \
    extern const char sym[] __attribute__((visibility("hidden")));             \
    extern const char sym##_end[] __attribute__((visibility("hidden")))

UI_FILE(page_ui_html, "api/ui/index.html");
UI_FILE(page_ui_js, "api/ui/app.js");
UI_FILE(page_ui_css, "api/ui/app.css");

static const struct {
    const char *path;
    const char *type;
    const char *start;
    const char *end;
} files[PAGE_FILES] = {
    {"/", "text/html; charset=utf-8", page_ui_html, page_ui_html_end},
    {"/ui/app.js", "text/javascript; charset=utf-8", page_ui_js,
     page_ui_js_end},
    {"/ui/app.css", "text/css; charset=utf-8", page_ui_css, page_ui_css_end},
};

struct page_file page_file(size_t i)
{
    return (struct page_file){files[i].path, files[i].type, files[i].start,
                              (size_t)(files[i].end - files[i].start)};
}

size_t page_find(const char *path)
{
    size_t i = 0;
    while (i < PAGE_FILES && strcmp(files[i].path, path) != 0)
        i++;
    return i;
}
