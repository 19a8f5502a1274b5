#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "api/schema.h"
#include "lib/cleanup.h"
#include "lib/jsonx.h"

/* Compare two JSON documents structurally; print both on mismatch. */
static void assert_json_eq(json_t *got, const char *expected_text)
{
    json_error_t jerr;
    _cleanup_json_ json_t *expected = json_loads(expected_text, JSON_DECODE_ANY, &jerr);
    if (!expected)
        fail_msg("bad expected JSON %s: %s", expected_text, jerr.text);
    if (!json_equal(got, expected)) {
        _cleanup_free_ char *g = jx_dump(got);
        _cleanup_free_ char *e = jx_dump(expected);
        fail_msg("JSON mismatch\n  got:      %s\n  expected: %s", g, e);
    }
}

static json_t *load(const char *text)
{
    json_error_t jerr;
    json_t *j = json_loads(text, JSON_DECODE_ANY, &jerr);
    if (!j)
        fail_msg("bad input JSON %s: %s", text, jerr.text);
    return j;
}

/* Cast `input` and expect success with exactly `expected`. */
static void expect_ok(const kl_schema *s, const char *input, const char *expected)
{
    _cleanup_json_ json_t *in = load(input);
    json_t *errors = (json_t *)0x1;
    _cleanup_json_ json_t *out = schema_cast(s, in, &errors);
    if (!out) {
        _cleanup_free_ char *e = jx_dump(errors);
        json_decref(errors);
        fail_msg("cast of %s against %s failed: %s", input, s->name, e);
    }
    assert_null(errors);
    assert_json_eq(out, expected);
}

/* Build the errors array from [pointer, detail, pointer, detail, ..., NULL]. */
static void expect_errors(const kl_schema *s, const char *input, ...)
{
    _cleanup_json_ json_t *in = load(input);
    _cleanup_json_ json_t *errors = NULL;
    _cleanup_json_ json_t *out = schema_cast(s, in, &errors);
    if (out) {
        _cleanup_free_ char *o = jx_dump(out);
        fail_msg("cast of %s against %s succeeded: %s", input, s->name, o);
    }
    _cleanup_json_ json_t *expected = json_array();
    va_list ap;
    va_start(ap, input);
    for (const char *ptr; (ptr = va_arg(ap, const char *));) {
        const char *detail = va_arg(ap, const char *);
        json_array_append_new(expected, json_pack("{s:s, s:{s:s}, s:s}", "title", "Invalid value",
                                                  "source", "pointer", ptr, "detail", detail));
    }
    va_end(ap);
    _cleanup_free_ char *e = jx_dump(expected);
    assert_json_eq(errors, e);
}

/* ---- defaults: whole normalized objects ---- */

static void test_container_config_defaults(void **state)
{
    (void)state;
    expect_ok(&schema_container_config, "{}",
              "{\"name\":null,\"image\":null,\"cmd\":[],\"user\":\"\",\"env\":[],\"mounts\":[],"
              "\"jail_param\":[],\"network_driver\":\"ipnet\",\"public_ports\":[],"
              "\"restart_policy\":\"no\",\"persist\":false,"
              "\"memory\":null,\"cpus\":null,\"pids_limit\":null,\"auto_remove\":null,\"stop_"
              "timeout\":null,\"workdir\":null,\"init\":null,\"stop_cmd\":null,\"stop_signal\":"
              "null,\"labels\":null,"
              "\"extra_hosts\":null,\"dns\":null,\"dns_search\":null,\"dns_options\":null}");
}

static void test_container_config_full_and_nested_defaults(void **state)
{
    (void)state;
    expect_ok(
        &schema_container_config,
        "{\"name\":\"web\",\"image\":\"FreeBSD:14.1-RELEASE\",\"cmd\":[\"/bin/sh\",\"/etc/rc\"],"
        "\"network_driver\":\"vnet\",\"persist\":\"true\",\"extra\":{\"x\":1},"
        "\"mounts\":[{\"type\":\"volume\",\"destination\":\"/db\",\"source\":\"data\"}],"
        "\"public_ports\":[{\"interfaces\":[],\"host_port\":\"8080\",\"container_port\":\"80\"}]}",
        "{\"name\":\"web\",\"image\":\"FreeBSD:14.1-RELEASE\",\"cmd\":[\"/bin/sh\",\"/etc/rc\"],"
        "\"user\":\"\",\"env\":[],"
        "\"mounts\":[{\"type\":\"volume\",\"destination\":\"/db\",\"source\":\"data\","
        "\"read_only\":false}],"
        "\"jail_param\":[],\"network_driver\":\"vnet\","
        "\"public_ports\":[{\"interfaces\":[],\"host_port\":\"8080\",\"container_port\":\"80\","
        "\"protocol\":\"tcp\",\"host_address\":\"\"}],"
        "\"restart_policy\":\"no\",\"persist\":true,"
        "\"memory\":null,\"cpus\":null,\"pids_limit\":null,\"auto_remove\":null,\"stop_timeout\":"
        "null,\"workdir\":null,\"init\":null,\"stop_cmd\":null,\"stop_signal\":null,\"labels\":"
        "null,"
        "\"extra_hosts\":null,\"dns\":null,\"dns_search\":null,\"dns_options\":null}");
}

