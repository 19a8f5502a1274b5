/* Request schemas and the OpenApiSpex-compatible caster (see schema.h for the rules).
 *
 * The tables below are the wire contract of API.md §5/§6: field names, types, nullability,
 * required lists and defaults are the original's. The caster must never trust its input: it
 * is fed raw client JSON (and is fuzzed); it does not touch anything outside its arguments. */
#include "api/schema.h"

#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/buf.h"
#include "lib/cleanup.h"
#include "lib/jsonx.h"
#include "lib/labels.h"
#include "lib/names.h"
#include "lib/xalloc.h"

/* ------------------------------------------------------------------------------------------
 * Tables
 * ------------------------------------------------------------------------------------------ */

static const kl_schema_value string_item = {.type = KL_SCHEMA_STRING};
static const kl_schema_value mount_point_config_item = {.type = KL_SCHEMA_OBJECT,
                                                        .object = &schema_mount_point_config};
static const kl_schema_value published_port_config_item = {.type = KL_SCHEMA_OBJECT,
                                                           .object = &schema_published_port_config};
static const kl_schema_value end_point_config_item = {.type = KL_SCHEMA_OBJECT,
                                                      .object = &schema_end_point_config};

#define T_STRING(...)                                                                              \
    {                                                                                              \
        .type = KL_SCHEMA_STRING, __VA_ARGS__                                                      \
    }
#define T_BOOL(...)                                                                                \
    {                                                                                              \
        .type = KL_SCHEMA_BOOLEAN, __VA_ARGS__                                                     \
    }
/* A name users give to an object (docs/api.md "Names"). */
#define T_NAME(...)                                                                                \
    {                                                                                              \
        .type = KL_SCHEMA_STRING, .max_length = KL_OBJECT_NAME_MAX, .is_valid = kl_name_is_valid,  \
        .pattern = KL_OBJECT_NAME_PATTERN, __VA_ARGS__                                             \
    }
#define T_INTEGER(...)                                                                             \
    {                                                                                              \
        .type = KL_SCHEMA_INTEGER, __VA_ARGS__                                                     \
    }
#define T_NUMBER(...)                                                                              \
    {                                                                                              \
        .type = KL_SCHEMA_NUMBER, __VA_ARGS__                                                      \
    }
#define T_ARRAY(item, ...)                                                                         \
    {                                                                                              \
        .type = KL_SCHEMA_ARRAY, .items = &(item), __VA_ARGS__                                     \
    }
#define T_OBJECT(ref, ...)                                                                         \
    {                                                                                              \
        .type = KL_SCHEMA_OBJECT, .object = (ref), __VA_ARGS__                                     \
    }
/* ours (docs/api.md "Labels"): an object of strings, by the rule of lib/labels.h */
#define T_LABELS()                                                                                 \
    {                                                                                              \
        .type = KL_SCHEMA_OBJECT, .is_nullable = true, .check = kl_labels_check                    \
    }
#define SCHEMA(sym, nm, tbl, query)                                                                \
    const kl_schema sym = {                                                                        \
        .name = nm, .fields = tbl, .n_fields = KL_ARRAY_SIZE(tbl), .is_query = query}

static const char *const network_driver_enum[] = {"ipnet", "host", "vnet", "disabled", NULL};
static const char *const restart_policy_enum[] = {"no", "on-startup", NULL};
static const char *const mount_type_enum[] = {"volume", "nullfs", NULL};
static const char *const protocol_enum[] = {"tcp", "udp", NULL};
static const char *const image_create_method_enum[] = {"fetch",     "fetch-auto", "zfs-copy",
                                                       "zfs-clone", "pull",       NULL};
static const char *const image_save_format_enum[] = {"docker", "oci", NULL};
static const char *const network_type_enum[] = {"bridge", "loopback", "custom", NULL};
static const char *const init_mode_enum[] = {"auto", "systemd", "plain", "none", NULL};

