/* The default seccomp filter: compiled in the child (no prepare) and from the program compiled
 * once by seccomp_default_prepare, it denies the same calls and allows ordinary ones. Each
 * check runs in a forked child (a filter cannot be removed). Needs nothing but Linux. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
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
        _exit(0);
    }
    int st = 0;
    assert_true(waitpid(pid, &st, 0) == pid);
    assert_true(WIFEXITED(st));
    return WEXITSTATUS(st);
}

static void test_compiled_in_child(void **state)
{
    (void)state;
    assert_int_equal(probe_in_child(), 0);
}

static void test_prepared_once(void **state)
{
    (void)state;
    kl_error err = KL_ERROR_INIT;
    assert_int_equal(seccomp_default_prepare(&err), 0);
    assert_int_equal(seccomp_default_prepare(&err), 0); /* idempotent */
    assert_int_equal(probe_in_child(), 0);
    assert_int_equal(probe_in_child(), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_compiled_in_child), /* first: nothing prepared yet */
        cmocka_unit_test(test_prepared_once),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
