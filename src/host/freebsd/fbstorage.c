/* host/storage.h on FreeBSD: layers as directories under the storage root, as on Linux
 * (R/layers/<id>, staging directories R/layers/.staging-*), with POSIX calls and the runner.
 *
 * What differs: FreeBSD has no overlayfs, so a stack of layers cannot be mounted as a
 * container's root: host_rootfs_mount is ENOTSUP (a container's root on FreeBSD is a ZFS
 * clone, fb_container_clone; the engine does not drive that yet, docs/freebsd.md "Wiring").
 * Nothing is ever mounted by this module, so unmounting is a no-op and no layer is in use by
 * a mount. A tree copy (zfs-copy of a directory) runs `cp -a` through the runner.
 * It must not: cross into another filesystem when removing a tree, or touch the host
 * directory behind a zfs-clone layer. */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "host/freebsd/fbhost.h"
#include "host/storage.h"
#include "lib/cleanup.h"
#include "lib/log.h"
#include "lib/xalloc.h"

bool host_layer_id_is_valid(const char *id)
{
    size_t n = id ? strlen(id) : 0;
    if (n == 0 || n > 128 || id[0] == '.' || id[0] == '-')
        return false;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)id[i]) && id[i] != '_' && id[i] != '.' && id[i] != '-')
            return false;
    return true;
}

char *host_layer_path(const char *root, const char *id)
{
    return xasprintf("%s/layers/%s", root, id);
}

static int open_layers_dir(const char *root, kl_error *err)
{
    _cleanup_free_ char *p = xasprintf("%s/layers", root);
    int fd = open(p, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return kl_error_errno(err, errno, "opening %s", p);
    return fd;
}

static int check_id(const char *id, kl_error *err)
{
    if (!host_layer_id_is_valid(id))
        return kl_error_set(err, EINVAL, "invalid layer id '%s'", id ? id : "");
    return 0;
}

/* ---- removing trees by directory fds, never into another filesystem ------------------ */

static int remove_at(int dirfd, const char *name, dev_t dev, kl_error *err);

static int remove_contents(int dfd, dev_t dev, kl_error *err)
{
    int fd2 = dup(dfd);
    if (fd2 < 0)
        return kl_error_errno(err, errno, "dup");
    _cleanup_closedir_ DIR *d = fdopendir(fd2);
    if (!d) {
        close(fd2);
        return kl_error_errno(err, errno, "reading directory");
    }
    struct dirent *de;
    while ((errno = 0, de = readdir(d))) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
            continue;
        if (remove_at(dfd, de->d_name, dev, err) < 0)
            return -1;
    }
    if (errno)
        return kl_error_errno(err, errno, "reading directory");
    return 0;
}

static int remove_at(int dirfd, const char *name, dev_t dev, kl_error *err)
{
    struct stat st;
    if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
        return errno == ENOENT ? 0 : kl_error_errno(err, errno, "stat %s", name);
    if (!S_ISDIR(st.st_mode)) {
        if (unlinkat(dirfd, name, 0) < 0 && errno != ENOENT)
            return kl_error_errno(err, errno, "removing %s", name);
        return 0;
    }
    if (st.st_dev != dev)
        return kl_error_set(err, EBUSY, "removing %s: a filesystem is mounted there", name);
    _cleanup_close_ int dfd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (dfd < 0)
        return kl_error_errno(err, errno, "opening %s", name);
    if (remove_contents(dfd, dev, err) < 0)
        return kl_error_prefix(err, "%s", name);
    if (unlinkat(dirfd, name, AT_REMOVEDIR) < 0 && errno != ENOENT)
        return kl_error_errno(err, errno, "removing %s", name);
    return 0;
}

/* dev: the filesystem of the directory holding `name` (the tree must stay on it). */
static int remove_tree_at(int dirfd, const char *name, kl_error *err)
{
    struct stat pst;
    if (fstat(dirfd, &pst) < 0)
        return kl_error_errno(err, errno, "stat");
    return remove_at(dirfd, name, pst.st_dev, err);
}

int host_tree_remove(const char *path, kl_error *err)
{
    if (!path || !*path)
        return kl_error_set(err, EINVAL, "no path to remove");
    _cleanup_free_ char *copy = xstrdup(path);
    char *slash = strrchr(copy, '/');
    const char *name = copy;
    const char *dir = ".";
    if (slash) {
        *slash = '\0';
        name = slash + 1;
        dir = copy[0] ? copy : "/";
    }
    if (!*name || !strcmp(name, ".") || !strcmp(name, ".."))
        return kl_error_set(err, EINVAL, "refusing to remove %s", path);
    _cleanup_close_ int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0)
        return errno == ENOENT ? 0 : kl_error_errno(err, errno, "opening %s", dir);
    return remove_tree_at(dfd, name, err);
}

