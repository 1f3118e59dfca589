/*
 * The config file watch on a real loop and a temp directory: edits in
 * place, and by another path (as through a bind mount), renames over,
 * delete and create, a Kubernetes ConfigMap symlink swap, a symlink into
 * another directory and its repointing, a directory that goes away and
 * comes back. The loop runs against a deadline; only
 * "no call" checks wait out a fixed time.
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <ev.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/log.h"
#include "sidecar/watch.h"

#define SETTLE    0.05
#define MAX_DELAY 5.0 /* out of the way, but in the deadline test */
#define QUIET     0.3 /* how long "no call" checks run the loop */
#define WAIT      5.0 /* deadline for a call that must come */

static struct ev_loop *loop;
static char tmp[32];
static int calls;

static void remove_tree(const char *path)
{
    struct stat st;
    if (lstat(path, &st) < 0)
        return;
    if (!S_ISDIR(st.st_mode)) {
        unlink(path);
        return;
    }
    DIR *d = opendir(path);
    if (d) {
        for (;;) {
            struct dirent *de = readdir(d);
            if (!de)
                break;
            if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
                continue; /* but "..data" is a ConfigMap's */
            char child[PATH_MAX];
            int n = snprintf(child, sizeof(child), "%s/%s", path, de->d_name);
            if (n > 0 && (size_t)n < sizeof(child))
                remove_tree(child);
        }
        closedir(d);
    }
    rmdir(path);
}

static void setup(void)
{
    log_set_level(LOG_LEVEL_ERROR); /* the lost-directory test warns */
    loop = ev_loop_new(EVFLAG_AUTO);
    cr_assert_not_null(loop);
    snprintf(tmp, sizeof(tmp), "/tmp/sidecar-watch-XXXXXX");
    cr_assert_not_null(mkdtemp(tmp), "mkdtemp: %s", strerror(errno));
    calls = 0;
}

static void teardown(void)
{
    ev_loop_destroy(loop);
    remove_tree(tmp);
}

/* The absolute name of rel, in one of two rotating buffers. */
static const char *at(const char *rel)
{
    static char bufs[2][PATH_MAX];
    static int next;
    char *p = bufs[next];
    next = !next;
    int n = snprintf(p, PATH_MAX, "%s/%s", tmp, rel);
    cr_assert(n > 0 && n < PATH_MAX);
    return p;
}

