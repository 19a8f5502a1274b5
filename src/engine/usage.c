/* Disk usage for `GET /system/df` (see usage.h). */
#define _XOPEN_SOURCE 700
#include "engine/usage.h"
#include "engine/containers.h"
#include "engine/images.h"
#include "lib/cleanup.h"
#include "lib/xalloc.h"

#include <ftw.h>
#include <string.h>
#include <sys/stat.h>

static __thread long long walk_bytes;

static int add_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)path, (void)flag, (void)ftw;
    walk_bytes += (long long)st->st_blocks * 512;
    return 0;
}

long long usage_dir_bytes(const char *path)
{
    walk_bytes = 0;
    /* FTW_PHYS: links are not followed; FTW_MOUNT: a mounted root filesystem or bind mount
     * under a container's directory is not walked into */
    if (nftw(path, add_entry, 32, FTW_PHYS | FTW_MOUNT) < 0)
        return 0;
    return walk_bytes;
}

static long long count(kl_engine *e, const char *sql, kl_error *err)
{
    _cleanup_stmt_ sqlite3_stmt *st = store_prepare(e->store, sql, err);
    if (!st)
        return -1;
    if (sqlite3_step(st) != SQLITE_ROW) {
        store_fail(e->store, "counting", err);
        return -1;
    }
    return sqlite3_column_int64(st, 0);
}

json_t *usage_disk(kl_engine *e, kl_error *err)
{
    long long images, images_used, containers, volumes, volumes_used;
    char **ids = NULL;
    engine_lock(e);
    store_lock(e->store);
    images = count(e, "SELECT count(*) FROM images", err);
    images_used =
        images < 0 ? -1 : count(e, "SELECT count(DISTINCT image_id) FROM containers", err);
    containers = images_used < 0 ? -1 : count(e, "SELECT count(*) FROM containers", err);
    volumes = containers < 0 ? -1 : count(e, "SELECT count(*) FROM volumes", err);
    volumes_used = volumes < 0 ? -1
                               : count(e,
                                       "SELECT count(DISTINCT source) FROM mounts "
                                       "WHERE type = 'volume'",
                                       err);
    if (volumes_used >= 0) {
        _cleanup_stmt_ sqlite3_stmt *st = store_prepare(e->store, "SELECT id FROM containers", err);
        while (st && sqlite3_step(st) == SQLITE_ROW)
            strv_push(&ids, (const char *)sqlite3_column_text(st, 0));
    }
    store_unlock(e->store);
    engine_unlock(e);
    if (volumes_used < 0) {
        strv_free(ids);
        return NULL;
    }
    long long running = 0;
    for (char **p = ids; p && *p; p++)
        running += containers_is_running(e, *p);
    strv_free(ids);

    _cleanup_free_ char *img = xasprintf("%s/image", e->root);
    _cleanup_free_ char *ctr = xasprintf("%s/container", e->root);
    _cleanup_free_ char *vol = xasprintf("%s/volumes", e->root);
    return json_pack("{s:{s:I,s:I,s:I}, s:{s:I,s:I,s:I}, s:{s:I,s:I,s:I}}", "images", "total",
                     (json_int_t)images, "active", (json_int_t)images_used, "size",
                     (json_int_t)usage_dir_bytes(img), "containers", "total",
                     (json_int_t)containers, "active", (json_int_t)running, "size",
                     (json_int_t)usage_dir_bytes(ctr), "volumes", "total", (json_int_t)volumes,
                     "active", (json_int_t)volumes_used, "size", (json_int_t)usage_dir_bytes(vol));
}

/* Run a query of (text, integer) rows into obj[text] = integer (under the store lock). */
static int pairs(kl_engine *e, const char *sql, json_t *obj, kl_error *err)
{
    _cleanup_stmt_ sqlite3_stmt *st = store_prepare(e->store, sql, err);
    if (!st)
        return -1;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        json_object_set_new(obj, (const char *)sqlite3_column_text(st, 0),
                            json_integer(sqlite3_column_int64(st, 1)));
    return rc == SQLITE_DONE ? 0 : store_fail(e->store, "reading usage", err);
}

json_t *usage_objects(kl_engine *e, kl_error *err)
{
    _cleanup_json_ json_t *images = json_object(), *containers = json_object(),
                          *volumes = json_object(), *per_image = json_object(),
                          *refs = json_object();
    engine_lock(e);
    store_lock(e->store);
    int r = pairs(e, "SELECT id, 0 FROM images", images, err);
    if (r == 0)
        r = pairs(e, "SELECT image_id, count(*) FROM containers GROUP BY image_id", per_image, err);
    if (r == 0)
        r = pairs(e, "SELECT id, 0 FROM containers", containers, err);
    if (r == 0)
        r = pairs(e, "SELECT name, 0 FROM volumes", volumes, err);
    if (r == 0)
        r = pairs(e, "SELECT source, count(*) FROM mounts WHERE type = 'volume' GROUP BY source",
                  refs, err);
    store_unlock(e->store);
    engine_unlock(e);
    if (r < 0)
        return NULL;

    /* the walks, outside the locks */
    json_t *layers = json_object(), *imgs = json_object(), *ctrs = json_object(),
           *vols = json_object();
    const char *key;
    json_t *v;
    json_object_foreach(images, key, v)
    {
        images_stack st = {0};
        kl_error e2 = KL_ERROR_INIT;
        json_t *ids = json_array();
        if (images_resolve_stack(e, key, &st, &e2) == 0) { /* else removed meanwhile */
            for (size_t i = 0; st.dirs && st.dirs[i] && st.layer_ids[i]; i++) {
                json_array_append_new(ids, json_string(st.layer_ids[i]));
                if (!json_object_get(layers, st.layer_ids[i]))
                    json_object_set_new(layers, st.layer_ids[i],
                                        json_integer(usage_dir_bytes(st.dirs[i])));
            }
        }
        images_stack_clear(&st);
        json_t *n = json_object_get(per_image, key);
        json_object_set_new(imgs, key,
                            json_pack("{s:o, s:I}", "layers", ids, "containers",
                                      (json_int_t)(n ? json_integer_value(n) : 0)));
    }
    json_object_foreach(containers, key, v)
    {
        _cleanup_free_ char *dir = containers_dir(e, key);
        _cleanup_free_ char *upper = xasprintf("%s/upper", dir);
        json_object_set_new(ctrs, key,
                            json_pack("{s:I}", "size_rw", (json_int_t)usage_dir_bytes(upper)));
    }
    json_object_foreach(volumes, key, v)
    {
        _cleanup_free_ char *dir = xasprintf("%s/volumes/%s", e->root, key);
        json_t *n = json_object_get(refs, key);
        json_object_set_new(vols, key,
                            json_pack("{s:I, s:I}", "size", (json_int_t)usage_dir_bytes(dir),
                                      "refcount", (json_int_t)(n ? json_integer_value(n) : 0)));
    }
    return json_pack("{s:o, s:o, s:o, s:o}", "layers", layers, "images", imgs, "containers", ctrs,
                     "volumes", vols);
}
