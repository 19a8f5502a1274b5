/* config.json parsing (ocispec.h): every field type-checked, bounded, errors naming the field.
 * Unknown properties are ignored (runtime-spec, config.md: "MUST ignore unknown properties").
 *
 * It must not: touch the filesystem beyond reading config.json, or trust any size in it. */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/cleanup.h"
#include "lib/xalloc.h"
#include "ociruntime/ocispec.h"

/* ---- typed field access, each error naming the field ---------------------------------------- */

static int bad(kl_error *err, const char *path, const char *what)
{
    return kl_error_set(err, EINVAL, "config: %s: %s", path, what);
}

/* A string (NULL when absent or null). */
static int get_str(const json_t *obj, const char *key, const char *path, bool required, char **out,
                   kl_error *err)
{
    *out = NULL;
    json_t *v = json_object_get(obj, key);
    if (!v || json_is_null(v)) {
        if (required)
            return kl_error_set(err, EINVAL, "config: %s%s%s: required", path, *path ? "." : "",
                                key);
        return 0;
    }
    if (!json_is_string(v))
        return kl_error_set(err, EINVAL, "config: %s%s%s: expected a string", path,
                            *path ? "." : "", key);
    size_t len = json_string_length(v);
    if (len > OCI_STRING_MAX)
        return kl_error_set(err, EINVAL, "config: %s%s%s: longer than %u bytes", path,
                            *path ? "." : "", key, OCI_STRING_MAX);
    if (strlen(json_string_value(v)) != len)
        return kl_error_set(err, EINVAL, "config: %s%s%s: contains a NUL byte", path,
                            *path ? "." : "", key);
    *out = xstrdup(json_string_value(v));
    return 0;
}

static int get_bool(const json_t *obj, const char *key, const char *path, bool *out, bool *has,
                    kl_error *err)
{
    json_t *v = json_object_get(obj, key);
    if (has)
        *has = false;
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_boolean(v))
        return kl_error_set(err, EINVAL, "config: %s.%s: expected true or false", path, key);
    *out = json_is_true(v);
    if (has)
        *has = true;
    return 0;
}

/* An integer within [min, max]. */
static int get_int(const json_t *obj, const char *key, const char *path, long long min,
                   long long max, long long *out, bool *has, kl_error *err)
{
    json_t *v = json_object_get(obj, key);
    if (has)
        *has = false;
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max)
        return kl_error_set(err, EINVAL, "config: %s.%s: expected an integer from %lld to %lld",
                            path, key, min, max);
    *out = json_integer_value(v);
    if (has)
        *has = true;
    return 0;
}

/* An unsigned 64-bit integer (jansson holds long long: values above 2^63 are refused). */
static int get_u64(const json_t *obj, const char *key, const char *path, uint64_t *out, bool *has,
                   kl_error *err)
{
    long long v = 0;
    bool h = false;
    if (get_int(obj, key, path, 0, LLONG_MAX, &v, &h, err) < 0)
        return -1;
    if (h)
        *out = (uint64_t)v;
    if (has)
        *has = h;
    return 0;
}

static int get_u32(const json_t *obj, const char *key, const char *path, uint32_t *out, bool *has,
                   bool required, kl_error *err)
{
    long long v = 0;
    bool h = false;
    if (get_int(obj, key, path, 0, 4294967295LL, &v, &h, err) < 0)
        return -1;
    if (!h && required)
        return kl_error_set(err, EINVAL, "config: %s.%s: required", path, key);
    if (h)
        *out = (uint32_t)v;
    if (has)
        *has = h;
    return 0;
}

static int get_i64(const json_t *obj, const char *key, const char *path, int64_t *out, bool *has,
                   kl_error *err)
{
    long long v = 0;
    bool h = false;
    if (get_int(obj, key, path, LLONG_MIN, LLONG_MAX, &v, &h, err) < 0)
        return -1;
    if (h)
        *out = v;
    if (has)
        *has = h;
    return 0;
}

/* An object or absent (NULL). */
static int get_obj(const json_t *obj, const char *key, const char *path, json_t **out,
                   kl_error *err)
{
    json_t *v = json_object_get(obj, key);
    *out = NULL;
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_object(v))
        return kl_error_set(err, EINVAL, "config: %s%s%s: expected an object", path,
                            *path ? "." : "", key);
    *out = v;
    return 0;
}

/* An array or absent (NULL), at most OCI_ARRAY_MAX items. */
static int get_arr(const json_t *obj, const char *key, const char *path, json_t **out,
                   kl_error *err)
{
    json_t *v = json_object_get(obj, key);
    *out = NULL;
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_array(v))
        return kl_error_set(err, EINVAL, "config: %s%s%s: expected an array", path,
                            *path ? "." : "", key);
    if (json_array_size(v) > OCI_ARRAY_MAX)
        return kl_error_set(err, EINVAL, "config: %s%s%s: more than %d items", path,
                            *path ? "." : "", key, OCI_ARRAY_MAX);
    *out = v;
    return 0;
}

/* An array of strings → NULL-terminated vector (NULL when absent). */
static int get_strv(const json_t *obj, const char *key, const char *path, char ***out,
                    kl_error *err)
{
    json_t *a;
    *out = NULL;
    if (get_arr(obj, key, path, &a, err) < 0)
        return -1;
    if (!a)
        return 0;
    char **v = xcalloc(json_array_size(a) + 1, sizeof(char *));
    size_t i;
    json_t *it;
    json_array_foreach(a, i, it)
    {
        if (!json_is_string(it) || json_string_length(it) > OCI_STRING_MAX ||
            strlen(json_string_value(it)) != json_string_length(it)) {
            strv_free(v);
            return kl_error_set(err, EINVAL,
                                "config: %s%s%s[%zu]: expected a string (no NUL, at most %u "
                                "bytes)",
                                path, *path ? "." : "", key, i, OCI_STRING_MAX);
        }
        v[i] = xstrdup(json_string_value(it));
    }
    *out = v;
    return 0;
}

