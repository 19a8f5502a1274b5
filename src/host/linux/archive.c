/* Safe extraction of (possibly hostile) archives into a new directory.
 *
 * libarchive (loaded on first use, host/archiveshim.h) reads and decompresses; the writing is ours,
 * because archive_write_disk works relative to the process's current directory (process-wide state,
 * unusable in a threaded daemon). Every entry is written by directory fd: its parent is resolved
 * with openat2 RESOLVE_BENEATH from the extraction root, so a `..` or a symlink that leads out of
 * the tree fails (EXDEV) instead of being followed, and the final component is never followed
 * (O_NOFOLLOW | O_EXCL after unlinking what was there). This is at least as strict as
 * ARCHIVE_EXTRACT_SECURE_NODOTDOT | SECURE_SYMLINKS | SECURE_NOABSOLUTEPATHS, except that
 * symlinks inside the tree may be walked through (merged-/usr root filesystems need it).
 * Device nodes are never created from an archive. All work goes to a staging directory
 * that is renamed into place at the end, or removed. */
#include "host/storage.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "host/archiveshim.h"
#include "host/fs.h"
#include "host/linux/fsutil.h"
#include "lib/cleanup.h"
#include "lib/log.h"
#include "lib/xalloc.h"

typedef struct reader {
    const archiveshim *la;
    host_read_fn read;
    void *ctx;
    kl_error err;
} reader;

static la_ssize_t reader_cb(struct archive *a, void *p, const void **buf)
{
    reader *r = p;
    ssize_t n = r->read(r->ctx, buf, &r->err);
    if (n < 0) {
        if (!kl_error_is_set(&r->err))
            kl_error_set(&r->err, EIO, "read error");
        r->la->set_error(a, EIO, "%s", r->err.msg);
        return -1;
    }
    return n;
}

typedef struct dir_meta {
    char *path; /* relative to the root; "" is the root */
    mode_t mode;
    uid_t uid;
    gid_t gid;
    struct timespec mtime;
} dir_meta;

typedef struct extractor {
    const archiveshim *la; /* libarchive, loaded on first use */
    struct archive *a;
    int root;
    host_extract_stats st;
    dir_meta *dirs;
    size_t ndirs;
    char *cached_parent; /* parent path of the last entry and its fd */
    int cached_fd;
    bool oci_layer; /* host_extract_opts.oci_layer */
} extractor;

static void cache_drop(extractor *x)
{
    free(x->cached_parent);
    x->cached_parent = NULL;
    if (x->cached_fd >= 0)
        close(x->cached_fd);
    x->cached_fd = -1;
}

/* Normalise an entry path: drop "." and empty components. Refuses absolute paths and "..".
 * Returns "" for the root itself. */
static char *clean_path(const char *in, const char *what, kl_error *err)
{
    if (!in || !*in) {
        kl_error_set(err, EINVAL, "%s: empty path", what);
        return NULL;
    }
    if (in[0] == '/') {
        kl_error_set(err, EPERM, "%s '%s': absolute path refused", what, in);
        return NULL;
    }
    size_t n = strlen(in);
    char *out = xmalloc(n + 1);
    size_t w = 0;
    for (const char *p = in; *p;) {
        size_t len = strcspn(p, "/");
        if (len == 2 && p[0] == '.' && p[1] == '.') {
            free(out);
            kl_error_set(err, EPERM, "%s '%s': '..' refused", what, in);
            return NULL;
        }
        if (len > 0 && !(len == 1 && p[0] == '.')) {
            if (w)
                out[w++] = '/';
            memcpy(out + w, p, len);
            w += len;
        }
        p += len;
        while (*p == '/')
            p++;
    }
    out[w] = '\0';
    return out;
}

static int resolve_error(int e, const char *path, kl_error *err)
{
    if (e == EXDEV || e == ELOOP)
        return kl_error_set(err, EPERM,
                            "archive entry '%s': path leads outside the tree (through a "
                            "symbolic link)",
                            path);
    return kl_error_errno(err, e, "archive entry '%s'", path);
}

/* An fd for directory `parent` (relative to the root, "" = root), creating missing
 * directories (mode 0755, root-owned) on the way. */
