#include "sidecar/watch.h"

#include <assert.h>
#include <errno.h>
#include <ev.h>
#include <limits.h>
#include <stdalign.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <unistd.h>

#include "base/log.h"

/*
 * Directories see a rename over the file (a new inode), which a watch on
 * the file would miss; the file's own watch sees writes that reach it by
 * another path (a single-file bind mount: its directory here gets no
 * event). Never IN_OPEN or IN_ACCESS: reading the file must not fire.
 */
#define WATCH_MASK                                                             \
    (IN_CLOSE_WRITE | IN_MODIFY | IN_MOVED_TO | IN_MOVED_FROM | IN_CREATE |    \
     IN_DELETE | IN_DELETE_SELF | IN_MOVE_SELF | IN_ATTRIB | IN_ONLYDIR)
#define WATCH_FILE_MASK                                                        \
    (IN_CLOSE_WRITE | IN_MODIFY | IN_DELETE_SELF | IN_MOVE_SELF | IN_ATTRIB)
#define WATCH_RETRY_S   1.0
#define WATCH_MAX_LINKS 40 /* as the kernel's MAXSYMLINKS */
#define WATCH_READ_SIZE 4096

struct file_watch {
    struct ev_loop *loop;
    file_watch_fn *fn;
    void *arg;
    char *path;
    char *dir;      /* the directory of path, as written */
    int fd;         /* the inotify instance */
    int dir_wd;     /* on dir; -1 while it is missing */
    int target_wd;  /* on the resolved file's directory, or -1; may be dir_wd */
    int file_wd;    /* on the file path leads to now, or -1 */
    int dir_err;    /* errno of the last attempt at each watch, 0 if none: */
    int target_err; /* changes are logged once */
    int file_err;
    char target_name[NAME_MAX + 1]; /* the one name that counts there */
    /* The names that count in dir: path's own, and the one its symlink
     * goes through (a ConfigMap's ..data), "" if none. */
    char name[NAME_MAX + 1];
    char via[NAME_MAX + 1];
    ev_io io;
    ev_timer settle_w;
    ev_timer deadline_w; /* from a burst's first event: bounds the settle */
    double max_delay_s;  /* deadline_w's whole length */
    ev_timer retry_w;
};

/*
 * Copies the directory part of p into dir ("." if none, "/" for the root)
 * and returns the last component, or NULL if dir is too small.
 */
static const char *split(const char *p, char *dir, size_t dirlen)
{
    const char *slash = strrchr(p, '/');
    if (!slash) {
        if (dirlen < 2)
            return NULL;
        memcpy(dir, ".", 2);
        return p;
    }
    size_t n = (size_t)(slash - p);
    while (n > 0 && p[n - 1] == '/')
        n--;
    if (n == 0)
        n = 1; /* "/name": the root */
    if (n >= dirlen)
        return NULL;
    memcpy(dir, p, n);
    dir[n] = '\0';
    return slash + 1;
}

/*
 * Where path leads: follows the symlinks at its end, even to a file that
 * does not exist (yet). 0 with that file's directory in dir (PATH_MAX
 * bytes) and its name in name, or -errno. Symlinks within the directory
 * part (a ConfigMap's ..data) are left to inotify_add_watch to follow.
 */
static int resolve(const char *path, char *dir, char *name)
{
    char cur[PATH_MAX];
    char link[PATH_MAX];
    size_t len = strlen(path);
    if (len >= sizeof(cur))
        return -ENAMETOOLONG;
    memcpy(cur, path, len + 1);
    for (int hops = 0;; hops++) {
        ssize_t n = readlink(cur, link, sizeof(link));
        if (n < 0 && (errno == EINVAL || errno == ENOENT))
            break; /* not a symlink, or nothing there yet */
        if (n < 0)
            return -errno;
        if (hops == WATCH_MAX_LINKS)
            return -ELOOP;
        if ((size_t)n == sizeof(link))
            return -ENAMETOOLONG;
        link[n] = '\0';
        if (link[0] == '/') {
            memcpy(cur, link, (size_t)n + 1);
            continue;
        }
        /* Relative to the link's own directory. */
        if (!split(cur, dir, PATH_MAX))
            return -ENAMETOOLONG;
        int m = snprintf(cur, sizeof(cur), "%s/%s", dir, link);
        if (m < 0 || (size_t)m >= sizeof(cur))
            return -ENAMETOOLONG;
    }
    const char *base = split(cur, dir, PATH_MAX);
    if (!base || strlen(base) > NAME_MAX)
        return -ENAMETOOLONG;
    memcpy(name, base, strlen(base) + 1);
    return 0;
}

