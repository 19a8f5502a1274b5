/* The /images/build WebSocket (API.md §7.4, §8.3): cast the config frame, run the synchronous
 * Dockerfile pre-checks, send "starting" with the new image id, run builder_run() in a worker
 * thread that streams its output as text frames, and close with the JSON reason.
 *
 * As for /images/create, this (the session's) thread keeps reading the socket while the
 * worker runs: that answers pings and notices a client that goes away, which cancels the
 * build (the builder stops the step's container and removes everything it made). */
#include "api/handlers.h"
#include "api/schema.h"
#include "api/wsession.h"
#include "engine/builder.h"
#include "engine/engine.h"
#include "engine/upload.h"
#include "lib/cleanup.h"
#include "lib/id.h"
#include "lib/jsonx.h"
#include "lib/log.h"
#include "lib/xalloc.h"

#include <stdatomic.h>
#include <string.h>

typedef struct build_job {
    api_ws_session *s;
    kl_engine *e;
    builder_opts o;
    dockerfile df;
    char id[KL_ID_LEN + 1];
    atomic_bool cancel;
    int rc;
    builder_result res;
    kl_error err;
    upload *up; /* the context sent by the client (context_upload), or NULL */
} build_job;

static void job_output(const char *data, size_t n, void *ctx)
{
    build_job *j = ctx;
    if (api_ws_send_text(j->s, data, n) < 0)
        atomic_store(&j->cancel, true); /* the client is gone */
}

static void *job_run(void *arg)
{
    build_job *j = arg;
    j->rc = builder_run(j->e, &j->o, &j->df, j->id, &j->res, &j->err);
    return NULL;
}

/* buildargs {"k":"v"} → "k=v" strings (non-string values are skipped). */
static char **buildargs_strv(const json_t *obj)
{
    char **v = xcalloc(1, sizeof(char *));
    const char *k;
    json_t *val;
    json_object_foreach((json_t *)obj, k, val)
    {
        if (json_is_string(val)) {
            _cleanup_free_ char *s = xasprintf("%s=%s", k, json_string_value(val));
            strv_push(&v, s);
        }
    }
    return v;
}

/* context_upload (ours, docs/api.md): after the config the client sends the context as a tar
 * archive in binary frames, ended by an empty binary frame. */
#define UPLOAD_IDLE_MS 60000

static upload *receive_context(api_ws_session *s, kl_engine *e, kl_error *err)
{
    upload *u = upload_begin(e, err);
    if (!u)
        return NULL;
    for (;;) {
        kl_ws_message m;
        int r = api_ws_recv(s, &m, UPLOAD_IDLE_MS);
        if (r == 0) {
            kl_error_set(err, ETIMEDOUT, "no build context received for %d s",
                         UPLOAD_IDLE_MS / 1000);
            break;
        }
        if (r < 0) {
            kl_error_set(err, ECONNRESET, "the client went away while sending the build context");
            break;
        }
        if (m.opcode == KL_WS_OP_PING || m.opcode == KL_WS_OP_PONG)
            continue;
        if (m.opcode != KL_WS_OP_BINARY) {
            kl_error_set(err, EINVAL,
                         "the build context must come as binary frames, ended by an empty one");
            break;
        }
        if (m.len == 0) {
            if (upload_finish(u, NULL, NULL, err) < 0)
                break;
            log_info("build context received: %llu bytes", (unsigned long long)upload_bytes(u));
            return u;
        }
        if (upload_write(u, m.data, m.len, err) < 0)
            break;
    }
    upload_free(u);
    return NULL;
}

/* registry_auth (ours, docs/api.md): {"<registry>": {"username", "password"}} as builder
 * credentials pointing into obj; NULL with a message in err for a malformed entry (the
 * values are never quoted). */
static builder_credential *registry_auth(const json_t *obj, size_t *n, kl_error *err)
{
    *n = 0;
    builder_credential *v = xcalloc(json_object_size(obj) + 1, sizeof(*v));
    const char *reg;
    json_t *a;
    json_object_foreach((json_t *)obj, reg, a)
    {
        json_t *u = json_object_get(a, "username"), *p = json_object_get(a, "password");
        if (!json_is_object(a) || !json_is_string(u) || (p && !json_is_string(p)) || !reg[0] ||
            strchr(reg, '/')) {
            free(v);
            kl_error_set(err, EINVAL,
                         "registry_auth: each entry is \"<registry>\": {\"username\": "
                         "\"...\", \"password\": \"...\"} (the registry as in "
                         "127.0.0.1:5000 or docker.io)");
            return NULL;
        }
        v[(*n)++] = (builder_credential){reg, json_string_value(u), p ? json_string_value(p) : ""};
    }
    return v;
}

