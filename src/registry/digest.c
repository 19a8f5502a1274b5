/* SHA-256 and OCI digests (digest.h). The hash follows FIPS 180-4 section 6.2 directly:
 * 64-byte blocks, big-endian words, the 64 round constants being the first 32 bits of the
 * fractional parts of the cube roots of the first 64 primes. */
#include "registry/digest.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

static const uint32_t K[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

static inline uint32_t rotr(uint32_t x, unsigned n)
{
    return (x >> n) | (x << (32 - n));
}

static void compress_portable(uint32_t hs[8], const uint8_t *p)
{
    uint32_t w[64];
    for (int t = 0; t < 16; t++)
        w[t] = (uint32_t)p[4 * t] << 24 | (uint32_t)p[4 * t + 1] << 16 |
               (uint32_t)p[4 * t + 2] << 8 | (uint32_t)p[4 * t + 3];
    for (int t = 16; t < 64; t++) {
        uint32_t s0 = rotr(w[t - 15], 7) ^ rotr(w[t - 15], 18) ^ (w[t - 15] >> 3);
        uint32_t s1 = rotr(w[t - 2], 17) ^ rotr(w[t - 2], 19) ^ (w[t - 2] >> 10);
        w[t] = w[t - 16] + s0 + w[t - 7] + s1;
    }
    uint32_t a = hs[0], b = hs[1], cc = hs[2], d = hs[3];
    uint32_t e = hs[4], f = hs[5], g = hs[6], h = hs[7];
    for (int t = 0; t < 64; t++) {
        uint32_t S1 = rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25);
        uint32_t ch = (e & f) ^ (~e & g);
        uint32_t t1 = h + S1 + ch + K[t] + w[t];
        uint32_t S0 = rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22);
        uint32_t maj = (a & b) ^ (a & cc) ^ (b & cc);
        uint32_t t2 = S0 + maj;
        h = g;
        g = f;
        f = e;
        e = d + t1;
        d = cc;
        cc = b;
        b = a;
        a = t1 + t2;
    }
    hs[0] += a;
    hs[1] += b;
    hs[2] += cc;
    hs[3] += d;
    hs[4] += e;
    hs[5] += f;
    hs[6] += g;
    hs[7] += h;
}

static void blocks_portable(uint32_t h[8], const uint8_t *p, size_t n)
{
    for (; n; n--, p += 64)
        compress_portable(h, p);
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
/* The same rounds with the x86 SHA extensions (SHA-NI: sha256rnds2 does two rounds,
 * sha256msg1/msg2 the message schedule), about ten times faster: a pull hashes every byte
 * of every layer twice (the blob and its uncompressed stream). The state is kept as the
 * instructions want it, ABEF and CDGH; the message words are byte-swapped on load. Chosen
 * at run time (cpuid), checked against the portable code by tests/unit/test_digest.c. */
#include <cpuid.h>
#include <immintrin.h>

__attribute__((target("sha,sse4.1,ssse3"))) static void blocks_shani(uint32_t h[8],
                                                                     const uint8_t *p, size_t n)
{
    const __m128i bswap = _mm_set_epi64x(0x0c0d0e0f08090a0bULL, 0x0405060700010203ULL);
    __m128i tmp = _mm_shuffle_epi32(_mm_loadu_si128((const __m128i *)&h[0]), 0xB1); /* CDAB */
    __m128i st1 = _mm_shuffle_epi32(_mm_loadu_si128((const __m128i *)&h[4]), 0x1B); /* EFGH */
    __m128i st0 = _mm_alignr_epi8(tmp, st1, 8);                                     /* ABEF */
    st1 = _mm_blend_epi16(st1, tmp, 0xF0);                                          /* CDGH */
    for (; n; n--, p += 64) {
        __m128i abef = st0, cdgh = st1;
        __m128i m[4];
        for (int i = 0; i < 4; i++)
            m[i] = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(p + 16 * i)), bswap);
        /* 16 steps of 4 rounds; the schedule makes W16..W63 four at a time, msg1 two steps
         * ahead of the msg2 that completes the same four words */
        for (int k = 0; k < 16; k++) {
            __m128i msg = _mm_add_epi32(m[k & 3], _mm_loadu_si128((const __m128i *)&K[4 * k]));
            st1 = _mm_sha256rnds2_epu32(st1, st0, msg);
            if (k >= 3 && k <= 14) {
                __m128i t = _mm_alignr_epi8(m[k & 3], m[(k + 3) & 3], 4);
                m[(k + 1) & 3] = _mm_sha256msg2_epu32(_mm_add_epi32(m[(k + 1) & 3], t), m[k & 3]);
            }
            st0 = _mm_sha256rnds2_epu32(st0, st1, _mm_shuffle_epi32(msg, 0x0E));
            if (k >= 1 && k <= 12)
                m[(k + 3) & 3] = _mm_sha256msg1_epu32(m[(k + 3) & 3], m[k & 3]);
        }
        st0 = _mm_add_epi32(st0, abef);
        st1 = _mm_add_epi32(st1, cdgh);
    }
    tmp = _mm_shuffle_epi32(st0, 0x1B);    /* FEBA */
    st1 = _mm_shuffle_epi32(st1, 0xB1);    /* DCHG */
    st0 = _mm_blend_epi16(tmp, st1, 0xF0); /* DCBA */
    st1 = _mm_alignr_epi8(st1, tmp, 8);    /* HGFE */
    _mm_storeu_si128((__m128i *)&h[0], st0);
    _mm_storeu_si128((__m128i *)&h[4], st1);
}