/* An object of string values → two parallel vectors. */
static int get_strmap(const json_t *obj, const char *key, const char *path, char ***keys,
                      char ***values, kl_error *err)
{
    json_t *o;
    *keys = *values = NULL;
    if (get_obj(obj, key, path, &o, err) < 0)
        return -1;
    if (!o)
        return 0;
    if (json_object_size(o) > OCI_ARRAY_MAX)
        return kl_error_set(err, EINVAL, "config: %s.%s: more than %d entries", path, key,
                            OCI_ARRAY_MAX);
    char **k = xcalloc(json_object_size(o) + 1, sizeof(char *));
    char **v = xcalloc(json_object_size(o) + 1, sizeof(char *));
    size_t n = 0;
    const char *name;
    json_t *it;
    json_object_foreach((json_t *)o, name, it)
    {
        if (!json_is_string(it) || json_string_length(it) > OCI_STRING_MAX ||
            strlen(name) > OCI_STRING_MAX) {
            strv_free(k);
            strv_free(v);
            return kl_error_set(err, EINVAL, "config: %s.%s.%.64s: expected a string", path, key,
                                name);
        }
        k[n] = xstrdup(name);
        v[n++] = xstrdup(json_string_value(it));
    }
    *keys = k;
    *values = v;
    return 0;
}

/* ---- sections ----------------------------------------------------------------------------------
 */

static const char *const rlimit_names[] = {
    "RLIMIT_AS",     "RLIMIT_CORE",   "RLIMIT_CPU",        "RLIMIT_DATA",
    "RLIMIT_FSIZE",  "RLIMIT_LOCKS",  "RLIMIT_MEMLOCK",    "RLIMIT_MSGQUEUE",
    "RLIMIT_NICE",   "RLIMIT_NOFILE", "RLIMIT_NPROC",      "RLIMIT_RSS",
    "RLIMIT_RTPRIO", "RLIMIT_RTTIME", "RLIMIT_SIGPENDING", "RLIMIT_STACK",
};

static int parse_process(const json_t *p, oci_process *out, kl_error *err)
{
    memset(out, 0, sizeof(*out));
    if (get_bool(p, "terminal", "process", &out->terminal, NULL, err) < 0)
        return -1;
    json_t *cs;
    if (get_obj(p, "consoleSize", "process", &cs, err) < 0)
        return -1;
    if (cs) {
        uint32_t h = 0, w = 0;
        if (get_u32(cs, "height", "process.consoleSize", &h, NULL, true, err) < 0 ||
            get_u32(cs, "width", "process.consoleSize", &w, NULL, true, err) < 0)
            return -1;
        if (h > 65535 || w > 65535)
            return bad(err, "process.consoleSize", "height and width must be at most 65535");
        out->console_height = h;
        out->console_width = w;
    }
    json_t *u;
    if (get_obj(p, "user", "process", &u, err) < 0)
        return -1;
    if (!u)
        return bad(err, "process.user", "required");
    if (get_u32(u, "uid", "process.user", &out->user.uid, NULL, true, err) < 0 ||
        get_u32(u, "gid", "process.user", &out->user.gid, NULL, true, err) < 0 ||
        get_u32(u, "umask", "process.user", &out->user.umask, &out->user.has_umask, false, err) < 0)
        return -1;
    if (out->user.has_umask && out->user.umask > 0777)
        return bad(err, "process.user.umask", "expected a mode from 0 to 0777");
    json_t *ag;
    if (get_arr(u, "additionalGids", "process.user", &ag, err) < 0)
        return -1;
    if (ag) {
        out->user.additional_gids = xcalloc(json_array_size(ag) + 1, sizeof(uint32_t));
        size_t i;
        json_t *it;
        json_array_foreach(ag, i, it)
        {
            if (!json_is_integer(it) || json_integer_value(it) < 0 ||
                json_integer_value(it) > 4294967295LL)
                return kl_error_set(err, EINVAL,
                                    "config: process.user.additionalGids[%zu]: expected an "
                                    "integer from 0 to 4294967295",
                                    i);
            out->user.additional_gids[out->user.n_additional_gids++] =
                (uint32_t)json_integer_value(it);
        }
    }
    if (get_strv(p, "args", "process", &out->args, err) < 0 ||
        get_strv(p, "env", "process", &out->env, err) < 0 ||
        get_str(p, "cwd", "process", true, &out->cwd, err) < 0)
        return -1;
    if (!out->args || !out->args[0])
        return bad(err, "process.args", "at least one entry is required");
    if (out->cwd[0] != '/')
        return bad(err, "process.cwd", "must be an absolute path");
    for (char **e = out->env; e && *e; e++)
        if (!strchr(*e, '='))
            return kl_error_set(err, EINVAL, "config: process.env: '%.64s' is not KEY=VALUE", *e);
    json_t *caps;
    if (get_obj(p, "capabilities", "process", &caps, err) < 0)
        return -1;
    if (caps) {
        static const char *const sets[] = {"bounding", "effective", "permitted", "inheritable",
                                           "ambient"};
        out->has_caps = true;
        for (int i = 0; i < OCI_CAP_SETS; i++)
            if (get_strv(caps, sets[i], "process.capabilities", &out->caps[i], err) < 0)
                return -1;
    }
    json_t *rl;
    if (get_arr(p, "rlimits", "process", &rl, err) < 0)
        return -1;
    if (rl) {
        out->rlimits = xcalloc(json_array_size(rl) + 1, sizeof(oci_rlimit));
        size_t i;
        json_t *it;
        json_array_foreach(rl, i, it)
        {
            char path[64];
            snprintf(path, sizeof(path), "process.rlimits[%zu]", i);
            if (!json_is_object(it))
                return bad(err, path, "expected an object");
            oci_rlimit *r = &out->rlimits[out->n_rlimits++];
            bool hs = false, hh = false;
            if (get_str(it, "type", path, true, &r->type, err) < 0 ||
                get_u64(it, "soft", path, &r->soft, &hs, err) < 0 ||
                get_u64(it, "hard", path, &r->hard, &hh, err) < 0)
                return -1;
            if (!hs || !hh)
                return bad(err, path, "soft and hard are required");
            bool known = false;
            for (size_t k = 0; k < KL_ARRAY_SIZE(rlimit_names); k++)
                known = known || strcmp(r->type, rlimit_names[k]) == 0;
            if (!known)
                return kl_error_set(err, EINVAL, "config: %s.type: unknown resource limit '%.64s'",
                                    path, r->type);
            for (size_t k = 0; k + 1 < out->n_rlimits; k++)
                if (strcmp(out->rlimits[k].type, r->type) == 0)
                    return kl_error_set(err, EINVAL, "config: %s.type: %s given twice", path,
                                        r->type);
            if (r->soft > r->hard)
                return bad(err, path, "soft is above hard");
        }
    }
    if (get_bool(p, "noNewPrivileges", "process", &out->no_new_privileges, NULL, err) < 0)
        return -1;
    long long oom = 0;
    if (get_int(p, "oomScoreAdj", "process", -1000, 1000, &oom, &out->has_oom_score_adj, err) < 0)
        return -1;
    out->oom_score_adj = (int)oom;
    if (get_str(p, "apparmorProfile", "process", false, &out->apparmor_profile, err) < 0 ||
        get_str(p, "selinuxLabel", "process", false, &out->selinux_label, err) < 0)
        return -1;
    return 0;
}

