/* kleene-monitor: the container monitor program (docs/monitor.md). kleened spawns it, one per
 * container, with host_monitor_start (monitor_spawn.c): in a new session (setsid), with the
 * status socket on fd 3, on which kleened writes the spec record (monitor_spec.h) when it has
 * a container for it (possibly much later: kleened keeps one monitor spare).
 *
 * This process is the intermediate of the double fork: it forks the monitor and exits, so the
 * monitor is neither kleened's child nor a session leader, and survives kleened. The fork also
 * leaves start-up behind: the monitor maps only the pages it touches after it (file pages are
 * not copied by fork), which keeps its resident set smaller. The monitor reads the spec (EOF:
 * kleened is gone or did not need it; it exits), keeps the seccomp program kleened compiled,
 * and becomes monitor_run().
 *
 * A program of its own, rather than a fork of kleened, so that an idle monitor holds only
 * what it uses: built statically where the toolchain allows (libc, jansson, libcap), it maps
 * no shared library at all (DESIGN.md §8: a monitor ≤ 1 MB).
 *
 * It must not: be run by hand (it only serves the kleened that spawned it, and says so). */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "host/linux/internal.h"
#include "host/monitor_proto.h"
#include "host/linux/monitor_spec.h"
#include "lib/xalloc.h"

#define STATUS_FD 3

static void noop_handler(int sig)
{
    (void)sig;
}

/* What a process spawned by kleened may have inherited: an environment, stdio, stray fds,
 * ignored or blocked signals, a umask, a cwd. The container's pid 1 is a fork of the monitor
 * (its /proc/1/environ is the monitor's) and its processes inherit the signal mask, the
 * ignored signals and the umask: none of kleened's may reach them. kleened passes an empty
 * environment; one given by anything else is wiped from memory too. */
static void sanitize(void)
{
    extern char **environ;
    for (char **e = environ; e && *e; e++)
        explicit_bzero(*e, strlen(*e));
    clearenv();
    syscall(SYS_close_range, (unsigned)STATUS_FD + 1, ~0U, 0U);
    int null = open("/dev/null", O_RDWR);
    if (null >= 0) {
        for (int i = 0; i < 3; i++)
            if (null != i)
                dup2(null, i);
        if (null > 2)
            close(null);
    }
    /* Every signal at its default, libc's internal ones (32, 33: refused by sigaction, and
     * left ignored by posix_spawn) included: the kernel's own call. */
    struct {
        void *handler;
        unsigned long flags;
        void *restorer;
        unsigned long mask;
    } dfl = {0};
    for (int sig = 1; sig <= 64; sig++)
        if (sig != SIGKILL && sig != SIGSTOP)
            syscall(SYS_rt_sigaction, sig, &dfl, NULL, sizeof(dfl.mask));
    /* Writing to a closed stdin pipe must not kill us; a handler (unlike SIG_IGN) is not
     * inherited by the processes we start. */
    struct sigaction sa = {.sa_handler = noop_handler};
    sigaction(SIGPIPE, &sa, NULL);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    umask(022);
    if (chdir("/") < 0) {
        /* nothing to do: / always exists */
    }
}

static bool read_full(int fd, void *buf, size_t len)
{
    unsigned char *p = buf;
    while (len) {
        ssize_t n = read(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return false;
        p += n;
        len -= (size_t)n;
    }
    return true;
}

int main(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    struct stat st;
    if (fstat(STATUS_FD, &st) < 0 || !S_ISSOCK(st.st_mode)) {
        fprintf(stderr, "kleene-monitor: started by kleened only (no status socket on fd %d)\n",
                STATUS_FD);
        return 2;
    }
    sanitize();
    pid_t pid = fork();
    if (pid != 0)
        _exit(pid < 0 ? 1 : 0);
    unsigned char h[MON_HDR];
    if (!read_full(STATUS_FD, h, sizeof(h)))
        _exit(1); /* kleened is gone */
    size_t len = mon_hdr_len(h);
    if (h[0] != MON_SPEC || len > MON_SPEC_MAX)
        monitor_fail(STATUS_FD, "kleene-monitor: no spec from kleened");
    unsigned char *data = xmalloc(len ? len : 1);
    if (!read_full(STATUS_FD, data, len))
        _exit(1);
    monitor_spec_decoded d;
    kl_error err = KL_ERROR_INIT;
    if (monitor_spec_decode(data, len, &d, &err) < 0 ||
        (d.filter_len && seccomp_default_set_copy(d.filter, d.filter_len, &err) < 0))
        monitor_fail(STATUS_FD, err.msg);
    /* data and d live as long as the monitor */
    monitor_run(&d.spec, STATUS_FD);
}
