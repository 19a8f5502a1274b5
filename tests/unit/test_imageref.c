/* Image references: parsing, formatting, resolution against candidates, snapshot prefixes. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "engine/imageref.h"
#include "lib/cleanup.h"
#include <stdio.h>

static void parse_ok(const char *s, const char *name, const char *tag, const char *snap,
                     bool has_tag)
{
    imageref r;
    kl_error err = KL_ERROR_INIT;
    assert_int_equal(imageref_parse(s, &r, &err), 0);
    assert_false(kl_error_is_set(&err));
    assert_string_equal(r.name, name);
    assert_string_equal(r.tag, tag);
    if (snap)
        assert_string_equal(r.snapshot, snap);
    else
        assert_null(r.snapshot);
    assert_int_equal(r.has_tag, has_tag);
    imageref_clear(&r);
}

static void parse_bad(const char *s, const char *msg_part)
{
    imageref r;
    kl_error err = KL_ERROR_INIT;
    assert_int_equal(imageref_parse(s, &r, &err), -1);
    assert_int_equal(err.code, EINVAL);
    if (!strstr(err.msg, msg_part))
        fail_msg("'%s': message '%s' lacks '%s'", s, err.msg, msg_part);
    assert_null(r.name);
}

static void test_parse_forms(void **state)
{
    (void)state;
    parse_ok("busybox", "busybox", "latest", NULL, false);
    parse_ok("busybox:1.35", "busybox", "1.35", NULL, true);
    parse_ok("busybox:1.35@0123456789ab", "busybox", "1.35", "0123456789ab", true);
    parse_ok("webapp@abc", "webapp", "latest", "abc", false);
    parse_ok("0123456789ab@ffff00001111", "0123456789ab", "latest", "ffff00001111", false);
    parse_ok("PostgreSQL:failed@1a2b", "PostgreSQL", "failed", "1a2b", true);
    parse_ok("a_b.c-d:T_1.x-y", "a_b.c-d", "T_1.x-y", NULL, true);
    parse_ok("x", "x", "latest", NULL, false);
}

static void test_docker_names(void **state)
{
    (void)state;
    /* a '/' makes a Docker repository, kept in its familiar form */
    parse_ok("127.0.0.1:5000/team/app:v1", "127.0.0.1:5000/team/app", "v1", NULL, true);
    parse_ok("127.0.0.1:5000/team/app", "127.0.0.1:5000/team/app", "latest", NULL, false);
    parse_ok("localhost:5000/a/b/c:1.0@0123456789ab", "localhost:5000/a/b/c", "1.0", "0123456789ab",
             true);
    parse_ok("docker.io/library/busybox:latest", "busybox", "latest", NULL, true);
    parse_ok("index.docker.io/library/busybox", "busybox", "latest", NULL, false);
    parse_ok("library/busybox:1", "busybox", "1", NULL, true);
    parse_ok("docker.io/team/app", "team/app", "latest", NULL, false);
    parse_ok("team/app", "team/app", "latest", NULL, false);
    parse_ok("[::1]:5000/x:T", "[::1]:5000/x", "T", NULL, true);
    parse_ok("13.2-STABLE/base", "13.2-STABLE/base", "latest", NULL, false); /* a registry */
    /* without '/': a Kleene name, uppercase allowed, at most one ':' */
    parse_ok("localhost:5000", "localhost", "5000", NULL, true);
    /* name@sha256:<hex>: a registry digest, not a snapshot */
    const char *d = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    char s[256];
    snprintf(s, sizeof(s), "127.0.0.1:5000/team/app@%s", d);
    imageref r;
    kl_error err = KL_ERROR_INIT;
    assert_int_equal(imageref_parse(s, &r, &err), 0);
    assert_string_equal(r.name, "127.0.0.1:5000/team/app");
    assert_string_equal(r.digest, d);
    assert_null(r.snapshot);
    char *f = imageref_format(&r);
    assert_string_equal(f, s);
    free(f);
    imageref_clear(&r);
    /* nametags (image tag, build -t, pull -t) take them too */
    char *n = NULL, *t = NULL;
    assert_int_equal(imageref_parse_nametag("docker.io/library/busybox:1.36", &n, &t, &err), 0);
    assert_string_equal(n, "busybox");
    assert_string_equal(t, "1.36");
    free(n);
    free(t);
    assert_int_equal(imageref_parse_nametag("127.0.0.1:5000/team/app", &n, &t, &err), 0);
    assert_string_equal(n, "127.0.0.1:5000/team/app");
    assert_string_equal(t, "latest");
    free(n);
    free(t);
    assert_int_equal(imageref_parse_nametag(s, &n, &t, &err), -1);
    assert_non_null(strstr(err.msg, "a snapshot or a digest"));
    /* what is stored */
    assert_true(imageref_repository_is_valid("busybox"));
    assert_true(imageref_repository_is_valid("FreeBSD"));
    assert_true(imageref_repository_is_valid("127.0.0.1:5000/team/app"));
    assert_true(imageref_repository_is_valid("team/app"));
    assert_false(imageref_repository_is_valid("docker.io/team/app")); /* not familiar */
    assert_false(imageref_repository_is_valid("library/busybox"));
    assert_false(imageref_repository_is_valid("Team/App"));
    assert_false(imageref_repository_is_valid("a:b"));
    assert_false(imageref_repository_is_valid(""));
    /* docker.io/library/<name> is <name>, with a name's limits */
    char big[300] = "docker.io/library/";
    memset(big + 18, 'a', 200);
    big[218] = '\0';
    parse_bad(big, "at most 128");
}

