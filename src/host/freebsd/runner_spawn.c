/* The production runner (runner.h): commands started with posix_spawn, never through a
 * shell, with a fixed environment (PATH of the base system, C locale) so that the outputs
 * the layer parses do not depend on who started kleened. Files are replaced atomically.
 * It must not: interpret outputs, or leak kleened's fds into the commands (every fd is
 * O_CLOEXEC; the spawn file actions dup only the pipes onto 0, 1 and 2). */
#include "host/freebsd/runner.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "lib/buf.h"
#include "lib/cleanup.h"
#include "lib/xalloc.h"

static char *const spawn_env[] = {
    "PATH=/sbin:/bin:/usr/sbin:/usr/bin:/usr/local/sbin:/usr/local/bin", "LC_ALL=C", NULL};

static int cloexec_pipe(int fds[2])
{
    if (pipe(fds) < 0)
        return -1;
    for (int i = 0; i < 2; i++) {
        if (fcntl(fds[i], F_SETFD, FD_CLOEXEC) < 0) {
            close(fds[0]);
            close(fds[1]);
            return -1;
        }
    }
    return 0;
}

static void closep2(int fds[2])
{
    for (int i = 0; i < 2; i++) {
        if (fds[i] >= 0)
            close(fds[i]);
        fds[i] = -1;
    }
}

static int status_of(int ws)
{
    if (WIFEXITED(ws))
        return WEXITSTATUS(ws);
    if (WIFSIGNALED(ws))
        return 128 + WTERMSIG(ws);
    return 255;
}

/* Spawn argv with fd `in` on 0, `out` on 1 and `errfd` on 2 (-1: /dev/null). */
static int spawn_fds(const char *const *argv, int in, int out, int errfd, pid_t *pid, kl_error *err)
{
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    int targets[3] = {in, out, errfd};
    for (int i = 0; i < 3; i++) {
        if (targets[i] >= 0)
            posix_spawn_file_actions_adddup2(&fa, targets[i], i);
        else
            posix_spawn_file_actions_addopen(&fa, i, "/dev/null", i ? O_WRONLY : O_RDONLY, 0);
    }
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    sigset_t none, all;
    sigemptyset(&none);
    sigfillset(&all);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setsigdefault(&attr, &all);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    /* argv[0] is an absolute path (the layer never relies on PATH). */
    int rc = posix_spawn(pid, argv[0], &fa, &attr, (char *const *)argv, spawn_env);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    if (rc != 0)
        return kl_error_errno(err, rc, "running %s", argv[0]);
    return 0;
}

static int wait_pid(pid_t pid)
{
    int ws = 0;
    while (waitpid(pid, &ws, 0) < 0) {
        if (errno != EINTR)
            return 255;
    }
    return status_of(ws);
}

