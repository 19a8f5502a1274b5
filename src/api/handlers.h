/* Handlers of every REST endpoint, one file per object. */
#ifndef KL_HANDLERS_H
#define KL_HANDLERS_H

#include "api/api.h"
#include "api/router.h"

void api_volumes_list(api_request *req, api_response *res);
void api_volumes_create(api_request *req, api_response *res);
void api_volumes_inspect(api_request *req, api_response *res);
void api_volumes_remove(api_request *req, api_response *res);
void api_volumes_prune(api_request *req, api_response *res);

void api_containers_list(api_request *req, api_response *res);
void api_containers_create(api_request *req, api_response *res);
void api_containers_inspect(api_request *req, api_response *res);
void api_containers_update(api_request *req, api_response *res);
void api_containers_remove(api_request *req, api_response *res);
void api_containers_prune(api_request *req, api_response *res);
/* archive.c: copies into and out of a container (ours) */
void api_containers_archive_get(api_request *req, api_response *res);
void api_containers_archive_head(api_request *req, api_response *res);
void api_containers_archive_put(api_request *req, api_response *res);

void api_networks_list(api_request *req, api_response *res);
void api_networks_create(api_request *req, api_response *res);
void api_networks_inspect(api_request *req, api_response *res);
void api_networks_remove(api_request *req, api_response *res);
void api_networks_prune(api_request *req, api_response *res);
void api_networks_connect(api_request *req, api_response *res);
void api_networks_disconnect(api_request *req, api_response *res);

void api_images_list(api_request *req, api_response *res);
void api_images_inspect(api_request *req, api_response *res);
void api_images_tag(api_request *req, api_response *res);
void api_images_remove(api_request *req, api_response *res);
void api_images_prune(api_request *req, api_response *res);
/* GET /images/create (WebSocket, API.md §7.2) */
void api_images_create(struct api_ws_session *s, json_t *config);
void api_images_load(struct api_ws_session *s, json_t *config);
void api_images_save(struct api_ws_session *s, json_t *config);
void api_images_push(struct api_ws_session *s, json_t *config);
void api_images_build(struct api_ws_session *s, json_t *config);

/* exec.c: exec instances, container stop and logs */
void api_exec_create(api_request *req, api_response *res);
void api_exec_stop(api_request *req, api_response *res);
void api_containers_stop(api_request *req, api_response *res);
void api_containers_kill(api_request *req, api_response *res);
void api_containers_wait(api_request *req, api_response *res);
void api_containers_logs(api_request *req, api_response *res);
/* GET /exec/start (WebSocket, API.md §7.3) */
void api_exec_start(struct api_ws_session *s, json_t *config);

void api_version(api_request *req, api_response *res);
void api_system_df(api_request *req, api_response *res);
void api_registry_login(api_request *req, api_response *res);
void api_system_events(api_request *req, api_response *res);

/* WebSocket endpoints not implemented yet: clean close 1011 with a JSON reason. */
void api_ws_not_implemented(struct api_ws_session *s, json_t *config);

#endif
