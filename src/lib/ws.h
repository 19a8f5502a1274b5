/* WebSocket (RFC 6455), shared by kleened (server side, on a connection upgraded by its HTTP
 * server) and klee (client side, over libcurl's connect-only mode, possibly TLS).
 *
 * Three layers, usable on their own:
 *   - handshake helpers: accept key, client upgrade request, checks of request and response;
 *   - framing: a frame encoder and an incremental decoder fed arbitrary byte chunks (fuzzed);
 *   - kl_ws_conn: a blocking connection over an abstract transport (read/write callbacks plus
 *     an optional fd to poll), with automatic pongs, the close handshake, idle timeout and
 *     keepalive pings, and a send path that is safe to call from several threads.
 * No extensions (permessage-deflate) and no subprotocols are negotiated. Nothing here prints;
 * errors go through kl_error. */
#ifndef KL_WS_H
#define KL_WS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "lib/buf.h"
#include "lib/error.h"

typedef enum kl_ws_role {
    KL_WS_ROLE_SERVER = 0, /* receives masked frames, sends unmasked ones */
    KL_WS_ROLE_CLIENT = 1, /* receives unmasked frames, masks what it sends */
} kl_ws_role;

typedef enum kl_ws_opcode {
    KL_WS_OP_CONTINUATION = 0x0,
    KL_WS_OP_TEXT = 0x1,
    KL_WS_OP_BINARY = 0x2,
    KL_WS_OP_CLOSE = 0x8,
    KL_WS_OP_PING = 0x9,
    KL_WS_OP_PONG = 0xa,
} kl_ws_opcode;

/* Close codes (RFC 6455 §7.4.1). 1005 and 1006 are never sent on the wire. */
enum {
    KL_WS_CLOSE_NORMAL = 1000,
    KL_WS_CLOSE_GOING_AWAY = 1001,
    KL_WS_CLOSE_PROTOCOL_ERROR = 1002,
    KL_WS_CLOSE_UNSUPPORTED_DATA = 1003,
    KL_WS_CLOSE_NO_STATUS = 1005,
    KL_WS_CLOSE_ABNORMAL = 1006,
    KL_WS_CLOSE_INVALID_DATA = 1007,
    KL_WS_CLOSE_POLICY_VIOLATION = 1008,
    KL_WS_CLOSE_MESSAGE_TOO_BIG = 1009,
    KL_WS_CLOSE_MANDATORY_EXTENSION = 1010,
    KL_WS_CLOSE_INTERNAL_ERROR = 1011,
};

#define KL_WS_MAX_CONTROL_PAYLOAD 125
#define KL_WS_MAX_CLOSE_REASON 123              /* 125 minus the 2-byte code */
#define KL_WS_DEFAULT_MAX_MESSAGE (1024 * 1024) /* python-websockets' default max_size */
#define KL_WS_KEY_LEN 24                        /* base64 of 16 random bytes */
#define KL_WS_ACCEPT_LEN 28                     /* base64 of a SHA-1 digest */

/* ---- Handshake ------------------------------------------------------------------------- */

/* Sec-WebSocket-Accept for a client's Sec-WebSocket-Key: base64(SHA-1(key + GUID)). */
void kl_ws_accept_key(const char *client_key, char out[KL_WS_ACCEPT_LEN + 1]);

/* A fresh random Sec-WebSocket-Key. */
void kl_ws_client_key_new(char out[KL_WS_KEY_LEN + 1]);

/* True if key is a valid Sec-WebSocket-Key: canonical base64 of exactly 16 bytes. */
bool kl_ws_key_is_valid(const char *key);

/* True if the comma-separated header value contains token (case-insensitive, spaces and tabs
 * around items ignored), e.g. ("keep-alive, Upgrade", "upgrade"). NULL value → false. */
bool kl_ws_header_has_token(const char *value, const char *token);

/* Server side: check the upgrade headers of a GET request (values NULL when absent).
 * Returns 0, or -1 with err: EINVAL (answer 400) or EPROTONOSUPPORT for a version other
 * than 13 (answer 426 with "Sec-WebSocket-Version: 13"). */
int kl_ws_server_check_request(const char *upgrade, const char *connection, const char *version,
                               const char *key, kl_error *err);

/* Client side: the HTTP/1.1 upgrade request for path on host (the Host header value, e.g.
 * "localhost" or "127.0.0.1:8085"), with the given key. Refuses control characters and
 * spaces in host or path (header injection). Returns a new string or NULL with err (EINVAL). */
char *kl_ws_client_request(const char *host, const char *path, const char *key, kl_error *err);

/* Client side: check the server's response head (status line and headers, through the empty
 * line; len bytes, need not be NUL-terminated): status 101, "Upgrade: websocket", a
 * "Connection" with the "upgrade" token, the right Sec-WebSocket-Accept for key, and no
 * extension or subprotocol we did not ask for. Returns 0 or -1 with err (EPROTO); for another
 * status the message names the status line. */
