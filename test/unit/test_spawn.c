#define _GNU_SOURCE /* pipe2 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "proc/spawn.h"

/*
 * spawn_process() itself, in the test's own process (Criterion forks one
 * per test): what the child gets, what failing steps report, and that the
 * caller is left as it was (the child shares its memory until exec).
 */

/* What one spawn came to. */
struct run {
    bool failed; /* a struct spawn_failure came on the status pipe */
    struct spawn_failure f;
    int status; /* from waitpid() */
    char out[4096];
};

static char dir[] = "/tmp/sidecar-spawn-XXXXXX";

static void make_dir(void)
{
    cr_assert_not_null(mkdtemp(dir));
}

static void remove_dir(void)
{
    char cmd[PATH_MAX];
    snprintf(cmd, sizeof(cmd), "/bin/rm -rf '%s'", dir);
    cr_expect_eq(system(cmd), 0);
}

TestSuite(spawn, .init = make_dir, .fini = remove_dir, .timeout = 10);

/* dir/name holding text, with mode. */
static void put_file(const char *name, const char *text, mode_t mode)
{
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f, "%s: %s", path, strerror(errno));
    fputs(text, f);
    cr_assert_eq(fclose(f), 0);
    cr_assert_eq(chmod(path, mode), 0);
}

/* Spawns o with its stdout (and stderr) on a pipe; waits for it all. */
static void run(struct spawn_opts *o, struct run *r)
{
    int rd;
    int wr;
    pid_t pid;
    int status_fd;

    memset(r, 0, sizeof(*r));
    cr_assert_eq(spawn_output_pipe(&rd, &wr), 0);
    o->stdout_fd = wr;
    o->stderr_fd = wr;
    cr_assert_eq(spawn_process(o, &pid, &status_fd), 0);
    close(wr);

    struct pollfd p = {.fd = status_fd, .events = POLLIN};
    cr_assert_eq(poll(&p, 1, 5000), 1, "no word on the status pipe");
    ssize_t n = read(status_fd, &r->f, sizeof(r->f));
    r->failed = n == (ssize_t)sizeof(r->f);
    cr_assert(r->failed || n == 0, "status pipe: %zd", n);
    close(status_fd);

    size_t len = 0;
    for (;;) {
        p.fd = rd;
        cr_assert_eq(poll(&p, 1, 5000), 1, "the child's output hangs");
        n = read(rd, r->out + len, sizeof(r->out) - 1 - len);
        if (n <= 0)
            break;
        len += (size_t)n;
    }
    close(rd);
    cr_assert_eq(waitpid(pid, &r->status, 0), pid);
}

static int exit_code(const struct run *r)
{
    cr_assert(WIFEXITED(r->status), "status %#x", r->status);
    return WEXITSTATUS(r->status);
}

static void expect_failure(const struct run *r, int step, int err, int code)
{
    cr_expect(r->failed, "exec did not fail");
    cr_expect_eq(r->f.step, step, "step %s", spawn_step_name(r->f.step));
    cr_expect_eq(r->f.err, err, "errno %s", strerror(r->f.err));
    cr_expect_eq(exit_code(r), code);
}

static void expect_ran(const struct run *r, int code, const char *out)
{
    cr_expect_not(r->failed, "failed at %s: %s", spawn_step_name(r->f.step),
                  strerror(r->f.err));
    cr_expect_eq(exit_code(r), code, "output: %s", r->out);
    if (out)
        cr_expect_str_eq(r->out, out);
}

/* "PATH=<before><dir><after>" in a buffer of its own. */
static char *path_var(const char *before, const char *after)
{
    static char var[2 * PATH_MAX];
    snprintf(var, sizeof(var), "PATH=%s%s%s", before, dir, after);
    return var;
}

Test(spawn, a_missing_program_fails_at_exec_with_127)
{
    char *argv[] = {"/nonexistent/prog", NULL};
    char *envp[] = {NULL};
    struct spawn_opts o = {.argv = argv, .envp = envp};
    struct run r;
    run(&o, &r);
    expect_failure(&r, SPAWN_STEP_EXEC, ENOENT, 127);
}

