/* Stand-ins for the container records functions networks.c uses (containers.h), built
 * only while src/engine/containers.c does not exist yet (see meson.build). They read the
 * `containers` table directly and are weak, so the real ones win if both are linked.
 * Delete this file once containers.c has landed. */
#include "engine/containers.h"

#include <errno.h>
#include <string.h>

#include "lib/cleanup.h"
#include "lib/jsonx.h"
#include "lib/xalloc.h"

#define WEAK __attribute__((weak))

WEAK void container_record_clear(container_record *r)
{
    free(r->name);
    free(r->image_id);
    free(r->image_ref);
    strv_free(r->cmd);
    free(r->user);
    strv_free(r->env);
    strv_free(r->jail_param);
    free(r->network_driver);
    json_decref(r->public_ports);
    free(r->restart_policy);
    free(r->created);
    for (size_t i = 0; i < r->n_mounts; i++) {
        free(r->mounts[i].type);
        free(r->mounts[i].source);
        free(r->mounts[i].destination);
    }
    free(r->mounts);
    strv_free(r->image_cmd);
    strv_free(r->image_env);
    free(r->image_user);
    memset(r, 0, sizeof(*r));
}

WEAK int containers_get(kl_engine *e, const char *ident, container_record *out, kl_error *err)
{
    memset(out, 0, sizeof(*out));
    engine_lock(e);
    store_lock(e->store);
    _cleanup_stmt_ sqlite3_stmt *st =
        store_prepare(e->store,
                      "SELECT id, name, image_id, created, network_driver, doc FROM containers"
                      " WHERE id = ?1 OR name = ?1 OR substr(id, 1, length(?1)) = ?1"
                      " ORDER BY (id = ?1) DESC, (name = ?1) DESC, id",
                      err);
    int r = -1;
    if (st) {
        sqlite3_bind_text(st, 1, ident, -1, SQLITE_TRANSIENT);
        int n = 0;
        while (sqlite3_step(st) == SQLITE_ROW) {
            const char *id = (const char *)sqlite3_column_text(st, 0);
            const char *name = (const char *)sqlite3_column_text(st, 1);
            bool exact = strcmp(id, ident) == 0 || (name && strcmp(name, ident) == 0);
            if (n == 0) {
                snprintf(out->id, sizeof(out->id), "%s", id);
                out->name = xstrdup(name ? name : "");
                out->image_id = xstrdup((const char *)sqlite3_column_text(st, 2));
                out->created = xstrdup((const char *)sqlite3_column_text(st, 3));
                out->network_driver = xstrdup((const char *)sqlite3_column_text(st, 4));
                json_t *doc = json_loads((const char *)sqlite3_column_text(st, 5), 0, NULL);
                json_t *pp = json_object_get(doc, "public_ports");
                out->public_ports = pp ? json_incref(pp) : json_array();
                json_decref(doc);
                r = 0;
                if (exact)
                    break;
            } else {
                r = kl_error_set(err, EINVAL, "container id prefix '%s' is ambiguous", ident);
                break;
            }
            n++;
        }
        if (n == 0 && r < 0)
            kl_error_set(err, ENOENT, "container not found");
    }
    store_unlock(e->store);
    engine_unlock(e);
    if (r < 0)
        container_record_clear(out);
    return r;
}

WEAK char *containers_run_dir(kl_engine *e, const char *id)
{
    return e->run_root ? xasprintf("%s/containers/%s", e->run_root, id) : NULL;
}
