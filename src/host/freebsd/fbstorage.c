/* host/storage.h on FreeBSD: every layer is a ZFS dataset holding the whole tree
 * (storage.h "full-tree layers", docs/freebsd.md): <root>/image/<id>, mounted at
 * R/layers/<id> (so host_layer_path stays a path), sealed by the snapshot `@image` that
 * container roots (<root>/container/<cid>, mounted at the container's rootfs directory) are
 * cloned from. The dataset layout is the original's (image/, container/: what `kleened init`
 * makes), so image remove's clone check (fb_image_remove) names the containers and images
 * that use a layer. Staging directories (R/layers/.staging-*) are plain directories.
 *
 * FreeBSD has no overlayfs: a stack of layers is never mounted (host_rootfs_mount is ENOTSUP;
 * nothing of this module is mounted but datasets, which ZFS mounts itself), and an image's
 * tree is its top layer. It must not: cross into another filesystem when removing a tree,
 * touch a host dataset that a layer was copied or cloned from (but the snapshot `@<id>` it
 * took of it), or leave a dataset behind when an operation fails half-way. */
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
        /* a build step a crash interrupted: its root, a clone mounted in the directory, goes
         * first (builder.c names the step's directory after the step's container id) */
        const char *step = de->d_name + strlen(".staging-build-");
        if (!strncmp(de->d_name, ".staging-build-", strlen(".staging-build-")) &&
            fb_component_is_valid(step) && host_container_root_remove(root, step, &e2) < 0) {
            log_warn("removing the root of interrupted build step %s: %s", step, e2.msg);
            continue;
        }
        if (remove_tree_at(fd, de->d_name, &e2) < 0)
            log_warn("removing stale staging directory %s/%s: %s", p, de->d_name, e2.msg);
    }
    return 0;
}

#define ZFS "/sbin/zfs"

/* The host, with the error of a layer that is not set up. */
static const fb_host *zhost(kl_error *err)
{
    return fb_host_default(err);
}

/* A zfs command; its output in the error when it fails (code: ENOENT when zfs says the
 * dataset does not exist, EEXIST when it exists, else EIO). */
static int zrun(const fb_host *h, const char *const *argv, const char *what, kl_error *err)
{
    _cleanup_result_ fb_result r = FB_RESULT_INIT;
    if (fb_run(h->run, argv, NULL, &r, err) < 0)
        return -1;
    if (r.status == 0)
        return 0;
    _cleanup_free_ char *o = fb_trim(*r.err ? r.err : r.out);
    int code = strstr(o, "does not exist") ? ENOENT : strstr(o, "already exists") ? EEXIST : EIO;
    return kl_error_set(err, code, "%s: %s", what, o);
}

static void zundo(const fb_host *h, const char *const *argv)
{
    _cleanup_result_ fb_result r = FB_RESULT_INIT;
    kl_error ignored = KL_ERROR_INIT;
    fb_run(h->run, argv, NULL, &r, &ignored);
}

bool host_layers_full_tree(void)
{
    return true;
}

int host_layer_create(const char *root, const char *id, kl_error *err)
{
    if (check_id(id, err) < 0)
        return -1;
    const fb_host *h = zhost(err);
    if (!h)
        return -1;
    _cleanup_free_ char *ds = fb_image_ds(h, id);
    _cleanup_free_ char *mp = xasprintf("mountpoint=%s/layers/%s", root, id);
    _cleanup_free_ char *what = xasprintf("creating layer %s", id);
    return zrun(h, FB_ARGV(ZFS, "create", "-o", mp, ds), what, err);
}

int host_layer_commit(const char *root, const char *dir, const char *id, kl_error *err)
{
    /* A directory of files (an extracted archive) becomes a new dataset's content: a copy,
     * since a dataset is a filesystem of its own (no rename into it). */
    if (check_id(id, err) < 0)
        return -1;
    const fb_host *h = zhost(err);
    if (!h)
        return -1;
    if (host_layer_create(root, id, err) < 0)
        return kl_error_prefix(err, "committing %s", dir);
    _cleanup_free_ char *from = xasprintf("%s/.", dir);
    _cleanup_free_ char *to = host_layer_path(root, id);
    if (fb_run_ok(h->run, FB_ARGV("/bin/cp", "-a", from, to), NULL, err) < 0) {
        _cleanup_free_ char *ds = fb_image_ds(h, id);
        zundo(h, FB_ARGV(ZFS, "destroy", "-r", ds));
        return kl_error_prefix(err, "committing %s", dir);
    }
    kl_error e2 = KL_ERROR_INIT;
    if (host_tree_remove(dir, &e2) < 0)
        log_warn("committing %s: removing it: %s", dir, e2.msg);
    return 0;
}

