/* libFuzzer target for signal names (lib/signame.h): any text gives a signal of the host or
 * -1, and the name of what it gives parses back to the same signal. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/signame.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    if (!s)
        return 0;
    memcpy(s, data, size);
    s[size] = '\0';
    int sig = kl_signal_parse(s);
    if (sig != -1) {
        char buf[KL_SIGNAME_MAX];
        const char *n = kl_signal_name(sig, buf);
        if (!kl_signal_is_valid(sig) || !n || kl_signal_parse(n) != sig)
            abort();
    }
    free(s);
    return 0;
}
