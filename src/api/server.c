/* HTTP server over libmicrohttpd.
 *
 * Thread-per-connection mode: a slow handler (or an upgraded WebSocket, which runs inside its
 * connection's thread) never blocks the others. Every request is checked before a handler
 * sees it: the caller (SO_PEERCRED on UNIX sockets; a verified client certificate when
 * tlsverify is set), the body size, the content type, JSON syntax and the route's schemas.
 * Nothing here knows about containers or volumes. */
#include "api/server.h"
#include "api/router.h"
#include "api/schema.h"
#include "api/wsession.h"
#include "lib/buf.h"
#include "lib/cleanup.h"
#include "lib/log.h"
#include "lib/xalloc.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

typedef struct listener_state {
    struct MHD_Daemon *mhd;
    api_listener conf;
    char *path; /* owned copy of the UNIX path, to unlink at stop */
    char *key_pem, *cert_pem, *ca_pem, *dh_pem;
    api_server *srv;
} listener_state;

struct api_server {
    api_ctx *ctx;
    listener_state *ls;
    size_t n;
};

/* Per-request state kept by MHD between calls of the access handler. */
typedef struct request_state {
    kl_buf body;
    bool too_large;
    bool refused;
    uid_t uid;
    pid_t pid;
} request_state;

static void mhd_logger(void *cls, const char *fmt, va_list ap)
{
    char msg[512];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    size_t n = strlen(msg);
    while (n && msg[n - 1] == '\n')
        msg[--n] = '\0';
    log_debug("http: %s", msg);
}

/* libmicrohttpd's content reader over an api_stream_fn. In thread-per-connection mode the
 * reader may block: it runs in the connection's own thread. */
typedef struct stream_state {
    api_stream_fn fn;
    void *ctx;
    void (*free_fn)(void *ctx);
} stream_state;

static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    (void)pos;
    stream_state *st = cls;
    ssize_t n = st->fn(st->ctx, buf, max);
    if (n == API_STREAM_END)
        return MHD_CONTENT_READER_END_OF_STREAM;
    if (n < 0)
        return MHD_CONTENT_READER_END_WITH_ERROR;
    return n;
}

static void stream_free(void *cls)
{
    stream_state *st = cls;
    if (st->free_fn)
        st->free_fn(st->ctx);
    free(st);
}

