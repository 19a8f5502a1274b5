/* REST handlers for networks (API.md §6 Networks): exactly the status codes the original
 * declares (its client crashes on any other): create 201/409, inspect 200/404, remove
 * 200/404, prune 200, connect 204/404/409, disconnect 204/409. */
#include "api/handlers.h"
#include "engine/engine.h"
#include "engine/networks.h"

#include <errno.h>
#include <string.h>

void api_networks_list(api_request *req, api_response *res)
{
    kl_error err = KL_ERROR_INIT;
    json_t *list = networks_list(req->ctx->engine, &err);
    if (!list)
        return api_reply_message(res, 500, "%s", err.msg);
    api_reply_json(res, 200, list);
}

void api_networks_create(api_request *req, api_response *res)
{
    kl_error err = KL_ERROR_INIT;
    char *id = networks_create(req->ctx->engine, req->body, &err);
    if (!id)
        return api_reply_message(res, 409, "%s", err.msg);
    api_reply_id(res, 201, id);
    free(id);
}

void api_networks_inspect(api_request *req, api_response *res)
{
    kl_error err = KL_ERROR_INIT;
    json_t *v = networks_inspect(req->ctx->engine, req->params[0], &err);
    if (!v)
        return api_reply_message(res, 404, "%s", err.msg);
    api_reply_json(res, 200, v);
}

void api_networks_remove(api_request *req, api_response *res)
{
    kl_error err = KL_ERROR_INIT;
    char id[13];
    if (networks_remove(req->ctx->engine, req->params[0], id, &err) < 0)
        return api_reply_message(res, 404, "%s", err.msg);
    api_reply_id(res, 200, id);
}

void api_networks_prune(api_request *req, api_response *res)
{
    kl_error err = KL_ERROR_INIT;
    json_t *ids = networks_prune(req->ctx->engine, &err);
    if (!ids)
        return api_reply_message(res, 500, "%s", err.msg);
    api_reply_json(res, 200, ids);
}

void api_networks_connect(api_request *req, api_response *res)
{
    kl_error err = KL_ERROR_INIT;
    if (networks_connect(req->ctx->engine, req->body, &err) < 0)
        return api_reply_message(res, strstr(err.msg, "not found") ? 404 : 409, "%s", err.msg);
    api_reply_empty(res, 204);
}

void api_networks_disconnect(api_request *req, api_response *res)
{
    kl_error err = KL_ERROR_INIT;
    if (networks_disconnect(req->ctx->engine, req->params[0], req->params[1], &err) < 0)
        return api_reply_message(res, 409, "%s", err.msg);
    api_reply_empty(res, 204);
}
