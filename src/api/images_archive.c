/* /images/load and /images/save (ours, docs/api.md): image archives over a WebSocket, the
 * house style of the long image operations (/images/create, /images/build).
 *
 * load: the config frame, then the archive as binary frames ended by an empty binary frame
 * (as the build context of context_upload), then "starting", progress text frames and a
 * close whose data is the loaded image ids. The frames are written to a pipe the helper
 * kleene-fetch reads as its stdin while it parses: kleened neither parses nor keeps the
 * archive. */
#include "api/handlers.h"
#include "api/schema.h"
#include "api/wsession.h"
#include "engine/engine.h"
#include "engine/images_archive.h"
#include "lib/buf.h"
#include "lib/cleanup.h"
#include "lib/jsonx.h"
#include "lib/log.h"
#include "lib/xalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <unistd.h>

typedef struct load_job {
    api_ws_session *s;
    kl_engine *e;
    images_load_opts o;
    atomic_bool cancel;
    pthread_mutex_t lock;
    bool uploading; /* output is held back while the client sends: it does not read yet */
    kl_buf held;
    char **ids;
    kl_error err;
    pthread_t thread;
} load_job;

static void load_output(const char *text, void *ctx)
{
    load_job *j = ctx;
    pthread_mutex_lock(&j->lock);
    if (j->uploading)
        kl_buf_append(&j->held, text, strlen(text));
    else if (api_ws_send_text(j->s, text, strlen(text)) < 0)
        atomic_store(&j->cancel, true);
    pthread_mutex_unlock(&j->lock);
}

static void *load_run(void *arg)
{
    load_job *j = arg;
    j->ids = images_load(j->e, &j->o, &j->err);
    close(j->o.fd); /* the helper is done: a client still sending gets EPIPE, not a hang */
    j->o.fd = -1;
    return NULL;
}