static int open_parent(extractor *x, const char *parent, const char *entry, kl_error *err)
{
    if (x->cached_parent && !strcmp(x->cached_parent, parent))
        return x->cached_fd;
    cache_drop(x);
    int fd;
    if (!*parent) {
        fd = fcntl(x->root, F_DUPFD_CLOEXEC, 3);
    } else {
        fd = host_open_beneath(x->root, parent, O_RDONLY | O_DIRECTORY, 0);
        if (fd < 0 && errno == ENOENT) {
            /* create the missing components one by one, each resolved from the root */
            _cleanup_free_ char *prefix = xstrdup(parent);
            for (char *slash = prefix;; slash++) {
                slash = strchr(slash, '/');
                if (slash)
                    *slash = '\0';
                _cleanup_free_ char *copy = xstrdup(prefix);
                char *base = strrchr(copy, '/');
                int pfd;
                const char *bname;
                if (base) {
                    *base = '\0';
                    bname = base + 1;
                    pfd = host_open_beneath(x->root, copy, O_RDONLY | O_DIRECTORY, 0);
                } else {
                    bname = copy;
                    pfd = fcntl(x->root, F_DUPFD_CLOEXEC, 3);
                }
                if (pfd < 0)
                    return resolve_error(errno, entry, err);
                int r = mkdirat(pfd, bname, 0755);
                int e = errno;
                close(pfd);
                if (r < 0 && e != EEXIST)
                    return kl_error_errno(err, e, "archive entry '%s': creating %s", entry, prefix);
                if (!slash)
                    break;
                *slash = '/';
            }
            fd = host_open_beneath(x->root, parent, O_RDONLY | O_DIRECTORY, 0);
        }
    }
    if (fd < 0)
        return resolve_error(errno, entry, err);
    x->cached_parent = xstrdup(parent);
    x->cached_fd = fd;
    return fd;
}

/* Make room for a new entry: anything there goes, except that a directory stays for a
 * directory entry. A non-empty directory is not replaced by a non-directory. */
static int clear_slot(int pfd, const char *base, bool want_dir, bool *dir_exists, const char *path,
                      kl_error *err)
{
    struct stat st;
    *dir_exists = false;
    if (fstatat(pfd, base, &st, AT_SYMLINK_NOFOLLOW) < 0)
        return 0;
    if (S_ISDIR(st.st_mode)) {
        if (want_dir) {
            *dir_exists = true;
            return 0;
        }
        if (unlinkat(pfd, base, AT_REMOVEDIR) < 0)
            return kl_error_errno(err, errno, "archive entry '%s': replacing a directory", path);
        return 0;
    }
    if (unlinkat(pfd, base, 0) < 0)
        return kl_error_errno(err, errno, "archive entry '%s': replacing", path);
    return 0;
}

static void set_xattrs(const archiveshim *la, struct archive_entry *e, int fd)
{
    const char *name;
    const void *value;
    size_t size;
    la->entry_xattr_reset(e);
    while (la->entry_xattr_next(e, &name, &value, &size) == ARCHIVE_OK) {
        /* overlay's own attributes would change how the layer is mounted: never */
        if (!strncmp(name, "trusted.overlay.", 16) || !strncmp(name, "user.overlay.", 13))
            continue;
        fsetxattr(fd, name, value, size, 0);
    }
}

static int write_data(extractor *x, int fd, const char *path, kl_error *err)
{
    for (;;) {
        const void *buf;
        size_t size;
        la_int64_t off;
        int r = x->la->read_data_block(x->a, &buf, &size, &off);
        if (r == ARCHIVE_EOF)
            return 0;
        if (r < ARCHIVE_WARN)
            return kl_error_set(err, EIO, "archive entry '%s': %s", path,
                                x->la->error_string(x->a));
        for (size_t done = 0; done < size;) {
            ssize_t w = KL_RETRY_EINTR(
                pwrite(fd, (const char *)buf + done, size - done, (off_t)off + (off_t)done));
            if (w < 0)
                return kl_error_errno(err, errno, "writing %s", path);
            done += (size_t)w;
        }
        x->st.bytes += size;
    }
}

#define OCI_WH_PREFIX ".wh."
#define OCI_WH_OPAQUE ".wh..wh..opq"