static void test_container_config_nullable_kept(void **state)
{
    (void)state;
    /* Update semantics (API.md §8.1): null is kept so that it means "leave unchanged". */
    expect_ok(&schema_container_config,
              "{\"name\":null,\"cmd\":null,\"user\":null,\"env\":null,\"jail_param\":null,"
              "\"mounts\":null,\"public_ports\":null,\"restart_policy\":null,\"persist\":null}",
              "{\"name\":null,\"image\":null,\"cmd\":null,\"user\":null,\"env\":null,"
              "\"mounts\":null,\"jail_param\":null,\"network_driver\":\"ipnet\","
              "\"public_ports\":null,\"restart_policy\":null,\"persist\":null,"
              "\"memory\":null,\"cpus\":null,\"pids_limit\":null,\"auto_remove\":null,\"stop_"
              "timeout\":null,\"workdir\":null,\"init\":null,\"stop_cmd\":null,\"stop_signal\":"
              "null,\"labels\":null,"
              "\"extra_hosts\":null,\"dns\":null,\"dns_search\":null,\"dns_options\":null}");
}

static void test_network_config_defaults(void **state)
{
    (void)state;
    expect_ok(&schema_network_config, "{\"name\":\"westnet\",\"type\":\"bridge\"}",
              "{\"name\":\"westnet\",\"type\":\"bridge\",\"interface\":\"\",\"subnet\":\"\","
              "\"subnet6\":\"\",\"gateway\":\"\",\"gateway6\":\"\",\"nat\":\"<host-gateway>\","
              "\"icc\":true,\"internal\":false,\"allow_subnet_overlap\":false,\"labels\":null,\"ip_"
              "range\":\"\"}");
}

static void test_image_create_config_defaults(void **state)
{
    (void)state;
    expect_ok(&schema_image_create_config, "{\"method\":\"zfs-clone\",\"dns\":\"false\"}",
              "{\"method\":\"zfs-clone\",\"tag\":\"\",\"dns\":false,\"localtime\":true,"
              "\"update\":false,\"zfs_dataset\":\"\",\"url\":\"\",\"autotag\":false,"
              "\"include\":null,\"image\":\"\",\"platform\":\"\",\"auth\":null}");
    /* ours: a pull's credentials (docs/api.md "Registry credentials") */
    expect_ok(&schema_image_create_config,
              "{\"method\":\"pull\",\"image\":\"a/b\",\"auth\":{\"username\":\"u\"}}",
              "{\"method\":\"pull\",\"tag\":\"\",\"dns\":true,\"localtime\":true,"
              "\"update\":false,\"zfs_dataset\":\"\",\"url\":\"\",\"autotag\":false,"
              "\"include\":null,\"image\":\"a/b\",\"platform\":\"\","
              "\"auth\":{\"username\":\"u\",\"password\":\"\"}}");
}

static void test_image_build_config_defaults(void **state)
{
    (void)state;
    expect_ok(&schema_image_build_config,
              "{\"context\":\"/ctx\",\"container_config\":{},"
              "\"networks\":[{\"container\":\"c\",\"network\":\"n\"}],"
              "\"buildargs\":{\"A\":\"1\",\"B\":2}}",
              "{\"context\":\"/ctx\",\"dockerfile\":\"Dockerfile\",\"quiet\":false,"
              "\"nocache\":false,\"line_numbers\":false,\"context_upload\":false,"
              "\"cleanup\":true,\"tag\":\"\",\"buildargs\":{\"A\":\"1\",\"B\":2},"
              "\"container_config\":{\"name\":null,\"image\":null,\"cmd\":[],\"user\":\"\","
              "\"env\":[],\"mounts\":[],\"jail_param\":[],\"network_driver\":\"ipnet\","
              "\"public_ports\":[],\"restart_policy\":\"no\",\"persist\":false,"
              "\"memory\":null,\"cpus\":null,\"pids_limit\":null,\"auto_remove\":null,\"stop_"
              "timeout\":null,\"workdir\":null,\"init\":null,\"stop_cmd\":null,\"stop_signal\":"
              "null,\"labels\":null,"
              "\"extra_hosts\":null,\"dns\":null,\"dns_search\":null,\"dns_options\":null},"
              "\"networks\":[{\"container\":\"c\",\"network\":\"n\",\"ip_address\":\"\","
              "\"ip_address6\":\"\",\"aliases\":null}],\"labels\":null,\"pull\":false,\"registry_"
              "auth\":null}");
    expect_ok(&schema_image_build_config, "{\"context\":\"/ctx\",\"container_config\":{}}",
              "{\"context\":\"/ctx\",\"dockerfile\":\"Dockerfile\",\"quiet\":false,"
              "\"nocache\":false,\"line_numbers\":false,\"context_upload\":false,"
              "\"cleanup\":true,\"tag\":\"\",\"buildargs\":{},"
              "\"container_config\":{\"name\":null,\"image\":null,\"cmd\":[],\"user\":\"\","
              "\"env\":[],\"mounts\":[],\"jail_param\":[],\"network_driver\":\"ipnet\","
              "\"public_ports\":[],\"restart_policy\":\"no\",\"persist\":false,"
              "\"memory\":null,\"cpus\":null,\"pids_limit\":null,\"auto_remove\":null,\"stop_"
              "timeout\":null,\"workdir\":null,\"init\":null,\"stop_cmd\":null,\"stop_signal\":"
              "null,\"labels\":null,"
              "\"extra_hosts\":null,\"dns\":null,\"dns_search\":null,\"dns_options\":null},"
              "\"networks\":[],\"labels\":null,\"pull\":false,\"registry_auth\":null}");
}

