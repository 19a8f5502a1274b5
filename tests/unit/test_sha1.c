#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>
#include <stdlib.h>
#include <stdio.h>

#include "lib/sha1.h"

static void hex(const uint8_t d[KL_SHA1_LEN], char out[41])
{
    for (int i = 0; i < KL_SHA1_LEN; i++)
        sprintf(out + 2 * i, "%02x", d[i]);
}

static void check(const char *msg, const char *want)
{
    uint8_t d[KL_SHA1_LEN];
    char h[41];
    kl_sha1(msg, strlen(msg), d);
    hex(d, h);
    assert_string_equal(h, want);
}

/* FIPS 180 / RFC 3174 test vectors. */
static void test_vectors(void **state)
{
    (void)state;
    check("", "da39a3ee5e6b4b0d3255bfef95601890afd80709");
    check("abc", "a9993e364706816aba3e25717850c26c9cd0d89d");
    check("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
          "84983e441c3bd26ebaae4aa1f95129e5e54670f1");
    check("abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnop"
          "qrlmnopqrsmnopqrstnopqrstu",
          "a49b2446a02c645bf419f995b67091253a04a259");
    check("The quick brown fox jumps over the lazy dog",
          "2fd4e1c67a2d28fced849ee1bb76e7391b93eb12");
}

/* One million 'a', fed in awkward pieces: exercises block carry-over in update. */
static void test_million_a_incremental(void **state)
{
    (void)state;
    static char chunk[997];
    memset(chunk, 'a', sizeof(chunk));
    kl_sha1_ctx c;
    kl_sha1_init(&c);
    size_t left = 1000000;
    size_t step = 1;
    while (left) {
        size_t n = step < left ? step : left;
        if (n > sizeof(chunk))
            n = sizeof(chunk);
        kl_sha1_update(&c, chunk, n);
        left -= n;
        step = step * 3 + 1;
        if (step > sizeof(chunk))
            step = 1;
    }
    uint8_t d[KL_SHA1_LEN];
    char h[41];
    kl_sha1_final(&c, d);
    hex(d, h);
    assert_string_equal(h, "34aa973cd4c4daa4f61eeb2bdbad27316534016f");
}

/* Lengths around the 55/56/64-byte padding boundaries agree between one-shot and bytewise. */
static void test_padding_boundaries(void **state)
{
    (void)state;
    uint8_t data[130];
    for (size_t i = 0; i < sizeof(data); i++)
        data[i] = (uint8_t)(i * 7 + 1);
    for (size_t n = 50; n <= sizeof(data); n++) {
        uint8_t a[KL_SHA1_LEN], b[KL_SHA1_LEN];
        kl_sha1(data, n, a);
        kl_sha1_ctx c;
        kl_sha1_init(&c);
        for (size_t i = 0; i < n; i++)
            kl_sha1_update(&c, data + i, 1);
        kl_sha1_final(&c, b);
        assert_memory_equal(a, b, KL_SHA1_LEN);
    }
    /* 56 bytes needs a second padding block; known digest of 56 x 'a'. */
    char h[41];
    uint8_t d[KL_SHA1_LEN];
    memset(data, 'a', 56);
    kl_sha1(data, 56, d);
    hex(d, h);
    assert_string_equal(h, "c2db330f6083854c99d4b5bfb6e8f29f201be699");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vectors),
        cmocka_unit_test(test_million_a_incremental),
        cmocka_unit_test(test_padding_boundaries),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
