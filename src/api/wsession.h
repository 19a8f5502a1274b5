/* WebSocket sessions: the session after the server's upgrade, and the common protocol of API.md
 * §7.1 (a JSON config as the first frame, a "starting" message, raw output frames, and a close
 * whose reason is a JSON WebSocketMessage that fits 123 bytes). Endpoint handlers
 * (exec start, image create, image build) are written against this interface only. */
#ifndef KL_WSESSION_H
#define KL_WSESSION_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "api/api.h"
#include "api/router.h"
#include "lib/ws.h"

typedef struct api_ws_session api_ws_session;

/* Run a session in the calling thread over an upgraded connection (the server has sent the
 * 101 answer): preload holds bytes that came after the handshake's head. `configured` (may be
 * NULL) is called with `arg` once the config frame has arrived, before the handler runs (the
 * server counts a session waiting for its config like a request waiting for its head).
 * Returns when the session is over; the caller then closes the connection. */
void api_ws_run(const kl_ws_transport *t, const void *preload, size_t preload_len, api_ctx *ctx,
                const api_route *route, void (*configured)(void *arg), void *arg);

api_ctx *api_ws_ctx(api_ws_session *s);

/* The WebSocketMessage JSON, keys in alphabetical order as the original serialises it. */
char *api_ws_message_json(const char *msg_type, const char *message, const char *data);

/* Output frame (raw bytes as a text frame, like the original). -1 when the client is gone. */
int api_ws_send_text(api_ws_session *s, const void *data, size_t n);
/* A binary frame (ours: the multiplexed exec output of docs/api.md). */
int api_ws_send_binary(api_ws_session *s, const void *data, size_t n);
int api_ws_send_message(api_ws_session *s, const char *msg_type, const char *message,
                        const char *data);
/* Close with a JSON reason (shortened to fit a control frame) and wait briefly for the peer's
 * close. Only the first call has an effect. */
void api_ws_close(api_ws_session *s, uint16_t code, const char *msg_type, const char *message,
                  const char *data);
bool api_ws_is_closed(api_ws_session *s);
/* Receive a client frame (stdin for attached execs). 1 = message, 0 = timeout, -1 = gone. */
int api_ws_recv(api_ws_session *s, kl_ws_message *msg, int timeout_ms);
/* For handlers that poll the client together with other fds (attached exec): the socket, and
 * whether bytes are buffered that api_ws_recv decodes without reading. */
int api_ws_fd(api_ws_session *s);

/* Run fn(arg) in a worker thread while this thread watches the client (answering pings,
 * dropping its messages); returns when fn has returned, at once (no polling delay). If the
 * client goes away meanwhile, *cancel is set for fn to notice, `what` is logged, and true is
 * returned. */
bool api_ws_run_job(api_ws_session *s, void *(*fn)(void *), void *arg, atomic_bool *cancel,
                    const char *what);
bool api_ws_has_pending_input(api_ws_session *s);

#endif
