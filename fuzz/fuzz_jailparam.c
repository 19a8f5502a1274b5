/* libFuzzer target: host_jailparams_parse over newline-separated parameters, and
 * host_env_merge over the same lines. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "host/runtime.h"
#include "lib/xalloc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *buf = xstrndup((const char *)data, size);
    char **params = NULL;
    for (char *save = NULL, *t = strtok_r(buf, "\n", &save); t; t = strtok_r(NULL, "\n", &save))
        strv_push(&params, t);
    host_jailparams jp;
    kl_error err = KL_ERROR_INIT;
    if (host_jailparams_parse(params, &jp, &err) == 0) {
        host_container_spec spec = {0};
        host_jailparams_apply(&jp, &spec);
        host_jailparams_free(&jp);
    } else if (err.code == 0 || jp.hostname || jp.jail_user) {
        abort();
    }
    char **m = host_env_merge(params, params);
    strv_free(m);
    strv_free(params);
    free(buf);
    return 0;
}
