#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli/wsclient.h"
#include "lib/buf.h"
#include "lib/xalloc.h"

static void test_msg_parse(void **state)
{
    (void)state;
    wsclient_msg m;
    const char *s = "{\"data\":\"abc\",\"message\":\"image created\",\"msg_type\":\"closing\"}";
    assert_int_equal(wsclient_msg_parse(s, strlen(s), &m), 0);
    assert_string_equal(m.msg_type, "closing");
    assert_string_equal(m.message, "image created");
    assert_string_equal(m.data, "abc");
    wsclient_msg_free(&m);

    s = "{\"msg_type\":\"starting\"}"; /* missing fields read as "" */
    assert_int_equal(wsclient_msg_parse(s, strlen(s), &m), 0);
    assert_string_equal(m.message, "");
    assert_string_equal(m.data, "");
    wsclient_msg_free(&m);

    const char *bad[] = {"error: container not found", "[1,2]", "{\"message\":\"x\"}",
                         "{\"msg_type\":3}", ""};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(wsclient_msg_parse(bad[i], strlen(bad[i]), &m), -1);
        assert_null(m.msg_type);
    }
}

static void test_result_set_close(void **state)
{
    (void)state;
    wsclient_result r = {0};
    const char *s =
        "{\"data\":\"\",\"message\":\"image creation failed: x\",\"msg_type\":\"error\"}";
    wsclient_result_set_close(&r, 1011, s, strlen(s));
    assert_int_equal(r.code, 1011);
    assert_true(r.reason_is_json);
    assert_string_equal(r.reason.msg_type, "error");
    assert_string_equal(r.reason.message, "image creation failed: x");
    /* a second close replaces the first; a non-JSON reason is kept as the message */
    wsclient_result_set_close(&r, 1000, "plain words", 11);
    assert_int_equal(r.code, 1000);
    assert_false(r.reason_is_json);
    assert_string_equal(r.reason.msg_type, "");
    assert_string_equal(r.reason.message, "plain words");
    assert_string_equal(r.reason.data, "");
    wsclient_result_set_close(&r, 1005, "", 0);
    assert_string_equal(r.reason.message, "");
    wsclient_result_free(&r);
}

/* ---- interactive relay against python3-websockets (fake_ws_kleened.py echo) ---------- */

typedef struct fake {
    char dir[64];
    char sock[128];
    pid_t pid;
} fake;

static int start_fake(fake *f)
{
#if defined(KL_WS_INTEROP_PYTHON) && defined(KLEE_FAKE_WS)
    snprintf(f->dir, sizeof(f->dir), "/tmp/klee-wsc.XXXXXX");
    if (!mkdtemp(f->dir))
        return -1;
    snprintf(f->sock, sizeof(f->sock), "%s/ws.sock", f->dir);
    char record[128];
    snprintf(record, sizeof(record), "%s/record", f->dir);
    f->pid = fork();
    if (f->pid == 0) {
        execl(KL_WS_INTEROP_PYTHON, KL_WS_INTEROP_PYTHON, KLEE_FAKE_WS, f->sock, record, "echo",
              (char *)NULL);
        _exit(127);
    }
    for (int i = 0; i < 200; i++) {
        struct stat st;
        if (stat(f->sock, &st) == 0)
            return 0;
        usleep(25000);
    }
    return -1;
#else
    (void)f;
    return -1;
#endif
}

static void stop_fake(fake *f)
{
    if (f->pid > 0) {
        kill(f->pid, SIGTERM);
        waitpid(f->pid, NULL, 0);
    }
    if (f->dir[0]) {
        char cmd[128];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
        if (system(cmd) != 0) {
        }
    }
    *f = (fake){0};
}

/* The fake of the running test: its teardown stops it even when an assertion ended the test
 * early (a fake server and its directory in /tmp were left behind then). */
static fake the_fake;

static int fake_teardown(void **state)
{
    (void)state;
    stop_fake(&the_fake);
    return 0;
}

typedef struct echo_state {
    kl_buf got;
    int in_w;       /* write end of the input pipe */
    bool interrupt; /* raise SIGINT once "abc" came back, instead of sending "q" */
} echo_state;

static void on_echo(void *ud, const uint8_t *data, size_t n, bool is_binary)
{
    echo_state *st = ud;
    assert_true(is_binary);
    kl_buf_append(&st->got, data, n);
    if (st->got.len == 4 && memcmp(st->got.data,
                                   "ab\xff"
                                   "c",
                                   4) == 0) {
        if (st->interrupt)
            raise(SIGINT);
        else
            assert_int_equal(write(st->in_w, "q", 1), 1);
    }
}

static void run_interactive(bool interrupt)
{
    fake *f = &the_fake;
    if (start_fake(f) < 0) {
        stop_fake(f);
        skip();
    }
    cli_ctx ctx = {.config = CLI_CONFIG_INIT, .timeout_s = 10};
    ctx.config.host = xasprintf("http://%s", f->sock);
    json_t *config = json_pack("{s:s}", "exec_id", "abc");
    wsclient *w = wsclient_open(&ctx, "/exec/start", config);
    json_decref(config);
    assert_non_null(w);
    wsclient_result r = {0};
    assert_int_equal(wsclient_read_start(w, &r), 1);
    assert_true(r.started);

    int p[2];
    assert_int_equal(pipe(p), 0);
    assert_int_equal(write(p[1],
                           "ab\xff"
                           "c",
                           4),
                     4);
    echo_state st = {.got = KL_BUF_INIT, .in_w = p[1], .interrupt = interrupt};
    assert_int_equal(wsclient_relay_interactive(w, p[0], true, on_echo, &st, &r), 0);
    assert_int_equal(st.got.len, 4); /* byte-exact, nothing after */
    assert_int_equal(r.code, 1000);
    assert_int_equal(r.interrupted, interrupt);
    if (!interrupt)
        assert_string_equal(r.reason.message, "echo done");
    /* the SIGINT disposition is back to the default */
    struct sigaction now;
    sigaction(SIGINT, NULL, &now);
    assert_ptr_equal(now.sa_handler, SIG_DFL);

    kl_buf_free(&st.got);
    close(p[0]);
    close(p[1]);
    wsclient_result_free(&r);
    wsclient_free(w);
    http_client_free(ctx.http);
    free(ctx.config.host);
    stop_fake(f);
}

static void test_interactive_forwards_input(void **state)
{
    (void)state;
    run_interactive(false);
}

static void test_interactive_sigint_closes(void **state)
{
    (void)state;
    run_interactive(true);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_msg_parse),
        cmocka_unit_test(test_result_set_close),
        cmocka_unit_test_teardown(test_interactive_forwards_input, fake_teardown),
        cmocka_unit_test_teardown(test_interactive_sigint_closes, fake_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
