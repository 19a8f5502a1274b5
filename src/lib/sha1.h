/* SHA-1 (FIPS 180-4), only for the WebSocket handshake (Sec-WebSocket-Accept, RFC 6455).
 * SHA-1 is broken for collision resistance: never use it for anything that must be secure. */
#ifndef KL_SHA1_H
#define KL_SHA1_H

#include <stddef.h>
#include <stdint.h>

#define KL_SHA1_LEN 20

typedef struct kl_sha1_ctx {
    uint32_t h[5];
    uint64_t total; /* bytes hashed so far */
    uint8_t block[64];
    size_t used; /* bytes in block */
} kl_sha1_ctx;

void kl_sha1_init(kl_sha1_ctx *c);
void kl_sha1_update(kl_sha1_ctx *c, const void *data, size_t n);
void kl_sha1_final(kl_sha1_ctx *c, uint8_t out[KL_SHA1_LEN]);

/* One-shot digest of n bytes. */
void kl_sha1(const void *data, size_t n, uint8_t out[KL_SHA1_LEN]);

#endif
