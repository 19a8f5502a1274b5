/* dlopen shim for libcurl (see curlshim.h). */
#include "lib/curlshim.h"
#include "lib/dl.h"

#include <errno.h>

static curlshim shim;

static const kl_dl_sym syms[] = {
    {"curl_global_init", (void **)&shim.global_init},
    {"curl_easy_init", (void **)&shim.easy_init},
    {"curl_easy_cleanup", (void **)&shim.easy_cleanup},
    {"curl_easy_reset", (void **)&shim.easy_reset},
    {"curl_easy_setopt", (void **)&shim.easy_setopt},
    {"curl_easy_perform", (void **)&shim.easy_perform},
    {"curl_easy_getinfo", (void **)&shim.easy_getinfo},
    {"curl_easy_recv", (void **)&shim.easy_recv},
    {"curl_easy_send", (void **)&shim.easy_send},
    {"curl_easy_pause", (void **)&shim.easy_pause},
    {"curl_easy_strerror", (void **)&shim.easy_strerror},
    {"curl_slist_append", (void **)&shim.slist_append},
    {"curl_slist_free_all", (void **)&shim.slist_free_all},
    {"curl_free", (void **)&shim.free},
    {"curl_multi_init", (void **)&shim.multi_init},
    {"curl_multi_add_handle", (void **)&shim.multi_add_handle},
    {"curl_multi_remove_handle", (void **)&shim.multi_remove_handle},
    {"curl_multi_perform", (void **)&shim.multi_perform},
    {"curl_multi_info_read", (void **)&shim.multi_info_read},
    {"curl_multi_poll", (void **)&shim.multi_poll},
    {"curl_multi_cleanup", (void **)&shim.multi_cleanup},
    {"curl_multi_strerror", (void **)&shim.multi_strerror},
    {"curl_url", (void **)&shim.url},
    {"curl_url_set", (void **)&shim.url_set},
    {"curl_url_get", (void **)&shim.url_get},
    {"curl_url_cleanup", (void **)&shim.url_cleanup},
};

static int init(kl_error *err)
{
    if (shim.global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        return kl_error_set(err, EIO, "could not initialise libcurl");
    return 0;
}

static kl_dl_lib lib = KL_DL_LIB("libcurl.so.4", "libcurl4", syms, init);

const curlshim *curlshim_get(const char *why, kl_error *err)
{
    return kl_dl_load(&lib, why, err) < 0 ? NULL : &shim;
}
