#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "cli/container.h"
#include "cli/render.h"
#include "lib/xalloc.h"

static char **row(const char *json)
{
    json_t *c = json_loads(json, 0, NULL);
    assert_non_null(c);
    char **cells = xcalloc(CONTAINER_LS_NCOLS + 1, sizeof(char *));
    double created;
    assert_int_equal(render_parse_iso8601("2023-09-14T21:21:57.990515Z", &created), 0);
    container_ls_row(c, created + 7200, cells);
    json_decref(c);
    return cells;
}

static void test_row_running(void **state)
{
    (void)state;
    char **c = row("{\"id\":\"abc123def456\",\"name\":\"web\",\"image_id\":\"i1\","
                   "\"image_name\":\"FreeBSD\",\"image_tag\":\"latest\","
                   "\"cmd\":[\"/bin/sh\",\"/etc/rc\"],\"created\":\"2023-09-14T21:21:57.990515Z\","
                   "\"restart_policy\":\"on-startup\",\"running\":true,\"jid\":7}");
    const char *want[] = {"abc123def456", "web", "FreeBSD:latest", "/bin/sh /etc/rc",
                          "2 hours ago",  "yes", "running",        "7"};
    for (size_t i = 0; i < CONTAINER_LS_NCOLS; i++)
        assert_string_equal(c[i], want[i]);
    strv_free(c);
}

static void test_row_stopped_defaults(void **state)
{
    (void)state;
    /* no image name → image id; cmd null → "Dockerfile"; policy null/no → "no"; jid null */
    char **c = row("{\"id\":\"0123456789ab\",\"name\":\"b\",\"image_id\":\"img000000002\","
                   "\"image_name\":\"\",\"image_tag\":\"\",\"cmd\":null,"
                   "\"created\":\"2023-09-14T21:21:57.990515Z\",\"restart_policy\":null,"
                   "\"running\":false,\"jid\":null}");
    assert_string_equal(c[2], "img000000002");
    assert_string_equal(c[3], "Dockerfile");
    assert_string_equal(c[5], "no");
    assert_string_equal(c[6], "stopped");
    assert_string_equal(c[7], "");
    strv_free(c);
}

static void test_command_cut_in_table(void **state)
{
    (void)state;
    /* COMMAND is cut at 40 columns with "…", as the original's max_width=40 */
    char **c = row("{\"id\":\"x\",\"name\":\"n\",\"image_id\":\"i\",\"image_name\":\"a\","
                   "\"image_tag\":\"1\",\"cmd\":[\"/usr/local/bin/python3\",\"-m\",\"http.server\","
                   "\"--bind\",\"0.0.0.0\",\"8080\"],\"created\":\"2023-09-14T21:21:57Z\","
                   "\"restart_policy\":\"no\",\"running\":true,\"jid\":1}");
    render_column col = {"COMMAND", NULL, RENDER_LEFT, 0, 40};
    render_opts o = {RENDER_FANCY, false};
    char *t = render_table(&col, 1, &c[3], 1, &o);
    assert_non_null(strstr(t, " /usr/local/bin/python3 -m http.server -…"));
    free(t);
    strv_free(c);
}

static void test_exit_code(void **state)
{
    (void)state;
    assert_int_equal(container_exit_code("executable e1 and its container exited with exit-code 0"),
                     0);
    assert_int_equal(
        container_exit_code("executable 3f2a and its container exited with exit-code 137"), 137);
    assert_int_equal(container_exit_code("3f2a has exited with exit-code 3"), 3);
    assert_int_equal(container_exit_code("3f2a has exited with exit-code 143"), 143);
    assert_int_equal(container_exit_code("3f2a has exited with exit-code 256"), -1);
    assert_int_equal(container_exit_code("3f2a has exited with exit-code "), -1);
    assert_int_equal(container_exit_code("3f2a has exited with exit-code 1x"), -1);
    assert_int_equal(container_exit_code("something exited with exit-code 1"), -1);
    assert_int_equal(container_exit_code("error starting exec instance"), -1);
    assert_int_equal(container_exit_code(""), -1);
    assert_int_equal(container_exit_code(NULL), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_row_running),
        cmocka_unit_test(test_row_stopped_defaults),
        cmocka_unit_test(test_command_cut_in_table),
        cmocka_unit_test(test_exit_code),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
