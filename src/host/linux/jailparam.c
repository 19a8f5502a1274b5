/* jail_param strings (shared/API.md 5.1) given Linux meanings; see host/runtime.h for the list.
 * A pure parser: it only fills a host_jailparams. Unknown parameters are errors, never
 * silently ignored, so a FreeBSD-only setting cannot be mistaken for an applied one. */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "host/runtime.h"
#include "lib/xalloc.h"

/* jail(8) booleans: "name", "name=true|false|1|0", and "no" before the last dotted component
 * ("mount.nodevfs") meaning false. `key` is the positive name. Returns 1 if `param` names
 * this key (and sets *val), 0 if not, -1 if it names it with a bad value. */
static int parse_bool(const char *param, const char *key, int *val, kl_error *err)
{
    const char *eq = strchr(param, '=');
    size_t nlen = eq ? (size_t)(eq - param) : strlen(param);
    size_t klen = strlen(key);
    const char *dot = strrchr(key, '.');
    size_t pre = dot ? (size_t)(dot - key) + 1 : 0;
    bool negated;
    if (nlen == klen && memcmp(param, key, klen) == 0)
        negated = false;
    else if (nlen == klen + 2 && memcmp(param, key, pre) == 0 &&
             memcmp(param + pre, "no", 2) == 0 &&
             memcmp(param + pre + 2, key + pre, klen - pre) == 0)
        negated = true;
    else
        return 0;
    bool v = true;
    if (eq) {
        const char *s = eq + 1;
        size_t n = strlen(s);
        if (n >= 2 && s[0] == '"' && s[n - 1] == '"') {
            s++;
            n -= 2;
        }
        if ((n == 4 && memcmp(s, "true", 4) == 0) || (n == 1 && s[0] == '1'))
            v = true;
        else if ((n == 5 && memcmp(s, "false", 5) == 0) || (n == 1 && s[0] == '0'))
            v = false;
        else
            return kl_error_set(err, EINVAL,
                                "jail parameter '%.*s': invalid boolean value (use true or false)",
                                (int)nlen, param);
    }
    *val = (v != negated);
    return 1;
}

/* "key=value" with a non-empty value; one pair of surrounding double quotes is removed.
 * Returns 1 and a new string in *val if `param` names key, 0 if not, -1 on a bad value. */
static int parse_string(const char *param, const char *key, char **val, kl_error *err)
{
    size_t klen = strlen(key);
    if (strncmp(param, key, klen) != 0 || (param[klen] != '=' && param[klen] != '\0'))
        return 0;
    if (param[klen] == '\0')
        return kl_error_set(err, EINVAL, "jail parameter '%s' needs a value", key);
    const char *s = param + klen + 1;
    size_t n = strlen(s);
    if (n >= 2 && s[0] == '"' && s[n - 1] == '"') {
        s++;
        n -= 2;
    }
    if (n == 0)
        return kl_error_set(err, EINVAL, "jail parameter '%s' needs a value", key);
    if (memchr(s, '"', n) || memchr(s, '\n', n))
        return kl_error_set(err, EINVAL, "jail parameter '%s': invalid value", key);
    free(*val);
    *val = xstrndup(s, n);
    return 1;
}

static bool valid_hostname(const char *h)
{
    size_t n = strlen(h);
    if (n == 0 || n > 64)
        return false;
    for (const char *p = h; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '-' || *p == '.' || *p == '_'))
            return false;
    return true;
}

int host_jailparams_parse(char *const *params, host_jailparams *out, kl_error *err)
{
    *out = (host_jailparams){
        .mount_devfs = -1, .allow_raw_sockets = -1, .allow_sysvipc = -1, .exec_clean = -1};
    for (char *const *pp = params; pp && *pp; pp++) {
        const char *p = *pp;
        int r;
        if ((r = parse_string(p, "host.hostname", &out->hostname, err)) != 0) {
            if (r > 0 && !valid_hostname(out->hostname))
                r = kl_error_set(err, EINVAL, "jail parameter 'host.hostname': invalid hostname");
        } else if ((r = parse_string(p, "exec.jail_user", &out->jail_user, err)) != 0) {
        } else if ((r = parse_string(p, "exec.stop", &out->exec_stop, err)) != 0) {
        } else if ((r = parse_bool(p, "mount.devfs", &out->mount_devfs, err)) != 0) {
        } else if ((r = parse_bool(p, "allow.raw_sockets", &out->allow_raw_sockets, err)) != 0) {
        } else if ((r = parse_bool(p, "allow.sysvipc", &out->allow_sysvipc, err)) != 0) {
        } else if ((r = parse_bool(p, "exec.clean", &out->exec_clean, err)) != 0) {
        } else {
            const char *eq = strchr(p, '=');
            int n = eq ? (int)(eq - p) : (int)strlen(p);
            r = kl_error_set(err, EINVAL, "unsupported jail parameter '%.*s' on this host",
                             n > 200 ? 200 : n, p);
        }
        if (r < 0) {
            host_jailparams_free(out);
            return -1;
        }
    }
    return 0;
}

void host_jailparams_free(host_jailparams *p)
{
    free(p->hostname);
    free(p->jail_user);
    free(p->exec_stop);
    strv_free(p->params);
    p->hostname = p->jail_user = p->exec_stop = NULL;
    p->params = NULL;
}

void host_jailparams_apply(const host_jailparams *p, host_container_spec *spec)
{
    if (p->hostname)
        spec->hostname = p->hostname;
    if (p->jail_user)
        spec->user = p->jail_user;
    if (p->mount_devfs >= 0)
        spec->no_devfs = !p->mount_devfs;
    if (p->allow_raw_sockets >= 0)
        spec->no_raw_sockets = !p->allow_raw_sockets;
    if (p->allow_sysvipc >= 0)
        spec->share_ipc = p->allow_sysvipc;
    if (p->exec_clean >= 0)
        spec->login_env = p->exec_clean;
}