static bool is_abs_clean(const char *p)
{
    return p && p[0] == '/';
}

static int parse_mounts(const json_t *root, oci_config *c, kl_error *err)
{
    json_t *a;
    if (get_arr(root, "mounts", "", &a, err) < 0)
        return -1;
    if (!a)
        return 0;
    c->mounts = xcalloc(json_array_size(a) + 1, sizeof(oci_mount));
    size_t i;
    json_t *it;
    json_array_foreach(a, i, it)
    {
        char path[64];
        snprintf(path, sizeof(path), "mounts[%zu]", i);
        if (!json_is_object(it))
            return bad(err, path, "expected an object");
        oci_mount *m = &c->mounts[c->n_mounts++];
        if (get_str(it, "destination", path, true, &m->destination, err) < 0 ||
            get_str(it, "type", path, false, &m->type, err) < 0 ||
            get_str(it, "source", path, false, &m->source, err) < 0 ||
            get_strv(it, "options", path, &m->options, err) < 0)
            return -1;
        if (!is_abs_clean(m->destination))
            return kl_error_set(err, EINVAL,
                                "config: %s.destination: '%.200s' is not an absolute path", path,
                                m->destination);
    }
    return 0;
}

static int parse_hooks(const json_t *root, oci_config *c, kl_error *err)
{
    static const char *const kinds[] = {"prestart",       "createRuntime", "createContainer",
                                        "startContainer", "poststart",     "poststop"};
    json_t *h;
    if (get_obj(root, "hooks", "", &h, err) < 0)
        return -1;
    if (!h)
        return 0;
    for (int k = 0; k < OCI_HOOK_KINDS; k++) {
        char path[64];
        snprintf(path, sizeof(path), "hooks.%s", kinds[k]);
        json_t *a;
        if (get_arr(h, kinds[k], "hooks", &a, err) < 0)
            return -1;
        if (!a)
            continue;
        c->hooks[k].hooks = xcalloc(json_array_size(a) + 1, sizeof(oci_hook));
        size_t i;
        json_t *it;
        json_array_foreach(a, i, it)
        {
            char ip[80];
            snprintf(ip, sizeof(ip), "%s[%zu]", path, i);
            if (!json_is_object(it))
                return bad(err, ip, "expected an object");
            oci_hook *hk = &c->hooks[k].hooks[c->hooks[k].n++];
            long long t = 0;
            bool has_t = false;
            if (get_str(it, "path", ip, true, &hk->path, err) < 0 ||
                get_strv(it, "args", ip, &hk->args, err) < 0 ||
                get_strv(it, "env", ip, &hk->env, err) < 0 ||
                get_int(it, "timeout", ip, 1, 86400, &t, &has_t, err) < 0)
                return -1;
            if (hk->path[0] != '/')
                return kl_error_set(err, EINVAL, "config: %s.path: must be an absolute path", ip);
            hk->timeout = (int)t;
        }
    }
    return 0;
}

static const char *const ns_types[] = {"pid", "network", "mount",  "ipc",
                                       "uts", "user",    "cgroup", "time"};

static int parse_idmaps(const json_t *lx, const char *key, oci_idmap **out, size_t *n,
                        kl_error *err)
{
    json_t *a;
    if (get_arr(lx, key, "linux", &a, err) < 0)
        return -1;
    if (!a)
        return 0;
    if (json_array_size(a) > 340)
        return kl_error_set(err, EINVAL, "config: linux.%s: more than 340 ranges", key);
    *out = xcalloc(json_array_size(a) + 1, sizeof(oci_idmap));
    size_t i;
    json_t *it;
    json_array_foreach(a, i, it)
    {
        char path[64];
        snprintf(path, sizeof(path), "linux.%s[%zu]", key, i);
        if (!json_is_object(it))
            return bad(err, path, "expected an object");
        oci_idmap *m = &(*out)[(*n)++];
        if (get_u32(it, "containerID", path, &m->container_id, NULL, true, err) < 0 ||
            get_u32(it, "hostID", path, &m->host_id, NULL, true, err) < 0 ||
            get_u32(it, "size", path, &m->size, NULL, true, err) < 0)
            return -1;
        if (m->size == 0)
            return bad(err, path, "size must be at least 1");
    }
    return 0;
}

static int parse_devices(const json_t *lx, oci_config *c, kl_error *err)
{
    json_t *a;
    if (get_arr(lx, "devices", "linux", &a, err) < 0)
        return -1;
    if (!a)
        return 0;
    c->devices = xcalloc(json_array_size(a) + 1, sizeof(oci_device));
    size_t i;
    json_t *it;
    json_array_foreach(a, i, it)
    {
        char path[64];
        snprintf(path, sizeof(path), "linux.devices[%zu]", i);
        if (!json_is_object(it))
            return bad(err, path, "expected an object");
        oci_device *d = &c->devices[c->n_devices++];
        _cleanup_free_ char *type = NULL;
        bool hmaj = false, hmin = false;
        if (get_str(it, "path", path, true, &d->path, err) < 0 ||
            get_str(it, "type", path, true, &type, err) < 0 ||
            get_i64(it, "major", path, &d->major, &hmaj, err) < 0 ||
            get_i64(it, "minor", path, &d->minor, &hmin, err) < 0 ||
            get_u32(it, "fileMode", path, &d->file_mode, &d->has_file_mode, false, err) < 0 ||
            get_u32(it, "uid", path, &d->uid, &d->has_uid, false, err) < 0 ||
            get_u32(it, "gid", path, &d->gid, &d->has_gid, false, err) < 0)
            return -1;
        if (!is_abs_clean(d->path))
            return kl_error_set(err, EINVAL, "config: %s.path: must be an absolute path", path);
        if (strlen(type) != 1 || !strchr("cubp", type[0]))
            return kl_error_set(err, EINVAL, "config: %s.type: '%.16s' is not c, u, b or p", path,
                                type);
        d->type = type[0];
        if (d->type != 'p' && (!hmaj || !hmin))
            return bad(err, path, "major and minor are required for c, u and b devices");
        if (d->major < 0 || d->major > 4095 || d->minor < 0 || d->minor > 1048575)
            return bad(err, path, "major or minor out of range");
        if (d->has_file_mode && d->file_mode > 07777)
            return bad(err, path, "fileMode out of range");
    }
    return 0;
}

