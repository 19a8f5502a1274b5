/* libFuzzer target for Docker CLI's credential file as klee reads it (src/cli/dockercfg.c)
 * and registry names as users and config files write them (oci_registry_normalize): any
 * input gives a result or a clean error; a normalized name normalizes to itself. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cli/dockercfg.h"
#include "registry/reference.h"

static void normalize_twice(const char *s)
{
    kl_error err = KL_ERROR_INIT;
    char *d = oci_registry_normalize(s, &err);
    if (!d)
        return;
    char *d2 = oci_registry_normalize(d, &err);
    if (!d2 || strcmp(d, d2) != 0)
        abort();
    char *key = oci_registry_auth_key(d);
    char *d3 = oci_registry_normalize(key, &err);
    if (!d3 || strcmp(d, d3) != 0) /* the config key names the same registry */
        abort();
    free(d3);
    free(key);
    free(d2);
    free(d);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    if (!s)
        return 0;
    memcpy(s, data, size);
    s[size] = '\0';
    normalize_twice(s);
    dockercfg_cred c;
    kl_error err = KL_ERROR_INIT;
    if (dockercfg_decode_auth(s, &c, &err) == 0)
        dockercfg_cred_clear(&c);
    json_t *cfg = json_loadb((const char *)data, size, 0, NULL);
    if (json_is_object(cfg)) {
        static const char *const domains[] = {"docker.io", "127.0.0.1:5000", "reg.lan",
                                              "localhost"};
        for (size_t i = 0; i < sizeof(domains) / sizeof(domains[0]); i++) {
            kl_error_clear(&err);
            if (dockercfg_auths_lookup(cfg, domains[i], &c, &err) == 1)
                dockercfg_cred_clear(&c);
            (void)dockercfg_helper_for(cfg, domains[i]);
        }
        const char *k;
        json_t *v;
        json_object_foreach(json_object_get(cfg, "auths"), k, v) normalize_twice(k);
    }
    json_decref(cfg);
    free(s);
    return 0;
}
