#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <string.h>
#include <stdlib.h>
#include <stdio.h>

#include "lib/labels.h"

static json_t *parse(const char *s)
{
    json_error_t je;
    json_t *j = json_loads(s, JSON_DECODE_ANY | JSON_ALLOW_NUL, &je);
    assert_non_null(j);
    return j;
}

static void expect_bad(const char *json, const char *in_msg)
{
    json_t *j = parse(json);
    kl_error err = KL_ERROR_INIT;
    assert_int_equal(kl_labels_check(j, &err), -1);
    assert_int_equal(err.code, EINVAL);
    if (!strstr(err.msg, in_msg))
        fail_msg("'%s' not in '%s' (for %s)", in_msg, err.msg, json);
    json_decref(j);
}

static void test_check_accepts(void **state)
{
    (void)state;
    kl_error err = KL_ERROR_INIT;
    assert_int_equal(kl_labels_check(NULL, &err), 0);
    json_t *j = parse("null");
    assert_int_equal(kl_labels_check(j, &err), 0);
    json_decref(j);
    j = parse("{\"com.docker.compose.project\":\"web\",\"a\":\"\","
              "\"traefik.http.routers.r[0].rule\":\"Host(`x`)\",\"d\":\"two\\nlines\\tok é\"}");
    assert_int_equal(kl_labels_check(j, &err), 0);
    assert_int_equal(err.code, 0);
    json_decref(j);
}

static void test_check_refuses(void **state)
{
    (void)state;
    expect_bad("[]", "object");
    expect_bad("\"x\"", "object");
    expect_bad("{\"\":\"v\"}", "empty");
    expect_bad("{\"a b\":\"v\"}", "'a b'");
    expect_bad("{\"a=b\":\"v\"}", "'a=b'");
    expect_bad("{\"é\":\"v\"}", "printable ASCII");
    expect_bad("{\"k\":1}", "must be a string");
    expect_bad("{\"k\":null}", "must be a string");
    expect_bad("{\"k\":\"a\\u001b[31m\"}", "control character");
    expect_bad("{\"k\":\"a\\u0000b\"}", "control character");
    expect_bad("{\"k\":\"a\\u0085b\"}", "control character");
    expect_bad("{\"k\":\"\\u007f\"}", "control character");
    /* limits */
    char key[KL_LABEL_KEY_MAX + 2];
    memset(key, 'k', sizeof(key) - 1);
    key[sizeof(key) - 1] = '\0';
    json_t *j = json_object();
    json_object_set_new(j, key, json_string("v"));
    kl_error err = KL_ERROR_INIT;
    assert_int_equal(kl_labels_check(j, &err), -1);
    assert_non_null(strstr(err.msg, "longer than 255"));
    key[KL_LABEL_KEY_MAX] = '\0';
    json_object_clear(j);
    json_object_set_new(j, key, json_string("v"));
    assert_int_equal(kl_labels_check(j, NULL), 0);
    char *big = malloc(KL_LABEL_VALUE_MAX + 2);
    memset(big, 'v', KL_LABEL_VALUE_MAX + 1);
    big[KL_LABEL_VALUE_MAX + 1] = '\0';
    json_object_set_new(j, "k", json_string(big));
    assert_int_equal(kl_labels_check(j, &err), -1);
    assert_non_null(strstr(err.msg, "longer than 4096"));
    big[KL_LABEL_VALUE_MAX] = '\0';
    json_object_set_new(j, "k", json_string(big));
    assert_int_equal(kl_labels_check(j, NULL), 0);
    free(big);
    json_object_clear(j);
    for (int i = 0; i <= KL_LABELS_MAX; i++) {
        char k[16];
        snprintf(k, sizeof(k), "k%d", i);
        json_object_set_new(j, k, json_string(""));
        assert_int_equal(kl_labels_check(j, &err), i < KL_LABELS_MAX ? 0 : -1);
    }
    assert_non_null(strstr(err.msg, "too many"));
    json_decref(j);
}

static void test_assignment(void **state)
{
    (void)state;
    json_t *l = json_object();
    kl_error err = KL_ERROR_INIT;
    assert_int_equal(kl_labels_add_assignment(l, "a=b=c", &err), 0);
    assert_int_equal(kl_labels_add_assignment(l, "flag", &err), 0);
    assert_int_equal(kl_labels_add_assignment(l, "empty=", &err), 0);
    assert_string_equal(json_string_value(json_object_get(l, "a")), "b=c");
    assert_string_equal(json_string_value(json_object_get(l, "flag")), "");
    assert_string_equal(json_string_value(json_object_get(l, "empty")), "");
    assert_int_equal(kl_labels_add_assignment(l, "=v", &err), -1);
    assert_int_equal(kl_labels_add_assignment(l, "a b=v", &err), -1);
    assert_int_equal(kl_labels_add_assignment(l, "k=\x1b[2J", &err), -1);
    assert_int_equal(json_object_size(l), 3);
    assert_int_equal(kl_labels_check(l, NULL), 0);
    json_decref(l);
}

static void test_match(void **state)
{
    (void)state;
    json_t *l = parse("{\"app\":\"web\",\"tier\":\"\",\"x.y\":\"a=b\"}");
    assert_true(kl_labels_match(l, "app"));
    assert_true(kl_labels_match(l, "app=web"));
    assert_false(kl_labels_match(l, "app=we"));
    assert_false(kl_labels_match(l, "app=webs"));
    assert_false(kl_labels_match(l, "ap"));
    assert_false(kl_labels_match(l, "apps"));
    assert_true(kl_labels_match(l, "tier"));
    assert_true(kl_labels_match(l, "tier="));
    assert_false(kl_labels_match(l, "tier=x"));
    assert_true(kl_labels_match(l, "x.y=a=b"));
    assert_false(kl_labels_match(l, "=web"));
    assert_false(kl_labels_match(NULL, "app"));
    json_t *none = json_object();
    assert_false(kl_labels_match(none, "app"));
    json_t *f = parse("[\"app=web\",\"tier\"]");
    assert_true(kl_labels_match_all(l, f));
    assert_false(kl_labels_match_all(none, f));
    json_array_append_new(f, json_string("app=db"));
    assert_false(kl_labels_match_all(l, f));
    assert_true(kl_labels_match_all(none, NULL));
    json_t *not = parse("[\"tier\"]");
    json_t *must = parse("[\"app=web\"]");
    assert_false(kl_labels_match_filters(l, must, not ));
    assert_true(kl_labels_match_filters(l, must, NULL));
    assert_true(kl_labels_match_filters(none, NULL, not ));
    assert_false(kl_labels_match_filters(none, must, NULL));
    json_decref(not );
    json_decref(must);
    kl_error err = KL_ERROR_INIT;
    assert_int_equal(kl_labels_filter_check("app=web", &err), 0);
    assert_int_equal(kl_labels_filter_check("", &err), -1);
    assert_int_equal(kl_labels_filter_check("=x", &err), -1);
    json_decref(f);
    json_decref(none);
    json_decref(l);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_check_accepts),
        cmocka_unit_test(test_check_refuses),
        cmocka_unit_test(test_assignment),
        cmocka_unit_test(test_match),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
