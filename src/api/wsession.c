/* WebSocket upgrade and the common session protocol (API.md §7.1).
 *
 * The server gives every connection a thread of its own, so a session may block: it runs in its
 * connection's thread, over the connection's transport (plain or TLS). */
#include "api/wsession.h"
#include "api/handlers.h"
#include "lib/cleanup.h"
#include "lib/log.h"
#include "lib/xalloc.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <sys/eventfd.h>
#include <unistd.h>
#include <string.h>

struct api_ws_session {
    kl_ws_conn *conn;
    api_ctx *ctx;
    const api_route *route;
    bool closed;
};

api_ctx *api_ws_ctx(api_ws_session *s)
{
    return s->ctx;
}

char *api_ws_message_json(const char *msg_type, const char *message, const char *data)
{
    json_t *j = json_pack("{s:s, s:s, s:s}", "data", data ? data : "", "message",
                          message ? message : "", "msg_type", msg_type ? msg_type : "");
    char *s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(j);
    return s ? s : xstrdup("{}");
}

/* A close reason must fit 123 bytes: shorten the message (at a UTF-8 boundary) until the JSON
 * does, so the reason stays valid JSON. */
static char *close_reason(const char *msg_type, const char *message, const char *data)
{
    _cleanup_free_ char *msg = xstrdup(message ? message : "");
    _cleanup_free_ char *dat = xstrdup(data ? data : "");
    for (;;) {
        char *j = api_ws_message_json(msg_type, msg, dat);
        if (strlen(j) <= KL_WS_MAX_CLOSE_REASON)
            return j;
        free(j);
        char *victim = strlen(msg) ? msg : dat;
        size_t n = strlen(victim);
        if (n == 0)
            return api_ws_message_json(msg_type, "", "");
        n--;
        while (n > 0 && ((unsigned char)victim[n] & 0xC0) == 0x80)
            n--;
        victim[n] = '\0';
    }
}

int api_ws_send_text(api_ws_session *s, const void *data, size_t n)
{
    kl_error err = KL_ERROR_INIT;
    if (s->closed)
        return -1;
    return kl_ws_conn_send_text(s->conn, data, n, &err) < 0 ? -1 : 0;
}

int api_ws_send_binary(api_ws_session *s, const void *data, size_t n)
{
    kl_error err = KL_ERROR_INIT;
    if (s->closed)
        return -1;
    return kl_ws_conn_send_binary(s->conn, data, n, &err) < 0 ? -1 : 0;
}

int api_ws_send_message(api_ws_session *s, const char *msg_type, const char *message,
                        const char *data)
{
    _cleanup_free_ char *j = api_ws_message_json(msg_type, message, data);
    return api_ws_send_text(s, j, strlen(j));
}

void api_ws_close(api_ws_session *s, uint16_t code, const char *msg_type, const char *message,
                  const char *data)
{
    if (s->closed)
        return;
    s->closed = true;
    _cleanup_free_ char *reason = close_reason(msg_type, message, data);
    kl_error err = KL_ERROR_INIT;
    if (kl_ws_conn_close(s->conn, code, reason, 2000, &err) < 0)
        log_debug("websocket %s: close: %s", s->route->pattern, err.msg);
}

bool api_ws_is_closed(api_ws_session *s)
{
    return s->closed || kl_ws_conn_close_received(s->conn);
}

int api_ws_recv(api_ws_session *s, kl_ws_message *msg, int timeout_ms)
{
    kl_error err = KL_ERROR_INIT;
    int r = kl_ws_conn_recv(s->conn, msg, timeout_ms, &err);
    if (r < 0)
        return -1;
    if (r == 1 && msg->opcode == KL_WS_OP_CLOSE) {
        s->closed = true;
        return -1;
    }
    return r;
}

int api_ws_fd(api_ws_session *s)
{
    return kl_ws_conn_fd(s->conn);
}

bool api_ws_has_pending_input(api_ws_session *s)
{
    return kl_ws_conn_has_pending_input(s->conn);
}

typedef struct ws_job {
    void *(*fn)(void *);
    void *arg;
    int done_fd; /* eventfd, written when fn has returned */
} ws_job;

