/* Registry pulls (pull.h): the Distribution API client and the layer pipeline
 * (download -> digest/size check -> decompress -> extract) of kleene-fetch.
 * Runs in the helper only. Every answer of the registry is bounded before it is parsed
 * (src/registry/), every blob checked against the digest that names it. */
#include "host/linux/pull.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "host/fetch.h"
#include "host/linux/fsutil.h"
#include "host/storage.h"
#include "lib/buf.h"
#include "lib/cleanup.h"
#include "lib/jsonx.h"
#include "lib/log.h"
#include "lib/xalloc.h"
#include "registry/auth.h"
#include "registry/digest.h"
#include "registry/imageconfig.h"
#include "registry/manifest.h"
#include "registry/reference.h"

#define PING_MAX (64 * 1024)
#define TOKEN_BODY_MAX (256 * 1024)

typedef struct session {
    const host_pull_opts *o;
    oci_ref ref;
    char *base; /* "https://host[:port]" or "http://…" */
    bool plain_allowed;
    bool tls_no_verify; /* an insecure registry whose certificate does not verify */
    char *auth;         /* "Authorization: …" or NULL */
    bool login;         /* host_registry_login: a token without a repository scope */
} session;

static void session_clear(session *s)
{
    oci_ref_clear(&s->ref);
    free(s->base);
    free(s->auth);
}

typedef struct response {
    long status;
    kl_buf body;
    char *content_type;
    char *challenge; /* WWW-Authenticate */
} response;

static void response_clear(response *r)
{
    kl_buf_free(&r->body);
    free(r->content_type);
    free(r->challenge);
    memset(r, 0, sizeof(*r));
}

/* GET url with the session's credentials, the body bounded by max. Transport errors fail;
 * an HTTP error status is returned in r->status. */
static int get(session *s, const char *url, const char *accept, const char *auth, size_t max,
               response *r, kl_error *err)
{
    memset(r, 0, sizeof(*r));
    _cleanup_free_ char *accept_h = accept ? xasprintf("Accept: %s", accept) : NULL;
    const char *headers[3] = {0};
    size_t nh = 0;
    if (auth)
        headers[nh++] = auth;
    if (accept_h)
        headers[nh++] = accept_h;
    host_fetch_request rq = {.headers = headers,
                             .keep_http_errors = true,
                             .ca_file = s->o->ca_file,
                             .client_cert = s->o->client_cert,
                             .client_key = s->o->client_key,
                             .tls_no_verify = s->tls_no_verify};
    _cleanup_fetch_ host_fetch *f = host_fetch_open_req(url, &rq, NULL, NULL, err);
    if (!f)
        return -1;
    for (;;) {
        const void *buf;
        ssize_t n = host_fetch_read(f, &buf, err);
        if (n < 0)
            return -1;
        if (n == 0)
            break;
        if (r->body.len + (size_t)n > max) {
            response_clear(r);
            return kl_error_set(err, EIO, "%s: answer longer than %zu bytes", url, max);
        }
        kl_buf_append(&r->body, buf, (size_t)n);
    }
    r->status = host_fetch_status(f);
    r->content_type = host_fetch_header(f, "Content-Type");
    r->challenge = host_fetch_header(f, "WWW-Authenticate");
    return 0;
}

static int http_error(const char *what, const response *r, kl_error *err)
{
    return oci_registry_error(what, r->status, r->body.data, r->body.len, err);
}

/* Answered 401/403 although (or because not) authenticated (registry/auth.h). */
static int refused(const session *s, const char *what, const response *r, kl_error *err)
{
    return oci_auth_refused(s->ref.domain, s->o->username, r->challenge, what, r->status,
                            r->body.data, r->body.len, err);
}

