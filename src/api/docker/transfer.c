/* The Docker door's image transfers (docs/docker-api.md "Pull, push, save and load"), onto
 * the engine's pull (images_create, method "pull"), images_push, images_save and images_load:
 * the same store as the Kleene API's /images/create, /images/push, /images/save and
 * /images/load.
 *
 * Pull and push answer with Docker's JSON-lines progress stream, fed by a worker thread.
 * As dockerd does, a pull that fails before anything was downloaded (an unknown image, a
 * registry that does not answer) gets an HTTP error; once the stream has begun, an error is
 * its last line ({"errorDetail": {"message"}, "error"}). Save streams the tar the engine
 * writes (a worker thread writes it into a pipe the answer reads); load streams the request
 * body into the helper that parses it (kleened keeps no copy of either). */
#include "api/docker/dk.h"
#include "engine/engine.h"
#include "engine/imageref.h"
#include "engine/images.h"
#include "engine/images_archive.h"
#include "engine/registry.h"
#include "lib/base64.h"
#include "lib/cleanup.h"
#include "lib/jsonx.h"
#include "lib/log.h"
#include "lib/xalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* ---- X-Registry-Auth ----------------------------------------------------------------------
 * base64url of {"username", "password", "serveraddress", "identitytoken"} (the CLI pads it,
 * docker-py too; some clients do not). An empty header, "{}" or "e30=" means no credentials. */
typedef struct dk_auth {
    char *username;
    char *password;
} dk_auth;

static void dk_auth_clear(dk_auth *a)
{
    free(a->username);
    if (a->password)
        explicit_bzero(a->password, strlen(a->password));
    free(a->password);
    *a = (dk_auth){0};
}

int dk_registry_auth(const char *h, char **username, char **password, kl_error *err)
{
    *username = *password = NULL;
    if (!h || !*h)
        return 0;
    size_t n = strlen(h);
    if (n > 16384)
        return kl_error_set(err, EINVAL, "X-Registry-Auth: too long");
    _cleanup_free_ char *std = xmalloc(n + 4);
    for (size_t i = 0; i < n; i++)
        std[i] = h[i] == '-' ? '+' : h[i] == '_' ? '/' : h[i];
    while (n % 4)
        std[n++] = '=';
    std[n] = '\0';
    size_t cap = kl_base64_decoded_max(n);
    _cleanup_free_ uint8_t *raw = xmalloc(cap + 1);
    kl_error derr = KL_ERROR_INIT;
    ssize_t len = kl_base64_decode(std, n, raw, cap, &derr);
    explicit_bzero(std, n);
    if (len < 0)
        return kl_error_set(err, EINVAL, "X-Registry-Auth: not base64url: %s", derr.msg);
    _cleanup_json_ json_t *j = json_loadb((const char *)raw, (size_t)len, 0, NULL);
    explicit_bzero(raw, (size_t)len);
    if (!json_is_object(j))
        return kl_error_set(err, EINVAL, "X-Registry-Auth: not a JSON object");
    json_t *u = json_object_get(j, "username"), *p = json_object_get(j, "password");
    json_t *t = json_object_get(j, "identitytoken");
    if ((u && !json_is_string(u)) || (p && !json_is_string(p)) || (t && !json_is_string(t)))
        return kl_error_set(err, EINVAL,
                            "X-Registry-Auth: username, password and identitytoken "
                            "must be strings");
    const char *user = u ? json_string_value(u) : "", *pass = p ? json_string_value(p) : "";
    int rc = 0;
    if (t && *json_string_value(t))
        rc = kl_error_set(err, EINVAL,
                          "X-Registry-Auth: identity tokens are not supported (give a username "
                          "and password)");
    else if (*user || *pass) {
        *username = xstrdup(user);
        *password = xstrdup(pass);
    }
    if (p)
        explicit_bzero((char *)json_string_value(p), strlen(json_string_value(p)));
    return rc;
}

/* 0 (a->* set when credentials were given), or -1 after a 400 in res. */
static int dk_auth_parse(const dk_request *r, dk_auth *a, api_response *res)
{
    *a = (dk_auth){0};
    kl_error err = KL_ERROR_INIT;
    if (dk_registry_auth(http_header_get(r->h, "X-Registry-Auth"), &a->username, &a->password,
                         &err) < 0 ||
        registry_credentials_check(a->username, a->password, &err) < 0) {
        dk_auth_clear(a);
        return dk_error(res, 400, "%s", err.msg), -1;
    }
    return 0;
}

/* ---- a JSON-lines answer fed by a worker thread ------------------------------------------- */

typedef enum { XFER_PULL, XFER_PUSH } xfer_kind;

