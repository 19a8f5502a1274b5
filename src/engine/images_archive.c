/* Image archives (images_archive.h). */
#include "engine/images_archive.h"
#include "engine/imageref.h"
#include "engine/registry.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine/images_internal.h"
#include "host/host.h"
#include "lib/cleanup.h"
#include "lib/id.h"
#include "lib/jsonx.h"
#include "lib/log.h"
#include "lib/xalloc.h"
#include "registry/digest.h"
#include "registry/manifest.h"
#include "registry/reference.h"

typedef struct loadctx {
    const images_load_opts *o;
    uint64_t last_mb;
} loadctx;

static void say(const images_load_opts *o, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void say(const images_load_opts *o, const char *fmt, ...)
{
    if (!o->output)
        return;
    va_list ap;
    va_start(ap, fmt);
    char *s = NULL;
    if (vasprintf(&s, fmt, ap) >= 0) {
        o->output(s, o->output_ctx);
        free(s);
    }
    va_end(ap);
}

static void load_progress(const host_fetch_progress *p, void *ctx)
{
    loadctx *c = ctx;
    uint64_t mb = p->bytes / (1024 * 1024);
    if (mb >= c->last_mb + 10) {
        c->last_mb = mb;
        say(c->o, "Read %llu MB of the archive\n", (unsigned long long)mb);
    }
}

static bool load_cancelled(void *ctx)
{
    loadctx *c = ctx;
    return c->o->cancel && atomic_load(c->o->cancel);
}

static void free_have(char **blobs, char **diff_ids, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(diff_ids[i]);
    free(diff_ids);
    strv_free(blobs);
}

char **images_load(kl_engine *e, const images_load_opts *o, kl_error *err)
{
    _cleanup_free_ char *sroot = images_storage_root(e);
    char **blobs = NULL, **diff_ids = NULL;
    size_t n_have = 0;
    if (images_fetched_have(e, &blobs, &diff_ids, &n_have, err) < 0)
        return NULL;
    /* the helper's directory is named like a layer: one left by a crash is an orphan layer
     * directory, which images_init removes */
    char work[KL_ID_LEN + 1];
    kl_id_new(work);
    _cleanup_free_ char *workdir = host_layer_path(sroot, work);
    _cleanup_free_ char *parent = xstrdup(workdir);
    *strrchr(parent, '/') = '\0';
    _cleanup_close_ int lfd = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (lfd < 0) {
        free_have(blobs, diff_ids, n_have);
        return kl_error_errno(err, errno, "opening %s", parent), NULL;
    }
    loadctx lc = {.o = o};
    host_fetch_child_opts fo = {
        .fetch_progress = load_progress, .ctx = &lc, .is_cancelled = load_cancelled};
    host_pull_child_opts po = {.platform = o->platform,
                               .have_blobs = (const char *const *)blobs,
                               .have_diff_ids = (const char *const *)diff_ids,
                               .n_have = n_have};
    kl_error ferr = KL_ERROR_INIT;
    int rc = host_load_child(o->fd, lfd, work, &po, &fo, &ferr);
    free_have(blobs, diff_ids, n_have);
    if (rc < 0) {
        if (ferr.code == ECANCELED)
            return kl_error_set(err, ECANCELED, "image load cancelled"), NULL;
        return kl_error_set(err, ferr.code, "could not load the archive: %s", ferr.msg), NULL;
    }
    engine_crash_point("image-load-fetched");
    images_create_opts co = {.cancel = o->cancel};
    char **ids = NULL;
    bool failed = false;
    for (size_t k = 0;; k++) {
        _cleanup_free_ char *dir = xasprintf("%s/%zu", workdir, k);
        struct stat st;
        if (lstat(dir, &st) < 0)
            break;
        bool existing = false;
        char *id = images_record_fetched(e, dir, &co, &existing, err);
        if (!id) {
            kl_error_prefix(err, "could not load image %zu of the archive", k + 1);
            failed = true;
            break;
        }
        _cleanup_json_ json_t *img = images_inspect(e, id, NULL);
        const char *name = jx_str(img, "name", ""), *tag = jx_str(img, "tag", "");
        say(o, "Loaded image %s%s%s (%s)%s\n", *name ? name : "<none>", *name ? ":" : "",
            *name ? tag : "", id, existing ? ", it was present" : "");
        strv_push(&ids, id);
        images_event(e, id, "load", NULL);
        free(id);
    }
    kl_error terr = KL_ERROR_INIT;
    if (host_tree_remove(workdir, &terr) < 0)
        log_error("image load: removing %s: %s", workdir, terr.msg);
    if (failed) {
        strv_free(ids);
        return NULL;
    }
    if (!ids)
        kl_error_set(err, EIO, "could not load the archive: the helper left no image");
    return ids;
}

/* ---- images made the Kleene way: packed for a save or a push ------------------------------ */

typedef struct packsink {
    int fd;
    oci_sha256_ctx h;
    uint64_t size;
} packsink;

static int pack_write(const void *data, size_t n, void *ctx, kl_error *err)
{
    packsink *k = ctx;
    oci_sha256_update(&k->h, data, n);
    for (size_t off = 0; off < n;) {
        ssize_t w = write(k->fd, (const char *)data + off, n - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return kl_error_errno(err, errno, "writing a packed layer");
        off += (size_t)w;
    }
    k->size += n;
    return 0;
}

static int write_blob_bytes(const char *bdir, const char *text, char digest[OCI_DIGEST_STR_LEN],
                            kl_error *err)
{
    oci_digest_of(text, strlen(text), digest);
    _cleanup_free_ char *p = xasprintf("%s/%s", bdir, digest + 7);
    _cleanup_close_ int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text))
        return kl_error_errno(err, errno ? errno : EIO, "writing %s", p);
    return 0;
}

