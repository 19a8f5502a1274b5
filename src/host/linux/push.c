/* Registry pushes (push.h), in kleene-fetch. A small request function over libcurl's easy
 * interface (loaded on first use, lib/curlshim.h): method, headers, an optional body (a
 * memory buffer or a blob file, verified against its digest while it is read), the status,
 * the headers a push needs and a bounded response body. */
#include "host/linux/push.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/buf.h"
#include "lib/cleanup.h"
#include "lib/curlshim.h"
#include "lib/jsonx.h"
#include "lib/log.h"
#include "lib/xalloc.h"
#include "registry/auth.h"
#include "registry/digest.h"
#include "registry/manifest.h"
#include "registry/reference.h"

#define BODY_MAX (256 * 1024)

/* A request body: memory, or the part [base, base + size) of a blob file. A blob's bytes go
 * through its verifier once, in order, whatever requests send them (a chunk sent again after
 * an authentication is not hashed twice). */
typedef struct body_src {
    const char *mem; /* or */
    int fd;
    uint64_t base; /* where this body starts in the blob (chunked uploads) */
    uint64_t size, sent;
    oci_verifier *v;  /* the blob's verifier, or NULL */
    uint64_t *hashed; /* bytes of the blob through v so far */
    kl_error err;
    const host_push_opts *o;
    unsigned index, n;
    const char *digest;
    uint64_t total; /* the blob's size, for progress */
    uint64_t reported;
} body_src;

typedef struct resp {
    long status;
    kl_buf body;
    char *location;
    char *challenge;
    char *content_digest;
} resp;

static void resp_clear(resp *r)
{
    kl_buf_free(&r->body);
    free(r->location);
    free(r->challenge);
    free(r->content_digest);
    memset(r, 0, sizeof(*r));
}

static size_t read_cb(char *buf, size_t size, size_t nitems, void *p)
{
    body_src *b = p;
    size_t want = size * nitems;
    if (b->sent + want > b->size)
        want = (size_t)(b->size - b->sent);
    if (want == 0)
        return 0;
    ssize_t n;
    if (b->mem) {
        memcpy(buf, b->mem + b->sent, want);
        n = (ssize_t)want;
    } else {
        n = pread(b->fd, buf, want, (off_t)(b->base + b->sent));
        if (n <= 0) {
            kl_error_errno(&b->err, n < 0 ? errno : EIO, "reading blob %s", b->digest);
            return CURL_READFUNC_ABORT;
        }
    }
    uint64_t at = b->base + b->sent, end = at + (uint64_t)n;
    if (b->v && end > *b->hashed && at <= *b->hashed) {
        size_t skip = (size_t)(*b->hashed - at);
        if (oci_verifier_update(b->v, buf + skip, (size_t)n - skip, &b->err) < 0)
            return CURL_READFUNC_ABORT;
        *b->hashed = end;
    }
    b->sent += (uint64_t)n;
    if (b->o && b->o->progress && (b->sent == b->size || b->sent - b->reported >= (1 << 20))) {
        b->reported = b->sent;
        b->o->progress(&(host_push_event){.kind = HOST_PUSH_BYTES,
                                          .index = b->index,
                                          .n = b->n,
                                          .bytes = b->base + b->sent,
                                          .total = b->total ? b->total : b->size,
                                          .digest = b->digest},
                       b->o->ctx);
    }
    return (size_t)n;
}

static size_t write_cb(char *data, size_t size, size_t nmemb, void *p)
{
    resp *r = p;
    size_t n = size * nmemb;
    if (r->body.len + n > BODY_MAX)
        return 0;
    kl_buf_append(&r->body, data, n);
    return n;
}

static char *header_value(const char *line, size_t n, const char *name)
{
    size_t k = strlen(name);
    if (n <= k + 1 || strncasecmp(line, name, k) != 0 || line[k] != ':')
        return NULL;
    const char *v = line + k + 1, *end = line + n;
    while (v < end && (*v == ' ' || *v == '\t'))
        v++;
    while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' '))
        end--;
    return xstrndup(v, (size_t)(end - v));
}

