/* Runtime tests: real containers from a busybox rootfs in /tmp. Need root and busybox-static;
 * skipped otherwise. Everything they create (rootfs, cgroups) is removed at the end; mounts
 * live only in the containers' own mount namespaces. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "host/runtime.h"

static char root[64];
static char vol[64];
static int seq;

static int setup(void **state)
{
    (void)state;
    if (geteuid() != 0 || access("/bin/busybox", X_OK) != 0)
        return 0;
    kl_error err = KL_ERROR_INIT;
    if (host_runtime_prepare(&err) < 0) {
        fprintf(stderr, "host_runtime_prepare: %s\n", err.msg);
        return -1;
    }
    snprintf(root, sizeof(root), "/tmp/kl-rt-XXXXXX");
    if (!mkdtemp(root))
        return -1;
    snprintf(vol, sizeof(vol), "%s.vol", root);
    char cmd[1024];
    snprintf(cmd, sizeof(cmd),
             "set -e; R=%s; chmod 755 $R; mkdir -p $R/bin $R/sbin $R/usr/bin $R/usr/sbin $R/etc "
             "$R/home/www "
             "$R/tmp; cp /bin/busybox $R/bin/; chroot $R /bin/busybox --install -s; "
             "printf 'root:x:0:0:root:/root:/bin/sh\\nwww:x:1000:1000::/home/www:/bin/sh\\n' "
             "> $R/etc/passwd; printf 'root:x:0:\\nstaff:x:50:www\\nwww:x:1000:\\n' > "
             "$R/etc/group; ln -s /etc $R/etclink; mkdir -p %s; echo hi > %s/hello; "
             "echo file > %s.file",
             root, vol, vol, vol);
    return system(cmd) == 0 ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    if (!root[0])
        return 0;
    char cmd[512];
    snprintf(cmd, sizeof(cmd), "rm -rf %s %s %s.file", root, vol, vol);
    return system(cmd) == 0 ? 0 : -1;
}

#define NEED_ROOT()                                                                                \
    do {                                                                                           \
        if (geteuid() != 0 || !root[0])                                                            \
            skip();                                                                                \
    } while (0)

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void base_spec(host_container_spec *s, char *id, char **argv)
{
    snprintf(id, 32, "kltest%06d", seq++);
    *s = (host_container_spec){
        .id = id, .rootfs = root, .argv = argv, .stdin_fd = -1, .stdout_fd = -1, .stderr_fd = -1};
}

/* Start, collect stdout+stderr, wait. Returns the exit code; output in out. */
static int run(host_container_spec *s, char *out, size_t cap)
{
    int p[2];
    assert_int_equal(pipe2(p, O_CLOEXEC), 0);
    s->stdout_fd = s->stderr_fd = p[1];
    host_process proc;
    kl_error err = KL_ERROR_INIT;
    int rc = host_container_start(s, &proc, &err);
    close(p[1]);
    if (rc < 0)
        fail_msg("start: %s", err.msg);
    size_t n = 0;
    ssize_t r;
    while (n + 1 < cap && (r = read(p[0], out + n, cap - n - 1)) > 0)
        n += (size_t)r;
    out[n] = '\0';
    close(p[0]);
    int code = -1;
    assert_int_equal(host_process_wait(&proc, 10000, &code, &err), 1);
    host_process_release(&proc);
    return code;
}

static int sh(const char *script, char *out, size_t cap)
{
    char id[32];
    char *argv[] = {"sh", "-c", (char *)script, NULL};
    host_container_spec s;
    base_spec(&s, id, argv);
    return run(&s, out, cap);
}

static void test_pid1_hostname_confinement(void **state)
{
    (void)state;
    NEED_ROOT();
    char id[32], out[4096];
    char *argv[] = {"sh", "-c",
                    "echo $$; cat /proc/1/comm; hostname; grep -E '^(CapEff|CapBnd|NoNewPrivs|"
                    "Seccomp):' /proc/self/status; echo HOME=$HOME",
                    NULL};
    host_container_spec s;
    base_spec(&s, id, argv);
    s.hostname = "box1";
    assert_int_equal(run(&s, out, sizeof(out)), 0);
    assert_string_equal(out, "2\nkleene-init\nbox1\n"
                             "CapEff:\t00000000a80425fb\nCapBnd:\t00000000a80425fb\n"
                             "NoNewPrivs:\t1\nSeccomp:\t2\nHOME=/root\n");
}