static json_t *ports_object(const json_t *ports)
{
    json_t *o = json_object();
    size_t i;
    json_t *v;
    json_array_foreach(ports, i, v) if (json_is_string(v))
        json_object_set_new(o, json_string_value(v), json_object());
    return o;
}

/* Pack image `id` (made the Kleene way: no blobs of its own) into workdir/blobs: each layer
 * that has a stored blob (a pulled or loaded one) linked from the store, each other layer
 * packed as an uncompressed tar (host_layer_pack), an image config from the image's
 * defaults and an OCI manifest. Returns the manifest digest. */
static char *pack_image(kl_engine *e, const char *id, const char *sroot, const char *workdir,
                        char **mount_from, kl_error *err)
{
    images_stack stack = {0};
    if (images_resolve_stack(e, id, &stack, err) < 0)
        return NULL;
    _cleanup_json_ json_t *img = images_inspect(e, id, err);
    _cleanup_free_ char *bdir = xasprintf("%s/blobs", workdir);
    char *out = NULL;
    json_t *layers = json_array(), *diff_ids = json_array();
    int rc = img ? 0 : -1;
    if (rc == 0 && (mkdir(workdir, 0700) < 0 || mkdir(bdir, 0700) < 0))
        rc = kl_error_errno(err, errno, "creating %s", bdir);
    for (size_t i = 0; rc == 0 && i < stack.n; i++) {
        images_blob_t b;
        int have = images_layer_blob(e, stack.layer_ids[i], &b, err);
        if (have < 0) {
            rc = -1;
            break;
        }
        if (have) {
            _cleanup_free_ char *src = host_blob_path(sroot, b.digest);
            _cleanup_free_ char *dst = xasprintf("%s/%s", bdir, b.digest + 7);
            if (link(src, dst) < 0 && errno != EEXIST)
                rc = kl_error_errno(err, errno, "linking blob %s", b.digest);
            json_array_append_new(layers,
                                  json_pack("{s:s, s:s, s:I}", "mediaType", b.media_type, "digest",
                                            b.digest, "size", (json_int_t)b.size));
            json_array_append_new(diff_ids, json_string(b.diff_id));
            /* where a push can mount the pulled layers from (the lowest one's repository) */
            if (mount_from && !*mount_from && b.repository)
                *mount_from = xstrdup(b.repository);
            images_blob_clear(&b);
            continue;
        }
        _cleanup_free_ char *tmp = xasprintf("%s/tmp-%zu", bdir, i);
        packsink k = {.fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644)};
        if (k.fd < 0) {
            rc = kl_error_errno(err, errno, "creating %s", tmp);
            break;
        }
        oci_sha256_init(&k.h);
        rc = host_layer_pack(stack.dirs[i], pack_write, &k, err);
        close(k.fd);
        if (rc < 0)
            break;
        uint8_t d[OCI_SHA256_LEN];
        char digest[OCI_DIGEST_STR_LEN];
        oci_sha256_final(&k.h, d);
        oci_digest_format(d, digest);
        _cleanup_free_ char *dst = xasprintf("%s/%s", bdir, digest + 7);
        if (rename(tmp, dst) < 0) {
            rc = kl_error_errno(err, errno, "keeping %s", dst);
            break;
        }
        json_array_append_new(layers, json_pack("{s:s, s:s, s:I}", "mediaType", OCI_MT_OCI_LAYER,
                                                "digest", digest, "size", (json_int_t)k.size));
        json_array_append_new(diff_ids, json_string(digest));
    }
    char cdigest[OCI_DIGEST_STR_LEN], mdigest[OCI_DIGEST_STR_LEN];
    if (rc == 0) {
        oci_platform host;
        oci_platform_host(&host);
        const char *wd = jx_str(img, "workdir", "/");
        const json_t *ep = json_object_get(img, "entrypoint");
        json_t *cfg =
            json_pack("{s:O, s:O, s:s, s:s, s:O, s:o}", "Cmd", json_object_get(img, "cmd"), "Env",
                      json_object_get(img, "env"), "User", jx_str(img, "user", "root"),
                      "WorkingDir", wd, "Labels", json_object_get(img, "labels"), "ExposedPorts",
                      ports_object(json_object_get(img, "exposed_ports")));
        if (cfg && json_array_size(ep))
            json_object_set(cfg, "Entrypoint", (json_t *)ep);
        if (cfg && json_is_string(json_object_get(img, "stop_signal")))
            json_object_set(cfg, "StopSignal", json_object_get(img, "stop_signal"));
        _cleanup_json_ json_t *config =
            cfg ? json_pack("{s:s, s:s, s:s, s:o, s:{s:s, s:O}}", "architecture", host.architecture,
                            "os", host.os, "created", jx_str(img, "created", ""), "config", cfg,
                            "rootfs", "type", "layers", "diff_ids", diff_ids)
                : NULL;
        if (host.variant && config)
            json_object_set_new(config, "variant", json_string(host.variant));
        oci_platform_clear(&host);
        _cleanup_free_ char *ctext =
            config ? json_dumps(config, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
        rc = ctext ? write_blob_bytes(bdir, ctext, cdigest, err)
                   : kl_error_set(err, EINVAL, "image %s: its defaults make no config", id);
        if (rc == 0) {
            _cleanup_json_ json_t *m =
                json_pack("{s:i, s:s, s:{s:s, s:s, s:I}, s:O}", "schemaVersion", 2, "mediaType",
                          OCI_MT_OCI_MANIFEST, "config", "mediaType", OCI_MT_OCI_CONFIG, "digest",
                          cdigest, "size", (json_int_t)strlen(ctext), "layers", layers);
            _cleanup_free_ char *mtext = json_dumps(m, JSON_COMPACT | JSON_PRESERVE_ORDER);
            rc = write_blob_bytes(bdir, mtext, mdigest, err);
        }
    }
    json_decref(layers);
    json_decref(diff_ids);
    images_stack_clear(&stack);
    if (rc == 0)
        out = xstrdup(mdigest);
    return out;
}

