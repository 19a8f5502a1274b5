/* Image manifests and indexes as registries serve them (OCI image-spec v1.1, Docker Image
 * Manifest V2 Schema 2):
 *   an image manifest (OCI or Docker schema 2): a config descriptor and the layers, bottom
 *   first, each gzip, zstd or uncompressed tar;
 *   an index (OCI image index or Docker manifest list): manifests, one per platform.
 * The kind is told by the body's mediaType or, when the body has none (allowed for OCI), by
 * the Content-Type the registry sent, and by the body's shape as a last resort.
 *
 * Everything here is untrusted (it comes from a registry or an archive, and is parsed in
 * the fetch helper): sizes, counts and lengths are bounded, every digest is validated,
 * what we can not use is refused with a clear error: Docker schema 1, foreign and
 * non-distributable layers, configs that are not container images, unknown layer types.
 * No I/O here. */
#ifndef KL_REGISTRY_MANIFEST_H
#define KL_REGISTRY_MANIFEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/error.h"

#define OCI_MT_OCI_MANIFEST "application/vnd.oci.image.manifest.v1+json"
#define OCI_MT_OCI_INDEX "application/vnd.oci.image.index.v1+json"
#define OCI_MT_OCI_CONFIG "application/vnd.oci.image.config.v1+json"
#define OCI_MT_OCI_LAYER "application/vnd.oci.image.layer.v1.tar"
#define OCI_MT_OCI_LAYER_GZIP "application/vnd.oci.image.layer.v1.tar+gzip"
#define OCI_MT_OCI_LAYER_ZSTD "application/vnd.oci.image.layer.v1.tar+zstd"
#define OCI_MT_DOCKER_MANIFEST "application/vnd.docker.distribution.manifest.v2+json"
#define OCI_MT_DOCKER_LIST "application/vnd.docker.distribution.manifest.list.v2+json"
#define OCI_MT_DOCKER_CONFIG "application/vnd.docker.container.image.v1+json"
#define OCI_MT_DOCKER_LAYER_GZIP "application/vnd.docker.image.rootfs.diff.tar.gzip"

/* What a pull sends in Accept: every kind parsed here. */
#define OCI_MANIFEST_ACCEPT                                                                        \
    OCI_MT_OCI_INDEX ", " OCI_MT_DOCKER_LIST ", " OCI_MT_OCI_MANIFEST ", " OCI_MT_DOCKER_MANIFEST

/* Bounds on what a registry can make us hold. */
#define OCI_MANIFEST_MAX_BYTES (4u * 1024 * 1024)
#define OCI_MANIFEST_MAX_LAYERS 1024
#define OCI_INDEX_MAX_MANIFESTS 1024
/* Sizes must fit a JSON number exactly (2^53). */
#define OCI_BLOB_MAX_SIZE ((int64_t)1 << 53)

typedef enum oci_compression {
    OCI_COMPRESSION_NONE = 0,
    OCI_COMPRESSION_GZIP,
    OCI_COMPRESSION_ZSTD,
} oci_compression;

typedef struct oci_platform {
    char *os;           /* "linux" */
    char *architecture; /* "amd64", "arm64", "arm", "386", "ppc64le", "s390x", "riscv64" */
    char *variant;      /* "v7", "v8" or NULL */
} oci_platform;

typedef struct oci_descriptor {
    char *media_type;
    char *digest;                /* validated "sha256:<hex>" */
    int64_t size;                /* 0..OCI_BLOB_MAX_SIZE */
    oci_compression compression; /* layers only */
    bool has_platform;           /* index entries only */
    oci_platform platform;
} oci_descriptor;

typedef enum oci_manifest_kind {
    OCI_MANIFEST_IMAGE = 1, /* OCI image manifest or Docker schema 2 */
    OCI_MANIFEST_INDEX,     /* OCI image index or Docker manifest list */
} oci_manifest_kind;

typedef struct oci_manifest {
    oci_manifest_kind kind;
    char *media_type;       /* what the body was taken as */
    oci_descriptor config;  /* IMAGE */
    oci_descriptor *layers; /* IMAGE: bottom first */
    size_t n_layers;
    oci_descriptor *manifests; /* INDEX */
    size_t n_manifests;
} oci_manifest;

/* Parse a manifest body. `content_type` is the Content-Type the registry sent (parameters
 * after ';' ignored; may be NULL). EINVAL for a malformed or unusable manifest, ENOTSUP for
 * a kind we do not pull (schema 1, foreign layers, non-image artifacts), each with a
 * message saying what. */
int oci_manifest_parse(const char *data, size_t len, const char *content_type, oci_manifest *m,
                       kl_error *err);
void oci_manifest_clear(oci_manifest *m);

/* "os/arch[/variant]" (e.g. "linux/arm64/v8") -> platform (fields xmalloc'ed). */
int oci_platform_parse(const char *s, oci_platform *p, kl_error *err);
/* The platform kleened runs on (linux/<GOARCH-style arch>[/variant]). */
void oci_platform_host(oci_platform *p);
/* "os/arch[/variant]", xmalloc'ed. */
char *oci_platform_format(const oci_platform *p);
void oci_platform_clear(oci_platform *p);

/* Which entry of an index suits `want`: os and architecture equal, and the variant equal
 * when `want` names one (arm64 with no variant and "v8" are the same). When `want` has no
 * variant, an entry without one is preferred, then the first. Returns the index, or -1 with
 * ENOENT and a message listing the platforms the index offers. */
int oci_index_select(const oci_manifest *index, const oci_platform *want, kl_error *err);

#endif
