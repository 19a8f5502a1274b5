/* The Docker door's archive endpoints (docker cp, docs/docker-api.md "Copying files"):
 * GET /containers/{id}/archive?path= (a tar of the path and its stat header), HEAD (the
 * header alone) and PUT ?path=&noOverwriteDirNonDir=&copyUIDGID= (a tar extracted into the
 * directory at path). The copying is the engine's (engine/ctrcopy.h), the glue shared with
 * the Kleene API's archive endpoints is api/archive_io.c; this file translates: the query,
 * Docker's X-Docker-Container-Path-Stat header, statuses and messages. The PUT's body is
 * streamed (router.c docker_streams_body): never held whole in memory. */
#include "api/archive_io.h"
#include "api/docker/dk.h"
#include "engine/containers.h"
#include "engine/ctrcopy.h"
#include "lib/cleanup.h"

#include <errno.h>
#include <sys/stat.h>

/* Go's os.FileMode bits (what the CLI reads from the stat header). */
#define GO_MODE_DIR (1u << 31)
#define GO_MODE_SYMLINK (1u << 27)
#define GO_MODE_DEVICE (1u << 26)
#define GO_MODE_PIPE (1u << 25)
#define GO_MODE_SOCKET (1u << 24)
#define GO_MODE_SETUID (1u << 23)
#define GO_MODE_SETGID (1u << 22)
#define GO_MODE_CHARDEV (1u << 21)
#define GO_MODE_STICKY (1u << 20)

static unsigned long go_mode(unsigned m)
{
    unsigned long g = m & 0777;
    if (S_ISDIR(m))
        g |= GO_MODE_DIR;
    else if (S_ISLNK(m))
        g |= GO_MODE_SYMLINK;
    else if (S_ISFIFO(m))
        g |= GO_MODE_PIPE;
    else if (S_ISSOCK(m))
        g |= GO_MODE_SOCKET;
    else if (S_ISBLK(m))
        g |= GO_MODE_DEVICE;
    else if (S_ISCHR(m))
        g |= GO_MODE_DEVICE | GO_MODE_CHARDEV;
    if (m & S_ISUID)
        g |= GO_MODE_SETUID;
    if (m & S_ISGID)
        g |= GO_MODE_SETGID;
    if (m & S_ISVTX)
        g |= GO_MODE_STICKY;
    return g;
}

/* X-Docker-Container-Path-Stat: base64 of {"name","size","mode","mtime","linkTarget"}. */
static void add_stat_header(api_response *res, const ctrcopy_stat *st)
{
    char when[64];
    archive_io_mtime(st, when, sizeof(when));
    _cleanup_json_ json_t *j =
        json_pack("{s:s, s:I, s:I, s:s, s:s}", "name", st->name, "size", (json_int_t)st->size,
                  "mode", (json_int_t)go_mode(st->mode), "mtime", when, "linkTarget",
                  st->link_target ? st->link_target : "");
    archive_io_add_json_header(res, "X-Docker-Container-Path-Stat", j);
}

/* The path of the query: present and absolute (400 otherwise). */
static const char *query_path(dk_request *r, api_response *res)
{
    const char *path = dk_query_str(r, "path", NULL);
    if (!path || !*path) {
        dk_error(res, 400, "bad parameter: path cannot be empty");
        return NULL;
    }
    if (path[0] != '/') {
        dk_error(res, 400, "bad parameter: the path '%.256s' is not absolute", path);
        return NULL;
    }
    return path;
}

/* The container's filesystem; NULL after the answer. */
static ctrcopy *open_container(dk_request *r, api_response *res)
{
    container_record c = {0};
    if (dk_container_get(r, r->params[0], &c, res) < 0)
        return NULL;
    kl_error err = KL_ERROR_INIT;
    ctrcopy *cc = ctrcopy_open(r->req->ctx->engine, c.id, &err);
    container_record_clear(&c);
    if (!cc)
        dk_error(res, err.code == ENOENT ? 404 : dk_status(err.code), "%s", err.msg);
    return cc;
}

/* The query's path (*path) and the container's filesystem; NULL after the answer. */
static ctrcopy *open_at(dk_request *r, api_response *res, const char **path)
{
    *path = query_path(r, res);
    return *path ? open_container(r, res) : NULL;
}

static void path_error(dk_request *r, api_response *res, const char *path, const kl_error *err)
{
    if (err->code == ENOENT || err->code == ENOTDIR)
        dk_error(res, 404, "Could not find the file %s in container %s", path, r->params[0]);
    else if (err->code == ELOOP || err->code == EINVAL)
        dk_error(res, 400, "%s", err->msg);
    else
        dk_error(res, dk_status(err->code), "%s", err->msg);
}

void dk_containers_archive_head(dk_request *r, api_response *res)
{
    const char *path;
    ctrcopy *cc = open_at(r, res, &path);
    if (!cc)
        return;
    kl_error err = KL_ERROR_INIT;
    if (archive_io_head(cc, path, res, add_stat_header, &err) < 0)
        return path_error(r, res, path, &err);
    api_reply_empty(res, 200);
}

void dk_containers_archive_get(dk_request *r, api_response *res)
{
    const char *path;
    ctrcopy *cc = open_at(r, res, &path);
    if (!cc)
        return;
    kl_error err = KL_ERROR_INIT;
    if (archive_io_get(cc, path, res, add_stat_header, "docker cp", &err) < 0)
        path_error(r, res, path, &err);
}

void dk_containers_archive_put(dk_request *r, api_response *res)
{
    const char *path;
    ctrcopy *cc = open_at(r, res, &path);
    if (!cc)
        return;
    ctrcopy_put_opts o = {.no_overwrite_dir_non_dir =
                              dk_query_bool(r, "noOverwriteDirNonDir", false),
                          .copy_uid_gid = dk_query_bool(r, "copyUIDGID", false)};
    /* Streamed by the server, or (a door called without streaming: the fuzzer, tests) the
     * buffer it read. */
    archive_io_body src = {
        .req = r->req, .buf = r->body, .what = "docker cp", .err = KL_ERROR_INIT};
    kl_error err = KL_ERROR_INIT;
    if (archive_io_put(cc, path, &o, &src, &err) == 0)
        return api_reply_empty(res, 200);
    switch (err.code) {
    case ENOENT:
        return dk_error(res, 404, "Could not find the file %s in container %s", path, r->params[0]);
    case ENOTDIR:
    case EINVAL:
    case EBADMSG:
    case EEXIST:
        return dk_error(res, 400, "%s", err.msg);
    case EROFS:
    case EPERM:
        return dk_error(res, 403, "%s", err.msg);
    default:
        return dk_error(res, dk_status(err.code), "%s", err.msg);
    }
}
