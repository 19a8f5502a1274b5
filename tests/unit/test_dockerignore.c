/* .dockerignore matching with Docker's rules (patternmatcher). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "lib/dockerignore.h"

static dockerignore *parse_ok(const char *text)
{
    kl_error err = KL_ERROR_INIT;
    dockerignore *di = dockerignore_parse(text, &err);
    if (!di)
        fail_msg("parse failed: %s", err.msg);
    return di;
}

static void check(const dockerignore *di, const char *path, bool want)
{
    if (dockerignore_is_excluded(di, path) != want)
        fail_msg("'%s': expected %s", path, want ? "excluded" : "included");
}

static void test_basics(void **state)
{
    (void)state;
    dockerignore *di = parse_ok("# comment\n\n  *.md  \r\n/build\ntmp?\n");
    assert_int_equal(dockerignore_count(di), 3);
    assert_false(dockerignore_has_exceptions(di));
    check(di, "README.md", true);
    check(di, "./README.md", true);
    check(di, "docs/README.md", false); /* '*' does not cross '/' */
    check(di, "build", true);
    check(di, "build/out/x.o", true); /* a parent directory matches */
    check(di, "src/build", false);
    check(di, "tmp1", true);
    check(di, "tmp12", false);
    check(di, "tmp/", false);
    check(di, "# comment", false);
    check(di, "Dockerfile", false);
    dockerignore_free(di);

    di = parse_ok("");
    check(di, "anything", false);
    dockerignore_free(di);
    assert_false(dockerignore_is_excluded(NULL, "x"));
}

static void test_double_star(void **state)
{
    (void)state;
    dockerignore *di = parse_ok("**/*.go\na/**/b\nlogs/**\n");
    check(di, "x.go", true);
    check(di, "deep/er/x.go", true);
    check(di, "x.gox", false);
    check(di, "a/b", true);
    check(di, "a/x/y/b", true);
    check(di, "a/x/y/b/c", true);
    check(di, "a/xb", false);
    check(di, "logs/1/2.txt", true);
    check(di, "logsx", false);
    dockerignore_free(di);
    /* "**" alone excludes everything */
    di = parse_ok("**\n");
    check(di, "a", true);
    check(di, "a/b/c", true);
    dockerignore_free(di);
}

static void test_exceptions(void **state)
{
    (void)state;
    dockerignore *di = parse_ok("*.md\n!README.md\nREADME-secret.md\n");
    assert_true(dockerignore_has_exceptions(di));
    check(di, "CHANGES.md", true);
    check(di, "README.md", false);
    check(di, "README-secret.md", true);
    dockerignore_free(di);
    /* the last matching pattern wins */
    di = parse_ok("!keep\nkeep\n");
    check(di, "keep", true);
    dockerignore_free(di);
    di = parse_ok("dir\n! dir/keep\n");
    check(di, "dir/other", true);
    check(di, "dir/keep", false);
    check(di, "dir/keep/sub", false);
    dockerignore_free(di);
}

static void test_classes_escapes_cleaning(void **state)
{
    (void)state;
    dockerignore *di = parse_ok("file[0-9]\nx[^a]\nlit\\*\n./a/../b//c/\n[]]z\n");
    check(di, "file7", true);
    check(di, "filex", false);
    check(di, "xb", true);
    check(di, "xa", false);
    check(di, "lit*", true);
    check(di, "litx", false);
    check(di, "b/c", true);
    check(di, "b/c/d", true);
    check(di, "a/b/c", false);
    check(di, "]z", true);
    dockerignore_free(di);
}

static void test_errors(void **state)
{
    (void)state;
    kl_error err = KL_ERROR_INIT;
    assert_null(dockerignore_parse("ok\n[abc\n", &err));
    assert_int_equal(err.code, EINVAL);
    assert_string_equal(err.msg, "line 2: unterminated '[' in pattern");
    kl_error_clear(&err);
    assert_null(dockerignore_parse("a\n\n!\n", &err));
    assert_string_equal(err.msg, "line 3: illegal exclusion pattern: \"!\"");
    kl_error_clear(&err);
    assert_null(dockerignore_parse("[z-a]\n", &err));
    assert_string_equal(err.msg, "line 1: invalid range in character class");
}

/* A pattern that would make a backtracking matcher exponential stays fast. */
static void test_no_blowup(void **state)
{
    (void)state;
    char pat[256] = "";
    for (int i = 0; i < 30; i++)
        strcat(pat, "*a");
    strcat(pat, "b\n**/**/**/**/**/**/**/**/**/c\n");
    dockerignore *di = parse_ok(pat);
    char path[512];
    memset(path, 'a', 400);
    path[400] = '\0';
    check(di, path, false);
    for (int i = 0; i < 400; i += 2)
        path[i] = '/';
    check(di, path, false);
    dockerignore_free(di);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_basics),     cmocka_unit_test(test_double_star),
        cmocka_unit_test(test_exceptions), cmocka_unit_test(test_classes_escapes_cleaning),
        cmocka_unit_test(test_errors),     cmocka_unit_test(test_no_blowup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
