/* Streaming fetch into the extractor: http:// from a loopback python3 http.server started
 * here (killed by PID at the end), file:// URLs, and the errors a user sees for a 404, an
 * unreachable port, a corrupt archive and an unsupported scheme. */
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
#include "lib/cleanup.h"
#include "lib/xalloc.h"

static char tmpdir[] = "/tmp/kl-fetch-XXXXXX";
static int tmpfd = -1;
static pid_t server = -1;
static int port;
static size_t archive_size;

static int free_port(void)
{
    int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    if (bind(s, (struct sockaddr *)&a, sizeof(a)) < 0 ||
        getsockname(s, (struct sockaddr *)&a, &len) < 0) {
        close(s);
        return -1;
    }
    close(s);
    return ntohs(a.sin_port);
}

static bool can_connect(int p)
{
    int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)p),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    bool ok = connect(s, (struct sockaddr *)&a, sizeof(a)) == 0;
    close(s);
    return ok;
}

/* srv/rootfs.tar.gz: a few entries and 300 kB of data, so the transfer takes many chunks */
static void write_archive(const char *path)
{
    struct archive *a = archive_write_new();
    archive_write_set_format_pax_restricted(a);
    archive_write_add_filter_gzip(a);
    assert_int_equal(archive_write_open_filename(a, path), ARCHIVE_OK);
    struct archive_entry *e = archive_entry_new();
    archive_entry_set_pathname(e, "etc/hostname");
    archive_entry_set_filetype(e, AE_IFREG);
    archive_entry_set_perm(e, 0644);
    archive_entry_set_size(e, 7);
    archive_write_header(a, e);
    archive_write_data(a, "kleene\n", 7);
    archive_entry_clear(e);
    /* incompressible data */
    size_t n = 300000;
    unsigned char *data = xmalloc(n);
    uint32_t x = 2463534242u;
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        data[i] = (unsigned char)x;
    }
    archive_entry_set_pathname(e, "bin/blob");
    archive_entry_set_filetype(e, AE_IFREG);
    archive_entry_set_perm(e, 0755);
    archive_entry_set_size(e, (la_int64_t)n);
    archive_write_header(a, e);
    archive_write_data(a, data, n);
    free(data);
    archive_entry_free(e);
    archive_write_close(a);
    archive_write_free(a);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    archive_size = (size_t)st.st_size;
}

