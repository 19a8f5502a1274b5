/* Detach keys (detachkeys.h). */
#include "lib/detachkeys.h"

#include <errno.h>
#include <string.h>

static int key_byte(const char *key, size_t len, unsigned char *out)
{
    if (len == 1) {
        *out = (unsigned char)key[0];
        return 0;
    }
    if (len != 6 || strncmp(key, "ctrl-", 5) != 0)
        return -1;
    char c = key[5];
    if (c >= 'A' && c <= 'Z')
        c = (char)(c - 'A' + 'a');
    if (c >= 'a' && c <= 'z')
        *out = (unsigned char)(c - 'a' + 1);
    else if (c == '@')
        *out = 0;
    else if (c >= '[' && c <= '_') /* [ \ ] ^ _ */
        *out = (unsigned char)(c - '[' + 27);
    else
        return -1;
    return 0;
}

int kl_detach_keys_parse(kl_detach_keys *k, const char *spec, kl_error *err)
{
    memset(k, 0, sizeof(*k));
    const char *s = spec && *spec ? spec : KL_DETACH_KEYS_DEFAULT;
    for (const char *p = s;;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        if (len == 0)
            return kl_error_set(err, EINVAL, "invalid detach keys (%s): an empty key", s);
        if (k->n == KL_DETACH_KEYS_MAX)
            return kl_error_set(err, EINVAL, "invalid detach keys (%s): more than %d keys", s,
                                KL_DETACH_KEYS_MAX);
        if (key_byte(p, len, &k->seq[k->n]) < 0)
            return kl_error_set(err, EINVAL,
                                "invalid detach keys (%s): unknown key '%.*s' (a character, or "
                                "ctrl- and one of a-z @ [ \\ ] ^ _)",
                                s, (int)(len > 32 ? 32 : len), p);
        k->n++;
        if (!comma)
            return 0;
        p = comma + 1;
    }
}

bool kl_detach_keys_scan(kl_detach_keys *k, const unsigned char *in, size_t len, unsigned char *out,
                         size_t *out_len)
{
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char b = in[i];
        if (k->n == 0) {
            out[o++] = b;
            continue;
        }
        while (k->matched > 0 && k->seq[k->matched] != b) {
            /* not the sequence after all: the oldest held byte passes, and what is held
             * after it may still begin the sequence (held bytes are seq[0..matched)) */
            out[o++] = k->seq[0];
            size_t m = k->matched - 1;
            while (m > 0 && memcmp(k->seq, k->seq + k->matched - m, m) != 0) {
                out[o++] = k->seq[k->matched - m];
                m--;
            }
            k->matched = m;
        }
        if (k->seq[k->matched] == b) {
            if (++k->matched == k->n) {
                k->matched = 0;
                *out_len = o;
                return true;
            }
        } else {
            out[o++] = b;
        }
    }
    *out_len = o;
    return false;
}
