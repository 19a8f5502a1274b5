/* klee's WebSocket client (see wsclient.h): lib/ws's connection over cli/http's raw stream,
 * and the session protocol shared by image create, image build and exec. It prints only
 * connection failures, non-JSON first frames and (when asked) the closing message. */
#include "cli/wsclient.h"
#include "lib/cleanup.h"
#include "lib/jsonx.h"
#include "lib/xalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

struct wsclient {
    cli_ctx *ctx;
    http_stream *stream;
    kl_ws_conn *conn;
};

/* ---- WebSocketMessage ---------------------------------------------------------------- */

void wsclient_msg_free(wsclient_msg *m)
{
    free(m->msg_type);
    free(m->message);
    free(m->data);
    memset(m, 0, sizeof(*m));
}

int wsclient_msg_parse(const void *s, size_t n, wsclient_msg *out)
{
    memset(out, 0, sizeof(*out));
    _cleanup_json_ json_t *j = json_loadb(s, n, 0, NULL);
    if (!json_is_object(j) || !json_is_string(json_object_get(j, "msg_type")))
        return -1;
    out->msg_type = xstrdup(jx_str(j, "msg_type", ""));
    out->message = xstrdup(jx_str(j, "message", ""));
    out->data = xstrdup(jx_str(j, "data", ""));
    out->multiplex = jx_bool(j, "multiplex", false);
    return 0;
}

void wsclient_result_free(wsclient_result *r)
{
    wsclient_msg_free(&r->start);
    wsclient_msg_free(&r->reason);
}

void wsclient_result_set_close(wsclient_result *r, int code, const void *reason, size_t n)
{
    wsclient_msg_free(&r->reason);
    r->code = code;
    r->reason_is_json = wsclient_msg_parse(reason, n, &r->reason) == 0;
    if (!r->reason_is_json) {
        r->reason.msg_type = xstrdup("");
        r->reason.message = xstrndup(reason, n);
        r->reason.data = xstrdup("");
    }
}

/* ---- transport over http_stream ------------------------------------------------------ */

static ssize_t stream_read(void *ctx, void *buf, size_t n)
{
    kl_error err = KL_ERROR_INIT;
    ssize_t r = http_stream_recv(ctx, buf, n, 0, &err);
    if (r < 0)
        errno = err.code == ETIMEDOUT ? EAGAIN : (err.code ? err.code : EIO);
    return r;
}

static ssize_t stream_write(void *ctx, const void *buf, size_t n)
{
    kl_error err = KL_ERROR_INIT;
    ssize_t r = http_stream_send(ctx, buf, n, &err);
    if (r < 0)
        errno = err.code ? err.code : EIO;
    return r;
}

void wsclient_free(wsclient *w)
{
    if (!w)
        return;
    if (w->conn)
        kl_ws_conn_free(w->conn);
    http_stream_close(w->stream);
    free(w);
}

static void wsclient_freep(wsclient **w)
{
    wsclient_free(*w);
}
#define _cleanup_wsclient_ __attribute__((cleanup(wsclient_freep)))

wsclient *wsclient_open(cli_ctx *ctx, const char *path, const json_t *config)
{
    http_client *hc = cli_http(ctx);
    if (!hc)
        return NULL;
    kl_error err = KL_ERROR_INIT;
    http_target t = {0};
    const char *host = ctx->config.host ? ctx->config.host : CLI_DEFAULT_HOST;
    if (http_target_parse(host, &t, &err) < 0) { /* cli_http parsed it already */
        cli_error(ctx, "unable to connect to kleened: %s", err.msg);
        return NULL;
    }
    _cleanup_wsclient_ wsclient *w = xcalloc(1, sizeof(*w));
    w->ctx = ctx;
    w->stream = http_stream_open(hc, &err);
    int rc = -1;
    if (w->stream) {
        kl_ws_transport tr = {
            .ctx = w->stream,
            .read = stream_read,
            .write = stream_write,
            .fd = http_stream_fd(w->stream),
        };
        w->conn = kl_ws_conn_new(KL_WS_ROLE_CLIENT, &tr, 0);
        rc = kl_ws_conn_client_handshake(w->conn, t.netloc, path, WSCLIENT_OPEN_TIMEOUT_MS, &err);
    }
    http_target_free(&t);
    if (rc == 0) {
        kl_ws_conn_set_keepalive(w->conn, WSCLIENT_KEEPALIVE_MS);
        kl_ws_conn_set_send_timeout(w->conn, WSCLIENT_CLOSE_TIMEOUT_MS);
        _cleanup_free_ char *json = jx_dump(config);
        rc = kl_ws_conn_send_text(w->conn, json, strlen(json), &err);
    }
    if (rc < 0) {
        cli_error(ctx, "unable to connect to kleened: %s", err.msg);
        return NULL;
    }
    return steal_pointer(&w);
}

