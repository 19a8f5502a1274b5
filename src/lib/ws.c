/* RFC 6455 WebSocket: handshake helpers, framing, incremental decoder, blocking connection.
 *
 * Everything a peer sends is untrusted: the decoder bounds every allocation by the message
 * limit before it happens, validates each header as soon as its bytes are there, and never
 * reads past what it was given (fuzz/fuzz_ws.c). This module must not print, and must not
 * know about HTTP beyond the upgrade handshake. */
#include "lib/ws.h"

#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>

#include "lib/base64.h"
#include "lib/cleanup.h"
#include "lib/id.h"
#include "lib/sha1.h"
#include "lib/xalloc.h"

#define WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
#define WS_MAX_RESPONSE_HEAD 16384

/* ---- Handshake ------------------------------------------------------------------------- */

void kl_ws_accept_key(const char *client_key, char out[KL_WS_ACCEPT_LEN + 1])
{
    kl_sha1_ctx c;
    uint8_t digest[KL_SHA1_LEN];
    kl_sha1_init(&c);
    kl_sha1_update(&c, client_key, strlen(client_key));
    kl_sha1_update(&c, WS_GUID, strlen(WS_GUID));
    kl_sha1_final(&c, digest);
    kl_base64_encode(digest, sizeof(digest), out);
}

void kl_ws_client_key_new(char out[KL_WS_KEY_LEN + 1])
{
    uint8_t nonce[16];
    kl_random_bytes(nonce, sizeof(nonce));
    kl_base64_encode(nonce, sizeof(nonce), out);
}

bool kl_ws_key_is_valid(const char *key)
{
    uint8_t raw[18];
    if (!key || strlen(key) != KL_WS_KEY_LEN)
        return false;
    return kl_base64_decode(key, KL_WS_KEY_LEN, raw, sizeof(raw), NULL) == 16;
}

static bool is_ows(char ch)
{
    return ch == ' ' || ch == '\t';
}

bool kl_ws_header_has_token(const char *value, const char *token)
{
    if (!value)
        return false;
    size_t tlen = strlen(token);
    const char *p = value;
    while (*p) {
        while (is_ows(*p) || *p == ',')
            p++;
        const char *start = p;
        while (*p && *p != ',')
            p++;
        const char *end = p;
        while (end > start && is_ows(end[-1]))
            end--;
        if ((size_t)(end - start) == tlen && strncasecmp(start, token, tlen) == 0)
            return true;
    }
    return false;
}

int kl_ws_server_check_request(const char *upgrade, const char *connection, const char *version,
                               const char *key, kl_error *err)
{
    if (!kl_ws_header_has_token(upgrade, "websocket"))
        return kl_error_set(err, EINVAL, "not a WebSocket upgrade: missing 'Upgrade: websocket'");
    if (!kl_ws_header_has_token(connection, "upgrade"))
        return kl_error_set(err, EINVAL,
                            "not a WebSocket upgrade: 'Connection' lacks the 'upgrade' token");
    if (!version || strcmp(version, "13") != 0)
        return kl_error_set(err, EPROTONOSUPPORT, "unsupported Sec-WebSocket-Version '%s'",
                            version ? version : "");
    if (!kl_ws_key_is_valid(key))
        return kl_error_set(err, EINVAL, "invalid Sec-WebSocket-Key");
    return 0;
}

/* Visible ASCII only: no space, control character or DEL can reach a request line or header. */
static bool is_header_safe(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s <= 0x20 || (unsigned char)*s >= 0x7f)
            return false;
    return true;
}

char *kl_ws_client_request(const char *host, const char *path, const char *key, kl_error *err)
{
    if (!host || !*host || !is_header_safe(host))
        return kl_error_set(err, EINVAL, "invalid host for a WebSocket request"), NULL;
    if (!path || path[0] != '/' || !is_header_safe(path))
        return kl_error_set(err, EINVAL, "invalid path for a WebSocket request"), NULL;
    if (!key || !is_header_safe(key))
        return kl_error_set(err, EINVAL, "invalid Sec-WebSocket-Key"), NULL;
    return xasprintf("GET %s HTTP/1.1\r\n"
                     "Host: %s\r\n"
                     "Upgrade: websocket\r\n"
                     "Connection: Upgrade\r\n"
                     "Sec-WebSocket-Key: %s\r\n"
                     "Sec-WebSocket-Version: 13\r\n"
                     "\r\n",
                     path, host, key);
}

