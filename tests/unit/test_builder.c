/* builder.h pure parts: cache keys, COPY source cleaning (escapes refused), globbing over a
 * context tree, symlinks leading out of it, .dockerignore, and the content hash. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine/builder.h"
#include "lib/dockerignore.h"
#include "lib/cleanup.h"
#include "lib/xalloc.h"

static char tmp[] = "/tmp/kl-builder-XXXXXX";
static int ctxfd = -1;

static void put(const char *rel, const char *text)
{
    char p[512];
    snprintf(p, sizeof(p), "%s/%s", tmp, rel);
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static int setup(void **state)
{
    if (!mkdtemp(tmp))
        return -1;
    char p[512];
    const char *dirs[] = {"src", "src/sub", "docs"};
    for (size_t i = 0; i < 3; i++) {
        snprintf(p, sizeof(p), "%s/%s", tmp, dirs[i]);
        mkdir(p, 0755);
    }
    put("a.txt", "a");
    put("b.txt", "b");
    put("c.md", "c");
    put("src/x.c", "x");
    put("src/y.c", "y");
    put("src/sub/z.c", "z");
    put("docs/d.txt", "d");
    snprintf(p, sizeof(p), "%s/out", tmp);
    symlink("/etc", p);
    snprintf(p, sizeof(p), "%s/in", tmp);
    symlink("src", p);
    snprintf(p, sizeof(p), "%s/up", tmp);
    symlink("../..", p);
    ctxfd = open(tmp, O_RDONLY | O_DIRECTORY);
    return ctxfd < 0 ? -1 : 0;
}

static int teardown(void **state)
{
    close(ctxfd);
    char cmd[600];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", tmp);
    return system(cmd) == 0 ? 0 : -1;
}

static void test_cache_key(void **state)
{
    char *a[] = {"RUN", "/bin/sh", "-c", "echo", NULL};
    char *b[] = {"RUN", "/bin/sh", "-c echo", NULL}; /* same bytes joined, different parts */
    _cleanup_free_ char *k1 = builder_cache_key("aaaaaaaaaaaa", a);
    _cleanup_free_ char *k2 = builder_cache_key("aaaaaaaaaaaa", a);
    _cleanup_free_ char *k3 = builder_cache_key("bbbbbbbbbbbb", a);
    _cleanup_free_ char *k4 = builder_cache_key("aaaaaaaaaaaa", b);
    assert_int_equal(strlen(k1), 40);
    assert_string_equal(k1, k2);
    assert_string_not_equal(k1, k3);
    assert_string_not_equal(k1, k4);
}

static void test_clean_source(void **state)
{
    kl_error err = KL_ERROR_INIT;
    char *s;
    assert_string_equal((s = builder_clean_source("./a//b/", &err)), "a/b");
    free(s);
    assert_string_equal((s = builder_clean_source(".", &err)), ".");
    free(s);
    assert_string_equal((s = builder_clean_source("/abs/x", &err)), "abs/x");
    free(s);
    assert_string_equal((s = builder_clean_source("a/../b", &err)), "b");
    free(s);
    assert_null(builder_clean_source("../x", &err));
    assert_int_equal(err.code, EPERM);
    assert_string_equal(err.msg, "forbidden path outside the build context: ../x");
    assert_null(builder_clean_source("a/../../x", &err));
}

static char *joined(char **v)
{
    size_t n = 1;
    for (size_t i = 0; v[i]; i++)
        n += strlen(v[i]) + 1;
    char *s = xcalloc(1, n);
    for (size_t i = 0; v[i]; i++) {
        strcat(s, v[i]);
        strcat(s, " ");
    }
    return s;
}

static void expect(const char *src, const dockerignore *di, const char *want)
{
    kl_error err = KL_ERROR_INIT;
    _cleanup_strv_ char **v = builder_expand_source(ctxfd, src, di, &err);
    if (!v)
        fail_msg("%s: %s", src, err.msg);
    _cleanup_free_ char *j = joined(v);
    assert_string_equal(j, want);
}

