/* REST handlers for images (API.md §6 Images, §8.5): exactly the status codes the original
 * declares. Remove echoes the identifier as given (decision 3) and maps every refusal to 404
 * like the original; an invalid nametag, which crashed the original (§12 quirk 17), is a
 * 422 validation error on /nametag. */
#include "api/handlers.h"
#include "engine/engine.h"
#include "engine/images.h"
#include "lib/cleanup.h"
#include "lib/jsonx.h"

#include <errno.h>

void api_images_list(api_request *req, api_response *res)
{
    kl_error err = KL_ERROR_INIT;
    json_t *list = images_list(req->ctx->engine, &err);
    if (!list)
        return api_reply_message(res, 500, "%s", err.msg);
    api_reply_json(res, 200, list);
}

void api_images_inspect(api_request *req, api_response *res)
{
    kl_error err = KL_ERROR_INIT;
    json_t *img = images_inspect(req->ctx->engine, req->params[0], &err);
    if (!img)
        return api_reply_message(res, err.code == ENOENT ? 404 : 500, "%s", err.msg);
    api_reply_json(res, 200, img);
}

void api_images_tag(api_request *req, api_response *res)
{
    kl_error err = KL_ERROR_INIT;
    const char *nametag = jx_str(req->query, "nametag", NULL);
    if (!nametag)
        return api_reply_invalid_one(res, "/nametag", "Missing field: nametag");
    _cleanup_free_ char *id = images_tag(req->ctx->engine, req->params[0], nametag, &err);
    if (!id) {
        if (err.code == ENOENT)
            return api_reply_message(res, 404, "%s", err.msg);
        if (err.code == EINVAL)
            return api_reply_invalid_one(res, "/nametag", err.msg);
        return api_reply_message(res, 500, "%s", err.msg);
    }
    api_reply_id(res, 200, id);
}

void api_images_remove(api_request *req, api_response *res)
{
    kl_error err = KL_ERROR_INIT;
    if (images_remove(req->ctx->engine, req->params[0], &err) < 0) {
        bool declared =
            err.code == ENOENT || err.code == EBUSY || err.code == EINVAL || err.code == EIO;
        return api_reply_message(res, declared ? 404 : 500, "%s", err.msg);
    }
    api_reply_id(res, 200, req->params[0]);
}

void api_images_prune(api_request *req, api_response *res)
{
    kl_error err = KL_ERROR_INIT;
    json_t *ids = images_prune(req->ctx->engine, jx_bool(req->query, "all", false), &err);
    if (!ids)
        return api_reply_message(res, 500, "%s", err.msg);
    api_reply_json(res, 200, ids);
}