int kl_ws_client_check_response(const char *head, size_t len, const char *key, kl_error *err)
{
    _cleanup_free_ char *copy = xstrndup(head, len);
    char *save = NULL;
    char *line = strtok_r(copy, "\r\n", &save);
    if (!line || strncmp(line, "HTTP/1.1 ", 9) != 0)
        return kl_error_set(err, EPROTO, "WebSocket handshake: not an HTTP/1.1 response");
    if (strncmp(line + 9, "101", 3) != 0 || (line[12] != '\0' && line[12] != ' '))
        return kl_error_set(err, EPROTO, "WebSocket handshake refused: '%.200s'", line);

    char expected[KL_WS_ACCEPT_LEN + 1];
    kl_ws_accept_key(key, expected);
    bool upgrade = false, connection = false;
    int accepts = 0;
    bool accept_ok = false;
    while ((line = strtok_r(NULL, "\r\n", &save))) {
        char *colon = strchr(line, ':');
        if (!colon)
            return kl_error_set(err, EPROTO, "WebSocket handshake: malformed header line");
        *colon = '\0';
        char *value = colon + 1;
        while (is_ows(*value))
            value++;
        size_t vlen = strlen(value);
        while (vlen > 0 && is_ows(value[vlen - 1]))
            value[--vlen] = '\0';
        if (strcasecmp(line, "Upgrade") == 0) {
            upgrade |= kl_ws_header_has_token(value, "websocket");
        } else if (strcasecmp(line, "Connection") == 0) {
            connection |= kl_ws_header_has_token(value, "upgrade");
        } else if (strcasecmp(line, "Sec-WebSocket-Accept") == 0) {
            accepts++;
            accept_ok = strcmp(value, expected) == 0;
        } else if (strcasecmp(line, "Sec-WebSocket-Extensions") == 0 ||
                   strcasecmp(line, "Sec-WebSocket-Protocol") == 0) {
            return kl_error_set(err, EPROTO,
                                "WebSocket handshake: server chose a %s we did not offer", line);
        }
    }
    if (!upgrade)
        return kl_error_set(err, EPROTO, "WebSocket handshake: missing 'Upgrade: websocket'");
    if (!connection)
        return kl_error_set(err, EPROTO, "WebSocket handshake: missing 'Connection: upgrade'");
    if (accepts != 1 || !accept_ok)
        return kl_error_set(err, EPROTO, "WebSocket handshake: wrong Sec-WebSocket-Accept");
    return 0;
}

/* ---- Framing --------------------------------------------------------------------------- */

void kl_ws_frame_append_masked(kl_buf *out, kl_ws_opcode op, bool fin, const void *data, size_t n,
                               const uint8_t *mask)
{
    uint8_t hdr[14];
    size_t h = 0;
    hdr[h++] = (uint8_t)((fin ? 0x80 : 0) | (op & 0x0f));
    uint8_t maskbit = mask ? 0x80 : 0;
    if (n <= 125) {
        hdr[h++] = maskbit | (uint8_t)n;
    } else if (n <= 0xffff) {
        hdr[h++] = maskbit | 126;
        hdr[h++] = (uint8_t)(n >> 8);
        hdr[h++] = (uint8_t)n;
    } else {
        hdr[h++] = maskbit | 127;
        for (int i = 7; i >= 0; i--)
            hdr[h++] = (uint8_t)((uint64_t)n >> (8 * i));
    }
    if (mask) {
        memcpy(hdr + h, mask, 4);
        h += 4;
    }
    kl_buf_reserve(out, h + n);
    kl_buf_append(out, hdr, h);
    uint8_t *dst = (uint8_t *)out->data + out->len;
    const uint8_t *src = data;
    if (mask) {
        for (size_t i = 0; i < n; i++)
            dst[i] = src[i] ^ mask[i & 3];
    } else if (n) {
        memcpy(dst, src, n);
    }
    out->len += n;
    out->data[out->len] = '\0';
}

void kl_ws_frame_append(kl_buf *out, kl_ws_role role, kl_ws_opcode op, bool fin, const void *data,
                        size_t n)
{
    if (role == KL_WS_ROLE_CLIENT) {
        uint8_t mask[4];
        kl_random_bytes(mask, sizeof(mask));
        kl_ws_frame_append_masked(out, op, fin, data, n, mask);
    } else {
        kl_ws_frame_append_masked(out, op, fin, data, n, NULL);
    }
}

size_t kl_ws_close_reason_fit(const char *reason, size_t len)
{
    if (len <= KL_WS_MAX_CLOSE_REASON)
        return len;
    /* Cut before the character that straddles the limit: back up over at most three
     * continuation bytes (10xxxxxx), the most a valid UTF-8 sequence has. */
    size_t cut = KL_WS_MAX_CLOSE_REASON;
    for (int i = 0; i < 3 && cut > 0 && ((unsigned char)reason[cut] & 0xc0) == 0x80; i++)
        cut--;
    return cut;
}