static void *ws_job_thread(void *p)
{
    ws_job *j = p;
    j->fn(j->arg);
    uint64_t one = 1;
    if (write(j->done_fd, &one, sizeof(one)) < 0)
        log_warn("websocket job: signalling its end: %s", strerror(errno));
    return NULL;
}

bool api_ws_run_job(api_ws_session *s, void *(*fn)(void *), void *arg, atomic_bool *cancel,
                    const char *what)
{
    ws_job j = {.fn = fn, .arg = arg, .done_fd = eventfd(0, EFD_CLOEXEC)};
    pthread_t t;
    if (j.done_fd < 0 || pthread_create(&t, NULL, ws_job_thread, &j) != 0) {
        if (j.done_fd >= 0)
            close(j.done_fd);
        fn(arg); /* no thread: run it here, unwatched */
        return false;
    }
    bool gone = false;
    for (;;) {
        struct pollfd p[2] = {{.fd = j.done_fd, .events = POLLIN},
                              {.fd = api_ws_fd(s), .events = POLLIN}};
        /* A bounded wait while the client is there: recv's idle and keepalive checks run. */
        int timeout = gone ? -1 : api_ws_has_pending_input(s) ? 0 : 1000;
        int r = poll(p, gone ? 1 : 2, timeout);
        if (r < 0 && errno != EINTR)
            break; /* cannot watch: just wait for the job below */
        if (r > 0 && (p[0].revents & POLLIN))
            break;
        if (gone)
            continue;
        kl_ws_message msg;
        if (api_ws_recv(s, &msg, 0) < 0) {
            log_info("%s: the client went away, cancelling", what);
            atomic_store(cancel, true);
            gone = true;
        }
    }
    pthread_join(t, NULL);
    close(j.done_fd);
    return gone;
}

/* Read the config frame: the first text (or binary) message. Pongs are skipped. */
static json_t *read_config(api_ws_session *s)
{
    for (;;) {
        kl_ws_message msg;
        int r = api_ws_recv(s, &msg, (int)s->ctx->ws_idle_timeout * 1000);
        if (r <= 0) {
            if (r == 0 && !s->closed) /* nothing in the idle period */
                api_ws_close(s, KL_WS_CLOSE_PROTOCOL_ERROR, "error", "no config received", "");
            return NULL;
        }
        if (msg.opcode != KL_WS_OP_TEXT && msg.opcode != KL_WS_OP_BINARY)
            continue;
        json_t *config = json_loadb((const char *)msg.data, msg.len, 0, NULL);
        if (!config || !json_is_object(config)) {
            json_decref(config);
            /* API.md §7.1 and decision 14: a clean 1002, never a crash. */
            api_ws_close(s, KL_WS_CLOSE_PROTOCOL_ERROR, "error", "invalid json", "");
            return NULL;
        }
        return config;
    }
}

void api_ws_run(const kl_ws_transport *t, const void *preload, size_t preload_len, api_ctx *ctx,
                const api_route *route, void (*configured)(void *arg), void *arg)
{
    api_ws_session s = {
        .conn = kl_ws_conn_new(KL_WS_ROLE_SERVER, t, 0), .ctx = ctx, .route = route};
    if (preload_len)
        kl_ws_conn_preload(s.conn, preload, preload_len);
    kl_ws_conn_set_idle_timeout(s.conn, (int)s.ctx->ws_idle_timeout * 1000);
    kl_ws_conn_set_send_timeout(s.conn, 30000);
    log_debug("websocket %s: session started", s.route->pattern);

    json_t *config = read_config(&s);
    if (config && configured)
        configured(arg);
    if (config) {
        s.route->ws_handler(&s, config);
        json_decref(config);
        if (!s.closed)
            api_ws_close(&s, KL_WS_CLOSE_INTERNAL_ERROR, "error", "", "");
    }
    log_debug("websocket %s: session ended", s.route->pattern);
    kl_ws_conn_free(s.conn);
}

void api_ws_not_implemented(api_ws_session *s, json_t *config)
{
    api_ws_send_message(s, "starting", "", "");
    api_ws_close(s, KL_WS_CLOSE_INTERNAL_ERROR, "error",
                 "this endpoint is not implemented yet by this kleened", "");
}
