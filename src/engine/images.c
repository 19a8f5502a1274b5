/* Images (images.h): rows in images/layers/image_layers and layer directories in the host
 * storage root <root>/image.
 *
 * Metadata first, files second: removal deletes the rows in one transaction under the engine
 * lock and deletes the layer directories afterwards, outside it (images_init deletes what a
 * crash left in between). Creation does its long work outside the lock into a layer that no
 * row names yet, and records it in one transaction at the end; a failure removes the layer.
 *
 * Content of images comes from untrusted archives and host directories: the few files this
 * module writes into a layer (etc/resolv.conf, etc/localtime) are written through directory
 * fds with O_NOFOLLOW, never through a path that a symlink in the image could redirect.
 *
 * fetch-auto runs debootstrap(8) on Debian hosts; that is the one place this portable module
 * starts a program (posix_spawn). A FreeBSD host would fetch base.txz instead; when a second
 * host exists this belongs behind host.h. */
#include "engine/images.h"
#include "engine/registry.h"
#include "engine/images_internal.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "engine/imageref.h"
#include "host/host.h"
#include "lib/buf.h"
#include "lib/cleanup.h"
#include "lib/id.h"
#include "lib/jsonx.h"
#include "lib/labels.h"
#include "lib/log.h"
#include "lib/signame.h"
#include "lib/xalloc.h"
#include "registry/digest.h"
#include "registry/reference.h"

extern char **environ;

char *images_storage_root(kl_engine *e)
{
    return xasprintf("%s/image", e->root);
}

/* ---- reading rows --------------------------------------------------------------------- */

#define IMAGE_COLUMNS                                                                              \
    "i.id, i.name, i.tag, i.created, i.doc, "                                                      \
    "(SELECT il.layer_id FROM image_layers il WHERE il.image_id = i.id "                           \
    " ORDER BY il.position DESC LIMIT 1), "                                                        \
    "(SELECT json_group_array(n.name || ':' || n.tag) FROM "                                       \
    " (SELECT name, tag FROM image_names WHERE image_id = i.id ORDER BY rowid) n)"

static const char *col(sqlite3_stmt *st, int i)
{
    const char *s = (const char *)sqlite3_column_text(st, i);
    return s ? s : "";
}

/* The wire Image (API.md §5.9) from a row selected with IMAGE_COLUMNS. */
static json_t *image_json(kl_engine *e, sqlite3_stmt *st)
{
    json_t *doc = json_loads(col(st, 4), 0, NULL);
    json_t *out = json_object();
    json_object_set_new(out, "id", json_string(col(st, 0)));
    json_object_set_new(out, "name", json_string(col(st, 1)));
    json_object_set_new(out, "tag", json_string(col(st, 2)));
    static const char *const arrays[] = {"cmd", "env", "instructions", "entrypoint",
                                         "exposed_ports"};
    for (size_t i = 0; i < KL_ARRAY_SIZE(arrays); i++) {
        json_t *v = json_object_get(doc, arrays[i]);
        json_object_set_new(out, arrays[i], json_is_array(v) ? json_incref(v) : json_array());
    }
    json_t *labels = json_object_get(doc, "labels");
    json_object_set_new(out, "labels",
                        json_is_object(labels) ? json_incref(labels) : json_object());
    json_object_set_new(out, "user", json_string(jx_str(doc, "user", "root")));
    json_object_set_new(out, "workdir", json_string(jx_str(doc, "workdir", "/")));
    /* ours, only when the image has one: the signal a stop of its containers sends */
    const char *ss = jx_str(doc, "stop_signal", NULL);
    if (ss)
        json_object_set_new(out, "stop_signal", json_string(ss));
    /* a pulled image's registry digest: of the index its reference resolved through, else
     * of its manifest (Docker's RepoDigests); "" for other images */
    const json_t *oci = json_object_get(doc, "oci");
    json_object_set_new(out, "digest",
                        json_string(jx_str(oci, "index", jx_str(oci, "manifest", ""))));
    json_object_set_new(out, "created", json_string(col(st, 3)));
    const char *top = (const char *)sqlite3_column_text(st, 5);
    _cleanup_free_ char *sroot = images_storage_root(e);
    _cleanup_free_ char *dataset = top ? host_layer_path(sroot, top) : xstrdup("");
    json_object_set_new(out, "dataset", json_string(dataset));
    /* every name:tag, the row's first (images.h "Names") */
    json_t *names = json_array();
    if (col(st, 1)[0])
        json_array_append_new(names, json_pack("s++", col(st, 1), ":", col(st, 2)));
    json_t *more = json_loads(col(st, 6), 0, NULL);
    size_t k;
    json_t *v;
    json_array_foreach(more, k, v) if (json_is_string(v)) json_array_append(names, v);
    json_decref(more);
    json_object_set_new(out, "names", names);
    json_decref(doc);
    return out;
}

/* Run a one-column query with an optional text parameter; push every row into *out. */
static int query_strv(kl_engine *e, const char *sql, const char *param, char ***out, kl_error *err)
{
    store_lock(e->store);
    _cleanup_stmt_ sqlite3_stmt *st = store_prepare(e->store, sql, err);
    int rc = SQLITE_ERROR;
    if (st) {
        if (param)
            sqlite3_bind_text(st, 1, param, -1, SQLITE_STATIC);
        while ((rc = sqlite3_step(st)) == SQLITE_ROW)
            strv_push(out, col(st, 0));
        if (rc != SQLITE_DONE)
            store_fail(e->store, "reading images", err);
    }
    store_unlock(e->store);
    return rc == SQLITE_DONE ? 0 : -1;
}

/* Under the engine lock: the image one of whose other names (image_names) `ref` is, looked
 * up as imageref_resolve looks names up (with a digest: that image's). NULL with err
 * (ENOENT) when none. */
static char *resolve_other_name_locked(kl_engine *e, const imageref *ref, kl_error *err)
{
    _cleanup_strv_ char **ids = NULL, **digests = NULL, **manifests = NULL;
    store_lock(e->store);
    kl_error qerr = KL_ERROR_INIT;
    _cleanup_stmt_ sqlite3_stmt *st =
        store_prepare(e->store,
                      "SELECT i.id, coalesce(json_extract(i.doc, '$.oci.index'), ''), "
                      "coalesce(json_extract(i.doc, '$.oci.manifest'), '') FROM image_names n "
                      "JOIN images i ON i.id = n.image_id WHERE n.name = ? AND n.tag = ?",
                      &qerr);
    if (st) {
        sqlite3_bind_text(st, 1, ref->name, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, ref->tag, -1, SQLITE_STATIC);
        while (sqlite3_step(st) == SQLITE_ROW) {
            strv_push(&ids, col(st, 0));
            strv_push(&digests, col(st, 1));
            strv_push(&manifests, col(st, 2));
        }
    }
    store_unlock(e->store);
    for (size_t i = 0; ids && ids[i]; i++)
        if (!ref->digest || !strcmp(ref->digest, digests[i]) || !strcmp(ref->digest, manifests[i]))
            return xstrdup(ids[i]);
    return NULL; /* err keeps imageref_resolve's ENOENT */
}

/* Under the engine lock: the full id `ident` means. Errors as images_resolve. */
static char *resolve_locked(kl_engine *e, const char *ident, kl_error *err)
{
    imageref ref = {0};
    if (imageref_parse(ident, &ref, err) < 0)
        return NULL;
    _cleanup_strv_ char **ids = NULL, **names = NULL, **tags = NULL, **digests = NULL,
                        **manifests = NULL;
    store_lock(e->store);
    _cleanup_stmt_ sqlite3_stmt *st = store_prepare(
        e->store,
        "SELECT id, name, tag, coalesce(json_extract(doc, '$.oci.index'), ''), "
        "coalesce(json_extract(doc, '$.oci.manifest'), '') FROM images ORDER BY created, id",
        err);
    int rc = SQLITE_ERROR;
    if (st) {
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
            strv_push(&ids, col(st, 0));
            strv_push(&names, col(st, 1));
            strv_push(&tags, col(st, 2));
            strv_push(&digests, col(st, 3));
            strv_push(&manifests, col(st, 4));
        }
        if (rc != SQLITE_DONE)
            store_fail(e->store, "reading images", err);
    }
    store_unlock(e->store);
    char *out = NULL;
    if (rc == SQLITE_DONE) {
        size_t n = strv_len(ids);
        imageref_candidate *c = xcalloc(n ? n : 1, sizeof(*c));
        for (size_t i = 0; i < n; i++)
            c[i] = (imageref_candidate){ids[i], names[i], tags[i], digests[i], manifests[i]};
        int idx = imageref_resolve(&ref, c, n, err);
        if (idx >= 0)
            out = xstrdup(ids[idx]);
        else if (err->code == ENOENT && ref.has_tag)
            out = resolve_other_name_locked(e, &ref, err);
        free(c);
    }
    imageref_clear(&ref);
    return out;
}

char *images_resolve(kl_engine *e, const char *ident, kl_error *err)
{
    engine_lock(e);
    char *id = resolve_locked(e, ident, err);
    engine_unlock(e);
    return id;
}

json_t *images_list(kl_engine *e, kl_error *err)
{
    _cleanup_json_ json_t *out = json_array();
    engine_lock(e);
    store_lock(e->store);
    _cleanup_stmt_ sqlite3_stmt *st = store_prepare(
        e->store, "SELECT " IMAGE_COLUMNS " FROM images i ORDER BY i.created DESC, i.rowid DESC",
        err);
    int rc = SQLITE_ERROR;
    if (st) {
        while ((rc = sqlite3_step(st)) == SQLITE_ROW)
            json_array_append_new(out, image_json(e, st));
        if (rc != SQLITE_DONE)
            store_fail(e->store, "listing images", err);
    }
    store_unlock(e->store);
    engine_unlock(e);
    return rc == SQLITE_DONE ? steal_pointer(&out) : NULL;
}

static json_t *get_locked(kl_engine *e, const char *id, kl_error *err)
{
    store_lock(e->store);
    _cleanup_stmt_ sqlite3_stmt *st =
        store_prepare(e->store, "SELECT " IMAGE_COLUMNS " FROM images i WHERE i.id = ?", err);
    json_t *out = NULL;
    if (st) {
        sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
        int rc = sqlite3_step(st);
        if (rc == SQLITE_ROW)
            out = image_json(e, st);
        else if (rc == SQLITE_DONE)
            kl_error_set(err, ENOENT, "image not found");
        else
            store_fail(e->store, "reading image", err);
    }
    store_unlock(e->store);
    return out;
}

/* ---- events (events.h) -------------------------------------------------------------------- */

/* An image's name:tag ("" when it has none; xmalloc'ed). */
static char *event_name(const json_t *img)
{
    const char *name = jx_str(img, "name", ""), *tag = jx_str(img, "tag", "");
    return !*name ? xstrdup("") : *tag ? xasprintf("%s:%s", name, tag) : xstrdup(name);
}

/* An event of image `img` (its wire JSON): its labels and "name" (`name`, else its name:tag). */
static void image_event(kl_engine *e, const json_t *img, const char *action, const char *name)
{
    _cleanup_free_ char *own = event_name(img);
    events_emit(e->events, "image", action, jx_str(img, "id", ""), json_object_get(img, "labels"),
                "name", name ? name : own, NULL);
}

void images_event(kl_engine *e, const char *ident, const char *action, const char *name)
{
    kl_error err = KL_ERROR_INIT;
    _cleanup_json_ json_t *img = images_inspect(e, ident, &err);
    if (img)
        image_event(e, img, action, name);
}

json_t *images_inspect(kl_engine *e, const char *ident, kl_error *err)
{
    engine_lock(e);
    json_t *out = NULL;
    kl_error rerr = KL_ERROR_INIT;
    _cleanup_free_ char *id = resolve_locked(e, ident, &rerr);
    if (id)
        out = get_locked(e, id, err);
    else if (rerr.code == EIO || rerr.code == EBUSY)
        kl_error_set(err, rerr.code, "%s", rerr.msg);
    else
        kl_error_set(err, ENOENT, "image not found");
    engine_unlock(e);
    return out;
}

/* ---- storing ---------------------------------------------------------------------------- */

static int step_done(kl_engine *e, sqlite3_stmt *st, const char *what, kl_error *err)
{
    if (sqlite3_step(st) != SQLITE_DONE)
        return store_fail(e->store, what, err);
    return 0;
}

/* In a transaction: every image without a row name but with other names gets the oldest of
 * them as its row name (the row's name is an image's first name: images.h "Names"). */
