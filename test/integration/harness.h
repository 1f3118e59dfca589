/*
 * Integration harness: runs the real sidecar binary on a config written to
 * a fresh temporary directory, captures every stdout line (parsed as JSON
 * with jansson, an independent parser), and waits on events against
 * deadlines rather than sleeping. One struct harness per test process
 * (Criterion forks each test).
 *
 * Config templates may use @HELPER@ (the fakesvc binary), @HELPERDIR@
 * (its directory) and @DIR@ (the test's temporary directory). Unless a
 * template has its own http: section, sidecar listens on an ephemeral
 * port of 127.0.0.1 (see h_http_port); unless it has shutdown:, there is
 * no drain on SIGTERM.
 */
#ifndef SIDECAR_TEST_HARNESS_H
#define SIDECAR_TEST_HARNESS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/resource.h>
#include <sys/types.h>

struct harness {
    pid_t pid;
    int out_fd;
    bool exited;
    int exit_code; /* as a shell sees it: code or 128+signal */
    char dir[128];
    char cfg_path[192];
    char err_path[192];
    char bin_dir[192]; /* copies of sidecar and fakesvc, for h_start_as */
    char **raw;        /* every stdout line, in order */
    json_t **json;     /* each parsed, NULL if it was not valid JSON */
    size_t count;
    size_t cap;
    char *partial; /* bytes after the last newline */
    size_t partial_len;
    size_t invalid; /* lines that were not valid JSON */
    pid_t tee_pid;  /* h_start_teed's tee, or 0 */
};

/* Writes the config from the template and starts `sidecar run -c`. */
void h_start(struct harness *h, const char *yaml_template);

/* Same with extra arguments after `run -c CFG` (NULL-terminated). */
void h_start_args(struct harness *h, const char *yaml_template,
                  const char *const *extra);

/* Same, with sidecar's stdout also appended by a tee(1) to name in the
 * test's directory, so that every line it logs is a write beside its
 * config; with extra arguments as h_start_args. */
void h_start_teed(struct harness *h, const char *yaml_template,
                  const char *const *extra, const char *name);

/* Same, run by a wrapper: the command wrapper (NULL-terminated; its first
 * word looked up in PATH) with `sidecar run -c CFG` as its last arguments,
 * which it is to exec in the same process. The test's directory is in
 * $SIDECAR_TEST_DIR. */
void h_start_wrapped(struct harness *h, const char *yaml_template,
                     const char *const *wrapper);

/* Who sidecar runs as (gid = uid), its RLIMIT_NPROC and supplementary
 * groups: for limits root is exempt from, and for what services inherit. */
struct h_creds {
    uid_t uid;
    rlim_t nproc; /* 0: as it is */
    const gid_t *groups;
    size_t groups_count;
};

/* Same, with those credentials; the test's directory is made writable to
 * all, and sidecar and fakesvc run from copies in it (the build tree may
 * sit under a directory that uid cannot enter). */
void h_start_as(struct harness *h, const char *yaml_template,
                const struct h_creds *creds);

/*
 * Writes a config from the template to path as h_start() does (@DIR@ is
 * dir, or the test's directory when NULL; an ephemeral port and no drain
 * unless the template says): in place (truncate and write), or atomic (a
 * new file renamed over path).
 */
void h_write_config(const struct harness *h, const char *path, const char *dir,
                    const char *yaml_template, bool atomic);

/* Writes text to path whole: a new file renamed over it. */
void h_put_file(const char *path, const char *text);

/* Reads a whole file, which must exist (static buffer, one at a time). */
const char *h_read_file(const char *path);

/* A new file in /tmp holding text: its path (static buffer, one at a
 * time); the caller unlinks it. */
const char *h_temp_file(const char *text);

/*
 * Runs `sidecar ARGS` (args NULL-terminated) with stdout and stderr into
 * out (NUL-terminated; what does not fit is read and dropped), for at most
 * timeout_s. Its exit code, or -1 when it died of a signal or was killed
 * at the deadline (a hang).
 */
int h_run(const char *const *args, char *out, size_t len, double timeout_s);

/* Same within as_bytes of address space (not under ASan, which reserves
 * terabytes of it). */
int h_run_limited(const char *const *args, rlim_t as_bytes, char *out,
                  size_t len, double timeout_s);