/* ---- receiving ------------------------------------------------------------------------- */

static void lost(wsclient *w, wsclient_result *r, const kl_error *err)
{
    cli_error(w->ctx, "connection to kleened closed unexpectedly: %s", err->msg);
    wsclient_msg_free(&r->reason);
    r->reason_is_json = false;
    r->code = KL_WS_CLOSE_ABNORMAL;
}

static void write_stdout(void *ud, const uint8_t *data, size_t n, bool is_binary)
{
    (void)ud;
    (void)is_binary;
    fwrite(data, 1, n, stdout);
    fflush(stdout);
}

int wsclient_read_start(wsclient *w, wsclient_result *r)
{
    for (;;) {
        kl_ws_message msg;
        kl_error err = KL_ERROR_INIT;
        if (kl_ws_conn_recv(w->conn, &msg, -1, &err) < 0) {
            lost(w, r, &err);
            return -1;
        }
        if (msg.opcode == KL_WS_OP_CLOSE) {
            wsclient_result_set_close(r, msg.close_code, msg.data, msg.len);
            return -1;
        }
        if (msg.opcode != KL_WS_OP_TEXT && msg.opcode != KL_WS_OP_BINARY)
            continue; /* a pong */
        wsclient_msg_free(&r->start);
        if (wsclient_msg_parse(msg.data, msg.len, &r->start) == 0) {
            r->started = strcmp(r->start.msg_type, "starting") == 0;
            r->multiplexed = r->started && r->start.multiplex;
            if (!r->started && r->start.message[0])
                cli_error(w->ctx, "%s", r->start.message);
            return 1;
        }
        /* kleened's "error: <reason>" (exec) or a cast error (images): show it as is. */
        r->started = false;
        fflush(stdout);
        fwrite(msg.data, 1, msg.len, stderr);
        if (msg.len == 0 || msg.data[msg.len - 1] != '\n')
            fputc('\n', stderr);
        fflush(stderr);
        return 0;
    }
}

/* Handle one received message. 1 = the close arrived, 0 = go on. */
static int on_message(const kl_ws_message *msg, wsclient_output_fn out, void *ud,
                      wsclient_result *r)
{
    if (msg->opcode == KL_WS_OP_CLOSE) {
        wsclient_result_set_close(r, msg->close_code, msg->data, msg->len);
        return 1;
    }
    if (r->multiplexed && msg->opcode == KL_WS_OP_BINARY) {
        /* the first byte names the stream: 1 stdout, 2 stderr */
        if (msg->len && msg->data[0] == 2) {
            fflush(stdout);
            fwrite(msg->data + 1, 1, msg->len - 1, stderr);
            fflush(stderr);
        } else if (msg->len) {
            out(ud, msg->data + 1, msg->len - 1, true);
        }
        return 0;
    }
    if (msg->opcode == KL_WS_OP_TEXT || msg->opcode == KL_WS_OP_BINARY)
        out(ud, msg->data, msg->len, msg->opcode == KL_WS_OP_BINARY);
    return 0;
}

int wsclient_relay(wsclient *w, wsclient_output_fn out, void *ud, wsclient_result *r)
{
    if (!out)
        out = write_stdout;
    for (;;) {
        kl_ws_message msg;
        kl_error err = KL_ERROR_INIT;
        if (kl_ws_conn_recv(w->conn, &msg, -1, &err) < 0) {
            lost(w, r, &err);
            return -1;
        }
        if (on_message(&msg, out, ud, r))
            return 0;
    }
}

/* ---- interactive ----------------------------------------------------------------------- */

static int signal_pipe[2] = {-1, -1};

static void on_signal(int sig)
{
    int saved = errno;
    unsigned char b = (unsigned char)sig;
    if (write(signal_pipe[1], &b, 1) < 0) {
        /* the pipe is full: a signal is already pending */
    }
    errno = saved;
}