/* A work directory under the storage's layers/ (a crash leftover is an orphan layer
 * directory, removed at the next start). */
static char *pack_workdir(const char *sroot)
{
    char work[KL_ID_LEN + 1];
    kl_id_new(work);
    return host_layer_path(sroot, work);
}

static void drop_workdir(const char *workdir)
{
    kl_error terr = KL_ERROR_INIT;
    if (workdir && host_tree_remove(workdir, &terr) < 0 && terr.code != ENOENT)
        log_error("removing %s: %s", workdir, terr.msg);
}

/* ---- save ------------------------------------------------------------------------------- */

#define TAR_BLOCK 512
#define SAVE_CHUNK (256 * 1024)

typedef struct tarw {
    images_write_fn write;
    void *ctx;
} tarw;

/* A ustar header (sizes past the octal field's 8 GiB in base-256, as GNU tar and libarchive
 * read them). Times are 0: the same images give the same archive. */
static int tar_header(tarw *t, const char *name, uint64_t size, char type, kl_error *err)
{
    unsigned char h[TAR_BLOCK] = {0};
    if (strlen(name) >= 100)
        return kl_error_set(err, ENAMETOOLONG, "archive entry name too long: %s", name);
    memcpy(h, name, strlen(name));
    snprintf((char *)h + 100, 8, "%07o", type == '5' ? 0755u : 0644u);
    snprintf((char *)h + 108, 8, "%07o", 0u);
    snprintf((char *)h + 116, 8, "%07o", 0u);
    if (size < 077777777777ULL) {
        snprintf((char *)h + 124, 12, "%011llo", (unsigned long long)size);
    } else {
        h[124] = 0x80;
        for (int i = 11; i >= 4; i--, size >>= 8)
            h[124 + i] = (unsigned char)(size & 0xff);
    }
    snprintf((char *)h + 136, 12, "%011o", 0u);
    h[156] = (unsigned char)type;
    memcpy(h + 257, "ustar", 6);
    memcpy(h + 263, "00", 2);
    memset(h + 148, ' ', 8);
    unsigned sum = 0;
    for (size_t i = 0; i < TAR_BLOCK; i++)
        sum += h[i];
    snprintf((char *)h + 148, 8, "%06o", sum);
    h[155] = ' ';
    return t->write(h, TAR_BLOCK, t->ctx, err);
}

