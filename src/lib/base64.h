/* Base64 (RFC 4648 §4, standard alphabet, with padding).
 * Used for the WebSocket key/accept headers. The decoder is strict: it accepts only the
 * canonical encoding (no whitespace, no missing or misplaced padding, zero pad bits), so that
 * one value has exactly one accepted spelling. */
#ifndef KL_BASE64_H
#define KL_BASE64_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "lib/error.h"

/* Length of the encoding of n bytes, without the terminating NUL. */
static inline size_t kl_base64_encoded_len(size_t n)
{
    return (n + 2) / 3 * 4;
}

/* Largest number of bytes that an encoding of inlen characters can decode to. */
static inline size_t kl_base64_decoded_max(size_t inlen)
{
    return inlen / 4 * 3;
}

/* Encode n bytes into out, which must hold kl_base64_encoded_len(n) + 1 bytes (NUL-terminated).
 * Returns the encoded length. */
size_t kl_base64_encode(const void *data, size_t n, char *out);

/* Same, into a new NUL-terminated string (aborts on OOM). */
char *kl_base64_encode_alloc(const void *data, size_t n);

/* Decode inlen characters into out (capacity outcap). Returns the decoded length, or -1 with
 * err (EINVAL) on bad input or when out is too small (ENOBUFS). */
ssize_t kl_base64_decode(const char *in, size_t inlen, uint8_t *out, size_t outcap, kl_error *err);

#endif