/* The dataset whose mountpoint is the host directory `src` (zfs-copy and zfs-clone take a
 * dataset; the engine names it by its directory, config zfs_dataset_root). */
static char *dataset_at(const fb_host *h, const char *src, kl_error *err)
{
    if (!src || src[0] != '/') {
        kl_error_set(err, EINVAL, "invalid directory '%s': not an absolute path", src ? src : "");
        return NULL;
    }
    _cleanup_result_ fb_result r = FB_RESULT_INIT;
    if (fb_run(h->run, FB_ARGV(ZFS, "list", "-H", "-o", "name,mountpoint", src), NULL, &r, err) < 0)
        return NULL;
    _cleanup_free_ char *out = fb_trim(r.out);
    char *tab = strchr(out, '\t');
    if (r.status != 0 || !tab) {
        _cleanup_free_ char *o = fb_trim(*r.err ? r.err : r.out);
        kl_error_set(err, EINVAL, "invalid dataset: %s is not on a ZFS dataset (%s)", src, o);
        return NULL;
    }
    *tab = '\0';
    if (strcmp(tab + 1, src) != 0) {
        kl_error_set(err, EINVAL,
                     "invalid dataset: %s is not the mountpoint of a ZFS dataset (it is inside "
                     "%s, mounted at %s)",
                     src, out, tab + 1);
        return NULL;
    }
    if (!fb_dataset_is_valid(out)) {
        kl_error_set(err, EINVAL, "invalid dataset '%s'", out);
        return NULL;
    }
    return xstrdup(out);
}

/* zfs-copy and zfs-clone of the dataset mounted at `src`: the new layer's tree, not sealed
 * (the engine writes /etc files into it first). */
static int layer_from(const char *root, const char *id, const char *src, bool clone, kl_error *err)
{
    if (check_id(id, err) < 0)
        return -1;
    const fb_host *h = zhost(err);
    if (!h)
        return -1;
    _cleanup_free_ char *ds = dataset_at(h, src, err);
    if (!ds)
        return -1;
    _cleanup_free_ char *mp = host_layer_path(root, id);
    fb_image_opts o = {.mountpoint = mp, .no_snapshot = true};
    return clone ? fb_image_create_clone(h, id, ds, &o, NULL, NULL, err)
                 : fb_image_create_copy(h, id, ds, &o, NULL, NULL, err);
}

int host_layer_copy_from(const char *root, const char *id, const char *src, kl_error *err)
{
    return layer_from(root, id, src, false, err);
}

int host_layer_clone_from(const char *root, const char *id, const char *src, kl_error *err)
{
    return layer_from(root, id, src, true, err);
}

bool host_layer_is_external(const char *root, const char *id)
{
    return false; /* a zfs-clone layer is a clone of ours, never a link to the host's tree */
}

bool host_path_is_mounted_layer(const char *path)
{
    return false; /* no overlay mounts on FreeBSD; clones of a layer refuse its removal */
}

int host_layer_seal(const char *root, const char *id, kl_error *err)
{
    if (check_id(id, err) < 0)
        return -1;
    const fb_host *h = zhost(err);
    if (!h)
        return -1;
    _cleanup_free_ char *ds = fb_image_ds(h, id);
    _cleanup_free_ char *snap = xasprintf("%s@image", ds);
    _cleanup_free_ char *what = xasprintf("could not create snapshot %s", snap);
    return zrun(h, FB_ARGV(ZFS, "snapshot", snap), what, err);
}

