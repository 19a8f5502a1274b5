/* Exec instances over the API (API.md §6 Exec, §7.3, §8.2), container stop (§6 Containers)
 * and the container log (ours, docs/api.md).
 *
 * The /exec/start WebSocket relays the engine's exec stream (exec.h) in both directions in
 * the session's thread: it polls the stream and the client socket, sends output as text
 * frames (or, with our opt-in `multiplex`, as binary frames that name the stream), writes
 * every client frame to the process's stdin (with `multiplex`: binary frames; text frames are
 * control messages: end of input, terminal size). A client that goes away (or stays silent
 * past the idle timeout) stops the process with SIGTERM, like the original (decision 18).
 *
 * It must not: reach past the engine (host/) for the stream. */
#include "api/handlers.h"
#include "api/schema.h"
#include "api/wsession.h"
#include "engine/engine.h"
#include "engine/exec.h"
#include "lib/buf.h"
#include "lib/cleanup.h"
#include "lib/jsonx.h"
#include "lib/log.h"
#include "lib/signame.h"
#include "lib/xalloc.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

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
    /* ours: ?timeout=seconds of grace (the original sends no query) */
    json_t *t = json_object_get(req->query, "timeout");
    long long timeout = json_is_integer(t) ? json_integer_value(t) : -1;
    if (t && (timeout < 0 || timeout > 86400))
        return api_reply_message(res, 422, "invalid timeout: must be between 0 and 86400 seconds");
    if (exec_container_stop(req->ctx->engine, req->params[0], (int)timeout, id, &err) < 0)
        return api_reply_message(res, 404, "%s", err.msg);
    api_reply_id(res, 200, id);
}

void api_containers_kill(api_request *req, api_response *res)
{
    const char *name = jx_str(req->query, "signal", "KILL");
    int sig = kl_signal_parse(name); /* any signal: lib/signame.h */
    if (sig < 0)
        return api_reply_message(res, 422, "invalid signal '%s'", name);
    kl_error err = KL_ERROR_INIT;
    char id[13];
    if (exec_container_kill(req->ctx->engine, req->params[0], sig, id, &err) == 0)
        return api_reply_id(res, 200, id);
    int status = err.code == ENOENT || err.code == ENOTUNIQ ? 404
                 : err.code == EINVAL                       ? 422
                 : err.code == ENOTCONN                     ? 409
                                                            : 500;
    api_reply_message(res, status, "%s", err.msg);
}

static bool client_gone(int fd);

static bool wait_abandoned(void *ud)
{
    return client_gone(*(int *)ud);
}

void api_containers_wait(api_request *req, api_response *res)
{
    kl_error err = KL_ERROR_INIT;
    char id[13];
    int code;
    int fd = req->client_fd;
    if (exec_container_wait(req->ctx->engine, req->params[0], wait_abandoned, &fd, id, &code,
                            &err) < 0)
        return api_reply_message(res, err.code == ENOENT || err.code == EINVAL ? 404 : 500, "%s",
                                 err.msg);
    api_reply_json(res, 200,
                   json_pack("{s:s, s:o}", "id", id, "exit_code",
                             code >= 0 ? json_integer(code) : json_null()));
}

/* ---- logs ------------------------------------------------------------------------------- */

typedef struct log_stream {
    exec_log *log;
    int client_fd;
    bool want[3]; /* by EXEC_STDOUT, EXEC_STDERR */
    bool multiplex;
    /* ours, opt-in (docs/api.md): timestamps, since, tail */
    bool timestamps;
    bool at_line_start[3];
    char since[32];       /* canonical UTC time ("" = none): older entries are left out */
    long long skip_lines; /* tail: lines to leave out first */
    kl_buf entry;         /* one entry with its timestamp */
    kl_buf pending;
    size_t pending_off;
} log_stream;

/* "YYYY-MM-DDTHH:MM:SS[.f...]Z" → the log's own form with 6 fraction digits, so that times
 * compare as strings. false if `in` is not such a time. */