Test(spawn, a_file_not_executable_fails_with_eacces_and_126)
{
    put_file("plain", "exit 0\n", 0644);
    char prog[PATH_MAX];
    snprintf(prog, sizeof(prog), "%s/plain", dir);
    char *argv[] = {prog, NULL};
    char *envp[] = {NULL};
    struct spawn_opts o = {.argv = argv, .envp = envp};
    struct run r;
    run(&o, &r);
    expect_failure(&r, SPAWN_STEP_EXEC, EACCES, 126);
}

Test(spawn, an_empty_name_is_enoent)
{
    char *argv[] = {"", NULL};
    char *envp[] = {"PATH=/bin:/usr/bin", NULL};
    struct spawn_opts o = {.argv = argv, .envp = envp};
    struct run r;
    run(&o, &r);
    expect_failure(&r, SPAWN_STEP_EXEC, ENOENT, 127);
}

Test(spawn, a_name_longer_than_name_max_is_enametoolong)
{
    char name[NAME_MAX + 2];
    memset(name, 'a', sizeof(name) - 1);
    name[sizeof(name) - 1] = '\0';
    char *argv[] = {name, NULL};
    char *envp[] = {"PATH=/bin:/usr/bin", NULL};
    struct spawn_opts o = {.argv = argv, .envp = envp};
    struct run r;
    run(&o, &r);
    expect_failure(&r, SPAWN_STEP_EXEC, ENAMETOOLONG, 127);
}

Test(spawn, the_path_searched_is_the_childs_own_not_ours)
{
    put_file("tool", "#!/bin/sh\necho found \"$1\"\n", 0755);
    cr_assert_eq(setenv("PATH", "/nonexistent-ours", 1), 0);
    char *argv[] = {"tool", "arg", NULL};
    char *envp[] = {path_var("/nonexistent:", ""), NULL};
    struct spawn_opts o = {.argv = argv, .envp = envp};
    struct run r;
    run(&o, &r);
    expect_ran(&r, 0, "found arg\n");
    /* Ours is as it was: the child never set environ. */
    cr_expect_str_eq(getenv("PATH"), "/nonexistent-ours");
}

Test(spawn, a_name_with_a_slash_is_not_searched)
{
    /* A search would find dir/./tool; from / there is no ./tool. */
    put_file("tool", "#!/bin/sh\necho wrong\n", 0755);
    char *argv[] = {"./tool", NULL};
    char *envp[] = {path_var("", ""), NULL};
    struct spawn_opts o = {.argv = argv, .envp = envp, .cwd = "/"};
    struct run r;
    run(&o, &r);
    expect_failure(&r, SPAWN_STEP_EXEC, ENOENT, 127);
}

Test(spawn, eacces_in_one_element_goes_on_and_is_reported_at_the_end)
{
    char sub[PATH_MAX];
    snprintf(sub, sizeof(sub), "%s/b", dir);
    cr_assert_eq(mkdir(sub, 0755), 0);
    put_file("tool", "exit 0\n", 0644); /* not executable */
    char *argv[] = {"tool", NULL};
    char var[2 * PATH_MAX + 8];
    snprintf(var, sizeof(var), "PATH=%s:%s", dir, sub);
    char *envp[] = {var, NULL};
    struct spawn_opts o = {.argv = argv, .envp = envp};
    struct run r;
    run(&o, &r);
    expect_failure(&r, SPAWN_STEP_EXEC, EACCES, 126);

    put_file("b/tool", "#!/bin/sh\necho second\n", 0755);
    run(&o, &r);
    expect_ran(&r, 0, "second\n");
}

Test(spawn, an_empty_path_element_is_the_working_directory)
{
    put_file("tool", "#!/bin/sh\necho here\n", 0755);
    char *argv[] = {"tool", NULL};
    char *envp[] = {"PATH=/nonexistent::/nonexistent2", NULL};
    struct spawn_opts o = {.argv = argv, .envp = envp, .cwd = dir};
    struct run r;
    run(&o, &r);
    expect_ran(&r, 0, "here\n");
}