static int promote_names(kl_engine *e, kl_error *err)
{
    _cleanup_stmt_ sqlite3_stmt *up = store_prepare(
        e->store,
        "UPDATE images SET (name, tag) = (SELECT n.name, n.tag FROM image_names n "
        "WHERE n.image_id = images.id ORDER BY n.rowid LIMIT 1) "
        "WHERE name = '' AND EXISTS (SELECT 1 FROM image_names n WHERE n.image_id = images.id)",
        err);
    if (!up || step_done(e, up, "renaming image", err) < 0)
        return -1;
    _cleanup_stmt_ sqlite3_stmt *del =
        store_prepare(e->store,
                      "DELETE FROM image_names WHERE EXISTS (SELECT 1 FROM images i WHERE "
                      "i.id = image_names.image_id AND i.name = image_names.name AND "
                      "i.tag = image_names.tag)",
                      err);
    if (!del)
        return -1;
    return step_done(e, del, "renaming image", err);
}

/* In a transaction: untag every other image called name:tag (API.md §4.2). */
static int untag_others(kl_engine *e, const char *name, const char *tag, const char *keep,
                        kl_error *err)
{
    if (!name[0])
        return 0;
    _cleanup_stmt_ sqlite3_stmt *st = store_prepare(
        e->store, "UPDATE images SET name = '', tag = '' WHERE name = ? AND tag = ? AND id <> ?",
        err);
    if (!st)
        return -1;
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, tag, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, keep, -1, SQLITE_STATIC);
    if (step_done(e, st, "untagging image", err) < 0)
        return -1;
    /* as another name of any image (keep's too: it is about to be its row's name) */
    _cleanup_stmt_ sqlite3_stmt *del =
        store_prepare(e->store, "DELETE FROM image_names WHERE name = ? AND tag = ?", err);
    if (!del)
        return -1;
    sqlite3_bind_text(del, 1, name, -1, SQLITE_STATIC);
    sqlite3_bind_text(del, 2, tag, -1, SQLITE_STATIC);
    if (step_done(e, del, "untagging image", err) < 0)
        return -1;
    /* an image whose row name was taken gets its oldest other name as its row name */
    return promote_names(e, err);
}

static json_t *array_or_empty(const json_t *a)
{
    return json_is_array(a) ? json_deep_copy(a) : json_array();
}

/* The doc column of a new image: everything but the columns. */
static json_t *record_doc(const images_record *r)
{
    json_t *d = json_object();
    json_object_set_new(d, "cmd", array_or_empty(r->cmd));
    json_object_set_new(d, "env", array_or_empty(r->env));
    json_object_set_new(d, "user", json_string(r->user ? r->user : "root"));
    json_object_set_new(d, "instructions", array_or_empty(r->instructions));
    json_object_set_new(d, "entrypoint", array_or_empty(r->entrypoint));
    json_object_set_new(d, "labels",
                        json_is_object(r->labels) ? json_deep_copy(r->labels) : json_object());
    json_object_set_new(d, "exposed_ports", array_or_empty(r->exposed_ports));
    json_object_set_new(d, "workdir", json_string(r->workdir ? r->workdir : "/"));
    if (r->stop_signal)
        json_object_set_new(d, "stop_signal", json_string(r->stop_signal));
    if (json_is_object(r->oci))
        json_object_set_new(d, "oci", json_deep_copy(r->oci));
    return d;
}

/* Under the engine lock: an image that `r` (no new layers) would repeat exactly: the same
 * layer stack, parent and doc, and a name:tag that does not conflict (the same, or one of the
 * two untagged). Its id (xmalloc'ed) and its name/tag, or NULL. */
static char *find_same_locked(kl_engine *e, const images_record *r, const char *name,
                              const char *tag, bool *needs_tag, kl_error *err)
{
    *needs_tag = false;
    if (r->n_new > 0 || r->n_layers < 1)
        return NULL;
    _cleanup_json_ json_t *want = record_doc(r);
    _cleanup_strv_ char **cands = NULL;
    {
        _cleanup_stmt_ sqlite3_stmt *st = store_prepare(
            e->store,
            "SELECT i.id FROM images i JOIN image_layers il ON il.image_id = i.id "
            "WHERE il.position = ?1 AND il.layer_id = ?2 AND (i.parent_id IS ?3) "
            "AND (SELECT count(*) FROM image_layers x WHERE x.image_id = i.id) = ?1 + 1 "
            "ORDER BY i.created DESC, i.id",
            err);
        if (!st)
            return NULL;
        sqlite3_bind_int64(st, 1, (sqlite3_int64)(r->n_layers - 1));
        sqlite3_bind_text(st, 2, r->layers[r->n_layers - 1], -1, SQLITE_STATIC);
        if (r->parent_id)
            sqlite3_bind_text(st, 3, r->parent_id, -1, SQLITE_STATIC);
        else
            sqlite3_bind_null(st, 3);
        int rc;
        while ((rc = sqlite3_step(st)) == SQLITE_ROW)
            strv_push(&cands, col(st, 0));
        if (rc != SQLITE_DONE) {
            store_fail(e->store, "looking for an identical image", err);
            return NULL;
        }
    }
    for (char **c = cands; c && *c; c++) {
        _cleanup_stmt_ sqlite3_stmt *st = store_prepare(
            e->store,
            "SELECT i.name, i.tag, i.doc, il.position, il.layer_id FROM images i "
            "JOIN image_layers il ON il.image_id = i.id WHERE i.id = ? ORDER BY il.position",
            err);
        if (!st)
            return NULL;
        sqlite3_bind_text(st, 1, *c, -1, SQLITE_STATIC);
        bool same = true;
        size_t n = 0;
        _cleanup_free_ char *cname = NULL, *ctag = NULL;
        while (same && sqlite3_step(st) == SQLITE_ROW) {
            if (n == 0) {
                cname = xstrdup(col(st, 0));
                ctag = xstrdup(col(st, 1));
                _cleanup_json_ json_t *doc = json_loads(col(st, 2), 0, NULL);
                same = doc && json_equal(doc, want);
            }
            same = same && n < r->n_layers && sqlite3_column_int64(st, 3) == (sqlite3_int64)n &&
                   strcmp(col(st, 4), r->layers[n]) == 0;
            n++;
        }
        if (!same || n != r->n_layers)
            continue;
        bool cand_tagged = cname && cname[0];
        if (name[0] && cand_tagged && (strcmp(cname, name) != 0 || strcmp(ctag, tag) != 0))
            continue; /* one name:tag per image: the new name gets an image of its own */
        *needs_tag = name[0] && !cand_tagged;
        return xstrdup(*c);
    }
    return NULL;
}

char *images_add_or_reuse(kl_engine *e, const images_record *r, bool *reused, kl_error *err)
{
    *reused = false;
    const char *name = r->name ? r->name : "";
    const char *tag = name[0] ? (r->tag && r->tag[0] ? r->tag : IMAGEREF_DEFAULT_TAG) : "";
    engine_lock(e);
    bool needs_tag = false;
    kl_error ferr = KL_ERROR_INIT;
    _cleanup_free_ char *same = NULL;
    store_lock(e->store);
    same = find_same_locked(e, r, name, tag, &needs_tag, &ferr);
    store_unlock(e->store);
    if (!same && ferr.code)
        log_warn("image build: %s", ferr.msg); /* not fatal: a new image is stored */
    char *out = NULL;
    if (same && needs_tag) {
        _cleanup_free_ char *nametag = xasprintf("%s:%s", name, tag);
        out = images_tag(e, same, nametag, err);
    } else if (same) {
        out = xstrdup(same);
    }
    engine_unlock(e);
    if (out) {
        *reused = true;
        return out;
    }
    if (same) /* the tag failed: err is set */
        return NULL;
    return images_add(e, r, err);
}

static int add_rows(kl_engine *e, const images_record *r, const char *id, const char *name,
                    const char *tag, kl_error *err)
{
    char created[32];
    kl_time_now_iso(created);
    if (untag_others(e, name, tag, id, err) < 0)
        return -1;
    {
        json_t *d = record_doc(r);
        _cleanup_free_ char *doc = jx_dump(d);
        json_decref(d);
        _cleanup_stmt_ sqlite3_stmt *st =
            store_prepare(e->store,
                          "INSERT INTO images (id, name, tag, created, parent_id, doc) "
                          "VALUES (?, ?, ?, ?, ?, ?)",
                          err);
        if (!st)
            return -1;
        sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, tag, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 4, created, -1, SQLITE_STATIC);
        if (r->parent_id)
            sqlite3_bind_text(st, 5, r->parent_id, -1, SQLITE_STATIC);
        else
            sqlite3_bind_null(st, 5);
        sqlite3_bind_text(st, 6, doc, -1, SQLITE_STATIC);
        if (step_done(e, st, "storing image", err) < 0)
            return -1;
    }
    for (size_t i = r->n_layers - r->n_new; i < r->n_layers; i++) {
        _cleanup_stmt_ sqlite3_stmt *st =
            store_prepare(e->store,
                          "INSERT INTO layers (id, snapshot, parent_id, external_path, created) "
                          "VALUES (?, ?, ?, ?, ?)",
                          err);
        if (!st)
            return -1;
        sqlite3_bind_text(st, 1, r->layers[i], -1, SQLITE_STATIC);
        const char *snap = r->snapshots ? r->snapshots[i] : NULL;
        if (snap)
            sqlite3_bind_text(st, 2, snap, -1, SQLITE_STATIC);
        else
            sqlite3_bind_null(st, 2);
        if (i > 0)
            sqlite3_bind_text(st, 3, r->layers[i - 1], -1, SQLITE_STATIC);
        else
            sqlite3_bind_null(st, 3);
        if (i == 0 && r->external)
            sqlite3_bind_text(st, 4, r->external, -1, SQLITE_STATIC);
        else
            sqlite3_bind_null(st, 4);
        sqlite3_bind_text(st, 5, created, -1, SQLITE_STATIC);
        if (step_done(e, st, "storing layer", err) < 0)
            return -1;
    }
    for (size_t i = 0; i < r->n_layers; i++) {
        _cleanup_stmt_ sqlite3_stmt *st = store_prepare(
            e->store, "INSERT INTO image_layers (image_id, position, layer_id) VALUES (?, ?, ?)",
            err);
        if (!st)
            return -1;
        sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, (sqlite3_int64)i);
        sqlite3_bind_text(st, 3, r->layers[i], -1, SQLITE_STATIC);
        if (step_done(e, st, "storing image layers", err) < 0)
            return -1;
    }
    return 0;
}

char *images_add(kl_engine *e, const images_record *r, kl_error *err)
{
    char idbuf[KL_ID_LEN + 1];
    const char *id = r->id;
    if (!id) {
        kl_id_new(idbuf);
        id = idbuf;
    }
    if (!kl_id_is_valid(id)) {
        kl_error_set(err, EINVAL, "invalid image id '%s'", id);
        return NULL;
    }
    if (r->n_layers < 1 || r->n_new > r->n_layers || !r->layers) {
        kl_error_set(err, EINVAL, "an image needs at least one layer");
        return NULL;
    }
    const char *name = r->name ? r->name : "";
    const char *tag = name[0] ? (r->tag && r->tag[0] ? r->tag : IMAGEREF_DEFAULT_TAG) : "";
    if (name[0] && (!imageref_repository_is_valid(name) || !imageref_name_is_valid(tag))) {
        kl_error_set(err, EINVAL, "invalid image name '%s:%s'", name, tag);
        return NULL;
    }
    engine_lock(e);
    int rc = store_begin(e->store, err);
    if (rc == 0) {
        rc = add_rows(e, r, id, name, tag, err);
        if (rc < 0)
            store_rollback(e->store);
        else
            rc = store_commit(e->store, err);
    }
    engine_unlock(e);
    if (rc < 0) {
        kl_error_prefix(err, "storing image %s", id);
        return NULL;
    }
    return xstrdup(id);
}

char *images_tag(kl_engine *e, const char *ident, const char *nametag, kl_error *err)
{
    _cleanup_free_ char *name = NULL, *tag = NULL, *full = NULL;
    _cleanup_free_ char *holder = NULL; /* the image that had the name:tag, for its untag */
    _cleanup_json_ json_t *before = NULL;
    engine_lock(e);
    kl_error rerr = KL_ERROR_INIT;
    char *id = resolve_locked(e, ident, &rerr);
    int rc = -1;
    if (!id)
        kl_error_set(err, ENOENT, "image not found");
    else if (imageref_parse_nametag(nametag, &name, &tag, err) == 0 &&
             store_begin(e->store, err) == 0) {
        kl_error ignored = KL_ERROR_INIT;
        before = get_locked(e, id, &ignored);
        full = *tag ? xasprintf("%s:%s", name, tag) : xstrdup(name);
        holder = *name ? resolve_locked(e, full, &ignored) : NULL;
        rc = untag_others(e, name, tag, id, err);
        if (rc == 0) {
            _cleanup_stmt_ sqlite3_stmt *st =
                store_prepare(e->store, "UPDATE images SET name = ?, tag = ? WHERE id = ?", err);
            rc = -1;
            if (st) {
                sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
                sqlite3_bind_text(st, 2, tag, -1, SQLITE_STATIC);
                sqlite3_bind_text(st, 3, id, -1, SQLITE_STATIC);
                rc = step_done(e, st, "tagging image", err);
            }
        }
        if (rc == 0 && !name[0]) { /* untagged: no name at all */
            _cleanup_stmt_ sqlite3_stmt *st =
                store_prepare(e->store, "DELETE FROM image_names WHERE image_id = ?", err);
            rc = -1;
            if (st) {
                sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
                rc = step_done(e, st, "untagging image", err);
            }
        }
        if (rc < 0)
            store_rollback(e->store);
        else
            rc = store_commit(e->store, err);
    }
    /* the events: the image that had the name:tag loses it; this one gets it (or, for "",
     * loses its own) */
    _cleanup_free_ char *old = before ? event_name(before) : NULL;
    if (rc == 0 && holder && strcmp(holder, id) != 0)
        images_event(e, holder, "untag", full);
    if (rc == 0 && *full && old && *old && strcmp(old, full) != 0)
        image_event(e, before, "untag", old); /* one name per image: its old one goes */
    if (rc == 0 && *full)
        images_event(e, id, "tag", full);
    else if (rc == 0 && old && *old)
        image_event(e, before, "untag", old);
    engine_unlock(e);
    if (rc < 0) {
        free(id);
        return NULL;
    }
    return id;
}