typedef struct xfer {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    kl_buf q;      /* lines not sent yet */
    bool started;  /* the answer is a 200 stream from here on */
    bool finished; /* the worker is done (its last line is queued) */
    int refs;      /* the worker and the answer */
    atomic_bool cancel;
    kl_engine *e;
    xfer_kind kind;
    dk_auth auth;
    kl_error err;
    /* pull */
    images_create_opts co;
    char *reference;  /* pull: what is pulled; push: where to */
    char *prior;      /* pull: the id the reference named before, or NULL */
    char *shown_tag;  /* "latest", or the digest */
    char *shown_name; /* the repository, familiar form */
    char *platform;
    json_t *layers; /* pull: what was shown of each layer (pull_layer_progress) */
    long long last_ms;
    /* push */
    images_push_opts po; /* the options of each tag's push (image and reference apart) */
    char *repo;          /* the repository pushed to */
    char **tags;         /* its tags to push */
} xfer;

static long long mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

static void xfer_unref(xfer *x)
{
    pthread_mutex_lock(&x->lock);
    bool last = --x->refs == 0;
    pthread_mutex_unlock(&x->lock);
    if (!last)
        return;
    pthread_mutex_destroy(&x->lock);
    pthread_cond_destroy(&x->cond);
    kl_buf_free(&x->q);
    dk_auth_clear(&x->auth);
    free(x->reference);
    free(x->prior);
    free(x->shown_tag);
    free(x->shown_name);
    free(x->platform);
    json_decref(x->layers);
    free(x->repo);
    strv_free(x->tags);
    free(x);
}

/* Queue a line (stolen); start says the answer is a stream from now on. */
static void xfer_line(xfer *x, json_t *line, bool start)
{
    _cleanup_free_ char *s = json_dumps(line, JSON_COMPACT);
    json_decref(line);
    pthread_mutex_lock(&x->lock);
    if (s) {
        kl_buf_puts(&x->q, s);
        kl_buf_puts(&x->q, "\r\n");
    }
    if (start)
        x->started = true;
    pthread_cond_broadcast(&x->cond);
    pthread_mutex_unlock(&x->lock);
}

static json_t *error_line(const char *msg)
{
    json_t *j = json_pack("{s:{s:s}, s:s}", "errorDetail", "message", msg, "error", msg);
    if (!j) /* not UTF-8: the stream must still end with an error */
        j = json_pack("{s:{s:s}, s:s}", "errorDetail", "message", "failed (unprintable reason)",
                      "error", "failed (unprintable reason)");
    return j;
}

static ssize_t xfer_read(void *ctx, char *buf, size_t max)
{
    xfer *x = ctx;
    pthread_mutex_lock(&x->lock);
    while (x->q.len == 0 && !x->finished)
        pthread_cond_wait(&x->cond, &x->lock);
    ssize_t n = API_STREAM_END;
    if (x->q.len) {
        size_t k = x->q.len < max ? x->q.len : max;
        memcpy(buf, x->q.data, k);
        kl_buf_consume(&x->q, k);
        n = (ssize_t)k;
    }
    pthread_mutex_unlock(&x->lock);
    return n;
}

static void xfer_free(void *ctx)
{
    xfer *x = ctx;
    atomic_store(&x->cancel, true); /* the client went away (or the answer is done) */
    xfer_unref(x);
}

static void human(char *out, size_t n, uint64_t b)
{
    if (b >= 1000 * 1000)
        snprintf(out, n, "%.1fMB", (double)b / 1e6);
    else if (b >= 1000)
        snprintf(out, n, "%.1fkB", (double)b / 1e3);
    else
        snprintf(out, n, "%lluB", (unsigned long long)b);
}

/* ---- pull ----------------------------------------------------------------------------------- */

/* The engine's text lines are kleened's own wording; the stream shows Docker's instead. */
static void pull_text(const char *text, void *ctx)
{
    (void)text;
    (void)ctx;
}

/* Docker's progress text: "[=====>     ]  1.2MB/3.4MB". */
static char *progress_text(uint64_t bytes, uint64_t total)
{
    char have[32], all[32], bar[64];
    human(have, sizeof(have), bytes);
    human(all, sizeof(all), total);
    int width = 50, done = total ? (int)(bytes * (uint64_t)width / total) : 0;
    if (done > width)
        done = width;
    int k = 0;
    bar[k++] = '[';
    for (int i = 0; i < width; i++)
        bar[k++] = i < done ? '=' : i == done ? '>' : ' ';
    bar[k++] = ']';
    bar[k] = '\0';
    return xasprintf("%s  %s/%s", bar, have, all);
}