/*
 * `sidecar check -c DIR/sidecar.yaml` with yaml in that file, run as uid
 * (gid = uid, no supplementary groups) from a copy of the binary in dir,
 * which uid must be able to enter: the build tree may sit where it cannot.
 * Output and exit code as h_run(). Needs root; the caller removes dir.
 */
int h_check_as(uid_t uid, const char *dir, const char *yaml, char *out,
               size_t len, double timeout_s);

/* Path of name inside the test's directory (static buffer, one at a time). */
const char *h_path(struct harness *h, const char *name);

/* Creates an empty file in the test's directory (a flag for a probe). */
void h_touch(struct harness *h, const char *name);

/* Reads whatever stdout has for up to timeout_s; false on EOF. */
bool h_pump(struct harness *h, double timeout_s);

/* Reads what sidecar has written so far; the index its next line gets. */
size_t h_mark(struct harness *h);

/*
 * Index of the first line at or after from whose "msg" equals msg and, if
 * service is not NULL, whose "service" equals service; waits up to
 * timeout_s for it. -1 on timeout.
 */
long h_wait_event(struct harness *h, size_t from, double timeout_s,
                  const char *msg, const char *service);

/*
 * Index of the next "probe state changed" of probe to state `to`, at or
 * after *from (advanced past every event looked at); -1 on timeout.
 */
long h_wait_probe_state(struct harness *h, size_t *from, const char *probe,
                        const char *to, double timeout_s);

/* Same without waiting: -1 when not there (yet). */
long h_find_event(const struct harness *h, size_t from, const char *msg,
                  const char *service);

/* Integer field of line idx, or def when missing. */
long long h_int(const struct harness *h, long idx, const char *key,
                long long def);

/* String field of line idx, or NULL. */
const char *h_str(const struct harness *h, long idx, const char *key);

/*
 * The first line service relayed (stdout or stderr) that starts with
 * prefix ("": its first line), or "" when it relayed none.
 */
const char *h_line_of(const struct harness *h, const char *service,
                      const char *prefix);

/* Counts lines from `from` with msg (and service if not NULL). */
size_t h_count_events(const struct harness *h, size_t from, const char *msg,
                      const char *service);

void h_signal(struct harness *h, int sig);

/* Sends SIGHUP and waits up to H_WAIT for the first line with msg ("config
 * reloaded", "config reload failed: nothing changed") logged after it; its
 * index, -1 on timeout. */
long h_sighup(struct harness *h, const char *msg);

/*
 * Sends SIGTERM once log (a fakesvc run file) says "start NAME": fakesvc
 * handles SIGTERM from then on, and dies of it before. Waits up to H_WAIT
 * for sidecar to exit; its exit code, or -1.
 */
int h_stop_once_started(struct harness *h, const char *log, const char *name);

/* Waits for sidecar to exit (reading stdout to EOF); its exit code or -1. */
int h_wait_exit(struct harness *h, double timeout_s);

/* Kills sidecar if still running, checks stderr for sanitizer reports,
 * removes the directory. For .fini. */
void h_cleanup(struct harness *h);

/* State letter from /proc/<pid>/stat ('S', 'Z', ...), 0 when gone. */
char h_proc_state(pid_t pid);

/* True while pid exists and is not a zombie. */
bool h_pid_alive(pid_t pid);

/* True when pid has vanished entirely (reaped) within timeout_s. */
bool h_wait_pid_reaped(pid_t pid, double timeout_s);

/* Waits until pid is not alive (gone or zombie) within timeout_s. */
bool h_wait_pid_dead(pid_t pid, double timeout_s);

/* Waits for a file (in the test's directory, or an absolute path) to hold
 * at least min_lines lines; returns its text (static buffer) or NULL on
 * timeout. */
const char *h_wait_file(struct harness *h, const char *name, int min_lines,
                        double timeout_s);

/* Waits for the file to contain text; returns its text (static buffer, as
 * h_wait_file's) or NULL on timeout. "start NAME" in a fakesvc run file
 * says that NAME handles SIGTERM from then on. */
const char *h_wait_text(struct harness *h, const char *name, const char *text,
                        double timeout_s);

double h_now(void);

/*
 * Deadline for an event that normally takes milliseconds. A deadline only
 * bounds how long a failing test takes, so it is generous: the suite must
 * pass on a loaded 2-core machine.
 */
#define H_WAIT 15.0

/* A port of 127.0.0.1 nothing listens on: bound once, then released.
 * Racy: another process may take it before the test binds it again;
 * prefer port 0 (read the port back), h_listen() or h_reserve_port(). */
