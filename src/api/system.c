/* Endpoints of ours beyond the original (new paths only): GET /version, GET /system/df,
 * POST /auth. */
#include "api/handlers.h"
#include "engine/registry.h"
#include "engine/usage.h"
#include "lib/jsonx.h"

#include <errno.h>

#include <sys/utsname.h>

void api_version(api_request *req, api_response *res)
{
    struct utsname u;
    uname(&u);
    api_reply_json(res, 200,
                   json_pack("{s:s, s:s, s:s, s:s, s:s}", "version", KLEENE_VERSION, "api_version",
                             "0.1.1", "os", u.sysname, "kernel", u.release, "arch", u.machine));
}

/* GET /system/df (ours): disk usage of images, containers, volumes. */
void api_system_df(api_request *req, api_response *res)
{
    kl_error err = KL_ERROR_INIT;
    json_t *j = usage_disk(req->ctx->engine, &err);
    if (!j)
        return api_reply_message(res, 500, "%s", err.msg);
    api_reply_json(res, 200, j);
}

/* POST /auth (ours, docs/api.md "Registry credentials"): check credentials against a registry
 * (for `klee login`); nothing is stored. */
void api_registry_login(api_request *req, api_response *res)
{
    kl_error err = KL_ERROR_INIT;
    char *domain =
        registry_login(req->ctx->engine, jx_str(req->body, "server_address", ""),
                       jx_str(req->body, "username", ""), jx_str(req->body, "password", ""), &err);
    if (!domain)
        return api_reply_message(res,
                                 err.code == EACCES   ? 401
                                 : err.code == EINVAL ? 422
                                                      : 502,
                                 "%s", err.msg);
    api_reply_json(res, 200,
                   json_pack("{s:s, s:s}", "message", "login succeeded", "server", domain));
    free(domain);
}
