/* src/engine/registry.c: credential checks and how a registry is reached (insecure list,
 * per-registry CA files). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine/registry.h"
#include "lib/cleanup.h"
#include "lib/xalloc.h"

static void test_credentials_check(void **state)
{
    (void)state;
    kl_error err = KL_ERROR_INIT;
    assert_int_equal(registry_credentials_check(NULL, NULL, &err), 0);
    assert_int_equal(registry_credentials_check("", "", &err), 0);
    assert_int_equal(registry_credentials_check("alice", "pa:ss w0rd", &err), 0);
    assert_int_equal(registry_credentials_check("alice", NULL, &err), 0);
    assert_int_equal(registry_credentials_check("al:ice", "x", &err), -1);
    assert_string_equal(err.msg, "registry credentials: the username contains ':'");
    kl_error_clear(&err);
    assert_int_equal(registry_credentials_check("alice", "a\nb", &err), -1);
    assert_null(strstr(err.msg, "a\nb"));
    kl_error_clear(&err);
    assert_int_equal(registry_credentials_check("", "secret", &err), -1);
    assert_null(strstr(err.msg, "secret"));
    kl_error_clear(&err);
    assert_int_equal(registry_credentials_check("a\tb", "x", &err), -1);
    kl_error_clear(&err);
    char *longu = xmalloc(REGISTRY_USERNAME_MAX + 2);
    memset(longu, 'u', REGISTRY_USERNAME_MAX + 1);
    longu[REGISTRY_USERNAME_MAX + 1] = '\0';
    assert_int_equal(registry_credentials_check(longu, "x", &err), -1);
    free(longu);
}

static void put(const char *dir, const char *name)
{
    _cleanup_free_ char *p = xasprintf("%s/%s", dir, name);
    FILE *f = fopen(p, "w");
    fputs("x", f);
    fclose(f);
}

static void drop(const char *dir, const char *name)
{
    _cleanup_free_ char *p = xasprintf("%s/%s", dir, name);
    unlink(p);
}

static void test_transport(void **state)
{
    (void)state;
    char dir[] = "/tmp/kleene-certsd.XXXXXX";
    assert_non_null(mkdtemp(dir));
    _cleanup_free_ char *rdir = xasprintf("%s/reg.lan:5443", dir);
    assert_int_equal(mkdir(rdir, 0755), 0);
    put(rdir, "ca.crt");
    char *insecure[] = {"plain.lan:5000", "10.0.0.0/8", "fd00::/8", "Upper.LAN", NULL};
    kl_engine e = {.insecure_registries = insecure, .registry_certs_dir = dir};
    registry_transport t;
    kl_error err = KL_ERROR_INIT;
    assert_int_equal(registry_transport_get(&e, "reg.lan:5443", &t, &err), 0);
    assert_false(t.insecure);
    _cleanup_free_ char *ca = xasprintf("%s/ca.crt", rdir);
    assert_non_null(t.ca_files);
    assert_string_equal(t.ca_files[0], ca);
    assert_null(t.ca_files[1]);
    assert_null(t.client_cert);
    registry_transport_clear(&t);
    /* every *.crt is a CA (Docker's rule), by name; a directory named x.crt is not; a
     * client certificate: NAME.cert with NAME.key, the first by name */
    put(rdir, "a-other.crt");
    _cleanup_free_ char *subdir = xasprintf("%s/sub.crt", rdir);
    assert_int_equal(mkdir(subdir, 0755), 0);
    const char *pair[] = {"c.cert", "c.key", "d.cert", "d.key"};
    for (size_t i = 0; i < 4; i++)
        put(rdir, pair[i]);
    assert_int_equal(registry_transport_get(&e, "reg.lan:5443", &t, &err), 0);
    _cleanup_free_ char *other = xasprintf("%s/a-other.crt", rdir);
    assert_string_equal(t.ca_files[0], other);
    assert_string_equal(t.ca_files[1], ca);
    assert_null(t.ca_files[2]);
    _cleanup_free_ char *want_cert = xasprintf("%s/c.cert", rdir);
    _cleanup_free_ char *want_key = xasprintf("%s/c.key", rdir);
    assert_string_equal(t.client_cert, want_cert);
    assert_string_equal(t.client_key, want_key);
    registry_transport_clear(&t);
    /* b.cert without b.key, e.key without e.cert: errors naming the file (Docker's) */
    put(rdir, "b.cert");
    assert_int_equal(registry_transport_get(&e, "reg.lan:5443", &t, &err), -1);
    assert_int_equal(err.code, EINVAL);
    _cleanup_free_ char *want = xasprintf(
        "registry reg.lan:5443: the client certificate %s/b.cert has no key b.key beside it", rdir);
    if (!strstr(err.msg, want))
        fail_msg("%s", err.msg);
    registry_transport_clear(&t);
    kl_error_clear(&err);
    drop(rdir, "b.cert");
    put(rdir, "e.key");
    assert_int_equal(registry_transport_get(&e, "reg.lan:5443", &t, &err), -1);
    _cleanup_free_ char *want2 = xasprintf(
        "registry reg.lan:5443: the key %s/e.key has no client certificate e.cert beside it", rdir);
    if (!strstr(err.msg, want2))
        fail_msg("%s", err.msg);
    registry_transport_clear(&t);
    kl_error_clear(&err);
    drop(rdir, "e.key");
    for (size_t i = 0; i < 4; i++)
        drop(rdir, pair[i]);
    drop(rdir, "a-other.crt");
    rmdir(subdir);

    static const struct {
        const char *domain;
        bool insecure;
    } c[] = {
        {"reg.lan", false}, /* another port, another directory */
        {"plain.lan:5000", true},  {"plain.lan:5001", false},
        {"upper.lan", true},       {"10.1.2.3:5000", true},
        {"11.1.2.3:5000", false},  {"[fd00::5]:5000", true},
        {"[fe80::5]:5000", false}, {"10.example.com", false}, /* a name, not an address */
        {"../x", false},           {NULL, false},
    };
    for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
        assert_int_equal(registry_transport_get(&e, c[i].domain, &t, &err), 0);
        if (t.insecure != c[i].insecure)
            fail_msg("%s: insecure %d", c[i].domain ? c[i].domain : "(null)", t.insecure);
        assert_null(t.ca_files);
        registry_transport_clear(&t);
    }
    drop(rdir, "ca.crt");
    rmdir(rdir);
    rmdir(dir);
}

static void test_path_of(void **state)
{
    (void)state;
    static const char *const c[][2] = {
        {"busybox", "library/busybox"},
        {"team/app:v1", "team/app"},
        {"127.0.0.1:5000/team/a", "team/a"},
        {"localhost/a/b@sha256:0000000000000000000000000000000000000000000000000000000000000000",
         "a/b"},
        {"[::1]:5000/x", "x"},
    };
    for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
        char *p = registry_path_of(c[i][0]);
        assert_non_null(p);
        assert_string_equal(p, c[i][1]);
        free(p);
    }
    assert_null(registry_path_of("Bad/Name"));
    assert_null(registry_path_of(NULL));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_credentials_check),
        cmocka_unit_test(test_transport),
        cmocka_unit_test(test_path_of),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
