/*
 * struct file_watch: tells its owner that the config file may have changed.
 * Watches, with one inotify instance, the directory of the path, that of
 * the file it resolves to, and that file itself (again after each rename
 * or symlink swap): in-place edits, also by another path (a single-file
 * bind mount, whose directory here sees nothing), renames over it and
 * Kubernetes ConfigMap symlink swaps are all seen; other files written
 * beside it are not. Owns the inotify fd; embeds an ev_io on it, ev_timers
 * for the settle and its deadline, and one retrying lost watches.
 */
#ifndef SIDECAR_SIDECAR_WATCH_H
#define SIDECAR_SIDECAR_WATCH_H

#include <stddef.h>

#include "base/util.h"

struct ev_loop;
struct file_watch;

/* "The file may have changed: read it again." Spurious calls happen. */
typedef void file_watch_fn(void *arg);

/*
 * Watches path (copied; create it before the first read); fn(arg) runs on
 * the loop once a burst of changes has been quiet for settle_s (> 0), or
 * max_delay_s (>= settle_s) after its first change if it goes on, never
 * before this returns. NULL with a message in errbuf (no inotify, no dir).
 */
struct file_watch *file_watch_new(struct ev_loop *loop, const char *path,
                                  double settle_s, double max_delay_s,
                                  file_watch_fn *fn, void *arg, char *errbuf,
                                  size_t errlen) ATTR_WUR;

/*
 * Stops every watcher, closes the fd and frees; fn is never called after
 * this. May be called from fn. file_watch_free(NULL) is a no-op.
 */
void file_watch_free(struct file_watch *w);

#endif
