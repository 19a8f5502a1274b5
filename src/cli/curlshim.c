/* dlopen shim for libcurl (see curlshim.h). */
#include "cli/curlshim.h"

#include <dlfcn.h>
#include <errno.h>
#include <stdbool.h>

static curlshim shim;
static bool loaded;

/* Casting the void * from dlsym to a function pointer is what POSIX prescribes. */
#define RESOLVE(field, name)                                                                       \
    do {                                                                                           \
        void *sym = dlsym(h, name);                                                                \
        if (!sym)                                                                                  \
            return fail(h, err);                                                                   \
        *(void **)&shim.field = sym;                                                               \
    } while (0)

static const curlshim *fail(void *h, kl_error *err)
{
    const char *why = dlerror();
    kl_error_set(err, ENOPKG, "TCP and TLS hosts need libcurl (libcurl4): %s",
                 why ? why : "unknown error");
    if (h)
        dlclose(h);
    return NULL;
}

const curlshim *curlshim_get(kl_error *err)
{
    if (loaded)
        return &shim;
    void *h = dlopen("libcurl.so.4", RTLD_NOW | RTLD_LOCAL);
    if (!h)
        return fail(NULL, err);
    RESOLVE(global_init, "curl_global_init");
    RESOLVE(easy_init, "curl_easy_init");
    RESOLVE(easy_cleanup, "curl_easy_cleanup");
    RESOLVE(easy_reset, "curl_easy_reset");
    RESOLVE(easy_setopt, "curl_easy_setopt");
    RESOLVE(easy_perform, "curl_easy_perform");
    RESOLVE(easy_getinfo, "curl_easy_getinfo");
    RESOLVE(easy_recv, "curl_easy_recv");
    RESOLVE(easy_send, "curl_easy_send");
    RESOLVE(easy_strerror, "curl_easy_strerror");
    RESOLVE(slist_append, "curl_slist_append");
    RESOLVE(slist_free_all, "curl_slist_free_all");
    if (shim.global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        kl_error_set(err, EIO, "could not initialise libcurl");
        return NULL; /* the library stays loaded; nothing else uses it */
    }
    loaded = true;
    return &shim;
}
