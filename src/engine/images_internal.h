/* What images.c shares with images_archive.c: the store's blobs for the helper, and the
 * record step of a pull (docs/image-store.md) for a directory the helper left. */
#ifndef KL_ENGINE_IMAGES_INTERNAL_H
#define KL_ENGINE_IMAGES_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine/engine.h"
#include "engine/images.h"
#include "lib/error.h"

/* The blobs kleened has (as given to kleene-fetch --have-fd): *blobs NULL-terminated,
 * *diff_ids n entries (NULL for blobs that are not layers). */
int images_fetched_have(kl_engine *e, char ***blobs, char ***diff_ids, size_t *n, kl_error *err);

/* Record the image the helper left in workdir (image.json, layers/, blobs/: a pull's layout)
 * as a pull is recorded: its id from the config digest, layers by diff_id, blobs kept. The
 * image gets the name of image.json's repository and tag. o: cancel only. */
char *images_record_fetched(kl_engine *e, const char *workdir, const images_create_opts *o,
                            bool *existing, kl_error *err);

/* What a save needs of an image: its id, name and tag, and the digest of its registry
 * manifest when it has its blobs (pulled or loaded; NULL: made the Kleene way). */
typedef struct images_archive_info_t {
    char *id;
    char *name;
    char *tag;
    char *manifest;   /* "sha256:…" or NULL */
    char *repository; /* "docker.io/library/busybox", "" or NULL */
    char *index;      /* the kept index a pull resolved through ("sha256:…"), or NULL */
} images_archive_info_t;

int images_archive_info(kl_engine *e, const char *ident, images_archive_info_t *out, kl_error *err);
void images_archive_info_clear(images_archive_info_t *i);

/* A stored blob a layer can be exported as (a pulled or loaded layer: its diff_id has a
 * blob). 1 found, 0 none (a Kleene-made layer), -1 error. */
typedef struct images_blob_t {
    char *digest;
    int64_t size;
    char *media_type;
    char *diff_id;
    char *repository; /* a repository an image with this blob was pulled from, or NULL */
} images_blob_t;

int images_layer_blob(kl_engine *e, const char *layer_id, images_blob_t *out, kl_error *err);
void images_blob_clear(images_blob_t *b);

#endif
