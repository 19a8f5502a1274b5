/* Build contexts sent by the client (see upload.h). */
#include "engine/upload.h"
#include "host/fetch.h"
#include "host/storage.h"
#include "lib/cleanup.h"
#include "lib/id.h"
#include "lib/log.h"
#include "lib/xalloc.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct upload {
    char *dir;     /* <root>/uploads/<id> */
    char *context; /* <dir>/context, once extracted */
    int fd;        /* context.tar while writing, else -1 */
    uint64_t bytes;
};

upload *upload_begin(kl_engine *e, kl_error *err)
{
    _cleanup_free_ char *base = xasprintf("%s/uploads", e->root);
    if (mkdir(base, 0700) < 0 && errno != EEXIST)
        return kl_error_errno(err, errno, "creating %s", base), NULL;
    char id[KL_ID_LEN + 1];
    kl_id_new(id);
    upload *u = xcalloc(1, sizeof(*u));
    u->fd = -1;
    u->dir = xasprintf("%s/%s", base, id);
    if (mkdir(u->dir, 0700) < 0) {
        kl_error_errno(err, errno, "creating %s", u->dir);
        free(u->dir);
        free(u);
        return NULL;
    }
    _cleanup_free_ char *tar = xasprintf("%s/context.tar", u->dir);
    u->fd = open(tar, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (u->fd < 0) {
        kl_error_errno(err, errno, "creating %s", tar);
        upload_free(u);
        return NULL;
    }
    return u;
}

int upload_write(upload *u, const void *data, size_t n, kl_error *err)
{
    if (u->fd < 0)
        return kl_error_set(err, EINVAL, "the build context is complete already");
    if (u->bytes + n > UPLOAD_MAX_BYTES)
        return kl_error_set(err, EFBIG, "the build context is larger than %llu bytes",
                            (unsigned long long)UPLOAD_MAX_BYTES);
    const char *p = data;
    while (n > 0) {
        ssize_t w = write(u->fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return kl_error_errno(err, errno, "writing the build context");
        p += w;
        n -= (size_t)w;
        u->bytes += (uint64_t)w;
    }
    return 0;
}

int upload_finish(upload *u, bool (*cancelled)(void *), void *ctx, kl_error *err)
{
    if (u->fd < 0)
        return kl_error_set(err, EINVAL, "the build context is complete already");
    int rc = close(u->fd);
    u->fd = -1;
    if (rc < 0)
        return kl_error_errno(err, errno, "writing the build context");
    _cleanup_close_ int dfd = open(u->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0)
        return kl_error_errno(err, errno, "opening %s", u->dir);
    _cleanup_free_ char *url = xasprintf("file://%s/context.tar", u->dir);
    host_fetch_child_opts fo = {.ctx = ctx, .is_cancelled = cancelled};
    host_fetch_stage stage;
    kl_error ferr = KL_ERROR_INIT;
    if (host_fetch_extract_child(url, dfd, "context", &fo, NULL, &stage, &ferr) < 0) {
        if (ferr.code == ECANCELED)
            return kl_error_set(err, ECANCELED, "cancelled");
        return kl_error_set(err, ferr.code ? ferr.code : EINVAL,
                            "could not unpack the build context: %s", ferr.msg);
    }
    /* the archive is no longer needed */
    unlinkat(dfd, "context.tar", 0);
    u->context = xasprintf("%s/context", u->dir);
    return 0;
}

bool upload_is_archive(upload *u)
{
    unsigned char h[262];
    if (u->fd < 0)
        return true;
    ssize_t n = KL_RETRY_EINTR(pread(u->fd, h, sizeof(h), 0));
    if (n < 0)
        return true; /* let the helper say what is wrong */
    static const struct {
        const char *magic;
        size_t len;
    } compressed[] = {
        {"\x1f\x8b", 2}, /* gzip */
        {"BZh", 3},      /* bzip2 */
        {"\xfd"
         "7zXZ\x00",
         6},                     /* xz */
        {"\x28\xb5\x2f\xfd", 4}, /* zstd */
    };
    for (size_t i = 0; i < sizeof(compressed) / sizeof(compressed[0]); i++)
        if ((size_t)n >= compressed[i].len && !memcmp(h, compressed[i].magic, compressed[i].len))
            return true;
    return n >= 262 && !memcmp(h + 257, "ustar", 5);
}

int upload_finish_as_dockerfile(upload *u, kl_error *err)
{
    if (u->fd < 0)
        return kl_error_set(err, EINVAL, "the build context is complete already");
    int rc = close(u->fd);
    u->fd = -1;
    if (rc < 0)
        return kl_error_errno(err, errno, "writing the build context");
    _cleanup_free_ char *ctx = xasprintf("%s/context", u->dir);
    _cleanup_free_ char *tar = xasprintf("%s/context.tar", u->dir);
    _cleanup_free_ char *df = xasprintf("%s/Dockerfile", ctx);
    if (mkdir(ctx, 0755) < 0)
        return kl_error_errno(err, errno, "creating %s", ctx);
    if (rename(tar, df) < 0 || chmod(df, 0644) < 0)
        return kl_error_errno(err, errno, "moving the Dockerfile into %s", ctx);
    u->context = steal_pointer(&ctx);
    return 0;
}

const char *upload_context(const upload *u)
{
    return u->context;
}

uint64_t upload_bytes(const upload *u)
{
    return u->bytes;
}

void upload_free(upload *u)
{
    if (!u)
        return;
    if (u->fd >= 0)
        close(u->fd);
    kl_error err = KL_ERROR_INIT;
    if (host_tree_remove(u->dir, &err) < 0)
        log_warn("removing the build context %s: %s", u->dir, err.msg);
    free(u->context);
    free(u->dir);
    free(u);
}

void upload_sweep(kl_engine *e)
{
    _cleanup_free_ char *base = xasprintf("%s/uploads", e->root);
    _cleanup_strv_ char **names = NULL;
    {
        _cleanup_closedir_ DIR *d = opendir(base);
        struct dirent *de;
        while (d && (de = readdir(d)))
            if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
                strv_push(&names, de->d_name);
    }
    for (size_t i = 0; names && names[i]; i++) {
        _cleanup_free_ char *dir = xasprintf("%s/%s", base, names[i]);
        kl_error err = KL_ERROR_INIT;
        log_notice("removing the build context %s (its build was interrupted by a crash)", dir);
        if (host_tree_remove(dir, &err) < 0)
            log_warn("removing the build context %s: %s", dir, err.msg);
    }
}