Test(spawn, without_path_the_default_is_bin_and_usr_bin)
{
    char *argv[] = {"sh", "-c", "exit 7", NULL};
    char *envp[] = {"HOME=/", NULL};
    struct spawn_opts o = {.argv = argv, .envp = envp};
    struct run r;
    run(&o, &r);
    expect_ran(&r, 7, NULL);
}

Test(spawn, the_first_path_of_the_environment_counts)
{
    put_file("tool", "#!/bin/sh\necho first\n", 0755);
    char *argv[] = {"tool", NULL};
    char first[PATH_MAX + 8];
    snprintf(first, sizeof(first), "PATH=%s", dir);
    char *envp[] = {first, "PATH=/nonexistent", NULL};
    struct spawn_opts o = {.argv = argv, .envp = envp};
    struct run r;
    run(&o, &r);
    expect_ran(&r, 0, "first\n");
}

Test(spawn, a_script_without_a_shebang_runs_under_bin_sh)
{
    /* ENOEXEC: /bin/sh runs it, with argv[1...] as its $1... */
    put_file("noshebang", "echo \"$0\" \"$1\" \"$2\"; exit 5\n", 0755);
    char prog[PATH_MAX];
    snprintf(prog, sizeof(prog), "%s/noshebang", dir);
    char *argv[] = {prog, "one", "two", NULL};
    char *envp[] = {NULL};
    struct spawn_opts o = {.argv = argv, .envp = envp};
    struct run r;
    run(&o, &r);
    char want[PATH_MAX + 16];
    snprintf(want, sizeof(want), "%s one two\n", prog);
    expect_ran(&r, 5, want);

    /* Found through PATH, the same. */
    char *byname[] = {"noshebang", "x", NULL};
    char *path_envp[] = {path_var("", ""), NULL};
    o.argv = byname;
    o.envp = path_envp;
    run(&o, &r);
    snprintf(want, sizeof(want), "%s x \n", prog);
    expect_ran(&r, 5, want);
}

Test(spawn, a_missing_cwd_fails_at_chdir)
{
    char *argv[] = {"/bin/true", NULL};
    char *envp[] = {NULL};
    struct spawn_opts o = {.argv = argv, .envp = envp, .cwd = "/nonexistent"};
    struct run r;
    run(&o, &r);
    expect_failure(&r, SPAWN_STEP_CWD, ENOENT, 127);
}

Test(spawn, cwd_umask_and_a_session_of_its_own)
{
    char *argv[] = {"/bin/sh", "-c",
                    "pwd; umask; test $(ps -o sid= -p $$) -eq $$ && echo sid",
                    NULL};
    char *envp[] = {"PATH=/bin:/usr/bin", NULL};
    struct spawn_opts o = {.argv = argv,
                           .envp = envp,
                           .cwd = dir,
                           .set_umask = true,
                           .umask = 027};
    struct run r;
    run(&o, &r);
    char want[PATH_MAX + 32];
    snprintf(want, sizeof(want), "%s\n0027\nsid\n", dir);
    expect_ran(&r, 0, want);
}

static void on_usr1(int sig)
{
    (void)sig;
}

/* Signal sig's bit in a /proc/PID/status mask line "Name:\tHEX". */
static unsigned long long status_mask(const char *out, const char *name)
{
    const char *line = strstr(out, name);
    cr_assert_not_null(line, "no %s in %s", name, out);
    return strtoull(line + strlen(name) + 1, NULL, 16);
}

