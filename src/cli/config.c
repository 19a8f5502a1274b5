/* klee configuration layers (see config.h). Reads the environment and YAML files with
 * libyaml; it must not decide anything about transports (that is http.c). */
#include "cli/config.h"
#include "lib/cleanup.h"
#include "lib/xalloc.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <yaml.h>

#if defined(__FreeBSD__) || defined(__OpenBSD__) || defined(__NetBSD__) || defined(__DragonFly__)
const char *const config_default_locations[] = {
    "klee_config.yaml",
    "~/.klee/klee_config.yaml",
    "/usr/local/etc/klee/klee_config.yaml",
    NULL,
};
#else
const char *const config_default_locations[] = {
    "klee_config.yaml",
    "~/.klee/klee_config.yaml",
    "/etc/klee/klee_config.yaml",
    NULL,
};
#endif

void config_free(cli_config *c)
{
    free(c->host);
    free(c->tlscert);
    free(c->tlskey);
    free(c->tlscacert);
    free(c->theme);
    *c = (cli_config)CLI_CONFIG_INIT;
}

static void fill(char **dst, const char *src)
{
    if (!*dst && src)
        *dst = xstrdup(src);
}

void config_merge(cli_config *dst, const cli_config *src)
{
    fill(&dst->host, src->host);
    if (dst->tlsverify < 0)
        dst->tlsverify = src->tlsverify;
    fill(&dst->tlscert, src->tlscert);
    fill(&dst->tlskey, src->tlskey);
    fill(&dst->tlscacert, src->tlscacert);
    fill(&dst->theme, src->theme);
}

static const char *env(const char *name)
{
    const char *v = getenv(name);
    return v && *v ? v : NULL;
}

void config_from_env(cli_config *out)
{
    fill(&out->host, env("KLEE_HOST"));
    fill(&out->theme, env("KLEE_THEME"));
    const char *v = env("KLEE_TLS_VERIFY");
    if (v && out->tlsverify < 0)
        out->tlsverify = strcasecmp(v, "true") == 0;
    fill(&out->tlscacert, env("KLEE_TLS_CACERT"));
    /* The original maps KLEE_TLS_CERT to the CA file; ours means the client certificate. */
    fill(&out->tlscert, env("KLEE_TLS_CERT"));
    fill(&out->tlskey, env("KLEE_TLS_KEY"));
    fill(&out->tlskey, env("KLEE_TLS_KERY"));
}

int config_parse_bool(const char *s)
{
    static const char *const yes[] = {"true", "yes", "on", "y"};
    static const char *const no[] = {"false", "no", "off", "n"};
    for (size_t i = 0; i < KL_ARRAY_SIZE(yes); i++)
        if (strcasecmp(s, yes[i]) == 0)
            return 1;
    for (size_t i = 0; i < KL_ARRAY_SIZE(no); i++)
        if (strcasecmp(s, no[i]) == 0)
            return 0;
    return -1;
}

int config_check_theme(const char *theme, kl_error *err)
{
    if (theme && (strcmp(theme, "fancy") == 0 || strcmp(theme, "simple") == 0))
        return 0;
    return kl_error_set(err, EINVAL, "Error! Invalid theme '%s': use 'fancy' or 'simple'",
                        theme ? theme : "");
}

static void yaml_parser_deletep(yaml_parser_t *p)
{
    yaml_parser_delete(p);
}
static void yaml_document_deletep(yaml_document_t *d)
{
    yaml_document_delete(d);
}

static bool is_null_scalar(const yaml_node_t *n)
{
    if (n->type != YAML_SCALAR_NODE)
        return false;
    const char *v = (const char *)n->data.scalar.value;
    return n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
           (v[0] == '\0' || strcmp(v, "~") == 0 || strcasecmp(v, "null") == 0);
}

