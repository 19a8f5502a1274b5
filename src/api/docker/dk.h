/* Inside the Docker door: the request as its handlers see it, the route table's handler type,
 * Docker's error shape, and the id and name rules (docs/docker-api.md).
 *
 * A handler translates between Docker's wire and the engine: it keeps no state of its own
 * beside the store, and never reaches past the engine (no host/ include). */
#ifndef KL_DOCKER_DK_H
#define KL_DOCKER_DK_H

#include <jansson.h>
#include <stdbool.h>

#include "api/api.h"
#include "api/httpparse.h"
#include "lib/buf.h"

/* The API versions served: 1.24 (what dockerd 20.10 still accepts) to 1.41 (what it speaks,
 * and Debian 12's docker CLI). */
#define DK_API_VERSION "1.41"
#define DK_API_MIN_VERSION "1.24"
#define DK_API_MINOR 41
#define DK_API_MIN_MINOR 24

typedef struct dk_request {
    api_request *req;   /* ctx, peer, client_fd */
    const http_head *h; /* headers */
    const char *method;
    const char *path;      /* without the /v1.NN prefix */
    int minor;             /* the API version asked for: 1.<minor> (DK_API_MINOR without prefix) */
    const char *params[4]; /* the route's {parameters}, decoded */
    json_t *query;         /* the query's values as strings (the last one of a repeated key) */
    const kl_buf *body;    /* raw */
} dk_request;

typedef void (*dk_handler)(dk_request *r, api_response *res);