Test(spawn, the_child_starts_with_every_signal_default_and_unblocked)
{
    struct sigaction sa = {.sa_handler = on_usr1};
    cr_assert_eq(sigaction(SIGUSR1, &sa, NULL), 0);
    sa.sa_handler = SIG_IGN;
    cr_assert_eq(sigaction(SIGTERM, &sa, NULL), 0);
    /* glibc's own 32, ignored behind its back: the raw call. */
    struct {
        void *handler;
        unsigned long flags;
        void *restorer;
        unsigned long long mask;
    } ksa = {.handler = SIG_IGN};
    cr_assert_eq(syscall(SYS_rt_sigaction, 32, &ksa, NULL, 8), 0);
    sigset_t block;
    sigemptyset(&block);
    sigaddset(&block, SIGHUP);
    cr_assert_eq(sigprocmask(SIG_BLOCK, &block, NULL), 0);

    char *argv[] = {"/bin/cat", "/proc/self/status", NULL};
    char *envp[] = {NULL};
    struct spawn_opts o = {.argv = argv, .envp = envp};
    struct run r;
    run(&o, &r);
    expect_ran(&r, 0, NULL);
    cr_expect_eq(status_mask(r.out, "SigBlk:"), 0);
    cr_expect_eq(status_mask(r.out, "SigIgn:"), 0);
    cr_expect_eq(status_mask(r.out, "SigCgt:"), 0);

    /* Ours are as they were: the child had dispositions of its own. */
    struct sigaction now;
    cr_assert_eq(sigaction(SIGUSR1, NULL, &now), 0);
    cr_expect_eq(now.sa_handler, on_usr1);
    cr_assert_eq(sigaction(SIGTERM, NULL, &now), 0);
    cr_expect_eq(now.sa_handler, SIG_IGN);
    cr_assert_eq(syscall(SYS_rt_sigaction, 32, NULL, &ksa, 8), 0);
    cr_expect_eq(ksa.handler, SIG_IGN);
    sigset_t mask;
    cr_assert_eq(sigprocmask(SIG_SETMASK, NULL, &mask), 0);
    cr_expect(sigismember(&mask, SIGHUP));
    cr_expect_not(sigismember(&mask, SIGUSR2));
}

Test(spawn, the_child_has_stdio_and_no_other_descriptor)
{
    int fd = open("/dev/null", O_RDONLY); /* not close-on-exec */
    cr_assert_geq(fd, 0);
    cr_assert_eq(dup2(fd, 57), 57);
    /* ls opens /proc/self/fd as 3 itself. */
    char *argv[] = {"/bin/ls", "/proc/self/fd", NULL};
    char *envp[] = {NULL};
    struct spawn_opts o = {.argv = argv, .envp = envp};
    struct run r;
    run(&o, &r);
    expect_ran(&r, 0, "0\n1\n2\n3\n");
    /* stdin is /dev/null */
    char *cat[] = {"/bin/cat", NULL};
    o.argv = cat;
    run(&o, &r);
    expect_ran(&r, 0, "");
}

Test(spawn, ids_and_groups_are_set_before_exec)
{
    if (geteuid() != 0)
        cr_skip_test("needs root");
    gid_t groups[] = {4242, 4343};
    char *argv[] = {"/bin/sh", "-c", "id -u; id -g; id -G", NULL};
    char *envp[] = {"PATH=/bin:/usr/bin", NULL};
    struct spawn_opts o = {.argv = argv,
                           .envp = envp,
                           .set_ids = true,
                           .uid = 65534,
                           .gid = 65533,
                           .groups = groups,
                           .groups_count = 2};
    struct run r;
    run(&o, &r);
    expect_ran(&r, 0, "65534\n65533\n65533 4242 4343\n");
    /* Ours are as they were. */
    cr_expect_eq(geteuid(), 0);
    cr_expect_eq(getegid(), 0);
}

Test(spawn, a_refused_uid_fails_at_setuid)
{
    if (geteuid() == 0)
        cr_skip_test("root may take any uid");
    char *argv[] = {"/bin/true", NULL};
    char *envp[] = {NULL};
    struct spawn_opts o = {.argv = argv,
                           .envp = envp,
                           .set_ids = true,
                           .uid = 0,
                           .gid = getegid()};
    struct run r;
    run(&o, &r);
    cr_expect(r.failed);
    cr_expect(r.f.step == SPAWN_STEP_GROUPS || r.f.step == SPAWN_STEP_UID);
    cr_expect_eq(r.f.err, EPERM);
}
