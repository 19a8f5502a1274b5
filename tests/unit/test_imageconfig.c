#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <string.h>

#include "registry/imageconfig.h"

#define D1 "sha256:1111111111111111111111111111111111111111111111111111111111111111"
#define D2 "sha256:2222222222222222222222222222222222222222222222222222222222222222"

/* what `docker inspect`-style tools write for nginx-like images */
static const char *full =
    "{\"architecture\":\"amd64\",\"os\":\"linux\",\"created\":\"2024-01-01T00:00:00Z\","
    "\"config\":{\"User\":\"101:101\",\"Env\":[\"PATH=/usr/bin:/bin\",\"A=b=c\",\"EMPTY=\"],"
    "\"Entrypoint\":[\"/docker-entrypoint.sh\"],\"Cmd\":[\"nginx\",\"-g\",\"daemon off;\"],"
    "\"WorkingDir\":\"/srv\",\"ExposedPorts\":{\"80/tcp\":{},\"53/udp\":{}},"
    "\"Labels\":{\"maintainer\":\"x <x@example.org>\",\"version\":\"1\"},"
    "\"StopSignal\":\"SIGQUIT\"},"
    "\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"" D1 "\",\"" D2 "\"]},"
    "\"history\":[{\"created_by\":\"x\"}]}";

static void test_full(void **state)
{
    (void)state;
    oci_imgconfig c;
    kl_error err = KL_ERROR_INIT;
    assert_int_equal(oci_imgconfig_parse(full, strlen(full), &c, &err), 0);
    assert_string_equal(c.os, "linux");
    assert_string_equal(c.architecture, "amd64");
    assert_null(c.variant);
    assert_string_equal(c.user, "101:101");
    assert_string_equal(c.working_dir, "/srv");
    assert_string_equal(c.stop_signal, "SIGQUIT");
    assert_string_equal(c.env[0], "PATH=/usr/bin:/bin");
    assert_string_equal(c.env[1], "A=b=c");
    assert_string_equal(c.env[2], "EMPTY=");
    assert_null(c.env[3]);
    assert_string_equal(c.entrypoint[0], "/docker-entrypoint.sh");
    assert_null(c.entrypoint[1]);
    assert_string_equal(c.cmd[2], "daemon off;");
    assert_string_equal(c.exposed_ports[0], "80/tcp");
    assert_string_equal(c.exposed_ports[1], "53/udp");
    assert_null(c.exposed_ports[2]);
    assert_string_equal(c.label_keys[0], "maintainer");
    assert_string_equal(c.label_values[0], "x <x@example.org>");
    assert_string_equal(c.label_keys[1], "version");
    assert_int_equal(c.n_diff_ids, 2);
    assert_string_equal(c.diff_ids[1], D2);
    assert_null(c.diff_ids[2]);
    oci_imgconfig_clear(&c);
}

static void test_minimal_and_nulls(void **state)
{
    (void)state;
    const char *min = "{\"config\":{\"Cmd\":null,\"Entrypoint\":[],\"Env\":null,\"User\":\"\"},"
                      "\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[]}}";
    oci_imgconfig c;
    kl_error err = KL_ERROR_INIT;
    assert_int_equal(oci_imgconfig_parse(min, strlen(min), &c, &err), 0);
    assert_null(c.cmd);
    assert_non_null(c.entrypoint); /* [] resets, unlike null */
    assert_null(c.entrypoint[0]);
    assert_null(c.env);
    assert_null(c.user);
    assert_null(c.os);
    assert_int_equal(c.n_diff_ids, 0);
    assert_non_null(c.diff_ids);
    oci_imgconfig_clear(&c);
}

static void refused(const char *json, const char *what)
{
    oci_imgconfig c;
    kl_error err = KL_ERROR_INIT;
    if (oci_imgconfig_parse(json, strlen(json), &c, &err) == 0)
        fail_msg("parsed: %s", json);
    assert_int_equal(err.code, EINVAL);
    if (!strstr(err.msg, what))
        fail_msg("\"%s\" does not say \"%s\"", err.msg, what);
}

#define RF ",\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[]}}"

static void test_refused(void **state)
{
    (void)state;
    refused("", "not valid JSON");
    refused("[1]", "not a JSON object");
    refused("{}", "no rootfs");
    refused("{\"rootfs\":{\"type\":\"other\",\"diff_ids\":[]}}", "rootfs.type");
    refused("{\"rootfs\":{\"type\":\"layers\"}}", "diff_ids");
    refused("{\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"sha256:12\"]}}", "diff_id 1");
    refused("{\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[7]}}", "diff_id 1");
    refused("{\"config\":[]" RF, "config is not an object");
    refused("{\"config\":{\"Cmd\":\"ls -l\"}" RF, "Cmd");
    refused("{\"config\":{\"Cmd\":[\"ls\",1]}" RF, "Cmd");
    refused("{\"config\":{\"Env\":[\"NOEQUALS\"]}" RF, "K=V");
    refused("{\"config\":{\"Env\":[\"=x\"]}" RF, "K=V");
    refused("{\"config\":{\"User\":0}" RF, "User");
    refused("{\"config\":{\"WorkingDir\":\"a\\u0000b\"}" RF, "not valid JSON"); /* NUL */
    refused("{\"config\":{\"Labels\":{\"a\":1}}" RF, "Labels");
    refused("{\"config\":{\"ExposedPorts\":[\"80/tcp\"]}" RF, "ExposedPorts");
    refused("{\"os\":\"linux\",\"os\":\"linux\"" RF, "JSON");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_full),
        cmocka_unit_test(test_minimal_and_nulls),
        cmocka_unit_test(test_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
