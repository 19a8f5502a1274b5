/* Disk usage for `GET /system/df` (see usage.h). */
#define _XOPEN_SOURCE 700
#include "engine/usage.h"
#include "engine/containers.h"
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
