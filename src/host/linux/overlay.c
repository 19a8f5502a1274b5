/* Overlay mounts of layer stacks, made with syscalls (never mount(8)).
 *
 * Three ways, cheapest first: one mount(2) with an option string when it fits in a page;
 * the new mount API with one `lowerdir+` per layer (no page limit, kernel >= 6.8); and when
 * the stack is deeper than overlayfs allows (or the kernel has no `lowerdir+` and the
 * string does not fit) the bottom layers are merged into `<target>.flat` first.
 * Safe with untrusted layer contents: the kernel only reads the layer directories; the
 * paths come from the engine (storage root), never from users. Nothing stays mounted when
 * a step fails: the new mount API attaches only at the final move_mount. */
#include "host/storage.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "host/linux/fsutil.h"
#include "lib/buf.h"
#include "lib/cleanup.h"
#include "lib/xalloc.h"

bool fs_overlay_legacy_only = false;

static bool path_fits_option(const char *p)
{
    return !strpbrk(p, ",:\\ \t\n");
}

/* "lowerdir=top:...:bottom[,upperdir=U,workdir=W]" for lowers[from..n), or NULL when a
 * path can not be written in an option string. */
static char *overlay_options(const char *const *lowers, size_t from, size_t n, const char *flat,
                             const char *upper, const char *work)
{
    _cleanup_buf_ kl_buf b = {0};
    kl_buf_puts(&b, "lowerdir=");
    for (size_t i = n; i-- > from;) {
        if (!path_fits_option(lowers[i]))
            return NULL;
        kl_buf_puts(&b, lowers[i]);
        if (i > from || flat)
            kl_buf_puts(&b, ":");
    }
    if (flat) {
        if (!path_fits_option(flat))
            return NULL;
        kl_buf_puts(&b, flat);
    }
    if (upper) {
        if (!path_fits_option(upper) || !path_fits_option(work))
            return NULL;
        kl_buf_printf(&b, ",upperdir=%s,workdir=%s", upper, work);
    }
    return kl_buf_steal(&b);
}

static size_t page_limit(void)
{
    long p = sysconf(_SC_PAGESIZE);
    return p > 0 ? (size_t)p - 1 : 4095; /* the kernel copies one page including the NUL */
}

/* Append the kernel's own explanation (fsconfig error log) to err's message. */
static int fs_error(int fsfd, int e, kl_error *err, const char *what)
{
    char log[512];
    ssize_t n = read(fsfd, log, sizeof(log) - 1);
    if (n > 0) {
        log[n] = '\0';
        log[strcspn(log, "\n")] = '\0';
        return kl_error_set(err, e, "%s: %s (%s)", what, strerror(e), log);
    }
    return kl_error_errno(err, e, "%s", what);
}

