#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>
#include <stdlib.h>
#include <stdio.h>

#include "lib/id.h"

static void test_new_ids_are_valid_and_distinct(void **state)
{
    (void)state;
    enum { N = 2000 };
    static char ids[N][KL_ID_LEN + 1];
    for (int i = 0; i < N; i++) {
        kl_id_new(ids[i]);
        assert_int_equal(strlen(ids[i]), KL_ID_LEN);
        assert_true(kl_id_is_valid(ids[i]));
        assert_int_not_equal(strspn(ids[i], "0123456789"), KL_ID_LEN);
    }
    for (int i = 0; i < N; i++)
        for (int j = i + 1; j < N; j++)
            assert_string_not_equal(ids[i], ids[j]);
}

/* With 48 random bits, hex letters show up all over: check every position sees a-f and 0-9. */
static void test_ids_use_full_alphabet(void **state)
{
    (void)state;
    int letters[KL_ID_LEN] = {0}, digits[KL_ID_LEN] = {0};
    for (int i = 0; i < 500; i++) {
        char id[KL_ID_LEN + 1];
        kl_id_new(id);
        for (int k = 0; k < KL_ID_LEN; k++) {
            if (id[k] >= 'a')
                letters[k]++;
            else
                digits[k]++;
        }
    }
    for (int k = 0; k < KL_ID_LEN; k++) {
        assert_true(letters[k] > 100);
        assert_true(digits[k] > 150);
    }
}

static void test_is_valid(void **state)
{
    (void)state;
    assert_true(kl_id_is_valid("0123456789ab"));
    assert_true(kl_id_is_valid("abcdefabcdef"));
    assert_true(kl_id_is_valid("123456789012")); /* well-formed, just never generated */
    assert_false(kl_id_is_valid(NULL));
    assert_false(kl_id_is_valid(""));
    assert_false(kl_id_is_valid("0123456789a"));   /* 11 */
    assert_false(kl_id_is_valid("0123456789abc")); /* 13 */
    assert_false(kl_id_is_valid("0123456789aB"));  /* uppercase */
    assert_false(kl_id_is_valid("0123456789ag"));
    assert_false(kl_id_is_valid("@123456789ab"));
}

static void test_random_uniform_bounds(void **state)
{
    (void)state;
    int seen[7] = {0};
    for (int i = 0; i < 7000; i++) {
        uint32_t v = kl_random_uniform(7);
        assert_true(v < 7);
        seen[v]++;
    }
    for (int i = 0; i < 7; i++)
        assert_true(seen[i] > 700);
    assert_int_equal(kl_random_uniform(1), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_new_ids_are_valid_and_distinct),
        cmocka_unit_test(test_ids_use_full_alphabet),
        cmocka_unit_test(test_is_valid),
        cmocka_unit_test(test_random_uniform_bounds),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
