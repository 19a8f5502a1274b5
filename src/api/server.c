/* kleened's HTTP/1.1 server (RFC 9112) over UNIX sockets, TCP and TLS.
 *
 * One thread accepts on every listener; each connection gets a thread of its own, so a slow
 * handler or a WebSocket session (which runs in its connection's thread) never blocks the
 * others. Connections are persistent (keep-alive, pipelining), request bodies come with
 * Content-Length or chunked (with Expect: 100-continue), streamed answers are sent chunked.
 * Every request is checked before a handler sees it: the caller (SO_PEERCRED on UNIX
 * sockets; with tlsverify, the TLS handshake itself requires a client certificate), the size
 * of the head and of the body, the content type, JSON syntax and the route's schemas.
 * Anything malformed gets a JSON {"message"} with the right status, then the connection is
 * closed. Nothing here knows about containers or volumes.
 *
 * GnuTLS is loaded only when an https listener is configured (tls.c): a daemon that serves
 * UNIX sockets and plain TCP never maps it.
 *
 * Slow clients (issue 12): a connection must deliver its request head within
 * request_head_timeout; when every slot is taken, the idle keep-alive connection that waited
 * longest is ended first, then the connection that has waited longest for its request head
 * (a connection in a request is never ended); a TCP listener takes at most
 * max_connections_per_peer connections from one address. So hanging connections cannot lock
 * others out, whatever their number. */
#include "api/server.h"
#include "api/httpparse.h"
#include "api/router.h"
#include "api/schema.h"
#include "api/tls.h"
#include "api/wsession.h"
#include "lib/buf.h"
#include "lib/cleanup.h"
#include "lib/log.h"
#include "lib/ws.h"
#include "lib/xalloc.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define MAX_CONNECTIONS API_MAX_CONNECTIONS
/* Connections being ended for a newer one may still hold their thread a moment: at most this
 * many beyond MAX_CONNECTIONS. */
#define EVICT_SLACK 64
#define CONN_STACK_SIZE (1u << 20)
/* A request head is read in steps of at most this much (a hanging connection holds no more). */
#define HEAD_READ_STEP 4096
/* How long a closing connection still reads (and drops) what the client sends, so that the
 * client reads our answer instead of a reset: at most this long and this much. */
#define LINGER_MS 2000
#define LINGER_BYTES (16u << 20)

typedef struct listener_state {
    api_listener conf;
    int fd;
    char *path; /* owned copy of the UNIX path, to unlink at stop */
    api_tls_server *tls;
} listener_state;

typedef struct conn conn;

struct api_server {
    api_ctx *ctx;
    listener_state *ls;
    size_t n;
    size_t max_header_bytes;
    int timeout_ms; /* request_timeout: inactivity while a request or its answer is under way */
    int head_timeout_ms; /* request_head_timeout */
    unsigned max_per_peer;
    int wake_fd; /* eventfd: stop the accept thread */
    pthread_t acceptor;
    bool acceptor_started;
    pthread_mutex_t lock;
    pthread_cond_t drained;
    conn *conns; /* live connections */
    size_t n_conns;
    size_t n_evicting;          /* of them, ended for a newer one and not gone yet */
    struct ended_thread *ended; /* connection threads to join */
    int reap_fd;                /* eventfd: a connection thread has ended */
    long long last_full_warn_ms;
};

/* What a connection is doing, for choosing which one to end when the slots run out. */
typedef enum {
    CONN_HEAD, /* waiting for (the rest of) a request head, or in the TLS handshake */
    CONN_IDLE, /* keep-alive: waiting for the first byte of its next request */
    CONN_BUSY, /* reading a body, in a handler, answering, or a WebSocket session */
} conn_state;

struct conn {
    api_server *srv;
    listener_state *l;
    int fd;
    api_tls_conn *tls;
    uid_t uid; /* (uid_t)-1 when not a UNIX socket */
    pid_t pid;
    bool refused;
    kl_buf in; /* bytes read from the client and not consumed yet */
    conn *prev, *next;
    /* under srv->lock: */
    conn_state state;
    long long since_ms; /* when it entered its state (monotonic) */
    bool evicted;       /* ended for a newer connection: its fd is shut down */
    /* set before the thread starts: */
    long long accepted_ms;
    void *stack; /* its thread's stack (stack_new) */
    size_t stack_len;
    unsigned served; /* requests answered */
    int peer_family; /* TCP: AF_INET/AF_INET6 and the address; 0 otherwise */
    unsigned char peer_addr[16];
};

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

/* Enter a state; false when the connection was ended for a newer one meanwhile. */
static bool conn_set_state(conn *c, conn_state state)
{
    pthread_mutex_lock(&c->srv->lock);
    bool ok = !c->evicted;
    if (ok && c->state != state) {
        c->state = state;
        c->since_ms = now_ms();
    }
    pthread_mutex_unlock(&c->srv->lock);
    return ok;
}

/* ---- I/O over a plain or TLS connection (non-blocking socket) ---------------------------- */

static ssize_t conn_recv(conn *c, void *buf, size_t n)
{
    if (c->tls)
        return api_tls_read(c->tls, buf, n);
    return recv(c->fd, buf, n, MSG_DONTWAIT);
}

static ssize_t conn_send(conn *c, const void *buf, size_t n)
{
    if (c->tls)
        return api_tls_write(c->tls, buf, n);
    return send(c->fd, buf, n, MSG_DONTWAIT | MSG_NOSIGNAL);
}

static bool conn_pending(conn *c)
{
    return c->tls && api_tls_pending(c->tls);
}

/* 1 ready, 0 timed out, -1 error. */
static int conn_wait(conn *c, short events, int timeout_ms)
{
    if ((events & POLLIN) && conn_pending(c))
        return 1;
    struct pollfd pfd = {.fd = c->fd, .events = events};
    for (;;) {
        int r = poll(&pfd, 1, timeout_ms);
        if (r < 0 && errno == EINTR)
            continue;
        return r < 0 ? -1 : r;
    }
}

/* Read what is there (waiting at most timeout_ms) and append it to c->in.
 * >0 bytes read, 0 end of stream, -1 with errno (ETIMEDOUT when nothing came). */
