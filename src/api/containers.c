/* REST handlers for container records (API.md §6 Containers, §8.1): create, list, inspect,
 * update (and rename, which is an update), remove, prune. Status codes are exactly the ones
 * the original declares (decision 2: its client crashes on any other); the stop endpoint
 * belongs to the start side (exec.c). */
#include "api/handlers.h"
#include "engine/containers.h"
#include "engine/engine.h"
#include "lib/cleanup.h"
#include "lib/jsonx.h"

#include <errno.h>
#include <stdlib.h>

void api_containers_list(api_request *req, api_response *res)
{
    kl_error err = KL_ERROR_INIT;
    /* only the literal true means true (the query caster already turned "true" into it) */
    bool all = json_is_true(json_object_get(req->query, "all"));
    /* ours, opt-in: each row's last run and addresses (docs/api.md) */
    bool state = json_is_true(json_object_get(req->query, "state"));
    char *text = containers_list_text(req->ctx->engine, all, state, &err);
    if (!text)
        return api_reply_message(res, 500, "%s", err.msg);
    api_response_clear(res);
    res->status = 200;
    res->text = text;
    res->content_type = "application/json";
}

void api_containers_create(api_request *req, api_response *res)
{
    kl_error err = KL_ERROR_INIT;
    _cleanup_free_ char *id = containers_create(req->ctx->engine, req->body, &err);
    if (!id) /* the original answers 404 for every failure of create */
        return api_reply_message(res, 404, "%s", err.msg);
    api_reply_id(res, 201, id);
}

void api_containers_inspect(api_request *req, api_response *res)
{
    kl_error err = KL_ERROR_INIT;
    json_t *j = containers_inspect(req->ctx->engine, req->params[0], &err);
    if (!j) {
        if (err.code == ENOENT || err.code == ENOTUNIQ)
            return api_reply_message(res, 404, "%s", err.msg);
        return api_reply_message(res, 500, "%s", err.msg);
    }
    api_reply_json(res, 200, j);
}

void api_containers_update(api_request *req, api_response *res)
{
    kl_error err = KL_ERROR_INIT;
    _cleanup_free_ char *id = containers_update(req->ctx->engine, req->params[0], req->body, &err);
    if (id)
        return api_reply_id(res, 201, id);
    if (err.code == ENOENT)
        return api_reply_message(res, 404, "no such container '%s'", req->params[0]);
    if (err.code == ENOTUNIQ)
        return api_reply_message(res, 404, "%s", err.msg);
    /* invalid or taken name, invalid jail parameters, store failures: the declared 409 */
    api_reply_message(res, 409, "%s", err.msg);
}

void api_containers_remove(api_request *req, api_response *res)
{
    kl_error err = KL_ERROR_INIT;
    char id[13];
    if (containers_remove(req->ctx->engine, req->params[0], id, &err) == 0)
        return api_reply_id(res, 200, id);
    if (err.code == ENOENT)
        return api_reply_message(res, 404, "no such container");
    if (err.code == ENOTUNIQ)
        return api_reply_message(res, 404, "%s", err.msg);
    if (err.code == EBUSY)
        return api_reply_message(res, 409, "%s", err.msg);
    api_reply_message(res, 500, "%s", err.msg);
}

void api_containers_prune(api_request *req, api_response *res)
{
    kl_error err = KL_ERROR_INIT;
    json_t *ids = containers_prune(req->ctx->engine, &err);
    if (!ids)
        return api_reply_message(res, 500, "%s", err.msg);
    api_reply_json(res, 200, ids);
}
