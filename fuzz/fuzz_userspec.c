/* libFuzzer target: userspec_resolve_text over arbitrary spec, passwd and group texts.
 * Input layout: spec \0 passwd \0 group (missing parts = NULL files). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "host/linux/userspec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *buf = malloc(size + 1);
    memcpy(buf, data, size);
    buf[size] = '\0';
    const char *parts[3] = {buf, NULL, NULL};
    char *p = buf, *end = buf + size;
    for (int i = 1; i < 3; i++) {
        char *z = memchr(p, '\0', (size_t)(end - p));
        if (!z || z == end)
            break;
        p = z + 1;
        parts[i] = p;
    }
    userspec_result u;
    kl_error err = KL_ERROR_INIT;
    if (userspec_resolve_text(parts[0], parts[1], parts[2], &u, &err) == 0) {
        if (u.n_groups > USERSPEC_MAX_GROUPS || u.uid == 4294967295U)
            abort();
    } else if (err.code == 0) {
        abort();
    }
    free(buf);
    return 0;
}
