/* The Docker door's build (docs/docker-api.md "Build"): POST /build onto the engine's builder
 * (engine/builder.h), the same one the Kleene API's /images/build drives; POST /build/prune
 * onto its cache.
 *
 * The body is the build context as a tar archive (gzip, bzip2, xz or plain: the helper
 * detects it), read as it comes (req->body_read, docker_streams_body) into an upload
 * (engine/upload.h): the kleene-fetch helper extracts it, kleened never parses the archive.
 * The query is checked and the Dockerfile parsed before the answer starts, so that a refusal
 * is an HTTP error in Docker's shape. Then the build runs in a thread of its own and its
 * output is the answer: the JSON lines the docker CLI renders ({"stream": ...}, {"aux":
 * {"ID": ...}}, {"errorDetail": ..., "error": ...}). A client that goes away cancels the
 * build (the builder then leaves nothing). */
#include "api/docker/dk.h"
#include "engine/builder.h"
#include "engine/engine.h"
#include "engine/imageref.h"
#include "engine/registry.h"
#include "engine/upload.h"
#include "lib/base64.h"
#include "lib/cleanup.h"
#include "lib/id.h"
#include "lib/jsonx.h"
#include "lib/labels.h"
#include "lib/log.h"
#include "lib/xalloc.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>

typedef struct build_job {
    kl_engine *e;
    builder_opts o;
    dockerfile df;
    char id[KL_ID_LEN + 1];
    upload *up;
    dk_build_query q;
    json_t *creds; /* X-Registry-Config: {registry: {"username", "password"}} */
    builder_credential *cv;
    int client_fd;
    atomic_bool cancel;
    pthread_t thread;
    bool started;
    /* the answer: JSON lines, appended by the build's thread, sent by the stream */
    pthread_mutex_t lock;
    pthread_cond_t cond;
    kl_buf out;
    size_t out_at;
    bool done;
} build_job;

static bool client_gone(int fd)
{
    if (fd < 0)
        return false;
    struct pollfd pf = {.fd = fd, .events = POLLRDHUP};
    return poll(&pf, 1, 0) > 0 && (pf.revents & (POLLRDHUP | POLLHUP | POLLERR));
}

/* Answer bytes queued and not yet sent, beyond which the build waits for the client: a step
 * that writes fast to a client that reads slowly (or not at all) holds no more memory than
 * this (the Kleene WebSocket build blocks on the socket the same way). */
#define JOB_QUEUE_MAX (1024 * 1024)