static void test_mounts_are_the_containers(void **state)
{
    (void)state;
    NEED_ROOT();
    char out[8192];
    assert_int_equal(sh("cat /proc/self/mounts", out, sizeof(out)), 0);
    assert_null(strstr(out, root));     /* no host path leaks */
    assert_null(strstr(out, " /work")); /* none of the host's mounts */
    assert_non_null(strstr(out, " /proc proc "));
    assert_non_null(strstr(out, " /dev tmpfs "));
    assert_non_null(strstr(out, " /dev/pts devpts "));
    assert_non_null(strstr(out, " /sys sysfs ro,"));
    assert_non_null(strstr(out, " /proc/sys proc ro,"));
    assert_non_null(strstr(out, " /proc/keys "));
    assert_non_null(strstr(out, " /proc/timer_list "));
    /* masked and read-only for real */
    assert_int_equal(sh("test -s /proc/keys && exit 1; test -s /proc/timer_list && exit 1; echo 1 "
                        "> /proc/sys/kernel/hostname "
                        "2>/dev/null && exit 2; echo x > /dev/null; test -c /dev/urandom; "
                        "ls /proc/self/fd/ >/dev/null; mount -t tmpfs x /tmp 2>/dev/null && "
                        "exit 3; exit 0",
                        out, sizeof(out)),
                     0);
}

static void test_bind_mounts(void **state)
{
    (void)state;
    NEED_ROOT();
    char id[32], out[4096], file[80];
    snprintf(file, sizeof(file), "%s.file", vol);
    host_mount m[] = {
        {.source = vol, .destination = "/data/ro", .read_only = true},
        {.source = vol, .destination = "/etclink/../rw"},
        {.source = file, .destination = "/etclink/single"},
    };
    char *argv[] = {"sh", "-c",
                    "cat /data/ro/hello; touch /data/ro/x 2>/dev/null && echo WRITABLE; "
                    "touch /rw/y && echo rw-ok; cat /etc/single",
                    NULL};
    host_container_spec s;
    base_spec(&s, id, argv);
    s.mounts = m;
    s.n_mounts = 3;
    assert_int_equal(run(&s, out, sizeof(out)), 0);
    assert_string_equal(out, "hi\nrw-ok\nfile\n");
    char p[128];
    snprintf(p, sizeof(p), "%s/y", vol);
    assert_int_equal(access(p, F_OK), 0); /* the rw write reached the host dir */
    /* destinations were created inside the root, following the image's symlink there */
    snprintf(p, sizeof(p), "%s/etc/single", root);
    assert_int_equal(access(p, F_OK), 0);
    snprintf(p, sizeof(p), "%s/rw", root);
    assert_int_equal(access(p, F_OK), 0);
    /* a missing source is an error at start */
    host_mount bad = {.source = "/nonexistent-kl", .destination = "/x"};
    s.mounts = &bad;
    s.n_mounts = 1;
    host_process proc;
    kl_error err = KL_ERROR_INIT;
    assert_int_equal(host_container_start(&s, &proc, &err), -1);
    assert_non_null(strstr(err.msg, "/nonexistent-kl"));
    host_process_release(&proc);
}

static void test_user(void **state)
{
    (void)state;
    NEED_ROOT();
    char id[32], out[4096];
    char *argv[] = {"sh", "-c", "id -u; id -g; id -G; echo $HOME; grep CapEff /proc/self/status",
                    NULL};
    host_container_spec s;
    base_spec(&s, id, argv);
    s.user = "www";
    assert_int_equal(run(&s, out, sizeof(out)), 0);
    assert_string_equal(out, "1000\n1000\n1000 50\n/home/www\nCapEff:\t0000000000000000\n");
    s.user = "ghost";
    host_process proc;
    kl_error err = KL_ERROR_INIT;
    assert_int_equal(host_container_start(&s, &proc, &err), -1);
    assert_non_null(strstr(err.msg, "unable to find user ghost"));
    host_process_release(&proc);
}

