/* Images (API.md §5.9, §6 Images, §8.4, §8.5; DESIGN.md §2): an image is a row in `images`
 * plus an ordered stack of layers (`image_layers`, position 0 at the bottom). Layers are
 * directories owned by the host storage layer under the storage root <root>/image
 * (so a layer lives at <root>/image/layers/<layer id>); images built from another image share
 * its layers. A layer made by a build step is a snapshot `@<12hex>`, and `IMAGE@SNAPSHOT`
 * means the prefix of IMAGE's stack up to and including that layer.
 *
 * Rules kept from the original: a name:tag belongs to one image (storing or tagging an image
 * with a taken name:tag untags the previous holder); an image used by a container or by a
 * child image cannot be removed; prune works in rounds. Fixed (decision 5): lookup is exact id,
 * exact name:tag, then a unique id prefix; an ambiguous prefix is an error naming the
 * candidates.
 *
 * Layers used by any image are never removed; removing an image removes the layers that no
 * other image (or container) uses. Every public function takes the engine lock itself; image
 * creation does its long work (download, extraction, copies) outside the lock.
 *
 * "dataset" in the wire Image is the directory of the image's top layer (the original gives
 * its ZFS dataset <root>/image/<id>). The guide's `buildargs` is not part of API.md §5.9 and
 * is not returned.
 *
 * Optional Image fields of ours (docs/api.md): `entrypoint` (string[]), `labels` (object
 * string→string) and `exposed_ports` (string[], "80/tcp"), empty for base images. `cmd` keeps
 * the original's meaning: the CMD alone; a container runs entrypoint + cmd (Docker). They live
 * in the row's JSON doc; images stored before them read as empty. */
#ifndef KL_ENGINE_IMAGES_H
#define KL_ENGINE_IMAGES_H

#include <jansson.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine/engine.h"
#include "lib/error.h"

/* The storage root of layers: "<root>/image" (xmalloc'ed). */
char *images_storage_root(kl_engine *e);

/* Prepare the storage root (create it, drop staging directories a crash left) and delete
 * layer directories no layer row knows (left by a crash between the metadata change and the
 * deletion). Only safe while nothing else creates layers: engine_open() calls it. */
int images_init(kl_engine *e, kl_error *err);

/* ---- records ---------------------------------------------------------------------------- */

/* A new image for images_add. `layers[0..n_layers)` is the whole stack, bottom first; the top
 * `n_new` of them are new layers whose directories exist in the storage root and which get a
 * row here (each with the layer below as its parent); the others must already be rows.
 * snapshots[i] (may be NULL, or NULL entries) names new layer i (counted within the stack)
 * as a snapshot "@<12hex>". external is the host directory of a zfs-clone bottom layer (only
 * when layers[0] is new), else NULL. */
typedef struct images_record {
    const char *id;             /* NULL: generate one */
    const char *name;           /* "" or NULL: untagged */
    const char *tag;            /* "" or NULL: untagged (a name without a tag gets "latest") */
    const char *parent_id;      /* the image this one was built FROM, or NULL for base images */
    const json_t *cmd;          /* string[]; NULL: [] */
    const json_t *env;          /* string[]; NULL: [] */
    const char *user;           /* NULL: "root" */
    const json_t *instructions; /* [[line, snapshot]...]; NULL: [] */
    /* Optional fields of ours (docs/api.md): */
    const json_t *entrypoint;    /* string[]; NULL: [] */
    const json_t *labels;        /* object string→string; NULL: {} */
    const json_t *exposed_ports; /* string[] ("80/tcp"); NULL: [] */
    const char *workdir;         /* the WORKDIR; NULL: "/" */
    const char *stop_signal;     /* config.StopSignal as "SIG<NAME>" (lib/signame.h); NULL: none */
    /* A pulled image's registry identity (docs/image-store.md), kept in the doc as "oci":
     * {"config", "manifest", "manifest_media_type", "index", "repository"}; NULL: none. */
    const json_t *oci;
    const char *const *layers;
    size_t n_layers;
    size_t n_new;
    const char *const *snapshots;
    const char *external;
} images_record;