/* Under the engine lock, in a transaction: the row name of image `id` ("" when none). */
static char *row_nametag_locked(kl_engine *e, const char *id, kl_error *err)
{
    _cleanup_stmt_ sqlite3_stmt *st =
        store_prepare(e->store, "SELECT name, tag FROM images WHERE id = ?", err);
    if (!st)
        return NULL;
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    if (sqlite3_step(st) != SQLITE_ROW)
        return store_fail(e->store, "reading image", err), NULL;
    return col(st, 0)[0] ? xasprintf("%s:%s", col(st, 0), col(st, 1)) : xstrdup("");
}

/* In a transaction: give image `id` the name:tag name:tag besides the ones it has (as its row
 * name when it has none); nothing changes when it has it already. */
static int add_name_locked(kl_engine *e, const char *id, const char *name, const char *tag,
                           kl_error *err)
{
    _cleanup_free_ char *full = xasprintf("%s:%s", name, tag);
    _cleanup_free_ char *row = row_nametag_locked(e, id, err);
    if (!row)
        return -1;
    /* a name it has already: nothing changes (not even the order) */
    if (!strcmp(row, full))
        return 0;
    _cleanup_stmt_ sqlite3_stmt *q = store_prepare(
        e->store, "SELECT 1 FROM image_names WHERE name = ? AND tag = ? AND image_id = ?", err);
    if (!q)
        return -1;
    sqlite3_bind_text(q, 1, name, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 2, tag, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 3, id, -1, SQLITE_STATIC);
    int sr = sqlite3_step(q);
    if (sr == SQLITE_ROW)
        return 0;
    if (sr != SQLITE_DONE)
        return store_fail(e->store, "reading image", err);
    if (untag_others(e, name, tag, id, err) < 0)
        return -1;
    _cleanup_stmt_ sqlite3_stmt *st =
        store_prepare(e->store,
                      row[0] ? "INSERT INTO image_names (name, tag, image_id) VALUES (?, ?, ?)"
                             : "UPDATE images SET name = ?, tag = ? WHERE id = ?",
                      err);
    if (!st)
        return -1;
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, tag, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, id, -1, SQLITE_STATIC);
    return step_done(e, st, "tagging image", err);
}

char *images_name_add(kl_engine *e, const char *ident, const char *nametag, kl_error *err)
{
    _cleanup_free_ char *name = NULL, *tag = NULL;
    if (imageref_parse_nametag(nametag, &name, &tag, err) < 0)
        return NULL;
    if (!name[0])
        return kl_error_set(err, EINVAL, "a name is required"), NULL;
    engine_lock(e);
    kl_error rerr = KL_ERROR_INIT;
    char *id = resolve_locked(e, ident, &rerr);
    _cleanup_free_ char *full = xasprintf("%s:%s", name, tag);
    _cleanup_free_ char *holder = NULL; /* the image that had the name:tag, for its untag */
    int rc = -1;
    if (!id) {
        kl_error_set(err, ENOENT, "image not found");
    } else if (store_begin(e->store, err) == 0) {
        kl_error ignored = KL_ERROR_INIT;
        holder = resolve_locked(e, full, &ignored);
        rc = add_name_locked(e, id, name, tag, err);
        if (rc < 0)
            store_rollback(e->store);
        else
            rc = store_commit(e->store, err);
    }
    if (rc == 0 && holder && strcmp(holder, id) != 0)
        images_event(e, holder, "untag", full);
    if (rc == 0)
        images_event(e, id, "tag", full);
    engine_unlock(e);
    if (rc < 0) {
        free(id);
        return NULL;
    }
    return id;
}

int images_name_remove(kl_engine *e, const char *nametag, char **id_out, kl_error *err)
{
    *id_out = NULL;
    _cleanup_free_ char *name = NULL, *tag = NULL;
    if (imageref_parse_nametag(nametag, &name, &tag, err) < 0)
        return -1;
    if (!name[0])
        return kl_error_set(err, EINVAL, "a name is required");
    engine_lock(e);
    int rc = store_begin(e->store, err);
    _cleanup_free_ char *id = NULL;
    bool only = false;
    if (rc == 0) {
        /* the image and whether this is its row name, and how many others it has */
        _cleanup_stmt_ sqlite3_stmt *st = store_prepare(
            e->store,
            "SELECT i.id, 1, (SELECT count(*) FROM image_names n WHERE n.image_id = i.id) "
            "FROM images i WHERE i.name = ?1 AND i.tag = ?2 "
            "UNION ALL SELECT n.image_id, 0, 1 FROM image_names n WHERE n.name = ?1 AND n.tag = ?2",
            err);
        rc = -1;
        if (st) {
            sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
            sqlite3_bind_text(st, 2, tag, -1, SQLITE_STATIC);
            if (sqlite3_step(st) == SQLITE_ROW) {
                id = xstrdup(col(st, 0));
                bool is_row = sqlite3_column_int(st, 1) != 0;
                only = sqlite3_column_int(st, 2) == 0;
                rc = 0;
                if (!only) {
                    _cleanup_stmt_ sqlite3_stmt *up = store_prepare(
                        e->store,
                        is_row ? "UPDATE images SET name = '', tag = '' WHERE id = ?3 AND "
                                 "name = ?1 AND tag = ?2"
                               : "DELETE FROM image_names WHERE name = ?1 AND tag = ?2 AND "
                                 "image_id = ?3",
                        err);
                    rc = -1;
                    if (up) {
                        sqlite3_bind_text(up, 1, name, -1, SQLITE_STATIC);
                        sqlite3_bind_text(up, 2, tag, -1, SQLITE_STATIC);
                        sqlite3_bind_text(up, 3, id, -1, SQLITE_STATIC);
                        rc = step_done(e, up, "untagging image", err);
                    }
                    if (rc == 0)
                        rc = promote_names(e, err);
                }
            } else {
                rc = kl_error_set(err, ENOENT, "no such image '%s:%s'", name, tag);
            }
        }
        if (rc < 0)
            store_rollback(e->store);
        else
            rc = store_commit(e->store, err);
    }
    if (rc == 0 && !only) {
        _cleanup_free_ char *full = xasprintf("%s:%s", name, tag);
        images_event(e, id, "untag", full);
    }
    engine_unlock(e);
    if (rc < 0)
        return -1;
    *id_out = id;
    id = NULL;
    return only ? 1 : 0;
}

/* ---- removing --------------------------------------------------------------------------- */

static char *join_lines(char **v)
{
    _cleanup_buf_ kl_buf b = KL_BUF_INIT;
    for (size_t i = 0; v && v[i]; i++)
        kl_buf_printf(&b, "%s%s", i ? "\n" : "", v[i]);
    return kl_buf_steal(&b);
}

/* Under the engine lock: refuse if used, else delete the image row and the rows of the layers
 * nobody else uses (top down: each layer is the parent of the one above it). Pushes those
 * layer ids onto *dead for deletion of their directories after the lock. */
static int remove_locked(kl_engine *e, const char *id, char ***dead, char ***dead_blobs,
                         kl_error *err)
{
    _cleanup_strv_ char **users = NULL;
    if (query_strv(e, "SELECT id FROM containers WHERE image_id = ? ORDER BY created, id", id,
                   &users, err) < 0)
        return -1;
    if (users) {
        _cleanup_free_ char *l = join_lines(users);
        return kl_error_set(
            err, EBUSY, "could not remove image %s since it is used for containers:\n%s", id, l);
    }
    if (query_strv(e, "SELECT id FROM images WHERE parent_id = ? ORDER BY created, id", id, &users,
                   err) < 0)
        return -1;
    if (users) {
        _cleanup_free_ char *l = join_lines(users);
        return kl_error_set(err, EBUSY,
                            "could not remove image %s since it is used for images:\n%s", id, l);
    }
    /* The image's own layers: those no other image or container uses. Stacks of built
     * images share a bottom prefix, but layers stored by diff_id (pulled ones) may be shared
     * anywhere in a stack: every layer is looked at. A layer is removed before the one
     * below it (its parent, if it has one). */
    _cleanup_strv_ char **stack = NULL, **layers = NULL;
    if (query_strv(e, "SELECT layer_id FROM image_layers WHERE image_id = ? ORDER BY position DESC",
                   id, &stack, err) < 0)
        return -1;
    for (size_t i = 0; stack && stack[i]; i++) {
        _cleanup_strv_ char **other = NULL;
        if (query_strv(e,
                       "SELECT 'i' || image_id FROM image_layers WHERE layer_id = ?1 "
                       "UNION ALL SELECT 'c' || id FROM containers WHERE layer_id = ?1",
                       stack[i], &other, err) < 0)
            return -1;
        _cleanup_free_ char *self = xasprintf("i%s", id);
        size_t users_n = 0;
        for (size_t j = 0; other && other[j]; j++)
            if (strcmp(other[j], self) != 0)
                users_n++;
        if (users_n)
            continue;
        strv_push(&layers, stack[i]);
    }
    _cleanup_strv_ char **blobs = NULL;
    if (query_strv(e, "SELECT digest FROM image_blobs WHERE image_id = ? ORDER BY digest", id,
                   &blobs, err) < 0)
        return -1;
    kl_error ignored = KL_ERROR_INIT;
    _cleanup_json_ json_t *img = get_locked(e, id, &ignored); /* for its events */
    engine_space_for_removal(e);
    if (store_begin(e->store, err) < 0)
        return -1;
    int rc;
    {
        _cleanup_stmt_ sqlite3_stmt *st =
            store_prepare(e->store, "DELETE FROM images WHERE id = ?", err);
        rc = st ? 0 : -1;
        if (st) {
            sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
            rc = step_done(e, st, "removing image", err);
        }
    }
    for (size_t i = 0; rc == 0 && layers && layers[i]; i++) {
        _cleanup_stmt_ sqlite3_stmt *st =
            store_prepare(e->store, "DELETE FROM layers WHERE id = ?", err);
        rc = -1;
        if (st) {
            sqlite3_bind_text(st, 1, layers[i], -1, SQLITE_STATIC);
            rc = step_done(e, st, "removing layer", err);
        }
    }
    /* the image's blobs that no other image references any more (its image_blobs rows
     * went with the image) */
    _cleanup_strv_ char **gone = NULL;
    for (size_t i = 0; rc == 0 && blobs && blobs[i]; i++) {
        _cleanup_stmt_ sqlite3_stmt *st =
            store_prepare(e->store,
                          "DELETE FROM blobs WHERE digest = ?1 AND NOT EXISTS "
                          "(SELECT 1 FROM image_blobs WHERE digest = ?1)",
                          err);
        rc = -1;
        if (st) {
            sqlite3_bind_text(st, 1, blobs[i], -1, SQLITE_STATIC);
            rc = step_done(e, st, "removing blob", err);
            if (rc == 0 && sqlite3_changes(store_db(e->store)) > 0)
                strv_push(&gone, blobs[i]);
        }
    }
    if (rc < 0) {
        store_rollback(e->store);
        return -1;
    }
    if (store_commit(e->store, err) < 0)
        return -1;
    if (img) { /* Docker's order: its names go, then the image */
        _cleanup_free_ char *name = event_name(img);
        size_t i;
        json_t *n;
        json_array_foreach(json_object_get(img, "names"), i, n)
            image_event(e, img, "untag", json_string_value(n));
        image_event(e, img, "delete", name);
    }
    for (size_t i = 0; layers && layers[i]; i++)
        strv_push(dead, layers[i]);
    for (size_t i = 0; gone && gone[i]; i++)
        strv_push(dead_blobs, gone[i]);
    return 0;
}

/* Delete layer directories and blob files whose rows are gone. Returns 0, or -1 with the
 * first failure. */
