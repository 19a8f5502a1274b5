/* Detach keys: the key sequence that, typed into an attached terminal, detaches the client
 * and leaves the process running (Docker's `detachKeys`, `--detach-keys`; default ctrl-p
 * ctrl-q). Pure functions, no I/O.
 *
 * A sequence is written as comma-separated keys, each either one character (its byte) or
 * `ctrl-X` with X one of a-z (case-insensitive), @, [, \, ], ^, _ (the control byte: ctrl-a
 * is 1, ctrl-@ is 0, ctrl-[ 27 ... ctrl-_ 31). */
#ifndef KL_LIB_DETACHKEYS_H
#define KL_LIB_DETACHKEYS_H

#include <stdbool.h>
#include <stddef.h>

#include "lib/error.h"

#define KL_DETACH_KEYS_MAX 16
#define KL_DETACH_KEYS_DEFAULT "ctrl-p,ctrl-q"

typedef struct kl_detach_keys {
    unsigned char seq[KL_DETACH_KEYS_MAX];
    size_t n;       /* 0: no sequence (nothing ever detaches) */
    size_t matched; /* how many bytes of seq the input has ended with (held back) */
} kl_detach_keys;

/* Parse `spec` (NULL or "": the default). EINVAL "invalid detach keys (<spec>): <why>" for an
 * unknown key, an empty key, or more than KL_DETACH_KEYS_MAX keys. */
int kl_detach_keys_parse(kl_detach_keys *k, const char *spec, kl_error *err);

/* Scan input on its way to the process: what may pass goes to out (capacity: len +
 * KL_DETACH_KEYS_MAX, for bytes held back by an earlier call that turned out not to be the
 * sequence), *out_len set. Bytes that could begin the sequence are held until the next
 * call tells. Returns true when the sequence is complete: the client detaches, and the
 * sequence (and what followed it in `in`) is not passed on. */
bool kl_detach_keys_scan(kl_detach_keys *k, const unsigned char *in, size_t len, unsigned char *out,
                         size_t *out_len);

#endif
