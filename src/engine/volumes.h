/* Volumes (API.md §5.16, §6 Volumes, §8.6): a directory <root>/volumes/<name> plus a row in
 * the store. The name is the key; there is no id.
 *
 * Unlike the original (API.md §12 quirk 16), a volume that any mount record refers to cannot
 * be removed. Directory trees are removed without following symlinks and without crossing
 * into other filesystems. Every function takes the engine lock itself. */
#ifndef KL_ENGINE_VOLUMES_H
#define KL_ENGINE_VOLUMES_H

#include <jansson.h>
#include <stdbool.h>

#include "engine/engine.h"
#include "lib/error.h"

#define VOLUME_NAME_MAX 255

/* ^[a-zA-Z0-9][a-zA-Z0-9_.-]*$, 1 to VOLUME_NAME_MAX characters (Docker's rule). */
bool volumes_name_is_valid(const char *name);

/* Create the volume; an existing one is kept unchanged (0). EINVAL for an invalid name. */
int volumes_create(kl_engine *e, const char *name, kl_error *err);
/* The same with labels (ours, docs/api.md "Labels": an object string→string by the rule of
 * lib/labels.h, or NULL). An existing volume keeps its own labels (Docker). EINVAL for bad
 * labels. */
int volumes_create_labeled(kl_engine *e, const char *name, const json_t *labels, kl_error *err);

/* Volume[] ordered by created, newest first. Volume: {"name", "dataset", "mountpoint",
 * "created", "labels"}, dataset and mountpoint both being the directory
 * <root>/volumes/<name>; labels ours ({} when none). */
json_t *volumes_list(kl_engine *e, kl_error *err);

/* VolumeInspect: {"volume": Volume, "mountpoints": MountPoint[]} with MountPoint
 * {"type", "container_id", "destination", "source", "read_only"}, in mount order.
 * Unknown volume: ENOENT "No such volume". */
json_t *volumes_inspect(kl_engine *e, const char *name, kl_error *err);

/* Remove the row and the directory tree. ENOENT "No such volume"; EBUSY
 * "volume '<name>' is in use by container(s): <id>[, <id>...]" while a mount refers to it. */
int volumes_remove(kl_engine *e, const char *name, kl_error *err);

/* Remove every volume no mount refers to; returns the array of their names, oldest first. */
json_t *volumes_prune(kl_engine *e, kl_error *err);
/* The same for the volumes whose labels pass Docker's `label` and `label!` filters (arrays of
 * KEY[=VALUE] strings, NULL = none; lib/labels.h). */
json_t *volumes_prune_matching(kl_engine *e, const json_t *label, const json_t *label_not,
                               kl_error *err);

/* Delete what interrupted removals left under <root>/volumes (best effort, logs failures).
 * engine_open() calls it. */
void volumes_sweep(kl_engine *e);

#endif
