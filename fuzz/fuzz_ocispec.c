/* libFuzzer target: kleene-runtime's config.json parser (oci_config_parse), and the process and
 * resources parsers of exec --process and update --resources, over the same bytes. A parse
 * either fails with an error set, or gives a config whose invariants hold. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ociruntime/ocispec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    oci_config c;
    kl_error err = KL_ERROR_INIT;
    if (oci_config_parse((const char *)data, size, &c, &err) == 0) {
        if (!c.oci_version || !c.root_path)
            abort();
        if (c.has_process && (!c.process.args || !c.process.args[0] || c.process.cwd[0] != '/'))
            abort();
        for (size_t i = 0; i < c.n_mounts; i++)
            if (c.mounts[i].destination[0] != '/')
                abort();
        char *root = oci_config_root(&c, "/bundle", &err);
        if (root && c.root_path[0] != '/' && strncmp(root, "/bundle/", 8) != 0)
            abort();
        free(root);
        oci_config_free(&c);
    } else if (err.code == 0) {
        abort();
    }
    oci_process p;
    kl_error e2 = KL_ERROR_INIT;
    if (oci_process_parse((const char *)data, size, &p, &e2) == 0)
        oci_process_free(&p);
    else if (e2.code == 0)
        abort();
    oci_resources r;
    kl_error e3 = KL_ERROR_INIT;
    if (oci_resources_parse((const char *)data, size, &r, &e3) == 0)
        oci_resources_free(&r);
    else if (e3.code == 0)
        abort();
    return 0;
}
