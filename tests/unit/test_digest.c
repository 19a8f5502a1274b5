#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "registry/digest.h"

static void check(const char *msg, const char *want_hex)
{
    char d[OCI_DIGEST_STR_LEN];
    oci_digest_of(msg, strlen(msg), d);
    assert_string_equal(d + 7, want_hex);
    assert_memory_equal(d, "sha256:", 7);
}

/* FIPS 180-4 examples (and sha256sum of the others). */
static void test_vectors(void **state)
{
    (void)state;
    check("", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    check("abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    check("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
          "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    /* 55, 56 and 64 bytes: the padding edge cases */
    check("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
          "9f4390f8d30c2dd92ec9f095b65e2b9ae9b0a925a5258e241c9f1e910f734318");
    check("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
          "b35439a4ac6f0948b6d6f9e3c6af0f5f590ce20f1bde7090ef7970686ec6738a");
    check("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
          "ffe054fe7ae0cb6dc65c3af9b61d5209f439851db43d0ba5997337df154668eb");
}

static void test_million_a_in_pieces(void **state)
{
    (void)state;
    static char chunk[1009];
    memset(chunk, 'a', sizeof(chunk));
    oci_sha256_ctx c;
    oci_sha256_init(&c);
    size_t left = 1000000, step = 1;
    while (left) {
        size_t n = step < left ? step : left;
        if (n > sizeof(chunk))
            n = sizeof(chunk);
        oci_sha256_update(&c, chunk, n);
        left -= n;
        step = step * 7 + 3;
        if (step > sizeof(chunk))
            step = 1;
    }
    uint8_t d[OCI_SHA256_LEN];
    oci_sha256_final(&c, d);
    char s[OCI_DIGEST_STR_LEN];
    oci_digest_format(d, s);
    assert_string_equal(s,
                        "sha256:cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

static void test_parse(void **state)
{
    (void)state;
    kl_error err = KL_ERROR_INIT;
    uint8_t d[OCI_SHA256_LEN];
    const char *ok = "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
    assert_int_equal(oci_digest_parse(ok, d, &err), 0);
    assert_int_equal(d[0], 0xba);
    assert_int_equal(d[31], 0xad);
    char back[OCI_DIGEST_STR_LEN];
    oci_digest_format(d, back);
    assert_string_equal(back, ok);

    const char *bad[] = {
        "",
        "sha256",
        "sha256:",
        ":abc",
        "sha256:BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD",
        "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015a",
        "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015add",
        "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ag",
        "SHA256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
        "sha 256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        kl_error_clear(&err);
        assert_int_equal(oci_digest_parse(bad[i], NULL, &err), -1);
        assert_int_equal(err.code, EINVAL);
        assert_false(oci_digest_is_valid(bad[i]));
    }
    kl_error_clear(&err);
    assert_int_equal(oci_digest_parse("sha512:abcd", NULL, &err), -1);
    assert_int_equal(err.code, ENOTSUP);
    assert_non_null(strstr(err.msg, "sha512"));
}

static const char *abc_digest =
    "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";

static void test_verifier(void **state)
{
    (void)state;
    kl_error err = KL_ERROR_INIT;
    oci_verifier v;
    /* right content, in pieces */
    assert_int_equal(oci_verifier_init(&v, abc_digest, 3, &err), 0);
    assert_int_equal(oci_verifier_update(&v, "a", 1, &err), 0);
    assert_int_equal(oci_verifier_update(&v, "bc", 2, &err), 0);
    assert_int_equal(oci_verifier_finish(&v, &err), 0);
    /* unknown size */
    assert_int_equal(oci_verifier_init(&v, abc_digest, -1, &err), 0);
    assert_int_equal(oci_verifier_update(&v, "abc", 3, &err), 0);
    assert_int_equal(oci_verifier_finish(&v, &err), 0);
    assert_int_equal(err.code, 0);

    /* one byte too many: refused as it arrives */
    assert_int_equal(oci_verifier_init(&v, abc_digest, 3, &err), 0);
    assert_int_equal(oci_verifier_update(&v, "ab", 2, &err), 0);
    assert_int_equal(oci_verifier_update(&v, "cd", 2, &err), -1);
    assert_int_equal(err.code, EIO);
    assert_non_null(strstr(err.msg, abc_digest));
    assert_non_null(strstr(err.msg, "more than the 3 bytes"));

    /* short */
    kl_error_clear(&err);
    assert_int_equal(oci_verifier_init(&v, abc_digest, 3, &err), 0);
    assert_int_equal(oci_verifier_update(&v, "ab", 2, &err), 0);
    assert_int_equal(oci_verifier_finish(&v, &err), -1);
    assert_int_equal(err.code, EIO);
    assert_non_null(strstr(err.msg, "received 2 bytes, expected 3"));

    /* same size, other content */
    kl_error_clear(&err);
    assert_int_equal(oci_verifier_init(&v, abc_digest, 3, &err), 0);
    assert_int_equal(oci_verifier_update(&v, "abd", 3, &err), 0);
    assert_int_equal(oci_verifier_finish(&v, &err), -1);
    assert_int_equal(err.code, EIO);
    assert_non_null(strstr(err.msg, "digest mismatch"));
    assert_non_null(strstr(err.msg, abc_digest));

    /* a bad digest to verify against */
    kl_error_clear(&err);
    assert_int_equal(oci_verifier_init(&v, "sha256:xyz", 3, &err), -1);
    assert_int_equal(err.code, EINVAL);
}

/* The SHA-NI code (where the CPU has it) gives what the portable code gives, for every
 * length around the block boundaries and for data fed in odd pieces. */
static void test_accelerated_matches_portable(void **state)
{
    (void)state;
    size_t n = 70000;
    uint8_t *buf = malloc(n);
    assert_non_null(buf);
    uint32_t x = 12345;
    for (size_t i = 0; i < n; i++) {
        x = x * 1103515245u + 12345u;
        buf[i] = (uint8_t)(x >> 16);
    }
    bool fast = oci_sha256_accelerated(true);
    if (!fast)
        print_message("no SHA instructions on this CPU: the portable code twice\n");
    static const size_t lens[] = {0,   1,   55,  56,   63,   64,    65,   119,
                                  127, 128, 129, 1000, 4096, 65537, 70000};
    for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
        uint8_t a[OCI_SHA256_LEN], b[OCI_SHA256_LEN];
        oci_sha256_accelerated(true);
        oci_sha256_ctx c;
        oci_sha256_init(&c);
        for (size_t off = 0; off < lens[i];) {
            size_t step = 1 + (off * 7) % 150;
            if (step > lens[i] - off)
                step = lens[i] - off;
            oci_sha256_update(&c, buf + off, step);
            off += step;
        }
        oci_sha256_final(&c, a);
        oci_sha256_accelerated(false);
        oci_sha256(buf, lens[i], b);
        assert_memory_equal(a, b, OCI_SHA256_LEN);
    }
    oci_sha256_accelerated(true);
    free(buf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vectors),
        cmocka_unit_test(test_accelerated_matches_portable),
        cmocka_unit_test(test_million_a_in_pieces),
        cmocka_unit_test(test_parse),
        cmocka_unit_test(test_verifier),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
