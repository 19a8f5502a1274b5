#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/httpparse.h"
#include "lib/buf.h"

/* Parse a head given as a string (copied: parsing is in place). */
static ssize_t parse(const char *text, http_head *h, http_refusal *why, char **keep)
{
    *keep = strdup(text);
    return http_parse_head(*keep, strlen(text), h, why);
}

static void test_simple_get(void **state)
{
    (void)state;
    http_head h;
    http_refusal why;
    char *b;
    const char *req = "GET /volumes/list?x=1 HTTP/1.1\r\nHost: localhost\r\n"
                      "Accept:   */*  \r\n\r\nNEXT";
    ssize_t n = parse(req, &h, &why, &b);
    assert_int_equal(n, strlen(req) - 4);
    assert_string_equal(h.method, "GET");
    assert_string_equal(h.path, "/volumes/list");
    assert_string_equal(h.query, "x=1");
    assert_int_equal(h.minor, 1);
    assert_int_equal(h.n_headers, 2);
    assert_string_equal(http_header_get(&h, "host"), "localhost");
    assert_string_equal(http_header_get(&h, "ACCEPT"), "*/*");
    assert_null(http_header_get(&h, "Content-Length"));
    assert_true(http_keep_alive(&h));
    free(b);
}

static void test_bare_lf_and_leading_empty_lines(void **state)
{
    (void)state;
    http_head h;
    http_refusal why;
    char *b;
    ssize_t n = parse("\r\n\nPOST /a%20b HTTP/1.0\nConnection: keep-alive\n\n", &h, &why, &b);
    assert_true(n > 0);
    assert_string_equal(h.method, "POST");
    assert_string_equal(h.path, "/a b");
    assert_null(h.query);
    assert_int_equal(h.minor, 0);
    assert_false(http_keep_alive(&h)); /* kleened closes HTTP/1.0 connections */
    free(b);
}

static void test_absolute_form(void **state)
{
    (void)state;
    http_head h;
    http_refusal why;
    char *b;
    assert_true(
        parse("GET HTTP://localhost:8080/volumes/list?all=1 HTTP/1.1\r\n\r\n", &h, &why, &b) > 0);
    assert_string_equal(h.path, "/volumes/list");
    assert_string_equal(h.query, "all=1");
    free(b);
}

static void test_incomplete(void **state)
{
    (void)state;
    const char *parts[] = {"",
                           "GET",
                           "GET / HTTP/1.1",
                           "GET / HTTP/1.1\r\n",
                           "GET / HTTP/1.1\r\nHost: x\r\n",
                           "GET / HTTP/1.1\r\nHost: x\r\n\r",
                           "\r\n\r\n\r\n"};
    for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++) {
        http_head h;
        http_refusal why;
        char *b;
        assert_int_equal(parse(parts[i], &h, &why, &b), 0);
        assert_int_equal(http_head_end(parts[i], strlen(parts[i])), 0);
        free(b);
    }
}

static void expect_refusal(const char *text, int status)
{
    http_head h;
    http_refusal why = {0};
    char *b;
    ssize_t n = parse(text, &h, &why, &b);
    if (n != -1)
        fail_msg("accepted: %s", text);
    if (why.status != status)
        fail_msg("%s: status %d, want %d (%s)", text, why.status, status, why.message);
    assert_non_null(why.message);
    free(b);
}

static void test_malformed(void **state)
{
    (void)state;
    expect_refusal("GARBAGE\r\n\r\n", 400);
    expect_refusal("GET /\r\n\r\n", 400);
    expect_refusal("GET  / HTTP/1.1\r\n\r\n", 400);
    expect_refusal("GET / HTTP/1.1 x\r\n\r\n", 400);
    expect_refusal("G(T / HTTP/1.1\r\n\r\n", 400);
    expect_refusal("GET / HTTP/1\r\n\r\n", 400);
    expect_refusal("GET / HTTP/2.0\r\n\r\n", 505);
    expect_refusal("GET / HTTP/3.1\r\n\r\n", 505);
    expect_refusal("GET volumes HTTP/1.1\r\n\r\n", 400);
    expect_refusal("GET http://x HTTP/1.1\r\n\r\n", 400);
    expect_refusal("GET http://x?a=/b HTTP/1.1\r\n\r\n", 400);
    expect_refusal("GET ftp://x/a HTTP/1.1\r\n\r\n", 400);
    expect_refusal("OPTIONS * HTTP/1.1\r\n\r\n", 400);
    expect_refusal("GET /%zz HTTP/1.1\r\n\r\n", 400);
    expect_refusal("GET /a%0 HTTP/1.1\r\n\r\n", 400);
    expect_refusal("GET /a%00b HTTP/1.1\r\n\r\n", 400);
    expect_refusal("GET /\x7f HTTP/1.1\r\n\r\n", 400);
    expect_refusal("GET / HTTP/1.1\r\nNoColon\r\n\r\n", 400);
    expect_refusal("GET / HTTP/1.1\r\nA: b\r\n folded\r\n\r\n", 400);
    expect_refusal("GET / HTTP/1.1\r\nBad Name: b\r\n\r\n", 400);
    expect_refusal("GET / HTTP/1.1\r\n: empty\r\n\r\n", 400);
    expect_refusal("GET / HTTP/1.1\r\nA: b\x01\r\n\r\n", 400);
    expect_refusal("GET / HTTP/1.1\r\nA: b\rc\r\n\r\n", 400);
    /* too many fields */
    kl_buf b = KL_BUF_INIT;
    kl_buf_puts(&b, "GET / HTTP/1.1\r\n");
    for (int i = 0; i <= HTTP_MAX_HEADERS; i++)
        kl_buf_printf(&b, "X-%d: v\r\n", i);
    kl_buf_puts(&b, "\r\n");
    expect_refusal(b.data, 431);
    kl_buf_free(&b);
}

