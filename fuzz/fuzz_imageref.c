/* libFuzzer target for the image reference parser: any input must give a clean result or
 * a clean error, and what parses must format and re-parse to the same thing. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "engine/imageref.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    if (!s)
        return 0;
    memcpy(s, data, size);
    s[size] = '\0';
    imageref r;
    kl_error err = KL_ERROR_INIT;
    if (imageref_parse(s, &r, &err) == 0) {
        char *f = imageref_format(&r);
        imageref r2;
        if (imageref_parse(f, &r2, &err) != 0 || strcmp(r.name, r2.name) || strcmp(r.tag, r2.tag) ||
            (!r.snapshot) != (!r2.snapshot) || (r.snapshot && strcmp(r.snapshot, r2.snapshot)) ||
            (!r.digest) != (!r2.digest) || (r.digest && strcmp(r.digest, r2.digest)))
            abort();
        /* a stored name is what the parser gives */
        if (!imageref_repository_is_valid(r.name) && !imageref_is_id_prefix(r.name))
            abort();
        imageref_candidate c = {"0123456789ab", r.name, r.tag, r.digest, NULL};
        if (imageref_resolve(&r, &c, 1, &err) != 0)
            abort();
        imageref_clear(&r2);
        imageref_clear(&r);
        free(f);
    } else if (err.code == 0 || !err.msg[0]) {
        abort();
    }
    char *n = NULL, *t = NULL;
    if (imageref_parse_nametag(s, &n, &t, &err) == 0) {
        free(n);
        free(t);
    }
    free(s);
    return 0;
}
