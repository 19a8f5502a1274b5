/* Pulling an image from a registry (OCI Distribution Spec / Docker Registry HTTP API v2),
 * in the helper kleene-fetch: kleened never parses what a registry sends.
 *
 * host_pull resolves the reference to one image manifest (through an index, for the
 * platform asked for), fetches the config and every layer, each verified against its digest
 * and size while it streams (the first byte beyond the size announced stops the download),
 * and extracts the layers as overlay layers (whiteouts converted, host_extract_opts
 * .oci_layer). The uncompressed stream of each layer is hashed on the way and must match
 * the config's rootfs.diff_ids (a layer's identity in kleened's store). Layers the caller
 * says it has (host_pull_opts.have_*) are not downloaded. The result is the new directory
 * parent/name:
 *   layers/0 ... layers/N-1   the layers downloaded, bottom first
 *   blobs/<hex>              the bytes of the manifest, the config and each layer blob
 *                            downloaded, as the registry sent them (verified): what a
 *                            push or a save needs to reproduce its digests
 *   image.json               what kleened needs to make the image (below)
 * written to a staging directory renamed into place at the end: a failed or interrupted
 * pull leaves nothing (a killed helper leaves a .staging-* directory, which the storage's
 * start-up clean-up removes).
 *
 * image.json: {"reference": "docker.io/library/busybox:latest", "repository":
 *   "docker.io/library/busybox", "tag": "latest" | null, "manifest_digest": "sha256:…",
 *   "config_digest": "sha256:…", "index_digest": "sha256:…" (when the reference named an
 *   index), "manifest_media_type", "config_media_type", "platform": "linux/amd64", "cmd": [..] |
 * null, "entrypoint": [..] | null, "env": [..], "user": "", "working_dir": "", "exposed_ports":
 * [..], "labels": {..}, "layers": [{"digest", "diff_id", "size", "media_type", "present"}]}
 *
 * Transport: HTTPS with the system CAs (and ca_file); plain HTTP only when the registry is
 * marked insecure or is a loopback one (localhost, 127.0.0.0/8, [::1]), as Docker does;
 * then HTTPS is still tried first, and used without verifying the certificate when that is
 * what fails (Docker's rule for insecure registries). Authentication: anonymous, then whatever the
 * registry's 401 challenge asks for: a Bearer token from its token server (with Basic credentials
 * when given), or Basic. */
#ifndef KL_HOST_LINUX_PULL_H
#define KL_HOST_LINUX_PULL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/error.h"

typedef enum host_pull_event_kind {
    HOST_PULL_RESOLVED = 1,  /* text: the manifest digest; n_layers known */
    HOST_PULL_LAYER,         /* progress of layer `index`: bytes of total */
    HOST_PULL_LAYER_DONE,    /* layer `index` verified and extracted */
    HOST_PULL_LAYER_PRESENT, /* layer `index` is the caller's: not downloaded (before any
                              * download starts; layer_total: its size) */
} host_pull_event_kind;

typedef struct host_pull_event {
    host_pull_event_kind kind;
    unsigned index, n_layers;
    uint64_t bytes, total;             /* LAYER: of all the layers downloaded */
    uint64_t layer_bytes, layer_total; /* LAYER: of layer `index` */
    const char *text; /* RESOLVED: the manifest digest; LAYER, LAYER_DONE: the layer's */
} host_pull_event;

typedef struct host_pull_opts {
    const char *reference;
    const char *platform;    /* "os/arch[/variant]"; NULL: the host's */
    bool insecure;           /* plain HTTP allowed for this registry */
    const char *ca_file;     /* NULL: the system CAs */
    const char *client_cert; /* TLS client certificate and key (PEM), or NULL */
    const char *client_key;
    const char *username; /* NULL: anonymous (unless the registry asks) */
    const char *password;
    /* Blobs the caller has (kleened's store). A layer blob have_blobs[i] is known to
     * decompress to have_diff_ids[i]: such a layer is not downloaded (its entry in
     * image.json says "present": true and layers/i does not exist). have_diff_ids[i] NULL:
     * another blob (manifest, config): not written to blobs/ again. */
    const char *const *have_blobs;
    const char *const *have_diff_ids;
    size_t n_have;
    /* The registry answered plain HTTP before: ask it so straight away, without a version
     * check (only where plain HTTP is allowed; falls back to the usual way). image.json's
     * "plain_http" says what was used. */
    bool plain_http_hint;
    void (*progress)(const host_pull_event *ev, void *ctx); /* may be NULL */
    void *ctx;
} host_pull_opts;

/* Pull into parent_dirfd/name (must not exist). Errors: EINVAL (bad reference or a
 * malformed manifest/config), ENOENT (unknown repository, tag or digest; no image for the
 * platform), EACCES (authentication refused), ENOTSUP (a kind of image we do not pull),
 * EIO (a blob that does not match its digest or size: the message names it; a transfer
 * error), ECONNREFUSED/ETIMEDOUT (the registry is unreachable). */
int host_pull(const host_pull_opts *o, int parent_dirfd, const char *name, kl_error *err);

/* Check credentials against a registry (kleene-fetch --login, for `klee login`):
 * o->reference is the registry's domain ("127.0.0.1:5000", "docker.io"); the version check
 * (GET /v2/) is answered as a pull would (Basic, or a Bearer token without a repository
 * scope, got with the credentials), then asked again with them: 200 is a success. A registry
 * that asks for no authentication is a success too (the credentials are not checked: a
 * notice says so). Errors: EINVAL (not a registry, no username), EACCES (refused: the message
 * names the registry and the user), and the transport errors of a pull. Only reference,
 * insecure, ca_file, username and password of `o` are used. */
int host_registry_login(const host_pull_opts *o, kl_error *err);

#endif