static void framing(const char *headers, int want_rc, http_body_kind want_kind, uint64_t want_len,
                    int want_status)
{
    char text[512];
    snprintf(text, sizeof(text), "POST /x HTTP/1.1\r\n%s\r\n", headers);
    http_head h;
    http_refusal why = {0};
    char *b;
    assert_true(parse(text, &h, &why, &b) > 0);
    http_body_kind kind;
    uint64_t len;
    int rc = http_body_framing(&h, &kind, &len, &why);
    if (rc != want_rc)
        fail_msg("%s: rc %d", headers, rc);
    if (rc == 0) {
        assert_int_equal(kind, want_kind);
        assert_int_equal(len, want_len);
    } else {
        assert_int_equal(why.status, want_status);
    }
    free(b);
}

static void test_body_framing(void **state)
{
    (void)state;
    framing("", 0, HTTP_BODY_NONE, 0, 0);
    framing("Content-Length: 0\r\n", 0, HTTP_BODY_NONE, 0, 0);
    framing("Content-Length: 42\r\n", 0, HTTP_BODY_LENGTH, 42, 0);
    framing("Content-Length: 42\r\nContent-Length: 42\r\n", 0, HTTP_BODY_LENGTH, 42, 0);
    framing("Transfer-Encoding: Chunked\r\n", 0, HTTP_BODY_CHUNKED, 0, 0);
    framing("Content-Length: 42\r\nContent-Length: 43\r\n", -1, 0, 0, 400);
    framing("Content-Length: -1\r\n", -1, 0, 0, 400);
    framing("Content-Length: +1\r\n", -1, 0, 0, 400);
    framing("Content-Length: 1 2\r\n", -1, 0, 0, 400);
    framing("Content-Length: abc\r\n", -1, 0, 0, 400);
    framing("Content-Length:\r\n", -1, 0, 0, 400);
    framing("Content-Length: 99999999999999999999999\r\n", -1, 0, 0, 400);
    framing("Transfer-Encoding: gzip\r\n", -1, 0, 0, 501);
    framing("Transfer-Encoding: gzip, chunked\r\n", -1, 0, 0, 501);
    framing("Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n", -1, 0, 0, 501);
    framing("Transfer-Encoding: chunked\r\nContent-Length: 3\r\n", -1, 0, 0, 400);
}

static void test_keep_alive(void **state)
{
    (void)state;
    const struct {
        const char *text;
        bool keep;
    } cases[] = {
        {"GET / HTTP/1.1\r\n\r\n", true},
        {"GET / HTTP/1.1\r\nConnection: close\r\n\r\n", false},
        {"GET / HTTP/1.1\r\nConnection: Upgrade, Close\r\n\r\n", false},
        {"GET / HTTP/1.1\r\nConnection: closed\r\n\r\n", true},
        {"GET / HTTP/1.0\r\n\r\n", false},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        http_head h;
        http_refusal why;
        char *b;
        assert_true(parse(cases[i].text, &h, &why, &b) > 0);
        assert_int_equal(http_keep_alive(&h), cases[i].keep);
        free(b);
    }
}

static void sink(void *ctx, const char *data, size_t n)
{
    kl_buf_append(ctx, data, n);
}

/* Feed `in` in pieces of `step` bytes; returns the bytes consumed in all, -1 on refusal. */
static ssize_t feed_all(const char *in, size_t step, kl_buf *out, bool *done, http_refusal *why)
{
    http_chunked c = {0};
    size_t len = strlen(in), off = 0;
    *done = false;
    while (off < len && !*done) {
        size_t n = len - off < step ? len - off : step;
        ssize_t r = http_chunked_feed(&c, in + off, n, sink, out, done, why);
        if (r < 0)
            return -1;
        off += (size_t)r;
        if ((size_t)r < n && !*done)
            fail_msg("consumed %zd of %zu without finishing", r, n);
    }
    return (ssize_t)off;
}

