/* libcurl, loaded on first use with dlopen("libcurl.so.4").
 *
 * klee talks to a local kleened over a UNIX socket with its own small HTTP client (http.c);
 * only TCP and TLS targets need libcurl, and loading it with its ~30 dependent libraries
 * costs milliseconds at every start. The curl headers still give the types and constants;
 * the functions http.c uses are resolved here. */
#ifndef KLEE_CURLSHIM_H
#define KLEE_CURLSHIM_H

#include "lib/error.h"

#include <curl/curl.h>

typedef struct curlshim {
    CURLcode (*global_init)(long flags);
    CURL *(*easy_init)(void);
    void (*easy_cleanup)(CURL *curl);
    void (*easy_reset)(CURL *curl);
    CURLcode (*easy_setopt)(CURL *curl, CURLoption option, ...);
    CURLcode (*easy_perform)(CURL *curl);
    CURLcode (*easy_getinfo)(CURL *curl, CURLINFO info, ...);
    CURLcode (*easy_recv)(CURL *curl, void *buffer, size_t buflen, size_t *n);
    CURLcode (*easy_send)(CURL *curl, const void *buffer, size_t buflen, size_t *n);
    const char *(*easy_strerror)(CURLcode code);
    struct curl_slist *(*slist_append)(struct curl_slist *list, const char *s);
    void (*slist_free_all)(struct curl_slist *list);
} curlshim;

/* Load libcurl and run curl_global_init once. Returns the function table, or NULL with
 * ENOPKG "TCP and TLS hosts need libcurl (libcurl4): <dlerror>" (or EIO when
 * curl_global_init fails). */
const curlshim *curlshim_get(kl_error *err);

#endif
