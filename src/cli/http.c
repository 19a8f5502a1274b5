/* klee's HTTP client (see http.h). Plain HTTP over a UNIX socket -- the default and common
 * case -- is spoken natively here; TCP and TLS targets go through libcurl, loaded on first
 * use (curlshim.h) so that a local klee does not pay for loading it. Moves bytes and
 * reports transport failures; it must not interpret Kleene's replies or print anything. */
#include "cli/http.h"
#include "lib/curlshim.h"
#include "lib/buf.h"
#include "lib/cleanup.h"
#include "lib/xalloc.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

struct http_client {
    http_target target;
    int verify; /* resolved: 0 or 1 */
    char *cacert, *cert, *key;
    long timeout_s;
    bool native;        /* plain HTTP over a UNIX socket: no libcurl */
    const curlshim *cs; /* libcurl, for the others */
    CURL *curl;         /* reused across requests so that the connection is kept alive */
};

struct http_stream {
    int fd;     /* native: the connected socket */
    CURL *curl; /* libcurl: a CONNECT_ONLY handle */
    const curlshim *cs;
    long timeout_s;
};

void http_target_free(http_target *t)
{
    free(t->socket_path);
    free(t->base_url);
    free(t->netloc);
    memset(t, 0, sizeof(*t));
}

static bool is_port(const char *s)
{
    if (!*s || strlen(s) > 5)
        return false;
    for (const char *p = s; *p; p++)
        if (!isdigit((unsigned char)*p))
            return false;
    long v = strtol(s, NULL, 10);
    return v >= 1 && v <= 65535;
}

/* host, host:port, [v6], [v6]:port */
static bool is_netloc(const char *n)
{
    if (n[0] == '[') {
        const char *close = strchr(n, ']');
        if (!close || close == n + 1)
            return false;
        for (const char *p = n + 1; p < close; p++)
            if (!isxdigit((unsigned char)*p) && *p != ':' && *p != '.' && *p != '%')
                return false;
        return close[1] == '\0' || (close[1] == ':' && is_port(close + 2));
    }
    const char *colon = strchr(n, ':');
    if (colon && strchr(colon + 1, ':'))
        return false; /* an IPv6 address needs brackets */
    size_t hostlen = colon ? (size_t)(colon - n) : strlen(n);
    if (hostlen == 0)
        return false;
    for (size_t i = 0; i < hostlen; i++)
        if (!isalnum((unsigned char)n[i]) && n[i] != '-' && n[i] != '.' && n[i] != '_')
            return false;
    return !colon || is_port(colon + 1);
}

int http_target_parse(const char *url, http_target *out, kl_error *err)
{
    static const char bad[] = "Could not parse the '--host' parameter";
    const char *sep = url ? strstr(url, "://") : NULL;
    if (!sep) {
        return kl_error_set(err, EPROTONOSUPPORT,
                            "Request URL is missing an 'http://' or 'https://' protocol.");
    }
    _cleanup_free_ char *scheme = xstrndup(url, (size_t)(sep - url));
    bool tls;
    if (strcasecmp(scheme, "http") == 0)
        tls = false;
    else if (strcasecmp(scheme, "https") == 0)
        tls = true;
    else
        return kl_error_set(err, EPROTONOSUPPORT,
                            "Request URL has an unsupported protocol '%s://'.", scheme);

    const char *rest = sep + 3;
    if (strpbrk(rest, "?#;"))
        return kl_error_set(err, EINVAL, "%s", bad);
    const char *slash = strchr(rest, '/');
    _cleanup_free_ char *netloc = slash ? xstrndup(rest, (size_t)(slash - rest)) : xstrdup(rest);
    const char *path = slash ? slash : "";

    http_target t = {0};
    t.is_tls = tls;
    if (netloc[0] == '\0') {
        /* http:///abs/path.sock: plain HTTP (or TLS) over a UNIX socket. */
        if (path[0] != '/' || path[1] == '\0')
            return kl_error_set(err, EINVAL, "%s", bad);
        t.socket_path = xstrdup(path);
        t.base_url = xstrdup(tls ? "https://localhost" : "http://localhost");
        t.netloc = xstrdup("localhost");
    } else {
        if (!is_netloc(netloc))
            return kl_error_set(err, EINVAL, "%s", bad);
        /* Like the original, a path after host:port is ignored: endpoints start at "/". */
        t.base_url = xasprintf("%s://%s", tls ? "https" : "http", netloc);
        t.netloc = steal_pointer(&netloc);
    }
    *out = t;
    return 0;
}

http_client *http_client_new(const http_target *target, const http_tls *tls, long timeout_s,
                             kl_error *err)
{
    if (tls && tls->cert && !tls->key) {
        kl_error_set(err, EINVAL, "When '--tlscert' is set you must also provide the '--tlskey'");
        return NULL;
    }
    bool native = target->socket_path && !target->is_tls;
    const curlshim *cs = NULL;
    if (!native && !(cs = curlshim_get("TCP and TLS hosts need libcurl", err)))
        return NULL;
    http_client *c = xcalloc(1, sizeof(*c));
    c->target.is_tls = target->is_tls;
    c->target.socket_path = target->socket_path ? xstrdup(target->socket_path) : NULL;
    c->target.base_url = xstrdup(target->base_url);
    c->target.netloc = xstrdup(target->netloc);
    /* Ours verifies the server when asked or when a CA is given (the original only when
     * --tlsverify was set explicitly). */
    c->verify = tls && (tls->verify == 1 || (tls->verify < 0 && tls->cacert));
    c->cacert = tls && tls->cacert ? xstrdup(tls->cacert) : NULL;
    c->cert = tls && tls->cert ? xstrdup(tls->cert) : NULL;
    c->key = tls && tls->key ? xstrdup(tls->key) : NULL;
    c->timeout_s = timeout_s;
    c->native = native;
    c->cs = cs;
    if (cs && !(c->curl = cs->easy_init()))
        abort(); /* only fails on OOM */
    return c;
}

