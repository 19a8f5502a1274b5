#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib/buf.h"
#include "lib/ws.h"

/* ---- helpers ---------------------------------------------------------------------------- */

#define MAX_MSGS 16

typedef struct decoded {
    int n;
    struct {
        kl_ws_opcode op;
        uint8_t *data;
        size_t len;
        uint16_t code;
    } m[MAX_MSGS];
    int rc;              /* 0, or -1 if the decoder failed */
    int err_code;        /* errno-like */
    uint16_t close_code; /* decoder's close code on failure */
} decoded;

static void decoded_free(decoded *d)
{
    for (int i = 0; i < d->n; i++)
        free(d->m[i].data);
}

/* Feed bytes to a fresh decoder in chunks of `chunk` bytes (0 = all at once). */
static void decode(decoded *out, kl_ws_role role, size_t max, const void *bytes, size_t n,
                   size_t chunk)
{
    memset(out, 0, sizeof(*out));
    kl_ws_decoder *d = kl_ws_decoder_new(role, max);
    const uint8_t *p = bytes;
    size_t off = 0;
    while (off < n) {
        size_t len = chunk && chunk < n - off ? chunk : n - off;
        size_t used = 0;
        kl_ws_message msg;
        kl_error err = KL_ERROR_INIT;
        int r = kl_ws_decoder_feed(d, p + off, len, &used, &msg, &err);
        assert_true(used <= len);
        off += used;
        if (r < 0) {
            out->rc = -1;
            out->err_code = err.code;
            out->close_code = kl_ws_decoder_close_code(d);
            assert_true(strlen(err.msg) > 0);
            break;
        }
        if (r == 0) {
            assert_int_equal(used, len);
            continue;
        }
        assert_true(out->n < MAX_MSGS);
        assert_non_null(msg.data);
        assert_int_equal(msg.data[msg.len], '\0');
        out->m[out->n].op = msg.opcode;
        out->m[out->n].data = malloc(msg.len + 1);
        memcpy(out->m[out->n].data, msg.data, msg.len + 1);
        out->m[out->n].len = msg.len;
        out->m[out->n].code = msg.close_code;
        out->n++;
    }
    kl_ws_decoder_free(d);
}

static void expect_fail(kl_ws_role role, size_t max, const void *bytes, size_t n, int err_code,
                        uint16_t close_code)
{
    for (size_t chunk = 0; chunk <= 3; chunk++) {
        decoded d;
        decode(&d, role, max, bytes, n, chunk);
        assert_int_equal(d.rc, -1);
        assert_int_equal(d.err_code, err_code);
        assert_int_equal(d.close_code, close_code);
        decoded_free(&d);
    }
}

/* ---- handshake -------------------------------------------------------------------------- */

