/* The runner seam (src/host/freebsd/runner.h): the production runner against real commands
 * of this (Linux) host, the golden-file quoting, and the replaying runner's own checks (a
 * golden test must fail when the layer runs something else). */
#include "fbtest.h"

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/cleanup.h"
#include "lib/xalloc.h"

static void test_quote(void **state)
{
    _cleanup_free_ char *a =
        fb_argv_format(FB_ARGV("/usr/sbin/jail", "-c", "exec.stop=\"/bin/sh /etc/rc.shutdown\"",
                               "it's", "", "ip4.addr=10.0.0.2,10.0.0.3"));
    assert_string_equal(a, "/usr/sbin/jail -c 'exec.stop=\"/bin/sh /etc/rc.shutdown\"' "
                           "'it'\\''s' '' ip4.addr=10.0.0.2,10.0.0.3");
}

static void test_spawn_runner_run(void **state)
{
    fb_runner *r = fb_runner_spawn_new();
    kl_error err = KL_ERROR_INIT;
    _cleanup_result_ fb_result res = FB_RESULT_INIT;
    /* stdin in, stdout out, exit status */
    assert_int_equal(fb_run(r, FB_ARGV("/bin/cat"), "hello\nworld\n", &res, &err), 0);
    assert_int_equal(res.status, 0);
    assert_string_equal(res.out, "hello\nworld\n");
    assert_int_equal(
        fb_run(r, FB_ARGV("/bin/sh", "-c", "echo out; echo err >&2; exit 3"), NULL, &res, &err), 0);
    assert_int_equal(res.status, 3);
    assert_string_equal(res.out, "out\n");
    assert_string_equal(res.err, "err\n");
    /* no shell: the argument is one element, metacharacters and all */
    assert_int_equal(fb_run(r, FB_ARGV("/bin/echo", "a;b $(x) *"), NULL, &res, &err), 0);
    assert_string_equal(res.out, "a;b $(x) *\n");
    /* a fixed environment, not kleened's */
    setenv("KL_FB_LEAK", "1", 1);
    assert_int_equal(fb_run(r, FB_ARGV("/usr/bin/env"), NULL, &res, &err), 0);
    assert_null(strstr(res.out, "KL_FB_LEAK"));
    assert_non_null(strstr(res.out, "LC_ALL=C"));
    /* killed by a signal: 128+N */
    assert_int_equal(fb_run(r, FB_ARGV("/bin/sh", "-c", "kill -TERM $$"), NULL, &res, &err), 0);
    assert_int_equal(res.status, 128 + SIGTERM);
    /* a command that does not exist: an error, not a status */
    assert_int_equal(fb_run(r, FB_ARGV("/nonexistent/cmd"), NULL, &res, &err), -1);
    assert_int_equal(err.code, ENOENT);
    /* fb_run_ok turns a status into an error with the command's message */
    kl_error e2 = KL_ERROR_INIT;
    assert_int_equal(
        fb_run_ok(r, FB_ARGV("/bin/sh", "-c", "echo 'no such dataset' >&2; exit 1"), NULL, &e2),
        -1);
    assert_string_equal(e2.msg, "sh: no such dataset");
    fb_runner_free(r);
}