static int setup(void **state)
{
    (void)state;
    assert_non_null(mkdtemp(tmpdir));
    tmpfd = open(tmpdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    _cleanup_free_ char *srv = xasprintf("%s/srv", tmpdir);
    mkdir(srv, 0755);
    _cleanup_free_ char *good = xasprintf("%s/rootfs.tar.gz", srv);
    write_archive(good);
    _cleanup_free_ char *junk = xasprintf("%s/corrupt.tar.gz", srv);
    FILE *f = fopen(junk, "w");
    fputs("\x1f\x8b this is not really gzip", f);
    fclose(f);

    port = free_port();
    char portstr[16];
    snprintf(portstr, sizeof(portstr), "%d", port);
    server = fork();
    if (server == 0) {
        int null = open("/dev/null", O_RDWR);
        dup2(null, 1);
        dup2(null, 2);
        execlp("python3", "python3", "-m", "http.server", "--bind", "127.0.0.1", "--directory", srv,
               portstr, (char *)NULL);
        _exit(127);
    }
    for (int i = 0; i < 100 && !can_connect(port); i++)
        usleep(50000);
    return can_connect(port) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    if (server > 0) {
        kill(server, SIGTERM);
        waitpid(server, NULL, 0);
    }
    close(tmpfd);
    kl_error err = KL_ERROR_INIT;
    return host_tree_remove(tmpdir, &err);
}

static bool exists(const char *rel)
{
    _cleanup_free_ char *p = xasprintf("%s/%s", tmpdir, rel);
    struct stat st;
    return lstat(p, &st) == 0;
}

static void assert_no_staging(void)
{
    DIR *d = opendir(tmpdir);
    struct dirent *de;
    while ((de = readdir(d)))
        if (!strncmp(de->d_name, ".staging-", 9))
            fail_msg("staging directory left behind: %s", de->d_name);
    closedir(d);
}

typedef struct progress_log {
    int calls;
    int last_percent;
    uint64_t last_bytes, total;
    bool monotonic;
} progress_log;

static void on_progress(const host_fetch_progress *p, void *ctx)
{
    progress_log *l = ctx;
    if (l->calls && (p->percent < l->last_percent || p->bytes < l->last_bytes))
        l->monotonic = false;
    l->calls++;
    l->last_percent = p->percent;
    l->last_bytes = p->bytes;
    l->total = p->total;
}

static void check_extracted(const char *name)
{
    char rel[128];
    snprintf(rel, sizeof(rel), "%s/etc/hostname", name);
    _cleanup_free_ char *p = xasprintf("%s/%s", tmpdir, rel);
    FILE *f = fopen(p, "r");
    assert_non_null(f);
    char buf[32] = {0};
    assert_non_null(fgets(buf, sizeof(buf), f));
    fclose(f);
    assert_string_equal(buf, "kleene\n");
    snprintf(rel, sizeof(rel), "%s/bin/blob", name);
    _cleanup_free_ char *b = xasprintf("%s/%s", tmpdir, rel);
    struct stat st;
    assert_int_equal(stat(b, &st), 0);
    assert_int_equal(st.st_size, 300000);
}

static void test_http(void **state)
{
    (void)state;
    _cleanup_free_ char *url = xasprintf("http://127.0.0.1:%d/rootfs.tar.gz", port);
    progress_log log = {.monotonic = true};
    host_extract_stats st;
    kl_error err = KL_ERROR_INIT;
    if (host_fetch_extract(url, tmpfd, "http", on_progress, &log, NULL, &st, &err) < 0)
        fail_msg("%s", err.msg);
    check_extracted("http");
    assert_int_equal(st.entries, 2);
    assert_true(log.calls >= 3); /* several percent steps for a ~300 kB transfer */
    assert_true(log.monotonic);
    assert_int_equal(log.last_percent, 100);
    assert_int_equal(log.last_bytes, archive_size);
    assert_int_equal(log.total, archive_size);
}

static void test_file_url(void **state)
{
    (void)state;
    _cleanup_free_ char *url = xasprintf("file://%s/srv/rootfs.tar.gz", tmpdir);
    progress_log log = {.monotonic = true};
    kl_error err = KL_ERROR_INIT;
    if (host_fetch_extract(url, tmpfd, "file", on_progress, &log, NULL, NULL, &err) < 0)
        fail_msg("%s", err.msg);
    check_extracted("file");
    assert_int_equal(log.last_percent, 100);
    assert_int_equal(log.last_bytes, archive_size);

    _cleanup_free_ char *missing = xasprintf("file://%s/srv/none.tar", tmpdir);
    assert_int_equal(host_fetch_extract(missing, tmpfd, "nofile", NULL, NULL, NULL, NULL, &err),
                     -1);
    assert_int_equal(err.code, ENOENT);
    assert_non_null(strstr(err.msg, "none.tar"));
    assert_false(exists("nofile"));

    /* RFC 8089 forms, parsed without libcurl: localhost, percent escapes, a query dropped */
    static const char *const good[] = {"file://localhost%s/srv/rootfs.tar.gz",
                                       "file://%s/srv/rootfs%%2Etar.gz",
                                       "file://%s/srv/rootfs.tar.gz?x=1#y"};
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        _cleanup_free_ char *u = xasprintf(good[i], tmpdir);
        _cleanup_free_ char *name = xasprintf("form%zu", i);
        kl_error_clear(&err);
        if (host_fetch_extract(u, tmpfd, name, NULL, NULL, NULL, NULL, &err) < 0)
            fail_msg("%s: %s", u, err.msg);
        check_extracted(name);
    }
    static const char *const bad[] = {
        "file://example.com%s/srv/rootfs.tar.gz", "file://%s/srv/rootfs%%zz.tar.gz",
        "file://%s/srv/rootfs.tar.gz%%00", "file://%s/srv/a b", "file://nopath"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        _cleanup_free_ char *u = xasprintf(bad[i], tmpdir);
        kl_error_clear(&err);
        assert_int_equal(host_fetch_extract(u, tmpfd, "bad", NULL, NULL, NULL, NULL, &err), -1);
        assert_int_equal(err.code, EINVAL);
        if (!strstr(err.msg, "invalid URL"))
            fail_msg("%s: %s", u, err.msg);
        assert_false(exists("bad"));
    }
    _cleanup_free_ char *dir = xasprintf("file://%s/srv", tmpdir);
    kl_error_clear(&err);
    assert_int_equal(host_fetch_extract(dir, tmpfd, "dir", NULL, NULL, NULL, NULL, &err), -1);
    assert_int_equal(err.code, EISDIR);
}

