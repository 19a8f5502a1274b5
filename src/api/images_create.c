/* The /images/create WebSocket (API.md §7.2, §8.4; DESIGN.md §2 for the Linux meaning of the
 * methods): cast the config frame, send "starting", run images_create() in a worker thread
 * that streams its progress lines as text frames, and close with the JSON reason.
 *
 * While the worker runs, this (the session's) thread keeps reading the socket: that answers
 * the client's pings and notices a client that goes away, which cancels the creation (the
 * engine then removes whatever it made). */
#include "api/handlers.h"
#include "api/schema.h"
#include "api/wsession.h"
#include "engine/engine.h"
#include "engine/images.h"
#include "lib/cleanup.h"
#include "lib/jsonx.h"
#include "lib/log.h"
#include "lib/xalloc.h"

#include <stdatomic.h>
#include <string.h>

typedef struct create_job {
    api_ws_session *s;
    kl_engine *e;
    images_create_opts o;
    atomic_bool cancel;
    char *id;
    kl_error err;
} create_job;

static void job_output(const char *text, void *ctx)
{
    create_job *j = ctx;
    if (api_ws_send_text(j->s, text, strlen(text)) < 0)
        atomic_store(&j->cancel, true); /* the client is gone */
}

static void *job_run(void *arg)
{
    create_job *j = arg;
    j->id = images_create(j->e, &j->o, &j->err);
    return NULL;
}

void api_images_create(api_ws_session *s, json_t *config)
{
    json_t *errors = NULL;
    _cleanup_json_ json_t *cfg = schema_cast(&schema_image_create_config, config, &errors);
    if (!cfg) {
        const char *msg = schema_first_error_message(errors);
        api_ws_send_text(s, msg, strlen(msg));
        json_decref(errors);
        api_ws_close(s, KL_WS_CLOSE_PROTOCOL_ERROR, "error", "invalid parameters", "");
        return;
    }
    if (api_ws_send_message(s, "starting", "", "") < 0)
        return;

    _cleanup_strv_ char **include = jx_strv(json_object_get(cfg, "include"));
    create_job *j = xcalloc(1, sizeof(*j));
    j->s = s;
    j->e = api_ws_ctx(s)->engine;
    j->err = (kl_error)KL_ERROR_INIT;
    atomic_init(&j->cancel, false);
    j->o = (images_create_opts){
        .method = jx_str(cfg, "method", ""),
        .url = jx_str(cfg, "url", ""),
        .image = jx_str(cfg, "image", ""),
        .platform = jx_str(cfg, "platform", ""),
        .username = jx_str(json_object_get(cfg, "auth"), "username", NULL),
        .password = jx_str(json_object_get(cfg, "auth"), "password", NULL),
        .dataset = jx_str(cfg, "zfs_dataset", ""),
        .tag = jx_str(cfg, "tag", ""),
        .autotag = jx_bool(cfg, "autotag", false),
        .dns = jx_bool(cfg, "dns", true),
        .localtime = jx_bool(cfg, "localtime", true),
        .update = jx_bool(cfg, "update", false),
        .include = include,
        .output = job_output,
        .output_ctx = j,
        .cancel = &j->cancel,
    };
    api_ws_run_job(s, job_run, j, &j->cancel, "image create");
    if (j->id) {
        api_ws_close(s, KL_WS_CLOSE_NORMAL, "closing", "image created", j->id);
    } else {
        log_info("image create failed: %s", j->err.msg);
        api_ws_send_text(s, j->err.msg, strlen(j->err.msg));
        _cleanup_free_ char *m = xasprintf("image creation failed: %s", j->err.msg);
        api_ws_close(s, KL_WS_CLOSE_INTERNAL_ERROR, "error", m, "");
    }
    free(j->id);
    free(j);
}
