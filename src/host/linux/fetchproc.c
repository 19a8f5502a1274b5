/* kleened's side of the kleene-fetch helper (fetch.h host_fetch_extract_child; the wire is
 * fetchproto.h).
 *
 * Start the helper with posix_spawn (no fork of a threaded daemon, nothing of ours runs
 * between fork and exec): fd 3 the extraction directory, stdout a pipe, stdin /dev/null,
 * every other fd closed, default signal dispositions and an empty signal mask, and a
 * minimal environment (PATH, the proxy and CA variables libcurl reads, sanitizer options).
 * Then relay its lines to the caller's callbacks until it has exited, watching it with a
 * pidfd rather than waiting for end-of-file: a process forked meanwhile by another thread
 * may hold a copy of the pipe's write end.
 *
 * The helper is untrusted once it has parsed the download: its lines are size-checked and
 * validated field by field, and anything unexpected kills it. Whatever happens, it is
 * reaped before this returns, and on failure its leftovers (`name`, `.staging-<name>-*`)
 * are removed here, so a helper that crashed or was killed leaves nothing behind. */
#include "host/fetch.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/pidfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "host/helpers.h"
#include "host/linux/fetchproto.h"
#include "host/linux/fsutil.h"
#include "lib/buf.h"
#include "lib/cleanup.h"
#include "lib/log.h"
#include "lib/xalloc.h"

/* how often the caller's is_cancelled is asked while the helper is quiet */
#define POLL_MS 50
/* a helper that closed its stdout gets this long to exit before it is killed */
#define EXIT_GRACE_MS 5000

typedef struct helper {
    const char *prog; /* its path */
    const char *name; /* for messages */
    const host_fetch_child_opts *o;
    pid_t pid;
    int pidfd; /* -1 when the kernel has no pidfd_open: then end-of-file ends the relay */
    int rfd;   /* the helper's stdout, non-blocking */
    kl_buf in;
    bool eof, exited, killed, cancelled;
    bool have_result, ok;
    host_fetch_stage stage;
    kl_error result;          /* the helper's error, when !ok */
    kl_error broken;          /* set when the helper broke the protocol */
    host_extract_stats stats; /* from the result */
} helper;

/* ---- spawning ----------------------------------------------------------------------- */