/* Writes rel in place (truncate, then content in pieces of 4 bytes). */
static void put(const char *rel, const char *content)
{
    int fd = open(at(rel), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    cr_assert(fd >= 0, "open %s: %s", rel, strerror(errno));
    for (size_t off = 0, len = strlen(content); off < len; off += 4) {
        size_t n = len - off < 4 ? len - off : 4;
        cr_assert_eq(write(fd, content + off, n), (ssize_t)n);
    }
    cr_assert_eq(close(fd), 0);
}

static void mk(const char *rel)
{
    cr_assert_eq(mkdir(at(rel), 0755), 0, "mkdir %s: %s", rel, strerror(errno));
}

static void ln(const char *target, const char *rel)
{
    cr_assert_eq(symlink(target, at(rel)), 0, "symlink %s: %s", rel,
                 strerror(errno));
}

static void mv(const char *from, const char *to)
{
    cr_assert_eq(rename(at(from), at(to)), 0, "rename %s: %s", from,
                 strerror(errno));
}

static void rm(const char *rel)
{
    cr_assert_eq(unlink(at(rel)), 0, "unlink %s: %s", rel, strerror(errno));
}

static void on_change(void *arg)
{
    (*(int *)arg)++;
}

static struct file_watch *watch(const char *rel)
{
    char err[256] = "";
    struct file_watch *w = file_watch_new(loop, at(rel), SETTLE, MAX_DELAY,
                                          on_change, &calls, err, sizeof(err));
    cr_assert_not_null(w, "file_watch_new: %s", err);
    return w;
}

static void on_deadline(EV_P_ ev_timer *t, int revents)
{
    (void)loop;
    (void)t;
    (void)revents;
}

/* Runs the loop until *count reaches want or seconds pass; *count. */
static int run_until(struct ev_loop *l, const int *count, int want,
                     double seconds)
{
    ev_timer deadline;
    ev_now_update(l);
    ev_timer_init(&deadline, on_deadline, seconds, 0.);
    ev_timer_start(l, &deadline);
    while (*count < want && ev_is_active(&deadline))
        ev_run(l, EVRUN_ONCE);
    ev_timer_stop(l, &deadline);
    return *count;
}

/* A call must come (at least one); spurious extra calls are allowed. */
static void expect_call(void)
{
    int want = calls + 1;
    cr_assert_geq(run_until(loop, &calls, want, WAIT), want,
                  "no call within %g s", WAIT);
}

/* No call for QUIET seconds. */
static void expect_quiet(void)
{
    int had = calls;
    cr_expect_eq(run_until(loop, &calls, had + 1, QUIET), had,
                 "unexpected call");
}

/* Reads rel into buf; "" if it cannot. */
static const char *slurp(const char *rel)
{
    static char buf[256];
    buf[0] = '\0';
    int fd = open(at(rel), O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return buf;
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    buf[n > 0 ? n : 0] = '\0';
    close(fd);
    return buf;
}

Test(watch, in_place_rewrite_settles_into_one_call, .init = setup,
     .fini = teardown, .timeout = 10)
{
    put("sidecar.yaml", "version: 1\n");
    struct file_watch *w = watch("sidecar.yaml");
    put("sidecar.yaml", "version: 2\nservices: {}\n"); /* 6 writes */
    put("sidecar.yaml", "version: 3\nservices: {}\n");
    cr_expect_eq(run_until(loop, &calls, 1, WAIT), 1);
    expect_quiet(); /* settled: exactly one call */
    cr_expect_eq(calls, 1);
    file_watch_free(w);
}

/* Each event restarts the settle: a burst longer than it is still one. */
Test(watch, a_burst_longer_than_the_settle_is_one_call, .init = setup,
     .fini = teardown, .timeout = 10)
{
    char err[256] = "";
    int never = 0;
    put("sidecar.yaml", "version: 1\n");
    struct file_watch *w =
        file_watch_new(loop, at("sidecar.yaml"), 0.5, MAX_DELAY, on_change,
                       &calls, err, sizeof(err));
    cr_assert_not_null(w, "file_watch_new: %s", err);
    for (int i = 0; i < 12; i++) { /* 0.6 s of writes, 0.05 s apart */
        put("sidecar.yaml", i % 2 ? "version: 2\n" : "version: 3\n");
        run_until(loop, &never, 1, 0.05);
    }
    cr_expect_eq(calls, 0, "called before the burst was over");
    cr_expect_eq(run_until(loop, &calls, 1, WAIT), 1);
    expect_quiet();
    file_watch_free(w);
}

/* The settle has a deadline: a file written without pause is read. */
Test(watch, a_burst_that_never_ends_is_read_by_the_deadline, .init = setup,
     .fini = teardown, .timeout = 10)
{
    char err[256] = "";
    int never = 0;
    put("sidecar.yaml", "version: 1\n");
    struct file_watch *w = file_watch_new(loop, at("sidecar.yaml"), 0.2, 0.5,
                                          on_change, &calls, err, sizeof(err));
    cr_assert_not_null(w, "file_watch_new: %s", err);
    ev_now_update(loop);
    double t0 = ev_now(loop);
    /* Every 20 ms, for up to 4 s: the settle alone would wait it out. */
    for (int i = 0; i < 200 && calls == 0; i++) {
        put("sidecar.yaml", i % 2 ? "version: 2\n" : "version: 3\n");
        run_until(loop, &never, 1, 0.02);
        if (calls)
            break;
    }
    ev_now_update(loop);
    double took = ev_now(loop) - t0;
    cr_expect_geq(calls, 1, "not read while it was being written");
    cr_expect_lt(took, 2.5, "read after %.2f s, with a 0.5 s deadline", took);
    file_watch_free(w);
}

/*
 * Writes rel every 50 ms for 0.3 s, and expects no call before the
 * burst is over (settle 0.2 s, deadline 0.5 s), then exactly one.
 */
static void expect_burst_settles(const char *rel)
{
    int never = 0;
    int had = calls;
    for (int i = 0; i < 6; i++) {
        put(rel, i % 2 ? "version: 4\n" : "version: 5\n");
        run_until(loop, &never, 1, 0.05);
    }
    cr_expect_eq(calls, had, "called while the file was being written");
    cr_expect_eq(run_until(loop, &calls, had + 1, WAIT), had + 1);
}

/*
 * The deadline is measured from each burst's first event, in full: not
 * what was left of it when the last burst settled, nor nothing once it
 * has fired (an ev_timer stopped keeps only its remaining time). Else,
 * after some edits, every event is read at once: a file half written.
 */
Test(watch, each_burst_gets_the_whole_deadline, .init = setup, .fini = teardown,
     .timeout = 20)
{
    char err[256] = "";
    int never = 0;
    put("sidecar.yaml", "version: 1\n");
    struct file_watch *w = file_watch_new(loop, at("sidecar.yaml"), 0.2, 0.5,
                                          on_change, &calls, err, sizeof(err));
    cr_assert_not_null(w, "file_watch_new: %s", err);
    /* Bursts that settle: each stops the deadline with time left. */
    for (int i = 0; i < 3; i++)
        expect_burst_settles("sidecar.yaml");
    /* A burst the deadline ends. */
    for (int i = 0; i < 200 && calls == 3; i++) {
        put("sidecar.yaml", i % 2 ? "version: 2\n" : "version: 3\n");
        run_until(loop, &never, 1, 0.02);
    }
    cr_assert_eq(calls, 4, "the endless burst was not read");
    run_until(loop, &never, 1, QUIET); /* its tail settles */
    calls = 4;
    expect_burst_settles("sidecar.yaml");
    file_watch_free(w);
}

Test(watch, rename_over_fires_and_the_new_file_is_watched, .init = setup,
     .fini = teardown, .timeout = 10)
{
    put("sidecar.yaml", "version: 1\n");
    struct file_watch *w = watch("sidecar.yaml");
    put("sidecar.yaml.tmp", "version: 2\n");
    mv("sidecar.yaml.tmp", "sidecar.yaml");
    cr_expect_eq(run_until(loop, &calls, 1, WAIT), 1);
    expect_quiet();
    /* The inode changed; an edit of the new one is seen too. */
    put("sidecar.yaml", "version: 3\n");
    expect_call();
    file_watch_free(w);
}

/*
 * A write that reaches the file by a path in another directory: what a
 * single-file bind mount does (a hard link here, which needs no root).
 * The watched path's directory gets no event; the file's own watch does,
 * and follows the file when another is renamed over it.
 */
Test(watch, writes_by_another_path_fire_and_the_watch_follows_the_file,
     .init = setup, .fini = teardown, .timeout = 10)
{
    mk("d");
    mk("host");
    put("host/sidecar.yaml", "version: 1\n");
    cr_assert_eq(link(at("host/sidecar.yaml"), at("d/sidecar.yaml")), 0);
    struct file_watch *w = watch("d/sidecar.yaml");

    put("host/sidecar.yaml", "version: 2\n");
    expect_call();
    cr_expect_str_eq(slurp("d/sidecar.yaml"), "version: 2\n");

    put("d/sidecar.yaml.new", "version: 3\n");
    mv("d/sidecar.yaml.new", "d/sidecar.yaml");
    expect_call();
    put("host/sidecar.yaml", "version: 4\n"); /* no longer the file */
    expect_quiet();

    cr_assert_eq(link(at("d/sidecar.yaml"), at("host/new.yaml")), 0);
    expect_call(); /* its link count changed */
    put("host/new.yaml", "version: 5\n");
    expect_call();
    cr_expect_str_eq(slurp("d/sidecar.yaml"), "version: 5\n");
    file_watch_free(w);
}

Test(watch, delete_then_recreate_fires, .init = setup, .fini = teardown,
     .timeout = 10)
{
    put("sidecar.yaml", "version: 1\n");
    struct file_watch *w = watch("sidecar.yaml");
    rm("sidecar.yaml");
    expect_call(); /* gone: that may be a change too */
    put("sidecar.yaml", "version: 2\n");
    expect_call();
    cr_expect_str_eq(slurp("sidecar.yaml"), "version: 2\n");
    file_watch_free(w);
}

Test(watch, missing_at_start_then_created_fires, .init = setup,
     .fini = teardown, .timeout = 10)
{
    struct file_watch *w = watch("sidecar.yaml");
    expect_quiet();
    put("sidecar.yaml", "version: 1\n");
    expect_call();
    file_watch_free(w);
}

/* What the kubelet does to a ConfigMap volume, in dir "cm". */
static void configmap_swap(const char *old, const char *next,
                           const char *content)
{
    char rel[PATH_MAX];
    snprintf(rel, sizeof(rel), "cm/%s", next);
    mk(rel);
    snprintf(rel, sizeof(rel), "cm/%s/sidecar.yaml", next);
    put(rel, content);
    ln(next, "cm/..data_tmp");
    mv("cm/..data_tmp", "cm/..data");
    snprintf(rel, sizeof(rel), "cm/%s", old);
    remove_tree(at(rel));
}

Test(watch, configmap_swaps_fire_and_the_watches_follow, .init = setup,
     .fini = teardown, .timeout = 10)
{
    mk("cm");
    mk("cm/..2026_11_23_18_00_00.123");
    put("cm/..2026_11_23_18_00_00.123/sidecar.yaml", "version: 1\n");
    ln("..2026_11_23_18_00_00.123", "cm/..data");
    ln("..data/sidecar.yaml", "cm/sidecar.yaml");
    struct file_watch *w = watch("cm/sidecar.yaml");

    configmap_swap("..2026_11_23_18_00_00.123", "..2026_11_23_18_05_00.456",
                   "version: 2\n");
    expect_call();
    cr_expect_str_eq(slurp("cm/sidecar.yaml"), "version: 2\n");

    configmap_swap("..2026_11_23_18_05_00.456", "..2026_11_23_18_10_00.789",
                   "version: 3\n");
    expect_call();
    cr_expect_str_eq(slurp("cm/sidecar.yaml"), "version: 3\n");

    /* Seen only by the watch on the newest timestamped directory. */
    put("cm/..2026_11_23_18_10_00.789/sidecar.yaml", "version: 4\n");
    expect_call();
    file_watch_free(w);
}

Test(watch, symlink_to_another_dir_follows_edits_and_repointing, .init = setup,
     .fini = teardown, .timeout = 10)
{
    mk("a");
    mk("b");
    mk("c");
    put("b/sidecar.yaml", "version: 1\n");
    put("c/sidecar.yaml", "version: 1\n");
    ln("../b/sidecar.yaml", "a/sidecar.yaml");
    struct file_watch *w = watch("a/sidecar.yaml");

    put("b/sidecar.yaml", "version: 2\n"); /* in place, in b */
    expect_call();

    ln(at("c/sidecar.yaml"), "a/sidecar.yaml.new"); /* absolute, this time */
    mv("a/sidecar.yaml.new", "a/sidecar.yaml");
    expect_call();

    put("c/sidecar.yaml", "version: 3\n"); /* in place, in c */
    expect_call();

    /* b is no longer where the path leads. */
    put("b/sidecar.yaml", "version: 4\n");
    expect_quiet();
    file_watch_free(w);
}

Test(watch, unrelated_files_do_not_fire, .init = setup, .fini = teardown,
     .timeout = 10)
{
    mk("a");
    mk("b");
    mk("other");
    put("b/sidecar.yaml", "version: 1\n");
    ln("../b/sidecar.yaml", "a/sidecar.yaml");
    struct file_watch *w = watch("a/sidecar.yaml");

    put("other/sidecar.yaml", "version: 2\n"); /* same name, elsewhere */
    put("other/x.yaml", "x: 1\n");
    put("b/unrelated.yaml", "x: 1\n"); /* beside the target */
    expect_quiet();
    cr_expect_eq(calls, 0);

    put("b/sidecar.yaml", "version: 2\n"); /* and the loop does run */
    expect_call();
    file_watch_free(w);
}

/* Its own log, say: one write must not lead to another, forever. */
Test(watch, other_files_beside_it_do_not_fire, .init = setup, .fini = teardown,
     .timeout = 10)
{
    put("sidecar.yaml", "version: 1\n");
    struct file_watch *w = watch("sidecar.yaml");
    put("sidecar.log", "{}\n");
    put("sidecar.yaml.bak", "version: 0\n");
    mv("sidecar.yaml.bak", "sidecar.yaml.old");
    rm("sidecar.yaml.old");
    expect_quiet();
    cr_expect_eq(calls, 0);

    put("sidecar.yaml", "version: 2\n"); /* and the loop does run */
    expect_call();
    file_watch_free(w);
}

Test(watch, symlinks_within_its_directory_fire, .init = setup, .fini = teardown,
     .timeout = 10)
{
    mk("v1");
    mk("v2");
    put("v1/sidecar.yaml", "version: 1\n");
    put("v2/sidecar.yaml", "version: 2\n");
    put("sidecar-a.yaml", "version: 1\n");
    ln("v1", "current");
    ln("current/sidecar.yaml", "sidecar.yaml");
    struct file_watch *w = watch("sidecar.yaml");

    ln("v2", "current.tmp"); /* the link on the way, swapped */
    mv("current.tmp", "current");
    expect_call();
    cr_expect_str_eq(slurp("sidecar.yaml"), "version: 2\n");

    ln("sidecar-a.yaml", "sidecar.yaml.tmp"); /* to a file beside it */
    mv("sidecar.yaml.tmp", "sidecar.yaml");
    expect_call();
    put("sidecar-a.yaml", "version: 3\n");
    expect_call();
    file_watch_free(w);
}

Test(watch, lost_directory_is_watched_again_when_back, .init = setup,
     .fini = teardown, .timeout = 10)
{
    mk("d");
    put("d/sidecar.yaml", "version: 1\n");
    struct file_watch *w = watch("d/sidecar.yaml");

    remove_tree(at("d"));
    expect_quiet(); /* nothing to read until it is back */

    mk("d");
    put("d/sidecar.yaml", "version: 2\n");
    expect_call(); /* by the 1 s retry */

    put("d/sidecar.yaml", "version: 3\n"); /* the new directory's watch */
    expect_call();
    file_watch_free(w);
}

Test(watch, lost_target_directory_is_watched_again_when_back, .init = setup,
     .fini = teardown, .timeout = 10)
{
    mk("a");
    mk("b");
    put("b/sidecar.yaml", "version: 1\n");
    ln("../b/sidecar.yaml", "a/sidecar.yaml");
    struct file_watch *w = watch("a/sidecar.yaml");

    remove_tree(at("b"));
    expect_call(); /* the file is gone, a's watch is fine */

    mk("b");
    put("b/sidecar.yaml", "version: 2\n");
    expect_call(); /* by the 1 s retry */

    put("b/sidecar.yaml", "version: 3\n"); /* the new directory's watch */
    expect_call();
    file_watch_free(w);
}

Test(watch, free_with_a_pending_settle_never_calls, .init = setup,
     .fini = teardown, .timeout = 10)
{
    put("sidecar.yaml", "version: 1\n");
    struct file_watch *w = watch("sidecar.yaml");
    put("sidecar.yaml", "version: 2\n");
    /* The events are queued by now: this reads them and arms the settle. */
    ev_run(loop, EVRUN_NOWAIT);
    cr_expect_eq(calls, 0);
    file_watch_free(w);
    expect_quiet();
    cr_expect_eq(calls, 0);
}

struct self_freeing {
    struct file_watch *w;
    int calls;
};

static void free_on_change(void *arg)
{
    struct self_freeing *s = arg;
    s->calls++;
    file_watch_free(s->w);
    s->w = NULL;
}

Test(watch, fn_may_free_the_watch, .init = setup, .fini = teardown,
     .timeout = 10)
{
    char err[256] = "";
    struct self_freeing s = {0};
    put("sidecar.yaml", "version: 1\n");
    s.w = file_watch_new(loop, at("sidecar.yaml"), SETTLE, MAX_DELAY,
                         free_on_change, &s, err, sizeof(err));
    cr_assert_not_null(s.w, "file_watch_new: %s", err);
    put("sidecar.yaml", "version: 2\n");
    cr_expect_eq(run_until(loop, &s.calls, 1, WAIT), 1);
    put("sidecar.yaml", "version: 3\n");
    cr_expect_eq(run_until(loop, &s.calls, 2, QUIET), 1);
    cr_expect_null(s.w);
}

Test(watch, a_missing_directory_is_an_error, .init = setup, .fini = teardown,
     .timeout = 10)
{
    char err[256] = "";
    struct file_watch *w =
        file_watch_new(loop, at("nope/sidecar.yaml"), SETTLE, MAX_DELAY,
                       on_change, &calls, err, sizeof(err));
    cr_expect_null(w);
    cr_expect(strstr(err, "nope") != NULL, "errbuf: %s", err);
    file_watch_free(NULL);
}