/* The answer is a stream from the first byte downloaded on (the lines come per layer). */
static void pull_bytes(uint64_t bytes, uint64_t total, void *ctx)
{
    (void)bytes;
    (void)total;
    xfer *x = ctx;
    if (!x->started) {
        pthread_mutex_lock(&x->lock);
        x->started = true;
        pthread_cond_broadcast(&x->cond);
        pthread_mutex_unlock(&x->lock);
    }
}

/* A layer's short id as Docker shows it: 12 hex digits of its blob digest. */
static void layer_id(const char *digest, char id[13])
{
    const char *hex = strncmp(digest, "sha256:", 7) ? digest : digest + 7;
    snprintf(id, 13, "%.12s", hex);
}

/* What was shown of a layer (x->layers: {id: state}): 1 announced, 2 downloaded, 3 done. */
static int layer_state(xfer *x, const char *id)
{
    return (int)json_integer_value(json_object_get(x->layers, id));
}

static void pull_layer_progress(const char *digest, uint64_t bytes, uint64_t total, bool done,
                                void *ctx)
{
    xfer *x = ctx;
    char id[13];
    layer_id(digest, id);
    int st = layer_state(x, id);
    if (st == 0) {
        xfer_line(
            x,
            json_pack("{s:s, s:{}, s:s}", "status", "Pulling fs layer", "progressDetail", "id", id),
            true);
        st = 1;
    }
    if (st < 2 && !done) {
        long long now = mono_ms();
        if (bytes < total && now - x->last_ms < 100)
            goto out;
        x->last_ms = now;
        _cleanup_free_ char *progress = progress_text(bytes, total);
        xfer_line(x,
                  json_pack("{s:s, s:{s:I, s:I}, s:s, s:s}", "status", "Downloading",
                            "progressDetail", "current", (json_int_t)bytes, "total",
                            (json_int_t)total, "progress", progress, "id", id),
                  true);
    }
    if (st < 2 && (done || (total && bytes >= total))) {
        xfer_line(x,
                  json_pack("{s:s, s:{}, s:s}", "status", "Download complete", "progressDetail",
                            "id", id),
                  true);
        st = 2;
    }
    if (st < 3 && done) {
        xfer_line(
            x, json_pack("{s:s, s:{}, s:s}", "status", "Pull complete", "progressDetail", "id", id),
            true);
        st = 3;
    }
out:
    json_object_set_new(x->layers, id, json_integer(st));
}

/* Each layer of the stored image: the ones the store had, and any the progress did not end. */
static void pull_layer(const char *digest, long long size, bool present, void *ctx)
{
    (void)size;
    xfer *x = ctx;
    char id[13];
    layer_id(digest, id);
    if (layer_state(x, id) == 3)
        return;
    xfer_line(x,
              json_pack("{s:s, s:{}, s:s}", "status", present ? "Already exists" : "Pull complete",
                        "progressDetail", "id", id),
              true);
    json_object_set_new(x->layers, id, json_integer(3));
}

static void *pull_run(void *arg)
{
    xfer *x = arg;
    _cleanup_free_ char *id = images_create(x->e, &x->co, &x->err);
    if (id) {
        kl_error err = KL_ERROR_INIT;
        _cleanup_json_ json_t *img = images_inspect(x->e, id, &err);
        const char *digest = jx_str(img, "digest", "");
        /* the reference pulled, in Docker's familiar form */
        _cleanup_free_ char *shown =
            xasprintf("%s%s%s", x->shown_name, !strncmp(x->shown_tag, "sha256:", 7) ? "@" : ":",
                      x->shown_tag);
        if (*digest)
            xfer_line(x, json_pack("{s:s+}", "status", "Digest: ", digest), true);
        bool same = x->prior && !strcmp(x->prior, id);
        xfer_line(x,
                  json_pack("{s:s++}", "status",
                            same ? "Status: Image is up to date for "
                                 : "Status: Downloaded newer image for ",
                            shown, ""),
                  true);
    } else {
        log_info("docker pull %s: %s", x->reference, x->err.msg);
        pthread_mutex_lock(&x->lock);
        bool started = x->started;
        pthread_mutex_unlock(&x->lock);
        if (started) /* else the handler answers with the error's status */
            xfer_line(x, error_line(x->err.msg), false);
    }
    pthread_mutex_lock(&x->lock);
    x->finished = true;
    pthread_cond_broadcast(&x->cond);
    pthread_mutex_unlock(&x->lock);
    xfer_unref(x);
    return NULL;
}

/* Start the worker (refs: worker + handler) and wait until the answer is a stream or the
 * worker ended. Returns 0, or -1 after an error in res (refs dropped). */