static int delete_layers(kl_engine *e, char **dead, char **dead_blobs, kl_error *err)
{
    _cleanup_free_ char *sroot = images_storage_root(e);
    int r = 0;
    for (size_t i = 0; dead_blobs && dead_blobs[i]; i++) {
        /* Under the lock, and only while no row names it: a pull may have stored the same
         * blob again since its row went (it moves the file in under the lock). */
        kl_error berr = KL_ERROR_INIT;
        _cleanup_strv_ char **again = NULL;
        engine_lock(e);
        int b = query_strv(e, "SELECT digest FROM blobs WHERE digest = ?", dead_blobs[i], &again,
                           &berr);
        if (b == 0 && !again)
            b = host_blob_remove(sroot, dead_blobs[i], &berr);
        engine_unlock(e);
        if (b < 0) {
            log_warn("removing blob %s: %s", dead_blobs[i], berr.msg);
            if (r == 0)
                r = kl_error_set(err, berr.code, "%s", berr.msg);
        }
    }
    for (size_t i = 0; dead && dead[i]; i++) {
        kl_error lerr = KL_ERROR_INIT;
        if (host_layer_remove(sroot, dead[i], &lerr) < 0 && lerr.code != ENOENT) {
            log_warn("removing layer %s: %s", dead[i], lerr.msg);
            if (r == 0)
                r = kl_error_set(err, lerr.code, "%s", lerr.msg);
        }
    }
    return r;
}

int images_remove(kl_engine *e, const char *ident, kl_error *err)
{
    _cleanup_strv_ char **dead = NULL, **dead_blobs = NULL;
    engine_lock(e);
    kl_error rerr = KL_ERROR_INIT;
    _cleanup_free_ char *id = resolve_locked(e, ident, &rerr);
    int r = -1;
    if (!id) {
        if (rerr.code == EINVAL && strstr(rerr.msg, "ambiguous"))
            kl_error_set(err, EINVAL, "%s", rerr.msg);
        else if (rerr.code == EIO || rerr.code == EBUSY)
            kl_error_set(err, rerr.code, "%s", rerr.msg);
        else
            kl_error_set(err, ENOENT, "Error: No such image: %s\n", ident);
    } else {
        r = remove_locked(e, id, &dead, &dead_blobs, err);
    }
    engine_unlock(e);
    if (r < 0)
        return -1;
    engine_crash_point("image-remove-committed");
    kl_error derr = KL_ERROR_INIT;
    int d = delete_layers(e, dead, dead_blobs, &derr);
    engine_space_restore(e);
    if (d < 0)
        return kl_error_set(err, EIO, "deleted image but could not remove image dataset: %s",
                            derr.msg);
    return 0;
}

json_t *images_prune(kl_engine *e, bool all, kl_error *err)
{
    return images_prune_matching(e, all, NULL, NULL, NULL, err);
}

/* Whether image `id` passes the filters of images_prune_matching. Under the engine lock. */
static bool prune_wanted(kl_engine *e, const char *id, const json_t *label, const json_t *label_not,
                         const char *until)
{
    if (!label && !label_not && !until)
        return true;
    kl_error err = KL_ERROR_INIT;
    _cleanup_json_ json_t *img = get_locked(e, id, &err);
    if (!img)
        return false;
    if (until && strcmp(jx_str(img, "created", ""), until) >= 0)
        return false;
    return kl_labels_match_filters(json_object_get(img, "labels"), label, label_not);
}

json_t *images_prune_matching(kl_engine *e, bool all, const json_t *label, const json_t *label_not,
                              const char *until, kl_error *err)
{
    _cleanup_json_ json_t *removed = json_array();
    _cleanup_strv_ char **dead = NULL, **dead_blobs = NULL, **failed_ids = NULL;
    _cleanup_buf_ kl_buf failed = KL_BUF_INIT;
    int r = 0;
    engine_lock(e);
    /* Rounds until nothing more can go (removing a child frees its parent); an image that
     * could not be removed is reported and not tried again. */
    for (bool progress = true; progress;) {
        progress = false;
        _cleanup_strv_ char **ids = NULL;
        r = query_strv(e,
                       all ? "SELECT id FROM images i WHERE NOT EXISTS (SELECT 1 FROM containers "
                             "c WHERE c.image_id = i.id) AND NOT EXISTS (SELECT 1 FROM images ch "
                             "WHERE ch.parent_id = i.id) ORDER BY created DESC, rowid DESC"
                           : "SELECT id FROM images i WHERE NOT EXISTS (SELECT 1 FROM containers "
                             "c WHERE c.image_id = i.id) AND NOT EXISTS (SELECT 1 FROM images ch "
                             "WHERE ch.parent_id = i.id) AND name = '' AND tag = '' "
                             "ORDER BY created DESC, rowid DESC",
                       NULL, &ids, err);
        if (r < 0)
            break;
        for (size_t i = 0; ids && ids[i]; i++) {
            bool tried = false;
            for (size_t j = 0; failed_ids && failed_ids[j] && !tried; j++)
                tried = strcmp(failed_ids[j], ids[i]) == 0;
            if (tried || !prune_wanted(e, ids[i], label, label_not, until))
                continue;
            kl_error one = KL_ERROR_INIT;
            if (remove_locked(e, ids[i], &dead, &dead_blobs, &one) < 0) {
                log_warn("pruning images: %s", one.msg);
                kl_buf_printf(&failed, "%s%s", failed.len ? "; " : "", one.msg);
                strv_push(&failed_ids, ids[i]);
                continue;
            }
            json_array_append_new(removed, json_string(ids[i]));
            progress = true;
        }
    }
    engine_unlock(e);
    kl_error derr = KL_ERROR_INIT;
    if (delete_layers(e, dead, dead_blobs, &derr) < 0) {
        log_warn("pruning images: %s", derr.msg);
        kl_buf_printf(&failed, "%s%s", failed.len ? "; " : "", derr.msg);
    }
    engine_space_restore(e);
    if (r < 0) {
        kl_error_prefix(err, "pruning images");
        return NULL;
    }
    /* Never a silent partial success (issue 12): name each failure and what was removed. */
    if (failed.len) {
        _cleanup_free_ char *done = jx_dump(removed);
        kl_error_set(err, EIO, "pruning images: %s (removed: %s)", failed.data, done);
        return NULL;
    }
    return steal_pointer(&removed);
}

/* ---- stacks ------------------------------------------------------------------------------ */

void images_stack_clear(images_stack *s)
{
    free(s->image_id);
    free(s->layer_id);
    strv_free(s->dirs);
    strv_free(s->layer_ids);
    *s = (images_stack){0};
}

int images_resolve_stack(kl_engine *e, const char *ref, images_stack *out, kl_error *err)
{
    *out = (images_stack){0};
    imageref r = {0};
    if (imageref_parse(ref, &r, err) < 0)
        return -1;
    engine_lock(e);
    _cleanup_free_ char *id = resolve_locked(e, ref, err);
    _cleanup_strv_ char **ids = NULL;
    char **snaps = NULL; /* may hold NULL entries: freed by hand */
    size_t n = 0;
    int rc = id ? 0 : -1;
    if (id) {
        store_lock(e->store);
        _cleanup_stmt_ sqlite3_stmt *st = store_prepare(
            e->store,
            "SELECT l.id, l.snapshot FROM image_layers il JOIN layers l ON l.id = il.layer_id "
            "WHERE il.image_id = ? ORDER BY il.position",
            err);
        rc = -1;
        if (st) {
            sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
            int s;
            while ((s = sqlite3_step(st)) == SQLITE_ROW) {
                strv_push(&ids, col(st, 0));
                snaps = xrealloc(snaps, (n + 1) * sizeof(*snaps));
                const char *sn = (const char *)sqlite3_column_text(st, 1);
                snaps[n++] = sn ? xstrdup(sn[0] == '@' ? sn + 1 : sn) : NULL;
            }
            rc = s == SQLITE_DONE ? 0 : store_fail(e->store, "reading image layers", err);
        }
        store_unlock(e->store);
    }
    engine_unlock(e);
    size_t len = 0;
    if (rc == 0 && n == 0)
        rc = kl_error_set(err, EIO, "image %s has no layers", id);
    if (rc == 0)
        rc = imageref_stack_prefix((const char *const *)snaps, n, r.snapshot, &len, err);
    if (rc == 0) {
        _cleanup_free_ char *sroot = images_storage_root(e);
        out->image_id = steal_pointer(&id);
        out->layer_id = r.snapshot ? xstrdup(ids[len - 1]) : NULL;
        out->n = len;
        out->dirs = xcalloc(len + 1, sizeof(char *));
        out->layer_ids = xcalloc(len + 1, sizeof(char *));
        for (size_t i = 0; i < len; i++) {
            out->dirs[i] = host_layer_path(sroot, ids[i]);
            out->layer_ids[i] = xstrdup(ids[i]);
        }
    }
    for (size_t i = 0; i < n; i++)
        free(snaps[i]);
    free(snaps);
    imageref_clear(&r);
    return rc;
}

/* ---- start-up ---------------------------------------------------------------------------- */

int images_init(kl_engine *e, kl_error *err)
{
    _cleanup_free_ char *sroot = images_storage_root(e);
    if (host_storage_init(sroot, err) < 0)
        return -1;
    _cleanup_free_ char *probe = host_layer_path(sroot, "x");
    probe[strlen(probe) - 2] = '\0'; /* "<sroot>/layers" */
    _cleanup_strv_ char **orphans = NULL;
    {
        _cleanup_closedir_ DIR *d = opendir(probe);
        if (!d)
            return kl_error_errno(err, errno, "reading %s", probe);
        struct dirent *de;
        while ((de = readdir(d))) {
            if (!kl_id_is_valid(de->d_name))
                continue;
            _cleanup_strv_ char **known = NULL;
            if (query_strv(e, "SELECT id FROM layers WHERE id = ?", de->d_name, &known, err) < 0)
                return -1;
            if (!known)
                strv_push(&orphans, de->d_name);
        }
    }
    for (size_t i = 0; orphans && orphans[i]; i++) {
        kl_error lerr = KL_ERROR_INIT;
        log_notice("removing layer %s that no image uses (left by an interrupted removal)",
                   orphans[i]);
        if (host_layer_remove(sroot, orphans[i], &lerr) < 0)
            log_warn("removing layer %s: %s", orphans[i], lerr.msg);
    }
    /* blob files without a row: left by a pull or a removal that a crash interrupted */
    if (host_blobs_init(sroot, err) < 0)
        return -1;
    _cleanup_strv_ char **blobs = NULL;
    if (host_blob_list(sroot, &blobs, err) < 0)
        return -1;
    for (size_t i = 0; blobs && blobs[i]; i++) {
        _cleanup_strv_ char **known = NULL;
        if (query_strv(e, "SELECT digest FROM blobs WHERE digest = ?", blobs[i], &known, err) < 0)
            return -1;
        if (known)
            continue;
        kl_error berr = KL_ERROR_INIT;
        log_notice("removing blob %s that no image uses (left by an interrupted pull or removal)",
                   blobs[i]);
        if (host_blob_remove(sroot, blobs[i], &berr) < 0)
            log_warn("%s", berr.msg);
    }
    return 0;
}

/* ---- creating base images ---------------------------------------------------------------- */

typedef struct creator {
    kl_engine *e;
    const images_create_opts *o;
    char *sroot;
    const char *etc; /* host /etc */
    uint64_t last_entries;
    int last_percent;
    uint64_t last_bytes;
    bool fetched;
} creator;

