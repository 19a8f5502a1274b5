/* libFuzzer target for Docker-style image references (src/registry/reference.c): any input
 * gives a clean result or a clean error, and what parses formats to a reference that parses
 * back to the same parts. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "registry/reference.h"

static bool same(const char *a, const char *b)
{
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    if (!s)
        return 0;
    memcpy(s, data, size);
    s[size] = '\0';
    oci_ref r;
    kl_error err = KL_ERROR_INIT;
    if (oci_ref_parse(s, &r, &err) == 0) {
        char *full = oci_ref_format(&r);
        char *fam = oci_ref_familiar(&r);
        oci_ref r2, r3;
        if (oci_ref_parse(full, &r2, &err) != 0 || !same(r.domain, r2.domain) ||
            !same(r.path, r2.path) || !same(r.tag, r2.tag) || !same(r.digest, r2.digest))
            abort();
        if (oci_ref_parse(fam, &r3, &err) != 0 || !same(r.domain, r3.domain) ||
            !same(r.path, r3.path) || !same(r.tag, r3.tag) || !same(r.digest, r3.digest))
            abort();
        (void)oci_ref_api_host(&r);
        (void)oci_ref_manifest_ref(&r);
        (void)oci_ref_domain_is_loopback(r.domain);
        oci_ref_clear(&r3);
        oci_ref_clear(&r2);
        oci_ref_clear(&r);
        free(fam);
        free(full);
    } else if (err.code == 0 || !err.msg[0]) {
        abort();
    }
    (void)oci_ref_domain_is_loopback(s);
    free(s);
    return 0;
}
