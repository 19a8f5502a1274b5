/* Packing a layer directory as an image layer tar (host_layer_pack, host/storage.h): the
 * reverse of host_extract_opts.oci_layer. Deterministic: entries in byte order of their
 * names, the files' own metadata, no time of packing; so the same directory gives the same
 * bytes, and the same digest, every time. */
#include "host/storage.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "host/linux/fsutil.h"
#include "lib/buf.h"
#include "lib/cleanup.h"
#include "lib/xalloc.h"

#define BLOCK 512
#define CHUNK (256 * 1024)
#define MAX_DEPTH 256

typedef struct hardlink {
    dev_t dev;
    ino_t ino;
    char *path;
} hardlink;

typedef struct packer {
    host_pack_write_fn write;
    void *ctx;
    hardlink *links;
    size_t nlinks;
    char *buf;
} packer;

static void octal(unsigned char *f, size_t len, unsigned long long v)
{
    /* len-1 digits and a NUL; past that, base-256 (GNU tar, libarchive read it) */
    unsigned long long max = 1ULL << (3 * (len - 1));
    if (v < max) {
        char tmp[24];
        snprintf(tmp, sizeof(tmp), "%0*llo", (int)(len - 1), v);
        memcpy(f, tmp, len - 1);
        f[len - 1] = 0;
        return;
    }
    memset(f, 0, len);
    f[0] = 0x80;
    for (size_t i = len - 1; i > 0 && v; i--, v >>= 8)
        f[i] = (unsigned char)(v & 0xff);
}

static int emit(packer *p, const void *data, size_t n, kl_error *err)
{
    return n ? p->write(data, n, p->ctx, err) : 0;
}

static int pad(packer *p, uint64_t size, kl_error *err)
{
    static const unsigned char zero[BLOCK];
    size_t n = (size_t)((BLOCK - size % BLOCK) % BLOCK);
    return emit(p, zero, n, err);
}

static void pax_record(kl_buf *b, const char *key, const char *value, size_t vlen)
{
    size_t base = strlen(key) + vlen + 3; /* ' ', '=', '\n' */
    size_t len = base + 1;
    for (;;) {
        char digits[24];
        size_t d = (size_t)snprintf(digits, sizeof(digits), "%zu", len);
        if (base + d == len)
            break;
        len = base + d;
    }
    kl_buf_printf(b, "%zu %s=", len, key);
    kl_buf_append(b, value, vlen);
    kl_buf_append(b, "\n", 1);
}

/* Split path into ustar's prefix (<=155) and name (<=100); false when it does not fit. */
static bool ustar_split(const char *path, size_t *cut)
{
    size_t n = strlen(path);
    if (n <= 100) {
        *cut = 0;
        return true;
    }
    for (size_t i = n - 1; i > 0; i--) {
        if (path[i] != '/')
            continue;
        if (i <= 155 && n - i - 1 <= 100 && n - i - 1 > 0) {
            *cut = i;
            return true;
        }
    }
    return false;
}