static void deadline_in(struct timespec *ts, long ms)
{
    clock_gettime(CLOCK_REALTIME, ts);
    ts->tv_nsec += ms * 1000 * 1000;
    while (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

/* Queue one JSON line of the answer (stolen). */
static void job_emit(build_job *j, json_t *line)
{
    _cleanup_free_ char *text = line ? json_dumps(line, JSON_COMPACT) : NULL;
    json_decref(line);
    if (!text)
        return;
    pthread_mutex_lock(&j->lock);
    while (j->out.len - j->out_at > JOB_QUEUE_MAX && !atomic_load(&j->cancel)) {
        struct timespec ts;
        deadline_in(&ts, 250);
        pthread_cond_timedwait(&j->cond, &j->lock, &ts);
    }
    kl_buf_puts(&j->out, text);
    kl_buf_puts(&j->out, "\n");
    pthread_cond_broadcast(&j->cond);
    pthread_mutex_unlock(&j->lock);
}

static void job_output(const char *data, size_t n, void *ctx)
{
    build_job *j = ctx;
    if (!j->q.quiet && n > 0)
        job_emit(j, json_pack("{s:o}", "stream", dk_text_json(data, n)));
}

static void *job_run(void *arg)
{
    build_job *j = arg;
    builder_result res = {0};
    kl_error err = KL_ERROR_INIT;
    int rc = builder_run(j->e, &j->o, &j->df, j->id, &res, &err);
    if (rc == 0) {
        char lid[DK_ID_LEN + 1];
        dk_long_id("image", res.image_id, lid);
        _cleanup_free_ char *sha = xasprintf("sha256:%s", lid);
        job_emit(j, json_pack("{s:{s:s}}", "aux", "ID", sha));
        if (j->q.quiet) {
            _cleanup_free_ char *line = xasprintf("%s\n", sha);
            job_emit(j, json_pack("{s:s}", "stream", line));
        } else {
            _cleanup_free_ char *built = xasprintf("Successfully built %.12s\n", res.image_id);
            job_emit(j, json_pack("{s:s}", "stream", built));
            if (j->q.nametag[0]) {
                _cleanup_free_ char *tagged = xasprintf("Successfully tagged %s\n", j->q.nametag);
                job_emit(j, json_pack("{s:s}", "stream", tagged));
            }
        }
        log_info("docker build %s: image %s", j->id, res.image_id);
    } else if (err.code != ECANCELED) {
        /* the message may quote the Dockerfile, whose bytes need not be UTF-8 */
        size_t n = strlen(err.msg);
        json_t *detail = json_pack("{s:o}", "message", dk_text_json(err.msg, n));
        if (res.exit_code > 0)
            json_object_set_new(detail, "code", json_integer(res.exit_code));
        job_emit(j,
                 json_pack("{s:o,s:o}", "errorDetail", detail, "error", dk_text_json(err.msg, n)));
        log_info("docker build %s failed: %s", j->id, err.msg);
    }
    builder_result_clear(&res);
    pthread_mutex_lock(&j->lock);
    j->done = true;
    pthread_cond_broadcast(&j->cond);
    pthread_mutex_unlock(&j->lock);
    return NULL;
}

static ssize_t job_read(void *ctx, char *buf, size_t max)
{
    build_job *j = ctx;
    pthread_mutex_lock(&j->lock);
    for (;;) {
        if (j->out_at < j->out.len) {
            size_t n = j->out.len - j->out_at;
            if (n > max)
                n = max;
            memcpy(buf, j->out.data + j->out_at, n);
            j->out_at += n;
            if (j->out_at == j->out.len) {
                kl_buf_reset(&j->out);
                j->out_at = 0;
            } else if (j->out_at > JOB_QUEUE_MAX) { /* drop what was sent */
                kl_buf_consume(&j->out, j->out_at);
                j->out_at = 0;
            }
            pthread_cond_broadcast(&j->cond); /* the build may wait for room */
            pthread_mutex_unlock(&j->lock);
            return (ssize_t)n;
        }
        if (j->done) {
            pthread_mutex_unlock(&j->lock);
            return API_STREAM_END;
        }
        /* a step may be silent for long: look at the client now and then */
        struct timespec ts;
        deadline_in(&ts, 250);
        pthread_cond_timedwait(&j->cond, &j->lock, &ts);
        if (!j->done && j->out_at == j->out.len && client_gone(j->client_fd)) {
            pthread_mutex_unlock(&j->lock);
            log_info("docker build %s: the client went away, cancelling", j->id);
            atomic_store(&j->cancel, true);
            return API_STREAM_ERROR;
        }
    }
}

static void job_free(void *ctx)
{
    build_job *j = ctx;
    if (!j)
        return;
    atomic_store(&j->cancel, true); /* nothing if it ended: the build is over then */
    if (j->started)
        pthread_join(j->thread, NULL);
    dockerfile_clear(&j->df);
    upload_free(j->up);
    dk_build_query_clear(&j->q);
    json_decref(j->creds);
    free(j->cv);
    kl_buf_free(&j->out);
    pthread_mutex_destroy(&j->lock);
    pthread_cond_destroy(&j->cond);
    free(j);
}

/* ---- the query --------------------------------------------------------------------------- */

/* Every value of a repeated query key (t=a&t=b), decoded. */
static char **query_all(const dk_request *r, const char *key, api_response *res)
{
    char **out = xcalloc(1, sizeof(char *));
    const char *q = r->h->query;
    if (!q)
        return out;
    const char *keys[HTTP_MAX_QUERY_ARGS], *values[HTTP_MAX_QUERY_ARGS];
    _cleanup_free_ char *store = xmalloc(strlen(q) + 1);
    http_refusal why;
    int n = http_parse_query(q, store, keys, values, HTTP_MAX_QUERY_ARGS, &why);
    if (n < 0) {
        strv_free(out);
        dk_error(res, why.status, "%s", why.message);
        return NULL;
    }
    for (int i = 0; i < n; i++)
        if (!strcmp(keys[i], key) && values[i][0])
            strv_push(&out, values[i]);
    return out;
}

/* A JSON object in the query (buildargs, labels); NULL (no error) when absent or empty. */
static int query_object(const dk_request *r, const char *key, json_t **out, api_response *res)
{
    *out = NULL;
    const char *v = dk_query_str(r, key, "");
    if (!v[0] || !strcmp(v, "null"))
        return 0;
    json_t *j = json_loads(v, JSON_REJECT_DUPLICATES, NULL);
    if (!json_is_object(j)) {
        json_decref(j);
        dk_error(res, 400, "invalid %s: not a JSON object: '%.100s'", key, v);
        return -1;
    }
    *out = j;
    return 0;
}

/* Query parameters that would change what the build does and that kleened does not do: a
 * refusal naming them, unless they have their neutral value. */
static int refuse_unsupported(const dk_request *r, api_response *res)
{
    static const struct {
        const char *key, *what;
    } zero[] = {
        {"memory", "memory limits of the build's steps"},
        {"memswap", "swap limits of the build's steps"},
        {"cpushares", "CPU shares of the build's steps"},
        {"cpuperiod", "CPU limits of the build's steps"},
        {"cpuquota", "CPU limits of the build's steps"},
        {"shmsize", "the size of /dev/shm of the build's steps"},
    };
    for (size_t i = 0; i < KL_ARRAY_SIZE(zero); i++) {
        const char *v = dk_query_str(r, zero[i].key, "");
        if (v[0] && strcmp(v, "0") != 0 && strcmp(v, "-1") != 0)
            return dk_error(res, 400, "%s=%.64s: %s are not supported by kleened", zero[i].key, v,
                            zero[i].what),
                   -1;
    }
    static const struct {
        const char *key, *what;
    } empty[] = {
        {"cpusetcpus", "CPU sets of the build's steps"},
        {"cpusetmems", "memory node sets of the build's steps"},
        {"cgroupparent", "a cgroup parent for the build's steps"},
        {"remote", "remote build contexts (send the context in the body)"},
        {"outputs", "build outputs (BuildKit)"},
        {"session", "build sessions (BuildKit)"},
        {"buildid", "build ids (BuildKit)"},
    };
    for (size_t i = 0; i < KL_ARRAY_SIZE(empty); i++) {
        const char *v = dk_query_str(r, empty[i].key, "");
        if (v[0])
            return dk_error(res, 400, "%s: %s are not supported by kleened", empty[i].key,
                            empty[i].what),
                   -1;
    }
    const char *version = dk_query_str(r, "version", "1");
    if (!strcmp(version, "2"))
        return dk_error(res, 400,
                        "version=2: BuildKit is not supported by kleened; use the classic builder "
                        "(DOCKER_BUILDKIT=0)"),
               -1;
    if (version[0] && strcmp(version, "1") != 0)
        return dk_error(res, 400, "version=%.32s: unknown builder version", version), -1;
    if (dk_query_bool(r, "squash", false))
        return dk_error(res, 400, "squash: squashing the built layers is not supported by kleened"),
               -1;
    const char *iso = dk_query_str(r, "isolation", "");
    if (iso[0] && strcmp(iso, "default") != 0)
        return dk_error(res, 400, "isolation=%.32s is not supported by kleened", iso), -1;
    const char *ul = dk_query_str(r, "ulimits", "");
    if (ul[0] && strcmp(ul, "null") != 0 && strcmp(ul, "[]") != 0)
        return dk_error(res, 400,
                        "ulimits: limits of the build's steps are not supported by kleened"),
               -1;
    const char *eh = dk_query_str(r, "extrahosts", "");
    if (eh[0] && strcmp(eh, "[]") != 0 && strcmp(eh, "null") != 0)
        return dk_error(res, 400,
                        "extrahosts: extra hosts of the build's steps are not supported "
                        "by kleened"),
               -1;
    return 0;
}

/* The host's platform as Docker writes it ("linux/amd64"). */
static void host_platform(char out[64])
{
    struct utsname u;
    const char *arch = "amd64";
    if (uname(&u) == 0) {
        if (!strcmp(u.machine, "aarch64"))
            arch = "arm64";
        else if (!strcmp(u.machine, "x86_64"))
            arch = "amd64";
        else
            arch = u.machine;
    }
    snprintf(out, 64, "linux/%s", arch);
}

/* ---- credentials ---------------------------------------------------------------------------- */

/* Base64 as Docker's clients write it (URL alphabet, padding optional) or standard; NULL when
 * malformed. NUL-terminated. */
static char *b64_decode(const char *in, size_t *len)
{
    size_t n = strlen(in);
    _cleanup_free_ char *std = xmalloc(n + 4);
    for (size_t i = 0; i < n; i++)
        std[i] = in[i] == '-' ? '+' : in[i] == '_' ? '/' : in[i];
    while (n % 4)
        std[n++] = '=';
    std[n] = '\0';
    char *out = xmalloc(kl_base64_decoded_max(n) + 1);
    kl_error err = KL_ERROR_INIT;
    ssize_t m = kl_base64_decode(std, n, (uint8_t *)out, kl_base64_decoded_max(n), &err);
    if (m < 0) {
        free(out);
        return NULL;
    }
    out[m] = '\0';
    *len = (size_t)m;
    return out;
}

/* A docker config key ("https://index.docker.io/v1/", "http://127.0.0.1:5000",
 * "myreg:5000") as a reference's domain ("docker.io", "127.0.0.1:5000"). */
static char *registry_of_key(const char *key)
{
    if (!strncmp(key, "https://", 8))
        key += 8;
    else if (!strncmp(key, "http://", 7))
        key += 7;
    char *d = xstrndup(key, strcspn(key, "/"));
    if (!strcmp(d, "index.docker.io") || !strcmp(d, "registry-1.docker.io")) {
        free(d);
        d = xstrdup("docker.io");
    }
    return d;
}

int dk_registry_config(const char *h, json_t **out, api_response *res)
{
    *out = json_object();
    if (!h || !h[0])
        return 0;
    size_t len = 0;
    _cleanup_free_ char *text = b64_decode(h, &len);
    _cleanup_json_ json_t *cfg = text ? json_loadb(text, len, 0, NULL) : NULL;
    if (!json_is_object(cfg))
        return dk_error(res, 400, "X-Registry-Config: not base64 of a JSON object"), -1;
    const char *key;
    json_t *v;
    json_object_foreach(cfg, key, v)
    {
        if (!json_is_object(v))
            return dk_error(res, 400, "X-Registry-Config: the entry of a registry is no object"),
                   -1;
        _cleanup_free_ char *user = xstrdup(jx_str(v, "username", ""));
        _cleanup_free_ char *pass = xstrdup(jx_str(v, "password", ""));
        const char *auth = jx_str(v, "auth", "");
        if (!user[0] && auth[0]) {
            size_t alen = 0;
            _cleanup_free_ char *up = b64_decode(auth, &alen);
            char *colon = up && strlen(up) == alen ? strchr(up, ':') : NULL;
            if (!colon)
                return dk_error(res, 400,
                                "X-Registry-Config: an \"auth\" value is not base64 of "
                                "user:password"),
                       -1;
            *colon = '\0';
            free(user);
            free(pass);
            user = xstrdup(up);
            pass = xstrdup(colon + 1);
        }
        if (!user[0])
            continue;
        _cleanup_free_ char *reg = registry_of_key(key);
        kl_error err = KL_ERROR_INIT;
        if (!reg[0] || registry_credentials_check(user, pass, &err) < 0)
            return dk_error(res, 400, "X-Registry-Config: invalid credentials for a registry: %s",
                            reg[0] ? err.msg : "no registry name"),
                   -1;
        json_object_set_new(*out, reg, json_pack("{s:s,s:s}", "username", user, "password", pass));
    }
    return 0;
}

/* ---- the context ---------------------------------------------------------------------------- */

static bool upload_cancelled(void *ctx)
{
    return client_gone(*(int *)ctx);
}

/* The body into an upload, extracted. NULL after an error in res. */
static upload *receive_context(dk_request *r, kl_engine *e, api_response *res)
{
    kl_error err = KL_ERROR_INIT;
    upload *u = upload_begin(e, &err);
    if (!u) {
        dk_error(res, 500, "%s", err.msg);
        return NULL;
    }
    int rc = 0;
    if (r->req->body_read) {
        _cleanup_free_ char *buf = xmalloc(65536);
        for (;;) {
            kl_error rerr = KL_ERROR_INIT;
            ssize_t n = r->req->body_read(r->req->body_ctx, buf, 65536, &rerr);
            if (n == 0)
                break;
            if (n < 0) {
                dk_error(res, 400, "reading the build context: %s", rerr.msg);
                rc = -1;
                break;
            }
            if (upload_write(u, buf, (size_t)n, &err) < 0) {
                dk_error(res, err.code == EFBIG ? 413 : 500, "%s", err.msg);
                rc = -1;
                break;
            }
        }
    } else if (upload_write(u, r->body->data ? r->body->data : "", r->body->len, &err) < 0) {
        dk_error(res, 500, "%s", err.msg);
        rc = -1;
    }
    if (rc == 0 && upload_bytes(u) == 0) {
        dk_error(res, 400, "the build context (the request's body, a tar archive) is empty");
        rc = -1;
    }
    int fd = r->req->client_fd;
    /* `docker build - < Dockerfile`: the body is the Dockerfile */
    if (rc == 0 && !upload_is_archive(u)) {
        if (upload_finish_as_dockerfile(u, &err) < 0) {
            dk_error(res, 500, "%s", err.msg);
            rc = -1;
        }
    } else if (rc == 0 && upload_finish(u, upload_cancelled, &fd, &err) < 0) {
        dk_error(res, err.code == ECANCELED ? 500 : 400, "%s", err.msg);
        rc = -1;
    }
    if (rc < 0) {
        upload_free(u);
        return NULL;
    }
    log_info("docker build: context of %llu bytes received", (unsigned long long)upload_bytes(u));
    return u;
}

/* ---- POST /build ---------------------------------------------------------------------------- */

int dk_build_query_parse(const dk_request *r, dk_build_query *q, api_response *res)
{
    *q = (dk_build_query){0};
    if (refuse_unsupported(r, res) < 0)
        return -1;
    const char *platform = dk_query_str(r, "platform", "");
    char hostp[64];
    host_platform(hostp);
    if (platform[0] && strcmp(platform, hostp) != 0 && strcmp(platform, "linux") != 0)
        return dk_error(res, 400,
                        "platform %.64s is not supported: kleened builds for %s, the host's "
                        "platform",
                        platform, hostp),
               -1;

    /* t: one name:tag (a Kleene image has one) */
    _cleanup_strv_ char **tags = query_all(r, "t", res);
    if (!tags)
        return -1;
    for (size_t i = 1; tags[0] && tags[i]; i++)
        if (strcmp(tags[i], tags[0]) != 0)
            return dk_error(res, 400,
                            "several tags (t=%.64s, t=%.64s): a kleened image has one name:tag; "
                            "give one and use docker tag after the build",
                            tags[0], tags[i]),
                   -1;
    _cleanup_free_ char *nametag = xstrdup("");
    if (tags[0]) {
        _cleanup_free_ char *name = NULL, *tag = NULL;
        kl_error err = KL_ERROR_INIT;
        if (imageref_parse_nametag(tags[0], &name, &tag, &err) < 0)
            return dk_error(res, 400, "invalid reference format: %s", err.msg), -1;
        free(nametag);
        nametag = xasprintf("%s:%s", name, tag[0] ? tag : IMAGEREF_DEFAULT_TAG);
    }

    _cleanup_json_ json_t *buildargs = NULL, *labels = NULL;
    if (query_object(r, "buildargs", &buildargs, res) < 0 ||
        query_object(r, "labels", &labels, res) < 0)
        return -1;
    _cleanup_strv_ char **args = xcalloc(1, sizeof(char *));
    const char *k;
    json_t *v;
    json_object_foreach(buildargs, k, v)
    {
        if (json_is_null(v))
            continue; /* --build-arg NAME without a value and none in the environment */
        if (!json_is_string(v))
            return dk_error(res, 400, "invalid buildargs: the value of '%.64s' is not a string", k),
                   -1;
        _cleanup_free_ char *kv = xasprintf("%s=%s", k, json_string_value(v));
        strv_push(&args, kv);
    }
    kl_error lerr = KL_ERROR_INIT;
    if (kl_labels_check(labels, &lerr) < 0)
        return dk_error(res, 400, "invalid labels: %s", lerr.msg), -1;

    const char *mode = dk_query_str(r, "networkmode", "");
    const char *driver = "ipnet";
    _cleanup_json_ json_t *networks = json_array();
    if (!strcmp(mode, "host"))
        driver = "host";
    else if (!strcmp(mode, "none"))
        driver = "disabled";
    else if (!strncmp(mode, "container:", 10))
        return dk_error(res, 400, "networkmode=%.64s is not supported by kleened", mode), -1;
    else if (mode[0] && strcmp(mode, "default") != 0 && strcmp(mode, "bridge") != 0)
        json_array_append_new(networks, json_pack("{s:s,s:s,s:s,s:s}", "container", "", "network",
                                                  mode, "ip_address", "<auto>", "ip_address6", ""));

    const char *dfpath = dk_query_str(r, "dockerfile", "");
    if (!dfpath[0])
        dfpath = "Dockerfile";
    if (dfpath[0] == '/')
        return dk_error(res, 400, "the Dockerfile must be a path inside the build context: %.200s",
                        dfpath),
               -1;

    q->nametag = steal_pointer(&nametag);
    q->buildargs = steal_pointer(&args);
    q->labels = steal_pointer(&labels);
    q->networks = steal_pointer(&networks);
    q->driver = driver;
    q->dockerfile = xstrdup(dfpath);
    q->platform = xstrdup(platform);
    q->target = xstrdup(dk_query_str(r, "target", ""));
    q->quiet = dk_query_bool(r, "q", false);
    q->nocache = dk_query_bool(r, "nocache", false);
    q->pull = dk_query_bool(r, "pull", false);
    /* rm (default true) / forcerm: a failed build leaves nothing; rm=0 keeps the failed
     * stage as <name>:failed, Kleene's form of Docker's kept intermediate container */
    q->keep_failed = !dk_query_bool(r, "rm", true) && !dk_query_bool(r, "forcerm", false);
    return 0;
}

void dk_build_query_clear(dk_build_query *q)
{
    free(q->nametag);
    strv_free(q->buildargs);
    json_decref(q->labels);
    json_decref(q->networks);
    free(q->dockerfile);
    free(q->platform);
    free(q->target);
    *q = (dk_build_query){0};
}

void dk_build(dk_request *r, api_response *res)
{
    kl_engine *e = r->req->ctx->engine;
    dk_build_query q;
    if (dk_build_query_parse(r, &q, res) < 0)
        return;
    _cleanup_json_ json_t *creds = NULL;
    if (dk_registry_config(http_header_get(r->h, "X-Registry-Config"), &creds, res) < 0) {
        dk_build_query_clear(&q);
        return;
    }

    /* the context */
    upload *up = receive_context(r, e, res);
    if (!up) {
        dk_build_query_clear(&q);
        return;
    }

    build_job *j = xcalloc(1, sizeof(*j));
    j->e = e;
    j->up = up;
    j->q = q;
    j->creds = steal_pointer(&creds);
    j->cv = xcalloc(json_object_size(j->creds) + 1, sizeof(*j->cv));
    size_t ncv = 0;
    const char *reg;
    json_t *cred;
    json_object_foreach(j->creds, reg, cred)
    {
        j->cv[ncv++] =
            (builder_credential){reg, jx_str(cred, "username", ""), jx_str(cred, "password", "")};
    }
    j->client_fd = r->req->client_fd;
    atomic_init(&j->cancel, false);
    pthread_mutex_init(&j->lock, NULL);
    pthread_cond_init(&j->cond, NULL);
    j->o = (builder_opts){
        .context = upload_context(up),
        .dockerfile = j->q.dockerfile,
        .tag = j->q.nametag,
        .quiet = j->q.quiet,
        .cleanup = !j->q.keep_failed,
        .nocache = j->q.nocache,
        .buildargs = j->q.buildargs,
        .labels = j->q.labels,
        .user = "",
        .network_driver = j->q.driver,
        .networks = j->q.networks,
        .output = job_output,
        .output_ctx = j,
        .cancel = &j->cancel,
        .pull = j->q.pull,
        .platform = j->q.platform,
        .target = j->q.target,
        .credentials = j->cv,
        .n_credentials = ncv,
        .message_newlines = true,
        .errors_to_caller = true,
    };

    /* the Dockerfile, before the answer starts */
    builder_opts lo = j->o;
    lo.line_numbers = true;
    kl_error err = KL_ERROR_INIT;
    size_t end;
    if (builder_load(&lo, &j->df, &err) < 0) {
        if (err.code == ENOENT || err.code == ENOTDIR || err.code == EXDEV || err.code == ELOOP)
            dk_error(res, 400, "Cannot locate specified Dockerfile: %s", j->q.dockerfile);
        else
            dk_error(res, 400, "Dockerfile parse error: %s", err.msg);
        job_free(j);
        return;
    }
    if (builder_target_end(&j->df, j->o.target, &end, &err) < 0) {
        dk_error(res, 400, "%s", err.msg);
        job_free(j);
        return;
    }

    kl_id_new(j->id);
    if (pthread_create(&j->thread, NULL, job_run, j) != 0) {
        dk_error(res, 500, "starting the build: %s", strerror(errno));
        job_free(j);
        return;
    }
    j->started = true;
    log_info("docker build %s: %s", j->id, j->q.nametag[0] ? j->q.nametag : "(untagged)");
    api_reply_stream(res, 200, "application/json", job_read, j, job_free);
}

/* ---- POST /build/prune ---------------------------------------------------------------------- */

void dk_build_prune(dk_request *r, api_response *res)
{
    static const char *const known[] = {NULL};
    _cleanup_json_ json_t *filters = dk_filters(r, known, res);
    if (!filters)
        return;
    long long keep;
    if (dk_query_int(r, "keep-storage", 0, (1LL << 62), 0, &keep, res) < 0)
        return;
    kl_error err = KL_ERROR_INIT;
    json_t *keys = builder_cache_prune(r->req->ctx->engine, &err);
    if (!keys)
        return dk_error(res, dk_status(err.code), "%s", err.msg);
    api_reply_json(res, 200,
                   json_pack("{s:o,s:I}", "CachesDeleted", keys, "SpaceReclaimed", (json_int_t)0));
}
