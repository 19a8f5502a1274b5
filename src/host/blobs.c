/* Registry blobs as files under the storage root (host/storage.h, "blobs"): portable POSIX,
 * the same on Linux and FreeBSD (compiled into both host layers). */
#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "host/storage.h"
#include "lib/cleanup.h"
#include "lib/xalloc.h"

static bool is_sha256_hex(const char *h)
{
    if (strlen(h) != 64)
        return false;
    for (size_t i = 0; i < 64; i++)
        if (!((h[i] >= '0' && h[i] <= '9') || (h[i] >= 'a' && h[i] <= 'f')))
            return false;
    return true;
}

static const char *digest_hex(const char *digest)
{
    if (!digest || strncmp(digest, "sha256:", 7) != 0 || !is_sha256_hex(digest + 7))
        return NULL;
    return digest + 7;
}

int host_blobs_init(const char *root, kl_error *err)
{
    _cleanup_free_ char *b = xasprintf("%s/blobs", root);
    _cleanup_free_ char *s = xasprintf("%s/blobs/sha256", root);
    if (mkdir(b, 0700) < 0 && errno != EEXIST)
        return kl_error_errno(err, errno, "creating %s", b);
    if (mkdir(s, 0700) < 0 && errno != EEXIST)
        return kl_error_errno(err, errno, "creating %s", s);
    return 0;
}

char *host_blob_path(const char *root, const char *digest)
{
    const char *hex = digest_hex(digest);
    return hex ? xasprintf("%s/blobs/sha256/%s", root, hex) : NULL;
}

int host_blob_commit(const char *root, const char *src, const char *digest, kl_error *err)
{
    _cleanup_free_ char *dst = host_blob_path(root, digest);
    if (!dst)
        return kl_error_set(err, EINVAL, "invalid blob digest");
    if (chmod(src, 0444) < 0 || rename(src, dst) < 0)
        return kl_error_errno(err, errno, "storing blob %s", digest);
    return 0;
}

int host_blob_remove(const char *root, const char *digest, kl_error *err)
{
    _cleanup_free_ char *p = host_blob_path(root, digest);
    if (!p)
        return kl_error_set(err, EINVAL, "invalid blob digest");
    if (unlink(p) < 0 && errno != ENOENT)
        return kl_error_errno(err, errno, "removing blob %s", digest);
    return 0;
}

int host_blob_list(const char *root, char ***out, kl_error *err)
{
    _cleanup_free_ char *s = xasprintf("%s/blobs/sha256", root);
    _cleanup_closedir_ DIR *d = opendir(s);
    if (!d)
        return kl_error_errno(err, errno, "reading %s", s);
    struct dirent *de;
    while ((de = readdir(d))) {
        if (!is_sha256_hex(de->d_name))
            continue;
        _cleanup_free_ char *dg = xasprintf("sha256:%s", de->d_name);
        strv_push(out, dg);
    }
    return 0;
}
