/* The Docker door's GET /system/df (`docker system df [-v]`): the engine's usage by object
 * (engine/usage.h usage_objects) in Docker's shape: LayersSize, Images with Size, SharedSize
 * and Containers, Containers with SizeRw and SizeRootFs, Volumes with UsageData; BuildCache is
 * empty (the build cache is made of layers, counted with the images). */
#include "api/docker/dk.h"
#include "engine/containers.h"
#include "engine/engine.h"
#include "engine/images.h"
#include "engine/usage.h"
#include "engine/volumes.h"
#include "lib/cleanup.h"
#include "lib/jsonx.h"
#include "lib/xalloc.h"

#include <string.h>
#include <time.h>

static long long unix_seconds(const char *iso)
{
    struct tm tm = {0};
    const char *end = iso ? strptime(iso, "%Y-%m-%dT%H:%M:%S", &tm) : NULL;
    return end ? (long long)timegm(&tm) : 0;
}

static long long int_of(const json_t *o, const char *key)
{
    return json_integer_value(json_object_get(o, key));
}

/* Bytes of an image's layers: all of them (*size) and those another image uses too. */
static void image_sizes(const json_t *usage, const json_t *layer_users, const char *id,
                        long long *size, long long *shared)
{
    *size = *shared = 0;
    json_t *u = json_object_get(json_object_get(usage, "images"), id);
    size_t i;
    json_t *l;
    json_array_foreach(json_object_get(u, "layers"), i, l)
    {
        long long b = int_of(json_object_get(usage, "layers"), json_string_value(l));
        *size += b;
        if (int_of(layer_users, json_string_value(l)) > 1)
            *shared += b;
    }
}

void dk_system_df(dk_request *r, api_response *res)
{
    kl_engine *e = r->req->ctx->engine;
    kl_error err = KL_ERROR_INIT;
    _cleanup_json_ json_t *usage = usage_objects(e, &err);
    _cleanup_json_ json_t *imgs = usage ? images_list(e, &err) : NULL;
    _cleanup_json_ json_t *ctrs = imgs ? containers_list(e, true, &err) : NULL;
    _cleanup_json_ json_t *vols = ctrs ? volumes_list(e, &err) : NULL;
    if (!vols)
        return dk_error(res, 500, "%s", err.msg);

    /* how many images use each layer (for SharedSize) */
    _cleanup_json_ json_t *layer_users = json_object();
    const char *key;
    json_t *v;
    json_object_foreach(json_object_get(usage, "images"), key, v)
    {
        size_t i;
        json_t *l;
        json_array_foreach(json_object_get(v, "layers"), i, l)
            json_object_set_new(layer_users, json_string_value(l),
                                json_integer(int_of(layer_users, json_string_value(l)) + 1));
    }
    long long layers_size = 0;
    json_object_foreach(json_object_get(usage, "layers"), key, v) layers_size +=
        json_integer_value(v);

    json_t *images = json_array();
    size_t i;
    json_t *img;
    json_array_foreach(imgs, i, img)
    {
        const char *id = jx_str(img, "id", "");
        char lid[DK_ID_LEN + 1];
        dk_long_id("image", id, lid);
        long long size, shared;
        image_sizes(usage, layer_users, id, &size, &shared);
        const char *name = jx_str(img, "name", ""), *tag = jx_str(img, "tag", "");
        json_t *tags = json_array();
        if (*name)
            json_array_append_new(tags, json_pack("s++", name, ":", *tag ? tag : "latest"));
        json_t *labels = json_object_get(img, "labels");
        json_array_append_new(
            images,
            json_pack("{s:s+, s:s, s:o, s:[], s:I, s:I, s:I, s:I, s:o, s:I}", "Id", "sha256:", lid,
                      "ParentId", "", "RepoTags", tags, "RepoDigests", "Created",
                      (json_int_t)unix_seconds(jx_str(img, "created", "")), "Size",
                      (json_int_t)size, "SharedSize", (json_int_t)shared, "VirtualSize",
                      (json_int_t)size, "Labels",
                      json_is_object(labels) ? json_deep_copy(labels) : json_object(), "Containers",
                      (json_int_t)int_of(json_object_get(json_object_get(usage, "images"), id),
                                         "containers")));
    }

    json_t *containers = json_array();
    json_t *row;
    /* newest first, as docker ps */
    for (size_t k = json_array_size(ctrs); k-- > 0;) {
        row = json_array_get(ctrs, k);
        container_record c = {0};
        if (containers_get(e, jx_str(row, "id", ""), &c, &err) < 0)
            continue; /* removed meanwhile */
        json_t *s = dk_container_summary(e, &c);
        if (s) {
            long long rw =
                int_of(json_object_get(json_object_get(usage, "containers"), c.id), "size_rw");
            long long size, shared;
            image_sizes(usage, layer_users, c.image_id, &size, &shared);
            json_object_set_new(s, "SizeRw", json_integer(rw));
            json_object_set_new(s, "SizeRootFs", json_integer(rw + size));
            json_array_append_new(containers, s);
        }
        container_record_clear(&c);
    }

    json_t *volumes = json_array();
    json_array_foreach(vols, i, v)
    {
        const char *name = jx_str(v, "name", "");
        json_t *u = json_object_get(json_object_get(usage, "volumes"), name);
        json_t *labels = json_object_get(v, "labels");
        json_array_append_new(
            volumes,
            json_pack("{s:s, s:s, s:s, s:s, s:o, s:s, s:{}, s:{s:I, s:I}}", "Name", name, "Driver",
                      "local", "Mountpoint", jx_str(v, "mountpoint", ""), "CreatedAt",
                      dk_time(jx_str(v, "created", "")), "Labels",
                      json_is_object(labels) ? json_deep_copy(labels) : json_object(), "Scope",
                      "local", "Options", "UsageData", "Size", (json_int_t)int_of(u, "size"),
                      "RefCount", (json_int_t)int_of(u, "refcount")));
    }
    api_reply_json(res, 200,
                   json_pack("{s:I, s:o, s:o, s:o, s:[]}", "LayersSize", (json_int_t)layers_size,
                             "Images", images, "Containers", containers, "Volumes", volumes,
                             "BuildCache"));
}