/* Labels (ours, lib/labels.h): an object of strings by the documented rule, at /labels. */
static void test_labels(void **state)
{
    (void)state;
    expect_ok(&schema_volume_config, "{\"name\":\"v\",\"labels\":{\"a.b/c\":\"x y\"}}",
              "{\"name\":\"v\",\"labels\":{\"a.b/c\":\"x y\"}}");
    expect_errors(&schema_volume_config, "{\"name\":\"v\",\"labels\":[]}", "/labels",
                  "Invalid object. Got: array", NULL);
    expect_errors(&schema_volume_config, "{\"name\":\"v\",\"labels\":{\"a b\":\"x\"}}", "/labels",
                  "label key 'a b': only printable ASCII characters other than space and '=' are "
                  "allowed",
                  NULL);
    expect_errors(&schema_network_config,
                  "{\"name\":\"n\",\"type\":\"bridge\",\"labels\":{\"k\":2}}", "/labels",
                  "label 'k': the value must be a string", NULL);
    expect_errors(&schema_container_config, "{\"labels\":{\"k\":\"\\u001b\"}}", "/labels",
                  "label 'k': value contains a control character (only tab and newline are "
                  "allowed)",
                  NULL);
    expect_errors(&schema_image_build_config,
                  "{\"context\":\"/c\",\"container_config\":{},\"labels\":{\"\":\"\"}}", "/labels",
                  "label key is empty", NULL);
}

static void test_small_schema_defaults(void **state)
{
    (void)state;
    expect_ok(&schema_exec_config, "{\"container_id\":\"ab12\"}",
              "{\"container_id\":\"ab12\",\"cmd\":[],\"user\":\"\",\"env\":[],\"tty\":false,\"tty_"
              "rows\":null,\"tty_cols\":null,\"workdir\":null}");
    /* absent, no default: null (the engine decides; the original crashed) */
    expect_ok(&schema_exec_config, "{}",
              "{\"container_id\":null,\"cmd\":[],\"user\":\"\",\"env\":[],\"tty\":false,\"tty_"
              "rows\":null,\"tty_cols\":null,\"workdir\":null}");
    expect_ok(&schema_exec_start_config,
              "{\"exec_id\":\"e1\",\"attach\":\"false\",\"start_container\":true}",
              "{\"exec_id\":\"e1\",\"attach\":false,\"multiplex\":false,\"start_container\":true}");
    expect_ok(&schema_end_point_config, "{\"container\":\"c\",\"network\":\"n\"}",
              "{\"container\":\"c\",\"network\":\"n\",\"ip_address\":\"\",\"ip_address6\":\"\","
              "\"aliases\":null}");
    expect_ok(&schema_volume_config, "{\"name\":\"v\",\"junk\":[1]}",
              "{\"name\":\"v\",\"labels\":null}");
    expect_ok(&schema_mount_point_config, "{}",
              "{\"type\":null,\"destination\":null,\"source\":null,\"read_only\":false}");
    expect_ok(&schema_published_port_config,
              "{\"interfaces\":[\"em0\"],\"host_port\":\"80:90\",\"container_port\":\"80:*\","
              "\"protocol\":\"udp\"}",
              "{\"interfaces\":[\"em0\"],\"host_port\":\"80:90\",\"container_port\":\"80:*\","
              "\"protocol\":\"udp\",\"host_address\":\"\"}");
}