static void test_chunked(void **state)
{
    (void)state;
    const char *body = "5\r\nhello\r\n7;ext=1;q=\"x\"\r\n, world\r\n0\r\nX-Trailer: y\r\n\r\nNEXT";
    for (size_t step = 1; step <= strlen(body); step++) {
        kl_buf out = KL_BUF_INIT;
        bool done;
        http_refusal why;
        ssize_t used = feed_all(body, step, &out, &done, &why);
        assert_true(done);
        assert_int_equal(used, strlen(body) - 4);
        assert_int_equal(out.len, 12);
        assert_memory_equal(out.data, "hello, world", 12);
        kl_buf_free(&out);
    }
    /* bare LF line ends, upper-case hex, no trailer */
    kl_buf out = KL_BUF_INIT;
    bool done;
    http_refusal why;
    assert_int_equal(feed_all("A\nabcdefghij\n0\n\n", 3, &out, &done, &why), 16);
    assert_true(done);
    assert_int_equal(out.len, 10);
    kl_buf_free(&out);
}

static void test_chunked_malformed(void **state)
{
    (void)state;
    const char *bad[] = {"x\r\n",
                         "\r\n",
                         "5\r\nhelloX\r\n",
                         "5\r\nhello\rX",
                         "5\rX",
                         "0\r\nTrailer\x01\r\n\r\n",
                         "-1\r\n",
                         "1234567890abcdef0\r\n"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        kl_buf out = KL_BUF_INIT;
        bool done;
        http_refusal why = {0};
        if (feed_all(bad[i], 1, &out, &done, &why) != -1)
            fail_msg("accepted chunked body %zu", i);
        assert_true(why.status == 400 || why.status == 413);
        kl_buf_free(&out);
    }
}

static void test_percent_decode(void **state)
{
    (void)state;
    char a[] = "a%2Fb%2fc+d";
    assert_int_equal(http_percent_decode(a, false), 0);
    assert_string_equal(a, "a/b/c+d");
    char b[] = "a+b%2B";
    assert_int_equal(http_percent_decode(b, true), 0);
    assert_string_equal(b, "a b+");
    char c[] = "%e2%82%ac";
    assert_int_equal(http_percent_decode(c, false), 0);
    assert_string_equal(c, "\xe2\x82\xac");
    char d[] = "%g0", e[] = "%0", f[] = "%", g[] = "%00";
    assert_int_equal(http_percent_decode(d, false), -1);
    assert_int_equal(http_percent_decode(e, false), -1);
    assert_int_equal(http_percent_decode(f, false), -1);
    assert_int_equal(http_percent_decode(g, false), -1);
}

static void test_query(void **state)
{
    (void)state;
    const char *q = "all=true&&filters=%7B%22a%22%3A1%7D&flag&name=a+b&=v&";
    char *storage = malloc(strlen(q) + 1);
    const char *k[HTTP_MAX_QUERY_ARGS], *v[HTTP_MAX_QUERY_ARGS];
    http_refusal why;
    int n = http_parse_query(q, storage, k, v, HTTP_MAX_QUERY_ARGS, &why);
    assert_int_equal(n, 5);
    assert_string_equal(k[0], "all");
    assert_string_equal(v[0], "true");
    assert_string_equal(k[1], "filters");
    assert_string_equal(v[1], "{\"a\":1}");
    assert_string_equal(k[2], "flag");
    assert_string_equal(v[2], "");
    assert_string_equal(k[3], "name");
    assert_string_equal(v[3], "a b");
    assert_string_equal(k[4], "");
    assert_string_equal(v[4], "v");
    free(storage);

    kl_buf many = KL_BUF_INIT;
    for (int i = 0; i <= HTTP_MAX_QUERY_ARGS; i++)
        kl_buf_printf(&many, "k%d=v&", i);
    storage = malloc(many.len + 1);
    assert_int_equal(http_parse_query(many.data, storage, k, v, HTTP_MAX_QUERY_ARGS, &why), -1);
    assert_int_equal(why.status, 400);
    free(storage);
    kl_buf_free(&many);

    storage = malloc(8);
    assert_int_equal(http_parse_query("a=%zz", storage, k, v, HTTP_MAX_QUERY_ARGS, &why), -1);
    free(storage);
}

static void test_reason(void **state)
{
    (void)state;
    assert_string_equal(http_reason(200), "OK");
    assert_string_equal(http_reason(431), "Request Header Fields Too Large");
    assert_string_equal(http_reason(799), "Unknown");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_simple_get),
        cmocka_unit_test(test_bare_lf_and_leading_empty_lines),
        cmocka_unit_test(test_absolute_form),
        cmocka_unit_test(test_incomplete),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_body_framing),
        cmocka_unit_test(test_keep_alive),
        cmocka_unit_test(test_chunked),
        cmocka_unit_test(test_chunked_malformed),
        cmocka_unit_test(test_percent_decode),
        cmocka_unit_test(test_query),
        cmocka_unit_test(test_reason),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
