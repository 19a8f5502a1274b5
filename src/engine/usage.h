/* Disk usage of what kleened keeps (`GET /system/df`, ours): per kind of object how many
 * there are, how many are in use, and the bytes their directories take. Read-only; walks the
 * directories under the root without crossing mount points (a running container's mounted
 * root filesystem is not counted twice). */
#ifndef KL_ENGINE_USAGE_H
#define KL_ENGINE_USAGE_H

#include <jansson.h>

#include "engine/engine.h"

/* {"images": {"total", "active", "size"}, "containers": {...}, "volumes": {...}}
 * (size in bytes, as allocated on disk). NULL on a store error. */
json_t *usage_disk(kl_engine *e, kl_error *err);

/* Per object, what Docker's GET /system/df shows (sizes in bytes allocated on disk):
 * {"layers": {layer_id: bytes} (every layer an image uses, each once),
 *  "images": {image_id: {"layers": [layer ids, bottom first], "containers": n}},
 *  "containers": {id: {"size_rw": bytes of its own layer (upper directory)}},
 *  "volumes": {name: {"size": bytes, "refcount": containers that mount it}}}.
 * NULL on a store error. Walks every directory: for a request, not a hot path. */
json_t *usage_objects(kl_engine *e, kl_error *err);

/* Bytes allocated under `path` (not crossing mount points, links not followed); 0 if it
 * does not exist. Exposed for tests. */
long long usage_dir_bytes(const char *path);

#endif