/* §5.1 */
static const kl_schema_field container_config_fields[] = {
    /* The character set is checked by the engine, with the original's message and status. */
    {.name = "name", .value = T_STRING(.is_nullable = true, .max_length = KL_OBJECT_NAME_MAX)},
    {.name = "image", .value = T_STRING(.is_nullable = true)},
    {.name = "cmd", .value = T_ARRAY(string_item, .is_nullable = true), .default_json = "[]"},
    {.name = "user", .value = T_STRING(.is_nullable = true), .default_json = "\"\""},
    {.name = "env", .value = T_ARRAY(string_item, .is_nullable = true), .default_json = "[]"},
    {.name = "mounts",
     .value = T_ARRAY(mount_point_config_item, .is_nullable = true),
     .default_json = "[]"},
    {.name = "jail_param",
     .value = T_ARRAY(string_item, .is_nullable = true),
     .default_json = "[]"},
    {.name = "network_driver",
     .value = T_STRING(.enum_values = network_driver_enum),
     .default_json = "\"ipnet\""},
    {.name = "public_ports",
     .value = T_ARRAY(published_port_config_item, .is_nullable = true),
     .default_json = "[]"},
    {.name = "restart_policy",
     .value = T_STRING(.is_nullable = true, .enum_values = restart_policy_enum),
     .default_json = "\"no\""},
    {.name = "persist", .value = T_BOOL(.is_nullable = true), .default_json = "false"},
    /* Optional fields of ours (docs/api.md): resource limits; null = unchanged / none. */
    {.name = "memory", .value = T_INTEGER(.is_nullable = true)},
    {.name = "cpus", .value = T_NUMBER(.is_nullable = true)},
    {.name = "pids_limit", .value = T_INTEGER(.is_nullable = true)},
    /* ours: removal by kleened after the end, grace of a stop, working directory */
    {.name = "auto_remove", .value = T_BOOL(.is_nullable = true)},
    {.name = "stop_timeout", .value = T_INTEGER(.is_nullable = true)},
    {.name = "workdir", .value = T_STRING(.is_nullable = true)},
    /* ours (docs/thin-vm.md): who is pid 1, and the stop command; null = the default */
    {.name = "init", .value = T_STRING(.is_nullable = true, .enum_values = init_mode_enum)},
    {.name = "stop_cmd", .value = T_STRING(.is_nullable = true)},
    /* ours: the signal a stop sends (a name or number as kill takes it); null = unchanged */
    {.name = "stop_signal", .value = T_STRING(.is_nullable = true)},
    /* ours (docs/api.md "Labels"); null = none (create) / unchanged (update) */
    {.name = "labels", .value = T_LABELS()},
    /* ours (docs/api.md "Name resolution"): /etc/hosts lines, a resolv.conf of kleened's */
    {.name = "extra_hosts", .value = T_ARRAY(string_item, .is_nullable = true)},
    {.name = "dns", .value = T_ARRAY(string_item, .is_nullable = true)},
    {.name = "dns_search", .value = T_ARRAY(string_item, .is_nullable = true)},
    {.name = "dns_options", .value = T_ARRAY(string_item, .is_nullable = true)},
};
SCHEMA(schema_container_config, "ContainerConfig", container_config_fields, false);

/* §5.6: nothing required. */
static const kl_schema_field mount_point_config_fields[] = {
    {.name = "type", .value = T_STRING(.enum_values = mount_type_enum)},
    {.name = "destination", .value = T_STRING()},
    {.name = "source", .value = T_STRING()},
    {.name = "read_only", .value = T_BOOL(), .default_json = "false"},
};
SCHEMA(schema_mount_point_config, "MountPointConfig", mount_point_config_fields, false);

/* §5.5: required [interfaces, host_port, container_port]. */
static const kl_schema_field published_port_config_fields[] = {
    {.name = "interfaces",
     .value = T_ARRAY(string_item),
     .is_required = true,
     .default_json = "[]"},
    {.name = "host_port", .value = T_STRING(), .is_required = true},
    {.name = "container_port", .value = T_STRING(), .is_required = true},
    {.name = "protocol",
     .value = T_STRING(.enum_values = protocol_enum),
     .default_json = "\"tcp\""},
    /* ours: only connections to this local address are forwarded ("": any) */
    {.name = "host_address", .value = T_STRING(), .default_json = "\"\""},
};
SCHEMA(schema_published_port_config, "PublishedPortConfig", published_port_config_fields, false);

/* §5.7: nothing required. */
static const kl_schema_field exec_config_fields[] = {
    {.name = "container_id", .value = T_STRING()},
    {.name = "cmd", .value = T_ARRAY(string_item), .default_json = "[]"},
    {.name = "user", .value = T_STRING(), .default_json = "\"\""},
    {.name = "env", .value = T_ARRAY(string_item), .default_json = "[]"},
    {.name = "tty", .value = T_BOOL(), .default_json = "false"},
    /* ours (docs/api.md): initial pty size */
    {.name = "tty_rows", .value = {.type = KL_SCHEMA_INTEGER, .is_nullable = true}},
    {.name = "tty_cols", .value = {.type = KL_SCHEMA_INTEGER, .is_nullable = true}},
    /* ours: the process's working directory */
    {.name = "workdir", .value = T_STRING(.is_nullable = true)},
};
SCHEMA(schema_exec_config, "ExecConfig", exec_config_fields, false);

