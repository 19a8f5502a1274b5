/* Confined path resolution (DESIGN.md §9): users' paths (build contexts, COPY sources and
 * destinations, Dockerfile names) are opened relative to a directory fd and can never leave
 * it, whatever `..` components or symlinks they hold. On Linux: openat2(2) with
 * RESOLVE_BENEATH or RESOLVE_IN_ROOT, and never through /proc magic links; FreeBSD has
 * O_RESOLVE_BENEATH for the same. */
#ifndef KL_HOST_FS_H
#define KL_HOST_FS_H

#include <stdbool.h>
#include <sys/types.h>

#include "lib/error.h"

/* Open `path` below dirfd (flags | O_CLOEXEC; mode with O_CREAT). A path that would leave
 * dirfd — an absolute path, `..` above it, a symlink pointing outside — fails with EXDEV. */
int host_open_beneath(int dirfd, const char *path, int flags, mode_t mode);

/* Open `path` with dirfd as its root directory, as a process chrooted there would: `/`, `..`
 * and absolute symlinks stay inside dirfd. For paths inside an image or container root. */
int host_open_in_root(int dirfd, const char *path, int flags, mode_t mode);

/* mkdir -p of `path` (mode 0755, owned by the caller) inside the root dirfd, every component
 * resolved as host_open_in_root does. Returns an fd (O_DIRECTORY) of the last directory. */
int host_mkdirs_in_root(int rootfd, const char *path, kl_error *err);

/* Whether the directory or file fd is on one of the kernel's own filesystems (proc, sysfs,
 * devpts, mqueue, cgroup, securityfs, debugfs ...: files that are interfaces, not data), which
 * a copy out of or into a container must not walk or write (docker cp; dockerd never sees
 * them: they are mounted inside the container's namespace only). */
bool host_fd_is_kernel_fs(int fd);

#endif
