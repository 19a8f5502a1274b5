/* The default seccomp filter: compiled once by seccomp_default_prepare, it denies the listed
 * calls and allows ordinary ones; without a prepared (or handed over) program, loading it is
 * an error, never a silent compile. Each check runs in a forked child (a filter cannot be
 * removed). Needs nothing but Linux. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <linux/filter.h>
#include <string.h>
#include <sched.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "host/linux/internal.h"

/* In a child: load the filter, then probe. Exit code: 0 all as expected, else the failed
 * check's number. */
static int probe_in_child(void)
{
    pid_t pid = fork();
    if (pid == 0) {
        kl_error err = KL_ERROR_INIT;
        if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 || seccomp_load_default(&err) < 0)
            _exit(10);
        if (unshare(CLONE_NEWUTS) == 0 || errno != EPERM)
            _exit(11);
        if (syscall(SYS_clone3, NULL, 0) == 0 || errno != ENOSYS)
            _exit(12);
        if (syscall(SYS_umount2, "/nonexistent", 0) == 0 || errno != EPERM)
            _exit(13);
        if (personality(0x0040000 /* ADDR_NO_RANDOMIZE */) != -1 || errno != EPERM)
            _exit(14);
        if (getppid() <= 0 || personality(PER_LINUX) < 0)
            _exit(15); /* ordinary calls still work */
        if (personality(0xffffffff) < 0)
            _exit(16); /* the query (systemd's LockPersonality=) */
        if (personality(0xfffffffe) != -1 || errno != EPERM)
            _exit(17);
        _exit(0);
    }
    int st = 0;
    assert_true(waitpid(pid, &st, 0) == pid);
    assert_true(WIFEXITED(st));
    return WEXITSTATUS(st);
}

static void test_unprepared_is_an_error(void **state)
{
    (void)state;
    kl_error err = KL_ERROR_INIT;
    assert_null(seccomp_default_program());
    assert_int_equal(seccomp_load_default(&err), -1);
    assert_int_equal(err.code, EINVAL);
    assert_non_null(strstr(err.msg, "not been prepared"));
}

static void test_prepared_once(void **state)
{
    (void)state;
    kl_error err = KL_ERROR_INIT;
    assert_int_equal(seccomp_default_prepare(&err), 0);
    const struct sock_fprog *prog = seccomp_default_program();
    assert_non_null(prog);
    assert_int_equal(seccomp_default_prepare(&err), 0); /* idempotent */
    assert_ptr_equal(seccomp_default_program(), prog);
    assert_int_equal(probe_in_child(), 0);
    assert_int_equal(probe_in_child(), 0);
    /* a second program (as a monitor would get it) does not replace the first */
    assert_int_equal(
        seccomp_default_set_copy(prog->filter, prog->len * sizeof(*prog->filter), &err), 0);
    assert_ptr_equal(seccomp_default_program(), prog);
    assert_int_equal(seccomp_default_set_copy(prog->filter, 3, &err), -1); /* not whole insns */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_unprepared_is_an_error), /* first: nothing prepared yet */
        cmocka_unit_test(test_prepared_once),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
