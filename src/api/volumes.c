/* REST handlers for volumes (API.md §6 Volumes, §8.6): status codes as the original declares
 * them, with our fix that a volume mounted in a container cannot be removed (decision 16). */
#include "api/handlers.h"
#include "engine/engine.h"
#include "engine/volumes.h"
#include "lib/jsonx.h"

#include <errno.h>
#include <string.h>

void api_volumes_list(api_request *req, api_response *res)
{
    kl_error err = KL_ERROR_INIT;
    json_t *list = volumes_list(req->ctx->engine, &err);
    if (!list)
        return api_reply_message(res, 500, "%s", err.msg);
    api_reply_json(res, 200, list);
}

void api_volumes_create(api_request *req, api_response *res)
{
    kl_error err = KL_ERROR_INIT;
    const char *name = jx_str(req->body, "name", NULL);
    if (!name)
        return api_reply_invalid_one(res, "/name", "Missing field: name");
    json_t *labels = json_object_get(req->body, "labels");
    if (volumes_create_labeled(req->ctx->engine, name, labels, &err) < 0) {
        if (err.code == EINVAL)
            return api_reply_invalid_one(res, strncmp(err.msg, "label", 5) ? "/name" : "/labels",
                                         err.msg);
        return api_reply_message(res, 500, "%s", err.msg);
    }
    api_reply_id(res, 201, name);
}

void api_volumes_inspect(api_request *req, api_response *res)
{
    kl_error err = KL_ERROR_INIT;
    json_t *v = volumes_inspect(req->ctx->engine, req->params[0], &err);
    if (!v)
        return api_reply_message(res, err.code == ENOENT ? 404 : 500, "%s", err.msg);
    api_reply_json(res, 200, v);
}

void api_volumes_remove(api_request *req, api_response *res)
{
    kl_error err = KL_ERROR_INIT;
    if (volumes_remove(req->ctx->engine, req->params[0], &err) < 0)
        /* 404 is what the endpoint declares for every failure but a crash. */
        return api_reply_message(res, err.code == ENOENT || err.code == EBUSY ? 404 : 500, "%s",
                                 err.msg);
    api_reply_id(res, 200, req->params[0]);
}

void api_volumes_prune(api_request *req, api_response *res)
{
    kl_error err = KL_ERROR_INIT;
    json_t *names = volumes_prune(req->ctx->engine, &err);
    if (!names)
        return api_reply_message(res, 500, "%s", err.msg);
    api_reply_json(res, 200, names);
}
