/* libFuzzer target for api/schema: arbitrary bytes as a JSON body / config frame cast against
 * every schema, and as a query string (k=v&k=v) cast against every query-parameter set.
 * Checks the caster's contract: exactly one of result/errors, errors well-formed. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api/schema.h"
#include "lib/cleanup.h"
#include "lib/xalloc.h"

static void check_outcome(json_t *result, json_t *errors)
{
    if (!result == !errors)
        abort();
    if (errors) {
        if (!json_is_array(errors) || json_array_size(errors) == 0)
            abort();
        size_t i;
        json_t *e;
        json_array_foreach(errors, i, e)
        {
            json_t *src = json_object_get(e, "source");
            const char *ptr = json_string_value(json_object_get(src, "pointer"));
            if (!ptr || ptr[0] != '/' || !json_is_string(json_object_get(e, "detail")))
                abort();
        }
        char *body = schema_error_body(errors);
        json_t *back = json_loads(body, 0, NULL);
        if (!back)
            abort();
        json_decref(back);
        free(body);
        if (!schema_first_error_message(errors)[0])
            abort();
    } else if (!json_is_object(result)) {
        abort();
    }
    json_decref(result);
    json_decref(errors);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t n_schemas;
    const kl_schema *const *schemas = schema_all(&n_schemas);

    json_t *input = json_loadb((const char *)data, size, JSON_DECODE_ANY, NULL);
    if (input) {
        for (size_t i = 0; i < n_schemas; i++) {
            json_t *errors = NULL;
            json_t *result = schema_cast(schemas[i], input, &errors);
            check_outcome(result, errors);
        }
        json_decref(input);
    }

    /* The same bytes as a decoded query string. */
    _cleanup_free_ char *q = xstrndup((const char *)data, size);
    char *keys[64], *values[64];
    size_t n = 0;
    char *save = NULL;
    for (char *pair = strtok_r(q, "&", &save); pair && n < 64; pair = strtok_r(NULL, "&", &save)) {
        char *eq = strchr(pair, '=');
        if (eq)
            *eq = '\0';
        keys[n] = pair;
        values[n] = eq ? eq + 1 : (char *)"";
        n++;
    }
    for (size_t i = 0; i < n_schemas; i++) {
        if (!schemas[i]->is_query)
            continue;
        json_t *errors = NULL;
        json_t *result = schema_cast_query(schemas[i], (const char *const *)keys,
                                           (const char *const *)values, n, &errors);
        check_outcome(result, errors);
    }
    return 0;
}