static void test_every_default_parses_and_casts(void **state)
{
    (void)state;
    size_t n;
    const kl_schema *const *all = schema_all(&n);
    assert_int_equal(n, 25);
    for (size_t i = 0; i < n; i++) {
        assert_ptr_equal(schema_lookup(all[i]->name), all[i]);
        for (size_t f = 0; f < all[i]->n_fields; f++) {
            const kl_schema_field *field = &all[i]->fields[f];
            if (!field->default_json)
                continue;
            _cleanup_json_ json_t *d = json_loads(field->default_json, JSON_DECODE_ANY, NULL);
            assert_non_null(d);
            /* the default must itself satisfy the field's type */
            kl_schema one = {.name = "t", .fields = field, .n_fields = 1};
            _cleanup_json_ json_t *obj = json_pack("{sO}", field->name, d);
            _cleanup_json_ json_t *errors = NULL;
            _cleanup_json_ json_t *out = schema_cast(&one, obj, &errors);
            if (!out)
                fail_msg("default of %s.%s does not cast", all[i]->name, field->name);
        }
    }
    assert_ptr_equal(schema_lookup("ContainerConfig"), &schema_container_config);
    assert_ptr_equal(schema_lookup("ImagePruneQuery"), &schema_query_image_prune);
    assert_null(schema_lookup("Nope"));
    assert_null(schema_lookup(NULL));
}

/* ---- errors ---- */

static void test_missing_fields_all_in_required_order(void **state)
{
    (void)state;
    expect_errors(&schema_exec_start_config, "{}", "/exec_id", "Missing field: exec_id", "/attach",
                  "Missing field: attach", "/start_container", "Missing field: start_container",
                  NULL);
    expect_errors(&schema_network_config, "{\"interface\":5}", "/name", "Missing field: name",
                  "/type", "Missing field: type", NULL);
    /* missing fields stop the cast before any property is checked */
    expect_errors(&schema_network_config, "{\"name\":5}", "/type", "Missing field: type", NULL);
    expect_errors(&schema_image_build_config, "{\"quiet\":\"x\"}", "/context",
                  "Missing field: context", "/container_config", "Missing field: container_config",
                  NULL);
    expect_errors(&schema_image_create_config, "{}", "/method", "Missing field: method", NULL);
    expect_errors(&schema_volume_config, "{}", "/name", "Missing field: name", NULL);
}

static void test_null_values(void **state)
{
    (void)state;
    expect_errors(&schema_network_config, "{\"name\":null,\"type\":\"bridge\"}", "/name",
                  "null value where string expected", NULL);
    expect_errors(&schema_container_config, "{\"network_driver\":null}", "/network_driver",
                  "null value where string expected", NULL);
    expect_errors(&schema_exec_config, "{\"cmd\":null}", "/cmd", "null value where array expected",
                  NULL);
    expect_errors(&schema_exec_config, "{\"tty\":null}", "/tty",
                  "null value where boolean expected", NULL);
    expect_errors(&schema_image_build_config, "{\"context\":\"/c\",\"container_config\":null}",
                  "/container_config", "null value where object expected", NULL);
    expect_errors(&schema_container_config, "{\"cmd\":[\"a\",null]}", "/cmd/1",
                  "null value where string expected", NULL);
    expect_errors(&schema_volume_config, "null", "/", "null value where object expected", NULL);
    _cleanup_json_ json_t *errors = NULL;
    assert_null(schema_cast(&schema_volume_config, NULL, &errors));
    assert_string_equal(schema_first_error_message(errors), "null value where object expected");
}

static void test_booleans(void **state)
{
    (void)state;
    const char *base = "{\"exec_id\":\"e\",\"start_container\":true,\"attach\":%s}";
    struct {
        const char *value, *detail;
    } bad[] = {
        {"\"yes\"", "Invalid boolean. Got: string"}, {"\"True\"", "Invalid boolean. Got: string"},
        {"1", "Invalid boolean. Got: integer"},      {"1.5", "Invalid boolean. Got: number"},
        {"[]", "Invalid boolean. Got: array"},       {"{}", "Invalid boolean. Got: object"},
    };
    for (size_t i = 0; i < KL_ARRAY_SIZE(bad); i++) {
        char input[128];
        snprintf(input, sizeof(input), base, bad[i].value);
        expect_errors(&schema_exec_start_config, input, "/attach", bad[i].detail, NULL);
    }
    expect_ok(&schema_exec_start_config,
              "{\"exec_id\":\"e\",\"start_container\":\"true\",\"attach\":\"false\"}",
              "{\"exec_id\":\"e\",\"attach\":false,\"multiplex\":false,\"start_container\":true}");
}

