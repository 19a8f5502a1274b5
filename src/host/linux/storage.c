/* Layers as directories under the storage root (see host/storage.h). This module creates,
 * copies, links and removes layer directories; it must never remove a layer that an
 * overlay mount uses, and never touch the host directory behind a zfs-clone layer. */
#include "host/storage.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "host/linux/fsutil.h"
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
        if (fs_remove_at(fd, de->d_name, &e2) == 0)
            continue;
        /* A build step's root filesystem a crash left mounted (its step container is
         * stopped by then, builder_sweep): unmounted, then removed. A staging directory
         * that still cannot go is left for the next start; it must not keep kleened down. */
        _cleanup_free_ char *path = xasprintf("%s/%s", p, de->d_name);
        kl_error e3 = KL_ERROR_INIT;
        if (host_unmount_below(path, &e3) >= 0) {
            e2 = (kl_error)KL_ERROR_INIT;
            if (fs_remove_at(fd, de->d_name, &e2) == 0)
                continue;
        }
        log_warn("removing stale staging directory %s: %s", path, e2.msg);
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
    if (renameat2(AT_FDCWD, dir, fd, id, RENAME_NOREPLACE) < 0)
        return kl_error_errno(err, errno, "committing %s as layer %s", dir, id);
    return 0;
}