int h_free_port(void);

/* A listening socket on 127.0.0.1, on a port the kernel chose (in *port);
 * it accepts nothing: connections wait in its backlog (4096). */
int h_listen(int *port);

/*
 * A port of 127.0.0.1 held for the rest of the test: bound with
 * SO_REUSEPORT and never listened on, so connections to it are refused
 * and no other user can take it, while a helper of ours binding it with
 * SO_REUSEPORT (fakehttp --port) can listen there, stop and listen again.
 */
int h_reserve_port(void);

/* The port sidecar's HTTP endpoint listens on (from its log). */
int h_http_port(struct harness *h);

/*
 * Sends a raw request to the endpoint on a new connection and reads to
 * EOF (a request should carry Connection: close). Returns the status,
 * the body in body; -1 when the connection was refused or no HTTP status
 * line came back.
 */
int h_http(struct harness *h, const char *request, char *body, size_t len);

/* The same on 127.0.0.1:port (an address sidecar moved to, say). */
int h_http_at(int port, const char *request, char *body, size_t len);

/* POST path with payload on port, with the bearer token if not NULL and
 * Connection: close; as h_http. */
int h_post_at(int port, const char *path, const char *token,
              const char *payload, char *body, size_t len);

/* A field of /proc/pid/status in kB (VmRSS, VmHWM), or -1. */
long h_status_kb(pid_t pid, const char *field);

/* Whether pid's RSS means anything: false under ASan or memcheck, which
 * keep what is freed. */
bool h_rss_counts(pid_t pid);

/* A connection to 127.0.0.1:port (10 s read timeout), or -1 if refused. */
int h_connect(int port);

/* Reads fd until EOF (or a reset: *eof true) or for up to timeout_s
 * (*eof false); the bytes read into out, NUL-terminated, and their count. */
/* Reads an HTTP request's head from fd (up to its blank line, cap - 1
 * bytes, NUL-terminated into req); the bytes read. For fake servers. */
size_t h_read_request(int fd, char *req, size_t cap);

/* Every sidecar started from here on finds the libraries in the helpers'
 * dir (SIDECAR_HELPERS) sub-directory sub first: a fake of one that
 * cannot load (fakecurl, fakemhd). */
void h_use_fake_libs(const char *sub);

size_t h_read_to_eof(int fd, char *out, size_t cap, double timeout_s,
                     bool *eof);

/* How many times needle occurs in hay (overlaps counted). */
size_t h_count_of(const char *hay, const char *needle);

/* The whole response h_http read last: status line, headers, body. */
const char *h_last_response(void);

/* GET path with Connection: close; as h_http. */
int h_get(struct harness *h, const char *path, char *body, size_t len);

/* The same on 127.0.0.1:port. */
int h_get_at(int port, const char *path, char *body, size_t len);

/* Polls GET path until it answers status (the endpoints follow the log),
 * within timeout_s; the last answer's body in body. */
bool h_wait_status(struct harness *h, const char *path, int status, char *body,
                   size_t len, double timeout_s);

/*
 * The value of a sample in a /metrics text: series is a name with its
 * labels as printed (name{key="value"}), or a bare name, which sums every
 * sample of that name whatever its labels. NAN when there is none.
 */
double h_metric(const char *text, const char *series);

/* Milliseconds of the day from line idx's "ts" (for gaps), or -1. */
long long h_ts_ms(const struct harness *h, long idx);

/* Parent pid from /proc, or -1. */
pid_t h_parent_of(pid_t pid);

/*
 * Runs argv (argv[0] a path; stdin and stdout on /dev/null) as a target
 * that writes its port to portfile, and returns that port once written
 * (within H_WAIT; the test fails if it dies first). *pid is set before
 * the wait, for the test's teardown to end it.
 */
int h_run_port(const char *const *argv, const char *portfile, pid_t *pid);

/* Waits until /proc/<pid>/comm reads comm (the process exec'd it). */
bool h_wait_comm(pid_t pid, const char *comm, double timeout_s);

/* pid's children, from /proc/PID/task/PID/children, into out (at most
 * max); their count. */
int h_children(pid_t pid, pid_t *out, int max);

/* A child of pid whose comm is comm, waited for up to timeout_s; 0 if
 * none came. */
pid_t h_wait_child(struct harness *h, pid_t pid, const char *comm,
                   double timeout_s);

#endif