static bool canonical_time(const char *in, char out[32])
{
    static const char shape[] = "dddd-dd-ddTdd:dd:dd";
    size_t i = 0;
    for (; shape[i]; i++)
        if (shape[i] == 'd' ? !(in[i] >= '0' && in[i] <= '9') : in[i] != shape[i])
            return false;
    memcpy(out, in, 19);
    char frac[7] = "000000";
    const char *p = in + 19;
    if (*p == '.') {
        p++;
        for (size_t k = 0; *p >= '0' && *p <= '9'; p++, k++)
            if (k < 6)
                frac[k] = *p;
    }
    if (p[0] != 'Z' || p[1] != '\0')
        return false;
    snprintf(out + 19, 13, ".%sZ", frac);
    return true;
}

/* Is the entry one the request wants (its stream, and not older than since)? */
static bool log_entry_wanted(const log_stream *ls, const exec_log_entry *en)
{
    if (!en->len || !ls->want[en->stream == EXEC_STDERR ? EXEC_STDERR : EXEC_STDOUT])
        return false;
    return !ls->since[0] || (en->time && en->time[0] && strcmp(en->time, ls->since) >= 0);
}

static bool ends_line(const exec_log_entry *en)
{
    return en->len && ((const char *)en->data)[en->len - 1] == '\n';
}

static bool client_gone(int fd)
{
    if (fd < 0)
        return false;
    struct pollfd pf = {.fd = fd, .events = POLLRDHUP};
    return poll(&pf, 1, 0) > 0 && (pf.revents & (POLLRDHUP | POLLHUP | POLLERR));
}

/* Multiplexed: an 8-byte header (the stream: 1 stdout, 2 stderr; three zero bytes; the
 * length, 32 bits big-endian) before each entry's bytes. */
static void log_stream_put(log_stream *ls, const exec_log_entry *orig)
{
    exec_log_entry stamped = *orig;
    const exec_log_entry *en = orig;
    int s = orig->stream == EXEC_STDERR ? EXEC_STDERR : EXEC_STDOUT;
    if (ls->timestamps) {
        kl_buf_reset(&ls->entry);
        if (ls->at_line_start[s] && orig->time && orig->time[0]) {
            kl_buf_puts(&ls->entry, orig->time);
            kl_buf_append(&ls->entry, " ", 1);
        }
        kl_buf_append(&ls->entry, orig->data, orig->len);
        stamped.data = ls->entry.data;
        stamped.len = ls->entry.len;
        en = &stamped;
        ls->at_line_start[s] = ends_line(orig);
    }
    if (ls->multiplex) {
        unsigned char h[8] = {(unsigned char)en->stream,
                              0,
                              0,
                              0,
                              (unsigned char)(en->len >> 24),
                              (unsigned char)(en->len >> 16),
                              (unsigned char)(en->len >> 8),
                              (unsigned char)en->len};
        kl_buf_append(&ls->pending, h, sizeof(h));
    }
    kl_buf_append(&ls->pending, en->data, en->len);
}

static ssize_t log_stream_read(void *ctx, char *buf, size_t max)
{
    log_stream *ls = ctx;
    while (ls->pending_off >= ls->pending.len) {
        kl_buf_reset(&ls->pending);
        ls->pending_off = 0;
        exec_log_entry en;
        kl_error err = KL_ERROR_INIT;
        int r = exec_log_read(ls->log, &en, 1000, &err);
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
        if (!log_entry_wanted(ls, &en))
            continue;
        if (ls->skip_lines > 0) {
            if (ends_line(&en))
                ls->skip_lines--;
            continue;
        }
        log_stream_put(ls, &en);
    }
    size_t left = ls->pending.len - ls->pending_off;
    size_t n = left < max ? left : max;
    memcpy(buf, ls->pending.data + ls->pending_off, n);
    ls->pending_off += n;
    return (ssize_t)n;
}

static void log_stream_free(void *ctx)
{
    log_stream *ls = ctx;
    exec_log_close(ls->log);
    kl_buf_free(&ls->pending);
    kl_buf_free(&ls->entry);
    free(ls);
}