static void test_spawn_runner_pipe_spawn_write(void **state)
{
    fb_runner *r = fb_runner_spawn_new();
    kl_error err = KL_ERROR_INIT;
    _cleanup_result_ fb_result res = FB_RESULT_INIT;
    assert_int_equal(fb_run_pipe(r, FB_ARGV("/bin/echo", "abc"),
                                 FB_ARGV("/usr/bin/tr", "a-z", "A-Z"), &res, &err),
                     0);
    assert_int_equal(res.status, 0);
    assert_string_equal(res.out, "ABC\n");
    /* the first command's failure is reported when the second succeeded */
    assert_int_equal(
        fb_run_pipe(r, FB_ARGV("/bin/sh", "-c", "exit 2"), FB_ARGV("/bin/cat"), &res, &err), 0);
    assert_int_equal(res.status, 2);

    fb_proc p;
    assert_int_equal(fb_spawn(r, FB_ARGV("/bin/sh", "-c", "read x; echo got $x; exit 5"), &p, &err),
                     0);
    assert_true(p.pid > 0);
    int st = -1;
    assert_int_equal(fb_wait(r, &p, 50, &st, &err), 0); /* still waiting for its input */
    assert_int_equal(write(p.in_fd, "hi\n", 3), 3);
    close(p.in_fd);
    assert_int_equal(fb_wait(r, &p, -1, &st, &err), 1);
    assert_int_equal(st, 5);
    char buf[64] = {0};
    assert_true(read(p.out_fd, buf, sizeof(buf) - 1) > 0);
    assert_string_equal(buf, "got hi\n");
    close(p.out_fd);

    char dir[] = "/tmp/fbrunnerXXXXXX";
    assert_non_null(mkdtemp(dir));
    _cleanup_free_ char *path = xasprintf("%s/pf.conf", dir);
    assert_int_equal(fb_write_file(r, path, "pass all\n", 9, 0600, &err), 0);
    struct stat stt;
    assert_int_equal(stat(path, &stt), 0);
    assert_int_equal(stt.st_mode & 0777, 0600);
    assert_int_equal(stt.st_size, 9);
    unlink(path);
    rmdir(dir);
    fb_runner_free(r);
}

/* fb_make_path (B5): directories and a file made below a root, never through a symlink. */
static void test_make_path(void **state)
{
    fb_runner *r = fb_runner_spawn_new();
    char root[] = "/tmp/fbmkXXXXXX", out[] = "/tmp/fboutXXXXXX";
    assert_non_null(mkdtemp(root));
    assert_non_null(mkdtemp(out));
    kl_error err = KL_ERROR_INIT;
    assert_int_equal(fb_make_path(r, root, "a/b/c", false, &err), 0);
    _cleanup_free_ char *c = xasprintf("%s/a/b/c", root);
    struct stat st;
    assert_int_equal(stat(c, &st), 0);
    assert_true(S_ISDIR(st.st_mode));
    assert_int_equal(fb_make_path(r, root, "a/b/c", false, &err), 0); /* exists: fine */
    _cleanup_free_ char *f = xasprintf("%s/a/b/app.conf", root);
    int fd = open(f, O_WRONLY | O_CREAT, 0600);
    assert_true(write(fd, "keep", 4) == 4);
    close(fd);
    assert_int_equal(fb_make_path(r, root, "a/b/app.conf", true, &err), 0);
    assert_int_equal(stat(f, &st), 0);
    assert_int_equal(st.st_size, 4); /* not truncated */
    assert_int_equal(fb_make_path(r, root, "a/new.conf", true, &err), 0);
    /* a symlink in the image pointing out: refused, nothing made outside */
    _cleanup_free_ char *evil = xasprintf("%s/evil", root);
    assert_int_equal(symlink(out, evil), 0);
    kl_error e2 = KL_ERROR_INIT;
    assert_int_equal(fb_make_path(r, root, "evil/x", false, &e2), -1);
    assert_int_equal(e2.code, EXDEV);
    _cleanup_free_ char *outx = xasprintf("%s/x", out);
    assert_int_equal(stat(outx, &st), -1);
    /* ... also as the file itself */
    _cleanup_free_ char *hostfile = xasprintf("%s/hostfile", out);
    fd = open(hostfile, O_WRONLY | O_CREAT, 0600);
    close(fd);
    _cleanup_free_ char *lnk = xasprintf("%s/a/passwd", root);
    assert_int_equal(symlink(hostfile, lnk), 0);
    kl_error e3 = KL_ERROR_INIT;
    assert_int_equal(fb_make_path(r, root, "a/passwd", true, &e3), -1);
    assert_int_equal(e3.code, EXDEV);
    kl_error e4 = KL_ERROR_INIT;
    assert_int_equal(fb_make_path(r, root, "a/../../x", false, &e4), -1);
    assert_int_equal(e4.code, EINVAL);
    unlink(lnk);
    unlink(hostfile);
    unlink(evil);
    unlink(f);
    _cleanup_free_ char *nf = xasprintf("%s/a/new.conf", root);
    unlink(nf);
    rmdir(c);
    _cleanup_free_ char *b = xasprintf("%s/a/b", root), *a = xasprintf("%s/a", root);
    rmdir(b);
    rmdir(a);
    assert_int_equal(rmdir(root), 0);
    assert_int_equal(rmdir(out), 0);
    fb_runner_free(r);
}