static void *load_join(void *arg)
{
    load_job *j = arg;
    pthread_join(j->thread, NULL);
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

/* The archive from the client into the pipe. Returns 0 when the empty frame came (also when
 * the helper stopped reading early: the rest is dropped), -1 with err set otherwise. */
static int pump(api_ws_session *s, int wfd, kl_error *err)
{
    bool writing = true;
    /* the configured WebSocket idle timeout (60 s by default) */
    unsigned idle = api_ws_ctx(s)->ws_idle_timeout ? api_ws_ctx(s)->ws_idle_timeout : 60;
    for (;;) {
        kl_ws_message m;
        int r = api_ws_recv(s, &m, (int)idle * 1000);
        if (r == 0)
            return kl_error_set(err, ETIMEDOUT, "no archive data received for %u s", idle);
        if (r < 0)
            return kl_error_set(err, ECONNRESET, "the client went away while sending the archive");
        if (m.opcode == KL_WS_OP_PING || m.opcode == KL_WS_OP_PONG)
            continue;
        if (m.opcode != KL_WS_OP_BINARY)
            return kl_error_set(err, EINVAL,
                                "the archive must come as binary frames, ended by an empty one");
        if (m.len == 0)
            return 0;
        if (writing && write_all(wfd, m.data, m.len) < 0)
            writing = false; /* the helper has stopped (its error comes from the load) */
    }
}

void api_images_load(api_ws_session *s, json_t *config)
{
    json_t *errors = NULL;
    _cleanup_json_ json_t *cfg = schema_cast(&schema_image_load_config, config, &errors);
    if (!cfg) {
        const char *msg = schema_first_error_message(errors);
        api_ws_send_text(s, msg, strlen(msg));
        json_decref(errors);
        api_ws_close(s, KL_WS_CLOSE_PROTOCOL_ERROR, "error", "invalid parameters", "");
        return;
    }
    int p[2];
    if (pipe2(p, O_CLOEXEC) < 0) {
        api_ws_close(s, KL_WS_CLOSE_INTERNAL_ERROR, "error", "could not load images: pipe", "");
        return;
    }
    load_job *j = xcalloc(1, sizeof(*j));
    j->s = s;
    j->e = api_ws_ctx(s)->engine;
    j->err = (kl_error)KL_ERROR_INIT;
    atomic_init(&j->cancel, false);
    pthread_mutex_init(&j->lock, NULL);
    j->uploading = true;
    j->o = (images_load_opts){.fd = p[0],
                              .platform = jx_str(cfg, "platform", ""),
                              .output = load_output,
                              .output_ctx = j,
                              .cancel = &j->cancel};
    bool started = pthread_create(&j->thread, NULL, load_run, j) == 0;
    kl_error perr = KL_ERROR_INIT;
    int prc = started ? pump(s, p[1], &perr) : kl_error_set(&perr, EAGAIN, "no thread");
    close(p[1]); /* the end of the archive for the helper */
    if (prc < 0)
        atomic_store(&j->cancel, true);
    if (!started) {
        close(p[0]);
    } else if (prc == 0) {
        api_ws_send_message(s, "starting", "", "");
        pthread_mutex_lock(&j->lock);
        j->uploading = false;
        if (j->held.len && api_ws_send_text(s, j->held.data, j->held.len) < 0)
            atomic_store(&j->cancel, true);
        pthread_mutex_unlock(&j->lock);
        api_ws_run_job(s, load_join, j, &j->cancel, "image load");
    } else {
        pthread_join(j->thread, NULL);
    }
    if (prc < 0) {
        log_info("image load failed: %s", perr.msg);
        api_ws_send_message(s, "starting", "", "");
        api_ws_send_text(s, perr.msg, strlen(perr.msg));
        api_ws_close(s, KL_WS_CLOSE_INTERNAL_ERROR, "error", "failed to receive the archive", "");
    } else if (j->ids) {
        kl_buf ids = KL_BUF_INIT;
        for (size_t i = 0; j->ids[i]; i++)
            kl_buf_printf(&ids, "%s%s", i ? "," : "", j->ids[i]);
        api_ws_close(s, KL_WS_CLOSE_NORMAL, "closing", "images loaded", ids.data ? ids.data : "");
        kl_buf_free(&ids);
    } else {
        log_info("image load failed: %s", j->err.msg);
        api_ws_send_text(s, j->err.msg, strlen(j->err.msg));
        _cleanup_free_ char *m = xasprintf("image load failed: %s", j->err.msg);
        api_ws_close(s, KL_WS_CLOSE_INTERNAL_ERROR, "error", m, "");
    }
    strv_free(j->ids);
    kl_buf_free(&j->held);
    pthread_mutex_destroy(&j->lock);
    free(j);
}

/* save: the config frame ({"images": [...], "format": "docker"|"oci"}), "starting", the
 * archive (tar) as binary frames, then a close: "images saved", or an error (before any
 * binary frame when an image can not be saved). */
#define SAVE_FRAME (64 * 1024)

typedef struct save_out {
    api_ws_session *s;
    uint64_t bytes;
} save_out;

static int save_write(const void *data, size_t n, void *ctx, kl_error *err)
{
    save_out *o = ctx;
    for (size_t off = 0; off < n;) {
        size_t len = n - off < SAVE_FRAME ? n - off : SAVE_FRAME;
        if (api_ws_send_binary(o->s, (const char *)data + off, len) < 0)
            return kl_error_set(err, ECONNRESET, "the client went away");
        off += len;
    }
    o->bytes += n;
    return 0;
}

void api_images_save(api_ws_session *s, json_t *config)
{
    json_t *errors = NULL;
    _cleanup_json_ json_t *cfg = schema_cast(&schema_image_save_config, config, &errors);
    if (!cfg) {
        const char *msg = schema_first_error_message(errors);
        api_ws_send_text(s, msg, strlen(msg));
        json_decref(errors);
        api_ws_close(s, KL_WS_CLOSE_PROTOCOL_ERROR, "error", "invalid parameters", "");
        return;
    }
    _cleanup_strv_ char **images = jx_strv(json_object_get(cfg, "images"));
    images_archive_format format = !strcmp(jx_str(cfg, "format", "docker"), "oci")
                                       ? IMAGES_ARCHIVE_OCI
                                       : IMAGES_ARCHIVE_DOCKER;
    if (api_ws_send_message(s, "starting", "", "") < 0)
        return;
    save_out o = {.s = s};
    kl_error err = KL_ERROR_INIT;
    if (images_save(api_ws_ctx(s)->engine, images, strv_len(images), format, 0, save_write, &o,
                    &err) < 0) {
        log_info("image save failed: %s", err.msg);
        if (err.code == ECONNRESET)
            return;
        api_ws_send_text(s, err.msg, strlen(err.msg));
        _cleanup_free_ char *m = xasprintf("image save failed: %s", err.msg);
        api_ws_close(s, KL_WS_CLOSE_INTERNAL_ERROR, "error", m, "");
        return;
    }
    _cleanup_free_ char *bytes = xasprintf("%llu", (unsigned long long)o.bytes);
    api_ws_close(s, KL_WS_CLOSE_NORMAL, "closing", "images saved", bytes);
}

/* push: the config frame ({"image", "reference"}; reference "" = the image's own name),
 * "starting", a text frame per blob (exists, mounted or uploaded) and upload progress, then a
 * close whose data is the manifest digest. */
typedef struct push_job {
    api_ws_session *s;
    kl_engine *e;
    images_push_opts o;
    atomic_bool cancel;
    char *digest;
    kl_error err;
} push_job;

static void push_output(const char *text, void *ctx)
{
    push_job *j = ctx;
    if (api_ws_send_text(j->s, text, strlen(text)) < 0)
        atomic_store(&j->cancel, true);
}

static void *push_run(void *arg)
{
    push_job *j = arg;
    j->digest = images_push(j->e, &j->o, &j->err);
    return NULL;
}

void api_images_push(api_ws_session *s, json_t *config)
{
    json_t *errors = NULL;
    _cleanup_json_ json_t *cfg = schema_cast(&schema_image_push_config, config, &errors);
    if (!cfg) {
        const char *msg = schema_first_error_message(errors);
        api_ws_send_text(s, msg, strlen(msg));
        json_decref(errors);
        api_ws_close(s, KL_WS_CLOSE_PROTOCOL_ERROR, "error", "invalid parameters", "");
        return;
    }
    if (api_ws_send_message(s, "starting", "", "") < 0)
        return;
    push_job *j = xcalloc(1, sizeof(*j));
    j->s = s;
    j->e = api_ws_ctx(s)->engine;
    j->err = (kl_error)KL_ERROR_INIT;
    atomic_init(&j->cancel, false);
    const char *ref = jx_str(cfg, "reference", "");
    j->o = (images_push_opts){.image = jx_str(cfg, "image", ""),
                              .reference = *ref ? ref : jx_str(cfg, "image", ""),
                              .username = jx_str(json_object_get(cfg, "auth"), "username", NULL),
                              .password = jx_str(json_object_get(cfg, "auth"), "password", NULL),
                              .output = push_output,
                              .output_ctx = j,
                              .cancel = &j->cancel};
    api_ws_run_job(s, push_run, j, &j->cancel, "image push");
    if (j->digest) {
        api_ws_close(s, KL_WS_CLOSE_NORMAL, "closing", "image pushed", j->digest);
    } else {
        log_info("image push failed: %s", j->err.msg);
        api_ws_send_text(s, j->err.msg, strlen(j->err.msg));
        _cleanup_free_ char *m = xasprintf("image push failed: %s", j->err.msg);
        api_ws_close(s, KL_WS_CLOSE_INTERNAL_ERROR, "error", m, "");
    }
    free(j->digest);
    free(j);
}