/* Returns 0, or -1 with err set; *unsupported tells that lowerdir+ is not known. */
static int mount_new_api(const char *const *lowers, size_t from, size_t n, const char *flat,
                         const char *upper, const char *work, const char *target, bool *unsupported,
                         kl_error *err)
{
    *unsupported = false;
    if (fs_overlay_legacy_only) {
        *unsupported = true;
        return kl_error_set(err, EINVAL, "lowerdir+ disabled");
    }
    _cleanup_close_ int fsfd = fsopen("overlay", FSOPEN_CLOEXEC);
    if (fsfd < 0) {
        *unsupported = errno == ENOSYS;
        return kl_error_errno(err, errno, "fsopen overlay");
    }
    if (fsconfig(fsfd, FSCONFIG_SET_STRING, "source", "overlay", 0) < 0)
        return fs_error(fsfd, errno, err, "overlay source");
    for (size_t i = n; i-- > from;) {
        if (fsconfig(fsfd, FSCONFIG_SET_STRING, "lowerdir+", lowers[i], 0) < 0) {
            int e = errno;
            *unsupported = e == EINVAL && i == n - 1;
            return fs_error(fsfd, e, err, lowers[i]);
        }
    }
    if (flat && fsconfig(fsfd, FSCONFIG_SET_STRING, "lowerdir+", flat, 0) < 0)
        return fs_error(fsfd, errno, err, flat);
    if (upper && (fsconfig(fsfd, FSCONFIG_SET_STRING, "upperdir", upper, 0) < 0 ||
                  fsconfig(fsfd, FSCONFIG_SET_STRING, "workdir", work, 0) < 0))
        return fs_error(fsfd, errno, err, "overlay upper/work directory");
    if (fsconfig(fsfd, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0)
        return fs_error(fsfd, errno, err, "creating overlay");
    _cleanup_close_ int mfd = fsmount(fsfd, FSMOUNT_CLOEXEC, upper ? 0 : MOUNT_ATTR_RDONLY);
    if (mfd < 0)
        return fs_error(fsfd, errno, err, "fsmount overlay");
    if (move_mount(mfd, "", AT_FDCWD, target, MOVE_MOUNT_F_EMPTY_PATH) < 0)
        return kl_error_errno(err, errno, "mounting overlay on %s", target);
    return 0;
}

static int mount_string(const char *opts, bool ro, const char *target, kl_error *err)
{
    if (mount("overlay", target, "overlay", ro ? MS_RDONLY : 0, opts) < 0)
        return kl_error_errno(err, errno, "mounting overlay on %s", target);
    return 0;
}

static int mount_ro_bind(const char *src, const char *target, kl_error *err)
{
    if (mount(src, target, NULL, MS_BIND, NULL) < 0)
        return kl_error_errno(err, errno, "bind mounting %s on %s", src, target);
    if (mount(NULL, target, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY, NULL) < 0) {
        int e = errno;
        umount2(target, MNT_DETACH);
        return kl_error_errno(err, e, "remounting %s read-only", target);
    }
    return 0;
}

static int mount_stack(const char *const *lowers, size_t n, const char *upper, const char *work,
                       const char *target, kl_error *err)
{
    /* overlay without an upper layer needs two lowers at least */
    if (n == 1 && !upper)
        return mount_ro_bind(lowers[0], target, err);
    if (n <= HOST_OVERLAY_MAX_LOWERS) {
        _cleanup_free_ char *opts = overlay_options(lowers, 0, n, NULL, upper, work);
        if (opts && strlen(opts) <= page_limit())
            return mount_string(opts, !upper, target, err);
        bool unsupported;
        kl_error e2 = KL_ERROR_INIT;
        if (mount_new_api(lowers, 0, n, NULL, upper, work, target, &unsupported, &e2) == 0)
            return 0;
        if (!unsupported) {
            *err = e2;
            return -1;
        }
    }

    /* Flatten the bottom of the stack; keep as many top layers as one mount takes. */
    _cleanup_free_ char *flat = xasprintf("%s.flat", target);
    size_t keep = n - 1 < HOST_OVERLAY_MAX_LOWERS - 1 ? n - 1 : HOST_OVERLAY_MAX_LOWERS - 1;
    bool unsupported = false;
    for (;;) {
        kl_error tmp = KL_ERROR_INIT;
        if (fs_remove_at(AT_FDCWD, flat, &tmp) < 0) {
            *err = tmp;
            return kl_error_prefix(err, "removing old flattened layer");
        }
        if (host_layers_flatten(lowers, n - keep, flat, err) < 0)
            return kl_error_prefix(err, "flattening %zu layers", n - keep);
        if (!unsupported) {
            if (keep == 0 && !upper)
                return mount_ro_bind(flat, target, err);
            if (mount_new_api(lowers, n - keep, n, flat, upper, work, target, &unsupported, &tmp) ==
                0)
                return 0;
            if (!unsupported) {
                *err = tmp;
                fs_remove_at(AT_FDCWD, flat, &tmp);
                return -1;
            }
        }
        /* No lowerdir+: as many top layers as fit in one page of options. */
        size_t fit = 0;
        while (fit < keep) {
            _cleanup_free_ char *o = overlay_options(lowers, n - (fit + 1), n, flat, upper, work);
            if (!o || strlen(o) > page_limit())
                break;
            fit++;
        }
        if (fit == keep) {
            _cleanup_free_ char *o = overlay_options(lowers, n - keep, n, flat, upper, work);
            int r = (keep == 0 && !upper) ? mount_ro_bind(flat, target, err)
                    : o                   ? mount_string(o, !upper, target, err)
                                          : kl_error_set(err, EINVAL, "layer path not usable");
            if (r < 0)
                fs_remove_at(AT_FDCWD, flat, &tmp);
            return r;
        }
        keep = fit; /* flatten again with fewer layers kept */
    }
}

int host_rootfs_mount(const char *const *lowers, size_t n, const char *upper, const char *work,
                      const char *target, kl_error *err)
{
    if (n == 0 || !lowers || !target || (upper && !work))
        return kl_error_set(err, EINVAL, "mounting rootfs: invalid layer stack");
    for (size_t i = 0; i < n; i++)
        if (!lowers[i] || lowers[i][0] != '/')
            return kl_error_set(err, EINVAL, "mounting rootfs: layer %zu is not an absolute path",
                                i);
    if (mount_stack(lowers, n, upper, work, target, err) < 0)
        return kl_error_prefix(err, "mounting rootfs of %zu layers", n);
    return 0;
}

int host_rootfs_unmount(const char *target, kl_error *err)
{
    if (umount2(target, UMOUNT_NOFOLLOW) < 0) {
        if (errno == EBUSY) {
            if (umount2(target, UMOUNT_NOFOLLOW | MNT_DETACH) < 0)
                return kl_error_errno(err, errno, "unmounting %s", target);
        } else if (errno != EINVAL && errno != ENOENT) {
            return kl_error_errno(err, errno, "unmounting %s", target);
        }
    }
    _cleanup_free_ char *flat = xasprintf("%s.flat", target);
    if (fs_remove_at(AT_FDCWD, flat, err) < 0)
        return kl_error_prefix(err, "removing flattened layer");
    return 0;
}

/* mountinfo escapes space, tab, newline and backslash as \ooo */
static void unescape_octal(char *s)
{
    char *w = s;
    for (char *r = s; *r;) {
        if (r[0] == '\\' && r[1] >= '0' && r[1] <= '3' && r[2] >= '0' && r[2] <= '7' &&
            r[3] >= '0' && r[3] <= '7') {
            *w++ = (char)((r[1] - '0') * 64 + (r[2] - '0') * 8 + (r[3] - '0'));
            r += 4;
        } else {
            *w++ = *r++;
        }
    }
    *w = '\0';
}

static int by_length_desc(const void *a, const void *b)
{
    size_t la = strlen(*(char *const *)a), lb = strlen(*(char *const *)b);
    return la < lb ? 1 : la > lb ? -1 : 0;
}

int host_unmount_below(const char *dir, kl_error *err)
{
    char real[PATH_MAX];
    if (!realpath(dir, real))
        return errno == ENOENT ? 0 : kl_error_errno(err, errno, "resolving %s", dir);
    size_t rl = strlen(real);
    _cleanup_fclose_ FILE *f = fopen("/proc/self/mountinfo", "re");
    if (!f)
        return kl_error_errno(err, errno, "reading mountinfo");
    _cleanup_strv_ char **points = NULL;
    _cleanup_free_ char *line = NULL;
    size_t cap = 0;
    while (getline(&line, &cap, f) > 0) {
        char mp[PATH_MAX + 1];
        if (sscanf(line, "%*s %*s %*s %*s %4096s", mp) != 1)
            continue;
        unescape_octal(mp);
        if (!strncmp(mp, real, rl) && (mp[rl] == '\0' || mp[rl] == '/' || rl == 1))
            strv_push(&points, mp);
    }
    size_t n = strv_len(points);
    if (n)
        qsort(points, n, sizeof(char *), by_length_desc);
    int count = 0;
    for (size_t i = 0; i < n; i++) {
        if (umount2(points[i], UMOUNT_NOFOLLOW) < 0 &&
            umount2(points[i], UMOUNT_NOFOLLOW | MNT_DETACH) < 0) {
            if (errno == EINVAL || errno == ENOENT)
                continue; /* gone with its parent (stacked mounts) */
            return kl_error_errno(err, errno, "unmounting %s", points[i]);
        }
        count++;
    }
    return count;
}

int host_layers_flatten(const char *const *lowers, size_t n, const char *dest, kl_error *err)
{
    _cleanup_free_ char *d1 = xstrdup(dest), *d2 = xstrdup(dest);
    const char *parent = dirname(d1), *name = basename(d2);
    _cleanup_close_ int pfd = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (pfd < 0)
        return kl_error_errno(err, errno, "opening %s", parent);
    if (faccessat(pfd, name, F_OK, AT_SYMLINK_NOFOLLOW) == 0)
        return kl_error_set(err, EEXIST, "%s exists", dest);
    _cleanup_free_ char *staging = NULL;
    _cleanup_close_ int sfd = fs_staging_create(pfd, name, &staging, err);
    if (sfd < 0)
        return -1;
    int r = 0;
    for (size_t i = 0; i < n && r == 0; i++) {
        _cleanup_close_ int lfd = open(lowers[i], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (lfd < 0)
            r = kl_error_errno(err, errno, "opening layer %s", lowers[i]);
        else if (fs_copy_tree(lfd, sfd, true, err) < 0)
            r = kl_error_prefix(err, "merging layer %s", lowers[i]);
    }
    if (r == 0)
        r = fs_staging_commit(pfd, staging, name, err);
    if (r < 0) {
        kl_error tmp = KL_ERROR_INIT;
        fs_remove_at(pfd, staging, &tmp);
    }
    return r;
}