static int parse_resources_obj(const json_t *r, const char *path, oci_resources *out, kl_error *err)
{
    char p[96];
    json_t *o;
    snprintf(p, sizeof(p), "%s.memory", path);
    if (get_obj(r, "memory", path, &o, err) < 0)
        return -1;
    if (o) {
        if (get_i64(o, "limit", p, &out->memory_limit, &out->has_memory_limit, err) < 0 ||
            get_i64(o, "reservation", p, &out->memory_reservation, &out->has_memory_reservation,
                    err) < 0 ||
            get_i64(o, "swap", p, &out->memory_swap, &out->has_memory_swap, err) < 0 ||
            get_i64(o, "kernel", p, &out->memory_kernel, &out->has_memory_kernel, err) < 0 ||
            get_u64(o, "swappiness", p, &out->memory_swappiness, &out->has_memory_swappiness, err) <
                0 ||
            get_bool(o, "disableOOMKiller", p, &out->disable_oom_killer,
                     &out->has_disable_oom_killer, err) < 0)
            return -1;
        if (out->has_memory_swappiness && out->memory_swappiness > 100)
            return kl_error_set(err, EINVAL, "config: %s.swappiness: expected 0 to 100", p);
    }
    snprintf(p, sizeof(p), "%s.cpu", path);
    if (get_obj(r, "cpu", path, &o, err) < 0)
        return -1;
    if (o) {
        if (get_u64(o, "shares", p, &out->cpu_shares, &out->has_cpu_shares, err) < 0 ||
            get_i64(o, "quota", p, &out->cpu_quota, &out->has_cpu_quota, err) < 0 ||
            get_u64(o, "period", p, &out->cpu_period, &out->has_cpu_period, err) < 0 ||
            get_i64(o, "realtimeRuntime", p, &out->cpu_rt_runtime, &out->has_cpu_rt_runtime, err) <
                0 ||
            get_u64(o, "realtimePeriod", p, &out->cpu_rt_period, &out->has_cpu_rt_period, err) <
                0 ||
            get_str(o, "cpus", p, false, &out->cpu_cpus, err) < 0 ||
            get_str(o, "mems", p, false, &out->cpu_mems, err) < 0)
            return -1;
        for (const char *s = out->cpu_cpus; s && *s; s++)
            if (!strchr("0123456789,-", *s))
                return kl_error_set(err, EINVAL, "config: %s.cpus: not a cpu list", p);
        for (const char *s = out->cpu_mems; s && *s; s++)
            if (!strchr("0123456789,-", *s))
                return kl_error_set(err, EINVAL, "config: %s.mems: not a node list", p);
    }
    snprintf(p, sizeof(p), "%s.pids", path);
    if (get_obj(r, "pids", path, &o, err) < 0)
        return -1;
    if (o && get_i64(o, "limit", p, &out->pids_limit, &out->has_pids_limit, err) < 0)
        return -1;
    snprintf(p, sizeof(p), "%s.blockIO", path);
    if (get_obj(r, "blockIO", path, &o, err) < 0)
        return -1;
    if (o) {
        if (get_u32(o, "weight", p, &out->blkio_weight, &out->has_blkio_weight, false, err) < 0 ||
            get_u32(o, "leafWeight", p, &out->blkio_leaf_weight, &out->has_blkio_leaf_weight, false,
                    err) < 0)
            return -1;
        /* 0 means "not set" (dockerd sends weight 0 when the user gave none). */
        if (out->has_blkio_weight && out->blkio_weight == 0)
            out->has_blkio_weight = false;
        if (out->has_blkio_leaf_weight && out->blkio_leaf_weight == 0)
            out->has_blkio_leaf_weight = false;
        if ((out->has_blkio_weight && (out->blkio_weight < 10 || out->blkio_weight > 1000)) ||
            (out->has_blkio_leaf_weight &&
             (out->blkio_leaf_weight < 10 || out->blkio_leaf_weight > 1000)))
            return kl_error_set(err, EINVAL, "config: %s: weights are from 10 to 1000", p);
    }
    snprintf(p, sizeof(p), "%s.network", path);
    if (get_obj(r, "network", path, &o, err) < 0)
        return -1;
    if (o && get_u32(o, "classID", p, &out->net_class_id, &out->has_net_class_id, false, err) < 0)
        return -1;
    json_t *a;
    if (get_arr(r, "hugepageLimits", path, &a, err) < 0)
        return -1;
    if (a) {
        out->hugepages = xcalloc(json_array_size(a) + 1, sizeof(oci_hugepage));
        size_t i;
        json_t *it;
        json_array_foreach(a, i, it)
        {
            snprintf(p, sizeof(p), "%s.hugepageLimits[%zu]", path, i);
            if (!json_is_object(it))
                return bad(err, p, "expected an object");
            oci_hugepage *h = &out->hugepages[out->n_hugepages++];
            bool hl = false;
            if (get_str(it, "pageSize", p, true, &h->page_size, err) < 0 ||
                get_u64(it, "limit", p, &h->limit, &hl, err) < 0)
                return -1;
            if (!hl)
                return bad(err, p, "limit is required");
            for (const char *s = h->page_size; *s; s++)
                if (!strchr("0123456789KMGB", *s))
                    return kl_error_set(err, EINVAL, "config: %s.pageSize: not a size", p);
        }
    }
    if (get_arr(r, "devices", path, &a, err) < 0)
        return -1;
    if (a) {
        out->devices = xcalloc(json_array_size(a) + 1, sizeof(oci_device_rule));
        size_t i;
        json_t *it;
        json_array_foreach(a, i, it)
        {
            snprintf(p, sizeof(p), "%s.devices[%zu]", path, i);
            if (!json_is_object(it))
                return bad(err, p, "expected an object");
            oci_device_rule *d = &out->devices[out->n_devices++];
            bool has_allow = false, hmaj = false, hmin = false;
            _cleanup_free_ char *type = NULL, *access = NULL;
            if (get_bool(it, "allow", p, &d->allow, &has_allow, err) < 0 ||
                get_str(it, "type", p, false, &type, err) < 0 ||
                get_i64(it, "major", p, &d->major, &hmaj, err) < 0 ||
                get_i64(it, "minor", p, &d->minor, &hmin, err) < 0 ||
                get_str(it, "access", p, false, &access, err) < 0)
                return -1;
            if (!has_allow)
                return bad(err, p, "allow is required");
            d->type = type ? type[0] : 'a';
            if (type && (strlen(type) != 1 || !strchr("acb", type[0])))
                return kl_error_set(err, EINVAL, "config: %s.type: expected a, c or b", p);
            if (!hmaj)
                d->major = -1;
            if (!hmin)
                d->minor = -1;
            if (d->major < -1 || d->minor < -1 || d->major > 4095 || d->minor > 1048575)
                return kl_error_set(err, EINVAL, "config: %s: major or minor out of range", p);
            const char *acc = access ? access : "rwm";
            if (strlen(acc) > 3 || strspn(acc, "rwm") != strlen(acc))
                return kl_error_set(err, EINVAL, "config: %s.access: expected letters of rwm", p);
            snprintf(d->access, sizeof(d->access), "%s", acc);
        }
    }
    return 0;
}