static void test_wrong_types(void **state)
{
    (void)state;
    expect_errors(&schema_image_build_config, "{\"context\":\"/c\",\"container_config\":\"x\"}",
                  "/container_config", "Invalid object. Got: string", NULL);
    expect_errors(&schema_container_config, "{\"cmd\":5}", "/cmd", "Invalid array. Got: integer",
                  NULL);
    expect_errors(&schema_container_config, "{\"env\":{}}", "/env", "Invalid array. Got: object",
                  NULL);
    expect_errors(&schema_container_config, "{\"user\":true}", "/user",
                  "Invalid string. Got: boolean", NULL);
    expect_errors(&schema_container_config, "{\"user\":1.0}", "/user",
                  "Invalid string. Got: number", NULL);
    expect_errors(&schema_volume_config, "[]", "/", "Invalid object. Got: array", NULL);
    expect_errors(&schema_volume_config, "\"v\"", "/", "Invalid object. Got: string", NULL);
    expect_errors(&schema_image_build_config,
                  "{\"context\":\"/c\",\"container_config\":{},\"buildargs\":[]}", "/buildargs",
                  "Invalid object. Got: array", NULL);
}

static void test_enum(void **state)
{
    (void)state;
    expect_errors(&schema_container_config, "{\"network_driver\":\"bridge\"}", "/network_driver",
                  "Invalid value for enum", NULL);
    /* the type is checked before the enum */
    expect_errors(&schema_container_config, "{\"network_driver\":5}", "/network_driver",
                  "Invalid string. Got: integer", NULL);
    expect_errors(&schema_image_create_config, "{\"method\":\"zfs\"}", "/method",
                  "Invalid value for enum", NULL);
    expect_errors(&schema_network_config, "{\"name\":\"n\",\"type\":\"vnet\"}", "/type",
                  "Invalid value for enum", NULL);
    expect_errors(&schema_container_config, "{\"restart_policy\":\"always\"}", "/restart_policy",
                  "Invalid value for enum", NULL);
    expect_errors(&schema_container_config,
                  "{\"public_ports\":[{\"interfaces\":[],\"host_port\":\"1\","
                  "\"container_port\":\"1\",\"protocol\":\"sctp\"}]}",
                  "/public_ports/0/protocol", "Invalid value for enum", NULL);
    expect_ok(&schema_container_config, "{\"restart_policy\":\"on-startup\"}",
              "{\"name\":null,\"image\":null,\"cmd\":[],\"user\":\"\",\"env\":[],\"mounts\":[],"
              "\"jail_param\":[],\"network_driver\":\"ipnet\",\"public_ports\":[],"
              "\"restart_policy\":\"on-startup\",\"persist\":false,"
              "\"memory\":null,\"cpus\":null,\"pids_limit\":null,\"auto_remove\":null,\"stop_"
              "timeout\":null,\"workdir\":null,\"init\":null,\"stop_cmd\":null,\"stop_signal\":"
              "null,\"labels\":null,"
              "\"extra_hosts\":null,\"dns\":null,\"dns_search\":null,\"dns_options\":null}");
}

/* Issue 12 item 7: names of networks have the documented character set and every object
 * name a length limit, refused at the API edge (422) before the engine sees them. */
static void test_object_names(void **state)
{
    (void)state;
    static const char *const bad[] = {"../../etc", "a\\nb", "evil\\u202etxt", "a b", ".x", ""};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char body[128];
        snprintf(body, sizeof(body), "{\"name\":\"%s\",\"type\":\"bridge\"}", bad[i]);
        expect_errors(&schema_network_config, body, "/name",
                      "Invalid format. Expected ~r/^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/", NULL);
    }
    size_t huge = 1u << 20;
    _cleanup_free_ char *big = malloc(huge + 64);
    for (int k = 0; k < 3; k++) {
        static const char *const fmt[] = {"{\"name\":\"%s\",\"type\":\"bridge\"}",
                                          "{\"name\":\"%s\"}", "{\"name\":\"%s\"}"};
        const kl_schema *sch[] = {&schema_network_config, &schema_volume_config,
                                  &schema_container_config};
        _cleanup_free_ char *name = malloc(huge + 1);
        memset(name, 'a', huge);
        name[huge] = '\0';
        snprintf(big, huge + 64, fmt[k], name);
        expect_errors(sch[k], big, "/name", "String length is larger than maxLength: 255", NULL);
        name[255] = '\0';
        snprintf(big, huge + 64, fmt[k], name);
        _cleanup_json_ json_t *in = load(big);
        _cleanup_json_ json_t *out = schema_cast(sch[k], in, NULL);
        assert_non_null(out);
    }
}

static void test_max_length(void **state)
{
    (void)state;
    expect_errors(&schema_network_config,
                  "{\"name\":\"n\",\"type\":\"loopback\",\"interface\":\"0123456789abcdef\"}",
                  "/interface", "String length is larger than maxLength: 15", NULL);
    _cleanup_json_ json_t *in =
        load("{\"name\":\"n\",\"type\":\"loopback\",\"interface\":\"0123456789abcde\"}");
    _cleanup_json_ json_t *out = schema_cast(&schema_network_config, in, NULL);
    assert_non_null(out);
    assert_string_equal(jx_str(out, "interface", ""), "0123456789abcde");
    /* characters, not bytes: 15 x "é" (30 bytes) fits, and so do combining sequences */
    _cleanup_json_ json_t *in2 = load("{\"name\":\"n\",\"type\":\"loopback\",\"interface\":"
                                      "\"\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9"
                                      "\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9e\\u0301\"}");
    _cleanup_json_ json_t *out2 = schema_cast(&schema_network_config, in2, NULL);
    assert_non_null(out2);
}

