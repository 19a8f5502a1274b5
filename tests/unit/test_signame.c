#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <signal.h>
#include <string.h>
#include <stdio.h>
#include <stdlib.h>

#include "lib/signame.h"

/* Every way dockerd takes a name: bare, SIG-prefixed, any case. */
static void test_names(void **state)
{
    (void)state;
    static const struct {
        const char *s;
        int sig;
    } ok[] = {
        {"KILL", SIGKILL},     {"SIGKILL", SIGKILL},   {"sigkill", SIGKILL}, {"SigTerm", SIGTERM},
        {"winch", SIGWINCH},   {"SIGWINCH", SIGWINCH}, {"ALRM", SIGALRM},    {"CONT", SIGCONT},
        {"STOP", SIGSTOP},     {"TSTP", SIGTSTP},      {"PWR", SIGPWR},      {"USR1", SIGUSR1},
        {"usr2", SIGUSR2},     {"HUP", SIGHUP},        {"CHLD", SIGCHLD},    {"CLD", SIGCHLD},
        {"IOT", SIGABRT},      {"POLL", SIGIO},        {"IO", SIGIO},        {"STKFLT", SIGSTKFLT},
        {"VTALRM", SIGVTALRM}, {"SYS", SIGSYS},        {"XFSZ", SIGXFSZ},    {"URG", SIGURG},
    };
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
        if (kl_signal_parse(ok[i].s) != ok[i].sig)
            fail_msg("%s gave %d, not %d", ok[i].s, kl_signal_parse(ok[i].s), ok[i].sig);
}

static void test_numbers(void **state)
{
    (void)state;
    for (int i = 1; i <= 64; i++) {
        char s[8];
        snprintf(s, sizeof(s), "%d", i);
        assert_int_equal(kl_signal_parse(s), i);
        assert_true(kl_signal_is_valid(i));
    }
    assert_int_equal(kl_signal_parse("09"), 9);
    assert_int_equal(kl_signal_parse("0"), -1);
    assert_int_equal(kl_signal_parse("65"), -1);
    assert_int_equal(kl_signal_parse("-1"), -1);
    assert_int_equal(kl_signal_parse("+9"), -1);
    assert_int_equal(kl_signal_parse("9x"), -1);
    assert_int_equal(kl_signal_parse("99999999999999999999"), -1);
    assert_false(kl_signal_is_valid(0));
    assert_false(kl_signal_is_valid(65));
    assert_false(kl_signal_is_valid(-9));
}

static void test_realtime(void **state)
{
    (void)state;
    assert_int_equal(kl_signal_parse("RTMIN"), SIGRTMIN);
    assert_int_equal(kl_signal_parse("SIGRTMIN"), 34);
    assert_int_equal(kl_signal_parse("RTMIN+3"), 37);
    assert_int_equal(kl_signal_parse("sigrtmin+3"), 37);
    assert_int_equal(kl_signal_parse("RTMIN+15"), 49);
    assert_int_equal(kl_signal_parse("RTMIN+30"), 64);
    assert_int_equal(kl_signal_parse("RTMAX"), 64);
    assert_int_equal(kl_signal_parse("RTMAX-1"), 63);
    assert_int_equal(kl_signal_parse("SIGRTMAX-14"), 50);
    assert_int_equal(kl_signal_parse("RTMAX-30"), 34);
    const char *bad[] = {"RTMIN+31", "RTMAX-31", "RTMIN+",   "RTMIN-1", "RTMAX+1", "RTMIN+0",
                         "RTMIN+-1", "RTMIN++1", "RTMIN+1x", "RTMINX",  "RTMAX-",  "RT"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (kl_signal_parse(bad[i]) != -1)
            fail_msg("%s gave %d", bad[i], kl_signal_parse(bad[i]));
}

static void test_refused(void **state)
{
    (void)state;
    const char *bad[] = {NULL,    "",      "SIG", "FOO",   "SIG9",       "SIGSIGKILL",
                         "KILL ", " KILL", "KIL", "KILLL", "SIGWINCH\n", "UNUSED"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (kl_signal_parse(bad[i]) != -1)
            fail_msg("'%s' gave %d", bad[i] ? bad[i] : "(null)", kl_signal_parse(bad[i]));
}

/* The name of every signal parses back to it (the table and the parser agree). */
static void test_name_round_trip(void **state)
{
    (void)state;
    char buf[KL_SIGNAME_MAX];
    assert_string_equal(kl_signal_name(SIGKILL, buf), "KILL");
    assert_string_equal(kl_signal_name(SIGABRT, buf), "ABRT");
    assert_string_equal(kl_signal_name(SIGCHLD, buf), "CHLD");
    assert_string_equal(kl_signal_name(SIGIO, buf), "IO");
    assert_string_equal(kl_signal_name(34, buf), "RTMIN");
    assert_string_equal(kl_signal_name(37, buf), "RTMIN+3");
    assert_string_equal(kl_signal_name(49, buf), "RTMIN+15");
    assert_string_equal(kl_signal_name(50, buf), "RTMAX-14");
    assert_string_equal(kl_signal_name(64, buf), "RTMAX");
    assert_string_equal(kl_signal_name(32, buf), "32");
    assert_null(kl_signal_name(0, buf));
    assert_null(kl_signal_name(65, buf));
    for (int i = 1; i <= 64; i++) {
        const char *n = kl_signal_name(i, buf);
        assert_non_null(n);
        if (kl_signal_parse(n) != i)
            fail_msg("%d is named %s, which parses to %d", i, n, kl_signal_parse(n));
    }
}

static void test_canonical(void **state)
{
    (void)state;
    const struct {
        const char *in, *out;
    } t[] = {{"int", "SIGINT"},
             {"SIGquit", "SIGQUIT"},
             {"10", "SIGUSR1"},
             {"rtmin+3", "SIGRTMIN+3"},
             {"RTMAX-1", "SIGRTMAX-1"},
             {"CLD", "SIGCHLD"},
             {"32", "32"}};
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        char *c = kl_signal_canonical(t[i].in);
        assert_non_null(c);
        assert_string_equal(c, t[i].out);
        free(c);
    }
    assert_null(kl_signal_canonical(NULL));
    assert_null(kl_signal_canonical(""));
    assert_null(kl_signal_canonical("NOPE"));
    assert_null(kl_signal_canonical("0"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names),           cmocka_unit_test(test_numbers),
        cmocka_unit_test(test_realtime),        cmocka_unit_test(test_refused),
        cmocka_unit_test(test_name_round_trip), cmocka_unit_test(test_canonical),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
