/* Loading image archives (`docker save` format, old and new, and OCI image layouts, as
 * written by docker save, podman save and skopeo copy docker-archive:/oci-archive:), in the
 * helper kleene-fetch: kleened never parses an archive.
 *
 * host_load reads the archive once, as a stream (a pipe is fine): every regular entry is
 * written to a spool file while its sha256 is computed, and kept under its digest; symlinks
 * and hard links between entries (the old docker format links repeated layers) are followed
 * inside the archive only. Refused with a clear error, leaving nothing: an entry with an
 * absolute path or a `..` component, a symlink with an absolute target or one that leads
 * out of the archive, device nodes and other odd entries, a blob under blobs/sha256/ whose
 * content is not its name, a config or layer whose size is not its descriptor's, a layer
 * whose uncompressed stream is not the config's diff_id. Then, for each image of the archive
 * (manifest.json entries, or index.json entries for the platform), the layers are extracted
 * (host_extract_opts.oci_layer) into the same layout as a pull (host/linux/pull.h), one
 * directory per image:
 *   NAME/0/, NAME/1/, ...    in the order of the archive's manifest
 *     layers/i               the layers extracted, bottom first (none when "present")
 *     blobs/<hex>            the manifest, the config and the layer blobs, verified; each
 *                            blob in the directory of the first image that needs it
 *     image.json             as a pull's, with "names" (the archive's RepoTags or
 *                            reference annotations) and "reference"/"repository"/"tag"
 *                            from the first name ("" when none)
 * An archive in the docker format has no manifest: a registry-style OCI image manifest is
 * made for it (config and layer blobs as the archive has them), so that save and push
 * reproduce its digests. Layers the caller has (have_*) are neither extracted nor kept: a
 * blob it has with the config's diff_id; a diff_id it has under another blob is not extracted,
 * its blob is only decompressed and hashed, and kept. */
#ifndef KL_HOST_LINUX_IMGARCHIVE_H
#define KL_HOST_LINUX_IMGARCHIVE_H

#include <stddef.h>
#include <stdint.h>

#include "lib/error.h"

typedef struct host_load_opts {
    int in_fd;                     /* the archive (tar, possibly compressed) */
    const char *platform;          /* for OCI indexes; NULL: the host's */
    const char *const *have_blobs; /* as host_pull_opts */
    const char *const *have_diff_ids;
    size_t n_have;
    /* bytes of the archive read so far (every MiB and at the end), and log lines */
    void (*progress)(uint64_t bytes, void *ctx);
    void *ctx;
} host_load_opts;

/* Errors: EINVAL (not an image archive, a malformed manifest or config), EPERM (a hostile
 * entry), EIO (a digest, size or diff_id mismatch: the message names the blob), ENOTSUP
 * (an image kind we do not load), ENOENT (the archive names a file it does not hold). */
int host_load(const host_load_opts *o, int parent_dirfd, const char *name, kl_error *err);

#endif
