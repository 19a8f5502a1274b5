/* Image references: `NAME[:TAG][@SNAPSHOT]` and `ID[@SNAPSHOT]` (KLEENE-GUIDE, API.md §4.2-4.3),
 * and names as Docker users write them (docs/api.md "Image names"): a NAME with a '/' is a
 * registry repository (`127.0.0.1:5000/team/app`, `team/app`, `docker.io/library/busybox`),
 * kept in Docker's familiar form (`docker.io/library/busybox` is `busybox`), and
 * `NAME[:TAG]@sha256:<hex>` names a pulled image by its registry digest.
 *
 * Parses untrusted text from requests and Dockerfiles (FROM): every malformed reference is
 * a clean EINVAL error, never a crash. Also resolves a parsed reference against candidate
 * images and a snapshot against an image's layer stack. No I/O here. */
#ifndef KL_ENGINE_IMAGEREF_H
#define KL_ENGINE_IMAGEREF_H

#include <stdbool.h>
#include <stddef.h>

#include "lib/error.h"

#define IMAGEREF_NAME_MAX 128
#define IMAGEREF_DEFAULT_TAG "latest"

typedef struct imageref {
    char *ident;    /* the part before '@': "name[:tag]" or an id (prefix) */
    char *name;     /* the name (== ident when no tag was given) */
    char *tag;      /* the tag given, or "latest" */
    char *snapshot; /* the part after '@' (without '@'), or NULL */
    char *digest;   /* "sha256:<hex>" after '@', or NULL (never both) */
    bool has_tag;   /* a ':' tag was given (then the reference can not be an id) */
} imageref;

/* Names, tags and snapshot names: 1..128 of letters, digits, '_', '.', '-', not starting
 * with '.' or '-'. */
bool imageref_name_is_valid(const char *s);

/* An image name as stored: a Kleene name (imageref_name_is_valid) or a Docker repository in
 * its familiar form ("team/app", "127.0.0.1:5000/team/app"; not "docker.io/team/app"). */
bool imageref_repository_is_valid(const char *s);

/* 1..12 lowercase hex digits: could be (a prefix of) an image id. */
bool imageref_is_id_prefix(const char *s);

/* Parse `s` into `ref` (fields xmalloc'ed; release with imageref_clear). At most one '@';
 * at most one ':' in a name without '/', the tag after the last ':' behind the last '/'
 * otherwise. A Docker repository name comes out in its familiar form. */
int imageref_parse(const char *s, imageref *ref, kl_error *err);

void imageref_clear(imageref *ref);

/* A nametag as given to `image tag` and `build -t`: "name[:tag]" (no snapshot, no digest;
 * a Docker repository name in its familiar form), or "" meaning no name and no tag (then
 * *name and *tag are ""). */
int imageref_parse_nametag(const char *s, char **name, char **tag, kl_error *err);

/* Where the tag of a "name[:tag]" starts: its ':' (the last one after the last '/'; the ':'
 * of a registry's port, "127.0.0.1:5000/x", is not a tag's), or NULL when it has no tag.
 * Every split of a name:tag uses this rule (imageref_parse, the builder's -t, the doors). */
const char *imageref_tag_colon(const char *nametag);

/* "name:tag[@snapshot|@digest]", or "id[@...]" when no tag was given and it looks like an
 * id. */
char *imageref_format(const imageref *ref);

typedef struct imageref_candidate {
    const char *id;
    const char *name;
    const char *tag;
    const char *digest;   /* a pulled image: the digest its reference resolved to, or NULL */
    const char *manifest; /* a pulled image: its manifest's digest, or NULL */
} imageref_candidate;

/* Which candidate the reference means (the snapshot part is ignored): an exact id first,
 * then an exact name:tag, then a unique id prefix; with a digest, the candidate of that name
 * whose digest or manifest it is. Returns the index, or -1 with ENOENT (no such image) or
 * EINVAL (ambiguous prefix; the message names the candidates). */
int imageref_resolve(const imageref *ref, const imageref_candidate *cands, size_t n, kl_error *err);

/* IMAGE@SNAPSHOT is a prefix of the image's layer stack: the layers from the bottom up to
 * and including the layer whose id is `snapshot` (a leading '@' is accepted). `layers` is
 * bottom first. Stores the prefix length in *len; ENOENT when the image has no such
 * snapshot. snapshot == NULL means the whole stack. */
int imageref_stack_prefix(const char *const *layers, size_t n, const char *snapshot, size_t *len,
                          kl_error *err);

#endif