void http_client_free(http_client *c)
{
    if (!c)
        return;
    if (c->curl)
        c->cs->easy_cleanup(c->curl);
    http_target_free(&c->target);
    free(c->cacert);
    free(c->cert);
    free(c->key);
    free(c);
}

void http_response_free(http_response *r)
{
    free(r->body);
    free(r->content_type);
    free(r->headers);
    *r = (http_response)HTTP_RESPONSE_INIT;
}

char *http_response_header(const http_response *r, const char *name)
{
    size_t nl = strlen(name);
    for (const char *line = r->headers; line && *line;) {
        const char *end = strchr(line, '\n');
        size_t len = end ? (size_t)(end - line) : strlen(line);
        if (len > nl && line[nl] == ':' && strncasecmp(line, name, nl) == 0) {
            const char *v = line + nl + 1;
            const char *ve = line + len;
            while (v < ve && (*v == ' ' || *v == '\t'))
                v++;
            while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t' || ve[-1] == '\r'))
                ve--;
            return xstrndup(v, (size_t)(ve - v));
        }
        line = end ? end + 1 : line + len;
    }
    return NULL;
}

/* ==== the native transport: HTTP/1.1 over a UNIX socket ==================================== */

/* Limits, so that a broken or hostile server cannot make klee exhaust its memory. */
#define HTTP_MAX_HEADER (64 * 1024)       /* status line + headers */
#define HTTP_MAX_BODY (64L * 1024 * 1024) /* a collected body */
#define HTTP_MAX_CHUNK_LINE 1024          /* "size;ext\r\n" of a chunk, or a trailer line */
#define HTTP_READ_SIZE (64 * 1024)

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* -1: no deadline */
static int64_t deadline_after(long timeout_s)
{
    return timeout_s > 0 ? now_ms() + (int64_t)timeout_s * 1000 : -1;
}

/* Wait until fd is ready for `events` or the deadline passes (ETIMEDOUT). */
static int wait_until(int fd, short events, int64_t deadline, kl_error *err)
{
    for (;;) {
        int ms = -1;
        if (deadline >= 0) {
            int64_t left = deadline - now_ms();
            if (left <= 0)
                return kl_error_set(err, ETIMEDOUT, "Operation timed out");
            ms = left > INT32_MAX ? INT32_MAX : (int)left;
        }
        struct pollfd p = {.fd = fd, .events = events};
        int n = poll(&p, 1, ms);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return kl_error_errno(err, errno, "poll");
        if (n == 0)
            return kl_error_set(err, ETIMEDOUT, "Operation timed out");
        return 0;
    }
}

/* Connect to a UNIX socket; the connect waits at most timeout_s (0: no limit). The socket
 * is returned non-blocking. Errors name the socket: "/path: No such file or directory". */
static int unix_connect(const char *path, long timeout_s, kl_error *err)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof(sa.sun_path))
        return kl_error_errno(err, ENAMETOOLONG, "%s", path);
    memcpy(sa.sun_path, path, strlen(path) + 1);
    _cleanup_close_ int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return kl_error_errno(err, errno, "socket");
    if (timeout_s > 0) {
        /* A blocking connect to a UNIX socket waits for room in the listener's backlog
         * for at most SO_SNDTIMEO, then fails with EAGAIN. */
        struct timeval tv = {.tv_sec = timeout_s};
        if (setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) < 0)
            return kl_error_errno(err, errno, "setsockopt");
    }
    if (KL_RETRY_EINTR(connect(fd, (struct sockaddr *)&sa, sizeof(sa))) < 0) {
        if (errno == EAGAIN || errno == EINPROGRESS)
            return kl_error_set(err, ETIMEDOUT, "%s: Connection timed out", path);
        return kl_error_errno(err, errno, "%s", path);
    }
    if (timeout_s > 0) {
        struct timeval zero = {0};
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &zero, sizeof(zero));
    }
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
        return kl_error_errno(err, errno, "fcntl");
    return steal_fd(&fd);
}

static int send_all(int fd, const char *data, size_t len, int64_t deadline, kl_error *err)
{
    size_t done = 0;
    while (done < len) {
        ssize_t n = send(fd, data + done, len - done, MSG_NOSIGNAL);
        if (n >= 0) {
            done += (size_t)n;
        } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
            if (wait_until(fd, POLLOUT, deadline, err) < 0)
                return -1;
        } else if (errno != EINTR) {
            return kl_error_errno(err, errno, "Send failure");
        }
    }
    return 0;
}

/* The response being read: bytes received but not yet parsed in `in`. */
typedef struct reader {
    int fd;
    int64_t deadline;
    kl_buf in;
} reader;

