/* Tests for the Docker door's pure parts (src/api/docker/): version prefixes, long ids and
 * references, filters, and the translation of a create body (what is mapped, what is
 * refused with the field's name). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "api/docker/dk.h"
#include "lib/cleanup.h"

static void test_version_prefix(void **state)
{
    (void)state;
    int minor = 0;
    const char *rest;
    assert_int_equal(dk_version_prefix("/v1.41/containers/json", &minor, &rest), 1);
    assert_int_equal(minor, 41);
    assert_string_equal(rest, "/containers/json");
    assert_int_equal(dk_version_prefix("/v1.24/_ping", &minor, &rest), 1);
    assert_int_equal(minor, 24);
    assert_int_equal(dk_version_prefix("/containers/json", &minor, &rest), 0);
    assert_string_equal(rest, "/containers/json");
    assert_int_equal(dk_version_prefix("/volumes", &minor, &rest), 0); /* not a version */
    assert_int_equal(dk_version_prefix("/v2.1/x", &minor, &rest), -1);
    assert_int_equal(dk_version_prefix("/v1/x", &minor, &rest), -1);
    assert_int_equal(dk_version_prefix("/v1.4x1/x", &minor, &rest), 0);
    assert_int_equal(dk_version_prefix("/v1.99999999999/x", &minor, &rest), -1);
    assert_int_equal(dk_version_prefix("/v1.41", &minor, &rest), 1);
    assert_string_equal(rest, "/");
}

static void test_long_id(void **state)
{
    (void)state;
    char a[DK_ID_LEN + 1], b[DK_ID_LEN + 1], c[DK_ID_LEN + 1];
    dk_long_id("container", "0123456789ab", a);
    dk_long_id("container", "0123456789ab", b);
    dk_long_id("image", "0123456789ab", c);
    assert_int_equal(strlen(a), 64);
    assert_memory_equal(a, "0123456789ab", 12);
    assert_string_equal(a, b);     /* deterministic */
    assert_string_not_equal(a, c); /* by kind */
    assert_memory_equal(c, "0123456789ab", 12);
    for (size_t i = 0; i < 64; i++)
        assert_true((a[i] >= '0' && a[i] <= '9') || (a[i] >= 'a' && a[i] <= 'f'));
}

static void test_ident(void **state)
{
    (void)state;
    char buf[16];
    bool full;
    assert_string_equal(dk_ident("/web", buf, &full), "web");
    assert_false(full);
    assert_string_equal(dk_ident("web", buf, &full), "web");
    assert_string_equal(dk_ident("0123", buf, &full), "0123");
    assert_false(full);
    assert_string_equal(dk_ident("0123456789abcdef", buf, &full), "0123456789ab");
    assert_true(full);
    /* not hex, or too long: taken as a name */
    assert_string_equal(dk_ident("0123456789abcdefg", buf, &full), "0123456789abcdefg");
    assert_false(full);
}

static json_t *translate(const char *body, json_t **networks, json_t **anon, api_response *res)
{
    _cleanup_json_ json_t *b = json_loads(body, 0, NULL);
    assert_non_null(b);
    *networks = *anon = NULL;
    return dk_create_translate(b, "n1", networks, anon, res);
}