/* Saved terminal and signal state, restored whatever way the relay ends. */
typedef struct interactive_state {
    int tty_fd;
    struct termios tty;
    bool signals_set, winch_set;
    struct sigaction old_int, old_term, old_winch;
} interactive_state;

static void interactive_restore(interactive_state *st)
{
    if (st->tty_fd >= 0)
        KL_RETRY_EINTR(tcsetattr(st->tty_fd, TCSAFLUSH, &st->tty));
    if (st->signals_set) {
        sigaction(SIGINT, &st->old_int, NULL);
        sigaction(SIGTERM, &st->old_term, NULL);
    }
    if (st->winch_set)
        sigaction(SIGWINCH, &st->old_winch, NULL);
    for (int i = 0; i < 2; i++) {
        if (signal_pipe[i] >= 0)
            close(signal_pipe[i]);
        signal_pipe[i] = -1;
    }
}

bool wsclient_terminal_size(unsigned *rows, unsigned *cols)
{
    struct winsize ws;
    int fds[] = {STDIN_FILENO, STDOUT_FILENO};
    for (size_t i = 0; i < KL_ARRAY_SIZE(fds); i++) {
        if (isatty(fds[i]) && ioctl(fds[i], TIOCGWINSZ, &ws) == 0 && ws.ws_row > 0 &&
            ws.ws_col > 0) {
            *rows = ws.ws_row;
            *cols = ws.ws_col;
            return true;
        }
    }
    return false;
}

/* A control message of a multiplexed exec session (docs/api.md). */
static int send_control(wsclient *w, json_t *j, wsclient_result *r)
{
    _cleanup_json_ json_t *msg = j;
    _cleanup_free_ char *s = jx_dump(msg);
    kl_error err = KL_ERROR_INIT;
    if (kl_ws_conn_send_text(w->conn, s, strlen(s), &err) < 0) {
        lost(w, r, &err);
        return -1;
    }
    return 0;
}

static int send_size(wsclient *w, wsclient_result *r)
{
    unsigned rows, cols;
    if (!wsclient_terminal_size(&rows, &cols))
        return 0;
    return send_control(
        w, json_pack("{s:s, s:i, s:i}", "msg_type", "resize", "rows", rows, "cols", cols), r);
}

static int send_close_stdin(wsclient *w, wsclient_result *r)
{
    return send_control(w, json_pack("{s:s}", "msg_type", "close_stdin"), r);
}

int wsclient_relay_interactive(wsclient *w, int in_fd, bool raw_tty, wsclient_output_fn out,
                               void *ud, wsclient_result *r)
{
    wsclient_exec_io io = {.in_fd = in_fd, .raw_tty = raw_tty, .tty = raw_tty};
    return wsclient_relay_exec(w, &io, out, ud, r);
}

