/* klee's HTTP client: UNIX sockets, TCP, TLS with client certificates.
 *
 * Plain HTTP over a UNIX socket (the default) is spoken natively, one connection per
 * request (Connection: close); TCP and TLS targets use libcurl, loaded with dlopen when
 * the client is made (see curlshim.h), so that a local klee starts fast.
 * One request at a time, JSON bodies, the answer as status + body. It knows nothing of
 * Kleene's endpoints or messages (that is the command files' job) and prints nothing.
 * http_stream_* opens a raw connection (a plain socket, or CURLOPT_CONNECT_ONLY) for the
 * WebSocket client: the framing lives in lib/ws, this only moves bytes. */
#ifndef KLEE_HTTP_H
#define KLEE_HTTP_H

#include "lib/error.h"

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* Default request timeout in seconds (the original's httpx default was 5 s, too short for
 * a slow container stop). KLEE_TIMEOUT overrides it; 0 means no timeout. */
#define HTTP_DEFAULT_TIMEOUT 60

/* Where the daemon is, parsed from --host (KLEE-CLI.md §3 "Host URL forms"). */
typedef struct http_target {
    bool is_tls;       /* https */
    char *socket_path; /* UNIX socket path, or NULL for TCP */
    char *base_url;    /* "http://localhost" for sockets, else "scheme://netloc" */
    char *netloc;      /* "localhost" for sockets, else "host:port" (WebSocket Host) */
} http_target;

/* Parse `http:///abs/path.sock`, `https:///abs/path.sock`, `http(s)://host[:port]`,
 * `http(s)://[v6]:port`. Errors: EPROTONOSUPPORT for another scheme (message
 * "Request URL has an unsupported protocol 'x://'."), EINVAL for anything else
 * unparsable, including a query, ";params" or "#fragment" (message "Could not parse the
 * '--host' parameter"). */
int http_target_parse(const char *url, http_target *out, kl_error *err);
void http_target_free(http_target *t);

typedef struct http_tls {
    int verify;         /* -1 unset, 0 off, 1 on */
    const char *cacert; /* CA bundle; with verify unset, a CA turns verification on */
    const char *cert;   /* client certificate (PEM) */
    const char *key;    /* its key (PEM) */
} http_tls;

typedef struct http_client http_client;

/* Validates the TLS settings (cert without key → EINVAL "When '--tlscert' is set you must
 * also provide the '--tlskey'"). `target` and `tls` strings are copied. For a TCP or TLS
 * target it loads libcurl: ENOPKG "TCP and TLS hosts need libcurl (libcurl4): ..." when
 * it cannot. */
http_client *http_client_new(const http_target *target, const http_tls *tls, long timeout_s,
                             kl_error *err);
void http_client_free(http_client *c);

typedef struct http_response {
    long status;
    char *body; /* NUL-terminated, never NULL after success */
    size_t len;
    char *content_type; /* NULL if none */
    char *headers;      /* the header lines as received ("Name: value\n"...), NULL if none */
} http_response;

#define HTTP_RESPONSE_INIT                                                                         \
    {                                                                                              \
        0, NULL, 0, NULL, NULL                                                                     \
    }
void http_response_free(http_response *r);
/* The value of header `name` (any case; the first one), trimmed; NULL when absent. Caller
 * frees. */
char *http_response_header(const http_response *r, const char *name);

/* Send `method path` (path begins with "/", query included, no spaces or controls), with
 * `json_body` as application/json when non-NULL. Any HTTP status is a success here.
 * Errors: ETIMEDOUT for a timeout (the whole exchange is bounded by the client's
 * timeout); EPROTO for a reply that is not HTTP/1.x or is cut short; EMSGSIZE for
 * headers over 64 KiB or a body over 64 MiB; otherwise the connection failed
 * (ECONNREFUSED, ENOENT, EACCES ... when the OS said why, else EIO), the message being
 * the reason ("/run/kleened.sock: No such file or directory"). */
int http_request(http_client *c, const char *method, const char *path, const char *json_body,
                 http_response *resp, kl_error *err);

/* Called with each piece of a streamed 2xx body, as it arrives, with the response's
 * Content-Type (NULL if none). */
typedef void (*http_body_fn)(void *ud, const char *content_type, const char *data, size_t n);

/* GET `path` and pass a 2xx body to `out` as it arrives (chunked or not) instead of
 * collecting it; other statuses are collected in resp as by http_request (resp->body is
 * empty for a 2xx). Only the connect is bounded by the timeout: for endless streams such
 * as `GET /containers/{id}/logs?follow=true`. */
int http_request_stream(http_client *c, const char *path, http_body_fn out, void *ud,
                        http_response *resp, kl_error *err);

/* Whether a body read up to its end is whole (e.g. its writer succeeded). */
typedef bool (*http_body_whole_fn)(void *ud);

/* Ours, for archive uploads: `method path` with a body read from `body_fd` until its end,
 * sent chunked as `content_type`; the answer collected as by http_request. Not bounded by
 * the timeout (an upload takes as long as it takes). An answer that comes before the body
 * is all sent (a refusal) ends the upload: it is returned. At the body's end `whole` (may
 * be NULL) is asked: when false the connection is dropped without the last chunk, so that
 * the server sees a cut body and keeps nothing of it (ECANCELED). */
int http_request_upload(http_client *c, const char *method, const char *path,
                        const char *content_type, int body_fd, http_body_whole_fn whole,
                        void *whole_ud, http_response *resp, kl_error *err);

/* Raw connection for WebSockets (untested until lib/ws lands). Connects (and does the TLS
 * handshake) to the same target without sending anything. */
typedef struct http_stream http_stream;
http_stream *http_stream_open(http_client *c, kl_error *err);
/* Send all of buf; returns len or -1. */
ssize_t http_stream_send(http_stream *s, const void *buf, size_t len, kl_error *err);
/* Receive up to len bytes, waiting at most timeout_ms (-1 forever). Returns the count,
 * 0 at end of stream, -1 on error (ETIMEDOUT when nothing came in time). */
ssize_t http_stream_recv(http_stream *s, void *buf, size_t len, int timeout_ms, kl_error *err);
/* The socket, for poll() together with stdin. -1 if unknown. */
int http_stream_fd(http_stream *s);
void http_stream_close(http_stream *s);

#endif
