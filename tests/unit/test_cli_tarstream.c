/* The build context's tar stream (cli/tarstream.c), read back with libarchive: entries,
 * types, contents, pax long names, .dockerignore, the same bytes for the same tree. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/tarstream.h"
#include "lib/buf.h"
#include "lib/xalloc.h"

static char dir[64];

static void put_file(const char *rel, const char *content)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", dir, rel);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(content, f);
    fclose(f);
}

static int to_buf(void *ud, const void *data, size_t n, kl_error *err)
{
    (void)err;
    kl_buf_append(ud, data, n);
    return 0;
}

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof(dir), "/tmp/kl-tarstream.XXXXXX");
    assert_non_null(mkdtemp(dir));
    char p[512];
    snprintf(p, sizeof(p), "%s/sub", dir);
    mkdir(p, 0755);
    snprintf(p, sizeof(p), "%s/skipme", dir);
    mkdir(p, 0755);
    snprintf(p, sizeof(p), "%s/%0120d", dir, 0); /* a 120-character directory name */
    mkdir(p, 0755);
    put_file("Dockerfile", "FROM x\n");
    put_file("sub/a.txt", "hello\n");
    put_file("skipme/b", "no\n");
    put_file("x.log", "no\n");
    put_file(".dockerignore", "skipme\n*.log\nDockerfile\n");
    char name[300];
    snprintf(name, sizeof(name), "%0120d/file", 0);
    put_file(name, "deep\n");
    snprintf(p, sizeof(p), "%s/link", dir);
    assert_int_equal(symlink("sub/a.txt", p), 0);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static void test_archive(void **state)
{
    (void)state;
    kl_buf b = KL_BUF_INIT;
    kl_error err = KL_ERROR_INIT;
    tarstream_stats st;
    assert_int_equal(tarstream_write_dir(dir, "Dockerfile", to_buf, &b, &st, &err), 0);
    assert_int_equal(b.len % 512, 0);
    assert_int_equal(st.files, 4); /* Dockerfile (kept though ignored), .dockerignore, a, deep */
    assert_int_equal(st.links, 1);
    assert_int_equal(st.excluded, 2); /* skipme, x.log */

    struct archive *a = archive_read_new();
    archive_read_support_format_all(a);
    assert_int_equal(archive_read_open_memory(a, b.data, b.len), ARCHIVE_OK);
    struct archive_entry *e;
    char seen[1024] = "";
    char long_name[300];
    snprintf(long_name, sizeof(long_name), "%0120d/file", 0);
    bool saw_long = false;
    while (archive_read_next_header(a, &e) == ARCHIVE_OK) {
        const char *p = archive_entry_pathname(e);
        strcat(seen, p);
        strcat(seen, " ");
        if (!strcmp(p, "sub/a.txt")) {
            char data[16] = {0};
            assert_int_equal(archive_read_data(a, data, sizeof(data)), 6);
            assert_string_equal(data, "hello\n");
        }
        if (!strcmp(p, "link")) {
            assert_int_equal(archive_entry_filetype(e), AE_IFLNK);
            assert_string_equal(archive_entry_symlink(e), "sub/a.txt");
        }
        if (!strcmp(p, long_name))
            saw_long = true;
    }
    archive_read_free(a);
    assert_true(saw_long);
    assert_non_null(strstr(seen, ".dockerignore "));
    assert_non_null(strstr(seen, " Dockerfile "));
    assert_null(strstr(seen, "skipme"));
    assert_null(strstr(seen, "x.log"));

    /* the same tree gives the same bytes */
    kl_buf again = KL_BUF_INIT;
    assert_int_equal(tarstream_write_dir(dir, "Dockerfile", to_buf, &again, NULL, &err), 0);
    assert_int_equal(again.len, b.len);
    assert_memory_equal(again.data, b.data, b.len);
    kl_buf_free(&again);
    kl_buf_free(&b);
}

