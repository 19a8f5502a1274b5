/* Route table and matcher. Every path of API.md §6 and §7 is here; handlers live in one file
 * per object. Matching is segment by segment; parameters are percent-decoded by the server
 * before matching and may not contain '/', except "{name*}" ones (image names). */
#include "api/router.h"
#include "api/handlers.h"
#include "api/schema.h"

#include <string.h>

#define REST(m, p, h, b, q)                                                                        \
    {                                                                                              \
        m, p, h, b, q, NULL, NULL, false                                                           \
    }
/* A REST route whose body its handler reads as it comes (api_route.streams_body). */
#define STREAMED(m, p, h, q)                                                                       \
    {                                                                                              \
        m, p, h, NULL, q, NULL, NULL, true                                                         \
    }
#define WS(p, h, c)                                                                                \
    {                                                                                              \
        "GET", p, NULL, NULL, NULL, h, c, false                                                    \
    }

static const api_route routes[] = {
    /* Containers */
    REST("GET", "/containers/list", api_containers_list, NULL, &schema_query_container_list),
    REST("POST", "/containers/create", api_containers_create, &schema_container_config, NULL),
    REST("GET", "/containers/{container_id}/inspect", api_containers_inspect, NULL, NULL),
    REST("POST", "/containers/{container_id}/update", api_containers_update,
         &schema_container_config, NULL),
    REST("POST", "/containers/{container_id}/stop", api_containers_stop, NULL,
         &schema_query_container_stop),
    REST("DELETE", "/containers/{container_id}", api_containers_remove, NULL, NULL),
    REST("POST", "/containers/prune", api_containers_prune, NULL, NULL),
    /* Exec */
    REST("POST", "/exec/create", api_exec_create, &schema_exec_config, NULL),
    REST("POST", "/exec/{exec_id}/stop", api_exec_stop, NULL, &schema_query_exec_stop),
    WS("/exec/start", api_exec_start, &schema_exec_start_config),
    /* Images */
    REST("GET", "/images/list", api_images_list, NULL, NULL),
    REST("GET", "/images/{image_id*}/inspect", api_images_inspect, NULL, NULL),
    REST("POST", "/images/{image_id*}/tag", api_images_tag, NULL, &schema_query_image_tag),
    REST("DELETE", "/images/{image_id*}", api_images_remove, NULL, NULL),
    REST("POST", "/images/prune", api_images_prune, NULL, &schema_query_image_prune),
    WS("/images/build", api_images_build, &schema_image_build_config),
    WS("/images/create", api_images_create, &schema_image_create_config),
    WS("/images/load", api_images_load, &schema_image_load_config),
    WS("/images/save", api_images_save, &schema_image_save_config),
    WS("/images/push", api_images_push, &schema_image_push_config),
    /* Networks */
    REST("GET", "/networks/list", api_networks_list, NULL, NULL),
    REST("POST", "/networks/create", api_networks_create, &schema_network_config, NULL),
    REST("GET", "/networks/{network_id}/inspect", api_networks_inspect, NULL, NULL),
    REST("DELETE", "/networks/{network_id}", api_networks_remove, NULL, NULL),
    REST("POST", "/networks/prune", api_networks_prune, NULL, NULL),
    REST("POST", "/networks/connect", api_networks_connect, &schema_end_point_config, NULL),
    REST("POST", "/networks/{network_id}/disconnect/{container_id}", api_networks_disconnect, NULL,
         NULL),
    /* Volumes */
    REST("GET", "/volumes/list", api_volumes_list, NULL, NULL),
    REST("POST", "/volumes/create", api_volumes_create, &schema_volume_config, NULL),
    REST("GET", "/volumes/{volume_name}/inspect", api_volumes_inspect, NULL, NULL),
    REST("DELETE", "/volumes/{volume_name}", api_volumes_remove, NULL, NULL),
    REST("POST", "/volumes/prune", api_volumes_prune, NULL, NULL),
    /* Ours */
    REST("GET", "/version", api_version, NULL, NULL),
    REST("GET", "/system/df", api_system_df, NULL, NULL),
    REST("POST", "/auth", api_registry_login, &schema_registry_login_config, NULL),
    REST("POST", "/containers/{container_id}/kill", api_containers_kill, NULL,
         &schema_query_container_kill),
    REST("POST", "/containers/{container_id}/wait", api_containers_wait, NULL, NULL),
    REST("GET", "/containers/{container_id}/logs", api_containers_logs, NULL,
         &schema_query_container_logs),
    REST("GET", "/system/events", api_system_events, NULL, &schema_query_system_events),
    REST("GET", "/containers/{container_id}/archive", api_containers_archive_get, NULL,
         &schema_query_archive),
    REST("HEAD", "/containers/{container_id}/archive", api_containers_archive_head, NULL,
         &schema_query_archive),
    STREAMED("PUT", "/containers/{container_id}/archive", api_containers_archive_put,
             &schema_query_archive_put),
};

/* A pattern segment "{name}" takes one path segment; "{name*}" (only before literal
 * segments) takes one or more, so that an image name with '/' ("127.0.0.1:5000/team/app",
 * sent as %2F and decoded before matching, or as is) is one parameter. */
static bool match_pattern(const char *pattern, char *path, const char **params)
{
    size_t np = 0;
    char *ends[API_MAX_PARAMS];
    const char *p = pattern;
    char *s = path;
    while (*p && *s) {
        if (*p != '/' || *s != '/')
            return false;
        p++;
        s++;
        const char *pend = strchr(p, '/');
        size_t plen = pend ? (size_t)(pend - p) : strlen(p);
        char *send = strchr(s, '/');
        size_t slen = send ? (size_t)(send - s) : strlen(s);
        if (plen > 2 && p[0] == '{' && p[plen - 2] == '*' && p[plen - 1] == '}') {
            const char *rest = p + plen; /* literal segments only */
            size_t rl = strlen(rest), sl = strlen(s);
            if (np >= API_MAX_PARAMS || sl <= rl || strcmp(s + sl - rl, rest) != 0 ||
                (rl && s[sl - rl - 1] == '/'))
                return false;
            slen = sl - rl;
        } else if (plen > 1 && p[0] == '{' && p[plen - 1] == '}') {
            if (slen == 0 || np >= API_MAX_PARAMS)
                return false;
        } else if (plen != slen || strncmp(p, s, plen) != 0) {
            return false;
        }
        if (p[0] == '{') {
            ends[np] = s + slen;
            params[np++] = s;
        }
        p += plen;
        s += slen;
    }
    if (*p || *s)
        return false;
    /* Terminate the captured segments in place (each end is a '/' or the end). */
    for (size_t i = 0; i < np; i++)
        *ends[i] = '\0';
    return true;
}

const api_route *router_match(const char *method, const char *path, const char **params,
                              char *storage, bool *path_known)
{
    *path_known = false;
    for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
        strcpy(storage, path);
        const char *tmp[API_MAX_PARAMS] = {0};
        if (!match_pattern(routes[i].pattern, storage, tmp))
            continue;
        *path_known = true;
        if (strcmp(routes[i].method, method) != 0)
            continue;
        memcpy(params, tmp, sizeof(tmp));
        return &routes[i];
    }
    return NULL;
}

const api_route *router_routes(size_t *n)
{
    *n = sizeof(routes) / sizeof(routes[0]);
    return routes;
}

void api_not_implemented(api_request *req, api_response *res)
{
    api_reply_message(res, 501, "%s %s is not implemented yet by this kleened", req->method,
                      req->path);
}