static void test_parse_errors(void **state)
{
    (void)state;
    parse_bad("", "empty");
    parse_bad("a:b:c", "more than one ':'");
    parse_bad("a:b:c@d", "more than one ':'");
    parse_bad("::", "more than one ':'");
    parse_bad("a@b@c", "more than one '@'");
    parse_bad(":tag", "empty name");
    parse_bad("name:", "empty tag");
    parse_bad("name@", "empty snapshot");
    parse_bad("@snap", "empty name");
    parse_bad(".hidden", "not starting with");
    parse_bad("-x", "not starting with");
    parse_bad("a:-x", "the tag must");
    parse_bad("13.2-stable/Base", "the name must be a repository");
    parse_bad("Team/App:v1", "lowercase");
    parse_bad("/app", "empty name");
    parse_bad("team//app", "the name must be a repository");
    parse_bad("team/app:", "empty tag");
    parse_bad("team/app:v1:v2", "more than one ':'");
    parse_bad("busybox@sha256:abc", "the digest must be sha256");
    parse_bad("busybox@md5:0123", "the digest must be sha256");
    parse_bad("a b", "the name must");
    parse_bad("name@sn/ap", "the snapshot must");
    parse_bad("caf\xc3\xa9", "\\xc3\\xa9");
}

static void test_length_limits(void **state)
{
    (void)state;
    char name[200];
    memset(name, 'a', 128);
    name[128] = '\0';
    parse_ok(name, name, "latest", NULL, false);
    name[128] = 'a';
    name[129] = '\0';
    parse_bad(name, "the name must");
    char big[5000];
    memset(big, 'b', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    parse_bad(big, "too long");
}

static void test_nametag(void **state)
{
    (void)state;
    char *n = NULL, *t = NULL;
    kl_error err = KL_ERROR_INIT;
    assert_int_equal(imageref_parse_nametag("", &n, &t, &err), 0);
    assert_string_equal(n, "");
    assert_string_equal(t, "");
    free(n);
    free(t);
    assert_int_equal(imageref_parse_nametag("web", &n, &t, &err), 0);
    assert_string_equal(n, "web");
    assert_string_equal(t, "latest");
    free(n);
    free(t);
    assert_int_equal(imageref_parse_nametag("web@x", &n, &t, &err), -1);
    assert_int_equal(err.code, EINVAL);
    kl_error_clear(&err);
    assert_int_equal(imageref_parse_nametag("a:b:c", &n, &t, &err), -1);
    assert_non_null(strstr(err.msg, "more than one ':'"));
    kl_error_clear(&err);
    /* a registry's port is not a tag (klee build -t 127.0.0.1:5000/x split it there) */
    assert_int_equal(imageref_parse_nametag("127.0.0.1:5000/team/x", &n, &t, &err), 0);
    assert_string_equal(n, "127.0.0.1:5000/team/x");
    assert_string_equal(t, "latest");
    free(n);
    free(t);
    assert_int_equal(imageref_parse_nametag("[::1]:5000/x:v2", &n, &t, &err), 0);
    assert_string_equal(n, "[::1]:5000/x");
    assert_string_equal(t, "v2");
    free(n);
    free(t);
    /* the one rule of every split of a stored name:tag */
    static const struct {
        const char *s;
        long at; /* offset of the tag's ':', -1: none */
    } c[] = {
        {"web", -1},          {"web:v1", 3}, {"127.0.0.1:5000/x", -1},  {"127.0.0.1:5000/x:v1", 16},
        {"[::1]:5000/x", -1}, {"a/b:c", 3},  {"localhost:1/a/b:t", 15}, {":x", 0},
    };
    for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
        const char *colon = imageref_tag_colon(c[i].s);
        if (c[i].at < 0)
            assert_null(colon);
        else
            assert_ptr_equal(colon, c[i].s + c[i].at);
    }
}