static void test_exit_codes(void **state)
{
    (void)state;
    NEED_ROOT();
    char out[256];
    assert_int_equal(sh("exit 0", out, sizeof(out)), 0);
    assert_int_equal(sh("exit 3", out, sizeof(out)), 3);
    assert_int_equal(sh("kill -9 $$", out, sizeof(out)), 137);
    assert_int_equal(sh("kill -TERM $$", out, sizeof(out)), 143);

    /* stop: SIGTERM to every process, the main one dies of it */
    char id[32];
    char *argv[] = {"sleep", "10", NULL};
    host_container_spec s;
    base_spec(&s, id, argv);
    host_process proc;
    kl_error err = KL_ERROR_INIT;
    assert_int_equal(host_container_start(&s, &proc, &err), 0);
    int code = -1;
    double t0 = now();
    assert_int_equal(host_container_stop(&proc, 2000, &code, &err), 0);
    assert_int_equal(code, 143);
    assert_true(now() - t0 < 1.5);
    host_process_release(&proc);

    /* a process ignoring SIGTERM is killed after the grace period */
    char *argv2[] = {"sh", "-c", "trap '' TERM; sleep 5 & wait", NULL};
    base_spec(&s, id, argv2);
    assert_int_equal(host_container_start(&s, &proc, &err), 0);
    usleep(100000);
    t0 = now();
    assert_int_equal(host_container_stop(&proc, 300, &code, &err), 0);
    assert_int_equal(code, 137);
    assert_true(now() - t0 >= 0.29);
    host_process_release(&proc);

    /* a command that cannot be executed is reported by start */
    char *argv3[] = {"/no/such/cmd", NULL};
    base_spec(&s, id, argv3);
    assert_int_equal(host_container_start(&s, &proc, &err), -1);
    assert_non_null(strstr(err.msg, "executing /no/such/cmd: No such file or directory"));
    host_process_release(&proc);
}

static void test_reaper_waits_for_background(void **state)
{
    (void)state;
    NEED_ROOT();
    char out[256];
    double t0 = now();
    assert_int_equal(sh("sleep 0.3 & exit 5", out, sizeof(out)), 5);
    double dt = now() - t0;
    assert_true(dt >= 0.3);
    assert_true(dt < 2.0);
}

