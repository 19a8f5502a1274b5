/* libFuzzer target for digests and the streaming verifier (src/registry/digest.c): digest
 * strings parse cleanly or fail with a message and format back to themselves; a blob fed in
 * arbitrary pieces verifies against its own digest and size, and never against a size one
 * byte off. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "registry/digest.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    if (!s)
        return 0;
    memcpy(s, data, size);
    s[size] = '\0';
    kl_error err = KL_ERROR_INIT;
    uint8_t d[OCI_SHA256_LEN];
    if (oci_digest_parse(s, d, &err) == 0) {
        char back[OCI_DIGEST_STR_LEN];
        oci_digest_format(d, back);
        if (strcmp(back, s) != 0)
            abort();
    } else if (err.code == 0 || !err.msg[0]) {
        abort();
    }
    free(s);

    char want[OCI_DIGEST_STR_LEN];
    oci_digest_of(data, size, want);
    oci_verifier v;
    if (oci_verifier_init(&v, want, (int64_t)size, &err) < 0)
        abort();
    size_t off = 0, step = size ? (data[0] % 17) + 1 : 1;
    while (off < size) {
        size_t n = step < size - off ? step : size - off;
        if (oci_verifier_update(&v, data + off, n, &err) < 0)
            abort();
        off += n;
        step = step * 3 % 61 + 1;
    }
    if (oci_verifier_finish(&v, &err) < 0)
        abort();
    /* announced one byte more: short */
    oci_verifier_init(&v, want, (int64_t)size + 1, &err);
    oci_verifier_update(&v, data, size, &err);
    if (oci_verifier_finish(&v, &err) == 0)
        abort();
    return 0;
}
