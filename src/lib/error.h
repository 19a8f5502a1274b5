/* The one error type of Kleene (STYLE.md "Errors").
 *
 * A function that can fail takes `kl_error *err` as its last argument, returns a negative
 * int (or NULL) on failure and fills `err`; on success it leaves `err` untouched.
 * Errors get context on the way up with kl_error_prefix() and are turned into an HTTP
 * status or a message only at the edge (api/, cli/). Nothing here prints. */
#ifndef KL_ERROR_H
#define KL_ERROR_H

#include <stdbool.h>

#define KL_ERROR_MSG_MAX 1024

typedef struct kl_error {
    int code; /* errno-like: ENOENT, EINVAL, EEXIST, EBUSY, EIO ... 0 = no error */
    char msg[KL_ERROR_MSG_MAX];
} kl_error;

#define KL_ERROR_INIT                                                                              \
    {                                                                                              \
        0,                                                                                         \
        {                                                                                          \
            0                                                                                      \
        }                                                                                          \
    }

/* Fill `err` (may be NULL) and return -1, so callers can `return kl_error_set(...)`. */
int kl_error_set(kl_error *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Like kl_error_set, appending ": strerror(errno_value)". */
int kl_error_errno(kl_error *err, int errno_value, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Prepend context: "starting container ab12: " + old message. Returns -1. */
int kl_error_prefix(kl_error *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static inline bool kl_error_is_set(const kl_error *err)
{
    return err && err->code != 0;
}

static inline void kl_error_clear(kl_error *err)
{
    if (err) {
        err->code = 0;
        err->msg[0] = '\0';
    }
}

#endif