static char **helper_env(void)
{
    static const char *const pass[] = {
        "http_proxy",   "https_proxy",   "HTTPS_PROXY",    "all_proxy",     "ALL_PROXY",
        "no_proxy",     "NO_PROXY",      "CURL_CA_BUNDLE", "SSL_CERT_FILE", "SSL_CERT_DIR",
        "ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS",
    };
    char **env = NULL;
    strv_push(&env, "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
    for (size_t i = 0; i < KL_ARRAY_SIZE(pass); i++) {
        const char *v = getenv(pass[i]);
        if (v) {
            _cleanup_free_ char *kv = xasprintf("%s=%s", pass[i], v);
            strv_push(&env, kv);
        }
    }
    return env;
}

/* The CA files, one after the other, in a memory file (a file's own end of line may be
 * missing: one is added). Their total is bounded: a certs.d directory holds a few
 * certificates. Returns the fd (close-on-exec, above the helper's fixed fds), or -1. */
#define CA_BUNDLE_MAX (4 * 1024 * 1024)
static int ca_bundle(const char *const *files, kl_error *err)
{
    _cleanup_close_ int m = memfd_create("kleene-ca", MFD_CLOEXEC);
    if (m < 0)
        return kl_error_errno(err, errno, "the CA bundle");
    size_t total = 0;
    for (size_t i = 0; files[i]; i++) {
        _cleanup_close_ int fd = open(files[i], O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            return kl_error_errno(err, errno, "reading the CA certificate %s", files[i]);
        char buf[16384];
        ssize_t n;
        while ((n = KL_RETRY_EINTR(read(fd, buf, sizeof(buf)))) > 0) {
            total += (size_t)n;
            if (total > CA_BUNDLE_MAX)
                return kl_error_set(err, EFBIG, "the CA certificates (%s ...) are larger than %d",
                                    files[0], CA_BUNDLE_MAX);
            if (KL_RETRY_EINTR(write(m, buf, (size_t)n)) != n)
                return kl_error_errno(err, errno ? errno : EIO, "the CA bundle");
        }
        if (n < 0)
            return kl_error_errno(err, errno, "reading the CA certificate %s", files[i]);
        if (KL_RETRY_EINTR(write(m, "\n", 1)) != 1)
            return kl_error_errno(err, errno ? errno : EIO, "the CA bundle");
    }
    if (lseek(m, 0, SEEK_SET) < 0)
        return kl_error_errno(err, errno, "the CA bundle");
    int fd = fcntl(m, F_DUPFD_CLOEXEC, 10);
    if (fd < 0)
        return kl_error_errno(err, errno, "the CA bundle");
    return fd;
}

static int spawn_helper(helper *h, const char *url, int parent_dirfd, const char *name,
                        const host_pull_child_opts *pull, kl_error *err)
{
    int p[2];
    if (pipe2(p, O_CLOEXEC) < 0)
        return kl_error_errno(err, errno, "starting %s: pipe", h->prog);
    _cleanup_close_ int rfd = p[0], pipe_w = p[1];
    /* The write end and the directory above 3 in any case (even with stdio closed in
     * kleened), so that the file actions below never overwrite one with another and every
     * dup2 is a real one, which clears FD_CLOEXEC. */
    _cleanup_close_ int wfd = fcntl(pipe_w, F_DUPFD_CLOEXEC, 10);
    _cleanup_close_ int dfd = fcntl(parent_dirfd, F_DUPFD_CLOEXEC, 10);
    if (wfd < 0 || dfd < 0)
        return kl_error_errno(err, errno, "starting %s", h->prog);
    /* the layers kleened has, in a memory file: the list can be longer than a command line */
    _cleanup_close_ int hfd = -1;
    if (pull && pull->n_have) {
        if (pull->n_have > FETCHPROTO_HAVE_MAX)
            return kl_error_set(err, E2BIG, "starting %s: more than %d layers", h->prog,
                                FETCHPROTO_HAVE_MAX);
        _cleanup_close_ int m = memfd_create("kleene-have", MFD_CLOEXEC);
        _cleanup_buf_ kl_buf b = KL_BUF_INIT;
        for (size_t i = 0; i < pull->n_have; i++)
            kl_buf_printf(&b, "%s %s\n", pull->have_blobs[i],
                          pull->have_diff_ids[i] ? pull->have_diff_ids[i] : "-");
        if (m < 0 || KL_RETRY_EINTR(write(m, b.data, b.len)) != (ssize_t)b.len ||
            lseek(m, 0, SEEK_SET) < 0)
            return kl_error_errno(err, errno ? errno : EIO, "starting %s: the layer list", h->prog);
        hfd = fcntl(m, F_DUPFD_CLOEXEC, 10);
        if (hfd < 0)
            return kl_error_errno(err, errno, "starting %s", h->prog);
    }

    /* several CA files: one bundle in a memory file (libcurl takes one CA file) */
    _cleanup_close_ int cfd = -1;
    char ca_path[32];
    const char *ca_arg = NULL;
    size_t n_ca = 0;
    while (pull && pull->ca_files && pull->ca_files[n_ca])
        n_ca++;
    if (n_ca == 1) {
        ca_arg = pull->ca_files[0];
    } else if (n_ca > 1) {
        cfd = ca_bundle(pull->ca_files, err);
        if (cfd < 0)
            return kl_error_prefix(err, "starting %s", h->prog);
        snprintf(ca_path, sizeof(ca_path), "/proc/self/fd/%d", FETCHPROTO_CA_FD);
        ca_arg = ca_path;
    }

    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    _cleanup_close_ int ifd = -1;
    if (pull && (pull->load || pull->extract_stdin)) {
        ifd = fcntl(pull->load_fd, F_DUPFD_CLOEXEC, 10);
        if (ifd < 0) {
            posix_spawn_file_actions_destroy(&fa);
            return kl_error_errno(err, errno, "starting %s", h->prog);
        }
        posix_spawn_file_actions_adddup2(&fa, ifd, STDIN_FILENO);
    } else {
        posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
    }
    posix_spawn_file_actions_adddup2(&fa, wfd, STDOUT_FILENO);
    posix_spawn_file_actions_adddup2(&fa, dfd, FETCHPROTO_DIR_FD);
    if (hfd >= 0)
        posix_spawn_file_actions_adddup2(&fa, hfd, FETCHPROTO_HAVE_FD);
    else if (cfd >= 0)
        posix_spawn_file_actions_addclose(&fa, FETCHPROTO_HAVE_FD);
    if (cfd >= 0)
        posix_spawn_file_actions_adddup2(&fa, cfd, FETCHPROTO_CA_FD);
    posix_spawn_file_actions_addclosefrom_np(&fa, (cfd >= 0   ? FETCHPROTO_CA_FD
                                                   : hfd >= 0 ? FETCHPROTO_HAVE_FD
                                                              : FETCHPROTO_DIR_FD) +
                                                      1);
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    sigset_t none, all;
    sigemptyset(&none);
    sigfillset(&all);
    sigdelset(&all, SIGKILL);
    sigdelset(&all, SIGSTOP);
    posix_spawnattr_setsigmask(&attr, &none);   /* kleened blocks SIGTERM & co. */
    posix_spawnattr_setsigdefault(&attr, &all); /* and ignores SIGPIPE */
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);

    char every[16], dirfd[16], havefd[16], chunk[24];
    snprintf(havefd, sizeof(havefd), "%d", FETCHPROTO_HAVE_FD);
    snprintf(every, sizeof(every), "%u", h->o && h->o->extract_progress ? h->o->every : 0);
    snprintf(dirfd, sizeof(dirfd), "%d", FETCHPROTO_DIR_FD);
    const char *argv[40] = {h->prog,
                            "--dir-fd",
                            dirfd,
                            "--every",
                            every,
                            "--log-level",
                            kl_log_level_name(kl_log_get_level())};
    size_t argc = 7;
    if (pull && pull->extract_stdin) {
        argv[argc++] = "--stdin";
    } else if (pull) {
        argv[argc++] = pull->load            ? "--load"
                       : pull->push_manifest ? "--push"
                       : pull->login         ? "--login"
                                             : "--pull";
        if (pull->push_manifest) {
            argv[argc++] = "--manifest";
            argv[argc++] = pull->push_manifest;
            if (pull->push_mount_from && *pull->push_mount_from) {
                argv[argc++] = "--mount-from";
                argv[argc++] = pull->push_mount_from;
            }
            if (pull->push_index && *pull->push_index) {
                argv[argc++] = "--index";
                argv[argc++] = pull->push_index;
            }
            if (pull->push_chunk_size) {
                snprintf(chunk, sizeof(chunk), "%llu", (unsigned long long)pull->push_chunk_size);
                argv[argc++] = "--chunk-size";
                argv[argc++] = chunk;
            }
        }
        if (pull->platform && *pull->platform) {
            argv[argc++] = "--platform";
            argv[argc++] = pull->platform;
        }
        if (pull->insecure)
            argv[argc++] = "--insecure";
        if (ca_arg) {
            argv[argc++] = "--ca-file";
            argv[argc++] = ca_arg;
        }
        if (pull->client_cert && *pull->client_cert && pull->client_key && *pull->client_key) {
            argv[argc++] = "--client-cert";
            argv[argc++] = pull->client_cert;
            argv[argc++] = "--client-key";
            argv[argc++] = pull->client_key;
        }
        if (pull->plain_http_hint)
            argv[argc++] = "--plain-http-hint";
        if (hfd >= 0) {
            argv[argc++] = "--have-fd";
            argv[argc++] = havefd;
        }
    }
    argv[argc++] = "--";
    argv[argc++] = url;
    argv[argc++] = name;
    argv[argc] = NULL;
    _cleanup_strv_ char **env = helper_env();
    if (pull && pull->username && *pull->username) {
        /* not on the command line, which every user can read in /proc */
        _cleanup_free_ char *u = xasprintf("KLEENE_REGISTRY_USERNAME=%s", pull->username);
        _cleanup_free_ char *pw =
            xasprintf("KLEENE_REGISTRY_PASSWORD=%s", pull->password ? pull->password : "");
        strv_push(&env, u);
        strv_push(&env, pw);
    }
    int r = posix_spawn(&h->pid, h->prog, &fa, &attr, (char *const *)argv, env);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    if (r != 0)
        return kl_error_errno(err, r, "starting %s", h->prog);

    h->pidfd = pidfd_open(h->pid, 0);
    if (h->pidfd < 0 && errno != ENOSYS)
        log_warn("%s (pid %d): pidfd_open: %s", h->name, (int)h->pid, strerror(errno));
    fcntl(rfd, F_SETFL, O_NONBLOCK);
    h->rfd = steal_fd(&rfd);
    return 0;
}

static void kill_helper(helper *h)
{
    if (h->pid > 0 && !h->killed) {
        kill(h->pid, SIGKILL);
        h->killed = true;
    }
}

/* Wait for the helper to end (it was killed, or has exited) and return its wait status. */
static int reap(helper *h)
{
    int status = 0;
    while (waitpid(h->pid, &status, 0) < 0) {
        if (errno != EINTR) {
            log_error("%s (pid %d): waitpid: %s", h->name, (int)h->pid, strerror(errno));
            break;
        }
    }
    return status;
}

/* "exited with status 3", "was killed by signal 11 (Segmentation fault)" */
static void describe_end(int status, char *buf, size_t size)
{
    if (WIFSIGNALED(status))
        snprintf(buf, size, "was killed by signal %d (%s)", WTERMSIG(status),
                 strsignal(WTERMSIG(status)));
    else if (WIFEXITED(status))
        snprintf(buf, size, "exited with status %d", WEXITSTATUS(status));
    else
        snprintf(buf, size, "ended with wait status %#x", (unsigned)status);
}

/* ---- the protocol ------------------------------------------------------------------- */

static int broken(helper *h, const char *what)
{
    if (!kl_error_is_set(&h->broken))
        kl_error_set(&h->broken, EPROTO, "%s (pid %d) broke the protocol: %s", h->name, (int)h->pid,
                     what);
    kill_helper(h);
    return -1;
}

static int handle_line(helper *h, const char *line, size_t len)
{
    fetchproto_msg m;
    kl_error perr = KL_ERROR_INIT;
    int r = fetchproto_parse(line, len, &m, &perr);
    if (r < 0 || (h->have_result && m.type != FETCHPROTO_UNKNOWN)) {
        fetchproto_msg_clear(&m);
        return broken(h, r < 0 ? perr.msg : "a message after the result");
    }
    const host_fetch_child_opts *o = h->o;
    switch (m.type) {
    case FETCHPROTO_FETCH:
        if (o && o->fetch_progress)
            o->fetch_progress(&m.fetch, o->ctx);
        break;
    case FETCHPROTO_EXTRACT:
        if (o && o->extract_progress)
            o->extract_progress(&m.stats, o->ctx);
        break;
    case FETCHPROTO_LAYER:
        if (o && o->layer_progress)
            o->layer_progress(&m.layer, o->ctx);
        break;
    case FETCHPROTO_LOG:
        kl_log((kl_log_level)m.level, "%s: %s", h->name, m.text);
        if (o && o->log_line)
            o->log_line(m.level, m.text, o->ctx);
        break;
    case FETCHPROTO_RESULT:
        h->have_result = true;
        h->ok = m.ok;
        h->stats = m.stats;
        h->stage = m.stage;
        if (!m.ok)
            kl_error_set(&h->result, m.code, "%s", m.text);
        break;
    case FETCHPROTO_UNKNOWN: /* from a newer helper */
        break;
    }
    fetchproto_msg_clear(&m);
    return 0;
}

/* One read (at most 64 KiB, so that the relay asks about cancellation between reads of a
 * chatty helper), and every complete line in it. 1 when something was read, 0 when nothing
 * was there or at end-of-file, -1 when the helper broke the protocol. */
static int read_lines(helper *h)
{
    char buf[65536];
    ssize_t n = KL_RETRY_EINTR(read(h->rfd, buf, sizeof(buf)));
    if (n < 0 && errno == EAGAIN)
        return 0;
    if (n <= 0) { /* a line cut short stays unhandled: no result, which says enough */
        h->eof = true;
        if (n < 0)
            log_warn("%s (pid %d): reading its output: %s", h->name, (int)h->pid, strerror(errno));
        return 0;
    }
    kl_buf_append(&h->in, buf, (size_t)n);
    size_t off = 0;
    char *nl;
    while ((nl = memchr(h->in.data + off, '\n', h->in.len - off))) {
        size_t len = (size_t)(nl - (h->in.data + off));
        if (len + 1 > FETCHPROTO_LINE_MAX)
            return broken(h, "a message too long");
        if (handle_line(h, h->in.data + off, len) < 0)
            return -1;
        off += len + 1;
    }
    kl_buf_consume(&h->in, off);
    if (h->in.len >= FETCHPROTO_LINE_MAX)
        return broken(h, "a message too long");
    return 1;
}

static bool cancelled(helper *h)
{
    return h->o && h->o->is_cancelled && h->o->is_cancelled(h->o->ctx);
}

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Relay until the helper has exited and its output is read, it broke the protocol, or the
 * caller cancelled (then it is killed). */
static void relay(helper *h)
{
    long long eof_at = 0;
    while (!h->killed) {
        if (cancelled(h)) {
            h->cancelled = true;
            kill_helper(h);
            return;
        }
        if (h->exited) {
            /* everything it wrote is in the pipe: read it, whoever else holds the pipe */
            while (!h->eof && read_lines(h) > 0)
                ;
            return;
        }
        if (h->eof && h->pidfd < 0)
            return; /* no pidfd: end-of-file is the end */
        if (h->eof && !eof_at)
            eof_at = now_ms();
        if (eof_at && now_ms() - eof_at > EXIT_GRACE_MS) {
            log_warn("%s (pid %d) closed its output but did not exit: killing it", h->name,
                     (int)h->pid);
            kill_helper(h);
            return;
        }
        struct pollfd pfd[2];
        nfds_t n = 0;
        if (!h->eof)
            pfd[n++] = (struct pollfd){.fd = h->rfd, .events = POLLIN};
        if (h->pidfd >= 0)
            pfd[n++] = (struct pollfd){.fd = h->pidfd, .events = POLLIN};
        int r = poll(pfd, n, POLL_MS);
        if (r < 0 && errno != EINTR) {
            log_error("%s (pid %d): poll: %s", h->name, (int)h->pid, strerror(errno));
            kill_helper(h);
            return;
        }
        for (nfds_t i = 0; r > 0 && i < n; i++) {
            if (!pfd[i].revents)
                continue;
            if (pfd[i].fd == h->pidfd)
                h->exited = true;
            else if (read_lines(h) < 0)
                return;
        }
    }
}

/* ---- leftovers ---------------------------------------------------------------------- */

/* Remove parent/name and parent/.staging-<name>-XXXXXX (fs_staging_create's names). */
static void remove_leftovers(int parent_dirfd, const char *name)
{
    kl_error err = KL_ERROR_INIT;
    if (fs_remove_at(parent_dirfd, name, &err) < 0)
        log_error("%s: removing %s: %s", FETCHPROTO_HELPER, name, err.msg);
    int fd = openat(parent_dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return;
    _cleanup_closedir_ DIR *d = fdopendir(fd);
    if (!d) {
        close(fd);
        return;
    }
    _cleanup_free_ char *prefix = xasprintf(".staging-%s-", name);
    size_t plen = strlen(prefix);
    _cleanup_strv_ char **found = NULL;
    struct dirent *de;
    while ((de = readdir(d)))
        if (!strncmp(de->d_name, prefix, plen) && strlen(de->d_name) == plen + 6)
            strv_push(&found, de->d_name);
    for (size_t i = 0; found && found[i]; i++) {
        kl_error_clear(&err);
        if (fs_remove_at(parent_dirfd, found[i], &err) < 0)
            log_error("%s: removing %s: %s", FETCHPROTO_HELPER, found[i], err.msg);
    }
}

/* ---- the whole ---------------------------------------------------------------------- */

static bool name_is_valid(const char *name)
{
    return name && *name && !strchr(name, '/') && strcmp(name, ".") && strcmp(name, "..");
}

static int run_child(const char *url, int parent_dirfd, const char *name,
                     const host_fetch_child_opts *opts, const host_pull_child_opts *pull,
                     host_extract_stats *stats, host_fetch_stage *stage, kl_error *err)
{
    host_fetch_stage unused;
    if (!stage)
        stage = &unused;
    *stage = HOST_FETCH_STAGE_EXTRACT;
    if (!name_is_valid(name))
        return kl_error_set(err, EINVAL, "extracting archive: invalid destination name");
    /* also what makes removing `name` on failure safe: it is the helper's */
    if (faccessat(parent_dirfd, name, F_OK, AT_SYMLINK_NOFOLLOW) == 0)
        return kl_error_set(err, EEXIST, "extracting archive: %s exists", name);
    *stage = HOST_FETCH_STAGE_HELPER;
    _cleanup_free_ char *prog = host_helper_path(FETCHPROTO_HELPER, err);
    if (!prog)
        return kl_error_prefix(err, "fetching %s", url ? url : "");

    helper h = {.prog = prog, .name = FETCHPROTO_HELPER, .o = opts, .pidfd = -1, .rfd = -1};
    if (spawn_helper(&h, url ? url : "", parent_dirfd, name, pull, err) < 0)
        return -1;
    relay(&h);
    int status = reap(&h);
    if (h.pidfd >= 0)
        close(h.pidfd);
    close(h.rfd);
    kl_buf_free(&h.in);

    /* The helper's contract: exit 0 after an ok result, 1 after an error result. Any other
     * end after a result is logged. After an error result the error stands. After an ok
     * result nothing it made is trusted: kleened cannot check an extracted layer tree, and a
     * crash (or a sanitizer's report) at the end may mean its memory was corrupt while it
     * worked; the operation fails and its leftovers go (docs/image-fetch.md, "The helper's
     * exit"). */
    char how[96];
    describe_end(status, how, sizeof(how));
    bool clean_end = h.have_result && WIFEXITED(status) && WEXITSTATUS(status) == (h.ok ? 0 : 1);
    if (h.have_result && !clean_end && !h.cancelled && !kl_error_is_set(&h.broken))
        log_warn("%s (pid %d) reported %s, then %s%s", h.name, (int)h.pid,
                 h.ok ? "success" : "an error", how,
                 h.ok ? ": not trusting its work, the operation fails" : "");
    int r = 0;
    if (h.cancelled) {
        *stage = HOST_FETCH_STAGE_NONE;
        r = kl_error_set(err, ECANCELED, "fetching %s: cancelled", url);
    } else if (kl_error_is_set(&h.broken)) {
        *err = h.broken;
        r = -1;
    } else if (h.have_result && h.ok && clean_end) {
        *stage = HOST_FETCH_STAGE_NONE;
        if (stats)
            *stats = h.stats;
    } else if (h.have_result && h.ok) {
        r = kl_error_set(err, EIO, "%s (pid %d) reported success, then %s: its work is not trusted",
                         h.name, (int)h.pid, how);
    } else if (h.have_result) {
        *stage = h.stage;
        *err = h.result;
        r = -1;
    } else if (WIFSIGNALED(status)) {
        r = kl_error_set(err, EIO, "%s (pid %d) was killed by signal %d (%s)", h.name, (int)h.pid,
                         WTERMSIG(status), strsignal(WTERMSIG(status)));
    } else {
        r = kl_error_set(err, EIO, "%s (pid %d) exited with status %d without a result", h.name,
                         (int)h.pid, WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    }
    if (r < 0)
        remove_leftovers(parent_dirfd, name);
    return r;
}

/* Linux fetches base images with kleene-fetch (host_fetch_extract_child) or debootstrap, both
 * driven by the engine: nothing done here. */
int host_layer_fetch_base(const char *root, const char *id, const char *url, char **version,
                          host_say_fn say, void *ctx, kl_error *err)
{
    (void)root, (void)id, (void)url, (void)version, (void)say, (void)ctx, (void)err;
    return 0;
}

int host_fetch_extract_child(const char *url, int parent_dirfd, const char *name,
                             const host_fetch_child_opts *opts, host_extract_stats *stats,
                             host_fetch_stage *stage, kl_error *err)
{
    return run_child(url, parent_dirfd, name, opts, NULL, stats, stage, err);
}

int host_pull_child(const char *reference, int parent_dirfd, const char *name,
                    const host_pull_child_opts *pull, const host_fetch_child_opts *opts,
                    kl_error *err)
{
    host_pull_child_opts none = {0};
    return run_child(reference, parent_dirfd, name, opts, pull ? pull : &none, NULL, NULL, err);
}

int host_load_child(int in_fd, int parent_dirfd, const char *name, const host_pull_child_opts *pull,
                    const host_fetch_child_opts *opts, kl_error *err)
{
    host_pull_child_opts lo = {0};
    if (pull) {
        lo.platform = pull->platform;
        lo.have_blobs = pull->have_blobs;
        lo.have_diff_ids = pull->have_diff_ids;
        lo.n_have = pull->n_have;
    }
    lo.load = true;
    lo.load_fd = in_fd;
    return run_child("-", parent_dirfd, name, opts, &lo, NULL, NULL, err);
}

int host_extract_fd_child(int in_fd, int parent_dirfd, const char *name,
                          const host_fetch_child_opts *opts, host_extract_stats *stats,
                          host_fetch_stage *stage, kl_error *err)
{
    host_pull_child_opts xo = {.extract_stdin = true, .load_fd = in_fd};
    return run_child("-", parent_dirfd, name, opts, &xo, stats, stage, err);
}

int host_push_child(const char *reference, int blobs_dirfd, const host_pull_child_opts *pull,
                    const host_fetch_child_opts *opts, kl_error *err)
{
    if (!pull || !pull->push_manifest)
        return kl_error_set(err, EINVAL, "pushing: no manifest");
    host_pull_child_opts po = *pull;
    po.load = false;
    po.n_have = 0;
    /* NAME is not used by a push: one that no blob directory entry can be (hex names) */
    return run_child(reference, blobs_dirfd, "-push-", opts, &po, NULL, NULL, err);
}

int host_login_child(const char *server, int scratch_dirfd, const host_pull_child_opts *pull,
                     const host_fetch_child_opts *opts, kl_error *err)
{
    if (!pull || !pull->username || !*pull->username)
        return kl_error_set(err, EINVAL, "logging in: no username");
    host_pull_child_opts lo = {.insecure = pull->insecure,
                               .ca_files = pull->ca_files,
                               .client_cert = pull->client_cert,
                               .client_key = pull->client_key,
                               .username = pull->username,
                               .password = pull->password,
                               .login = true};
    /* NAME is not used by a login */
    return run_child(server, scratch_dirfd, "-login-", opts, &lo, NULL, NULL, err);
}
