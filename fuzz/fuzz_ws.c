/* libFuzzer target for the WebSocket decoder (src/lib/ws.c), both roles, plus the other
 * parsers of peer input in that module (handshake response, header tokens, base64).
 *
 * Input: byte 0 picks the role and the chunking, byte 1 the message limit; the rest is the
 * byte stream. The stream is decoded twice, whole and in uneven chunks, and both runs must
 * report the same messages and the same error: chunk boundaries must never matter. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/base64.h"
#include "lib/buf.h"
#include "lib/ws.h"

/* Decode, appending every event to log; returns the final status (0 or -1). */
static int run(kl_ws_role role, size_t max, const uint8_t *p, size_t n, unsigned seed, kl_buf *log)
{
    kl_ws_decoder *d = kl_ws_decoder_new(role, max);
    size_t off = 0;
    int status = 0;
    unsigned step = seed;
    while (off < n) {
        size_t len = n - off;
        if (seed) {
            step = step * 1103515245u + 12345u;
            size_t want = 1 + (step >> 16) % 23;
            if (want < len)
                len = want;
        }
        size_t used = 0;
        kl_ws_message msg;
        kl_error err = KL_ERROR_INIT;
        int r = kl_ws_decoder_feed(d, p + off, len, &used, &msg, &err);
        if (used > len)
            abort();
        off += used;
        if (r < 0) {
            uint16_t code = kl_ws_decoder_close_code(d);
            if ((code != 1002 && code != 1009) || err.code == 0 || err.msg[0] == '\0')
                abort();
            kl_buf_printf(log, "E%u/%d;", code, err.code);
            status = -1;
            break;
        }
        if (r == 0) {
            if (used != len)
                abort();
            continue;
        }
        /* Invariants a caller relies on. */
        if (!msg.data || msg.data[msg.len] != '\0')
            abort();
        switch (msg.opcode) {
        case KL_WS_OP_TEXT:
        case KL_WS_OP_BINARY:
            if (msg.len > max)
                abort();
            break;
        case KL_WS_OP_PING:
        case KL_WS_OP_PONG:
            if (msg.len > KL_WS_MAX_CONTROL_PAYLOAD)
                abort();
            break;
        case KL_WS_OP_CLOSE:
            if (msg.len > KL_WS_MAX_CLOSE_REASON)
                abort();
            if (msg.close_code != KL_WS_CLOSE_NO_STATUS &&
                !kl_ws_close_code_is_valid(msg.close_code))
                abort();
            break;
        default:
            abort();
        }
        kl_buf_printf(log, "M%d/%u/%zu:", msg.opcode, msg.close_code, msg.len);
        kl_buf_append(log, msg.data, msg.len);
    }
    kl_ws_decoder_free(d);
    return status;
}

static void fuzz_other_parsers(const uint8_t *p, size_t n)
{
    kl_ws_client_check_response((const char *)p, n, "dGhlIHNhbXBsZSBub25jZQ==", NULL);

    char *s = malloc(n + 1);
    memcpy(s, p, n);
    s[n] = '\0';
    kl_ws_header_has_token(s, "upgrade");
    kl_ws_key_is_valid(s);
    free(s);

    uint8_t out[256];
    ssize_t m = kl_base64_decode((const char *)p, n, out, sizeof(out), NULL);
    if (m >= 0) {
        /* Canonical decoding: re-encoding gives back the input exactly. */
        char *enc = kl_base64_encode_alloc(out, (size_t)m);
        if (strlen(enc) != n || memcmp(enc, p, n) != 0)
            abort();
        free(enc);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    kl_ws_role role = (data[0] & 1) ? KL_WS_ROLE_CLIENT : KL_WS_ROLE_SERVER;
    unsigned seed = (unsigned)(data[0] >> 1) + 1;
    size_t max = (size_t)16 << (data[1] & 0x0f); /* 16 B .. 512 KiB */
    const uint8_t *p = data + 2;
    size_t n = size - 2;

    kl_buf whole = KL_BUF_INIT, chunked = KL_BUF_INIT;
    int a = run(role, max, p, n, 0, &whole);
    int b = run(role, max, p, n, seed, &chunked);
    if (a != b || whole.len != chunked.len ||
        (whole.len && memcmp(whole.data, chunked.data, whole.len) != 0))
        abort();
    kl_buf_free(&whole);
    kl_buf_free(&chunked);

    fuzz_other_parsers(p, n);
    return 0;
}
