/* host_fetch_extract_child: the fetch and extraction run in the helper kleene-fetch (the one
 * built in this tree, found by host_helper_path), with its progress relayed and its errors
 * turned into the in-process ones. Served by a small HTTP server on a loopback thread of this
 * test: whole archives, a hostile one, and one that stalls after 30% (for cancellation and
 * for killing the helper mid-download). After every case: nothing left in the directory and
 * no child process left (waitpid gives ECHILD). Also host_helper_path's search and a fake
 * helper that breaks the protocol. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <archive.h>
#include <archive_entry.h>
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "host/fetch.h"
#include "host/helpers.h"
#include "lib/buf.h"
#include "lib/cleanup.h"
#include "lib/log.h"
#include "lib/xalloc.h"

static char tmpdir[] = "/tmp/kl-fetchproc-XXXXXX";
static int tmpfd = -1;
static int listen_fd = -1;
static int port;
static pthread_t server;

/* the archives served, in memory */
static kl_buf good, evil, dotdot, corrupt;

/* ---- archives ------------------------------------------------------------------------ */

static la_ssize_t buf_write(struct archive *a, void *ctx, const void *data, size_t n)
{
    (void)a;
    kl_buf_append(ctx, data, n);
    return (la_ssize_t)n;
}

static void add_file(struct archive *a, const char *path, const void *data, size_t n)
{
    struct archive_entry *e = archive_entry_new();
    archive_entry_set_pathname(e, path);
    archive_entry_set_filetype(e, AE_IFREG);
    archive_entry_set_perm(e, 0644);
    archive_entry_set_size(e, (la_int64_t)n);
    archive_write_header(a, e);
    archive_write_data(a, data, n);
    archive_entry_free(e);
}

static void add_symlink(struct archive *a, const char *path, const char *target)
{
    struct archive_entry *e = archive_entry_new();
    archive_entry_set_pathname(e, path);
    archive_entry_set_filetype(e, AE_IFLNK);
    archive_entry_set_perm(e, 0777);
    archive_entry_set_symlink(e, target);
    archive_write_header(a, e);
    archive_entry_free(e);
}

/* good: etc/hostname and 600 kB of incompressible data in bin/blob (gzip), so that the
 * transfer takes many chunks and 30% of it is well inside the blob. evil: a symlink out of
 * the tree and an entry through it; dotdot: a `..` entry, each after an ordinary one. */
static void make_archives(void)
{
    struct archive *a = archive_write_new();
    archive_write_set_format_pax_restricted(a);
    archive_write_add_filter_gzip(a);
    assert_int_equal(archive_write_open(a, &good, NULL, buf_write, NULL), ARCHIVE_OK);
    add_file(a, "etc/hostname", "kleene\n", 7);
    size_t n = 600000;
    unsigned char *data = xmalloc(n);
    uint32_t x = 2463534242u;
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        data[i] = (unsigned char)x;
    }
    add_file(a, "bin/blob", data, n);
    free(data);
    archive_write_close(a);
    archive_write_free(a);

    a = archive_write_new();
    archive_write_set_format_pax_restricted(a);
    assert_int_equal(archive_write_open(a, &evil, NULL, buf_write, NULL), ARCHIVE_OK);
    add_file(a, "ok.txt", "x", 1);
    add_symlink(a, "etc", "/tmp");
    add_file(a, "etc/kl-fetchproc-escaped.txt", "x", 1);
    archive_write_close(a);
    archive_write_free(a);

    a = archive_write_new();
    archive_write_set_format_pax_restricted(a);
    assert_int_equal(archive_write_open(a, &dotdot, NULL, buf_write, NULL), ARCHIVE_OK);
    add_file(a, "ok.txt", "x", 1);
    add_file(a, "../kl-fetchproc-dotdot-\xe9.txt", "x", 1); /* not UTF-8 (Latin-1) */
    archive_write_close(a);
    archive_write_free(a);

    kl_buf_puts(&corrupt, "\x1f\x8b this is not really gzip");
}

