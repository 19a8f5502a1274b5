/* upload.h without the helper: what upload_is_archive takes for an archive (compression
 * magics, a tar header's "ustar") and for a plain Dockerfile, upload_finish_as_dockerfile,
 * and upload_sweep (directories a crash left). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine/upload.h"
#include "lib/cleanup.h"
#include "lib/xalloc.h"

static char root[] = "/tmp/kl-upload-XXXXXX";
static kl_engine eng;

static int setup(void **state)
{
    (void)state;
    if (!mkdtemp(root))
        return -1;
    eng.root = root;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    _cleanup_free_ char *cmd = xasprintf("rm -rf %s", root);
    return system(cmd) == 0 ? 0 : -1;
}

static bool is_archive(const void *data, size_t n)
{
    kl_error err = KL_ERROR_INIT;
    upload *u = upload_begin(&eng, &err);
    assert_non_null(u);
    assert_int_equal(upload_write(u, data, n, &err), 0);
    bool r = upload_is_archive(u);
    upload_free(u);
    return r;
}

static void test_is_archive(void **state)
{
    (void)state;
    assert_true(is_archive("\x1f\x8b\x08\x00rest", 8));
    assert_true(is_archive("BZh91AY", 7));
    assert_true(is_archive("\xfd"
                           "7zXZ\x00\x00",
                           7));
    assert_true(is_archive("\x28\xb5\x2f\xfd\x00", 5));
    char tar[512] = "Dockerfile";
    memcpy(tar + 257,
           "ustar\0"
           "00",
           8);
    assert_true(is_archive(tar, sizeof(tar)));
    memcpy(tar + 257, "ustar  ", 8); /* GNU tar */
    assert_true(is_archive(tar, sizeof(tar)));
    assert_false(is_archive("FROM busybox\nRUN true\n", 22));
    assert_false(is_archive("", 0));
    assert_false(is_archive("\x1f", 1));
    char df[600];
    memset(df, 'x', sizeof(df));
    assert_false(is_archive(df, sizeof(df)));
}

static void test_as_dockerfile(void **state)
{
    (void)state;
    kl_error err = KL_ERROR_INIT;
    upload *u = upload_begin(&eng, &err);
    assert_non_null(u);
    assert_int_equal(upload_write(u, "FROM bb\n", 8, &err), 0);
    assert_int_equal(upload_finish_as_dockerfile(u, &err), 0);
    _cleanup_free_ char *df = xasprintf("%s/Dockerfile", upload_context(u));
    char buf[16] = {0};
    FILE *f = fopen(df, "r");
    assert_non_null(f);
    assert_int_equal(fread(buf, 1, sizeof(buf) - 1, f), 8);
    fclose(f);
    assert_string_equal(buf, "FROM bb\n");
    _cleanup_free_ char *dir = xstrdup(upload_context(u));
    upload_free(u);
    struct stat st;
    assert_int_equal(stat(dir, &st), -1);
}

static void test_sweep(void **state)
{
    (void)state;
    kl_error err = KL_ERROR_INIT;
    upload *a = upload_begin(&eng, &err), *b = upload_begin(&eng, &err);
    assert_non_null(a);
    assert_non_null(b);
    assert_int_equal(upload_write(a, "x", 1, &err), 0);
    upload_sweep(&eng); /* as engine_open after a crash: both go */
    _cleanup_free_ char *base = xasprintf("%s/uploads", root);
    _cleanup_free_ char *cmd = xasprintf("test -z \"$(ls -A %s)\"", base);
    assert_int_equal(system(cmd), 0);
    /* what the crashed kleened held is gone; freeing it now finds nothing to remove */
    upload_free(a);
    upload_free(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_is_archive),
        cmocka_unit_test(test_as_dockerfile),
        cmocka_unit_test(test_sweep),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