static int header(packer *p, const char *path, const struct stat *st, char type,
                  const char *linkname, uint64_t size, const kl_buf *xattrs, kl_error *err)
{
    _cleanup_buf_ kl_buf pax = KL_BUF_INIT;
    size_t cut = 0;
    bool fits = ustar_split(path, &cut);
    if (!fits)
        pax_record(&pax, "path", path, strlen(path));
    if (linkname && strlen(linkname) > 100)
        pax_record(&pax, "linkpath", linkname, strlen(linkname));
    if (xattrs && xattrs->len)
        kl_buf_append(&pax, xattrs->data, xattrs->len);
    if (pax.len) {
        struct stat none = {.st_mode = 0644};
        char name[100];
        const char *base = strrchr(path, '/');
        snprintf(name, sizeof(name), "PaxHeaders/%.80s", base && base[1] ? base + 1 : path);
        unsigned char h[BLOCK] = {0};
        memcpy(h, name, strlen(name));
        octal(h + 100, 8, none.st_mode);
        octal(h + 108, 8, 0);
        octal(h + 116, 8, 0);
        octal(h + 124, 12, pax.len);
        octal(h + 136, 12, 0);
        h[156] = 'x';
        memcpy(h + 257, "ustar", 6);
        memcpy(h + 263, "00", 2);
        memset(h + 148, ' ', 8);
        unsigned sum = 0;
        for (size_t i = 0; i < BLOCK; i++)
            sum += h[i];
        snprintf((char *)h + 148, 8, "%06o", sum);
        h[155] = ' ';
        if (emit(p, h, BLOCK, err) < 0 || emit(p, pax.data, pax.len, err) < 0 ||
            pad(p, pax.len, err) < 0)
            return -1;
    }
    unsigned char h[BLOCK] = {0};
    if (fits && cut) {
        memcpy(h + 345, path, cut);
        memcpy(h, path + cut + 1, strlen(path) - cut - 1);
    } else {
        memcpy(h, path, strlen(path) < 100 ? strlen(path) : 100);
    }
    octal(h + 100, 8, st->st_mode & 07777);
    octal(h + 108, 8, st->st_uid);
    octal(h + 116, 8, st->st_gid);
    octal(h + 124, 12, size);
    octal(h + 136, 12, st->st_mtim.tv_sec > 0 ? (unsigned long long)st->st_mtim.tv_sec : 0);
    h[156] = (unsigned char)type;
    if (linkname)
        memcpy(h + 157, linkname, strlen(linkname) < 100 ? strlen(linkname) : 100);
    memcpy(h + 257, "ustar", 6);
    memcpy(h + 263, "00", 2);
    if (type == '3' || type == '4') {
        octal(h + 329, 8, major(st->st_rdev));
        octal(h + 337, 8, minor(st->st_rdev));
    }
    memset(h + 148, ' ', 8);
    unsigned sum = 0;
    for (size_t i = 0; i < BLOCK; i++)
        sum += h[i];
    snprintf((char *)h + 148, 8, "%06o", sum);
    h[155] = ' ';
    return emit(p, h, BLOCK, err);
}

/* The xattrs a layer carries into an image: security.capability and user.* (overlay's own
 * trusted.overlay.* are how whiteouts and opaque directories are stored: not content). */
