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

static void test_transport(void **state)
{
    (void)state;
    char dir[] = "/tmp/kleene-certsd.XXXXXX";
    assert_non_null(mkdtemp(dir));
    _cleanup_free_ char *rdir = xasprintf("%s/reg.lan:5443", dir);
    assert_int_equal(mkdir(rdir, 0755), 0);
    _cleanup_free_ char *ca = xasprintf("%s/ca.crt", rdir);
    FILE *f = fopen(ca, "w");
    fputs("x", f);
    fclose(f);
    char *insecure[] = {"plain.lan:5000", "10.0.0.0/8", "fd00::/8", "Upper.LAN", NULL};
    kl_engine e = {.insecure_registries = insecure, .registry_certs_dir = dir};
    registry_transport t;
    registry_transport_get(&e, "reg.lan:5443", &t);
    assert_false(t.insecure);
    assert_string_equal(t.ca_file, ca);
    assert_null(t.client_cert);
    registry_transport_clear(&t);
    /* a client certificate: NAME.cert with NAME.key; b.cert alone is skipped */
    const char *files[] = {"b.cert", "c.cert", "c.key"};
    for (size_t i = 0; i < 3; i++) {
        _cleanup_free_ char *fp = xasprintf("%s/%s", rdir, files[i]);
        FILE *cf = fopen(fp, "w");
        fputs("x", cf);
        fclose(cf);
    }
    registry_transport_get(&e, "reg.lan:5443", &t);
    _cleanup_free_ char *want_cert = xasprintf("%s/c.cert", rdir);
    _cleanup_free_ char *want_key = xasprintf("%s/c.key", rdir);
    assert_string_equal(t.client_cert, want_cert);
    assert_string_equal(t.client_key, want_key);
    registry_transport_clear(&t);
    for (size_t i = 0; i < 3; i++) {
        _cleanup_free_ char *fp = xasprintf("%s/%s", rdir, files[i]);
        unlink(fp);
    }
    registry_transport_get(&e, "reg.lan", &t); /* another port, another directory */
    assert_null(t.ca_file);
    registry_transport_get(&e, "plain.lan:5000", &t);
    assert_true(t.insecure);
    registry_transport_get(&e, "plain.lan:5001", &t);
    assert_false(t.insecure);
    registry_transport_get(&e, "upper.lan", &t);
    assert_true(t.insecure);
    registry_transport_get(&e, "10.1.2.3:5000", &t);
    assert_true(t.insecure);
    registry_transport_get(&e, "11.1.2.3:5000", &t);
    assert_false(t.insecure);
    registry_transport_get(&e, "[fd00::5]:5000", &t);
    assert_true(t.insecure);
    registry_transport_get(&e, "[fe80::5]:5000", &t);
    assert_false(t.insecure);
    registry_transport_get(&e, "10.example.com", &t); /* a name, not an address */
    assert_false(t.insecure);
    registry_transport_get(&e, "../x", &t);
    assert_null(t.ca_file);
    registry_transport_get(&e, NULL, &t);
    assert_false(t.insecure);
    unlink(ca);
    rmdir(rdir);
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_credentials_check),
        cmocka_unit_test(test_transport),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
