/* Growable byte buffer, always NUL-terminated for convenience. */
#ifndef KL_BUF_H
#define KL_BUF_H

#include <stddef.h>

typedef struct kl_buf {
    char *data;
    size_t len;
    size_t cap;
} kl_buf;

#define KL_BUF_INIT                                                                                \
    {                                                                                              \
        NULL, 0, 0                                                                                 \
    }

void kl_buf_reserve(kl_buf *b, size_t extra);
void kl_buf_append(kl_buf *b, const void *data, size_t n);
void kl_buf_puts(kl_buf *b, const char *s);
void kl_buf_printf(kl_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Drop the first n bytes. */
void kl_buf_consume(kl_buf *b, size_t n);
void kl_buf_reset(kl_buf *b);
void kl_buf_free(kl_buf *b);
/* Hand the data to the caller (NUL-terminated, never NULL); the buffer is emptied. */
char *kl_buf_steal(kl_buf *b);

static inline void kl_buf_freep(kl_buf *b)
{
    kl_buf_free(b);
}
#define _cleanup_buf_ __attribute__((cleanup(kl_buf_freep)))

#endif
