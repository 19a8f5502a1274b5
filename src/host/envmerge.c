/* host_env_merge (host/runtime.h): portable, shared by both host layers. */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "host/runtime.h"
#include "lib/xalloc.h"

char **host_env_merge(char *const *base, char *const *over)
{
    char **out = xcalloc(1, sizeof(char *));
    for (int pass = 0; pass < 2; pass++) {
        for (char *const *e = pass ? over : base; e && *e; e++) {
            const char *eq = strchr(*e, '=');
            if (!eq || eq == *e)
                continue;
            size_t klen = (size_t)(eq - *e) + 1;
            bool replaced = false;
            for (char **o = out; *o; o++) {
                if (strncmp(*o, *e, klen) == 0) {
                    free(*o);
                    *o = xstrdup(*e);
                    replaced = true;
                    break;
                }
            }
            if (!replaced)
                strv_push(&out, *e);
        }
    }
    return out;
}
