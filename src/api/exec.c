/* Exec instances over the API (API.md §6 Exec, §7.3, §8.2), container stop (§6 Containers)
 * and the container log (ours, docs/api.md).
 *
 * The /exec/start WebSocket relays in both directions in the session's thread: it polls the
 * monitor stream and the client socket, sends output as text frames, writes every client
 * text/binary frame to the process's stdin (or pty). A client that goes away (or stays silent
 * past the idle timeout) stops the process with SIGTERM, like the original (decision 18). */
#include "api/handlers.h"
#include "api/schema.h"
#include "api/wsession.h"
#include "engine/engine.h"
#include "engine/exec.h"
#include "host/monitor.h"
#include "lib/cleanup.h"
#include "lib/jsonx.h"
#include "lib/log.h"
#include "lib/xalloc.h"

#include <errno.h>
#include <poll.h>
#include <string.h>

/* ---- REST ------------------------------------------------------------------------------- */

void api_exec_create(api_request *req, api_response *res)
{
    kl_error err = KL_ERROR_INIT;
    _cleanup_free_ char *id = exec_create(req->ctx->engine, req->body, &err);
    if (!id)
        return api_reply_message(res, 404, "%s", err.msg); /* the only error status declared */
    api_reply_id(res, 201, id);
}

void api_exec_stop(api_request *req, api_response *res)
{
    kl_error err = KL_ERROR_INIT;
    if (exec_stop(req->ctx->engine, req->params[0], jx_bool(req->query, "force_stop", false),
                  jx_bool(req->query, "stop_container", false), &err) < 0)
        return api_reply_message(res, 404, "%s", err.msg);
    api_reply_id(res, 200, req->params[0]);
}

void api_containers_stop(api_request *req, api_response *res)
{
    kl_error err = KL_ERROR_INIT;
    char id[13];
    if (exec_container_stop(req->ctx->engine, req->params[0], id, &err) < 0)
        return api_reply_message(res, 404, "%s", err.msg);
    api_reply_id(res, 200, id);
}

/* ---- logs ------------------------------------------------------------------------------- */

typedef struct log_stream {
    exec_log *log;
    int client_fd;
    const unsigned char *pending;
    size_t pending_len;
} log_stream;

static bool client_gone(int fd)
{
    if (fd < 0)
        return false;
    struct pollfd pf = {.fd = fd, .events = POLLRDHUP};
    return poll(&pf, 1, 0) > 0 && (pf.revents & (POLLRDHUP | POLLHUP | POLLERR));
}

static ssize_t log_stream_read(void *ctx, char *buf, size_t max)
{
    log_stream *ls = ctx;
    while (!ls->pending_len) {
        const void *data;
        size_t len;
        kl_error err = KL_ERROR_INIT;
        int r = exec_log_read(ls->log, &data, &len, 1000, &err);
        if (r == 0)
            return API_STREAM_END;
        if (r == -2) {
            if (client_gone(ls->client_fd))
                return API_STREAM_ERROR;
            continue;
        }
        if (r < 0) {
            log_info("container log: %s", err.msg);
            return API_STREAM_ERROR;
        }
        ls->pending = data;
        ls->pending_len = len;
    }
    size_t n = ls->pending_len < max ? ls->pending_len : max;
    memcpy(buf, ls->pending, n);
    ls->pending += n;
    ls->pending_len -= n;
    return (ssize_t)n;
}

static void log_stream_free(void *ctx)
{
    log_stream *ls = ctx;
    exec_log_close(ls->log);
    free(ls);
}

void api_containers_logs(api_request *req, api_response *res)
{
    kl_error err = KL_ERROR_INIT;
    exec_log *l =
        exec_log_open(req->ctx->engine, req->params[0], jx_bool(req->query, "follow", false), &err);
    if (!l)
        return api_reply_message(res, err.code == ENOENT || err.code == EINVAL ? 404 : 500, "%s",
                                 err.msg);
    log_stream *ls = xcalloc(1, sizeof(*ls));
    ls->log = l;
    ls->client_fd = req->client_fd;
    api_reply_stream(res, 200, "application/octet-stream", log_stream_read, ls, log_stream_free);
}

/* ---- WebSocket exec start (API.md 7.3) ---------------------------------------------- */

