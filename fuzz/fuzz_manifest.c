/* libFuzzer target for manifests and indexes (src/registry/manifest.c): any body, with any
 * of the Content-Types a registry may send, parses cleanly or fails with a message; an
 * index always answers a platform selection cleanly. The first byte picks the
 * Content-Type. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "registry/digest.h"
#include "registry/manifest.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *types[] = {NULL, "application/json", OCI_MT_OCI_INDEX, OCI_MT_OCI_MANIFEST,
                                  OCI_MT_DOCKER_MANIFEST "; charset=utf-8"};
    if (size < 1)
        return 0;
    const char *ct = types[data[0] % (sizeof(types) / sizeof(types[0]))];
    oci_manifest m;
    kl_error err = KL_ERROR_INIT;
    if (oci_manifest_parse((const char *)data + 1, size - 1, ct, &m, &err) == 0) {
        if (m.kind == OCI_MANIFEST_IMAGE) {
            if (!oci_digest_is_valid(m.config.digest) || m.n_layers > OCI_MANIFEST_MAX_LAYERS)
                abort();
            for (size_t i = 0; i < m.n_layers; i++)
                if (!oci_digest_is_valid(m.layers[i].digest) || m.layers[i].size < 0)
                    abort();
        } else if (m.kind == OCI_MANIFEST_INDEX) {
            oci_platform p;
            oci_platform_host(&p);
            kl_error e2 = KL_ERROR_INIT;
            int i = oci_index_select(&m, &p, &e2);
            if ((i < 0 && e2.code == 0) || i >= (int)m.n_manifests)
                abort();
            oci_platform_clear(&p);
        } else {
            abort();
        }
        oci_manifest_clear(&m);
    } else if (err.code == 0 || !err.msg[0]) {
        abort();
    }
    return 0;
}
