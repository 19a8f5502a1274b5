#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>
#include <stdlib.h>

#include "lib/buf.h"

static void test_append_and_printf(void **state)
{
    (void)state;
    kl_buf b = KL_BUF_INIT;
    kl_buf_puts(&b, "hello");
    kl_buf_printf(&b, " %d %s", 42, "world");
    assert_string_equal(b.data, "hello 42 world");
    assert_int_equal(b.len, 14);
    for (int i = 0; i < 1000; i++)
        kl_buf_append(&b, "x", 1);
    assert_int_equal(b.len, 1014);
    assert_int_equal(b.data[1014], '\0');
    kl_buf_free(&b);
}

static void test_consume_and_steal(void **state)
{
    (void)state;
    kl_buf b = KL_BUF_INIT;
    kl_buf_puts(&b, "abcdef");
    kl_buf_consume(&b, 2);
    assert_string_equal(b.data, "cdef");
    kl_buf_consume(&b, 100);
    assert_int_equal(b.len, 0);
    assert_string_equal(b.data, "");
    char *s = kl_buf_steal(&b);
    assert_string_equal(s, "");
    assert_null(b.data);
    free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_append_and_printf),
        cmocka_unit_test(test_consume_and_steal),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