/* Feed `input` to in_fd and collect out_fd and err_fd until both reach EOF. */
static void pump(int in_fd, const char *input, int out_fd, kl_buf *out, int err_fd, kl_buf *errb)
{
    size_t in_len = input ? strlen(input) : 0, in_off = 0;
    if (in_fd >= 0 && in_len == 0) {
        close(in_fd);
        in_fd = -1;
    }
    if (in_fd >= 0)
        fcntl(in_fd, F_SETFL, O_NONBLOCK);
    while (in_fd >= 0 || out_fd >= 0 || err_fd >= 0) {
        struct pollfd p[3] = {{in_fd, POLLOUT, 0}, {out_fd, POLLIN, 0}, {err_fd, POLLIN, 0}};
        if (poll(p, 3, -1) < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        if (in_fd >= 0 && p[0].revents) {
            ssize_t w = write(in_fd, input + in_off, in_len - in_off);
            if (w > 0)
                in_off += (size_t)w;
            if ((w < 0 && errno != EAGAIN && errno != EINTR) || in_off == in_len) {
                close(in_fd);
                in_fd = -1;
            }
        }
        int *fds[2] = {&out_fd, &err_fd};
        kl_buf *bufs[2] = {out, errb};
        for (int i = 0; i < 2; i++) {
            if (*fds[i] < 0 || !p[i + 1].revents)
                continue;
            char chunk[4096];
            ssize_t n = read(*fds[i], chunk, sizeof(chunk));
            if (n > 0) {
                kl_buf_append(bufs[i], chunk, (size_t)n);
            } else if (n == 0 || (errno != EINTR && errno != EAGAIN)) {
                close(*fds[i]);
                *fds[i] = -1;
            }
        }
    }
}

static int sp_run(fb_runner *r, const char *const *argv, const char *input, fb_result *res,
                  kl_error *err)
{
    int in[2] = {-1, -1}, out[2] = {-1, -1}, errp[2] = {-1, -1};
    if (cloexec_pipe(in) < 0 || cloexec_pipe(out) < 0 || cloexec_pipe(errp) < 0) {
        int e = errno;
        closep2(in);
        closep2(out);
        closep2(errp);
        return kl_error_errno(err, e, "pipe");
    }
    pid_t pid;
    int rc = spawn_fds(argv, in[0], out[1], errp[1], &pid, err);
    close(in[0]);
    close(out[1]);
    close(errp[1]);
    if (rc < 0) {
        close(in[1]);
        close(out[0]);
        close(errp[0]);
        return -1;
    }
    _cleanup_buf_ kl_buf ob = KL_BUF_INIT, eb = KL_BUF_INIT;
    /* SIGPIPE would end kleened if the command stops reading early. */
    struct sigaction ign = {.sa_handler = SIG_IGN}, old;
    sigaction(SIGPIPE, &ign, &old);
    pump(in[1], input, out[0], &ob, errp[0], &eb);
    sigaction(SIGPIPE, &old, NULL);
    res->status = wait_pid(pid);
    res->out = kl_buf_steal(&ob);
    res->err = kl_buf_steal(&eb);
    return 0;
}

static int sp_run_pipe(fb_runner *r, const char *const *argv1, const char *const *argv2,
                       fb_result *res, kl_error *err)
{
    int mid[2] = {-1, -1}, out[2] = {-1, -1}, errp[2] = {-1, -1};
    if (cloexec_pipe(mid) < 0 || cloexec_pipe(out) < 0 || cloexec_pipe(errp) < 0) {
        int e = errno;
        closep2(mid);
        closep2(out);
        closep2(errp);
        return kl_error_errno(err, e, "pipe");
    }
    pid_t p1, p2;
    if (spawn_fds(argv1, -1, mid[1], errp[1], &p1, err) < 0) {
        closep2(mid);
        closep2(out);
        closep2(errp);
        return -1;
    }
    int rc = spawn_fds(argv2, mid[0], out[1], errp[1], &p2, err);
    closep2(mid);
    close(out[1]);
    close(errp[1]);
    if (rc < 0) {
        kill(p1, SIGTERM);
        wait_pid(p1);
        close(out[0]);
        close(errp[0]);
        return -1;
    }
    _cleanup_buf_ kl_buf ob = KL_BUF_INIT, eb = KL_BUF_INIT;
    pump(-1, NULL, out[0], &ob, errp[0], &eb);
    int s1 = wait_pid(p1), s2 = wait_pid(p2);
    res->status = s2 ? s2 : s1;
    res->out = kl_buf_steal(&ob);
    res->err = kl_buf_steal(&eb);
    return 0;
}

static int sp_spawn(fb_runner *r, const char *const *argv, fb_proc *outp, kl_error *err)
{
    int in[2] = {-1, -1}, out[2] = {-1, -1};
    if (cloexec_pipe(in) < 0 || cloexec_pipe(out) < 0) {
        int e = errno;
        closep2(in);
        closep2(out);
        return kl_error_errno(err, e, "pipe");
    }
    pid_t pid;
    int rc = spawn_fds(argv, in[0], out[1], out[1], &pid, err);
    close(in[0]);
    close(out[1]);
    if (rc < 0) {
        close(in[1]);
        close(out[0]);
        return -1;
    }
    outp->pid = pid;
    outp->in_fd = in[1];
    outp->out_fd = out[0];
    return 0;
}

static int sp_wait(fb_runner *r, fb_proc *p, int timeout_ms, int *status, kl_error *err)
{
    struct timespec start;
    clock_gettime(CLOCK_MONOTONIC, &start);
    for (;;) {
        int ws = 0;
        pid_t w = waitpid(p->pid, &ws, WNOHANG);
        if (w == p->pid) {
            *status = status_of(ws);
            return 1;
        }
        if (w < 0 && errno != EINTR)
            return kl_error_errno(err, errno, "waiting for process %d", p->pid);
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        long long ms =
            (now.tv_sec - start.tv_sec) * 1000LL + (now.tv_nsec - start.tv_nsec) / 1000000;
        if (timeout_ms >= 0 && ms >= timeout_ms)
            return 0;
        struct timespec d = {0, 10 * 1000000L};
        nanosleep(&d, NULL);
    }
}

static int sp_kill(fb_runner *r, fb_proc *p, int sig, kl_error *err)
{
    if (kill(p->pid, sig) < 0)
        return kl_error_errno(err, errno, "signalling process %d", p->pid);
    return 0;
}

static int sp_write_file(fb_runner *r, const char *path, const char *data, size_t len,
                         unsigned mode, kl_error *err)
{
    _cleanup_free_ char *tmp = xasprintf("%s.kleene-tmp", path);
    _cleanup_close_ int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode);
    if (fd < 0)
        return kl_error_errno(err, errno, "writing %s", tmp);
    size_t off = 0;
    while (off < len) {
        ssize_t w = write(fd, data + off, len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0) {
            int e = errno;
            unlink(tmp);
            return kl_error_errno(err, e, "writing %s", tmp);
        }
        off += (size_t)w;
    }
    if (fchmod(fd, mode) < 0 || fsync(fd) < 0 || rename(tmp, path) < 0) {
        int e = errno;
        unlink(tmp);
        return kl_error_errno(err, e, "replacing %s", path);
    }
    return 0;
}