static int tar_pad(tarw *t, uint64_t size, kl_error *err)
{
    static const unsigned char zero[TAR_BLOCK];
    size_t pad = (size_t)((TAR_BLOCK - size % TAR_BLOCK) % TAR_BLOCK);
    return pad ? t->write(zero, pad, t->ctx, err) : 0;
}

static int tar_bytes(tarw *t, const char *name, const void *data, size_t n, kl_error *err)
{
    if (tar_header(t, name, n, '0', err) < 0 || (n && t->write(data, n, t->ctx, err) < 0))
        return -1;
    return tar_pad(t, n, err);
}

static int tar_file(tarw *t, const char *name, int fd, kl_error *err)
{
    struct stat st;
    if (fstat(fd, &st) < 0)
        return kl_error_errno(err, errno, "saving %s", name);
    if (tar_header(t, name, (uint64_t)st.st_size, '0', err) < 0)
        return -1;
    _cleanup_free_ char *buf = xmalloc(SAVE_CHUNK);
    uint64_t done = 0;
    while (done < (uint64_t)st.st_size) {
        ssize_t r = pread(fd, buf, SAVE_CHUNK, (off_t)done);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return kl_error_errno(err, r < 0 ? errno : EIO, "saving %s: reading the blob", name);
        if ((uint64_t)r > (uint64_t)st.st_size - done)
            r = (ssize_t)((uint64_t)st.st_size - done);
        if (t->write(buf, (size_t)r, t->ctx, err) < 0)
            return -1;
        done += (uint64_t)r;
    }
    return tar_pad(t, done, err);
}

/* A blob the archive holds, opened before the first byte is written: an image removed
 * meanwhile does not break the save. */
typedef struct sblob {
    char digest[OCI_DIGEST_STR_LEN];
    int fd;
} sblob;

typedef struct simage {
    images_archive_info_t info;
    char *repotag; /* "" when unnamed */
    char *manifest_media_type;
    int64_t manifest_size;
    char config[OCI_DIGEST_STR_LEN];
    char **layers; /* blob digests, bottom first */
} simage;

typedef struct saver {
    simage *images;
    size_t n;
    sblob *blobs;
    size_t n_blobs;
} saver;

static void saver_clear(saver *s)
{
    for (size_t i = 0; i < s->n; i++) {
        images_archive_info_clear(&s->images[i].info);
        free(s->images[i].repotag);
        free(s->images[i].manifest_media_type);
        strv_free(s->images[i].layers);
    }
    free(s->images);
    for (size_t i = 0; i < s->n_blobs; i++)
        close(s->blobs[i].fd);
    free(s->blobs);
}