static size_t header_cb(char *line, size_t size, size_t nitems, void *p)
{
    resp *r = p;
    size_t n = size * nitems;
    if (n > 5 && !strncmp(line, "HTTP/", 5)) { /* a new response (after a 100 Continue) */
        free(r->location);
        free(r->challenge);
        free(r->content_digest);
        r->location = r->challenge = r->content_digest = NULL;
        return n;
    }
    char *v;
    if ((v = header_value(line, n, "Location"))) {
        free(r->location);
        r->location = v;
    } else if ((v = header_value(line, n, "WWW-Authenticate"))) {
        free(r->challenge);
        r->challenge = v;
    } else if ((v = header_value(line, n, "Docker-Content-Digest"))) {
        free(r->content_digest);
        r->content_digest = v;
    }
    return n;
}

typedef struct session {
    const host_push_opts *o;
    const curlshim *cs;
    CURL *easy;
    oci_ref ref;
    char *base;
    bool plain_allowed;
    bool tls_no_verify; /* an insecure registry whose certificate does not verify */
    char *auth;         /* "Authorization: …" */
    char *scope;
} session;

/* One request. A transport error fails; any HTTP status is returned in r->status. */
static int request(session *s, const char *method, const char *url, const char *const *headers,
                   body_src *body, resp *r, kl_error *err)
{
    memset(r, 0, sizeof(*r));
    const curlshim *cs = s->cs;
    CURL *e = s->easy;
    cs->easy_reset(e);
    char errbuf[CURL_ERROR_SIZE] = "";
    struct curl_slist *hl = NULL;
    for (size_t i = 0; headers && headers[i]; i++)
        hl = cs->slist_append(hl, headers[i]);
    if (s->auth)
        hl = cs->slist_append(hl, s->auth);
    hl = cs->slist_append(hl, "Expect:"); /* no 100-continue round trip */
    cs->easy_setopt(e, CURLOPT_URL, url);
    cs->easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    cs->easy_setopt(e, CURLOPT_HTTPHEADER, hl);
    cs->easy_setopt(e, CURLOPT_ERRORBUFFER, errbuf);
    cs->easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    cs->easy_setopt(e, CURLOPT_CONNECTTIMEOUT, 30L);
    cs->easy_setopt(e, CURLOPT_LOW_SPEED_LIMIT, 1L);
    cs->easy_setopt(e, CURLOPT_LOW_SPEED_TIME, 60L);
    cs->easy_setopt(e, CURLOPT_USERAGENT, "kleened/" KLEENE_VERSION);
    cs->easy_setopt(e, CURLOPT_WRITEFUNCTION, write_cb);
    cs->easy_setopt(e, CURLOPT_WRITEDATA, r);
    cs->easy_setopt(e, CURLOPT_HEADERFUNCTION, header_cb);
    cs->easy_setopt(e, CURLOPT_HEADERDATA, r);
    if (s->o->ca_file)
        cs->easy_setopt(e, CURLOPT_CAINFO, s->o->ca_file);
    if (s->o->client_cert && s->o->client_key) {
        cs->easy_setopt(e, CURLOPT_SSLCERT, s->o->client_cert);
        cs->easy_setopt(e, CURLOPT_SSLKEY, s->o->client_key);
    }
    if (s->tls_no_verify) {
        cs->easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 0L);
        cs->easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 0L);
    }
    if (!strcmp(method, "HEAD")) {
        cs->easy_setopt(e, CURLOPT_NOBODY, 1L);
    } else if (!strcmp(method, "PUT") || !strcmp(method, "PATCH") || !strcmp(method, "POST")) {
        cs->easy_setopt(e, CURLOPT_UPLOAD, 1L);
        cs->easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
        cs->easy_setopt(e, CURLOPT_READFUNCTION, read_cb);
        body_src none = {.mem = "", .size = 0};
        body_src *b = body ? body : &none;
        cs->easy_setopt(e, CURLOPT_READDATA, b);
        cs->easy_setopt(e, CURLOPT_INFILESIZE_LARGE, (curl_off_t)b->size);
    }
    CURLcode rc = cs->easy_perform(e);
    cs->slist_free_all(hl);
    if (body && kl_error_is_set(&body->err)) {
        *err = body->err;
        resp_clear(r);
        return -1;
    }
    if (rc != CURLE_OK) {
        resp_clear(r);
        return kl_error_set(err,
                            rc == CURLE_COULDNT_CONNECT            ? ECONNREFUSED
                            : rc == CURLE_PEER_FAILED_VERIFICATION ? EKEYREJECTED
                                                                   : EIO,
                            "%s %s: %s", method, url, errbuf[0] ? errbuf : cs->easy_strerror(rc));
    }
    cs->easy_getinfo(e, CURLINFO_RESPONSE_CODE, &r->status);
    return 0;
}

