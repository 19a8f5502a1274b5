/* Copies into and out of a container over the Kleene API (ours, docs/api.md "Copying files:
 * /containers/{id}/archive"), for `klee container cp`: GET ?path= (a tar of the path, its stat
 * in the X-Kleene-Path-Stat header), HEAD (the header alone) and PUT ?path= (a tar, plain or
 * compressed, extracted into the directory at path; the body is streamed: router.c STREAMED,
 * never held whole nor bounded by max_body_bytes).
 *
 * The copying is the engine's (engine/ctrcopy.h), the same the Docker door's archive
 * endpoints call (api/docker/archive.c); the glue both share (the header's encoding, the
 * tar stream, the streamed body) is api/archive_io.c. This file only translates: the query,
 * the header's contents, Kleene's statuses and {"message"} bodies. It must not: reach the
 * host layer, or hold an archive in memory. */
#include "api/archive_io.h"
#include "api/handlers.h"
#include "engine/ctrcopy.h"
#include "lib/cleanup.h"
#include "lib/jsonx.h"
#include "lib/xalloc.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>

static const char *type_name(unsigned m)
{
    return S_ISDIR(m)    ? "directory"
           : S_ISREG(m)  ? "file"
           : S_ISLNK(m)  ? "symlink"
           : S_ISFIFO(m) ? "fifo"
           : S_ISSOCK(m) ? "socket"
           : S_ISCHR(m)  ? "char-device"
           : S_ISBLK(m)  ? "block-device"
                         : "other";
}

/* A copy of s with every byte outside ASCII as '?' (for a name that is not UTF-8). */
static char *ascii_only(const char *s)
{
    char *c = xstrdup(s);
    for (char *p = c; *p; p++)
        if ((unsigned char)*p >= 0x80)
            *p = '?';
    return c;
}

static json_t *stat_json(const ctrcopy_stat *st, const char *when, bool ascii)
{
    _cleanup_free_ char *name = ascii ? ascii_only(st->name) : xstrdup(st->name);
    _cleanup_free_ char *target =
        st->link_target ? (ascii ? ascii_only(st->link_target) : xstrdup(st->link_target)) : NULL;
    return json_pack("{s:s, s:s, s:I, s:I, s:s, s:o}", "name", name, "type", type_name(st->mode),
                     "size", (json_int_t)st->size, "mode", (json_int_t)st->mode, "mtime", when,
                     "link_target", target ? json_string(target) : json_null());
}

/* X-Kleene-Path-Stat: base64 of {"name","type","size","mode","mtime","link_target"}; the JSON
 * is base64'd because names are any bytes and a header is not. */
static void add_stat_header(api_response *res, const ctrcopy_stat *st)
{
    char when[64];
    archive_io_mtime(st, when, sizeof(when));
    _cleanup_json_ json_t *j = stat_json(st, when, false);
    if (!j) /* a name or link target that is not UTF-8 */
        j = stat_json(st, when, true);
    archive_io_add_json_header(res, "X-Kleene-Path-Stat", j);
}

/* The query's path, absolute (422 otherwise; its presence is the schema's). */
static const char *query_path(api_request *req, api_response *res)
{
    const char *path = jx_str(req->query, "path", "");
    if (path[0] != '/') {
        api_reply_message(res, 422, "invalid path '%.256s': it must be absolute", path);
        return NULL;
    }
    return path;
}

static int status_of(int code)
{
    switch (code) {
    case ENOENT:
    case ENOTUNIQ:
        return 404;
    case EINVAL:
    case ELOOP:
    case EBADMSG:
        return 422;
    case EBUSY:
    case ENOTDIR:
    case EEXIST:
        return 409;
    case EROFS:
    case EPERM:
    case EACCES:
        return 403;
    default:
        return 500;
    }
}

static ctrcopy *open_container(api_request *req, api_response *res)
{
    kl_error err = KL_ERROR_INIT;
    ctrcopy *cc = ctrcopy_open(req->ctx->engine, req->params[0], &err);
    if (!cc)
        api_reply_message(res, status_of(err.code), "%s", err.msg);
    return cc;
}

/* The query's path (*path) and the container's filesystem; NULL after the answer. */
static ctrcopy *open_at(api_request *req, api_response *res, const char **path)
{
    *path = query_path(req, res);
    return *path ? open_container(req, res) : NULL;
}

static void path_error(api_request *req, api_response *res, const char *path, const kl_error *err)
{
    if (err->code == ENOENT || err->code == ENOTDIR)
        return api_reply_message(res, 404, "no such file or directory in container %s: %s",
                                 req->params[0], path);
    api_reply_message(res, status_of(err->code), "%s", err->msg);
}

void api_containers_archive_head(api_request *req, api_response *res)
{
    const char *path;
    ctrcopy *cc = open_at(req, res, &path);
    if (!cc)
        return;
    kl_error err = KL_ERROR_INIT;
    if (archive_io_head(cc, path, res, add_stat_header, &err) < 0)
        return path_error(req, res, path, &err);
    api_reply_empty(res, 200);
}

void api_containers_archive_get(api_request *req, api_response *res)
{
    const char *path;
    ctrcopy *cc = open_at(req, res, &path);
    if (!cc)
        return;
    kl_error err = KL_ERROR_INIT;
    if (archive_io_get(cc, path, res, add_stat_header, "container archive", &err) < 0)
        path_error(req, res, path, &err);
}

void api_containers_archive_put(api_request *req, api_response *res)
{
    const char *path;
    ctrcopy *cc = open_at(req, res, &path);
    if (!cc)
        return;
    ctrcopy_put_opts o = {.no_overwrite_dir_non_dir =
                              jx_bool(req->query, "no_overwrite_dir_non_dir", false),
                          .copy_uid_gid = jx_bool(req->query, "copy_uid_gid", false)};
    /* A failed read of the body (a client that went away or sent broken chunks): a 400, not a
     * 500. Without a streamed body (a test): empty. */
    archive_io_body src = {.req = req, .what = "container archive", .err = KL_ERROR_INIT};
    kl_error err = KL_ERROR_INIT;
    if (archive_io_put(cc, path, &o, &src, &err) == 0)
        return api_reply_empty(res, 200);
    if (src.failed)
        return api_reply_message(res, 400, "the archive could not be read: %s", src.err.msg);
    if (err.code == ENOENT)
        return api_reply_message(res, 404, "no such directory in container %s: %s", req->params[0],
                                 path);
    api_reply_message(res, status_of(err.code), "%s", err.msg);
}