static const char *const seccomp_ops[] = {"SCMP_CMP_NE",       "SCMP_CMP_LT", "SCMP_CMP_LE",
                                          "SCMP_CMP_EQ",       "SCMP_CMP_GE", "SCMP_CMP_GT",
                                          "SCMP_CMP_MASKED_EQ"};
static const char *const seccomp_actions[] = {
    "SCMP_ACT_KILL",  "SCMP_ACT_KILL_PROCESS", "SCMP_ACT_KILL_THREAD",
    "SCMP_ACT_TRAP",  "SCMP_ACT_ERRNO",        "SCMP_ACT_TRACE",
    "SCMP_ACT_ALLOW", "SCMP_ACT_LOG",          "SCMP_ACT_NOTIFY"};

static bool in_list(const char *s, const char *const *list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(s, list[i]) == 0)
            return true;
    return false;
}

static int parse_seccomp(const json_t *o, oci_seccomp *s, kl_error *err)
{
    if (get_str(o, "defaultAction", "linux.seccomp", true, &s->default_action, err) < 0 ||
        get_u32(o, "defaultErrnoRet", "linux.seccomp", &s->default_errno, &s->has_default_errno,
                false, err) < 0 ||
        get_strv(o, "architectures", "linux.seccomp", &s->architectures, err) < 0 ||
        get_strv(o, "flags", "linux.seccomp", &s->flags, err) < 0)
        return -1;
    if (!in_list(s->default_action, seccomp_actions, KL_ARRAY_SIZE(seccomp_actions)))
        return kl_error_set(err, EINVAL, "config: linux.seccomp.defaultAction: unknown '%.64s'",
                            s->default_action);
    json_t *a;
    if (get_arr(o, "syscalls", "linux.seccomp", &a, err) < 0)
        return -1;
    if (!a)
        return 0;
    s->rules = xcalloc(json_array_size(a) + 1, sizeof(oci_seccomp_rule));
    size_t i;
    json_t *it;
    json_array_foreach(a, i, it)
    {
        char p[64];
        snprintf(p, sizeof(p), "linux.seccomp.syscalls[%zu]", i);
        if (!json_is_object(it))
            return bad(err, p, "expected an object");
        oci_seccomp_rule *r = &s->rules[s->n_rules++];
        if (get_strv(it, "names", p, &r->names, err) < 0 ||
            get_str(it, "action", p, true, &r->action, err) < 0 ||
            get_u32(it, "errnoRet", p, &r->errno_ret, &r->has_errno, false, err) < 0)
            return -1;
        if (!r->names || !r->names[0])
            return bad(err, p, "names needs at least one entry");
        if (!in_list(r->action, seccomp_actions, KL_ARRAY_SIZE(seccomp_actions)))
            return kl_error_set(err, EINVAL, "config: %s.action: unknown '%.64s'", p, r->action);
        json_t *args;
        if (get_arr(it, "args", p, &args, err) < 0)
            return -1;
        if (!args)
            continue;
        if (json_array_size(args) > 6)
            return bad(err, p, "more than 6 args");
        r->args = xcalloc(json_array_size(args) + 1, sizeof(oci_seccomp_arg));
        size_t j;
        json_t *ai;
        json_array_foreach(args, j, ai)
        {
            char ap[96];
            snprintf(ap, sizeof(ap), "%s.args[%zu]", p, j);
            if (!json_is_object(ai))
                return bad(err, ap, "expected an object");
            oci_seccomp_arg *g = &r->args[r->n_args++];
            bool hv = false;
            if (get_u32(ai, "index", ap, &g->index, NULL, true, err) < 0 ||
                get_u64(ai, "value", ap, &g->value, &hv, err) < 0 ||
                get_u64(ai, "valueTwo", ap, &g->value_two, NULL, err) < 0 ||
                get_str(ai, "op", ap, true, &g->op, err) < 0)
                return -1;
            if (g->index > 5)
                return bad(err, ap, "index must be from 0 to 5");
            if (!hv)
                return bad(err, ap, "value is required");
            if (!in_list(g->op, seccomp_ops, KL_ARRAY_SIZE(seccomp_ops)))
                return kl_error_set(err, EINVAL, "config: %s.op: unknown '%.64s'", ap, g->op);
        }
    }
    return 0;
}