static void test_exec_joins(void **state)
{
    (void)state;
    NEED_ROOT();
    char id[32], out[4096];
    char *argv[] = {"sleep", "10", NULL};
    host_container_spec s;
    base_spec(&s, id, argv);
    s.hostname = "joined";
    host_process ctr;
    kl_error err = KL_ERROR_INIT;
    assert_int_equal(host_container_start(&s, &ctr, &err), 0);

    int p[2];
    assert_int_equal(pipe2(p, O_CLOEXEC), 0);
    char *xargv[] = {"sh", "-c",
                     "cat /proc/1/comm; hostname; id -u; pwd; echo $FOO; "
                     "grep -E '^(CapEff|NoNewPrivs|Seccomp):' /proc/self/status; "
                     "ps -o comm | grep -c sleep",
                     NULL};
    char *env[] = {"FOO=bar", NULL};
    host_exec_spec x = {.container_pid = ctr.pid,
                        .argv = xargv,
                        .env = env,
                        .user = "www",
                        .cwd = "/home/www",
                        .stdin_fd = -1,
                        .stdout_fd = p[1],
                        .stderr_fd = p[1]};
    host_process ex;
    if (host_exec_start(&x, &ex, &err) < 0)
        fail_msg("exec: %s", err.msg);
    close(p[1]);
    size_t n = 0;
    ssize_t r;
    while ((r = read(p[0], out + n, sizeof(out) - n - 1)) > 0)
        n += (size_t)r;
    out[n] = '\0';
    close(p[0]);
    int code = -1;
    assert_int_equal(host_process_wait(&ex, 5000, &code, &err), 1);
    assert_int_equal(code, 0);
    host_process_release(&ex);
    assert_string_equal(out,
                        "kleene-init\njoined\n1000\n/home/www\nbar\nCapEff:\t0000000000000000\n"
                        "NoNewPrivs:\t1\nSeccomp:\t2\n1\n");

    /* with a tty */
    char *targv[] = {"sh", "-c", "tty; test -t 0 && echo T; stty size", NULL};
    host_exec_spec t = {
        .container_pid = ctr.pid, .argv = targv, .tty = true, .tty_rows = 24, .tty_cols = 80};
    assert_int_equal(host_exec_start(&t, &ex, &err), 0);
    assert_true(ex.pty_fd >= 0);
    n = 0;
    while ((r = read(ex.pty_fd, out + n, sizeof(out) - n - 1)) > 0)
        n += (size_t)r; /* EIO once the last slave fd closes */
    out[n] = '\0';
    assert_int_equal(host_process_wait(&ex, 5000, &code, &err), 1);
    host_process_release(&ex);
    assert_string_equal(out, "/dev/pts/0\r\nT\r\n24 80\r\n");

    /* an exec'd process keeps the container alive after its main process ended */
    char *largv[] = {"sleep", "0.4", NULL};
    host_exec_spec l = {
        .container_pid = ctr.pid, .argv = largv, .stdin_fd = -1, .stdout_fd = -1, .stderr_fd = -1};
    assert_int_equal(host_exec_start(&l, &ex, &err), 0);
    assert_int_equal(host_container_signal_all(&ctr, SIGKILL, &err), 0);
    /* the exec'd process must be reaped first: the kernel lets the reaper finish dying only
     * once every process of its namespace has been released */
    assert_int_equal(host_process_wait(&ex, 5000, &code, &err), 1);
    assert_int_equal(code, 137); /* killed with its container */
    assert_int_equal(host_process_wait(&ctr, 5000, &code, &err), 1);
    assert_int_equal(code, 137);
    host_process_release(&ex);
    host_process_release(&ctr);

    char *sargv[] = {"sh", "-c", "exit 7", NULL};
    base_spec(&s, id, sargv);
    assert_int_equal(host_container_start(&s, &ctr, &err), 0);
    /* (the container may already be gone: exec then fails cleanly) */
    assert_int_equal(host_process_wait(&ctr, 5000, &code, &err), 1);
    assert_int_equal(code, 7);
    host_process_release(&ctr);

    char *main2[] = {"sleep", "0.1", NULL};
    base_spec(&s, id, main2);
    assert_int_equal(host_container_start(&s, &ctr, &err), 0);
    char *long2[] = {"sleep", "0.5", NULL};
    l.container_pid = ctr.pid;
    l.argv = long2;
    assert_int_equal(host_exec_start(&l, &ex, &err), 0);
    /* the main sleep ends after 0.1 s, the container lives on with the exec'd one */
    assert_int_equal(host_process_wait(&ctr, 300, &code, &err), 0);
    assert_int_equal(host_process_wait(&ex, 5000, &code, &err), 1);
    assert_int_equal(code, 0);
    assert_int_equal(host_process_wait(&ctr, 5000, &code, &err), 1);
    assert_int_equal(code, 0);
    host_process_release(&ex);
    host_process_release(&ctr);
}

