/* libFuzzer target for registry authentication (src/registry/auth.c): challenge headers
 * and token answers parse cleanly or fail with a message; an accepted Bearer challenge has
 * an http(s) realm, and nothing accepted can break out of an HTTP header line. The first
 * byte says which parser gets the rest. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "registry/auth.h"

static void no_ctl(const char *s)
{
    for (; s && *s; s++)
        if (*s == '\r' || *s == '\n')
            abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    char *s = malloc(size);
    if (!s)
        return 0;
    memcpy(s, data + 1, size - 1);
    s[size - 1] = '\0';
    kl_error err = KL_ERROR_INIT;
    if (data[0] & 1) {
        oci_auth_challenge c;
        if (oci_auth_challenge_parse(s, &c, &err) == 0) {
            if (c.scheme == OCI_AUTH_BEARER) {
                if (!c.realm || (strncmp(c.realm, "http://", 7) && strncmp(c.realm, "https://", 8)))
                    abort();
                char *u = oci_auth_token_url(&c, NULL);
                no_ctl(u);
                for (const char *q = u; *q; q++)
                    if ((unsigned char)*q <= ' ')
                        abort();
                free(u);
            }
            oci_auth_challenge_clear(&c);
        } else if (err.code == 0 || !err.msg[0]) {
            abort();
        }
    } else {
        char *t = oci_auth_token_parse((const char *)data + 1, size - 1, &err);
        if (t) {
            for (const char *q = t; *q; q++)
                if (*q <= ' ' || *q > '~')
                    abort();
            free(t);
        } else if (err.code == 0 || !err.msg[0]) {
            abort();
        }
    }
    free(s);
    return 0;
}
