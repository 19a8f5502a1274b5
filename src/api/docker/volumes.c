/* The Docker door's volume endpoints (docs/docker-api.md "Volumes"): list (filters), create,
 * inspect, remove, prune, onto engine/volumes.h. A Kleene volume is a Docker volume of the
 * `local` driver without options; its name is its id. Driver options and other drivers are
 * refused with a message naming them (they would change what the volume is). */
#include "api/docker/dk.h"
#include "engine/engine.h"
#include "engine/usage.h"
#include "engine/volumes.h"
#include "lib/cleanup.h"
#include "lib/id.h"
#include "lib/jsonx.h"
#include "lib/labels.h"
#include "lib/xalloc.h"

#include <errno.h>
#include <string.h>

/* Docker's Volume of a Kleene one ({"name", "mountpoint", "created", "labels"}). */
static json_t *dk_volume_json(const json_t *v)
{
    json_t *labels = json_object_get(v, "labels");
    return json_pack("{s:s, s:s, s:o, s:s, s:s, s:o, s:s}", "Name", jx_str(v, "name", ""), "Driver",
                     "local", "Labels",
                     json_is_object(labels) ? json_deep_copy(labels) : json_object(), "Mountpoint",
                     jx_str(v, "mountpoint", ""), "CreatedAt", dk_time(jx_str(v, "created", "")),
                     "Options", json_object(), "Scope", "local");
}

/* Whether a mount of a container uses the volume. -1 after an error answer in res. */
static int volume_in_use(kl_engine *e, const char *name, api_response *res)
{
    kl_error err = KL_ERROR_INIT;
    _cleanup_json_ json_t *ins = volumes_inspect(e, name, &err);
    if (!ins) {
        if (err.code == ENOENT) /* removed meanwhile: not in use */
            return 0;
        dk_error(res, 500, "%s", err.msg);
        return -1;
    }
    return json_array_size(json_object_get(ins, "mountpoints")) > 0;
}

static bool any_value(const json_t *values, const char *wanted)
{
    size_t i;
    json_t *v;
    json_array_foreach(values, i, v) if (!strcmp(json_string_value(v), wanted)) return true;
    return false;
}

/* A filter's values that must each be true or false: 1, 0, or -1 (absent); -2 after a 400. */
static int bool_filter(const json_t *f, const char *key, api_response *res)
{
    json_t *vals = json_object_get(f, key);
    if (!vals || json_array_size(vals) == 0)
        return -1;
    int out = -1;
    size_t i;
    json_t *v;
    json_array_foreach(vals, i, v)
    {
        const char *s = json_string_value(v);
        int b = !strcmp(s, "true") || !strcmp(s, "1")    ? 1
                : !strcmp(s, "false") || !strcmp(s, "0") ? 0
                                                         : -1;
        if (b < 0 || (out >= 0 && out != b)) {
            dk_error(res, 400, "invalid filter '%s=%s'", key, s);
            return -2;
        }
        out = b;
    }
    return out;
}

void dk_volumes_list(dk_request *r, api_response *res)
{
    static const char *const known[] = {"dangling", "driver", "label", "label!", "name", NULL};
    kl_engine *e = r->req->ctx->engine;
    _cleanup_json_ json_t *f = dk_filters(r, known, res);
    if (!f)
        return;
    int dangling = bool_filter(f, "dangling", res);
    if (dangling == -2)
        return;
    kl_error err = KL_ERROR_INIT;
    _cleanup_json_ json_t *list = volumes_list(e, &err);
    if (!list)
        return dk_error(res, 500, "%s", err.msg);
    json_t *out = json_array();
    size_t i;
    json_t *v;
    json_array_foreach(list, i, v)
    {
        const char *name = jx_str(v, "name", "");
        json_t *labels = json_object_get(v, "labels");
        json_t *drivers = json_object_get(f, "driver");
        if (json_array_size(drivers) && !any_value(drivers, "local"))
            continue;
        json_t *names = json_object_get(f, "name");
        bool name_ok = json_array_size(names) == 0;
        size_t k;
        json_t *n;
        json_array_foreach(names, k, n) name_ok |= strstr(name, json_string_value(n)) != NULL;
        if (!name_ok || !kl_labels_match_filters(labels, json_object_get(f, "label"),
                                                 json_object_get(f, "label!")))
            continue;
        if (dangling >= 0) {
            int used = volume_in_use(e, name, res);
            if (used < 0) {
                json_decref(out);
                return;
            }
            if (used == dangling) /* dangling=true wants the unused ones */
                continue;
        }
        json_array_append_new(out, dk_volume_json(v));
    }
    api_reply_json(res, 200, json_pack("{s:o, s:[]}", "Volumes", out, "Warnings"));
}

/* The volume `name` as Docker shows it; NULL after an error answer in res. */
static json_t *volume_get(kl_engine *e, const char *name, api_response *res)
{
    kl_error err = KL_ERROR_INIT;
    _cleanup_json_ json_t *ins = volumes_inspect(e, name, &err);
    if (!ins) {
        if (err.code == ENOENT)
            dk_error(res, 404, "get %s: no such volume", name);
        else
            dk_error(res, 500, "%s", err.msg);
        return NULL;
    }
    return dk_volume_json(json_object_get(ins, "volume"));
}

