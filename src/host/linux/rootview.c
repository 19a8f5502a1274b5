/* A container's filesystem as its processes see it, for copies in and out (docker cp,
 * engine/ctrcopy.c): the root of a running container through its reaper, or a stopped
 * container's layer stack and mounts in a mount namespace no process is in.
 *
 * Both hand out a directory fd only; every path below it is resolved with RESOLVE_IN_ROOT
 * by the caller (host_open_in_root), so a symlink of the container can never lead to the
 * host's files. Nothing here is mounted in kleened's namespace or any other that outlives
 * the fds. */
#include "host/runtime.h"
#include "host/storage.h"
#include "host/linux/internal.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/cleanup.h"
#include "lib/xalloc.h"

/* The parent pid from /proc/<pid>/stat read through that process's own directory fd. */
static int stat_ppid(int procfd)
{
    _cleanup_close_ int fd = openat(procfd, "stat", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    char buf[1024];
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    if (n <= 0)
        return -1;
    buf[n] = '\0';
    /* "pid (comm) state ppid ...": comm may hold anything, the last ')' ends it */
    char *p = strrchr(buf, ')');
    if (!p)
        return -1;
    char state;
    int ppid;
    if (sscanf(p + 1, " %c %d", &state, &ppid) != 2)
        return -1;
    return ppid;
}

int host_process_root_open(int pid, int parent_pid, kl_error *err)
{
    if (pid <= 1)
        return kl_error_set(err, ESRCH, "the container does not run");
    char path[32];
    snprintf(path, sizeof(path), "/proc/%d", pid);
    /* A /proc/<pid> directory fd stays bound to the process it was opened for: once that one
     * has ended, nothing opened through it reaches another process that got the pid. */
    _cleanup_close_ int procfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (procfd < 0)
        return kl_error_errno(err, errno == ENOENT ? ESRCH : errno, "the container's process %d",
                              pid);
    int rootfd = openat(procfd, "root", O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (rootfd < 0)
        return kl_error_errno(err, errno == ENOENT ? ESRCH : errno,
                              "the root of the container's process %d", pid);
    /* Read after the root was opened: the same process, alive then, and the monitor's. */
    if (stat_ppid(procfd) != parent_pid) {
        close(rootfd);
        return kl_error_set(err, ESRCH, "the container's process %d has ended", pid);
    }
    return rootfd;
}

typedef struct mounted_view {
    const char *const *lowers;
    size_t n;
    const char *upper, *work, *target;
    const host_mount *mounts;
    size_t n_mounts;
    char *const *denied;
    int fd, hold;
    kl_error err;
} mounted_view;

static void *mounted_view_main(void *arg)
{
    mounted_view *v = arg;
    /* A mount namespace of this thread alone, private (nothing mounted here propagates to the
     * namespace it was copied from); it outlives the thread only through v->hold. */
    if (unshare(CLONE_NEWNS) < 0) {
        kl_error_errno(&v->err, errno, "creating a mount namespace");
        return NULL;
    }
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) {
        kl_error_errno(&v->err, errno, "making / private");
        return NULL;
    }
    if (host_rootfs_mount(v->lowers, v->n, v->upper, v->work, v->target, &v->err) < 0)
        return NULL;
    _cleanup_close_ int rootfd = open(v->target, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (rootfd < 0) {
        kl_error_errno(&v->err, errno, "opening %s", v->target);
        return NULL;
    }
    /* The container's volumes and bind mounts where a start puts them (runtime.c), so that a
     * copy sees and writes what the container would. Safe with a user's paths: the same
     * checks as at a start (sources, destinations resolved inside the root). */
    for (size_t i = 0; i < v->n_mounts; i++)
        if (setup_user_mount(rootfd, &v->mounts[i], v->denied, &v->err) < 0)
            return NULL;
    int hold = open("/proc/thread-self/ns/mnt", O_RDONLY | O_CLOEXEC);
    if (hold < 0) {
        kl_error_errno(&v->err, errno, "opening the mount namespace");
        return NULL;
    }
    v->hold = hold;
    v->fd = steal_fd(&rootfd);
    return NULL;
}

int host_rootfs_open_mounted(const char *const *lowers, size_t n, const char *upper,
                             const char *work, const char *target, const host_mount *mounts,
                             size_t n_mounts, char *const *denied, int *hold, kl_error *err)
{
    mounted_view v = {.lowers = lowers,
                      .n = n,
                      .upper = upper,
                      .work = work,
                      .target = target,
                      .mounts = mounts,
                      .n_mounts = n_mounts,
                      .denied = denied,
                      .fd = -1,
                      .hold = -1,
                      .err = KL_ERROR_INIT};
    pthread_t t;
    int r = pthread_create(&t, NULL, mounted_view_main, &v);
    if (r != 0)
        return kl_error_errno(err, r, "starting the thread that mounts %s", target);
    pthread_join(t, NULL);
    if (v.fd < 0) {
        *err = v.err;
        return -1;
    }
    *hold = v.hold;
    return v.fd;
}