/* §5.8: required [exec_id, attach, start_container]. */
static const kl_schema_field exec_start_config_fields[] = {
    {.name = "exec_id", .value = T_STRING(), .is_required = true},
    {.name = "attach", .value = T_BOOL(), .is_required = true},
    {.name = "start_container", .value = T_BOOL(), .is_required = true},
    /* ours (docs/api.md): output frames that tell stdout from stderr, control messages
     * (end of input, terminal size) from the client */
    {.name = "multiplex", .value = T_BOOL(), .default_json = "false"},
};
SCHEMA(schema_exec_start_config, "ExecStartConfig", exec_start_config_fields, false);

/* §5.10: required [context, container_config]; buildargs is a free-form object (the original
 * does not check its values either). */
static const kl_schema_field image_build_config_fields[] = {
    {.name = "context", .value = T_STRING(), .is_required = true},
    {.name = "dockerfile", .value = T_STRING(), .default_json = "\"Dockerfile\""},
    {.name = "quiet", .value = T_BOOL(), .default_json = "false"},
    {.name = "cleanup", .value = T_BOOL(), .default_json = "true"},
    {.name = "tag", .value = T_STRING(), .default_json = "\"\""},
    {.name = "buildargs", .value = T_OBJECT(NULL), .default_json = "{}"},
    {.name = "container_config", .value = T_OBJECT(&schema_container_config), .is_required = true},
    {.name = "networks", .value = T_ARRAY(end_point_config_item), .default_json = "[]"},
    /* ours: build without the build cache */
    {.name = "nocache", .value = T_BOOL(), .default_json = "false"},
    /* ours: Dockerfile and step errors start with "line N: " */
    {.name = "line_numbers", .value = T_BOOL(), .default_json = "false"},
    /* ours: the client sends the context as a tar stream after the config */
    {.name = "context_upload", .value = T_BOOL(), .default_json = "false"},
    /* ours: labels of the built image, over the Dockerfile's LABELs */
    {.name = "labels", .value = T_LABELS()},
    /* ours: FROM images that came from a registry are pulled again (Docker's --pull) */
    {.name = "pull", .value = T_BOOL(), .default_json = "false"},
    /* ours: credentials for the build's pulls, {registry: RegistryAuth} (checked by the
     * handler: the values are RegistryAuth objects) */
    {.name = "registry_auth", .value = T_OBJECT(NULL, .is_nullable = true)},
};
SCHEMA(schema_image_build_config, "ImageBuildConfig", image_build_config_fields, false);

/* ours (docs/api.md "Registry credentials"): {"username", "password"} for a pull or push */
static const kl_schema_field registry_auth_fields[] = {
    {.name = "username", .value = T_STRING(.max_length = 1024), .is_required = true},
    {.name = "password", .value = T_STRING(.max_length = 16384), .default_json = "\"\""},
};
SCHEMA(schema_registry_auth, "RegistryAuth", registry_auth_fields, false);

/* ours (docs/api.md "Registry credentials"): POST /auth */
static const kl_schema_field registry_login_config_fields[] = {
    {.name = "server_address", .value = T_STRING(.max_length = 1024), .is_required = true},
    {.name = "username", .value = T_STRING(.max_length = 1024), .is_required = true},
    {.name = "password", .value = T_STRING(.max_length = 16384), .default_json = "\"\""},
};
SCHEMA(schema_registry_login_config, "RegistryLoginConfig", registry_login_config_fields, false);

/* §5.11: required [method]. */
static const kl_schema_field image_create_config_fields[] = {
    {.name = "method",
     .value = T_STRING(.enum_values = image_create_method_enum),
     .is_required = true},
    {.name = "tag", .value = T_STRING(), .default_json = "\"\""},
    {.name = "dns", .value = T_BOOL(), .default_json = "true"},
    {.name = "localtime", .value = T_BOOL(), .default_json = "true"},
    {.name = "update", .value = T_BOOL(), .default_json = "false"},
    {.name = "zfs_dataset", .value = T_STRING(), .default_json = "\"\""},
    {.name = "url", .value = T_STRING(), .default_json = "\"\""},
    {.name = "autotag", .value = T_BOOL(), .default_json = "false"},
    /* ours (docs/api.md): fetch-auto's extra packages */
    {.name = "include", .value = T_ARRAY(string_item, .is_nullable = true)},
    /* ours (docs/api.md): method "pull" */
    {.name = "image", .value = T_STRING(), .default_json = "\"\""},
    {.name = "platform", .value = T_STRING(), .default_json = "\"\""},
    /* ours: method "pull"'s registry credentials */
    {.name = "auth", .value = T_OBJECT(&schema_registry_auth, .is_nullable = true)},
};
SCHEMA(schema_image_create_config, "ImageCreateConfig", image_create_config_fields, false);