int host_layer_remove(const char *root, const char *id, kl_error *err)
{
    if (check_id(id, err) < 0)
        return -1;
    const fb_host *h = zhost(err);
    if (!h)
        return -1;
    _cleanup_free_ char *ds = fb_image_ds(h, id);
    /* A zfs-clone layer's origin is the snapshot <host dataset>@<id> taken for it: it goes
     * with the layer (the original left it on the user's dataset). */
    _cleanup_result_ fb_result r = FB_RESULT_INIT;
    if (fb_run(h->run, FB_ARGV(ZFS, "list", "-H", "-o", "origin", ds), NULL, &r, err) < 0)
        return -1;
    _cleanup_free_ char *origin = fb_trim(r.out);
    if (fb_image_remove(h, id, err) < 0)
        return -1;
    _cleanup_free_ char *own = xasprintf("%s/", h->root);
    _cleanup_free_ char *tail = xasprintf("@%s", id);
    size_t ol = strlen(origin), tl = strlen(tail);
    if (r.status == 0 && ol > tl && !strcmp(origin + ol - tl, tail) &&
        strncmp(origin, own, strlen(own)) != 0) {
        _cleanup_free_ char *what = xasprintf("removing layer %s: its origin %s", id, origin);
        kl_error e2 = KL_ERROR_INIT;
        if (zrun(h, FB_ARGV(ZFS, "destroy", origin), what, &e2) < 0)
            log_warn("%s", e2.msg);
    }
    /* ZFS removes the mountpoint directory it made; one that stays (empty) goes too */
    _cleanup_free_ char *mp = host_layer_path(root, id);
    rmdir(mp);
    return 0;
}

int host_container_root_create(const char *root, const char *cid, const char *top, const char *path,
                               kl_error *err)
{
    if (check_id(top, err) < 0)
        return -1;
    if (!fb_component_is_valid(cid) || !path || path[0] != '/')
        return kl_error_set(err, EINVAL, "invalid container id or root path");
    const fb_host *h = zhost(err);
    if (!h)
        return -1;
    _cleanup_free_ char *src = xasprintf("%s/image/%s@image", h->root, top);
    _cleanup_free_ char *ds = fb_container_ds(h, cid);
    _cleanup_free_ char *mp = xasprintf("mountpoint=%s", path);
    _cleanup_free_ char *what = xasprintf("could not clone layer %s for the container", top);
    return zrun(h, FB_ARGV(ZFS, "clone", "-o", mp, src, ds), what, err);
}

int host_container_root_commit(const char *root, const char *cid, const char *id, kl_error *err)
{
    if (check_id(id, err) < 0)
        return -1;
    if (!fb_component_is_valid(cid))
        return kl_error_set(err, EINVAL, "invalid container id '%s'", cid ? cid : "");
    const fb_host *h = zhost(err);
    if (!h)
        return -1;
    _cleanup_free_ char *cds = fb_container_ds(h, cid);
    _cleanup_free_ char *ids = fb_image_ds(h, id);
    _cleanup_free_ char *mp = xasprintf("mountpoint=%s/layers/%s", root, id);
    _cleanup_free_ char *snap = xasprintf("%s@image", ids);
    _cleanup_free_ char *what = xasprintf("committing %s as layer %s", cds, id);
    if (zrun(h, FB_ARGV(ZFS, "rename", cds, ids), what, err) < 0)
        return -1;
    if (zrun(h, FB_ARGV(ZFS, "set", mp, ids), what, err) < 0 ||
        zrun(h, FB_ARGV(ZFS, "snapshot", snap), what, err) < 0) {
        /* back to the container's (its mountpoint set again by the caller's next use) */
        zundo(h, FB_ARGV(ZFS, "rename", ids, cds));
        return -1;
    }
    return 0;
}

int host_container_root_remove(const char *root, const char *cid, kl_error *err)
{
    if (!fb_component_is_valid(cid))
        return kl_error_set(err, EINVAL, "invalid container id '%s'", cid ? cid : "");
    const fb_host *h = zhost(err);
    if (!h)
        return -1;
    _cleanup_free_ char *ds = fb_container_ds(h, cid);
    _cleanup_free_ char *what = xasprintf("could not destroy dataset %s", ds);
    kl_error e2 = KL_ERROR_INIT;
    if (zrun(h, FB_ARGV(ZFS, "destroy", "-rf", ds), what, &e2) < 0) {
        if (e2.code == ENOENT)
            return 0; /* never made, or gone already */
        *err = e2;
        return -1;
    }
    return 0;
}

/* ---- volumes as datasets ---------------------------------------------------------------- */

int host_volume_create(const char *name, const char *path, kl_error *err)
{
    if (!fb_component_is_valid(name) || !path || path[0] != '/')
        return kl_error_set(err, EINVAL, "invalid volume name or path");
    const fb_host *h = zhost(err);
    if (!h)
        return -1;
    _cleanup_free_ char *ds = fb_volume_ds(h, name);
    _cleanup_free_ char *mp = xasprintf("mountpoint=%s", path);
    _cleanup_free_ char *what = xasprintf("could not create volume dataset %s", ds);
    return zrun(h, FB_ARGV(ZFS, "create", "-o", mp, ds), what, err);
}

