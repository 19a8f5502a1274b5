/* libFuzzer target for what the Docker door's POST /build reads besides the body
 * (src/api/docker/build.c): the input's first line as a raw query string
 * (dk_build_query_parse: several t, buildargs and labels as JSON, networkmode, platform,
 * limits...), the rest as an X-Registry-Config header (dk_registry_config: base64 of JSON).
 * Checks: a refusal is a 400 with a message; an accepted query has a name:tag that is "" or
 * has a ':', a Dockerfile path that is relative, buildargs of the form k=v; accepted
 * credentials have a username without ':' and a registry without '/'. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api/docker/dk.h"
#include "api/httpparse.h"
#include "lib/cleanup.h"
#include "lib/xalloc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    _cleanup_free_ char *all = xstrndup((const char *)data, size);
    if (strlen(all) != size)
        return 0;
    char *nl = strchr(all, '\n');
    if (nl) {
        *nl = '\0';
        json_t *creds = NULL;
        api_response cres = {0};
        if (dk_registry_config(nl + 1, &creds, &cres) < 0) {
            if (cres.status != 400 || !json_is_string(json_object_get(cres.json, "message")))
                abort();
        } else {
            const char *reg;
            json_t *c;
            json_object_foreach(creds, reg, c)
            {
                if (strchr(reg, '/') ||
                    strchr(json_string_value(json_object_get(c, "username")), ':'))
                    abort();
            }
        }
        json_decref(creds);
        api_response_free(&cres);
    }
    const char *raw = all;
    size = strlen(raw);
    const char *keys[HTTP_MAX_QUERY_ARGS], *values[HTTP_MAX_QUERY_ARGS];
    _cleanup_free_ char *store = xmalloc(size + 1);
    http_refusal why;
    int n = http_parse_query(raw, store, keys, values, HTTP_MAX_QUERY_ARGS, &why);
    if (n < 0)
        return 0;
    _cleanup_json_ json_t *query = json_object();
    for (int i = 0; i < n; i++)
        json_object_set_new(query, keys[i], json_string(values[i]));
    http_head h = {.method = "POST", .query = raw};
    dk_request r = {.h = &h, .method = "POST", .path = "/build", .query = query};
    api_response res = {0};
    dk_build_query q;
    if (dk_build_query_parse(&r, &q, &res) < 0) {
        if (res.status != 400 || !json_is_string(json_object_get(res.json, "message")))
            abort();
    } else {
        if (q.nametag[0] && !strchr(q.nametag, ':'))
            abort();
        if (!q.dockerfile[0] || q.dockerfile[0] == '/')
            abort();
        for (size_t i = 0; q.buildargs[i]; i++)
            if (!strchr(q.buildargs[i], '='))
                abort();
        dk_build_query_clear(&q);
    }
    api_response_free(&res);
    return 0;
}