/* ---- the HTTP server ----------------------------------------------------------------- */

static void send_all(int fd, const void *p, size_t n)
{
    while (n) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w <= 0)
            return;
        p = (const char *)p + w;
        n -= (size_t)w;
    }
}

static void *serve_conn(void *arg)
{
    int fd = (int)(intptr_t)arg;
    char req[4096];
    ssize_t n = recv(fd, req, sizeof(req) - 1, 0);
    req[n > 0 ? n : 0] = '\0';
    const kl_buf *body = NULL;
    bool stall = false;
    if (!strncmp(req, "GET /good.tar.gz ", 17))
        body = &good;
    else if (!strncmp(req, "GET /evil.tar ", 14))
        body = &evil;
    else if (!strncmp(req, "GET /dotdot.tar ", 16))
        body = &dotdot;
    else if (!strncmp(req, "GET /corrupt.tar.gz ", 20))
        body = &corrupt;
    else if (!strncmp(req, "GET /stall.tar.gz ", 18))
        body = &good, stall = true;
    char head[256];
    if (!body) {
        snprintf(head, sizeof(head), "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n");
        send_all(fd, head, strlen(head));
    } else {
        snprintf(head, sizeof(head), "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\n\r\n", body->len);
        send_all(fd, head, strlen(head));
        send_all(fd, body->data, stall ? body->len * 3 / 10 : body->len);
        if (stall) /* hold the connection until the client goes */
            while (recv(fd, req, sizeof(req), 0) > 0)
                ;
    }
    close(fd);
    return NULL;
}

static void *serve(void *arg)
{
    (void)arg;
    for (;;) {
        int fd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);
        if (fd < 0)
            return NULL; /* shut down */
        pthread_t t;
        if (pthread_create(&t, NULL, serve_conn, (void *)(intptr_t)fd) == 0)
            pthread_detach(t);
        else
            close(fd);
    }
}

