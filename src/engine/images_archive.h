/* Image archives: load (`docker save` format and OCI image layouts, as docker, podman and
 * skopeo write them) and save (the same formats), for /images/load, /images/save and the
 * Docker API's /images/load and /images/get. docs/image-store.md, docs/api.md.
 *
 * The archive a load reads is parsed and extracted by the helper kleene-fetch
 * (host/linux/imgarchive.h), never by kleened; what it leaves is recorded like a pull. */
#ifndef KL_ENGINE_IMAGES_ARCHIVE_H
#define KL_ENGINE_IMAGES_ARCHIVE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#include "engine/engine.h"
#include "engine/images.h"
#include "lib/error.h"

typedef struct images_load_opts {
    int fd;                  /* the archive, read to its end (a pipe is fine); not closed */
    const char *platform;    /* for OCI indexes: "os/arch[/variant]"; NULL: the host's */
    images_output_fn output; /* progress lines; may be NULL */
    void *output_ctx;
    atomic_bool *cancel; /* may be NULL */
} images_load_opts;

/* Load every image of the archive. Returns their ids (NULL-terminated, in the archive's
 * order), or NULL with err set: a bad archive (not an image archive, a hostile entry, a
 * digest/size/diff_id mismatch) leaves nothing: no layer, no blob, no image. Each image gets
 * the id a pull of it gets (its config digest) and its first name (RepoTags, or the
 * reference annotation of an OCI layout) as name:tag. */
char **images_load(kl_engine *e, const images_load_opts *o, kl_error *err);

/* Receives the archive a save writes, in order; -1 (err set) stops the save. */
typedef int (*images_write_fn)(const void *data, size_t n, void *ctx, kl_error *err);

typedef enum images_archive_format {
    IMAGES_ARCHIVE_DOCKER = 0, /* `docker save`: manifest.json, <hex>.json, <hex>.tar */
    IMAGES_ARCHIVE_OCI,        /* OCI image layout: oci-layout, index.json, blobs/sha256/ */
} images_archive_format;

/* Write the images `idents` (names or ids, n of them) as one archive (tar, uncompressed) to
 * `write`. A pulled or loaded image is written from its kept blobs: its manifest, config and
 * layer digests are the registry's. An image made the Kleene way is packed first
 * (docs/image-store.md). Errors before the first byte (an unknown image) write nothing; a
 * failure of `write` ends the save. */
int images_save(kl_engine *e, char *const *idents, size_t n, images_archive_format format,
                unsigned flags, images_write_fn write, void *ctx, kl_error *err);
/* images_save flags: an image named by its id (not by one of its names) is written without
 * a name (docker save: no RepoTags); without it, under its first name (the Kleene API's). */
#define IMAGES_SAVE_ID_UNNAMED 1u

typedef struct images_push_opts {
    const char *image;     /* name or id of a pulled or loaded image */
    const char *reference; /* where to: "127.0.0.1:5000/team/app:v1" */
    bool insecure;         /* plain HTTP allowed (loopback registries always are) */
    const char *username;  /* credentials for the registry; NULL or "": anonymous */
    const char *password;
    images_output_fn output; /* progress lines; may be NULL */
    void *output_ctx;
    atomic_bool *cancel;    /* may be NULL */
    int64_t *manifest_size; /* out, may be NULL: the pushed manifest's size in bytes */
} images_push_opts;

/* Push an image to a registry (its kept blobs, by the helper kleene-fetch --push): blobs the
 * registry has are skipped, blobs of the image's source repository on the same registry are
 * mounted, the others uploaded; then its manifest, unchanged (so the registry's manifest
 * digest is the image's). An image made the Kleene way is packed first. An image pulled
 * through an index, pushed back to the repository it came from, puts that index (kept as
 * the registry sent it) under the tag, its manifest by digest: the tag then names the same
 * index as before. Returns the digest the tag names (the manifest's, or the index's). */
char *images_push(kl_engine *e, const images_push_opts *o, kl_error *err);

#endif