void kl_ws_close_append(kl_buf *out, kl_ws_role role, uint16_t code, const char *reason)
{
    uint8_t payload[KL_WS_MAX_CONTROL_PAYLOAD];
    size_t n = 0;
    if (code != 0 && code != KL_WS_CLOSE_NO_STATUS) {
        payload[n++] = (uint8_t)(code >> 8);
        payload[n++] = (uint8_t)code;
        if (reason) {
            size_t rlen = kl_ws_close_reason_fit(reason, strlen(reason));
            memcpy(payload + n, reason, rlen);
            n += rlen;
        }
    }
    kl_ws_frame_append(out, role, KL_WS_OP_CLOSE, true, payload, n);
}

bool kl_ws_close_code_is_valid(unsigned code)
{
    return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) ||
           (code >= 3000 && code <= 4999);
}

/* ---- Decoder --------------------------------------------------------------------------- */

enum decoder_state { DEC_HEADER, DEC_PAYLOAD, DEC_FAILED };

struct kl_ws_decoder {
    kl_ws_role role;
    size_t max_message;
    enum decoder_state state;

    /* header of the frame being read */
    uint8_t hdr[14];
    size_t hdr_len, hdr_need;
    /* frame being read */
    bool fin, masked;
    uint8_t opcode;
    uint8_t mask[4];
    uint64_t payload_len, payload_done;

    /* data message being reassembled */
    bool in_message;
    uint8_t msg_opcode;
    kl_buf msg;
    bool msg_delivered; /* msg was handed out: reset it on the next feed */

    uint8_t ctrl[KL_WS_MAX_CONTROL_PAYLOAD + 1];

    uint16_t fail_code;
    kl_error fail;
};

kl_ws_decoder *kl_ws_decoder_new(kl_ws_role role, size_t max_message)
{
    kl_ws_decoder *d = xcalloc(1, sizeof(*d));
    d->role = role;
    d->max_message = max_message ? max_message : KL_WS_DEFAULT_MAX_MESSAGE;
    d->state = DEC_HEADER;
    d->hdr_need = 2;
    return d;
}

void kl_ws_decoder_free(kl_ws_decoder *d)
{
    if (!d)
        return;
    kl_buf_free(&d->msg);
    free(d);
}

uint16_t kl_ws_decoder_close_code(const kl_ws_decoder *d)
{
    return d->state == DEC_FAILED ? d->fail_code : 0;
}

