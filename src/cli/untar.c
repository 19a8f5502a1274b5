/* A safe tar extractor (see untar.h). Everything below the destination is reached from its
 * directory fd one component at a time with O_NOFOLLOW; nothing is created by a path string. */
#include "cli/untar.h"
#include "lib/buf.h"
#include "lib/cleanup.h"
#include "lib/xalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define BLOCK 512
#define MAX_META (1024 * 1024) /* a pax header or a GNU long name */
#define MAX_NAME 4096

typedef enum { ST_HEADER, ST_DATA, ST_PAD, ST_END } state;

/* A directory whose mode and mtime are set at the end. */
typedef struct dir_fix {
    char *path; /* components joined by '/', relative to the destination */
    unsigned mode;
    struct timespec mtime;
    long long uid, gid;
} dir_fix;

struct untar {
    int root;
    bool keep_owner;
    char **from, **to; /* rename components (strv, may be NULL when empty) */
    bool rename;
    state st;
    bool failed;
    char hdr[BLOCK];
    size_t hdr_len;
    uint64_t left; /* data bytes of the current entry still to come */
    size_t pad;    /* padding bytes after them */
    /* what the data goes to: a file, a meta buffer, or nowhere */
    int out_fd;
    char meta_kind; /* 'x', 'L', 'K' while reading one, else 0 */
    kl_buf meta;
    /* overrides for the next entry, from pax or GNU headers */
    char *next_path, *next_link;
    bool has_size, has_uid, has_gid, has_mtime;
    uint64_t next_size;
    long long next_uid, next_gid;
    struct timespec next_mtime;
    /* the file being written */
    char *cur_name;
    unsigned cur_mode;
    long long cur_uid, cur_gid;
    struct timespec cur_mtime;
    dir_fix *dirs;
    size_t ndirs, capdirs;
    untar_stats stats;
};

