/* The container end watcher: a watched process that ends is reported once, with its id and
 * pid, soon after; one that had ended before it was added is reported at once; a watch
 * replaced by a newer one reports only the newer; stopping joins the thread with watches
 * still open. The processes are children of the test (the watcher does not need them to be
 * its own). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "engine/endwatch.h"
#include "host/process.h"

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static char ended_ids[8][13];
static int ended_pids[8];
static int n_ended;

static void on_end(kl_engine *e, const char *id, int pid)
{
    (void)e;
    pthread_mutex_lock(&lock);
    if (n_ended < 8) {
        snprintf(ended_ids[n_ended], 13, "%s", id);
        ended_pids[n_ended] = pid;
    }
    n_ended++;
    pthread_mutex_unlock(&lock);
}

static int ended_count(void)
{
    pthread_mutex_lock(&lock);
    int n = n_ended;
    pthread_mutex_unlock(&lock);
    return n;
}

/* Wait up to 2 s for `n` reports. */
static bool wait_ended(int n)
{
    for (int i = 0; i < 200 && ended_count() < n; i++)
        usleep(10 * 1000);
    return ended_count() >= n;
}

static pid_t sleeper(void)
{
    pid_t pid = fork();
    if (pid == 0) {
        for (;;)
            pause();
    }
    return pid;
}

static void reset(void)
{
    pthread_mutex_lock(&lock);
    n_ended = 0;
    pthread_mutex_unlock(&lock);
}

static void test_reports_an_end(void **state)
{
    reset();
    kl_error err = KL_ERROR_INIT;
    endwatch *w = endwatch_start(NULL, on_end, &err);
    assert_non_null(w);
    pid_t a = sleeper(), b = sleeper();
    endwatch_add(w, "aaaaaaaaaaaa", a);
    endwatch_add(w, "bbbbbbbbbbbb", b);
    usleep(50 * 1000);
    assert_int_equal(ended_count(), 0);
    kill(b, SIGKILL);
    waitpid(b, NULL, 0);
    assert_true(wait_ended(1));
    assert_string_equal(ended_ids[0], "bbbbbbbbbbbb");
    assert_int_equal(ended_pids[0], b);
    usleep(50 * 1000);
    assert_int_equal(ended_count(), 1); /* once, and not the other */
    endwatch_stop(w);                   /* with a's watch still open */
    kill(a, SIGKILL);
    waitpid(a, NULL, 0);
}

static void test_already_ended_and_replaced(void **state)
{
    reset();
    kl_error err = KL_ERROR_INIT;
    endwatch *w = endwatch_start(NULL, on_end, &err);
    assert_non_null(w);
    /* a process that is gone when added */
    pid_t gone = sleeper();
    kill(gone, SIGKILL);
    waitpid(gone, NULL, 0);
    assert_int_equal(host_process_end_fd(gone, &err), -1);
    assert_int_equal(err.code, ESRCH);
    endwatch_add(w, "cccccccccccc", gone);
    assert_true(wait_ended(1));
    assert_string_equal(ended_ids[0], "cccccccccccc");
    /* a container started again: only its new reaper counts */
    pid_t old = sleeper(), new = sleeper();
    endwatch_add(w, "dddddddddddd", old);
    endwatch_add(w, "dddddddddddd", new);
    kill(old, SIGKILL);
    waitpid(old, NULL, 0);
    usleep(100 * 1000);
    assert_int_equal(ended_count(), 1);
    kill(new, SIGKILL);
    waitpid(new, NULL, 0);
    assert_true(wait_ended(2));
    assert_int_equal(ended_pids[1], new);
    endwatch_add(NULL, "eeeeeeeeeeee", new); /* no watcher: nothing */
    endwatch_stop(w);
    endwatch_stop(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reports_an_end),
        cmocka_unit_test(test_already_ended_and_replaced),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