__attribute__((format(printf, 4, 5))) static int decoder_fail(kl_ws_decoder *d, uint16_t close_code,
                                                              int code, const char *fmt, ...)
{
    char msg[KL_ERROR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    d->state = DEC_FAILED;
    d->fail_code = close_code;
    kl_error_set(&d->fail, code, "%s", msg);
    return -1;
}

/* Rules that the first two header bytes alone decide: reject as early as possible. */
static int decoder_check_start(kl_ws_decoder *d)
{
    uint8_t b0 = d->hdr[0], b1 = d->hdr[1];
    d->fin = b0 & 0x80;
    d->opcode = b0 & 0x0f;
    d->masked = b1 & 0x80;
    uint8_t len7 = b1 & 0x7f;

    /* No extension is ever negotiated, so every RSV bit must be clear. */
    if (b0 & 0x70)
        return decoder_fail(d, KL_WS_CLOSE_PROTOCOL_ERROR, EPROTO, "reserved bits set in frame");
    switch (d->opcode) {
    case KL_WS_OP_CONTINUATION:
        if (!d->in_message)
            return decoder_fail(d, KL_WS_CLOSE_PROTOCOL_ERROR, EPROTO,
                                "continuation frame without a message to continue");
        break;
    case KL_WS_OP_TEXT:
    case KL_WS_OP_BINARY:
        if (d->in_message)
            return decoder_fail(d, KL_WS_CLOSE_PROTOCOL_ERROR, EPROTO,
                                "new data frame inside a fragmented message");
        break;
    case KL_WS_OP_CLOSE:
    case KL_WS_OP_PING:
    case KL_WS_OP_PONG:
        if (!d->fin)
            return decoder_fail(d, KL_WS_CLOSE_PROTOCOL_ERROR, EPROTO, "fragmented control frame");
        if (len7 > KL_WS_MAX_CONTROL_PAYLOAD)
            return decoder_fail(d, KL_WS_CLOSE_PROTOCOL_ERROR, EPROTO,
                                "control frame payload over 125 bytes");
        break;
    default:
        return decoder_fail(d, KL_WS_CLOSE_PROTOCOL_ERROR, EPROTO, "unknown opcode 0x%x",
                            d->opcode);
    }
    /* RFC 6455 §5.1: clients mask every frame, servers never do; both must enforce it. */
    if (d->role == KL_WS_ROLE_SERVER && !d->masked)
        return decoder_fail(d, KL_WS_CLOSE_PROTOCOL_ERROR, EPROTO, "client frame is not masked");
    if (d->role == KL_WS_ROLE_CLIENT && d->masked)
        return decoder_fail(d, KL_WS_CLOSE_PROTOCOL_ERROR, EPROTO, "server frame is masked");

    d->hdr_need = 2 + (len7 == 126 ? 2 : len7 == 127 ? 8 : 0) + (d->masked ? 4 : 0);
    return 0;
}

/* The whole header is there: length, mask, and the message size limit. Non-minimal length
 * encodings are accepted (the minimal form is a duty of the sender, checking it buys nothing). */
static int decoder_parse_header(kl_ws_decoder *d)
{
    uint8_t len7 = d->hdr[1] & 0x7f;
    size_t h = 2;
    uint64_t len = len7;
    if (len7 == 126) {
        len = (uint64_t)d->hdr[2] << 8 | d->hdr[3];
        h += 2;
    } else if (len7 == 127) {
        len = 0;
        for (int i = 0; i < 8; i++)
            len = len << 8 | d->hdr[2 + i];
        h += 8;
        if (len >> 63)
            return decoder_fail(d, KL_WS_CLOSE_PROTOCOL_ERROR, EPROTO,
                                "frame length has its most significant bit set");
    }
    if (d->masked)
        memcpy(d->mask, d->hdr + h, 4);
    d->payload_len = len;
    d->payload_done = 0;

    if (!(d->opcode & 0x08)) {
        /* Data frame: bound the reassembled message before allocating anything. */
        if (len > d->max_message - d->msg.len)
            return decoder_fail(d, KL_WS_CLOSE_MESSAGE_TOO_BIG, EMSGSIZE,
                                "message too big (over %zu bytes)", d->max_message);
        if (d->opcode != KL_WS_OP_CONTINUATION) {
            d->in_message = true;
            d->msg_opcode = d->opcode;
        }
        kl_buf_reserve(&d->msg, (size_t)len);
    }
    d->state = DEC_PAYLOAD;
    return 0;
}

/* A frame is complete. Returns 1 if it yields a message, 0 if not, -1 on error. */
static int decoder_complete_frame(kl_ws_decoder *d, kl_ws_message *msg)
{
    d->state = DEC_HEADER;
    d->hdr_len = 0;
    d->hdr_need = 2;

    if (d->opcode & 0x08) {
        size_t n = (size_t)d->payload_len;
        d->ctrl[n] = '\0';
        msg->opcode = d->opcode;
        msg->close_code = 0;
        if (d->opcode != KL_WS_OP_CLOSE) {
            msg->data = d->ctrl;
            msg->len = n;
            return 1;
        }
        if (n == 1)
            return decoder_fail(d, KL_WS_CLOSE_PROTOCOL_ERROR, EPROTO,
                                "close frame with a 1-byte payload");
        if (n == 0) {
            msg->close_code = KL_WS_CLOSE_NO_STATUS;
            msg->data = d->ctrl;
            msg->len = 0;
            return 1;
        }
        unsigned code = (unsigned)d->ctrl[0] << 8 | d->ctrl[1];
        if (!kl_ws_close_code_is_valid(code))
            return decoder_fail(d, KL_WS_CLOSE_PROTOCOL_ERROR, EPROTO, "invalid close code %u",
                                code);
        /* The reason is handed over as bytes, not checked for UTF-8 (see below). */
        msg->close_code = (uint16_t)code;
        msg->data = d->ctrl + 2;
        msg->len = n - 2;
        return 1;
    }

    if (!d->fin)
        return 0;
    /* RFC 6455 §8.1 wants text messages checked for valid UTF-8 (close 1007 otherwise).
     * We deliberately do not: kleened sends process output as text frames, byte for byte, and
     * that output need not be UTF-8 (API.md §7.1). A text message is delivered as bytes. */
    msg->opcode = d->msg_opcode;
    msg->close_code = 0;
    msg->data = d->msg.data ? (const uint8_t *)d->msg.data : (const uint8_t *)"";
    msg->len = d->msg.len;
    d->in_message = false;
    d->msg_delivered = true;
    return 1;
}

int kl_ws_decoder_feed(kl_ws_decoder *d, const void *data, size_t n, size_t *consumed,
                       kl_ws_message *msg, kl_error *err)
{
    const uint8_t *p = data;
    size_t i = 0;
    *consumed = 0;
    if (d->msg_delivered) {
        d->msg_delivered = false;
        if (d->msg.cap > 65536)
            kl_buf_free(&d->msg);
        else
            kl_buf_reset(&d->msg);
    }
    for (;;) {
        if (d->state == DEC_FAILED) {
            *consumed = i;
            if (err)
                *err = d->fail;
            return -1;
        }
        if (d->state == DEC_HEADER) {
            if (i == n)
                break;
            size_t take = d->hdr_need - d->hdr_len;
            if (take > n - i)
                take = n - i;
            memcpy(d->hdr + d->hdr_len, p + i, take);
            d->hdr_len += take;
            i += take;
            if (d->hdr_len == 2 && d->hdr_need == 2 && decoder_check_start(d) < 0)
                continue;
            if (d->hdr_len < d->hdr_need)
                continue;
            if (decoder_parse_header(d) < 0)
                continue;
        }
        /* DEC_PAYLOAD */
        uint64_t want = d->payload_len - d->payload_done;
        size_t take = want < (uint64_t)(n - i) ? (size_t)want : n - i;
        uint8_t *dst;
        if (d->opcode & 0x08) {
            dst = d->ctrl + d->payload_done;
        } else {
            dst = (uint8_t *)d->msg.data + d->msg.len;
            d->msg.len += take;
        }
        if (d->masked) {
            for (size_t k = 0; k < take; k++)
                dst[k] = p[i + k] ^ d->mask[(d->payload_done + k) & 3];
        } else if (take) {
            memcpy(dst, p + i, take);
        }
        if (!(d->opcode & 0x08) && d->msg.data)
            d->msg.data[d->msg.len] = '\0';
        d->payload_done += take;
        i += take;
        if (d->payload_done < d->payload_len)
            break;
        int r = decoder_complete_frame(d, msg);
        if (r < 0)
            continue;
        if (r > 0) {
            *consumed = i;
            return 1;
        }
    }
    *consumed = i;
    return 0;
}

/* ---- Transport over a socket ----------------------------------------------------------- */

static ssize_t socket_read(void *ctx, void *buf, size_t n)
{
    return recv((int)(intptr_t)ctx, buf, n, MSG_DONTWAIT);
}

static ssize_t socket_write(void *ctx, const void *buf, size_t n)
{
    return send((int)(intptr_t)ctx, buf, n, MSG_DONTWAIT | MSG_NOSIGNAL);
}

kl_ws_transport kl_ws_transport_socket(int fd)
{
    return (kl_ws_transport){
        .ctx = (void *)(intptr_t)fd, .read = socket_read, .write = socket_write, .fd = fd};
}

/* ---- Connection ------------------------------------------------------------------------ */

struct kl_ws_conn {
    kl_ws_role role;
    kl_ws_transport t;
    kl_ws_decoder *dec;

    /* Input read from the transport, not yet decoded: in[in_off..in_len). Receive side only. */
    uint8_t *in;
    size_t in_off, in_len, in_cap;

    int idle_timeout_ms, keepalive_ms, send_timeout_ms;
    int64_t last_rx_ms;  /* atomic: read by kl_ws_conn_idle_ms from any thread */
    bool close_received; /* atomic, likewise */

    /* Everything below is guarded by send_lock. */
    pthread_mutex_t send_lock;
    kl_buf out;
    bool close_sent;
    bool broken; /* a write failed midway: the stream can no longer be trusted */
    int64_t last_tx_ms;
};

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

kl_ws_conn *kl_ws_conn_new(kl_ws_role role, const kl_ws_transport *t, size_t max_message)
{
    kl_ws_conn *c = xcalloc(1, sizeof(*c));
    c->role = role;
    c->t = *t;
    c->dec = kl_ws_decoder_new(role, max_message);
    c->in_cap = 16384;
    c->in = xmalloc(c->in_cap);
    pthread_mutex_init(&c->send_lock, NULL);
    c->last_rx_ms = c->last_tx_ms = now_ms();
    return c;
}

void kl_ws_conn_free(kl_ws_conn *c)
{
    if (!c)
        return;
    pthread_mutex_destroy(&c->send_lock);
    kl_buf_free(&c->out);
    kl_ws_decoder_free(c->dec);
    free(c->in);
    free(c);
}

static void in_make_room(kl_ws_conn *c, size_t n)
{
    if (c->in_off == c->in_len)
        c->in_off = c->in_len = 0;
    if (c->in_cap - c->in_len >= n)
        return;
    if (c->in_off) {
        memmove(c->in, c->in + c->in_off, c->in_len - c->in_off);
        c->in_len -= c->in_off;
        c->in_off = 0;
    }
    while (c->in_cap - c->in_len < n)
        c->in_cap *= 2;
    c->in = xrealloc(c->in, c->in_cap);
}

void kl_ws_conn_preload(kl_ws_conn *c, const void *data, size_t n)
{
    if (!n)
        return;
    in_make_room(c, n);
    memcpy(c->in + c->in_len, data, n);
    c->in_len += n;
}

void kl_ws_conn_set_idle_timeout(kl_ws_conn *c, int ms)
{
    c->idle_timeout_ms = ms > 0 ? ms : 0;
}

void kl_ws_conn_set_keepalive(kl_ws_conn *c, int ms)
{
    c->keepalive_ms = ms > 0 ? ms : 0;
}

void kl_ws_conn_set_send_timeout(kl_ws_conn *c, int ms)
{
    pthread_mutex_lock(&c->send_lock);
    c->send_timeout_ms = ms > 0 ? ms : 0;
    pthread_mutex_unlock(&c->send_lock);
}

int64_t kl_ws_conn_idle_ms(kl_ws_conn *c)
{
    return now_ms() - __atomic_load_n(&c->last_rx_ms, __ATOMIC_RELAXED);
}

int kl_ws_conn_fd(const kl_ws_conn *c)
{
    return c->t.fd;
}

bool kl_ws_conn_has_pending_input(const kl_ws_conn *c)
{
    return c->in_off < c->in_len || (c->t.pending && c->t.pending(c->t.ctx));
}

bool kl_ws_conn_close_sent(kl_ws_conn *c)
{
    pthread_mutex_lock(&c->send_lock);
    bool sent = c->close_sent;
    pthread_mutex_unlock(&c->send_lock);
    return sent;
}

bool kl_ws_conn_close_received(const kl_ws_conn *c)
{
    return __atomic_load_n(&c->close_received, __ATOMIC_RELAXED);
}

/* Wait for fd to be ready for events, at most timeout_ms (< 0 = forever).
 * Returns 1 ready, 0 timed out, -1 with err. Without an fd, back off briefly. */
static int wait_fd(kl_ws_conn *c, short events, int timeout_ms, kl_error *err)
{
    if (c->t.fd < 0) {
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
        return 1;
    }
    struct pollfd pfd = {.fd = c->t.fd, .events = events};
    int r = poll(&pfd, 1, timeout_ms);
    if (r < 0) {
        if (errno == EINTR)
            return 1; /* let the caller retry and recompute its deadline */
        return kl_error_errno(err, errno, "websocket: poll");
    }
    return r > 0 ? 1 : 0;
}

/* Write all n bytes. Caller holds send_lock. */
static int write_all_locked(kl_ws_conn *c, const uint8_t *p, size_t n, kl_error *err)
{
    if (c->broken)
        return kl_error_set(err, EPIPE, "websocket: connection broken by an earlier failed send");
    int64_t deadline = c->send_timeout_ms > 0 ? now_ms() + c->send_timeout_ms : -1;
    while (n > 0) {
        ssize_t w = c->t.write(c->t.ctx, p, n);
        if (w > 0) {
            p += w;
            n -= (size_t)w;
            continue;
        }
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            int wait = -1;
            if (deadline >= 0) {
                int64_t left = deadline - now_ms();
                if (left <= 0) {
                    c->broken = true;
                    return kl_error_set(err, ETIMEDOUT, "websocket: send timed out");
                }
                wait = (int)left;
            }
            if (wait_fd(c, POLLOUT, wait, err) < 0) {
                c->broken = true;
                return -1;
            }
            continue;
        }
        c->broken = true;
        if (w == 0)
            return kl_error_set(err, EPIPE, "websocket: send: transport wrote nothing");
        return kl_error_errno(err, errno, "websocket: send");
    }
    c->last_tx_ms = now_ms();
    return 0;
}

