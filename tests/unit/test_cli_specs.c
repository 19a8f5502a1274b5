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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mount),
        cmocka_unit_test(test_publish),
        cmocka_unit_test(test_publish_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
