/* Pushing an image to a registry (OCI Distribution Spec / Docker Registry HTTP API v2), in
 * the helper kleene-fetch (`--push`): kleened never speaks to a registry itself.
 *
 * The image is given as its manifest's digest; the manifest, config and layer blobs are read
 * from kleened's blob directory (blobs/sha256/<hex>, host/storage.h), each verified against
 * its digest while it is sent (a blob that changed on disk fails the push). For each blob,
 * layers first, then the config: HEAD (the registry has it: skipped), else a cross-repository
 * mount when the source repository is on the same registry (`mount_from`), else a POST for an
 * upload session and one monolithic PUT with the digest (or PATCH chunks and a closing PUT,
 * `chunk_size`). Then the manifest PUT by tag (or by
 * digest for a digest reference); the registry's Docker-Content-Digest must be the manifest's.
 * Transport and authentication as a pull's (host/linux/pull.h): HTTPS, plain HTTP only for
 * loopback or insecure registries; anonymous, Bearer (scope pull,push, plus pull on the mount
 * source) or Basic. */
#ifndef KL_HOST_LINUX_PUSH_H
#define KL_HOST_LINUX_PUSH_H

#include <stdbool.h>
#include <stdint.h>

#include "lib/error.h"

typedef enum host_push_event_kind {
    HOST_PUSH_BLOB = 1, /* blob `index` of n (layers, then the config): text = how
                         * ("exists", "mounted", "uploaded") */
    HOST_PUSH_BYTES,    /* upload progress of blob `index`: bytes of total */
    HOST_PUSH_MANIFEST, /* text = the manifest digest */
} host_push_event_kind;

typedef struct host_push_event {
    host_push_event_kind kind;
    unsigned index, n;
    uint64_t bytes, total;
    const char *digest;
    const char *text;
} host_push_event;

typedef struct host_push_opts {
    const char *reference;  /* where to: "127.0.0.1:5000/team/app:v1" */
    const char *manifest;   /* "sha256:…": the image's manifest blob */
    const char *index;      /* "sha256:…" or NULL: an index blob listing the manifest, put
                             * under the tag (the manifest then by its digest) */
    const char *mount_from; /* a repository ("127.0.0.1:5000/team/a") the blobs came
                             * from, or NULL: mounted from it when on the same registry */
    int blobs_fd;           /* the blobs/sha256 directory */
    bool insecure;
    const char *ca_file;
    const char *client_cert; /* TLS client certificate and key (PEM), or NULL */
    const char *client_key;
    const char *username;
    const char *password;
    uint64_t chunk_size; /* > 0: blobs go up in PATCH requests of at most this many bytes
                          * (Content-Range), then a PUT without a body; 0: one PUT */
    void (*progress)(const host_push_event *ev, void *ctx);
    void *ctx;
} host_push_opts;

/* Errors: EINVAL (bad reference or manifest), ENOENT (a blob kleened does not have),
 * EACCES (authentication refused), EIO (the registry refused or a blob changed on disk:
 * the message says which), ECONNREFUSED (unreachable). */
int host_push(const host_push_opts *o, kl_error *err);

#endif
