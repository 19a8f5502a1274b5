/* klee's WebSocket client for kleened's streaming endpoints (/exec/start, /images/create,
 * /images/build), KLEE-CLI.md §6 and API.md §7.
 *
 * One session = connect (over cli/http's raw stream: UNIX socket, TCP or TLS), send the
 * JSON config as one text frame, read the "starting" WebSocketMessage, relay the output
 * frames, and end at the server's close, whose reason is a JSON WebSocketMessage. The
 * commands (image create, image build, container exec/start/run) choose how output is
 * rendered (a callback) and which exit code a close code means; this module only prints
 * the connection failures and, on request, the closing message. */
#ifndef KLEE_WSCLIENT_H
#define KLEE_WSCLIENT_H

#include "cli/cli.h"
#include "lib/ws.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Keepalive ping interval and handshake timeout (python-websockets' defaults, which the
 * original used; kleened drops a client silent for 60 s). */
#define WSCLIENT_KEEPALIVE_MS 20000
#define WSCLIENT_OPEN_TIMEOUT_MS 10000
#define WSCLIENT_CLOSE_TIMEOUT_MS 10000

/* A parsed WebSocketMessage {"msg_type","message","data"}; the strings are never NULL
 * after a successful parse (a missing or non-string field reads as ""). */
typedef struct wsclient_msg {
    char *msg_type;
    char *message;
    char *data;
    bool multiplex; /* ours: a "starting" message with "multiplex": true (docs/api.md) */
} wsclient_msg;

/* Parse n bytes as a WebSocketMessage: a JSON object with a string "msg_type". Returns 0,
 * or -1 (out zeroed) when it is not one. Pure. */
int wsclient_msg_parse(const void *s, size_t n, wsclient_msg *out);
void wsclient_msg_free(wsclient_msg *m);

/* How a session ended. */
typedef struct wsclient_result {
    bool started;        /* the first frame was a WebSocketMessage with msg_type "starting" */
    wsclient_msg start;  /* the first frame when it was a WebSocketMessage (else zeroed) */
    int code;            /* the server's close code; 1005 = close without a code;
                          * 1006 = the connection dropped without a close frame */
    bool reason_is_json; /* the close reason parsed as a WebSocketMessage */
    wsclient_msg reason; /* parsed close reason; when not JSON: msg_type "" and message =
                          * the raw reason */
    bool interrupted;    /* we closed the session (SIGINT/SIGTERM in interactive mode) */
    bool multiplexed;    /* the server confirmed our exec protocol (start.multiplex): binary
                          * output frames name their stream, and we may send control messages */
} wsclient_result;

void wsclient_result_free(wsclient_result *r);

/* Parse a close frame's code and reason into r (code, reason_is_json, reason). Pure. */
void wsclient_result_set_close(wsclient_result *r, int code, const void *reason, size_t n);

/* Called for every output frame after the first one, bytes exactly as received. */
typedef void (*wsclient_output_fn)(void *ud, const uint8_t *data, size_t n, bool is_binary);

typedef struct wsclient wsclient;

/* Connect to kleened (ctx's host and TLS settings; Host "localhost" for UNIX sockets),
 * do the upgrade for `path` (e.g. "/images/create") and send `config` as one text frame
 * (compact JSON). On failure prints "unable to connect to kleened: <reason>" on stderr and
 * returns NULL. */
wsclient *wsclient_open(cli_ctx *ctx, const char *path, const json_t *config);
void wsclient_free(wsclient *w);

/* Read the first frame into r->start / r->started. Returns 1 when it was a
 * WebSocketMessage (started or not: check r->started and r->start.msg_type); 0 when it was
 * not JSON (kleened's "error: <reason>" before a 1011, or a cast error before a 1002): it
 * has been printed on stderr, and the caller should still call wsclient_relay to collect
 * the close and treat the session as failed; -1 when the session already ended (the close
 * is in r, or r->code is 1006 after the drop has been printed). */
int wsclient_read_start(wsclient *w, wsclient_result *r);

/* Relay output frames to `out` (NULL: written verbatim to stdout and flushed) until the
 * server closes; keepalive pings every WSCLIENT_KEEPALIVE_MS. Fills r's close fields.
 * Returns 0 when a close frame arrived, -1 when the connection dropped (printed;
 * r->code = 1006). */
int wsclient_relay(wsclient *w, wsclient_output_fn out, void *ud, wsclient_result *r);

/* The terminal's size, from stdin or else stdout when one is a terminal. */
bool wsclient_terminal_size(unsigned *rows, unsigned *cols);

/* How an exec session's input is handled. */
typedef struct wsclient_exec_io {
    int in_fd;    /* forwarded as binary frames; -1: no input */
    bool raw_tty; /* in_fd, when it is a terminal, goes in raw mode (restored at the end) */
    bool tty;     /* the process has a terminal */
} wsclient_exec_io;

/* Same as wsclient_relay, and also forward what can be read from io->in_fd (stdin) as binary
 * frames. SIGINT and SIGTERM close the session with 1000 "interrupted by user"
 * (r->interrupted; the handlers are restored before returning). In a multiplexed session
 * (r->multiplexed): output frames go to our stdout or stderr by their stream; the end of
 * input (or no input, without a tty) is sent as a close_stdin control message; with a tty,
 * its size is sent at once and on every SIGWINCH. Otherwise (the original's protocol) the end
 * of input stops the forwarding but not the relay. */
int wsclient_relay_exec(wsclient *w, const wsclient_exec_io *io, wsclient_output_fn out, void *ud,
                        wsclient_result *r);
/* wsclient_relay_exec with in_fd, raw_tty = tty. */
int wsclient_relay_interactive(wsclient *w, int in_fd, bool raw_tty, wsclient_output_fn out,
                               void *ud, wsclient_result *r);

/* The original's ending: an empty line on stdout, then the reason's message and, when
 * non-empty, its data, each on its own line (bold on a terminal). An "error" reason goes to
 * stderr instead (bold red). Nothing but the empty line when the message is empty. */
void wsclient_print_closing(cli_ctx *ctx, const wsclient_result *r);

/* Send one binary frame (the build context of context_upload). -1 with err set when the
 * connection failed. */
int wsclient_send_binary(wsclient *w, const void *data, size_t n, kl_error *err);

/* The whole common session: open, read the first frame, relay to `out` (NULL = stdout),
 * print the closing (wsclient_print_closing). Returns 0 when the session reached a close
 * (see r->started and r->code), -1 when it could not connect or dropped (printed). */
int wsclient_run(cli_ctx *ctx, const char *path, const json_t *config, wsclient_output_fn out,
                 void *ud, wsclient_result *r);

#endif
