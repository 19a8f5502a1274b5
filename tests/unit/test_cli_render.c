#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "cli/render.h"

static void expect_duration(long long secs, const char *want)
{
    char out[64];
    render_human_duration(secs, out, sizeof(out));
    assert_string_equal(out, want);
}

static void test_human_duration(void **state)
{
    (void)state;
    expect_duration(-5, "Less than a second");
    expect_duration(0, "Less than a second");
    expect_duration(1, "1 second");
    expect_duration(2, "2 seconds");
    expect_duration(59, "59 seconds");
    expect_duration(60, "About a minute");
    expect_duration(119, "About a minute");
    expect_duration(120, "2 minutes");
    expect_duration(59 * 60 + 59, "59 minutes");
    /* hours are rounded: 60..89 minutes is "About an hour", 90 minutes is 2 hours */
    expect_duration(3600, "About an hour");
    expect_duration(89 * 60, "About an hour");
    expect_duration(90 * 60, "2 hours");
    expect_duration(47 * 3600, "47 hours");
    expect_duration(48 * 3600, "2 days");
    expect_duration(13 * 86400, "13 days");
    expect_duration(14 * 86400, "2 weeks");
    expect_duration(59 * 86400, "8 weeks");
    expect_duration(60 * 86400, "2 months");
    expect_duration(729LL * 86400, "24 months");
    expect_duration(730LL * 86400, "2 years");
    expect_duration(3650LL * 86400, "10 years");
}

static void test_iso8601(void **state)
{
    (void)state;
    double t;
    assert_int_equal(render_parse_iso8601("1970-01-01T00:00:10Z", &t), 0);
    assert_true(t == 10.0);
    assert_int_equal(render_parse_iso8601("2023-09-14T21:21:57.5Z", &t), 0);
    assert_true(t == 1694726517.5);
    assert_int_equal(render_parse_iso8601("1970-01-01T02:00:00+02:00", &t), 0);
    assert_true(t == 0.0);
    assert_int_equal(render_parse_iso8601("1970-01-01T00:00:00", &t), 0);
    assert_true(t == 0.0);
    assert_int_equal(render_parse_iso8601("yesterday", &t), -1);
    assert_int_equal(render_parse_iso8601("2023-09-14T21:21:57Zjunk", &t), -1);
    assert_int_equal(render_parse_iso8601(NULL, &t), -1);
}

static void test_created_ago(void **state)
{
    (void)state;
    double created;
    assert_int_equal(render_parse_iso8601("2023-09-14T21:21:57.990515Z", &created), 0);
    char *s = render_created_ago("2023-09-14T21:21:57.990515Z", created + 7200.5);
    assert_string_equal(s, "2 hours ago");
    free(s);
    s = render_created_ago("2023-09-14T21:21:57.990515Z", created + 0.5);
    assert_string_equal(s, "Less than a second ago");
    free(s);
    s = render_created_ago("garbage", created);
    assert_string_equal(s, "garbage");
    free(s);
}

static const render_column cols[] = {
    {"CONTAINER ID", "1", RENDER_LEFT, 13, 0},
    {"NAME", NULL, RENDER_LEFT, 0, 0},
    {"AUTORUN", "32", RENDER_CENTER, 0, 0},
    {"COMMAND", NULL, RENDER_LEFT, 0, 10},
};

static char *cells[] = {
    "abc123def456", "web", "no",  "/bin/sh /etc/rc", /* command cut to 10 */
    "0123456789ab", "db",  "yes", NULL,
};

static void test_table_fancy(void **state)
{
    (void)state;
    render_opts o = {RENDER_FANCY, false};
    char *s = render_table(cols, 4, cells, 2, &o);
    const char *want = " CONTAINER ID    NAME   AUTORUN   COMMAND    \n"
                       "─────────────────────────────────────────────\n"
                       " abc123def456    web      no      /bin/sh /… \n"
                       " 0123456789ab    db       yes                \n";
    assert_string_equal(s, want);
    free(s);
}

static void test_table_simple(void **state)
{
    (void)state;
    render_opts o = {RENDER_SIMPLE, false};
    char *s = render_table(cols, 4, cells, 2, &o);
    const char *want = " CONTAINER ID  | NAME | AUTORUN | COMMAND    \n"
                       "---------------+------+---------+------------\n"
                       " abc123def456  | web  |   no    | /bin/sh /… \n"
                       " 0123456789ab  | db   |   yes   |            \n";
    assert_string_equal(s, want);
    free(s);
}

static void test_table_empty_and_colour(void **state)
{
    (void)state;
    render_column vc[] = {{"VOLUME NAME", "1;38;5;122", RENDER_LEFT, 0, 0},
                          {"CREATED", "97", RENDER_LEFT, 0, 0}};
    render_opts plain = {RENDER_FANCY, false};
    char *s = render_table(vc, 2, NULL, 0, &plain);
    assert_string_equal(s, " VOLUME NAME   CREATED \n"
                           "───────────────────────\n");
    free(s);

    /* Piped output has no escape sequences; a terminal gets the column styles. */
    char *row[] = {"hello", "1 second ago"};
    s = render_table(vc, 2, row, 1, &plain);
    assert_null(strchr(s, '\033'));
    free(s);
    render_opts tty = {RENDER_FANCY, true};
    s = render_table(vc, 2, row, 1, &tty);
    assert_non_null(strstr(s, "\033[1;38;5;122mhello\033[0m"));
    assert_non_null(strstr(s, "\033[97m1 second ago\033[0m"));
    free(s);
}

static void test_json_pretty(void **state)
{
    (void)state;
    json_t *j = json_pack("{s:{s:s},s:[]}", "volume", "name", "x", "mountpoints");
    char *s = render_json_pretty(j);
    assert_string_equal(
        s, "{\n  \"mountpoints\": [],\n  \"volume\": {\n    \"name\": \"x\"\n  }\n}\n");
    free(s);
    json_decref(j);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_human_duration), cmocka_unit_test(test_iso8601),
        cmocka_unit_test(test_created_ago),    cmocka_unit_test(test_table_fancy),
        cmocka_unit_test(test_table_simple),   cmocka_unit_test(test_table_empty_and_colour),
        cmocka_unit_test(test_json_pretty),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
