#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <string.h>

#include "cli/http.h"

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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_unix_socket),    cmocka_unit_test(test_tcp),
        cmocka_unit_test(test_bad_hosts),      cmocka_unit_test(test_client_tls_check),
        cmocka_unit_test(test_connect_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
