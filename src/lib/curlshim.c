/* dlopen shim for libcurl (see curlshim.h). */
#include "lib/curlshim.h"

#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>

static curlshim shim;
static bool loaded;
static pthread_mutex_t load_lock = PTHREAD_MUTEX_INITIALIZER;

/* Casting the void * from dlsym to a function pointer is what POSIX prescribes. */
#define RESOLVE(field, name)                                                                       \
    do {                                                                                           \
        void *sym = dlsym(h, name);                                                                \
        if (!sym)                                                                                  \
            return fail(h, why, err);                                                              \
        *(void **)&shim.field = sym;                                                               \
    } while (0)

static int fail(void *h, const char *why, kl_error *err)
{
    const char *msg = dlerror();
    kl_error_set(err, ENOPKG, "%s (libcurl4): %s", why, msg ? msg : "unknown error");
    if (h)
        dlclose(h);
    return -1;
}

static int load(const char *why, kl_error *err)
{
    void *h = dlopen("libcurl.so.4", RTLD_NOW | RTLD_LOCAL);
    if (!h)
        return fail(NULL, why, err);
    RESOLVE(global_init, "curl_global_init");
    RESOLVE(easy_init, "curl_easy_init");
    RESOLVE(easy_cleanup, "curl_easy_cleanup");
    RESOLVE(easy_reset, "curl_easy_reset");
    RESOLVE(easy_setopt, "curl_easy_setopt");
    RESOLVE(easy_perform, "curl_easy_perform");
    RESOLVE(easy_getinfo, "curl_easy_getinfo");
    RESOLVE(easy_recv, "curl_easy_recv");
    RESOLVE(easy_send, "curl_easy_send");
    RESOLVE(easy_pause, "curl_easy_pause");
    RESOLVE(easy_strerror, "curl_easy_strerror");
    RESOLVE(slist_append, "curl_slist_append");
    RESOLVE(slist_free_all, "curl_slist_free_all");
    RESOLVE(free, "curl_free");
    RESOLVE(multi_init, "curl_multi_init");
    RESOLVE(multi_add_handle, "curl_multi_add_handle");
    RESOLVE(multi_remove_handle, "curl_multi_remove_handle");
    RESOLVE(multi_perform, "curl_multi_perform");
    RESOLVE(multi_info_read, "curl_multi_info_read");
    RESOLVE(multi_poll, "curl_multi_poll");
    RESOLVE(multi_cleanup, "curl_multi_cleanup");
    RESOLVE(multi_strerror, "curl_multi_strerror");
    RESOLVE(url, "curl_url");
    RESOLVE(url_set, "curl_url_set");
    RESOLVE(url_get, "curl_url_get");
    RESOLVE(url_cleanup, "curl_url_cleanup");
    if (shim.global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        return kl_error_set(err, EIO, "could not initialise libcurl"); /* stays loaded */
    loaded = true;
    return 0;
}

const curlshim *curlshim_get(const char *why, kl_error *err)
{
    pthread_mutex_lock(&load_lock);
    int r = loaded ? 0 : load(why, err);
    pthread_mutex_unlock(&load_lock);
    return r < 0 ? NULL : &shim;
}