int host_tree_empty(const char *path, kl_error *err)
{
    _cleanup_close_ int fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return kl_error_errno(err, errno, "opening %s", path);
    struct stat st;
    if (fstat(fd, &st) < 0)
        return kl_error_errno(err, errno, "stat %s", path);
    if (remove_contents(fd, st.st_dev, err) < 0)
        return kl_error_prefix(err, "%s", path);
    return 0;
}

/* ---- layers ---------------------------------------------------------------------------- */

/* A new staging directory ".staging-<id>-<n>" in lfd (the first free n). */
static char *staging_create(int lfd, const char *id, kl_error *err)
{
    for (unsigned attempt = 0; attempt < 100; attempt++) {
        char *name = xasprintf(".staging-%s-%u", id, attempt);
        if (mkdirat(lfd, name, 0700) == 0)
            return name;
        int e = errno;
        free(name);
        if (e != EEXIST) {
            kl_error_errno(err, e, "creating staging directory for %s", id);
            return NULL;
        }
    }
    kl_error_set(err, EEXIST, "creating staging directory for %s: no free name", id);
    return NULL;
}

/* Rename `from` (a directory, in fromfd) to layer `id`, never replacing an existing one:
 * an empty directory is made under the id first (EEXIST if taken), and the rename replaces
 * that empty directory atomically (rename(2) onto an empty directory). */
static int rename_noreplace(int fromfd, const char *from, int lfd, const char *id, kl_error *err)
{
    if (mkdirat(lfd, id, 0700) < 0)
        return kl_error_errno(err, errno, "layer %s", id);
    if (renameat(fromfd, from, lfd, id) < 0) {
        int e = errno;
        unlinkat(lfd, id, AT_REMOVEDIR);
        return kl_error_errno(err, e, "renaming to layer %s", id);
    }
    return 0;
}

int host_storage_init(const char *root, kl_error *err)
{
    if (mkdir(root, 0700) < 0 && errno != EEXIST)
        return kl_error_errno(err, errno, "creating %s", root);
    _cleanup_free_ char *p = xasprintf("%s/layers", root);
    if (mkdir(p, 0700) < 0 && errno != EEXIST)
        return kl_error_errno(err, errno, "creating %s", p);
    _cleanup_close_ int fd = open_layers_dir(root, err);
    if (fd < 0)
        return -1;
    _cleanup_closedir_ DIR *d = fdopendir(dup(fd));
    if (!d)
        return kl_error_errno(err, errno, "reading %s", p);
    struct dirent *de;
    while ((de = readdir(d))) {
        if (strncmp(de->d_name, ".staging-", 9) != 0)
            continue;
        kl_error e2 = KL_ERROR_INIT;
        if (remove_tree_at(fd, de->d_name, &e2) < 0)
            log_warn("removing stale staging directory %s/%s: %s", p, de->d_name, e2.msg);
    }
    return 0;
}

int host_layer_create(const char *root, const char *id, kl_error *err)
{
    if (check_id(id, err) < 0)
        return -1;
    _cleanup_close_ int fd = open_layers_dir(root, err);
    if (fd < 0)
        return -1;
    if (mkdirat(fd, id, 0755) < 0)
        return kl_error_errno(err, errno, "creating layer %s", id);
    return 0;
}

int host_layer_commit(const char *root, const char *dir, const char *id, kl_error *err)
{
    if (check_id(id, err) < 0)
        return -1;
    _cleanup_close_ int fd = open_layers_dir(root, err);
    if (fd < 0)
        return -1;
    if (rename_noreplace(AT_FDCWD, dir, fd, id, err) < 0)
        return kl_error_prefix(err, "committing %s", dir);
    return 0;
}

int host_layer_copy_from(const char *root, const char *id, const char *src, kl_error *err)
{
    if (check_id(id, err) < 0)
        return -1;
    if (!src || src[0] != '/')
        return kl_error_set(err, EINVAL, "invalid directory '%s': not an absolute path",
                            src ? src : "");
    struct stat st;
    if (stat(src, &st) < 0)
        return kl_error_errno(err, errno, "opening %s", src);
    if (!S_ISDIR(st.st_mode))
        return kl_error_set(err, ENOTDIR, "%s: not a directory", src);
    const fb_host *h = fb_host_default(err);
    if (!h)
        return -1;
    _cleanup_close_ int lfd = open_layers_dir(root, err);
    if (lfd < 0)
        return -1;
    if (faccessat(lfd, id, F_OK, AT_SYMLINK_NOFOLLOW) == 0)
        return kl_error_set(err, EEXIST, "layer %s exists", id);
    _cleanup_free_ char *staging = staging_create(lfd, id, err);
    if (!staging)
        return -1;
    _cleanup_free_ char *from = xasprintf("%s/.", src);
    _cleanup_free_ char *to = xasprintf("%s/layers/%s", root, staging);
    /* cp -a: recursive, modes, owners, times, flags, symlinks as they are (no shell). */
    if (fb_run_ok(h->run, FB_ARGV("/bin/cp", "-a", from, to), NULL, err) < 0 ||
        rename_noreplace(lfd, staging, lfd, id, err) < 0) {
        kl_error e2 = KL_ERROR_INIT;
        remove_tree_at(lfd, staging, &e2);
        return kl_error_prefix(err, "copying %s", src);
    }
    return 0;
}