/* Answer a 401 challenge: set s->auth. */
static int authenticate(session *s, const char *challenge, kl_error *err)
{
    const char *reg = s->ref.domain;
    if (!challenge)
        return kl_error_set(err, EACCES,
                            "registry %s: authentication required, but it says "
                            "not how (no WWW-Authenticate)",
                            reg);
    oci_auth_challenge c;
    if (oci_auth_challenge_parse(challenge, &c, err) < 0)
        return kl_error_prefix(err, "registry %s", reg);
    bool has_creds = s->o->username && *s->o->username;
    _cleanup_free_ char *basic = has_creds ? oci_auth_basic(s->o->username, s->o->password) : NULL;
    if (c.scheme == OCI_AUTH_BASIC) {
        oci_auth_challenge_clear(&c);
        if (!has_creds)
            return kl_error_set(
                err, EACCES, "registry %s: authentication required (Basic), no credentials", reg);
        free(s->auth);
        s->auth = xasprintf("Authorization: %s", basic);
        return 0;
    }
    /* Bearer: a token for pulling this repository */
    if (!strncmp(c.realm, "http://", 7) && !s->plain_allowed) {
        oci_auth_challenge_clear(&c);
        return kl_error_set(err, EACCES, "registry %s: refusing a token server over plain HTTP",
                            reg);
    }
    _cleanup_free_ char *scope = s->login ? NULL : xasprintf("repository:%s:pull", s->ref.path);
    _cleanup_free_ char *url = oci_auth_token_url(&c, scope);
    oci_auth_challenge_clear(&c);
    _cleanup_free_ char *basic_h = basic ? xasprintf("Authorization: %s", basic) : NULL;
    response r;
    if (get(s, url, "application/json", basic_h, TOKEN_BODY_MAX, &r, err) < 0)
        return kl_error_prefix(err, "registry %s: token server", reg);
    if (r.status == 401 || r.status == 403) {
        refused(s, "token server", &r, err);
        response_clear(&r);
        return -1;
    }
    if (r.status != 200) {
        http_error("token server", &r, err);
        response_clear(&r);
        return kl_error_prefix(err, "registry %s", reg);
    }
    _cleanup_free_ char *token = oci_auth_token_parse(r.body.data, r.body.len, err);
    response_clear(&r);
    if (!token)
        return kl_error_prefix(err, "registry %s", reg);
    free(s->auth);
    s->auth = xasprintf("Authorization: Bearer %s", token);
    return 0;
}

/* GET base + path; answers one 401 by authenticating and asking again. */
static int registry_get(session *s, const char *path, const char *accept, size_t max,
                        const char *what, response *r, kl_error *err)
{
    _cleanup_free_ char *url = xasprintf("%s%s", s->base, path);
    for (int attempt = 0;; attempt++) {
        if (get(s, url, accept, s->auth, max, r, err) < 0)
            return -1;
        if (r->status == 401 && attempt == 0) {
            int rc = authenticate(s, r->challenge, err);
            response_clear(r);
            if (rc < 0)
                return -1;
            continue;
        }
        if (r->status >= 200 && r->status < 300)
            return 0;
        int rc = r->status == 401 && s->auth ? refused(s, what, r, err) : http_error(what, r, err);
        response_clear(r);
        return rc;
    }
}

/* Find the scheme: HTTPS, or plain HTTP where allowed and HTTPS does not answer. The
 * version check (GET /v2/) also brings the first challenge. */
static int ping(session *s, kl_error *err)
{
    const char *host = oci_ref_api_host(&s->ref);
    s->base = xasprintf("https://%s", host);
    response r;
    kl_error terr = KL_ERROR_INIT;
    _cleanup_free_ char *url = xasprintf("%s/v2/", s->base);
    int grc = get(s, url, NULL, NULL, PING_MAX, &r, &terr);
    if (grc < 0 && s->plain_allowed && terr.code == EKEYREJECTED) {
        /* Docker's rule for insecure registries: HTTPS whose certificate does not verify
         * is used without the check */
        log_warn("registry %s: %s; an insecure registry: going on without verifying it",
                 s->ref.domain, terr.msg);
        s->tls_no_verify = true;
        kl_error_clear(&terr);
        grc = get(s, url, NULL, NULL, PING_MAX, &r, &terr);
    }
    if (grc < 0) {
        if (!s->plain_allowed && terr.code != EKEYREJECTED)
            return kl_error_set(err, terr.code,
                                "registry %s: %s (plain HTTP is only used for loopback registries "
                                "and insecure ones)",
                                s->ref.domain, terr.msg);
        if (!s->plain_allowed || terr.code == EKEYREJECTED) {
            *err = terr;
            return kl_error_prefix(err, "registry %s", s->ref.domain);
        }
        s->tls_no_verify = false;
        free(s->base);
        s->base = xasprintf("http://%s", host);
        free(url);
        url = xasprintf("%s/v2/", s->base);
        if (get(s, url, NULL, NULL, PING_MAX, &r, err) < 0)
            return kl_error_prefix(err, "registry %s", s->ref.domain);
    }
    int rc = 0;
    if (r.status == 401)
        rc = authenticate(s, r.challenge, err);
    else if (r.status != 200 && r.status != 404) /* 404: not a v2 registry? try anyway */
        rc = http_error("registry version check", &r, err);
    response_clear(&r);
    return rc;
}

