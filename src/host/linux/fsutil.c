/* Linux file-tree helpers: confined opens, removal and copy by directory fds, staging.
 * Everything works relative to directory fds so that a tree being copied or removed can
 * not redirect us elsewhere through a symlink swapped in meanwhile; nothing here follows a
 * symlink inside the trees it works on. */
#include "host/linux/fsutil.h"
#include "host/linux/confined_open.h"
#include "host/fs.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <linux/openat2.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "lib/cleanup.h"
#include "lib/xalloc.h"

static int open_resolved(int dirfd, const char *path, int flags, mode_t mode, uint64_t resolve)
{
    struct open_how how = {
        .flags = (uint64_t)(flags | O_CLOEXEC),
        .mode = (flags & (O_CREAT | O_TMPFILE)) ? mode : 0,
        .resolve = resolve | RESOLVE_NO_MAGICLINKS,
    };
    return kl_openat2(dirfd, path, &how);
}

int host_open_beneath(int dirfd, const char *path, int flags, mode_t mode)
{
    return open_resolved(dirfd, path, flags, mode, RESOLVE_BENEATH);
}

int host_open_in_root(int dirfd, const char *path, int flags, mode_t mode)
{
    return open_resolved(dirfd, path, flags, mode, RESOLVE_IN_ROOT);
}

int host_mkdirs_in_root(int rootfd, const char *path, kl_error *err)
{
    _cleanup_free_ char *copy = xstrdup(path);
    _cleanup_free_ char *prefix = xcalloc(1, strlen(path) + 2);
    int fd = host_open_in_root(rootfd, "/", O_RDONLY | O_DIRECTORY, 0);
    char *save = NULL;
    for (char *t = strtok_r(copy, "/", &save); fd >= 0 && t; t = strtok_r(NULL, "/", &save)) {
        /* A name is created in the directory the prefix resolved to inside the root; the
         * longer prefix is then resolved again from the root, so a symlink met on the way
         * is followed as the container would (and cannot lead out of it). */
        if (mkdirat(fd, t, 0755) < 0 && errno != EEXIST) {
            int e = errno;
            close(fd);
            return kl_error_errno(err, e, "creating %s", path);
        }
        strcat(prefix, "/");
        strcat(prefix, t);
        close(fd);
        fd = host_open_in_root(rootfd, prefix, O_RDONLY | O_DIRECTORY, 0);
    }
    if (fd < 0)
        return kl_error_errno(err, errno, "creating %s", path);
    return fd;
}

bool host_fd_is_kernel_fs(int fd)
{
    static const unsigned long kernel_fs[] = {
        0x9fa0,     /* proc */
        0x62656572, /* sysfs */
        0x1cd1,     /* devpts */
        0x19800202, /* mqueue */
        0x27e0eb,   /* cgroup */
        0x63677270, /* cgroup2 */
        0x73636673, /* securityfs */
        0x64626720, /* debugfs */
        0x74726163, /* tracefs */
        0xcafe4a11, /* bpf */
        0x62656570, /* configfs */
        0x6165676c, /* pstore */
        0x65735543, /* fusectl */
        0x42494e4d, /* binfmt_misc */
        0xde5e81e4, /* efivarfs */
    };
    struct statfs sf;
    if (fstatfs(fd, &sf) < 0)
        return false;
    for (size_t i = 0; i < sizeof(kernel_fs) / sizeof(kernel_fs[0]); i++)
        if ((unsigned long)sf.f_type == kernel_fs[i])
            return true;
    return false;
}

static bool is_mount_root(int dirfd, const char *name)
{
    struct statx stx;
    if (statx(dirfd, name, AT_SYMLINK_NOFOLLOW, STATX_BASIC_STATS, &stx) < 0)
        return false;
    return (stx.stx_attributes_mask & STATX_ATTR_MOUNT_ROOT) &&
           (stx.stx_attributes & STATX_ATTR_MOUNT_ROOT);
}

static int remove_contents(int dfd, kl_error *err);

int fs_remove_contents(int dfd, kl_error *err)
{
    return remove_contents(dfd, err);
}

int fs_remove_at(int dirfd, const char *name, kl_error *err)
{
    struct stat st;
    if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
        if (errno == ENOENT)
            return 0;
        return kl_error_errno(err, errno, "stat %s", name);
    }
    if (!S_ISDIR(st.st_mode)) {
        if (unlinkat(dirfd, name, 0) < 0 && errno != ENOENT)
            return kl_error_errno(err, errno, "removing %s", name);
        return 0;
    }
    if (is_mount_root(dirfd, name))
        return kl_error_set(err, EBUSY, "removing %s: a filesystem is mounted there", name);
    _cleanup_close_ int dfd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (dfd < 0)
        return kl_error_errno(err, errno, "opening %s", name);
    if (remove_contents(dfd, err) < 0)
        return kl_error_prefix(err, "%s", name);
    if (unlinkat(dirfd, name, AT_REMOVEDIR) < 0 && errno != ENOENT)
        return kl_error_errno(err, errno, "removing %s", name);
    return 0;
}