static void test_missing_dir(void **state)
{
    (void)state;
    kl_buf b = KL_BUF_INIT;
    kl_error err = KL_ERROR_INIT;
    assert_int_equal(tarstream_write_dir("/nonexistent-kl", NULL, to_buf, &b, NULL, &err), -1);
    assert_non_null(strstr(err.msg, "No such file or directory"));
    kl_buf_free(&b);
}

/* The names of an archive's entries, space-separated, each followed by a space. */
static void entry_names(const kl_buf *b, char *out, size_t cap)
{
    out[0] = '\0';
    struct archive *a = archive_read_new();
    archive_read_support_format_all(a);
    assert_int_equal(archive_read_open_memory(a, b->data, b->len), ARCHIVE_OK);
    struct archive_entry *e;
    while (archive_read_next_header(a, &e) == ARCHIVE_OK) {
        strncat(out, archive_entry_pathname(e), cap - strlen(out) - 1);
        strncat(out, " ", cap - strlen(out) - 1);
    }
    archive_read_free(a);
}

/* ours, for klee cp: one path, named as asked, without .dockerignore */
static void test_write_path(void **state)
{
    (void)state;
    char path[256], names[2048];
    kl_error err = KL_ERROR_INIT;
    kl_buf b = KL_BUF_INIT;
    snprintf(path, sizeof(path), "%s/sub/a.txt", dir);
    assert_int_equal(tarstream_write_path(path, "renamed.txt", false, to_buf, &b, NULL, &err), 0);
    entry_names(&b, names, sizeof(names));
    assert_string_equal(names, "renamed.txt ");
    kl_buf_reset(&b);
    /* a directory under a new name: skipme and x.log are there (no .dockerignore) */
    assert_int_equal(tarstream_write_path(dir, "ctx", false, to_buf, &b, NULL, &err), 0);
    entry_names(&b, names, sizeof(names));
    assert_non_null(strstr(names, "ctx/ "));
    assert_non_null(strstr(names, " ctx/skipme/b "));
    assert_non_null(strstr(names, " ctx/x.log "));
    assert_non_null(strstr(names, " ctx/link "));
    kl_buf_reset(&b);
    /* its contents */
    assert_int_equal(tarstream_write_path(dir, ".", false, to_buf, &b, NULL, &err), 0);
    entry_names(&b, names, sizeof(names));
    assert_non_null(strstr(names, " sub/a.txt "));
    assert_null(strstr(names, "ctx"));
    kl_buf_reset(&b);
    /* a symlink: itself, or with follow what it points to */
    snprintf(path, sizeof(path), "%s/link", dir);
    assert_int_equal(tarstream_write_path(path, "l", false, to_buf, &b, NULL, &err), 0);
    struct archive *a = archive_read_new();
    archive_read_support_format_all(a);
    assert_int_equal(archive_read_open_memory(a, b.data, b.len), ARCHIVE_OK);
    struct archive_entry *e;
    assert_int_equal(archive_read_next_header(a, &e), ARCHIVE_OK);
    assert_int_equal(archive_entry_filetype(e), AE_IFLNK);
    archive_read_free(a);
    kl_buf_reset(&b);
    assert_int_equal(tarstream_write_path(path, "l", true, to_buf, &b, NULL, &err), 0);
    a = archive_read_new();
    archive_read_support_format_all(a);
    assert_int_equal(archive_read_open_memory(a, b.data, b.len), ARCHIVE_OK);
    assert_int_equal(archive_read_next_header(a, &e), ARCHIVE_OK);
    assert_int_equal(archive_entry_filetype(e), AE_IFREG);
    archive_read_free(a);
    kl_buf_reset(&b);
    /* "." of a file, and a missing path */
    assert_int_equal(tarstream_write_path(path, ".", true, to_buf, &b, NULL, &err), -1);
    assert_int_equal(tarstream_write_path("/nonexistent-kl", "x", false, to_buf, &b, NULL, &err),
                     -1);
    kl_buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_archive),
        cmocka_unit_test(test_missing_dir),
        cmocka_unit_test(test_write_path),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
