/* libFuzzer target for the query of the Docker door's POST /build (src/api/docker/build.c,
 * dk_build_query_parse): the input as a raw query string (several t, buildargs and labels as
 * JSON, networkmode, platform, limits...). Checks: a refusal is a 400 with a message; an
 * accepted query has a name:tag that is "" or has a ':', a Dockerfile path that is relative,
 * buildargs of the form k=v. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api/docker/dk.h"
#include "api/httpparse.h"
#include "lib/cleanup.h"
#include "lib/xalloc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    _cleanup_free_ char *raw = xstrndup((const char *)data, size);
    if (strlen(raw) != size)
        return 0;
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