static int sp_make_path(fb_runner *r, const char *root, const char *rel, bool file, kl_error *err)
{
    int dir = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir < 0)
        return kl_error_errno(err, errno, "opening %s", root);
    _cleanup_free_ char *copy = xstrdup(rel);
    char *save = NULL;
    char *comp = strtok_r(copy, "/", &save);
    while (comp) {
        char *next = strtok_r(NULL, "/", &save);
        if (!strcmp(comp, ".") || !strcmp(comp, "..")) {
            close(dir);
            return kl_error_set(err, EINVAL, "%s/%s: '.' or '..' in the path", root, rel);
        }
        int fd;
        if (!next && file) {
            /* Privileged: an empty file in the container's own dataset, O_NOFOLLOW so that a
             * symlink the image put there cannot point it at a host file. */
            fd = openat(dir, comp, O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK, 0644);
            if (fd >= 0) {
                struct stat st;
                if (fstat(fd, &st) == 0 && !S_ISREG(st.st_mode)) {
                    close(fd);
                    fd = -1;
                    errno = EINVAL;
                }
            }
        } else {
            if (mkdirat(dir, comp, 0755) < 0 && errno != EEXIST) {
                int e = errno;
                close(dir);
                return kl_error_errno(err, e, "%s/%s: creating %s", root, rel, comp);
            }
            fd = openat(dir, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        }
        int e = errno;
        close(dir);
        if (fd < 0) {
            if (e == ELOOP || e == ENOTDIR || e == EMLINK)
                return kl_error_set(err, EXDEV, "%s/%s: %s is a symlink or not a directory", root,
                                    rel, comp);
            return kl_error_errno(err, e, "%s/%s: opening %s", root, rel, comp);
        }
        dir = fd;
        comp = next;
    }
    close(dir);
    return 0;
}

static void sp_sleep_ms(fb_runner *r, int ms)
{
    struct timespec d = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&d, &d) < 0 && errno == EINTR) {
    }
}

static void sp_free(fb_runner *r)
{
    free(r);
}

static const fb_runner_ops spawn_ops = {
    .run = sp_run,
    .run_pipe = sp_run_pipe,
    .spawn = sp_spawn,
    .wait = sp_wait,
    .kill = sp_kill,
    .write_file = sp_write_file,
    .make_path = sp_make_path,
    .sleep_ms = sp_sleep_ms,
    .free = sp_free,
};

fb_runner *fb_runner_spawn_new(void)
{
    fb_runner *r = xcalloc(1, sizeof(*r));
    r->ops = &spawn_ops;
    return r;
}
