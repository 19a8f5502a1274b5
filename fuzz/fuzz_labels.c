/* libFuzzer target for labels (lib/labels.h): the input as a JSON labels object, as a CLI
 * `KEY=VALUE` assignment and as a filter. Any input gives a clean answer; what the assignment
 * parser accepts passes the rule, and a filter made from an accepted label matches it. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/labels.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_error_t je;
    json_t *j = json_loadb((const char *)data, size, JSON_DECODE_ANY | JSON_ALLOW_NUL, &je);
    if (j) {
        kl_error err = KL_ERROR_INIT;
        if (kl_labels_check(j, &err) == 0 && json_is_object(j) &&
            json_object_size(j) > KL_LABELS_MAX)
            abort();
        json_decref(j);
    }
    char *s = malloc(size + 1);
    if (!s)
        return 0;
    memcpy(s, data, size);
    s[size] = '\0';
    json_t *labels = json_object();
    kl_error err = KL_ERROR_INIT;
    if (kl_labels_add_assignment(labels, s, &err) == 0) {
        if (kl_labels_check(labels, NULL) < 0 || json_object_size(labels) != 1)
            abort();
        /* KEY and KEY=VALUE of what was stored match it */
        const char *key = json_object_iter_key(json_object_iter(labels));
        const char *value = json_string_value(json_object_get(labels, key));
        size_t kn = strlen(key), vn = strlen(value);
        char *f = malloc(kn + vn + 2);
        if (!f)
            abort();
        memcpy(f, key, kn);
        f[kn] = '\0';
        if (kl_labels_filter_check(f, NULL) < 0 || !kl_labels_match(labels, f))
            abort();
        f[kn] = '=';
        memcpy(f + kn + 1, value, vn + 1);
        if (!kl_labels_match(labels, f))
            abort();
        free(f);
    }
    if (kl_labels_filter_check(s, NULL) == 0)
        (void)kl_labels_match(labels, s);
    json_decref(labels);
    free(s);
    return 0;
}