/* §5.12: required [name, type]. */
static const kl_schema_field network_config_fields[] = {
    {.name = "name", .value = T_NAME(), .is_required = true},
    {.name = "type", .value = T_STRING(.enum_values = network_type_enum), .is_required = true},
    {.name = "interface", .value = T_STRING(.max_length = 15), .default_json = "\"\""},
    {.name = "subnet", .value = T_STRING(), .default_json = "\"\""},
    {.name = "subnet6", .value = T_STRING(), .default_json = "\"\""},
    {.name = "gateway", .value = T_STRING(), .default_json = "\"\""},
    {.name = "gateway6", .value = T_STRING(), .default_json = "\"\""},
    {.name = "nat", .value = T_STRING(), .default_json = "\"<host-gateway>\""},
    {.name = "icc", .value = T_BOOL(), .default_json = "true"},
    {.name = "internal", .value = T_BOOL(), .default_json = "false"},
    /* ours: share addresses with another network's subnet (refused otherwise) */
    {.name = "allow_subnet_overlap", .value = T_BOOL(), .default_json = "false"},
    /* ours (docs/api.md "Labels") */
    {.name = "labels", .value = T_LABELS()},
    /* ours: automatic IPv4 addresses come from this part of the subnet */
    {.name = "ip_range", .value = T_STRING(), .default_json = "\"\""},
};
SCHEMA(schema_network_config, "NetworkConfig", network_config_fields, false);

/* §5.14: required [container, network]. */
static const kl_schema_field end_point_config_fields[] = {
    {.name = "container", .value = T_STRING(), .is_required = true},
    {.name = "network", .value = T_STRING(), .is_required = true},
    {.name = "ip_address", .value = T_STRING(), .default_json = "\"\""},
    {.name = "ip_address6", .value = T_STRING(), .default_json = "\"\""},
    /* ours (docs/api.md "Name resolution"): more names of the container on this network */
    {.name = "aliases", .value = T_ARRAY(string_item, .is_nullable = true)},
};
SCHEMA(schema_end_point_config, "EndPointConfig", end_point_config_fields, false);

/* §5.16 */
static const kl_schema_field volume_config_fields[] = {
    /* Checked by the engine (422 at /name, with a message naming the rule). */
    {.name = "name", .value = T_STRING(.max_length = KL_OBJECT_NAME_MAX), .is_required = true},
    /* ours (docs/api.md "Labels") */
    {.name = "labels", .value = T_LABELS()},
};
SCHEMA(schema_volume_config, "VolumeConfig", volume_config_fields, false);

/* §6 query parameters. */
static const kl_schema_field query_container_list_fields[] = {
    {.name = "all", .value = T_BOOL()}, {.name = "state", .value = T_BOOL()}, /* ours */
};
SCHEMA(schema_query_container_list, "ContainerListQuery", query_container_list_fields, true);

static const kl_schema_field query_exec_stop_fields[] = {
    {.name = "force_stop", .value = T_BOOL(), .is_required = true},
    {.name = "stop_container", .value = T_BOOL(), .is_required = true},
};
SCHEMA(schema_query_exec_stop, "ExecStopQuery", query_exec_stop_fields, true);

/* ours (docs/api.md): GET /containers/{id}/logs?follow=bool&stdout=bool&stderr=bool
 * &multiplex=bool */
static const kl_schema_field query_container_logs_fields[] = {
    {.name = "follow", .value = T_BOOL()},
    {.name = "stdout", .value = T_BOOL()},
    {.name = "stderr", .value = T_BOOL()},
    {.name = "multiplex", .value = T_BOOL()},
    /* ours (docs/api.md): the last N lines, lines since a time, each line with its time */
    {.name = "tail", .value = T_INTEGER()},
    {.name = "since", .value = T_STRING()},
    {.name = "timestamps", .value = T_BOOL()},
};
SCHEMA(schema_query_container_logs, "ContainerLogsQuery", query_container_logs_fields, true);

/* ours (docs/api.md "Events"): GET /system/events?since=&until=&type= */
static const kl_schema_field query_system_events_fields[] = {
    {.name = "since", .value = T_STRING()},
    {.name = "until", .value = T_STRING()},
    {.name = "type", .value = T_STRING()},
};
SCHEMA(schema_query_system_events, "SystemEventsQuery", query_system_events_fields, true);

/* ours (docs/api.md "Copying files"): GET and HEAD /containers/{id}/archive?path= */
static const kl_schema_field query_container_archive_fields[] = {
    {.name = "path", .value = T_STRING(), .is_required = true},
};
SCHEMA(schema_query_archive, "ContainerArchiveQuery", query_container_archive_fields, true);