static int send_frame_locked(kl_ws_conn *c, kl_ws_opcode op, const void *data, size_t n,
                             kl_error *err)
{
    kl_buf_reset(&c->out);
    kl_ws_frame_append(&c->out, c->role, op, true, data, n);
    int r = write_all_locked(c, (const uint8_t *)c->out.data, c->out.len, err);
    if (c->out.cap > 65536)
        kl_buf_free(&c->out);
    return r;
}

int kl_ws_conn_send(kl_ws_conn *c, kl_ws_opcode op, const void *data, size_t n, kl_error *err)
{
    if (op != KL_WS_OP_TEXT && op != KL_WS_OP_BINARY && op != KL_WS_OP_PING && op != KL_WS_OP_PONG)
        return kl_error_set(err, EINVAL, "websocket: cannot send opcode 0x%x this way", op);
    if ((op & 0x08) && n > KL_WS_MAX_CONTROL_PAYLOAD)
        return kl_error_set(err, EINVAL, "websocket: control frame payload over 125 bytes");
    pthread_mutex_lock(&c->send_lock);
    int r;
    if (c->close_sent)
        r = kl_error_set(err, EPIPE, "websocket: connection is closing");
    else
        r = send_frame_locked(c, op, data, n, err);
    pthread_mutex_unlock(&c->send_lock);
    return r;
}