static enum MHD_Result queue_stream(struct MHD_Connection *c, api_response *res)
{
    stream_state *st = xcalloc(1, sizeof(*st));
    st->fn = res->stream;
    st->ctx = res->stream_ctx;
    st->free_fn = res->stream_free;
    res->stream_ctx = NULL; /* the MHD response owns it now */
    res->stream_free = NULL;
    struct MHD_Response *r =
        MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 65536, stream_read, st, stream_free);
    if (!r) {
        stream_free(st);
        return MHD_NO;
    }
    if (res->content_type)
        MHD_add_response_header(r, "Content-Type", res->content_type);
    enum MHD_Result ret = MHD_queue_response(c, (unsigned)res->status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result queue_response(struct MHD_Connection *c, api_response *res)
{
    if (res->stream)
        return queue_stream(c, res);
    _cleanup_free_ char *body = NULL;
    const char *ctype = NULL;
    size_t len = 0;
    if (res->json) {
        body = json_dumps(res->json, JSON_COMPACT | JSON_ENCODE_ANY);
        len = body ? strlen(body) : 0;
        ctype = res->status == 422 ? "application/json; charset=utf-8" : "application/json";
    } else if (res->text) {
        body = xstrdup(res->text);
        len = strlen(body);
        ctype = res->content_type;
    } else {
        ctype = "application/json"; /* API.md §3.1: even 204 carries it */
    }
    struct MHD_Response *r =
        MHD_create_response_from_buffer(len, body ? body : (char *)"", MHD_RESPMEM_MUST_COPY);
    if (!r)
        return MHD_NO;
    if (ctype)
        MHD_add_response_header(r, "Content-Type", ctype);
    enum MHD_Result ret = MHD_queue_response(c, (unsigned)res->status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result reply_message(struct MHD_Connection *c, int status, const char *msg)
{
    api_response res = {0};
    api_reply_message(&res, status, "%s", msg);
    enum MHD_Result r = queue_response(c, &res);
    api_response_clear(&res);
    return r;
}

/* Collect query arguments in arrival order. */
typedef struct query_args {
    const char *keys[32];
    const char *values[32];
    size_t n;
    bool overflow;
} query_args;

static enum MHD_Result collect_arg(void *cls, enum MHD_ValueKind kind, const char *key,
                                   const char *value)
{
    query_args *q = cls;
    if (q->n >= KL_ARRAY_SIZE(q->keys)) {
        q->overflow = true;
        return MHD_NO;
    }
    q->keys[q->n] = key;
    q->values[q->n] = value ? value : "";
    q->n++;
    return MHD_YES;
}

static bool peer_is_allowed(listener_state *l, struct MHD_Connection *c, request_state *rs)
{
    rs->uid = (uid_t)-1;
    rs->pid = 0;
    if (l->conf.kind == API_LISTEN_UNIX) {
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
        struct ucred cred;
        socklen_t len = sizeof(cred);
        if (!ci || getsockopt(ci->connect_fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0)
            return false;
        rs->uid = cred.uid;
        rs->pid = cred.pid;
        /* The socket is 0600 root already; this is the second lock on the door. */
        if (cred.uid != 0 && cred.uid != geteuid()) {
            log_warn("refused a request from uid %u (pid %d) on %s", (unsigned)cred.uid,
                     (int)cred.pid, l->conf.address);
            return false;
        }
    }
    if (l->conf.tls && l->conf.tlsverify) {
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(c, MHD_CONNECTION_INFO_GNUTLS_SESSION);
        if (!ci || !ci->tls_session)
            return false;
        gnutls_session_t s = (gnutls_session_t)ci->tls_session;
        unsigned int list_size = 0;
        if (!gnutls_certificate_get_peers(s, &list_size) || list_size == 0) {
            log_info("refused a TLS client without a certificate on %s", l->conf.address);
            return false;
        }
        unsigned int status = 0;
        if (gnutls_certificate_verify_peers2(s, &status) != GNUTLS_E_SUCCESS || status != 0) {
            log_info("refused a TLS client whose certificate does not verify on %s",
                     l->conf.address);
            return false;
        }
    }
    return true;
}

static void request_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                              enum MHD_RequestTerminationCode toe)
{
    request_state *rs = *con_cls;
    if (!rs)
        return;
    kl_buf_free(&rs->body);
    free(rs);
    *con_cls = NULL;
}

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

static enum MHD_Result serve_websocket(listener_state *l, struct MHD_Connection *c,
                                       const api_route *route)
{
    const char *upgrade = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Upgrade");
    const char *key = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Sec-WebSocket-Key");
    const char *version = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Sec-WebSocket-Version");
    if (!upgrade || strcasecmp(upgrade, "websocket") != 0)
        return reply_message(c, 400, "this endpoint only accepts WebSocket connections");
    if (!key || !version || strcmp(version, "13") != 0)
        return reply_message(c, 400, "missing or unsupported WebSocket handshake headers");
    return api_ws_upgrade(c, l->srv->ctx, route, key);
}

/* Validate the query and body against the route's schemas, then run the handler. Any
 * refusal fills `res` and returns early. */
static void handle_rest(struct MHD_Connection *c, const api_route *route, request_state *rs,
                        api_request *req, api_response *res)
{
    query_args q = {0};
    MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, collect_arg, &q);
    if (q.overflow)
        return api_reply_message(res, 400, "too many query parameters");
    _cleanup_json_ json_t *query = NULL;
    if (route->query_schema) {
        json_t *errors = NULL;
        query = schema_cast_query(route->query_schema, q.keys, q.values, q.n, &errors);
        if (!query)
            return api_reply_invalid(res, errors);
    } else {
        query = json_object(); /* no declared query: extra parameters are ignored */
    }
    req->query = query;

    _cleanup_json_ json_t *body = NULL;
    if (route->body_schema) {
        _cleanup_json_ json_t *raw = NULL;
        if (rs->body.len == 0) {
            raw = json_object();
        } else {
            const char *ct = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Type");
            if (!ct || !*ct)
                return api_reply_invalid_one(res, "", "Missing header: content-type");
            if (!content_type_is_json(ct))
                return api_reply_message(
                    res, 415, "unsupported content type '%s', expected application/json", ct);
            json_error_t jerr;
            raw = json_loadb(rs->body.data, rs->body.len, JSON_DECODE_ANY, &jerr);
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

static enum MHD_Result access_handler(void *cls, struct MHD_Connection *c, const char *url,
                                      const char *method, const char *version,
                                      const char *upload_data, size_t *upload_data_size,
                                      void **con_cls)
{
    listener_state *l = cls;
    api_ctx *ctx = l->srv->ctx;
    request_state *rs = *con_cls;
    if (!rs) {
        rs = xcalloc(1, sizeof(*rs));
        *con_cls = rs;
        rs->refused = !peer_is_allowed(l, c, rs);
        return MHD_YES;
    }
    if (*upload_data_size) {
        if (!rs->too_large && rs->body.len + *upload_data_size <= ctx->max_body_bytes)
            kl_buf_append(&rs->body, upload_data, *upload_data_size);
        else
            rs->too_large = true;
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (rs->refused)
        return reply_message(c, 403, "access denied");
    if (rs->too_large) {
        char msg[128];
        snprintf(msg, sizeof(msg), "request body too large (the limit is %zu bytes)",
                 ctx->max_body_bytes);
        return reply_message(c, 413, msg);
    }

    size_t plen = strlen(url);
    _cleanup_free_ char *storage = xmalloc(plen + 1);
    const char *params[API_MAX_PARAMS] = {0};
    bool path_known = false;
    const api_route *route = router_match(method, url, params, storage, &path_known);
    if (!route) {
        log_debug("%s %s -> 404", method, url);
        return reply_message(c, 404, "not found");
    }
    if (route->ws_handler)
        return serve_websocket(l, c, route);

    api_request req = {.method = method, .path = url, .ctx = ctx};
    memcpy(req.params, params, sizeof(params));
    req.peer_uid = rs->uid;
    req.peer_pid = rs->pid;
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
    req.client_fd = ci ? ci->connect_fd : -1;
    api_response res = {0};
    handle_rest(c, route, rs, &req, &res);
    log_debug("%s %s -> %d", method, url, res.status);
    enum MHD_Result r = queue_response(c, &res);
    api_response_clear(&res);
    return r;
}

static char *read_pem(const char *path, kl_error *err)
{
    if (!path)
        return NULL;
    _cleanup_fclose_ FILE *f = fopen(path, "re");
    if (!f) {
        kl_error_errno(err, errno, "reading %s", path);
        return NULL;
    }
    kl_buf b = KL_BUF_INIT;
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        kl_buf_append(&b, chunk, n);
    return kl_buf_steal(&b);
}

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
    _cleanup_close_ int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
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
    _cleanup_close_ int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
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

static int start_listener(listener_state *l, size_t max_header_bytes, unsigned timeout,
                          kl_error *err)
{
    _cleanup_close_ int fd =
        l->conf.kind == API_LISTEN_UNIX ? bind_unix(l->conf.path, err) : bind_tcp(&l->conf, err);
    if (fd < 0)
        return -1;
    if (l->conf.kind == API_LISTEN_UNIX)
        l->path = xstrdup(l->conf.path);

    unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
                     MHD_ALLOW_UPGRADE | MHD_USE_ERROR_LOG | MHD_USE_ITC;
    if (l->conf.kind == API_LISTEN_TCP6)
        flags |= MHD_USE_IPv6;
    struct MHD_OptionItem opts[16];
    size_t n = 0;
    opts[n++] = (struct MHD_OptionItem){MHD_OPTION_LISTEN_SOCKET, fd, NULL};
    opts[n++] = (struct MHD_OptionItem){MHD_OPTION_CONNECTION_MEMORY_LIMIT,
                                        (intptr_t)(max_header_bytes * 2 + 4096), NULL};
    opts[n++] = (struct MHD_OptionItem){MHD_OPTION_CONNECTION_TIMEOUT, (intptr_t)timeout, NULL};
    opts[n++] = (struct MHD_OptionItem){MHD_OPTION_THREAD_STACK_SIZE, 1 << 20, NULL};
    opts[n++] =
        (struct MHD_OptionItem){MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)request_completed, NULL};
    opts[n++] = (struct MHD_OptionItem){MHD_OPTION_EXTERNAL_LOGGER, (intptr_t)mhd_logger, NULL};
    if (l->conf.tls) {
        flags |= MHD_USE_TLS;
        l->cert_pem = read_pem(l->conf.tlscert, err);
        if (!l->cert_pem)
            return -1;
        /* The key may sit in the certificate file (API.md §2.2). */
        l->key_pem = read_pem(l->conf.tlskey ? l->conf.tlskey : l->conf.tlscert, err);
        if (!l->key_pem)
            return -1;
        opts[n++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_CERT, 0, l->cert_pem};
        opts[n++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_KEY, 0, l->key_pem};
        if (l->conf.tlscacert) {
            l->ca_pem = read_pem(l->conf.tlscacert, err);
            if (!l->ca_pem)
                return -1;
            opts[n++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_TRUST, 0, l->ca_pem};
        }
        if (l->conf.tlsdh) {
            l->dh_pem = read_pem(l->conf.tlsdh, err);
            if (!l->dh_pem)
                return -1;
            opts[n++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_DHPARAMS, 0, l->dh_pem};
        }
    }
    opts[n++] = (struct MHD_OptionItem){MHD_OPTION_END, 0, NULL};
    l->mhd = MHD_start_daemon(flags, 0, NULL, NULL, access_handler, l, MHD_OPTION_ARRAY, opts,
                              MHD_OPTION_END);
    if (!l->mhd) {
        kl_error_set(err, EIO, "starting the HTTP server on %s failed (bad TLS files?)",
                     l->conf.address);
        return -1;
    }
    if (l->conf.kind != API_LISTEN_UNIX && !l->conf.tls)
        log_warn("listening on %s without TLS: anyone who can reach it controls kleened",
                 l->conf.address);
    fd = -1; /* libmicrohttpd owns the listening socket now */
    log_info("listening on %s", l->conf.address);
    return 0;
}

api_server *api_server_start(const api_listener *listeners, size_t n, api_ctx *ctx,
                             size_t max_header_bytes, unsigned request_timeout, kl_error *err)
{
    api_server *srv = xcalloc(1, sizeof(*srv));
    srv->ctx = ctx;
    srv->ls = xcalloc(n ? n : 1, sizeof(listener_state));
    for (size_t i = 0; i < n; i++) {
        listener_state *l = &srv->ls[i];
        l->conf = listeners[i];
        l->srv = srv;
        srv->n = i + 1;
        if (start_listener(l, max_header_bytes, request_timeout, err) < 0) {
            kl_error_prefix(err, "listener %s", listeners[i].address);
            api_server_stop(srv);
            return NULL;
        }
    }
    return srv;
}

void api_server_stop(api_server *srv)
{
    if (!srv)
        return;
    for (size_t i = 0; i < srv->n; i++) {
        listener_state *l = &srv->ls[i];
        if (l->mhd)
            MHD_stop_daemon(l->mhd);
        if (l->path) {
            unlink(l->path);
            free(l->path);
        }
        free(l->key_pem);
        free(l->cert_pem);
        free(l->ca_pem);
        free(l->dh_pem);
    }
    free(srv->ls);
    free(srv);
}