static void test_memory_cgroup(void **state)
{
    (void)state;
    NEED_ROOT();
    char id[32];
    char *argv[] = {"sleep", "10", NULL};
    host_container_spec s;
    base_spec(&s, id, argv);
    s.limits.memory_bytes = 32 << 20;
    s.limits.pids_max = 50;
    host_process ctr;
    kl_error err = KL_ERROR_INIT;
    assert_int_equal(host_container_start(&s, &ctr, &err), 0);
    char p[128], line[512], dir[512] = "";
    snprintf(p, sizeof(p), "/proc/%d/cgroup", ctr.pid);
    FILE *f = fopen(p, "r");
    assert_non_null(f);
    while (fgets(line, sizeof(line), f)) {
        char *m = strstr(line, ":memory:");
        if (m) {
            line[strcspn(line, "\n")] = '\0';
            snprintf(dir, sizeof(dir), "/sys/fs/cgroup/memory%s", m + 8);
        }
    }
    fclose(f);
    if (!dir[0] || access("/sys/fs/cgroup/memory", F_OK) != 0) {
        host_container_signal_all(&ctr, SIGKILL, &err);
        host_process_wait(&ctr, -1, &(int){0}, &err);
        host_process_release(&ctr);
        skip(); /* not a v1 memory host */
    }
    char suffix[64];
    snprintf(suffix, sizeof(suffix), "/kleene/%s", id);
    assert_non_null(strstr(dir, suffix));
    snprintf(p, sizeof(p), "%s/memory.limit_in_bytes", dir);
    f = fopen(p, "r");
    assert_non_null(f);
    assert_non_null(fgets(line, sizeof(line), f));
    fclose(f);
    assert_string_equal(line, "33554432\n");
    int code;
    assert_int_equal(host_container_stop(&ctr, 1000, &code, &err), 0);
    assert_int_equal(code, 143);
    host_process_release(&ctr);
    assert_int_equal(access(dir, F_OK), -1); /* removed */

    /* the limit bites: allocating 100 MB gets the main process OOM-killed */
    char *big[] = {"dd", "if=/dev/zero", "of=/dev/null", "bs=100M", "count=1", NULL};
    base_spec(&s, id, big);
    s.limits.memory_bytes = 32 << 20;
    char out[1024];
    assert_int_equal(run(&s, out, sizeof(out)), 137);
}

static void test_netns_and_jailparams(void **state)
{
    (void)state;
    NEED_ROOT();
    char id[32], out[4096];
    char *argv[] = {"sh", "-c",
                    "ls /sys/class/net | tr '\\n' ' '; env | sort | tr '\\n' ' '; "
                    "grep CapEff /proc/self/status; ls /dev/null 2>&1 | head -1",
                    NULL};
    char *params[] = {"host.hostname=jp", "allow.raw_sockets=false", "exec.clean",
                      "exec.jail_user=www", NULL};
    char *env[] = {"A=1", "PATH=/bin", NULL};
    host_jailparams jp;
    kl_error err = KL_ERROR_INIT;
    assert_int_equal(host_jailparams_parse(params, &jp, &err), 0);
    host_container_spec s;
    base_spec(&s, id, argv);
    s.env = env;
    host_jailparams_apply(&jp, &s);
    assert_int_equal(run(&s, out, sizeof(out)), 0);
    host_jailparams_free(&jp);
    assert_string_equal(out, "lo A=1 HOME=/home/www HOSTNAME=jp LOGNAME=www PATH=/bin PWD=/ "
                             "SHELL=/bin/sh SHLVL=1 USER=www CapEff:\t0000000000000000\n"
                             "/dev/null\n");
    /* root without NET_RAW */
    char *argv2[] = {"sh", "-c", "grep CapEff /proc/self/status", NULL};
    base_spec(&s, id, argv2);
    s.no_raw_sockets = true;
    s.cap_add = (char *[]){"CAP_SYS_PTRACE", NULL};
    assert_int_equal(run(&s, out, sizeof(out)), 0);
    assert_string_equal(out, "CapEff:\t00000000a80c05fb\n");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pid1_hostname_confinement),
        cmocka_unit_test(test_mounts_are_the_containers),
        cmocka_unit_test(test_bind_mounts),
        cmocka_unit_test(test_user),
        cmocka_unit_test(test_exit_codes),
        cmocka_unit_test(test_reaper_waits_for_background),
        cmocka_unit_test(test_exec_joins),
        cmocka_unit_test(test_memory_cgroup),
        cmocka_unit_test(test_netns_and_jailparams),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