/* The replay answers with canned outputs and checks the argv, stdin and files. */
static void test_replay_follows_golden(void **state)
{
    fb_host h = fbt_host("replay_selftest");
    kl_error err = KL_ERROR_INIT;
    _cleanup_result_ fb_result res = FB_RESULT_INIT;
    assert_int_equal(fb_run(h.run, FB_ARGV("/sbin/zfs", "list", "-H", "-o", "mountpoint", "a b"),
                            NULL, &res, &err),
                     0);
    assert_string_equal(res.out, "/zroot/kleene\n");
    assert_int_equal(fb_run(h.run, FB_ARGV("/usr/sbin/jls", "-j", "x"), NULL, &res, &err), 0);
    assert_int_equal(res.status, 1);
    assert_string_equal(res.err, "jls: jail \"x\" not found\n");
    assert_int_equal(
        fb_run(h.run, FB_ARGV("/sbin/pfctl", "-a", "kleene", "-f", "-"), "pass\nblock", &res, &err),
        0);
    assert_int_equal(fb_write_file(h.run, "/etc/x.conf", "a=1\n", 4, 0644, &err), 0);
    fb_proc p;
    assert_int_equal(fb_spawn(h.run, FB_ARGV("/usr/sbin/jexec", "x", "/bin/sh"), &p, &err), 0);
    int st;
    assert_int_equal(fb_wait(h.run, &p, -1, &st, &err), 1);
    assert_int_equal(st, 7);
    fbt_done(&h);
}

static void test_replay_detects_difference(void **state)
{
    fb_host h = fbt_host("replay_selftest");
    kl_error err = KL_ERROR_INIT;
    _cleanup_result_ fb_result res = FB_RESULT_INIT;
    assert_int_equal(fb_run(h.run, FB_ARGV("/sbin/zfs", "list", "-H", "-o", "mountpoint", "a", "b"),
                            NULL, &res, &err),
                     -1);
    assert_non_null(strstr(err.msg, "expected $ /sbin/zfs list -H -o mountpoint 'a b'"));
    kl_error fin = KL_ERROR_INIT;
    assert_int_equal(fb_replay_finish(h.run, &fin), -1);
    fb_runner_free(h.run);

    /* stopping early is a difference too */
    h = fbt_host("replay_selftest");
    assert_int_equal(fb_run(h.run, FB_ARGV("/sbin/zfs", "list", "-H", "-o", "mountpoint", "a b"),
                            NULL, &res, &err),
                     0);
    kl_error fin2 = KL_ERROR_INIT;
    assert_int_equal(fb_replay_finish(h.run, &fin2), -1);
    assert_non_null(strstr(fin2.msg, "was never done"));
    fb_runner_free(h.run);

    /* different stdin */
    h = fbt_host("replay_selftest");
    fb_run(h.run, FB_ARGV("/sbin/zfs", "list", "-H", "-o", "mountpoint", "a b"), NULL, &res, &err);
    fb_run(h.run, FB_ARGV("/usr/sbin/jls", "-j", "x"), NULL, &res, &err);
    assert_int_equal(fb_run(h.run, FB_ARGV("/sbin/pfctl", "-a", "kleene", "-f", "-"),
                            "pass\nblock\n", &res, &err),
                     -1);
    fb_runner_free(h.run);
}

/* {NAME} stands for an id kleened makes up (bound at first sight, the same afterwards, put
 * into canned outputs and effects); `% mkdir|rmdir` act on the test's directory. */