/*
 * The name in path's directory that path's own symlink goes through, or
 * "": "..data" for a ConfigMap's "..data/sidecar.yaml". Renaming another
 * link over it (the ConfigMap swap) changes where path leads.
 */
static void find_via(const char *path, char *via)
{
    char link[PATH_MAX];
    via[0] = '\0';
    ssize_t n = readlink(path, link, sizeof(link) - 1);
    if (n <= 0 || link[0] == '/')
        return; /* not a symlink, or not into path's directory */
    link[n] = '\0';
    const char *p = link;
    while (strncmp(p, "./", 2) == 0)
        p += 2;
    size_t len = strcspn(p, "/");
    if (len == 0 || len > NAME_MAX || strncmp(p, "..", len) == 0)
        return; /* "." or "..": not a name in the directory */
    memcpy(via, p, len);
    via[len] = '\0';
}

/* strerror(), but ENOSPC from inotify_add_watch is not about disk space. */
static const char *watch_strerror(int err)
{
    if (err == ENOSPC)
        return "inotify watch limit reached (fs.inotify.max_user_watches)";
    return strerror(err);
}

static bool is_missing(int err)
{
    return err == ENOENT || err == ENOTDIR;
}

/*
 * Logs a watch that cannot be added, and its coming back, once per change.
 * A missing target directory is only debug: the read of the file says so.
 */
static void note(int *last, int err, bool quiet_missing, const char *what,
                 const char *path)
{
    if (err == *last)
        return;
    bool warned = *last && !(quiet_missing && is_missing(*last));
    *last = err;
    if (err && !(quiet_missing && is_missing(err)))
        LOG_WARN("cannot watch for config changes; retrying every second",
                 LF_STR("watch", what), LF_STR("path", path),
                 LF_STR("error", watch_strerror(err)));
    else if (err)
        LOG_DEBUG("config watch target missing", LF_STR("path", path),
                  LF_STR("error", strerror(err)));
    else if (warned)
        LOG_INFO("watching for config changes again", LF_STR("watch", what),
                 LF_STR("path", path));
}

static void unwatch(struct file_watch *w, int wd)
{
    /* EINVAL: the kernel dropped it already (its IN_IGNORED is queued). */
    if (inotify_rm_watch(w->fd, wd) < 0 && errno != EINVAL)
        LOG_WARN("cannot remove an inotify watch", LF_STR("path", w->path),
                 LF_STR("error", strerror(errno)));
}

static bool in_use(const struct file_watch *w, int wd)
{
    return wd == w->dir_wd || wd == w->target_wd || wd == w->file_wd;
}

/*
 * Puts the watches where path leads now: after a rename, a lost directory,
 * an overflow (an IN_IGNORED may be lost) or a symlink repointed. Adding a
 * watch to an inode watched already returns its wd, so in the steady state
 * nothing changes, and a new wd means the directory or file was replaced:
 * the watches no longer needed are removed (an old file kept under another
 * name must not fire).
 */
static void rewatch(struct file_watch *w)
{
    int old[] = {w->dir_wd, w->target_wd, w->file_wd};
    char tdir[PATH_MAX];

    w->dir_wd = inotify_add_watch(w->fd, w->dir, WATCH_MASK);
    note(&w->dir_err, w->dir_wd < 0 ? errno : 0, false, "directory", w->dir);
    find_via(w->path, w->via);

    int rc = resolve(w->path, tdir, w->target_name);
    if (rc == 0) {
        w->target_wd = inotify_add_watch(w->fd, tdir, WATCH_MASK);
        if (w->target_wd < 0)
            rc = -errno;
    } else {
        w->target_wd = -1;
    }
    note(&w->target_err, -rc, true, "target", w->path);
    if (rc == 0 && w->target_wd != old[1])
        LOG_DEBUG("watching config target", LF_STR("dir", tdir),
                  LF_STR("name", w->target_name));

    /* Through every symlink, to the file's inode; IN_MASK_ADD: should it
     * be a directory watched already, its mask is not narrowed. */
    w->file_wd =
        inotify_add_watch(w->fd, w->path, WATCH_FILE_MASK | IN_MASK_ADD);
    note(&w->file_err, w->file_wd < 0 ? errno : 0, true, "file", w->path);

    for (size_t i = 0; i < sizeof(old) / sizeof(old[0]); i++) {
        bool keep = old[i] < 0 || in_use(w, old[i]);
        for (size_t j = 0; j < i && !keep; j++)
            keep = old[j] == old[i]; /* removed already */
        if (!keep)
            unwatch(w, old[i]);
    }
}

