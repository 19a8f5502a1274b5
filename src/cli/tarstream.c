/* The build context as a tar stream (see tarstream.h). */
#include "cli/tarstream.h"
#include "lib/buf.h"
#include "lib/cleanup.h"
#include "lib/dockerignore.h"
#include "lib/xalloc.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define BLOCK 512
#define CHUNK (256 * 1024)

typedef struct walker {
    tarstream_write_fn write;
    void *ud;
    kl_error *err;
    dockerignore *ignore;
    const char *dockerfile;
    tarstream_stats *st;
    kl_buf out; /* pending bytes, flushed in CHUNK pieces */
} walker;

static int flush(walker *w, bool all)
{
    while (w->out.len >= CHUNK || (all && w->out.len > 0)) {
        size_t n = w->out.len < CHUNK ? w->out.len : CHUNK;
        if (w->write(w->ud, w->out.data, n, w->err) < 0)
            return -1;
        kl_buf_consume(&w->out, n);
    }
    return 0;
}

static int put(walker *w, const void *data, size_t n)
{
    kl_buf_append(&w->out, data, n);
    return flush(w, false);
}

static void octal(char *field, size_t size, uint64_t v)
{
    /* size-1 digits and a NUL, zero-padded */
    snprintf(field, size, "%0*llo", (int)size - 1, (unsigned long long)v);
}

/* One header block (and a pax header before it when something does not fit). */
static int header(walker *w, const char *name, const struct stat *st, char type, const char *link,
                  uint64_t size)
{
    bool long_name = strlen(name) > 100, long_link = link && strlen(link) > 100;
    bool big = size > 077777777777ULL;
    if (long_name || long_link || big) {
        kl_buf pax = KL_BUF_INIT;
        const char *keys[] = {"path", "linkpath", "size"};
        char sz[32];
        snprintf(sz, sizeof(sz), "%llu", (unsigned long long)size);
        const char *vals[] = {long_name ? name : NULL, long_link ? link : NULL, big ? sz : NULL};
        for (size_t i = 0; i < 3; i++) {
            if (!vals[i])
                continue;
            /* "<len> key=value\n", where len counts itself */
            size_t body = 1 + strlen(keys[i]) + 1 + strlen(vals[i]) + 1;
            size_t len = body + 1;
            for (;;) {
                char d[24];
                size_t total = body + (size_t)snprintf(d, sizeof(d), "%zu", len);
                if (total == len)
                    break;
                len = total;
            }
            kl_buf_printf(&pax, "%zu %s=%s\n", len, keys[i], vals[i]);
        }
        struct stat pst = *st;
        pst.st_mode = 0644;
        int rc = header(w, "././@PaxHeader", &pst, 'x', NULL, pax.len);
        if (rc == 0)
            rc = put(w, pax.data, pax.len);
        static const char zeros[BLOCK];
        if (rc == 0 && pax.len % BLOCK)
            rc = put(w, zeros, BLOCK - pax.len % BLOCK);
        kl_buf_free(&pax);
        if (rc < 0)
            return -1;
    }
    char h[BLOCK];
    memset(h, 0, sizeof(h));
    /* a name that did not fit is in the pax header; this one is cut */
    memcpy(h, name, strlen(name) > 100 ? 100 : strlen(name));
    octal(h + 100, 8, st->st_mode & 07777);
    octal(h + 108, 8, st->st_uid);
    octal(h + 116, 8, st->st_gid);
    octal(h + 124, 12, big ? 0 : size);
    octal(h + 136, 12, st->st_mtime > 0 ? (uint64_t)st->st_mtime : 0);
    h[156] = type;
    if (link)
        memcpy(h + 157, link, strlen(link) > 100 ? 100 : strlen(link));
    memcpy(h + 257, "ustar", 6);
    memcpy(h + 263, "00", 2);
    memset(h + 148, ' ', 8);
    unsigned sum = 0;
    for (size_t i = 0; i < BLOCK; i++)
        sum += (unsigned char)h[i];
    snprintf(h + 148, 8, "%06o", sum);
    return put(w, h, BLOCK);
}