/* The client went away while attached: stop the process (API.md §7.3 step 6). */
static void stop_abandoned(kl_engine *e, const char *exec_id)
{
    kl_error err = KL_ERROR_INIT;
    log_info("exec %s: the attached client went away, stopping the process", exec_id);
    if (exec_stop(e, exec_id, false, false, &err) < 0)
        log_info("exec %s: stopping: %s", exec_id, err.msg);
}

/* Relay until the process ends (1, with exit_code and container_running set) or the client is gone
 * (0). */
static int relay(api_ws_session *s, host_monitor *m, int *exit_code, bool *container_running)
{
    for (;;) {
        struct pollfd pf[2] = {{.fd = host_monitor_fd(m), .events = POLLIN},
                               {.fd = api_ws_fd(s), .events = POLLIN}};
        int timeout = api_ws_has_pending_input(s) ? 0 : 1000;
        int n = poll(pf, 2, timeout);
        if (n < 0 && errno != EINTR)
            return 0;
        if (n > 0 && (pf[0].revents & (POLLIN | POLLHUP | POLLERR))) {
            const void *data;
            size_t len;
            kl_error err = KL_ERROR_INIT;
            int r =
                host_monitor_stream_recv(m, &data, &len, exit_code, container_running, 1000, &err);
            if (r == 0)
                return 1;
            if (r < 0) {
                /* The monitor is gone without an end frame: the container died with it. */
                log_warn("exec stream: %s", err.msg);
                *exit_code = 137;
                *container_running = false;
                return 1;
            }
            if (len && api_ws_send_text(s, data, len) < 0)
                return 0;
        }
        /* Also on a timeout: recv enforces the session's idle timeout. */
        for (;;) {
            kl_ws_message msg;
            int r = api_ws_recv(s, &msg, 0);
            if (r < 0)
                return 0;
            if (r == 0)
                break;
            if (msg.opcode != KL_WS_OP_TEXT && msg.opcode != KL_WS_OP_BINARY)
                continue;
            kl_error err = KL_ERROR_INIT;
            if (msg.len && host_monitor_stream_input(m, msg.data, msg.len, &err) < 0)
                log_debug("exec stream: input: %s", err.msg);
        }
    }
}

void api_exec_start(api_ws_session *s, json_t *config)
{
    json_t *errors = NULL;
    _cleanup_json_ json_t *cfg = schema_cast(&schema_exec_start_config, config, &errors);
    if (!cfg) {
        _cleanup_free_ char *m =
            xasprintf("invalid parameters: %s", schema_first_error_message(errors));
        json_decref(errors);
        api_ws_close(s, KL_WS_CLOSE_PROTOCOL_ERROR, "error", m, "");
        return;
    }
    kl_engine *e = api_ws_ctx(s)->engine;
    const char *exec_id = jx_str(cfg, "exec_id", "");
    bool attach = jx_bool(cfg, "attach", false);
    exec_started st;
    kl_error err = KL_ERROR_INIT;
    if (exec_start(e, exec_id, attach, jx_bool(cfg, "start_container", false), &st, &err) < 0) {
        log_info("exec %s: start failed: %s", exec_id, err.msg);
        _cleanup_free_ char *t = xasprintf("error: %s", err.msg);
        api_ws_send_text(s, t, strlen(t));
        api_ws_close(s, KL_WS_CLOSE_INTERNAL_ERROR, "error", "error starting exec instance", "");
        return;
    }
    if (!attach) {
        api_ws_close(s, KL_WS_CLOSE_GOING_AWAY, "closing",
                     "succesfully started execution instance in detached mode", "");
        return;
    }
    host_monitor *m = st.stream;
    int code = -1;
    bool running = false;
    int r = api_ws_send_message(s, "starting", "", "") < 0 ? 0 : relay(s, m, &code, &running);
    host_monitor_close(m);
    if (r == 0) {
        stop_abandoned(e, exec_id);
        if (st.started_container)
            exec_release_rootfs(e, st.container_id);
        return;
    }
    exec_ended(e, exec_id, code);
    _cleanup_free_ char *msg =
        running
            ? xasprintf("%s has exited with exit-code %d", exec_id, code)
            : xasprintf("executable %s and its container exited with exit-code %d", exec_id, code);
    api_ws_close(s, KL_WS_CLOSE_NORMAL, "closing", msg, "");
    exec_after_end(e, exec_id, running);
    /* After the reply: the unmount (most of a millisecond) is off the client's path. */
    if (st.started_container)
        exec_release_rootfs(e, st.container_id);
}