static int remove_contents(int dfd, kl_error *err)
{
    int fd2 = dup(dfd);
    if (fd2 < 0)
        return kl_error_errno(err, errno, "dup");
    _cleanup_closedir_ DIR *d = fdopendir(fd2);
    if (!d) {
        close(fd2);
        return kl_error_errno(err, errno, "fdopendir");
    }
    struct dirent *de;
    while ((errno = 0, de = readdir(d))) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
            continue;
        if (fs_remove_at(dfd, de->d_name, err) < 0)
            return -1;
    }
    if (errno)
        return kl_error_errno(err, errno, "reading directory");
    return 0;
}

int fs_staging_create(int parent_dirfd, const char *name, char **staging_name, kl_error *err)
{
    static const char digits[] = "abcdefghijklmnopqrstuvwxyz0123456789";
    for (int attempt = 0; attempt < 100; attempt++) {
        unsigned char rnd[6];
        if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
            return kl_error_errno(err, errno, "getrandom");
        char suffix[7];
        for (size_t i = 0; i < 6; i++)
            suffix[i] = digits[rnd[i] % (sizeof(digits) - 1)];
        suffix[6] = '\0';
        _cleanup_free_ char *sname = xasprintf(".staging-%s-%s", name, suffix);
        if (mkdirat(parent_dirfd, sname, 0700) < 0) {
            if (errno == EEXIST)
                continue;
            return kl_error_errno(err, errno, "creating staging directory for %s", name);
        }
        int fd = openat(parent_dirfd, sname, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0) {
            int e = errno;
            unlinkat(parent_dirfd, sname, AT_REMOVEDIR);
            return kl_error_errno(err, e, "opening staging directory for %s", name);
        }
        *staging_name = steal_pointer(&sname);
        return fd;
    }
    return kl_error_set(err, EEXIST, "creating staging directory for %s: no free name", name);
}

int fs_staging_commit(int parent_dirfd, const char *staging_name, const char *name, kl_error *err)
{
    if (renameat2(parent_dirfd, staging_name, parent_dirfd, name, RENAME_NOREPLACE) < 0)
        return kl_error_errno(err, errno, "moving %s into place", name);
    return 0;
}

/* ---- copy ------------------------------------------------------------------------- */

typedef struct hardlink {
    dev_t dev;
    ino_t ino;
    char *path; /* relative to the destination root */
} hardlink;

typedef struct copy_ctx {
    bool merge;
    int dst_root;
    hardlink *links; /* open addressing, cap a power of 2 */
    size_t nlinks, cap;
} copy_ctx;

static hardlink *link_slot(copy_ctx *c, dev_t dev, ino_t ino)
{
    if (!c->cap)
        return NULL;
    size_t h = ((size_t)ino * 0x9E3779B97F4A7C15ull ^ (size_t)dev) & (c->cap - 1);
    while (c->links[h].path && !(c->links[h].dev == dev && c->links[h].ino == ino))
        h = (h + 1) & (c->cap - 1);
    return &c->links[h];
}

static void link_add(copy_ctx *c, dev_t dev, ino_t ino, const char *path)
{
    if ((c->nlinks + 1) * 2 > c->cap) {
        hardlink *old = c->links;
        size_t oldcap = c->cap;
        c->cap = oldcap ? oldcap * 2 : 64;
        c->links = xcalloc(c->cap, sizeof(hardlink));
        for (size_t i = 0; i < oldcap; i++)
            if (old[i].path)
                *link_slot(c, old[i].dev, old[i].ino) = old[i];
        free(old);
    }
    hardlink *s = link_slot(c, dev, ino);
    s->dev = dev;
    s->ino = ino;
    s->path = xstrdup(path);
    c->nlinks++;
}

static void links_free(copy_ctx *c)
{
    for (size_t i = 0; i < c->cap; i++)
        free(c->links[i].path);
    free(c->links);
}

static bool skip_xattr(const copy_ctx *c, const char *name)
{
    return c->merge &&
           (!strncmp(name, "trusted.overlay.", 16) || !strncmp(name, "user.overlay.", 13));
}

