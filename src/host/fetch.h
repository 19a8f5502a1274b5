/* Streaming download of http://, https:// and file:// URLs with libcurl (portable), and the
 * out-of-process fetch + extraction that kleened uses.
 *
 * The data is handed out chunk by chunk through a pull interface (host_fetch_read), which
 * matches host_read_fn, so an archive is extracted while it downloads: no temporary copy.
 * The transfer runs in the caller's thread (curl multi interface driven from the read
 * call); no thread, no pipe. file:// URLs are read directly. Only http, https and file URLs
 * are accepted, redirects only to http and https.
 *
 * kleened itself never calls host_fetch_open or host_archive_extract: parsing what comes
 * from the network (HTTP, TLS, gzip, xz, tar ...) is left to a short-lived helper program,
 * kleene-fetch, through host_fetch_extract_child. A crash in libcurl or libarchive then ends
 * that child, not the daemon, and the daemon never maps those libraries and the ~40 they
 * pull in (idle RSS). The in-process functions stay for the helper and the tests. */
#ifndef KL_HOST_FETCH_H
#define KL_HOST_FETCH_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "lib/error.h"
#include "host/storage.h"

typedef struct host_fetch host_fetch;

typedef struct host_fetch_progress {
    uint64_t bytes; /* received so far */
    uint64_t total; /* Content-Length (or file size); 0 when unknown */
    int percent;    /* 0..100, -1 when the total is unknown */
    bool done;      /* the last report: everything was received */
} host_fetch_progress;

/* Called when the percentage grows, or every MiB when the size is unknown, and at the end
 * (with done set). */
typedef void (*host_fetch_progress_fn)(const host_fetch_progress *p, void *ctx);

/* Start fetching `url`. The connection is made lazily by the first read. */
host_fetch *host_fetch_open(const char *url, host_fetch_progress_fn progress, void *ctx,
                            kl_error *err);

/* What a registry client needs beyond a plain download (host/linux/pull.c). */
typedef struct host_fetch_request {
    const char *const *headers; /* extra request headers "Name: value", NULL-terminated; an
                                 * Authorization header follows redirects to the same host
                                 * only (libcurl's rule): a blob store elsewhere never sees it */
    bool keep_http_errors;      /* an HTTP error status is not a read error: the body is read
                                 * like any other and host_fetch_status tells */
    const char *ca_file;        /* CA bundle trusted besides the system's (libcurl's CA
                                 * path), or NULL */
    bool tls_no_verify;         /* HTTPS without checking the server's certificate (an
                                 * insecure registry's, as Docker does) */
    const char *client_cert;    /* PEM client certificate and key for TLS, or NULL */
    const char *client_key;
} host_fetch_request;

/* host_fetch_open for http(s) and file URLs with a request (may be NULL). */
host_fetch *host_fetch_open_req(const char *url, const host_fetch_request *rq,
                                host_fetch_progress_fn progress, void *ctx, kl_error *err);

/* The HTTP status of the final response (after redirects), once the first read returned;
 * 0 for file:// URLs and before. */
long host_fetch_status(const host_fetch *f);

/* The value of the final response's header `name` (case-insensitive; the first one if
 * repeated), trimmed, xmalloc'ed; NULL if absent. */
char *host_fetch_header(const host_fetch *f, const char *name);

/* Next chunk: returns its length, 0 at a successful end, -1 on error ("fetching URL: HTTP
 * 404", "... Couldn't connect to server" ...; EKEYREJECTED when the server's TLS certificate
 * did not verify). A host_read_fn. */
ssize_t host_fetch_read(void *fetch, const void **buf, kl_error *err);

/* Progress so far. */
host_fetch_progress host_fetch_get_progress(const host_fetch *f);

void host_fetch_free(host_fetch *f);

/* Fetch `url` and extract it as an archive into parent_dirfd/name (see
 * host_archive_extract; nothing is left behind on failure). */
int host_fetch_extract(const char *url, int parent_dirfd, const char *name,
                       host_fetch_progress_fn progress, void *progress_ctx,
                       const host_extract_opts *opts, host_extract_stats *stats, kl_error *err);