int wsclient_relay_exec(wsclient *w, const wsclient_exec_io *io, wsclient_output_fn out, void *ud,
                        wsclient_result *r)
{
    if (!out)
        out = write_stdout;
    int in_fd = io->in_fd;
    __attribute__((cleanup(interactive_restore))) interactive_state st = {.tty_fd = -1};
    if (pipe2(signal_pipe, O_CLOEXEC | O_NONBLOCK) < 0) {
        kl_error err = KL_ERROR_INIT;
        kl_error_errno(&err, errno, "pipe");
        lost(w, r, &err);
        return -1;
    }
    struct sigaction sa = {.sa_handler = on_signal};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &st.old_int);
    sigaction(SIGTERM, &sa, &st.old_term);
    st.signals_set = true;
    if (r->multiplexed && io->tty) {
        sa.sa_flags = SA_RESTART;
        sigaction(SIGWINCH, &sa, &st.old_winch);
        st.winch_set = true;
        /* the size may have changed since the exec was created */
        if (send_size(w, r) < 0)
            return -1;
    }
    if (io->raw_tty && in_fd >= 0 && isatty(in_fd) && tcgetattr(in_fd, &st.tty) == 0) {
        struct termios raw = st.tty;
        cfmakeraw(&raw);
        if (tcsetattr(in_fd, TCSAFLUSH, &raw) == 0)
            st.tty_fd = in_fd;
    }
    /* No input at all: the process reads EOF at once, as with `docker run` without -i (a
     * terminal is left alone: its EOF character would end a shell). */
    if (r->multiplexed && in_fd < 0 && !io->tty && send_close_stdin(w, r) < 0)
        return -1;

    bool input_open = in_fd >= 0;
    for (;;) {
        struct pollfd p[3] = {
            {.fd = signal_pipe[0], .events = POLLIN},
            {.fd = kl_ws_conn_fd(w->conn), .events = POLLIN},
            {.fd = input_open ? in_fd : -1, .events = POLLIN},
        };
        /* A bounded wait, so that recv's keepalive check runs even when all is quiet. */
        int timeout = kl_ws_conn_has_pending_input(w->conn) ? 0 : 1000;
        int n = poll(p, 3, timeout);
        if (n < 0 && errno != EINTR) {
            kl_error err = KL_ERROR_INIT;
            kl_error_errno(&err, errno, "poll");
            lost(w, r, &err);
            return -1;
        }
        bool stop = false, resized = false;
        if (n > 0 && (p[0].revents & POLLIN)) {
            unsigned char sigs[16];
            ssize_t got = read(signal_pipe[0], sigs, sizeof(sigs));
            for (ssize_t i = 0; i < got; i++) {
                if (sigs[i] == SIGWINCH)
                    resized = true;
                else
                    stop = true;
            }
        }
        if (stop) {
            kl_error err = KL_ERROR_INIT;
            r->interrupted = true;
            if (kl_ws_conn_close(w->conn, KL_WS_CLOSE_NORMAL, "interrupted by user",
                                 WSCLIENT_CLOSE_TIMEOUT_MS, &err) < 0 &&
                !kl_ws_conn_close_received(w->conn)) {
                lost(w, r, &err);
                return -1;
            }
            wsclient_result_set_close(r, KL_WS_CLOSE_NORMAL, "", 0);
            return 0;
        }
        if (resized && send_size(w, r) < 0)
            return -1;
        if (n > 0 && (p[2].revents & (POLLIN | POLLHUP | POLLERR | POLLNVAL))) {
            uint8_t buf[16384];
            ssize_t got = read(in_fd, buf, sizeof(buf));
            if (got > 0) {
                kl_error err = KL_ERROR_INIT;
                if (kl_ws_conn_send_binary(w->conn, buf, (size_t)got, &err) < 0) {
                    lost(w, r, &err);
                    return -1;
                }
            } else if (got == 0 || (errno != EAGAIN && errno != EINTR)) {
                input_open = false; /* end of input: keep relaying output */
                if (r->multiplexed && send_close_stdin(w, r) < 0)
                    return -1;
            }
        }
        /* Drain what has arrived (and let recv send a keepalive ping when due). */
        for (;;) {
            kl_ws_message msg;
            kl_error err = KL_ERROR_INIT;
            int got = kl_ws_conn_recv(w->conn, &msg, 0, &err);
            if (got < 0) {
                lost(w, r, &err);
                return -1;
            }
            if (got == 0)
                break;
            if (on_message(&msg, out, ud, r))
                return 0;
        }
    }
}

/* ---- printing and the common session ------------------------------------------------- */

void wsclient_print_closing(cli_ctx *ctx, const wsclient_result *r)
{
    fputc('\n', stdout);
    const char *message = r->reason.message ? r->reason.message : "";
    const char *data = r->reason.data ? r->reason.data : "";
    bool is_error = r->reason.msg_type && strcmp(r->reason.msg_type, "error") == 0;
    if (message[0]) {
        if (is_error)
            cli_error(ctx, "%s", message);
        else
            cli_message(ctx, "%s", message);
    }
    if (data[0]) {
        if (is_error)
            cli_error(ctx, "%s", data);
        else
            cli_message(ctx, "%s", data);
    }
    fflush(stdout);
}

int wsclient_run(cli_ctx *ctx, const char *path, const json_t *config, wsclient_output_fn out,
                 void *ud, wsclient_result *r)
{
    _cleanup_wsclient_ wsclient *w = wsclient_open(ctx, path, config);
    if (!w) {
        r->code = KL_WS_CLOSE_ABNORMAL;
        return -1;
    }
    int s = wsclient_read_start(w, r);
    if (s >= 0 && wsclient_relay(w, out, ud, r) < 0)
        return -1;
    if (s < 0 && r->code == KL_WS_CLOSE_ABNORMAL)
        return -1;
    wsclient_print_closing(ctx, r);
    return 0;
}

int wsclient_send_binary(wsclient *w, const void *data, size_t n, kl_error *err)
{
    return kl_ws_conn_send_binary(w->conn, data, n, err);
}