static int xfer_start(xfer *x, void *(*run)(void *), api_response *res)
{
    x->refs = 2;
    pthread_t t;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    int rc = pthread_create(&t, &attr, run, x);
    pthread_attr_destroy(&attr);
    if (rc != 0) {
        x->refs = 1;
        xfer_unref(x);
        dk_error(res, 500, "could not start a thread: %s", strerror(rc));
        return -1;
    }
    pthread_mutex_lock(&x->lock);
    while (!x->started && !x->finished)
        pthread_cond_wait(&x->cond, &x->lock);
    bool failed = !x->started && x->finished;
    pthread_mutex_unlock(&x->lock);
    if (failed) {
        int status = x->err.code == ENOENT ? 404 : x->err.code == EINVAL ? 400 : 500;
        dk_error(res, status, "%s", x->err.msg);
        xfer_unref(x);
        return -1;
    }
    api_reply_stream(res, 200, "application/json", xfer_read, x, xfer_free);
    return 0;
}

static xfer *xfer_new(kl_engine *e, xfer_kind kind)
{
    xfer *x = xcalloc(1, sizeof(*x));
    pthread_mutex_init(&x->lock, NULL);
    pthread_cond_init(&x->cond, NULL);
    atomic_init(&x->cancel, false);
    x->e = e;
    x->kind = kind;
    x->err = (kl_error)KL_ERROR_INIT;
    x->layers = json_object();
    return x;
}

/* The path of a repository as the "Pulling from" line shows it: without its registry,
 * "library/" for Docker Hub's official images (the registry's reference rules). */
static char *repo_path(const char *name)
{
    char *p = registry_path_of(name);
    return p ? p : xstrdup(name);
}

void dk_images_create(dk_request *r, api_response *res)
{
    kl_engine *e = r->req->ctx->engine;
    const char *from_src = dk_query_str(r, "fromSrc", "");
    const char *from = dk_query_str(r, "fromImage", "");
    const char *tag = dk_query_str(r, "tag", "");
    if (*from_src)
        return dk_error(res, 400,
                        "importing a root filesystem (fromSrc, docker import) is not supported "
                        "by this door: use 'docker load' for image archives, or the Kleene API's "
                        "/images/create method 'fetch' for a root filesystem tarball");
    if (!*from)
        return dk_error(res, 400, "fromImage is required");
    if (dk_query_str(r, "repo", NULL) || dk_query_str(r, "message", NULL) ||
        dk_query_str(r, "changes", NULL))
        return dk_error(res, 400,
                        "repo, message and changes belong to an import (fromSrc), "
                        "which is not supported");
    _cleanup_free_ char *ref = NULL;
    if (*tag)
        ref = xasprintf("%s%s%s", from, !strncmp(tag, "sha256:", 7) ? "@" : ":", tag);
    else
        ref = xstrdup(from);
    imageref pr = {0};
    kl_error err = KL_ERROR_INIT;
    if (imageref_parse(ref, &pr, &err) < 0)
        return dk_error(res, 400, "invalid reference format: %s", err.msg);
    bool has_tag = pr.has_tag, has_digest = pr.digest != NULL;
    _cleanup_free_ char *name = xstrdup(pr.name);
    _cleanup_free_ char *shown_tag = xstrdup(has_digest ? pr.digest : pr.tag);
    imageref_clear(&pr);
    if (!has_tag && !has_digest)
        return dk_error(res, 400,
                        "pulling every tag of a repository (docker pull -a) is not supported: "
                        "give a tag");
    if (!strchr(name, '/') && !imageref_name_is_valid(name))
        return dk_error(res, 400, "invalid reference format: '%s'", ref);
    xfer *x = xfer_new(e, XFER_PULL);
    if (dk_auth_parse(r, &x->auth, res) < 0) {
        x->refs = 1;
        xfer_unref(x);
        return;
    }
    x->reference = xstrdup(ref);
    x->shown_tag = xstrdup(shown_tag);
    x->shown_name = xstrdup(name);
    kl_error perr = KL_ERROR_INIT;
    x->prior = images_resolve(e, ref, &perr);
    x->co = (images_create_opts){
        .method = "pull",
        .image = x->reference,
        .platform = dk_query_str(r, "platform", ""),
        .tag = NULL,
        .output = pull_text,
        .output_ctx = x,
        .cancel = &x->cancel,
        .pull_bytes = pull_bytes,
        .pull_layer = pull_layer,
        .pull_layer_progress = pull_layer_progress,
        .add_name = true,
        .username = x->auth.username,
        .password = x->auth.password,
    };
    /* r->query's strings are gone when the worker reads them */
    x->platform = xstrdup(x->co.platform);
    x->co.platform = x->platform;
    _cleanup_free_ char *path = repo_path(name);
    /* queued before the start; sent only once the answer is a stream */
    xfer_line(x, json_pack("{s:s+, s:s}", "status", "Pulling from ", path, "id", shown_tag), false);
    xfer_start(x, pull_run, res);
}