/*
 * Retries every second while a directory to watch is missing, or the file
 * is there but cannot be watched (a missing file is seen when it comes).
 */
static void schedule_retry(struct file_watch *w)
{
    bool missing = w->dir_wd < 0 || w->target_wd < 0 ||
                   (w->file_wd < 0 && !is_missing(w->file_err));
    if (missing && !ev_is_active(&w->retry_w))
        ev_timer_start(w->loop, &w->retry_w);
    else if (!missing)
        ev_timer_stop(w->loop, &w->retry_w);
}

/* Whether name, in the directory of the path as written, is on the way. */
static bool on_the_way(const struct file_watch *w, const char *name)
{
    if (!w->name[0])
        return true;
    return strcmp(name, w->name) == 0 ||
           (w->via[0] && strcmp(name, w->via) == 0);
}

/*
 * Whether an event may concern the file; forgets watches the kernel ended.
 * Only the file's own names count: anything else written beside it (its
 * own log, say) would keep the settle from ever ending, or feed it.
 */
static bool concerns(struct file_watch *w, const struct inotify_event *ev)
{
    if (ev->mask & IN_Q_OVERFLOW)
        return true; /* events were lost: assume the worst */
    if (ev->wd < 0 || !in_use(w, ev->wd))
        return false; /* from a watch removed already */
    bool in_dir = ev->wd == w->dir_wd;
    if (ev->mask & IN_IGNORED) {
        /* The directory is gone: put back (or moved) at the settle. */
        if (w->dir_wd == ev->wd)
            w->dir_wd = -1;
        if (w->target_wd == ev->wd)
            w->target_wd = -1;
        if (w->file_wd == ev->wd)
            w->file_wd = -1;
        return true;
    }
    if (ev->len == 0)
        return true; /* the directory itself, or the file */
    if (in_dir && on_the_way(w, ev->name))
        return true;
    return ev->wd == w->target_wd &&
           (!w->target_name[0] || strcmp(ev->name, w->target_name) == 0);
}

static void on_readable(EV_P_ ev_io *io, int revents)
{
    (void)revents;
    struct file_watch *w = container_of(io, struct file_watch, io);
    alignas(struct inotify_event) char buf[WATCH_READ_SIZE];
    bool changed = false;
    for (;;) {
        ssize_t n = read(io->fd, buf, sizeof(buf));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            break;
        if (n <= 0) {
            /* Cannot happen with a buffer that holds any event. */
            LOG_WARN("cannot read inotify events; config changes are no "
                     "longer watched",
                     LF_STR("path", w->path),
                     LF_STR("error", n < 0 ? strerror(errno) : "end of file"));
            ev_io_stop(loop, io);
            changed = true;
            break;
        }
        for (const char *p = buf; p < buf + n;) {
            const struct inotify_event *ev = (const void *)p;
            p += sizeof(*ev) + ev->len;
            if (!concerns(w, ev))
                continue;
            changed = true;
            LOG_DEBUG("config file event", LF_STR("path", w->path),
                      LF_STR("name", ev->len ? ev->name : ""),
                      LF_INT("mask", ev->mask));
        }
    }
    if (!changed)
        return;
    /*
     * A burst begins: however long it lasts, it is read by the deadline.
     * Set again each time: a stopped ev_timer keeps only what was left of
     * it (nothing, once it has fired).
     */
    if (!ev_is_active(&w->settle_w) && !ev_is_active(&w->deadline_w)) {
        ev_timer_set(&w->deadline_w, w->max_delay_s, 0.);
        ev_timer_start(loop, &w->deadline_w);
    }
    ev_timer_again(loop, &w->settle_w);
}

