/* klee's HTTP client over libcurl (see http.h). Moves bytes and reports transport
 * failures; it must not interpret Kleene's replies or print anything. */
#include "cli/http.h"
#include "lib/buf.h"
#include "lib/cleanup.h"
#include "lib/xalloc.h"

#include <ctype.h>
#include <curl/curl.h>
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct http_client {
    http_target target;
    int verify; /* resolved: 0 or 1 */
    char *cacert, *cert, *key;
    long timeout_s;
    CURL *curl; /* reused across requests so that the connection is kept alive */
};

struct http_stream {
    CURL *curl;
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
    static bool curl_ready;
    if (!curl_ready) {
        if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
            kl_error_set(err, EIO, "could not initialise libcurl");
            return NULL;
        }
        curl_ready = true;
    }
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
    c->curl = curl_easy_init();
    if (!c->curl)
        abort(); /* only fails on OOM */
    return c;
}

void http_client_free(http_client *c)
{
    if (!c)
        return;
    curl_easy_cleanup(c->curl);
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
    *r = (http_response)HTTP_RESPONSE_INIT;
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *userdata)
{
    kl_buf_append(userdata, data, size * nmemb);
    return size * nmemb;
}

/* Options common to requests and raw streams. */
static void set_connection(CURL *curl, const http_client *c, const char *url, char *errbuf)
{
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(curl, CURLOPT_PROXY, ""); /* never go through a proxy from the env */
    if (c->target.socket_path)
        curl_easy_setopt(curl, CURLOPT_UNIX_SOCKET_PATH, c->target.socket_path);
    if (c->timeout_s > 0) {
        curl_easy_setopt(curl, CURLOPT_TIMEOUT, c->timeout_s);
        curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, c->timeout_s);
    }
    if (c->target.is_tls) {
        curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, c->verify ? 1L : 0L);
        curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, c->verify ? 2L : 0L);
        if (c->cacert)
            curl_easy_setopt(curl, CURLOPT_CAINFO, c->cacert);
        if (c->cert) {
            curl_easy_setopt(curl, CURLOPT_SSLCERT, c->cert);
            curl_easy_setopt(curl, CURLOPT_SSLCERTTYPE, "PEM");
            curl_easy_setopt(curl, CURLOPT_SSLKEY, c->key);
            curl_easy_setopt(curl, CURLOPT_SSLKEYTYPE, "PEM");
        }
    }
}

static int curl_failure(CURL *curl, const http_client *c, CURLcode rc, const char *errbuf,
                        kl_error *err)
{
    const char *why = errbuf[0] ? errbuf : curl_easy_strerror(rc);
    if (rc == CURLE_OPERATION_TIMEDOUT)
        return kl_error_set(err, ETIMEDOUT, "%s", why);
    long os_errno = 0;
    curl_easy_getinfo(curl, CURLINFO_OS_ERRNO, &os_errno);
    if (rc == CURLE_COULDNT_CONNECT && os_errno != 0) {
        const char *where = c->target.socket_path ? c->target.socket_path : c->target.netloc;
        return kl_error_errno(err, (int)os_errno, "%s", where);
    }
    return kl_error_set(err, os_errno ? (int)os_errno : EIO, "%s", why);
}

int http_request(http_client *c, const char *method, const char *path, const char *json_body,
                 http_response *resp, kl_error *err)
{
    CURL *curl = c->curl;
    curl_easy_reset(curl);
    char errbuf[CURL_ERROR_SIZE] = "";
    _cleanup_free_ char *url = xasprintf("%s%s", c->target.base_url, path);
    set_connection(curl, c, url, errbuf);

    struct curl_slist *headers = NULL;
    headers = curl_slist_append(headers, "Accept: application/json");
    headers = curl_slist_append(headers, "Expect:");
    if (json_body)
        headers = curl_slist_append(headers, "Content-Type: application/json");
    else
        headers = curl_slist_append(headers, "Content-Type:"); /* no form default on POST */
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);

    if (strcmp(method, "GET") == 0) {
        curl_easy_setopt(curl, CURLOPT_HTTPGET, 1L);
    } else {
        if (strcmp(method, "POST") != 0)
            curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
        if (json_body || strcmp(method, "POST") == 0) {
            curl_easy_setopt(curl, CURLOPT_POSTFIELDS, json_body ? json_body : "");
            curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE,
                             (long)(json_body ? strlen(json_body) : 0));
        }
    }

    _cleanup_buf_ kl_buf body = KL_BUF_INIT;
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &body);

    CURLcode rc = curl_easy_perform(curl);
    curl_slist_free_all(headers);
    if (rc != CURLE_OK)
        return curl_failure(curl, c, rc, errbuf, err);

    http_response r = HTTP_RESPONSE_INIT;
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &r.status);
    char *ct = NULL;
    curl_easy_getinfo(curl, CURLINFO_CONTENT_TYPE, &ct);
    r.content_type = ct ? xstrdup(ct) : NULL;
    r.len = body.len;
    r.body = kl_buf_steal(&body);
    http_response_free(resp);
    *resp = r;
    return 0;
}