/* An OCI layer's whiteout entry `base` in the directory pfd, as overlayfs expresses it:
 * the opaque marker sets trusted.overlay.opaque on the directory (set_xattrs never lets an
 * archive set overlay attributes itself; this is the one place they are written, from the
 * entry's name, not its content), `.wh.NAME` becomes a 0/0 character device NAME (what
 * overlayfs reads as "deleted"). The entry's type and content are ignored, as the spec
 * says. mknod of 0/0 is the whiteout device the kernel itself creates: it gives no access
 * to any device. Creating it needs CAP_MKNOD, which the extractor (root) has. */
static int extract_whiteout(extractor *x, int pfd, const char *base, const char *path,
                            kl_error *err)
{
    if (!strcmp(base, OCI_WH_OPAQUE)) {
        if (fsetxattr(pfd, "trusted.overlay.opaque", "y", 1, 0) < 0)
            return kl_error_errno(err, errno, "archive entry '%s': making the directory opaque",
                                  path);
        x->st.entries++;
        return 0;
    }
    const char *name = base + strlen(OCI_WH_PREFIX);
    if (!*name || !strcmp(name, ".") || !strcmp(name, "..") ||
        !strncmp(name, OCI_WH_PREFIX, strlen(OCI_WH_PREFIX)))
        return kl_error_set(err, EINVAL, "archive entry '%s': invalid whiteout", path);
    bool dir_exists;
    if (clear_slot(pfd, name, false, &dir_exists, path, err) < 0)
        return -1;
    if (mknodat(pfd, name, S_IFCHR | 0000, makedev(0, 0)) < 0)
        return kl_error_errno(err, errno, "archive entry '%s': creating the whiteout", path);
    x->st.entries++;
    return 0;
}