/* Read more into r->in. Returns the count, 0 at end of stream, -1 on error. */
static ssize_t fill(reader *r, kl_error *err)
{
    kl_buf_reserve(&r->in, HTTP_READ_SIZE);
    for (;;) {
        ssize_t n = recv(r->fd, r->in.data + r->in.len, HTTP_READ_SIZE, 0);
        if (n >= 0) {
            r->in.len += (size_t)n;
            r->in.data[r->in.len] = '\0';
            return n;
        }
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            if (wait_until(r->fd, POLLIN, r->deadline, err) < 0)
                return -1;
        } else if (errno != EINTR) {
            return kl_error_errno(err, errno, "Recv failure");
        }
    }
}

/* Where a body goes: collected (up to HTTP_MAX_BODY) or handed to a callback. */
typedef struct body_sink {
    kl_buf *collect;
    http_body_fn out;
    void *ud;
    const char *content_type;
} body_sink;

static int deliver(body_sink *s, const char *data, size_t n, kl_error *err)
{
    if (n == 0)
        return 0;
    if (s->out) {
        s->out(s->ud, s->content_type, data, n);
        return 0;
    }
    if (s->collect->len + n > (size_t)HTTP_MAX_BODY)
        return kl_error_set(err, EMSGSIZE, "response body too large (over %ld MiB)",
                            HTTP_MAX_BODY / (1024 * 1024));
    kl_buf_append(s->collect, data, n);
    return 0;
}

/* One line (ending in LF, CR stripped) of at most `max` bytes, NUL-terminated in r->in;
 * returns its length including the line end so that the caller consumes it afterwards. */
static ssize_t read_line(reader *r, size_t max, size_t *linelen, kl_error *err)
{
    for (;;) {
        char *nl = memchr(r->in.data ? r->in.data : "", '\n', r->in.len);
        if (nl) {
            size_t total = (size_t)(nl - r->in.data) + 1;
            size_t len = total - 1;
            if (len > 0 && r->in.data[len - 1] == '\r')
                len--;
            if (len > max)
                return kl_error_set(err, EPROTO, "malformed chunked encoding: line too long");
            r->in.data[len] = '\0';
            *linelen = len;
            return (ssize_t)total;
        }
        if (r->in.len > max + 2)
            return kl_error_set(err, EPROTO, "malformed chunked encoding: line too long");
        ssize_t n = fill(r, err);
        if (n < 0)
            return -1;
        if (n == 0)
            return kl_error_set(err, EPROTO, "transfer closed in the middle of a chunk");
    }
}

static int read_chunked(reader *r, body_sink *sink, kl_error *err)
{
    for (;;) {
        size_t len;
        ssize_t used = read_line(r, HTTP_MAX_CHUNK_LINE, &len, err);
        if (used < 0)
            return -1;
        char *end;
        errno = 0;
        if (!isxdigit((unsigned char)r->in.data[0]))
            return kl_error_set(err, EPROTO, "malformed chunked encoding: bad chunk size");
        unsigned long long size = strtoull(r->in.data, &end, 16);
        while (*end == ' ' || *end == '\t')
            end++;
        if (errno || (*end && *end != ';'))
            return kl_error_set(err, EPROTO, "malformed chunked encoding: bad chunk size");
        kl_buf_consume(&r->in, (size_t)used);
        if (size == 0) {
            /* trailers, up to an empty line; ignored */
            size_t total = 0;
            for (;;) {
                used = read_line(r, HTTP_MAX_CHUNK_LINE, &len, err);
                if (used < 0)
                    return -1;
                kl_buf_consume(&r->in, (size_t)used);
                if (len == 0)
                    return 0;
                if ((total += (size_t)used) > HTTP_MAX_HEADER)
                    return kl_error_set(err, EPROTO, "response trailers too large");
            }
        }
        while (size > 0) {
            if (r->in.len == 0) {
                ssize_t n = fill(r, err);
                if (n < 0)
                    return -1;
                if (n == 0)
                    return kl_error_set(err, EPROTO, "transfer closed in the middle of a chunk");
            }
            size_t n = r->in.len < size ? r->in.len : (size_t)size;
            if (deliver(sink, r->in.data, n, err) < 0)
                return -1;
            kl_buf_consume(&r->in, n);
            size -= n;
        }
        used = read_line(r, HTTP_MAX_CHUNK_LINE, &len, err);
        if (used < 0)
            return -1;
        if (len != 0)
            return kl_error_set(err, EPROTO, "malformed chunked encoding: no end of chunk");
        kl_buf_consume(&r->in, (size_t)used);
    }
}

/* A body of `length` bytes, or (length < 0) up to the end of the stream. */
static int read_plain(reader *r, long long length, body_sink *sink, kl_error *err)
{
    if (length >= 0 && !sink->out && length > HTTP_MAX_BODY)
        return kl_error_set(err, EMSGSIZE, "response body too large (over %ld MiB)",
                            HTTP_MAX_BODY / (1024 * 1024));
    long long left = length;
    for (;;) {
        size_t n = r->in.len;
        if (left >= 0 && (long long)n > left)
            n = (size_t)left;
        if (deliver(sink, r->in.data, n, err) < 0)
            return -1;
        kl_buf_consume(&r->in, n);
        if (left >= 0 && (left -= (long long)n) == 0)
            return 0;
        ssize_t got = fill(r, err);
        if (got < 0)
            return -1;
        if (got == 0) {
            if (left > 0)
                return kl_error_set(err, EPROTO,
                                    "transfer closed with %lld bytes remaining to read", left);
            return 0;
        }
    }
}

