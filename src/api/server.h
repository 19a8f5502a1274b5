/* The HTTP/1.1 server over every listener (UNIX socket or TCP, plain or TLS): request limits,
 * validation against the route's schemas, dispatch to handlers, and the WebSocket upgrade. */
#ifndef KL_SERVER_H
#define KL_SERVER_H

#include <stdbool.h>
#include <stddef.h>

#include "api/api.h"
#include "lib/error.h"

typedef enum { API_LISTEN_UNIX, API_LISTEN_TCP4, API_LISTEN_TCP6 } api_listen_kind;

struct http_head;
struct kl_buf;

/* A door other than the Kleene API (the Docker Engine API, src/api/docker/): it gets every
 * request of its listeners with the raw body (read in full, within max_body_bytes) and fills
 * the answer; req has ctx, the peer and client_fd (no params, query or body). The server does
 * the rest: framing, keep-alive, HEAD (no body sent), streams, hijacked connections. */
typedef void (*api_door_fn)(const struct http_head *h, const struct kl_buf *body, api_request *req,
                            api_response *res);

typedef struct api_listener {
    const char *address; /* as configured, for messages */
    api_listen_kind kind;
    const char *path; /* UNIX */
    const char *host; /* TCP literal address */
    int port;
    bool tls;
    const char *tlscert, *tlskey, *tlscacert, *tlsdh;
    bool tlsverify;
    api_door_fn door; /* NULL: the Kleene API (router.c) */
    /* For a door: true when the request's body is not read in advance but streamed to the
     * door (api_request.body_read; no max_body_bytes): archives and build contexts. */
    bool (*door_streams)(const struct http_head *h);
} api_listener;

typedef struct api_server api_server;

/* What one client may take (docs/config.md). Zero fields get the defaults. */
typedef struct api_server_limits {
    size_t max_header_bytes;
    unsigned request_timeout;          /* s: a stalled body or answer; an idle keep-alive */
    unsigned request_head_timeout;     /* s: the request line and headers, from the first byte
                                          (from the accept on a new connection) */
    unsigned max_connections_per_peer; /* TCP listeners: connections from one address */
} api_server_limits;

/* At most this many connections at once (each holds a thread). When they are all taken, a
 * new connection ends the idle keep-alive connection that waited longest, else the one that
 * has waited longest for its request head (or a WebSocket session for its config frame);
 * connections in a request are never ended. */
#define API_MAX_CONNECTIONS 1024

/* Bind every listener and start serving. UNIX sockets get mode 0600; a stale socket file is
 * replaced, anything else at the path is an error. */
api_server *api_server_start(const api_listener *listeners, size_t n, api_ctx *ctx,
                             const api_server_limits *limits, kl_error *err);
/* Stop accepting, finish, close listeners and remove UNIX socket files. */
void api_server_stop(api_server *srv);

#endif
