/* libFuzzer target for the Docker door's parsers (src/api/docker/): the input's first line as
 * a request path (version prefix), as a `filters` query value, as an X-Registry-Auth header
 * and as an events timestamp, the rest as a create body
 * (JSON) translated to a Kleene ContainerConfig. Checks: a refusal is a 400 with a message,
 * a translation an object with an image. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api/docker/dk.h"
#include "engine/events.h"
#include "lib/cleanup.h"
#include "lib/xalloc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *nl = memchr(data, '\n', size);
    size_t first = nl ? (size_t)(nl - (const char *)data) : size;
    _cleanup_free_ char *line = xstrndup((const char *)data, first);
    if (strlen(line) == first) {
        int minor;
        const char *rest;
        int v = dk_version_prefix(line, &minor, &rest);
        if (v == 1 && (minor < 0 || rest[0] != '/'))
            abort();
        char *user = NULL, *pass = NULL;
        kl_error aerr = KL_ERROR_INIT;
        int a = dk_registry_auth(line, &user, &pass, &aerr);
        if (a < 0 ? aerr.code != EINVAL || user || pass : (user == NULL) != (pass == NULL))
            abort();
        free(user);
        free(pass);
        /* GET /events since/until: -1, or a time no later than the digits allow */
        long long ns = events_parse_time(line);
        if (ns < -1 || (ns >= 0 && line[0] == '-'))
            abort();
        static const char *const known[] = {"label", "name", "id", NULL};
        _cleanup_json_ json_t *q = json_pack("{s:s}", "filters", line);
        if (q) {
            dk_request r = {.query = q};
            api_response res = {0};
            json_t *f = dk_filters(&r, known, &res);
            if (!f && res.status != 400)
                abort();
            json_decref(f);
            api_response_free(&res);
        }
    }
    if (!nl)
        return 0;
    json_t *body = json_loadb(nl + 1, size - first - 1, 0, NULL);
    if (!json_is_object(body)) {
        json_decref(body);
        return 0;
    }
    json_t *nets = NULL, *anon = NULL;
    api_response res = {0};
    json_t *k = dk_create_translate(body, "n", &nets, &anon, &res);
    if (k ? !json_is_string(json_object_get(k, "image"))
          : res.status != 400 || !json_is_string(json_object_get(res.json, "message")))
        abort();
    json_decref(k);
    json_decref(nets);
    json_decref(anon);
    json_decref(body);
    api_response_free(&res);
    return 0;
}
