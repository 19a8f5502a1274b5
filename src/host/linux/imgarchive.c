/* Image archives in the helper (imgarchive.h): read the archive once into spool files named
 * by their digest, then make the images the archive's manifest names, as a pull would. */
#include "host/linux/imgarchive.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "host/archiveshim.h"
#include "host/linux/fsutil.h"
#include "host/storage.h"
#include "lib/buf.h"
#include "lib/cleanup.h"
#include "lib/jsonx.h"
#include "lib/log.h"
#include "lib/xalloc.h"
#include "registry/digest.h"
#include "registry/imageconfig.h"
#include "registry/manifest.h"
#include "registry/reference.h"

#define MAX_ENTRIES 100000
#define MAX_PATH 4096
#define MAX_IMAGES 1024
#define SMALL_JSON_MAX (4u * 1024 * 1024)
#define LINK_HOPS 16
#define CHUNK (128 * 1024)

typedef struct arent {
    char *path; /* normalised, relative to the archive's root */
    char *link; /* a symlink's or hard link's target, normalised; NULL for a file */
    char digest[OCI_DIGEST_STR_LEN];
    int64_t size;
} arent;

typedef struct loader {
    const host_load_opts *o;
    const archiveshim *la;
    int sfd;   /* the staging directory */
    int spool; /* sfd/spool: the archive's files, named by their hex digest */
    arent *ents;
    size_t n, cap;
    uint64_t bytes, reported;
    char *inbuf;
    kl_error rerr;
} loader;

static void loader_clear(loader *l)
{
    for (size_t i = 0; i < l->n; i++) {
        free(l->ents[i].path);
        free(l->ents[i].link);
    }
    free(l->ents);
    free(l->inbuf);
    if (l->spool >= 0)
        close(l->spool);
}

static bool strv_contains(char *const *v, const char *s)
{
    for (size_t i = 0; v && v[i]; i++)
        if (!strcmp(v[i], s))
            return true;
    return false;
}

/* ---- paths ----------------------------------------------------------------------------- */

/* Normalise an archive path: "." and empty components dropped; absolute paths and ".."
 * refused. `base` (may be NULL): the directory a relative symlink target is resolved in,
 * where ".." may go up but not above the archive's root. */
static char *norm_path(const char *what, const char *ename, const char *base, const char *in,
                       kl_error *err)
{
    if (!in || !*in || strlen(in) > MAX_PATH)
        return kl_error_set(err, EPERM, "archive entry '%.200s': empty or too long %s", ename,
                            what),
               NULL;
    if (in[0] == '/')
        return kl_error_set(err, EPERM, "archive entry '%.200s': absolute %s '%.200s' refused",
                            ename, what, in),
               NULL;
    _cleanup_strv_ char **parts = NULL;
    size_t n = 0;
    _cleanup_free_ char *all = base && *base ? xasprintf("%s/%s", base, in) : xstrdup(in);
    char *save = NULL;
    for (char *t = strtok_r(all, "/", &save); t; t = strtok_r(NULL, "/", &save)) {
        if (!strcmp(t, "."))
            continue;
        if (!strcmp(t, "..")) {
            /* only a symlink's target may go up, and not out of the archive */
            if (!base || n == 0)
                return kl_error_set(err, EPERM, "archive entry '%.200s': %s '%.200s': '..' %s",
                                    ename, what, in, base ? "leads out of the archive" : "refused"),
                       NULL;
            free(parts[--n]);
            parts[n] = NULL;
            continue;
        }
        strv_push(&parts, t);
        n++;
    }
    if (n == 0)
        return xstrdup("");
    kl_buf b = KL_BUF_INIT;
    for (size_t i = 0; i < n; i++)
        kl_buf_printf(&b, "%s%s", i ? "/" : "", parts[i]);
    return kl_buf_steal(&b);
}

static arent *find_raw(loader *l, const char *path)
{
    for (size_t i = l->n; i-- > 0;) /* the last entry of a name wins, as tar has it */
        if (!strcmp(l->ents[i].path, path))
            return &l->ents[i];
    return NULL;
}

/* The file `path` names in the archive, links followed (inside the archive only). */
static const arent *lookup(loader *l, const char *path, kl_error *err)
{
    _cleanup_free_ char *p = norm_path("path", path, NULL, path, err);
    if (!p)
        return NULL;
    for (int hop = 0; hop < LINK_HOPS; hop++) {
        arent *e = find_raw(l, p);
        if (!e)
            return kl_error_set(err, ENOENT, "the archive has no file '%.200s'", path), NULL;
        if (!e->link)
            return e;
        free(p);
        p = xstrdup(e->link);
    }
    return kl_error_set(err, ELOOP, "archive file '%.200s': too many links", path), NULL;
}

