#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli/http.h"
#include "lib/buf.h"
#include "lib/xalloc.h"

static void test_unix_socket(void **state)
{
    (void)state;
    http_target t;
    kl_error err = KL_ERROR_INIT;
    assert_int_equal(http_target_parse("http:///var/run/kleened.sock", &t, &err), 0);
    assert_false(t.is_tls);
    assert_string_equal(t.socket_path, "/var/run/kleened.sock");
    assert_string_equal(t.base_url, "http://localhost");
    assert_string_equal(t.netloc, "localhost");
    http_target_free(&t);

    assert_int_equal(http_target_parse("https:///tmp/k.sock", &t, &err), 0);
    assert_true(t.is_tls);
    assert_string_equal(t.socket_path, "/tmp/k.sock");
    assert_string_equal(t.base_url, "https://localhost");
    http_target_free(&t);
}

static void test_tcp(void **state)
{
    (void)state;
    http_target t;
    kl_error err = KL_ERROR_INIT;
    assert_int_equal(http_target_parse("http://127.0.0.1:8085", &t, &err), 0);
    assert_null(t.socket_path);
    assert_string_equal(t.base_url, "http://127.0.0.1:8085");
    assert_string_equal(t.netloc, "127.0.0.1:8085");
    http_target_free(&t);

    assert_int_equal(http_target_parse("HTTPS://[::1]:8443", &t, &err), 0);
    assert_true(t.is_tls);
    assert_string_equal(t.base_url, "https://[::1]:8443");
    http_target_free(&t);

    assert_int_equal(http_target_parse("http://kleene.example.org", &t, &err), 0);
    assert_string_equal(t.base_url, "http://kleene.example.org");
    http_target_free(&t);

    /* a path after host:port is ignored, as in the original */
    assert_int_equal(http_target_parse("http://host:80/", &t, &err), 0);
    assert_string_equal(t.base_url, "http://host:80");
    http_target_free(&t);
}

static void expect_error(const char *url, int code, const char *msg)
{
    http_target t;
    kl_error err = KL_ERROR_INIT;
    assert_int_equal(http_target_parse(url, &t, &err), -1);
    assert_int_equal(err.code, code);
    assert_string_equal(err.msg, msg);
}

static void test_bad_hosts(void **state)
{
    (void)state;
    const char *bad = "Could not parse the '--host' parameter";
    expect_error("http:///x.sock?a=b", EINVAL, bad);
    expect_error("http://host:80/#frag", EINVAL, bad);
    expect_error("http://host:80/;p", EINVAL, bad);
    expect_error("http://::1:80", EINVAL, bad);
    expect_error("http://host:99999", EINVAL, bad);
    expect_error("http://host:", EINVAL, bad);
    expect_error("http://[]:80", EINVAL, bad);
    expect_error("http:///", EINVAL, bad);
    expect_error("htyp://x", EPROTONOSUPPORT, "Request URL has an unsupported protocol 'htyp://'.");
    expect_error("unix:///var/run/kleened.sock", EPROTONOSUPPORT,
                 "Request URL has an unsupported protocol 'unix://'.");
    expect_error("localhost:8080", EPROTONOSUPPORT,
                 "Request URL is missing an 'http://' or 'https://' protocol.");
}

static void test_client_tls_check(void **state)
{
    (void)state;
    http_target t;
    kl_error err = KL_ERROR_INIT;
    assert_int_equal(http_target_parse("https://127.0.0.1:1", &t, &err), 0);
    http_tls tls = {.verify = -1, .cert = "/c.pem"};
    assert_null(http_client_new(&t, &tls, 5, &err));
    assert_string_equal(err.msg, "When '--tlscert' is set you must also provide the '--tlskey'");
    tls.key = "/k.pem";
    http_client *c = http_client_new(&t, &tls, 5, &err);
    assert_non_null(c);
    http_client_free(c);
    http_target_free(&t);
}

static void test_connect_errors(void **state)
{
    (void)state;
    http_target t;
    kl_error err = KL_ERROR_INIT;
    assert_int_equal(http_target_parse("http:///nonexistent/kleened.sock", &t, &err), 0);
    http_client *c = http_client_new(&t, NULL, 5, &err);
    assert_non_null(c);
    http_response r = HTTP_RESPONSE_INIT;
    assert_int_equal(http_request(c, "GET", "/volumes/list", NULL, &r, &err), -1);
    assert_int_equal(err.code, ENOENT);
    assert_string_equal(err.msg, "/nonexistent/kleened.sock: No such file or directory");
    http_client_free(c);
    http_target_free(&t);
}