int kl_ws_conn_send_text(kl_ws_conn *c, const void *data, size_t n, kl_error *err)
{
    return kl_ws_conn_send(c, KL_WS_OP_TEXT, data, n, err);
}

int kl_ws_conn_send_binary(kl_ws_conn *c, const void *data, size_t n, kl_error *err)
{
    return kl_ws_conn_send(c, KL_WS_OP_BINARY, data, n, err);
}

int kl_ws_conn_send_ping(kl_ws_conn *c, const void *data, size_t n, kl_error *err)
{
    return kl_ws_conn_send(c, KL_WS_OP_PING, data, n, err);
}

int kl_ws_conn_send_close(kl_ws_conn *c, uint16_t code, const char *reason, kl_error *err)
{
    if (code != 0 && !kl_ws_close_code_is_valid(code))
        return kl_error_set(err, EINVAL, "websocket: close code %u may not be sent", code);
    pthread_mutex_lock(&c->send_lock);
    int r = 0;
    if (!c->close_sent) {
        kl_buf_reset(&c->out);
        kl_ws_close_append(&c->out, c->role, code, reason);
        r = write_all_locked(c, (const uint8_t *)c->out.data, c->out.len, err);
        c->close_sent = true; /* even on failure: never try to send after a close attempt */
    }
    pthread_mutex_unlock(&c->send_lock);
    return r;
}

