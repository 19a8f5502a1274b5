/* Benchmark (not a test): start-to-exit of /bin/true in a busybox rootfs through
 * host_container_start() + host_process_wait(), against
 * `unshare --fork --pid --mount --net --uts --ipc chroot R /bin/true` measured in the same run.
 * Prints median/min/max in ms and the ratio. Needs root and busybox-static.
 * Usage: runtime_start [runs=200] [rootfs] — without a rootfs one is built in /tmp. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "host/runtime.h"

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void report(const char *what, double *t, int n)
{
    qsort(t, (size_t)n, sizeof(double), cmp);
    printf("%-58s %6.2f / %6.2f / %6.2f ms (median/min/max, n=%d)\n", what, t[n / 2], t[0],
           t[n - 1], n);
}

static int run_cmd(char *const argv[])
{
    pid_t pid = fork();
    if (pid == 0) {
        execvp(argv[0], argv);
        _exit(127);
    }
    int st;
    waitpid(pid, &st, 0);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

int main(int argc, char **argv)
{
    int runs = argc > 1 ? atoi(argv[1]) : 200;
    kl_error perr = KL_ERROR_INIT;
    if (host_runtime_prepare(&perr) < 0) { /* the seccomp filter, compiled once */
        fprintf(stderr, "%s\n", perr.msg);
        return 1;
    }
    char root[256];
    if (argc > 2) {
        snprintf(root, sizeof(root), "%s", argv[2]);
    } else {
        char tmpl[] = "/tmp/kl-bench-XXXXXX";
        if (!mkdtemp(tmpl))
            return 1;
        snprintf(root, sizeof(root), "%s", tmpl);
        char cmd[1024];
        snprintf(
            cmd, sizeof(cmd),
            "mkdir -p %s/bin %s/sbin %s/usr/bin %s/usr/sbin %s/etc && cp /bin/busybox %s/bin/ && "
            "chroot %s /bin/busybox --install -s",
            root, root, root, root, root, root, root);
        if (system(cmd) != 0) {
            fprintf(stderr, "building the rootfs failed\n");
            return 1;
        }
    }
    double *ours = calloc((size_t)runs, sizeof(double));
    double *peer = calloc((size_t)runs, sizeof(double));
    double *nocg = calloc((size_t)runs, sizeof(double));
    char *args[] = {"/bin/true", NULL};
    char *uargs[] = {"unshare", "--fork", "--pid", "--mount",   "--net", "--uts",
                     "--ipc",   "chroot", root,    "/bin/true", NULL};
    for (int i = 0; i < 3; i++) /* warm-up */
        run_cmd(uargs);
    for (int i = 0; i < runs; i++) {
        for (int pass = 0; pass < 2; pass++) {
            char id[32];
            snprintf(id, sizeof(id), "bench%06d", i);
            host_container_spec spec = {.id = id,
                                        .rootfs = root,
                                        .argv = args,
                                        .stdin_fd = -1,
                                        .stdout_fd = -1,
                                        .stderr_fd = -1};
            if (pass == 1)
                spec.limits.memory_bytes = 64 << 20;
            host_process p;
            kl_error err = KL_ERROR_INIT;
            double t0 = now_ms();
            int code = -1;
            if (host_container_start(&spec, &p, &err) < 0 ||
                host_process_wait(&p, -1, &code, &err) < 0) {
                fprintf(stderr, "run %d: %s\n", i, err.msg);
                return 1;
            }
            (pass ? ours : nocg)[i] = now_ms() - t0;
            host_process_release(&p);
            if (code != 0) {
                fprintf(stderr, "run %d: exit code %d\n", i, code);
                return 1;
            }
        }
        double t0 = now_ms();
        if (run_cmd(uargs) != 0) {
            fprintf(stderr, "unshare failed\n");
            return 1;
        }
        peer[i] = now_ms() - t0;
    }
    report("host_container_start+wait (memory+pids cgroups, 64M limit)", ours, runs);
    report("host_container_start+wait (memory+pids cgroups, no limit)", nocg, runs);
    report("unshare --fork --pid --mount --net --uts --ipc chroot", peer, runs);
    printf("ratio ours/unshare (median): %.2f\n", ours[runs / 2] / peer[runs / 2]);
    if (argc <= 2) {
        char cmd[512];
        snprintf(cmd, sizeof(cmd), "rm -rf %s", root);
        if (system(cmd) != 0)
            return 1;
    }
    return 0;
}