/* ---- base images fetched by the host's own tools ---------------------------------------- */

typedef void (*host_say_fn)(const char *msg, void *ctx);

/* Image creation by `fetch` (url) and `fetch-auto` (url NULL) done the host's own way, into
 * the new layer <id> under the storage root `root`, not sealed (host_layer_seal). FreeBSD:
 * the original's steps (FREEBSD-HOST.md §5.1, §5.2): fetch(1) of the archive into a file of
 * its own, `zfs create` of the layer's dataset, `tar -x` into it, the file removed; fetch-auto
 * takes this host's release's base.txz (`uname -rms`) and sets *version (e.g.
 * "14.1-RELEASE-p7", for the autotag FreeBSD-<version>). Progress messages go to `say`.
 * Returns 1 when done, 0 when this host has no such way (Linux: the engine fetches with
 * kleene-fetch or debootstrap; nothing was done), -1 on error (nothing left behind). */
int host_layer_fetch_base(const char *root, const char *id, const char *url, char **version,
                          host_say_fn say, void *ctx, kl_error *err);

/* ---- out of process ------------------------------------------------------------------ */

/* What host_fetch_extract_child reports, and when it asks whether to go on. All callbacks
 * run in the caller's thread. */
/* A pull's progress on one layer (kleene-fetch --pull): layer `index` of `n`, its blob
 * `digest`, bytes received of its size; `done` once it is verified and extracted. */
typedef struct host_fetch_layer {
    unsigned index, n;
    char digest[72]; /* "sha256:<64 hex>" */
    uint64_t bytes, total;
    bool done;
    bool present; /* the store had it: not downloaded (sent before any download) */
} host_fetch_layer;

typedef struct host_fetch_child_opts {
    host_fetch_progress_fn fetch_progress;     /* may be NULL */
    host_extract_progress_fn extract_progress; /* may be NULL; every `every` entries, at end */
    unsigned every;
    void *ctx;                       /* for the three callbacks */
    bool (*is_cancelled)(void *ctx); /* asked at every message and ~20 times a second */
    /* the helper's log lines (also logged by kleened); may be NULL */
    void (*log_line)(int level, const char *text, void *ctx);
    /* a pull's progress per layer (beside fetch_progress's sum); may be NULL */
    void (*layer_progress)(const host_fetch_layer *l, void *ctx);
} host_fetch_child_opts;

/* Which part of the work a failure belongs to. */
typedef enum host_fetch_stage {
    HOST_FETCH_STAGE_NONE = 0,
    HOST_FETCH_STAGE_FETCH,   /* the URL: invalid, unreachable, HTTP error, read error */
    HOST_FETCH_STAGE_EXTRACT, /* the archive: corrupt, hostile, or writing it failed */
    HOST_FETCH_STAGE_HELPER,  /* the helper: not found, crashed, killed, broke the protocol */
} host_fetch_stage;

/* host_fetch_extract in the helper program kleene-fetch (found with host_helper_path),
 * relaying its progress to the callbacks. The same result as host_fetch_extract: on
 * success parent_dirfd/name is the extracted tree; on failure, cancellation (ECANCELED),
 * or when the child dies, the child is killed and reaped and nothing is left behind (no
 * `name`, no staging directory). *stage (may be NULL) says where a failure happened.
 * `stats` (may be NULL) receives the totals on success. */
int host_fetch_extract_child(const char *url, int parent_dirfd, const char *name,
                             const host_fetch_child_opts *opts, host_extract_stats *stats,
                             host_fetch_stage *stage, kl_error *err);

/* A registry pull in the helper (kleene-fetch --pull, host/linux/pull.h): parent_dirfd/name
 * becomes layers/0..N-1 and image.json, verified. The progress of each layer's download
 * comes as fetch_progress, log lines as logs; the rest as host_fetch_extract_child. */