static int open_blob(saver *s, const char *sroot, const char *packed, const char *digest,
                     kl_error *err)
{
    for (size_t i = 0; i < s->n_blobs; i++)
        if (!strcmp(s->blobs[i].digest, digest))
            return s->blobs[i].fd;
    _cleanup_free_ char *p =
        packed ? xasprintf("%s/blobs/%s", packed, digest + 7) : host_blob_path(sroot, digest);
    int fd = p ? open(p, O_RDONLY | O_CLOEXEC | O_NOFOLLOW) : -1;
    if (fd < 0)
        return kl_error_errno(err, p ? errno : EINVAL, "blob %s", digest);
    s->blobs = xrealloc(s->blobs, (s->n_blobs + 1) * sizeof(sblob));
    snprintf(s->blobs[s->n_blobs].digest, OCI_DIGEST_STR_LEN, "%s", digest);
    s->blobs[s->n_blobs++].fd = fd;
    return fd;
}

/* An image saved by one of its names (it may have several: images.h "Names") is written
 * under that name, as docker save does; by its first name, as repotag_of says. Returns
 * whether `ident` is one of its names (else it named the image by id). */
static bool save_as_named(kl_engine *e, const char *ident, images_archive_info_t *in)
{
    _cleanup_free_ char *name = NULL, *tag = NULL;
    if (imageref_parse_nametag(ident, &name, &tag, NULL) < 0 || !name[0])
        return false;
    _cleanup_free_ char *full = xasprintf("%s:%s", name, tag);
    _cleanup_json_ json_t *img = images_inspect(e, in->id, NULL);
    json_t *names = json_object_get(img, "names");
    size_t i;
    json_t *n;
    json_array_foreach(names, i, n)
    {
        if (strcmp(json_string_value(n), full) != 0)
            continue;
        if (i > 0) {
            free(in->name);
            free(in->tag);
            free(in->repository);
            in->name = steal_pointer(&name);
            in->tag = steal_pointer(&tag);
            in->repository = NULL;
        }
        return true;
    }
    return false;
}

/* The name an archive gives the image: the registry's repository (familiar form) when the
 * image's name is its last component, else the Kleene name; then the tag. */
static char *repotag_of(const images_archive_info_t *in)
{
    if (!in->name || !*in->name)
        return xstrdup("");
    const char *repo = in->repository ? in->repository : "";
    const char *last = strrchr(repo, '/');
    last = last ? last + 1 : repo;
    if (*repo && !strcmp(last, in->name)) {
        const char *fam = repo;
        if (!strncmp(fam, "docker.io/library/", 18))
            fam += 18;
        else if (!strncmp(fam, "docker.io/", 10))
            fam += 10;
        return xasprintf("%s:%s", fam, in->tag);
    }
    return xasprintf("%s:%s", in->name, in->tag);
}

static int prepare_opened(saver *s, const char *sroot, const char *packed, simage *im,
                          kl_error *err);

static int prepare_image(kl_engine *e, saver *s, const char *sroot, simage *im, kl_error *err)
{
    /* made the Kleene way: packed first (the files stay readable through the open fds when
     * the work directory goes) */
    _cleanup_free_ char *packed = im->info.manifest ? NULL : pack_workdir(sroot);
    if (packed) {
        im->info.manifest = pack_image(e, im->info.id, sroot, packed, NULL, err);
        if (!im->info.manifest) {
            drop_workdir(packed);
            return kl_error_prefix(err, "image %s", im->info.id);
        }
    }
    int rc = prepare_opened(s, sroot, packed, im, err);
    drop_workdir(packed);
    return rc;
}

