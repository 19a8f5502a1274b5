/* What runs in a container (its pid namespace, read from /proc) and what it uses (its
 * cgroups, cgroups.c), for Docker's top and stats. Read-only. */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "host/linux/internal.h"
#include "host/runtime.h"
#include "lib/buf.h"
#include "lib/cleanup.h"
#include "lib/xalloc.h"

long host_clock_ticks(void)
{
    long t = sysconf(_SC_CLK_TCK);
    return t > 0 ? t : 100;
}

double host_uptime(void)
{
    _cleanup_fclose_ FILE *f = fopen("/proc/uptime", "re");
    double up = 0;
    if (!f || fscanf(f, "%lf", &up) != 1)
        return 0;
    return up;
}

/* /proc/<pid>/stat: state, ppid, utime+stime, starttime. -1 when unreadable. */
static int read_stat(int dfd, host_proc *p)
{
    _cleanup_close_ int fd = openat(dfd, "stat", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    char buf[2048];
    ssize_t n = KL_RETRY_EINTR(read(fd, buf, sizeof(buf) - 1));
    if (n <= 0)
        return -1;
    buf[n] = '\0';
    char *rp = strrchr(buf, ')'); /* the command may contain spaces and parentheses */
    if (!rp)
        return -1;
    char state;
    int ppid;
    unsigned long long ut, st, start;
    /* fields 3.. after ") ": state ppid pgrp session tty tpgid flags minflt cminflt majflt
     * cmajflt utime stime cutime cstime priority nice threads itrealvalue starttime */
    if (sscanf(rp + 2,
               "%c %d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu %*d %*d %*d %*d %*d %*d %llu",
               &state, &ppid, &ut, &st, &start) != 5)
        return -1;
    p->state = state;
    p->ppid = ppid;
    p->cpu_ticks = ut + st;
    p->start_ticks = start;
    if (!p->cmd) {
        char *lp = strchr(buf, '(');
        if (lp && rp > lp)
            p->cmd = xasprintf("[%.*s]", (int)(rp - lp - 1), lp + 1);
    }
    return 0;
}

static char *read_cmdline(int dfd)
{
    _cleanup_close_ int fd = openat(dfd, "cmdline", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return NULL;
    _cleanup_buf_ kl_buf b = KL_BUF_INIT;
    char buf[4096];
    ssize_t n;
    while (b.len < 65536 && (n = KL_RETRY_EINTR(read(fd, buf, sizeof(buf)))) > 0)
        kl_buf_append(&b, buf, (size_t)n);
    while (b.len && b.data[b.len - 1] == '\0')
        b.len--;
    if (!b.len)
        return NULL;
    for (size_t i = 0; i < b.len; i++)
        if (b.data[i] == '\0')
            b.data[i] = ' ';
    return xstrndup(b.data, b.len);
}

static int cmp_pid(const void *a, const void *b)
{
    const host_proc *x = a, *y = b;
    return x->pid - y->pid;
}

int host_container_procs(int pid, host_proc **out, size_t *n_out, kl_error *err)
{
    *out = NULL;
    *n_out = 0;
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/ns/pid", pid);
    struct stat ns;
    if (stat(path, &ns) < 0)
        return kl_error_errno(err, errno == ENOENT ? ESRCH : errno, "reading %s", path);
    _cleanup_closedir_ DIR *d = opendir("/proc");
    if (!d)
        return kl_error_errno(err, errno, "opening /proc");
    size_t n = 0, cap = 16;
    host_proc *ps = xcalloc(cap, sizeof(*ps));
    struct dirent *de;
    while ((de = readdir(d))) {
        if (!isdigit((unsigned char)de->d_name[0]))
            continue;
        _cleanup_close_ int dfd = openat(dirfd(d), de->d_name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0)
            continue;
        struct stat st, dst;
        if (fstatat(dfd, "ns/pid", &st, 0) < 0 || st.st_ino != ns.st_ino ||
            st.st_dev != ns.st_dev || fstat(dfd, &dst) < 0)
            continue;
        if (n == cap)
            ps = xrealloc(ps, (cap *= 2) * sizeof(*ps));
        host_proc *p = &ps[n];
        *p = (host_proc){.pid = atoi(de->d_name), .uid = dst.st_uid};
        p->cmd = read_cmdline(dfd);
        if (read_stat(dfd, p) < 0) { /* gone meanwhile */
            free(p->cmd);
            continue;
        }
        n++;
    }
    qsort(ps, n, sizeof(*ps), cmp_pid);
    /* the reaper first */
    for (size_t i = 0; i < n; i++)
        if (ps[i].pid == pid && i) {
            host_proc r = ps[i];
            memmove(&ps[1], &ps[0], i * sizeof(*ps));
            ps[0] = r;
        }
    *out = ps;
    *n_out = n;
    return 0;
}

void host_procs_free(host_proc *p, size_t n)
{
    for (size_t i = 0; p && i < n; i++)
        free(p[i].cmd);
    free(p);
}

static long long system_cpu_ns(int *ncpu)
{
    _cleanup_fclose_ FILE *f = fopen("/proc/stat", "re");
    char line[512];
    long long total = -1;
    *ncpu = 0;
    while (f && fgets(line, sizeof(line), f)) {
        if (!strncmp(line, "cpu ", 4)) {
            unsigned long long v[8] = {0};
            if (sscanf(line + 4, "%llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2],
                       &v[3], &v[4], &v[5], &v[6], &v[7]) >= 4) {
                unsigned long long t = 0;
                for (int i = 0; i < 8; i++)
                    t += v[i];
                total = (long long)(t * (1000000000ULL / (unsigned long long)host_clock_ticks()));
            }
        } else if (!strncmp(line, "cpu", 3) && isdigit((unsigned char)line[3])) {
            (*ncpu)++;
        }
    }
    return total;
}

int host_container_usage(int pid, host_usage *out, kl_error *err)
{
    *out = (host_usage){.mem_bytes = -1, .mem_limit = 0, .cpu_ns = -1, .pids = -1};
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d", pid);
    if (access(path, F_OK) < 0)
        return kl_error_errno(err, ESRCH, "container process %d", pid);
    cgroups_usage_of_pid(pid, &out->mem_bytes, &out->mem_limit, &out->cpu_ns, &out->pids);
    if (out->cpu_ns < 0 || out->mem_bytes < 0 || out->pids < 0) {
        /* no cgroup of ours for some of it: what its processes use */
        host_proc *ps;
        size_t n;
        if (host_container_procs(pid, &ps, &n, err) == 0) {
            unsigned long long t = 0;
            long long rss = 0;
            long page = sysconf(_SC_PAGESIZE);
            for (size_t i = 0; i < n; i++) {
                t += ps[i].cpu_ticks;
                char sp[64];
                snprintf(sp, sizeof(sp), "/proc/%d/statm", ps[i].pid);
                _cleanup_fclose_ FILE *f = fopen(sp, "re");
                long long size, res;
                if (f && fscanf(f, "%lld %lld", &size, &res) == 2)
                    rss += res * page;
            }
            host_procs_free(ps, n);
            if (out->cpu_ns < 0)
                out->cpu_ns =
                    (long long)(t * (1000000000ULL / (unsigned long long)host_clock_ticks()));
            if (out->mem_bytes < 0)
                out->mem_bytes = rss;
            if (out->pids < 0)
                out->pids = (long long)n;
        }
    }
    out->system_ns = system_cpu_ns(&out->ncpu);
    return 0;
}
