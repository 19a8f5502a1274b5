/* Labels (labels.h): the rule for labels given through an API, and label filters. */
#include "lib/labels.h"

#include <errno.h>
#include <string.h>

static bool key_is_valid(const char *k, size_t n)
{
    if (n < 1 || n > KL_LABEL_KEY_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)k[i];
        if (c <= 0x20 || c >= 0x7f || c == '=')
            return false;
    }
    return true;
}

static int check_key(const char *k, size_t n, kl_error *err)
{
    if (n == 0)
        return kl_error_set(err, EINVAL, "label key is empty");
    if (n > KL_LABEL_KEY_MAX)
        return kl_error_set(err, EINVAL, "label key '%.40s...' is longer than %d bytes", k,
                            KL_LABEL_KEY_MAX);
    if (!key_is_valid(k, n))
        return kl_error_set(err, EINVAL,
                            "label key '%.*s': only printable ASCII characters other than space "
                            "and '=' are allowed",
                            (int)(n > 80 ? 80 : n), k);
    return 0;
}

/* UTF-8 is assumed (jansson strings are); refuse C0 controls but tab and newline, DEL, and
 * the C1 controls U+0080..U+009F (encoded C2 80..C2 9F). */
static int check_value(const char *key, const char *v, size_t n, kl_error *err)
{
    if (n > KL_LABEL_VALUE_MAX)
        return kl_error_set(err, EINVAL, "label '%s': value longer than %d bytes", key,
                            KL_LABEL_VALUE_MAX);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)v[i];
        bool bad = (c < 0x20 && c != '\t' && c != '\n') || c == 0x7f ||
                   (c == 0xc2 && i + 1 < n && (unsigned char)v[i + 1] >= 0x80 &&
                    (unsigned char)v[i + 1] <= 0x9f);
        if (bad)
            return kl_error_set(err, EINVAL,
                                "label '%s': value contains a control character (only tab and "
                                "newline are allowed)",
                                key);
    }
    return 0;
}

int kl_labels_check(const json_t *labels, kl_error *err)
{
    if (!labels || json_is_null(labels))
        return 0;
    if (!json_is_object(labels))
        return kl_error_set(err, EINVAL, "labels must be an object of strings");
    if (json_object_size(labels) > KL_LABELS_MAX)
        return kl_error_set(err, EINVAL, "labels: %zu are too many (at most %d)",
                            json_object_size(labels), KL_LABELS_MAX);
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)labels, key, v)
    {
        if (check_key(key, strlen(key), err) < 0)
            return -1;
        if (!json_is_string(v))
            return kl_error_set(err, EINVAL, "label '%s': the value must be a string", key);
        if (check_value(key, json_string_value(v), json_string_length(v), err) < 0)
            return -1;
    }
    return 0;
}

int kl_labels_add_assignment(json_t *labels, const char *assignment, kl_error *err)
{
    const char *eq = strchr(assignment, '=');
    size_t kn = eq ? (size_t)(eq - assignment) : strlen(assignment);
    if (check_key(assignment, kn, err) < 0)
        return -1;
    char key[KL_LABEL_KEY_MAX + 1];
    memcpy(key, assignment, kn);
    key[kn] = '\0';
    const char *value = eq ? eq + 1 : "";
    if (check_value(key, value, strlen(value), err) < 0)
        return -1;
    json_t *s = json_string(value);
    if (!s)
        return kl_error_set(err, EINVAL, "label '%s': the value is not UTF-8", key);
    if (!json_object_get(labels, key) && json_object_size(labels) >= KL_LABELS_MAX)
        return json_decref(s),
               kl_error_set(err, EINVAL, "labels: too many (at most %d)", KL_LABELS_MAX);
    json_object_set_new(labels, key, s);
    return 0;
}

int kl_labels_filter_check(const char *filter, kl_error *err)
{
    if (!filter || !filter[0] || filter[0] == '=')
        return kl_error_set(err, EINVAL, "label filter '%s': the key is empty",
                            filter ? filter : "");
    return 0;
}

bool kl_labels_match(const json_t *labels, const char *filter)
{
    if (!filter || !json_is_object(labels))
        return false;
    const char *eq = strchr(filter, '=');
    size_t kn = eq ? (size_t)(eq - filter) : strlen(filter);
    if (kn == 0)
        return false;
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)labels, key, v)
    {
        if (strlen(key) != kn || memcmp(key, filter, kn) != 0)
            continue;
        if (!eq)
            return true;
        return json_is_string(v) && strcmp(json_string_value(v), eq + 1) == 0;
    }
    return false;
}

bool kl_labels_match_all(const json_t *labels, const json_t *filters)
{
    size_t i;
    json_t *f;
    json_array_foreach(filters, i, f)
    {
        if (!json_is_string(f) || !kl_labels_match(labels, json_string_value(f)))
            return false;
    }
    return true;
}

bool kl_labels_match_filters(const json_t *labels, const json_t *must, const json_t *must_not)
{
    if (!kl_labels_match_all(labels, must))
        return false;
    size_t i;
    json_t *f;
    json_array_foreach(must_not, i, f)
    {
        if (json_is_string(f) && kl_labels_match(labels, json_string_value(f)))
            return false;
    }
    return true;
}
