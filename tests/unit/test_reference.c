#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "registry/reference.h"

#define D "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"

static void ok(const char *s, const char *domain, const char *path, const char *tag,
               const char *digest, const char *familiar)
{
    oci_ref r;
    kl_error err = KL_ERROR_INIT;
    int rc = oci_ref_parse(s, &r, &err);
    if (rc != 0)
        fail_msg("%s: %s", s, err.msg);
    assert_string_equal(r.domain, domain);
    assert_string_equal(r.path, path);
    if (tag)
        assert_string_equal(r.tag, tag);
    else
        assert_null(r.tag);
    if (digest)
        assert_string_equal(r.digest, digest);
    else
        assert_null(r.digest);
    char *f = oci_ref_familiar(&r);
    assert_string_equal(f, familiar);
    free(f);
    /* the full form parses back to the same */
    char *full = oci_ref_format(&r);
    oci_ref r2;
    assert_int_equal(oci_ref_parse(full, &r2, &err), 0);
    assert_string_equal(r2.domain, r.domain);
    assert_string_equal(r2.path, r.path);
    free(full);
    oci_ref_clear(&r2);
    oci_ref_clear(&r);
}

static void test_docker_forms(void **state)
{
    (void)state;
    ok("busybox", "docker.io", "library/busybox", "latest", NULL, "busybox:latest");
    ok("busybox:1.36", "docker.io", "library/busybox", "1.36", NULL, "busybox:1.36");
    ok("team/app:v1", "docker.io", "team/app", "v1", NULL, "team/app:v1");
    ok("docker.io/library/debian:12", "docker.io", "library/debian", "12", NULL, "debian:12");
    ok("index.docker.io/library/debian", "docker.io", "library/debian", "latest", NULL,
       "debian:latest");
    ok("docker.io/busybox", "docker.io", "library/busybox", "latest", NULL, "busybox:latest");
    ok("127.0.0.1:5000/team/app:v1", "127.0.0.1:5000", "team/app", "v1", NULL,
       "127.0.0.1:5000/team/app:v1");
    ok("localhost/app", "localhost", "app", "latest", NULL, "localhost/app:latest");
    ok("localhost:5000/a/b/c", "localhost:5000", "a/b/c", "latest", NULL,
       "localhost:5000/a/b/c:latest");
    ok("quay.io/org/img_x.y-z__w", "quay.io", "org/img_x.y-z__w", "latest", NULL,
       "quay.io/org/img_x.y-z__w:latest");
    ok("busybox@" D, "docker.io", "library/busybox", NULL, D, "busybox@" D);
    ok("reg.example:443/x:tag@" D, "reg.example:443", "x", "tag", D, "reg.example:443/x:tag@" D);
    ok("[::1]:5000/app:1", "[::1]:5000", "app", "1", NULL, "[::1]:5000/app:1");
    ok("a---b", "docker.io", "library/a---b", "latest", NULL, "a---b:latest");
    /* a first path component that looks like a registry keeps docker.io/ in the short form */
    ok("docker.io/ler.io/library/x", "docker.io", "ler.io/library/x", "latest", NULL,
       "docker.io/ler.io/library/x:latest");
    ok("docker.io/localhost/x", "docker.io", "localhost/x", "latest", NULL,
       "docker.io/localhost/x:latest");
    ok("My-Registry.example/app", "My-Registry.example", "app", "latest", NULL,
       "My-Registry.example/app:latest");
}

static void test_accessors(void **state)
{
    (void)state;
    oci_ref r;
    kl_error err = KL_ERROR_INIT;
    assert_int_equal(oci_ref_parse("busybox", &r, &err), 0);
    assert_string_equal(oci_ref_api_host(&r), "registry-1.docker.io");
    assert_string_equal(oci_ref_manifest_ref(&r), "latest");
    char *repo = oci_ref_repository(&r);
    assert_string_equal(repo, "docker.io/library/busybox");
    free(repo);
    oci_ref_clear(&r);
    assert_int_equal(oci_ref_parse("127.0.0.1:5000/x:t@" D, &r, &err), 0);
    assert_string_equal(oci_ref_api_host(&r), "127.0.0.1:5000");
    assert_string_equal(oci_ref_manifest_ref(&r), D); /* the digest pins the content */
    oci_ref_clear(&r);
}

static void bad(const char *s, const char *what)
{
    oci_ref r;
    kl_error err = KL_ERROR_INIT;
    if (oci_ref_parse(s, &r, &err) == 0)
        fail_msg("%s parsed", s);
    assert_int_equal(err.code, EINVAL);
    if (!strstr(err.msg, what))
        fail_msg("%s: \"%s\" does not say \"%s\"", s, err.msg, what);
}