static int prepare_opened(saver *s, const char *sroot, const char *packed, simage *im,
                          kl_error *err)
{
    int fd = open_blob(s, sroot, packed, im->info.manifest, err);
    if (fd < 0)
        return kl_error_prefix(err, "image %s: its manifest", im->info.id);
    struct stat st;
    if (fstat(fd, &st) < 0 || st.st_size > OCI_MANIFEST_MAX_BYTES)
        return kl_error_set(err, EIO, "image %s: manifest %s unreadable", im->info.id,
                            im->info.manifest);
    _cleanup_free_ char *buf = xmalloc((size_t)st.st_size + 1);
    if (pread(fd, buf, (size_t)st.st_size, 0) != st.st_size)
        return kl_error_errno(err, EIO, "image %s: reading manifest", im->info.id);
    oci_manifest m;
    if (oci_manifest_parse(buf, (size_t)st.st_size, NULL, &m, err) < 0)
        return kl_error_prefix(err, "image %s: manifest %s", im->info.id, im->info.manifest);
    int rc = 0;
    if (m.kind != OCI_MANIFEST_IMAGE)
        rc = kl_error_set(err, EIO, "image %s: %s is not an image manifest", im->info.id,
                          im->info.manifest);
    im->manifest_size = st.st_size;
    if (rc == 0) {
        im->manifest_media_type = xstrdup(m.media_type);
        snprintf(im->config, sizeof(im->config), "%s", m.config.digest);
        rc = open_blob(s, sroot, packed, m.config.digest, err) < 0 ? -1 : 0;
    }
    for (size_t i = 0; rc == 0 && i < m.n_layers; i++) {
        strv_push(&im->layers, m.layers[i].digest);
        rc = open_blob(s, sroot, packed, m.layers[i].digest, err) < 0 ? -1 : 0;
    }
    oci_manifest_clear(&m);
    if (rc < 0)
        return kl_error_prefix(err, "image %s", im->info.id);
    im->repotag = repotag_of(&im->info);
    return 0;
}

static int blob_fd(const saver *s, const char *digest)
{
    for (size_t i = 0; i < s->n_blobs; i++)
        if (!strcmp(s->blobs[i].digest, digest))
            return s->blobs[i].fd;
    return -1;
}

static bool written(char **done, const char *name)
{
    for (size_t i = 0; done && done[i]; i++)
        if (!strcmp(done[i], name))
            return true;
    return false;
}

static int save_docker(tarw *t, const saver *s, kl_error *err)
{
    _cleanup_strv_ char **done = NULL;
    json_t *manifest = json_array();
    int rc = 0;
    for (size_t k = 0; rc == 0 && k < s->n; k++) {
        const simage *im = &s->images[k];
        _cleanup_free_ char *cname = xasprintf("%s.json", im->config + 7);
        json_t *layers = json_array();
        if (!written(done, cname)) {
            rc = tar_file(t, cname, blob_fd(s, im->config), err);
            strv_push(&done, cname);
        }
        for (size_t i = 0; rc == 0 && im->layers[i]; i++) {
            _cleanup_free_ char *lname = xasprintf("%s.tar", im->layers[i] + 7);
            json_array_append_new(layers, json_string(lname));
            if (written(done, lname))
                continue;
            rc = tar_file(t, lname, blob_fd(s, im->layers[i]), err);
            strv_push(&done, lname);
        }
        /* no name: null, as docker save writes for an image saved by id */
        json_t *tags = *im->repotag ? json_pack("[s]", im->repotag) : json_null();
        json_array_append_new(manifest, json_pack("{s:s, s:o, s:o}", "Config", cname, "RepoTags",
                                                  tags, "Layers", layers));
    }
    _cleanup_free_ char *text = jx_dump(manifest);
    json_decref(manifest);
    if (rc == 0)
        rc = tar_bytes(t, "manifest.json", text, strlen(text), err);
    return rc;
}

