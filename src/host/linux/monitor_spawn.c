/* kleened's side of starting a container monitor (host_monitor_start, host/monitor.h): find the
 * kleene-monitor program, spawn it, hand it the spec and wait for its first reply.
 *
 * The double fork: posix_spawn (vfork-like: kleened's address space is never copied) runs
 * kleene-monitor in a new session with the status socket on fd 3; that process forks the
 * monitor and exits (monitor_main.c), so the monitor is reparented away from kleened, is no
 * session leader, and survives kleened. The monitor then waits for the spec record
 * (monitor_spec.h, with the compiled seccomp filter) on the status socket, and answers there
 * ('R' with its pids, or 'X' with the error). One such monitor is kept spare (below).
 *
 * It must not: run anything but the kleene-monitor that host_helper_path finds (its own build
 * tree's, or the install's; see monitor_program). */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <linux/filter.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "host/helpers.h"
#include "host/linux/internal.h"
#include "host/monitor_proto.h"
#include "host/linux/monitor_spec.h"
#include "host/monitor.h"
#include "lib/buf.h"
#include "lib/cleanup.h"
#include "lib/jsonx.h"
#include "lib/xalloc.h"

#define MONITOR_NAME "kleene-monitor"

/* Where kleene-monitor is: host_helper_path (host/helpers.h), the same search as for every
 * helper program; remembered once found, since every container start needs it. */
static pthread_mutex_t program_lock = PTHREAD_MUTEX_INITIALIZER;
static char *program;

const char *monitor_program(kl_error *err)
{
    pthread_mutex_lock(&program_lock);
    if (!program) {
        kl_error herr = KL_ERROR_INIT;
        program = host_helper_path(MONITOR_NAME, &herr);
        if (!program)
            kl_error_set(err, ENOENT,
                         "the container monitor program is missing: %s; install it with kleened "
                         "(meson install)",
                         herr.msg);
    }
    const char *p = program;
    pthread_mutex_unlock(&program_lock);
    return p;
}

/* Start a kleene-monitor waiting for its spec; returns our end of its status socket (its fd 3).
 * posix_spawn runs the program in a new session; it forks the monitor and exits (the double
 * fork, monitor_main.c), which is waited for here (host_monitor_launch_, monitor_launch.c). */
static int spawn(const char *prog, kl_error *err)
{
    char *argv[] = {MONITOR_NAME, NULL};
    return host_monitor_launch_(prog, argv, err);
}

/* The spare: one monitor started ahead of need, waiting for a spec. Starting a program costs
 * most of a millisecond before main (exec, and glibc's start-up, whose CPUID probes are slow
 * in a VM); with a spare that happens while the previous container sets up, off the start
 * path. Made after the first start (an idle kleened has none); a start without one spawns
 * its own. It exits when our end closes (EOF instead of a spec), also when we die. */
static struct {
    pthread_mutex_t lock;
    int fd;      /* our end of its status socket, -1 when there is none */
    pid_t owner; /* who spawned it: a fork of that process must not use it */
} spare = {PTHREAD_MUTEX_INITIALIZER, -1, 0};

static int spare_take(void)
{
    int fd = -1;
    pthread_mutex_lock(&spare.lock);
    if (spare.fd >= 0 && spare.owner == getpid())
        fd = steal_fd(&spare.fd);
    pthread_mutex_unlock(&spare.lock);
    return fd;
}

static void spare_put(int fd)
{
    pthread_mutex_lock(&spare.lock);
    if (spare.fd >= 0 && spare.owner == getpid()) {
        pthread_mutex_unlock(&spare.lock);
        close(fd); /* another start made one meanwhile; this one ends at EOF */
        return;
    }
    if (spare.fd >= 0)
        close(spare.fd); /* our copy of the spare of the process we were forked from */
    spare.fd = fd;
    spare.owner = getpid();
    pthread_mutex_unlock(&spare.lock);
}

static int send_all(int fd, const void *data, size_t len)
{
    const char *p = data;
    while (len) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

int host_monitor_start(const host_monitor_spec *spec, host_monitor_info *out, kl_error *err)
{
    *out = (host_monitor_info){.monitor_pid = -1, .container_pid = -1};
    if (!spec->run_dir || spec->run_dir[0] != '/')
        return kl_error_set(err, EINVAL, "monitor: run_dir must be an absolute path");
    const char *prog = monitor_program(err);
    if (!prog)
        return -1;
    /* Compiled here once and handed to every monitor, which has no compiler. */
    if (!spec->container.no_seccomp && seccomp_default_prepare(err) < 0)
        return kl_error_prefix(err, "container %s", spec->container.id);
    const struct sock_fprog *filter = seccomp_default_program();

    _cleanup_buf_ kl_buf rec = KL_BUF_INIT;
    kl_buf_append(&rec, "\0\0\0\0\0", MON_HDR);
    monitor_spec_encode(spec, filter ? filter->filter : NULL,
                        filter ? filter->len * sizeof(struct sock_filter) : 0, &rec);
    if (rec.len - MON_HDR > MON_SPEC_MAX)
        return kl_error_set(err, E2BIG, "container %s: spec too large", spec->container.id);
    mon_hdr_put((unsigned char *)rec.data, MON_SPEC, rec.len - MON_HDR);

    /* A spare that is gone (killed, or of a kleene-monitor since replaced by one that fails)
     * refuses the spec: then a new monitor gets it. */
    _cleanup_close_ int fd = spare_take();
    if (fd < 0 || send_all(fd, rec.data, rec.len) < 0) {
        if (fd >= 0)
            close(steal_fd(&fd));
        fd = spawn(prog, err);
        if (fd < 0)
            return kl_error_prefix(err, "container %s", spec->container.id);
        /* If the monitor fails before it has read all of it, the send fails, and its error
         * reply, if it sent one, is read below. */
        (void)send_all(fd, rec.data, rec.len);
    }
    /* The next start's spare, while this monitor sets up its container. */
    kl_error ignored = KL_ERROR_INIT;
    int next = spawn(prog, &ignored);
    if (next >= 0)
        spare_put(next);

    host_monitor *m = host_monitor_wrap_fd_(steal_fd(&fd), spec->run_dir);
    char type;
    const unsigned char *p;
    size_t len;
    if (host_monitor_recv_(m, &type, &p, &len, 120000, err) < 0) {
        host_monitor_close(m);
        return kl_error_prefix(err, "monitor of %s", spec->container.id);
    }
    _cleanup_json_ json_t *j = json_loadb((const char *)p, len, 0, NULL);
    if (type != MON_REPLY) {
        kl_error_set(err, EIO, "%s", jx_str(j, "error", "monitor failed"));
        host_monitor_close(m);
        return -1;
    }
    out->monitor_pid = (int)jx_int(j, "monitor_pid", -1);
    out->container_pid = (int)jx_int(j, "container_pid", -1);
    if (spec->attach)
        out->stream = m;
    else
        host_monitor_close(m);
    return 0;
}