static bool cpu_has_shani(void)
{
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & bit_SSSE3) || !(c & bit_SSE4_1))
        return false;
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d))
        return false;
    return (b & (1u << 29)) != 0; /* SHA */
}
#else
static bool cpu_has_shani(void)
{
    return false;
}
#define blocks_shani blocks_portable
#endif

static void (*blocks)(uint32_t h[8], const uint8_t *p, size_t n) = blocks_portable;
static bool accelerated;

/* Chosen once, before main (and so before any thread): no race on the pointer. */
__attribute__((constructor)) static void choose_blocks(void)
{
    accelerated = cpu_has_shani();
    blocks = accelerated ? blocks_shani : blocks_portable;
}

bool oci_sha256_accelerated(bool allow)
{
    blocks = allow && accelerated ? blocks_shani : blocks_portable;
    return blocks != blocks_portable;
}

void oci_sha256_init(oci_sha256_ctx *c)
{
    static const uint32_t H0[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                                   0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
    memcpy(c->h, H0, sizeof(H0));
    c->total = 0;
    c->used = 0;
}

void oci_sha256_update(oci_sha256_ctx *c, const void *data, size_t n)
{
    const uint8_t *p = data;
    c->total += n;
    if (c->used) {
        size_t take = 64 - c->used < n ? 64 - c->used : n;
        memcpy(c->block + c->used, p, take);
        c->used += take;
        p += take;
        n -= take;
        if (c->used < 64)
            return;
        blocks(c->h, c->block, 1);
        c->used = 0;
    }
    if (n >= 64) {
        blocks(c->h, p, n / 64);
        p += n / 64 * 64;
        n %= 64;
    }
    if (n) {
        memcpy(c->block, p, n);
        c->used = n;
    }
}

void oci_sha256_final(oci_sha256_ctx *c, uint8_t out[OCI_SHA256_LEN])
{
    uint64_t bits = c->total * 8;
    c->block[c->used++] = 0x80;
    if (c->used > 56) {
        memset(c->block + c->used, 0, 64 - c->used);
        blocks(c->h, c->block, 1);
        c->used = 0;
    }
    memset(c->block + c->used, 0, 56 - c->used);
    for (int i = 0; i < 8; i++)
        c->block[56 + i] = (uint8_t)(bits >> (56 - 8 * i));
    blocks(c->h, c->block, 1);
    for (int i = 0; i < 8; i++) {
        out[4 * i] = (uint8_t)(c->h[i] >> 24);
        out[4 * i + 1] = (uint8_t)(c->h[i] >> 16);
        out[4 * i + 2] = (uint8_t)(c->h[i] >> 8);
        out[4 * i + 3] = (uint8_t)c->h[i];
    }
}

void oci_sha256(const void *data, size_t n, uint8_t out[OCI_SHA256_LEN])
{
    oci_sha256_ctx c;
    oci_sha256_init(&c);
    oci_sha256_update(&c, data, n);
    oci_sha256_final(&c, out);
}

static int hexval(char ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    return -1;
}

int oci_digest_parse(const char *s, uint8_t out[OCI_SHA256_LEN], kl_error *err)
{
    if (!s)
        return kl_error_set(err, EINVAL, "missing digest");
    const char *colon = strchr(s, ':');
    if (!colon || colon == s)
        return kl_error_set(err, EINVAL, "invalid digest \"%.80s\": not ALGORITHM:HEX", s);
    /* OCI image-spec: algorithm = [a-z0-9]+ ([+._-][a-z0-9]+)*, encoded = [a-zA-Z0-9=_-]+ */
    for (const char *p = s; p < colon; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '+' || *p == '.' ||
              *p == '_' || *p == '-'))
            return kl_error_set(err, EINVAL, "invalid digest \"%.80s\": bad algorithm", s);
    if ((size_t)(colon - s) != 6 || memcmp(s, "sha256", 6) != 0) {
        if (!colon[1])
            return kl_error_set(err, EINVAL, "invalid digest \"%.80s\": no hex part", s);
        return kl_error_set(err, ENOTSUP, "unsupported digest algorithm \"%.*s\" (only sha256)",
                            (int)((colon - s) > 32 ? 32 : (colon - s)), s);
    }
    const char *hex = colon + 1;
    size_t n = strlen(hex);
    if (n != 2 * OCI_SHA256_LEN)
        return kl_error_set(err, EINVAL, "invalid digest \"%.80s\": sha256 needs 64 hex digits", s);
    for (size_t i = 0; i < OCI_SHA256_LEN; i++) {
        int hi = hexval(hex[2 * i]), lo = hexval(hex[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return kl_error_set(err, EINVAL, "invalid digest \"%.80s\": not lowercase hexadecimal",
                                s);
        if (out)
            out[i] = (uint8_t)(hi << 4 | lo);
    }
    return 0;
}

bool oci_digest_is_valid(const char *s)
{
    return oci_digest_parse(s, NULL, NULL) == 0;
}

void oci_digest_format(const uint8_t d[OCI_SHA256_LEN], char out[OCI_DIGEST_STR_LEN])
{
    static const char hex[] = "0123456789abcdef";
    memcpy(out, "sha256:", 7);
    for (int i = 0; i < OCI_SHA256_LEN; i++) {
        out[7 + 2 * i] = hex[d[i] >> 4];
        out[8 + 2 * i] = hex[d[i] & 15];
    }
    out[7 + 2 * OCI_SHA256_LEN] = '\0';
}

void oci_digest_of(const void *data, size_t n, char out[OCI_DIGEST_STR_LEN])
{
    uint8_t d[OCI_SHA256_LEN];
    oci_sha256(data, n, d);
    oci_digest_format(d, out);
}

int oci_verifier_init(oci_verifier *v, const char *digest, int64_t size, kl_error *err)
{
    memset(v, 0, sizeof(*v));
    if (oci_digest_parse(digest, v->want, err) < 0)
        return -1;
    oci_digest_format(v->want, v->want_str);
    v->want_size = size < 0 ? -1 : size;
    oci_sha256_init(&v->ctx);
    return 0;
}

int oci_verifier_update(oci_verifier *v, const void *data, size_t n, kl_error *err)
{
    if (v->want_size >= 0 && (uint64_t)v->want_size - v->got_size < n)
        return kl_error_set(err, EIO, "blob %s: more than the %" PRId64 " bytes announced",
                            v->want_str, v->want_size);
    oci_sha256_update(&v->ctx, data, n);
    v->got_size += n;
    return 0;
}

int oci_verifier_finish(oci_verifier *v, kl_error *err)
{
    if (v->want_size >= 0 && v->got_size != (uint64_t)v->want_size)
        return kl_error_set(err, EIO, "blob %s: received %" PRIu64 " bytes, expected %" PRId64,
                            v->want_str, v->got_size, v->want_size);
    uint8_t got[OCI_SHA256_LEN];
    oci_sha256_final(&v->ctx, got);
    if (memcmp(got, v->want, OCI_SHA256_LEN) != 0) {
        char s[OCI_DIGEST_STR_LEN];
        oci_digest_format(got, s);
        return kl_error_set(err, EIO, "blob %s: digest mismatch (received content has %s)",
                            v->want_str, s);
    }
    return 0;
}
