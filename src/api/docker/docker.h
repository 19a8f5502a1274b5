/* The Docker Engine API door (docs/docker-api.md): a second front end onto the same engine as
 * the Kleene API. kleened's listeners of docker_listening_sockets send every request here
 * (api_listener.door). */
#ifndef KL_DOCKER_H
#define KL_DOCKER_H

#include "api/server.h"

/* The api_door_fn of the Docker listeners. */
void docker_serve(const struct http_head *h, const struct kl_buf *body, api_request *req,
                  api_response *res);
/* The door_streams of the Docker listeners: the requests whose body is an archive
 * (POST /images/load, POST /build, PUT /containers/{id}/archive), read while they are
 * served. */
bool docker_streams_body(const struct http_head *h);

#endif
