/* The command-runner seam of the FreeBSD host layer (docs/freebsd.md "The seam").
 *
 * Every action of the FreeBSD layer on the host goes through one fb_runner: external
 * commands (zfs, jail, jexec, ifconfig, pfctl, rctl, sysctl ...) as an argv, never a shell
 * line, and every file written outside kleened's own directories. Production runs commands
 * with posix_spawn (runner_spawn.c); the golden tests replay a script (replay.c) that gives
 * the exact argv sequence expected and the canned outputs (jls, zfs list, ifconfig, netstat)
 * to answer with.
 *
 * Portable: POSIX only, no FreeBSD header, so the layer builds and is tested on Linux.
 * It must not: interpret a command's output (the callers parse), or add a shell anywhere. */
#ifndef KL_FB_RUNNER_H
#define KL_FB_RUNNER_H

#include <stdbool.h>
#include <stddef.h>

#include "lib/error.h"

/* What a finished command gave back. out/err are NUL-terminated (xmalloc'ed, never NULL). */
typedef struct fb_result {
    int status; /* exit status 0..255; killed by signal N: 128+N */
    char *out;
    char *err;
} fb_result;

#define FB_RESULT_INIT                                                                             \
    {                                                                                              \
        0, NULL, NULL                                                                              \
    }

void fb_result_free(fb_result *r);
#define _cleanup_result_ __attribute__((cleanup(fb_result_free)))

/* A long-running process (the foreground `jail -c`, `jexec`), started with fb_spawn. */
typedef struct fb_proc {
    int pid;    /* host pid; a replayed process has a made-up one */
    int in_fd;  /* its stdin (write end), or -1 */
    int out_fd; /* its stdout and stderr merged (read end), or -1 */
    void *priv; /* the runner's */
} fb_proc;

typedef struct fb_runner fb_runner;

typedef struct fb_runner_ops {
    /* Run argv to completion. `input` (may be NULL) is written to its stdin. Returns 0 when
     * the command ran (whatever its exit status), -1 when it could not be run at all. */
    int (*run)(fb_runner *r, const char *const *argv, const char *input, fb_result *res,
               kl_error *err);
    /* Run argv1 | argv2 (zfs send | zfs receive), without a shell. res->status is argv2's,
     * or argv1's when argv2 succeeded and argv1 failed; out/err are both merged. */
    int (*run_pipe)(fb_runner *r, const char *const *argv1, const char *const *argv2,
                    fb_result *res, kl_error *err);
    /* Start argv in the background with stdout+stderr merged into a pipe. */
    int (*spawn)(fb_runner *r, const char *const *argv, fb_proc *out, kl_error *err);
    /* Wait for a spawned process; timeout_ms < 0: forever. 1 = ended (*status), 0 = timeout. */
    int (*wait)(fb_runner *r, fb_proc *p, int timeout_ms, int *status, kl_error *err);
    /* Send a signal to a spawned process. */
    int (*kill)(fb_runner *r, fb_proc *p, int sig, kl_error *err);
    /* Replace `path` atomically (temporary file + rename) with `data`, mode `mode`. */
    int (*write_file)(fb_runner *r, const char *path, const char *data, size_t len, unsigned mode,
                      kl_error *err);
    /* Create the path `rel` (relative, no "." or ".." components) below the directory
     * `root`, one component at a time without following symlinks (a symlink on the way is
     * EXDEV): every missing directory is made (0755); with `file`, the last component is an
     * empty regular file (created if missing, never truncated). For mount destinations
     * inside a container's dataset, whose content the image decides (B5). */
    int (*make_path)(fb_runner *r, const char *root, const char *rel, bool file, kl_error *err);
    /* Sleep (polling loops; a replay does not sleep). */
    void (*sleep_ms)(fb_runner *r, int ms);
    void (*free)(fb_runner *r);
} fb_runner_ops;

struct fb_runner {
    const fb_runner_ops *ops;
};

/* The production runner: posix_spawn, no shell, environment PATH=/sbin:/bin:/usr/sbin:/usr/bin
 * plus the caller's LANG-free C locale (so outputs parse the same everywhere). */
fb_runner *fb_runner_spawn_new(void);

/* ---- calling through the seam (the layer's modules use only these) ------------------- */

int fb_run(fb_runner *r, const char *const *argv, const char *input, fb_result *res, kl_error *err);
int fb_run_pipe(fb_runner *r, const char *const *argv1, const char *const *argv2, fb_result *res,
                kl_error *err);
int fb_spawn(fb_runner *r, const char *const *argv, fb_proc *out, kl_error *err);
int fb_wait(fb_runner *r, fb_proc *p, int timeout_ms, int *status, kl_error *err);
int fb_kill(fb_runner *r, fb_proc *p, int sig, kl_error *err);
int fb_write_file(fb_runner *r, const char *path, const char *data, size_t len, unsigned mode,
                  kl_error *err);
int fb_make_path(fb_runner *r, const char *root, const char *rel, bool file, kl_error *err);
void fb_sleep_ms(fb_runner *r, int ms);
void fb_runner_free(fb_runner *r);

/* Run argv; a non-zero exit status becomes an error "<argv0 base>: <stderr or stdout>"
 * (trimmed) with code EIO. *res (may be NULL) keeps the result either way. */
int fb_run_ok(fb_runner *r, const char *const *argv, fb_result *res, kl_error *err);

/* Convenience: argv from a NULL-terminated list of strings. */
#define FB_ARGV(...) ((const char *const[]){__VA_ARGS__, NULL})

/* An argv element as the golden files show it: bare when it is made only of
 * [A-Za-z0-9_./:=@%+,-] (and not empty), else in single quotes ('\'' for a quote). */
char *fb_argv_quote(const char *arg);
/* The whole argv, elements quoted as above and separated by one space. */
char *fb_argv_format(const char *const *argv);

/* The output trimmed of trailing whitespace (a copy). */
char *fb_trim(const char *s);

#endif