int kl_ws_client_check_response(const char *head, size_t len, const char *key, kl_error *err);

/* ---- Framing --------------------------------------------------------------------------- */

/* Append one frame to out. Client role: masked with a fresh random key; server role: unmasked.
 * Control frames must carry at most 125 bytes (the caller's duty; kl_ws_conn checks). */
void kl_ws_frame_append(kl_buf *out, kl_ws_role role, kl_ws_opcode op, bool fin, const void *data,
                        size_t n);

/* Same with an explicit masking key, or unmasked when mask is NULL (tests, fuzzing). */
void kl_ws_frame_append_masked(kl_buf *out, kl_ws_opcode op, bool fin, const void *data, size_t n,
                               const uint8_t *mask);

/* How many bytes of reason (len bytes) fit a close frame: len if len <= 123, otherwise the
 * largest cut <= 123 that does not split a UTF-8 sequence. */
size_t kl_ws_close_reason_fit(const char *reason, size_t len);

/* Append a close frame with code and reason (NULL = none), the reason cut by
 * kl_ws_close_reason_fit. code 0 or KL_WS_CLOSE_NO_STATUS sends an empty close frame. */
void kl_ws_close_append(kl_buf *out, kl_ws_role role, uint16_t code, const char *reason);

/* True for a code a peer may put in a close frame: 1000-1003, 1007-1014, 3000-4999. */
bool kl_ws_close_code_is_valid(unsigned code);

/* A decoded message or control frame. */
typedef struct kl_ws_message {
    kl_ws_opcode opcode; /* TEXT, BINARY, PING, PONG or CLOSE (never CONTINUATION) */
    const uint8_t *data; /* payload, reassembled; for CLOSE the reason. Never NULL, always
                          * NUL-terminated (the NUL is not counted in len). Owned by the
                          * decoder/connection, valid until its next feed/recv call. */
    size_t len;
    uint16_t close_code; /* CLOSE only: the peer's code, KL_WS_CLOSE_NO_STATUS if none */
} kl_ws_message;

typedef struct kl_ws_decoder kl_ws_decoder;

/* A decoder for frames sent to an endpoint of the given role (a server decodes what clients
 * send). max_message bounds a reassembled data message (0 = KL_WS_DEFAULT_MAX_MESSAGE). */
kl_ws_decoder *kl_ws_decoder_new(kl_ws_role role, size_t max_message);
void kl_ws_decoder_free(kl_ws_decoder *d);

/* Feed n bytes. Returns 1 when a message is complete (*msg filled; *consumed says how many
 * bytes were used: feed the rest in the next call), 0 when all n bytes were used and more are
 * needed, -1 on a protocol violation (err: EPROTO or EMSGSIZE; kl_ws_decoder_close_code says
 * which close code to send). After an error the decoder stays failed. Pings, pongs and closes
 * are returned as they come, also between the fragments of a data message. */
int kl_ws_decoder_feed(kl_ws_decoder *d, const void *data, size_t n, size_t *consumed,
                       kl_ws_message *msg, kl_error *err);

/* After feed failed: 1002 (protocol error) or 1009 (message too big); 0 if it has not failed. */
uint16_t kl_ws_decoder_close_code(const kl_ws_decoder *d);

/* ---- Connection ------------------------------------------------------------------------ */

/* A byte stream. read/write return the byte count (read: 0 at end of stream), or -1 with errno.
 * When fd >= 0, read and write must not block: they fail with EAGAIN and the connection polls
 * fd (this also works for TLS, where data may sit in the TLS layer: reads are tried before
 * polling). When fd < 0, read and write may block and timeouts are not honoured. */
typedef struct kl_ws_transport {
    void *ctx;
    ssize_t (*read)(void *ctx, void *buf, size_t n);
    ssize_t (*write)(void *ctx, const void *buf, size_t n);
    /* Optional: whether input is buffered below this connection where polling fd does not
     * see it (decrypted TLS records). */
    bool (*pending)(void *ctx);
    int fd;
} kl_ws_transport;

/* A transport over a connected socket (recv/send with MSG_DONTWAIT and MSG_NOSIGNAL, so the
 * socket may be blocking or not). The fd stays the caller's. */
kl_ws_transport kl_ws_transport_socket(int fd);

typedef struct kl_ws_conn kl_ws_conn;

/* A connection in the given role over t (copied). max_message as for the decoder.
 * Freeing it does not close the transport. */
kl_ws_conn *kl_ws_conn_new(kl_ws_role role, const kl_ws_transport *t, size_t max_message);
void kl_ws_conn_free(kl_ws_conn *c);