static void test_translate(void **state)
{
    (void)state;
    api_response res = {0};
    json_t *nets, *anon;
    json_t *k = translate(
        "{\"Image\":\"bb\",\"Cmd\":[\"sh\"],\"Entrypoint\":[\"/init\"],\"Env\":[\"A=1\"],"
        "\"Hostname\":\"h1\",\"Tty\":true,\"WorkingDir\":\"/w\",\"Volumes\":{\"/data\":{}},"
        "\"Labels\":{\"a\":\"b\"},\"HostConfig\":{\"Binds\":[\"/src:/dst:ro\",\"vol:/v\"],"
        "\"PortBindings\":{\"80/tcp\":[{\"HostIp\":\"\",\"HostPort\":\"8080\"}]},"
        "\"NetworkMode\":\"mynet\",\"AutoRemove\":true,\"Memory\":1048576,"
        "\"NanoCpus\":500000000,\"PidsLimit\":10,\"CapAdd\":[\"NET_RAW\"],"
        "\"LogConfig\":{\"Type\":\"\",\"Config\":{}},\"RestartPolicy\":{\"Name\":\"no\"}}}",
        &nets, &anon, &res);
    assert_non_null(k);
    assert_string_equal(json_string_value(json_object_get(k, "name")), "n1");
    assert_string_equal(json_string_value(json_object_get(k, "image")), "bb");
    assert_string_equal(json_string_value(json_array_get(json_object_get(k, "entrypoint"), 0)),
                        "/init");
    assert_string_equal(json_string_value(json_array_get(json_object_get(k, "cmd"), 0)), "sh");
    assert_string_equal(json_string_value(json_object_get(k, "workdir")), "/w");
    json_t *jp = json_object_get(k, "jail_param");
    assert_string_equal(json_string_value(json_array_get(jp, 0)), "host.hostname=h1");
    assert_string_equal(json_string_value(json_array_get(jp, 1)), "allow.raw_sockets=true");
    json_t *m = json_object_get(k, "mounts");
    assert_int_equal(json_array_size(m), 3);
    assert_string_equal(json_string_value(json_object_get(json_array_get(m, 0), "type")), "nullfs");
    assert_true(json_is_true(json_object_get(json_array_get(m, 0), "read_only")));
    assert_string_equal(json_string_value(json_object_get(json_array_get(m, 1), "type")), "volume");
    assert_string_equal(json_string_value(json_object_get(json_array_get(m, 2), "destination")),
                        "/data");
    assert_int_equal(json_array_size(anon), 1);
    assert_int_equal(strlen(json_string_value(json_array_get(anon, 0))), 64);
    assert_string_equal(json_string_value(json_array_get(nets, 0)), "mynet");
    json_t *p = json_array_get(json_object_get(k, "public_ports"), 0);
    assert_string_equal(json_string_value(json_object_get(p, "host_port")), "8080");
    assert_string_equal(json_string_value(json_object_get(p, "container_port")), "80");
    assert_string_equal(json_string_value(json_object_get(p, "host_address")), "");
    assert_true(json_is_true(json_object_get(k, "auto_remove")));
    assert_int_equal(json_integer_value(json_object_get(k, "memory")), 1048576);
    assert_true(json_real_value(json_object_get(k, "cpus")) == 0.5);
    assert_int_equal(json_integer_value(json_object_get(k, "pids_limit")), 10);
    json_t *door = json_object_get(json_object_get(k, "door"), "docker");
    assert_true(json_is_true(json_object_get(door, "Tty")));
    assert_string_equal(json_string_value(json_object_get(json_object_get(k, "labels"), "a")), "b");
    json_decref(k);
    json_decref(nets);
    json_decref(anon);
    api_response_free(&res);

    /* no network named: the default network; name resolution settings pass through, and a
     * Docker container always gets a resolv.conf of kleened's (dns: [] = the host's) */
    k = translate("{\"Image\":\"bb\",\"HostConfig\":{\"ExtraHosts\":[\"a:1.2.3.4\"],"
                  "\"DnsSearch\":[\"example.org\"]}}",
                  &nets, &anon, &res);
    assert_non_null(k);
    assert_int_equal(json_array_size(nets), 1);
    assert_string_equal(json_string_value(json_array_get(nets, 0)), "bridge");
    assert_string_equal(json_string_value(json_array_get(json_object_get(k, "extra_hosts"), 0)),
                        "a:1.2.3.4");
    assert_int_equal(json_array_size(json_object_get(k, "dns")), 0);
    assert_true(json_is_array(json_object_get(k, "dns")));
    assert_string_equal(json_string_value(json_array_get(json_object_get(k, "dns_search"), 0)),
                        "example.org");
    json_decref(k);
    json_decref(nets);
    json_decref(anon);
    k = translate("{\"Image\":\"bb\",\"HostConfig\":{\"NetworkMode\":\"none\"}}", &nets, &anon,
                  &res);
    assert_non_null(k);
    assert_int_equal(json_array_size(nets), 0);
    assert_string_equal(json_string_value(json_object_get(k, "network_driver")), "disabled");
    json_decref(k);
    json_decref(nets);
    json_decref(anon);

    /* refusals name the field */
    static const struct {
        const char *body, *msg;
    } bad[] = {
        {"{\"Image\":\"bb\",\"HostConfig\":{\"Privileged\":true}}", "HostConfig.Privileged is"},
        {"{\"Image\":\"bb\",\"HostConfig\":{\"Dns\":\"1.1.1.1\"}}",
         "HostConfig.Dns must be a list"},
        {"{\"Image\":\"bb\",\"HostConfig\":{\"RestartPolicy\":{\"Name\":\"always\"}}}",
         "HostConfig.RestartPolicy 'always'"},
        {"{\"Image\":\"bb\",\"HostConfig\":{\"CapAdd\":[\"SYS_ADMIN\"]}}",
         "HostConfig.CapAdd 'SYS_ADMIN'"},
        {"{\"Image\":\"bb\",\"HostConfig\":{\"IpcMode\":\"host\"}}", "HostConfig.IpcMode \"host\""},
        {"{\"Image\":\"bb\",\"HostConfig\":{\"Binds\":[\"nocolon\"]}}", "HostConfig.Binds entry"},
        {"{\"Image\":\"bb\",\"HostConfig\":{\"Binds\":[\":/b\"]}}", "HostConfig.Binds entry"},
        {"{\"Image\":\"bb\",\"HostConfig\":{\"Binds\":[\"a:b:c:d\"]}}", "HostConfig.Binds entry"},
        {"{\"Image\":\"bb\",\"HostConfig\":{\"Binds\":[\"/a:/b:shared\"]}}", "option 'shared'"},
        {"{\"Image\":\"bb\",\"HostConfig\":{\"Mounts\":[{\"Type\":\"tmpfs\",\"Target\":\"/t\"}]}}",
         "Type 'tmpfs'"},
        {"{\"Image\":\"bb\",\"StopSignal\":\"SIGFOO\"}", "Invalid signal: SIGFOO"},
        {"{\"Image\":\"bb\",\"Healthcheck\":{\"Test\":[\"CMD\",\"true\"]}}", "Config.Healthcheck"},
        {"{\"Image\":\"bb\",\"HostConfig\":{\"NetworkMode\":\"container:x\"}}",
         "HostConfig.NetworkMode 'container:x'"},
        {"{\"Cmd\":[\"true\"]}", "Config.Image is required"},
        {"{\"Image\":\"bb\",\"HostConfig\":{\"NetworkMode\":\"none\",\"PortBindings\":{\"80/"
         "tcp\":[{\"HostPort\":\"8080\"}]}}}",
         "publishing ports needs a network"},
        {"{\"Image\":\"bb\",\"Cmd\":[1]}", "Cmd and Entrypoint"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        api_response r2 = {0};
        k = translate(bad[i].body, &nets, &anon, &r2);
        assert_null(k);
        assert_int_equal(r2.status, 400);
        const char *msg = json_string_value(json_object_get(r2.json, "message"));
        assert_non_null(msg);
        if (!strstr(msg, bad[i].msg))
            fail_msg("%s: got '%s'", bad[i].body, msg);
        json_decref(nets);
        json_decref(anon);
        api_response_free(&r2);
    }
}

static void test_filters(void **state)
{
    (void)state;
    static const char *const known[] = {"label", "name", NULL};
    _cleanup_json_ json_t *q =
        json_pack("{s:s}", "filters", "{\"label\":[\"a=b\"],\"name\":{\"web\":true}}");
    dk_request r = {.query = q};
    api_response res = {0};
    _cleanup_json_ json_t *f = dk_filters(&r, known, &res);
    assert_non_null(f);
    assert_string_equal(json_string_value(json_array_get(json_object_get(f, "label"), 0)), "a=b");
    assert_string_equal(json_string_value(json_array_get(json_object_get(f, "name"), 0)), "web");
    json_object_set_new(q, "filters", json_string("{\"nope\":[\"x\"]}"));
    assert_null(dk_filters(&r, known, &res));
    assert_int_equal(res.status, 400);
    api_response_free(&res);
    json_object_set_new(q, "filters", json_string("[1"));
    assert_null(dk_filters(&r, known, &res));
    assert_int_equal(res.status, 400);
    api_response_free(&res);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_version_prefix), cmocka_unit_test(test_long_id),
        cmocka_unit_test(test_ident),          cmocka_unit_test(test_translate),
        cmocka_unit_test(test_filters),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