static ssize_t conn_fill(conn *c, size_t max, int timeout_ms)
{
    kl_buf_reserve(&c->in, max + 1);
    for (;;) {
        ssize_t r = conn_recv(c, c->in.data + c->in.len, max);
        if (r > 0) {
            c->in.len += (size_t)r;
            c->in.data[c->in.len] = '\0';
            return r;
        }
        if (r == 0)
            return 0;
        if (errno == EINTR)
            continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK)
            return -1;
        int w = conn_wait(c, POLLIN, timeout_ms);
        if (w <= 0) {
            if (w == 0)
                errno = ETIMEDOUT;
            return -1;
        }
    }
}

static int conn_write_all(conn *c, const void *data, size_t n)
{
    const char *p = data;
    while (n) {
        ssize_t r = conn_send(c, p, n);
        if (r > 0) {
            p += r;
            n -= (size_t)r;
            continue;
        }
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
            return -1;
        int w = conn_wait(c, POLLOUT, c->srv->timeout_ms);
        if (w <= 0)
            return -1;
    }
    return 0;
}

/* The transport a WebSocket session runs on. */
static ssize_t ws_read(void *ctx, void *buf, size_t n)
{
    return conn_recv(ctx, buf, n);
}
static ssize_t ws_write(void *ctx, const void *buf, size_t n)
{
    return conn_send(ctx, buf, n);
}
static bool ws_pending(void *ctx)
{
    return conn_pending(ctx);
}

/* ---- Answers ------------------------------------------------------------------------------ */

static void date_header(kl_buf *b)
{
    char date[64];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S GMT", &tm);
    kl_buf_printf(b, "Date: %s\r\n", date);
}

static void status_line(kl_buf *b, int status)
{
    kl_buf_printf(b, "HTTP/1.1 %d %s\r\n", status, http_reason(status));
    date_header(b);
}

/* Send a streamed body: chunked on HTTP/1.1, up to the close on HTTP/1.0. Returns -1 when the
 * stream failed or the client went away (the connection is closed then). */
static int send_stream(conn *c, api_response *res, bool chunked)
{
    enum { CHUNK = 65536 };
    _cleanup_free_ char *buf = xmalloc(CHUNK + 32);
    for (;;) {
        char *data = buf + 16; /* room for the chunk-size line in front */
        ssize_t n = res->stream(res->stream_ctx, data, CHUNK);
        if (n == API_STREAM_END)
            break;
        if (n < 0)
            return -1; /* no last chunk: the client sees the body cut short */
        if (n == 0)
            continue;
        if (chunked) {
            char line[18];
            int len = snprintf(line, sizeof(line), "%zx\r\n", (size_t)n);
            data -= len;
            memcpy(data, line, (size_t)len);
            memcpy(data + len + n, "\r\n", 2);
            n += len + 2;
        }
        if (conn_write_all(c, data, (size_t)n) < 0)
            return -1;
    }
    if (chunked && conn_write_all(c, "0\r\n\r\n", 5) < 0)
        return -1;
    return chunked ? 0 : -1; /* HTTP/1.0: the close ends the body */
}

/* Send the answer; keep_alive says whether the connection stays open after it; head_only
 * (a HEAD request): the head as for GET, no body. Returns -1 when the connection must be
 * closed. */
static int send_response(conn *c, api_response *res, int minor, bool keep_alive, bool head_only)
{
    _cleanup_buf_ kl_buf head = KL_BUF_INIT;
    status_line(&head, res->status);
    if (res->headers)
        kl_buf_puts(&head, res->headers);
    if (res->stream && !head_only) {
        bool chunked = minor >= 1;
        if (res->content_type)
            kl_buf_printf(&head, "Content-Type: %s\r\n", res->content_type);
        kl_buf_puts(&head, chunked ? "Transfer-Encoding: chunked\r\n" : "Connection: close\r\n");
        if (chunked && !keep_alive)
            kl_buf_puts(&head, "Connection: close\r\n");
        kl_buf_puts(&head, "\r\n");
        if (conn_write_all(c, head.data, head.len) < 0)
            return -1;
        return send_stream(c, res, chunked) < 0 || !keep_alive ? -1 : 0;
    }
    _cleanup_free_ char *body = NULL;
    const char *ctype = NULL;
    if (res->json) {
        body = json_dumps(res->json, JSON_COMPACT | JSON_ENCODE_ANY);
        ctype = res->status == 422 ? "application/json; charset=utf-8" : "application/json";
    } else if (res->text) {
        body = xstrdup(res->text);
        ctype = res->content_type;
    } else if (res->stream) {
        ctype = res->content_type; /* HEAD of a streamed answer */
    } else {
        ctype = "application/json"; /* API.md §3.1: even 204 carries it */
    }
    size_t len = body ? strlen(body) : 0;
    if (ctype)
        kl_buf_printf(&head, "Content-Type: %s\r\n", ctype);
    if (res->status != 204 && res->status != 304)
        kl_buf_printf(&head, "Content-Length: %zu\r\n", len);
    if (!keep_alive)
        kl_buf_puts(&head, "Connection: close\r\n");
    kl_buf_puts(&head, "\r\n");
    if (res->status != 204 && res->status != 304 && !head_only)
        kl_buf_append(&head, body ? body : "", len);
    if (conn_write_all(c, head.data, head.len) < 0)
        return -1;
    return keep_alive ? 0 : -1;
}

/* ---- Hijacked connections (Docker's attach and exec start) -------------------------------- */

static ssize_t hijack_read(void *ctx, void *buf, size_t n)
{
    conn *c = ctx;
    if (c->in.len) { /* what the client sent after its request comes first */
        size_t k = c->in.len < n ? c->in.len : n;
        memcpy(buf, c->in.data, k);
        kl_buf_consume(&c->in, k);
        return (ssize_t)k;
    }
    return conn_recv(c, buf, n);
}

static int hijack_write_all(void *ctx, const void *buf, size_t n)
{
    return conn_write_all(ctx, buf, n);
}

static bool hijack_pending(void *ctx)
{
    conn *c = ctx;
    return c->in.len > 0 || conn_pending(c);
}

static void hijack_close_write(void *ctx)
{
    conn *c = ctx;
    if (!c->tls) /* TLS has no half-close we could rely on: the close ends it */
        shutdown(c->fd, SHUT_WR);
}

/* The head of a hijacked answer, then the handler's session on the raw connection. With
 * "Upgrade: tcp" in the request: 101 and the upgrade headers (what the docker CLI asks for),
 * else 200. The connection ends with the session. */
