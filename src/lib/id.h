/* Object ids (API.md §4.1) and the process's one source of randomness.
 * An id is 12 lowercase hex characters; a generated id is never all decimal digits
 * (the original's jail(8) would take such an id for a jail number). */
#ifndef KL_ID_H
#define KL_ID_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define KL_ID_LEN 12

/* Fill buf with n bytes from getrandom(). Aborts if the kernel cannot give randomness
 * (getrandom exists since Linux 3.17; failure is a broken invariant, not an error path). */
void kl_random_bytes(void *buf, size_t n);

/* A uniformly random integer in [0, bound) (bound > 0), without modulo bias. */
uint32_t kl_random_uniform(uint32_t bound);

/* A new random id: 12 lowercase hex characters and a NUL. */
void kl_id_new(char out[KL_ID_LEN + 1]);

/* True if s is exactly 12 characters of [0-9a-f]. An all-digit string is accepted: it is
 * a well-formed id, we only never generate one. */
bool kl_id_is_valid(const char *s);

#endif
