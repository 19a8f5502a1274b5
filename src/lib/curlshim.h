/* libcurl, loaded on first use with dlopen("libcurl.so.4").
 *
 * klee talks to a local kleened over a UNIX socket with its own small HTTP client
 * (cli/http.c), and only the image fetch helper kleene-fetch (not kleened) needs libcurl,
 * for http(s) URLs (host/fetch.c). Linking it would load its ~30 dependent libraries
 * (libcrypto, libssl, krb5, ldap, ...) at every start: milliseconds for klee and for
 * kleene-fetch with a file:// URL. The curl headers still give the types and constants; the
 * functions used are resolved here. Loading is thread-safe; once loaded the table never changes. */
#ifndef KL_CURLSHIM_H
#define KL_CURLSHIM_H

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
    CURLcode (*easy_pause)(CURL *curl, int bitmask);
    const char *(*easy_strerror)(CURLcode code);
    struct curl_slist *(*slist_append)(struct curl_slist *list, const char *s);
    void (*slist_free_all)(struct curl_slist *list);
    void (*free)(void *p);
    CURLM *(*multi_init)(void);
    CURLMcode (*multi_add_handle)(CURLM *multi, CURL *curl);
    CURLMcode (*multi_remove_handle)(CURLM *multi, CURL *curl);
    CURLMcode (*multi_perform)(CURLM *multi, int *running);
    CURLMsg *(*multi_info_read)(CURLM *multi, int *left);
    CURLMcode (*multi_poll)(CURLM *multi, struct curl_waitfd extra_fds[], unsigned int n,
                            int timeout_ms, int *numfds);
    CURLMcode (*multi_cleanup)(CURLM *multi);
    const char *(*multi_strerror)(CURLMcode code);
    CURLU *(*url)(void);
    CURLUcode (*url_set)(CURLU *u, CURLUPart what, const char *part, unsigned int flags);
    CURLUcode (*url_get)(const CURLU *u, CURLUPart what, char **part, unsigned int flags);
    void (*url_cleanup)(CURLU *u);
} curlshim;

/* Load libcurl and run curl_global_init once. Returns the function table, or NULL with
 * ENOPKG "<why> (libcurl4): <dlerror>" (why e.g. "TCP and TLS hosts need libcurl"), or EIO
 * when curl_global_init fails. A failed load is retried on the next call. */
const curlshim *curlshim_get(const char *why, kl_error *err);

#endif
