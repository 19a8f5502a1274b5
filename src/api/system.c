/* Endpoints of ours beyond the original (new paths only): GET /version. */
#include "api/handlers.h"

#include <sys/utsname.h>

void api_version(api_request *req, api_response *res)
{
    struct utsname u;
    uname(&u);
    api_reply_json(res, 200,
                   json_pack("{s:s, s:s, s:s, s:s, s:s}", "version", KLEENE_VERSION, "api_version",
                             "0.1.1", "os", u.sysname, "kernel", u.release, "arch", u.machine));
}