static void test_nested_pointers_and_all_array_items(void **state)
{
    (void)state;
    expect_errors(&schema_image_build_config,
                  "{\"context\":\"/c\",\"container_config\":{\"cmd\":[1,\"ok\",true]}}",
                  "/container_config/cmd/0", "Invalid string. Got: integer",
                  "/container_config/cmd/2", "Invalid string. Got: boolean", NULL);
    expect_errors(&schema_container_config, "{\"public_ports\":[{\"protocol\":\"tcp\"},{}]}",
                  "/public_ports/0/interfaces", "Missing field: interfaces",
                  "/public_ports/0/host_port", "Missing field: host_port",
                  "/public_ports/0/container_port", "Missing field: container_port",
                  "/public_ports/1/interfaces", "Missing field: interfaces",
                  "/public_ports/1/host_port", "Missing field: host_port",
                  "/public_ports/1/container_port", "Missing field: container_port", NULL);
    expect_errors(&schema_image_build_config,
                  "{\"context\":\"/c\",\"container_config\":{},"
                  "\"networks\":[{\"container\":\"c\",\"network\":\"n\"},{\"container\":\"c\"}]}",
                  "/networks/1/network", "Missing field: network", NULL);
    expect_errors(&schema_container_config,
                  "{\"mounts\":[{\"type\":\"volume\",\"read_only\":\"no\"}]}",
                  "/mounts/0/read_only", "Invalid boolean. Got: string", NULL);
    expect_errors(&schema_container_config, "{\"mounts\":[\"x\"]}", "/mounts/0",
                  "Invalid object. Got: string", NULL);
}

static void test_first_failing_property_alphabetical(void **state)
{
    (void)state;
    /* properties are cast in name order and the first failure ends the cast */
    expect_errors(&schema_image_build_config,
                  "{\"context\":\"/c\",\"container_config\":{},\"quiet\":\"x\",\"cleanup\":\"y\"}",
                  "/cleanup", "Invalid boolean. Got: string", NULL);
    expect_errors(&schema_container_config, "{\"user\":5,\"cmd\":5,\"env\":5}", "/cmd",
                  "Invalid array. Got: integer", NULL);
    expect_errors(&schema_image_build_config, "{\"context\":5,\"container_config\":{\"user\":1}}",
                  "/container_config/user", "Invalid string. Got: integer", NULL);
    expect_errors(&schema_network_config,
                  "{\"name\":\"n\",\"type\":\"x\",\"interface\":\"0123456789abcdefg\"}",
                  "/interface", "String length is larger than maxLength: 15", NULL);
}

static void test_input_not_modified(void **state)
{
    (void)state;
    _cleanup_json_ json_t *in = load("{\"cmd\":[\"a\"],\"persist\":\"true\",\"x\":1}");
    _cleanup_json_ json_t *copy = json_deep_copy(in);
    _cleanup_json_ json_t *out = schema_cast(&schema_container_config, in, NULL);
    assert_non_null(out);
    assert_true(json_equal(in, copy));
    assert_true(json_is_true(json_object_get(out, "persist")));
    assert_null(json_object_get(out, "x"));
}

/* ---- integer / number (no API schema uses them yet) ---- */

static const kl_schema_field numeric_fields[] = {
    {.name = "i", .value = {.type = KL_SCHEMA_INTEGER}},
    {.name = "n", .value = {.type = KL_SCHEMA_NUMBER}},
};
static const kl_schema numeric_schema = {
    .name = "Numeric", .fields = numeric_fields, .n_fields = 2};

static void test_integer_and_number(void **state)
{
    (void)state;
    expect_ok(&numeric_schema, "{\"i\":5,\"n\":1}", "{\"i\":5,\"n\":1.0}");
    expect_ok(&numeric_schema, "{\"i\":2.5,\"n\":\"1e3\"}", "{\"i\":3,\"n\":1000.0}");
    expect_ok(&numeric_schema, "{\"i\":\"-2.5\",\"n\":\"-0.25\"}", "{\"i\":-3,\"n\":-0.25}");
    expect_ok(&numeric_schema, "{\"i\":\"7\"}", "{\"i\":7,\"n\":null}");
    expect_errors(&numeric_schema, "{\"i\":\"7x\"}", "/i", "Invalid integer. Got: string", NULL);
    expect_errors(&numeric_schema, "{\"i\":\".5\"}", "/i", "Invalid integer. Got: string", NULL);
    expect_errors(&numeric_schema, "{\"i\":\"1.\"}", "/i", "Invalid integer. Got: string", NULL);
    expect_errors(&numeric_schema, "{\"i\":true}", "/i", "Invalid integer. Got: boolean", NULL);
    expect_errors(&numeric_schema, "{\"n\":[1]}", "/n", "Invalid number. Got: array", NULL);
    expect_errors(&numeric_schema, "{\"n\":null}", "/n", "null value where number expected", NULL);
}