/* Docker's error shape: {"message": ...} with the status. */
void dk_error(api_response *res, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* The status of an engine error: ENOENT 404, EEXIST/EBUSY 409, EINVAL 400, else 500. */
int dk_status(int code);

/* Query helpers. A boolean is true for "1", "true", "True"... (like dockerd: anything but "",
 * "0", "false", "no"); an integer is refused (-1 and a 400 in res) when malformed. */
const char *dk_query_str(const dk_request *r, const char *key, const char *fallback);
bool dk_query_bool(const dk_request *r, const char *key, bool fallback);
int dk_query_int(const dk_request *r, const char *key, long long min, long long max,
                 long long fallback, long long *out, api_response *res);
/* The JSON body (an object); NULL after a 400 in res. An empty body is {} when empty_ok. */
json_t *dk_body_object(const dk_request *r, bool empty_ok, api_response *res);
/* The `filters` query parameter ({"key": ["v", ...]} or the old {"key": {"v": true}}),
 * normalised to {"key": ["v", ...]}; NULL after a 400 in res. */
json_t *dk_filters(const dk_request *r, const char *const *known, api_response *res);

/* ---- ids and names (docs/docker-api.md "Ids and names") --------------------------------
 * Docker's ids are 64 hex digits; Kleene's are 12. The Docker id of a Kleene object is its
 * Kleene id followed by 52 hex digits derived from it (SHA-1 of "kleene:<kind>:<id>" and of
 * "kleene:<kind>:<id>:2"), so it needs no storage and starts with the Kleene id. */
#define DK_ID_LEN 64
void dk_long_id(const char *kind, const char *id12, char out[DK_ID_LEN + 1]);
/* dockerd's predefined networks `host` and `none` (docs/docker-api.md "The predefined networks
 * host and none"): container modes shown as networks by the Docker door, never Kleene
 * networks. Their 64-hex Docker id (derived from the name); false for any other name. */
bool dk_predefined_network_id(const char *name, char out[DK_ID_LEN + 1]);
/* A Docker reference to an object (a name with or without its leading '/', an id of 1 to 64
 * hex digits) as the engine takes it: `ident` itself, or its first 12 digits for a longer id
 * (then check_full must be compared with dk_long_id of what the engine found). */
const char *dk_ident(const char *ident, char buf[16], bool *check_full);

/* "/v1.41/x" → 1, *minor 41 and *rest "/x"; 0 without a version prefix (*rest = path); -1 for
 * a prefix that is not 1.<n>. */
int dk_version_prefix(const char *path, int *minor, const char **rest);

/* The Kleene ContainerConfig (before the schema's cast; with the "door" and "entrypoint" keys
 * of containers.h) of a Docker create body (Config with HostConfig and NetworkingConfig).
 * *networks gets the names of the networks to connect after the create, *anon the names of
 * the anonymous volumes to make (both owned by the caller, also after a refusal). NULL after
 * a 400 in res naming the field. */
json_t *dk_create_translate(const json_t *body, const char *name, json_t **networks, json_t **anon,
                            api_response *res);

/* The Docker time of a Kleene one ("2026-12-07T10:13:01.123456Z" → same; "" → the zero
 * time "0001-01-01T00:00:00Z"). */
const char *dk_time(const char *t);

struct container_record;
/* Look a container up by a Docker reference; 404 "No such container: X" in res when there is
 * none. The record is the caller's (container_record_clear). */
int dk_container_get(dk_request *r, const char *ident, struct container_record *c,
                     api_response *res);

/* attach.c: a container whose Docker attach waits for its start gets the main process's
 * stream: 1 handed over (and started by the attach), 0 no attach waits (start it detached),
 * -1 the attached start failed. */
int dk_attach_hand_over(const char *container_id, const char *exec_id, kl_error *err);
/* Exit codes of attached main processes, kept briefly for a wait whose container an
 * auto-remove took away. */
void dk_exit_note(const char *container_id, int code);
bool dk_exit_noted(const char *container_id, int *code);
void dk_exit_forget(const char *container_id);

/* Endpoints */
void dk_ping(dk_request *r, api_response *res);
void dk_version(dk_request *r, api_response *res);
void dk_info(dk_request *r, api_response *res);

/* networks.c */
void dk_networks_list(dk_request *r, api_response *res);
void dk_networks_inspect(dk_request *r, api_response *res);
void dk_networks_create(dk_request *r, api_response *res);
void dk_networks_connect(dk_request *r, api_response *res);
void dk_networks_disconnect(dk_request *r, api_response *res);
void dk_networks_remove(dk_request *r, api_response *res);
void dk_networks_prune(dk_request *r, api_response *res);
/* The `until` of a prune filter (a Unix time, an RFC 3339 time or a duration before now) as
 * a store time ("2026-12-07T10:13:01.000000Z"); -1 after a 400 in res. */
int dk_until(const char *v, char out[40], api_response *res);

/* volumes.c */
void dk_volumes_list(dk_request *r, api_response *res);
void dk_volumes_create(dk_request *r, api_response *res);
void dk_volumes_inspect(dk_request *r, api_response *res);
void dk_volumes_remove(dk_request *r, api_response *res);
void dk_volumes_prune(dk_request *r, api_response *res);
void dk_containers_create(dk_request *r, api_response *res);
void dk_containers_list(dk_request *r, api_response *res);
void dk_containers_inspect(dk_request *r, api_response *res);
void dk_containers_start(dk_request *r, api_response *res);
void dk_containers_stop(dk_request *r, api_response *res);
void dk_containers_restart(dk_request *r, api_response *res);
void dk_containers_kill(dk_request *r, api_response *res);
void dk_containers_wait(dk_request *r, api_response *res);
void dk_containers_remove(dk_request *r, api_response *res);
void dk_containers_rename(dk_request *r, api_response *res);
void dk_containers_prune(dk_request *r, api_response *res);
void dk_containers_logs(dk_request *r, api_response *res);
void dk_containers_attach(dk_request *r, api_response *res);
void dk_containers_resize(dk_request *r, api_response *res);
void dk_containers_top(dk_request *r, api_response *res);
void dk_containers_stats(dk_request *r, api_response *res);
void dk_exec_create(dk_request *r, api_response *res);
void dk_exec_start(dk_request *r, api_response *res);
void dk_exec_inspect(dk_request *r, api_response *res);
void dk_exec_resize(dk_request *r, api_response *res);

/* images.c */
void dk_images_list(dk_request *r, api_response *res);
void dk_images_inspect(dk_request *r, api_response *res);
void dk_images_history(dk_request *r, api_response *res);
void dk_images_tag(dk_request *r, api_response *res);
void dk_images_remove(dk_request *r, api_response *res);
void dk_images_prune(dk_request *r, api_response *res);
/* transfer.c: pull, push, save, load */
void dk_images_create(dk_request *r, api_response *res);
void dk_images_push(dk_request *r, api_response *res);
void dk_images_get(dk_request *r, api_response *res);
void dk_images_get_many(dk_request *r, api_response *res);
void dk_images_load(dk_request *r, api_response *res);
/* X-Registry-Auth (base64url JSON: username, password, serveraddress, identitytoken): 0 with
 * *username and *password (xmalloc'ed) when credentials were given, both NULL when none
 * (absent, "", {}); -1 with EINVAL in err for a malformed header or an identity token. The
 * message never quotes the header. */
int dk_registry_auth(const char *header, char **username, char **password, kl_error *err);
void dk_login(dk_request *r, api_response *res);

/* build.c */
void dk_build(dk_request *r, api_response *res);
void dk_build_prune(dk_request *r, api_response *res);
/* The query of POST /build, checked (no engine, no I/O; docs/docker-api.md "Build"). */
typedef struct dk_build_query {
    char *nametag;      /* "name:tag" or "" */
    char **buildargs;   /* "k=v", NULL-terminated */
    json_t *labels;     /* object or NULL */
    json_t *networks;   /* EndPointConfig[] */
    const char *driver; /* the steps' network driver */
    char *dockerfile, *platform, *target;
    bool quiet, nocache, pull, keep_failed;
} dk_build_query;
/* 0, or -1 after a 400 in res naming what is refused. */
int dk_build_query_parse(const dk_request *r, dk_build_query *q, api_response *res);
void dk_build_query_clear(dk_build_query *q);
/* X-Registry-Config, which the docker CLI sends with every build (all its logins, `{}` when
 * none; NULL: none): base64 of {"<registry>": {"username", "password"} or {"auth":
 * base64("user:pass")}}. *out (always set, the caller's) gets {registry: {"username",
 * "password"}}, registries as a reference's domain names them; entries without a username
 * are left out. -1 after a 400 that never quotes the header or a credential. */
int dk_registry_config(const char *header, json_t **out, api_response *res);
/* Text as a JSON string (router.c): bytes that are not UTF-8 become U+FFFD. */
json_t *dk_text_json(const char *s, size_t n);

/* EndpointSettings a client sends (create's NetworkingConfig, connect): 400 for what would
 * change the endpoint and is not supported; Aliases must be strings (networks.c). */
int dk_endpoint_check(const json_t *ec, api_response *res);
/* archive.c (docker cp) */
void dk_containers_archive_get(dk_request *r, api_response *res);
void dk_containers_archive_head(dk_request *r, api_response *res);
void dk_containers_archive_put(dk_request *r, api_response *res);
/* events.c */
void dk_events(dk_request *r, api_response *res);
struct event;
/* Docker's message of an engine event (engine/events.h): Type, Action, Actor{ID, Attributes},
 * scope, time, timeNano, and status/id/from for containers and images. */
json_t *dk_event_json(const struct event *ev);

/* containers.c: a container as GET /containers/json lists it; NULL when it is gone. */
json_t *dk_container_summary(struct kl_engine *e, const struct container_record *c);
/* system_df.c */
void dk_system_df(dk_request *r, api_response *res);

#endif