/* ours: PUT /containers/{id}/archive?path=&no_overwrite_dir_non_dir=&copy_uid_gid= */
static const kl_schema_field query_container_archive_put_fields[] = {
    {.name = "path", .value = T_STRING(), .is_required = true},
    {.name = "no_overwrite_dir_non_dir", .value = T_BOOL()},
    {.name = "copy_uid_gid", .value = T_BOOL()},
};
SCHEMA(schema_query_archive_put, "ContainerArchivePutQuery", query_container_archive_put_fields,
       true);

/* ours (docs/api.md): POST /containers/{id}/stop?timeout=seconds */
static const kl_schema_field query_container_stop_fields[] = {
    {.name = "timeout", .value = T_INTEGER()},
};
SCHEMA(schema_query_container_stop, "ContainerStopQuery", query_container_stop_fields, true);

/* ours (docs/api.md): POST /containers/{id}/kill?signal=NAME|NUMBER */
static const kl_schema_field query_container_kill_fields[] = {
    {.name = "signal", .value = T_STRING()},
};
SCHEMA(schema_query_container_kill, "ContainerKillQuery", query_container_kill_fields, true);

static const kl_schema_field query_image_tag_fields[] = {
    {.name = "nametag", .value = T_STRING(), .is_required = true},
};
SCHEMA(schema_query_image_tag, "ImageTagQuery", query_image_tag_fields, true);

static const kl_schema_field query_image_prune_fields[] = {
    {.name = "all", .value = T_BOOL(), .is_required = true},
};
SCHEMA(schema_query_image_prune, "ImagePruneQuery", query_image_prune_fields, true);

/* ours (docs/api.md): /images/load; the archive follows as binary frames */
static const kl_schema_field image_load_config_fields[] = {
    {.name = "platform", .value = T_STRING(), .default_json = "\"\""},
};
SCHEMA(schema_image_load_config, "ImageLoadConfig", image_load_config_fields, false);

/* ours (docs/api.md): /images/save */
static const kl_schema_field image_save_config_fields[] = {
    {.name = "images", .value = T_ARRAY(string_item), .is_required = true},
    {.name = "format",
     .value = T_STRING(.enum_values = image_save_format_enum),
     .default_json = "\"docker\""},
};
SCHEMA(schema_image_save_config, "ImageSaveConfig", image_save_config_fields, false);

/* ours (docs/api.md): /images/push */
static const kl_schema_field image_push_config_fields[] = {
    {.name = "image", .value = T_STRING(), .is_required = true},
    {.name = "reference", .value = T_STRING(), .default_json = "\"\""},
    {.name = "auth", .value = T_OBJECT(&schema_registry_auth, .is_nullable = true)},
};
SCHEMA(schema_image_push_config, "ImagePushConfig", image_push_config_fields, false);

static const kl_schema *const all_schemas[] = {
    &schema_container_config,      &schema_mount_point_config,   &schema_published_port_config,
    &schema_exec_config,           &schema_exec_start_config,    &schema_image_build_config,
    &schema_image_create_config,   &schema_network_config,       &schema_end_point_config,
    &schema_volume_config,         &schema_query_container_list, &schema_query_exec_stop,
    &schema_query_container_logs,  &schema_query_image_tag,      &schema_query_image_prune,
    &schema_query_container_stop,  &schema_query_container_kill, &schema_image_load_config,
    &schema_image_save_config,     &schema_image_push_config,    &schema_registry_auth,
    &schema_registry_login_config, &schema_query_system_events,  &schema_query_archive,
    &schema_query_archive_put,
};

const kl_schema *schema_lookup(const char *name)
{
    if (!name)
        return NULL;
    for (size_t i = 0; i < KL_ARRAY_SIZE(all_schemas); i++)
        if (strcmp(all_schemas[i]->name, name) == 0)
            return all_schemas[i];
    return NULL;
}

const kl_schema *const *schema_all(size_t *n)
{
    *n = KL_ARRAY_SIZE(all_schemas);
    return all_schemas;
}

/* ------------------------------------------------------------------------------------------
 * Errors
 * ------------------------------------------------------------------------------------------ */

void schema_error_append(json_t *errors, const char *pointer, const char *detail)
{
    json_t *e = json_pack("{s:s, s:{s:s}, s:s}", "title", "Invalid value", "source", "pointer",
                          pointer, "detail", detail);
    if (!e) /* only if a string is not UTF-8: keep the entry, lose the text */
        e = json_pack("{s:s, s:{s:s}, s:s}", "title", "Invalid value", "source", "pointer", "/",
                      "detail", "Invalid value");
    json_array_append_new(errors, e);
}

char *schema_error_body(json_t *errors)
{
    _cleanup_json_ json_t *body = json_object();
    json_object_set_new(body, "errors", json_is_array(errors) ? json_incref(errors) : json_array());
    return jx_dump(body);
}

