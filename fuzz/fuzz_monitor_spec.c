/* libFuzzer target: monitor_spec_decode over arbitrary records. A decoded spec re-encodes to
 * the very same bytes (the format has one encoding per spec); a refused one says why. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "host/linux/monitor_spec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* a copy of exactly size bytes, so that ASan sees any read past the record */
    unsigned char *buf = malloc(size ? size : 1);
    memcpy(buf, data, size);
    monitor_spec_decoded d;
    kl_error err = KL_ERROR_INIT;
    if (monitor_spec_decode(buf, size, &d, &err) == 0) {
        kl_buf again = KL_BUF_INIT;
        monitor_spec_encode(&d.spec, d.filter, d.filter_len, &again);
        if (again.len != size || memcmp(again.data, buf, size) != 0)
            abort();
        kl_buf_free(&again);
        monitor_spec_free(&d);
    } else if (err.code == 0) {
        abort();
    }
    free(buf);
    return 0;
}