static void say(creator *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(creator *c, const char *fmt, ...)
{
    if (!c->o->output)
        return;
    va_list ap;
    va_start(ap, fmt);
    char *s = NULL;
    if (vasprintf(&s, fmt, ap) >= 0) {
        c->o->output(s, c->o->output_ctx);
        free(s);
    }
    va_end(ap);
}

/* say() for the host's messages (host_say_fn). */
static void say_msg(const char *msg, void *ctx)
{
    say(ctx, "%s", msg);
}

static bool is_cancelled(creator *c)
{
    return c->o->cancel && atomic_load(c->o->cancel);
}

static void fetch_progress(const host_fetch_progress *p, void *ctx)
{
    creator *c = ctx;
    double mb = (double)p->bytes / (1024.0 * 1024.0);
    if (p->percent >= 0) {
        if (p->percent / 10 > c->last_percent / 10 || (p->percent == 100 && c->last_percent < 100))
            say(c, "Fetched %.1f MB (%d%%)\n", mb, p->percent);
        c->last_percent = p->percent;
    } else if (p->bytes >= c->last_bytes + 10 * 1024 * 1024) {
        say(c, "Fetched %.1f MB\n", mb);
        c->last_bytes = p->bytes;
    }
    if (p->done && !c->fetched) {
        c->fetched = true;
        say(c, "Successfully fetched base system.\n");
    }
}

static void extract_progress(const host_extract_stats *s, void *ctx)
{
    creator *c = ctx;
    if (s->entries == c->last_entries)
        return;
    c->last_entries = s->entries;
    say(c, "Extracted %llu files...\n", (unsigned long long)s->entries);
}

/* "<sroot>/layers" opened as a directory. */
static int open_layers_parent(creator *c, kl_error *err)
{
    _cleanup_free_ char *p = host_layer_path(c->sroot, "x");
    p[strlen(p) - 2] = '\0';
    int fd = open(p, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return kl_error_errno(err, errno, "opening %s", p);
    return fd;
}

static bool fetch_cancelled(void *ctx)
{
    return is_cancelled(ctx);
}

/* The download and the archive are parsed by the helper kleene-fetch, in its own process
 * (host_fetch_extract_child): kleened never loads libcurl or libarchive, and a crash on a
 * hostile archive ends the helper, not the daemon. */
static int create_fetch(creator *c, const char *layer, kl_error *err)
{
    say(c, "Unpacking contents and creating image...\n");
    _cleanup_close_ int lfd = open_layers_parent(c, err);
    if (lfd < 0)
        return -1;
    host_fetch_child_opts fo = {.fetch_progress = fetch_progress,
                                .extract_progress = extract_progress,
                                .every = 100,
                                .ctx = c,
                                .is_cancelled = fetch_cancelled};
    host_fetch_stage stage;
    kl_error ferr = KL_ERROR_INIT;
    if (host_fetch_extract_child(c->o->url, lfd, layer, &fo, NULL, &stage, &ferr) < 0) {
        if (ferr.code == ECANCELED)
            return kl_error_set(err, ECANCELED, "image creation cancelled");
        if (stage == HOST_FETCH_STAGE_FETCH)
            return kl_error_set(err, ferr.code, "could not fetch file from url: %s", ferr.msg);
        if (stage == HOST_FETCH_STAGE_EXTRACT)
            return kl_error_set(err, ferr.code, "could not extract tar archive: %s", ferr.msg);
        return kl_error_set(err, ferr.code, "could not fetch and extract the archive: %s",
                            ferr.msg);
    }
    say(c, "Successfully extracted binaries, creating image...\n");
    return 0;
}

/* A dataset name as the original's docs write them (`zroot/kleene_basejail`): components of
 * [A-Za-z0-9_.:-], no empty, "." or ".." component. */
static bool is_dataset_name(const char *ds)
{
    if (!*ds || strlen(ds) > 255)
        return false;
    for (const char *p = ds; *p;) {
        size_t n = strcspn(p, "/");
        if (n == 0 || (n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.'))
            return false;
        for (size_t i = 0; i < n; i++)
            if (!(isalnum((unsigned char)p[i]) || strchr("_.:-", p[i])))
                return false;
        p += n;
        if (*p == '/')
            p++;
        if (!*p && p[-1] == '/')
            return false;
    }
    return true;
}

/* A host directory usable as a zfs-copy/zfs-clone source: an absolute path, or a dataset name
 * (`zroot/kleene_basejail`) taken as <zfs_dataset_root>/<name> (docs/config.md); an existing
 * directory, neither inside the kleene root nor containing it. Returns its real path. */
static char *check_dataset(creator *c, kl_error *err)
{
    const char *ds = c->o->dataset;
    char real[PATH_MAX], rroot[PATH_MAX];
    struct stat st;
    _cleanup_free_ char *named = NULL;
    if (ds && ds[0] != '/' && is_dataset_name(ds)) {
        const char *base = c->e->dataset_root && c->e->dataset_root[0] ? c->e->dataset_root : "/";
        named = xasprintf("%s%s%s", base, base[strlen(base) - 1] == '/' ? "" : "/", ds);
        if (stat(named, &st) < 0 || !S_ISDIR(st.st_mode)) {
            kl_error_set(err, EINVAL,
                         "invalid dataset: %s is no directory on this host (dataset '%s' under "
                         "zfs_dataset_root %s)",
                         named, ds, base);
            return NULL;
        }
        ds = named;
    } else if (ds && ds[0] == '/' && (stat(ds, &st) < 0 || !S_ISDIR(st.st_mode)) &&
               strcmp(ds, "/") != 0) {
        kl_error_set(err, EINVAL, "invalid dataset: %s is no directory on this host", ds);
        return NULL;
    }
    if (!ds || ds[0] != '/' || !realpath(ds, real) || stat(real, &st) < 0 || !S_ISDIR(st.st_mode) ||
        !realpath(c->e->root, rroot)) {
        kl_error_set(err, EINVAL, "invalid dataset");
        return NULL;
    }
    size_t lr = strlen(real), lo = strlen(rroot);
    bool inside = strncmp(real, rroot, lo) == 0 && (real[lo] == '/' || real[lo] == '\0');
    bool contains =
        strncmp(rroot, real, lr) == 0 && (rroot[lr] == '/' || lr == 1 || rroot[lr] == '\0');
    if (inside || contains) {
        kl_error_set(err, EINVAL, "invalid dataset");
        return NULL;
    }
    return xstrdup(real);
}

/* The value of KEY= in an os-release file (quotes removed), or NULL. */
static char *os_release_value(const char *path, const char *key)
{
    _cleanup_fclose_ FILE *f = fopen(path, "re");
    if (!f)
        return NULL;
    char line[512];
    size_t kl = strlen(key);
    while (fgets(line, sizeof(line), f)) {
        if (strncmp(line, key, kl) != 0 || line[kl] != '=')
            continue;
        char *v = line + kl + 1;
        v[strcspn(v, "\r\n")] = '\0';
        size_t n = strlen(v);
        if (n >= 2 && (v[0] == '"' || v[0] == '\'') && v[n - 1] == v[0]) {
            v[n - 1] = '\0';
            v++;
        }
        return xstrdup(v);
    }
    return NULL;
}

char *images_distro_tag(const char *os_release_path, kl_error *err)
{
    _cleanup_free_ char *id = os_release_value(os_release_path, "ID");
    _cleanup_free_ char *ver = os_release_value(os_release_path, "VERSION_ID");
    if (!id || !id[0] || !ver || !ver[0]) {
        kl_error_set(err, EINVAL, "could not detect the host's distribution from %s",
                     os_release_path);
        return NULL;
    }
    char *tag = xasprintf("%s-%s", id, ver);
    if (tag[0] >= 'a' && tag[0] <= 'z')
        tag[0] = (char)(tag[0] - 'a' + 'A');
    for (char *p = tag; *p; p++) /* keep it a valid image name */
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '_' || *p == '.' || *p == '-'))
            *p = '_';
    if (!imageref_name_is_valid(tag)) {
        kl_error_set(err, EINVAL, "could not make an image name of '%s'", tag);
        free(tag);
        return NULL;
    }
    return tag;
}

/* debootstrap on PATH, or NULL. */
static char *find_debootstrap(void)
{
    const char *path = getenv("PATH");
    if (!path)
        return NULL;
    _cleanup_free_ char *copy = xstrdup(path);
    char *save = NULL;
    for (char *d = strtok_r(copy, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
        if (d[0] != '/')
            continue;
        char *p = xasprintf("%s/debootstrap", d);
        if (access(p, X_OK) == 0)
            return p;
        free(p);
    }
    return NULL;
}

/* A Debian package name (policy 5.6.1): what may go into debootstrap's --include. */
static bool is_package_name(const char *s)
{
    size_t n = strlen(s);
    if (n < 2 || n > 100 || !((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= '0' && s[0] <= '9')))
        return false;
    return strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789+-.") == n;
}

static int create_fetch_auto(creator *c, const char *layer, kl_error *err)
{
    _cleanup_free_ char *include = NULL;
    for (char *const *p = c->o->include; p && *p; p++) {
        if (!is_package_name(*p))
            return kl_error_set(err, EINVAL, "invalid package name '%.100s' in include", *p);
        char *next = include ? xasprintf("%s,%s", include, *p) : xasprintf("--include=%s", *p);
        free(include);
        include = next;
    }
    _cleanup_free_ char *prog = find_debootstrap();
    if (!prog)
        return kl_error_set(err, ENOENT, "fetch-auto needs debootstrap on this host");
    _cleanup_free_ char *osr = xasprintf("%s/os-release", c->etc);
    _cleanup_free_ char *codename = os_release_value(osr, "VERSION_CODENAME");
    if (!codename || !codename[0] || !imageref_name_is_valid(codename))
        return kl_error_set(err, EINVAL, "could not detect the host's release from %s", osr);
    _cleanup_free_ char *staging = host_layer_path(c->sroot, "x");
    staging[strlen(staging) - 1] = '\0';
    char *tmp = xasprintf("%s.staging-%s-debootstrap", staging, layer);
    free(staging);
    staging = tmp;
    if (mkdir(staging, 0755) < 0)
        return kl_error_errno(err, errno, "creating %s", staging);

    int pfd[2];
    if (pipe2(pfd, O_CLOEXEC) < 0) {
        int saved = errno;
        rmdir(staging);
        return kl_error_errno(err, saved, "pipe");
    }
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, pfd[1], 1);
    posix_spawn_file_actions_adddup2(&fa, pfd[1], 2);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    char *argv[] = {prog,
                    "--variant=minbase",
                    include ? include : codename,
                    include ? codename : staging,
                    include ? staging : NULL,
                    NULL};
    say(c, "Running debootstrap --variant=minbase %s%s%s...\n", include ? include : "",
        include ? " " : "", codename);
    pid_t pid;
    int sr = posix_spawn(&pid, prog, &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(pfd[1]);
    if (sr != 0) {
        close(pfd[0]);
        rmdir(staging);
        return kl_error_errno(err, sr, "starting %s", prog);
    }
    char buf[4096];
    ssize_t n;
    bool killed = false;
    while ((n = KL_RETRY_EINTR(read(pfd[0], buf, sizeof(buf) - 1))) > 0) {
        buf[n] = '\0';
        if (c->o->output)
            c->o->output(buf, c->o->output_ctx);
        if (!killed && is_cancelled(c)) {
            kill(pid, SIGTERM);
            killed = true;
        }
    }
    close(pfd[0]);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    int rc = 0;
    if (is_cancelled(c))
        rc = kl_error_set(err, ECANCELED, "image creation cancelled");
    else if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        rc = kl_error_set(err, EIO, "debootstrap failed (exit status %d)",
                          WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
    else
        rc = host_layer_commit(c->sroot, staging, layer, err);
    if (rc < 0) {
        kl_error terr = KL_ERROR_INIT;
        if (host_tree_remove(staging, &terr) < 0)
            log_error("fetch-auto: removing %s: %s", staging, terr.msg);
    }
    return rc;
}

/* Copy the host file `src` to etc/<name> of the tree at dirfd, through fds: etc must be a real
 * directory of the tree (created if missing), an existing etc/<name> is replaced and never
 * followed. */
static int put_etc_file(int dirfd, const char *name, const char *src, kl_error *err)
{
    _cleanup_close_ int etc =
        KL_RETRY_EINTR(openat(dirfd, "etc", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (etc < 0 && errno == ENOENT) {
        if (mkdirat(dirfd, "etc", 0755) < 0)
            return kl_error_errno(err, errno, "creating /etc in the image");
        etc = KL_RETRY_EINTR(openat(dirfd, "etc", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    }
    if (etc < 0)
        return kl_error_errno(err, errno, "opening /etc of the image");
    _cleanup_close_ int in = KL_RETRY_EINTR(open(src, O_RDONLY | O_CLOEXEC));
    if (in < 0)
        return kl_error_errno(err, errno, "opening %s", src);
    if (unlinkat(etc, name, 0) < 0 && errno != ENOENT)
        return kl_error_errno(err, errno, "replacing /etc/%s in the image", name);
    _cleanup_close_ int out = KL_RETRY_EINTR(
        openat(etc, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644));
    if (out < 0)
        return kl_error_errno(err, errno, "creating /etc/%s in the image", name);
    char buf[8192];
    ssize_t n;
    while ((n = KL_RETRY_EINTR(read(in, buf, sizeof(buf)))) > 0)
        for (ssize_t off = 0; off < n;) {
            ssize_t w = KL_RETRY_EINTR(write(out, buf + off, (size_t)(n - off)));
            if (w < 0)
                return kl_error_errno(err, errno, "writing /etc/%s in the image", name);
            off += w;
        }
    if (n < 0)
        return kl_error_errno(err, errno, "reading %s", src);
    return 0;
}

static int open_dir(const char *path, kl_error *err)
{
    int fd = KL_RETRY_EINTR(open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (fd < 0)
        return kl_error_errno(err, errno, "opening %s", path);
    return fd;
}

/* True if the tree has etc/rc (not following a symlinked etc). */
static bool has_etc_rc(const char *tree)
{
    _cleanup_close_ int fd = open(tree, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return false;
    _cleanup_close_ int etc = openat(fd, "etc", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    struct stat st;
    return etc >= 0 && fstatat(etc, "rc", &st, AT_SYMLINK_NOFOLLOW) == 0;
}

/* The common tail (API.md §8.4): dns, localtime, update. `files` is the tree the files go
 * to (the new layer, or a thin layer on top of a cloned host directory). */
static int create_tail(creator *c, const char *files, kl_error *err)
{
    _cleanup_close_ int fd = open_dir(files, err);
    if (fd < 0)
        return -1;
    if (c->o->dns) {
        _cleanup_free_ char *src = xasprintf("%s/resolv.conf", c->etc);
        if (access(src, R_OK) == 0) {
            if (put_etc_file(fd, "resolv.conf", src, err) < 0)
                return -1;
        } else {
            say(c, "%s not found on host, skipping...\n", src);
        }
    }
    if (c->o->localtime) {
        _cleanup_free_ char *src = xasprintf("%s/localtime", c->etc);
        if (access(src, R_OK) == 0) {
            if (put_etc_file(fd, "localtime", src, err) < 0)
                return -1;
        } else {
            say(c, "%s not found on host, skipping...\n", src);
        }
    }
    if (c->o->update)
        say(c, "update is not supported on this host, skipping...\n");
    return 0;
}

static bool tail_writes(creator *c)
{
    if (c->o->dns)
        return true;
    if (c->o->localtime) {
        _cleanup_free_ char *src = xasprintf("%s/localtime", c->etc);
        return access(src, R_OK) == 0;
    }
    return false;
}

static void drop_layer(creator *c, const char *layer)
{
    kl_error err = KL_ERROR_INIT;
    if (host_layer_remove(c->sroot, layer, &err) < 0 && err.code != ENOENT)
        log_error("image create: removing layer %s: %s", layer, err.msg);
}

/* ---- pulls (method "pull") ---------------------------------------------------------------- */

#define PULL_JSON_MAX (4 * 1024 * 1024)

/* The helper reports the bytes of all the layers it downloads (several at a time) as one
 * sum over their total. */
static void pull_progress(const host_fetch_progress *p, void *ctx)
{
    creator *c = ctx;
    if (c->o->pull_bytes)
        c->o->pull_bytes(p->bytes, p->total, c->o->output_ctx);
    if (c->last_percent < 0) {
        c->last_percent = 0;
        say(c, "Fetching layers (%.1f MB)...\n", (double)p->total / (1024.0 * 1024.0));
    }
    if (p->percent >= 0 && p->percent / 25 > c->last_percent / 25 && p->percent > 0)
        say(c, "Fetched %.1f MB (%d%%)\n", (double)p->bytes / (1024.0 * 1024.0), p->percent);
    if (p->percent >= 0)
        c->last_percent = p->percent;
}

static void pull_layer_progress(const host_fetch_layer *l, void *ctx)
{
    creator *c = ctx;
    if (l->present) { /* before the downloads, as dockerd's "Already exists" lines come */
        if (c->o->pull_layer)
            c->o->pull_layer(l->digest, (long long)l->total, true, c->o->output_ctx);
    } else if (c->o->pull_layer_progress) {
        c->o->pull_layer_progress(l->digest, l->bytes, l->total, l->done, c->o->output_ctx);
    }
}

/* A string array, an absent/null (-> NULL), or invalid. */
static bool strv_ok(const json_t *j)
{
    if (!j || json_is_null(j))
        return true;
    if (!json_is_array(j))
        return false;
    size_t i;
    json_t *v;
    json_array_foreach(j, i, v) if (!json_is_string(v)) return false;
    return true;
}

/* image.json as the helper wrote it (host/linux/pull.h). The helper is untrusted once it
 * has parsed a registry's data: its file is bounded and checked field by field. */
static json_t *read_pull_json(const char *dir, kl_error *err)
{
    _cleanup_free_ char *p = xasprintf("%s/image.json", dir);
    _cleanup_close_ int fd = open(p, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0)
        return kl_error_errno(err, errno, "pull: reading image.json"), NULL;
    if (!S_ISREG(st.st_mode) || st.st_size > PULL_JSON_MAX)
        return kl_error_set(err, EPROTO, "pull: image.json is not a small file"), NULL;
    json_error_t jerr;
    json_t *j = json_loadfd(fd, JSON_REJECT_DUPLICATES, &jerr);
    const json_t *layers = json_object_get(j, "layers");
    bool ok = json_is_object(j) && json_is_array(layers) && json_array_size(layers) >= 1 &&
              json_array_size(layers) <= HOST_OVERLAY_MAX_LOWERS &&
              json_is_string(json_object_get(j, "repository")) &&
              json_is_string(json_object_get(j, "manifest_digest")) &&
              strv_ok(json_object_get(j, "cmd")) && strv_ok(json_object_get(j, "entrypoint")) &&
              strv_ok(json_object_get(j, "env")) && strv_ok(json_object_get(j, "exposed_ports")) &&
              json_is_string(json_object_get(j, "user")) &&
              json_is_object(json_object_get(j, "labels"));
    ok =
        ok && oci_digest_is_valid(jx_str(j, "manifest_digest", "")) &&
        oci_digest_is_valid(jx_str(j, "config_digest", "")) &&
        (!json_object_get(j, "index_digest") || oci_digest_is_valid(jx_str(j, "index_digest", "")));
    size_t i;
    json_t *l;
    if (ok)
        json_array_foreach(layers, i, l)
        {
            const json_t *size = json_object_get(l, "size");
            ok = ok && json_is_object(l) && oci_digest_is_valid(jx_str(l, "digest", "")) &&
                 oci_digest_is_valid(jx_str(l, "diff_id", "")) && json_is_integer(size) &&
                 json_integer_value(size) >= 0 &&
                 json_is_string(json_object_get(l, "media_type")) &&
                 json_is_boolean(json_object_get(l, "present"));
        }
    const char *k;
    json_t *v;
    if (ok)
        json_object_foreach(json_object_get(j, "labels"), k, v) ok = ok && json_is_string(v);
    if (!ok) {
        json_decref(j);
        return kl_error_set(err, EPROTO, "pull: image.json from the helper is invalid"), NULL;
    }
    return j;
}

/* The default name:tag of a pulled image: its repository as Docker shows it and the
 * reference's tag (`127.0.0.1:5000/team/app:v1`, `busybox:latest` for
 * docker.io/library/busybox). A reference by digest only gives no name. */
static void pull_default_name(const json_t *j, char **name, char **tag)
{
    const char *repo = jx_str(j, "repository", "");
    const char *t = jx_str(j, "tag", NULL);
    _cleanup_free_ char *nametag = t ? xasprintf("%s:%s", repo, t) : NULL;
    if (!nametag || imageref_parse_nametag(nametag, name, tag, NULL) < 0) {
        *name = xstrdup("");
        *tag = xstrdup("");
    }
}

static bool strv_has(char **v, size_t n, const char *s)
{
    for (size_t i = 0; i < n; i++)
        if (v[i] && !strcmp(v[i], s))
            return true;
    return false;
}

/* The blobs the store has, for the helper: layer blobs whose diff_id has a layer (with the
 * diff_id: the helper skips those layers) and the others (diff_id NULL: not written again). */
typedef struct pull_have {
    char **blobs;    /* NULL-terminated */
    char **diff_ids; /* n entries, NULL for blobs that are not layers */
    size_t n;
} pull_have;

static void pull_have_clear(pull_have *h)
{
    for (size_t i = 0; i < h->n; i++)
        free(h->diff_ids[i]);
    free(h->diff_ids);
    strv_free(h->blobs);
    *h = (pull_have){0};
}

static int pull_have_locked(kl_engine *e, pull_have *h, kl_error *err)
{
    store_lock(e->store);
    _cleanup_stmt_ sqlite3_stmt *st =
        store_prepare(e->store,
                      "SELECT b.digest, b.diff_id FROM blobs b WHERE b.diff_id IS NULL OR EXISTS "
                      "(SELECT 1 FROM layers l WHERE l.diff_id = b.diff_id) ORDER BY b.digest",
                      err);
    int rc = SQLITE_ERROR;
    if (st) {
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
            strv_push(&h->blobs, col(st, 0));
            h->diff_ids = xrealloc(h->diff_ids, (h->n + 1) * sizeof(char *));
            const char *d = (const char *)sqlite3_column_text(st, 1);
            h->diff_ids[h->n++] = d ? xstrdup(d) : NULL;
        }
        if (rc != SQLITE_DONE)
            store_fail(e->store, "reading the stored blobs", err);
    }
    store_unlock(e->store);
    return rc == SQLITE_DONE ? 0 : -1;
}

/* Registries that answered plain HTTP (loopback or insecure ones: the only ones the helper
 * speaks plain HTTP to): their next pull skips the HTTPS attempt and the version check, a
 * warm pull's largest cost. A hint, not state: the helper falls back when it is stale. */
static pthread_mutex_t plain_http_lock = PTHREAD_MUTEX_INITIALIZER;
static char **plain_http_registries;

static char *registry_domain(const char *reference)
{
    oci_ref r;
    if (oci_ref_parse(reference, &r, NULL) < 0)
        return NULL;
    char *d = xstrdup(r.domain);
    oci_ref_clear(&r);
    return d;
}

static bool plain_http_known(const char *domain)
{
    pthread_mutex_lock(&plain_http_lock);
    bool known = domain && strv_has(plain_http_registries, strv_len(plain_http_registries), domain);
    pthread_mutex_unlock(&plain_http_lock);
    return known;
}

static void plain_http_note(const char *domain, bool plain)
{
    if (!domain)
        return;
    pthread_mutex_lock(&plain_http_lock);
    size_t n = strv_len(plain_http_registries);
    size_t at = n;
    for (size_t i = 0; i < n; i++)
        if (!strcmp(plain_http_registries[i], domain))
            at = i;
    if (plain && at == n && n < 64)
        strv_push(&plain_http_registries, domain);
    else if (!plain && at < n) {
        free(plain_http_registries[at]);
        memmove(&plain_http_registries[at], &plain_http_registries[at + 1],
                (n - at) * sizeof(char *));
    }
    pthread_mutex_unlock(&plain_http_lock);
}

/* What a pull's record step moved into the storage: removed again if it fails. */
typedef struct pull_moves {
    char **layers;
    char **blobs;
} pull_moves;

static void pull_moves_undo(creator *c, pull_moves *m, bool failed)
{
    for (size_t i = 0; failed && m->layers && m->layers[i]; i++)
        drop_layer(c, m->layers[i]);
    for (size_t i = 0; failed && m->blobs && m->blobs[i]; i++) {
        kl_error berr = KL_ERROR_INIT;
        if (host_blob_remove(c->sroot, m->blobs[i], &berr) < 0)
            log_error("image pull: %s", berr.msg);
    }
    strv_free(m->layers);
    strv_free(m->blobs);
    *m = (pull_moves){0};
}

/* In the record transaction: the layer for position i of a pulled image. A stored layer with
 * that diff_id (not already used lower in this stack), else the downloaded layers/i moved
 * into the storage as a new layer named by its diff_id (a random id if that name is taken).
 * ESTALE when the helper skipped a layer the store no longer has. */
static char *pull_layer_locked(creator *c, const char *workdir, size_t i, const json_t *l,
                               char **chosen, const char *created, pull_moves *mv, kl_error *err)
{
    kl_engine *e = c->e;
    const char *diff_id = jx_str(l, "diff_id", "");
    _cleanup_strv_ char **have = NULL;
    if (query_strv(e, "SELECT id FROM layers WHERE diff_id = ? ORDER BY created, id", diff_id,
                   &have, err) < 0)
        return NULL;
    for (size_t k = 0; have && have[k]; k++)
        if (!strv_has(chosen, i, have[k]))
            return xstrdup(have[k]);
    _cleanup_free_ char *src = xasprintf("%s/layers/%zu", workdir, i);
    struct stat st;
    if (lstat(src, &st) < 0 || !S_ISDIR(st.st_mode)) {
        kl_error_set(err, ESTALE, "layer %zu (%s) was removed while the image was pulled", i + 1,
                     diff_id);
        return NULL;
    }
    char id[KL_ID_LEN + 1];
    snprintf(id, sizeof(id), "%.12s", diff_id + 7);
    _cleanup_strv_ char **taken = NULL;
    if (query_strv(e, "SELECT id FROM layers WHERE id = ?", id, &taken, err) < 0)
        return NULL;
    kl_error cerr = KL_ERROR_INIT;
    if (taken || host_layer_commit(c->sroot, src, id, &cerr) < 0) {
        if (!taken && cerr.code != EEXIST && cerr.code != ENOTEMPTY) {
            *err = cerr;
            return NULL;
        }
        kl_id_new(id); /* the name is another layer's (or one being removed) */
        if (host_layer_commit(c->sroot, src, id, err) < 0)
            return NULL;
    }
    strv_push(&mv->layers, id);
    _cleanup_stmt_ sqlite3_stmt *ins =
        store_prepare(e->store, "INSERT INTO layers (id, created, diff_id) VALUES (?, ?, ?)", err);
    if (!ins)
        return NULL;
    sqlite3_bind_text(ins, 1, id, -1, SQLITE_STATIC);
    sqlite3_bind_text(ins, 2, created, -1, SQLITE_STATIC);
    sqlite3_bind_text(ins, 3, diff_id, -1, SQLITE_STATIC);
    if (step_done(e, ins, "storing layer", err) < 0)
        return NULL;
    return xstrdup(id);
}

/* In the record transaction: blob `digest` is stored (a row and its file) and referenced by
 * image `id`. */
static int pull_blob_locked(creator *c, const char *workdir, const char *id, const char *digest,
                            json_int_t size, const char *media_type, const char *diff_id,
                            const char *created, pull_moves *mv, kl_error *err)
{
    kl_engine *e = c->e;
    _cleanup_strv_ char **known = NULL;
    if (query_strv(e, "SELECT digest FROM blobs WHERE digest = ?", digest, &known, err) < 0)
        return -1;
    if (!known) {
        _cleanup_free_ char *src = xasprintf("%s/blobs/%s", workdir, digest + 7);
        struct stat st;
        if (lstat(src, &st) < 0 || !S_ISREG(st.st_mode))
            return kl_error_set(err, ESTALE, "blob %s was removed while the image was pulled",
                                digest);
        if (size < 0)
            size = (json_int_t)st.st_size;
        if ((json_int_t)st.st_size != size)
            return kl_error_set(err, EPROTO,
                                "pull: blob %s from the helper has %lld bytes, not %lld", digest,
                                (long long)st.st_size, (long long)size);
        if (host_blob_commit(c->sroot, src, digest, err) < 0)
            return -1;
        strv_push(&mv->blobs, digest);
        _cleanup_stmt_ sqlite3_stmt *ins = store_prepare(
            e->store,
            "INSERT INTO blobs (digest, size, media_type, diff_id, created) VALUES (?, ?, ?, ?, ?)",
            err);
        if (!ins)
            return -1;
        sqlite3_bind_text(ins, 1, digest, -1, SQLITE_STATIC);
        sqlite3_bind_int64(ins, 2, (sqlite3_int64)size);
        sqlite3_bind_text(ins, 3, media_type ? media_type : "", -1, SQLITE_STATIC);
        if (diff_id)
            sqlite3_bind_text(ins, 4, diff_id, -1, SQLITE_STATIC);
        else
            sqlite3_bind_null(ins, 4);
        sqlite3_bind_text(ins, 5, created, -1, SQLITE_STATIC);
        if (step_done(e, ins, "storing blob", err) < 0)
            return -1;
    }
    _cleanup_stmt_ sqlite3_stmt *ref = store_prepare(
        e->store, "INSERT OR IGNORE INTO image_blobs (image_id, digest) VALUES (?, ?)", err);
    if (!ref)
        return -1;
    sqlite3_bind_text(ref, 1, id, -1, SQLITE_STATIC);
    sqlite3_bind_text(ref, 2, digest, -1, SQLITE_STATIC);
    return step_done(e, ref, "storing image blob", err);
}

/* In the record transaction: the image's id is its config digest's first 12 hex digits (a
 * second pull of the same image finds it: *existing). Another image holding that id (a
 * collision of 48 bits) leaves the pull a random id. */
static int pull_image_id_locked(kl_engine *e, const char *config, char id[KL_ID_LEN + 1],
                                bool *existing, kl_error *err)
{
    snprintf(id, KL_ID_LEN + 1, "%.12s", config + 7);
    *existing = false;
    _cleanup_strv_ char **cfg = NULL;
    if (query_strv(
            e, "SELECT coalesce(json_extract(doc, '$.oci.config'), '') FROM images WHERE id = ?",
            id, &cfg, err) < 0)
        return -1;
    if (cfg && !strcmp(cfg[0], config))
        *existing = true;
    else if (cfg)
        kl_id_new(id);
    return 0;
}

/* Record a pull the helper left in workdir (image.json checked): layers, blobs and the
 * image, in one transaction under the engine lock; what was moved into the storage goes
 * again if it fails. Returns the image id; *existing when the image was there already. */
static char *record_pull(creator *c, const json_t *j, const char *workdir, const char *name,
                         const char *tag, bool *existing, kl_error *err)
{
    kl_engine *e = c->e;
    const json_t *jl = json_object_get(j, "layers");
    size_t n = json_array_size(jl);
    const char *config = jx_str(j, "config_digest", "");
    const char *manifest = jx_str(j, "manifest_digest", "");
    char created[32];
    kl_time_now_iso(created);
    char id[KL_ID_LEN + 1];
    _cleanup_strv_ char **ids = xcalloc(n + 1, sizeof(char *));
    pull_moves mv = {0};

    const char *user = jx_str(j, "user", "");
    /* The image config's WorkingDir is the containers' default working directory, as
     * Docker has it; a relative one is no directory we can start in and is left out. */
    const char *image_wd = jx_str(j, "working_dir", "");
    const json_t *cmd = json_object_get(j, "cmd");
    const json_t *ep = json_object_get(j, "entrypoint");
    /* config.StopSignal; one that names no signal here is left out (Docker would fail the
     * containers' stop with it) */
    _cleanup_free_ char *stop_signal = kl_signal_canonical(jx_str(j, "stop_signal", NULL));
    _cleanup_json_ json_t *oci = json_pack(
        "{s:s, s:s, s:s, s:s}", "config", config, "manifest", manifest, "manifest_media_type",
        jx_str(j, "manifest_media_type", ""), "repository", jx_str(j, "repository", ""));
    if (json_object_get(j, "index_digest"))
        json_object_set_new(oci, "index", json_string(jx_str(j, "index_digest", "")));

    engine_lock(e);
    int rc = store_begin(e->store, err);
    bool begun = rc == 0;
    if (rc == 0)
        rc = pull_image_id_locked(e, config, id, existing, err);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        ids[i] = pull_layer_locked(c, workdir, i, json_array_get(jl, i), ids, created, &mv, err);
        rc = ids[i] ? 0 : -1;
    }
    if (rc == 0 && !*existing) {
        images_record r = {.id = id,
                           .name = name,
                           .tag = tag,
                           .cmd = json_is_array(cmd) ? cmd : NULL,
                           .env = json_object_get(j, "env"),
                           .user = *user ? user : "root",
                           .entrypoint = json_is_array(ep) ? ep : NULL,
                           .labels = json_object_get(j, "labels"),
                           .exposed_ports = json_object_get(j, "exposed_ports"),
                           .workdir = image_wd[0] == '/' ? image_wd : NULL,
                           .stop_signal = stop_signal,
                           .oci = oci,
                           .layers = (const char *const *)ids,
                           .n_layers = n,
                           .n_new = 0};
        rc = add_rows(e, &r, id, name, name[0] ? tag : "", err);
    } else if (rc == 0) {
        /* the same image again: its registry identity is the latest pull's, its name the
         * one asked for (a name:tag belongs to one image: API.md §4.2) */
        _cleanup_free_ char *ocis = jx_dump(oci);
        _cleanup_stmt_ sqlite3_stmt *st = store_prepare(
            e->store, "UPDATE images SET doc = json_set(doc, '$.oci', json(?)) WHERE id = ?", err);
        rc = -1;
        if (st) {
            sqlite3_bind_text(st, 1, ocis, -1, SQLITE_STATIC);
            sqlite3_bind_text(st, 2, id, -1, SQLITE_STATIC);
            rc = step_done(e, st, "updating image", err);
        }
        if (rc == 0 && name[0] && c->o->add_name) {
            rc = add_name_locked(e, id, name, tag, err);
        } else if (rc == 0 && name[0]) {
            rc = untag_others(e, name, tag, id, err);
            _cleanup_stmt_ sqlite3_stmt *tg =
                rc == 0 ? store_prepare(e->store,
                                        "UPDATE images SET name = ?, tag = ? WHERE id = ?", err)
                        : NULL;
            rc = tg ? 0 : -1;
            if (tg) {
                sqlite3_bind_text(tg, 1, name, -1, SQLITE_STATIC);
                sqlite3_bind_text(tg, 2, tag, -1, SQLITE_STATIC);
                sqlite3_bind_text(tg, 3, id, -1, SQLITE_STATIC);
                rc = step_done(e, tg, "tagging image", err);
            }
        }
    }
    if (rc == 0)
        rc = pull_blob_locked(c, workdir, id, manifest, -1, jx_str(j, "manifest_media_type", ""),
                              NULL, created, &mv, err);
    if (rc == 0)
        rc = pull_blob_locked(c, workdir, id, config, -1, jx_str(j, "config_media_type", ""), NULL,
                              created, &mv, err);
    /* the index the reference resolved through, kept for a push back (images_push) */
    if (rc == 0 && json_object_get(j, "index_digest"))
        rc = pull_blob_locked(c, workdir, id, jx_str(j, "index_digest", ""), -1,
                              jx_str(j, "index_media_type", ""), NULL, created, &mv, err);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        const json_t *l = json_array_get(jl, i);
        rc = pull_blob_locked(
            c, workdir, id, jx_str(l, "digest", ""), json_integer_value(json_object_get(l, "size")),
            jx_str(l, "media_type", ""), jx_str(l, "diff_id", ""), created, &mv, err);
    }
    if (rc == 0 && is_cancelled(c))
        rc = kl_error_set(err, ECANCELED, "image creation cancelled");
    if (rc == 0)
        engine_crash_point("image-pull-moved");
    if (rc == 0)
        rc = store_commit(e->store, err);
    else if (begun)
        store_rollback(e->store);
    engine_unlock(e);
    pull_moves_undo(c, &mv, rc < 0);
    if (rc < 0)
        return err->code == ECANCELED || err->code == ESTALE
                   ? NULL
                   : (kl_error_prefix(err, "storing image %s", id), NULL);
    return xstrdup(id);
}

static char *create_pull(creator *c, const char *name, const char *tag, kl_error *err)
{
    const images_create_opts *o = c->o;
    if (!o->image || !*o->image)
        return kl_error_set(err, EINVAL, "the method 'pull' needs an image reference in 'image'"),
               NULL;
    if (registry_credentials_check(o->username, o->password, err) < 0)
        return NULL;
    say(c, "Pulling %s...\n", o->image);
    _cleanup_free_ char *domain = registry_domain(o->image);
    _cleanup_registry_transport_ registry_transport tr;
    if (registry_transport_get(c->e, domain, &tr, err) < 0)
        return kl_error_prefix(err, "could not pull image"), NULL;
    /* A layer the helper skipped because the store had it may be removed before the pull is
     * recorded (ESTALE): then the pull is made once more, downloading it. */
    for (int attempt = 0;; attempt++) {
        pull_have have = {0};
        engine_lock(c->e);
        int hrc = pull_have_locked(c->e, &have, err);
        engine_unlock(c->e);
        if (hrc < 0) {
            pull_have_clear(&have);
            return NULL;
        }
        /* the helper's directory is named like a layer: one left by a crash is an orphan
         * layer directory, which images_init removes */
        char work[KL_ID_LEN + 1];
        kl_id_new(work);
        _cleanup_free_ char *workdir = host_layer_path(c->sroot, work);
        {
            _cleanup_close_ int lfd = open_layers_parent(c, err);
            if (lfd < 0) {
                pull_have_clear(&have);
                return NULL;
            }
            host_fetch_child_opts fo = {.fetch_progress = pull_progress,
                                        .layer_progress = pull_layer_progress,
                                        .ctx = c,
                                        .is_cancelled = fetch_cancelled};
            host_pull_child_opts po = {.platform = o->platform,
                                       .have_blobs = (const char *const *)have.blobs,
                                       .have_diff_ids = (const char *const *)have.diff_ids,
                                       .n_have = have.n,
                                       .plain_http_hint = plain_http_known(domain),
                                       .insecure = tr.insecure,
                                       .ca_files = (const char *const *)tr.ca_files,
                                       .client_cert = tr.client_cert,
                                       .client_key = tr.client_key,
                                       .username = o->username,
                                       .password = o->password};
            kl_error ferr = KL_ERROR_INIT;
            int prc = host_pull_child(o->image, lfd, work, &po, &fo, &ferr);
            pull_have_clear(&have);
            if (prc < 0) {
                if (ferr.code == ECANCELED)
                    return kl_error_set(err, ECANCELED, "image creation cancelled"), NULL;
                {
                    _cleanup_free_ char *hint =
                        ferr.code == EKEYREJECTED ? registry_tls_hint(c->e, domain) : xstrdup("");
                    return kl_error_set(err, ferr.code, "could not pull image: %s%s", ferr.msg,
                                        hint),
                           NULL;
                }
            }
        }
        engine_crash_point("image-pull-fetched");
        char *out = NULL;
        kl_error rerr = KL_ERROR_INIT;
        _cleanup_json_ json_t *j = read_pull_json(workdir, &rerr);
        bool existing = false;
        if (j)
            plain_http_note(domain, json_is_true(json_object_get(j, "plain_http")));
        if (j) {
            _cleanup_free_ char *dname = NULL, *dtag = NULL;
            if (!name || !*name)
                pull_default_name(j, &dname, &dtag);
            out = record_pull(c, j, workdir, dname ? dname : name, dtag ? dtag : tag, &existing,
                              &rerr);
        }
        kl_error terr = KL_ERROR_INIT;
        if (host_tree_remove(workdir, &terr) < 0)
            log_error("image pull: removing %s: %s", workdir, terr.msg);
        if (out) {
            size_t n = json_array_size(json_object_get(j, "layers")), fetched = 0;
            for (size_t i = 0; i < n; i++) {
                const json_t *l = json_array_get(json_object_get(j, "layers"), i);
                bool present = json_is_true(json_object_get(l, "present"));
                fetched += !present;
                if (o->pull_layer)
                    o->pull_layer(jx_str(l, "digest", ""),
                                  (long long)json_integer_value(json_object_get(l, "size")),
                                  present, o->output_ctx);
            }
            say(c, "Pulled %s (%s), %zu layers (%zu downloaded)%s.\n", o->image,
                jx_str(j, "manifest_digest", ""), n, fetched,
                existing ? ", the image was present" : "");
            return out;
        }
        if (rerr.code != ESTALE || attempt > 0) {
            *err = rerr;
            return NULL;
        }
        log_info("image pull %s: %s; pulling again", o->image, rerr.msg);
    }
}

char *images_create(kl_engine *e, const images_create_opts *o, kl_error *err)
{
    _cleanup_free_ char *sroot = images_storage_root(e);
    creator c = {.e = e,
                 .o = o,
                 .sroot = sroot,
                 .etc = o->host_etc ? o->host_etc : "/etc",
                 .last_percent = -1};
    const char *method = o->method ? o->method : "";
    _cleanup_free_ char *name = NULL, *tag = NULL;
    bool autotag = o->autotag && !strcmp(method, "fetch-auto");
    if (autotag) {
        tag = xstrdup(IMAGEREF_DEFAULT_TAG); /* the name: from what is fetched (below) */
    } else if (imageref_parse_nametag(o->tag ? o->tag : "", &name, &tag, err) < 0) {
        return NULL;
    }

    if (!strcmp(method, "pull")) {
        char *pulled = create_pull(&c, name, tag, err);
        /* Docker's pull event names the reference as asked, with its tag */
        const char *asked = o->image ? o->image : "";
        bool bare = !strchr(asked, '@') && !imageref_tag_colon(asked);
        _cleanup_free_ char *ref = xasprintf("%s%s", asked, bare ? ":" IMAGEREF_DEFAULT_TAG : "");
        if (pulled)
            events_emit(e->events, "image", "pull", ref, NULL, "name", ref, "id", pulled, NULL);
        return pulled;
    }

    char id[KL_ID_LEN + 1], thin[KL_ID_LEN + 1];
    kl_id_new(id);
    kl_id_new(thin);
    /* the base layer carries the image's id, so the image's files are <sroot>/layers/<id> */
    _cleanup_free_ char *real = NULL;
    int rc;
    bool host_fetched = false;
    if (!strcmp(method, "fetch") || !strcmp(method, "fetch-auto")) {
        /* The host's own way first (FreeBSD: fetch(1) and tar into the layer's dataset, the
         * base.txz of this release for fetch-auto); 0: none, the engine's (Linux). */
        bool fauto = !strcmp(method, "fetch-auto");
        _cleanup_free_ char *version = NULL;
        int hr = host_layer_fetch_base(sroot, id,
                                       fauto    ? NULL
                                       : o->url ? o->url
                                                : "",
                                       &version, say_msg, &c, err);
        if (hr < 0)
            return NULL;
        host_fetched = hr == 1;
        if (autotag && host_fetched) {
            name = xasprintf("FreeBSD-%s", version ? version : "unknown");
        } else if (autotag) {
            _cleanup_free_ char *osr = xasprintf("%s/os-release", c.etc);
            name = images_distro_tag(osr, err);
            if (!name)
                return NULL;
        }
        rc = host_fetched ? 0 : fauto ? create_fetch_auto(&c, id, err) : create_fetch(&c, id, err);
    } else if (!strcmp(method, "zfs-copy") || !strcmp(method, "zfs-clone")) {
        real = check_dataset(&c, err);
        if (!real)
            return NULL;
        bool clone = !strcmp(method, "zfs-clone");
        if (clone) {
            say(&c, "cloning dataset...\n");
            rc = host_layer_clone_from(sroot, id, real, err);
        } else {
            say(&c, "copying dataset into the new image, this can take a while...\n");
            rc = host_layer_copy_from(sroot, id, real, err);
        }
        if (rc < 0)
            kl_error_prefix(err, clone ? "error cloning dataset" : "error copying image dataset");
    } else {
        kl_error_set(err, EINVAL, "unknown method '%s'", method);
        return NULL;
    }
    if (rc < 0)
        return NULL;

    bool is_clone = real && !strcmp(method, "zfs-clone");
    /* A zfs-clone layer is the host's read-only tree (a link) where layers are overlay diffs:
     * what the tail writes goes into a thin layer above it. Full-tree layers (FreeBSD) are
     * ZFS clones of the host's dataset, writable until sealed: no thin layer. */
    bool has_thin = is_clone && !host_layers_full_tree() && tail_writes(&c);
    _cleanup_free_ char *base = host_layer_path(sroot, id);
    _cleanup_free_ char *thinp = host_layer_path(sroot, thin);
    if (has_thin)
        rc = host_layer_create(sroot, thin, err);
    if (rc == 0)
        rc = create_tail(&c, has_thin ? thinp : base, err);
    if (rc == 0 && is_cancelled(&c))
        rc = kl_error_set(err, ECANCELED, "image creation cancelled");
    if (rc == 0)
        rc = host_layer_seal(sroot, has_thin ? thin : id, err);

    char *out = NULL;
    if (rc == 0) {
        json_t *cmd = has_etc_rc(is_clone ? real : base) ? json_pack("[s,s]", "/bin/sh", "/etc/rc")
                                                         : json_pack("[s]", "/bin/sh");
        const char *layers[] = {id, thin};
        images_record r = {.id = id,
                           .name = name,
                           .tag = tag,
                           .cmd = cmd,
                           .user = "root",
                           .layers = layers,
                           .n_layers = has_thin ? 2 : 1,
                           .n_new = has_thin ? 2 : 1,
                           .external = is_clone ? real : NULL};
        out = images_add(e, &r, err);
        json_decref(cmd);
    }
    if (!out) {
        if (has_thin)
            drop_layer(&c, thin);
        drop_layer(&c, id);
        return NULL;
    }
    if (autotag && !host_fetched) /* (the host's fetch-auto says it itself) */
        say(&c, "Created image from the automatically detected version: %s.\n", name);
    images_event(e, out, "import", NULL);
    return out;
}

/* ---- shared with the archives (images_internal.h) ----------------------------------------- */

int images_fetched_have(kl_engine *e, char ***blobs, char ***diff_ids, size_t *n, kl_error *err)
{
    pull_have h = {0};
    engine_lock(e);
    int rc = pull_have_locked(e, &h, err);
    engine_unlock(e);
    if (rc < 0) {
        pull_have_clear(&h);
        return -1;
    }
    *blobs = h.blobs;
    *diff_ids = h.diff_ids;
    *n = h.n;
    return 0;
}

char *images_record_fetched(kl_engine *e, const char *workdir, const images_create_opts *o,
                            bool *existing, kl_error *err)
{
    _cleanup_free_ char *sroot = images_storage_root(e);
    creator c = {.e = e, .o = o, .sroot = sroot, .etc = "/etc", .last_percent = -1};
    _cleanup_json_ json_t *j = read_pull_json(workdir, err);
    if (!j)
        return NULL;
    _cleanup_free_ char *name = NULL, *tag = NULL;
    pull_default_name(j, &name, &tag);
    char *id = record_pull(&c, j, workdir, name, tag, existing, err);
    /* a loaded image's other names (an archive's further RepoTags) are added, as Docker does;
     * one that is not a valid name is left out (the archive is untrusted text) */
    json_t *names = json_object_get(j, "names");
    for (size_t i = 1; id && name[0] && i < json_array_size(names); i++) {
        const char *n = json_string_value(json_array_get(names, i));
        kl_error nerr = KL_ERROR_INIT;
        char *got = n ? images_name_add(e, id, n, &nerr) : NULL;
        if (!got && n)
            log_warn("image %s: not adding the name '%.200s': %s", id, n, nerr.msg);
        free(got);
    }
    return id;
}

int images_archive_info(kl_engine *e, const char *ident, images_archive_info_t *out, kl_error *err)
{
    memset(out, 0, sizeof(*out));
    engine_lock(e);
    kl_error rerr = KL_ERROR_INIT;
    char *id = resolve_locked(e, ident, &rerr);
    int rc = 0;
    if (!id) {
        rc = rerr.code == EIO || rerr.code == EBUSY
                 ? kl_error_set(err, rerr.code, "%s", rerr.msg)
                 : kl_error_set(err, ENOENT, "no such image '%s'", ident);
    } else {
        store_lock(e->store);
        _cleanup_stmt_ sqlite3_stmt *st = store_prepare(
            e->store,
            "SELECT name, tag, json_extract(doc, '$.oci.manifest'), "
            "json_extract(doc, '$.oci.repository'), (SELECT b.digest FROM image_blobs b WHERE "
            "b.image_id = images.id AND b.digest = json_extract(images.doc, '$.oci.index')) "
            "FROM images WHERE id = ? AND EXISTS (SELECT 1 "
            "FROM image_blobs b WHERE b.image_id = images.id AND b.digest = "
            "json_extract(images.doc, '$.oci.manifest'))",
            err);
        rc = -1;
        if (st) {
            sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
            int s = sqlite3_step(st);
            if (s == SQLITE_ROW || s == SQLITE_DONE) {
                rc = 0;
                if (s == SQLITE_ROW) {
                    out->name = xstrdup(col(st, 0));
                    out->tag = xstrdup(col(st, 1));
                    out->manifest = sqlite3_column_text(st, 2) ? xstrdup(col(st, 2)) : NULL;
                    out->repository = xstrdup(col(st, 3));
                    out->index = sqlite3_column_text(st, 4) ? xstrdup(col(st, 4)) : NULL;
                }
            } else {
                store_fail(e->store, "reading image", err);
            }
        }
        store_unlock(e->store);
        if (rc == 0 && !out->name) {
            /* no blobs of its own (made the Kleene way): name and tag only */
            _cleanup_strv_ char **nt = NULL;
            rc = query_strv(e, "SELECT name || ':' || tag FROM images WHERE id = ?", id, &nt, err);
            if (rc == 0 && nt) {
                const char *colon = imageref_tag_colon(nt[0]);
                out->name = colon ? xstrndup(nt[0], (size_t)(colon - nt[0])) : xstrdup(nt[0]);
                out->tag = xstrdup(colon ? colon + 1 : "");
            }
        }
    }
    engine_unlock(e);
    if (rc < 0) {
        free(id);
        images_archive_info_clear(out);
        return -1;
    }
    out->id = id;
    return 0;
}

void images_archive_info_clear(images_archive_info_t *i)
{
    free(i->id);
    free(i->name);
    free(i->tag);
    free(i->manifest);
    free(i->repository);
    free(i->index);
    memset(i, 0, sizeof(*i));
}

int images_layer_blob(kl_engine *e, const char *layer_id, images_blob_t *out, kl_error *err)
{
    memset(out, 0, sizeof(*out));
    engine_lock(e);
    store_lock(e->store);
    _cleanup_stmt_ sqlite3_stmt *st = store_prepare(
        e->store,
        "SELECT b.digest, b.size, b.media_type, l.diff_id, (SELECT json_extract(i.doc, "
        "'$.oci.repository') FROM image_blobs ib JOIN images i ON i.id = ib.image_id WHERE "
        "ib.digest = b.digest AND json_extract(i.doc, '$.oci.repository') != '' ORDER BY i.id "
        "LIMIT 1) FROM layers l JOIN blobs b ON b.diff_id = l.diff_id WHERE l.id = ? ORDER BY "
        "b.digest LIMIT 1",
        err);
    int rc = -1;
    if (st) {
        sqlite3_bind_text(st, 1, layer_id, -1, SQLITE_STATIC);
        int s = sqlite3_step(st);
        if (s == SQLITE_ROW) {
            out->digest = xstrdup(col(st, 0));
            out->size = sqlite3_column_int64(st, 1);
            out->media_type = xstrdup(col(st, 2));
            out->diff_id = xstrdup(col(st, 3));
            out->repository = sqlite3_column_text(st, 4) ? xstrdup(col(st, 4)) : NULL;
            rc = 1;
        } else if (s == SQLITE_DONE) {
            rc = 0;
        } else {
            store_fail(e->store, "reading a layer's blob", err);
        }
    }
    store_unlock(e->store);
    engine_unlock(e);
    return rc;
}

void images_blob_clear(images_blob_t *b)
{
    free(b->digest);
    free(b->media_type);
    free(b->diff_id);
    free(b->repository);
    memset(b, 0, sizeof(*b));
}