int host_volume_remove(const char *name, kl_error *err)
{
    if (!fb_component_is_valid(name))
        return kl_error_set(err, EINVAL, "invalid volume name '%s'", name ? name : "");
    const fb_host *h = zhost(err);
    if (!h)
        return -1;
    _cleanup_free_ char *ds = fb_volume_ds(h, name);
    _cleanup_free_ char *what = xasprintf("could not destroy volume dataset %s", ds);
    kl_error e2 = KL_ERROR_INIT;
    if (zrun(h, FB_ARGV(ZFS, "destroy", "-f", ds), what, &e2) < 0) {
        if (e2.code == ENOENT)
            return 0; /* none: a volume of before, or destroyed by an interrupted removal */
        *err = e2;
        return -1;
    }
    return 0;
}

/* ---- what needs overlayfs (not on FreeBSD) ------------------------------------------- */

int host_rootfs_mount(const char *const *lowers, size_t n, const char *upper, const char *work,
                      const char *target, kl_error *err)
{
    return kl_error_set(err, ENOTSUP,
                        "a stack of layers cannot be mounted on FreeBSD (no overlayfs); a "
                        "container's root is a ZFS clone of its image's top layer "
                        "(host_container_root_create)");
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

/* Full trees: the top layer alone is the image's tree. `path` is walked one component at a
 * time without following symlinks (a symlink on the way: not a directory, 0); the layer is
 * sealed (written only by kleened, before its snapshot), so what was walked is what cp reads. */
int host_layers_copy_path(const char *const *lowers, size_t n, const char *path, const char *dest,
                          kl_error *err)
{
    if (n == 0 || !path || path[0] != '/')
        return kl_error_set(err, EINVAL, "invalid path '%s'", path ? path : "");
    const fb_host *h = zhost(err);
    if (!h)
        return -1;
    const char *top = lowers[n - 1];
    int fd = open(top, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return kl_error_errno(err, errno, "opening %s", top);
    _cleanup_free_ char *copy = xstrdup(path);
    for (char *save = NULL, *c = strtok_r(copy, "/", &save); c; c = strtok_r(NULL, "/", &save)) {
        if (!strcmp(c, "."))
            continue;
        if (!strcmp(c, "..")) {
            close(fd);
            return kl_error_set(err, EINVAL, "invalid path '%s'", path);
        }
        int next = openat(fd, c, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        int e = errno;
        close(fd);
        if (next < 0) {
            if (e == ENOENT || e == ENOTDIR || e == ELOOP || e == EMLINK)
                return 0; /* not a directory of the image */
            return kl_error_errno(err, e, "opening %s in the image", path);
        }
        fd = next;
    }
    struct stat st;
    int rc = fstat(fd, &st);
    int e = errno;
    close(fd);
    if (rc < 0)
        return kl_error_errno(err, e, "stat %s in the image", path);
    _cleanup_free_ char *from = xasprintf("%s%s/.", top, strcmp(path, "/") ? path : "");
    if (fb_run_ok(h->run, FB_ARGV("/bin/cp", "-a", from, dest), NULL, err) < 0)
        return kl_error_prefix(err, "copying %s of the image", path);
    if (chown(dest, st.st_uid, st.st_gid) < 0 || chmod(dest, st.st_mode & 07777) < 0)
        return kl_error_errno(err, errno, "setting the owner and mode of %s", dest);
    return 1;
}

/* Builds open a step's root with host_rootfs_open only for a read-only view (COPY --from: no
 * upper) on this layer: full-tree layers, so the top layer's directory is that tree (a sealed
 * layer; the builder only reads through the fd). A writable stack view does not exist here:
 * a build step's root is a clone (host_container_root_create). */
int host_rootfs_open(const char *const *lowers, size_t n, const char *upper, const char *work,
                     const char *target, kl_error *err)
{
    if (upper)
        return kl_error_set(err, ENOTSUP,
                            "a writable stack of layers does not exist on FreeBSD (a step's root "
                            "is a ZFS clone)");
    if (n == 0)
        return kl_error_set(err, EINVAL, "no layers");
    int fd = open(lowers[n - 1], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return kl_error_errno(err, errno, "opening %s", lowers[n - 1]);
    return fd;
}

int host_layer_pack(const char *dir, host_pack_write_fn write, void *ctx, kl_error *err)
{
    return kl_error_set(err, ENOTSUP,
                        "packing a layer (image save, push) is not implemented on FreeBSD yet");
}