/* The burst is over (or has lasted long enough): read the file. */
static void settle(struct file_watch *w)
{
    ev_timer_stop(w->loop, &w->settle_w);
    ev_timer_stop(w->loop, &w->deadline_w);
    rewatch(w);
    schedule_retry(w);
    if (w->dir_wd < 0)
        return;    /* nothing to read: on_retry calls fn when it is back */
    w->fn(w->arg); /* last: fn may free w */
}

static void on_settle(EV_P_ ev_timer *t, int revents)
{
    (void)loop;
    (void)revents;
    settle(container_of(t, struct file_watch, settle_w));
}

static void on_deadline(EV_P_ ev_timer *t, int revents)
{
    (void)loop;
    (void)revents;
    settle(container_of(t, struct file_watch, deadline_w));
}

/*
 * A watch was missing: call fn if one is back (the file may have changed
 * unseen meanwhile).
 */
static void on_retry(EV_P_ ev_timer *t, int revents)
{
    (void)loop;
    (void)revents;
    struct file_watch *w = container_of(t, struct file_watch, retry_w);
    bool had[] = {w->dir_wd >= 0, w->target_wd >= 0, w->file_wd >= 0};
    rewatch(w);
    schedule_retry(w);
    bool back = (!had[0] && w->dir_wd >= 0) || (!had[1] && w->target_wd >= 0) ||
                (!had[2] && w->file_wd >= 0);
    if (w->dir_wd < 0 || !back)
        return;
    w->fn(w->arg); /* last: fn may free w */
}

struct file_watch *file_watch_new(struct ev_loop *loop, const char *path,
                                  double settle_s, double max_delay_s,
                                  file_watch_fn *fn, void *arg, char *errbuf,
                                  size_t errlen)
{
    assert(settle_s > 0 && max_delay_s >= settle_s);
    struct file_watch *w = calloc(1, sizeof(*w));
    if (!w) {
        snprintf(errbuf, errlen, "out of memory");
        return NULL;
    }
    size_t dirlen = strlen(path) + 2;
    w->loop = loop;
    w->fn = fn;
    w->arg = arg;
    w->path = strdup(path);
    w->dir = malloc(dirlen);
    if (!w->path || !w->dir) {
        snprintf(errbuf, errlen, "out of memory");
        goto out_free_watch;
    }
    const char *name = split(path, w->dir, dirlen);
    if (!name || strlen(name) > NAME_MAX) {
        snprintf(errbuf, errlen, "%s: bad path", path);
        goto out_free_watch;
    }
    memcpy(w->name, name, strlen(name) + 1);
    w->fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (w->fd < 0) {
        snprintf(errbuf, errlen, "cannot watch %s: inotify_init1: %s", path,
                 strerror(errno));
        goto out_free_watch;
    }
    /* Unlike later, a directory missing now is an error. */
    w->dir_wd = inotify_add_watch(w->fd, w->dir, WATCH_MASK);
    if (w->dir_wd < 0) {
        snprintf(errbuf, errlen, "cannot watch directory %s: %s", w->dir,
                 watch_strerror(errno));
        goto out_close_fd;
    }
    w->target_wd = -1;
    w->file_wd = -1;
    ev_io_init(&w->io, on_readable, w->fd, EV_READ);
    /*
     * Restarted by ev_timer_again() on every event; stopped when it fires.
     * The deadline is not: a file written without a pause (or a clock
     * step: ev_timer runs on the monotonic clock) still gets read.
     */
    ev_timer_init(&w->settle_w, on_settle, 0., settle_s);
    ev_timer_init(&w->deadline_w, on_deadline, max_delay_s, 0.);
    w->max_delay_s = max_delay_s;
    ev_timer_init(&w->retry_w, on_retry, WATCH_RETRY_S, WATCH_RETRY_S);
    rewatch(w);
    schedule_retry(w);
    ev_io_start(loop, &w->io);
    return w;

out_close_fd:
    close(w->fd);
out_free_watch:
    free(w->path);
    free(w->dir);
    free(w);
    return NULL;
}

void file_watch_free(struct file_watch *w)
{
    if (!w)
        return;
    ev_io_stop(w->loop, &w->io);
    ev_timer_stop(w->loop, &w->settle_w);
    ev_timer_stop(w->loop, &w->deadline_w);
    ev_timer_stop(w->loop, &w->retry_w);
    close(w->fd); /* removes every watch */
    free(w->path);
    free(w->dir);
    free(w);
}