/* The lines of the log as it is now that the request wants (for tail). -1 on error. */
static long long log_count_lines(api_request *req, const log_stream *ls)
{
    kl_error err = KL_ERROR_INIT;
    exec_log *l = exec_log_open(req->ctx->engine, req->params[0], false, &err);
    if (!l)
        return -1;
    long long n = 0;
    bool partial = false;
    exec_log_entry en;
    int r;
    while ((r = exec_log_read(l, &en, 1000, &err)) == 1) {
        if (!log_entry_wanted(ls, &en))
            continue;
        partial = !ends_line(&en);
        n += !partial;
    }
    exec_log_close(l);
    return r < 0 ? -1 : n + partial;
}

void api_containers_logs(api_request *req, api_response *res)
{
    kl_error err = KL_ERROR_INIT;
    char since[32] = "";
    const char *since_q = jx_str(req->query, "since", NULL);
    if (since_q && since_q[0] && !canonical_time(since_q, since))
        return api_reply_message(res, 422,
                                 "invalid since '%.64s': expected a UTC time like "
                                 "2026-12-07T10:13:01Z",
                                 since_q);
    json_t *tail_q = json_object_get(req->query, "tail");
    if (json_is_integer(tail_q) && json_integer_value(tail_q) < 0)
        return api_reply_message(res, 422, "invalid tail: must be 0 or more");
    exec_log *l =
        exec_log_open(req->ctx->engine, req->params[0], jx_bool(req->query, "follow", false), &err);
    if (!l)
        return api_reply_message(res, err.code == ENOENT || err.code == EINVAL ? 404 : 500, "%s",
                                 err.msg);
    log_stream *ls = xcalloc(1, sizeof(*ls));
    ls->log = l;
    ls->client_fd = req->client_fd;
    ls->want[EXEC_STDOUT] = jx_bool(req->query, "stdout", true);
    ls->want[EXEC_STDERR] = jx_bool(req->query, "stderr", true);
    ls->multiplex = jx_bool(req->query, "multiplex", false);
    ls->timestamps = jx_bool(req->query, "timestamps", false);
    ls->at_line_start[EXEC_STDOUT] = ls->at_line_start[EXEC_STDERR] = true;
    memcpy(ls->since, since, sizeof(since));
    if (json_is_integer(tail_q)) {
        long long lines = log_count_lines(req, ls);
        long long tail = (long long)json_integer_value(tail_q);
        ls->skip_lines = lines > tail ? lines - tail : 0;
    }
    api_reply_stream(res, 200,
                     ls->multiplex ? "application/vnd.kleene.multiplexed-stream"
                                   : "application/octet-stream",
                     log_stream_read, ls, log_stream_free);
}

/* ---- WebSocket exec start (API.md 7.3) ---------------------------------------------- */

#define STARTING_MULTIPLEX                                                                         \
    "{\"data\":\"\",\"message\":\"\",\"msg_type\":\"starting\",\"multiplex\":true}"

/* An output chunk to the client: as it is in a text frame (the original's protocol), or with
 * multiplex a binary frame whose first byte is the stream. */
static int send_output(api_ws_session *s, bool multiplex, int stream, const void *data, size_t len)
{
    if (!multiplex)
        return api_ws_send_text(s, data, len);
    _cleanup_buf_ kl_buf b = KL_BUF_INIT;
    unsigned char tag = (unsigned char)stream;
    kl_buf_reserve(&b, len + 1);
    kl_buf_append(&b, &tag, 1);
    kl_buf_append(&b, data, len);
    return api_ws_send_binary(s, b.data, b.len);
}

/* A control message of a multiplexed session (docs/api.md). 0, or -1 with *why set when it is
 * not one we know. */