/* Best effort: filesystems without xattrs, or names we may not set, are skipped. */
static void copy_xattrs(const copy_ctx *c, int sfd, int dfd)
{
    char stackbuf[4096];
    ssize_t n = flistxattr(sfd, stackbuf, sizeof(stackbuf));
    _cleanup_free_ char *heap = NULL;
    char *list = stackbuf;
    if (n < 0 && errno == ERANGE) {
        n = flistxattr(sfd, NULL, 0);
        if (n <= 0)
            return;
        heap = xmalloc((size_t)n);
        n = flistxattr(sfd, heap, (size_t)n);
        list = heap;
    }
    if (n <= 0)
        return;
    for (char *name = list; name < list + n; name += strlen(name) + 1) {
        if (skip_xattr(c, name))
            continue;
        char vbuf[1024];
        ssize_t vn = fgetxattr(sfd, name, vbuf, sizeof(vbuf));
        if (vn >= 0) {
            fsetxattr(dfd, name, vbuf, (size_t)vn, 0);
        } else if (errno == ERANGE) {
            ssize_t size = fgetxattr(sfd, name, NULL, 0);
            if (size < 0)
                continue;
            _cleanup_free_ char *v = xmalloc((size_t)size + 1);
            vn = fgetxattr(sfd, name, v, (size_t)size);
            if (vn >= 0)
                fsetxattr(dfd, name, v, (size_t)vn, 0);
        }
    }
}

/* Owner, then mode (chown clears set-id bits), then times. */
static int copy_meta_fd(const copy_ctx *c, int sfd, int dfd, const struct stat *st,
                        const char *what, kl_error *err)
{
    copy_xattrs(c, sfd, dfd);
    if (fchown(dfd, st->st_uid, st->st_gid) < 0 && errno != EPERM)
        return kl_error_errno(err, errno, "chown %s", what);
    if (fchmod(dfd, st->st_mode & 07777) < 0)
        return kl_error_errno(err, errno, "chmod %s", what);
    struct timespec ts[2] = {st->st_atim, st->st_mtim};
    if (futimens(dfd, ts) < 0)
        return kl_error_errno(err, errno, "setting times of %s", what);
    return 0;
}

static int copy_data(int sfd, int dfd, off_t size, const char *what, kl_error *err)
{
    if (size == 0)
        return 0;
    if (ioctl(dfd, FICLONE, sfd) == 0)
        return 0;
    off_t done = 0;
    bool use_cfr = true;
    while (done < size) {
        ssize_t n;
        if (use_cfr) {
            n = copy_file_range(sfd, NULL, dfd, NULL, (size_t)(size - done), 0);
            if (n < 0 &&
                (errno == EXDEV || errno == EINVAL || errno == ENOSYS || errno == EOPNOTSUPP)) {
                use_cfr = false;
                continue;
            }
        } else {
            char buf[65536];
            n = KL_RETRY_EINTR(pread(sfd, buf, sizeof(buf), done));
            if (n > 0) {
                ssize_t off = 0;
                while (off < n) {
                    ssize_t w =
                        KL_RETRY_EINTR(pwrite(dfd, buf + off, (size_t)(n - off), done + off));
                    if (w < 0)
                        return kl_error_errno(err, errno, "writing %s", what);
                    off += w;
                }
            }
        }
        if (n < 0)
            return kl_error_errno(err, errno, "copying %s", what);
        if (n == 0)
            break; /* the file shrank meanwhile */
        done += n;
    }
    return 0;
}

bool fs_dir_is_opaque(int fd)
{
    char v[2];
    ssize_t n = fgetxattr(fd, "trusted.overlay.opaque", v, sizeof(v));
    if (n < 0)
        n = fgetxattr(fd, "user.overlay.opaque", v, sizeof(v));
    return n == 1 && v[0] == 'y';
}

static int copy_dir_contents(copy_ctx *c, int sfd, int dfd, const char *rel, kl_error *err);