static int save_oci(tarw *t, const saver *s, kl_error *err)
{
    static const char layout[] = "{\"imageLayoutVersion\":\"1.0.0\"}";
    int rc = tar_bytes(t, "oci-layout", layout, strlen(layout), err);
    if (rc == 0)
        rc = tar_header(t, "blobs/", 0, '5', err);
    if (rc == 0)
        rc = tar_header(t, "blobs/sha256/", 0, '5', err);
    for (size_t i = 0; rc == 0 && i < s->n_blobs; i++) {
        _cleanup_free_ char *name = xasprintf("blobs/sha256/%s", s->blobs[i].digest + 7);
        rc = tar_file(t, name, s->blobs[i].fd, err);
    }
    json_t *manifests = json_array();
    for (size_t k = 0; k < s->n; k++) {
        const simage *im = &s->images[k];
        json_t *d = json_pack("{s:s, s:s, s:I}", "mediaType", im->manifest_media_type, "digest",
                              im->info.manifest, "size", (json_int_t)im->manifest_size);
        if (*im->repotag) {
            const char *colon = imageref_tag_colon(im->repotag);
            json_object_set_new(d, "annotations",
                                json_pack("{s:s, s:s}", "io.containerd.image.name", im->repotag,
                                          "org.opencontainers.image.ref.name",
                                          colon ? colon + 1 : IMAGEREF_DEFAULT_TAG));
        }
        json_array_append_new(manifests, d);
    }
    _cleanup_json_ json_t *index = json_pack("{s:i, s:s, s:o}", "schemaVersion", 2, "mediaType",
                                             OCI_MT_OCI_INDEX, "manifests", manifests);
    _cleanup_free_ char *text = jx_dump(index);
    if (rc == 0)
        rc = tar_bytes(t, "index.json", text, strlen(text), err);
    return rc;
}

int images_save(kl_engine *e, char *const *idents, size_t n, images_archive_format format,
                unsigned flags, images_write_fn write, void *ctx, kl_error *err)
{
    if (n == 0)
        return kl_error_set(err, EINVAL, "no image to save");
    _cleanup_free_ char *sroot = images_storage_root(e);
    saver s = {.images = xcalloc(n, sizeof(simage))};
    int rc = 0;
    for (size_t k = 0; rc == 0 && k < n; k++) {
        rc = images_archive_info(e, idents[k], &s.images[k].info, err);
        s.n = k + 1;
        if (rc == 0 && !save_as_named(e, idents[k], &s.images[k].info) &&
            (flags & IMAGES_SAVE_ID_UNNAMED)) {
            free(s.images[k].info.name);
            s.images[k].info.name = xstrdup("");
        }
        if (rc == 0)
            rc = prepare_image(e, &s, sroot, &s.images[k], err);
    }
    tarw t = {.write = write, .ctx = ctx};
    if (rc == 0)
        rc = format == IMAGES_ARCHIVE_OCI ? save_oci(&t, &s, err) : save_docker(&t, &s, err);
    if (rc == 0) {
        static const unsigned char end[2 * TAR_BLOCK];
        rc = write(end, sizeof(end), ctx, err);
    }
    for (size_t k = 0; rc == 0 && k < s.n; k++)
        images_event(e, s.images[k].info.id, "save", NULL);
    saver_clear(&s);
    return rc;
}

/* ---- push ------------------------------------------------------------------------------- */

typedef struct pushctx {
    const images_push_opts *o;
    int last_percent;
} pushctx;

static void push_say(const images_push_opts *o, const char *text)
{
    if (o->output)
        o->output(text, o->output_ctx);
}

static void push_progress(const host_fetch_progress *p, void *ctx)
{
    pushctx *c = ctx;
    if (p->percent < 0 || p->total < 4 * 1024 * 1024)
        return;
    if (p->percent / 25 > c->last_percent / 25 || p->percent < c->last_percent) {
        char line[96];
        snprintf(line, sizeof(line), "Pushed %.1f MB (%d%%)\n", (double)p->bytes / 1048576.0,
                 p->percent);
        push_say(c->o, line);
    }
    c->last_percent = p->percent;
}

static void push_log(int level, const char *text, void *ctx)
{
    pushctx *c = ctx;
    if (level < KL_LOG_NOTICE) /* the helper's notices: one per blob, and the manifest */
        return;
    _cleanup_free_ char *line = xasprintf("%s\n", text);
    push_say(c->o, line);
}

/* The index a push puts under its tag: the kept index of the image, when the push goes back
 * to the repository the image was pulled from (the index's other platforms' manifests are
 * there; elsewhere a registry refuses an index whose manifests it does not have). */