static int extract_entry(extractor *x, struct archive_entry *e, kl_error *err)
{
    const char *raw = x->la->entry_pathname(e);
    _cleanup_free_ char *path = clean_path(raw, "archive entry", err);
    if (!path)
        return -1;
    mode_t type = x->la->entry_filetype(e);
    const char *hardlink = x->la->entry_hardlink(e);
    mode_t mode = x->la->entry_mode(e) & 07777;
    uid_t uid = (uid_t)x->la->entry_uid(e);
    gid_t gid = (gid_t)x->la->entry_gid(e);
    struct timespec mtime = {x->la->entry_mtime(e), x->la->entry_mtime_nsec(e)};

    if (!hardlink && (type == AE_IFCHR || type == AE_IFBLK || type == AE_IFSOCK)) {
        x->st.skipped_devices++;
        return 0;
    }
    if (!*path) { /* the root itself ("./") */
        if (type != AE_IFDIR)
            return kl_error_set(err, EPERM, "archive entry '%s': root is not a directory", raw);
        x->dirs = xrealloc(x->dirs, (x->ndirs + 1) * sizeof(dir_meta));
        x->dirs[x->ndirs++] = (dir_meta){xstrdup(""), mode, uid, gid, mtime};
        return 0;
    }

    char *slash = strrchr(path, '/');
    const char *base = slash ? slash + 1 : path;
    _cleanup_free_ char *parent = slash ? xstrndup(path, (size_t)(slash - path)) : xstrdup("");
    int pfd = open_parent(x, parent, path, err);
    if (pfd < 0)
        return -1;
    /* The cache holds only this entry's parent, which this entry (inside it) can not
     * replace; an entry that replaces a directory has a different parent, so the next
     * entry below that path resolves it anew. */
    if (x->oci_layer && !strncmp(base, OCI_WH_PREFIX, strlen(OCI_WH_PREFIX)))
        return extract_whiteout(x, pfd, base, path, err);
    bool dir_exists;
    bool is_dir = !hardlink && type == AE_IFDIR;
    if (clear_slot(pfd, base, is_dir, &dir_exists, path, err) < 0)
        return -1;

    if (hardlink) {
        _cleanup_free_ char *target = clean_path(hardlink, "hard link target", err);
        if (!target)
            return kl_error_prefix(err, "archive entry '%s'", path);
        char *ts = strrchr(target, '/');
        _cleanup_free_ char *tparent = ts ? xstrndup(target, (size_t)(ts - target)) : xstrdup("");
        const char *tbase = ts ? ts + 1 : target;
        _cleanup_close_ int tfd = *tparent
                                      ? host_open_beneath(x->root, tparent, O_PATH | O_DIRECTORY, 0)
                                      : fcntl(x->root, F_DUPFD_CLOEXEC, 3);
        if (tfd < 0 || !*tbase)
            return resolve_error(tfd < 0 ? errno : ENOENT, path, err);
        /* flags 0: a symlink target is linked as the symlink itself, never followed */
        if (linkat(tfd, tbase, pfd, base, 0) < 0)
            return kl_error_errno(err, errno, "archive entry '%s': hard link to '%s'", path,
                                  hardlink);
        x->st.entries++;
        return 0;
    }

    switch (type) {
    case AE_IFREG: {
        _cleanup_close_ int fd =
            openat(pfd, base, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd < 0)
            return kl_error_errno(err, errno, "archive entry '%s'", path);
        if (write_data(x, fd, path, err) < 0)
            return -1;
        if (x->la->entry_size_is_set(e) && ftruncate(fd, x->la->entry_size(e)) < 0)
            return kl_error_errno(err, errno, "writing %s", path);
        set_xattrs(x->la, e, fd);
        if (fchown(fd, uid, gid) < 0)
            return kl_error_errno(err, errno, "chown %s", path);
        if (fchmod(fd, mode) < 0)
            return kl_error_errno(err, errno, "chmod %s", path);
        struct timespec ts[2] = {mtime, mtime};
        futimens(fd, ts);
        break;
    }
    case AE_IFDIR: {
        if (!dir_exists && mkdirat(pfd, base, 0700) < 0)
            return kl_error_errno(err, errno, "archive entry '%s'", path);
        _cleanup_close_ int fd = openat(pfd, base, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd >= 0)
            set_xattrs(x->la, e, fd);
        x->dirs = xrealloc(x->dirs, (x->ndirs + 1) * sizeof(dir_meta));
        x->dirs[x->ndirs++] = (dir_meta){xstrdup(path), mode, uid, gid, mtime};
        break;
    }
    case AE_IFLNK: {
        const char *target = x->la->entry_symlink(e);
        if (!target || !*target)
            return kl_error_set(err, EINVAL, "archive entry '%s': empty link target", path);
        if (symlinkat(target, pfd, base) < 0)
            return kl_error_errno(err, errno, "archive entry '%s'", path);
        if (fchownat(pfd, base, uid, gid, AT_SYMLINK_NOFOLLOW) < 0)
            return kl_error_errno(err, errno, "chown %s", path);
        struct timespec ts[2] = {mtime, mtime};
        utimensat(pfd, base, ts, AT_SYMLINK_NOFOLLOW);
        break;
    }
    case AE_IFIFO: {
        if (mkfifoat(pfd, base, 0600) < 0)
            return kl_error_errno(err, errno, "archive entry '%s'", path);
        if (fchownat(pfd, base, uid, gid, AT_SYMLINK_NOFOLLOW) < 0 ||
            fchmodat(pfd, base, mode, 0) < 0)
            return kl_error_errno(err, errno, "archive entry '%s'", path);
        break;
    }
    default:
        return kl_error_set(err, EINVAL, "archive entry '%s': unknown file type %o", path,
                            (unsigned)type);
    }
    x->st.entries++;
    return 0;
}

/* Directory metadata last: creating entries inside would change the times, and a
 * read-only mode would not stop root but documents the intent. */
static int apply_dir_meta(extractor *x, kl_error *err)
{
    for (size_t i = x->ndirs; i-- > 0;) {
        dir_meta *d = &x->dirs[i];
        _cleanup_close_ int fd =
            *d->path ? host_open_beneath(x->root, d->path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW, 0)
                     : fcntl(x->root, F_DUPFD_CLOEXEC, 3);
        if (fd < 0)
            continue; /* replaced by a later entry */
        if (fchown(fd, d->uid, d->gid) < 0 || fchmod(fd, d->mode) < 0)
            return kl_error_errno(err, errno, "setting owner and mode of %s",
                                  *d->path ? d->path : ".");
        struct timespec ts[2] = {d->mtime, d->mtime};
        futimens(fd, ts);
    }
    return 0;
}