void dk_volumes_create(dk_request *r, api_response *res)
{
    kl_engine *e = r->req->ctx->engine;
    _cleanup_json_ json_t *body = dk_body_object(r, true, res);
    if (!body)
        return;
    static const char *const known[] = {"Name", "Driver", "DriverOpts", "Labels",
                                        "ClusterVolumeSpec"};
    const char *key;
    json_t *val;
    json_object_foreach(body, key, val)
    {
        bool ok = false;
        for (size_t i = 0; i < KL_ARRAY_SIZE(known); i++)
            ok |= !strcmp(key, known[i]);
        if (!ok)
            return dk_error(res, 400, "volume field %s is not supported by kleened", key);
    }
    json_t *name = json_object_get(body, "Name");
    if (name && !json_is_null(name) && !json_is_string(name))
        return dk_error(res, 400, "invalid Name: a string is expected");
    const char *driver = jx_str(body, "Driver", "");
    if (driver[0] && strcmp(driver, "local") != 0)
        return dk_error(res, 400,
                        "volume driver '%s' is not supported by kleened (only 'local' volumes)",
                        driver);
    json_t *opts = json_object_get(body, "DriverOpts");
    if (opts && !json_is_null(opts) && (!json_is_object(opts) || json_object_size(opts) > 0))
        return dk_error(res, 400,
                        "volume DriverOpts are not supported by kleened: a volume is a "
                        "directory of its own");
    json_t *cluster = json_object_get(body, "ClusterVolumeSpec");
    if (cluster && !json_is_null(cluster) &&
        (!json_is_object(cluster) || json_object_size(cluster)))
        return dk_error(res, 400, "ClusterVolumeSpec is not supported by kleened (no swarm)");
    json_t *labels = json_object_get(body, "Labels");
    kl_error err = KL_ERROR_INIT;
    if (kl_labels_check(labels, &err) < 0)
        return dk_error(res, 400, "invalid Labels: %s", err.msg);

    char made[6 * KL_ID_LEN + 1] = "";
    const char *n = jx_str(body, "Name", "");
    if (!n[0]) { /* an anonymous volume: a random name of 64 hex digits, as dockerd gives */
        for (int i = 0; i < 6; i++)
            kl_id_new(made + i * KL_ID_LEN);
        made[64] = '\0';
        n = made;
    }
    if (volumes_create_labeled(e, n, labels, &err) < 0)
        return dk_error(res, dk_status(err.code), "create %s: %s", n, err.msg);
    json_t *v = volume_get(e, n, res);
    if (v)
        api_reply_json(res, 201, v);
}

void dk_volumes_inspect(dk_request *r, api_response *res)
{
    json_t *v = volume_get(r->req->ctx->engine, r->params[0], res);
    if (v)
        api_reply_json(res, 200, v);
}

void dk_volumes_remove(dk_request *r, api_response *res)
{
    const char *name = r->params[0];
    kl_error err = KL_ERROR_INIT;
    if (volumes_remove(r->req->ctx->engine, name, &err) < 0) {
        if (err.code == ENOENT) {
            /* force: a missing volume is no error (dockerd) */
            if (dk_query_bool(r, "force", false))
                return api_reply_empty(res, 204);
            return dk_error(res, 404, "get %s: no such volume", name);
        }
        if (err.code == EBUSY)
            return dk_error(res, 409, "remove %s: volume is in use: %s", name, err.msg);
        return dk_error(res, 500, "remove %s: %s", name, err.msg);
    }
    api_reply_empty(res, 204);
}

void dk_volumes_prune(dk_request *r, api_response *res)
{
    static const char *const known[] = {"label", "label!", "all", NULL};
    kl_engine *e = r->req->ctx->engine;
    _cleanup_json_ json_t *f = dk_filters(r, known, res);
    if (!f)
        return;
    /* all=true (API 1.42+: named volumes too) is what every prune does here: Kleene has no
     * anonymous volumes of its own. */
    if (bool_filter(f, "all", res) == -2)
        return;
    /* Sizes first: the directories are gone after the prune. */
    kl_error err = KL_ERROR_INIT;
    _cleanup_json_ json_t *list = volumes_list(e, &err);
    if (!list)
        return dk_error(res, 500, "%s", err.msg);
    _cleanup_json_ json_t *sizes = json_object();
    size_t i;
    json_t *v;
    json_array_foreach(list, i, v)
    {
        if (kl_labels_match_filters(json_object_get(v, "labels"), json_object_get(f, "label"),
                                    json_object_get(f, "label!")))
            json_object_set_new(sizes, jx_str(v, "name", ""),
                                json_integer(usage_dir_bytes(jx_str(v, "mountpoint", ""))));
    }
    _cleanup_json_ json_t *removed =
        volumes_prune_matching(e, json_object_get(f, "label"), json_object_get(f, "label!"), &err);
    if (!removed)
        return dk_error(res, 500, "%s", err.msg);
    json_int_t reclaimed = 0;
    json_array_foreach(removed, i, v) reclaimed +=
        json_integer_value(json_object_get(sizes, json_string_value(v)));
    api_reply_json(res, 200,
                   json_pack("{s:O, s:I}", "VolumesDeleted", removed, "SpaceReclaimed", reclaimed));
}