/* Read what the transport has into in[], waiting at most timeout_ms.
 * Returns >0 bytes read, 0 on timeout, -1 with err (ECONNRESET at end of stream). */
static int read_some(kl_ws_conn *c, int timeout_ms, kl_error *err)
{
    in_make_room(c, 4096);
    bool waited = false;
    for (;;) {
        ssize_t r = c->t.read(c->t.ctx, c->in + c->in_len, c->in_cap - c->in_len);
        if (r > 0) {
            c->in_len += (size_t)r;
            __atomic_store_n(&c->last_rx_ms, now_ms(), __ATOMIC_RELAXED);
            return 1;
        }
        if (r == 0)
            return kl_error_set(err, ECONNRESET, "websocket: connection closed by peer");
        if (errno == EINTR)
            continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK)
            return kl_error_errno(err, errno, "websocket: receive");
        if (waited)
            return 0;
        int w = wait_fd(c, POLLIN, timeout_ms, err);
        if (w < 0)
            return -1;
        if (w == 0)
            return 0;
        waited = true;
    }
}

/* React to a decoded frame. Returns 1 to hand msg to the caller, 0 to keep reading. */
static int conn_on_message(kl_ws_conn *c, kl_ws_message *msg, kl_error *err)
{
    if (msg->opcode == KL_WS_OP_PING) {
        pthread_mutex_lock(&c->send_lock);
        int r = 0;
        if (!c->close_sent)
            r = send_frame_locked(c, KL_WS_OP_PONG, msg->data, msg->len, err);
        pthread_mutex_unlock(&c->send_lock);
        return r < 0 ? -1 : 0;
    }
    if (msg->opcode == KL_WS_OP_CLOSE) {
        __atomic_store_n(&c->close_received, true, __ATOMIC_RELAXED);
        /* Echo the peer's code (RFC 6455 §5.5.1); a failure to answer is not the caller's
         * problem, the peer's close is what it needs to see. */
        kl_ws_conn_send_close(c, msg->close_code == KL_WS_CLOSE_NO_STATUS ? 0 : msg->close_code,
                              NULL, NULL);
    }
    return 1;
}

