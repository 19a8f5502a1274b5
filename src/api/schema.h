/* Request validation: declarative schemas of every request body, WebSocket config frame and
 * query-parameter set of the API, and a caster that reproduces the OpenApiSpex casting rules
 * of the original daemon (API.md §3.2), so that 422 bodies and WebSocket "invalid parameters"
 * messages are the same strings, pointers and order as the original's.
 *
 * Rules reproduced (OpenApiSpex 3.18, as used by kleened):
 *  - object: missing required fields are all reported (in the schema's required order) and
 *    stop the cast; otherwise present properties are cast in alphabetical order of their
 *    names and the first failing property stops the cast (its own errors are reported);
 *    unknown body properties are ignored (and dropped from the result); absent properties
 *    get their default, or null when they have none (the original casts into a struct);
 *  - query-parameter sets: an unknown parameter fails first, alone ("Unexpected field: x",
 *    the smallest unknown name in byte order); absent optional parameters stay absent;
 *  - array: every item is cast and every failing item reports its errors, in index order;
 *  - null: kept when nullable, else "null value where <type> expected";
 *  - boolean: true/false and the strings "true"/"false";
 *  - integer/number: JSON numbers, and strings that parse completely as a number
 *    (integers round floats half away from zero; numbers become floats);
 *  - enum: type first, then "Invalid value for enum"; maxLength counts characters;
 *  - a format (ours, on names: docs/api.md "Names") after maxLength, with OpenApiSpex's
 *    pattern message "Invalid format. Expected ~r/<regex>/".
 *
 * Known differences, on purpose: a config frame is cast in one pass with nested pointers
 * (the original casts ImageBuildConfig, then container_config, then networks, then mounts as
 * separate steps, so with errors at several levels its first message may differ); Elixir
 * counts maxLength in grapheme clusters, we approximate them (see utf8_char_count).
 *
 * This module knows nothing of HTTP: the caller turns the errors into a 422 body with
 * schema_error_body() or takes schema_first_error_message() for a WebSocket frame. */
#ifndef KL_API_SCHEMA_H
#define KL_API_SCHEMA_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "lib/error.h"

typedef enum kl_schema_type {
    KL_SCHEMA_STRING,
    KL_SCHEMA_INTEGER,
    KL_SCHEMA_NUMBER,
    KL_SCHEMA_BOOLEAN,
    KL_SCHEMA_OBJECT,
    KL_SCHEMA_ARRAY,
} kl_schema_type;

/* "string", "integer", ...: the name used in messages and the schema dump. */
const char *kl_schema_type_name(kl_schema_type t);

typedef struct kl_schema kl_schema;

/* The type of one value: a property, or the items of an array. */
typedef struct kl_schema_value {
    kl_schema_type type;
    bool is_nullable;
    const char *const *enum_values;      /* NULL-terminated list of allowed strings, or NULL */
    size_t max_length;                   /* strings: maximum length in characters; 0 = none */
    bool (*is_valid)(const char *s);     /* strings: a format check (after max_length), or NULL */
    const char *pattern;                 /* the format as a regex, for the message
                                            "Invalid format. Expected ~r/<pattern>/" */
    const kl_schema *object;             /* OBJECT: its properties (an object-ref);
                                            NULL = free-form object, kept as given */
    const struct kl_schema_value *items; /* ARRAY: the item type */
    /* A check of the cast value beyond its type (ours, e.g. labels: lib/labels.h), or NULL;
     * its message becomes the error's detail at the value's pointer. */
    int (*check)(const json_t *v, kl_error *err);
} kl_schema_value;

typedef struct kl_schema_field {
    const char *name;
    kl_schema_value value;
    bool is_required;
    const char *default_json; /* JSON literal filled in when absent ("[]", "\"\"", "true"),
                                 or NULL for no default */
} kl_schema_field;

struct kl_schema {
    const char *name;              /* "ContainerConfig", "ExecStopQuery" ... */
    const kl_schema_field *fields; /* required fields come in the original's required order */
    size_t n_fields;
    bool is_query; /* a query-parameter set: unknown names rejected, absent ones omitted */
};