/* ---- push ----------------------------------------------------------------------------------- */

/* The engine's lines of a push: one per blob, "layer 2/3 sha256:<hex>: uploaded" (or
 * "exists", "mounted"; the config blob as "config 3/3 ..."), from the helper; the others are
 * kleened's own wording and not shown. */
static void push_text(const char *text, void *ctx)
{
    xfer *x = ctx;
    unsigned i, n;
    char hex[65], how[16];
    if (sscanf(text, "layer %u/%u sha256:%64[0-9a-f]: %15[a-z]", &i, &n, hex, how) != 4)
        return;
    const char *status = !strcmp(how, "exists")    ? "Layer already exists"
                         : !strcmp(how, "mounted") ? "Mounted from another repository"
                                                   : "Pushed";
    hex[12] = '\0';
    xfer_line(x, json_pack("{s:s, s:{}, s:s}", "status", status, "progressDetail", "id", hex),
              true);
}

/* Push each tag of x->tags (one, or every tag of the repository: docker push -a), in order;
 * the first failure ends the stream. */
static void *push_run(void *arg)
{
    xfer *x = arg;
    for (size_t i = 0; x->tags && x->tags[i]; i++) {
        const char *tag = x->tags[i];
        _cleanup_free_ char *reference = xasprintf("%s:%s", x->repo, tag);
        kl_error rerr = KL_ERROR_INIT;
        _cleanup_free_ char *id = images_resolve(x->e, reference, &rerr);
        char *digest = NULL;
        int64_t size = -1;
        if (id) {
            images_push_opts po = x->po;
            po.image = id;
            po.reference = reference;
            po.manifest_size = &size;
            digest = images_push(x->e, &po, &x->err);
        } else {
            kl_error_set(&x->err, ENOENT, "An image does not exist locally with the tag: %s",
                         reference);
        }
        if (!digest) {
            log_info("docker push %s: %s", reference, x->err.msg);
            xfer_line(x, error_line(x->err.msg), true);
            break;
        }
        /* dockerd's last lines: "<tag>: digest: sha256:... size: N", and the same in aux */
        _cleanup_free_ char *line =
            size >= 0 ? xasprintf("%s: digest: %s size: %lld", tag, digest, (long long)size)
                      : xasprintf("%s: digest: %s", tag, digest);
        xfer_line(x, json_pack("{s:s}", "status", line), true);
        xfer_line(x,
                  size >= 0 ? json_pack("{s:{}, s:{s:s, s:s, s:I}}", "progressDetail", "aux", "Tag",
                                        tag, "Digest", digest, "Size", (json_int_t)size)
                            : json_pack("{s:{}, s:{s:s, s:s}}", "progressDetail", "aux", "Tag", tag,
                                        "Digest", digest),
                  true);
        free(digest);
    }
    pthread_mutex_lock(&x->lock);
    x->finished = true;
    pthread_cond_broadcast(&x->cond);
    pthread_mutex_unlock(&x->lock);
    xfer_unref(x);
    return NULL;
}

/* The tags the store has for the repository `repo` (familiar form), in the images' order. */
static char **repo_tags_of(kl_engine *e, const char *repo)
{
    kl_error err = KL_ERROR_INIT;
    _cleanup_json_ json_t *list = images_list(e, &err);
    char **tags = NULL;
    size_t i;
    json_t *img;
    json_array_foreach(list, i, img)
    {
        size_t k;
        json_t *n;
        json_array_foreach(json_object_get(img, "names"), k, n)
        {
            const char *full = json_string_value(n);
            const char *colon = imageref_tag_colon(full);
            if (colon && (size_t)(colon - full) == strlen(repo) &&
                !strncmp(full, repo, strlen(repo)))
                strv_push(&tags, colon + 1);
        }
    }
    return tags;
}

