/* libFuzzer target: the spec record of kleene-jailmon (src/host/freebsd/jailmon_spec.c), the
 * JSON kleened sends to the monitor it spawned. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "host/freebsd/jailmon.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    jailmon_spec s;
    kl_error err = KL_ERROR_INIT;
    if (jailmon_spec_parse((const char *)data, size, &s, &err) == 0) {
        if (!s.jail.cid || !s.run_dir || s.run_dir[0] != '/' || !s.jail.cmd)
            abort();
        for (size_t i = 0; i < s.jail.n_endpoints; i++)
            if (!s.jail.endpoints[i].ifname)
                abort();
        for (size_t i = 0; i < s.jail.n_mounts; i++)
            if (!s.jail.mounts[i].source || !s.jail.mounts[i].destination)
                abort();
        jailmon_spec_clear(&s);
    } else if (err.code == 0) {
        abort();
    }
    return 0;
}