static int http_error(const char *what, const resp *r, kl_error *err)
{
    return oci_registry_error(what, r->status, r->body.data, r->body.len, err);
}

/* Answered 401/403 although (or because not) authenticated (registry/auth.h). */
static int refused(const session *s, const char *what, const resp *r, kl_error *err)
{
    return oci_auth_refused(s->ref.domain, s->o->username, r->challenge, what, r->status,
                            r->body.data, r->body.len, err);
}

static int authenticate(session *s, const char *challenge, kl_error *err)
{
    const char *reg = s->ref.domain;
    if (!challenge)
        return kl_error_set(err, EACCES, "registry %s: authentication required (no challenge)",
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
    if (!strncmp(c.realm, "http://", 7) && !s->plain_allowed) {
        oci_auth_challenge_clear(&c);
        return kl_error_set(err, EACCES, "registry %s: refusing a token server over plain HTTP",
                            reg);
    }
    _cleanup_free_ char *url = oci_auth_token_url(&c, s->scope);
    oci_auth_challenge_clear(&c);
    _cleanup_free_ char *basic_h = basic ? xasprintf("Authorization: %s", basic) : NULL;
    const char *hs[] = {basic_h, NULL};
    char *saved = s->auth;
    s->auth = NULL;
    resp r;
    int rc = request(s, "GET", url, basic_h ? hs : NULL, NULL, &r, err);
    s->auth = saved;
    if (rc < 0)
        return kl_error_prefix(err, "registry %s: token server", reg);
    if (r.status == 401 || r.status == 403) {
        refused(s, "token server", &r, err);
        resp_clear(&r);
        return -1;
    }
    if (r.status != 200) {
        http_error("token server", &r, err);
        resp_clear(&r);
        return kl_error_prefix(err, "registry %s", reg);
    }
    _cleanup_free_ char *token = oci_auth_token_parse(r.body.data, r.body.len, err);
    resp_clear(&r);
    if (!token)
        return kl_error_prefix(err, "registry %s", reg);
    free(s->auth);
    s->auth = xasprintf("Authorization: Bearer %s", token);
    return 0;
}

/* A request to base + path (or an absolute URL), answering one 401 by authenticating. A
 * body is sent again after the authentication (its reader starts over). */
static int reg_request(session *s, const char *method, const char *path, const char *const *headers,
                       body_src *body, resp *r, kl_error *err)
{
    _cleanup_free_ char *url = !strncmp(path, "http://", 7) || !strncmp(path, "https://", 8)
                                   ? xstrdup(path)
                                   : xasprintf("%s%s", s->base, path);
    for (int attempt = 0;; attempt++) {
        if (body)
            body->sent = body->reported = 0;
        if (request(s, method, url, headers, body, r, err) < 0)
            return -1;
        if (r->status == 401 && attempt > 0) {
            _cleanup_free_ char *what = xasprintf("%s %s", method, url);
            refused(s, what, r, err);
            resp_clear(r);
            return -1;
        }
        if (r->status != 401)
            return 0;
        int rc = authenticate(s, r->challenge, err);
        resp_clear(r);
        if (rc < 0)
            return -1;
    }
}

static int ping(session *s, kl_error *err)
{
    const char *host = oci_ref_api_host(&s->ref);
    s->base = xasprintf("https://%s", host);
    resp r;
    kl_error terr = KL_ERROR_INIT;
    _cleanup_free_ char *url = xasprintf("%s/v2/", s->base);
    int grc = request(s, "GET", url, NULL, NULL, &r, &terr);
    if (grc < 0 && s->plain_allowed && terr.code == EKEYREJECTED) {
        /* an insecure registry whose certificate does not verify: Docker's rule (pull.c) */
        log_warn("registry %s: %s; an insecure registry: going on without verifying it",
                 s->ref.domain, terr.msg);
        s->tls_no_verify = true;
        kl_error_clear(&terr);
        grc = request(s, "GET", url, NULL, NULL, &r, &terr);
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
        if (request(s, "GET", url, NULL, NULL, &r, err) < 0)
            return kl_error_prefix(err, "registry %s", s->ref.domain);
    }
    int rc = 0;
    if (r.status == 401)
        rc = authenticate(s, r.challenge, err);
    else if (r.status != 200 && r.status != 404)
        rc = http_error("registry version check", &r, err);
    resp_clear(&r);
    return rc;
}

/* The query separator for a Location that may have a query already. */
static const char *qsep(const char *loc)
{
    return strchr(loc, '?') ? "&" : "?";
}

static int push_blob(session *s, const char *digest, int64_t size, const char *mount_path,
                     unsigned index, unsigned n, kl_error *err)
{
    const host_push_opts *o = s->o;
    _cleanup_free_ char *head = xasprintf("/v2/%s/blobs/%s", s->ref.path, digest);
    resp r;
    if (reg_request(s, "HEAD", head, NULL, NULL, &r, err) < 0)
        return -1;
    long st = r.status;
    resp_clear(&r);
    const char *how = "exists";
    if (st != 200) {
        _cleanup_free_ char *post = mount_path ? xasprintf("/v2/%s/blobs/uploads/?mount=%s&from=%s",
                                                           s->ref.path, digest, mount_path)
                                               : xasprintf("/v2/%s/blobs/uploads/", s->ref.path);
        kl_error merr = KL_ERROR_INIT;
        if (reg_request(s, "POST", post, NULL, NULL, &r, &merr) < 0) {
            if (!mount_path || merr.code != EACCES) {
                *err = merr;
                return -1;
            }
            /* the source may not be readable with these credentials: upload instead */
            log_info("blob %s: no mount from %s (%s): uploading it", digest, mount_path, merr.msg);
            free(post);
            post = xasprintf("/v2/%s/blobs/uploads/", s->ref.path);
            mount_path = NULL;
            if (reg_request(s, "POST", post, NULL, NULL, &r, err) < 0)
                return -1;
        }
        if (r.status == 201 && mount_path) {
            how = "mounted";
            resp_clear(&r);
        } else if (r.status == 202 && r.location) {
            _cleanup_free_ char *loc =
                r.location[0] == '/' ? xasprintf("%s%s", s->base, r.location) : xstrdup(r.location);
            resp_clear(&r);
            _cleanup_close_ int fd =
                openat(o->blobs_fd, digest + 7, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
            struct stat sb;
            if (fd < 0 || fstat(fd, &sb) < 0)
                return kl_error_errno(err, errno, "blob %s", digest);
            if (sb.st_size != size)
                return kl_error_set(err, EIO, "blob %s: %lld bytes on disk, the manifest says %lld",
                                    digest, (long long)sb.st_size, (long long)size);
            oci_verifier v;
            uint64_t hashed = 0;
            if (oci_verifier_init(&v, digest, size, err) < 0)
                return -1;
            /* chunked: PATCH parts of at most chunk_size bytes, then PUT without a body */
            uint64_t off = 0, usize = (uint64_t)size;
            unsigned chunks = 0;
            while (o->chunk_size && off < usize) {
                uint64_t len = usize - off < o->chunk_size ? usize - off : o->chunk_size;
                _cleanup_free_ char *range =
                    xasprintf("Content-Range: %llu-%llu", (unsigned long long)off,
                              (unsigned long long)(off + len - 1));
                const char *hs[] = {"Content-Type: application/octet-stream", range, NULL};
                body_src b = {.fd = fd,
                              .base = off,
                              .size = len,
                              .v = &v,
                              .hashed = &hashed,
                              .digest = digest,
                              .o = o,
                              .index = index,
                              .n = n,
                              .total = usize,
                              .err = KL_ERROR_INIT};
                if (reg_request(s, "PATCH", loc, hs, &b, &r, err) < 0)
                    return kl_error_prefix(err, "blob %s", digest);
                if (r.status != 202 || !r.location) {
                    _cleanup_free_ char *what =
                        xasprintf("uploading blob %s (bytes %llu-%llu)", digest,
                                  (unsigned long long)off, (unsigned long long)(off + len - 1));
                    http_error(what, &r, err);
                    resp_clear(&r);
                    return -1;
                }
                free(loc);
                loc = r.location[0] == '/' ? xasprintf("%s%s", s->base, r.location)
                                           : xstrdup(r.location);
                resp_clear(&r);
                off += len;
                chunks++;
            }
            _cleanup_free_ char *put = xasprintf("%s%sdigest=%s", loc, qsep(loc), digest);
            const char *hs[] = {"Content-Type: application/octet-stream", NULL};
            body_src b = {.fd = fd,
                          .base = off,
                          .size = usize - off, /* 0 after the chunks */
                          .v = &v,
                          .hashed = &hashed,
                          .digest = digest,
                          .o = o,
                          .index = index,
                          .n = n,
                          .total = usize,
                          .err = KL_ERROR_INIT};
            if (reg_request(s, "PUT", put, hs, &b, &r, err) < 0)
                return kl_error_prefix(err, "blob %s", digest);
            if (r.status != 201) {
                _cleanup_free_ char *what = xasprintf("uploading blob %s", digest);
                http_error(what, &r, err);
                resp_clear(&r);
                return -1;
            }
            resp_clear(&r);
            if (oci_verifier_finish(&v, err) < 0)
                return -1;
            how = chunks > 1 ? "uploaded in chunks" : "uploaded";
            if (chunks > 1)
                log_info("blob %s: %u chunks", digest, chunks);
        } else {
            _cleanup_free_ char *what = xasprintf("starting the upload of blob %s", digest);
            http_error(what, &r, err);
            resp_clear(&r);
            return -1;
        }
    }
    if (o->progress)
        o->progress(&(host_push_event){.kind = HOST_PUSH_BLOB,
                                       .index = index,
                                       .n = n,
                                       .total = (uint64_t)size,
                                       .digest = digest,
                                       .text = how},
                    o->ctx);
    return 0;
}

/* A manifest or index blob of kleened's, checked against its digest. */
static int read_manifest(const host_push_opts *o, const char *digest, kl_buf *b, kl_error *err)
{
    _cleanup_close_ int fd = openat(o->blobs_fd, digest + 7, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return kl_error_errno(err, errno, "manifest %s", digest);
    char buf[16384];
    ssize_t n;
    while ((n = read(fd, buf, sizeof(buf))) > 0) {
        if (b->len + (size_t)n > OCI_MANIFEST_MAX_BYTES)
            return kl_error_set(err, EINVAL, "manifest %s: too large", digest);
        kl_buf_append(b, buf, (size_t)n);
    }
    if (n < 0)
        return kl_error_errno(err, errno, "manifest %s", digest);
    char got[OCI_DIGEST_STR_LEN];
    oci_digest_of(b->data, b->len, got);
    if (strcmp(got, digest) != 0)
        return kl_error_set(err, EIO, "manifest %s: the stored file has digest %s", digest, got);
    return 0;
}

/* PUT the manifest (or index) `data` of `digest` as /v2/<path>/manifests/<where>; the
 * registry must store it under that digest. */
static int put_manifest(session *s, const char *where, const kl_buf *data, const char *media_type,
                        const char *digest, kl_error *err)
{
    _cleanup_free_ char *path = xasprintf("/v2/%s/manifests/%s", s->ref.path, where);
    _cleanup_free_ char *ct = xasprintf("Content-Type: %s", media_type);
    const char *hs[] = {ct, NULL};
    body_src b = {.mem = data->data, .size = data->len, .err = KL_ERROR_INIT};
    resp r = {0};
    int rc = reg_request(s, "PUT", path, hs, &b, &r, err);
    if (rc == 0 && r.status != 201 && r.status != 200)
        rc = http_error("putting the manifest", &r, err);
    else if (rc == 0 && r.content_digest && strcmp(r.content_digest, digest) != 0)
        rc = kl_error_set(err, EIO, "the registry stored the manifest as %.80s, not %s",
                          r.content_digest, digest);
    if (rc == 0 || r.status)
        resp_clear(&r);
    return rc;
}

static int push_into(session *s, kl_error *err)
{
    const host_push_opts *o = s->o;
    _cleanup_buf_ kl_buf mb = KL_BUF_INIT, ib = KL_BUF_INIT;
    if (read_manifest(o, o->manifest, &mb, err) < 0)
        return -1;
    /* the index the image was pulled through: pushed last, under the tag (its other
     * platforms' manifests must be in the repository already: kleened asks this only when
     * the push goes back to the repository the image came from) */
    _cleanup_free_ char *index_type = NULL;
    if (o->index) {
        oci_manifest im;
        if (read_manifest(o, o->index, &ib, err) < 0 ||
            oci_manifest_parse(ib.data, ib.len, NULL, &im, err) < 0)
            return kl_error_prefix(err, "index %s", o->index);
        bool listed = false;
        for (size_t i = 0; im.kind == OCI_MANIFEST_INDEX && i < im.n_manifests; i++)
            listed |= !strcmp(im.manifests[i].digest, o->manifest);
        index_type = xstrdup(im.media_type);
        oci_manifest_clear(&im);
        if (!listed)
            return kl_error_set(err, EINVAL, "index %s: not an index listing manifest %s", o->index,
                                o->manifest);
    }
    oci_manifest m;
    if (oci_manifest_parse(mb.data, mb.len, NULL, &m, err) < 0)
        return kl_error_prefix(err, "manifest %s", o->manifest);
    if (m.kind != OCI_MANIFEST_IMAGE) {
        oci_manifest_clear(&m);
        return kl_error_set(err, EINVAL, "manifest %s: not an image manifest", o->manifest);
    }
    /* a mount needs the source on the same registry */
    char *mount_path = NULL;
    oci_ref src;
    if (o->mount_from && *o->mount_from) {
        _cleanup_free_ char *srcref = xasprintf("%s:x", o->mount_from);
        if (oci_ref_parse(srcref, &src, NULL) == 0) {
            if (!strcmp(src.domain, s->ref.domain) && strcmp(src.path, s->ref.path) != 0)
                mount_path = xstrdup(src.path);
            oci_ref_clear(&src);
        }
    }
    /* a mount needs pull on its source too */
    s->scope = mount_path ? xasprintf("repository:%s:pull,push repository:%s:pull", s->ref.path,
                                      mount_path)
                          : xasprintf("repository:%s:pull,push", s->ref.path);
    int rc = ping(s, err);
    unsigned n = (unsigned)m.n_layers + 1;
    for (size_t i = 0; rc == 0 && i < m.n_layers; i++)
        rc = push_blob(s, m.layers[i].digest, m.layers[i].size, mount_path, (unsigned)i, n, err);
    if (rc == 0)
        rc = push_blob(s, m.config.digest, m.config.size, mount_path, n - 1, n, err);
    /* with an index: the manifest by its digest, then the index under the tag */
    if (rc == 0)
        rc = put_manifest(s, o->index ? o->manifest : oci_ref_manifest_ref(&s->ref), &mb,
                          m.media_type, o->manifest, err);
    if (rc == 0 && o->index)
        rc = put_manifest(s, oci_ref_manifest_ref(&s->ref), &ib, index_type, o->index, err);
    if (rc == 0 && o->progress)
        o->progress(&(host_push_event){.kind = HOST_PUSH_MANIFEST,
                                       .text = o->index ? o->index : o->manifest},
                    o->ctx);
    free(mount_path);
    oci_manifest_clear(&m);
    return rc;
}

int host_push(const host_push_opts *o, kl_error *err)
{
    if (!o->manifest || !oci_digest_is_valid(o->manifest))
        return kl_error_set(err, EINVAL, "pushing: invalid manifest digest");
    if (o->index && !oci_digest_is_valid(o->index))
        return kl_error_set(err, EINVAL, "pushing: invalid index digest");
    session s = {.o = o};
    if (oci_ref_parse(o->reference, &s.ref, err) < 0)
        return -1;
    s.cs = curlshim_get("pushing images needs libcurl", err);
    s.easy = s.cs ? s.cs->easy_init() : NULL;
    int rc = s.easy ? 0 : -1;
    if (s.cs && !s.easy)
        kl_error_set(err, ENOMEM, "pushing: cannot initialise libcurl");
    s.plain_allowed = o->insecure || oci_ref_domain_is_loopback(s.ref.domain);
    if (rc == 0)
        rc = push_into(&s, err);
    if (rc < 0) {
        _cleanup_free_ char *refs = oci_ref_familiar(&s.ref);
        kl_error_prefix(err, "pushing %s", refs);
    }
    if (s.easy)
        s.cs->easy_cleanup(s.easy);
    oci_ref_clear(&s.ref);
    free(s.base);
    free(s.auth);
    free(s.scope);
    return rc;
}
