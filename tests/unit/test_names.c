#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>
#include <stdlib.h>
#include <stdio.h>

#include <regex.h>

#include "lib/names.h"

/* 100k draws over ~110 x ~108 pairs: "boring_*" and "*_wozniak" each show up hundreds of
 * times and the excluded pair would be drawn ~8 times if it were not excluded. */
static void test_never_boring_wozniak(void **state)
{
    (void)state;
    int boring = 0, wozniak = 0;
    regex_t re;
    /* The container name rule of API.md §4.2. */
    assert_int_equal(regcomp(&re, "^[a-zA-Z0-9][a-zA-Z0-9_.-]+$", REG_EXTENDED | REG_NOSUB), 0);
    for (int i = 0; i < 100000; i++) {
        char name[KL_NAME_MAX];
        kl_name_random(name, sizeof(name));
        assert_string_not_equal(name, "boring_wozniak");
        if (strncmp(name, "boring_", 7) == 0)
            boring++;
        size_t n = strlen(name);
        if (n > 8 && strcmp(name + n - 8, "_wozniak") == 0)
            wozniak++;
        assert_int_equal(regexec(&re, name, 0, NULL, 0), 0);
        assert_non_null(strchr(name, '_'));
    }
    regfree(&re);
    assert_true(boring > 100);
    assert_true(wozniak > 100);
}

static void test_names_vary(void **state)
{
    (void)state;
    char a[KL_NAME_MAX], b[KL_NAME_MAX];
    int same = 0;
    for (int i = 0; i < 100; i++) {
        kl_name_random(a, sizeof(a));
        kl_name_random(b, sizeof(b));
        same += strcmp(a, b) == 0;
    }
    assert_true(same < 5);
}

static void test_truncates_to_outlen(void **state)
{
    (void)state;
    char small[6];
    memset(small, 'X', sizeof(small));
    kl_name_random(small, sizeof(small));
    assert_int_equal(strlen(small), 5);
    char one[1] = {'X'};
    kl_name_random(one, 1);
    assert_int_equal(one[0], '\0');
}

/* Issue 12 item 7: one character set and a length limit for object names. */
static void test_name_rule(void **state)
{
    (void)state;
    static const char *const good[] = {"a", "web", "my-net_1.2", "A0", "0abc"};
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
        assert_true(kl_name_is_valid(good[i]));
    static const char *const bad[] = {"",
                                      ".",
                                      "..",
                                      "../../etc",
                                      "-x",
                                      "_x",
                                      ".hidden",
                                      "a/b",
                                      "a b",
                                      "a\nb",
                                      "a\tb",
                                      "evil\xe2\x80\xaetxt", /* U+202E RIGHT-TO-LEFT OVERRIDE */
                                      "caf\xc3\xa9",
                                      "a:b",
                                      "a\x7f"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_false(kl_name_is_valid(bad[i]));
    assert_false(kl_name_is_valid(NULL));
    char name[KL_OBJECT_NAME_MAX + 2];
    memset(name, 'n', sizeof(name));
    name[KL_OBJECT_NAME_MAX] = '\0';
    assert_true(kl_name_is_valid(name));
    name[KL_OBJECT_NAME_MAX] = 'n';
    name[KL_OBJECT_NAME_MAX + 1] = '\0';
    assert_false(kl_name_is_valid(name));
    size_t huge = 1u << 20; /* a 1 MB name */
    char *big = malloc(huge + 1);
    memset(big, 'a', huge);
    big[huge] = '\0';
    assert_false(kl_name_is_valid(big));
    free(big);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_never_boring_wozniak),
        cmocka_unit_test(test_names_vary),
        cmocka_unit_test(test_truncates_to_outlen),
        cmocka_unit_test(test_name_rule),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