static int extract_all(extractor *x, reader *rd, const host_extract_opts *opts, kl_error *err)
{
    struct archive_entry *e;
    uint64_t seen = 0;
    for (;;) {
        int r = x->la->read_next_header(x->a, &e);
        if (r == ARCHIVE_EOF)
            break;
        if (r < ARCHIVE_WARN) {
            if (kl_error_is_set(&rd->err)) {
                *err = rd->err;
                return -1;
            }
            return kl_error_set(err, EINVAL, "reading archive: %s", x->la->error_string(x->a));
        }
        seen++;
        if (extract_entry(x, e, err) < 0) {
            if (kl_error_is_set(&rd->err)) /* the source failed under the data reader */
                *err = rd->err;
            return -1;
        }
        if (opts && opts->progress && opts->every && x->st.entries &&
            x->st.entries % opts->every == 0)
            opts->progress(&x->st, opts->progress_ctx);
    }
    if (seen == 0 && !x->oci_layer) /* an image layer may be empty (ENV, LABEL ...) */
        return kl_error_set(err, EINVAL, "reading archive: the archive is empty");
    return apply_dir_meta(x, err);
}

static int open_failed(const archiveshim *la, struct archive *a, reader *rd, kl_error *err)
{
    if (kl_error_is_set(&rd->err))
        *err = rd->err;
    else
        kl_error_set(err, EINVAL, "reading archive: %s", la->error_string(a));
    return -1;
}

/* The uncompressed stream of a tapped extraction (host_extract_opts.uncompressed_tap): an
 * archive object of its own reads the source with every filter and the "raw" format, i.e.
 * only decompresses; the extracting archive reads what it yields, and every byte passes the
 * tap on the way. */
typedef struct tap {
    const archiveshim *la;
    struct archive *outer;
    reader *rd;
    void (*fn)(const void *buf, size_t n, void *ctx);
    void *ctx;
    bool eof;
    char buf[64 * 1024];
} tap;

static int tap_open(tap *t, kl_error *err)
{
    const archiveshim *la = t->la;
    t->outer = la->read_new();
    la->read_support_filter_all(t->outer);
    la->read_support_format_raw(t->outer);
    if (la->read_open(t->outer, t->rd, NULL, reader_cb, NULL) != ARCHIVE_OK)
        return open_failed(la, t->outer, t->rd, err);
    struct archive_entry *e;
    int r = la->read_next_header(t->outer, &e);
    if (r == ARCHIVE_EOF) { /* nothing at all: an empty stream */
        t->eof = true;
        return 0;
    }
    if (r < ARCHIVE_WARN) {
        open_failed(la, t->outer, t->rd, err);
        return kl_error_prefix(err, "decompressing");
    }
    return 0;
}

/* The next piece of the uncompressed stream: > 0 bytes, 0 at its end, < 0 on an error (the
 * source's in rd->err, or the decompressor's message in err). */
static ssize_t tap_next(tap *t, kl_error *err)
{
    if (t->eof)
        return 0;
    la_ssize_t n = t->la->read_data(t->outer, t->buf, sizeof(t->buf));
    if (n < 0) {
        if (kl_error_is_set(&t->rd->err))
            *err = t->rd->err;
        else
            kl_error_set(err, EINVAL, "decompressing: %s", t->la->error_string(t->outer));
        return -1;
    }
    if (n == 0)
        t->eof = true;
    else
        t->fn(t->buf, (size_t)n, t->ctx);
    return n;
}

static la_ssize_t tap_cb(struct archive *a, void *p, const void **buf)
{
    tap *t = p;
    kl_error e = KL_ERROR_INIT;
    ssize_t n = tap_next(t, &e);
    if (n < 0) {
        t->la->set_error(a, e.code ? e.code : EIO, "%s", e.msg);
        return -1;
    }
    *buf = t->buf;
    return n;
}

/* After the archive's end: the rest of the stream (tar padding, anything else) goes
 * through the tap too. */
static int tap_drain(tap *t, kl_error *err)
{
    ssize_t n;
    while ((n = tap_next(t, err)) > 0)
        ;
    return n < 0 ? -1 : 0;
}

