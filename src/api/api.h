/* The API layer's request/response types, shared by the HTTP server, the router and the
 * handler files (one per object: volumes.c, containers.c, images.c, networks.c, exec.c).
 * Handlers speak JSON and kl_error; they never see the HTTP server. The API layer calls the
 * engine only, never the host layer. */
#ifndef KL_API_H
#define KL_API_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "lib/error.h"

struct kl_engine;

/* What every handler can reach. */
typedef struct api_ctx {
    struct kl_engine *engine;
    size_t max_body_bytes;
    unsigned ws_idle_timeout; /* seconds; 60 like the original */
    /* Called when the last connection ends, to give back cached memory; may be NULL. */
    void (*on_idle)(struct kl_engine *engine);
} api_ctx;

#define API_MAX_PARAMS 4

typedef struct api_request {
    const char *method;
    const char *path;
    const char *params[API_MAX_PARAMS]; /* path parameters, decoded, in route order */
    json_t *query;                      /* cast query parameters (object), never NULL */
    json_t *body;                       /* cast body (object) or NULL when the route has none */
    api_ctx *ctx;
    uid_t peer_uid; /* (uid_t)-1 when not a UNIX socket */
    pid_t peer_pid;
    int client_fd; /* the connection's socket, to notice a client that goes away while a
                      streamed body waits (never read or written by handlers), or -1 */
    /* A request whose body is streamed (a door's: api_listener.door_streams; a Kleene
     * route's: api_route.streams_body): read it piece by
     * piece while the door runs: >0 bytes, 0 at its end, -1 with err (the client went away,
     * timed out, malformed chunks). NULL otherwise. Unread rest: the connection closes. */
    ssize_t (*body_read)(void *body_ctx, void *buf, size_t n, kl_error *err);
    void *body_ctx;
} api_request;

/* A streamed body (sent chunked): fill buf with up to max bytes and return how many; block
 * while nothing is there. Return API_STREAM_END at the end, API_STREAM_ERROR to abort. */
#define API_STREAM_END (-1)
#define API_STREAM_ERROR (-2)
typedef ssize_t (*api_stream_fn)(void *ctx, char *buf, size_t max);

/* A hijacked connection (Docker's attach and exec start): after the answer's head, the raw
 * bytes both ways. read does not block (-1 with EAGAIN when nothing is there; bytes the client
 * sent after its request come first); wait for `fd` (and `pending`) with poll. */
typedef struct api_hijacked {
    void *conn;
    ssize_t (*read)(void *conn, void *buf, size_t n);
    int (*write_all)(void *conn, const void *buf, size_t n); /* 0 or -1 (client gone) */
    bool (*pending)(void *conn);     /* input is buffered (TLS) though fd is not readable */
    void (*close_write)(void *conn); /* end of our output (the client reads EOF) */
    int fd;
} api_hijacked;
typedef void (*api_hijack_fn)(void *ctx, api_hijacked *conn);

typedef struct api_response {
    int status;
    json_t *json;             /* owned; serialised with content-type application/json */
    char *text;               /* owned; used when json is NULL */
    const char *content_type; /* for text and stream; NULL → none */
    api_stream_fn stream;     /* when set: a streamed body, json and text unused */
    void *stream_ctx;
    void (*stream_free)(void *ctx); /* frees stream_ctx, also when the body is never sent */
    /* When set: the head (101 with "Upgrade: tcp" when the client asked for it, else 200 and
     * content_type) is sent, then hijack runs on the connection, which ends with it. */
    api_hijack_fn hijack;
    void *hijack_ctx;
    void (*hijack_free)(void *ctx); /* frees hijack_ctx, also when hijack never runs */
    char *headers; /* owned; extra header lines ("Name: value\r\n"...), kept by the replies */
} api_response;

/* Reply helpers: each replaces what was set before. */
void api_reply_json(api_response *res, int status, json_t *json /* stolen */);
void api_reply_message(api_response *res, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void api_reply_id(api_response *res, int status, const char *id);
void api_reply_empty(api_response *res, int status);
/* 422 with the body of API.md §3.2 built from a schema errors array (stolen). */
void api_reply_invalid(api_response *res, json_t *errors);
/* A single 422 entry, for validation done by a handler (pointer like "/name"). */
void api_reply_invalid_one(api_response *res, const char *pointer, const char *detail);

/* A streamed body (ctx owned by the response from here on). */
void api_reply_stream(api_response *res, int status, const char *content_type, api_stream_fn fn,
                      void *ctx, void (*free_fn)(void *ctx));

/* A hijacked connection (ctx owned by the response from here on). */
void api_reply_hijack(api_response *res, const char *content_type, api_hijack_fn fn, void *ctx,
                      void (*free_fn)(void *ctx));

/* Clear the answer (the extra headers stay). */
void api_response_clear(api_response *res);
/* Clear everything, extra headers too. */
void api_response_free(api_response *res);

typedef void (*api_handler)(api_request *req, api_response *res);

#endif