static int parse_linux(const json_t *lx, oci_config *c, kl_error *err)
{
    json_t *a;
    if (get_arr(lx, "namespaces", "linux", &a, err) < 0)
        return -1;
    if (a) {
        c->namespaces = xcalloc(json_array_size(a) + 1, sizeof(oci_namespace));
        size_t i;
        json_t *it;
        json_array_foreach(a, i, it)
        {
            char p[64];
            snprintf(p, sizeof(p), "linux.namespaces[%zu]", i);
            if (!json_is_object(it))
                return bad(err, p, "expected an object");
            oci_namespace *n = &c->namespaces[c->n_namespaces++];
            if (get_str(it, "type", p, true, &n->type, err) < 0 ||
                get_str(it, "path", p, false, &n->path, err) < 0)
                return -1;
            if (!in_list(n->type, ns_types, KL_ARRAY_SIZE(ns_types)))
                return kl_error_set(err, EINVAL, "config: %s.type: unknown namespace '%.64s'", p,
                                    n->type);
            if (n->path && n->path[0] != '/')
                return kl_error_set(err, EINVAL, "config: %s.path: must be an absolute path", p);
            for (size_t k = 0; k + 1 < c->n_namespaces; k++)
                if (strcmp(c->namespaces[k].type, n->type) == 0)
                    return kl_error_set(err, EINVAL, "config: %s: namespace %s given twice", p,
                                        n->type);
        }
    }
    if (parse_idmaps(lx, "uidMappings", &c->uid_mappings, &c->n_uid_mappings, err) < 0 ||
        parse_idmaps(lx, "gidMappings", &c->gid_mappings, &c->n_gid_mappings, err) < 0 ||
        parse_devices(lx, c, err) < 0 ||
        get_str(lx, "cgroupsPath", "linux", false, &c->cgroups_path, err) < 0 ||
        get_strmap(lx, "sysctl", "linux", &c->sysctl_keys, &c->sysctl_values, err) < 0 ||
        get_str(lx, "rootfsPropagation", "linux", false, &c->rootfs_propagation, err) < 0 ||
        get_strv(lx, "maskedPaths", "linux", &c->masked_paths, err) < 0 ||
        get_strv(lx, "readonlyPaths", "linux", &c->readonly_paths, err) < 0 ||
        get_str(lx, "mountLabel", "linux", false, &c->mount_label, err) < 0)
        return -1;
    if ((c->n_uid_mappings || c->n_gid_mappings) && !oci_config_namespace(c, "user"))
        return bad(err, "linux.uidMappings", "id mappings need a user namespace");
    if (c->cgroups_path && strstr(c->cgroups_path, ".."))
        return bad(err, "linux.cgroupsPath", "must not contain '..'");
    for (char **k = c->sysctl_keys; k && *k; k++)
        if (!**k || strstr(*k, "..") || strchr(*k, '/') || (*k)[0] == '.')
            return kl_error_set(err, EINVAL, "config: linux.sysctl: invalid key '%.64s'", *k);
    static const char *const props[] = {"private", "rprivate", "slave",      "rslave",
                                        "shared",  "rshared",  "unbindable", "runbindable"};
    if (c->rootfs_propagation && !in_list(c->rootfs_propagation, props, KL_ARRAY_SIZE(props)))
        return kl_error_set(err, EINVAL, "config: linux.rootfsPropagation: unknown '%.32s'",
                            c->rootfs_propagation);
    for (char **p = c->masked_paths; p && *p; p++)
        if (**p != '/')
            return kl_error_set(err, EINVAL, "config: linux.maskedPaths: '%.200s' is not absolute",
                                *p);
    for (char **p = c->readonly_paths; p && *p; p++)
        if (**p != '/')
            return kl_error_set(err, EINVAL,
                                "config: linux.readonlyPaths: '%.200s' is not absolute", *p);
    json_t *r;
    if (get_obj(lx, "resources", "linux", &r, err) < 0)
        return -1;
    if (r) {
        c->has_resources = true;
        if (parse_resources_obj(r, "linux.resources", &c->resources, err) < 0)
            return -1;
    }
    json_t *s;
    if (get_obj(lx, "seccomp", "linux", &s, err) < 0)
        return -1;
    if (s) {
        c->seccomp = xcalloc(1, sizeof(*c->seccomp));
        if (parse_seccomp(s, c->seccomp, err) < 0)
            return -1;
    }
    json_t *pers;
    if (get_obj(lx, "personality", "linux", &pers, err) < 0)
        return -1;
    if (pers) {
        if (get_str(pers, "domain", "linux.personality", true, &c->personality_domain, err) < 0 ||
            get_strv(pers, "flags", "linux.personality", &c->personality_flags, err) < 0)
            return -1;
        if (strcmp(c->personality_domain, "LINUX") != 0 &&
            strcmp(c->personality_domain, "LINUX32") != 0)
            return bad(err, "linux.personality.domain", "expected LINUX or LINUX32");
    }
    return 0;
}

/* 1.x.y (with an optional -suffix): the major version we implement. */
static int check_version(const char *v, kl_error *err)
{
    unsigned maj, min, patch;
    int n = 0;
    if (sscanf(v, "%u.%u.%u%n", &maj, &min, &patch, &n) != 3 ||
        (v[n] && v[n] != '-' && v[n] != '+'))
        return kl_error_set(err, EINVAL, "config: ociVersion: '%.64s' is not a version x.y.z", v);
    if (maj != 1)
        return kl_error_set(err, EINVAL,
                            "config: ociVersion: %.64s is not supported (this runtime implements "
                            "1.x)",
                            v);
    return 0;
}

int oci_config_parse(const char *text, size_t len, oci_config *out, kl_error *err)
{
    memset(out, 0, sizeof(*out));
    if (len > OCI_CONFIG_MAX)
        return kl_error_set(err, EFBIG, "config: larger than %u bytes", OCI_CONFIG_MAX);
    json_error_t je;
    _cleanup_json_ json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
    if (!root)
        return kl_error_set(err, EINVAL, "config: invalid JSON at line %d column %d: %s", je.line,
                            je.column, je.text);
    if (!json_is_object(root))
        return kl_error_set(err, EINVAL, "config: expected a JSON object");
    int r = -1;
    do {
        if (get_str(root, "ociVersion", "", true, &out->oci_version, err) < 0 ||
            check_version(out->oci_version, err) < 0)
            break;
        json_t *rt;
        if (get_obj(root, "root", "", &rt, err) < 0)
            break;
        if (!rt) {
            bad(err, "root", "required");
            break;
        }
        if (get_str(rt, "path", "root", true, &out->root_path, err) < 0 ||
            get_bool(rt, "readonly", "root", &out->root_readonly, NULL, err) < 0)
            break;
        if (!out->root_path[0]) {
            bad(err, "root.path", "empty");
            break;
        }
        if (get_str(root, "hostname", "", false, &out->hostname, err) < 0 ||
            get_str(root, "domainname", "", false, &out->domainname, err) < 0)
            break;
        if ((out->hostname && strlen(out->hostname) > 64) ||
            (out->domainname && strlen(out->domainname) > 64)) {
            bad(err, "hostname", "longer than 64 bytes");
            break;
        }
        json_t *p;
        if (get_obj(root, "process", "", &p, err) < 0)
            break;
        if (p) {
            out->has_process = true;
            if (parse_process(p, &out->process, err) < 0)
                break;
        }
        if (parse_mounts(root, out, err) < 0 || parse_hooks(root, out, err) < 0 ||
            get_strmap(root, "annotations", "", &out->annotation_keys, &out->annotation_values,
                       err) < 0)
            break;
        json_t *lx;
        if (get_obj(root, "linux", "", &lx, err) < 0)
            break;
        if (lx && parse_linux(lx, out, err) < 0)
            break;
        r = 0;
    } while (0);
    if (r < 0)
        oci_config_free(out);
    return r;
}