/* ---- reading the archive ----------------------------------------------------------------- */

static la_ssize_t in_cb(struct archive *a, void *p, const void **buf)
{
    loader *l = p;
    ssize_t n = KL_RETRY_EINTR(read(l->o->in_fd, l->inbuf, CHUNK));
    if (n < 0) {
        kl_error_errno(&l->rerr, errno, "reading the archive");
        l->la->set_error(a, EIO, "%s", l->rerr.msg);
        return -1;
    }
    l->bytes += (uint64_t)n;
    if (l->o->progress && (n == 0 || l->bytes >= l->reported + 1024 * 1024)) {
        l->reported = l->bytes;
        l->o->progress(l->bytes, l->o->ctx);
    }
    *buf = l->inbuf;
    return n;
}

static int write_all(int fd, const void *buf, size_t n, kl_error *err)
{
    for (size_t off = 0; off < n;) {
        ssize_t w = KL_RETRY_EINTR(write(fd, (const char *)buf + off, n - off));
        if (w < 0)
            return kl_error_errno(err, errno, "writing a spool file");
        off += (size_t)w;
    }
    return 0;
}

static arent *add_entry(loader *l, char *path)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 64;
        l->ents = xrealloc(l->ents, l->cap * sizeof(arent));
    }
    arent *e = &l->ents[l->n++];
    *e = (arent){.path = path};
    return e;
}

/* A regular entry's data into spool/<hex>, hashed on the way. */
static int spool_file(loader *l, struct archive *a, arent *e, kl_error *err)
{
    char tmp[32];
    snprintf(tmp, sizeof(tmp), "tmp-%zu", l->n);
    _cleanup_close_ int fd =
        openat(l->spool, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0)
        return kl_error_errno(err, errno, "creating a spool file");
    oci_sha256_ctx h;
    oci_sha256_init(&h);
    int64_t size = 0;
    for (;;) {
        const void *buf;
        size_t len;
        la_int64_t off;
        int r = l->la->read_data_block(a, &buf, &len, &off);
        if (r == ARCHIVE_EOF)
            break;
        if (r < ARCHIVE_WARN)
            return kl_error_set(err, kl_error_is_set(&l->rerr) ? l->rerr.code : EINVAL,
                                "archive entry '%.200s': %s", e->path,
                                kl_error_is_set(&l->rerr) ? l->rerr.msg : l->la->error_string(a));
        if (off != size) /* a sparse entry: fill the hole */
            return kl_error_set(err, EINVAL, "archive entry '%.200s': sparse files refused",
                                e->path);
        oci_sha256_update(&h, buf, len);
        if (write_all(fd, buf, len, err) < 0)
            return -1;
        size += (int64_t)len;
    }
    uint8_t d[OCI_SHA256_LEN];
    oci_sha256_final(&h, d);
    oci_digest_format(d, e->digest);
    e->size = size;
    if (renameat(l->spool, tmp, l->spool, e->digest + 7) < 0)
        return kl_error_errno(err, errno, "keeping a spool file");
    /* a blob of an OCI layout is named by its digest: the content must be that */
    if (!strncmp(e->path, "blobs/sha256/", 13) && strcmp(e->path + 13, e->digest + 7) != 0)
        return kl_error_set(err, EIO,
                            "blob sha256:%.64s: digest mismatch: the archive's content has "
                            "digest %s",
                            e->path + 13, e->digest);
    return 0;
}

static int read_archive(loader *l, kl_error *err)
{
    struct archive *a = l->la->read_new();
    if (!a)
        return kl_error_set(err, ENOMEM, "reading the archive");
    l->la->read_support_filter_all(a);
    l->la->read_support_format_all(a);
    int rc = 0;
    if (l->la->read_open(a, l, NULL, in_cb, NULL) != ARCHIVE_OK)
        rc = kl_error_set(err, EINVAL, "reading the archive: %s", l->la->error_string(a));
    while (rc == 0) {
        struct archive_entry *ae;
        int r = l->la->read_next_header(a, &ae);
        if (r == ARCHIVE_EOF)
            break;
        if (r < ARCHIVE_WARN) {
            rc = kl_error_set(err, kl_error_is_set(&l->rerr) ? l->rerr.code : EINVAL,
                              "reading the archive: %s",
                              kl_error_is_set(&l->rerr) ? l->rerr.msg : l->la->error_string(a));
            break;
        }
        if (l->n >= MAX_ENTRIES) {
            rc = kl_error_set(err, EINVAL, "the archive has more than %d entries", MAX_ENTRIES);
            break;
        }
        const char *raw = l->la->entry_pathname(ae);
        char *path = norm_path("path", raw ? raw : "", NULL, raw ? raw : "", err);
        if (!path) {
            rc = -1;
            break;
        }
        mode_t type = l->la->entry_filetype(ae);
        const char *hard = l->la->entry_hardlink(ae);
        if (type == AE_IFDIR || !*path) {
            free(path);
            continue;
        }
        arent *e = add_entry(l, path);
        if (hard) {
            e->link = norm_path("hard link target", path, NULL, hard, err);
            rc = e->link ? 0 : -1;
        } else if (type == AE_IFLNK) {
            const char *target = l->la->entry_symlink(ae);
            _cleanup_free_ char *dir = xstrdup(path);
            char *slash = strrchr(dir, '/');
            if (slash)
                *slash = '\0';
            else
                dir[0] = '\0';
            e->link = norm_path("symlink target", path, dir, target ? target : "", err);
            rc = e->link ? 0 : -1;
        } else if (type == AE_IFREG) {
            rc = spool_file(l, a, e, err);
        } else {
            rc =
                kl_error_set(err, EPERM, "archive entry '%.200s': a %s, not a file", path,
                             type == AE_IFCHR || type == AE_IFBLK ? "device node" : "special file");
        }
    }
    l->la->read_free(a);
    if (rc == 0 && l->n == 0)
        rc = kl_error_set(err, EINVAL, "the archive is empty");
    return rc;
}