static void file_xattrs(int fd, kl_buf *out)
{
    char names[4096];
    ssize_t n = flistxattr(fd, names, sizeof(names));
    if (n <= 0)
        return;
    /* sorted, for the same bytes every time */
    char *list[128];
    size_t nl = 0;
    for (char *k = names; k < names + n && nl < 128; k += strlen(k) + 1)
        if (!strcmp(k, "security.capability") || !strncmp(k, "user.", 5))
            list[nl++] = k;
    for (size_t i = 1; i < nl; i++)
        for (size_t j = i; j > 0 && strcmp(list[j - 1], list[j]) > 0; j--) {
            char *t = list[j];
            list[j] = list[j - 1];
            list[j - 1] = t;
        }
    for (size_t i = 0; i < nl; i++) {
        char val[4096];
        ssize_t vl = fgetxattr(fd, list[i], val, sizeof(val));
        if (vl < 0)
            continue;
        _cleanup_free_ char *key = xasprintf("SCHILY.xattr.%s", list[i]);
        pax_record(out, key, val, (size_t)vl);
    }
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int pack_dir(packer *p, int dfd, const char *rel, int depth, kl_error *err);

static int pack_entry(packer *p, int dfd, const char *name, const char *rel, int depth,
                      kl_error *err)
{
    _cleanup_free_ char *path = *rel ? xasprintf("%s/%s", rel, name) : xstrdup(name);
    struct stat st;
    if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
        return kl_error_errno(err, errno, "packing %s", path);
    if (S_ISDIR(st.st_mode)) {
        if (depth >= MAX_DEPTH)
            return kl_error_set(err, ELOOP, "packing %s: too deep", path);
        _cleanup_close_ int fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
            return kl_error_errno(err, errno, "packing %s", path);
        _cleanup_buf_ kl_buf xa = KL_BUF_INIT;
        file_xattrs(fd, &xa);
        _cleanup_free_ char *dpath = xasprintf("%s/", path);
        if (header(p, dpath, &st, '5', NULL, 0, &xa, err) < 0)
            return -1;
        if (fs_dir_is_opaque(fd)) {
            _cleanup_free_ char *wh = xasprintf("%s/.wh..wh..opq", path);
            struct stat z = {.st_mode = 0644, .st_mtim = st.st_mtim};
            if (header(p, wh, &z, '0', NULL, 0, NULL, err) < 0)
                return -1;
        }
        return pack_dir(p, fd, path, depth + 1, err);
    }
    if (S_ISCHR(st.st_mode) && st.st_rdev == makedev(0, 0)) { /* an overlay whiteout */
        _cleanup_free_ char *wh =
            *rel ? xasprintf("%s/.wh.%s", rel, name) : xasprintf(".wh.%s", name);
        struct stat z = {.st_mode = 0644, .st_mtim = st.st_mtim};
        return header(p, wh, &z, '0', NULL, 0, NULL, err);
    }
    if (S_ISLNK(st.st_mode)) {
        char target[PATH_MAX + 1];
        ssize_t n = readlinkat(dfd, name, target, PATH_MAX);
        if (n < 0)
            return kl_error_errno(err, errno, "packing %s", path);
        target[n] = '\0';
        return header(p, path, &st, '2', target, 0, NULL, err);
    }
    if (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode))
        return header(p, path, &st, S_ISCHR(st.st_mode) ? '3' : '4', NULL, 0, NULL, err);
    if (S_ISFIFO(st.st_mode))
        return header(p, path, &st, '6', NULL, 0, NULL, err);
    if (!S_ISREG(st.st_mode))
        return 0; /* sockets: not content */
    if (st.st_nlink > 1) {
        for (size_t i = 0; i < p->nlinks; i++)
            if (p->links[i].dev == st.st_dev && p->links[i].ino == st.st_ino)
                return header(p, path, &st, '1', p->links[i].path, 0, NULL, err);
        p->links = xrealloc(p->links, (p->nlinks + 1) * sizeof(hardlink));
        p->links[p->nlinks++] = (hardlink){st.st_dev, st.st_ino, xstrdup(path)};
    }
    _cleanup_close_ int fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return kl_error_errno(err, errno, "packing %s", path);
    _cleanup_buf_ kl_buf xa = KL_BUF_INIT;
    file_xattrs(fd, &xa);
    if (header(p, path, &st, '0', NULL, (uint64_t)st.st_size, &xa, err) < 0)
        return -1;
    uint64_t done = 0;
    while (done < (uint64_t)st.st_size) {
        size_t want =
            (uint64_t)st.st_size - done < CHUNK ? (size_t)((uint64_t)st.st_size - done) : CHUNK;
        ssize_t r = read(fd, p->buf, want);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return kl_error_errno(err, r < 0 ? errno : EIO, "packing %s: the file shrank", path);
        if (emit(p, p->buf, (size_t)r, err) < 0)
            return -1;
        done += (uint64_t)r;
    }
    return pad(p, done, err);
}

static int pack_dir(packer *p, int dfd, const char *rel, int depth, kl_error *err)
{
    int dup_fd = fcntl(dfd, F_DUPFD_CLOEXEC, 3);
    DIR *d = dup_fd >= 0 ? fdopendir(dup_fd) : NULL;
    if (!d) {
        if (dup_fd >= 0)
            close(dup_fd);
        return kl_error_errno(err, errno, "packing %s", *rel ? rel : "/");
    }
    char **names = NULL;
    size_t n = 0;
    for (struct dirent *de; (de = readdir(d));) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
            continue;
        names = xrealloc(names, (n + 1) * sizeof(char *));
        names[n++] = xstrdup(de->d_name);
    }
    closedir(d);
    if (n > 1) /* qsort of NULL (an empty directory) is undefined */
        qsort(names, n, sizeof(char *), cmp_names);
    int rc = 0;
    for (size_t i = 0; i < n; i++) {
        if (rc == 0)
            rc = pack_entry(p, dfd, names[i], rel, depth, err);
        free(names[i]);
    }
    free(names);
    return rc;
}

int host_layer_pack(const char *dir, host_pack_write_fn write, void *ctx, kl_error *err)
{
    _cleanup_close_ int fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return kl_error_errno(err, errno, "packing %s", dir);
    packer p = {.write = write, .ctx = ctx, .buf = xmalloc(CHUNK)};
    int rc = pack_dir(&p, fd, "", 0, err);
    if (rc == 0) {
        static const unsigned char end[2 * BLOCK];
        rc = emit(&p, end, sizeof(end), err);
    }
    for (size_t i = 0; i < p.nlinks; i++)
        free(p.links[i].path);
    free(p.links);
    free(p.buf);
    return rc;
}