static void serve_hijacked(conn *c, const http_head *h, api_response *res)
{
    const char *upgrade = http_header_get(h, "Upgrade");
    bool upgraded = upgrade && strcasecmp(upgrade, "tcp") == 0;
    _cleanup_buf_ kl_buf head = KL_BUF_INIT;
    status_line(&head, upgraded ? 101 : 200);
    if (res->headers)
        kl_buf_puts(&head, res->headers);
    if (res->content_type)
        kl_buf_printf(&head, "Content-Type: %s\r\n", res->content_type);
    if (upgraded)
        kl_buf_puts(&head, "Connection: Upgrade\r\nUpgrade: tcp\r\n");
    kl_buf_puts(&head, "\r\n");
    if (conn_write_all(c, head.data, head.len) < 0)
        return;
    api_hijacked io = {.conn = c,
                       .read = hijack_read,
                       .write_all = hijack_write_all,
                       .pending = hijack_pending,
                       .close_write = hijack_close_write,
                       .fd = c->fd};
    res->hijack(res->hijack_ctx, &io);
}

/* A {"message"} answer after which the connection is closed. */
static void send_refusal(conn *c, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void send_refusal(conn *c, int status, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    api_response res = {0};
    api_reply_message(&res, status, "%s", msg);
    send_response(c, &res, 1, false, false);
    api_response_free(&res);
}

/* ---- Requests ----------------------------------------------------------------------------- */

static bool content_type_is_json(const char *ct)
{
    if (!ct)
        return false;
    while (*ct == ' ')
        ct++;
    size_t n = strlen("application/json");
    return strncasecmp(ct, "application/json", n) == 0 &&
           (ct[n] == '\0' || ct[n] == ';' || ct[n] == ' ');
}

/* Validate the query and body against the route's schemas, then run the handler. Any
 * refusal fills `res` and returns early. */
static void handle_rest(const http_head *h, const kl_buf *raw_body, const api_route *route,
                        api_request *req, api_response *res)
{
    const char *keys[HTTP_MAX_QUERY_ARGS], *values[HTTP_MAX_QUERY_ARGS];
    int nq = 0;
    _cleanup_free_ char *qstore = NULL;
    if (h->query) {
        qstore = xmalloc(strlen(h->query) + 1);
        http_refusal why;
        nq = http_parse_query(h->query, qstore, keys, values, HTTP_MAX_QUERY_ARGS, &why);
        if (nq < 0)
            return api_reply_message(res, why.status, "%s", why.message);
    }
    _cleanup_json_ json_t *query = NULL;
    if (route->query_schema) {
        json_t *errors = NULL;
        query = schema_cast_query(route->query_schema, keys, values, (size_t)nq, &errors);
        if (!query)
            return api_reply_invalid(res, errors);
    } else {
        query = json_object(); /* no declared query: extra parameters are ignored */
    }
    req->query = query;

    _cleanup_json_ json_t *body = NULL;
    if (route->body_schema) {
        _cleanup_json_ json_t *raw = NULL;
        if (raw_body->len == 0) {
            raw = json_object();
        } else {
            const char *ct = http_header_get(h, "Content-Type");
            if (!ct || !*ct)
                return api_reply_invalid_one(res, "", "Missing header: content-type");
            if (!content_type_is_json(ct))
                return api_reply_message(
                    res, 415, "unsupported content type '%s', expected application/json", ct);
            json_error_t jerr;
            raw = json_loadb(raw_body->data, raw_body->len, JSON_DECODE_ANY, &jerr);
            if (!raw) {
                char detail[300];
                snprintf(detail, sizeof(detail), "invalid json: %s (line %d, column %d)", jerr.text,
                         jerr.line, jerr.column);
                return api_reply_invalid_one(res, "", detail);
            }
        }
        json_t *errors = NULL;
        body = schema_cast(route->body_schema, raw, &errors);
        if (!body)
            return api_reply_invalid(res, errors);
    }
    req->body = body;

    route->handler(req, res);
    if (!res->status)
        api_reply_message(res, 500, "internal error: the handler gave no answer");
}

/* A WebSocket session has its config frame: it is in a request now. */
static void ws_configured(void *arg)
{
    conn_set_state(arg, CONN_BUSY);
}

/* The upgrade of API.md §7: answer 101 and run the session in this thread. The connection
 * ends with the session. */
static void serve_websocket(conn *c, const http_head *h, const api_route *route)
{
    const char *upgrade = http_header_get(h, "Upgrade");
    const char *key = http_header_get(h, "Sec-WebSocket-Key");
    const char *version = http_header_get(h, "Sec-WebSocket-Version");
    if (!upgrade || strcasecmp(upgrade, "websocket") != 0)
        return send_refusal(c, 400, "this endpoint only accepts WebSocket connections");
    if (!key || !version || strcmp(version, "13") != 0 || strlen(key) != 24)
        return send_refusal(c, 400, "missing or unsupported WebSocket handshake headers");
    char accept[KL_WS_ACCEPT_LEN + 1];
    kl_ws_accept_key(key, accept);
    _cleanup_buf_ kl_buf head = KL_BUF_INIT;
    status_line(&head, 101);
    kl_buf_printf(&head,
                  "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n",
                  accept);
    if (conn_write_all(c, head.data, head.len) < 0)
        return;
    kl_ws_transport t = {
        .ctx = c, .read = ws_read, .write = ws_write, .pending = ws_pending, .fd = c->fd};
    /* Until its config frame arrives, the session gives up its slot like a connection that
     * waits for its request head (it holds nothing yet); then it is in a request. */
    if (!conn_set_state(c, CONN_HEAD))
        return;
    api_ws_run(&t, c->in.data, c->in.len, c->srv->ctx, route, ws_configured, c);
    kl_buf_reset(&c->in);
}

typedef struct body_sink {
    kl_buf *body;
    size_t max;
    bool too_large;
} body_sink;

static void body_append(void *ctx, const char *data, size_t n)
{
    body_sink *s = ctx;
    if (s->too_large || s->body->len + n > s->max) {
        s->too_large = true;
        return;
    }
    kl_buf_append(s->body, data, n);
}

/* Read the request body into `body`. Returns 0, or -1 after answering (or when the client
 * is gone): the connection is closed then. */
static int read_body(conn *c, const http_head *h, http_body_kind kind, uint64_t length,
                     kl_buf *body)
{
    size_t max = c->srv->ctx->max_body_bytes;
    if (kind == HTTP_BODY_NONE)
        return 0;
    if (kind == HTTP_BODY_LENGTH && length > max) {
        send_refusal(c, 413, "request body too large (the limit is %zu bytes)", max);
        return -1;
    }
    const char *expect = http_header_get(h, "Expect");
    if (expect && strcasecmp(expect, "100-continue") == 0 && h->minor >= 1 && c->in.len == 0) {
        static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
        if (conn_write_all(c, cont, sizeof(cont) - 1) < 0)
            return -1;
    }
    if (kind == HTTP_BODY_LENGTH) {
        while (c->in.len < length) {
            ssize_t r = conn_fill(c, (size_t)length - c->in.len, c->srv->timeout_ms);
            if (r <= 0) {
                if (r < 0 && errno == ETIMEDOUT)
                    send_refusal(c, 408, "timed out waiting for the request body");
                return -1;
            }
        }
        kl_buf_append(body, c->in.data, (size_t)length);
        kl_buf_consume(&c->in, (size_t)length);
        return 0;
    }
    http_chunked dec = {0};
    body_sink sink = {.body = body, .max = max};
    for (;;) {
        bool done = false;
        http_refusal why;
        ssize_t used =
            http_chunked_feed(&dec, c->in.data, c->in.len, body_append, &sink, &done, &why);
        if (used < 0) {
            send_refusal(c, why.status, "%s", why.message);
            return -1;
        }
        kl_buf_consume(&c->in, (size_t)used);
        if (sink.too_large) {
            send_refusal(c, 413, "request body too large (the limit is %zu bytes)", max);
            return -1;
        }
        if (done)
            return 0;
        ssize_t r = conn_fill(c, 65536, c->srv->timeout_ms);
        if (r <= 0) {
            if (r < 0 && errno == ETIMEDOUT)
                send_refusal(c, 408, "timed out waiting for the request body");
            return -1;
        }
    }
}

/* Read the next request head into a buffer of its own. Returns its length, 0 when the
 * connection ends quietly (client closed, idle too long, or ended for a newer connection),
 * -1 after a refusal.
 *
 * A new connection has request_head_timeout from its accept for its first head; a keep-alive
 * connection may stay idle for request_timeout, then has request_head_timeout from the first
 * byte of the next head. */
static ssize_t read_head(conn *c, char **head)
{
    size_t limit = c->srv->max_header_bytes;
    bool idle = c->served > 0 && c->in.len == 0;
    long long deadline =
        idle ? -1 : (c->served ? now_ms() : c->accepted_ms) + c->srv->head_timeout_ms;
    if (idle)
        kl_buf_free(&c->in); /* an idle connection holds no buffer */
    if (!conn_set_state(c, idle ? CONN_IDLE : CONN_HEAD))
        return 0;
    for (;;) {
        size_t end = http_head_end(c->in.data ? c->in.data : "", c->in.len);
        if (end && end <= limit) {
            if (!conn_set_state(c, CONN_BUSY))
                return 0;
            *head = xmalloc(end + 1);
            memcpy(*head, c->in.data, end);
            (*head)[end] = '\0';
            kl_buf_consume(&c->in, end);
            return (ssize_t)end;
        }
        if (end > limit || c->in.len >= limit) {
            send_refusal(c, 431, "request header fields too large (the limit is %zu bytes)", limit);
            return -1;
        }
        long long wait = deadline < 0 ? c->srv->timeout_ms : deadline - now_ms();
        size_t step = limit + 1 - c->in.len;
        ssize_t r = wait <= 0
                        ? (errno = ETIMEDOUT, -1)
                        : conn_fill(c, step < HEAD_READ_STEP ? step : HEAD_READ_STEP, (int)wait);
        if (r == 0)
            return 0;
        if (r < 0) {
            if (errno == ETIMEDOUT && c->in.len > 0) {
                send_refusal(c, 408, "timed out waiting for the request head (%d ms)",
                             c->srv->head_timeout_ms);
                return -1;
            }
            return 0;
        }
        if (deadline < 0) { /* the first byte of a request on an idle connection */
            deadline = now_ms() + c->srv->head_timeout_ms;
            if (!conn_set_state(c, CONN_HEAD))
                return 0;
        }
    }
}

/* A streamed request body, read by its handler through api_request.body_read: a door's
 * (api_listener.door_streams) or a Kleene route's (api_route.streams_body). */
typedef struct door_body {
    conn *c;
    const http_head *h;
    http_body_kind kind;
    uint64_t left; /* HTTP_BODY_LENGTH: bytes still to come */
    http_chunked dec;
    kl_buf out; /* decoded chunk data not handed out yet */
    bool done, failed, continued;
} door_body;

static void door_body_sink(void *ctx, const char *data, size_t n)
{
    kl_buf_append(ctx, data, n);
}

static ssize_t door_body_read(void *ctx, void *buf, size_t n, kl_error *err)
{
    door_body *b = ctx;
    conn *c = b->c;
    if (b->failed)
        return kl_error_set(err, EIO, "the request body was cut short");
    if (!b->continued) {
        b->continued = true;
        const char *expect = http_header_get(b->h, "Expect");
        if (expect && strcasecmp(expect, "100-continue") == 0 && b->h->minor >= 1 &&
            c->in.len == 0) {
            static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
            if (conn_write_all(c, cont, sizeof(cont) - 1) < 0)
                return b->failed = true, kl_error_set(err, ECONNRESET, "the client went away");
        }
    }
    for (;;) {
        if (b->kind == HTTP_BODY_CHUNKED && b->out.len) {
            size_t k = b->out.len < n ? b->out.len : n;
            memcpy(buf, b->out.data, k);
            kl_buf_consume(&b->out, k);
            return (ssize_t)k;
        }
        if (b->kind == HTTP_BODY_NONE || b->done || (b->kind == HTTP_BODY_LENGTH && b->left == 0)) {
            b->done = true;
            return 0;
        }
        if (b->kind == HTTP_BODY_LENGTH && c->in.len) {
            size_t k = c->in.len < n ? c->in.len : n;
            if (k > b->left)
                k = (size_t)b->left;
            memcpy(buf, c->in.data, k);
            kl_buf_consume(&c->in, k);
            b->left -= k;
            return (ssize_t)k;
        }
        if (b->kind == HTTP_BODY_CHUNKED && c->in.len) {
            bool done = false;
            http_refusal why;
            ssize_t used = http_chunked_feed(&b->dec, c->in.data, c->in.len, door_body_sink,
                                             &b->out, &done, &why);
            if (used < 0) {
                b->failed = true;
                return kl_error_set(err, EPROTO, "%s", why.message);
            }
            kl_buf_consume(&c->in, (size_t)used);
            b->done = done;
            if (b->out.len || done)
                continue;
        }
        size_t want = 65536;
        if (b->kind == HTTP_BODY_LENGTH && b->left < want)
            want = (size_t)b->left;
        ssize_t r = conn_fill(c, want, c->srv->timeout_ms);
        if (r <= 0) {
            b->failed = true;
            if (r < 0 && errno == ETIMEDOUT)
                return kl_error_set(err, ETIMEDOUT, "timed out waiting for the request body");
            return kl_error_set(err, ECONNRESET, "the client went away while sending the body");
        }
    }
}

/* A request on a listener of another door (api_listener.door): the whole body (or a reader
 * of it, for the requests the door streams), then the door's answer. 1 to go on with the
 * next request, 0 to close. */
static int serve_door(conn *c, const http_head *h, http_body_kind kind, uint64_t length,
                      bool keep_alive)
{
    _cleanup_buf_ kl_buf body = KL_BUF_INIT;
    bool streamed = c->l->conf.door_streams && c->l->conf.door_streams(h);
    door_body db = {.c = c, .h = h, .kind = kind, .left = length};
    if (!streamed && read_body(c, h, kind, length, &body) < 0)
        return 0;
    api_request req = {.method = h->method,
                       .path = h->path,
                       .ctx = c->srv->ctx,
                       .peer_uid = c->uid,
                       .peer_pid = c->pid,
                       .client_fd = c->fd};
    if (streamed) {
        req.body_read = door_body_read;
        req.body_ctx = &db;
    }
    api_response res = {0};
    c->l->conf.door(h, &body, &req, &res);
    kl_buf_free(&db.out);
    if (streamed && (!db.done || db.failed))
        keep_alive = false; /* the rest of the body is still on the connection */
    if (!res.status)
        api_reply_message(&res, 500, "internal error: the handler gave no answer");
    log_debug("%s %s -> %d%s", h->method, h->path, res.status, res.hijack ? " (hijacked)" : "");
    if (res.hijack) {
        serve_hijacked(c, h, &res);
        api_response_free(&res);
        return 0;
    }
    int r = send_response(c, &res, h->minor, keep_alive, strcmp(h->method, "HEAD") == 0);
    api_response_free(&res);
    return r == 0;
}

/* One request: 1 to go on with the next one on this connection, 0 to close. */
static int serve_request(conn *c)
{
    _cleanup_free_ char *raw = NULL;
    ssize_t hlen = read_head(c, &raw);
    if (hlen <= 0)
        return 0;
    http_head h;
    http_refusal why;
    if (http_parse_head(raw, (size_t)hlen, &h, &why) < 0) {
        log_debug("http: refused a request: %s", why.message);
        send_refusal(c, why.status, "%s", why.message);
        return 0;
    }
    http_body_kind kind;
    uint64_t length;
    if (http_body_framing(&h, &kind, &length, &why) < 0) {
        send_refusal(c, why.status, "%s", why.message);
        return 0;
    }
    if (c->refused) {
        send_refusal(c, 403, "access denied");
        return 0;
    }
    bool keep_alive = http_keep_alive(&h);
    if (c->l->conf.door)
        return serve_door(c, &h, kind, length, keep_alive);

    _cleanup_free_ char *storage = xmalloc(strlen(h.path) + 1);
    const char *params[API_MAX_PARAMS] = {0};
    bool path_known = false;
    const api_route *route = router_match(h.method, h.path, params, storage, &path_known);
    if (route && route->ws_handler) {
        serve_websocket(c, &h, route);
        return 0;
    }

    /* A route that streams its body (an archive upload) reads it as it comes, unbounded by
     * max_body_bytes, with the doors' reader; the others get it whole. */
    bool streamed = route && route->streams_body;
    door_body db = {.c = c, .h = &h, .kind = kind, .left = length};
    _cleanup_buf_ kl_buf body = KL_BUF_INIT;
    if (!streamed && read_body(c, &h, kind, length, &body) < 0)
        return 0;

    api_response res = {0};
    if (!route) {
        log_debug("%s %s -> 404", h.method, h.path);
        api_reply_message(&res, 404, "not found");
    } else {
        api_request req = {.method = h.method, .path = h.path, .ctx = c->srv->ctx};
        memcpy(req.params, params, sizeof(params));
        req.peer_uid = c->uid;
        req.peer_pid = c->pid;
        req.client_fd = c->fd;
        if (streamed) {
            req.body_read = door_body_read;
            req.body_ctx = &db;
        }
        handle_rest(&h, &body, route, &req, &res);
        log_debug("%s %s -> %d", h.method, h.path, res.status);
    }
    kl_buf_free(&db.out);
    if (streamed && (!db.done || db.failed))
        keep_alive = false; /* the rest of the body is still on the connection */
    int r = send_response(c, &res, h.minor, keep_alive, strcmp(h.method, "HEAD") == 0);
    api_response_free(&res);
    return r == 0;
}

/* Half-close, then read and drop what the client still sends for a moment, so that it reads
 * our last answer rather than a connection reset. */
static void linger(conn *c)
{
    shutdown(c->fd, SHUT_WR);
    char buf[4096];
    size_t total = 0;
    struct timespec start;
    clock_gettime(CLOCK_MONOTONIC, &start);
    while (total < LINGER_BYTES) {
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        long long left = LINGER_MS - ((now.tv_sec - start.tv_sec) * 1000LL +
                                      (now.tv_nsec - start.tv_nsec) / 1000000);
        if (left <= 0 || conn_wait(c, POLLIN, (int)left) <= 0)
            break;
        ssize_t r = recv(c->fd, buf, sizeof(buf), MSG_DONTWAIT);
        if (r <= 0 && !(r < 0 && (errno == EAGAIN || errno == EINTR)))
            break;
        if (r > 0)
            total += (size_t)r;
    }
}

/* ---- Connections -------------------------------------------------------------------------- */

/* A connection thread that has ended (or is about to return): joined by the accept thread,
 * which then unmaps its stack. */
typedef struct ended_thread {
    pthread_t thread;
    void *stack; /* the mapping, guard page included */
    size_t stack_len;
    struct ended_thread *next;
} ended_thread;

/* Take the connection off the list; `ended` (may be NULL) goes on the list of threads to
 * join. After this the connection's thread must not touch the server: api_server_stop may
 * be waiting for exactly this. */
static void conn_remove(conn *c, ended_thread *ended)
{
    api_server *srv = c->srv;
    pthread_mutex_lock(&srv->lock);
    if (c->prev)
        c->prev->next = c->next;
    else
        srv->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    srv->n_conns--;
    if (c->evicted)
        srv->n_evicting--;
    if (ended) {
        ended->next = srv->ended;
        srv->ended = ended;
        uint64_t one = 1;
        if (write(srv->reap_fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
            log_warn("http: waking the accept thread: %s", strerror(errno));
    }
    if (srv->n_conns == 0)
        pthread_cond_broadcast(&srv->drained);
    pthread_mutex_unlock(&srv->lock);
}

/* Connection threads run on stacks of ours, not glibc's: glibc keeps the stacks of ended
 * threads for new ones (up to 40 MB of them), as resident as they were, which kept kleened
 * 1 MB or more above its idle size after a burst of connections (issue 12 item 9). Ours are
 * unmapped once their thread is joined. */
static void *stack_new(size_t *len)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    *len = CONN_STACK_SIZE + page;
    void *p = mmap(NULL, *len, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED)
        return NULL;
    if (mprotect(p, page, PROT_NONE) != 0) { /* the guard page below the stack */
        munmap(p, *len);
        return NULL;
    }
    return p;
}

/* Join the connection threads that have ended and unmap their stacks; when none is left
 * serving, give memory back: the engine's caches and what malloc holds free (after the joins,
 * so the ended threads' malloc caches are free too). */
static void reap_ended(api_server *srv)
{
    pthread_mutex_lock(&srv->lock);
    ended_thread *list = srv->ended;
    srv->ended = NULL;
    pthread_mutex_unlock(&srv->lock);
    if (!list)
        return;
    while (list) {
        ended_thread *e = list;
        list = e->next;
        pthread_join(e->thread, NULL); /* it has returned, or is returning */
        munmap(e->stack, e->stack_len);
        free(e);
    }
    pthread_mutex_lock(&srv->lock);
    bool idle = srv->n_conns == 0;
    pthread_mutex_unlock(&srv->lock);
    /* A few tens of microseconds, when nothing is being served. */
    if (idle) {
        if (srv->ctx->on_idle)
            srv->ctx->on_idle(srv->ctx->engine);
#ifdef __GLIBC__
        malloc_trim(0);
#endif
    }
}

static void *conn_thread(void *arg)
{
    conn *c = arg;
    if (c->l->tls) {
        kl_error err = KL_ERROR_INIT;
        c->tls = api_tls_accept(c->l->tls, c->fd, c->srv->head_timeout_ms, &err);
        if (!c->tls)
            log_info("%s: %s", c->l->conf.address, err.msg);
    }
    if (!c->l->tls || c->tls) {
        while (serve_request(c))
            c->served++;
    }
    if (c->tls) {
        api_tls_close(c->tls); /* close_notify: a TLS client does not write after it */
        c->tls = NULL;
    } else {
        linger(c); /* plain, or a refused handshake: the client then reads the TLS alert */
    }
    ended_thread *ended = xmalloc(sizeof(*ended));
    *ended = (ended_thread){.thread = pthread_self(), .stack = c->stack, .stack_len = c->stack_len};
    int fd = c->fd;
    kl_buf_free(&c->in);
    /* Before the close: api_server_stop may shut down fds on the list. */
    conn_remove(c, ended);
    close(fd);
    free(c);
    return NULL;
}

/* The caller on a UNIX socket: root or kleened's own user (the socket is 0600 root already;
 * this is the second lock on the door). */
static void read_peer(conn *c)
{
    c->uid = (uid_t)-1;
    c->pid = 0;
    if (c->l->conf.kind != API_LISTEN_UNIX)
        return;
    struct ucred cred;
    socklen_t len = sizeof(cred);
    if (getsockopt(c->fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) {
        c->refused = true;
        return;
    }
    c->uid = cred.uid;
    c->pid = cred.pid;
    if (cred.uid != 0 && cred.uid != geteuid()) {
        log_warn("refused a request from uid %u (pid %d) on %s", (unsigned)cred.uid, (int)cred.pid,
                 c->l->conf.address);
        c->refused = true;
    }
}

/* Under srv->lock: end the connection that can best give its slot to a newer one: the idle
 * keep-alive connection that waited longest, else the one waiting longest for its request
 * head. Connections in a request are never ended. False when there is none. */
static bool evict_one(api_server *srv)
{
    conn *best = NULL;
    for (conn *c = srv->conns; c; c = c->next) {
        if (c->evicted || c->state == CONN_BUSY)
            continue;
        if (!best || (c->state == CONN_IDLE && best->state != CONN_IDLE) ||
            (c->state == best->state && c->since_ms < best->since_ms))
            best = c;
    }
    if (!best)
        return false;
    best->evicted = true;
    srv->n_evicting++;
    /* Its thread sees the end of the stream at once and closes the connection. */
    shutdown(best->fd, SHUT_RDWR);
    return true;
}

/* Under srv->lock: connections from this TCP peer that are not being ended. */
static size_t peer_connections(api_server *srv, int family, const unsigned char *addr)
{
    size_t n = 0, len = family == AF_INET ? 4 : 16;
    for (conn *c = srv->conns; c; c = c->next)
        if (!c->evicted && c->peer_family == family && memcmp(c->peer_addr, addr, len) == 0)
            n++;
    return n;
}

/* Close a connection refused at accept: a short 503 for plain HTTP (best effort, it must not
 * block the accept thread), then drop what the client already sent so it reads the answer
 * rather than a reset. */
static void refuse_at_accept(listener_state *l, int fd, const char *why)
{
    if (!l->conf.tls) {
        char msg[256];
        int body = snprintf(msg, sizeof(msg), "{\"message\":\"%s\"}", why);
        char out[512];
        int n = snprintf(out, sizeof(out),
                         "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
                         "Content-Length: %d\r\nConnection: close\r\n\r\n%s",
                         body, msg);
        if (send(fd, out, (size_t)n, MSG_DONTWAIT | MSG_NOSIGNAL) == n) {
            shutdown(fd, SHUT_WR);
            char drop[4096];
            while (recv(fd, drop, sizeof(drop), MSG_DONTWAIT) > 0)
                ;
        }
    }
    close(fd);
}

static void start_connection(api_server *srv, listener_state *l, int fd,
                             const struct sockaddr_storage *peer)
{
    int family = 0;
    unsigned char addr[16] = {0};
    if (l->conf.kind != API_LISTEN_UNIX && peer->ss_family == AF_INET) {
        family = AF_INET;
        memcpy(addr, &((const struct sockaddr_in *)peer)->sin_addr, 4);
    } else if (l->conf.kind != API_LISTEN_UNIX && peer->ss_family == AF_INET6) {
        family = AF_INET6;
        memcpy(addr, &((const struct sockaddr_in6 *)peer)->sin6_addr, 16);
    }
    long long now = now_ms();
    const char *refusal = NULL;
    pthread_mutex_lock(&srv->lock);
    if (family && srv->max_per_peer && peer_connections(srv, family, addr) >= srv->max_per_peer)
        refusal = "too many connections from this address";
    else if (srv->n_conns - srv->n_evicting >= MAX_CONNECTIONS && !evict_one(srv))
        refusal = "every connection is in a request; try again";
    else if (srv->n_conns >= MAX_CONNECTIONS + EVICT_SLACK)
        refusal = "too many connections; try again";
    bool warn = refusal && now - srv->last_full_warn_ms >= 10000;
    if (warn)
        srv->last_full_warn_ms = now;
    size_t n_conns = srv->n_conns;
    if (refusal) {
        pthread_mutex_unlock(&srv->lock);
        if (warn)
            log_warn("%s: refused a connection: %s (%zu connections; said at most every 10 s)",
                     l->conf.address, refusal, n_conns);
        refuse_at_accept(l, fd, refusal);
        return;
    }
    size_t stack_len;
    void *stack = stack_new(&stack_len);
    if (!stack) {
        pthread_mutex_unlock(&srv->lock);
        log_warn("%s: no stack for a new connection: %s", l->conf.address, strerror(errno));
        close(fd);
        return;
    }
    conn *c = xcalloc(1, sizeof(*c));
    c->srv = srv;
    c->l = l;
    c->fd = fd;
    c->stack = stack;
    c->stack_len = stack_len;
    c->state = CONN_HEAD;
    c->since_ms = c->accepted_ms = now;
    c->peer_family = family;
    memcpy(c->peer_addr, addr, sizeof(addr));
    c->next = srv->conns;
    if (srv->conns)
        srv->conns->prev = c;
    srv->conns = c;
    srv->n_conns++;
    pthread_mutex_unlock(&srv->lock);
    read_peer(c);

    pthread_attr_t attr;
    pthread_attr_init(&attr);
    size_t guard = (size_t)sysconf(_SC_PAGESIZE);
    pthread_attr_setstack(&attr, (char *)stack + guard, stack_len - guard);
    pthread_t t;
    int r = pthread_create(&t, &attr, conn_thread, c);
    pthread_attr_destroy(&attr);
    if (r != 0) {
        log_warn("%s: no thread for a new connection: %s", l->conf.address, strerror(r));
        conn_remove(c, NULL);
        close(fd);
        munmap(stack, stack_len);
        free(c);
    }
}

static void *accept_thread(void *arg)
{
    api_server *srv = arg;
    struct pollfd pfds[srv->n + 2];
    for (size_t i = 0; i < srv->n; i++)
        pfds[i] = (struct pollfd){.fd = srv->ls[i].fd, .events = POLLIN};
    pfds[srv->n] = (struct pollfd){.fd = srv->wake_fd, .events = POLLIN};
    pfds[srv->n + 1] = (struct pollfd){.fd = srv->reap_fd, .events = POLLIN};
    for (;;) {
        if (poll(pfds, srv->n + 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            log_error("http: poll: %s", strerror(errno));
            return NULL;
        }
        if (pfds[srv->n].revents)
            return NULL;
        if (pfds[srv->n + 1].revents) {
            uint64_t n;
            if (read(srv->reap_fd, &n, sizeof(n)) < 0 && errno != EAGAIN)
                log_warn("http: reading the reap eventfd: %s", strerror(errno));
            reap_ended(srv);
        }
        for (size_t i = 0; i < srv->n; i++) {
            if (!(pfds[i].revents & POLLIN))
                continue;
            struct sockaddr_storage peer = {0};
            socklen_t plen = sizeof(peer);
            int fd =
                accept4(pfds[i].fd, (struct sockaddr *)&peer, &plen, SOCK_CLOEXEC | SOCK_NONBLOCK);
            if (fd < 0) {
                if (errno == EMFILE || errno == ENFILE) {
                    /* Out of descriptors: free one the way a full table does, then retry. */
                    pthread_mutex_lock(&srv->lock);
                    bool freed = evict_one(srv);
                    long long now = now_ms();
                    bool warn = now - srv->last_full_warn_ms >= 10000;
                    if (warn)
                        srv->last_full_warn_ms = now;
                    size_t n_conns = srv->n_conns;
                    int e = errno;
                    pthread_mutex_unlock(&srv->lock);
                    if (warn)
                        log_warn("%s: accept: %s (%zu connections; raise RLIMIT_NOFILE)",
                                 srv->ls[i].conf.address, strerror(e), n_conns);
                    usleep(freed ? 2 * 1000 : 100 * 1000);
                } else if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED) {
                    log_warn("%s: accept: %s", srv->ls[i].conf.address, strerror(errno));
                }
                continue;
            }
            start_connection(srv, &srv->ls[i], fd, &peer);
        }
    }
}

/* ---- Listeners ---------------------------------------------------------------------------- */

/* Privileged: binds a socket at a path from the root-owned config; only a stale socket is ever
 * removed, never a regular file or directory. */
static int bind_unix(const char *path, kl_error *err)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof(sa.sun_path))
        return kl_error_set(err, ENAMETOOLONG, "socket path too long: %s", path);
    strcpy(sa.sun_path, path);
    struct stat st;
    if (lstat(path, &st) == 0) {
        if (!S_ISSOCK(st.st_mode))
            return kl_error_set(err, EEXIST, "%s exists and is not a socket", path);
        if (unlink(path) != 0)
            return kl_error_errno(err, errno, "removing stale socket %s", path);
    }
    _cleanup_close_ int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return kl_error_errno(err, errno, "socket");
    mode_t old = umask(0177);
    int r = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
    umask(old);
    if (r != 0)
        return kl_error_errno(err, errno, "binding %s", path);
    if (chmod(path, 0600) != 0)
        return kl_error_errno(err, errno, "chmod %s", path);
    if (listen(fd, 128) != 0)
        return kl_error_errno(err, errno, "listen on %s", path);
    return steal_fd(&fd);
}

static int bind_tcp(const api_listener *l, kl_error *err)
{
    struct sockaddr_storage ss = {0};
    socklen_t len;
    int family = l->kind == API_LISTEN_TCP6 ? AF_INET6 : AF_INET;
    if (family == AF_INET) {
        struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
        sin->sin_family = AF_INET;
        sin->sin_port = htons((uint16_t)l->port);
        if (inet_pton(AF_INET, l->host, &sin->sin_addr) != 1)
            return kl_error_set(err, EINVAL, "invalid IPv4 address '%s'", l->host);
        len = sizeof(*sin);
    } else {
        struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
        sin6->sin6_family = AF_INET6;
        sin6->sin6_port = htons((uint16_t)l->port);
        if (inet_pton(AF_INET6, l->host, &sin6->sin6_addr) != 1)
            return kl_error_set(err, EINVAL, "invalid IPv6 address '%s'", l->host);
        len = sizeof(*sin6);
    }
    _cleanup_close_ int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return kl_error_errno(err, errno, "socket");
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (family == AF_INET6)
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
    if (bind(fd, (struct sockaddr *)&ss, len) != 0)
        return kl_error_errno(err, errno, "binding %s", l->address);
    if (listen(fd, 128) != 0)
        return kl_error_errno(err, errno, "listen on %s", l->address);
    return steal_fd(&fd);
}

static int start_listener(listener_state *l, kl_error *err)
{
    if (l->conf.tls) {
        api_tls_config tc = {.cert = l->conf.tlscert,
                             .key = l->conf.tlskey,
                             .cacert = l->conf.tlscacert,
                             .dh = l->conf.tlsdh,
                             .verify = l->conf.tlsverify};
        l->tls = api_tls_server_new(&tc, err);
        if (!l->tls)
            return -1;
    }
    l->fd =
        l->conf.kind == API_LISTEN_UNIX ? bind_unix(l->conf.path, err) : bind_tcp(&l->conf, err);
    if (l->fd < 0)
        return -1;
    if (l->conf.kind == API_LISTEN_UNIX)
        l->path = xstrdup(l->conf.path);
    if (l->conf.kind != API_LISTEN_UNIX && !l->conf.tls)
        log_warn("listening on %s without TLS: anyone who can reach it controls kleened",
                 l->conf.address);
    log_info("listening on %s", l->conf.address);
    return 0;
}

api_server *api_server_start(const api_listener *listeners, size_t n, api_ctx *ctx,
                             const api_server_limits *limits, kl_error *err)
{
    api_server *srv = xcalloc(1, sizeof(*srv));
    srv->ctx = ctx;
    srv->max_header_bytes = limits->max_header_bytes ? limits->max_header_bytes : 16384;
    srv->timeout_ms = (int)(limits->request_timeout ? limits->request_timeout : 60) * 1000;
    srv->head_timeout_ms =
        (int)(limits->request_head_timeout ? limits->request_head_timeout : 10) * 1000;
    if (srv->head_timeout_ms > srv->timeout_ms) /* a head never gets longer than a request */
        srv->head_timeout_ms = srv->timeout_ms;
    srv->max_per_peer = limits->max_connections_per_peer;
    srv->last_full_warn_ms = -100000;
    srv->wake_fd = -1;
    srv->reap_fd = -1;
    pthread_mutex_init(&srv->lock, NULL);
    pthread_cond_init(&srv->drained, NULL);
    srv->ls = xcalloc(n ? n : 1, sizeof(listener_state));
    for (size_t i = 0; i < n; i++) {
        listener_state *l = &srv->ls[i];
        l->conf = listeners[i];
        l->fd = -1;
        srv->n = i + 1;
        if (start_listener(l, err) < 0) {
            kl_error_prefix(err, "listener %s", listeners[i].address);
            api_server_stop(srv);
            return NULL;
        }
    }
    srv->wake_fd = eventfd(0, EFD_CLOEXEC);
    srv->reap_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (srv->wake_fd < 0 || srv->reap_fd < 0) {
        kl_error_errno(err, errno, "eventfd");
        api_server_stop(srv);
        return NULL;
    }
    /* The accept thread needs little stack. */
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 64 << 10);
    int r = pthread_create(&srv->acceptor, &attr, accept_thread, srv);
    pthread_attr_destroy(&attr);
    if (r != 0) {
        kl_error_set(err, r, "starting the HTTP server thread: %s", strerror(r));
        api_server_stop(srv);
        return NULL;
    }
    srv->acceptor_started = true;
    return srv;
}

