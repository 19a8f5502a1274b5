/* openat2(2) for the Linux host layer, retried when the kernel asks for it. */
#ifndef KL_HOST_LINUX_CONFINED_OPEN_H
#define KL_HOST_LINUX_CONFINED_OPEN_H

#include <errno.h>
#include <linux/openat2.h>
#include <sys/syscall.h>
#include <unistd.h>

/* openat2 with RESOLVE_BENEATH or RESOLVE_IN_ROOT fails with EAGAIN when a rename or a mount
 * anywhere on the system raced with the resolution of a `..` and the kernel could not rule
 * out an escape; trying again is what it asks for. EINTR is retried too. */
static inline int kl_openat2(int dirfd, const char *path, const struct open_how *how)
{
    for (int tries = 0;; tries++) {
        int fd = (int)syscall(SYS_openat2, dirfd, path, how, sizeof(*how));
        if (fd >= 0 || (errno != EAGAIN && errno != EINTR) || tries >= 100)
            return fd;
    }
}

#endif
