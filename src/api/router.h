/* The route table of API.md §6 and §7 and path matching. */
#ifndef KL_ROUTER_H
#define KL_ROUTER_H

#include "api/api.h"

struct kl_schema;
struct api_ws_session;

typedef void (*api_ws_handler)(struct api_ws_session *s, json_t *config);

typedef struct api_route {
    const char *method;
    const char *pattern; /* "/volumes/{volume_name}/inspect" */
    api_handler handler; /* REST */
    const struct kl_schema *body_schema;
    const struct kl_schema *query_schema;
    api_ws_handler ws_handler;                /* WebSocket endpoints (GET + Upgrade) */
    const struct kl_schema *ws_config_schema; /* the first frame's schema */
    /* REST: the body is not read in advance (nor bounded by max_body_bytes) but read by the
     * handler as it comes (api_request.body_read): archive uploads. */
    bool streams_body;
} api_route;

/* Match `path` (no query string). Fills params (pointing into `storage`, which must be at least
 * strlen(path)+1 bytes). Returns NULL when nothing matches; *path_known tells whether the path
 * matched with another method. */
const api_route *router_match(const char *method, const char *path, const char **params,
                              char *storage, bool *path_known);

/* The whole table, for tools that walk it (the API fuzzer's dump); *n receives the count. */
const api_route *router_routes(size_t *n);

/* For handlers of endpoints that a later issue implements. */
void api_not_implemented(api_request *req, api_response *res);

#endif