int kl_ws_conn_recv(kl_ws_conn *c, kl_ws_message *msg, int timeout_ms, kl_error *err)
{
    if (c->close_received)
        return kl_error_set(err, EPIPE, "websocket: connection closed");
    int64_t deadline = timeout_ms >= 0 ? now_ms() + timeout_ms : -1;
    for (;;) {
        while (c->in_off < c->in_len) {
            size_t used = 0;
            int r = kl_ws_decoder_feed(c->dec, c->in + c->in_off, c->in_len - c->in_off, &used, msg,
                                       err);
            c->in_off += used;
            if (r < 0) {
                uint16_t code = kl_ws_decoder_close_code(c->dec);
                kl_ws_conn_send_close(c, code, err ? err->msg : NULL, NULL);
                return -1;
            }
            if (r == 0)
                break;
            int h = conn_on_message(c, msg, err);
            if (h != 0)
                return h;
        }

        int64_t now = now_ms();
        int wait = -1;
        if (deadline >= 0) {
            if (now > deadline || (timeout_ms > 0 && now == deadline))
                return 0;
            wait = (int)(deadline - now);
        }
        if (c->idle_timeout_ms > 0) {
            int64_t left =
                __atomic_load_n(&c->last_rx_ms, __ATOMIC_RELAXED) + c->idle_timeout_ms - now;
            if (left <= 0) {
                /* Bytes may be waiting that we have not read yet: they count. */
                int r = read_some(c, 0, err);
                if (r < 0)
                    return -1;
                if (r > 0)
                    continue;
                return kl_error_set(err, ETIMEDOUT,
                                    "websocket: nothing received from peer for %d ms",
                                    c->idle_timeout_ms);
            }
            if (wait < 0 || left < wait)
                wait = (int)left;
        }
        if (c->keepalive_ms > 0) {
            pthread_mutex_lock(&c->send_lock);
            int64_t left = c->last_tx_ms + c->keepalive_ms - now;
            int r = 0;
            if (left <= 0 && !c->close_sent) {
                r = send_frame_locked(c, KL_WS_OP_PING, NULL, 0, err);
                left = c->keepalive_ms;
            }
            pthread_mutex_unlock(&c->send_lock);
            if (r < 0)
                return -1;
            if (left > 0 && (wait < 0 || left < wait))
                wait = (int)left;
        }
        int r = read_some(c, wait, err);
        if (r < 0)
            return -1;
        if (r == 0 && timeout_ms == 0)
            return 0;
    }
}

int kl_ws_conn_close(kl_ws_conn *c, uint16_t code, const char *reason, int timeout_ms,
                     kl_error *err)
{
    if (c->close_received)
        return 0;
    if (kl_ws_conn_send_close(c, code, reason, err) < 0)
        return -1;
    int64_t deadline = timeout_ms >= 0 ? now_ms() + timeout_ms : -1;
    for (;;) {
        int left = -1;
        if (deadline >= 0) {
            int64_t l = deadline - now_ms();
            if (l <= 0)
                return kl_error_set(err, ETIMEDOUT, "websocket: peer did not answer our close");
            left = (int)l;
        }
        kl_ws_message msg;
        int r = kl_ws_conn_recv(c, &msg, left, err);
        if (r < 0)
            return -1;
        if (r > 0 && msg.opcode == KL_WS_OP_CLOSE)
            return 0;
    }
}

int kl_ws_conn_client_handshake(kl_ws_conn *c, const char *host, const char *path, int timeout_ms,
                                kl_error *err)
{
    char key[KL_WS_KEY_LEN + 1];
    kl_ws_client_key_new(key);
    _cleanup_free_ char *req = kl_ws_client_request(host, path, key, err);
    if (!req)
        return -1;
    pthread_mutex_lock(&c->send_lock);
    int r = write_all_locked(c, (const uint8_t *)req, strlen(req), err);
    pthread_mutex_unlock(&c->send_lock);
    if (r < 0)
        return kl_error_prefix(err, "WebSocket handshake");

    int64_t deadline = timeout_ms >= 0 ? now_ms() + timeout_ms : -1;
    size_t scanned = c->in_off;
    for (;;) {
        /* Look for the end of the head in what we have. */
        for (size_t i = scanned; i + 4 <= c->in_len; i++) {
            if (memcmp(c->in + i, "\r\n\r\n", 4) == 0) {
                size_t head_len = i + 4 - c->in_off;
                if (kl_ws_client_check_response((const char *)c->in + c->in_off, head_len, key,
                                                err) < 0)
                    return -1;
                c->in_off += head_len;
                return 0;
            }
        }
        scanned = c->in_len >= 3 ? c->in_len - 3 : 0;
        if (scanned < c->in_off)
            scanned = c->in_off;
        if (c->in_len - c->in_off > WS_MAX_RESPONSE_HEAD)
            return kl_error_set(err, EPROTO, "WebSocket handshake: response head too long");
        int wait = -1;
        if (deadline >= 0) {
            int64_t l = deadline - now_ms();
            if (l <= 0)
                return kl_error_set(err, ETIMEDOUT, "WebSocket handshake: no response");
            wait = (int)l;
        }
        size_t before_off = c->in_off;
        r = read_some(c, wait, err);
        if (r < 0)
            return kl_error_prefix(err, "WebSocket handshake");
        /* in_make_room may have moved the data to the front. */
        if (c->in_off != before_off)
            scanned = scanned - before_off + c->in_off;
    }
}
