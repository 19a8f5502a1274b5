/* libFuzzer target for image configs (src/registry/imageconfig.c): any input parses
 * cleanly or fails with a message, and what parses holds only valid diff_ids. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "registry/digest.h"
#include "registry/imageconfig.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    oci_imgconfig c;
    kl_error err = KL_ERROR_INIT;
    if (oci_imgconfig_parse((const char *)data, size, &c, &err) == 0) {
        if (!c.diff_ids || c.diff_ids[c.n_diff_ids])
            abort();
        for (size_t i = 0; i < c.n_diff_ids; i++)
            if (!oci_digest_is_valid(c.diff_ids[i]))
                abort();
        for (char **e = c.env; e && *e; e++)
            if (!strchr(*e, '='))
                abort();
        oci_imgconfig_clear(&c);
    } else if (err.code == 0 || !err.msg[0]) {
        abort();
    }
    return 0;
}