const char *schema_first_error_message(json_t *errors)
{
    json_t *first = json_array_get(errors, 0);
    json_t *detail = json_object_get(first, "detail");
    return json_is_string(detail) ? json_string_value(detail) : "";
}

/* ------------------------------------------------------------------------------------------
 * Caster
 * ------------------------------------------------------------------------------------------ */

typedef struct cast_ctx {
    kl_buf path; /* JSON-pointer-like path of the value being cast ("" = the root) */
    json_t *errors;
} cast_ctx;

static size_t path_push(cast_ctx *c, const char *segment)
{
    size_t saved = c->path.len;
    kl_buf_puts(&c->path, "/");
    kl_buf_puts(&c->path, segment);
    return saved;
}

static size_t path_push_index(cast_ctx *c, size_t index)
{
    size_t saved = c->path.len;
    kl_buf_printf(&c->path, "/%zu", index);
    return saved;
}

static void path_pop(cast_ctx *c, size_t saved)
{
    c->path.len = saved;
    if (c->path.data)
        c->path.data[saved] = '\0';
}

__attribute__((format(printf, 2, 3))) static int cast_error(cast_ctx *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    _cleanup_free_ char *detail = NULL;
    if (vasprintf(&detail, fmt, ap) < 0)
        abort(); /* OOM is not an error path */
    va_end(ap);
    schema_error_append(c->errors, c->path.len ? c->path.data : "/", detail);
    return -1;
}

const char *kl_schema_type_name(kl_schema_type t)
{
    switch (t) {
    case KL_SCHEMA_STRING:
        return "string";
    case KL_SCHEMA_INTEGER:
        return "integer";
    case KL_SCHEMA_NUMBER:
        return "number";
    case KL_SCHEMA_BOOLEAN:
        return "boolean";
    case KL_SCHEMA_OBJECT:
        return "object";
    case KL_SCHEMA_ARRAY:
        return "array";
    }
    return "unknown";
}

/* The type of a client value, as OpenApiSpex names it in "Got: <type>". */
static const char *json_type_name(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return "object";
    case JSON_ARRAY:
        return "array";
    case JSON_STRING:
        return "string";
    case JSON_INTEGER:
        return "integer";
    case JSON_REAL:
        return "number";
    case JSON_TRUE:
    case JSON_FALSE:
        return "boolean";
    case JSON_NULL:
        return "null";
    }
    return "unknown";
}

static uint32_t utf8_next(const unsigned char **p)
{
    const unsigned char *s = *p;
    uint32_t cp;
    size_t n;
    if (s[0] < 0x80) {
        cp = s[0];
        n = 1;
    } else if ((s[0] & 0xe0) == 0xc0) {
        cp = s[0] & 0x1f;
        n = 2;
    } else if ((s[0] & 0xf0) == 0xe0) {
        cp = s[0] & 0x0f;
        n = 3;
    } else {
        cp = s[0] & 0x07;
        n = 4;
    }
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80) { /* not valid UTF-8: count the byte alone */
            *p = s + 1;
            return s[0];
        }
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    *p = s + n;
    return cp;
}

/* Code points that extend the previous character rather than start a new one. */
static bool is_grapheme_extender(uint32_t cp)
{
    return (cp >= 0x300 && cp <= 0x36f) || (cp >= 0x1ab0 && cp <= 0x1aff) ||
           (cp >= 0x1dc0 && cp <= 0x1dff) || (cp >= 0x20d0 && cp <= 0x20ff) ||
           (cp >= 0xfe00 && cp <= 0xfe0f) || (cp >= 0xfe20 && cp <= 0xfe2f) ||
           (cp >= 0x1f3fb && cp <= 0x1f3ff) || (cp >= 0xe0100 && cp <= 0xe01ef) || cp == 0x200d;
}

/* Elixir's String.length counts grapheme clusters; approximate them as code points, with
 * combining marks, variation selectors, skin tones, ZWJ (and what it joins) and CRLF folded
 * into the character before. Exact for everything but exotic scripts. Returns the byte
 * length of the first `limit` characters in *prefix_len when prefix_len is not NULL. */
static size_t utf8_char_count(const char *str, size_t limit, size_t *prefix_len)
{
    const unsigned char *p = (const unsigned char *)str;
    size_t count = 0;
    uint32_t prev = 0;
    bool joined = false;
    while (*p) {
        const unsigned char *start = p;
        uint32_t cp = utf8_next(&p);
        bool extends =
            count > 0 && (is_grapheme_extender(cp) || joined || (prev == '\r' && cp == '\n'));
        joined = cp == 0x200d;
        prev = cp;
        if (extends)
            continue;
        if (prefix_len && count == limit) {
            *prefix_len = (size_t)(start - (const unsigned char *)str);
            return count;
        }
        count++;
    }
    if (prefix_len)
        *prefix_len = (size_t)(p - (const unsigned char *)str);
    return count;
}