static void test_id_prefix_and_format(void **state)
{
    (void)state;
    assert_true(imageref_is_id_prefix("0"));
    assert_true(imageref_is_id_prefix("0123456789ab"));
    assert_false(imageref_is_id_prefix("0123456789abc"));
    assert_false(imageref_is_id_prefix("ABC"));
    assert_false(imageref_is_id_prefix("xyz"));
    assert_false(imageref_is_id_prefix(""));
    imageref r;
    kl_error err = KL_ERROR_INIT;
    const char *cases[][2] = {{"web", "web:latest"},
                              {"web:1@s1", "web:1@s1"},
                              {"ab12@cd", "ab12@cd"},
                              {"ab12:latest", "ab12:latest"}};
    for (size_t i = 0; i < 4; i++) {
        assert_int_equal(imageref_parse(cases[i][0], &r, &err), 0);
        char *f = imageref_format(&r);
        assert_string_equal(f, cases[i][1]);
        free(f);
        imageref_clear(&r);
    }
}

#define DIG_A "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define DIG_B "sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
#define DIG_C "sha256:cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc"

static const imageref_candidate cands[] = {
    {"aaaa11112222", "busybox", "latest", NULL, NULL},
    {"aaaa33334444", "busybox", "old", NULL, NULL},
    {"bbbb11112222", "", "", NULL, NULL},
    {"cccc11112222", "bbbb", "latest", NULL, NULL}, /* a name that looks like an id prefix */
    {"dddd11112222", "127.0.0.1:5000/team/app", "v1", DIG_A, DIG_B},
};

static int resolve(const char *s, kl_error *err)
{
    imageref r;
    assert_int_equal(imageref_parse(s, &r, err), 0);
    int i = imageref_resolve(&r, cands, KL_ARRAY_SIZE(cands), err);
    imageref_clear(&r);
    return i;
}

static void test_resolve(void **state)
{
    (void)state;
    kl_error err = KL_ERROR_INIT;
    assert_int_equal(resolve("busybox", &err), 0);
    assert_int_equal(resolve("busybox:old", &err), 1);
    assert_int_equal(resolve("busybox:old@snap", &err), 1);
    assert_int_equal(resolve("aaaa3", &err), 1);        /* unique prefix */
    assert_int_equal(resolve("aaaa11112222", &err), 0); /* exact id */
    assert_int_equal(resolve("bbbb", &err), 3);         /* exact name beats id prefix */
    assert_int_equal(resolve("bbbb1", &err), 2);        /* prefix */
    assert_int_equal(resolve("aaaa", &err), -1);        /* ambiguous */
    assert_int_equal(err.code, EINVAL);
    assert_non_null(strstr(err.msg, "aaaa11112222"));
    assert_non_null(strstr(err.msg, "aaaa33334444"));
    kl_error_clear(&err);
    assert_int_equal(resolve("aaaa1:latest", &err), -1); /* a tag: not an id */
    assert_int_equal(err.code, ENOENT);
    assert_string_equal(err.msg, "no such image 'aaaa1:latest'");
    kl_error_clear(&err);
    assert_int_equal(resolve("nope", &err), -1);
    assert_int_equal(err.code, ENOENT);
    /* Docker-style names, every spelling; by digest (index or manifest) */
    assert_int_equal(resolve("127.0.0.1:5000/team/app:v1", &err), 4);
    assert_int_equal(resolve("docker.io/library/busybox:old", &err), 1);
    assert_int_equal(resolve("library/busybox", &err), 0);
    assert_int_equal(resolve("127.0.0.1:5000/team/app@" DIG_A, &err), 4);
    assert_int_equal(resolve("127.0.0.1:5000/team/app:other@" DIG_B, &err), 4);
    assert_int_equal(resolve("127.0.0.1:5000/team/app@" DIG_C, &err), -1);
    assert_int_equal(err.code, ENOENT);
    assert_int_equal(resolve("127.0.0.1:5000/other@" DIG_A, &err), -1);
    assert_int_equal(err.code, ENOENT);
}

static void test_stack_prefix(void **state)
{
    (void)state;
    const char *layers[] = {"base00000000", "step11111111", "step22222222", "step33333333"};
    kl_error err = KL_ERROR_INIT;
    size_t len = 0;
    assert_int_equal(imageref_stack_prefix(layers, 4, NULL, &len, &err), 0);
    assert_int_equal(len, 4);
    assert_int_equal(imageref_stack_prefix(layers, 4, "step11111111", &len, &err), 0);
    assert_int_equal(len, 2);
    assert_int_equal(imageref_stack_prefix(layers, 4, "@step22222222", &len, &err), 0);
    assert_int_equal(len, 3);
    assert_int_equal(imageref_stack_prefix(layers, 4, "base00000000", &len, &err), 0);
    assert_int_equal(len, 1);
    assert_int_equal(imageref_stack_prefix(layers, 4, "step1", &len, &err), -1);
    assert_int_equal(err.code, ENOENT);
    assert_string_equal(err.msg, "no such snapshot '@step1' in the image");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_forms),  cmocka_unit_test(test_parse_errors),
        cmocka_unit_test(test_docker_names), cmocka_unit_test(test_length_limits),
        cmocka_unit_test(test_nametag),      cmocka_unit_test(test_id_prefix_and_format),
        cmocka_unit_test(test_resolve),      cmocka_unit_test(test_stack_prefix),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