typedef struct resp_head {
    char *raw; /* the header lines after the status line */
    long status;
    char *content_type;
    long long content_length; /* -1: none */
    bool chunked;
    bool other_coding; /* a Transfer-Encoding other than chunked: the body ends at EOF */
} resp_head;

static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r'))
        s[--n] = '\0';
    return s;
}

/* Parse the header block (NUL-terminated, lines ending in LF or CRLF). */
static int parse_head(char *block, resp_head *h, kl_error *err)
{
    char *save = NULL;
    char *line = strtok_r(block, "\n", &save);
    if (!line || strncmp(line, "HTTP/1.", 7) != 0 || !isdigit((unsigned char)line[7]) ||
        line[8] != ' ' || !isdigit((unsigned char)line[9]) || !isdigit((unsigned char)line[10]) ||
        !isdigit((unsigned char)line[11]) ||
        (line[12] != ' ' && line[12] != '\r' && line[12] != '\0'))
        return kl_error_set(err, EPROTO, "invalid HTTP response from the server");
    h->status = strtol(line + 9, NULL, 10);
    h->content_length = -1;
    while ((line = strtok_r(NULL, "\n", &save))) {
        char *colon = strchr(line, ':');
        if (!colon) {
            if (*trim(line) == '\0')
                continue;
            return kl_error_set(err, EPROTO, "invalid HTTP header from the server");
        }
        *colon = '\0';
        const char *name = line;
        char *value = trim(colon + 1);
        if (strcasecmp(name, "Content-Type") == 0) {
            free(h->content_type);
            h->content_type = xstrdup(value);
        } else if (strcasecmp(name, "Content-Length") == 0) {
            char *end;
            errno = 0;
            long long v = isdigit((unsigned char)value[0]) ? strtoll(value, &end, 10) : -1;
            if (v < 0 || errno || *end || (h->content_length >= 0 && h->content_length != v))
                return kl_error_set(err, EPROTO, "invalid Content-Length from the server");
            h->content_length = v;
        } else if (strcasecmp(name, "Transfer-Encoding") == 0) {
            /* chunked must be the last coding; anything else is read to the end */
            const char *last = strrchr(value, ',');
            last = last ? last + 1 : value;
            while (*last == ' ' || *last == '\t')
                last++;
            if (strcasecmp(last, "chunked") == 0) {
                h->chunked = true;
                h->other_coding = false;
            } else if (strcasecmp(value, "identity") != 0) {
                h->chunked = false;
                h->other_coding = true;
            }
        }
    }
    return 0;
}

/* Read the status line and headers (skipping 1xx interim responses). */
static int read_head(reader *r, resp_head *h, kl_error *err)
{
    size_t scanned = 0;
    for (;;) {
        /* the end of the header block: an empty line (LF LF or LF CR LF) */
        char *end = NULL;
        size_t endlen = 0;
        for (size_t i = scanned; i < r->in.len; i++) {
            if (r->in.data[i] != '\n')
                continue;
            if (i + 1 < r->in.len && r->in.data[i + 1] == '\n') {
                end = r->in.data + i;
                endlen = 2;
                break;
            }
            if (i + 2 < r->in.len && r->in.data[i + 1] == '\r' && r->in.data[i + 2] == '\n') {
                end = r->in.data + i;
                endlen = 3;
                break;
            }
        }
        if (!end) {
            scanned = r->in.len > 2 ? r->in.len - 2 : 0;
            if (r->in.len > HTTP_MAX_HEADER)
                return kl_error_set(err, EMSGSIZE, "response headers too large (over %d KiB)",
                                    HTTP_MAX_HEADER / 1024);
            size_t had = r->in.len;
            ssize_t n = fill(r, err);
            if (n < 0)
                return -1;
            if (n == 0)
                return kl_error_set(err, EPROTO,
                                    had ? "invalid HTTP response from the server"
                                        : "Empty reply from server");
            continue;
        }
        size_t blocklen = (size_t)(end - r->in.data) + endlen;
        if (blocklen > HTTP_MAX_HEADER)
            return kl_error_set(err, EMSGSIZE, "response headers too large (over %d KiB)",
                                HTTP_MAX_HEADER / 1024);
        _cleanup_free_ char *block = xstrndup(r->in.data, (size_t)(end - r->in.data) + 1);
        kl_buf_consume(&r->in, blocklen);
        free(h->content_type);
        free(h->raw);
        *h = (resp_head){0};
        const char *nl = strchr(block, '\n');
        h->raw = xstrdup(nl ? nl + 1 : "");
        if (parse_head(block, h, err) < 0)
            return -1;
        if (h->status >= 200 || h->status == 101)
            return 0;
        scanned = 0; /* 1xx: the real answer follows */
    }
}

static bool has_ctl(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s <= ' ' || *s == 0x7f)
            return true;
    return false;
}

static int read_response(int fd, const char *method, int64_t deadline, http_body_fn out, void *ud,
                         http_response *resp, kl_error *err);

/* One request over a fresh connection (Connection: close). With `out` set, a 2xx body
 * goes to it and only the connect is bounded by the timeout. */