/* Request bodies and WebSocket config frames (API.md §5). */
extern const kl_schema schema_container_config;      /* §5.1 */
extern const kl_schema schema_mount_point_config;    /* §5.6 */
extern const kl_schema schema_published_port_config; /* §5.5 */
extern const kl_schema schema_exec_config;           /* §5.7 */
extern const kl_schema schema_exec_start_config;     /* §5.8 */
extern const kl_schema schema_image_build_config;    /* §5.10 */
extern const kl_schema schema_image_create_config;   /* §5.11 */
extern const kl_schema schema_image_load_config;     /* ours: docs/api.md */
extern const kl_schema schema_image_save_config;     /* ours: docs/api.md */
extern const kl_schema schema_image_push_config;     /* ours: docs/api.md */
extern const kl_schema schema_registry_auth;         /* ours: docs/api.md */
extern const kl_schema schema_registry_login_config; /* ours: POST /auth */
extern const kl_schema schema_network_config;        /* §5.12 */
extern const kl_schema schema_end_point_config;      /* §5.14 */
extern const kl_schema schema_volume_config;         /* §5.16 */

/* Query-parameter sets (API.md §6). */
extern const kl_schema schema_query_container_list; /* GET /containers/list: all (bool) */
extern const kl_schema schema_query_exec_stop;      /* POST /exec/{id}/stop: force_stop,
                                                       stop_container (bools, required) */
extern const kl_schema schema_query_container_logs; /* GET /containers/{id}/logs: follow */
extern const kl_schema schema_query_system_events;  /* GET /system/events (ours) */
extern const kl_schema schema_query_container_stop; /* ours: POST /containers/{id}/stop:
                                                       timeout (seconds) */
extern const kl_schema schema_query_container_kill; /* ours: POST /containers/{id}/kill:
                                                       signal */
extern const kl_schema schema_query_image_tag;      /* POST /images/{id}/tag: nametag (required) */
extern const kl_schema schema_query_image_prune;    /* POST /images/prune: all (bool, required) */
/* ours: GET and HEAD /containers/{id}/archive: path; PUT: and its options */
extern const kl_schema schema_query_archive;
extern const kl_schema schema_query_archive_put;

/* A schema by its name ("ContainerConfig", "ContainerListQuery", "ExecStopQuery",
 * "ImageTagQuery", "ImagePruneQuery" ...), or NULL. */
const kl_schema *schema_lookup(const char *name);
/* Every schema above, for iteration (tests, fuzzing); *n receives the count. */
const kl_schema *const *schema_all(size_t *n);

/* Cast a decoded JSON value (a body or a config frame) against an object schema.
 * Returns a NEW normalized object: every property of the schema present (defaults filled,
 * null when there is no default), "true"/"false" strings turned into booleans, unknown
 * properties dropped. On failure returns NULL and, if errors is not NULL, sets *errors to a
 * NEW JSON array of {"title":"Invalid value","source":{"pointer":"/a/0/b"},"detail":"..."}
 * (on success *errors is set to NULL). input is not modified; it may be NULL (= JSON null). */
json_t *schema_cast(const kl_schema *s, json_t *input, json_t **errors);

/* Cast n query parameters (decoded strings; a repeated name keeps its last value) against a
 * query-parameter set. Returns a NEW object with the present parameters cast, or NULL with
 * *errors as for schema_cast(). Callers reject query strings that are not UTF-8 beforehand
 * (the original answers 400); here such a parameter fails as "Invalid UTF-8 in query". */
json_t *schema_cast_query(const kl_schema *s, const char *const *keys, const char *const *values,
                          size_t n, json_t **errors);

/* Append one error entry (for checks done outside the caster, e.g. the HTTP layer's
 * "Missing header: content-type" at pointer "/"). */
void schema_error_append(json_t *errors, const char *pointer, const char *detail);

/* The 422 body {"errors":[...]} (compact, keys sorted); caller frees. */
char *schema_error_body(json_t *errors);

/* The "detail" of the first error (API.md §7.2/§7.3 send it over the WebSocket), owned by
 * errors; "" if there is none. */
const char *schema_first_error_message(json_t *errors);

#endif