static void test_accept_key_rfc_example(void **state)
{
    (void)state;
    char out[KL_WS_ACCEPT_LEN + 1];
    kl_ws_accept_key("dGhlIHNhbXBsZSBub25jZQ==", out);
    assert_string_equal(out, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
}

static void test_client_key(void **state)
{
    (void)state;
    char a[KL_WS_KEY_LEN + 1], b[KL_WS_KEY_LEN + 1];
    kl_ws_client_key_new(a);
    kl_ws_client_key_new(b);
    assert_int_equal(strlen(a), 24);
    assert_true(kl_ws_key_is_valid(a));
    assert_string_not_equal(a, b);
    assert_true(kl_ws_key_is_valid("dGhlIHNhbXBsZSBub25jZQ=="));
    assert_false(kl_ws_key_is_valid(NULL));
    assert_false(kl_ws_key_is_valid(""));
    assert_false(kl_ws_key_is_valid("dGhlIHNhbXBsZSBub25jZQ"));    /* unpadded */
    assert_false(kl_ws_key_is_valid("dGhlIHNhbXBsZSBub25jZSE="));  /* 17 bytes */
    assert_false(kl_ws_key_is_valid("dGhlIHNhbXBsZSBub25jZQ==x")); /* too long */
    assert_false(kl_ws_key_is_valid("dGhlIHNhbXBsZSBub25jZ!=="));  /* bad char */
}

static void test_header_tokens(void **state)
{
    (void)state;
    assert_true(kl_ws_header_has_token("Upgrade", "upgrade"));
    assert_true(kl_ws_header_has_token("keep-alive, Upgrade", "upgrade"));
    assert_true(kl_ws_header_has_token(" keep-alive ,\tUPGRADE\t", "upgrade"));
    assert_false(kl_ws_header_has_token("keep-alive", "upgrade"));
    assert_false(kl_ws_header_has_token("upgrades", "upgrade"));
    assert_false(kl_ws_header_has_token("xupgrade", "upgrade"));
    assert_false(kl_ws_header_has_token("", "upgrade"));
    assert_false(kl_ws_header_has_token(NULL, "upgrade"));
}

static void test_server_check_request(void **state)
{
    (void)state;
    const char *key = "dGhlIHNhbXBsZSBub25jZQ==";
    kl_error err = KL_ERROR_INIT;
    assert_int_equal(kl_ws_server_check_request("websocket", "Upgrade", "13", key, &err), 0);
    assert_int_equal(err.code, 0);
    assert_int_equal(
        kl_ws_server_check_request("WebSocket", "keep-alive, upgrade", "13", key, &err), 0);
    assert_int_equal(kl_ws_server_check_request(NULL, "Upgrade", "13", key, &err), -1);
    assert_int_equal(err.code, EINVAL);
    assert_int_equal(kl_ws_server_check_request("websocket", "close", "13", key, &err), -1);
    assert_int_equal(err.code, EINVAL);
    assert_int_equal(kl_ws_server_check_request("websocket", "Upgrade", "8", key, &err), -1);
    assert_int_equal(err.code, EPROTONOSUPPORT);
    assert_int_equal(kl_ws_server_check_request("websocket", "Upgrade", "13", "abc", &err), -1);
    assert_int_equal(err.code, EINVAL);
}

static void test_client_request(void **state)
{
    (void)state;
    kl_error err = KL_ERROR_INIT;
    char *req = kl_ws_client_request("localhost", "/exec/start", "dGhlIHNhbXBsZSBub25jZQ==", &err);
    assert_non_null(req);
    assert_string_equal(req, "GET /exec/start HTTP/1.1\r\n"
                             "Host: localhost\r\n"
                             "Upgrade: websocket\r\n"
                             "Connection: Upgrade\r\n"
                             "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                             "Sec-WebSocket-Version: 13\r\n"
                             "\r\n");
    free(req);
    assert_null(kl_ws_client_request("localhost\r\nX-Evil: 1", "/", "k", &err));
    assert_int_equal(err.code, EINVAL);
    assert_null(kl_ws_client_request("localhost", "/a b", "k", &err));
    assert_null(kl_ws_client_request("localhost", "noslash", "k", &err));
    assert_null(kl_ws_client_request("", "/", "k", &err));
}

static void test_client_check_response(void **state)
{
    (void)state;
    const char *key = "dGhlIHNhbXBsZSBub25jZQ==";
    kl_error err = KL_ERROR_INIT;
#define CHECK(s) kl_ws_client_check_response(s, strlen(s), key, &err)
    assert_int_equal(CHECK("HTTP/1.1 101 Switching Protocols\r\n"
                           "Upgrade: websocket\r\n"
                           "Connection: Upgrade\r\n"
                           "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n"),
                     0);
    /* Header names case-insensitive, values with extra tokens and whitespace. */
    assert_int_equal(CHECK("HTTP/1.1 101\r\n"
                           "upgrade:WebSocket\r\n"
                           "connection: keep-alive, upgrade \r\n"
                           "date: today\r\n"
                           "sec-websocket-accept:  s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n"),
                     0);
    assert_int_equal(CHECK("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n"), -1);
    assert_int_equal(err.code, EPROTO);
    assert_non_null(strstr(err.msg, "400 Bad Request"));
    assert_int_equal(CHECK("HTTP/1.1 1010 Weird\r\n\r\n"), -1);
    assert_int_equal(CHECK("HTTP/1.1 101 Switching Protocols\r\n"
                           "Upgrade: websocket\r\n"
                           "Connection: Upgrade\r\n"
                           "Sec-WebSocket-Accept: AAAAAAAAAAAAAAAAAAAAAAAAAAA=\r\n\r\n"),
                     -1);
    assert_non_null(strstr(err.msg, "Accept"));
    assert_int_equal(CHECK("HTTP/1.1 101 Switching Protocols\r\n"
                           "Connection: Upgrade\r\n"
                           "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n"),
                     -1);
    assert_int_equal(CHECK("HTTP/1.1 101 Switching Protocols\r\n"
                           "Upgrade: websocket\r\n"
                           "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n"),
                     -1);
    assert_int_equal(CHECK("HTTP/1.1 101 Switching Protocols\r\n"
                           "Upgrade: websocket\r\n"
                           "Connection: Upgrade\r\n"
                           "Sec-WebSocket-Extensions: permessage-deflate\r\n"
                           "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n"),
                     -1);
    assert_int_equal(CHECK("HTTP/1.1 101 Switching Protocols\r\n"
                           "Upgrade: websocket\r\n"
                           "Connection: Upgrade\r\n"
                           "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
                           "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n"),
                     -1);
#undef CHECK
}

/* ---- framing: RFC 6455 §5.7 examples ---------------------------------------------------- */

static const uint8_t rfc_mask[4] = {0x37, 0xfa, 0x21, 0x3d};

static void test_encode_rfc_examples(void **state)
{
    (void)state;
    kl_buf b = KL_BUF_INIT;
    kl_ws_frame_append_masked(&b, KL_WS_OP_TEXT, true, "Hello", 5, NULL);
    assert_int_equal(b.len, 7);
    assert_memory_equal(b.data, "\x81\x05\x48\x65\x6c\x6c\x6f", 7);

    kl_buf_reset(&b);
    kl_ws_frame_append_masked(&b, KL_WS_OP_TEXT, true, "Hello", 5, rfc_mask);
    assert_int_equal(b.len, 11);
    assert_memory_equal(b.data, "\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58", 11);

    kl_buf_reset(&b);
    kl_ws_frame_append_masked(&b, KL_WS_OP_TEXT, false, "Hel", 3, NULL);
    kl_ws_frame_append_masked(&b, KL_WS_OP_CONTINUATION, true, "lo", 2, NULL);
    assert_int_equal(b.len, 9);
    assert_memory_equal(b.data, "\x01\x03\x48\x65\x6c\x80\x02\x6c\x6f", 9);

    kl_buf_reset(&b);
    kl_ws_frame_append_masked(&b, KL_WS_OP_PING, true, "Hello", 5, NULL);
    assert_memory_equal(b.data, "\x89\x05\x48\x65\x6c\x6c\x6f", 7);

    kl_buf_reset(&b);
    kl_ws_frame_append_masked(&b, KL_WS_OP_PONG, true, "Hello", 5, rfc_mask);
    assert_memory_equal(b.data, "\x8a\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58", 11);
    kl_buf_free(&b);
}

static void test_encode_lengths(void **state)
{
    (void)state;
    static uint8_t big[70000];
    for (size_t i = 0; i < sizeof(big); i++)
        big[i] = (uint8_t)i;
    kl_buf b = KL_BUF_INIT;
    /* 125: 7-bit; 126 and 256: 16-bit; 65535: 16-bit; 65536: 64-bit (RFC example). */
    kl_ws_frame_append_masked(&b, KL_WS_OP_BINARY, true, big, 125, NULL);
    assert_int_equal(b.len, 2 + 125);
    assert_int_equal((uint8_t)b.data[1], 125);
    kl_buf_reset(&b);
    kl_ws_frame_append_masked(&b, KL_WS_OP_BINARY, true, big, 256, NULL);
    assert_int_equal(b.len, 4 + 256);
    assert_memory_equal(b.data, "\x82\x7e\x01\x00", 4);
    kl_buf_reset(&b);
    kl_ws_frame_append_masked(&b, KL_WS_OP_BINARY, true, big, 65535, NULL);
    assert_memory_equal(b.data, "\x82\x7e\xff\xff", 4);
    kl_buf_reset(&b);
    kl_ws_frame_append_masked(&b, KL_WS_OP_BINARY, true, big, 65536, NULL);
    assert_int_equal(b.len, 10 + 65536);
    assert_memory_equal(b.data, "\x82\x7f\x00\x00\x00\x00\x00\x01\x00\x00", 10);
    assert_memory_equal(b.data + 10, big, 65536);
    kl_buf_reset(&b);
    kl_ws_frame_append_masked(&b, KL_WS_OP_BINARY, true, big, 70000, rfc_mask);
    assert_memory_equal(b.data, "\x82\xff\x00\x00\x00\x00\x00\x01\x11\x70\x37\xfa\x21\x3d", 14);

    /* All of them decode back, whole and in odd chunks, by the matching role. */
    for (size_t chunk = 0; chunk <= 7; chunk += 7) {
        decoded d;
        decode(&d, KL_WS_ROLE_SERVER, 0, b.data, b.len, chunk);
        assert_int_equal(d.rc, 0);
        assert_int_equal(d.n, 1);
        assert_int_equal(d.m[0].op, KL_WS_OP_BINARY);
        assert_int_equal(d.m[0].len, 70000);
        assert_memory_equal(d.m[0].data, big, 70000);
        decoded_free(&d);
    }
    kl_buf_free(&b);
}

static void test_client_role_masks_server_role_does_not(void **state)
{
    (void)state;
    kl_buf a = KL_BUF_INIT, b = KL_BUF_INIT;
    kl_ws_frame_append(&a, KL_WS_ROLE_CLIENT, KL_WS_OP_TEXT, true, "Hello, world", 12);
    kl_ws_frame_append(&b, KL_WS_ROLE_CLIENT, KL_WS_OP_TEXT, true, "Hello, world", 12);
    assert_int_equal(a.len, 2 + 4 + 12);
    assert_true((uint8_t)a.data[1] & 0x80);
    /* Fresh masks: two encodings of the same message differ (2^-32 chance of a false fail). */
    assert_memory_not_equal(a.data + 2, b.data + 2, 4);
    decoded d;
    decode(&d, KL_WS_ROLE_SERVER, 0, a.data, a.len, 0);
    assert_int_equal(d.n, 1);
    assert_string_equal((char *)d.m[0].data, "Hello, world");
    decoded_free(&d);

    kl_buf_reset(&a);
    kl_ws_frame_append(&a, KL_WS_ROLE_SERVER, KL_WS_OP_TEXT, true, "Hello, world", 12);
    assert_int_equal(a.len, 2 + 12);
    assert_false((uint8_t)a.data[1] & 0x80);
    decode(&d, KL_WS_ROLE_CLIENT, 0, a.data, a.len, 1);
    assert_int_equal(d.n, 1);
    assert_string_equal((char *)d.m[0].data, "Hello, world");
    decoded_free(&d);
    kl_buf_free(&a);
    kl_buf_free(&b);
}

/* ---- decoding --------------------------------------------------------------------------- */

static void test_decode_rfc_examples(void **state)
{
    (void)state;
    decoded d;
    for (size_t chunk = 0; chunk <= 2; chunk++) {
        decode(&d, KL_WS_ROLE_SERVER, 0, "\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58", 11, chunk);
        assert_int_equal(d.rc, 0);
        assert_int_equal(d.n, 1);
        assert_int_equal(d.m[0].op, KL_WS_OP_TEXT);
        assert_int_equal(d.m[0].len, 5);
        assert_string_equal((char *)d.m[0].data, "Hello");
        decoded_free(&d);

        decode(&d, KL_WS_ROLE_CLIENT, 0, "\x01\x03\x48\x65\x6c\x80\x02\x6c\x6f", 9, chunk);
        assert_int_equal(d.rc, 0);
        assert_int_equal(d.n, 1);
        assert_int_equal(d.m[0].op, KL_WS_OP_TEXT);
        assert_string_equal((char *)d.m[0].data, "Hello");
        decoded_free(&d);
    }
}

/* Fragmented binary message with a ping, a pong and an empty continuation in the middle:
 * the control frames come out first, in order, then the whole message. */
static void test_fragmentation_with_interleaved_control(void **state)
{
    (void)state;
    kl_buf b = KL_BUF_INIT;
    uint8_t m[4] = {1, 2, 3, 4};
    kl_ws_frame_append_masked(&b, KL_WS_OP_BINARY, false, "ab", 2, m);
    kl_ws_frame_append_masked(&b, KL_WS_OP_PING, true, "p1", 2, m);
    kl_ws_frame_append_masked(&b, KL_WS_OP_CONTINUATION, false, "", 0, m);
    kl_ws_frame_append_masked(&b, KL_WS_OP_CONTINUATION, false, "cde", 3, m);
    kl_ws_frame_append_masked(&b, KL_WS_OP_PONG, true, "", 0, m);
    kl_ws_frame_append_masked(&b, KL_WS_OP_CONTINUATION, true, "f", 1, m);
    kl_ws_frame_append_masked(&b, KL_WS_OP_TEXT, true, "next", 4, m);
    for (size_t chunk = 0; chunk <= 5; chunk++) {
        decoded d;
        decode(&d, KL_WS_ROLE_SERVER, 0, b.data, b.len, chunk);
        assert_int_equal(d.rc, 0);
        assert_int_equal(d.n, 4);
        assert_int_equal(d.m[0].op, KL_WS_OP_PING);
        assert_string_equal((char *)d.m[0].data, "p1");
        assert_int_equal(d.m[1].op, KL_WS_OP_PONG);
        assert_int_equal(d.m[1].len, 0);
        assert_int_equal(d.m[2].op, KL_WS_OP_BINARY);
        assert_int_equal(d.m[2].len, 6);
        assert_memory_equal(d.m[2].data, "abcdef", 6);
        assert_int_equal(d.m[3].op, KL_WS_OP_TEXT);
        assert_string_equal((char *)d.m[3].data, "next");
        decoded_free(&d);
    }
    kl_buf_free(&b);
}

static void test_empty_messages_and_invalid_utf8_text(void **state)
{
    (void)state;
    kl_buf b = KL_BUF_INIT;
    kl_ws_frame_append_masked(&b, KL_WS_OP_TEXT, true, "", 0, NULL);
    /* Raw process output as text: not UTF-8, and a NUL inside. Accepted on purpose. */
    kl_ws_frame_append_masked(&b, KL_WS_OP_TEXT, true, "\xff\xfe\x00\xc3", 4, NULL);
    decoded d;
    decode(&d, KL_WS_ROLE_CLIENT, 0, b.data, b.len, 0);
    assert_int_equal(d.rc, 0);
    assert_int_equal(d.n, 2);
    assert_int_equal(d.m[0].len, 0);
    assert_string_equal((char *)d.m[0].data, "");
    assert_int_equal(d.m[1].op, KL_WS_OP_TEXT);
    assert_int_equal(d.m[1].len, 4);
    assert_memory_equal(d.m[1].data, "\xff\xfe\x00\xc3", 4);
    decoded_free(&d);
    kl_buf_free(&b);
}

static void test_close_frames(void **state)
{
    (void)state;
    decoded d;
    kl_buf b = KL_BUF_INIT;
    kl_ws_close_append(&b, KL_WS_ROLE_SERVER, 1011, "{\"msg_type\":\"error\"}");
    assert_memory_equal(b.data, "\x88\x16\x03\xf3", 4);
    kl_ws_close_append(&b, KL_WS_ROLE_SERVER, 0, "ignored without a code");
    decode(&d, KL_WS_ROLE_CLIENT, 0, b.data, b.len, 1);
    assert_int_equal(d.rc, 0);
    assert_int_equal(d.n, 2);
    assert_int_equal(d.m[0].op, KL_WS_OP_CLOSE);
    assert_int_equal(d.m[0].code, 1011);
    assert_string_equal((char *)d.m[0].data, "{\"msg_type\":\"error\"}");
    assert_int_equal(d.m[1].code, KL_WS_CLOSE_NO_STATUS);
    assert_int_equal(d.m[1].len, 0);
    decoded_free(&d);
    kl_buf_free(&b);

    /* 1-byte close payload, reserved and out-of-range codes are protocol errors. */
    expect_fail(KL_WS_ROLE_CLIENT, 0, "\x88\x01\x03", 3, EPROTO, 1002);
    expect_fail(KL_WS_ROLE_CLIENT, 0, "\x88\x02\x03\xed", 4, EPROTO, 1002); /* 1005 */
    expect_fail(KL_WS_ROLE_CLIENT, 0, "\x88\x02\x03\xee", 4, EPROTO, 1002); /* 1006 */
    expect_fail(KL_WS_ROLE_CLIENT, 0, "\x88\x02\x03\xe7", 4, EPROTO, 1002); /* 999 */
    expect_fail(KL_WS_ROLE_CLIENT, 0, "\x88\x02\x13\x88", 4, EPROTO, 1002); /* 5000 */
    decode(&d, KL_WS_ROLE_CLIENT, 0, "\x88\x02\x0f\xa0", 4, 0); /* 4000: application code */
    assert_int_equal(d.rc, 0);
    assert_int_equal(d.m[0].code, 4000);
    decoded_free(&d);
}

static void test_close_reason_truncation(void **state)
{
    (void)state;
    char reason[300];
    /* ASCII: cut at exactly 123. */
    memset(reason, 'a', 200);
    reason[200] = '\0';
    assert_int_equal(kl_ws_close_reason_fit(reason, 200), 123);
    assert_int_equal(kl_ws_close_reason_fit(reason, 123), 123);
    assert_int_equal(kl_ws_close_reason_fit(reason, 5), 5);

    /* "é" (2 bytes) straddling byte 123: 122 ASCII then c3 a9 → cut at 122. */
    memset(reason, 'a', 122);
    strcpy(reason + 122, "\xc3\xa9 tail");
    assert_int_equal(kl_ws_close_reason_fit(reason, strlen(reason)), 122);
    /* "€" (3 bytes) starting at 121: bytes 121..123 → cut at 121. */
    memset(reason, 'a', 121);
    strcpy(reason + 121, "\xe2\x82\xac tail");
    assert_int_equal(kl_ws_close_reason_fit(reason, strlen(reason)), 121);
    /* 4-byte emoji starting at 120: cut at 120. Ending exactly at 123 keeps it. */
    memset(reason, 'a', 120);
    strcpy(reason + 120, "\xf0\x9f\x98\x80 tail");
    assert_int_equal(kl_ws_close_reason_fit(reason, strlen(reason)), 120);
    memset(reason, 'a', 119);
    strcpy(reason + 119, "\xf0\x9f\x98\x80 tail");
    assert_int_equal(kl_ws_close_reason_fit(reason, strlen(reason)), 123);

    /* The frame: 2 + cut bytes of payload, a valid control frame that decodes back. */
    memset(reason, 'a', 122);
    strcpy(reason + 122, "\xc3\xa9 and a lot more text that does not fit");
    kl_buf b = KL_BUF_INIT;
    kl_ws_close_append(&b, KL_WS_ROLE_CLIENT, 1000, reason);
    assert_int_equal((uint8_t)b.data[1], 0x80 | 124);
    decoded d;
    decode(&d, KL_WS_ROLE_SERVER, 0, b.data, b.len, 0);
    assert_int_equal(d.rc, 0);
    assert_int_equal(d.m[0].code, 1000);
    assert_int_equal(d.m[0].len, 122);
    assert_memory_equal(d.m[0].data, reason, 122);
    decoded_free(&d);
    kl_buf_free(&b);
}

static void test_protocol_violations(void **state)
{
    (void)state;
    /* RSV1, RSV2, RSV3 set (no extension negotiated). */
    expect_fail(KL_WS_ROLE_CLIENT, 0, "\xc1\x00", 2, EPROTO, 1002);
    expect_fail(KL_WS_ROLE_CLIENT, 0, "\xa1\x00", 2, EPROTO, 1002);
    expect_fail(KL_WS_ROLE_CLIENT, 0, "\x91\x00", 2, EPROTO, 1002);
    /* Reserved opcodes. */
    const uint8_t bad_ops[] = {0x3, 0x4, 0x5, 0x6, 0x7, 0xb, 0xc, 0xd, 0xe, 0xf};
    for (size_t i = 0; i < sizeof(bad_ops); i++) {
        uint8_t f[2] = {(uint8_t)(0x80 | bad_ops[i]), 0x00};
        expect_fail(KL_WS_ROLE_CLIENT, 0, f, 2, EPROTO, 1002);
    }
    /* Unmasked client frame to a server; masked server frame to a client. */
    expect_fail(KL_WS_ROLE_SERVER, 0, "\x81\x05Hello", 7, EPROTO, 1002);
    expect_fail(KL_WS_ROLE_CLIENT, 0, "\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58", 11, EPROTO,
                1002);
    /* Control frames: fragmented, or over 125 bytes (even with a 16-bit length). */
    expect_fail(KL_WS_ROLE_CLIENT, 0, "\x09\x00", 2, EPROTO, 1002);
    expect_fail(KL_WS_ROLE_CLIENT, 0, "\x89\x7e\x00\x7e", 4, EPROTO, 1002);
    expect_fail(KL_WS_ROLE_CLIENT, 0, "\x88\x7e\x00\x02\x03\xe8", 6, EPROTO, 1002);
    /* Continuation with nothing to continue; new message inside a fragmented one. */
    expect_fail(KL_WS_ROLE_CLIENT, 0, "\x80\x01x", 3, EPROTO, 1002);
    expect_fail(KL_WS_ROLE_CLIENT, 0, "\x01\x01x\x81\x01y", 6, EPROTO, 1002);
    expect_fail(KL_WS_ROLE_CLIENT, 0, "\x02\x01x\x82\x01y", 6, EPROTO, 1002);
    /* 64-bit length with the most significant bit set. */
    expect_fail(KL_WS_ROLE_CLIENT, 0, "\x82\x7f\x80\x00\x00\x00\x00\x00\x00\x01", 10, EPROTO, 1002);
}

/* The error is reported as soon as the header shows it, without the payload. */
static void test_violation_detected_early(void **state)
{
    (void)state;
    kl_ws_decoder *d = kl_ws_decoder_new(KL_WS_ROLE_SERVER, 0);
    size_t used;
    kl_ws_message msg;
    kl_error err = KL_ERROR_INIT;
    assert_int_equal(kl_ws_decoder_feed(d, "\x81", 1, &used, &msg, &err), 0);
    assert_int_equal(kl_ws_decoder_close_code(d), 0);
    assert_int_equal(kl_ws_decoder_feed(d, "\x05", 1, &used, &msg, &err), -1);
    assert_int_equal(kl_ws_decoder_close_code(d), 1002);
    assert_non_null(strstr(err.msg, "not masked"));
    /* Stays failed. */
    kl_error err2 = KL_ERROR_INIT;
    assert_int_equal(kl_ws_decoder_feed(d, "Hello", 5, &used, &msg, &err2), -1);
    assert_int_equal(err2.code, EPROTO);
    kl_ws_decoder_free(d);
}

static void test_message_too_big(void **state)
{
    (void)state;
    /* One frame announcing more than the limit: refused from the header alone. */
    expect_fail(KL_WS_ROLE_CLIENT, 100, "\x82\x65", 2, EMSGSIZE, 1009); /* 101 > 100 */
    expect_fail(KL_WS_ROLE_CLIENT, 1000, "\x82\x7f\x00\x00\x00\x01\x00\x00\x00\x00", 10, EMSGSIZE,
                1009); /* 4 GiB */
    /* Exactly the limit is fine. */
    static uint8_t payload[100];
    kl_buf b = KL_BUF_INIT;
    kl_ws_frame_append_masked(&b, KL_WS_OP_BINARY, true, payload, 100, NULL);
    decoded d;
    decode(&d, KL_WS_ROLE_CLIENT, 100, b.data, b.len, 0);
    assert_int_equal(d.rc, 0);
    assert_int_equal(d.m[0].len, 100);
    decoded_free(&d);
    /* Fragments that only together exceed the limit; control frames don't count. */
    kl_buf_reset(&b);
    kl_ws_frame_append_masked(&b, KL_WS_OP_TEXT, false, payload, 60, NULL);
    kl_ws_frame_append_masked(&b, KL_WS_OP_PING, true, payload, 100, NULL);
    kl_ws_frame_append_masked(&b, KL_WS_OP_CONTINUATION, false, payload, 40, NULL);
    kl_ws_frame_append_masked(&b, KL_WS_OP_CONTINUATION, true, payload, 1, NULL);
    decode(&d, KL_WS_ROLE_CLIENT, 100, b.data, b.len, 0);
    assert_int_equal(d.rc, -1);
    assert_int_equal(d.close_code, 1009);
    assert_int_equal(d.n, 1); /* the ping came through before */
    decoded_free(&d);
    /* The limit is per message: two messages of 100 each are fine. */
    kl_buf_reset(&b);
    kl_ws_frame_append_masked(&b, KL_WS_OP_BINARY, true, payload, 100, NULL);
    kl_ws_frame_append_masked(&b, KL_WS_OP_BINARY, true, payload, 100, NULL);
    decode(&d, KL_WS_ROLE_CLIENT, 100, b.data, b.len, 0);
    assert_int_equal(d.rc, 0);
    assert_int_equal(d.n, 2);
    decoded_free(&d);
    kl_buf_free(&b);
}

/* A 16-bit and a 64-bit frame split at every header byte boundary. */
static void test_lengths_split_everywhere(void **state)
{
    (void)state;
    static uint8_t big[66000];
    for (size_t i = 0; i < sizeof(big); i++)
        big[i] = (uint8_t)(i * 31);
    kl_buf b = KL_BUF_INIT;
    kl_ws_frame_append_masked(&b, KL_WS_OP_BINARY, true, big, 300, rfc_mask);
    kl_ws_frame_append_masked(&b, KL_WS_OP_BINARY, true, big, sizeof(big), rfc_mask);
    for (size_t split = 1; split < 20; split++) {
        kl_ws_decoder *d = kl_ws_decoder_new(KL_WS_ROLE_SERVER, 0);
        kl_ws_message msg;
        size_t used, off = 0;
        int got = 0;
        const uint8_t *p = (const uint8_t *)b.data;
        /* first feed `split` bytes, then the rest */
        size_t lens[2] = {split, b.len - split};
        for (int k = 0; k < 2; k++) {
            size_t end = off + lens[k];
            while (off < end) {
                int r = kl_ws_decoder_feed(d, p + off, end - off, &used, &msg, NULL);
                assert_true(r >= 0);
                off += used;
                if (r == 1) {
                    assert_int_equal(msg.len, got == 0 ? 300 : sizeof(big));
                    assert_memory_equal(msg.data, big, msg.len);
                    got++;
                }
            }
        }
        assert_int_equal(got, 2);
        kl_ws_decoder_free(d);
    }
    kl_buf_free(&b);
}

/* ---- connection over a socketpair ------------------------------------------------------- */

typedef struct peer {
    int fd;
    kl_ws_conn *conn;
} peer;

static void pair_new(peer *server, peer *client)
{
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    kl_ws_transport ts = kl_ws_transport_socket(sv[0]);
    kl_ws_transport tc = kl_ws_transport_socket(sv[1]);
    server->fd = sv[0];
    client->fd = sv[1];
    server->conn = kl_ws_conn_new(KL_WS_ROLE_SERVER, &ts, 0);
    client->conn = kl_ws_conn_new(KL_WS_ROLE_CLIENT, &tc, 0);
}

static void peer_free(peer *p)
{
    kl_ws_conn_free(p->conn);
    if (p->fd >= 0)
        close(p->fd);
}

/* A server thread: reads the upgrade request with a blocking read, answers 101 plus a first
 * text frame in the same write (so the client must keep the bytes after the head), then echoes
 * messages back until the client closes. */
static void *echo_server(void *arg)
{
    peer *s = arg;
    char req[4096];
    size_t n = 0;
    while (n < sizeof(req) - 1 && !(n >= 4 && memcmp(req + n - 4, "\r\n\r\n", 4) == 0)) {
        ssize_t r = read(s->fd, req + n, 1);
        if (r <= 0)
            return NULL;
        n += (size_t)r;
    }
    req[n] = '\0';
    const char *k = strstr(req, "Sec-WebSocket-Key: ");
    if (!k || strncmp(req, "GET /exec/start HTTP/1.1\r\n", 26) != 0)
        return NULL;
    char key[KL_WS_KEY_LEN + 1];
    memcpy(key, k + 19, KL_WS_KEY_LEN);
    key[KL_WS_KEY_LEN] = '\0';
    if (kl_ws_server_check_request("websocket", "Upgrade", "13", key, NULL) < 0)
        return NULL;
    char accept[KL_WS_ACCEPT_LEN + 1];
    kl_ws_accept_key(key, accept);
    kl_buf out = KL_BUF_INIT;
    kl_buf_printf(&out,
                  "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                  "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n",
                  accept);
    kl_ws_frame_append(&out, KL_WS_ROLE_SERVER, KL_WS_OP_TEXT, true,
                       "{\"data\":\"\",\"message\":\"\",\"msg_type\":\"starting\"}", 46);
    if (write(s->fd, out.data, out.len) != (ssize_t)out.len)
        return NULL;
    kl_buf_free(&out);

    for (;;) {
        kl_ws_message m;
        kl_error err = KL_ERROR_INIT;
        int r = kl_ws_conn_recv(s->conn, &m, 5000, &err);
        if (r <= 0)
            return NULL;
        if (m.opcode == KL_WS_OP_CLOSE)
            return (void *)(intptr_t)m.close_code;
        if (m.opcode == KL_WS_OP_TEXT || m.opcode == KL_WS_OP_BINARY)
            kl_ws_conn_send(s->conn, m.opcode, m.data, m.len, NULL);
    }
}

static void test_conn_client_handshake_and_echo(void **state)
{
    (void)state;
    peer s, c;
    pair_new(&s, &c);
    pthread_t th;
    pthread_create(&th, NULL, echo_server, &s);

    kl_error err = KL_ERROR_INIT;
    assert_int_equal(kl_ws_conn_client_handshake(c.conn, "localhost", "/exec/start", 5000, &err),
                     0);
    kl_ws_message m;
    /* The frame that came with the 101 response. */
    assert_int_equal(kl_ws_conn_recv(c.conn, &m, 5000, &err), 1);
    assert_int_equal(m.opcode, KL_WS_OP_TEXT);
    assert_string_equal((const char *)m.data,
                        "{\"data\":\"\",\"message\":\"\",\"msg_type\":\"starting\"}");

    assert_int_equal(kl_ws_conn_send_text(c.conn, "hello", 5, &err), 0);
    assert_int_equal(kl_ws_conn_recv(c.conn, &m, 5000, &err), 1);
    assert_int_equal(m.opcode, KL_WS_OP_TEXT);
    assert_string_equal((const char *)m.data, "hello");

    static uint8_t big[200000];
    for (size_t i = 0; i < sizeof(big); i++)
        big[i] = (uint8_t)(i ^ (i >> 8));
    assert_int_equal(kl_ws_conn_send_binary(c.conn, big, sizeof(big), &err), 0);
    assert_int_equal(kl_ws_conn_recv(c.conn, &m, 5000, &err), 1);
    assert_int_equal(m.opcode, KL_WS_OP_BINARY);
    assert_int_equal(m.len, sizeof(big));
    assert_memory_equal(m.data, big, sizeof(big));

    /* The server answers our ping by itself; the pong is surfaced to us. */
    assert_int_equal(kl_ws_conn_send_ping(c.conn, "xyz", 3, &err), 0);
    assert_int_equal(kl_ws_conn_recv(c.conn, &m, 5000, &err), 1);
    assert_int_equal(m.opcode, KL_WS_OP_PONG);
    assert_string_equal((const char *)m.data, "xyz");

    /* Nothing more: a short recv times out with 0. */
    assert_int_equal(kl_ws_conn_recv(c.conn, &m, 50, &err), 0);
    assert_int_equal(kl_ws_conn_recv(c.conn, &m, 0, &err), 0);

    /* Close handshake started by the client: the server sees our code, echoes it. */
    assert_int_equal(kl_ws_conn_close(c.conn, 4001, "bye", 5000, &err), 0);
    assert_true(kl_ws_conn_close_sent(c.conn));
    assert_true(kl_ws_conn_close_received(c.conn));
    void *ret;
    pthread_join(th, &ret);
    assert_int_equal((intptr_t)ret, 4001);
    assert_true(kl_ws_conn_close_sent(s.conn));
    /* After the close, sending fails. */
    assert_int_equal(kl_ws_conn_send_text(c.conn, "late", 4, &err), -1);
    assert_int_equal(err.code, EPIPE);
    assert_int_equal(kl_ws_conn_recv(c.conn, &m, 0, &err), -1);
    assert_int_equal(err.code, EPIPE);
    peer_free(&s);
    peer_free(&c);
}

/* Server-initiated close with a JSON reason, the way kleened ends a session. */
static void test_conn_server_close_with_reason(void **state)
{
    (void)state;
    peer s, c;
    pair_new(&s, &c);
    kl_error err = KL_ERROR_INIT;
    const char *reason = "{\"data\":\"\",\"message\":\"abc has exited with exit-code 0\","
                         "\"msg_type\":\"closing\"}";
    assert_int_equal(kl_ws_conn_send_text(s.conn, "output\r\n", 8, &err), 0);
    assert_int_equal(kl_ws_conn_send_close(s.conn, 1000, reason, &err), 0);
    /* A second close is a no-op; data after close is refused. */
    assert_int_equal(kl_ws_conn_send_close(s.conn, 1011, "again", &err), 0);
    assert_int_equal(kl_ws_conn_send_text(s.conn, "x", 1, &err), -1);

    kl_ws_message m;
    assert_int_equal(kl_ws_conn_recv(c.conn, &m, 1000, &err), 1);
    assert_string_equal((const char *)m.data, "output\r\n");
    assert_int_equal(kl_ws_conn_recv(c.conn, &m, 1000, &err), 1);
    assert_int_equal(m.opcode, KL_WS_OP_CLOSE);
    assert_int_equal(m.close_code, 1000);
    assert_string_equal((const char *)m.data, reason);
    /* The client answered the close; the server's close handshake completes. */
    assert_int_equal(kl_ws_conn_close(s.conn, 1000, reason, 1000, &err), 0);
    peer_free(&s);
    peer_free(&c);
}

/* Pings in both directions are answered without the application seeing them. */
static void test_conn_auto_pong(void **state)
{
    (void)state;
    peer s, c;
    pair_new(&s, &c);
    kl_error err = KL_ERROR_INIT;
    assert_int_equal(kl_ws_conn_send_ping(s.conn, "sp", 2, &err), 0);
    assert_int_equal(kl_ws_conn_send_text(s.conn, "data", 4, &err), 0);
    kl_ws_message m;
    assert_int_equal(kl_ws_conn_recv(c.conn, &m, 1000, &err), 1);
    assert_int_equal(m.opcode, KL_WS_OP_TEXT); /* the ping was not returned */
    assert_int_equal(kl_ws_conn_recv(s.conn, &m, 1000, &err), 1);
    assert_int_equal(m.opcode, KL_WS_OP_PONG);
    assert_string_equal((const char *)m.data, "sp");
    /* Control payload limit on send. */
    char big[126] = {0};
    assert_int_equal(kl_ws_conn_send_ping(c.conn, big, sizeof(big), &err), -1);
    assert_int_equal(err.code, EINVAL);
    assert_int_equal(kl_ws_conn_send(c.conn, KL_WS_OP_CONTINUATION, "x", 1, &err), -1);
    assert_int_equal(kl_ws_conn_send_close(c.conn, 1005, NULL, &err), -1);
    assert_int_equal(err.code, EINVAL);
    peer_free(&s);
    peer_free(&c);
}

/* An unmasked frame to a server: recv fails with EPROTO and the peer gets a close 1002. */
static void test_conn_protocol_error_closes_1002(void **state)
{
    (void)state;
    peer s, c;
    pair_new(&s, &c);
    assert_int_equal(write(c.fd, "\x81\x05Hello", 7), 7);
    kl_ws_message m;
    kl_error err = KL_ERROR_INIT;
    assert_int_equal(kl_ws_conn_recv(s.conn, &m, 1000, &err), -1);
    assert_int_equal(err.code, EPROTO);
    assert_int_equal(kl_ws_conn_recv(c.conn, &m, 1000, &err), 1);
    assert_int_equal(m.opcode, KL_WS_OP_CLOSE);
    assert_int_equal(m.close_code, 1002);
    assert_non_null(strstr((const char *)m.data, "not masked"));
    peer_free(&s);
    peer_free(&c);
}

static void test_conn_too_big_closes_1009(void **state)
{
    (void)state;
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    kl_ws_transport ts = kl_ws_transport_socket(sv[0]);
    kl_ws_transport tc = kl_ws_transport_socket(sv[1]);
    kl_ws_conn *s = kl_ws_conn_new(KL_WS_ROLE_SERVER, &ts, 1000);
    kl_ws_conn *c = kl_ws_conn_new(KL_WS_ROLE_CLIENT, &tc, 0);
    static char payload[1001];
    kl_error err = KL_ERROR_INIT;
    assert_int_equal(kl_ws_conn_send_binary(c, payload, 1000, &err), 0);
    assert_int_equal(kl_ws_conn_send_binary(c, payload, 1001, &err), 0);
    kl_ws_message m;
    assert_int_equal(kl_ws_conn_recv(s, &m, 1000, &err), 1);
    assert_int_equal(m.len, 1000);
    assert_int_equal(kl_ws_conn_recv(s, &m, 1000, &err), -1);
    assert_int_equal(err.code, EMSGSIZE);
    assert_int_equal(kl_ws_conn_recv(c, &m, 1000, &err), 1);
    assert_int_equal(m.opcode, KL_WS_OP_CLOSE);
    assert_int_equal(m.close_code, 1009);
    kl_ws_conn_free(s);
    kl_ws_conn_free(c);
    close(sv[0]);
    close(sv[1]);
}

static void test_conn_eof_and_preload(void **state)
{
    (void)state;
    peer s, c;
    pair_new(&s, &c);
    /* The HTTP server hands over bytes it read past the request: they come out first. */
    kl_buf b = KL_BUF_INIT;
    kl_ws_frame_append(&b, KL_WS_ROLE_CLIENT, KL_WS_OP_TEXT, true, "{\"exec_id\":\"x\"}", 15);
    kl_ws_frame_append(&b, KL_WS_ROLE_CLIENT, KL_WS_OP_BINARY, true, "in", 2);
    kl_ws_conn_preload(s.conn, b.data, 3); /* a partial frame, the rest on the socket */
    assert_true(kl_ws_conn_has_pending_input(s.conn));
    assert_int_equal(write(c.fd, b.data + 3, b.len - 3), (ssize_t)(b.len - 3));
    kl_buf_free(&b);
    kl_ws_message m;
    kl_error err = KL_ERROR_INIT;
    assert_int_equal(kl_ws_conn_recv(s.conn, &m, 1000, &err), 1);
    assert_string_equal((const char *)m.data, "{\"exec_id\":\"x\"}");
    assert_int_equal(kl_ws_conn_recv(s.conn, &m, 1000, &err), 1);
    assert_int_equal(m.opcode, KL_WS_OP_BINARY);
    assert_int_equal(kl_ws_conn_fd(s.conn), s.fd);
    /* The client goes away without a close frame. */
    close(c.fd);
    c.fd = -1;
    assert_int_equal(kl_ws_conn_recv(s.conn, &m, 1000, &err), -1);
    assert_int_equal(err.code, ECONNRESET);
    peer_free(&s);
    peer_free(&c);
}

static void test_conn_idle_timeout_and_keepalive(void **state)
{
    (void)state;
    peer s, c;
    pair_new(&s, &c);
    kl_error err = KL_ERROR_INIT;
    kl_ws_message m;
    /* Idle timeout: nothing arrives for 100 ms → ETIMEDOUT even with a longer recv timeout. */
    kl_ws_conn_set_idle_timeout(s.conn, 100);
    assert_int_equal(kl_ws_conn_recv(s.conn, &m, 5000, &err), -1);
    assert_int_equal(err.code, ETIMEDOUT);
    assert_true(kl_ws_conn_idle_ms(s.conn) >= 100);

    /* Keepalive: a client waiting in recv pings whenever it sent nothing for 50 ms, which
     * keeps a server with a 400 ms idle timeout alive for 10 x 60 ms; each ping also gets the
     * server's pong back. */
    kl_ws_conn_set_keepalive(c.conn, 50);
    kl_ws_conn_set_idle_timeout(s.conn, 400);
    int pongs = 0;
    for (int i = 0; i < 10; i++) {
        int r = kl_ws_conn_recv(c.conn, &m, 60, &err);
        assert_true(r >= 0);
        if (r == 1 && m.opcode == KL_WS_OP_PONG)
            pongs++;
        assert_int_equal(kl_ws_conn_recv(s.conn, &m, 0, &err), 0);
    }
    assert_true(pongs >= 3);
    assert_true(kl_ws_conn_idle_ms(s.conn) < 400);
    peer_free(&s);
    peer_free(&c);
}

/* A peer that stops reading: the send gives up after the send timeout, and the connection
 * refuses further sends since a frame may have been cut. */
static void test_conn_send_timeout(void **state)
{
    (void)state;
    peer s, c;
    pair_new(&s, &c);
    kl_ws_conn_set_send_timeout(s.conn, 100);
    static char chunk[65536];
    kl_error err = KL_ERROR_INIT;
    int r = 0;
    for (int i = 0; i < 1000 && r == 0; i++)
        r = kl_ws_conn_send_binary(s.conn, chunk, sizeof(chunk), &err);
    assert_int_equal(r, -1);
    assert_int_equal(err.code, ETIMEDOUT);
    kl_error err2 = KL_ERROR_INIT;
    assert_int_equal(kl_ws_conn_send_text(s.conn, "x", 1, &err2), -1);
    assert_int_equal(err2.code, EPIPE);
    peer_free(&s);
    peer_free(&c);
}

/* Several threads send at once: every frame arrives whole. */
typedef struct sender {
    kl_ws_conn *conn;
    char tag;
} sender;

static void *send_many(void *arg)
{
    sender *sd = arg;
    char buf[3000];
    memset(buf, sd->tag, sizeof(buf));
    for (int i = 0; i < 200; i++)
        if (kl_ws_conn_send_text(sd->conn, buf, 100 + (size_t)i * 13, NULL) < 0)
            return (void *)1;
    return NULL;
}

static void *recv_count(void *arg)
{
    kl_ws_conn *conn = arg;
    intptr_t count = 0;
    for (;;) {
        kl_ws_message m;
        int r = kl_ws_conn_recv(conn, &m, 5000, NULL);
        if (r <= 0)
            return (void *)-1;
        if (m.opcode == KL_WS_OP_CLOSE)
            return (void *)count;
        /* one tag per message, and the length fits the sender's pattern */
        for (size_t i = 1; i < m.len; i++)
            if (m.data[i] != m.data[0])
                return (void *)-2;
        if ((m.len - 100) % 13 != 0)
            return (void *)-3;
        count++;
    }
}

static void test_conn_concurrent_senders(void **state)
{
    (void)state;
    peer s, c;
    pair_new(&s, &c);
    pthread_t rx, tx[3];
    sender sd[3] = {{s.conn, 'a'}, {s.conn, 'b'}, {s.conn, 'c'}};
    pthread_create(&rx, NULL, recv_count, c.conn);
    for (int i = 0; i < 3; i++)
        pthread_create(&tx[i], NULL, send_many, &sd[i]);
    for (int i = 0; i < 3; i++) {
        void *r;
        pthread_join(tx[i], &r);
        assert_null(r);
    }
    kl_error err = KL_ERROR_INIT;
    assert_int_equal(kl_ws_conn_send_close(s.conn, 1000, "done", &err), 0);
    void *count;
    pthread_join(rx, &count);
    assert_int_equal((intptr_t)count, 600);
    peer_free(&s);
    peer_free(&c);
}

/* The handshake refuses a bad answer and reports the server's status. */
static void *refusing_server(void *arg)
{
    int fd = *(int *)arg;
    char buf[4096];
    ssize_t n = read(fd, buf, sizeof(buf));
    (void)n;
    const char *resp = "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n";
    if (write(fd, resp, strlen(resp)) < 0)
        return NULL;
    return NULL;
}

static void test_conn_handshake_refused_and_timeout(void **state)
{
    (void)state;
    peer s, c;
    pair_new(&s, &c);
    pthread_t th;
    pthread_create(&th, NULL, refusing_server, &s.fd);
    kl_error err = KL_ERROR_INIT;
    assert_int_equal(kl_ws_conn_client_handshake(c.conn, "localhost", "/x", 5000, &err), -1);
    assert_int_equal(err.code, EPROTO);
    assert_non_null(strstr(err.msg, "404 Not Found"));
    pthread_join(th, NULL);
    peer_free(&s);
    peer_free(&c);

    /* A server that never answers. */
    pair_new(&s, &c);
    kl_error err2 = KL_ERROR_INIT;
    assert_int_equal(kl_ws_conn_client_handshake(c.conn, "localhost", "/x", 100, &err2), -1);
    assert_int_equal(err2.code, ETIMEDOUT);
    peer_free(&s);
    peer_free(&c);
}

/* ---- interop with python3-websockets ---------------------------------------------------- */

/* Where python3 with websockets and the script are: set by meson, overridable by the
 * environment (KL_WS_INTEROP_PYTHON, KL_WS_INTEROP_SCRIPT). */
static const char *interop_python(void)
{
    const char *e = getenv("KL_WS_INTEROP_PYTHON");
#ifdef KL_WS_INTEROP_PYTHON
    if (!e)
        e = KL_WS_INTEROP_PYTHON;
#endif
    return e;
}

static const char *interop_script(void)
{
    const char *e = getenv("KL_WS_INTEROP_SCRIPT");
#ifdef KL_WS_INTEROP_SCRIPT
    if (!e)
        e = KL_WS_INTEROP_SCRIPT;
#endif
    return e;
}

/* The Python client (tests/unit/ws_interop.py) connects to our server on loopback TCP and
 * checks text, binary, ping and close with reason; we check what it sends. */
static void test_interop_python_client(void **state)
{
    (void)state;
    const char *python = interop_python();
    const char *script = interop_script();
    if (!python || !script)
        skip();
    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(lfd >= 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(listen(lfd, 1), 0);
    socklen_t sl = sizeof(sa);
    assert_int_equal(getsockname(lfd, (struct sockaddr *)&sa, &sl), 0);
    char port[16];
    snprintf(port, sizeof(port), "%u", ntohs(sa.sin_port));

    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        execl(python, python, script, "client", port, (char *)NULL);
        _exit(127);
    }
    int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
    assert_true(fd >= 0);
    close(lfd);

    /* Server handshake, as kleened's API layer does it. */
    char req[4096];
    size_t n = 0;
    while (n < sizeof(req) - 1 && !(n >= 4 && memcmp(req + n - 4, "\r\n\r\n", 4) == 0)) {
        ssize_t r = read(fd, req + n, 1);
        assert_true(r == 1);
        n++;
    }
    req[n] = '\0';
    assert_non_null(strstr(req, "GET /exec/start HTTP/1.1\r\n"));
    char *k = strcasestr(req, "Sec-WebSocket-Key: ");
    assert_non_null(k);
    char key[KL_WS_KEY_LEN + 1];
    memcpy(key, k + 19, KL_WS_KEY_LEN);
    key[KL_WS_KEY_LEN] = '\0';
    assert_true(kl_ws_key_is_valid(key));
    char accept[KL_WS_ACCEPT_LEN + 1];
    kl_ws_accept_key(key, accept);
    char resp[256];
    int rl = snprintf(resp, sizeof(resp),
                      "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                      "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n",
                      accept);
    assert_int_equal(write(fd, resp, (size_t)rl), rl);

    kl_ws_transport t = kl_ws_transport_socket(fd);
    kl_ws_conn *conn = kl_ws_conn_new(KL_WS_ROLE_SERVER, &t, 0);
    kl_ws_conn_set_idle_timeout(conn, 10000);
    kl_error err = KL_ERROR_INIT;
    kl_ws_message m;
    /* 1: the config frame (text). */
    assert_int_equal(kl_ws_conn_recv(conn, &m, 10000, &err), 1);
    assert_int_equal(m.opcode, KL_WS_OP_TEXT);
    assert_string_equal((const char *)m.data, "{\"attach\":true,\"exec_id\":\"abc\"}");
    assert_int_equal(
        kl_ws_conn_send_text(conn, "{\"data\":\"\",\"message\":\"\",\"msg_type\":\"starting\"}", 46,
                             &err),
        0);
    /* 2: a binary frame of 70000 bytes (64-bit length), echoed back. */
    assert_int_equal(kl_ws_conn_recv(conn, &m, 10000, &err), 1);
    assert_int_equal(m.opcode, KL_WS_OP_BINARY);
    assert_int_equal(m.len, 70000);
    for (size_t i = 0; i < m.len; i++)
        assert_int_equal(m.data[i], (uint8_t)(i % 251));
    assert_int_equal(kl_ws_conn_send_binary(conn, m.data, m.len, &err), 0);
    /* 3: a fragmented text message (the script sends it in 3 fragments), and the client's
     * ping was answered by our recv on the way (the script checks its pong). */
    assert_int_equal(kl_ws_conn_recv(conn, &m, 10000, &err), 1);
    assert_int_equal(m.opcode, KL_WS_OP_TEXT);
    assert_string_equal((const char *)m.data, "frag-ment-ed");
    /* 4: our ping; the client library answers it. */
    assert_int_equal(kl_ws_conn_send_ping(conn, "srv", 3, &err), 0);
    assert_int_equal(kl_ws_conn_recv(conn, &m, 10000, &err), 1);
    assert_int_equal(m.opcode, KL_WS_OP_PONG);
    assert_string_equal((const char *)m.data, "srv");
    /* 5: raw output that is not UTF-8, as a text frame, like kleened sends process output.
     * python-websockets rejects invalid UTF-8 in text frames, so send valid bytes here and
     * a binary frame for the raw ones. */
    assert_int_equal(kl_ws_conn_send_text(conn, "caf\xc3\xa9\n", 6, &err), 0);
    assert_int_equal(kl_ws_conn_send_binary(conn, "\xff\x00\xfe", 3, &err), 0);
    /* 6: close with a JSON reason longer than fits: the client sees the truncated reason. */
    char reason[200];
    snprintf(reason, sizeof(reason), "{\"data\":\"\",\"message\":\"%s\",\"msg_type\":\"closing\"}",
             "executable abc and its container exited with exit-code 0 and "
             "this text is long enough to need a cut \xc3\xa9\xc3\xa9\xc3\xa9");
    assert_true(strlen(reason) > 123);
    assert_int_equal(kl_ws_conn_close(conn, 1000, reason, 10000, &err), 0);
    kl_ws_conn_free(conn);
    close(fd);

    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

/* The reverse: a python-websockets server, our client (klee's side). */
static void test_interop_python_server(void **state)
{
    (void)state;
    const char *python = interop_python();
    const char *script = interop_script();
    if (!python || !script)
        skip();
    int pfd[2];
    assert_int_equal(pipe2(pfd, O_CLOEXEC), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(pfd[1], 1);
        execl(python, python, script, "server", (char *)NULL);
        _exit(127);
    }
    close(pfd[1]);
    /* The script prints its port on the first line once it listens. */
    char line[32] = {0};
    size_t n = 0;
    while (n < sizeof(line) - 1) {
        ssize_t r = read(pfd[0], line + n, 1);
        assert_true(r == 1);
        if (line[n] == '\n')
            break;
        n++;
    }
    close(pfd[0]);
    int port = atoi(line);
    assert_true(port > 0);

    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_port = htons((uint16_t)port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    kl_ws_transport t = kl_ws_transport_socket(fd);
    kl_ws_conn *conn = kl_ws_conn_new(KL_WS_ROLE_CLIENT, &t, 0);
    kl_error err = KL_ERROR_INIT;
    char host[32];
    snprintf(host, sizeof(host), "127.0.0.1:%d", port);
    assert_int_equal(kl_ws_conn_client_handshake(conn, host, "/images/build", 10000, &err), 0);
    kl_ws_message m;
    /* The server echoes text and binary, answers our ping, and when we send "close-me" closes
     * with 1011 and a reason. */
    assert_int_equal(kl_ws_conn_send_text(conn, "{\"context\":\"/tmp\"}", 18, &err), 0);
    assert_int_equal(kl_ws_conn_recv(conn, &m, 10000, &err), 1);
    assert_int_equal(m.opcode, KL_WS_OP_TEXT);
    assert_string_equal((const char *)m.data, "echo:{\"context\":\"/tmp\"}");
    static uint8_t big[300000];
    for (size_t i = 0; i < sizeof(big); i++)
        big[i] = (uint8_t)(i % 253);
    assert_int_equal(kl_ws_conn_send_binary(conn, big, sizeof(big), &err), 0);
    assert_int_equal(kl_ws_conn_recv(conn, &m, 10000, &err), 1);
    assert_int_equal(m.opcode, KL_WS_OP_BINARY);
    assert_int_equal(m.len, sizeof(big));
    assert_memory_equal(m.data, big, sizeof(big));
    assert_int_equal(kl_ws_conn_send_ping(conn, "cli", 3, &err), 0);
    assert_int_equal(kl_ws_conn_recv(conn, &m, 10000, &err), 1);
    assert_int_equal(m.opcode, KL_WS_OP_PONG);
    assert_string_equal((const char *)m.data, "cli");
    /* The server pings us before its next message: answered inside recv, not returned. */
    assert_int_equal(kl_ws_conn_send_text(conn, "ping-me", 7, &err), 0);
    assert_int_equal(kl_ws_conn_recv(conn, &m, 10000, &err), 1);
    assert_int_equal(m.opcode, KL_WS_OP_TEXT);
    assert_string_equal((const char *)m.data, "pong-received");
    assert_int_equal(kl_ws_conn_send_text(conn, "close-me", 8, &err), 0);
    assert_int_equal(kl_ws_conn_recv(conn, &m, 10000, &err), 1);
    assert_int_equal(m.opcode, KL_WS_OP_CLOSE);
    assert_int_equal(m.close_code, 1011);
    assert_string_equal(
        (const char *)m.data,
        "{\"data\":\"\",\"message\":\"image build failed\",\"msg_type\":\"error\"}");
    kl_ws_conn_free(conn);
    close(fd);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_accept_key_rfc_example),
        cmocka_unit_test(test_client_key),
        cmocka_unit_test(test_header_tokens),
        cmocka_unit_test(test_server_check_request),
        cmocka_unit_test(test_client_request),
        cmocka_unit_test(test_client_check_response),
        cmocka_unit_test(test_encode_rfc_examples),
        cmocka_unit_test(test_encode_lengths),
        cmocka_unit_test(test_client_role_masks_server_role_does_not),
        cmocka_unit_test(test_decode_rfc_examples),
        cmocka_unit_test(test_fragmentation_with_interleaved_control),
        cmocka_unit_test(test_empty_messages_and_invalid_utf8_text),
        cmocka_unit_test(test_close_frames),
        cmocka_unit_test(test_close_reason_truncation),
        cmocka_unit_test(test_protocol_violations),
        cmocka_unit_test(test_violation_detected_early),
        cmocka_unit_test(test_message_too_big),
        cmocka_unit_test(test_lengths_split_everywhere),
        cmocka_unit_test(test_conn_client_handshake_and_echo),
        cmocka_unit_test(test_conn_server_close_with_reason),
        cmocka_unit_test(test_conn_auto_pong),
        cmocka_unit_test(test_conn_protocol_error_closes_1002),
        cmocka_unit_test(test_conn_too_big_closes_1009),
        cmocka_unit_test(test_conn_eof_and_preload),
        cmocka_unit_test(test_conn_idle_timeout_and_keepalive),
        cmocka_unit_test(test_conn_send_timeout),
        cmocka_unit_test(test_conn_concurrent_senders),
        cmocka_unit_test(test_conn_handshake_refused_and_timeout),
        cmocka_unit_test(test_interop_python_client),
        cmocka_unit_test(test_interop_python_server),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
