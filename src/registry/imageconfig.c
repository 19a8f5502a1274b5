/* Image configuration parsing (imageconfig.h). */
#include "registry/imageconfig.h"

#include <errno.h>
#include <jansson.h>
#include <string.h>

#include "lib/cleanup.h"
#include "lib/xalloc.h"
#include "registry/digest.h"

void oci_imgconfig_clear(oci_imgconfig *c)
{
    free(c->os);
    free(c->architecture);
    free(c->variant);
    free(c->user);
    free(c->working_dir);
    free(c->stop_signal);
    strv_free(c->env);
    strv_free(c->entrypoint);
    strv_free(c->cmd);
    strv_free(c->exposed_ports);
    strv_free(c->label_keys);
    strv_free(c->label_values);
    strv_free(c->diff_ids);
    memset(c, 0, sizeof(*c));
}

static bool string_ok(const json_t *s)
{
    /* jansson keeps embedded NULs: refuse them, and bound the length */
    size_t n = json_string_length(s);
    return n <= OCI_CONFIG_MAX_STRING && strlen(json_string_value(s)) == n;
}

/* An optional string field: absent/null -> NULL. */
static int opt_string(const json_t *obj, const char *key, char **out, kl_error *err)
{
    const json_t *v = json_object_get(obj, key);
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_string(v) || !string_ok(v))
        return kl_error_set(err, EINVAL, "image config: %s is not a string", key);
    if (json_string_length(v) > 0)
        *out = xstrdup(json_string_value(v));
    return 0;
}

/* An optional list of strings: absent/null -> NULL, [] -> empty vector. */
static int opt_strv(const json_t *obj, const char *key, char ***out, kl_error *err)
{
    const json_t *v = json_object_get(obj, key);
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_array(v) || json_array_size(v) > OCI_CONFIG_MAX_ITEMS)
        return kl_error_set(err, EINVAL, "image config: %s is not a list of strings", key);
    char **vec = xcalloc(json_array_size(v) + 1, sizeof(char *));
    *out = vec;
    for (size_t i = 0; i < json_array_size(v); i++) {
        const json_t *s = json_array_get(v, i);
        if (!json_is_string(s) || !string_ok(s))
            return kl_error_set(err, EINVAL, "image config: %s is not a list of strings", key);
        vec[i] = xstrdup(json_string_value(s));
    }
    return 0;
}

/* An optional object; `values` NULL means only its keys matter (ExposedPorts). */
static int opt_map(const json_t *obj, const char *key, char ***keys, char ***values, kl_error *err)
{
    const json_t *v = json_object_get(obj, key);
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_object(v) || json_object_size(v) > OCI_CONFIG_MAX_ITEMS)
        return kl_error_set(err, EINVAL, "image config: %s is not an object", key);
    size_t n = json_object_size(v), i = 0;
    char **k = xcalloc(n + 1, sizeof(char *));
    *keys = k;
    char **vals = NULL;
    if (values) {
        vals = xcalloc(n + 1, sizeof(char *));
        *values = vals;
    }
    const char *name;
    size_t name_len;
    json_t *item;
    json_object_keylen_foreach((json_t *)v, name, name_len, item)
    {
        if (name_len == 0 || name_len > OCI_CONFIG_MAX_STRING || strlen(name) != name_len)
            return kl_error_set(err, EINVAL, "image config: %s has an invalid key", key);
        if (values && (!json_is_string(item) || !string_ok(item)))
            return kl_error_set(err, EINVAL, "image config: %s values must be strings", key);
        k[i] = xstrdup(name);
        if (values)
            vals[i] = xstrdup(json_string_value(item));
        i++;
    }
    return 0;
}

static int parse(const json_t *root, oci_imgconfig *c, kl_error *err)
{
    if (opt_string(root, "os", &c->os, err) < 0 ||
        opt_string(root, "architecture", &c->architecture, err) < 0 ||
        opt_string(root, "variant", &c->variant, err) < 0)
        return -1;
    const json_t *cfg = json_object_get(root, "config");
    if (cfg && !json_is_null(cfg)) {
        if (!json_is_object(cfg))
            return kl_error_set(err, EINVAL, "image config: config is not an object");
        if (opt_string(cfg, "User", &c->user, err) < 0 ||
            opt_string(cfg, "WorkingDir", &c->working_dir, err) < 0 ||
            opt_string(cfg, "StopSignal", &c->stop_signal, err) < 0 ||
            opt_strv(cfg, "Env", &c->env, err) < 0 ||
            opt_strv(cfg, "Entrypoint", &c->entrypoint, err) < 0 ||
            opt_strv(cfg, "Cmd", &c->cmd, err) < 0 ||
            opt_map(cfg, "ExposedPorts", &c->exposed_ports, NULL, err) < 0 ||
            opt_map(cfg, "Labels", &c->label_keys, &c->label_values, err) < 0)
            return -1;
        for (char **e = c->env; e && *e; e++)
            if (!strchr(*e, '=') || **e == '=')
                return kl_error_set(err, EINVAL, "image config: Env item \"%.100s\" is not K=V",
                                    *e);
    }
    const json_t *rootfs = json_object_get(root, "rootfs");
    if (!json_is_object(rootfs))
        return kl_error_set(err, EINVAL, "image config: no rootfs");
    const json_t *type = json_object_get(rootfs, "type");
    if (!json_is_string(type) || strcmp(json_string_value(type), "layers") != 0)
        return kl_error_set(err, EINVAL, "image config: rootfs.type is not \"layers\"");
    const json_t *ids = json_object_get(rootfs, "diff_ids");
    if (!json_is_array(ids) || json_array_size(ids) > OCI_CONFIG_MAX_ITEMS)
        return kl_error_set(err, EINVAL, "image config: rootfs.diff_ids is not a list");
    c->n_diff_ids = json_array_size(ids);
    c->diff_ids = xcalloc(c->n_diff_ids + 1, sizeof(char *));
    for (size_t i = 0; i < c->n_diff_ids; i++) {
        const json_t *d = json_array_get(ids, i);
        if (!json_is_string(d) || !string_ok(d))
            return kl_error_set(err, EINVAL, "image config: diff_id %zu is not a string", i + 1);
        if (oci_digest_parse(json_string_value(d), NULL, err) < 0)
            return kl_error_prefix(err, "image config: diff_id %zu", i + 1);
        c->diff_ids[i] = xstrdup(json_string_value(d));
    }
    return 0;
}

int oci_imgconfig_parse(const char *data, size_t len, oci_imgconfig *c, kl_error *err)
{
    memset(c, 0, sizeof(*c));
    if (len > OCI_CONFIG_MAX_BYTES)
        return kl_error_set(err, EINVAL, "image config of %zu bytes, more than the %u allowed", len,
                            OCI_CONFIG_MAX_BYTES);
    json_error_t jerr;
    _cleanup_json_ json_t *root = json_loadb(data, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root)
        return kl_error_set(err, EINVAL, "image config is not valid JSON: %s", jerr.text);
    if (!json_is_object(root))
        return kl_error_set(err, EINVAL, "image config is not a JSON object");
    if (parse(root, c, err) < 0) {
        oci_imgconfig_clear(c);
        return -1;
    }
    return 0;
}