static int bad(untar *u, kl_error *err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int bad(untar *u, kl_error *err, const char *fmt, ...)
{
    char msg[KL_ERROR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    u->failed = true;
    return kl_error_set(err, EBADMSG, "%s", msg);
}

static int fs_fail(untar *u, kl_error *err, int code, const char *what, const char *name)
{
    u->failed = true;
    return kl_error_errno(err, code, "%s %s", what, name);
}

/* Split into components: NULL-terminated strv (NULL when none). `.` and empty ones dropped;
 * -1 for an absolute name or `..`. */
static int split(const char *name, char ***out)
{
    *out = NULL;
    if (name[0] == '/')
        return -1;
    _cleanup_free_ char *copy = xstrdup(name);
    char *save = NULL;
    for (char *c = strtok_r(copy, "/", &save); c; c = strtok_r(NULL, "/", &save)) {
        if (!strcmp(c, "."))
            continue;
        if (!strcmp(c, "..")) {
            strv_free(*out);
            *out = NULL;
            return -1;
        }
        strv_push(out, c);
    }
    return 0;
}

untar *untar_new(int dest_dirfd, const untar_opts *o)
{
    untar *u = xcalloc(1, sizeof(*u));
    u->root = fcntl(dest_dirfd, F_DUPFD_CLOEXEC, 3);
    u->out_fd = -1;
    u->meta = (kl_buf)KL_BUF_INIT;
    u->keep_owner = o && o->keep_owner;
    if (o && o->rename_from && o->rename_to) {
        u->rename = true;
        /* the caller's own names: a failure leaves them empty, which renames nothing */
        if (split(o->rename_from, &u->from) < 0 || split(o->rename_to, &u->to) < 0)
            u->failed = true;
    }
    if (u->root < 0)
        u->failed = true;
    return u;
}

void untar_free(untar *u)
{
    if (!u)
        return;
    if (u->root >= 0)
        close(u->root);
    if (u->out_fd >= 0)
        close(u->out_fd);
    strv_free(u->from);
    strv_free(u->to);
    kl_buf_free(&u->meta);
    free(u->next_path);
    free(u->next_link);
    free(u->cur_name);
    for (size_t i = 0; i < u->ndirs; i++)
        free(u->dirs[i].path);
    free(u->dirs);
    free(u);
}

const untar_stats *untar_get_stats(const untar *u)
{
    return &u->stats;
}

/* ---- numbers ---------------------------------------------------------------------------- */

/* An octal field (leading spaces, ending at a NUL or space) or base-256 (first byte 0x80).
 * -1 when malformed or negative. */
static int number(const char *f, size_t size, uint64_t *out)
{
    const unsigned char *p = (const unsigned char *)f;
    uint64_t v = 0;
    if (p[0] & 0x80) {
        if (p[0] != 0x80)
            return -1; /* negative, or too large */
        for (size_t i = 1; i < size; i++) {
            if (v >> 56)
                return -1;
            v = (v << 8) | p[i];
        }
        *out = v;
        return 0;
    }
    size_t i = 0;
    while (i < size && p[i] == ' ')
        i++;
    size_t digits = 0;
    for (; i < size && p[i] >= '0' && p[i] <= '7'; i++, digits++) {
        if (v >> 60)
            return -1;
        v = v * 8 + (p[i] - '0');
    }
    for (; i < size; i++)
        if (p[i] != ' ' && p[i] != '\0')
            return -1;
    *out = v;
    return 0;
}

static bool checksum_ok(const char *h)
{
    uint64_t want;
    if (number(h + 148, 8, &want) < 0)
        return false;
    unsigned long usum = 0;
    long ssum = 0;
    for (size_t i = 0; i < BLOCK; i++) {
        unsigned char c = (i >= 148 && i < 156) ? ' ' : (unsigned char)h[i];
        usum += c;
        ssum += (signed char)((i >= 148 && i < 156) ? ' ' : h[i]);
    }
    return want == usum || (long long)want == (long long)ssum;
}

/* A decimal (pax), with an optional fraction for times. */
static int decimal(const char *s, uint64_t *out, long *nsec)
{
    uint64_t v = 0;
    const char *p = s;
    if (*p < '0' || *p > '9')
        return -1;
    for (; *p >= '0' && *p <= '9'; p++) {
        if (v > (UINT64_MAX - 9) / 10)
            return -1;
        v = v * 10 + (uint64_t)(*p - '0');
    }
    long ns = 0;
    if (*p == '.' && nsec) {
        p++;
        int k = 0;
        for (; *p >= '0' && *p <= '9'; p++, k++)
            if (k < 9)
                ns = ns * 10 + (*p - '0');
        for (; k < 9; k++)
            ns *= 10;
    }
    if (*p)
        return -1;
    *out = v;
    if (nsec)
        *nsec = ns;
    return 0;
}

/* ---- pax -------------------------------------------------------------------------------- */

static int parse_pax(untar *u, kl_error *err)
{
    const char *p = u->meta.data ? u->meta.data : "";
    size_t left = u->meta.len;
    while (left > 0) {
        /* "<len> key=value\n", len counting the whole record */
        size_t len = 0, i = 0;
        while (i < left && p[i] >= '0' && p[i] <= '9' && len < MAX_META)
            len = len * 10 + (size_t)(p[i++] - '0');
        if (i == 0 || i >= left || p[i] != ' ' || len <= i + 1 || len > left || p[len - 1] != '\n')
            return bad(u, err, "malformed pax header");
        const char *kv = p + i + 1;
        size_t kvlen = len - i - 2;
        const char *eq = memchr(kv, '=', kvlen);
        if (!eq)
            return bad(u, err, "malformed pax header");
        _cleanup_free_ char *key = xstrndup(kv, (size_t)(eq - kv));
        _cleanup_free_ char *val = xstrndup(eq + 1, kvlen - (size_t)(eq - kv) - 1);
        if (strlen(val) != kvlen - (size_t)(eq - kv) - 1)
            return bad(u, err, "a NUL in a pax header");
        uint64_t v;
        long ns;
        if (!strcmp(key, "path")) {
            free(u->next_path);
            u->next_path = steal_pointer(&val);
        } else if (!strcmp(key, "linkpath")) {
            free(u->next_link);
            u->next_link = steal_pointer(&val);
        } else if (!strcmp(key, "size")) {
            if (decimal(val, &v, NULL) < 0)
                return bad(u, err, "malformed pax size");
            u->has_size = true;
            u->next_size = v;
        } else if (!strcmp(key, "uid") || !strcmp(key, "gid")) {
            if (decimal(val, &v, NULL) < 0 || v > UINT32_MAX)
                return bad(u, err, "malformed pax %s", key);
            if (key[0] == 'u')
                u->has_uid = true, u->next_uid = (long long)v;
            else
                u->has_gid = true, u->next_gid = (long long)v;
        } else if (!strcmp(key, "mtime")) {
            if (val[0] != '-' && decimal(val, &v, &ns) == 0 && v < (uint64_t)INT64_MAX) {
                u->has_mtime = true;
                u->next_mtime = (struct timespec){.tv_sec = (time_t)v, .tv_nsec = ns};
            }
        }
        p += len;
        left -= len;
    }
    return 0;
}

/* ---- the destination -------------------------------------------------------------------- */

/* The directory holding the last of `comps` (n of them), opened from the root one component
 * at a time, never through a symlink; missing ones are made (0700: their entries, if any,
 * fix the mode later) when `create`. The fd, or -1 with err. */
static int open_parent(untar *u, char *const *comps, size_t n, bool create, const char *name,
                       kl_error *err)
{
    int fd = fcntl(u->root, F_DUPFD_CLOEXEC, 3);
    if (fd < 0)
        return fs_fail(u, err, errno, "opening the destination for", name);
    for (size_t i = 0; i + 1 < n; i++) {
        int next = openat(fd, comps[i], O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (next < 0 && errno == ENOENT && create) {
            if (mkdirat(fd, comps[i], 0700) < 0 && errno != EEXIST) {
                int e = errno;
                close(fd);
                return fs_fail(u, err, e, "creating a directory for", name);
            }
            next = openat(fd, comps[i], O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        }
        int e = errno;
        close(fd);
        if (next < 0) {
            if (e == ELOOP || e == ENOTDIR)
                return bad(u, err,
                           "entry '%s': a component on its way is not a directory (a "
                           "symlink is not followed)",
                           name);
            return fs_fail(u, err, e, "opening the directory of", name);
        }
        fd = next;
    }
    return fd;
}

/* Make room for a new entry `base` of kind dir or not in pfd: an existing non-directory is
 * removed for a non-directory; a directory for a directory stays (1 returned); a clash of
 * directory and non-directory is an error. */
static int make_room(untar *u, int pfd, const char *base, bool is_dir, const char *name,
                     kl_error *err)
{
    struct stat st;
    if (fstatat(pfd, base, &st, AT_SYMLINK_NOFOLLOW) < 0) {
        if (errno == ENOENT)
            return 0;
        return fs_fail(u, err, errno, "looking at", name);
    }
    if (S_ISDIR(st.st_mode) && is_dir)
        return 1;
    if (S_ISDIR(st.st_mode))
        return bad(u, err, "cannot overwrite the directory '%s' with a non-directory", name);
    if (is_dir)
        return bad(u, err, "cannot overwrite the non-directory '%s' with a directory", name);
    if (unlinkat(pfd, base, 0) < 0)
        return fs_fail(u, err, errno, "replacing", name);
    return 0;
}

/* The entry's components after the rename; -1 (EBADMSG) when hostile or outside the copy. */
static int entry_comps(untar *u, const char *name, char ***out, kl_error *err)
{
    if (split(name, out) < 0)
        return bad(u, err, "entry '%.256s': an absolute name or '..' is refused", name);
    if (!u->rename)
        return 0;
    size_t nf = strv_len(u->from), nc = strv_len(*out);
    bool in = nc >= nf;
    for (size_t i = 0; in && i < nf; i++)
        in = !strcmp((*out)[i], u->from[i]);
    if (!in) {
        strv_free(*out);
        *out = NULL;
        return bad(u, err, "entry '%.256s' is not below the path that was asked for", name);
    }
    char **res = NULL;
    for (size_t i = 0; u->to && u->to[i]; i++)
        strv_push(&res, u->to[i]);
    for (size_t i = nf; i < nc; i++)
        strv_push(&res, (*out)[i]);
    strv_free(*out);
    *out = res;
    return 0;
}

static char *join(char *const *comps)
{
    kl_buf b = KL_BUF_INIT;
    for (size_t i = 0; comps && comps[i]; i++) {
        if (i)
            kl_buf_append(&b, "/", 1);
        kl_buf_puts(&b, comps[i]);
    }
    kl_buf_append(&b, "", 1);
    return kl_buf_steal(&b);
}

static unsigned kept_mode(const untar *u, unsigned mode)
{
    return u->keep_owner ? (mode & 07777) : (mode & 01777);
}

static void set_owner(untar *u, int pfd, const char *base, int fd, long long uid, long long gid)
{
    if (!u->keep_owner || uid < 0 || gid < 0)
        return;
    /* best effort, as tar as a user does: the ids need not exist here */
    if (fd >= 0)
        (void)!fchown(fd, (uid_t)uid, (gid_t)gid);
    else if (base)
        (void)!fchownat(pfd, base, (uid_t)uid, (gid_t)gid, AT_SYMLINK_NOFOLLOW);
}

/* One entry whose header (and overrides) are read. Sets up u->out_fd for a regular file. */
static int start_entry(untar *u, const char *h, kl_error *err)
{
    char type = h[156];
    uint64_t mode = 0, uid = 0, gid = 0, mtime = 0, size = 0;
    if (number(h + 100, 8, &mode) < 0 || number(h + 108, 8, &uid) < 0 ||
        number(h + 116, 8, &gid) < 0 || number(h + 136, 12, &mtime) < 0 ||
        number(h + 124, 12, &size) < 0)
        return bad(u, err, "malformed tar header");
    /* a pax size is the next real entry's, not a meta entry's */
    bool meta = type == 'x' || type == 'L' || type == 'K' || type == 'g';
    if (u->has_size && !meta)
        size = u->next_size;
    u->left = size;
    u->pad = (size_t)((BLOCK - size % BLOCK) % BLOCK);

    /* meta entries: their data is read into u->meta */
    if (type == 'x' || type == 'L' || type == 'K') {
        if (size > MAX_META)
            return bad(u, err, "a pax header or long name over 1 MiB");
        u->meta_kind = type;
        kl_buf_reset(&u->meta);
        return 0;
    }
    if (type == 'g') { /* global pax header: nothing we use */
        u->meta_kind = 0;
        return 0;
    }

    /* the name: pax/GNU, else ustar prefix + name */
    _cleanup_free_ char *name = NULL;
    if (u->next_path) {
        name = steal_pointer(&u->next_path);
    } else {
        char n[101], pre[156];
        memcpy(n, h, 100);
        n[100] = '\0';
        pre[0] = '\0';
        if (!memcmp(h + 257, "ustar", 5)) {
            memcpy(pre, h + 345, 155);
            pre[155] = '\0';
        }
        name = pre[0] ? xasprintf("%s/%s", pre, n) : xstrdup(n);
    }
    _cleanup_free_ char *link = NULL;
    if (u->next_link) {
        link = steal_pointer(&u->next_link);
    } else {
        char l[101];
        memcpy(l, h + 157, 100);
        l[100] = '\0';
        link = xstrdup(l);
    }
    long long euid = u->has_uid ? u->next_uid : (long long)uid;
    long long egid = u->has_gid ? u->next_gid : (long long)gid;
    struct timespec emtime =
        u->has_mtime ? u->next_mtime : (struct timespec){.tv_sec = (time_t)mtime};
    u->has_size = u->has_uid = u->has_gid = u->has_mtime = false;
    if (strlen(name) > MAX_NAME || strlen(link) > MAX_NAME)
        return bad(u, err, "an entry name or link target over 4096 bytes");
    if (!name[0])
        return bad(u, err, "an entry without a name");

    _cleanup_strv_ char **comps = NULL;
    if (entry_comps(u, name, &comps, err) < 0)
        return -1;
    size_t n = strv_len(comps);
    for (size_t i = 0; i < n; i++)
        if (strlen(comps[i]) > NAME_MAX)
            return bad(u, err, "entry '%.256s': a component over 255 bytes", name);
    bool is_dir = type == '5';
    if (n == 0) {
        /* the destination itself: nothing to make (its mode is the user's) */
        if (is_dir)
            return 0;
        return bad(u, err, "entry '%.256s' would replace the destination directory", name);
    }
    bool known = type == '0' || type == '\0' || type == '7' || is_dir || type == '2' ||
                 type == '1' || type == '6';
    if (!known) {
        u->stats.skipped++; /* devices, sockets, vendor types */
        return 0;
    }
    _cleanup_close_ int pfd = open_parent(u, comps, n, true, name, err);
    if (pfd < 0)
        return -1;
    const char *base = comps[n - 1];
    int room = make_room(u, pfd, base, is_dir, name, err);
    if (room < 0)
        return -1;
    if (is_dir) {
        if (!room && mkdirat(pfd, base, 0700) < 0)
            return fs_fail(u, err, errno, "creating the directory", name);
        if (u->ndirs == u->capdirs) {
            u->capdirs = u->capdirs ? u->capdirs * 2 : 16;
            u->dirs = xrealloc(u->dirs, u->capdirs * sizeof(*u->dirs));
        }
        u->dirs[u->ndirs++] = (dir_fix){.path = join(comps),
                                        .mode = kept_mode(u, (unsigned)mode),
                                        .mtime = emtime,
                                        .uid = euid,
                                        .gid = egid};
        u->stats.dirs++;
        return 0;
    }
    if (type == '2') {
        if (symlinkat(link, pfd, base) < 0)
            return fs_fail(u, err, errno, "creating the symlink", name);
        set_owner(u, pfd, base, -1, euid, egid);
        struct timespec ts[2] = {emtime, emtime};
        utimensat(pfd, base, ts, AT_SYMLINK_NOFOLLOW);
        u->stats.symlinks++;
        return 0;
    }
    if (type == '1') {
        _cleanup_strv_ char **tcomps = NULL;
        if (entry_comps(u, link, &tcomps, err) < 0)
            return -1;
        size_t tn = strv_len(tcomps);
        if (tn == 0)
            return bad(u, err, "entry '%.256s': a hard link to the destination itself", name);
        _cleanup_close_ int tfd = open_parent(u, tcomps, tn, false, name, err);
        if (tfd < 0)
            return -1;
        /* flags 0: the target, if a symlink, is linked itself, not followed */
        if (linkat(tfd, tcomps[tn - 1], pfd, base, 0) < 0)
            return fs_fail(u, err, errno, "creating the hard link", name);
        u->stats.hardlinks++;
        return 0;
    }
    if (type == '6') {
        if (mkfifoat(pfd, base, kept_mode(u, (unsigned)mode) & 0777) < 0)
            return fs_fail(u, err, errno, "creating the fifo", name);
        set_owner(u, pfd, base, -1, euid, egid);
        u->stats.fifos++;
        return 0;
    }
    /* a regular file: its data follows */
    int fd = openat(pfd, base, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0)
        return fs_fail(u, err, errno, "creating", name);
    u->out_fd = fd;
    free(u->cur_name);
    u->cur_name = steal_pointer(&name);
    u->cur_mode = kept_mode(u, (unsigned)mode);
    u->cur_uid = euid;
    u->cur_gid = egid;
    u->cur_mtime = emtime;
    u->stats.files++;
    u->stats.bytes += size;
    return 0;
}

/* The current regular file is complete. */
static int end_file(untar *u, kl_error *err)
{
    int fd = u->out_fd;
    u->out_fd = -1;
    set_owner(u, -1, NULL, fd, u->cur_uid, u->cur_gid);
    int rc = 0;
    if (fchmod(fd, u->cur_mode) < 0)
        rc = fs_fail(u, err, errno, "setting the mode of", u->cur_name);
    struct timespec ts[2] = {u->cur_mtime, u->cur_mtime};
    futimens(fd, ts);
    if (close(fd) < 0 && rc == 0)
        rc = fs_fail(u, err, errno, "writing", u->cur_name);
    return rc;
}

/* The data of a meta entry is complete. */
static int end_meta(untar *u, kl_error *err)
{
    char kind = u->meta_kind;
    u->meta_kind = 0;
    if (kind == 'x')
        return parse_pax(u, err);
    /* GNU long name / link: NUL-terminated (or not) */
    kl_buf_append(&u->meta, "", 1);
    char *s = xstrdup(u->meta.data);
    if (kind == 'L') {
        free(u->next_path);
        u->next_path = s;
    } else {
        free(u->next_link);
        u->next_link = s;
    }
    return 0;
}

static bool all_zero(const char *b)
{
    for (size_t i = 0; i < BLOCK; i++)
        if (b[i])
            return false;
    return true;
}

int untar_feed(untar *u, const void *data, size_t n, kl_error *err)
{
    if (u->failed)
        return kl_error_set(err, EBADMSG, "the extraction has already failed");
    const char *p = data;
    while (n > 0) {
        switch (u->st) {
        case ST_END:
            return 0; /* what follows the end blocks (padding to a record) is ignored */
        case ST_HEADER: {
            size_t k = BLOCK - u->hdr_len < n ? BLOCK - u->hdr_len : n;
            memcpy(u->hdr + u->hdr_len, p, k);
            u->hdr_len += k;
            p += k;
            n -= k;
            if (u->hdr_len < BLOCK)
                break;
            u->hdr_len = 0;
            if (all_zero(u->hdr)) {
                u->st = ST_END;
                break;
            }
            if (!checksum_ok(u->hdr))
                return bad(u, err, "not a tar archive, or a damaged one (bad header checksum)");
            if (start_entry(u, u->hdr, err) < 0)
                return -1;
            u->st = u->left ? ST_DATA : u->pad ? ST_PAD : ST_HEADER;
            if (u->st == ST_HEADER && u->out_fd >= 0 && end_file(u, err) < 0)
                return -1;
            if (u->st == ST_HEADER && u->meta_kind && end_meta(u, err) < 0)
                return -1;
            break;
        }
        case ST_DATA: {
            size_t k = u->left < n ? (size_t)u->left : n;
            if (u->out_fd >= 0) {
                size_t done = 0;
                while (done < k) {
                    ssize_t w = write(u->out_fd, p + done, k - done);
                    if (w < 0 && errno == EINTR)
                        continue;
                    if (w < 0)
                        return fs_fail(u, err, errno, "writing", u->cur_name);
                    done += (size_t)w;
                }
            } else if (u->meta_kind) {
                kl_buf_append(&u->meta, p, k);
            }
            u->left -= k;
            p += k;
            n -= k;
            if (u->left == 0) {
                if (u->out_fd >= 0 && end_file(u, err) < 0)
                    return -1;
                if (u->meta_kind && end_meta(u, err) < 0)
                    return -1;
                u->st = u->pad ? ST_PAD : ST_HEADER;
            }
            break;
        }
        case ST_PAD: {
            size_t k = u->pad < n ? u->pad : n;
            u->pad -= k;
            p += k;
            n -= k;
            if (u->pad == 0)
                u->st = ST_HEADER;
            break;
        }
        }
    }
    return 0;
}

int untar_finish(untar *u, kl_error *err)
{
    if (u->failed)
        return kl_error_set(err, EBADMSG, "the extraction has already failed");
    if (u->st == ST_DATA || u->st == ST_PAD || (u->st == ST_HEADER && u->hdr_len > 0))
        return bad(u, err, "the archive is cut short");
    if (u->next_path || u->next_link || u->meta_kind)
        return bad(u, err, "the archive ends after a pax header or long name");
    /* the directories, deepest (latest) first */
    for (size_t i = u->ndirs; i-- > 0;) {
        dir_fix *d = &u->dirs[i];
        _cleanup_strv_ char **comps = NULL;
        if (split(d->path, &comps) < 0 || !comps)
            continue;
        size_t n = strv_len(comps);
        _cleanup_close_ int pfd = open_parent(u, comps, n, false, d->path, err);
        if (pfd < 0)
            return -1;
        _cleanup_close_ int fd =
            openat(pfd, comps[n - 1], O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
            return bad(u, err, "directory '%.256s' was replaced while extracting", d->path);
        set_owner(u, -1, NULL, fd, d->uid, d->gid);
        if (fchmod(fd, d->mode) < 0)
            return fs_fail(u, err, errno, "setting the mode of", d->path);
        struct timespec ts[2] = {d->mtime, d->mtime};
        futimens(fd, ts);
    }
    return 0;
}
