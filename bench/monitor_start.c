/* Benchmark (not a test) of the container monitor (host/monitor.h), as root:
 *   1. host_monitor_start() call → return (the main process has been exec'd in the container);
 *   2. end to end: start /bin/true attached, receive 'Z' on the stream;
 *   3. the same without the monitor (host_container_start + host_process_wait) for reference;
 *   4. the monitor's memory with an idle `sleep` container (VmRSS, and Pss: the pages of the
 *      kleene-monitor program are shared by every monitor, and with the spare one).
 * Prints median/min/max in ms. Usage: monitor_start [runs=100] [rootfs] — without a rootfs one
 * is built in a temp dir with scripts/mk-busybox-rootfs. */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "host/monitor.h"

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
    printf("%-52s %6.2f / %6.2f / %6.2f ms (median/min/max, n=%d)\n", what, t[n / 2], t[0],
           t[n - 1], n);
}

static void wait_gone(int pid)
{
    int fd = (int)syscall(SYS_pidfd_open, pid, 0);
    if (fd < 0)
        return;
    struct pollfd p = {.fd = fd, .events = POLLIN};
    poll(&p, 1, 5000);
    close(fd);
}

static long proc_kb(int pid, const char *file, const char *key)
{
    char p[64], line[256];
    snprintf(p, sizeof(p), "/proc/%d/%s", pid, file);
    FILE *f = fopen(p, "r");
    long v = -1;
    while (f && fgets(line, sizeof(line), f))
        if (strncmp(line, key, strlen(key)) == 0)
            v = atol(line + strlen(key));
    if (f)
        fclose(f);
    return v;
}

int main(int argc, char **argv)
{
    int runs = argc > 1 ? atoi(argv[1]) : 100;
    kl_error perr = KL_ERROR_INIT;
    if (host_runtime_prepare(&perr) < 0) { /* the seccomp filter, compiled once */
        fprintf(stderr, "%s\n", perr.msg);
        return 1;
    }
    char tmp[] = "/tmp/kl-monbench-XXXXXX";
    if (!mkdtemp(tmp))
        return 1;
    char root[512], cmd[1024];
    if (argc > 2) {
        snprintf(root, sizeof(root), "%s", argv[2]);
    } else {
        snprintf(root, sizeof(root), "%s/rootfs", tmp);
        snprintf(cmd, sizeof(cmd), "%s %s", KL_MK_ROOTFS, root);
        if (system(cmd) != 0) {
            fprintf(stderr, "building the rootfs failed\n");
            return 1;
        }
    }
    double *start = calloc((size_t)runs, sizeof(double));
    double *e2e = calloc((size_t)runs, sizeof(double));
    double *bare = calloc((size_t)runs, sizeof(double));
    char *args[] = {"/bin/true", NULL};
    for (int i = -3; i < runs; i++) { /* 3 warm-up runs */
        char id[32], run_dir[600];
        snprintf(id, sizeof(id), "mbench%06d", i + 3);
        snprintf(run_dir, sizeof(run_dir), "%s/run/%s", tmp, id);
        host_monitor_spec spec = {
            .container = {.id = id, .rootfs = root, .argv = args},
            .exec_id = "main",
            .run_dir = run_dir,
            .attach = true,
        };
        host_monitor_info info;
        kl_error err = KL_ERROR_INIT;
        double t0 = now_ms();
        if (host_monitor_start(&spec, &info, &err) < 0) {
            fprintf(stderr, "run %d: %s\n", i, err.msg);
            return 1;
        }
        double t1 = now_ms();
        int code = -1;
        bool running;
        for (;;) {
            const void *d;
            size_t len;
            int r = host_monitor_stream_recv(info.stream, &d, &len, &code, &running, 10000, &err);
            if (r < 0) {
                fprintf(stderr, "run %d: %s\n", i, err.msg);
                return 1;
            }
            if (r == 0)
                break;
        }
        double t2 = now_ms();
        host_monitor_close(info.stream);
        if (code != 0) {
            fprintf(stderr, "run %d: exit code %d\n", i, code);
            return 1;
        }
        wait_gone(info.monitor_pid);
        if (i >= 0) {
            start[i] = t1 - t0;
            e2e[i] = t2 - t0;
        }

        /* reference: the runtime alone */
        snprintf(id, sizeof(id), "rbench%06d", i + 3);
        host_container_spec cs = {.id = id,
                                  .rootfs = root,
                                  .argv = args,
                                  .stdin_fd = -1,
                                  .stdout_fd = -1,
                                  .stderr_fd = -1};
        host_process p;
        t0 = now_ms();
        if (host_container_start(&cs, &p, &err) < 0 || host_process_wait(&p, -1, &code, &err) < 0) {
            fprintf(stderr, "run %d: %s\n", i, err.msg);
            return 1;
        }
        if (i >= 0)
            bare[i] = now_ms() - t0;
        host_process_release(&p);
    }
    report("host_monitor_start → main process exec'd", start, runs);
    report("start /bin/true attached → 'Z' received", e2e, runs);
    report("reference: host_container_start + wait (no monitor)", bare, runs);

    /* memory of an idle monitor */
    char *sargs[] = {"sleep", "30", NULL};
    char run_dir[600];
    snprintf(run_dir, sizeof(run_dir), "%s/run/idle", tmp);
    host_monitor_spec spec = {.container = {.id = "mbenchidle", .rootfs = root, .argv = sargs},
                              .exec_id = "main",
                              .run_dir = run_dir};
    host_monitor_info info;
    kl_error err = KL_ERROR_INIT;
    if (host_monitor_start(&spec, &info, &err) < 0) {
        fprintf(stderr, "idle: %s\n", err.msg);
        return 1;
    }
    usleep(200000);
    printf("idle monitor (sleep container): VmRSS %ld kB, Pss %ld kB, Private %ld kB\n",
           proc_kb(info.monitor_pid, "status", "VmRSS:"),
           proc_kb(info.monitor_pid, "smaps_rollup", "Pss:"),
           proc_kb(info.monitor_pid, "smaps_rollup", "Private_Dirty:") +
               proc_kb(info.monitor_pid, "smaps_rollup", "Private_Clean:"));
    printf("  RssAnon %ld kB, RssFile %ld kB, RssShmem %ld kB\n",
           proc_kb(info.monitor_pid, "status", "RssAnon:"),
           proc_kb(info.monitor_pid, "status", "RssFile:"),
           proc_kb(info.monitor_pid, "status", "RssShmem:"));
    if (getenv("MONBENCH_PAUSE")) {
        printf("monitor pid %d; press enter\n", info.monitor_pid);
        getchar();
    }
    printf("this benchmark process for comparison: VmRSS %ld kB\n",
           proc_kb((int)getpid(), "status", "VmRSS:"));
    host_monitor *m = host_monitor_connect(run_dir, &err);
    int code;
    if (!m || host_monitor_stop(m, 1000, &code, &err) < 0) {
        fprintf(stderr, "stop: %s\n", err.msg);
        return 1;
    }
    host_monitor_close(m);
    wait_gone(info.monitor_pid);
    snprintf(cmd, sizeof(cmd), "rm -rf %s", tmp);
    return system(cmd) == 0 ? 0 : 1;
}