static int native_request(http_client *c, const char *method, const char *path,
                          const char *json_body, http_body_fn out, void *ud, http_response *resp,
                          kl_error *err)
{
    if (has_ctl(method) || has_ctl(path) || path[0] != '/')
        return kl_error_set(err, EINVAL, "invalid request path");
    int64_t deadline = out ? -1 : deadline_after(c->timeout_s);
    _cleanup_close_ int fd = unix_connect(c->target.socket_path, c->timeout_s, err);
    if (fd < 0)
        return -1;

    _cleanup_buf_ kl_buf req = KL_BUF_INIT;
    kl_buf_printf(&req, "%s %s HTTP/1.1\r\nHost: %s\r\nAccept: %s\r\nConnection: close\r\n", method,
                  path, c->target.netloc, out ? "*/*" : "application/json");
    size_t body_len = json_body ? strlen(json_body) : 0;
    if (json_body)
        kl_buf_puts(&req, "Content-Type: application/json\r\n");
    if (json_body || strcmp(method, "POST") == 0 || strcmp(method, "PUT") == 0)
        kl_buf_printf(&req, "Content-Length: %zu\r\n", body_len);
    kl_buf_puts(&req, "\r\n");
    if (json_body)
        kl_buf_append(&req, json_body, body_len);
    if (send_all(fd, req.data, req.len, deadline, err) < 0)
        return -1;
    return read_response(fd, method, deadline, out, ud, resp, err);
}

/* The answer on fd: its head, then its body collected or (a 2xx with `out`) handed out. */
static int read_response(int fd, const char *method, int64_t deadline, http_body_fn out, void *ud,
                         http_response *resp, kl_error *err)
{
    reader r = {.fd = fd, .deadline = deadline, .in = KL_BUF_INIT};
    resp_head h = {0};
    _cleanup_buf_ kl_buf body = KL_BUF_INIT;
    int rc = read_head(&r, &h, err);
    if (rc == 0) {
        bool stream = out && h.status >= 200 && h.status < 300;
        body_sink sink = {
            .collect = &body, .out = stream ? out : NULL, .ud = ud, .content_type = h.content_type};
        if (h.status == 204 || h.status == 304 || strcmp(method, "HEAD") == 0)
            rc = 0;
        else if (h.chunked)
            rc = read_chunked(&r, &sink, err);
        else
            rc = read_plain(&r, h.other_coding ? -1 : h.content_length, &sink, err);
    }
    kl_buf_free(&r.in);
    if (rc < 0) {
        free(h.content_type);
        free(h.raw);
        return -1;
    }
    http_response_free(resp);
    resp->status = h.status;
    resp->content_type = h.content_type;
    resp->headers = h.raw;
    resp->len = body.len;
    resp->body = kl_buf_steal(&body);
    return 0;
}

/* An upload on a fresh connection: the head, the body from body_fd in chunks, the answer.
 * Before each chunk, an answer already there (the server refused without reading on) ends
 * the sending. */
static int native_upload(http_client *c, const char *method, const char *path,
                         const char *content_type, int body_fd, http_body_whole_fn whole,
                         void *whole_ud, http_response *resp, kl_error *err)
{
    if (has_ctl(method) || has_ctl(path) || path[0] != '/' || has_ctl(content_type))
        return kl_error_set(err, EINVAL, "invalid request path");
    _cleanup_close_ int fd = unix_connect(c->target.socket_path, c->timeout_s, err);
    if (fd < 0)
        return -1;
    _cleanup_buf_ kl_buf req = KL_BUF_INIT;
    kl_buf_printf(&req,
                  "%s %s HTTP/1.1\r\nHost: %s\r\nAccept: application/json\r\n"
                  "Connection: close\r\nContent-Type: %s\r\nTransfer-Encoding: chunked\r\n\r\n",
                  method, path, c->target.netloc, content_type);
    if (send_all(fd, req.data, req.len, -1, err) < 0)
        return -1;
    _cleanup_free_ char *buf = xmalloc(HTTP_READ_SIZE + 32);
    for (;;) {
        struct pollfd pf = {.fd = fd, .events = POLLIN};
        if (poll(&pf, 1, 0) > 0)
            break; /* an early answer */
        ssize_t n = read(body_fd, buf + 16, HTTP_READ_SIZE);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return kl_error_errno(err, errno, "reading what to send");
        if (n == 0 && whole && !whole(whole_ud))
            return kl_error_set(err, ECANCELED, "the upload was cut short");
        /* "<hex>\r\n" before the data (right-aligned into the 16 bytes), "\r\n" after */
        char len[16];
        int ll = snprintf(len, sizeof(len), "%zx\r\n", (size_t)n);
        memcpy(buf + 16 - ll, len, (size_t)ll);
        memcpy(buf + 16 + n, "\r\n", 2);
        kl_error serr = KL_ERROR_INIT;
        if (send_all(fd, buf + 16 - ll, (size_t)ll + (size_t)n + 2, -1, &serr) < 0)
            break; /* the server stopped reading: its answer says why */
        if (n == 0)
            break;
    }
    /* no deadline: the server answers once it has copied everything */
    return read_response(fd, method, -1, NULL, NULL, resp, err);
}

/* ==== libcurl, for TCP and TLS ============================================================= */

