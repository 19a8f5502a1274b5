#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "cli/specs.h"
#include "lib/jsonx.h"

static void expect_mount(const char *spec, const char *want_json)
{
    specs_mount m;
    kl_error err = KL_ERROR_INIT;
    assert_int_equal(specs_parse_mount(spec, &m, &err), 0);
    json_t *j = specs_mount_json(&m);
    char *s = jx_dump(j);
    assert_string_equal(s, want_json);
    free(s);
    json_decref(j);
    specs_mount_clear(&m);
}

static void expect_mount_error(const char *spec, const char *want_msg)
{
    specs_mount m;
    kl_error err = KL_ERROR_INIT;
    assert_int_equal(specs_parse_mount(spec, &m, &err), -1);
    assert_string_equal(err.msg, want_msg);
}

static void test_mount(void **state)
{
    (void)state;
    expect_mount(
        "vol:/data",
        "{\"destination\":\"/data\",\"read_only\":false,\"source\":\"vol\",\"type\":\"volume\"}");
    expect_mount("/host/dir:/mnt:ro", "{\"destination\":\"/mnt\",\"read_only\":true,\"source\":\"/"
                                      "host/dir\",\"type\":\"nullfs\"}");
    expect_mount(
        "v:/d:rw",
        "{\"destination\":\"/d\",\"read_only\":false,\"source\":\"v\",\"type\":\"volume\"}");
    /* Python split semantics: empty fields are fields */
    expect_mount(":",
                 "{\"destination\":\"\",\"read_only\":false,\"source\":\"\",\"type\":\"volume\"}");
    expect_mount_error("a:b:c:d",
                       "invalid mount format 'a:b:c:d'. Max 3 elements separated by ':'.");
    expect_mount_error(
        "novalue",
        "invalid mount format 'novalue'. Must have at least 2 elements separated by ':'.");
    expect_mount_error("",
                       "invalid mount format ''. Must have at least 2 elements separated by ':'.");
    expect_mount_error(
        "a:b:RO", "invalid mount format 'a:b:RO'. Last element should be either 'ro' or 'rw'.");
    expect_mount_error("a:b:",
                       "invalid mount format 'a:b:'. Last element should be either 'ro' or 'rw'.");
}

static void expect_port(const char *spec, const char *want_json)
{
    specs_port p;
    kl_error err = KL_ERROR_INIT;
    assert_int_equal(specs_parse_publish(spec, &p, &err), 0);
    json_t *j = specs_port_json(&p);
    char *s = jx_dump(j);
    assert_string_equal(s, want_json);
    free(s);
    json_decref(j);
    specs_port_clear(&p);
}

static void expect_port_error(const char *spec, const char *want_msg)
{
    specs_port p;
    kl_error err = KL_ERROR_INIT;
    assert_int_equal(specs_parse_publish(spec, &p, &err), -1);
    assert_string_equal(err.msg, want_msg);
}

static void test_publish(void **state)
{
    (void)state;
    expect_port("8080", "{\"container_port\":\"8080\",\"host_port\":\"8080\",\"interfaces\":[],"
                        "\"protocol\":\"tcp\"}");
    expect_port("8080:80", "{\"container_port\":\"80\",\"host_port\":\"8080\",\"interfaces\":[],"
                           "\"protocol\":\"tcp\"}");
    expect_port("53/udp", "{\"container_port\":\"53\",\"host_port\":\"53\",\"interfaces\":[],"
                          "\"protocol\":\"udp\"}");
    expect_port("em0:8000:8000-8010/tcp",
                "{\"container_port\":\"8000-8010\",\"host_port\":\"8000\",\"interfaces\":[\"em0\"],"
                "\"protocol\":\"tcp\"}");
    expect_port_error("eth0:1000:80:90", "could not decode port to publish: eth0:1000:80:90");
}

static void test_publish_errors(void **state)
{
    (void)state;
    expect_port_error("1:2:3:4", "could not decode port to publish: 1:2:3:4");
    expect_port_error("80/tcp/udp", "could not decode port to publish: 80/tcp/udp");
    expect_port_error("80/sctp", "'sctp' is not a valid PublishedPortConfigProtocol");
    expect_port_error("80/", "'' is not a valid PublishedPortConfigProtocol");
}

static long long size_ok(const char *s)
{
    kl_error err = KL_ERROR_INIT;
    long long v = -1;
    assert_int_equal(specs_parse_size(s, &v, &err), 0);
    return v;
}

static void size_bad(const char *s)
{
    kl_error err = KL_ERROR_INIT;
    long long v = -7;
    assert_int_equal(specs_parse_size(s, &v, &err), -1);
    assert_int_equal(err.code, EINVAL);
    assert_non_null(strstr(err.msg, "invalid size"));
    assert_int_equal(v, -7);
}

static void test_sizes(void **state)
{
    (void)state;
    assert_int_equal(size_ok("0"), 0);
    assert_int_equal(size_ok("4096"), 4096);
    assert_int_equal(size_ok("512b"), 512);
    assert_int_equal(size_ok("64k"), 65536);
    assert_int_equal(size_ok("64m"), 64LL << 20);
    assert_int_equal(size_ok("64M"), 64LL << 20);
    assert_int_equal(size_ok("64mb"), 64LL << 20);
    assert_int_equal(size_ok("1.5g"), 3LL << 29);
    assert_int_equal(size_ok("2G"), 2LL << 30);
    size_bad("");
    size_bad("m");
    size_bad("-1m");
    size_bad("64x");
    size_bad("64 m");
    size_bad("64mm");
    size_bad("99999999999999999999");
    size_bad("9999999999t");
}

static void test_cpus_and_counts(void **state)
{
    (void)state;
    kl_error err = KL_ERROR_INIT;
    double c;
    assert_int_equal(specs_parse_cpus("1.5", &c, &err), 0);
    assert_true(c > 1.499 && c < 1.501);
    assert_int_equal(specs_parse_cpus(".5", &c, &err), 0);
    assert_true(c > 0.499 && c < 0.501);
    assert_int_equal(specs_parse_cpus("2", &c, &err), 0);
    assert_true(c == 2);
    assert_int_equal(specs_parse_cpus("1025", &c, &err), -1);
    assert_int_equal(specs_parse_cpus("-1", &c, &err), -1);
    assert_int_equal(specs_parse_cpus("1,5", &c, &err), -1);
    assert_int_equal(specs_parse_cpus("", &c, &err), -1);
    long long n;
    err = (kl_error)KL_ERROR_INIT;
    assert_int_equal(specs_parse_count("100", "pids limit", 0, 1000000, &n, &err), 0);
    assert_int_equal(n, 100);
    assert_int_equal(specs_parse_count("-1", "time", -1, 10, &n, &err), 0);
    assert_int_equal(n, -1);
    assert_int_equal(specs_parse_count("11", "time", -1, 10, &n, &err), -1);
    assert_string_equal(err.msg, "invalid time '11': a whole number from -1 to 10 is expected");
    assert_int_equal(specs_parse_count("1e3", "time", -1, 10, &n, &err), -1);
    assert_int_equal(specs_parse_count("-", "time", -1, 10, &n, &err), -1);
    assert_int_equal(specs_parse_count("99999999999999999999999", "time", -1, 10, &n, &err), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mount),           cmocka_unit_test(test_publish),
        cmocka_unit_test(test_publish_errors),  cmocka_unit_test(test_sizes),
        cmocka_unit_test(test_cpus_and_counts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