/* ---- the native client against a scripted server ------------------------------------- */

/* A forked server: accepts one connection on `lfd`, reads the request (headers and a
 * Content-Length body) and answers as `mode` says. "echo" answers 201 with the request as
 * the body (Content-Length). */
static void write_str(int fd, const char *s)
{
    size_t n = strlen(s);
    while (n > 0) {
        ssize_t w = write(fd, s, n);
        if (w <= 0)
            _exit(3);
        s += w;
        n -= (size_t)w;
    }
}

static void read_request(int fd, kl_buf *req)
{
    char tmp[4096];
    for (;;) {
        char *end = req->data ? strstr(req->data, "\r\n\r\n") : NULL;
        if (end) {
            const char *cl = strcasestr(req->data, "Content-Length: ");
            size_t want = (size_t)(end + 4 - req->data) + (cl ? strtoul(cl + 16, NULL, 10) : 0);
            if (req->len >= want)
                return;
        }
        ssize_t n = read(fd, tmp, sizeof(tmp));
        if (n <= 0)
            return;
        kl_buf_append(req, tmp, (size_t)n);
    }
}

static void serve(int lfd, const char *mode)
{
    int fd = accept(lfd, NULL, NULL);
    if (fd < 0)
        _exit(2);
    kl_buf req = KL_BUF_INIT;
    if (strcmp(mode, "raw") != 0)
        read_request(fd, &req);
    if (strcmp(mode, "echo") == 0) {
        char head[256];
        snprintf(head, sizeof(head),
                 "HTTP/1.1 201 Created\r\nContent-Type: text/plain\r\nContent-Length: %zu\r\n"
                 "\r\n",
                 req.len);
        write_str(fd, head);
        write_str(fd, req.data);
        write_str(fd, "trailing bytes after the body are ignored");
    } else if (strcmp(mode, "chunked") == 0) {
        /* pieces split inside the size line, the data and the CRLFs */
        const char *parts[] = {"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n",
                               "Transfer-Encoding: chunked\r\n\r\n1",
                               "0;ext=1\r\n[\"0123456789",
                               "abc\"",
                               "\r\n3\r\n,1]\r\n",
                               "0\r\nX-Trailer: 1\r\n\r\n"};
        for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++) {
            write_str(fd, parts[i]);
            usleep(20000);
        }
    } else if (strcmp(mode, "eof") == 0) {
        write_str(fd, "HTTP/1.0 404 Not Found\nContent-Type: application/json\n\n{\"message\":");
        usleep(20000);
        write_str(fd, "\"no such thing\"}");
    } else if (strcmp(mode, "interim") == 0) {
        write_str(fd, "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n");
    } else if (strcmp(mode, "slow") == 0) {
        sleep(10); /* killed by the test */
    } else if (strcmp(mode, "garbage") == 0) {
        write_str(fd, "SSH-2.0-OpenSSH_9.2\r\nsome: thing\r\n\r\n");
    } else if (strcmp(mode, "empty") == 0) {
        /* close without a word */
    } else if (strcmp(mode, "short") == 0) {
        write_str(fd, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc");
    } else if (strcmp(mode, "badchunk") == 0) {
        write_str(fd,
                  "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n");
    } else if (strcmp(mode, "bigheader") == 0) {
        write_str(fd, "HTTP/1.1 200 OK\r\nX-Big: ");
        char *big = xmalloc(100 * 1024 + 1);
        memset(big, 'a', 100 * 1024);
        big[100 * 1024] = '\0';
        signal(SIGPIPE, SIG_IGN);
        if (write(fd, big, 100 * 1024) < 0)
            _exit(0);
        free(big);
    } else if (strcmp(mode, "bigbody") == 0) {
        write_str(fd, "HTTP/1.1 200 OK\r\nContent-Length: 104857600\r\n\r\nabc");
    } else if (strcmp(mode, "stream") == 0) {
        write_str(fd, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
        for (int i = 0; i < 3; i++) {
            char line[32];
            snprintf(line, sizeof(line), "6\r\nline %d\r\n", i);
            write_str(fd, line);
            usleep(50000);
        }
        write_str(fd, "0\r\n\r\n");
    } else if (strcmp(mode, "upload") == 0) {
        /* the chunked body to its last chunk; the answer tells its size and how it ended */
        char tmp[65536];
        while (req.len < 5 || memcmp(req.data + req.len - 5, "0\r\n\r\n", 5) != 0) {
            ssize_t n = read(fd, tmp, sizeof(tmp));
            if (n <= 0)
                break;
            kl_buf_append(&req, tmp, (size_t)n);
        }
        char head[256];
        snprintf(head, sizeof(head),
                 "HTTP/1.1 200 OK\r\nX-Got: %zu\r\nX-Ended:  %s \r\nContent-Length: 2\r\n\r\n{}",
                 req.len,
                 req.len >= 5 && !memcmp(req.data + req.len - 5, "0\r\n\r\n", 5) ? "yes" : "no");
        write_str(fd, head);
        kl_buf_append(&req, "", 1);
        if (!strstr(req.data, "PUT /up HTTP/1.1\r\n") ||
            !strstr(req.data, "Transfer-Encoding: chunked\r\n") ||
            !strstr(req.data, "Content-Type: application/x-tar\r\n"))
            _exit(4);
    } else if (strcmp(mode, "refuse") == 0) {
        /* an answer before the body is read, then the close */
        write_str(fd, "HTTP/1.1 404 Not Found\r\nContent-Length: 13\r\n\r\n{\"message\":2}");
        shutdown(fd, SHUT_WR);
        char tmp[4096];
        for (int i = 0; i < 50 && read(fd, tmp, sizeof(tmp)) > 0; i++) {
        }
    } else if (strcmp(mode, "stream404") == 0) {
        write_str(fd, "HTTP/1.1 404 Not Found\r\nContent-Length: 13\r\n\r\n{\"message\":1}");
    } else if (strcmp(mode, "raw") == 0) {
        /* a raw stream: echo what the request-less client sends, then close */
        char tmp[64];
        ssize_t n = read(fd, tmp, sizeof(tmp));
        if (n > 0 && write(fd, tmp, (size_t)n) != n)
            _exit(3);
        usleep(300000);
    }
    kl_buf_free(&req);
    close(fd);
    _exit(0);
}

typedef struct server {
    char dir[64];
    char url[128];
    pid_t pid;
    http_client *client;
} server;

/* Start `mode` on a UNIX socket (or 127.0.0.1 with tcp) and make a client for it. */
static void server_start(server *s, const char *mode, bool tcp, long timeout_s)
{
    int lfd;
    if (tcp) {
        lfd = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        assert_int_equal(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
        socklen_t len = sizeof(sa);
        getsockname(lfd, (struct sockaddr *)&sa, &len);
        snprintf(s->url, sizeof(s->url), "http://127.0.0.1:%d", ntohs(sa.sin_port));
        s->dir[0] = '\0';
    } else {
        strcpy(s->dir, "/tmp/test_cli_http.XXXXXX");
        assert_non_null(mkdtemp(s->dir));
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/s.sock", s->dir);
        lfd = socket(AF_UNIX, SOCK_STREAM, 0);
        assert_int_equal(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
        snprintf(s->url, sizeof(s->url), "http://%s", sa.sun_path);
    }
    assert_int_equal(listen(lfd, 4), 0);
    s->pid = fork();
    assert_true(s->pid >= 0);
    if (s->pid == 0)
        serve(lfd, mode);
    close(lfd);
    http_target t;
    kl_error err = KL_ERROR_INIT;
    assert_int_equal(http_target_parse(s->url, &t, &err), 0);
    s->client = http_client_new(&t, NULL, timeout_s, &err);
    assert_non_null(s->client);
    http_target_free(&t);
}

static void server_stop(server *s)
{
    http_client_free(s->client);
    kill(s->pid, SIGKILL);
    waitpid(s->pid, NULL, 0);
    if (s->dir[0]) {
        char path[128];
        snprintf(path, sizeof(path), "%s/s.sock", s->dir);
        unlink(path);
        rmdir(s->dir);
    }
}

static void check_echo(bool tcp)
{
    server s;
    server_start(&s, "echo", tcp, 5);
    http_response r = HTTP_RESPONSE_INIT;
    kl_error err = KL_ERROR_INIT;
    assert_int_equal(
        http_request(s.client, "POST", "/volumes/create", "{\"name\":\"v\"}", &r, &err), 0);
    assert_int_equal(r.status, 201);
    assert_string_equal(r.content_type, "text/plain");
    assert_int_equal(r.len, strlen(r.body));
    assert_non_null(strstr(r.body, "POST /volumes/create HTTP/1.1\r\n"));
    assert_non_null(strstr(r.body, "Content-Type: application/json\r\n"));
    assert_non_null(strstr(r.body, "Content-Length: 12\r\n"));
    assert_non_null(strstr(r.body, "\r\n\r\n{\"name\":\"v\"}"));
    assert_null(strstr(r.body, "trailing"));
    http_response_free(&r);
    server_stop(&s);
}

static void test_native_content_length(void **state)
{
    (void)state;
    check_echo(false);
}

/* TCP goes through libcurl, loaded on demand. */
static void test_curl_content_length(void **state)
{
    (void)state;
    check_echo(true);
}

static void test_native_chunked(void **state)
{
    (void)state;
    server s;
    server_start(&s, "chunked", false, 5);
    http_response r = HTTP_RESPONSE_INIT;
    kl_error err = KL_ERROR_INIT;
    int rc = http_request(s.client, "GET", "/x", NULL, &r, &err);
    if (rc < 0)
        fail_msg("%s", err.msg);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.content_type, "application/json");
    assert_string_equal(r.body, "[\"0123456789abc\",1]");
    assert_int_equal(r.len, 19);
    http_response_free(&r);
    server_stop(&s);
}

static void test_native_eof_body(void **state)
{
    (void)state;
    server s;
    server_start(&s, "eof", false, 5);
    http_response r = HTTP_RESPONSE_INIT;
    kl_error err = KL_ERROR_INIT;
    assert_int_equal(http_request(s.client, "DELETE", "/x", NULL, &r, &err), 0);
    assert_int_equal(r.status, 404);
    assert_string_equal(r.body, "{\"message\":\"no such thing\"}");
    http_response_free(&r);
    server_stop(&s);

    server_start(&s, "interim", false, 5);
    assert_int_equal(http_request(s.client, "POST", "/x", NULL, &r, &err), 0);
    assert_int_equal(r.status, 204);
    assert_string_equal(r.body, "");
    assert_null(r.content_type);
    http_response_free(&r);
    server_stop(&s);
}

static void expect_failure(const char *mode, int code, const char *msg)
{
    server s;
    server_start(&s, mode, false, 1);
    http_response r = HTTP_RESPONSE_INIT;
    kl_error err = KL_ERROR_INIT;
    assert_int_equal(http_request(s.client, "GET", "/x", NULL, &r, &err), -1);
    assert_int_equal(err.code, code);
    if (msg)
        assert_string_equal(err.msg, msg);
    assert_null(r.body);
    server_stop(&s);
}

static void test_native_timeout(void **state)
{
    (void)state;
    expect_failure("slow", ETIMEDOUT, NULL);
}

static void test_native_bad_servers(void **state)
{
    (void)state;
    expect_failure("garbage", EPROTO, "invalid HTTP response from the server");
    expect_failure("empty", EPROTO, "Empty reply from server");
    expect_failure("short", EPROTO, "transfer closed with 7 bytes remaining to read");
    expect_failure("badchunk", EPROTO, "malformed chunked encoding: bad chunk size");
    expect_failure("bigheader", EMSGSIZE, "response headers too large (over 64 KiB)");
    expect_failure("bigbody", EMSGSIZE, "response body too large (over 64 MiB)");
}

typedef struct pieces {
    kl_buf all;
    int calls;
} pieces;

static void collect(void *ud, const char *content_type, const char *data, size_t n)
{
    (void)content_type;
    pieces *p = ud;
    kl_buf_append(&p->all, data, n);
    p->calls++;
}

static void test_native_request_stream(void **state)
{
    (void)state;
    server s;
    server_start(&s, "stream", false, 1);
    http_response r = HTTP_RESPONSE_INIT;
    kl_error err = KL_ERROR_INIT;
    pieces p = {KL_BUF_INIT, 0};
    assert_int_equal(http_request_stream(s.client, "/logs?follow=true", collect, &p, &r, &err), 0);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "");
    assert_string_equal(p.all.data, "line 0line 1line 2");
    assert_int_equal(p.calls, 3); /* as they came */
    http_response_free(&r);
    server_stop(&s);

    server_start(&s, "stream404", false, 1);
    kl_buf_reset(&p.all);
    p.calls = 0;
    assert_int_equal(http_request_stream(s.client, "/logs", collect, &p, &r, &err), 0);
    assert_int_equal(r.status, 404);
    assert_string_equal(r.body, "{\"message\":1}");
    assert_int_equal(p.calls, 0);
    http_response_free(&r);
    kl_buf_free(&p.all);
    server_stop(&s);
}

static void test_native_raw_stream(void **state)
{
    (void)state;
    server s;
    server_start(&s, "raw", false, 1);
    kl_error err = KL_ERROR_INIT;
    http_stream *st = http_stream_open(s.client, &err);
    assert_non_null(st);
    assert_true(http_stream_fd(st) >= 0);
    char buf[16];
    /* nothing sent yet: the wait ends in ETIMEDOUT */
    assert_int_equal(http_stream_recv(st, buf, sizeof(buf), 50, &err), -1);
    assert_int_equal(err.code, ETIMEDOUT);
    assert_int_equal(http_stream_send(st, "hello", 5, &err), 5);
    assert_int_equal(http_stream_recv(st, buf, sizeof(buf), 2000, &err), 5);
    assert_memory_equal(buf, "hello", 5);
    assert_int_equal(http_stream_recv(st, buf, sizeof(buf), 2000, &err), 0); /* closed */
    http_stream_close(st);
    server_stop(&s);
}

static bool is_whole(void *ud)
{
    return *(bool *)ud;
}

/* A body of n bytes in a memfd. */
static int body_fd(size_t n)
{
    int fd = memfd_create("body", MFD_CLOEXEC);
    char *b = xmalloc(n);
    memset(b, 'x', n);
    assert_int_equal(write(fd, b, n), (ssize_t)n);
    free(b);
    lseek(fd, 0, SEEK_SET);
    return fd;
}

/* ours (klee cp): chunked uploads from an fd, natively and with libcurl; headers read back;
 * a body that is not whole is cut; an answer before the body's end is taken. */
static void test_upload(void **state)
{
    (void)state;
    for (int tcp = 0; tcp < 2; tcp++) {
        server s;
        server_start(&s, "upload", tcp, 5);
        http_response r = HTTP_RESPONSE_INIT;
        kl_error err = KL_ERROR_INIT;
        int fd = body_fd(300000);
        bool whole = true;
        int rc = http_request_upload(s.client, "PUT", "/up", "application/x-tar", fd, is_whole,
                                     &whole, &r, &err);
        if (rc < 0)
            fail_msg("%s", err.msg);
        close(fd);
        assert_int_equal(r.status, 200);
        char *got = http_response_header(&r, "x-got");
        char *ended = http_response_header(&r, "X-Ended");
        assert_non_null(got);
        assert_true(strtoul(got, NULL, 10) > 300000);
        assert_string_equal(ended, "yes");
        assert_null(http_response_header(&r, "X-None"));
        free(got);
        free(ended);
        http_response_free(&r);
        int st;
        waitpid(s.pid, &st, 0);
        assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
        s.pid = 0;
        http_client_free(s.client);
        s.client = NULL;
        if (s.dir[0]) {
            char path[128];
            snprintf(path, sizeof(path), "%s/s.sock", s.dir);
            unlink(path);
            rmdir(s.dir);
        }

        /* not whole: cut */
        server_start(&s, "upload", tcp, 5);
        fd = body_fd(1000);
        whole = false;
        assert_int_equal(http_request_upload(s.client, "PUT", "/up", "application/x-tar", fd,
                                             is_whole, &whole, &r, &err),
                         -1);
        assert_int_equal(err.code, ECANCELED);
        close(fd);
        server_stop(&s);

        /* refused before the body is read: 20 MB are not all sent, the answer is there */
        server_start(&s, "refuse", tcp, 5);
        fd = body_fd(20 * 1024 * 1024);
        rc = http_request_upload(s.client, "PUT", "/up", "application/x-tar", fd, NULL, NULL, &r,
                                 &err);
        close(fd);
        if (!tcp) { /* libcurl may report the reset instead */
            if (rc < 0)
                fail_msg("%s", err.msg);
            assert_int_equal(r.status, 404);
            assert_string_equal(r.body, "{\"message\":2}");
        }
        http_response_free(&r);
        server_stop(&s);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_unix_socket),         cmocka_unit_test(test_tcp),
        cmocka_unit_test(test_bad_hosts),           cmocka_unit_test(test_client_tls_check),
        cmocka_unit_test(test_connect_errors),      cmocka_unit_test(test_native_content_length),
        cmocka_unit_test(test_curl_content_length), cmocka_unit_test(test_native_chunked),
        cmocka_unit_test(test_native_eof_body),     cmocka_unit_test(test_native_timeout),
        cmocka_unit_test(test_native_bad_servers),  cmocka_unit_test(test_native_request_stream),
        cmocka_unit_test(test_native_raw_stream),   cmocka_unit_test(test_upload),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
