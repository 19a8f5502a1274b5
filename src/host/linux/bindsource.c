/* Where a bind mount source may come from (host/runtime.h, host_bind_source_check).
 *
 * A bind mount's source is a host path chosen by the API user, possibly through symlinks that
 * someone else controls (a directory a container can write to, for one). It must never let a
 * container reach kleened's own state: its root (database, layers, containers' upper
 * directories, volumes) and its run directory (monitor sockets). The check works on an open
 * fd, not a path: the caller opens the source once (following its symlinks once), checks that
 * very object here, and mounts it through the same fd, so nothing can be swapped in between.
 * "Inside" is decided by walking up from the object with openat(".."), comparing device and
 * inode with the denied directories: a second name for one of them (a bind mount of it
 * elsewhere) is caught as well as the path itself.
 *
 * It must not: follow a symlink after the caller's open, or accept what it cannot check. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "host/linux/confined_open.h"
#include "host/linux/internal.h"
#include "lib/cleanup.h"
#include "lib/xalloc.h"

static bool same_file(const struct stat *a, const struct stat *b)
{
    return a->st_dev == b->st_dev && a->st_ino == b->st_ino;
}

/* The directory holding the non-directory `fd` (st: its stat), verified to hold that very
 * file: found by the name the kernel keeps for the fd, opened without following any symlink,
 * and checked to still have the file under that name. */
static int parent_of_file(int fd, const struct stat *st, kl_error *err)
{
    char link[64], path[PATH_MAX];
    snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, path, sizeof(path) - 1);
    if (n <= 0)
        return kl_error_errno(err, n < 0 ? errno : EIO, "finding its directory");
    path[n] = '\0';
    char *slash = strrchr(path, '/');
    if (path[0] != '/' || !slash || !slash[1])
        return kl_error_set(err, EINVAL, "it is not reachable from the host's root");
    const char *name = slash + 1;
    _cleanup_free_ char *dir = xstrndup(path, slash == path ? 1 : (size_t)(slash - path));
    struct open_how how = {.flags = O_PATH | O_DIRECTORY | O_CLOEXEC,
                           .resolve = RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS};
    _cleanup_close_ int dfd = kl_openat2(AT_FDCWD, dir, &how);
    if (dfd < 0)
        return kl_error_errno(err, errno, "opening its directory %s", dir);
    struct stat here;
    if (fstatat(dfd, name, &here, AT_SYMLINK_NOFOLLOW) < 0 || !same_file(&here, st))
        return kl_error_set(err, EAGAIN, "it was moved while it was checked");
    return steal_fd(&dfd);
}

int bindsource_check_fd(int fd, const char *source, char *const *denied, kl_error *err)
{
    if (!denied || !*denied)
        return 0;
    size_t n = strv_len(denied);
    _cleanup_free_ struct stat *deny = xcalloc(n, sizeof(*deny));
    for (size_t i = 0; i < n; i++)
        if (stat(denied[i], &deny[i]) < 0) /* kleened's own directories: they exist */
            return kl_error_errno(err, errno, "bind mount source %s: checking against %s", source,
                                  denied[i]);
    struct stat st;
    if (fstat(fd, &st) < 0)
        return kl_error_errno(err, errno, "bind mount source %s", source);
    _cleanup_close_ int cur =
        S_ISDIR(st.st_mode) ? fcntl(fd, F_DUPFD_CLOEXEC, 3) : parent_of_file(fd, &st, err);
    if (cur < 0)
        return err->code ? kl_error_prefix(err, "bind mount source %s", source)
                         : kl_error_errno(err, errno, "bind mount source %s", source);
    for (int depth = 0; depth < 4096; depth++) {
        struct stat at;
        if (fstat(cur, &at) < 0)
            return kl_error_errno(err, errno, "bind mount source %s", source);
        for (size_t i = 0; i < n; i++)
            if (same_file(&at, &deny[i]))
                return kl_error_set(err, EPERM,
                                    "bind mount source %s: it is inside %s, kleened's own "
                                    "directory, which no container may see",
                                    source, denied[i]);
        int up = openat(cur, "..", O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (up < 0)
            return kl_error_errno(err, errno, "bind mount source %s: walking up", source);
        struct stat above;
        if (fstat(up, &above) < 0 || same_file(&above, &at)) {
            close(up);
            return 0; /* the root: nothing denied on the way */
        }
        close(cur);
        cur = up;
    }
    return kl_error_set(err, ELOOP, "bind mount source %s: too deep", source);
}

int host_bind_source_check(const char *source, char *const *denied, kl_error *err)
{
    _cleanup_close_ int fd = open(source, O_PATH | O_CLOEXEC);
    if (fd < 0)
        return kl_error_errno(err, errno, "bind mount source %s", source);
    return bindsource_check_fd(fd, source, denied, err);
}