/* Elixir's Float.parse(s) == {x, ""}: [+-]?digits(.digits)?([eE][+-]?digits)? exactly. */
static bool parse_elixir_float(const char *s, double *out)
{
    const char *p = s;
    if (*p == '+' || *p == '-')
        p++;
    if (*p < '0' || *p > '9')
        return false;
    while (*p >= '0' && *p <= '9')
        p++;
    if (*p == '.') {
        p++;
        if (*p < '0' || *p > '9')
            return false;
        while (*p >= '0' && *p <= '9')
            p++;
    }
    if (*p == 'e' || *p == 'E') {
        p++;
        if (*p == '+' || *p == '-')
            p++;
        if (*p < '0' || *p > '9')
            return false;
        while (*p >= '0' && *p <= '9')
            p++;
    }
    if (*p)
        return false;
    char *end;
    *out = strtod(s, &end);
    return isfinite(*out);
}

static int cast_object(cast_ctx *c, const kl_schema *s, json_t *in, json_t **out);

static int cast_value(cast_ctx *c, const kl_schema_value *v, json_t *in, json_t **out)
{
    if (!in || json_is_null(in)) {
        if (v->is_nullable) {
            *out = json_null();
            return 0;
        }
        return cast_error(c, "null value where %s expected", kl_schema_type_name(v->type));
    }

    _cleanup_json_ json_t *result = NULL;
    switch (v->type) {
    case KL_SCHEMA_STRING:
        if (!json_is_string(in))
            return cast_error(c, "Invalid string. Got: %s", json_type_name(in));
        if (v->max_length && utf8_char_count(json_string_value(in), 0, NULL) > v->max_length)
            return cast_error(c, "String length is larger than maxLength: %zu", v->max_length);
        if (v->is_valid && !v->is_valid(json_string_value(in)))
            return cast_error(c, "Invalid format. Expected ~r/%s/", v->pattern);
        result = json_incref(in);
        break;
    case KL_SCHEMA_BOOLEAN:
        if (json_is_boolean(in))
            result = json_incref(in);
        else if (json_is_string(in) && strcmp(json_string_value(in), "true") == 0)
            result = json_true();
        else if (json_is_string(in) && strcmp(json_string_value(in), "false") == 0)
            result = json_false();
        else
            return cast_error(c, "Invalid boolean. Got: %s", json_type_name(in));
        break;
    case KL_SCHEMA_INTEGER: {
        double d;
        if (json_is_integer(in)) {
            result = json_incref(in);
            break;
        }
        if (json_is_real(in))
            d = json_real_value(in);
        else if (!json_is_string(in) || !parse_elixir_float(json_string_value(in), &d))
            return cast_error(c, "Invalid integer. Got: %s", json_type_name(in));
        d = round(d); /* half away from zero, like Elixir's round/1 */
        if (!(d >= -9.2e18 && d <= 9.2e18))
            return cast_error(c, "Invalid integer. Got: %s", json_type_name(in));
        result = json_integer((json_int_t)d);
        break;
    }
    case KL_SCHEMA_NUMBER: {
        double d;
        if (json_is_real(in))
            d = json_real_value(in);
        else if (json_is_integer(in))
            d = (double)json_integer_value(in);
        else if (!json_is_string(in) || !parse_elixir_float(json_string_value(in), &d))
            return cast_error(c, "Invalid number. Got: %s", json_type_name(in));
        result = json_real(d);
        break;
    }
    case KL_SCHEMA_OBJECT:
        if (!json_is_object(in))
            return cast_error(c, "Invalid object. Got: %s", json_type_name(in));
        if (!v->object) {
            result = json_deep_copy(in);
            break;
        }
        if (cast_object(c, v->object, in, &result) < 0)
            return -1;
        break;
    case KL_SCHEMA_ARRAY: {
        if (!json_is_array(in))
            return cast_error(c, "Invalid array. Got: %s", json_type_name(in));
        result = json_array();
        bool failed = false;
        size_t i;
        json_t *item;
        json_array_foreach(in, i, item)
        {
            size_t saved = path_push_index(c, i);
            json_t *cast_item = NULL;
            if (cast_value(c, v->items, item, &cast_item) < 0)
                failed = true; /* every item is cast: all their errors are reported */
            else
                json_array_append_new(result, cast_item);
            path_pop(c, saved);
        }
        if (failed)
            return -1;
        break;
    }
    }

    if (v->check) {
        kl_error cerr = KL_ERROR_INIT;
        if (v->check(result, &cerr) < 0)
            return cast_error(c, "%s", cerr.msg);
    }
    if (v->enum_values) {
        bool found = false;
        for (const char *const *e = v->enum_values; *e && !found; e++)
            found = json_is_string(result) && strcmp(json_string_value(result), *e) == 0;
        if (!found)
            return cast_error(c, "Invalid value for enum");
    }
    *out = steal_pointer(&result);
    return 0;
}

