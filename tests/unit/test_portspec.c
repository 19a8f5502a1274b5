/* Published port specifications: shapes, ranges, '*', and the original's error strings. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>

#include "engine/portspec.h"

#define ERR_SHAPE "could not decode port publishing specification"
#define ERR_VALUE "invalid port value (should be in the range 0 - 65535)"

static portspec ok(const char *h, const char *c)
{
    portspec p;
    kl_error err = KL_ERROR_INIT;
    if (portspec_parse(h, c, &p, &err) < 0)
        fail_msg("%s -> %s: %s", h, c, err.msg);
    return p;
}

static void bad(const char *h, const char *c, const char *msg)
{
    portspec p;
    kl_error err = KL_ERROR_INIT;
    assert_int_equal(portspec_parse(h, c, &p, &err), -1);
    assert_int_equal(err.code, EINVAL);
    assert_string_equal(err.msg, msg);
}

static void test_valid(void **state)
{
    char s[16];
    portspec p = ok("8080", "80");
    assert_int_equal(p.host_first, 8080);
    assert_int_equal(p.host_last, 8080);
    assert_false(p.host_is_range);
    assert_int_equal(p.ctr_first, 80);
    assert_int_equal(p.ctr_last, 80);
    portspec_format_container(&p, s);
    assert_string_equal(s, "80");

    p = ok("8080:8090", "80:*");
    assert_true(p.host_is_range);
    assert_true(p.ctr_is_star);
    assert_int_equal(p.ctr_first, 80);
    assert_int_equal(p.ctr_last, 90);
    portspec_format_container(&p, s);
    assert_string_equal(s, "80:90");

    p = ok("8080", "80:*");
    portspec_format_container(&p, s);
    assert_string_equal(s, "80");

    p = ok("5000:6000", "4000:5000");
    assert_true(p.ctr_is_range);
    assert_int_equal(p.ctr_last, 5000);
    p = ok("0", "65535");
    assert_int_equal(p.ctr_first, 65535);
    p = ok("00080", "80");
    assert_int_equal(p.host_first, 80);
}

static void test_invalid(void **state)
{
    bad("3leet", "80", ERR_VALUE);
    bad("", "80", ERR_VALUE);
    bad("80", "", ERR_VALUE);
    bad("65536", "80", ERR_VALUE);
    bad("80", "-1", ERR_VALUE);
    bad("80", "1234567", ERR_VALUE);
    bad("80:*", "80", ERR_VALUE);
    bad("80:", "80", ERR_VALUE);
    bad(":80", "80", ERR_VALUE);
    bad("80", "80:x", ERR_VALUE);
    bad("1:2:3", "80", ERR_SHAPE);
    bad("80", "80:*:1", ERR_SHAPE);
    bad("80", "*", ERR_VALUE);
    /* '*' must not run past 65535. */
    bad("1000:2000", "65000:*", ERR_VALUE);
    bad("90:80", "80", "invalid port range 90:80 (the first port is larger)");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid),
        cmocka_unit_test(test_invalid),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
