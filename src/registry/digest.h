/* Content digests of OCI images: SHA-256 (FIPS 180-4), the "sha256:<64 hex>" form the
 * Distribution API and image manifests use, and a verifier that checks a blob's size and
 * digest while it streams.
 *
 * Everything a registry names by digest is untrusted until verified here: the verifier
 * refuses a byte beyond the announced size as soon as it arrives (a registry can not make us
 * store more than the manifest promised) and, at the end, a short blob or a wrong digest,
 * naming the blob. Only sha256 is accepted (what every registry and image tool writes);
 * other algorithms are refused with ENOTSUP, not guessed at. No I/O here. */
#ifndef KL_REGISTRY_DIGEST_H
#define KL_REGISTRY_DIGEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/error.h"

#define OCI_SHA256_LEN 32
/* "sha256:" + 64 hex + NUL */
#define OCI_DIGEST_STR_LEN 72

typedef struct oci_sha256_ctx {
    uint32_t h[8];
    uint64_t total; /* bytes hashed so far */
    uint8_t block[64];
    size_t used; /* bytes in block */
} oci_sha256_ctx;

void oci_sha256_init(oci_sha256_ctx *c);
void oci_sha256_update(oci_sha256_ctx *c, const void *data, size_t n);
void oci_sha256_final(oci_sha256_ctx *c, uint8_t out[OCI_SHA256_LEN]);
/* Whether the CPU's SHA instructions are used (x86-64 with SHA-NI; chosen at start).
 * allow = false makes every hash use the portable code from then on (tests compare the
 * two); allow = true goes back to the fastest available. Not thread-safe: tests only. */
bool oci_sha256_accelerated(bool allow);

/* One-shot. */
void oci_sha256(const void *data, size_t n, uint8_t out[OCI_SHA256_LEN]);

/* "sha256:<64 lowercase hex>" -> the 32 bytes (out may be NULL: only validate). EINVAL for
 * anything malformed, ENOTSUP for a well-formed digest of another algorithm (sha512 ...). */
int oci_digest_parse(const char *s, uint8_t out[OCI_SHA256_LEN], kl_error *err);
bool oci_digest_is_valid(const char *s);
/* The 32 bytes -> "sha256:<hex>" in out. */
void oci_digest_format(const uint8_t d[OCI_SHA256_LEN], char out[OCI_DIGEST_STR_LEN]);
/* The digest of n bytes, formatted. */
void oci_digest_of(const void *data, size_t n, char out[OCI_DIGEST_STR_LEN]);

/* Checks a blob while it streams: feed every byte with oci_verifier_update, then call
 * oci_verifier_finish. `size` < 0 means the size is not known beforehand (then only the
 * digest is checked). */
typedef struct oci_verifier {
    oci_sha256_ctx ctx;
    uint8_t want[OCI_SHA256_LEN];
    char want_str[OCI_DIGEST_STR_LEN];
    int64_t want_size; /* -1: unknown */
    uint64_t got_size;
} oci_verifier;

int oci_verifier_init(oci_verifier *v, const char *digest, int64_t size, kl_error *err);
/* -1 with EIO ("blob sha256:...: more than the N bytes announced") when the data goes
 * beyond the expected size. */
int oci_verifier_update(oci_verifier *v, const void *data, size_t n, kl_error *err);
/* -1 with EIO when the blob is short or its digest differs (the message names the blob and
 * what was received). */
int oci_verifier_finish(oci_verifier *v, kl_error *err);

#endif
