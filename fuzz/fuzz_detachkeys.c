/* libFuzzer target for the detach keys (src/lib/detachkeys.c).
 *
 * Input: a key spec up to the first newline, then bytes typed, fed in uneven chunks. Checks:
 * what passes, followed by the bytes still held, is exactly what was typed (up to the end of
 * the sequence, without the sequence, when it detaches); held bytes are a prefix of the
 * sequence; nothing is written past the output's documented capacity. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/detachkeys.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *nl = memchr(data, '\n', size);
    if (!nl)
        return 0;
    size_t slen = (size_t)(nl - data);
    char *spec = malloc(slen + 1);
    memcpy(spec, data, slen);
    spec[slen] = '\0';
    kl_detach_keys k;
    kl_error err = KL_ERROR_INIT;
    int r = kl_detach_keys_parse(&k, spec, &err);
    free(spec);
    if (r < 0)
        return 0;
    if (k.n == 0 || k.n > KL_DETACH_KEYS_MAX)
        abort();
    const uint8_t *in = nl + 1;
    size_t n = size - slen - 1;
    uint8_t *passed = malloc(n + KL_DETACH_KEYS_MAX + 1);
    size_t np = 0, off = 0;
    unsigned step = (unsigned)n;
    bool detached = false;
    while (off < n && !detached) {
        step = step * 1103515245u + 12345u;
        size_t len = 1 + (step >> 16) % 7;
        if (len > n - off)
            len = n - off;
        uint8_t *out = malloc(len + KL_DETACH_KEYS_MAX);
        size_t ol = 0;
        detached = kl_detach_keys_scan(&k, in + off, len, out, &ol);
        if (ol > len + KL_DETACH_KEYS_MAX)
            abort();
        memcpy(passed + np, out, ol);
        np += ol;
        free(out);
        if (detached) {
            /* find where the sequence ended: passed + seq must be a prefix of the input */
            if (np + k.n > n || memcmp(passed, in, np) != 0 || memcmp(in + np, k.seq, k.n) != 0)
                abort();
        } else {
            off += len;
            if (k.matched >= k.n || np + k.matched != off || memcmp(passed, in, np) != 0 ||
                memcmp(in + np, k.seq, k.matched) != 0)
                abort();
        }
    }
    free(passed);
    return 0;
}
