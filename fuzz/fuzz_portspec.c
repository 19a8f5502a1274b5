/* libFuzzer target for published port specifications: the input is split at the first
 * newline into host_port and container_port; any input gives a clean result or a clean
 * error, and a result is a consistent range. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "engine/portspec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    if (!s)
        return 0;
    memcpy(s, data, size);
    s[size] = '\0';
    char *nl = strchr(s, '\n');
    const char *ctr = "80";
    if (nl) {
        *nl = '\0';
        ctr = nl + 1;
    }
    portspec p;
    kl_error err = KL_ERROR_INIT;
    if (portspec_parse(s, ctr, &p, &err) == 0) {
        if (p.host_first > p.host_last || p.ctr_first > p.ctr_last)
            abort();
        if (p.ctr_is_star && p.ctr_last - p.ctr_first != p.host_last - p.host_first)
            abort();
        char f[16];
        portspec_format_container(&p, f);
    } else if (err.code == 0 || !err.msg[0]) {
        abort();
    }
    free(s);
    return 0;
}