int config_parse_file(const char *path, cli_config *out, kl_error *err)
{
    _cleanup_fclose_ FILE *f = fopen(path, "re");
    if (!f) {
        if (errno == ENOENT)
            return kl_error_set(err, ENOENT, "%s: no such file", path);
        return kl_error_errno(err, errno, "Error! Could not read config at %s", path);
    }

    _cleanup_(yaml_parser_deletep) yaml_parser_t parser;
    if (!yaml_parser_initialize(&parser))
        abort(); /* only fails on OOM */
    yaml_parser_set_input_file(&parser, f);
    /* A zeroed document is safe to delete; yaml_parser_load leaves it zeroed on failure. */
    _cleanup_(yaml_document_deletep) yaml_document_t doc;
    memset(&doc, 0, sizeof(doc));
    if (!yaml_parser_load(&parser, &doc))
        return kl_error_set(err, EBADMSG, "Error! Could not parse config at %s", path);

    yaml_node_t *root = yaml_document_get_root_node(&doc);
    if (!root || is_null_scalar(root))
        return 0; /* empty file: nothing configured */
    if (root->type != YAML_MAPPING_NODE)
        return kl_error_set(err, EBADMSG, "Error! Could not parse config at %s", path);

    cli_config c = CLI_CONFIG_INIT;
    for (yaml_node_pair_t *p = root->data.mapping.pairs.start; p < root->data.mapping.pairs.top;
         p++) {
        yaml_node_t *k = yaml_document_get_node(&doc, p->key);
        yaml_node_t *v = yaml_document_get_node(&doc, p->value);
        if (!k || k->type != YAML_SCALAR_NODE) {
            config_free(&c);
            return kl_error_set(err, EBADMSG, "Error! Could not parse config at %s", path);
        }
        const char *key = (const char *)k->data.scalar.value;
        char **slot = NULL;
        if (strcmp(key, "host") == 0)
            slot = &c.host;
        else if (strcmp(key, "tlscert") == 0)
            slot = &c.tlscert;
        else if (strcmp(key, "tlskey") == 0)
            slot = &c.tlskey;
        else if (strcmp(key, "tlscacert") == 0)
            slot = &c.tlscacert;
        else if (strcmp(key, "theme") == 0)
            slot = &c.theme;
        else if (strcmp(key, "tlsverify") != 0) {
            config_free(&c);
            return kl_error_set(err, EINVAL,
                                "Error! Config file %s is not valid: parameter name '%s' unknown",
                                path, key);
        }
        if (!v || is_null_scalar(v))
            continue; /* "key:" with no value leaves it unset */
        if (v->type != YAML_SCALAR_NODE) {
            config_free(&c);
            return kl_error_set(err, EINVAL,
                                "Error! Config file %s is not valid: parameter '%s' must be a "
                                "single value",
                                path, key);
        }
        const char *val = (const char *)v->data.scalar.value;
        if (slot) {
            free(*slot);
            *slot = xstrdup(val);
        } else {
            int b = config_parse_bool(val);
            if (b < 0) {
                config_free(&c);
                return kl_error_set(err, EINVAL,
                                    "Error! Config file %s is not valid: parameter 'tlsverify' "
                                    "must be true or false",
                                    path);
            }
            c.tlsverify = b;
        }
    }
    config_free(out);
    *out = c;
    return 0;
}

static char *expand_home(const char *path)
{
    if (strncmp(path, "~/", 2) == 0) {
        const char *home = getenv("HOME");
        if (!home || !*home)
            return NULL;
        return xasprintf("%s/%s", home, path + 2);
    }
    return xstrdup(path);
}

int config_load(const char *explicit_path, const char *const *locations, cli_config *out,
                char **used_path, char ***warnings, kl_error *err)
{
    const char *const only[] = {explicit_path, NULL};
    const char *const *list = explicit_path ? only : locations;
    for (size_t i = 0; list && list[i]; i++) {
        _cleanup_free_ char *path = expand_home(list[i]);
        if (!path)
            continue;
        kl_error e = KL_ERROR_INIT;
        if (config_parse_file(path, out, &e) == 0) {
            if (used_path)
                *used_path = steal_pointer(&path);
            return 1;
        }
        if (e.code == ENOENT)
            continue;
        if (e.code == EBADMSG) {
            if (warnings)
                strv_push(warnings, e.msg);
            continue;
        }
        *err = e;
        return -1;
    }
    return 0;
}