static int copy_entry(copy_ctx *c, int sdir, int ddir, const char *name, const char *rel,
                      kl_error *err)
{
    struct stat st;
    if (fstatat(sdir, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
        return kl_error_errno(err, errno, "stat %s", rel);

    struct stat dst;
    bool dst_exists = false, dst_is_dir = false;
    if (c->merge && fstatat(ddir, name, &dst, AT_SYMLINK_NOFOLLOW) == 0) {
        dst_exists = true;
        dst_is_dir = S_ISDIR(dst.st_mode);
    }
    if (c->merge && S_ISCHR(st.st_mode) && st.st_rdev == 0) /* whiteout */
        return fs_remove_at(ddir, name, err);

    if (S_ISDIR(st.st_mode)) {
        _cleanup_close_ int sfd =
            openat(sdir, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (sfd < 0)
            return kl_error_errno(err, errno, "opening %s", rel);
        if (dst_exists && (!dst_is_dir || fs_dir_is_opaque(sfd))) {
            if (fs_remove_at(ddir, name, err) < 0)
                return -1;
            dst_exists = false;
        }
        if (!dst_exists && mkdirat(ddir, name, 0700) < 0)
            return kl_error_errno(err, errno, "creating %s", rel);
        _cleanup_close_ int dfd =
            openat(ddir, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (dfd < 0)
            return kl_error_errno(err, errno, "opening %s", rel);
        if (copy_dir_contents(c, sfd, dfd, rel, err) < 0)
            return -1;
        return copy_meta_fd(c, sfd, dfd, &st, rel, err);
    }

    if (dst_exists && fs_remove_at(ddir, name, err) < 0)
        return -1;

    if (S_ISREG(st.st_mode)) {
        if (st.st_nlink > 1) {
            hardlink *h = link_slot(c, st.st_dev, st.st_ino);
            if (h && h->path) {
                if (linkat(c->dst_root, h->path, ddir, name, 0) < 0)
                    return kl_error_errno(err, errno, "linking %s", rel);
                return 0;
            }
        }
        _cleanup_close_ int sfd = openat(sdir, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
        if (sfd < 0)
            return kl_error_errno(err, errno, "opening %s", rel);
        _cleanup_close_ int dfd =
            openat(ddir, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (dfd < 0)
            return kl_error_errno(err, errno, "creating %s", rel);
        if (copy_data(sfd, dfd, st.st_size, rel, err) < 0)
            return -1;
        if (copy_meta_fd(c, sfd, dfd, &st, rel, err) < 0)
            return -1;
        if (st.st_nlink > 1)
            link_add(c, st.st_dev, st.st_ino, rel);
        return 0;
    }

    if (S_ISLNK(st.st_mode)) {
        char target[PATH_MAX + 1];
        ssize_t n = readlinkat(sdir, name, target, sizeof(target) - 1);
        if (n < 0)
            return kl_error_errno(err, errno, "reading link %s", rel);
        target[n] = '\0';
        if (symlinkat(target, ddir, name) < 0)
            return kl_error_errno(err, errno, "creating link %s", rel);
    } else if (S_ISFIFO(st.st_mode) || S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode)) {
        if (mknodat(ddir, name, st.st_mode & (S_IFMT | 0777), st.st_rdev) < 0)
            return kl_error_errno(err, errno, "creating %s", rel);
    } else {
        return 0; /* sockets are not copied */
    }
    if (fchownat(ddir, name, st.st_uid, st.st_gid, AT_SYMLINK_NOFOLLOW) < 0 && errno != EPERM)
        return kl_error_errno(err, errno, "chown %s", rel);
    if (!S_ISLNK(st.st_mode) && fchmodat(ddir, name, st.st_mode & 07777, 0) < 0)
        return kl_error_errno(err, errno, "chmod %s", rel);
    struct timespec ts[2] = {st.st_atim, st.st_mtim};
    utimensat(ddir, name, ts, AT_SYMLINK_NOFOLLOW);
    return 0;
}

static int copy_dir_contents(copy_ctx *c, int sfd, int dfd, const char *rel, kl_error *err)
{
    int fd2 = dup(sfd);
    if (fd2 < 0)
        return kl_error_errno(err, errno, "dup");
    _cleanup_closedir_ DIR *d = fdopendir(fd2);
    if (!d) {
        close(fd2);
        return kl_error_errno(err, errno, "fdopendir");
    }
    struct dirent *de;
    while ((errno = 0, de = readdir(d))) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
            continue;
        _cleanup_free_ char *child =
            *rel ? xasprintf("%s/%s", rel, de->d_name) : xstrdup(de->d_name);
        if (copy_entry(c, sfd, dfd, de->d_name, child, err) < 0)
            return -1;
    }
    if (errno)
        return kl_error_errno(err, errno, "reading directory %s", *rel ? rel : ".");
    return 0;
}

int fs_copy_tree(int src_dirfd, int dst_dirfd, bool overlay_merge, kl_error *err)
{
    copy_ctx c = {.merge = overlay_merge, .dst_root = dst_dirfd};
    struct stat st;
    int r;
    if (fstat(src_dirfd, &st) < 0)
        r = kl_error_errno(err, errno, "stat source");
    else if ((r = copy_dir_contents(&c, src_dirfd, dst_dirfd, "", err)) == 0)
        r = copy_meta_fd(&c, src_dirfd, dst_dirfd, &st, ".", err);
    links_free(&c);
    return r;
}