static void test_expand(void **state)
{
    expect("a.txt", NULL, "a.txt ");
    expect("*.txt", NULL, "a.txt b.txt ");
    expect("src/*.c", NULL, "src/x.c src/y.c ");
    expect("*/*.c", NULL, "in/x.c in/y.c src/x.c src/y.c ");
    expect("s?c/sub/[a-z].c", NULL, "src/sub/z.c ");
    expect("nothere", NULL, "");
    expect("*.none", NULL, "");
    expect("in/x.c", NULL, "in/x.c "); /* a symlink inside the context is fine */
    expect(".", NULL, ". ");
}

static void test_escapes(void **state)
{
    kl_error err = KL_ERROR_INIT;
    assert_null(builder_expand_source(ctxfd, "out/passwd", NULL, &err));
    assert_int_equal(err.code, EPERM);
    err = (kl_error)KL_ERROR_INIT;
    assert_null(builder_expand_source(ctxfd, "up/tmp", NULL, &err));
    assert_int_equal(err.code, EPERM);
    /* the symlink itself as a source: its target is outside */
    const char *srcs[] = {"out", NULL};
    err = (kl_error)KL_ERROR_INIT;
    assert_null(builder_content_hash(ctxfd, (char *const *)srcs, NULL, &err));
    assert_int_equal(err.code, EPERM);
}

static void test_dockerignore(void **state)
{
    kl_error err = KL_ERROR_INIT;
    dockerignore *di = dockerignore_parse("*.txt\n!b.txt\nsrc/sub\n", &err);
    assert_non_null(di);
    expect("*.txt", di, "b.txt ");
    expect("a.txt", di, "");
    expect("src/sub/z.c", di, "");
    /* the hash of a directory skips what is ignored */
    const char *srcs[] = {"src", NULL};
    _cleanup_free_ char *h1 = builder_content_hash(ctxfd, (char *const *)srcs, di, &err);
    put("src/sub/z.c", "changed but ignored");
    _cleanup_free_ char *h2 = builder_content_hash(ctxfd, (char *const *)srcs, di, &err);
    assert_string_equal(h1, h2);
    put("src/x.c", "changed");
    _cleanup_free_ char *h3 = builder_content_hash(ctxfd, (char *const *)srcs, di, &err);
    assert_string_not_equal(h1, h3);
    put("src/x.c", "x");
    _cleanup_free_ char *h4 = builder_content_hash(ctxfd, (char *const *)srcs, di, &err);
    assert_string_equal(h1, h4);
    char p[512];
    snprintf(p, sizeof(p), "%s/src/y.c", tmp);
    chmod(p, 0755); /* a mode change changes the hash */
    _cleanup_free_ char *h5 = builder_content_hash(ctxfd, (char *const *)srcs, di, &err);
    assert_string_not_equal(h1, h5);
    dockerignore_free(di);
}

/* --target: the build ends before the FROM that follows the target stage. */
static void test_target_end(void **state)
{
    (void)state;
    dockerfile df;
    unsigned line = 0;
    kl_error err = KL_ERROR_INIT;
    assert_int_equal(dockerfile_parse("FROM bb AS first\nRUN true\nFROM bb AS Second\n"
                                      "RUN false\nCMD x\n",
                                      &df, &line, &err),
                     0);
    size_t end = 99;
    assert_int_equal(builder_target_end(&df, NULL, &end, &err), 0);
    assert_int_equal(end, df.n);
    assert_int_equal(builder_target_end(&df, "", &end, &err), 0);
    assert_int_equal(end, df.n);
    assert_int_equal(builder_target_end(&df, "first", &end, &err), 0);
    assert_int_equal(end, 2);
    assert_int_equal(builder_target_end(&df, "second", &end, &err), 0); /* case-insensitive */
    assert_int_equal(end, df.n);
    assert_int_equal(builder_target_end(&df, "third", &end, &err), -1);
    assert_int_equal(err.code, ENOENT);
    assert_string_equal(err.msg, "failed to reach build target third in Dockerfile");
    dockerfile_clear(&df);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cache_key),    cmocka_unit_test(test_clean_source),
        cmocka_unit_test(test_expand),       cmocka_unit_test(test_escapes),
        cmocka_unit_test(test_dockerignore), cmocka_unit_test(test_target_end),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