static bool schema_has_field(const kl_schema *s, const char *name)
{
    for (size_t i = 0; i < s->n_fields; i++)
        if (strcmp(s->fields[i].name, name) == 0)
            return true;
    return false;
}

static int cast_object(cast_ctx *c, const kl_schema *s, json_t *in, json_t **out)
{
    /* Query sets forbid unknown names; OpenApiSpex reports the first in map-key order. */
    if (s->is_query) {
        const char *unknown = NULL;
        const char *key;
        json_t *val;
        json_object_foreach(in, key, val)
        {
            if (!schema_has_field(s, key) && (!unknown || strcmp(key, unknown) < 0))
                unknown = key;
        }
        if (unknown) {
            size_t prefix;
            utf8_char_count(unknown, 40, &prefix);
            size_t saved = path_push(c, unknown);
            cast_error(c, "Unexpected field: %.*s", (int)prefix, unknown);
            path_pop(c, saved);
            return -1;
        }
    }

    /* Every missing required field, in the required order; then stop. */
    bool missing = false;
    for (size_t i = 0; i < s->n_fields; i++) {
        const kl_schema_field *f = &s->fields[i];
        if (f->is_required && !json_object_get(in, f->name)) {
            size_t saved = path_push(c, f->name);
            cast_error(c, "Missing field: %s", f->name);
            path_pop(c, saved);
            missing = true;
        }
    }
    if (missing)
        return -1;

    /* Present properties in alphabetical order (the order of an Elixir map with atom keys);
     * the first one that fails ends the cast. */
    json_t *cast[s->n_fields > 0 ? s->n_fields : 1];
    memset(cast, 0, sizeof(cast));
    bool done[s->n_fields > 0 ? s->n_fields : 1];
    memset(done, 0, sizeof(done));
    int rc = 0;
    for (size_t round_ = 0; round_ < s->n_fields && rc == 0; round_++) {
        size_t next = s->n_fields;
        for (size_t i = 0; i < s->n_fields; i++)
            if (!done[i] &&
                (next == s->n_fields || strcmp(s->fields[i].name, s->fields[next].name) < 0))
                next = i;
        done[next] = true;
        const kl_schema_field *f = &s->fields[next];
        json_t *v = json_object_get(in, f->name);
        if (!v)
            continue;
        size_t saved = path_push(c, f->name);
        rc = cast_value(c, &f->value, v, &cast[next]);
        path_pop(c, saved);
    }
    if (rc < 0) {
        for (size_t i = 0; i < s->n_fields; i++)
            json_decref(cast[i]);
        return -1;
    }

    json_t *result = json_object();
    for (size_t i = 0; i < s->n_fields; i++) {
        const kl_schema_field *f = &s->fields[i];
        json_t *v = cast[i];
        if (!v && f->default_json) {
            json_error_t jerr;
            v = json_loads(f->default_json, JSON_DECODE_ANY, &jerr);
        }
        if (!v && !s->is_query)
            v = json_null(); /* the original casts into a struct: absent = nil */
        if (v)
            json_object_set_new(result, f->name, v);
    }
    *out = result;
    return 0;
}

json_t *schema_cast(const kl_schema *s, json_t *input, json_t **errors)
{
    cast_ctx c = {.path = KL_BUF_INIT, .errors = json_array()};
    const kl_schema_value root = {.type = KL_SCHEMA_OBJECT, .object = s};
    json_t *result = NULL;
    int rc = cast_value(&c, &root, input, &result);
    kl_buf_free(&c.path);
    if (rc < 0) {
        if (errors)
            *errors = c.errors;
        else
            json_decref(c.errors);
        return NULL;
    }
    json_decref(c.errors);
    if (errors)
        *errors = NULL;
    return result;
}

json_t *schema_cast_query(const kl_schema *s, const char *const *keys, const char *const *values,
                          size_t n, json_t **errors)
{
    _cleanup_json_ json_t *params = json_object();
    for (size_t i = 0; i < n; i++) {
        json_t *v = json_string(values[i] ? values[i] : "");
        if (!v || json_object_set_new(params, keys[i], v) < 0) {
            if (errors) {
                *errors = json_array();
                schema_error_append(*errors, "/", "Invalid UTF-8 in query");
            }
            return NULL;
        }
    }
    return schema_cast(s, params, errors);
}