static size_t on_body(char *data, size_t size, size_t nmemb, void *userdata)
{
    kl_buf *b = userdata;
    if (b->len + size * nmemb > (size_t)HTTP_MAX_BODY)
        return 0; /* CURLE_WRITE_ERROR */
    kl_buf_append(b, data, size * nmemb);
    return size * nmemb;
}

/* Options common to requests and raw streams. */
static void set_connection(const curlshim *cs, CURL *curl, const http_client *c, const char *url,
                           char *errbuf)
{
    cs->easy_setopt(curl, CURLOPT_URL, url);
    cs->easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf);
    cs->easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    cs->easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
    cs->easy_setopt(curl, CURLOPT_PROXY, ""); /* never go through a proxy from the env */
    cs->easy_setopt(curl, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)HTTP_MAX_BODY);
    if (c->target.socket_path)
        cs->easy_setopt(curl, CURLOPT_UNIX_SOCKET_PATH, c->target.socket_path);
    if (c->timeout_s > 0) {
        cs->easy_setopt(curl, CURLOPT_TIMEOUT, c->timeout_s);
        cs->easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, c->timeout_s);
    }
    if (c->target.is_tls) {
        cs->easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, c->verify ? 1L : 0L);
        cs->easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, c->verify ? 2L : 0L);
        if (c->cacert)
            cs->easy_setopt(curl, CURLOPT_CAINFO, c->cacert);
        if (c->cert) {
            cs->easy_setopt(curl, CURLOPT_SSLCERT, c->cert);
            cs->easy_setopt(curl, CURLOPT_SSLCERTTYPE, "PEM");
            cs->easy_setopt(curl, CURLOPT_SSLKEY, c->key);
            cs->easy_setopt(curl, CURLOPT_SSLKEYTYPE, "PEM");
        }
    }
}

static int curl_failure(const curlshim *cs, CURL *curl, const http_client *c, CURLcode rc,
                        const char *errbuf, kl_error *err)
{
    const char *why = errbuf[0] ? errbuf : cs->easy_strerror(rc);
    if (rc == CURLE_OPERATION_TIMEDOUT)
        return kl_error_set(err, ETIMEDOUT, "%s", why);
    if (rc == CURLE_WRITE_ERROR || rc == CURLE_FILESIZE_EXCEEDED)
        return kl_error_set(err, EMSGSIZE, "response body too large (over %ld MiB)",
                            HTTP_MAX_BODY / (1024 * 1024));
    long os_errno = 0;
    cs->easy_getinfo(curl, CURLINFO_OS_ERRNO, &os_errno);
    if (rc == CURLE_COULDNT_CONNECT && os_errno != 0) {
        const char *where = c->target.socket_path ? c->target.socket_path : c->target.netloc;
        return kl_error_errno(err, (int)os_errno, "%s", where);
    }
    return kl_error_set(err, os_errno ? (int)os_errno : EIO, "%s", why);
}

static size_t on_header(char *data, size_t size, size_t nmemb, void *userdata)
{
    kl_buf *b = userdata;
    size_t n = size * nmemb;
    if (n >= 5 && strncmp(data, "HTTP/", 5) == 0) {
        kl_buf_reset(b); /* a new answer (after a 1xx): its lines only */
        return n;
    }
    if (b->len + n > HTTP_MAX_HEADER)
        return 0;
    kl_buf_append(b, data, n);
    return n;
}

static int curl_perform(http_client *c, struct curl_slist *headers, http_response *resp,
                        kl_error *err, const char *errbuf);

static int curl_request(http_client *c, const char *method, const char *path, const char *json_body,
                        http_response *resp, kl_error *err)
{
    const curlshim *cs = c->cs;
    CURL *curl = c->curl;
    cs->easy_reset(curl);
    char errbuf[CURL_ERROR_SIZE] = "";
    _cleanup_free_ char *url = xasprintf("%s%s", c->target.base_url, path);
    set_connection(cs, curl, c, url, errbuf);

    struct curl_slist *headers = NULL;
    headers = cs->slist_append(headers, "Accept: application/json");
    headers = cs->slist_append(headers, "Expect:");
    if (json_body)
        headers = cs->slist_append(headers, "Content-Type: application/json");
    else
        headers = cs->slist_append(headers, "Content-Type:"); /* no form default on POST */
    cs->easy_setopt(curl, CURLOPT_HTTPHEADER, headers);

    if (strcmp(method, "GET") == 0) {
        cs->easy_setopt(curl, CURLOPT_HTTPGET, 1L);
    } else {
        if (strcmp(method, "POST") != 0)
            cs->easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
        if (json_body || strcmp(method, "POST") == 0) {
            cs->easy_setopt(curl, CURLOPT_POSTFIELDS, json_body ? json_body : "");
            cs->easy_setopt(curl, CURLOPT_POSTFIELDSIZE, (long)(json_body ? strlen(json_body) : 0));
        }
    }

    if (strcmp(method, "HEAD") == 0)
        cs->easy_setopt(curl, CURLOPT_NOBODY, 1L);
    return curl_perform(c, headers, resp, err, errbuf);
}