static void ids_golden(char *dir, char *golden)
{
    strcpy(dir, "/tmp/kl-test-fb-replay-XXXXXX");
    assert_non_null(mkdtemp(dir));
    snprintf(golden, 256, "%s/ids.golden", dir);
    FILE *f = fopen(golden, "we");
    assert_non_null(f);
    fprintf(f,
            "$ /sbin/zfs create -o mountpoint=%s/{L1} zroot/kleene/image/{L1}\n"
            "%% mkdir %s/{L1}/x\n"
            "$ /sbin/zfs list -H -o name zroot/kleene/image/{L1}\n"
            "> zroot/kleene/image/{L1}\n"
            "$ /sbin/zfs destroy zroot/kleene/image/{L1}\n"
            "%% rmdir %s/{L1}/x\n",
            dir, dir, dir);
    assert_int_equal(fclose(f), 0);
}

static void test_replay_ids(void **state)
{
    char dir[64], golden[256], mp[128], x[160];
    ids_golden(dir, golden);
    kl_error err = KL_ERROR_INIT;
    fb_host h = fbt_host_path(golden);
    _cleanup_result_ fb_result res = FB_RESULT_INIT;
    snprintf(mp, sizeof(mp), "mountpoint=%s/0123456789ab", dir);
    fbt_ok(fb_run(h.run,
                  FB_ARGV("/sbin/zfs", "create", "-o", mp, "zroot/kleene/image/0123456789ab"), NULL,
                  &res, &err),
           &err);
    snprintf(x, sizeof(x), "%s/0123456789ab/x", dir);
    struct stat st;
    assert_int_equal(stat(x, &st), 0); /* the effect, with the bound id */
    fb_result_free(&res);
    fbt_ok(
        fb_run(h.run,
               FB_ARGV("/sbin/zfs", "list", "-H", "-o", "name", "zroot/kleene/image/0123456789ab"),
               NULL, &res, &err),
        &err);
    assert_string_equal(res.out, "zroot/kleene/image/0123456789ab\n");
    fb_result_free(&res);
    fbt_ok(fb_run(h.run, FB_ARGV("/sbin/zfs", "destroy", "zroot/kleene/image/0123456789ab"), NULL,
                  &res, &err),
           &err);
    assert_int_equal(stat(x, &st), -1);
    fbt_done(&h);

    /* a bound name must be the same id again */
    h = fbt_host_path(golden);
    fb_result_free(&res);
    fbt_ok(fb_run(h.run,
                  FB_ARGV("/sbin/zfs", "create", "-o", mp, "zroot/kleene/image/0123456789ab"), NULL,
                  &res, &err),
           &err);
    fb_result_free(&res);
    kl_error e1 = KL_ERROR_INIT;
    assert_int_equal(
        fb_run(h.run,
               FB_ARGV("/sbin/zfs", "list", "-H", "-o", "name", "zroot/kleene/image/ba9876543210"),
               NULL, &res, &e1),
        -1);
    assert_non_null(strstr(e1.msg, "expected $ /sbin/zfs list -H -o name zroot/kleene/image/{L1}"));
    fb_runner_free(h.run);

    /* only an id binds: 12 lowercase hex */
    h = fbt_host_path(golden);
    fb_result_free(&res);
    char bad[128];
    snprintf(bad, sizeof(bad), "mountpoint=%s/0123456789AB", dir);
    kl_error e2 = KL_ERROR_INIT;
    assert_int_equal(
        fb_run(h.run, FB_ARGV("/sbin/zfs", "create", "-o", bad, "zroot/kleene/image/0123456789AB"),
               NULL, &res, &e2),
        -1);
    fb_runner_free(h.run);
    snprintf(x, sizeof(x), "%s/0123456789ab/x", dir); /* made again by the second replay */
    rmdir(x);
    snprintf(x, sizeof(x), "%s/0123456789ab", dir);
    rmdir(x);
    unlink(golden);
    assert_int_equal(rmdir(dir), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_quote),
        cmocka_unit_test(test_spawn_runner_run),
        cmocka_unit_test(test_spawn_runner_pipe_spawn_write),
        cmocka_unit_test(test_make_path),
        cmocka_unit_test(test_replay_follows_golden),
        cmocka_unit_test(test_replay_detects_difference),
        cmocka_unit_test(test_replay_ids),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
