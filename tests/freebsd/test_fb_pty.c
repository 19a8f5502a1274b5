/* kleene-pty (src/host/freebsd/kleene_pty.c), the pty helper, run for real on this host
 * through the production runner: the program has a terminal, input and output are
 * relayed, newlines are not translated, exit statuses and signals come back, and -s sets
 * the window size. */
#include "fbtest.h"

#include <signal.h>
#include <string.h>

#include "lib/cleanup.h"

static void test_pty_relays(void **state)
{
    fb_runner *r = fb_runner_spawn_new();
    kl_error err = KL_ERROR_INIT;
    _cleanup_result_ fb_result res = FB_RESULT_INIT;
    assert_int_equal(
        fb_run(r,
               FB_ARGV(KL_FB_PTY, "/bin/sh", "-c",
                       "test -t 0 && test -t 1 && echo TTY; read x; echo \"got $x\"; exit 3"),
               "abc\n", &res, &err),
        0);
    assert_int_equal(res.status, 3);
    assert_non_null(strstr(res.out, "TTY\n"));
    assert_non_null(strstr(res.out, "got abc\n"));
    /* ONLCR off: the program's newlines stay bare (the echo of early input may not) */
    assert_null(strstr(res.out, "TTY\r"));
    assert_null(strstr(res.out, "got abc\r"));
    fb_runner_free(r);
}

static void test_pty_signal_and_size(void **state)
{
    fb_runner *r = fb_runner_spawn_new();
    kl_error err = KL_ERROR_INIT;
    _cleanup_result_ fb_result res = FB_RESULT_INIT;
    assert_int_equal(
        fb_run(r, FB_ARGV(KL_FB_PTY, "/bin/sh", "-c", "kill -KILL $$"), NULL, &res, &err), 0);
    assert_int_equal(res.status, 128 + SIGKILL);
    assert_int_equal(
        fb_run(r, FB_ARGV(KL_FB_PTY, "-s", "40x100", "/bin/stty", "size"), NULL, &res, &err), 0);
    assert_int_equal(res.status, 0);
    assert_string_equal(res.out, "40 100\n");
    /* a program that cannot be run: 127 and a message */
    assert_int_equal(fb_run(r, FB_ARGV(KL_FB_PTY, "/nonexistent/prog"), NULL, &res, &err), 0);
    assert_int_equal(res.status, 127);
    assert_non_null(strstr(res.out, "kleene-pty: /nonexistent/prog"));
    /* bad usage */
    assert_int_equal(fb_run(r, FB_ARGV(KL_FB_PTY, "-s", "0x0", "/bin/true"), NULL, &res, &err), 0);
    assert_int_equal(res.status, 2);
    fb_runner_free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pty_relays),
        cmocka_unit_test(test_pty_signal_and_size),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
