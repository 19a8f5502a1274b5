/* Base64 encode/strict decode (RFC 4648 §4). No allocation except _alloc. */
#include "lib/base64.h"

#include <errno.h>

#include "lib/xalloc.h"

static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

size_t kl_base64_encode(const void *data, size_t n, char *out)
{
    const uint8_t *p = data;
    char *o = out;
    for (; n >= 3; p += 3, n -= 3) {
        *o++ = alphabet[p[0] >> 2];
        *o++ = alphabet[(p[0] & 0x03) << 4 | p[1] >> 4];
        *o++ = alphabet[(p[1] & 0x0f) << 2 | p[2] >> 6];
        *o++ = alphabet[p[2] & 0x3f];
    }
    if (n == 1) {
        *o++ = alphabet[p[0] >> 2];
        *o++ = alphabet[(p[0] & 0x03) << 4];
        *o++ = '=';
        *o++ = '=';
    } else if (n == 2) {
        *o++ = alphabet[p[0] >> 2];
        *o++ = alphabet[(p[0] & 0x03) << 4 | p[1] >> 4];
        *o++ = alphabet[(p[1] & 0x0f) << 2];
        *o++ = '=';
    }
    *o = '\0';
    return (size_t)(o - out);
}

char *kl_base64_encode_alloc(const void *data, size_t n)
{
    char *out = xmalloc(kl_base64_encoded_len(n) + 1);
    kl_base64_encode(data, n, out);
    return out;
}

/* Value of a base64 character, or -1. */
static int b64_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

ssize_t kl_base64_decode(const char *in, size_t inlen, uint8_t *out, size_t outcap, kl_error *err)
{
    if (inlen % 4 != 0)
        return kl_error_set(err, EINVAL, "invalid base64: length %zu is not a multiple of 4",
                            inlen);
    size_t o = 0;
    for (size_t i = 0; i < inlen; i += 4) {
        bool last = i + 4 == inlen;
        int v[4];
        int pad = 0;
        for (int j = 0; j < 4; j++) {
            unsigned char c = (unsigned char)in[i + j];
            if (c == '=' && last && j >= 2) {
                /* '=' only in the last two places of the last quantum, and only trailing. */
                pad++;
                v[j] = 0;
                continue;
            }
            v[j] = pad ? -1 : b64_value(c);
            if (v[j] < 0)
                return kl_error_set(err, EINVAL, "invalid base64 at offset %zu", i + (size_t)j);
        }
        size_t nbytes = 3 - (size_t)pad;
        if (o + nbytes > outcap)
            return kl_error_set(err, ENOBUFS, "base64: output buffer too small");
        uint32_t q =
            (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 | (uint32_t)v[2] << 6 | (uint32_t)v[3];
        /* Canonical form: the bits below the last encoded byte must be zero. */
        if ((pad == 1 && (q & 0xff)) || (pad == 2 && (q & 0xffff)))
            return kl_error_set(err, EINVAL, "invalid base64: non-zero padding bits");
        out[o++] = (uint8_t)(q >> 16);
        if (nbytes > 1)
            out[o++] = (uint8_t)(q >> 8);
        if (nbytes > 2)
            out[o++] = (uint8_t)q;
    }
    return (ssize_t)o;
}