/* Perform the request set up on c->curl (headers freed here): the answer collected. */
static int curl_perform(http_client *c, struct curl_slist *headers, http_response *resp,
                        kl_error *err, const char *errbuf)
{
    const curlshim *cs = c->cs;
    CURL *curl = c->curl;
    _cleanup_buf_ kl_buf body = KL_BUF_INIT;
    _cleanup_buf_ kl_buf head = KL_BUF_INIT;
    cs->easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
    cs->easy_setopt(curl, CURLOPT_WRITEDATA, &body);
    cs->easy_setopt(curl, CURLOPT_HEADERFUNCTION, on_header);
    cs->easy_setopt(curl, CURLOPT_HEADERDATA, &head);

    CURLcode rc = cs->easy_perform(curl);
    cs->slist_free_all(headers);
    if (rc != CURLE_OK)
        return curl_failure(cs, curl, c, rc, errbuf, err);

    http_response r = HTTP_RESPONSE_INIT;
    kl_buf_append(&head, "", 1);
    r.headers = kl_buf_steal(&head);
    cs->easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &r.status);
    char *ct = NULL;
    cs->easy_getinfo(curl, CURLINFO_CONTENT_TYPE, &ct);
    r.content_type = ct ? xstrdup(ct) : NULL;
    r.len = body.len;
    r.body = kl_buf_steal(&body);
    http_response_free(resp);
    *resp = r;
    return 0;
}

typedef struct stream_sink {
    const curlshim *cs;
    CURL *curl;
    http_body_fn out;
    void *ud;
    kl_buf *errbody;
} stream_sink;

static size_t on_stream_body(char *data, size_t size, size_t nmemb, void *userdata)
{
    stream_sink *s = userdata;
    long status = 0;
    s->cs->easy_getinfo(s->curl, CURLINFO_RESPONSE_CODE, &status);
    if (status >= 200 && status < 300) {
        char *ct = NULL;
        s->cs->easy_getinfo(s->curl, CURLINFO_CONTENT_TYPE, &ct);
        s->out(s->ud, ct, data, size * nmemb);
    } else {
        return on_body(data, size, nmemb, s->errbody);
    }
    return size * nmemb;
}

static int curl_request_stream(http_client *c, const char *path, http_body_fn out, void *ud,
                               http_response *resp, kl_error *err)
{
    const curlshim *cs = c->cs;
    CURL *curl = c->curl;
    cs->easy_reset(curl);
    char errbuf[CURL_ERROR_SIZE] = "";
    _cleanup_free_ char *url = xasprintf("%s%s", c->target.base_url, path);
    set_connection(cs, curl, c, url, errbuf);
    cs->easy_setopt(curl, CURLOPT_TIMEOUT, 0L); /* a followed stream has no end */
    cs->easy_setopt(curl, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)0);
    cs->easy_setopt(curl, CURLOPT_HTTPGET, 1L);

    _cleanup_buf_ kl_buf body = KL_BUF_INIT;
    stream_sink sink = {cs, curl, out, ud, &body};
    cs->easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_stream_body);
    cs->easy_setopt(curl, CURLOPT_WRITEDATA, &sink);

    CURLcode rc = cs->easy_perform(curl);
    if (rc != CURLE_OK)
        return curl_failure(cs, curl, c, rc, errbuf, err);

    http_response r = HTTP_RESPONSE_INIT;
    cs->easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &r.status);
    char *ct = NULL;
    cs->easy_getinfo(curl, CURLINFO_CONTENT_TYPE, &ct);
    r.content_type = ct ? xstrdup(ct) : NULL;
    r.len = body.len;
    r.body = kl_buf_steal(&body);
    http_response_free(resp);
    *resp = r;
    return 0;
}

typedef struct upload_src {
    int fd;
    http_body_whole_fn whole;
    void *whole_ud;
    bool cut;
} upload_src;

static size_t on_upload_read(char *buf, size_t size, size_t nitems, void *userdata)
{
    upload_src *u = userdata;
    for (;;) {
        ssize_t n = read(u->fd, buf, size * nitems);
        if (n == 0 && u->whole && !u->whole(u->whole_ud)) {
            u->cut = true;
            return CURL_READFUNC_ABORT;
        }
        if (n >= 0)
            return (size_t)n;
        if (errno != EINTR)
            return CURL_READFUNC_ABORT;
    }
}

static int curl_upload(http_client *c, const char *method, const char *path,
                       const char *content_type, int body_fd, http_body_whole_fn whole,
                       void *whole_ud, http_response *resp, kl_error *err)
{
    const curlshim *cs = c->cs;
    CURL *curl = c->curl;
    cs->easy_reset(curl);
    char errbuf[CURL_ERROR_SIZE] = "";
    _cleanup_free_ char *url = xasprintf("%s%s", c->target.base_url, path);
    set_connection(cs, curl, c, url, errbuf);
    cs->easy_setopt(curl, CURLOPT_TIMEOUT, 0L); /* an upload takes as long as it takes */
    struct curl_slist *headers = NULL;
    _cleanup_free_ char *ct = xasprintf("Content-Type: %s", content_type);
    headers = cs->slist_append(headers, "Accept: application/json");
    headers = cs->slist_append(headers, "Expect:");
    headers = cs->slist_append(headers, "Transfer-Encoding: chunked");
    headers = cs->slist_append(headers, ct);
    cs->easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    cs->easy_setopt(curl, CURLOPT_UPLOAD, 1L);
    cs->easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
    upload_src src = {.fd = body_fd, .whole = whole, .whole_ud = whole_ud};
    cs->easy_setopt(curl, CURLOPT_READFUNCTION, on_upload_read);
    cs->easy_setopt(curl, CURLOPT_READDATA, &src);
    int rc = curl_perform(c, headers, resp, err, errbuf);
    if (rc < 0 && src.cut)
        return kl_error_set(err, ECANCELED, "the upload was cut short");
    return rc;
}

