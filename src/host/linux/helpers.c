/* Finding helper programs (helpers.h). The directories of steps 3 and 4 are fixed when
 * kleened is built (KL_LIBEXEC_DIR, KL_HELPER_BUILD_DIR and KL_BUILD_ROOT from meson).
 * Nothing is cached: a helper installed or rebuilt while kleened runs is found on the next
 * call. */
#include "host/helpers.h"
#include "host/host.h"
#include "host/runtime.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/buf.h"
#include "lib/cleanup.h"
#include "lib/xalloc.h"

#ifndef KL_LIBEXEC_DIR
#error "KL_LIBEXEC_DIR must be defined by the build"
#endif
#ifndef KL_HELPER_BUILD_DIR
#error "KL_HELPER_BUILD_DIR must be defined by the build"
#endif
#ifndef KL_BUILD_ROOT
#error "KL_BUILD_ROOT must be defined by the build"
#endif

static bool is_executable(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode) && access(path, X_OK) == 0;
}

char *host_helper_path(const char *name, kl_error *err)
{
    if (!name || !*name || strchr(name, '/') || !strcmp(name, ".") || !strcmp(name, "..")) {
        kl_error_set(err, EINVAL, "invalid helper program name '%s'", name ? name : "");
        return NULL;
    }
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    if (n > 0) {
        exe[n] = '\0';
        char *slash = strrchr(exe, '/');
        if (slash)
            *slash = '\0';
    } else {
        exe[0] = '\0';
    }
    const char *env = getenv("KLEENE_LIBEXEC_DIR");
    size_t broot = strlen(KL_BUILD_ROOT);
    bool in_build = !strncmp(exe, KL_BUILD_ROOT, broot) && exe[broot] == '/';
    const char *dirs[] = {env && *env ? env : NULL, exe[0] ? exe : NULL,
                          in_build ? KL_HELPER_BUILD_DIR : KL_LIBEXEC_DIR,
                          in_build ? KL_LIBEXEC_DIR : KL_HELPER_BUILD_DIR};
    _cleanup_buf_ kl_buf tried = KL_BUF_INIT;
    for (size_t i = 0; i < KL_ARRAY_SIZE(dirs); i++) {
        if (!dirs[i])
            continue;
        char *path = xasprintf("%s/%s", dirs[i], name);
        if (is_executable(path))
            return path;
        free(path);
        kl_buf_printf(&tried, "%s%s", tried.len ? ", " : "", dirs[i]);
    }
    kl_error_set(err, ENOENT, "helper program %s not found (looked in %s)", name,
                 tried.len ? tried.data : "nowhere");
    return NULL;
}

int host_layer_setup(const host_layer_config *cfg, kl_error *err)
{
    (void)cfg;
    return 0; /* the Linux layer needs no set-up */
}

bool host_runtime_wires_endpoints(void)
{
    return false; /* the engine plugs a network namespace (networks_container_plug) */
}

int host_container_update(const char *id, char *const *jail_params, kl_error *err)
{
    (void)id, (void)jail_params, (void)err;
    return 0; /* no live parameters: the stored ones apply at the next start */
}

int host_orphan_containers(char ***ids, kl_error *err)
{
    (void)err;
    *ids = xcalloc(1, sizeof(char *)); /* a container's processes end with its monitor */
    return 0;
}