/* The bytes of a small file of the archive (a manifest, a config). */
static int read_small(loader *l, const arent *e, size_t max, kl_buf *out, kl_error *err)
{
    if (e->size > (int64_t)max)
        return kl_error_set(err, EINVAL, "archive file '%.200s': %lld bytes, more than %zu",
                            e->path, (long long)e->size, max);
    _cleanup_close_ int fd = openat(l->spool, e->digest + 7, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return kl_error_errno(err, errno, "reading spool file of '%.200s'", e->path);
    char buf[CHUNK];
    ssize_t n;
    while ((n = KL_RETRY_EINTR(read(fd, buf, sizeof(buf)))) > 0)
        kl_buf_append(out, buf, (size_t)n);
    if (n < 0)
        return kl_error_errno(err, errno, "reading spool file of '%.200s'", e->path);
    return 0;
}

/* ---- images ------------------------------------------------------------------------------ */

typedef struct image {
    char **names; /* RepoTags / reference annotations */
    char mdigest[OCI_DIGEST_STR_LEN];
    kl_buf mbytes;      /* the manifest (made for a docker-format image) */
    bool made_manifest; /* mbytes must be written (not in the spool) */
    oci_manifest m;
    kl_buf cbytes;
    oci_imgconfig c;
} image;

static void image_clear(image *im)
{
    strv_free(im->names);
    kl_buf_free(&im->mbytes);
    oci_manifest_clear(&im->m);
    kl_buf_free(&im->cbytes);
    oci_imgconfig_clear(&im->c);
}

static const char *sniff_layer_type(loader *l, const arent *e)
{
    unsigned char b[4] = {0};
    _cleanup_close_ int fd = openat(l->spool, e->digest + 7, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd >= 0 && KL_RETRY_EINTR(read(fd, b, 4)) == 4) {
        if (b[0] == 0x1f && b[1] == 0x8b)
            return OCI_MT_OCI_LAYER_GZIP;
        if (b[0] == 0x28 && b[1] == 0xb5 && b[2] == 0x2f && b[3] == 0xfd)
            return OCI_MT_OCI_LAYER_ZSTD;
    }
    return OCI_MT_OCI_LAYER;
}

static bool is_hex64(const char *s, size_t n)
{
    if (n != 64)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    return true;
}

static int load_config(loader *l, image *im, const arent *ce, kl_error *err)
{
    if (read_small(l, ce, OCI_CONFIG_MAX_BYTES, &im->cbytes, err) < 0)
        return -1;
    if (oci_imgconfig_parse(im->cbytes.data, im->cbytes.len, &im->c, err) < 0)
        return kl_error_prefix(err, "%s", ce->digest); /* the parser says "image config" */
    return 0;
}

/* One image of manifest.json (the docker format): a manifest is made for it. */
static int docker_image(loader *l, const json_t *j, image *im, kl_error *err)
{
    const json_t *cfg = json_object_get(j, "Config"), *layers = json_object_get(j, "Layers");
    const json_t *tags = json_object_get(j, "RepoTags");
    if (!json_is_object(j) || !json_is_string(cfg) || !json_is_array(layers) ||
        json_array_size(layers) > OCI_MANIFEST_MAX_LAYERS ||
        (tags && !json_is_null(tags) && !json_is_array(tags)))
        return kl_error_set(err, EINVAL, "manifest.json: an entry is malformed");
    size_t i;
    json_t *v;
    json_array_foreach(tags, i, v)
    {
        if (!json_is_string(v) || i >= 64)
            return kl_error_set(err, EINVAL, "manifest.json: RepoTags is malformed");
        strv_push(&im->names, json_string_value(v));
    }
    const arent *ce = lookup(l, json_string_value(cfg), err);
    if (!ce)
        return kl_error_prefix(err, "manifest.json: Config");
    /* the old format names the config by its digest: "<hex>.json" */
    const char *cname = strrchr(json_string_value(cfg), '/');
    cname = cname ? cname + 1 : json_string_value(cfg);
    size_t cl = strlen(cname);
    if (cl == 69 && !strcmp(cname + 64, ".json") && is_hex64(cname, 64) &&
        strncmp(cname, ce->digest + 7, 64) != 0)
        return kl_error_set(err, EIO,
                            "image config sha256:%.64s: digest mismatch: the archive's content "
                            "has digest %s",
                            cname, ce->digest);
    if (load_config(l, im, ce, err) < 0)
        return -1;
    json_t *mlayers = json_array();
    json_array_foreach(layers, i, v)
    {
        const arent *le = json_is_string(v) ? lookup(l, json_string_value(v), err) : NULL;
        if (!le) {
            json_decref(mlayers);
            if (!json_is_string(v))
                kl_error_set(err, EINVAL, "manifest.json: Layers is malformed");
            return kl_error_prefix(err, "manifest.json: layer %zu", i + 1);
        }
        json_array_append_new(mlayers,
                              json_pack("{s:s, s:s, s:I}", "mediaType", sniff_layer_type(l, le),
                                        "digest", le->digest, "size", (json_int_t)le->size));
    }
    _cleanup_json_ json_t *m =
        json_pack("{s:i, s:s, s:{s:s, s:s, s:I}, s:o}", "schemaVersion", 2, "mediaType",
                  OCI_MT_OCI_MANIFEST, "config", "mediaType", OCI_MT_OCI_CONFIG, "digest",
                  ce->digest, "size", (json_int_t)ce->size, "layers", mlayers);
    _cleanup_free_ char *text = json_dumps(m, JSON_COMPACT | JSON_PRESERVE_ORDER);
    if (!text)
        return kl_error_set(err, ENOMEM, "making a manifest");
    kl_buf_append(&im->mbytes, text, strlen(text));
    im->made_manifest = true;
    oci_digest_of(im->mbytes.data, im->mbytes.len, im->mdigest);
    return oci_manifest_parse(im->mbytes.data, im->mbytes.len, NULL, &im->m, err);
}

/* A blob of an OCI layout, checked against its descriptor. */
static const arent *oci_blob(loader *l, const char *digest, int64_t size, const char *what,
                             kl_error *err)
{
    _cleanup_free_ char *p = xasprintf("blobs/sha256/%s", digest + 7);
    if (strncmp(digest, "sha256:", 7) != 0)
        return kl_error_set(err, ENOTSUP, "%s %s: only sha256 digests", what, digest), NULL;
    const arent *e = lookup(l, p, err);
    if (!e)
        return kl_error_prefix(err, "%s %s", what, digest), NULL;
    if (strcmp(e->digest, digest) != 0) /* a link to another blob */
        return kl_error_set(err, EIO, "%s %s: digest mismatch: the archive's content has digest %s",
                            what, digest, e->digest),
               NULL;
    if (size >= 0 && e->size != size)
        return kl_error_set(err, EIO, "%s %s: size mismatch: %lld bytes, the descriptor says %lld",
                            what, digest, (long long)e->size, (long long)size),
               NULL;
    return e;
}

/* An image manifest of an OCI layout (through an index for the platform). */
static int oci_image(loader *l, const char *digest, int64_t size, const oci_platform *want,
                     image *im, int depth, kl_error *err)
{
    const arent *me = oci_blob(l, digest, size, "manifest", err);
    if (!me)
        return -1;
    kl_buf b = KL_BUF_INIT;
    if (read_small(l, me, OCI_MANIFEST_MAX_BYTES, &b, err) < 0) {
        kl_buf_free(&b);
        return -1;
    }
    oci_manifest m;
    if (oci_manifest_parse(b.data, b.len, NULL, &m, err) < 0) {
        kl_buf_free(&b);
        return kl_error_prefix(err, "manifest %s", digest);
    }
    if (m.kind == OCI_MANIFEST_INDEX) {
        kl_buf_free(&b);
        int i = depth < 2 ? oci_index_select(&m, want, err)
                          : kl_error_set(err, ENOTSUP, "indexes nested too deep");
        int rc = i < 0 ? kl_error_prefix(err, "index %s", digest)
                       : oci_image(l, m.manifests[i].digest, m.manifests[i].size, want, im,
                                   depth + 1, err);
        oci_manifest_clear(&m);
        return rc;
    }
    im->m = m;
    im->mbytes = b;
    snprintf(im->mdigest, sizeof(im->mdigest), "%s", digest);
    const arent *ce = oci_blob(l, m.config.digest, m.config.size, "image config", err);
    if (!ce || load_config(l, im, ce, err) < 0)
        return -1;
    for (size_t i = 0; i < m.n_layers; i++)
        if (!oci_blob(l, m.layers[i].digest, m.layers[i].size, "layer", err))
            return -1;
    return 0;
}

/* The images of the archive, in its order. */
static int find_images(loader *l, image **out, size_t *n, kl_error *err)
{
    kl_error nerr = KL_ERROR_INIT;
    const arent *dm = lookup(l, "manifest.json", &nerr);
    const arent *oi = dm ? NULL : lookup(l, "index.json", &nerr);
    if (!dm && !oi)
        return kl_error_set(err, EINVAL,
                            "not an image archive: it has neither manifest.json (docker save) "
                            "nor index.json (an OCI image layout)");
    kl_buf b = KL_BUF_INIT;
    if (read_small(l, dm ? dm : oi, SMALL_JSON_MAX, &b, err) < 0) {
        kl_buf_free(&b);
        return -1;
    }
    json_error_t jerr;
    _cleanup_json_ json_t *j = json_loadb(b.data, b.len, JSON_REJECT_DUPLICATES, &jerr);
    kl_buf_free(&b);
    const char *file = dm ? "manifest.json" : "index.json";
    if (!j)
        return kl_error_set(err, EINVAL, "%s: %s", file, jerr.text);
    const json_t *list = dm ? j : json_object_get(j, "manifests");
    if (!json_is_array(list) || json_array_size(list) == 0 || json_array_size(list) > MAX_IMAGES)
        return kl_error_set(err, EINVAL, "%s: no image in it", file);
    oci_platform want;
    if (l->o->platform && *l->o->platform) {
        if (oci_platform_parse(l->o->platform, &want, err) < 0)
            return -1;
    } else {
        oci_platform_host(&want);
    }
    *out = xcalloc(json_array_size(list), sizeof(image));
    int rc = 0;
    size_t i;
    json_t *d;
    json_array_foreach(list, i, d)
    {
        image *im = &(*out)[*n];
        if (dm) {
            rc = docker_image(l, d, im, err);
        } else {
            const char *digest = jx_str(d, "digest", NULL);
            const json_t *size = json_object_get(d, "size");
            const json_t *plat = json_object_get(d, "platform");
            if (!digest || !oci_digest_is_valid(digest) || !json_is_integer(size)) {
                rc = kl_error_set(err, EINVAL, "index.json: entry %zu is malformed", i + 1);
            } else if (json_is_object(plat) && jx_str(plat, "os", NULL) &&
                       jx_str(plat, "architecture", NULL) &&
                       (strcmp(jx_str(plat, "os", ""), want.os) != 0 ||
                        strcmp(jx_str(plat, "architecture", ""), want.architecture) != 0)) {
                continue; /* an image for another platform */
            } else {
                const json_t *ann = json_object_get(d, "annotations");
                const char *full = jx_str(ann, "io.containerd.image.name", NULL);
                const char *ref = jx_str(ann, "org.opencontainers.image.ref.name", NULL);
                /* ref.name is often only a tag: a name only when it is a reference */
                if (full)
                    strv_push(&im->names, full);
                else if (ref && (strchr(ref, '/') || strchr(ref, ':')))
                    strv_push(&im->names, ref);
                rc = oci_image(l, digest, json_integer_value(size), &want, im, 0, err);
            }
        }
        (*n)++;
        if (rc < 0)
            break;
        if (im->c.n_diff_ids != im->m.n_layers) {
            rc = kl_error_set(err, EINVAL,
                              "image %zu: %zu layers but the image config has %zu "
                              "diff_ids",
                              i + 1, im->m.n_layers, im->c.n_diff_ids);
            break;
        }
    }
    oci_platform_clear(&want);
    if (rc == 0 && *n == 0)
        rc = kl_error_set(err, ENOENT, "index.json: no image for this platform");
    return rc;
}

/* ---- layers ------------------------------------------------------------------------------ */

typedef struct file_src {
    int fd;
    char buf[CHUNK];
} file_src;

static ssize_t file_read(void *ctx, const void **buf, kl_error *err)
{
    file_src *f = ctx;
    ssize_t n = KL_RETRY_EINTR(read(f->fd, f->buf, sizeof(f->buf)));
    if (n < 0)
        return kl_error_errno(err, errno, "reading a spool file");
    *buf = f->buf;
    return n;
}

static void diff_tap(const void *buf, size_t n, void *ctx)
{
    oci_sha256_update(ctx, buf, n);
}

typedef struct raw_src {
    file_src f;
    kl_error err;
} raw_src;

static la_ssize_t raw_cb(struct archive *a, void *p, const void **buf)
{
    (void)a;
    raw_src *r = p;
    ssize_t n = file_read(&r->f, buf, &r->err);
    return n < 0 ? -1 : n;
}

/* The digest of a layer blob's uncompressed stream (libarchive's filters, raw format). */
static int uncompressed_digest(loader *l, int fd, char out[OCI_DIGEST_STR_LEN], kl_error *err)
{
    _cleanup_free_ raw_src *src = xcalloc(1, sizeof(*src));
    src->f.fd = fd;
    src->err = (kl_error)KL_ERROR_INIT;
    struct archive *a = l->la->read_new();
    if (!a)
        return kl_error_set(err, ENOMEM, "decompressing a layer");
    l->la->read_support_filter_all(a);
    l->la->read_support_format_raw(a);
    oci_sha256_ctx h;
    oci_sha256_init(&h);
    int rc = 0;
    struct archive_entry *ae;
    if (l->la->read_open(a, src, NULL, raw_cb, NULL) != ARCHIVE_OK ||
        l->la->read_next_header(a, &ae) != ARCHIVE_OK)
        rc = kl_error_set(err, EINVAL, "decompressing a layer: %s", l->la->error_string(a));
    while (rc == 0) {
        const void *buf;
        size_t len;
        la_int64_t off;
        int r = l->la->read_data_block(a, &buf, &len, &off);
        if (r == ARCHIVE_EOF)
            break;
        if (r < ARCHIVE_WARN)
            rc = kl_error_set(err, EINVAL, "decompressing a layer: %s", l->la->error_string(a));
        else
            oci_sha256_update(&h, buf, len);
    }
    l->la->read_free(a);
    if (rc < 0)
        return -1;
    uint8_t d[OCI_SHA256_LEN];
    oci_sha256_final(&h, d);
    oci_digest_format(d, out);
    return 0;
}

static int have_blob_layer(const host_load_opts *o, const char *blob, const char *diff_id)
{
    for (size_t i = 0; i < o->n_have; i++)
        if (o->have_diff_ids[i] && !strcmp(o->have_blobs[i], blob))
            return strcmp(o->have_diff_ids[i], diff_id) == 0 ? 1 : -1;
    return 0;
}

static bool have_any_blob(const host_load_opts *o, const char *blob)
{
    for (size_t i = 0; i < o->n_have; i++)
        if (!strcmp(o->have_blobs[i], blob))
            return true;
    return false;
}

static bool have_diff_id(const host_load_opts *o, const char *diff_id)
{
    for (size_t i = 0; i < o->n_have; i++)
        if (o->have_diff_ids[i] && !strcmp(o->have_diff_ids[i], diff_id))
            return true;
    return false;
}

/* What the images of this archive already placed: blobs (in an earlier image's blobs/)
 * and layers (diff_ids extracted by an earlier image). */
typedef struct placed {
    char **blobs;
    char **diff_ids;
} placed;

/* Put blob `digest` into the image's blobs/ unless kleened or an earlier image has it. */
static int place_blob(loader *l, placed *pl, int bfd, const char *digest, const kl_buf *bytes,
                      kl_error *err)
{
    if (have_any_blob(l->o, digest) || strv_contains(pl->blobs, digest))
        return 0;
    if (bytes) {
        _cleanup_close_ int fd =
            openat(bfd, digest + 7, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0644);
        if (fd < 0 || write_all(fd, bytes->data, bytes->len, err) < 0)
            return kl_error_errno(err, errno ? errno : EIO, "writing blob %s", digest);
    } else if (linkat(l->spool, digest + 7, bfd, digest + 7, 0) < 0) {
        return kl_error_errno(err, errno, "keeping blob %s", digest);
    }
    strv_push(&pl->blobs, digest);
    return 0;
}

static int extract_layer(loader *l, const char *blob, const char *diff_id, int lfd,
                         const char *name, kl_error *err)
{
    file_src *src = xmalloc(sizeof(*src));
    src->fd = openat(l->spool, blob + 7, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (src->fd < 0) {
        free(src);
        return kl_error_errno(err, errno, "opening blob %s", blob);
    }
    oci_sha256_ctx diff;
    oci_sha256_init(&diff);
    host_extract_opts xo = {.oci_layer = true, .uncompressed_tap = diff_tap, .tap_ctx = &diff};
    int rc = host_archive_extract(file_read, src, lfd, name, &xo, NULL, err);
    close(src->fd);
    free(src);
    if (rc < 0)
        return kl_error_prefix(err, "blob %s", blob);
    uint8_t got[OCI_SHA256_LEN];
    char got_s[OCI_DIGEST_STR_LEN];
    oci_sha256_final(&diff, got);
    oci_digest_format(got, got_s);
    if (strcmp(got_s, diff_id) != 0) {
        kl_error tmp = KL_ERROR_INIT;
        fs_remove_at(lfd, name, &tmp);
        return kl_error_set(err, EIO,
                            "blob %s: diff_id mismatch: the image config says %s, the "
                            "uncompressed layer is %s",
                            blob, diff_id, got_s);
    }
    return 0;
}

static json_t *strv_or_null(char **v)
{
    return v ? jx_from_strv(v) : json_null();
}

static int write_image_json(int dirfd, const image *im, const bool *present, kl_error *err)
{
    const oci_imgconfig *c = &im->c;
    const oci_manifest *m = &im->m;
    char *repo = NULL, *tag = NULL, *full = NULL;
    oci_ref ref;
    if (im->names && oci_ref_parse(im->names[0], &ref, NULL) == 0) {
        full = oci_ref_format(&ref);
        repo = oci_ref_repository(&ref);
        tag = ref.tag ? xstrdup(ref.tag) : NULL;
        oci_ref_clear(&ref);
    }
    json_t *labels = json_object();
    for (size_t i = 0; c->label_keys && c->label_keys[i]; i++)
        json_object_set_new(labels, c->label_keys[i], json_string(c->label_values[i]));
    json_t *layers = json_array();
    for (size_t i = 0; i < m->n_layers; i++)
        json_array_append_new(layers, json_pack("{s:s, s:s, s:I, s:s, s:b}", "digest",
                                                m->layers[i].digest, "diff_id", c->diff_ids[i],
                                                "size", (json_int_t)m->layers[i].size, "media_type",
                                                m->layers[i].media_type, "present", present[i]));
    char *const empty[] = {NULL};
    _cleanup_free_ char *platform =
        xasprintf("%s/%s%s%s", c->os ? c->os : "", c->architecture ? c->architecture : "",
                  c->variant ? "/" : "", c->variant ? c->variant : "");
    _cleanup_json_ json_t *j = json_pack(
        "{s:s, s:s, s:o, s:s, s:s, s:s, s:o, s:o, s:o, s:s, s:s, s:o, s:o, s:o, s:o}", "reference",
        full ? full : "", "repository", repo ? repo : "", "tag",
        tag ? json_string(tag) : json_null(), "manifest_digest", im->mdigest, "config_digest",
        m->config.digest, "platform", platform, "cmd", strv_or_null(c->cmd), "entrypoint",
        strv_or_null(c->entrypoint), "env", jx_from_strv(c->env ? c->env : (char **)empty), "user",
        c->user ? c->user : "", "working_dir", c->working_dir ? c->working_dir : "",
        "exposed_ports", jx_from_strv(c->exposed_ports ? c->exposed_ports : (char **)empty),
        "labels", labels, "layers", layers, "names",
        jx_from_strv(im->names ? im->names : (char **)empty));
    free(full);
    free(repo);
    free(tag);
    if (!j)
        return kl_error_set(err, EINVAL, "image.json: invalid strings in the image config");
    if (c->stop_signal && json_object_set_new(j, "stop_signal", json_string(c->stop_signal)) < 0)
        return kl_error_set(err, EINVAL, "image.json: invalid strings in the image config");
    json_object_set_new(j, "manifest_media_type", json_string(m->media_type));
    json_object_set_new(j, "config_media_type", json_string(m->config.media_type));
    _cleanup_close_ int fd =
        openat(dirfd, "image.json", O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (fd < 0)
        return kl_error_errno(err, errno, "writing image.json");
    _cleanup_free_ char *text = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
    if (!text)
        return kl_error_set(err, EIO, "writing image.json");
    return write_all(fd, text, strlen(text), err);
}

static int open_subdir(int dfd, const char *name, kl_error *err)
{
    if (mkdirat(dfd, name, 0700) < 0)
        return kl_error_errno(err, errno, "creating %s", name);
    int fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return kl_error_errno(err, errno, "opening %s", name);
    return fd;
}

static int make_image(loader *l, placed *pl, size_t k, const image *im, kl_error *err)
{
    char name[24];
    snprintf(name, sizeof(name), "%zu", k);
    _cleanup_close_ int ifd = open_subdir(l->sfd, name, err);
    if (ifd < 0)
        return -1;
    _cleanup_close_ int bfd = open_subdir(ifd, "blobs", err);
    _cleanup_close_ int lfd = bfd >= 0 ? open_subdir(ifd, "layers", err) : -1;
    if (lfd < 0)
        return -1;
    if (place_blob(l, pl, bfd, im->mdigest, im->made_manifest ? &im->mbytes : NULL, err) < 0 ||
        place_blob(l, pl, bfd, im->m.config.digest, NULL, err) < 0)
        return -1;
    size_t n = im->m.n_layers;
    _cleanup_free_ bool *present = xcalloc(n ? n : 1, sizeof(bool));
    for (size_t i = 0; i < n; i++) {
        const char *blob = im->m.layers[i].digest, *diff_id = im->c.diff_ids[i];
        bool repeated = false;
        for (size_t j = 0; j < i; j++)
            repeated |= !strcmp(im->c.diff_ids[j], diff_id);
        int have = repeated ? 0 : have_blob_layer(l->o, blob, diff_id);
        if (have < 0)
            return kl_error_set(err, EIO,
                                "layer %zu/%zu: blob %s: diff_id mismatch: the image config "
                                "says %s, kleened knows it as another layer",
                                i + 1, n, blob, diff_id);
        if (have) {
            present[i] = true;
            log_info("layer %zu/%zu %s: already present", i + 1, n, blob);
            continue;
        }
        if (!repeated && (strv_contains(pl->diff_ids, diff_id) || have_diff_id(l->o, diff_id))) {
            /* stored already under this diff_id: the blob is only checked and kept */
            _cleanup_close_ int fd = openat(l->spool, blob + 7, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
            char got[OCI_DIGEST_STR_LEN];
            if (fd < 0)
                return kl_error_errno(err, errno, "layer %zu/%zu: blob %s", i + 1, n, blob);
            if (uncompressed_digest(l, fd, got, err) < 0)
                return kl_error_prefix(err, "layer %zu/%zu: blob %s", i + 1, n, blob);
            if (strcmp(got, diff_id) != 0)
                return kl_error_set(err, EIO,
                                    "layer %zu/%zu: blob %s: diff_id mismatch: the image config "
                                    "says %s, the uncompressed layer is %s",
                                    i + 1, n, blob, diff_id, got);
            present[i] = true;
        } else {
            char lname[24];
            snprintf(lname, sizeof(lname), "%zu", i);
            if (extract_layer(l, blob, diff_id, lfd, lname, err) < 0)
                return kl_error_prefix(err, "layer %zu/%zu", i + 1, n);
            strv_push(&pl->diff_ids, diff_id);
            log_info("layer %zu/%zu %s: verified and extracted", i + 1, n, blob);
        }
        if (place_blob(l, pl, bfd, blob, NULL, err) < 0)
            return -1;
    }
    return write_image_json(ifd, im, present, err);
}

int host_load(const host_load_opts *o, int parent_dirfd, const char *name, kl_error *err)
{
    if (!name || !*name || strchr(name, '/') || !strcmp(name, ".") || !strcmp(name, ".."))
        return kl_error_set(err, EINVAL, "loading: invalid destination name");
    const archiveshim *la = archiveshim_get(err);
    if (!la)
        return -1;
    _cleanup_free_ char *staging = NULL;
    _cleanup_close_ int sfd = fs_staging_create(parent_dirfd, name, &staging, err);
    if (sfd < 0)
        return kl_error_prefix(err, "loading");
    loader l = {.o = o, .la = la, .sfd = sfd, .spool = -1, .inbuf = xmalloc(CHUNK)};
    l.rerr = (kl_error)KL_ERROR_INIT;
    int rc = 0;
    l.spool = open_subdir(sfd, "spool", err);
    if (l.spool < 0)
        rc = -1;
    if (rc == 0)
        rc = read_archive(&l, err);
    if (rc == 0)
        log_info("archive read: %zu entries, %llu bytes", l.n, (unsigned long long)l.bytes);
    image *images = NULL;
    size_t n_images = 0;
    if (rc == 0)
        rc = find_images(&l, &images, &n_images, err);
    placed pl = {0};
    for (size_t k = 0; rc == 0 && k < n_images; k++) {
        rc = make_image(&l, &pl, k, &images[k], err);
        if (rc < 0 && n_images > 1)
            kl_error_prefix(err, "image %zu", k + 1);
    }
    strv_free(pl.blobs);
    strv_free(pl.diff_ids);
    for (size_t k = 0; k < n_images; k++)
        image_clear(&images[k]);
    free(images);
    loader_clear(&l);
    if (rc == 0)
        rc = fs_remove_at(sfd, "spool", err);
    if (rc == 0)
        rc = fs_staging_commit(parent_dirfd, staging, name, err);
    if (rc < 0) {
        kl_error tmp = KL_ERROR_INIT;
        if (fs_remove_at(parent_dirfd, staging, &tmp) < 0)
            log_error("loading: cleaning up %s: %s", staging, tmp.msg);
        kl_error_prefix(err, "loading the archive");
    }
    return rc;
}
