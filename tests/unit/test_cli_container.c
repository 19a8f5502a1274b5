#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "cli/container.h"
#include "cli/render.h"
#include "lib/buf.h"
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
    const char *want[] = {"abc123def456",
                          "web",
                          "FreeBSD:latest",
                          "/bin/sh /etc/rc",
                          "2 hours ago",
                          "yes",
                          "running",
                          "",
                          "",
                          "7"};
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
    assert_string_equal(c[9], "");
    strv_free(c);
}

/* With the state fields of ?state=true: Docker's status words, addresses and ports. */
static void test_row_state(void **state)
{
    (void)state;
    char **c =
        row("{\"id\":\"x\",\"name\":\"n\",\"image_id\":\"i\",\"image_name\":\"a\","
            "\"image_tag\":\"1\",\"cmd\":[\"sh\"],\"created\":\"2023-09-14T21:21:57Z\","
            "\"running\":false,\"jid\":null,\"started\":\"2023-09-14T21:21:58Z\","
            "\"finished\":\"2023-09-14T21:51:57Z\",\"exit_code\":3,"
            "\"ip_addresses\":[\"10.0.0.2\",\"fd00::2\"],\"public_ports\":[{\"interfaces\":[],"
            "\"host_port\":\"8080\",\"container_port\":\"80\",\"protocol\":\"tcp\"},"
            "{\"interfaces\":[\"eth0\"],\"host_port\":\"53\",\"container_port\":\"\","
            "\"protocol\":\"udp\"}]}");
    assert_string_equal(c[6], "Exited (3) 2 hours ago");
    assert_string_equal(c[7], "10.0.0.2, fd00::2");
    assert_string_equal(c[8], "8080->80/tcp, eth0:53->53/udp");
    strv_free(c);
    c = row("{\"id\":\"x\",\"running\":true,\"started\":\"2023-09-14T22:21:57Z\","
            "\"finished\":null,\"exit_code\":null,\"created\":\"2023-09-14T21:21:57Z\"}");
    assert_string_equal(c[6], "Up About an hour");
    strv_free(c);
    c = row("{\"id\":\"x\",\"running\":false,\"started\":null,\"finished\":null,"
            "\"exit_code\":null,\"created\":\"2023-09-14T21:21:57Z\"}");
    assert_string_equal(c[6], "Created");
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

/* logs --since: times (with offsets), Unix seconds and durations, all as kleened compares */
static void test_logs_since(void **state)
{
    (void)state;
    char out[40];
    double now = 1765101181.25; /* 2025-12-07T09:53:01.25Z */
    assert_int_equal(container_logs_since("2026-12-07T10:13:01Z", now, out), 0);
    assert_string_equal(out, "2026-12-07T10:13:01.000000Z");
    assert_int_equal(container_logs_since("2026-12-07T12:13:01+02:00", now, out), 0);
    assert_string_equal(out, "2026-12-07T10:13:01.000000Z");
    assert_int_equal(container_logs_since("1765101181", now, out), 0);
    assert_string_equal(out, "2025-12-07T09:53:01.000000Z");
    assert_int_equal(container_logs_since("10m", now, out), 0);
    assert_string_equal(out, "2025-12-07T09:43:01.250000Z");
    assert_int_equal(container_logs_since("1h30m", now, out), 0);
    assert_string_equal(out, "2025-12-07T08:23:01.250000Z");
    assert_int_equal(container_logs_since("yesterday", now, out), -1);
    assert_int_equal(container_logs_since("10x", now, out), -1);
    assert_int_equal(container_logs_since("", now, out), -1);
    assert_int_equal(container_logs_since("-5m", now, out), -1);
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

typedef struct demuxed {
    kl_buf out[3];
} demuxed;

static void collect(void *ud, int stream, const char *data, size_t n)
{
    demuxed *d = ud;
    kl_buf_append(&d->out[stream], data, n);
}

/* Frames come back with their streams whatever the cuts; a bad header stops everything. */
static void test_demux(void **state)
{
    (void)state;
    static const char stream[] = "\x01\0\0\0\0\0\0\x03"
                                 "ab\n"
                                 "\x02\0\0\0\0\0\0\x04"
                                 "err\n"
                                 "\x01\0\0\0\0\0\0\0"
                                 "\x01\0\0\0\0\0\0\x01"
                                 "z";
    size_t len = sizeof(stream) - 1;
    for (size_t step = 1; step <= len; step++) {
        container_demux d = {0};
        demuxed got = {{KL_BUF_INIT, KL_BUF_INIT, KL_BUF_INIT}};
        for (size_t off = 0; off < len; off += step)
            assert_int_equal(container_demux_feed(&d, stream + off,
                                                  len - off < step ? len - off : step, collect,
                                                  &got),
                             0);
        assert_string_equal(got.out[1].data, "ab\nz");
        assert_string_equal(got.out[2].data, "err\n");
        for (int i = 0; i < 3; i++)
            kl_buf_free(&got.out[i]);
    }
    container_demux d = {0};
    demuxed got = {{KL_BUF_INIT, KL_BUF_INIT, KL_BUF_INIT}};
    assert_int_equal(container_demux_feed(&d,
                                          "\x03\0\0\0\0\0\0\x01"
                                          "x",
                                          9, collect, &got),
                     -1);
    assert_true(d.is_broken);
    assert_int_equal(container_demux_feed(&d,
                                          "\x01\0\0\0\0\0\0\x01"
                                          "x",
                                          9, collect, &got),
                     -1);
    assert_null(got.out[1].data);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_row_running), cmocka_unit_test(test_row_stopped_defaults),
        cmocka_unit_test(test_row_state),   cmocka_unit_test(test_command_cut_in_table),
        cmocka_unit_test(test_exit_code),   cmocka_unit_test(test_logs_since),
        cmocka_unit_test(test_demux),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
