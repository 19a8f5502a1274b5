/* libFuzzer target: FreeBSD's host_jailparams_parse (src/host/freebsd/fbjailparam.c) over
 * newline-separated parameters: an accepted list is kept whole and in order. */
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
        size_t n = 0;
        for (; params && params[n]; n++)
            if (!jp.params[n] || strcmp(jp.params[n], params[n]) != 0)
                abort(); /* a parameter lost or changed */
        if (jp.params[n])
            abort();
        host_container_spec spec = {0};
        host_jailparams_apply(&jp, &spec);
        host_jailparams_free(&jp);
    } else if (err.code == 0 || jp.params || jp.hostname || jp.jail_user || jp.exec_stop) {
        abort();
    }
    strv_free(params);
    free(buf);
    return 0;
}