int host_layer_clone_from(const char *root, const char *id, const char *src, kl_error *err)
{
    if (check_id(id, err) < 0)
        return -1;
    if (!src || src[0] != '/')
        return kl_error_set(err, EINVAL, "invalid directory '%s': not an absolute path",
                            src ? src : "");
    char real[PATH_MAX], realroot[PATH_MAX];
    if (!realpath(src, real))
        return kl_error_errno(err, errno, "invalid directory '%s'", src);
    struct stat st;
    if (stat(real, &st) < 0 || !S_ISDIR(st.st_mode))
        return kl_error_set(err, ENOTDIR, "invalid directory '%s': not a directory", src);
    if (!realpath(root, realroot))
        return kl_error_errno(err, errno, "resolving %s", root);
    size_t rl = strlen(realroot);
    if (!strcmp(real, "/") || (!strncmp(real, realroot, rl) && (real[rl] == '/' || !real[rl])))
        return kl_error_set(err, EINVAL, "invalid directory '%s': inside the storage root", src);
    _cleanup_close_ int lfd = open_layers_dir(root, err);
    if (lfd < 0)
        return -1;
    if (symlinkat(real, lfd, id) < 0)
        return kl_error_errno(err, errno, "creating layer %s", id);
    return 0;
}

bool host_layer_is_external(const char *root, const char *id)
{
    _cleanup_free_ char *p = host_layer_path(root, id);
    struct stat st;
    return lstat(p, &st) == 0 && S_ISLNK(st.st_mode);
}

bool host_path_is_mounted_layer(const char *path)
{
    return false; /* this module never mounts a layer (no overlayfs on FreeBSD) */
}

int host_layer_remove(const char *root, const char *id, kl_error *err)
{
    if (check_id(id, err) < 0)
        return -1;
    _cleanup_close_ int lfd = open_layers_dir(root, err);
    if (lfd < 0)
        return -1;
    struct stat st;
    if (fstatat(lfd, id, &st, AT_SYMLINK_NOFOLLOW) < 0)
        return kl_error_errno(err, errno, "layer %s", id);
    if (S_ISLNK(st.st_mode)) {
        /* zfs-clone layer: drop the link, never the host directory behind it */
        if (unlinkat(lfd, id, 0) < 0)
            return kl_error_errno(err, errno, "removing layer %s", id);
        return 0;
    }
    /* Renamed first, so that a half-removed layer is never visible under its id. */
    _cleanup_free_ char *staging = staging_create(lfd, id, err);
    if (!staging)
        return -1;
    if (renameat(lfd, id, lfd, staging) < 0) {
        int e = errno;
        unlinkat(lfd, staging, AT_REMOVEDIR);
        return kl_error_errno(err, e, "removing layer %s", id);
    }
    if (remove_tree_at(lfd, staging, err) < 0)
        return kl_error_prefix(err, "removing layer %s", id);
    return 0;
}

/* ---- what needs overlayfs (not on FreeBSD) ------------------------------------------- */

int host_rootfs_mount(const char *const *lowers, size_t n, const char *upper, const char *work,
                      const char *target, kl_error *err)
{
    return kl_error_set(err, ENOTSUP,
                        "a stack of layers cannot be mounted on FreeBSD (no overlayfs); a "
                        "container's root is a ZFS clone, which the engine does not drive yet "
                        "(docs/freebsd.md)");
}

int host_rootfs_unmount(const char *target, kl_error *err)
{
    return 0; /* host_rootfs_mount never mounts anything here: nothing is mounted */
}

int host_unmount_below(const char *dir, kl_error *err)
{
    return 0; /* nothing of ours is mounted (see host_rootfs_unmount) */
}

int host_layers_flatten(const char *const *lowers, size_t n, const char *dest, kl_error *err)
{
    return kl_error_set(err, ENOTSUP, "merging layers is not implemented on FreeBSD yet");
}

int host_layers_copy_path(const char *const *lowers, size_t n, const char *path, const char *dest,
                          kl_error *err)
{
    return kl_error_set(err, ENOTSUP,
                        "copying an image path into a volume is not implemented on FreeBSD yet");
}

/* Builds open a step's overlay mounted in no namespace (Linux: a private mount namespace of a
 * thread, detached); the FreeBSD layer has no equivalent written yet (a nullfs/unionfs mount
 * under a jail that dies with it would be one). */
int host_rootfs_open(const char *const *lowers, size_t n, const char *upper, const char *work,
                     const char *target, kl_error *err)
{
    return kl_error_set(err, ENOTSUP,
                        "opening a build step's root filesystem is not implemented on FreeBSD yet");
}

int host_layer_pack(const char *dir, host_pack_write_fn write, void *ctx, kl_error *err)
{
    return kl_error_set(err, ENOTSUP,
                        "packing a layer (image save, push) is not implemented on FreeBSD yet");
}