/* ---- query parameters ---- */

static json_t *query(const kl_schema *s, json_t **errors, size_t n, ...)
{
    const char *keys[8], *values[8];
    va_list ap;
    va_start(ap, n);
    for (size_t i = 0; i < n; i++) {
        keys[i] = va_arg(ap, const char *);
        values[i] = va_arg(ap, const char *);
    }
    va_end(ap);
    return schema_cast_query(s, keys, values, n, errors);
}

static void test_query_container_list(void **state)
{
    (void)state;
    json_t *errors = NULL;
    _cleanup_json_ json_t *none = query(&schema_query_container_list, &errors, 0);
    assert_null(errors);
    assert_json_eq(none, "{}"); /* absent optional parameters stay absent */
    _cleanup_json_ json_t *t = query(&schema_query_container_list, &errors, 1, "all", "true");
    assert_json_eq(t, "{\"all\":true}");
    _cleanup_json_ json_t *last =
        query(&schema_query_container_list, &errors, 2, "all", "true", "all", "false");
    assert_json_eq(last, "{\"all\":false}");

    _cleanup_json_ json_t *e1 = NULL;
    assert_null(query(&schema_query_container_list, &e1, 1, "all", "1"));
    assert_json_eq(e1, "[{\"title\":\"Invalid value\",\"source\":{\"pointer\":\"/all\"},"
                       "\"detail\":\"Invalid boolean. Got: string\"}]");
}

static void test_query_unexpected_field(void **state)
{
    (void)state;
    _cleanup_json_ json_t *e1 = NULL;
    assert_null(query(&schema_query_container_list, &e1, 3, "zeta", "1", "all", "x", "beta", "2"));
    /* only the first unknown name in byte order, before anything else is checked */
    assert_json_eq(e1, "[{\"title\":\"Invalid value\",\"source\":{\"pointer\":\"/beta\"},"
                       "\"detail\":\"Unexpected field: beta\"}]");

    _cleanup_json_ json_t *e2 = NULL;
    assert_null(query(&schema_query_exec_stop, &e2, 1, "force", "true"));
    assert_string_equal(schema_first_error_message(e2), "Unexpected field: force");
    assert_int_equal(json_array_size(e2), 1);

    /* the detail carries at most 40 characters of the name, the pointer all of it */
    const char *longname = "abcdefghijabcdefghijabcdefghijabcdefghijXYZ";
    _cleanup_json_ json_t *e3 = NULL;
    assert_null(query(&schema_query_image_tag, &e3, 2, "nametag", "a:b", longname, ""));
    assert_string_equal(schema_first_error_message(e3),
                        "Unexpected field: abcdefghijabcdefghijabcdefghijabcdefghij");
    json_t *src = json_object_get(json_array_get(e3, 0), "source");
    assert_string_equal(jx_str(src, "pointer", ""), "/abcdefghijabcdefghijabcdefghijabcdefghijXYZ");
}

/* ours: the archive routes' queries (docs/api.md "Copying files") */
static void test_query_archive(void **state)
{
    (void)state;
    _cleanup_json_ json_t *e1 = NULL;
    assert_null(query(&schema_query_archive, &e1, 0));
    assert_json_eq(e1, "[{\"title\":\"Invalid value\",\"source\":{\"pointer\":\"/path\"},"
                       "\"detail\":\"Missing field: path\"}]");
    json_t *errors = NULL;
    _cleanup_json_ json_t *ok = query(&schema_query_archive_put, &errors, 3, "path", "/tmp",
                                      "copy_uid_gid", "true", "no_overwrite_dir_non_dir", "false");
    assert_null(errors);
    assert_json_eq(ok,
                   "{\"path\":\"/tmp\",\"copy_uid_gid\":true,\"no_overwrite_dir_non_dir\":false}");
    _cleanup_json_ json_t *e2 = NULL;
    assert_null(query(&schema_query_archive_put, &e2, 2, "path", "/tmp", "copy_uid_gid", "maybe"));
    assert_json_eq(e2, "[{\"title\":\"Invalid value\",\"source\":{\"pointer\":"
                       "\"/copy_uid_gid\"},\"detail\":\"Invalid boolean. Got: string\"}]");
}

