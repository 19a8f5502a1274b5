/* Endpoints of ours beyond the original (new paths only): GET /version, GET /system/df. */
#include "api/handlers.h"
#include "engine/usage.h"

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