void dk_images_push(dk_request *r, api_response *res)
{
    kl_engine *e = r->req->ctx->engine;
    const char *name = r->params[0];
    const char *tag = dk_query_str(r, "tag", "");
    _cleanup_free_ char *ref = *tag ? xasprintf("%s:%s", name, tag) : xstrdup(name);
    imageref pr = {0};
    kl_error err = KL_ERROR_INIT;
    if (imageref_parse(ref, &pr, &err) < 0)
        return dk_error(res, 400, "invalid reference format: %s", err.msg);
    if (pr.digest || pr.snapshot) {
        imageref_clear(&pr);
        return dk_error(res, 400, "invalid reference format: push a name with a tag: %s", ref);
    }
    bool all = !pr.has_tag; /* docker push -a: every tag of the repository */
    _cleanup_free_ char *rname = xstrdup(pr.name), *rtag = xstrdup(pr.tag);
    imageref_clear(&pr);
    char **tags = NULL;
    if (all)
        tags = repo_tags_of(e, rname);
    else
        strv_push(&tags, rtag);
    if (!tags)
        return dk_error(res, 404, "An image does not exist locally with the tag: %s", rname);
    _cleanup_free_ char *id = all ? NULL : images_resolve(e, ref, &err);
    if (!all && !id) {
        strv_free(tags);
        return dk_error(res, 404, "An image does not exist locally with the tag: %s", ref);
    }
    xfer *x = xfer_new(e, XFER_PUSH);
    x->tags = tags;
    if (dk_auth_parse(r, &x->auth, res) < 0) {
        x->refs = 1;
        xfer_unref(x);
        return;
    }
    x->repo = xstrdup(rname);
    x->reference = xasprintf("%s:%s", rname, all ? "*" : rtag);
    x->po = (images_push_opts){.username = x->auth.username,
                               .password = x->auth.password,
                               .output = push_text,
                               .output_ctx = x,
                               .cancel = &x->cancel};
    _cleanup_free_ char *full =
        strchr(rname, '/') ? xstrdup(rname) : xasprintf("docker.io/library/%s", rname);
    xfer_line(x, json_pack("{s:s++}", "status", "The push refers to repository [", full, "]"),
              true);
    xfer_start(x, push_run, res);
}

/* ---- save ----------------------------------------------------------------------------------- */

typedef struct saver {
    pthread_mutex_t lock;
    int refs;
    kl_engine *e;
    char **idents;
    int rfd, wfd;
    int rc; /* the save's result, set before wfd is closed */
    kl_error err;
} saver;

static void saver_unref(saver *s)
{
    pthread_mutex_lock(&s->lock);
    bool last = --s->refs == 0;
    pthread_mutex_unlock(&s->lock);
    if (!last)
        return;
    if (s->rfd >= 0)
        close(s->rfd);
    strv_free(s->idents);
    pthread_mutex_destroy(&s->lock);
    free(s);
}

