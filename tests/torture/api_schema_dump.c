/* Print kleened's route table and every request schema as one JSON document, for the API
 * fuzzer (tests/torture/apifuzz.py): it builds its requests from what the server really
 * routes and validates, not from a copy that could drift. Reads nothing, writes stdout. */
#include <jansson.h>
#include <stdio.h>

#include "api/router.h"
#include "api/schema.h"
#include "lib/cleanup.h"

static json_t *value_json(const kl_schema_value *v)
{
    json_t *o =
        json_pack("{s:s, s:b}", "type", kl_schema_type_name(v->type), "nullable", v->is_nullable);
    if (v->enum_values) {
        json_t *e = json_array();
        for (const char *const *p = v->enum_values; *p; p++)
            json_array_append_new(e, json_string(*p));
        json_object_set_new(o, "enum", e);
    }
    if (v->max_length)
        json_object_set_new(o, "max_length", json_integer((json_int_t)v->max_length));
    if (v->pattern)
        json_object_set_new(o, "pattern", json_string(v->pattern));
    if (v->type == KL_SCHEMA_OBJECT && v->object)
        json_object_set_new(o, "schema", json_string(v->object->name));
    if (v->type == KL_SCHEMA_ARRAY && v->items)
        json_object_set_new(o, "items", value_json(v->items));
    return o;
}

int main(void)
{
    _cleanup_json_ json_t *out = json_object();
    json_t *routes = json_array();
    size_t n;
    const api_route *r = router_routes(&n);
    for (size_t i = 0; i < n; i++) {
        const kl_schema *body = r[i].ws_handler ? r[i].ws_config_schema : r[i].body_schema;
        json_array_append_new(
            routes,
            json_pack("{s:s, s:s, s:s, s:o, s:o, s:b}", "method", r[i].method, "path", r[i].pattern,
                      "kind", r[i].ws_handler ? "websocket" : "rest", "body",
                      body ? json_string(body->name) : json_null(), "query",
                      r[i].query_schema ? json_string(r[i].query_schema->name) : json_null(),
                      "streamed", r[i].streams_body));
    }
    json_object_set_new(out, "routes", routes);
    json_t *schemas = json_object();
    const kl_schema *const *all = schema_all(&n);
    for (size_t i = 0; i < n; i++) {
        json_t *fields = json_array();
        for (size_t f = 0; f < all[i]->n_fields; f++) {
            const kl_schema_field *fd = &all[i]->fields[f];
            json_t *v = value_json(&fd->value);
            json_object_set_new(v, "name", json_string(fd->name));
            json_object_set_new(v, "required", json_boolean(fd->is_required));
            json_array_append_new(fields, v);
        }
        json_object_set_new(schemas, all[i]->name,
                            json_pack("{s:o, s:b}", "fields", fields, "query", all[i]->is_query));
    }
    json_object_set_new(out, "schemas", schemas);
    return json_dumpf(out, stdout, JSON_INDENT(1) | JSON_SORT_KEYS) == 0 && puts("") >= 0 ? 0 : 1;
}
