#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>
#include <stdlib.h>
#include <stdio.h>

#include <errno.h>

#include "lib/base64.h"

static void enc(const char *in, const char *want)
{
    char out[64];
    size_t n = kl_base64_encode(in, strlen(in), out);
    assert_string_equal(out, want);
    assert_int_equal(n, strlen(want));
    assert_int_equal(kl_base64_encoded_len(strlen(in)), strlen(want));
}

static void dec(const char *in, const char *want)
{
    uint8_t out[64];
    kl_error err = KL_ERROR_INIT;
    ssize_t n = kl_base64_decode(in, strlen(in), out, sizeof(out), &err);
    assert_int_equal(n, (ssize_t)strlen(want));
    assert_memory_equal(out, want, strlen(want));
    assert_int_equal(err.code, 0);
}

/* RFC 4648 §10. */
static void test_rfc4648_vectors(void **state)
{
    (void)state;
    static const char *v[][2] = {
        {"", ""},
        {"f", "Zg=="},
        {"fo", "Zm8="},
        {"foo", "Zm9v"},
        {"foob", "Zm9vYg=="},
        {"fooba", "Zm9vYmE="},
        {"foobar", "Zm9vYmFy"},
    };
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        enc(v[i][0], v[i][1]);
        dec(v[i][1], v[i][0]);
    }
}

static void test_binary_roundtrip_and_alloc(void **state)
{
    (void)state;
    uint8_t data[256];
    for (int i = 0; i < 256; i++)
        data[i] = (uint8_t)(255 - i);
    for (size_t n = 0; n <= sizeof(data); n += 17) {
        char *s = kl_base64_encode_alloc(data, n);
        assert_int_equal(strlen(s), kl_base64_encoded_len(n));
        uint8_t back[256];
        ssize_t m = kl_base64_decode(s, strlen(s), back, sizeof(back), NULL);
        assert_int_equal(m, (ssize_t)n);
        assert_memory_equal(back, data, n);
        free(s);
    }
    /* '+' and '/' are the standard alphabet's last two characters. */
    uint8_t hi[3] = {0xfb, 0xff, 0xbf};
    char out[8];
    kl_base64_encode(hi, 3, out);
    assert_string_equal(out, "+/+/");
}

static void rejects(const char *in, int code)
{
    uint8_t out[64];
    kl_error err = KL_ERROR_INIT;
    assert_int_equal(kl_base64_decode(in, strlen(in), out, sizeof(out), &err), -1);
    assert_int_equal(err.code, code);
    assert_true(strlen(err.msg) > 0);
}

static void test_decode_rejects_bad_input(void **state)
{
    (void)state;
    rejects("Zg=", EINVAL);       /* length not a multiple of 4 */
    rejects("Zg", EINVAL);        /* missing padding */
    rejects("Z===", EINVAL);      /* too much padding */
    rejects("Zg=a", EINVAL);      /* data after padding */
    rejects("Zg==Zg==", EINVAL);  /* padding before the end */
    rejects("Zm9v Yg==", EINVAL); /* whitespace (also length) */
    rejects("Zm9\nYg==", EINVAL); /* newline */
    rejects("Zm-v", EINVAL);      /* base64url alphabet */
    rejects("Zm_v", EINVAL);
    rejects("Zh==", EINVAL); /* non-zero pad bits: "Zg==" is the canonical spelling */
    rejects("Zm9=", EINVAL);
    rejects("====", EINVAL);
}

static void test_decode_output_too_small(void **state)
{
    (void)state;
    uint8_t out[5];
    kl_error err = KL_ERROR_INIT;
    assert_int_equal(kl_base64_decode("Zm9vYmFy", 8, out, sizeof(out), &err), -1);
    assert_int_equal(err.code, ENOBUFS);
    /* Exactly enough room works. */
    assert_int_equal(kl_base64_decode("Zm9vYmE=", 8, out, sizeof(out), &err), 5);
    assert_memory_equal(out, "fooba", 5);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rfc4648_vectors),
        cmocka_unit_test(test_binary_roundtrip_and_alloc),
        cmocka_unit_test(test_decode_rejects_bad_input),
        cmocka_unit_test(test_decode_output_too_small),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
