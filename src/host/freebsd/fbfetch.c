/* Base images by `fetch` and `fetch-auto` on FreeBSD (host/fetch.h host_layer_fetch_base):
 * the original's way, fetch(1) and tar(1) into the layer's dataset (zfs.c
 * fb_image_create_fetch(_auto), FREEBSD-HOST.md §5.1, §5.2), with the dataset mounted where
 * the engine keeps the layer and without the final snapshot (the engine writes its /etc
 * files, then seals). It must not: leave the archive or a dataset behind on failure (zfs.c
 * undoes both). */
#include <errno.h>

#include "host/fetch.h"
#include "host/freebsd/fbhost.h"
#include "host/storage.h"
#include "lib/cleanup.h"
#include "lib/xalloc.h"

int host_layer_fetch_base(const char *root, const char *id, const char *url, char **version,
                          host_say_fn say, void *ctx, kl_error *err)
{
    if (!host_layer_id_is_valid(id))
        return kl_error_set(err, EINVAL, "invalid layer id '%s'", id ? id : "");
    const fb_host *h = fb_host_default(err);
    if (!h)
        return -1;
    _cleanup_free_ char *mp = host_layer_path(root, id);
    fb_image_opts o = {.mountpoint = mp, .no_snapshot = true};
    int rc = url ? fb_image_create_fetch(h, id, url, &o, say, ctx, err)
                 : fb_image_create_fetch_auto(h, id, &o, say, ctx, version, err);
    return rc < 0 ? -1 : 1;
}