int host_layer_copy_from(const char *root, const char *id, const char *src, kl_error *err)
{
    if (check_id(id, err) < 0)
        return -1;
    _cleanup_close_ int sfd = open(src, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (sfd < 0)
        return kl_error_errno(err, errno, "opening %s", src);
    _cleanup_close_ int lfd = open_layers_dir(root, err);
    if (lfd < 0)
        return -1;
    if (faccessat(lfd, id, F_OK, AT_SYMLINK_NOFOLLOW) == 0)
        return kl_error_set(err, EEXIST, "layer %s exists", id);
    _cleanup_free_ char *staging = NULL;
    _cleanup_close_ int dfd = fs_staging_create(lfd, id, &staging, err);
    if (dfd < 0)
        return -1;
    if (fs_copy_tree(sfd, dfd, false, err) < 0 || fs_staging_commit(lfd, staging, id, err) < 0) {
        kl_error cleanup_err = KL_ERROR_INIT;
        fs_remove_at(lfd, staging, &cleanup_err);
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

/* Does an overlay option string name `path` as a lower/upper/work/data dir? Options are
 * comma separated; lowerdir values are ':' separated with '\' escapes. */
static bool options_use_path(const char *opts, const char *path)
{
    size_t pl = strlen(path);
    for (const char *p = opts; (p = strstr(p, path)); p++) {
        char before = p == opts ? ',' : p[-1];
        char after = p[pl];
        if ((before == '=' || before == ':' || before == ',') &&
            (after == '\0' || after == ',' || after == ':' || after == '\n' || after == ' '))
            return true;
    }
    return false;
}

static bool mountinfo_uses(const char *mountinfo_path, const char *path, const char *real)
{
    _cleanup_fclose_ FILE *f = fopen(mountinfo_path, "re");
    if (!f)
        return false;
    _cleanup_free_ char *line = NULL;
    size_t cap = 0;
    while (getline(&line, &cap, f) > 0) {
        char *sep = strstr(line, " - ");
        if (!sep || strncmp(sep + 3, "overlay ", 8))
            continue;
        if (options_use_path(sep, path) || (real && options_use_path(sep, real)))
            return true;
    }
    return false;
}

/* Layers here are overlay diffs (storage.h "full-tree layers"). */
bool host_layers_full_tree(void)
{
    return false;
}

int host_layer_seal(const char *root, const char *id, kl_error *err)
{
    (void)root, (void)id, (void)err;
    return 0; /* a layer directory is final once written: nothing to take */
}

int host_container_root_create(const char *root, const char *cid, const char *top, const char *path,
                               kl_error *err)
{
    return kl_error_set(err, ENOTSUP,
                        "a container's root on Linux is the overlay of its image's layers, not a "
                        "copy of one layer");
}

int host_container_root_commit(const char *root, const char *cid, const char *id, kl_error *err)
{
    return kl_error_set(err, ENOTSUP,
                        "a container's root on Linux is the overlay of its image's layers, not a "
                        "copy of one layer");
}

int host_container_root_remove(const char *root, const char *cid, kl_error *err)
{
    return kl_error_set(err, ENOTSUP,
                        "a container's root on Linux is the overlay of its image's layers, not a "
                        "copy of one layer");
}

/* A volume is its directory (storage.h "volumes"). */
int host_volume_create(const char *name, const char *path, kl_error *err)
{
    (void)name, (void)path, (void)err;
    return 0;
}

int host_volume_remove(const char *name, kl_error *err)
{
    (void)name, (void)err;
    return 0;
}

bool host_path_is_mounted_layer(const char *path)
{
    char real[PATH_MAX];
    const char *r = realpath(path, real) ? real : NULL;
    if (mountinfo_uses("/proc/self/mountinfo", path, r))
        return true;
    /* Containers mount their rootfs in their own mount namespaces: look at one process of
     * every mount namespace we can see. */
    _cleanup_closedir_ DIR *d = opendir("/proc");
    if (!d)
        return false;
    ino_t *seen = NULL;
    size_t nseen = 0;
    bool used = false;
    struct dirent *de;
    while (!used && (de = readdir(d))) {
        if (!isdigit((unsigned char)de->d_name[0]))
            continue;
        char p[64];
        struct stat st;
        snprintf(p, sizeof(p), "/proc/%s/ns/mnt", de->d_name);
        if (stat(p, &st) < 0)
            continue;
        bool dup = false;
        for (size_t i = 0; i < nseen && !dup; i++)
            dup = seen[i] == st.st_ino;
        if (dup)
            continue;
        seen = xrealloc(seen, (nseen + 1) * sizeof(*seen));
        seen[nseen++] = st.st_ino;
        snprintf(p, sizeof(p), "/proc/%s/mountinfo", de->d_name);
        used = mountinfo_uses(p, path, r);
    }
    free(seen);
    return used;
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
    _cleanup_free_ char *path = host_layer_path(root, id);
    if (host_path_is_mounted_layer(path))
        return kl_error_set(err, EBUSY, "layer %s is in use by a mounted container filesystem", id);
    if (S_ISLNK(st.st_mode)) {
        /* zfs-clone layer: drop the link, never the host directory behind it */
        if (unlinkat(lfd, id, 0) < 0)
            return kl_error_errno(err, errno, "removing layer %s", id);
        return 0;
    }
    /* Rename first, so that a half-removed layer is never visible under its id. */
    _cleanup_free_ char *staging = NULL;
    _cleanup_close_ int sfd = fs_staging_create(lfd, id, &staging, err);
    if (sfd < 0)
        return -1;
    if (renameat2(lfd, id, lfd, staging, RENAME_EXCHANGE) < 0) {
        int e = errno;
        unlinkat(lfd, staging, AT_REMOVEDIR);
        return kl_error_errno(err, e, "removing layer %s", id);
    }
    /* the empty staging directory now carries the id: drop it */
    unlinkat(lfd, id, AT_REMOVEDIR);
    if (fs_remove_at(lfd, staging, err) < 0)
        return kl_error_prefix(err, "removing layer %s", id);
    return 0;
}

int host_tree_remove(const char *path, kl_error *err)
{
    return fs_remove_at(AT_FDCWD, path, err);
}

int host_tree_empty(const char *path, kl_error *err)
{
    _cleanup_close_ int fd =
        KL_RETRY_EINTR(open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (fd < 0)
        return kl_error_errno(err, errno, "opening %s", path);
    if (fs_remove_contents(fd, err) < 0)
        return kl_error_prefix(err, "%s", path);
    return 0;
}

/* What one layer says about a path: nothing (absent: the layers below show through), that
 * it is hidden (a whiteout or a non-directory on the way), or that it is a directory here. */
enum layer_view { VIEW_ABSENT, VIEW_HIDDEN, VIEW_DIR };

/* Walk `comps` inside layer `lfd`. *out gets an fd of the directory when VIEW_DIR; *opaque
 * is set when a directory on the way (or the path itself) is opaque, i.e. hides what the
 * lower layers have there. */
static int layer_view_of(int lfd, char *const *comps, int *out, bool *opaque, kl_error *err)
{
    *out = -1;
    *opaque = false;
    _cleanup_close_ int cur = fcntl(lfd, F_DUPFD_CLOEXEC, 3);
    if (cur < 0)
        return kl_error_errno(err, errno, "dup");
    for (size_t i = 0; comps[i]; i++) {
        struct stat st;
        if (fstatat(cur, comps[i], &st, AT_SYMLINK_NOFOLLOW) < 0) {
            if (errno == ENOENT)
                return VIEW_ABSENT;
            return kl_error_errno(err, errno, "stat %s", comps[i]);
        }
        if (!S_ISDIR(st.st_mode))
            return VIEW_HIDDEN; /* a whiteout (0/0 char device), a file or a symlink */
        int next = openat(cur, comps[i], O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (next < 0)
            return kl_error_errno(err, errno, "opening %s", comps[i]);
        close(cur);
        cur = next;
        if (fs_dir_is_opaque(cur))
            *opaque = true;
    }
    *out = steal_fd(&cur);
    return VIEW_DIR;
}

int host_layers_copy_path(const char *const *lowers, size_t n, const char *path, const char *dest,
                          kl_error *err)
{
    if (!path || path[0] != '/')
        return kl_error_set(err, EINVAL, "%s: not an absolute path", path ? path : "");
    _cleanup_strv_ char **comps = xcalloc(1, sizeof(char *));
    {
        _cleanup_free_ char *copy = xstrdup(path);
        char *save = NULL;
        for (char *c = strtok_r(copy, "/", &save); c; c = strtok_r(NULL, "/", &save)) {
            if (!strcmp(c, "..") || !strcmp(c, "."))
                return kl_error_set(err, EINVAL, "%s: not a normalised path", path);
            strv_push(&comps, c);
        }
    }
    _cleanup_close_ int dfd = open(dest, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (dfd < 0)
        return kl_error_errno(err, errno, "opening %s", dest);
    bool present = false;
    for (size_t i = 0; i < n; i++) {
        _cleanup_close_ int lfd = open(lowers[i], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (lfd < 0)
            return kl_error_errno(err, errno, "opening layer %s", lowers[i]);
        _cleanup_close_ int here = -1;
        bool opaque = false;
        int v = layer_view_of(lfd, comps, &here, &opaque, err);
        if (v < 0)
            return kl_error_prefix(err, "layer %s", lowers[i]);
        if (v == VIEW_HIDDEN || (opaque && present)) {
            if (fs_remove_contents(dfd, err) < 0)
                return kl_error_prefix(err, "%s", dest);
            present = false;
        }
        if (v == VIEW_DIR) {
            if (fs_copy_tree(here, dfd, true, err) < 0)
                return kl_error_prefix(err, "copying %s from layer %s", path, lowers[i]);
            present = true;
        }
    }
    return present ? 1 : 0;
}

/* ---- overlay mounts reachable through a file descriptor only -------------------------- */

typedef struct detached_mount {
    const char *const *lowers;
    size_t n;
    const char *upper, *work, *target;
    int fd;
    kl_error err;
} detached_mount;

static void *detached_mount_main(void *arg)
{
    detached_mount *d = arg;
    /* A mount namespace of this thread alone (CLONE_NEWNS unshares the thread's filesystem
     * context too, which a thread of a multi-threaded process may do); made private, so
     * that nothing mounted here propagates to the namespace it was copied from. */
    if (unshare(CLONE_NEWNS) < 0) {
        kl_error_errno(&d->err, errno, "creating a mount namespace");
        return NULL;
    }
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) {
        kl_error_errno(&d->err, errno, "making / private");
        return NULL;
    }
    if (host_rootfs_mount(d->lowers, d->n, d->upper, d->work, d->target, &d->err) < 0)
        return NULL;
    d->fd = open(d->target, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (d->fd < 0)
        kl_error_errno(&d->err, errno, "opening %s", d->target);
    /* Out of the tree: from now on the fd is its only way in (and its only reference). */
    umount2(d->target, MNT_DETACH);
    return NULL;
}

int host_rootfs_open(const char *const *lowers, size_t n, const char *upper, const char *work,
                     const char *target, kl_error *err)
{
    detached_mount d = {.lowers = lowers,
                        .n = n,
                        .upper = upper,
                        .work = work,
                        .target = target,
                        .fd = -1,
                        .err = KL_ERROR_INIT};
    pthread_t t;
    int r = pthread_create(&t, NULL, detached_mount_main, &d);
    if (r != 0)
        return kl_error_errno(err, r, "starting the thread that mounts %s", target);
    pthread_join(t, NULL);
    if (d.fd < 0) {
        *err = d.err;
        return -1;
    }
    return d.fd;
}