static int file_body(walker *w, int fd, uint64_t size, const char *name)
{
    char buf[65536];
    uint64_t left = size;
    while (left > 0) {
        ssize_t n = read(fd, buf, left < sizeof(buf) ? (size_t)left : sizeof(buf));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return kl_error_errno(w->err, errno, "reading %s", name);
        if (n == 0)
            return kl_error_set(w->err, EIO, "%s changed while it was being sent", name);
        if (put(w, buf, (size_t)n) < 0)
            return -1;
        left -= (uint64_t)n;
    }
    static const char zeros[BLOCK];
    if (size % BLOCK)
        return put(w, zeros, BLOCK - size % BLOCK);
    return 0;
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool is_kept_always(const walker *w, const char *rel)
{
    return !strcmp(rel, w->dockerfile) || !strcmp(rel, ".dockerignore");
}

/* The entries of directory `dfd` (relative path `prefix`, "" for the top). */
static int walk(walker *w, int dfd, const char *prefix)
{
    int dup_fd = fcntl(dfd, F_DUPFD_CLOEXEC, 3);
    if (dup_fd < 0)
        return kl_error_errno(w->err, errno, "reading %s", prefix[0] ? prefix : ".");
    DIR *d = fdopendir(dup_fd);
    if (!d) {
        close(dup_fd);
        return kl_error_errno(w->err, errno, "reading %s", prefix[0] ? prefix : ".");
    }
    char **names = NULL;
    struct dirent *de;
    while ((de = readdir(d)))
        if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
            strv_push(&names, de->d_name);
    closedir(d);
    size_t n = strv_len(names);
    if (n)
        qsort(names, n, sizeof(char *), cmp_names);
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        _cleanup_free_ char *rel =
            prefix[0] ? xasprintf("%s/%s", prefix, names[i]) : xstrdup(names[i]);
        struct stat st;
        if (fstatat(dfd, names[i], &st, AT_SYMLINK_NOFOLLOW) < 0) {
            rc = kl_error_errno(w->err, errno, "reading %s", rel);
            break;
        }
        bool excluded =
            w->ignore && !is_kept_always(w, rel) && dockerignore_is_excluded(w->ignore, rel);
        if (excluded && !(S_ISDIR(st.st_mode) && dockerignore_has_exceptions(w->ignore))) {
            w->st->excluded++;
            continue;
        }
        if (S_ISDIR(st.st_mode)) {
            _cleanup_close_ int sub =
                openat(dfd, names[i], O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            if (sub < 0) {
                rc = kl_error_errno(w->err, errno, "opening %s", rel);
                break;
            }
            if (!excluded) {
                _cleanup_free_ char *dname = xasprintf("%s/", rel);
                rc = header(w, dname, &st, '5', NULL, 0);
                w->st->dirs++;
            }
            if (rc == 0)
                rc = walk(w, sub, rel);
        } else if (excluded) {
            w->st->excluded++;
        } else if (S_ISREG(st.st_mode)) {
            _cleanup_close_ int fd = openat(dfd, names[i], O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
            if (fd < 0) {
                rc = kl_error_errno(w->err, errno, "opening %s", rel);
                break;
            }
            rc = header(w, rel, &st, '0', NULL, (uint64_t)st.st_size);
            if (rc == 0)
                rc = file_body(w, fd, (uint64_t)st.st_size, rel);
            w->st->files++;
            w->st->bytes += (uint64_t)st.st_size;
        } else if (S_ISLNK(st.st_mode)) {
            char target[4096];
            ssize_t tl = readlinkat(dfd, names[i], target, sizeof(target) - 1);
            if (tl < 0) {
                rc = kl_error_errno(w->err, errno, "reading the link %s", rel);
                break;
            }
            target[tl] = '\0';
            rc = header(w, rel, &st, '2', target, 0);
            w->st->links++;
        } else {
            w->st->skipped++; /* sockets, fifos, devices: not part of a context */
        }
    }
    strv_free(names);
    return rc;
}

/* The context's .dockerignore, or NULL when there is none. */
static int load_ignore(int dfd, dockerignore **out, kl_error *err)
{
    *out = NULL;
    _cleanup_close_ int fd = openat(dfd, ".dockerignore", O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? 0 : kl_error_errno(err, errno, "opening .dockerignore");
    _cleanup_buf_ kl_buf text = KL_BUF_INIT;
    char buf[4096];
    ssize_t n;
    while ((n = read(fd, buf, sizeof(buf))) > 0) {
        kl_buf_append(&text, buf, (size_t)n);
        if (text.len > 1024 * 1024)
            return kl_error_set(err, EFBIG, ".dockerignore is larger than 1 MiB");
    }
    if (n < 0)
        return kl_error_errno(err, errno, "reading .dockerignore");
    kl_buf_append(&text, "", 1);
    *out = dockerignore_parse(text.data, err);
    if (!*out)
        return kl_error_prefix(err, ".dockerignore");
    return 0;
}

int tarstream_write_path(const char *path, const char *as, bool follow, tarstream_write_fn write,
                         void *ud, tarstream_stats *stats, kl_error *err)
{
    tarstream_stats local = {0};
    walker w = {.write = write,
                .ud = ud,
                .err = err,
                .dockerfile = "",
                .st = stats ? stats : &local,
                .out = KL_BUF_INIT};
    *w.st = (tarstream_stats){0};
    struct stat st;
    if ((follow ? stat(path, &st) : lstat(path, &st)) < 0)
        return kl_error_errno(err, errno, "%s", path);
    bool contents = !strcmp(as, ".");
    if (contents && !S_ISDIR(st.st_mode))
        return kl_error_set(err, ENOTDIR, "%s: not a directory", path);
    int rc;
    if (S_ISDIR(st.st_mode)) {
        _cleanup_close_ int dfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0)
            return kl_error_errno(err, errno, "opening %s", path);
        rc = 0;
        if (!contents) {
            _cleanup_free_ char *dname = xasprintf("%s/", as);
            rc = header(&w, dname, &st, '5', NULL, 0);
            w.st->dirs++;
        }
        if (rc == 0)
            rc = walk(&w, dfd, contents ? "" : as);
    } else if (S_ISREG(st.st_mode)) {
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | (follow ? 0 : O_NOFOLLOW));
        if (fd < 0)
            return kl_error_errno(err, errno, "opening %s", path);
        rc = header(&w, as, &st, '0', NULL, (uint64_t)st.st_size);
        if (rc == 0)
            rc = file_body(&w, fd, (uint64_t)st.st_size, path);
        w.st->files++;
        w.st->bytes += (uint64_t)st.st_size;
    } else if (S_ISLNK(st.st_mode)) {
        char target[4096];
        ssize_t tl = readlink(path, target, sizeof(target) - 1);
        if (tl < 0)
            return kl_error_errno(err, errno, "reading the link %s", path);
        target[tl] = '\0';
        rc = header(&w, as, &st, '2', target, 0);
        w.st->links++;
    } else {
        return kl_error_set(err, ENOTSUP, "%s: not a file, directory or symlink", path);
    }
    static const char end[2 * BLOCK];
    if (rc == 0)
        rc = put(&w, end, sizeof(end));
    if (rc == 0)
        rc = flush(&w, true);
    kl_buf_free(&w.out);
    return rc;
}

int tarstream_write_dir(const char *dir, const char *dockerfile, tarstream_write_fn write, void *ud,
                        tarstream_stats *stats, kl_error *err)
{
    tarstream_stats local = {0};
    walker w = {.write = write,
                .ud = ud,
                .err = err,
                .dockerfile = dockerfile && dockerfile[0] ? dockerfile : "Dockerfile",
                .st = stats ? stats : &local,
                .out = KL_BUF_INIT};
    *w.st = (tarstream_stats){0};
    while (!strncmp(w.dockerfile, "./", 2))
        w.dockerfile += 2;
    _cleanup_close_ int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0)
        return kl_error_errno(err, errno, "opening the context %s", dir);
    if (load_ignore(dfd, &w.ignore, err) < 0)
        return -1;
    int rc = walk(&w, dfd, "");
    static const char end[2 * BLOCK];
    if (rc == 0)
        rc = put(&w, end, sizeof(end));
    if (rc == 0)
        rc = flush(&w, true);
    dockerignore_free(w.ignore);
    kl_buf_free(&w.out);
    return rc;
}
