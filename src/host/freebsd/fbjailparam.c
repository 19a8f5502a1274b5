/* jail_param strings (shared/API.md 5.1) on FreeBSD: every jail(8) parameter, kept as it is and
 * passed on to `jail -c` (host/runtime.h, host_jailparams_parse). jail(8) itself gives them
 * their meaning: repeated list parameters append, for the others the last one wins, `foo.noX`
 * is `foo.X=false`, values are not unquoted (FREEBSD-HOST.md §3.1). The original's defaults
 * (host.hostname, exec.jail_user, exec.clean, exec.stop, mount.devfs) are prepended by
 * fb_jail_params (jail.c) unless one of these overrides them (§4.2 step 5).
 *
 * DIFFERENCE: the original passed any string on. Here a parameter must look like one
 * (`name` or `name=value`, a name of [a-z0-9_.], no control character), and the ones kleened
 * sets itself are refused with a message: `name` and `jid` (the container's jail is found by
 * its name, the container id), `path` (the container's dataset) and `command` (the exec's
 * command). The pure parser a fuzz target drives (fuzz/fuzz_fbjailparam.c).
 * It must not: run anything, or drop a parameter it was given. */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "host/runtime.h"
#include "lib/xalloc.h"

#define PARAM_MAX 4096

static bool name_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.';
}

/* The value of `param` when its name is `key` ("key=value" or, for a boolean, "key"), else
 * NULL. */
static const char *value_of(const char *param, const char *key)
{
    size_t n = strlen(key);
    if (strncmp(param, key, n) != 0)
        return NULL;
    if (param[n] == '=')
        return param + n + 1;
    return param[n] == '\0' ? "" : NULL;
}

static void set_str(char **dst, const char *v)
{
    free(*dst);
    *dst = v && *v ? xstrdup(v) : NULL;
}

static int check_one(const char *p, kl_error *err)
{
    size_t len = strnlen(p, PARAM_MAX + 1);
    if (len == 0)
        return kl_error_set(err, EINVAL, "invalid jail parameter '': a name is needed");
    if (len > PARAM_MAX)
        return kl_error_set(err, EINVAL, "jail parameter '%.40s...' is too long", p);
    size_t nlen = strcspn(p, "=");
    if (nlen == 0 || p[0] == '.' || p[nlen - 1] == '.')
        return kl_error_set(err, EINVAL, "invalid jail parameter '%.200s'", p);
    for (size_t i = 0; i < nlen; i++)
        if (!name_char(p[i]))
            return kl_error_set(err, EINVAL,
                                "invalid jail parameter '%.200s': a name is made of a-z, 0-9, "
                                "'_' and '.'",
                                p);
    for (const char *c = p; *c; c++)
        if ((unsigned char)*c < 0x20 || *c == 0x7f)
            return kl_error_set(err, EINVAL,
                                "jail parameter '%.*s': control characters are not allowed",
                                (int)(nlen > 200 ? 200 : nlen), p);
    static const char *const ours[] = {"name", "path", "jid", "command"};
    for (size_t i = 0; i < sizeof(ours) / sizeof(ours[0]); i++)
        if (nlen == strlen(ours[i]) && !strncmp(p, ours[i], nlen))
            return kl_error_set(err, EINVAL,
                                "jail parameter '%s' is set by kleened (the container's own) and "
                                "cannot be given",
                                ours[i]);
    return 0;
}

int host_jailparams_parse(char *const *params, host_jailparams *out, kl_error *err)
{
    *out = (host_jailparams){
        .mount_devfs = -1, .allow_raw_sockets = -1, .allow_sysvipc = -1, .exec_clean = -1};
    out->params = xcalloc(1, sizeof(char *));
    for (char *const *pp = params; pp && *pp; pp++) {
        const char *p = *pp;
        if (check_one(p, err) < 0) {
            host_jailparams_free(out);
            return -1;
        }
        strv_push(&out->params, p);
        /* What the engine asks of the list besides passing it on: the user the command runs
         * as (exec_merge), the stop command (the monitor's), the hostname. The last wins, as
         * in jail(8); exec.nostop clears the stop command. */
        const char *v;
        if ((v = value_of(p, "exec.jail_user")) && *v)
            set_str(&out->jail_user, v);
        else if ((v = value_of(p, "host.hostname")) && *v)
            set_str(&out->hostname, v);
        else if ((v = value_of(p, "exec.stop")))
            set_str(&out->exec_stop, v);
        else if (value_of(p, "exec.nostop"))
            set_str(&out->exec_stop, NULL);
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
    /* jail(8) applies them (fb_jail_params); the user of the command is the engine's
     * (exec_merge takes exec.jail_user into account). */
    spec->jail_params = p->params;
    if (p->hostname)
        spec->hostname = p->hostname;
}
