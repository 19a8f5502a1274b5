/* Small helpers over jansson used across layers. */
#ifndef KL_JSONX_H
#define KL_JSONX_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

/* Current UTC time as "2023-09-14T21:21:57.990515Z" (API.md §5), in out[32]. */
void kl_time_now_iso(char out[32]);

/* Field accessors that tolerate NULL and wrong types: return the fallback. */
const char *jx_str(const json_t *obj, const char *key, const char *fallback);
bool jx_bool(const json_t *obj, const char *key, bool fallback);
long long jx_int(const json_t *obj, const char *key, long long fallback);

/* A JSON array of strings -> NULL-terminated vector (caller frees with strv_free).
 * Non-string items are skipped; NULL/non-array gives an empty vector. */
char **jx_strv(const json_t *arr);
/* NULL-terminated vector -> new JSON array of strings. */
json_t *jx_from_strv(char *const *v);

/* Compact serialisation with sorted keys; caller frees. */
char *jx_dump(const json_t *j);

#endif