/* Bytes already read from the transport that belong to the WebSocket stream (what the server
 * read past the upgrade request's head). Call before the first recv. */
void kl_ws_conn_preload(kl_ws_conn *c, const void *data, size_t n);

/* Client role: send the upgrade request for path with Host header host, read and check the
 * server's response (kl_ws_client_check_response) within timeout_ms (< 0 = no limit). Bytes
 * after the response head are kept for recv. Returns 0 or -1 with err. */
int kl_ws_conn_client_handshake(kl_ws_conn *c, const char *host, const char *path, int timeout_ms,
                                kl_error *err);

/* Limits, all in milliseconds, 0 or negative = off (the defaults):
 * idle: recv fails with ETIMEDOUT once nothing arrived from the peer for that long (kleened
 *       uses 60000, API.md §7.1); the caller then closes the connection;
 * keepalive: while waiting in recv, send a ping whenever we sent nothing for that long
 *       (klee uses 20000, like python-websockets);
 * send: a send that cannot make progress for that long fails with ETIMEDOUT (and the
 *       connection is unusable afterwards, since a frame may be half written). */
void kl_ws_conn_set_idle_timeout(kl_ws_conn *c, int ms);
void kl_ws_conn_set_keepalive(kl_ws_conn *c, int ms);
void kl_ws_conn_set_send_timeout(kl_ws_conn *c, int ms);

/* Milliseconds since the last bytes arrived from the peer (or since the connection was made). */
int64_t kl_ws_conn_idle_ms(kl_ws_conn *c);

/* The transport's fd (or -1), and whether bytes are buffered here that recv will decode without
 * reading: for callers that poll the fd together with others (klee's stdin). */
int kl_ws_conn_fd(const kl_ws_conn *c);
bool kl_ws_conn_has_pending_input(const kl_ws_conn *c);

/* Send one unfragmented message or control frame. Safe to call from several threads at once
 * (frames are never interleaved). Fails with EPIPE once a close frame has been sent, EINVAL
 * for a control payload over 125 bytes, and with the transport's error. */
int kl_ws_conn_send(kl_ws_conn *c, kl_ws_opcode op, const void *data, size_t n, kl_error *err);
int kl_ws_conn_send_text(kl_ws_conn *c, const void *data, size_t n, kl_error *err);
int kl_ws_conn_send_binary(kl_ws_conn *c, const void *data, size_t n, kl_error *err);
int kl_ws_conn_send_ping(kl_ws_conn *c, const void *data, size_t n, kl_error *err);

/* Send a close frame (reason cut to fit, see kl_ws_close_reason_fit; code 0 = no code), once:
 * a second call is a no-op returning 0. EINVAL for a code that may not be sent. */
int kl_ws_conn_send_close(kl_ws_conn *c, uint16_t code, const char *reason, kl_error *err);

/* Receive one message: TEXT, BINARY, PONG or CLOSE. Waits at most timeout_ms (< 0 = no limit,
 * 0 = only what is available now). Returns 1 with *msg filled (valid until the next recv),
 * 0 on timeout, -1 with err. Pings are answered with pongs and not returned. On a CLOSE from
 * the peer, the close is answered (echoing its code) unless we sent one already, and the
 * message carries the peer's code and reason; later calls fail with EPIPE. Errors: ETIMEDOUT
 * (idle timeout), ECONNRESET (stream ended without a close frame), EPROTO / EMSGSIZE (the peer
 * broke the protocol; a close 1002 / 1009 has been sent), or the transport's error.
 * Only one thread may receive at a time. */
int kl_ws_conn_recv(kl_ws_conn *c, kl_ws_message *msg, int timeout_ms, kl_error *err);

/* The close handshake started by us: send close (as kl_ws_conn_send_close) unless already sent,
 * then read until the peer's close arrives, discarding data, for at most timeout_ms. Returns 0
 * when the handshake completed (also when the peer's close had already been received), -1 with
 * err otherwise (ETIMEDOUT, ECONNRESET ...). The caller then closes the transport. */
int kl_ws_conn_close(kl_ws_conn *c, uint16_t code, const char *reason, int timeout_ms,
                     kl_error *err);

/* True once a close frame was sent / received. */
bool kl_ws_conn_close_sent(kl_ws_conn *c);
bool kl_ws_conn_close_received(const kl_ws_conn *c);

static inline void kl_ws_conn_freep(kl_ws_conn **c)
{
    if (*c)
        kl_ws_conn_free(*c);
}
#define _cleanup_ws_conn_ __attribute__((cleanup(kl_ws_conn_freep)))

static inline void kl_ws_decoder_freep(kl_ws_decoder **d)
{
    if (*d)
        kl_ws_decoder_free(*d);
}
#define _cleanup_ws_decoder_ __attribute__((cleanup(kl_ws_decoder_freep)))

#endif