static void test_errors(void **state)
{
    (void)state;
    kl_error err = KL_ERROR_INIT;
    _cleanup_free_ char *u404 = xasprintf("http://127.0.0.1:%d/missing.tar.gz", port);
    assert_int_equal(host_fetch_extract(u404, tmpfd, "e404", NULL, NULL, NULL, NULL, &err), -1);
    assert_int_equal(err.code, ENOENT);
    if (!strstr(err.msg, "HTTP error 404") || !strstr(err.msg, u404))
        fail_msg("404 message: %s", err.msg);
    assert_false(exists("e404"));

    int closed = free_port();
    _cleanup_free_ char *udown = xasprintf("http://127.0.0.1:%d/rootfs.tar.gz", closed);
    kl_error_clear(&err);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    assert_int_equal(host_fetch_extract(udown, tmpfd, "down", NULL, NULL, NULL, NULL, &err), -1);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    assert_true(t1.tv_sec - t0.tv_sec < 5);
    assert_int_equal(err.code, ECONNREFUSED);
    if (!strstr(err.msg, "onnect"))
        fail_msg("unreachable message: %s", err.msg);
    assert_false(exists("down"));

    _cleanup_free_ char *ucorrupt = xasprintf("http://127.0.0.1:%d/corrupt.tar.gz", port);
    kl_error_clear(&err);
    assert_int_equal(host_fetch_extract(ucorrupt, tmpfd, "bad", NULL, NULL, NULL, NULL, &err), -1);
    if (!strstr(err.msg, "reading archive"))
        fail_msg("corrupt message: %s", err.msg);
    assert_false(exists("bad"));

    kl_error_clear(&err);
    assert_int_equal(
        host_fetch_extract("ftp://127.0.0.1/x.tar", tmpfd, "ftp", NULL, NULL, NULL, NULL, &err),
        -1);
    assert_int_equal(err.code, EINVAL);
    assert_non_null(strstr(err.msg, "only http, https and file URLs"));
    assert_no_staging();
}

static void test_read_interface(void **state)
{
    (void)state;
    /* the pull interface on its own: chunks add up to the file, then 0 */
    _cleanup_free_ char *url = xasprintf("http://127.0.0.1:%d/rootfs.tar.gz", port);
    kl_error err = KL_ERROR_INIT;
    _cleanup_fetch_ host_fetch *f = host_fetch_open(url, NULL, NULL, &err);
    assert_non_null(f);
    size_t total = 0;
    int chunks = 0;
    for (;;) {
        const void *buf;
        ssize_t n = host_fetch_read(f, &buf, &err);
        assert_true(n >= 0);
        if (n == 0)
            break;
        total += (size_t)n;
        chunks++;
    }
    assert_int_equal(total, archive_size);
    assert_true(chunks > 1);
    host_fetch_progress p = host_fetch_get_progress(f);
    assert_int_equal(p.bytes, archive_size);
    assert_int_equal(p.total, archive_size);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_http),
        cmocka_unit_test(test_file_url),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_read_interface),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
