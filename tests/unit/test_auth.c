#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "registry/auth.h"

static void test_bearer(void **state)
{
    (void)state;
    oci_auth_challenge c;
    kl_error err = KL_ERROR_INIT;
    /* what Docker Hub sends */
    assert_int_equal(
        oci_auth_challenge_parse("Bearer realm=\"https://auth.docker.io/token\",service=\"registry."
                                 "docker.io\",scope=\"repository:library/busybox:pull\"",
                                 &c, &err),
        0);
    assert_int_equal(c.scheme, OCI_AUTH_BEARER);
    assert_string_equal(c.realm, "https://auth.docker.io/token");
    assert_string_equal(c.service, "registry.docker.io");
    assert_string_equal(c.scope, "repository:library/busybox:pull");
    char *u = oci_auth_token_url(&c, NULL);
    assert_string_equal(u, "https://auth.docker.io/token?service=registry.docker.io&scope="
                           "repository%3Alibrary%2Fbusybox%3Apull");
    free(u);
    u = oci_auth_token_url(&c, "repository:a&b:pull,push");
    assert_string_equal(u, "https://auth.docker.io/token?service=registry.docker.io&scope="
                           "repository%3Aa%26b%3Apull%2Cpush");
    free(u);
    /* several scopes (a push that mounts from another repository): one parameter each */
    u = oci_auth_token_url(&c, "repository:a:pull,push repository:b/c:pull");
    assert_string_equal(u, "https://auth.docker.io/token?service=registry.docker.io&scope="
                           "repository%3Aa%3Apull%2Cpush&scope=repository%3Ab%2Fc%3Apull");
    free(u);
    oci_auth_challenge_clear(&c);

    /* case, spaces, token values, unknown params, escapes */
    assert_int_equal(oci_auth_challenge_parse("  bEaReR  Realm = \"http://127.0.0.1:5001/t\" , "
                                              "error=insufficient_scope, service=reg, x=\"a\\\"b\"",
                                              &c, &err),
                     0);
    assert_string_equal(c.realm, "http://127.0.0.1:5001/t");
    assert_string_equal(c.service, "reg");
    assert_null(c.scope);
    u = oci_auth_token_url(&c, NULL);
    assert_string_equal(u, "http://127.0.0.1:5001/t?service=reg");
    free(u);
    oci_auth_challenge_clear(&c);
}

static void test_basic(void **state)
{
    (void)state;
    oci_auth_challenge c;
    kl_error err = KL_ERROR_INIT;
    assert_int_equal(oci_auth_challenge_parse("Basic realm=\"Registry Realm\"", &c, &err), 0);
    assert_int_equal(c.scheme, OCI_AUTH_BASIC);
    assert_string_equal(c.realm, "Registry Realm");
    oci_auth_challenge_clear(&c);
    assert_int_equal(oci_auth_challenge_parse("Basic", &c, &err), 0);
    oci_auth_challenge_clear(&c);
    char *h = oci_auth_basic("user", "pa:ss");
    assert_string_equal(h, "Basic dXNlcjpwYTpzcw==");
    free(h);
}

static void bad(const char *hdr, int code)
{
    oci_auth_challenge c;
    kl_error err = KL_ERROR_INIT;
    if (oci_auth_challenge_parse(hdr, &c, &err) == 0)
        fail_msg("parsed: %s", hdr);
    assert_int_equal(err.code, code);
    assert_true(err.msg[0] != '\0');
}

static void test_bad_challenges(void **state)
{
    (void)state;
    bad("", EINVAL);
    bad("Negotiate abc", ENOTSUP);
    bad("Digest realm=\"x\"", ENOTSUP);
    bad("Bearer", EINVAL);                     /* no realm */
    bad("Bearer realm=\"ftp://x/t\"", EINVAL); /* not http(s) */
    bad("Bearer realm=\"https://x/t?a=b\"", EINVAL);
    bad("Bearer realm=\"https://x/t", EINVAL); /* unterminated */
    bad("Bearer realm=\"https://x/t\" junk", EINVAL);
    bad("Bearer =x", EINVAL);
    bad("Bearer realm=\"https://x/\r\nX: y\"", EINVAL);
    bad("Bearer,realm=x", EINVAL);
}

static void test_token(void **state)
{
    (void)state;
    kl_error err = KL_ERROR_INIT;
    const char *b1 = "{\"token\":\"abc.def-ghi\",\"expires_in\":300}";
    char *t = oci_auth_token_parse(b1, strlen(b1), &err);
    assert_string_equal(t, "abc.def-ghi");
    free(t);
    const char *b2 = "{\"access_token\":\"xyz\"}";
    t = oci_auth_token_parse(b2, strlen(b2), &err);
    assert_string_equal(t, "xyz");
    free(t);
    const char *bad[] = {"",
                         "[]",
                         "{}",
                         "{\"token\":\"\"}",
                         "{\"token\":\"a b\"}",
                         "{\"token\":\"a\\r\\nX-Evil: 1\"}",
                         "{\"token\":5}"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        kl_error_clear(&err);
        assert_null(oci_auth_token_parse(bad[i], strlen(bad[i]), &err));
        assert_true(err.code == EINVAL || err.code == EACCES);
    }
}

/* A registry's error answers (pull and push share them). */
static void test_registry_errors(void **state)
{
    (void)state;
    kl_error err = KL_ERROR_INIT;
    const char *b =
        "{\"errors\":[{\"code\":\"MANIFEST_UNKNOWN\",\"message\":\"manifest unknown\"}]}";
    assert_int_equal(oci_registry_error("GET m", 404, b, strlen(b), &err), -1);
    assert_int_equal(err.code, ENOENT);
    assert_string_equal(err.msg, "GET m: MANIFEST_UNKNOWN: manifest unknown (HTTP 404)");
    kl_error_clear(&err);
    assert_int_equal(oci_registry_error("PUT b", 500, "not json", 8, &err), -1);
    assert_int_equal(err.code, EIO);
    assert_string_equal(err.msg, "PUT b: HTTP 500");
    kl_error_clear(&err);
    assert_int_equal(oci_registry_error("GET b", 403, NULL, 0, &err), -1);
    assert_int_equal(err.code, EACCES);
    kl_error_clear(&err);

    oci_auth_refused("r:5000", "alice", NULL, "GET m", 401, NULL, 0, &err);
    assert_int_equal(err.code, EACCES);
    assert_non_null(
        strstr(err.msg, "registry r:5000: the credentials of user 'alice' were refused"));
    kl_error_clear(&err);
    oci_auth_refused("r:5000", "", NULL, "GET m", 401, NULL, 0, &err);
    assert_non_null(strstr(err.msg, "registry r:5000: authentication required, no credentials"));
    kl_error_clear(&err);
    oci_auth_refused("r:5000", "bob", "Bearer error=\"insufficient_scope\"", "PUT m", 403, NULL, 0,
                     &err);
    assert_non_null(strstr(err.msg, "registry r:5000: user 'bob' is not allowed to do this"));
    kl_error_clear(&err);
    oci_auth_refused("r:5000", NULL, "Bearer error=\"insufficient_scope\"", "PUT m", 403, NULL, 0,
                     &err);
    assert_non_null(strstr(err.msg, "registry r:5000: anonymous is not allowed to do this"));
    kl_error_clear(&err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bearer),          cmocka_unit_test(test_basic),
        cmocka_unit_test(test_bad_challenges),  cmocka_unit_test(test_token),
        cmocka_unit_test(test_registry_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