static void test_query_required(void **state)
{
    (void)state;
    _cleanup_json_ json_t *e1 = NULL;
    assert_null(query(&schema_query_exec_stop, &e1, 0));
    assert_json_eq(e1, "[{\"title\":\"Invalid value\",\"source\":{\"pointer\":\"/force_stop\"},"
                       "\"detail\":\"Missing field: force_stop\"},"
                       "{\"title\":\"Invalid value\",\"source\":{\"pointer\":\"/stop_container\"},"
                       "\"detail\":\"Missing field: stop_container\"}]");

    json_t *errors = NULL;
    _cleanup_json_ json_t *ok =
        query(&schema_query_exec_stop, &errors, 2, "stop_container", "false", "force_stop", "true");
    assert_null(errors);
    assert_json_eq(ok, "{\"force_stop\":true,\"stop_container\":false}");

    _cleanup_json_ json_t *e2 = NULL;
    assert_null(
        query(&schema_query_exec_stop, &e2, 2, "stop_container", "maybe", "force_stop", "nope"));
    /* first failing property in name order only */
    assert_json_eq(e2, "[{\"title\":\"Invalid value\",\"source\":{\"pointer\":\"/force_stop\"},"
                       "\"detail\":\"Invalid boolean. Got: string\"}]");

    _cleanup_json_ json_t *tag = query(&schema_query_image_tag, &errors, 1, "nametag", "x:y");
    assert_json_eq(tag, "{\"nametag\":\"x:y\"}");
    _cleanup_json_ json_t *e3 = NULL;
    assert_null(query(&schema_query_image_prune, &e3, 0));
    assert_string_equal(schema_first_error_message(e3), "Missing field: all");
    _cleanup_json_ json_t *prune = query(&schema_query_image_prune, &errors, 1, "all", "false");
    assert_json_eq(prune, "{\"all\":false}");

    _cleanup_json_ json_t *e4 = NULL;
    assert_null(query(&schema_query_image_tag, &e4, 1, "nametag", "\xff"));
    assert_string_equal(schema_first_error_message(e4), "Invalid UTF-8 in query");
}

/* ---- bodies and messages for the callers ---- */

static void test_error_body_and_first_message(void **state)
{
    (void)state;
    _cleanup_json_ json_t *errors = NULL;
    assert_null(query(&schema_query_image_tag, &errors, 0));
    _cleanup_free_ char *body = schema_error_body(errors);
    assert_string_equal(body,
                        "{\"errors\":[{\"detail\":\"Missing field: nametag\","
                        "\"source\":{\"pointer\":\"/nametag\"},\"title\":\"Invalid value\"}]}");

    _cleanup_json_ json_t *in = load("{}");
    _cleanup_json_ json_t *e2 = NULL;
    assert_null(schema_cast(&schema_image_create_config, in, &e2));
    assert_string_equal(schema_first_error_message(e2), "Missing field: method"); /* §7.2 */

    _cleanup_json_ json_t *in3 =
        load("{\"exec_id\":\"e\",\"attach\":\"yes\",\"start_container\":true}");
    _cleanup_json_ json_t *e3 = NULL;
    assert_null(schema_cast(&schema_exec_start_config, in3, &e3));
    assert_string_equal(schema_first_error_message(e3), "Invalid boolean. Got: string"); /* §7.3 */

    assert_string_equal(schema_first_error_message(NULL), "");
    _cleanup_json_ json_t *extra = json_array();
    schema_error_append(extra, "/", "Missing header: content-type");
    _cleanup_free_ char *b2 = schema_error_body(extra);
    assert_string_equal(b2, "{\"errors\":[{\"detail\":\"Missing header: content-type\","
                            "\"source\":{\"pointer\":\"/\"},\"title\":\"Invalid value\"}]}");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_container_config_defaults),
        cmocka_unit_test(test_container_config_full_and_nested_defaults),
        cmocka_unit_test(test_container_config_nullable_kept),
        cmocka_unit_test(test_network_config_defaults),
        cmocka_unit_test(test_image_create_config_defaults),
        cmocka_unit_test(test_image_build_config_defaults),
        cmocka_unit_test(test_small_schema_defaults),
        cmocka_unit_test(test_labels),
        cmocka_unit_test(test_every_default_parses_and_casts),
        cmocka_unit_test(test_missing_fields_all_in_required_order),
        cmocka_unit_test(test_null_values),
        cmocka_unit_test(test_booleans),
        cmocka_unit_test(test_wrong_types),
        cmocka_unit_test(test_enum),
        cmocka_unit_test(test_max_length),
        cmocka_unit_test(test_nested_pointers_and_all_array_items),
        cmocka_unit_test(test_first_failing_property_alphabetical),
        cmocka_unit_test(test_input_not_modified),
        cmocka_unit_test(test_integer_and_number),
        cmocka_unit_test(test_query_container_list),
        cmocka_unit_test(test_query_unexpected_field),
        cmocka_unit_test(test_query_required),
        cmocka_unit_test(test_query_archive),
        cmocka_unit_test(test_error_body_and_first_message),
        cmocka_unit_test(test_object_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
