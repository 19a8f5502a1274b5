/* Random ids and bytes from getrandom(2). Never reads /dev/urandom (no fd, works in a chroot). */
#include "lib/id.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

void kl_random_bytes(void *buf, size_t n)
{
    uint8_t *p = buf;
    while (n > 0) {
        ssize_t r = getrandom(p, n, 0);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            fprintf(stderr, "kleene: getrandom: %s\n", strerror(errno));
            abort();
        }
        p += r;
        n -= (size_t)r;
    }
}

uint32_t kl_random_uniform(uint32_t bound)
{
    /* Reject the top partial range of 2^32 so every value is equally likely. */
    uint32_t limit = UINT32_MAX - UINT32_MAX % bound;
    uint32_t x;
    do
        kl_random_bytes(&x, sizeof(x));
    while (x >= limit);
    return x % bound;
}

static bool all_digits(const char *s)
{
    for (; *s; s++)
        if (*s < '0' || *s > '9')
            return false;
    return true;
}

void kl_id_new(char out[KL_ID_LEN + 1])
{
    static const char hex[] = "0123456789abcdef";
    do {
        uint8_t r[KL_ID_LEN / 2];
        kl_random_bytes(r, sizeof(r));
        for (size_t i = 0; i < sizeof(r); i++) {
            out[2 * i] = hex[r[i] >> 4];
            out[2 * i + 1] = hex[r[i] & 0x0f];
        }
        out[KL_ID_LEN] = '\0';
    } while (all_digits(out));
}

bool kl_id_is_valid(const char *s)
{
    if (!s)
        return false;
    size_t i = 0;
    for (; s[i]; i++) {
        if (i >= KL_ID_LEN)
            return false;
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    }
    return i == KL_ID_LEN;
}