/* Store the image (and its new layers) in one transaction, untagging any other image with
 * the same non-empty name:tag. Returns the id (xmalloc'ed) or NULL. */
char *images_add(kl_engine *e, const images_record *r, kl_error *err);

/* images_add, unless an image exists that `r` repeats exactly (no new layers, the same layer
 * stack, parent, cmd/env/user/entrypoint/labels/exposed_ports/workdir/instructions) and whose
 * name:tag does not conflict (the same, or untagged on either side): then that image's id is
 * returned, *reused set, and it gets r's name:tag if it had none. This is what makes an
 * unchanged rebuild give the same image id (Docker's cache does). */
char *images_add_or_reuse(kl_engine *e, const images_record *r, bool *reused, kl_error *err);

/* ---- REST ------------------------------------------------------------------------------- */

/* Image[] ordered by created, newest first. */
json_t *images_list(kl_engine *e, kl_error *err);

/* The full id of the image `ident` means (id, name[:tag], or a unique id prefix; a
 * trailing @snapshot is ignored). ENOENT "no such image '<ref>'", EINVAL for a malformed
 * reference or an ambiguous prefix (the message names the candidates). */
char *images_resolve(kl_engine *e, const char *ident, kl_error *err);

/* Image JSON of `ident`; ENOENT "image not found" (also for malformed references). */
json_t *images_inspect(kl_engine *e, const char *ident, kl_error *err);

/* Give the image `ident` the name:tag `nametag` ("name[:tag]", or "" to untag). Returns its
 * full id. ENOENT "image not found"; EINVAL for an invalid nametag (a clean message). */
char *images_tag(kl_engine *e, const char *ident, const char *nametag, kl_error *err);

/* ---- names (Docker's) --------------------------------------------------------------------
 * An image has at most one name:tag in the Kleene API (its row's name: `image tag` moves it),
 * but may have more through the Docker door, as Docker's images do: the first one is the
 * row's, the others are kept in image_names; the wire Image lists them all in `names`
 * (docs/api.md). A name:tag still belongs to one image at most: taking it for another image
 * takes it from the one that had it (which keeps its other names). Lookups find an image by
 * any of its names. images_tag(…, "") takes every name away. */

/* Give the image `ident` one more name:tag (`docker tag`): it keeps the ones it has (an
 * image without a name gets it as its name). Returns its full id. ENOENT "image not found",
 * EINVAL for an invalid or empty nametag. */
char *images_name_add(kl_engine *e, const char *ident, const char *nametag, kl_error *err);

/* Take the name:tag `nametag` off the image that has it (`docker rmi NAME`), when the image
 * has another name (the oldest other one becomes its first). Returns 0 (done), 1 when it is
 * the image's only name (nothing done: removing the image is the caller's choice), -1 with
 * ENOENT when no image has that name or EINVAL for an invalid one. *id gets the image's id
 * (xmalloc'ed) on 0 and 1. */
int images_name_remove(kl_engine *e, const char *nametag, char **id, kl_error *err);
/* Record an image event (events.h) on image `ident`: its labels and "name" (`name`, or its
 * name:tag when NULL). Nothing when there is no such image. For the engine's changes and for
 * what a door adds (the Docker door's pull of a reference, save, load, push). */
void images_event(kl_engine *e, const char *ident, const char *action, const char *name);

/* Remove the image and the layers nobody else uses. Errors (messages as API.md §6):
 * ENOENT "Error: No such image: <ident>\n"; EBUSY "could not remove image <id> since it is
 * used for containers:\n<cid>[\n<cid>...]" or "... used for images:\n<iid>..."; EIO
 * "deleted image but could not remove image dataset: <reason>" (the row is gone then). */
int images_remove(kl_engine *e, const char *ident, kl_error *err);

/* Remove, in rounds until a round removes nothing, every image that no container uses, that
 * has no child image and (unless all) has neither name nor tag. Returns the removed ids. */
json_t *images_prune(kl_engine *e, bool all, kl_error *err);
/* The same, only for the images whose labels pass Docker's `label` and `label!` filters
 * (arrays of KEY[=VALUE], NULL = none; lib/labels.h) and, when `until` is not NULL, that were
 * created before it (a time as the store writes them: "2026-12-07T10:13:01.000000Z"). */