static int save_write(const void *data, size_t n, void *ctx, kl_error *err)
{
    saver *s = ctx;
    for (size_t off = 0; off < n;) {
        ssize_t w = write(s->wfd, (const char *)data + off, n - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return kl_error_set(err, ECONNRESET, "the client went away");
        off += (size_t)w;
    }
    return 0;
}

static void *save_run(void *arg)
{
    saver *s = arg;
    s->rc = images_save(s->e, s->idents, strv_len(s->idents), IMAGES_ARCHIVE_DOCKER,
                        IMAGES_SAVE_ID_UNNAMED, save_write, s, &s->err);
    if (s->rc < 0 && s->err.code != ECONNRESET)
        log_info("docker save: %s", s->err.msg);
    close(s->wfd); /* the end of the archive for the answer */
    saver_unref(s);
    return NULL;
}

static ssize_t save_read(void *ctx, char *buf, size_t max)
{
    saver *s = ctx;
    for (;;) {
        ssize_t n = read(s->rfd, buf, max);
        if (n < 0 && errno == EINTR)
            continue;
        if (n > 0)
            return n;
        if (n < 0)
            return API_STREAM_ERROR;
        /* the end: the worker has set rc before closing */
        return s->rc < 0 ? API_STREAM_ERROR : API_STREAM_END;
    }
}

static void save_free(void *ctx)
{
    saver *s = ctx;
    pthread_mutex_lock(&s->lock);
    int fd = s->rfd;
    s->rfd = -1;
    pthread_mutex_unlock(&s->lock);
    if (fd >= 0)
        close(fd); /* a writer still writing gets EPIPE and stops */
    saver_unref(s);
}

static void save_images(dk_request *r, api_response *res, char **names /* stolen */)
{
    kl_engine *e = r->req->ctx->engine;
    if (!names || !names[0]) {
        strv_free(names);
        return dk_error(res, 400, "no image to save: give names");
    }
    for (size_t i = 0; names[i]; i++) {
        kl_error err = KL_ERROR_INIT;
        /* an id as Docker gives it ("sha256:" and 64 hex, as docker-py's image.save does):
         * the engine's id */
        const char *hex = !strncmp(names[i], "sha256:", 7) ? names[i] + 7 : names[i];
        char buf[16];
        bool check_full;
        const char *n = dk_ident(hex, buf, &check_full);
        _cleanup_free_ char *id = images_resolve(e, n, &err);
        char lid[DK_ID_LEN + 1];
        if (id && check_full) {
            dk_long_id("image", id, lid);
            if (strncmp(lid, hex, strlen(hex)) != 0) {
                free(id);
                id = NULL;
            }
        }
        if (!id) {
            dk_error(res, err.code == EINVAL && strstr(err.msg, "ambiguous") ? 400 : 404,
                     "No such image: %s", names[i]);
            strv_free(names);
            return;
        }
        if (n != names[i]) {
            char *copy = xstrdup(n);
            free(names[i]);
            names[i] = copy;
        }
    }
    int p[2];
    if (pipe2(p, O_CLOEXEC) < 0) {
        strv_free(names);
        return dk_error(res, 500, "pipe: %s", strerror(errno));
    }
    saver *s = xcalloc(1, sizeof(*s));
    pthread_mutex_init(&s->lock, NULL);
    s->refs = 2;
    s->e = e;
    s->idents = names;
    s->rfd = p[0];
    s->wfd = p[1];
    s->err = (kl_error)KL_ERROR_INIT;
    pthread_t t;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    int rc = pthread_create(&t, &attr, save_run, s);
    pthread_attr_destroy(&attr);
    if (rc != 0) {
        close(p[1]);
        s->refs = 1;
        saver_unref(s);
        return dk_error(res, 500, "could not start a thread: %s", strerror(rc));
    }
    /* wait for the first byte or the end: an error before the first byte is an HTTP error */
    struct pollfd pfd = {.fd = s->rfd, .events = POLLIN};
    while (poll(&pfd, 1, -1) < 0 && errno == EINTR)
        ;
    if ((pfd.revents & POLLHUP) && !(pfd.revents & POLLIN) && s->rc < 0) {
        /* the worker ended without writing anything */
        dk_error(res, dk_status(s->err.code), "%s", s->err.msg);
        save_free(s);
        return;
    }
    api_reply_stream(res, 200, "application/x-tar", save_read, s, save_free);
}

void dk_images_get(dk_request *r, api_response *res)
{
    char **names = NULL;
    strv_push(&names, r->params[0]);
    save_images(r, res, names);
}

void dk_images_get_many(dk_request *r, api_response *res)
{
    /* names=a&names=b: every value (r->query keeps the last one of a repeated key) */
    char **names = NULL;
    if (r->h->query) {
        const char *keys[HTTP_MAX_QUERY_ARGS], *values[HTTP_MAX_QUERY_ARGS];
        _cleanup_free_ char *qstore = xmalloc(strlen(r->h->query) + 1);
        http_refusal why;
        int nq = http_parse_query(r->h->query, qstore, keys, values, HTTP_MAX_QUERY_ARGS, &why);
        for (int i = 0; i < nq; i++)
            if (!strcmp(keys[i], "names") && *values[i])
                strv_push(&names, values[i]);
    }
    save_images(r, res, names);
}

/* ---- load ----------------------------------------------------------------------------------- */

typedef struct loader {
    kl_engine *e;
    images_load_opts o;
    atomic_bool cancel;
    char **ids;
    kl_error err;
} loader;

static void load_text(const char *text, void *ctx)
{
    (void)text;
    (void)ctx;
}

static void *load_run(void *arg)
{
    loader *l = arg;
    l->ids = images_load(l->e, &l->o, &l->err);
    close(l->o.fd); /* the helper is done: the body still coming is dropped */
    l->o.fd = -1;
    return NULL;
}

static int write_all(int fd, const void *data, size_t n)
{
    for (size_t off = 0; off < n;) {
        ssize_t w = write(fd, (const char *)data + off, n - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return -1;
        off += (size_t)w;
    }
    return 0;
}

void dk_images_load(dk_request *r, api_response *res)
{
    kl_engine *e = r->req->ctx->engine;
    bool quiet = dk_query_bool(r, "quiet", false);
    (void)quiet; /* the answer has no progress bars either way */
    int p[2];
    if (pipe2(p, O_CLOEXEC) < 0)
        return dk_error(res, 500, "pipe: %s", strerror(errno));
    loader *l = xcalloc(1, sizeof(*l));
    l->e = e;
    l->err = (kl_error)KL_ERROR_INIT;
    atomic_init(&l->cancel, false);
    l->o =
        (images_load_opts){.fd = p[0], .output = load_text, .output_ctx = l, .cancel = &l->cancel};
    pthread_t t;
    int rc = pthread_create(&t, NULL, load_run, l);
    if (rc != 0) {
        close(p[0]);
        close(p[1]);
        free(l);
        return dk_error(res, 500, "could not start a thread: %s", strerror(rc));
    }
    /* the body into the pipe: from the streamed reader, or the buffered body */
    kl_error berr = KL_ERROR_INIT;
    bool writing = true, body_failed = false;
    if (r->req->body_read) {
        _cleanup_free_ char *buf = xmalloc(65536);
        for (;;) {
            ssize_t n = r->req->body_read(r->req->body_ctx, buf, 65536, &berr);
            if (n == 0)
                break;
            if (n < 0) {
                body_failed = true;
                break;
            }
            if (writing && write_all(p[1], buf, (size_t)n) < 0)
                writing = false; /* the helper stopped: its error comes from the load */
        }
    } else if (r->body->len) {
        write_all(p[1], r->body->data, r->body->len);
    }
    close(p[1]);
    if (body_failed)
        atomic_store(&l->cancel, true);
    pthread_join(t, NULL);
    if (body_failed) {
        dk_error(res, 400, "reading the archive: %s", berr.msg);
    } else if (!l->ids) {
        int status =
            l->err.code == ENOMEM || l->err.code == ENOSPC || l->err.code == EIO ? 500 : 400;
        dk_error(res, status, "%s", l->err.msg);
    } else {
        kl_buf out = KL_BUF_INIT;
        for (size_t i = 0; l->ids[i]; i++) {
            kl_error ierr = KL_ERROR_INIT;
            _cleanup_json_ json_t *img = images_inspect(e, l->ids[i], &ierr);
            /* one line per name of the image, as dockerd (one per RepoTag) */
            json_t *texts = json_array();
            size_t k;
            json_t *n;
            json_array_foreach(json_object_get(img, "names"), k, n) json_array_append_new(
                texts, json_pack("s++", "Loaded image: ", json_string_value(n), "\n"));
            if (!json_array_size(texts)) {
                char lid[DK_ID_LEN + 1];
                dk_long_id("image", l->ids[i], lid);
                json_array_append_new(texts,
                                      json_pack("s++", "Loaded image ID: sha256:", lid, "\n"));
            }
            json_array_foreach(texts, k, n)
            {
                _cleanup_json_ json_t *line = json_pack("{s:O}", "stream", n);
                _cleanup_free_ char *s = json_dumps(line, JSON_COMPACT);
                kl_buf_printf(&out, "%s\r\n", s);
            }
            json_decref(texts);
        }
        api_response_clear(res);
        res->status = 200;
        res->text = xstrdup(out.data ? out.data : "");
        res->content_type = "application/json";
        kl_buf_free(&out);
    }
    strv_free(l->ids);
    free(l);
}

/* ---- login ---------------------------------------------------------------------------------- */

/* POST /auth (`docker login`): the credentials checked against the registry by the engine
 * (registry_login: the helper asks it); nothing is stored (the CLI keeps them and sends them
 * with each pull and push as X-Registry-Auth). */
void dk_login(dk_request *r, api_response *res)
{
    _cleanup_json_ json_t *body = dk_body_object(r, false, res);
    if (!body)
        return;
    const char *known[] = {"username",      "password",      "auth",          "email",
                           "serveraddress", "identitytoken", "registrytoken", NULL};
    const char *key;
    json_t *v;
    json_object_foreach(body, key, v)
    {
        bool ok = false;
        for (size_t i = 0; known[i]; i++)
            ok |= !strcmp(known[i], key);
        if (!ok)
            return dk_error(res, 400, "unknown field '%.64s'", key);
        if (!json_is_string(v) && !json_is_null(v))
            return dk_error(res, 400, "%s must be a string", key);
    }
    if (jx_str(body, "identitytoken", "")[0] || jx_str(body, "registrytoken", "")[0])
        return dk_error(res, 400,
                        "identity and registry tokens are not supported: log in with a "
                        "username and password");
    const char *server = jx_str(body, "serveraddress", "");
    kl_error err = KL_ERROR_INIT;
    _cleanup_free_ char *domain =
        registry_login(r->req->ctx->engine, *server ? server : "docker.io",
                       jx_str(body, "username", ""), jx_str(body, "password", ""), &err);
    json_t *p = json_object_get(body, "password");
    if (json_is_string(p))
        explicit_bzero((char *)json_string_value(p), strlen(json_string_value(p)));
    if (!domain) {
        log_info("docker login: %s", err.msg);
        return dk_error(res,
                        err.code == EACCES   ? 401
                        : err.code == EINVAL ? 400
                                             : 500,
                        "%s", err.msg);
    }
    api_reply_json(res, 200,
                   json_pack("{s:s, s:s}", "Status", "Login Succeeded", "IdentityToken", ""));
}