static int control(exec_stream *st, const kl_ws_message *msg, const char **why)
{
    _cleanup_json_ json_t *j = json_loadb((const char *)msg->data, msg->len, 0, NULL);
    const char *type = jx_str(j, "msg_type", NULL);
    kl_error err = KL_ERROR_INIT;
    if (!json_is_object(j) || !type) {
        *why = "invalid control message: not a JSON object with a msg_type";
        return -1;
    }
    if (strcmp(type, "close_stdin") == 0) {
        if (exec_stream_close_stdin(st, &err) < 0)
            log_debug("exec %s: close stdin: %s", exec_stream_exec_id(st), err.msg);
        return 0;
    }
    if (strcmp(type, "resize") == 0) {
        json_t *rows = json_object_get(j, "rows"), *cols = json_object_get(j, "cols");
        if (!json_is_integer(rows) || !json_is_integer(cols) || json_integer_value(rows) < 1 ||
            json_integer_value(rows) > 65535 || json_integer_value(cols) < 1 ||
            json_integer_value(cols) > 65535) {
            *why = "invalid control message: resize needs rows and cols (1-65535)";
            return -1;
        }
        if (exec_stream_resize(st, (unsigned)json_integer_value(rows),
                               (unsigned)json_integer_value(cols), &err) < 0)
            log_debug("exec %s: resize: %s", exec_stream_exec_id(st), err.msg);
        return 0;
    }
    *why = "invalid control message: unknown msg_type";
    return -1;
}

/* Relay until the process ends (1) or the client is gone (0); -1 after closing the session
 * for a control message we do not understand. */
static int relay(api_ws_session *s, exec_stream *st, bool multiplex)
{
    for (;;) {
        struct pollfd pf[2] = {{.fd = exec_stream_fd(st), .events = POLLIN},
                               {.fd = api_ws_fd(s), .events = POLLIN}};
        int timeout = api_ws_has_pending_input(s) ? 0 : 1000;
        int n = poll(pf, 2, timeout);
        if (n < 0 && errno != EINTR)
            return 0;
        if (n > 0 && (pf[0].revents & (POLLIN | POLLHUP | POLLERR))) {
            const void *data;
            size_t len;
            int stream;
            kl_error err = KL_ERROR_INIT;
            int r = exec_stream_read(st, &stream, &data, &len, 1000, &err);
            if (r == 0)
                return 1;
            if (r == 1 && len && send_output(s, multiplex, stream, data, len) < 0)
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
            kl_error err = KL_ERROR_INIT;
            if (multiplex && msg.opcode == KL_WS_OP_TEXT) {
                const char *why = NULL;
                if (control(st, &msg, &why) < 0) {
                    api_ws_close(s, KL_WS_CLOSE_PROTOCOL_ERROR, "error", why, "");
                    return -1;
                }
                continue;
            }
            if (msg.opcode != KL_WS_OP_TEXT && msg.opcode != KL_WS_OP_BINARY)
                continue;
            if (exec_stream_write(st, msg.data, msg.len, &err) < 0)
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
    bool start_container = jx_bool(cfg, "start_container", false);
    kl_error err = KL_ERROR_INIT;
    exec_stream *st = NULL;
    int r;
    if (attach) {
        st = exec_stream_open(e, exec_id, start_container, &err);
        r = st ? 0 : -1;
    } else {
        exec_started started;
        r = exec_start(e, exec_id, false, start_container, &started, &err);
    }
    if (r < 0) {
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
    /* With multiplex, "starting" says that it is on (a daemon that does not know the field
     * would not): {"data":"","message":"","msg_type":"starting","multiplex":true}. */
    bool multiplex = jx_bool(cfg, "multiplex", false);
    int sent = multiplex ? api_ws_send_text(s, STARTING_MULTIPLEX, strlen(STARTING_MULTIPLEX))
                         : api_ws_send_message(s, "starting", "", "");
    if (sent == 0 && relay(s, st, multiplex) == 1) {
        int code;
        bool running;
        exec_stream_exit(st, &code, &running);
        _cleanup_free_ char *msg =
            running ? xasprintf("%s has exited with exit-code %d", exec_id, code)
                    : xasprintf("executable %s and its container exited with exit-code %d", exec_id,
                                code);
        api_ws_close(s, KL_WS_CLOSE_NORMAL, "closing", msg, "");
    }
    /* After the reply: what follows the end is off the client's path. */
    exec_stream_close(st);
}