static void test_invalid(void **state)
{
    (void)state;
    bad("", "empty");
    bad("Busybox", "lowercase");
    bad("team/App", "lowercase");
    bad("busybox:", "tag");
    bad("busybox:-x", "invalid tag");
    bad("busybox:a/b", "port"); /* "busybox:a" is taken as a registry */
    bad(":tag", "no repository");
    bad("a//b", "empty path component");
    bad("a/", "empty path component");
    bad("/a", "empty path component");
    bad("-a", "start and end");
    bad("a-", "start and end");
    bad("a..b", "separator");
    bad("a___b", "separator");
    bad("a b", "invalid character");
    bad("busybox@sha256:123", "64 hex");
    bad("busybox@", "digest");
    bad("host:99999/a", "port");
    bad("host:/a", "port");
    bad("-host.x/a", "host");
    bad("ho$t.x/a", "host");
    bad("[zz]:1/a", "IPv6");
    char long_name[300];
    memset(long_name, 'a', sizeof(long_name) - 1);
    long_name[sizeof(long_name) - 1] = '\0';
    bad(long_name, "longer than");
    /* 250 characters given, but docker.io/library/ makes it longer than 255 in full */
    long_name[250] = '\0';
    bad(long_name, "longer than");
    char long_tag[200] = "a:";
    memset(long_tag + 2, 't', 150);
    long_tag[152] = '\0';
    bad(long_tag, "1 to 128");
}

static void test_unsupported_digest(void **state)
{
    (void)state;
    oci_ref r;
    kl_error err = KL_ERROR_INIT;
    assert_int_equal(oci_ref_parse("a@sha512:abcd", &r, &err), -1);
    assert_int_equal(err.code, ENOTSUP);
}

static void test_loopback(void **state)
{
    (void)state;
    assert_true(oci_ref_domain_is_loopback("localhost"));
    assert_true(oci_ref_domain_is_loopback("localhost:5000"));
    assert_true(oci_ref_domain_is_loopback("127.0.0.1:5000"));
    assert_true(oci_ref_domain_is_loopback("127.1.2.3"));
    assert_true(oci_ref_domain_is_loopback("[::1]:5000"));
    assert_false(oci_ref_domain_is_loopback("127.0.0.1.example.com"));
    assert_false(oci_ref_domain_is_loopback("127.0.0.256"));
    assert_false(oci_ref_domain_is_loopback("127.0.0"));
    assert_false(oci_ref_domain_is_loopback("localhost.example"));
    assert_false(oci_ref_domain_is_loopback("docker.io"));
    assert_false(oci_ref_domain_is_loopback("128.0.0.1"));
    assert_false(oci_ref_domain_is_loopback("[::2]:5000"));
    assert_false(oci_ref_domain_is_loopback(NULL));
}

static void expect_norm(const char *in, const char *want)
{
    kl_error err = KL_ERROR_INIT;
    char *got = oci_registry_normalize(in, &err);
    if (!want) {
        assert_null(got);
        assert_int_equal(err.code, EINVAL);
        return;
    }
    if (!got)
        fail_msg("%s: %s", in, err.msg);
    assert_string_equal(got, want);
    free(got);
}

static void test_registry_normalize(void **state)
{
    (void)state;
    expect_norm("127.0.0.1:5000", "127.0.0.1:5000");
    expect_norm("http://127.0.0.1:5000/v2/", "127.0.0.1:5000");
    expect_norm("https://registry.lan", "registry.lan");
    expect_norm("localhost", "localhost");
    expect_norm("[::1]:5000", "[::1]:5000");
    expect_norm("docker.io", "docker.io");
    expect_norm("https://index.docker.io/v1/", "docker.io");
    expect_norm("registry-1.docker.io", "docker.io");
    expect_norm("INDEX.DOCKER.IO", "docker.io");
    expect_norm("", NULL);
    expect_norm("https://", NULL);
    expect_norm("myhost", NULL); /* a repository, not a registry */
    expect_norm("bad host:5000", NULL);
    expect_norm(NULL, NULL);
    char *k = oci_registry_auth_key("docker.io");
    assert_string_equal(k, "https://index.docker.io/v1/");
    free(k);
    k = oci_registry_auth_key("127.0.0.1:5000");
    assert_string_equal(k, "127.0.0.1:5000");
    free(k);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_docker_forms), cmocka_unit_test(test_accessors),
        cmocka_unit_test(test_invalid),      cmocka_unit_test(test_unsupported_digest),
        cmocka_unit_test(test_loopback),     cmocka_unit_test(test_registry_normalize),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