int host_archive_extract(host_read_fn read, void *read_ctx, int parent_dirfd, const char *name,
                         const host_extract_opts *opts, host_extract_stats *stats, kl_error *err)
{
    if (!name || !*name || strchr(name, '/') || !strcmp(name, ".") || !strcmp(name, ".."))
        return kl_error_set(err, EINVAL, "extracting archive: invalid destination name");
    if (faccessat(parent_dirfd, name, F_OK, AT_SYMLINK_NOFOLLOW) == 0)
        return kl_error_set(err, EEXIST, "extracting archive: %s exists", name);
    const archiveshim *la = archiveshim_get(err);
    if (!la)
        return -1;
    _cleanup_free_ char *staging = NULL;
    _cleanup_close_ int sfd = fs_staging_create(parent_dirfd, name, &staging, err);
    if (sfd < 0)
        return kl_error_prefix(err, "extracting archive");

    /* an image layer's root is a directory like any other (0755) unless the layer says */
    if (opts && opts->oci_layer)
        fchmod(sfd, 0755);
    reader rd = {.la = la, .read = read, .ctx = read_ctx, .err = KL_ERROR_INIT};
    extractor x = {.la = la,
                   .a = la->read_new(),
                   .root = sfd,
                   .cached_fd = -1,
                   .oci_layer = opts && opts->oci_layer};
    _cleanup_free_ tap *t = NULL;
    int r = 0;
    if (opts && opts->uncompressed_tap) {
        t = xcalloc(1, sizeof(*t));
        *t = (tap){.la = la, .rd = &rd, .fn = opts->uncompressed_tap, .ctx = opts->tap_ctx};
        r = tap_open(t, err);
        la->read_support_format_all(x.a); /* the decompressed stream is the archive itself */
        if (r == 0 && la->read_open(x.a, t, NULL, tap_cb, NULL) != ARCHIVE_OK)
            r = open_failed(la, x.a, &rd, err);
    } else {
        la->read_support_filter_all(x.a);
        la->read_support_format_all(x.a);
        if (la->read_open(x.a, &rd, NULL, reader_cb, NULL) != ARCHIVE_OK)
            r = open_failed(la, x.a, &rd, err);
    }
    if (r == 0)
        r = extract_all(&x, &rd, opts, err);
    if (r == 0 && t)
        r = tap_drain(t, err);
    la->read_free(x.a);
    if (t && t->outer)
        la->read_free(t->outer);
    cache_drop(&x);
    for (size_t i = 0; i < x.ndirs; i++)
        free(x.dirs[i].path);
    free(x.dirs);

    if (r == 0)
        r = fs_staging_commit(parent_dirfd, staging, name, err);
    if (r < 0) {
        kl_error tmp = KL_ERROR_INIT;
        if (fs_remove_at(parent_dirfd, staging, &tmp) < 0)
            log_error("extracting archive: cleaning up %s: %s", staging, tmp.msg);
        kl_error_prefix(err, "extracting archive");
    }
    if (x.st.skipped_devices)
        log_warn("extracting archive into %s: skipped %llu device nodes", name,
                 (unsigned long long)x.st.skipped_devices);
    if (opts && opts->progress)
        opts->progress(&x.st, opts->progress_ctx);
    if (stats)
        *stats = x.st;
    return r;
}

typedef struct file_src {
    int fd;
    char buf[128 * 1024];
} file_src;

static ssize_t file_read(void *ctx, const void **buf, kl_error *err)
{
    file_src *f = ctx;
    ssize_t n = KL_RETRY_EINTR(read(f->fd, f->buf, sizeof(f->buf)));
    if (n < 0)
        return kl_error_errno(err, errno, "reading archive");
    *buf = f->buf;
    return n;
}

int host_archive_extract_file(const char *archive_path, int parent_dirfd, const char *name,
                              const host_extract_opts *opts, host_extract_stats *stats,
                              kl_error *err)
{
    _cleanup_free_ file_src *f = xmalloc(sizeof(*f));
    f->fd = open(archive_path, O_RDONLY | O_CLOEXEC);
    if (f->fd < 0)
        return kl_error_errno(err, errno, "opening %s", archive_path);
    int r = host_archive_extract(file_read, f, parent_dirfd, name, opts, stats, err);
    close(f->fd);
    return r;
}