typedef struct host_pull_child_opts {
    const char *platform; /* "os/arch[/variant]" or NULL: the host's */
    bool insecure;        /* plain HTTP allowed; HTTPS without verification when that fails */
    const char *const *ca_files; /* the registry's CA files (trusted besides the system's):
                                  * NULL-terminated, or NULL */
    const char *client_cert;     /* the registry's client certificate and key (PEM), or NULL */
    const char *client_key;
    const char *username; /* NULL: anonymous; given to the helper in its environment */
    const char *password;
    /* The blobs kleened has: layer blob have_blobs[i] decompresses to have_diff_ids[i]
     * (the helper does not download it: image.json says "present"); a NULL diff_id: another
     * blob (manifest, config), not written again. */
    const char *const *have_blobs;
    const char *const *have_diff_ids;
    size_t n_have;
    bool plain_http_hint; /* the registry answered plain HTTP before (host/linux/pull.h) */
    /* host_load_child: the archive the helper reads as its stdin (kleene-fetch --load) */
    bool load;
    int load_fd;
    /* host_extract_fd_child: a plain archive extraction (as host_fetch_extract_child) of
     * what the helper reads on its stdin (load_fd) */
    bool extract_stdin;
    /* host_push_child: the manifest to push and the repository to mount blobs from */
    const char *push_manifest;
    const char *push_mount_from;
    const char *push_index;   /* an index listing push_manifest, put under the tag; or NULL */
    uint64_t push_chunk_size; /* 0: one PUT per blob (host/linux/push.h chunk_size) */
    /* host_login_child */
    bool login;
} host_pull_child_opts;

int host_pull_child(const char *reference, int parent_dirfd, const char *name,
                    const host_pull_child_opts *pull, const host_fetch_child_opts *opts,
                    kl_error *err);

/* Load an image archive (docker save format or OCI image layout, host/linux/imgarchive.h)
 * read from in_fd by the helper (kleene-fetch --load): parent_dirfd/name becomes one
 * directory per image (0/, 1/ ...: layers/, blobs/, image.json, as a pull's). Only
 * pull->platform and pull->have_* are used (pull may be NULL). The bytes read come as
 * fetch_progress (total unknown); the rest as host_pull_child. */
int host_load_child(int in_fd, int parent_dirfd, const char *name, const host_pull_child_opts *pull,
                    const host_fetch_child_opts *opts, kl_error *err);

/* host_fetch_extract_child for an archive read from in_fd (a pipe, written by another thread
 * while this runs, or a file) by the helper (kleene-fetch --stdin): streamed, never stored
 * whole. The same result, leftovers rule and errors. */
int host_extract_fd_child(int in_fd, int parent_dirfd, const char *name,
                          const host_fetch_child_opts *opts, host_extract_stats *stats,
                          host_fetch_stage *stage, kl_error *err);

/* Push an image to a registry in the helper (kleene-fetch --push, host/linux/push.h):
 * blobs_dirfd is the blobs/sha256 directory, pull->push_manifest the image's manifest digest,
 * pull->push_mount_from (may be NULL) the repository its blobs came from; insecure,
 * username, password as for a pull. Upload progress comes as fetch_progress. */
int host_push_child(const char *reference, int blobs_dirfd, const host_pull_child_opts *pull,
                    const host_fetch_child_opts *opts, kl_error *err);

/* Check credentials against the registry `server` ("host[:port]", "docker.io") in the helper
 * (kleene-fetch --login, host/linux/pull.h host_registry_login): pull->username/password
 * (required), insecure and ca_file as for a pull. `scratch_dirfd` is a directory the helper
 * gets as its fd 3 (nothing is written there). 0 when the registry took them (or asks for
 * none); EACCES when it refused them. */
int host_login_child(const char *server, int scratch_dirfd, const host_pull_child_opts *pull,
                     const host_fetch_child_opts *opts, kl_error *err);

static inline void host_fetch_freep(host_fetch **f)
{
    if (*f)
        host_fetch_free(*f);
}
#define _cleanup_fetch_ __attribute__((cleanup(host_fetch_freep)))

#endif