typedef struct stream_sink {
    CURL *curl;
    http_body_fn out;
    void *ud;
    kl_buf *errbody;
} stream_sink;

static size_t on_stream_body(char *data, size_t size, size_t nmemb, void *userdata)
{
    stream_sink *s = userdata;
    long status = 0;
    curl_easy_getinfo(s->curl, CURLINFO_RESPONSE_CODE, &status);
    if (status >= 200 && status < 300)
        s->out(s->ud, data, size * nmemb);
    else
        kl_buf_append(s->errbody, data, size * nmemb);
    return size * nmemb;
}

int http_request_stream(http_client *c, const char *path, http_body_fn out, void *ud,
                        http_response *resp, kl_error *err)
{
    CURL *curl = c->curl;
    curl_easy_reset(curl);
    char errbuf[CURL_ERROR_SIZE] = "";
    _cleanup_free_ char *url = xasprintf("%s%s", c->target.base_url, path);
    set_connection(curl, c, url, errbuf);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT, 0L); /* a followed stream has no end */
    curl_easy_setopt(curl, CURLOPT_HTTPGET, 1L);

    _cleanup_buf_ kl_buf body = KL_BUF_INIT;
    stream_sink sink = {curl, out, ud, &body};
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_stream_body);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &sink);

    CURLcode rc = curl_easy_perform(curl);
    if (rc != CURLE_OK)
        return curl_failure(curl, c, rc, errbuf, err);

    http_response r = HTTP_RESPONSE_INIT;
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &r.status);
    char *ct = NULL;
    curl_easy_getinfo(curl, CURLINFO_CONTENT_TYPE, &ct);
    r.content_type = ct ? xstrdup(ct) : NULL;
    r.len = body.len;
    r.body = body.len ? kl_buf_steal(&body) : xstrdup("");
    http_response_free(resp);
    *resp = r;
    return 0;
}

http_stream *http_stream_open(http_client *c, kl_error *err)
{
    CURL *curl = curl_easy_init();
    if (!curl)
        abort();
    char errbuf[CURL_ERROR_SIZE] = "";
    set_connection(curl, c, c->target.base_url, errbuf);
    /* A WebSocket lives longer than any request: only the connect is bounded. */
    curl_easy_setopt(curl, CURLOPT_TIMEOUT, 0L);
    curl_easy_setopt(curl, CURLOPT_CONNECT_ONLY, 1L);
    CURLcode rc = curl_easy_perform(curl);
    if (rc != CURLE_OK) {
        curl_failure(curl, c, rc, errbuf, err);
        curl_easy_cleanup(curl);
        return NULL;
    }
    http_stream *s = xcalloc(1, sizeof(*s));
    s->curl = curl;
    s->timeout_s = c->timeout_s;
    return s;
}

int http_stream_fd(http_stream *s)
{
    curl_socket_t fd = CURL_SOCKET_BAD;
    if (curl_easy_getinfo(s->curl, CURLINFO_ACTIVESOCKET, &fd) != CURLE_OK)
        return -1;
    return fd == CURL_SOCKET_BAD ? -1 : (int)fd;
}

static int wait_fd(http_stream *s, short events, int timeout_ms, kl_error *err)
{
    struct pollfd p = {.fd = http_stream_fd(s), .events = events};
    if (p.fd < 0)
        return kl_error_set(err, EBADF, "connection is closed");
    int n = (int)KL_RETRY_EINTR(poll(&p, 1, timeout_ms));
    if (n < 0)
        return kl_error_errno(err, errno, "poll");
    if (n == 0)
        return kl_error_set(err, ETIMEDOUT, "timed out");
    return 0;
}

ssize_t http_stream_send(http_stream *s, const void *buf, size_t len, kl_error *err)
{
    size_t done = 0;
    while (done < len) {
        size_t n = 0;
        CURLcode rc = curl_easy_send(s->curl, (const char *)buf + done, len - done, &n);
        if (rc == CURLE_AGAIN) {
            int ms = s->timeout_s > 0 ? (int)(s->timeout_s * 1000) : -1;
            if (wait_fd(s, POLLOUT, ms, err) < 0)
                return -1;
            continue;
        }
        if (rc != CURLE_OK)
            return kl_error_set(err, EIO, "send: %s", curl_easy_strerror(rc));
        done += n;
    }
    return (ssize_t)len;
}

ssize_t http_stream_recv(http_stream *s, void *buf, size_t len, int timeout_ms, kl_error *err)
{
    for (;;) {
        size_t n = 0;
        /* Try first: TLS may hold decrypted bytes that poll() cannot see. */
        CURLcode rc = curl_easy_recv(s->curl, buf, len, &n);
        if (rc == CURLE_OK)
            return (ssize_t)n; /* 0 = the peer closed */
        if (rc != CURLE_AGAIN)
            return kl_error_set(err, EIO, "receive: %s", curl_easy_strerror(rc));
        if (wait_fd(s, POLLIN, timeout_ms, err) < 0)
            return -1;
    }
}

void http_stream_close(http_stream *s)
{
    if (!s)
        return;
    curl_easy_cleanup(s->curl);
    free(s);
}