static int setup(void **state)
{
    (void)state;
    make_archives();
    assert_non_null(mkdtemp(tmpdir));
    tmpfd = open(tmpdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    _cleanup_free_ char *srv = xasprintf("%s/good.tar.gz", tmpdir);
    FILE *f = fopen(srv, "w");
    fwrite(good.data, 1, good.len, f);
    fclose(f);
    listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    if (bind(listen_fd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(listen_fd, 16) < 0 ||
        getsockname(listen_fd, (struct sockaddr *)&a, &len) < 0)
        return -1;
    port = ntohs(a.sin_port);
    return pthread_create(&server, NULL, serve, NULL) == 0 ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    shutdown(listen_fd, SHUT_RDWR);
    pthread_join(server, NULL);
    close(listen_fd);
    close(tmpfd);
    kl_buf_free(&good);
    kl_buf_free(&evil);
    kl_buf_free(&dotdot);
    kl_buf_free(&corrupt);
    kl_error err = KL_ERROR_INIT;
    return host_tree_remove(tmpdir, &err);
}

/* ---- checks -------------------------------------------------------------------------- */

static bool exists(const char *rel)
{
    _cleanup_free_ char *p = xasprintf("%s/%s", tmpdir, rel);
    struct stat st;
    return lstat(p, &st) == 0;
}

static bool has_staging(const char *name)
{
    _cleanup_free_ char *prefix = xasprintf(".staging-%s-", name);
    DIR *d = opendir(tmpdir);
    bool found = false;
    struct dirent *de;
    while ((de = readdir(d)))
        if (!strncmp(de->d_name, prefix, strlen(prefix)))
            found = true;
    closedir(d);
    return found;
}

/* nothing of `name` in the directory, and no child process of ours left, not even a zombie */
static void assert_nothing_left(const char *name)
{
    assert_false(exists(name));
    if (has_staging(name))
        fail_msg("staging directory of %s left behind", name);
    errno = 0;
    assert_int_equal(waitpid(-1, NULL, WNOHANG), -1);
    assert_int_equal(errno, ECHILD);
}

typedef struct run {
    /* fetch progress */
    int fetch_calls, last_percent, done_calls;
    uint64_t last_bytes, total;
    bool monotonic, done_last;
    /* extract progress */
    int extract_calls;
    uint64_t last_entries;
    /* behaviour */
    const char *name;
    bool cancel_mid;  /* cancel once data came in and the staging directory exists */
    bool kill_mid;    /* SIGKILL the helper then */
    bool saw_staging; /* the staging directory existed when we acted */
    int polls_after;  /* is_cancelled calls after cancelling */
    bool cancelled;
} run;

static void on_fetch(const host_fetch_progress *p, void *ctx)
{
    run *r = ctx;
    if (r->fetch_calls && (p->percent < r->last_percent || p->bytes < r->last_bytes))
        r->monotonic = false;
    r->fetch_calls++;
    r->last_percent = p->percent;
    r->last_bytes = p->bytes;
    r->total = p->total;
    r->done_last = p->done;
    r->done_calls += p->done;
}

static void on_extract(const host_extract_stats *s, void *ctx)
{
    run *r = ctx;
    r->extract_calls++;
    r->last_entries = s->entries;
}

/* The helper is a child of this thread: /proc/thread-self/children. */
static pid_t helper_pid(void)
{
    FILE *f = fopen("/proc/thread-self/children", "re");
    int pid = -1;
    if (f) {
        if (fscanf(f, "%d", &pid) != 1)
            pid = -1;
        fclose(f);
    }
    return pid;
}

static bool is_cancelled(void *ctx)
{
    run *r = ctx;
    if (r->cancelled) {
        r->polls_after++;
        return true;
    }
    if ((r->cancel_mid || r->kill_mid) && r->last_bytes > 0 && has_staging(r->name)) {
        r->saw_staging = true;
        if (r->kill_mid) {
            pid_t pid = helper_pid();
            assert_true(pid > 0);
            kill(pid, SIGKILL);
            r->kill_mid = false;
            return false;
        }
        r->cancelled = true;
        return true;
    }
    return false;
}

static int fetch(const char *url, run *r, host_extract_stats *st, host_fetch_stage *stage,
                 kl_error *err)
{
    r->monotonic = true;
    r->last_percent = -2;
    host_fetch_child_opts o = {.fetch_progress = on_fetch,
                               .extract_progress = on_extract,
                               .every = 1,
                               .ctx = r,
                               .is_cancelled = is_cancelled};
    return host_fetch_extract_child(url, tmpfd, r->name, &o, st, stage, err);
}

static void check_extracted(const char *name)
{
    _cleanup_free_ char *p = xasprintf("%s/%s/etc/hostname", tmpdir, name);
    FILE *f = fopen(p, "r");
    assert_non_null(f);
    char buf[32] = {0};
    assert_non_null(fgets(buf, sizeof(buf), f));
    fclose(f);
    assert_string_equal(buf, "kleene\n");
    _cleanup_free_ char *b = xasprintf("%s/%s/bin/blob", tmpdir, name);
    struct stat st;
    assert_int_equal(stat(b, &st), 0);
    assert_int_equal(st.st_size, 600000);
}

/* ---- the cases ----------------------------------------------------------------------- */

static void test_http_progress(void **state)
{
    (void)state;
    _cleanup_free_ char *url = xasprintf("http://127.0.0.1:%d/good.tar.gz", port);
    run r = {.name = "http"};
    host_extract_stats st = {0};
    host_fetch_stage stage = HOST_FETCH_STAGE_HELPER;
    kl_error err = KL_ERROR_INIT;
    if (fetch(url, &r, &st, &stage, &err) < 0)
        fail_msg("%s", err.msg);
    assert_int_equal(stage, HOST_FETCH_STAGE_NONE);
    check_extracted("http");
    assert_int_equal(st.entries, 2);
    assert_int_equal(st.bytes, 600007);
    /* percent steps of a ~600 kB transfer, in order, ending with 100% and done */
    assert_true(r.fetch_calls >= 5);
    assert_true(r.monotonic);
    assert_int_equal(r.last_percent, 100);
    assert_int_equal(r.last_bytes, good.len);
    assert_int_equal(r.total, good.len);
    assert_true(r.done_last);
    assert_int_equal(r.done_calls, 1);
    /* every entry (every = 1), then the final report */
    assert_true(r.extract_calls >= 2);
    assert_int_equal(r.last_entries, 2);
    assert_false(has_staging("http"));
    errno = 0;
    assert_int_equal(waitpid(-1, NULL, WNOHANG), -1);
}

static void test_file_url(void **state)
{
    (void)state;
    _cleanup_free_ char *url = xasprintf("file://%s/good.tar.gz", tmpdir);
    run r = {.name = "file"};
    kl_error err = KL_ERROR_INIT;
    if (fetch(url, &r, NULL, NULL, &err) < 0)
        fail_msg("%s", err.msg);
    check_extracted("file");
    assert_int_equal(r.last_percent, 100);

    /* the destination exists: refused before any helper runs, and left alone */
    kl_error_clear(&err);
    host_fetch_stage stage;
    assert_int_equal(fetch(url, &r, NULL, &stage, &err), -1);
    assert_int_equal(err.code, EEXIST);
    assert_int_equal(stage, HOST_FETCH_STAGE_EXTRACT);
    check_extracted("file");

    _cleanup_free_ char *missing = xasprintf("file://%s/none.tar", tmpdir);
    run m = {.name = "nofile"};
    kl_error_clear(&err);
    assert_int_equal(fetch(missing, &m, NULL, &stage, &err), -1);
    assert_int_equal(stage, HOST_FETCH_STAGE_FETCH);
    assert_int_equal(err.code, ENOENT);
    assert_non_null(strstr(err.msg, "none.tar"));
    assert_nothing_left("nofile");
}

static void test_hostile_archive(void **state)
{
    (void)state;
    _cleanup_free_ char *url = xasprintf("http://127.0.0.1:%d/evil.tar", port);
    run r = {.name = "evil"};
    host_fetch_stage stage;
    kl_error err = KL_ERROR_INIT;
    assert_int_equal(fetch(url, &r, NULL, &stage, &err), -1);
    assert_int_equal(stage, HOST_FETCH_STAGE_EXTRACT);
    assert_int_equal(err.code, EPERM);
    if (!strstr(err.msg, "leads outside the tree"))
        fail_msg("hostile archive: %s", err.msg);
    assert_false(exists("../kl-fetchproc-escaped.txt"));
    struct stat st;
    assert_int_not_equal(lstat("/tmp/kl-fetchproc-escaped.txt", &st), 0);
    assert_nothing_left("evil");

    _cleanup_free_ char *udotdot = xasprintf("http://127.0.0.1:%d/dotdot.tar", port);
    run d = {.name = "dotdot"};
    kl_error_clear(&err);
    assert_int_equal(fetch(udotdot, &d, NULL, &stage, &err), -1);
    assert_int_equal(stage, HOST_FETCH_STAGE_EXTRACT);
    /* the real error, its entry name made UTF-8 on the way */
    if (!strstr(err.msg, "'../kl-fetchproc-dotdot-?.txt': '..' refused"))
        fail_msg("dotdot archive: %s", err.msg);
    assert_false(exists("../kl-fetchproc-dotdot-\xe9.txt"));
    assert_nothing_left("dotdot");

    _cleanup_free_ char *ucorrupt = xasprintf("http://127.0.0.1:%d/corrupt.tar.gz", port);
    run c = {.name = "corrupt"};
    kl_error_clear(&err);
    assert_int_equal(fetch(ucorrupt, &c, NULL, &stage, &err), -1);
    assert_int_equal(stage, HOST_FETCH_STAGE_EXTRACT);
    if (!strstr(err.msg, "reading archive"))
        fail_msg("corrupt archive: %s", err.msg);
    assert_nothing_left("corrupt");
}

static void test_fetch_errors(void **state)
{
    (void)state;
    /* a port nobody listens on (ours, closed for the moment) */
    int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    assert_int_equal(bind(s, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(getsockname(s, (struct sockaddr *)&a, &len), 0);
    close(s);
    _cleanup_free_ char *udown = xasprintf("http://127.0.0.1:%d/x.tar", ntohs(a.sin_port));
    run r = {.name = "down"};
    host_fetch_stage stage;
    kl_error err = KL_ERROR_INIT;
    assert_int_equal(fetch(udown, &r, NULL, &stage, &err), -1);
    assert_int_equal(stage, HOST_FETCH_STAGE_FETCH);
    assert_int_equal(err.code, ECONNREFUSED);
    if (!strstr(err.msg, "onnect") || !strstr(err.msg, udown))
        fail_msg("unreachable: %s", err.msg);
    assert_nothing_left("down");

    _cleanup_free_ char *u404 = xasprintf("http://127.0.0.1:%d/missing.tar", port);
    run m = {.name = "e404"};
    kl_error_clear(&err);
    assert_int_equal(fetch(u404, &m, NULL, &stage, &err), -1);
    assert_int_equal(stage, HOST_FETCH_STAGE_FETCH);
    assert_int_equal(err.code, ENOENT);
    assert_non_null(strstr(err.msg, "HTTP error 404"));
    assert_nothing_left("e404");

    run f = {.name = "ftp"};
    kl_error_clear(&err);
    assert_int_equal(fetch("ftp://127.0.0.1/x.tar", &f, NULL, &stage, &err), -1);
    assert_int_equal(stage, HOST_FETCH_STAGE_FETCH);
    assert_int_equal(err.code, EINVAL);
    assert_non_null(strstr(err.msg, "only http, https and file URLs"));
    /* an option-looking URL is a URL, not an option of the helper */
    run o = {.name = "opt"};
    kl_error_clear(&err);
    assert_int_equal(fetch("--dir=/", &o, NULL, &stage, &err), -1);
    assert_int_equal(stage, HOST_FETCH_STAGE_FETCH);
    assert_nothing_left("opt");
}

static void test_cancel_mid_download(void **state)
{
    (void)state;
    _cleanup_free_ char *url = xasprintf("http://127.0.0.1:%d/stall.tar.gz", port);
    run r = {.name = "cancel", .cancel_mid = true};
    host_fetch_stage stage;
    kl_error err = KL_ERROR_INIT;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    assert_int_equal(fetch(url, &r, NULL, &stage, &err), -1);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    assert_int_equal(err.code, ECANCELED);
    assert_true(r.saw_staging); /* it was cancelled while extracting */
    assert_true(r.last_bytes > 0 && r.last_bytes < good.len);
    assert_false(r.done_last);
    assert_true(t1.tv_sec - t0.tv_sec < 5);
    assert_nothing_left("cancel");
}

static void test_helper_killed(void **state)
{
    (void)state;
    _cleanup_free_ char *url = xasprintf("http://127.0.0.1:%d/stall.tar.gz", port);
    run r = {.name = "killed", .kill_mid = true};
    host_fetch_stage stage;
    kl_error err = KL_ERROR_INIT;
    assert_int_equal(fetch(url, &r, NULL, &stage, &err), -1);
    assert_true(r.saw_staging);
    assert_int_equal(stage, HOST_FETCH_STAGE_HELPER);
    assert_int_equal(err.code, EIO);
    if (!strstr(err.msg, "kleene-fetch (pid ") || !strstr(err.msg, "killed by signal 9"))
        fail_msg("killed helper: %s", err.msg);
    assert_nothing_left("killed");
}

/* ---- fake helpers -------------------------------------------------------------------- */

/* kleened's warnings while a fake helper runs */
static kl_buf captured;
static void capture_log(kl_log_level l, const char *msg)
{
    if (l == KL_LOG_WARNING)
        kl_buf_printf(&captured, "%s\n", msg);
}

/* A directory with a shell script `kleene-fetch` that misbehaves by the NAME it is given. */
static char *fake_helper_dir(void)
{
    char *dir = xasprintf("%s/fakebin", tmpdir);
    mkdir(dir, 0755);
    _cleanup_free_ char *p = xasprintf("%s/kleene-fetch", dir);
    FILE *f = fopen(p, "w");
    fputs("#!/bin/sh\n"
          "for name; do :; done\n"
          "case \"$name\" in\n"
          "garbage) echo 'this is not JSON'; exec sleep 30 ;;\n"
          "long) head -c 20000 /dev/zero | tr '\\0' a; exec sleep 30 ;;\n"
          "badfield) echo '{\"type\":\"fetch\",\"bytes\":-1,\"total\":0,\"percent\":0,"
          "\"done\":false}'; exec sleep 30 ;;\n"
          "silent) mkdir /proc/self/fd/3/.staging-silent-abc123 /proc/self/fd/3/silent; "
          "echo '{\"type\":\"log\",\"level\":3,\"msg\":\"about to fail\"}'; exit 3 ;;\n"
          "failure) echo '{\"type\":\"newer\",\"x\":1}'; echo '{\"type\":\"result\",\"ok\":false,"
          "\"stage\":\"extract\",\"code\":28,\"msg\":\"writing x: No space left on device\"}'; "
          "exit 1 ;;\n"
          /* a result, then an end that breaks the contract (0 after ok, 1 after an error) */
          "okthenexit) mkdir /proc/self/fd/3/okthenexit; echo '{\"type\":\"result\","
          "\"ok\":true,\"entries\":1,\"bytes\":0,\"skipped_devices\":0}'; exit 23 ;;\n"
          "okthensignal) mkdir /proc/self/fd/3/okthensignal; echo '{\"type\":\"result\","
          "\"ok\":true,\"entries\":1,\"bytes\":0,\"skipped_devices\":0}'; kill -SEGV $$ ;;\n"
          "errthenexit) echo '{\"type\":\"result\",\"ok\":false,\"stage\":\"fetch\","
          "\"code\":5,\"msg\":\"reading: Input/output error\"}'; exit 7 ;;\n"
          "esac\n",
          f);
    fclose(f);
    chmod(p, 0755);
    return dir;
}

static void test_broken_helper(void **state)
{
    (void)state;
    _cleanup_free_ char *dir = fake_helper_dir();
    setenv("KLEENE_LIBEXEC_DIR", dir, 1);
    static const struct {
        const char *name, *want;
    } cases[] = {
        {"garbage", "broke the protocol: not a JSON object"},
        {"long", "broke the protocol: a message too long"},
        {"badfield", "broke the protocol: an invalid fetch progress"},
        {"silent", "exited with status 3 without a result"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        run r = {.name = cases[i].name};
        host_fetch_stage stage;
        kl_error err = KL_ERROR_INIT;
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        assert_int_equal(fetch("http://127.0.0.1:1/x", &r, NULL, &stage, &err), -1);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        assert_int_equal(stage, HOST_FETCH_STAGE_HELPER);
        if (!strstr(err.msg, cases[i].want))
            fail_msg("%s: %s", cases[i].name, err.msg);
        assert_true(t1.tv_sec - t0.tv_sec < 5); /* killed, not waited for */
        assert_nothing_left(cases[i].name);
    }
    /* its own failure, with an unknown message type before it */
    run r = {.name = "failure"};
    host_fetch_stage stage;
    kl_error err = KL_ERROR_INIT;
    assert_int_equal(fetch("http://127.0.0.1:1/x", &r, NULL, &stage, &err), -1);
    assert_int_equal(stage, HOST_FETCH_STAGE_EXTRACT);
    assert_int_equal(err.code, ENOSPC);
    assert_string_equal(err.msg, "writing x: No space left on device");
    assert_nothing_left("failure");

    /* a result, then an end the contract does not allow: a warning with the status; after an
     * error the error stands, after success the work is not trusted and nothing is left */
    kl_log_set_hook(capture_log);
    static const struct {
        const char *name, *want_err, *want_log;
    } ends[] = {
        {"okthenexit", "kleene-fetch (pid ", "reported success, then exited with status 23"},
        {"okthensignal", "reported success, then was killed by signal 11",
         "reported success, then was killed by signal 11"},
        {"errthenexit", "reading: Input/output error",
         "reported an error, then exited with status 7"},
    };
    for (size_t i = 0; i < sizeof(ends) / sizeof(ends[0]); i++) {
        run er = {.name = ends[i].name};
        kl_error e2 = KL_ERROR_INIT;
        kl_buf_free(&captured);
        assert_int_equal(fetch("http://127.0.0.1:1/x", &er, NULL, &stage, &e2), -1);
        if (!strstr(e2.msg, ends[i].want_err))
            fail_msg("%s: %s", ends[i].name, e2.msg);
        if (!captured.data || !strstr(captured.data, ends[i].want_log))
            fail_msg("%s: log: %s", ends[i].name, captured.data ? captured.data : "(none)");
        assert_nothing_left(ends[i].name);
    }
    assert_int_equal(stage, HOST_FETCH_STAGE_FETCH); /* the error's own stage */
    kl_log_set_hook(NULL);
    kl_buf_free(&captured);
    unsetenv("KLEENE_LIBEXEC_DIR");
}

static void test_helper_path(void **state)
{
    (void)state;
    kl_error err = KL_ERROR_INIT;
    /* this tree's own helper, from the build directory */
    _cleanup_free_ char *p = host_helper_path("kleene-fetch", &err);
    assert_non_null(p);
    _cleanup_free_ char *built = xasprintf("%s/kleene-fetch", KL_TEST_HELPER_BUILD_DIR);
    assert_string_equal(p, built);

    /* $KLEENE_LIBEXEC_DIR first */
    _cleanup_free_ char *dir = fake_helper_dir();
    setenv("KLEENE_LIBEXEC_DIR", dir, 1);
    _cleanup_free_ char *q = host_helper_path("kleene-fetch", &err);
    _cleanup_free_ char *fake = xasprintf("%s/kleene-fetch", dir);
    assert_string_equal(q, fake);
    /* a file there that is not executable is passed over */
    _cleanup_free_ char *plain = xasprintf("%s/kl-not-exec", dir);
    FILE *f = fopen(plain, "w");
    fclose(f);
    assert_null(host_helper_path("kl-not-exec", &err));
    assert_int_equal(err.code, ENOENT);
    /* the error names every place looked in */
    if (!strstr(err.msg, "helper program kl-not-exec not found (looked in ") ||
        !strstr(err.msg, dir) || !strstr(err.msg, KL_TEST_HELPER_BUILD_DIR) ||
        !strstr(err.msg, "/tests/unit"))
        fail_msg("not found: %s", err.msg);
    unsetenv("KLEENE_LIBEXEC_DIR");

    kl_error_clear(&err);
    assert_null(host_helper_path("../bin/sh", &err));
    assert_int_equal(err.code, EINVAL);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_http_progress),       cmocka_unit_test(test_file_url),
        cmocka_unit_test(test_hostile_archive),     cmocka_unit_test(test_fetch_errors),
        cmocka_unit_test(test_cancel_mid_download), cmocka_unit_test(test_helper_killed),
        cmocka_unit_test(test_broken_helper),       cmocka_unit_test(test_helper_path),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