/* ==== the public API ======================================================================= */

int http_request_upload(http_client *c, const char *method, const char *path,
                        const char *content_type, int body_fd, http_body_whole_fn whole,
                        void *whole_ud, http_response *resp, kl_error *err)
{
    if (c->native)
        return native_upload(c, method, path, content_type, body_fd, whole, whole_ud, resp, err);
    return curl_upload(c, method, path, content_type, body_fd, whole, whole_ud, resp, err);
}

int http_request(http_client *c, const char *method, const char *path, const char *json_body,
                 http_response *resp, kl_error *err)
{
    if (c->native)
        return native_request(c, method, path, json_body, NULL, NULL, resp, err);
    return curl_request(c, method, path, json_body, resp, err);
}

int http_request_stream(http_client *c, const char *path, http_body_fn out, void *ud,
                        http_response *resp, kl_error *err)
{
    if (c->native)
        return native_request(c, "GET", path, NULL, out, ud, resp, err);
    return curl_request_stream(c, path, out, ud, resp, err);
}

http_stream *http_stream_open(http_client *c, kl_error *err)
{
    if (c->native) {
        int fd = unix_connect(c->target.socket_path, c->timeout_s, err);
        if (fd < 0)
            return NULL;
        http_stream *s = xcalloc(1, sizeof(*s));
        s->fd = fd;
        s->timeout_s = c->timeout_s;
        return s;
    }
    const curlshim *cs = c->cs;
    CURL *curl = cs->easy_init();
    if (!curl)
        abort();
    char errbuf[CURL_ERROR_SIZE] = "";
    set_connection(cs, curl, c, c->target.base_url, errbuf);
    /* A WebSocket lives longer than any request: only the connect is bounded. */
    cs->easy_setopt(curl, CURLOPT_TIMEOUT, 0L);
    cs->easy_setopt(curl, CURLOPT_CONNECT_ONLY, 1L);
    CURLcode rc = cs->easy_perform(curl);
    if (rc != CURLE_OK) {
        curl_failure(cs, curl, c, rc, errbuf, err);
        cs->easy_cleanup(curl);
        return NULL;
    }
    http_stream *s = xcalloc(1, sizeof(*s));
    s->fd = -1;
    s->curl = curl;
    s->cs = cs;
    s->timeout_s = c->timeout_s;
    return s;
}

int http_stream_fd(http_stream *s)
{
    if (!s->curl)
        return s->fd;
    curl_socket_t fd = CURL_SOCKET_BAD;
    if (s->cs->easy_getinfo(s->curl, CURLINFO_ACTIVESOCKET, &fd) != CURLE_OK)
        return -1;
    return fd == CURL_SOCKET_BAD ? -1 : (int)fd;
}

static int wait_fd(http_stream *s, short events, int timeout_ms, kl_error *err)
{
    int fd = http_stream_fd(s);
    if (fd < 0)
        return kl_error_set(err, EBADF, "connection is closed");
    return wait_until(fd, events, timeout_ms < 0 ? -1 : now_ms() + timeout_ms, err);
}

ssize_t http_stream_send(http_stream *s, const void *buf, size_t len, kl_error *err)
{
    if (!s->curl) {
        if (send_all(s->fd, buf, len, deadline_after(s->timeout_s), err) < 0)
            return -1;
        return (ssize_t)len;
    }
    size_t done = 0;
    while (done < len) {
        size_t n = 0;
        CURLcode rc = s->cs->easy_send(s->curl, (const char *)buf + done, len - done, &n);
        if (rc == CURLE_AGAIN) {
            int ms = s->timeout_s > 0 ? (int)(s->timeout_s * 1000) : -1;
            if (wait_fd(s, POLLOUT, ms, err) < 0)
                return -1;
            continue;
        }
        if (rc != CURLE_OK)
            return kl_error_set(err, EIO, "send: %s", s->cs->easy_strerror(rc));
        done += n;
    }
    return (ssize_t)len;
}

ssize_t http_stream_recv(http_stream *s, void *buf, size_t len, int timeout_ms, kl_error *err)
{
    for (;;) {
        if (!s->curl) {
            ssize_t n = recv(s->fd, buf, len, 0);
            if (n >= 0)
                return n; /* 0 = the peer closed */
            if (errno == EINTR)
                continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK)
                return kl_error_errno(err, errno, "receive");
        } else {
            size_t n = 0;
            /* Try first: TLS may hold decrypted bytes that poll() cannot see. */
            CURLcode rc = s->cs->easy_recv(s->curl, buf, len, &n);
            if (rc == CURLE_OK)
                return (ssize_t)n; /* 0 = the peer closed */
            if (rc != CURLE_AGAIN)
                return kl_error_set(err, EIO, "receive: %s", s->cs->easy_strerror(rc));
        }
        if (wait_fd(s, POLLIN, timeout_ms, err) < 0)
            return -1;
    }
}

void http_stream_close(http_stream *s)
{
    if (!s)
        return;
    if (s->curl)
        s->cs->easy_cleanup(s->curl);
    else if (s->fd >= 0)
        close(s->fd);
    free(s);
}
