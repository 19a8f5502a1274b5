/* The HTTP/1.1 server over every listener (UNIX socket or TCP, plain or TLS): request limits,
 * validation against the route's schemas, dispatch to handlers, and the WebSocket upgrade. */
#ifndef KL_SERVER_H
#define KL_SERVER_H

#include <stdbool.h>
#include <stddef.h>

#include "api/api.h"
#include "lib/error.h"

typedef enum { API_LISTEN_UNIX, API_LISTEN_TCP4, API_LISTEN_TCP6 } api_listen_kind;

typedef struct api_listener {
    const char *address; /* as configured, for messages */
    api_listen_kind kind;
    const char *path; /* UNIX */
    const char *host; /* TCP literal address */
    int port;
    bool tls;
    const char *tlscert, *tlskey, *tlscacert, *tlsdh;
    bool tlsverify;
} api_listener;

typedef struct api_server api_server;

/* Bind every listener and start serving. UNIX sockets get mode 0600; a stale socket file is
 * replaced, anything else at the path is an error. */
api_server *api_server_start(const api_listener *listeners, size_t n, api_ctx *ctx,
                             size_t max_header_bytes, unsigned request_timeout, kl_error *err);
/* Stop accepting, finish, close listeners and remove UNIX socket files. */
void api_server_stop(api_server *srv);

#endif
