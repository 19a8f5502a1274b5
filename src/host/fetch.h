/* Streaming download of http://, https:// and file:// URLs with libcurl (portable).
 *
 * The data is handed out chunk by chunk through a pull interface (host_fetch_read), which
 * matches host_read_fn, so an archive is extracted while it downloads: no temporary copy.
 * The transfer runs in the caller's thread (curl multi interface driven from the read
 * call); no thread, no pipe. file:// URLs are read directly. Only http, https and file URLs
 * are accepted, redirects only to http and https. */
#ifndef KL_HOST_FETCH_H
#define KL_HOST_FETCH_H

#include <stdint.h>
#include <sys/types.h>

#include "lib/error.h"
#include "host/storage.h"

typedef struct host_fetch host_fetch;

typedef struct host_fetch_progress {
    uint64_t bytes; /* received so far */
    uint64_t total; /* Content-Length (or file size); 0 when unknown */
    int percent;    /* 0..100, -1 when the total is unknown */
} host_fetch_progress;

/* Called when the percentage grows, or every MiB when the size is unknown, and at the end. */
typedef void (*host_fetch_progress_fn)(const host_fetch_progress *p, void *ctx);

/* Start fetching `url`. The connection is made lazily by the first read. */
host_fetch *host_fetch_open(const char *url, host_fetch_progress_fn progress, void *ctx,
                            kl_error *err);

/* Next chunk: returns its length, 0 at a successful end, -1 on error ("fetching URL: HTTP
 * 404", "... Couldn't connect to server" ...). A host_read_fn. */
ssize_t host_fetch_read(void *fetch, const void **buf, kl_error *err);

/* Progress so far. */
host_fetch_progress host_fetch_get_progress(const host_fetch *f);

void host_fetch_free(host_fetch *f);

/* Fetch `url` and extract it as an archive into parent_dirfd/name (see
 * host_archive_extract; nothing is left behind on failure). */
int host_fetch_extract(const char *url, int parent_dirfd, const char *name,
                       host_fetch_progress_fn progress, void *progress_ctx,
                       const host_extract_opts *opts, host_extract_stats *stats, kl_error *err);

static inline void host_fetch_freep(host_fetch **f)
{
    if (*f)
        host_fetch_free(*f);
}
#define _cleanup_fetch_ __attribute__((cleanup(host_fetch_freep)))

#endif