/* ---- blobs ------------------------------------------------------------------------------ */

/* A layer download as the extractor reads it: every chunk goes through the verifier; the
 * end of the data is accepted only if size and digest match. */
typedef struct blob_reader {
    host_fetch *f;
    oci_verifier v;
    int keep_fd; /* the blob's copy in blobs/, or -1 */
    bool finished;
    bool failed; /* the download or the check failed (not the extraction) */
} blob_reader;

static int write_all(int fd, const void *buf, size_t n, kl_error *err)
{
    for (size_t off = 0; off < n;) {
        ssize_t w = KL_RETRY_EINTR(write(fd, (const char *)buf + off, n - off));
        if (w < 0)
            return kl_error_errno(err, errno, "writing a blob");
        off += (size_t)w;
    }
    return 0;
}

static ssize_t blob_read(void *ctx, const void **buf, kl_error *err)
{
    blob_reader *b = ctx;
    if (b->finished)
        return 0;
    ssize_t n = host_fetch_read(b->f, buf, err);
    if (n > 0 && oci_verifier_update(&b->v, *buf, (size_t)n, err) < 0)
        n = -1;
    if (n > 0 && b->keep_fd >= 0 && write_all(b->keep_fd, *buf, (size_t)n, err) < 0)
        n = -1;
    if (n == 0) {
        b->finished = true;
        if (oci_verifier_finish(&b->v, err) < 0)
            n = -1;
    }
    if (n < 0)
        b->failed = true;
    return n;
}

/* The layers to download, shared by the workers that download them (at most
 * PULL_PARALLEL at a time). Progress is the sum over all of them, so that it grows
 * steadily whatever the order the layers advance in. */
#define PULL_PARALLEL 3

typedef struct layer_work {
    session *s;
    const oci_manifest *m;
    const oci_imgconfig *c;
    const bool *present;
    int lfd, bfd;
    pthread_mutex_t lock; /* everything below, and the progress callback */
    size_t next;          /* the next layer to look at */
    bool failed;
    kl_error err; /* the first failure */
    uint64_t *bytes;
    uint64_t total;
} layer_work;

typedef struct layer_progress {
    layer_work *w;
    unsigned index;
} layer_progress;

static void on_layer_bytes(const host_fetch_progress *p, void *ctx)
{
    layer_progress *lp = ctx;
    layer_work *w = lp->w;
    const host_pull_opts *o = w->s->o;
    pthread_mutex_lock(&w->lock);
    w->bytes[lp->index] = p->bytes;
    uint64_t sum = 0;
    for (size_t i = 0; i < w->m->n_layers; i++)
        sum += w->bytes[i];
    if (o->progress)
        o->progress(&(host_pull_event){.kind = HOST_PULL_LAYER,
                                       .index = lp->index,
                                       .n_layers = (unsigned)w->m->n_layers,
                                       .bytes = sum,
                                       .total = w->total,
                                       .layer_bytes = p->bytes,
                                       .layer_total = (uint64_t)w->m->layers[lp->index].size,
                                       .text = w->m->layers[lp->index].digest},
                    o->ctx);
    pthread_mutex_unlock(&w->lock);
}

/* Where the blob `digest` is kept in blobs/: a new file, or -1 with *exists set when an
 * earlier layer of the image was the same blob (already written and verified). */