void api_server_stop(api_server *srv)
{
    if (!srv)
        return;
    if (srv->acceptor_started) {
        uint64_t one = 1;
        if (write(srv->wake_fd, &one, sizeof(one)) < 0)
            log_warn("http: waking the accept thread: %s", strerror(errno));
        pthread_join(srv->acceptor, NULL);
    }
    for (size_t i = 0; i < srv->n; i++) {
        listener_state *l = &srv->ls[i];
        if (l->fd >= 0)
            close(l->fd);
        if (l->path) {
            unlink(l->path);
            free(l->path);
        }
    }
    /* End the live connections: their reads and writes fail now, handlers and sessions see
     * the client gone. Wait until every connection thread is done with the server. */
    pthread_mutex_lock(&srv->lock);
    for (conn *c = srv->conns; c; c = c->next)
        shutdown(c->fd, SHUT_RDWR);
    struct timespec warn_at;
    clock_gettime(CLOCK_REALTIME, &warn_at);
    warn_at.tv_sec += 5;
    while (srv->n_conns > 0) {
        if (pthread_cond_timedwait(&srv->drained, &srv->lock, &warn_at) == ETIMEDOUT) {
            log_warn("http: waiting for %zu connection(s) to finish", srv->n_conns);
            warn_at.tv_sec += 3600;
        }
    }
    pthread_mutex_unlock(&srv->lock);
    reap_ended(srv); /* every connection thread has returned (or is returning): join them */
    for (size_t i = 0; i < srv->n; i++)
        api_tls_server_free(srv->ls[i].tls);
    if (srv->wake_fd >= 0)
        close(srv->wake_fd);
    if (srv->reap_fd >= 0)
        close(srv->reap_fd);
    pthread_mutex_destroy(&srv->lock);
    pthread_cond_destroy(&srv->drained);
    free(srv->ls);
    free(srv);
}
