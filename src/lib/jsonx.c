/* jansson helpers: tolerant accessors, string vectors, timestamps. */
#include "lib/jsonx.h"
#include "lib/xalloc.h"

#include <stdio.h>
#include <sys/time.h>
#include <time.h>

void kl_time_now_iso(char out[32])
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    struct tm tm;
    gmtime_r(&tv.tv_sec, &tm);
    char base[24];
    strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out, 32, "%s.%06ldZ", base, (long)tv.tv_usec);
}

const char *jx_str(const json_t *obj, const char *key, const char *fallback)
{
    json_t *v = obj ? json_object_get(obj, key) : NULL;
    return json_is_string(v) ? json_string_value(v) : fallback;
}

bool jx_bool(const json_t *obj, const char *key, bool fallback)
{
    json_t *v = obj ? json_object_get(obj, key) : NULL;
    return json_is_boolean(v) ? json_is_true(v) : fallback;
}

long long jx_int(const json_t *obj, const char *key, long long fallback)
{
    json_t *v = obj ? json_object_get(obj, key) : NULL;
    return json_is_integer(v) ? json_integer_value(v) : fallback;
}

char **jx_strv(const json_t *arr)
{
    size_t n = json_is_array(arr) ? json_array_size(arr) : 0;
    char **v = xcalloc(n + 1, sizeof(char *));
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        json_t *it = json_array_get(arr, i);
        if (json_is_string(it))
            v[k++] = xstrdup(json_string_value(it));
    }
    return v;
}

json_t *jx_from_strv(char *const *v)
{
    json_t *arr = json_array();
    for (size_t i = 0; v && v[i]; i++)
        json_array_append_new(arr, json_string(v[i]));
    return arr;
}

char *jx_dump(const json_t *j)
{
    char *s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
    if (!s)
        s = xstrdup("null");
    return s;
}