void api_images_build(api_ws_session *s, json_t *config)
{
    json_t *errors = NULL;
    _cleanup_json_ json_t *cfg = schema_cast(&schema_image_build_config, config, &errors);
    if (!cfg) {
        const char *msg = schema_first_error_message(errors);
        api_ws_send_text(s, msg, strlen(msg));
        json_decref(errors);
        api_ws_close(s, KL_WS_CLOSE_PROTOCOL_ERROR, "error", "invalid parameters", "");
        return;
    }
    json_t *cc = json_object_get(cfg, "container_config");
    _cleanup_strv_ char **buildargs = buildargs_strv(json_object_get(cfg, "buildargs"));
    _cleanup_strv_ char **env = jx_strv(json_object_get(cc, "env"));
    _cleanup_strv_ char **jail_param = jx_strv(json_object_get(cc, "jail_param"));
    size_t n_creds = 0;
    kl_error aerr = KL_ERROR_INIT;
    _cleanup_free_ builder_credential *creds =
        registry_auth(json_object_get(cfg, "registry_auth"), &n_creds, &aerr);
    if (!creds) {
        api_ws_send_text(s, aerr.msg, strlen(aerr.msg));
        api_ws_close(s, KL_WS_CLOSE_PROTOCOL_ERROR, "error", "invalid parameters", "");
        return;
    }

    build_job *j = xcalloc(1, sizeof(*j));
    j->s = s;
    j->e = api_ws_ctx(s)->engine;
    j->err = (kl_error)KL_ERROR_INIT;
    atomic_init(&j->cancel, false);
    j->o = (builder_opts){
        .context = jx_str(cfg, "context", ""),
        .dockerfile = jx_str(cfg, "dockerfile", "Dockerfile"),
        .tag = jx_str(cfg, "tag", ""),
        .quiet = jx_bool(cfg, "quiet", false),
        .cleanup = jx_bool(cfg, "cleanup", true),
        .nocache = jx_bool(cfg, "nocache", false),
        .pull = jx_bool(cfg, "pull", false),
        .credentials = creds,
        .n_credentials = n_creds,
        .line_numbers = jx_bool(cfg, "line_numbers", false),
        .buildargs = buildargs,
        .labels = json_object_get(cfg, "labels"),
        .from_override = jx_str(cc, "image", ""),
        .user = jx_str(cc, "user", ""),
        .env = env,
        .jail_param = jail_param,
        .mounts = json_object_get(cc, "mounts"),
        .network_driver = jx_str(cc, "network_driver", "ipnet"),
        .networks = json_object_get(cfg, "networks"),
        .output = job_output,
        .output_ctx = j,
        .cancel = &j->cancel,
    };

    kl_error perr = KL_ERROR_INIT;
    if (jx_bool(cfg, "context_upload", false)) {
        j->up = receive_context(s, j->e, &perr);
        if (!j->up) {
            if (api_ws_send_message(s, "starting", "", "") == 0) {
                api_ws_send_text(s, perr.msg, strlen(perr.msg));
                api_ws_close(s, KL_WS_CLOSE_INTERNAL_ERROR, "error",
                             "failed to receive the build context", "");
            }
            free(j);
            return;
        }
        j->o.context = upload_context(j->up);
    }

    /* Synchronous pre-checks (§7.4 item 2). */
    if (j->o.context[0] != '/') {
        kl_error_set(&perr, EINVAL,
                     "cannot open the Dockerfile %s/%s: the context must be an "
                     "absolute path",
                     j->o.context, j->o.dockerfile);
    }
    if (perr.code || builder_load(&j->o, &j->df, &perr) < 0) {
        if (api_ws_send_message(s, "starting", "", "") == 0) {
            api_ws_send_text(s, perr.msg, strlen(perr.msg));
            api_ws_close(s, KL_WS_CLOSE_INTERNAL_ERROR, "error", "failed to process Dockerfile",
                         "");
        }
        dockerfile_clear(&j->df);
        upload_free(j->up);
        free(j);
        return;
    }
    kl_id_new(j->id);
    if (api_ws_send_message(s, "starting", "", j->id) < 0) {
        dockerfile_clear(&j->df);
        upload_free(j->up);
        free(j);
        return;
    }

    char what[64];
    snprintf(what, sizeof(what), "image build %s", j->id);
    api_ws_run_job(s, job_run, j, &j->cancel, what);
    if (j->rc == 0) {
        api_ws_close(s, KL_WS_CLOSE_NORMAL, "closing", "image created", j->res.image_id);
    } else {
        log_info("image build %s failed: %s", j->id, j->err.msg);
        api_ws_close(s, KL_WS_CLOSE_INTERNAL_ERROR, "error", "image build failed",
                     j->res.data ? j->res.data : "");
    }
    builder_result_clear(&j->res);
    dockerfile_clear(&j->df);
    upload_free(j->up);
    free(j);
}