int oci_config_load(const char *bundle, oci_config *out, kl_error *err)
{
    memset(out, 0, sizeof(*out));
    _cleanup_close_ int dir = open(bundle, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (dir < 0)
        return kl_error_errno(err, errno, "bundle %s", bundle);
    _cleanup_close_ int fd = openat(dir, "config.json", O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0)
        return kl_error_errno(err, errno, "bundle %s: config.json", bundle);
    struct stat st;
    if (fstat(fd, &st) < 0)
        return kl_error_errno(err, errno, "bundle %s: config.json", bundle);
    if (!S_ISREG(st.st_mode))
        return kl_error_set(err, EINVAL, "bundle %s: config.json is not a regular file", bundle);
    if ((unsigned long long)st.st_size > OCI_CONFIG_MAX)
        return kl_error_set(err, EFBIG, "bundle %s: config.json is larger than %u bytes", bundle,
                            OCI_CONFIG_MAX);
    _cleanup_free_ char *buf = xmalloc((size_t)st.st_size + 1);
    size_t got = 0;
    while (got < (size_t)st.st_size) {
        ssize_t n = KL_RETRY_EINTR(read(fd, buf + got, (size_t)st.st_size - got));
        if (n < 0)
            return kl_error_errno(err, errno, "bundle %s: reading config.json", bundle);
        if (n == 0)
            break;
        got += (size_t)n;
    }
    if (oci_config_parse(buf, got, out, err) < 0)
        return kl_error_prefix(err, "bundle %s", bundle);
    return 0;
}

static void strv_freep(char ***v)
{
    strv_free(*v);
    *v = NULL;
}

void oci_process_free(oci_process *p)
{
    free(p->user.additional_gids);
    strv_freep(&p->args);
    strv_freep(&p->env);
    free(p->cwd);
    for (int i = 0; i < OCI_CAP_SETS; i++)
        strv_freep(&p->caps[i]);
    for (size_t i = 0; i < p->n_rlimits; i++)
        free(p->rlimits[i].type);
    free(p->rlimits);
    free(p->apparmor_profile);
    free(p->selinux_label);
    memset(p, 0, sizeof(*p));
}

void oci_resources_free(oci_resources *r)
{
    free(r->cpu_cpus);
    free(r->cpu_mems);
    for (size_t i = 0; i < r->n_hugepages; i++)
        free(r->hugepages[i].page_size);
    free(r->hugepages);
    free(r->devices);
    memset(r, 0, sizeof(*r));
}

void oci_config_free(oci_config *c)
{
    free(c->oci_version);
    free(c->root_path);
    free(c->hostname);
    free(c->domainname);
    oci_process_free(&c->process);
    for (size_t i = 0; i < c->n_mounts; i++) {
        free(c->mounts[i].destination);
        free(c->mounts[i].type);
        free(c->mounts[i].source);
        strv_free(c->mounts[i].options);
    }
    free(c->mounts);
    for (int k = 0; k < OCI_HOOK_KINDS; k++) {
        for (size_t i = 0; i < c->hooks[k].n; i++) {
            free(c->hooks[k].hooks[i].path);
            strv_free(c->hooks[k].hooks[i].args);
            strv_free(c->hooks[k].hooks[i].env);
        }
        free(c->hooks[k].hooks);
    }
    strv_free(c->annotation_keys);
    strv_free(c->annotation_values);
    for (size_t i = 0; i < c->n_namespaces; i++) {
        free(c->namespaces[i].type);
        free(c->namespaces[i].path);
    }
    free(c->namespaces);
    free(c->uid_mappings);
    free(c->gid_mappings);
    for (size_t i = 0; i < c->n_devices; i++)
        free(c->devices[i].path);
    free(c->devices);
    free(c->cgroups_path);
    oci_resources_free(&c->resources);
    strv_free(c->sysctl_keys);
    strv_free(c->sysctl_values);
    if (c->seccomp) {
        free(c->seccomp->default_action);
        strv_free(c->seccomp->architectures);
        strv_free(c->seccomp->flags);
        for (size_t i = 0; i < c->seccomp->n_rules; i++) {
            oci_seccomp_rule *r = &c->seccomp->rules[i];
            strv_free(r->names);
            free(r->action);
            for (size_t j = 0; j < r->n_args; j++)
                free(r->args[j].op);
            free(r->args);
        }
        free(c->seccomp->rules);
        free(c->seccomp);
    }
    free(c->rootfs_propagation);
    strv_free(c->masked_paths);
    strv_free(c->readonly_paths);
    free(c->mount_label);
    free(c->personality_domain);
    strv_free(c->personality_flags);
    memset(c, 0, sizeof(*c));
}

int oci_resources_parse(const char *text, size_t len, oci_resources *out, kl_error *err)
{
    memset(out, 0, sizeof(*out));
    if (len > OCI_CONFIG_MAX)
        return kl_error_set(err, EFBIG, "resources: larger than %u bytes", OCI_CONFIG_MAX);
    json_error_t je;
    _cleanup_json_ json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
    if (!root)
        return kl_error_set(err, EINVAL, "resources: invalid JSON at line %d column %d: %s",
                            je.line, je.column, je.text);
    if (!json_is_object(root))
        return kl_error_set(err, EINVAL, "resources: expected a JSON object");
    if (parse_resources_obj(root, "resources", out, err) < 0) {
        oci_resources_free(out);
        return -1;
    }
    return 0;
}

int oci_process_parse(const char *text, size_t len, oci_process *out, kl_error *err)
{
    memset(out, 0, sizeof(*out));
    if (len > OCI_CONFIG_MAX)
        return kl_error_set(err, EFBIG, "process: larger than %u bytes", OCI_CONFIG_MAX);
    json_error_t je;
    _cleanup_json_ json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
    if (!root)
        return kl_error_set(err, EINVAL, "process: invalid JSON at line %d column %d: %s", je.line,
                            je.column, je.text);
    if (!json_is_object(root))
        return kl_error_set(err, EINVAL, "process: expected a JSON object");
    if (parse_process(root, out, err) < 0) {
        oci_process_free(out);
        return -1;
    }
    return 0;
}

char *oci_config_root(const oci_config *c, const char *bundle, kl_error *err)
{
    const char *p = c->root_path;
    if (p[0] == '/')
        return xstrdup(p);
    /* Lexically: a relative root may not climb out of the bundle. */
    int depth = 0;
    for (const char *s = p; *s;) {
        size_t n = strcspn(s, "/");
        if (n == 2 && s[0] == '.' && s[1] == '.')
            depth--;
        else if (n > 0 && !(n == 1 && s[0] == '.'))
            depth++;
        if (depth < 0) {
            kl_error_set(err, EINVAL,
                         "config: root.path: '%.200s' leads outside the bundle (a relative root "
                         "must stay inside it)",
                         p);
            return NULL;
        }
        s += n;
        while (*s == '/')
            s++;
    }
    return xasprintf("%s/%s", bundle, p);
}

const oci_namespace *oci_config_namespace(const oci_config *c, const char *type)
{
    for (size_t i = 0; i < c->n_namespaces; i++)
        if (strcmp(c->namespaces[i].type, type) == 0)
            return &c->namespaces[i];
    return NULL;
}

char *oci_config_default_json(void)
{
    static const char text[] =
        "{\n"
        "\t\"ociVersion\": \"1.0.2\",\n"
        "\t\"process\": {\n"
        "\t\t\"terminal\": true,\n"
        "\t\t\"user\": {\"uid\": 0, \"gid\": 0},\n"
        "\t\t\"args\": [\"sh\"],\n"
        "\t\t\"env\": [\"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\", "
        "\"TERM=xterm\"],\n"
        "\t\t\"cwd\": \"/\",\n"
        "\t\t\"capabilities\": {\n"
        "\t\t\t\"bounding\": [\"CAP_AUDIT_WRITE\", \"CAP_KILL\", \"CAP_NET_BIND_SERVICE\"],\n"
        "\t\t\t\"effective\": [\"CAP_AUDIT_WRITE\", \"CAP_KILL\", \"CAP_NET_BIND_SERVICE\"],\n"
        "\t\t\t\"permitted\": [\"CAP_AUDIT_WRITE\", \"CAP_KILL\", \"CAP_NET_BIND_SERVICE\"],\n"
        "\t\t\t\"ambient\": [\"CAP_AUDIT_WRITE\", \"CAP_KILL\", \"CAP_NET_BIND_SERVICE\"]\n"
        "\t\t},\n"
        "\t\t\"rlimits\": [{\"type\": \"RLIMIT_NOFILE\", \"hard\": 1024, \"soft\": 1024}],\n"
        "\t\t\"noNewPrivileges\": true\n"
        "\t},\n"
        "\t\"root\": {\"path\": \"rootfs\", \"readonly\": true},\n"
        "\t\"hostname\": \"kleene\",\n"
        "\t\"mounts\": [\n"
        "\t\t{\"destination\": \"/proc\", \"type\": \"proc\", \"source\": \"proc\"},\n"
        "\t\t{\"destination\": \"/dev\", \"type\": \"tmpfs\", \"source\": \"tmpfs\", "
        "\"options\": [\"nosuid\", \"strictatime\", \"mode=755\", \"size=65536k\"]},\n"
        "\t\t{\"destination\": \"/dev/pts\", \"type\": \"devpts\", \"source\": \"devpts\", "
        "\"options\": [\"nosuid\", \"noexec\", \"newinstance\", \"ptmxmode=0666\", \"mode=0620\", "
        "\"gid=5\"]},\n"
        "\t\t{\"destination\": \"/dev/shm\", \"type\": \"tmpfs\", \"source\": \"shm\", "
        "\"options\": [\"nosuid\", \"noexec\", \"nodev\", \"mode=1777\", \"size=65536k\"]},\n"
        "\t\t{\"destination\": \"/dev/mqueue\", \"type\": \"mqueue\", \"source\": \"mqueue\", "
        "\"options\": [\"nosuid\", \"noexec\", \"nodev\"]},\n"
        "\t\t{\"destination\": \"/sys\", \"type\": \"sysfs\", \"source\": \"sysfs\", "
        "\"options\": [\"nosuid\", \"noexec\", \"nodev\", \"ro\"]},\n"
        "\t\t{\"destination\": \"/sys/fs/cgroup\", \"type\": \"cgroup\", \"source\": \"cgroup\", "
        "\"options\": [\"nosuid\", \"noexec\", \"nodev\", \"relatime\", \"ro\"]}\n"
        "\t],\n"
        "\t\"linux\": {\n"
        "\t\t\"resources\": {\"devices\": [{\"allow\": false, \"access\": \"rwm\"}]},\n"
        "\t\t\"namespaces\": [{\"type\": \"pid\"}, {\"type\": \"network\"}, {\"type\": \"ipc\"}, "
        "{\"type\": \"uts\"}, {\"type\": \"mount\"}, {\"type\": \"cgroup\"}],\n"
        "\t\t\"maskedPaths\": [\"/proc/acpi\", \"/proc/asound\", \"/proc/kcore\", \"/proc/keys\", "
        "\"/proc/latency_stats\", \"/proc/timer_list\", \"/proc/timer_stats\", "
        "\"/proc/sched_debug\", \"/sys/firmware\", \"/proc/scsi\"],\n"
        "\t\t\"readonlyPaths\": [\"/proc/bus\", \"/proc/fs\", \"/proc/irq\", \"/proc/sys\", "
        "\"/proc/sysrq-trigger\"]\n"
        "\t}\n"
        "}\n";
    return xstrdup(text);
}