static int open_blob_file(int blobs_fd, const char *digest, bool *exists, kl_error *err)
{
    *exists = false;
    int fd =
        openat(blobs_fd, digest + 7, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (fd < 0 && errno == EEXIST)
        *exists = true;
    else if (fd < 0)
        kl_error_errno(err, errno, "creating the copy of blob %s", digest);
    return fd;
}

static void diff_tap(const void *buf, size_t n, void *ctx)
{
    oci_sha256_update(ctx, buf, n);
}

static int pull_layer(layer_work *w, unsigned index, kl_error *err)
{
    session *s = w->s;
    const oci_descriptor *d = &w->m->layers[index];
    const char *diff_id = w->c->diff_ids[index];
    unsigned n = (unsigned)w->m->n_layers;
    int layers_fd = w->lfd, blobs_fd = w->bfd;
    _cleanup_free_ char *url = xasprintf("%s/v2/%s/blobs/%s", s->base, s->ref.path, d->digest);
    const char *headers[2] = {s->auth, NULL};
    host_fetch_request rq = {.headers = headers,
                             .ca_file = s->o->ca_file,
                             .tls_no_verify = s->tls_no_verify,
                             .client_cert = s->o->client_cert,
                             .client_key = s->o->client_key};
    layer_progress lp = {w, index};
    bool kept_before;
    _cleanup_close_ int keep = open_blob_file(blobs_fd, d->digest, &kept_before, err);
    if (keep < 0 && !kept_before)
        return kl_error_prefix(err, "layer %u/%u", index + 1, n);
    blob_reader b = {.keep_fd = keep};
    if (oci_verifier_init(&b.v, d->digest, d->size, err) < 0)
        return -1;
    b.f = host_fetch_open_req(url, &rq, on_layer_bytes, &lp, err);
    if (!b.f)
        return -1;
    char name[16];
    snprintf(name, sizeof(name), "%u", index);
    /* the diff_id: the digest of the uncompressed stream, as the extractor sees it */
    oci_sha256_ctx diff;
    oci_sha256_init(&diff);
    host_extract_opts xo = {.oci_layer = true, .uncompressed_tap = diff_tap, .tap_ctx = &diff};
    int rc = host_archive_extract(blob_read, &b, layers_fd, name, &xo, NULL, err);
    /* the archive may end before its blob does (tar padding, compressor trailer): the rest
     * is read and checked too, or the digest could not be */
    if (rc == 0) {
        const void *buf;
        ssize_t r;
        while ((r = blob_read(&b, &buf, err)) > 0)
            ;
        if (r < 0) {
            kl_error tmp = KL_ERROR_INIT;
            fs_remove_at(layers_fd, name, &tmp);
            rc = -1;
        }
    }
    /* An extraction error on data that is not what the manifest names (a corrupt blob
     * often fails decompression before its end) is reported as what it is: the rest is
     * read through the verifier, and a mismatch replaces the extractor's message. */
    if (rc < 0 && !b.failed) {
        const void *buf;
        kl_error verr = KL_ERROR_INIT;
        while (blob_read(&b, &buf, &verr) > 0)
            ;
        if (b.failed && kl_error_is_set(&verr) && err)
            *err = verr;
    }
    host_fetch_free(b.f);
    if (rc == 0) {
        uint8_t got[OCI_SHA256_LEN];
        char got_s[OCI_DIGEST_STR_LEN];
        oci_sha256_final(&diff, got);
        oci_digest_format(got, got_s);
        if (strcmp(got_s, diff_id) != 0) {
            kl_error tmp = KL_ERROR_INIT;
            fs_remove_at(layers_fd, name, &tmp);
            rc = kl_error_set(err, EIO,
                              "blob %s: diff_id mismatch: the image config says %s, the "
                              "uncompressed layer is %s",
                              d->digest, diff_id, got_s);
        }
    }
    if (rc == 0 && keep >= 0 && fsync(keep) < 0)
        rc = kl_error_errno(err, errno, "writing the copy of blob %s", d->digest);
    if (rc < 0)
        return kl_error_prefix(err, "layer %u/%u", index + 1, n);
    return 0;
}

static bool have_blob(const host_pull_opts *o, const char *digest)
{
    for (size_t i = 0; i < o->n_have; i++)
        if (!strcmp(o->have_blobs[i], digest))
            return true;
    return false;
}

/* Keep the bytes of a small blob (manifest, config) in blobs/ as they came, unless the
 * caller has it. */
static int keep_blob(const host_pull_opts *o, int blobs_fd, const char *digest, const kl_buf *body,
                     kl_error *err)
{
    if (have_blob(o, digest))
        return 0;
    bool exists;
    _cleanup_close_ int fd = open_blob_file(blobs_fd, digest, &exists, err);
    if (fd < 0)
        return exists ? 0 : -1;
    if (write_all(fd, body->data, body->len, err) < 0 || fsync(fd) < 0)
        return kl_error_errno(err, errno ? errno : EIO, "writing the copy of blob %s", digest);
    return 0;
}

/* A worker: takes the next layer to download until there is none or one failed. */
static void *layer_worker(void *p)
{
    layer_work *w = p;
    const host_pull_opts *o = w->s->o;
    for (;;) {
        pthread_mutex_lock(&w->lock);
        size_t i = w->next;
        while (i < w->m->n_layers && w->present[i])
            i++;
        w->next = i + 1;
        bool stop = w->failed || i >= w->m->n_layers;
        pthread_mutex_unlock(&w->lock);
        if (stop)
            return NULL;
        kl_error e = KL_ERROR_INIT;
        int rc = pull_layer(w, (unsigned)i, &e);
        pthread_mutex_lock(&w->lock);
        if (rc < 0 && !w->failed) {
            w->failed = true;
            w->err = e;
        } else if (rc == 0 && o->progress) {
            o->progress(&(host_pull_event){.kind = HOST_PULL_LAYER_DONE,
                                           .index = (unsigned)i,
                                           .n_layers = (unsigned)w->m->n_layers,
                                           .layer_bytes = (uint64_t)w->m->layers[i].size,
                                           .layer_total = (uint64_t)w->m->layers[i].size,
                                           .text = w->m->layers[i].digest},
                        o->ctx);
        }
        pthread_mutex_unlock(&w->lock);
    }
}

/* Download every layer not present, PULL_PARALLEL at a time (this thread is one of the
 * workers). The first failure is the pull's. */
static int pull_layers(session *s, const oci_manifest *m, const oci_imgconfig *c,
                       const bool *present, int lfd, int bfd, kl_error *err)
{
    layer_work w = {.s = s, .m = m, .c = c, .present = present, .lfd = lfd, .bfd = bfd};
    size_t todo = 0;
    for (size_t i = 0; i < m->n_layers; i++)
        if (!present[i]) {
            todo++;
            w.total += (uint64_t)m->layers[i].size;
        }
    if (todo == 0)
        return 0;
    w.bytes = xcalloc(m->n_layers, sizeof(uint64_t));
    pthread_mutex_init(&w.lock, NULL);
    pthread_t threads[PULL_PARALLEL - 1];
    size_t started = 0;
    for (; started < PULL_PARALLEL - 1 && started + 1 < todo; started++)
        if (pthread_create(&threads[started], NULL, layer_worker, &w) != 0)
            break; /* fewer workers: not a failure */
    layer_worker(&w);
    for (size_t i = 0; i < started; i++)
        pthread_join(threads[i], NULL);
    pthread_mutex_destroy(&w.lock);
    free(w.bytes);
    if (w.failed) {
        if (err)
            *err = w.err;
        return -1;
    }
    return 0;
}

/* Does the caller have this layer: the blob, known to decompress to diff_id? 1 yes, 0 no,
 * -1 (err set) when it has the blob but knows it as another diff_id: the config lies. */
static int have_layer(const host_pull_opts *o, const char *blob, const char *diff_id, kl_error *err)
{
    for (size_t i = 0; i < o->n_have; i++) {
        if (strcmp(o->have_blobs[i], blob) != 0 || !o->have_diff_ids[i])
            continue;
        if (strcmp(o->have_diff_ids[i], diff_id) == 0)
            return 1;
        return kl_error_set(err, EIO,
                            "blob %s: diff_id mismatch: the image config says %s, the "
                            "uncompressed layer is %s",
                            blob, diff_id, o->have_diff_ids[i]);
    }
    return 0;
}

/* A small blob (the config, a manifest by digest), checked against its descriptor. */
static int get_verified(session *s, const char *path, const char *accept, const oci_descriptor *d,
                        size_t max, const char *what, response *r, kl_error *err)
{
    if (d->size > (int64_t)max)
        return kl_error_set(err, EINVAL, "%s %s: %lld bytes, more than the %zu allowed", what,
                            d->digest, (long long)d->size, max);
    if (registry_get(s, path, accept, max, what, r, err) < 0)
        return -1;
    oci_verifier v;
    if (oci_verifier_init(&v, d->digest, d->size, err) < 0 ||
        oci_verifier_update(&v, r->body.data, r->body.len, err) < 0 ||
        oci_verifier_finish(&v, err) < 0) {
        response_clear(r);
        return kl_error_prefix(err, "%s", what);
    }
    return 0;
}

/* ---- the pull ----------------------------------------------------------------------------- */

static json_t *strv_or_null(char **v)
{
    return v ? jx_from_strv(v) : json_null();
}

static int write_image_json(int dirfd, const session *s, const char *manifest_digest,
                            const char *index_digest, const char *index_type, const oci_manifest *m,
                            const oci_imgconfig *c, const bool *present, const char *platform,
                            kl_error *err)
{
    _cleanup_free_ char *full = oci_ref_format(&s->ref);
    _cleanup_free_ char *repo = oci_ref_repository(&s->ref);
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
    _cleanup_json_ json_t *j = json_pack(
        "{s:s, s:s, s:o, s:s, s:s, s:s, s:o, s:o, s:o, s:s, s:s, s:o, s:o, s:o}", "reference", full,
        "repository", repo, "tag", s->ref.tag ? json_string(s->ref.tag) : json_null(),
        "manifest_digest", manifest_digest, "config_digest", m->config.digest, "platform", platform,
        "cmd", strv_or_null(c->cmd), "entrypoint", strv_or_null(c->entrypoint), "env",
        jx_from_strv(c->env ? c->env : (char **)empty), "user", c->user ? c->user : "",
        "working_dir", c->working_dir ? c->working_dir : "", "exposed_ports",
        jx_from_strv(c->exposed_ports ? c->exposed_ports : (char **)empty), "labels", labels,
        "layers", layers);
    if (!j)
        return kl_error_set(err, EINVAL, "image.json: invalid strings in the image config");
    if (c->stop_signal && json_object_set_new(j, "stop_signal", json_string(c->stop_signal)) < 0)
        return kl_error_set(err, EINVAL, "image.json: invalid strings in the image config");
    json_object_set_new(j, "manifest_media_type", json_string(m->media_type));
    json_object_set_new(j, "config_media_type", json_string(m->config.media_type));
    json_object_set_new(j, "plain_http", json_boolean(!strncmp(s->base, "http://", 7)));
    if (index_digest) {
        json_object_set_new(j, "index_digest", json_string(index_digest));
        json_object_set_new(j, "index_media_type", json_string(index_type ? index_type : ""));
    }
    _cleanup_close_ int fd =
        openat(dirfd, "image.json", O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (fd < 0)
        return kl_error_errno(err, errno, "writing image.json");
    /* one write, not jansson's one per token */
    _cleanup_free_ char *text = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
    if (!text)
        return kl_error_set(err, EIO, "writing image.json");
    return write_all(fd, text, strlen(text), err);
}

static int pull_into(session *s, int sfd, kl_error *err)
{
    const host_pull_opts *o = s->o;
    oci_platform want;
    if (o->platform && *o->platform) {
        if (oci_platform_parse(o->platform, &want, err) < 0)
            return -1;
    } else {
        oci_platform_host(&want);
    }
    _cleanup_free_ char *want_s = oci_platform_format(&want);
    oci_platform_clear(&want);
    /* A registry known to answer plain HTTP (where that is allowed) is asked straight
     * away: no HTTPS attempt, no version check (a warm pull is then two GETs). A stale hint
     * costs one failed request: then the usual way. */
    bool hinted = o->plain_http_hint && s->plain_allowed;
    if (hinted)
        s->base = xasprintf("http://%s", oci_ref_api_host(&s->ref));

    /* the manifest: the one named, or the platform's one in the index named */
    _cleanup_free_ char *mpath =
        xasprintf("/v2/%s/manifests/%s", s->ref.path, oci_ref_manifest_ref(&s->ref));
    _cleanup_free_ char *refs = oci_ref_familiar(&s->ref);
    _cleanup_free_ char *what = xasprintf("manifest of %s", refs);
    response r;
    kl_error herr = KL_ERROR_INIT;
    if (hinted &&
        registry_get(s, mpath, OCI_MANIFEST_ACCEPT, OCI_MANIFEST_MAX_BYTES, what, &r, &herr) < 0) {
        log_debug("registry %s: plain HTTP without a version check: %s; trying the usual way",
                  s->ref.domain, herr.msg);
        free(s->base);
        s->base = NULL;
        hinted = false;
    } else if (hinted) {
        herr.code = 0;
    }
    if (!hinted && (ping(s, err) < 0 || registry_get(s, mpath, OCI_MANIFEST_ACCEPT,
                                                     OCI_MANIFEST_MAX_BYTES, what, &r, err) < 0))
        return -1;
    char mdigest[OCI_DIGEST_STR_LEN];
    oci_digest_of(r.body.data, r.body.len, mdigest);
    if (s->ref.digest && strcmp(mdigest, s->ref.digest) != 0) {
        response_clear(&r);
        return kl_error_set(err, EIO, "%s: the registry sent content with digest %s", what,
                            mdigest);
    }
    if (mkdirat(sfd, "blobs", 0700) < 0) {
        response_clear(&r);
        return kl_error_errno(err, errno, "creating the blobs directory");
    }
    _cleanup_close_ int bfd = openat(sfd, "blobs", O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
    if (bfd < 0) {
        response_clear(&r);
        return kl_error_errno(err, errno, "opening the blobs directory");
    }
    char idigest[OCI_DIGEST_STR_LEN] = "";
    oci_manifest m;
    int rc = oci_manifest_parse(r.body.data, r.body.len, r.content_type, &m, err);
    /* an index is kept too: a push back to its repository puts it again (push.h) */
    if (rc == 0 && keep_blob(o, bfd, mdigest, &r.body, err) < 0) {
        oci_manifest_clear(&m);
        rc = -1;
    }
    response_clear(&r);
    if (rc < 0)
        return kl_error_prefix(err, "%s", what);
    _cleanup_free_ char *index_type = NULL;
    if (m.kind == OCI_MANIFEST_INDEX) {
        snprintf(idigest, sizeof(idigest), "%s", mdigest);
        index_type = xstrdup(m.media_type);
        oci_platform p;
        oci_platform_parse(want_s, &p, NULL);
        int i = oci_index_select(&m, &p, err);
        oci_platform_clear(&p);
        if (i < 0) {
            oci_manifest_clear(&m);
            return kl_error_prefix(err, "%s", refs);
        }
        oci_descriptor d = m.manifests[i];
        _cleanup_free_ char *dpath = xasprintf("/v2/%s/manifests/%s", s->ref.path, d.digest);
        rc = get_verified(s, dpath, OCI_MANIFEST_ACCEPT, &d, OCI_MANIFEST_MAX_BYTES, what, &r, err);
        snprintf(mdigest, sizeof(mdigest), "%s", d.digest);
        oci_manifest_clear(&m);
        if (rc < 0)
            return -1;
        rc = oci_manifest_parse(r.body.data, r.body.len, r.content_type, &m, err);
        if (rc == 0 && m.kind == OCI_MANIFEST_IMAGE &&
            keep_blob(o, bfd, mdigest, &r.body, err) < 0) {
            oci_manifest_clear(&m);
            rc = -1;
        }
        response_clear(&r);
        if (rc < 0)
            return kl_error_prefix(err, "%s", what);
        if (m.kind != OCI_MANIFEST_IMAGE) {
            oci_manifest_clear(&m);
            return kl_error_set(err, ENOTSUP, "%s: an index inside an index", what);
        }
    }
    if (o->progress)
        o->progress(&(host_pull_event){.kind = HOST_PULL_RESOLVED,
                                       .n_layers = (unsigned)m.n_layers,
                                       .text = mdigest},
                    o->ctx);

    /* the config */
    _cleanup_free_ char *cpath = xasprintf("/v2/%s/blobs/%s", s->ref.path, m.config.digest);
    if (get_verified(s, cpath, NULL, &m.config, OCI_CONFIG_MAX_BYTES, "image config", &r, err) <
        0) {
        oci_manifest_clear(&m);
        return -1;
    }
    oci_imgconfig c;
    rc = oci_imgconfig_parse(r.body.data, r.body.len, &c, err);
    if (rc == 0 && keep_blob(o, bfd, m.config.digest, &r.body, err) < 0) {
        oci_imgconfig_clear(&c);
        rc = -1;
    }
    response_clear(&r);
    if (rc < 0) {
        oci_manifest_clear(&m);
        return -1;
    }
    if (c.n_diff_ids != m.n_layers) {
        rc = kl_error_set(err, EINVAL, "%s: %zu layers but the image config has %zu diff_ids", what,
                          m.n_layers, c.n_diff_ids);
    }

    /* the layers, bottom first */
    if (rc == 0 && mkdirat(sfd, "layers", 0700) < 0)
        rc = kl_error_errno(err, errno, "creating the layers directory");
    _cleanup_close_ int lfd =
        rc == 0 ? openat(sfd, "layers", O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW) : -1;
    if (rc == 0 && lfd < 0)
        rc = kl_error_errno(err, errno, "opening the layers directory");
    _cleanup_free_ bool *present = xcalloc(m.n_layers ? m.n_layers : 1, sizeof(bool));
    for (size_t i = 0; rc == 0 && i < m.n_layers; i++) {
        /* a layer repeated in the image is downloaded again: each place in the stack is
         * a layer directory of its own (kleened stores the second as a layer of its own) */
        bool repeated = false;
        for (size_t j = 0; j < i; j++)
            repeated |= !strcmp(c.diff_ids[j], c.diff_ids[i]);
        int have = repeated ? 0 : have_layer(o, m.layers[i].digest, c.diff_ids[i], err);
        if (have < 0) {
            rc = kl_error_prefix(err, "layer %zu/%zu", i + 1, m.n_layers);
            break;
        }
        if (have) {
            present[i] = true;
            log_info("layer %zu/%zu %s: already present", i + 1, m.n_layers, m.layers[i].digest);
            if (o->progress)
                o->progress(&(host_pull_event){.kind = HOST_PULL_LAYER_PRESENT,
                                               .index = (unsigned)i,
                                               .n_layers = (unsigned)m.n_layers,
                                               .layer_total = (uint64_t)m.layers[i].size,
                                               .text = m.layers[i].digest},
                            o->ctx);
        }
    }
    if (rc == 0)
        rc = pull_layers(s, &m, &c, present, lfd, bfd, err);
    if (rc == 0)
        rc = write_image_json(sfd, s, mdigest, idigest[0] ? idigest : NULL, index_type, &m, &c,
                              present, want_s, err);
    oci_imgconfig_clear(&c);
    oci_manifest_clear(&m);
    return rc;
}

int host_pull(const host_pull_opts *o, int parent_dirfd, const char *name, kl_error *err)
{
    if (!name || !*name || strchr(name, '/') || !strcmp(name, ".") || !strcmp(name, ".."))
        return kl_error_set(err, EINVAL, "pulling: invalid destination name");
    if (faccessat(parent_dirfd, name, F_OK, AT_SYMLINK_NOFOLLOW) == 0)
        return kl_error_set(err, EEXIST, "pulling: %s exists", name);
    session s = {.o = o};
    if (oci_ref_parse(o->reference, &s.ref, err) < 0)
        return -1;
    s.plain_allowed = o->insecure || oci_ref_domain_is_loopback(s.ref.domain);
    _cleanup_free_ char *staging = NULL;
    _cleanup_close_ int sfd = fs_staging_create(parent_dirfd, name, &staging, err);
    if (sfd < 0) {
        session_clear(&s);
        return kl_error_prefix(err, "pulling");
    }
    int rc = pull_into(&s, sfd, err);
    if (rc == 0)
        rc = fs_staging_commit(parent_dirfd, staging, name, err);
    if (rc < 0) {
        kl_error tmp = KL_ERROR_INIT;
        if (fs_remove_at(parent_dirfd, staging, &tmp) < 0)
            log_error("pulling: cleaning up %s: %s", staging, tmp.msg);
        _cleanup_free_ char *refs = oci_ref_familiar(&s.ref);
        kl_error_prefix(err, "pulling %s", refs);
    }
    session_clear(&s);
    return rc;
}

int host_registry_login(const host_pull_opts *o, kl_error *err)
{
    if (!o->username || !*o->username)
        return kl_error_set(err, EINVAL, "logging in: no username");
    session s = {.o = o, .login = true};
    /* the server must be a registry's domain as a reference names it */
    _cleanup_free_ char *probe = xasprintf("%s/x", o->reference ? o->reference : "");
    if (oci_ref_parse(probe, &s.ref, NULL) < 0 || strcmp(s.ref.domain, o->reference) != 0) {
        session_clear(&s);
        return kl_error_set(err, EINVAL, "logging in: '%.200s' is not a registry (host[:port])",
                            o->reference ? o->reference : "");
    }
    s.plain_allowed = o->insecure || oci_ref_domain_is_loopback(s.ref.domain);
    int rc = ping(&s, err);
    if (rc == 0 && s.auth) {
        /* the version check again, authenticated: Basic credentials are only checked here
         * (a Bearer token was given for them already) */
        _cleanup_free_ char *url = xasprintf("%s/v2/", s.base);
        response r;
        rc = get(&s, url, NULL, s.auth, PING_MAX, &r, err);
        if (rc == 0) {
            if (r.status == 401 || r.status == 403)
                rc = refused(&s, "registry version check", &r, err);
            else if (r.status != 200 && r.status != 404)
                rc = http_error("registry version check", &r, err);
            response_clear(&r);
        }
    } else if (rc == 0) {
        log_notice("registry %s asks for no authentication: the credentials were not checked",
                   s.ref.domain);
    }
    if (rc < 0)
        kl_error_prefix(err, "logging in to %s", s.ref.domain);
    session_clear(&s);
    return rc;
}
