/* The /images/create WebSocket (API.md §7.2, §8.4; DESIGN.md §2 for the Linux meaning of the
 * methods): cast the config frame, send "starting", run images_create() in a worker thread
 * that streams its progress lines as text frames, and close with the JSON reason.
 *
 * While the worker runs, this (the session's) thread keeps reading the socket: that answers
 * the client's pings and notices a client that goes away, which cancels the creation (the
 * engine then removes whatever it made). The worker wakes it through a pipe when it is done,
 * so the reply does not wait for a polling period. */
#include "api/handlers.h"
#include "api/schema.h"
#include "api/wsession.h"
#include "engine/engine.h"
#include "engine/images.h"
#include "lib/cleanup.h"
#include "lib/jsonx.h"
#include "lib/log.h"
#include "lib/xalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <unistd.h>

typedef struct create_job {
    api_ws_session *s;
    kl_engine *e;
    images_create_opts o;
    atomic_bool cancel;
    atomic_bool done;
    int wake[2]; /* the worker writes a byte to wake[1] when it is done */
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
    atomic_store(&j->done, true);
    if (j->wake[1] >= 0)
        KL_RETRY_EINTR(write(j->wake[1], "", 1));
    return NULL;
}

/* Serve the socket until the worker is done (1) or the client is gone (0). */
static int watch_client(api_ws_session *s, create_job *j)
{
    while (!atomic_load(&j->done)) {
        struct pollfd pf[2] = {{.fd = api_ws_fd(s), .events = POLLIN},
                               {.fd = j->wake[0], .events = POLLIN}};
        int n = poll(pf, 2, api_ws_has_pending_input(s) ? 0 : 1000);
        if (n < 0 && errno != EINTR)
            return 0;
        if (atomic_load(&j->done))
            return 1;
        /* also on a timeout: recv enforces the session's idle timeout */
        for (;;) {
            kl_ws_message msg;
            int r = api_ws_recv(s, &msg, 0);
            if (r < 0)
                return 0;
            if (r == 0)
                break;
        }
    }
    return 1;
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

    create_job *j = xcalloc(1, sizeof(*j));
    j->s = s;
    j->e = api_ws_ctx(s)->engine;
    j->err = (kl_error)KL_ERROR_INIT;
    atomic_init(&j->cancel, false);
    atomic_init(&j->done, false);
    if (pipe2(j->wake, O_CLOEXEC) < 0)
        j->wake[0] = j->wake[1] = -1;
    j->o = (images_create_opts){
        .method = jx_str(cfg, "method", ""),
        .url = jx_str(cfg, "url", ""),
        .dataset = jx_str(cfg, "zfs_dataset", ""),
        .tag = jx_str(cfg, "tag", ""),
        .autotag = jx_bool(cfg, "autotag", false),
        .dns = jx_bool(cfg, "dns", true),
        .localtime = jx_bool(cfg, "localtime", true),
        .update = jx_bool(cfg, "update", false),
        .output = job_output,
        .output_ctx = j,
        .cancel = &j->cancel,
    };
    pthread_t t;
    if (j->wake[0] < 0 || pthread_create(&t, NULL, job_run, j) != 0) {
        job_run(j);
    } else {
        if (!watch_client(s, j)) {
            log_info("image create: the client went away, cancelling");
            atomic_store(&j->cancel, true);
        }
        pthread_join(t, NULL);
    }
    if (j->wake[0] >= 0) {
        close(j->wake[0]);
        close(j->wake[1]);
    }
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
