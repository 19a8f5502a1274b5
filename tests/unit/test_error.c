#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <string.h>

#include "lib/error.h"

static int failing(const char *what, kl_error *err)
{
    return kl_error_errno(err, ENOENT, "opening %s", what);
}

static void test_set_and_prefix(void **state)
{
    (void)state;
    kl_error err = KL_ERROR_INIT;
    assert_false(kl_error_is_set(&err));
    assert_int_equal(failing("/x", &err), -1);
    assert_int_equal(err.code, ENOENT);
    assert_string_equal(err.msg, "opening /x: No such file or directory");
    kl_error_prefix(&err, "starting container %s", "ab12");
    assert_string_equal(err.msg, "starting container ab12: opening /x: No such file or directory");
    assert_true(kl_error_is_set(&err));
    kl_error_clear(&err);
    assert_false(kl_error_is_set(&err));
}

static void test_null_error_is_allowed(void **state)
{
    (void)state;
    assert_int_equal(kl_error_set(NULL, EINVAL, "ignored"), -1);
}

static void test_zero_code_becomes_eio(void **state)
{
    (void)state;
    kl_error err = KL_ERROR_INIT;
    kl_error_set(&err, 0, "x");
    assert_int_equal(err.code, EIO);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_set_and_prefix),
        cmocka_unit_test(test_null_error_is_allowed),
        cmocka_unit_test(test_zero_code_becomes_eio),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