json_t *images_prune_matching(kl_engine *e, bool all, const json_t *label, const json_t *label_not,
                              const char *until, kl_error *err);

/* ---- for container creation and builds ------------------------------------------------- */

typedef struct images_stack {
    char *image_id;   /* full id of the image */
    char *layer_id;   /* the top layer used when a @snapshot was given, else NULL */
    char **dirs;      /* layer directories, bottom first, NULL-terminated */
    char **layer_ids; /* their layer ids, same order, NULL-terminated */
    size_t n;
} images_stack;

/* The layer directories of `ref` ("IMAGE" or "IMAGE@SNAPSHOT"): the whole stack, or the
 * prefix up to the snapshot. ENOENT "no such image '<ref>'" / "no such snapshot ...",
 * EINVAL for malformed or ambiguous references. */
int images_resolve_stack(kl_engine *e, const char *ref, images_stack *out, kl_error *err);
void images_stack_clear(images_stack *s);

/* ---- base images (/images/create) ------------------------------------------------------- */

/* Receives progress text ("Extracted 100 files...\n"); may be called from the creating
 * thread only. */
typedef void (*images_output_fn)(const char *text, void *ctx);

typedef struct images_create_opts {
    const char *method;   /* "fetch", "fetch-auto", "zfs-copy", "zfs-clone", "pull" */
    const char *image;    /* pull: a registry reference ("busybox", "host:5000/a/b:tag") */
    const char *platform; /* pull: "os/arch[/variant]" or NULL/"" for the host's */
    /* pull: credentials for the registry (NULL or "": anonymous). Handed to the helper in its
     * environment, never logged (docs/image-fetch.md "Credentials"). */
    const char *username;
    const char *password;
    const char *url;      /* fetch */
    const char *dataset;  /* zfs-copy / zfs-clone: an absolute host directory */
    const char *tag;      /* "name[:tag]" or "" */
    bool autotag;         /* fetch-auto: tag "<Distro>-<VERSION_ID>:latest" */
    char *const *include; /* fetch-auto: more packages for debootstrap; NULL or empty: none */
    bool dns;             /* copy <host_etc>/resolv.conf into the image's etc/ */
    bool localtime;       /* copy <host_etc>/localtime if present */
    bool update;          /* not supported on this host: a notice */
    const char *host_etc; /* NULL: "/etc" (tests point it elsewhere) */
    images_output_fn output;
    void *output_ctx;
    atomic_bool *cancel; /* set by another thread: abort (ECANCELED) and clean up; may be NULL */
    /* pull, for a door that shows progress its own way (the Docker door's JSON lines); both
     * may be NULL and get output_ctx: the bytes of all the layers being downloaded (several at
     * a time) as one sum, then each layer of the recorded image, bottom first (its blob
     * digest, compressed size, and whether the store had it before the pull). */
    void (*pull_bytes)(uint64_t bytes, uint64_t total, void *ctx);
    void (*pull_layer)(const char *digest, long long size, bool present, void *ctx);
    /* pull: the download of one layer (its blob digest, bytes of its size), several at a
     * time; `done` once it is verified and extracted (may be NULL; gets output_ctx) */
    void (*pull_layer_progress)(const char *digest, uint64_t bytes, uint64_t total, bool done,
                                void *ctx);
    /* pull: an image the store has already keeps its names and gets this one too (Docker's
     * door; images_name_add) instead of being renamed to it */
    bool add_name;
} images_create_opts;

/* Create a base image. Returns its id, or NULL with err->msg the reason to show the client
 * (e.g. "invalid dataset", "could not fetch file from url: ..."). A failed or cancelled create
 * leaves no layer, no staging directory and no row. */
char *images_create(kl_engine *e, const images_create_opts *o, kl_error *err);

/* The autotag of fetch-auto from an os-release file: "<ID capitalised>-<VERSION_ID>", e.g.
 * "Debian-12" (the tag is then "latest"). EINVAL when the file lacks ID or VERSION_ID. */
char *images_distro_tag(const char *os_release_path, kl_error *err);

#endif