static const char *push_index(const images_archive_info_t *info, const char *reference)
{
    if (!info->index || !info->repository || !*info->repository)
        return NULL;
    oci_ref r;
    if (oci_ref_parse(reference, &r, NULL) < 0)
        return NULL;
    _cleanup_free_ char *repo = oci_ref_repository(&r);
    oci_ref_clear(&r);
    return strcmp(repo, info->repository) == 0 ? info->index : NULL;
}

static bool push_cancelled(void *ctx)
{
    pushctx *c = ctx;
    return c->o->cancel && atomic_load(c->o->cancel);
}

char *images_push(kl_engine *e, const images_push_opts *o, kl_error *err)
{
    if (!o->reference || !*o->reference)
        return kl_error_set(err, EINVAL, "pushing needs a reference to push to"), NULL;
    if (registry_credentials_check(o->username, o->password, err) < 0)
        return NULL;
    images_archive_info_t info;
    if (images_archive_info(e, o->image, &info, err) < 0)
        return NULL;
    _cleanup_free_ char *sroot = images_storage_root(e);
    /* made the Kleene way: packed into a work directory whose blobs/ the helper reads */
    _cleanup_free_ char *packed = info.manifest ? NULL : pack_workdir(sroot);
    _cleanup_free_ char *packed_mount = NULL;
    if (packed) {
        push_say(o, "Packing the image's layers...\n");
        info.manifest = pack_image(e, info.id, sroot, packed, &packed_mount, err);
        if (!info.manifest) {
            drop_workdir(packed);
            kl_error_prefix(err, "image %s", info.id);
            images_archive_info_clear(&info);
            return NULL;
        }
    }
    _cleanup_free_ char *bdir = NULL;
    if (packed) {
        bdir = xasprintf("%s/blobs", packed);
    } else {
        bdir = host_blob_path(sroot, info.manifest);
        *strrchr(bdir, '/') = '\0';
    }
    _cleanup_close_ int bfd = open(bdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (bfd < 0) {
        kl_error_errno(err, errno, "opening %s", bdir);
        drop_workdir(packed);
        images_archive_info_clear(&info);
        return NULL;
    }
    pushctx pc = {.o = o, .last_percent = -1};
    host_fetch_child_opts fo = {.fetch_progress = push_progress,
                                .ctx = &pc,
                                .is_cancelled = push_cancelled,
                                .log_line = push_log};
    _cleanup_free_ char *domain = registry_domain_of(o->reference);
    _cleanup_registry_transport_ registry_transport tr;
    if (registry_transport_get(e, domain, &tr, err) < 0) {
        drop_workdir(packed);
        images_archive_info_clear(&info);
        return NULL;
    }
    host_pull_child_opts po = {.insecure = o->insecure || tr.insecure,
                               .ca_files = (const char *const *)tr.ca_files,
                               .client_cert = tr.client_cert,
                               .client_key = tr.client_key,
                               .push_chunk_size = e->registry_push_chunk_size,
                               .username = o->username,
                               .password = o->password,
                               .push_manifest = info.manifest,
                               .push_mount_from = packed ? packed_mount : info.repository,
                               .push_index = packed ? NULL : push_index(&info, o->reference)};
    _cleanup_free_ char *start =
        xasprintf("Pushing %s (%s) to %s...\n", o->image, info.id, o->reference);
    push_say(o, start);
    kl_error ferr = KL_ERROR_INIT;
    int rc = host_push_child(o->reference, bfd, &po, &fo, &ferr);
    char *out = NULL;
    if (rc < 0 && ferr.code == ECANCELED)
        kl_error_set(err, ECANCELED, "image push cancelled");
    else if (rc < 0) {
        _cleanup_free_ char *hint =
            ferr.code == EKEYREJECTED ? registry_tls_hint(e, domain) : xstrdup("");
        kl_error_set(err, ferr.code, "could not push image: %s%s", ferr.msg, hint);
    } else
        out = xstrdup(po.push_index ? po.push_index : info.manifest);
    struct stat mst;
    if (out && o->manifest_size)
        *o->manifest_size = fstatat(bfd, out + 7, &mst, 0) == 0 ? mst.st_size : -1;
    if (out)
        images_event(e, info.id, "push", o->reference);
    drop_workdir(packed);
    images_archive_info_clear(&info);
    return out;
}
