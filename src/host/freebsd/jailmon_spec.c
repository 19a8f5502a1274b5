/* The spec record kleened sends to kleene-jailmon (jailmon.h): a JSON object, made by
 * kleened (fbmonitor.c) and read by the monitor (jailmon_main.c). It comes only from the
 * kleened that spawned the monitor, over a socketpair; still, nothing in it is trusted
 * further than the checks of jail.c (ids, names, addresses, mount destinations). */
#include <errno.h>
#include <string.h>

#include "host/freebsd/jailmon.h"
#include "lib/jsonx.h"
#include "lib/xalloc.h"

static json_t *strv_json(char *const *v)
{
    return jx_from_strv(v);
}

static const char *str_or_null(const char *s)
{
    return s && *s ? s : NULL;
}

json_t *jailmon_spec_json(const host_monitor_spec *spec, const jailmon_host *h)
{
    const host_container_spec *c = &spec->container;
    json_t *eps = json_array();
    for (size_t i = 0; i < c->n_endpoints; i++) {
        const host_endpoint *e = &c->endpoints[i];
        json_array_append_new(eps, json_pack("{s:s, s:s?, s:s?, s:i, s:i, s:s?, s:s?}", "ifname",
                                             e->ifname, "ip4", str_or_null(e->ip4), "ip6",
                                             str_or_null(e->ip6), "prefix4", e->prefix4, "prefix6",
                                             e->prefix6, "gw4", str_or_null(e->gw4), "gw6",
                                             str_or_null(e->gw6)));
    }
    json_t *mounts = json_array();
    for (size_t i = 0; i < c->n_mounts; i++)
        json_array_append_new(mounts, json_pack("{s:s, s:s, s:b}", "source", c->mounts[i].source,
                                                "destination", c->mounts[i].destination,
                                                "read_only", c->mounts[i].read_only));
    return json_pack(
        "{s:s, s:s, s:I, s:b, s:s?, s:{s:s, s:s?, s:s}, s:s, s:s, s:o, s:o, s:o, "
        "s:s, s:o, s:o, s:{s:I, s:I, s:I}, s:b, s:i}",
        "exec_id", spec->exec_id ? spec->exec_id : "main", "run_dir", spec->run_dir, "log_max",
        (json_int_t)spec->log_max_bytes, "attach", spec->attach, "stop_cmd",
        str_or_null(spec->stop_cmd), "host", "zfs_root", h->zfs_root, "pty_helper", h->pty_helper,
        "pf_anchor", h->pf_anchor ? h->pf_anchor : "kleene", "cid", c->id, "user",
        c->user && *c->user ? c->user : "root", "env", strv_json(c->env), "cmd", strv_json(c->argv),
        "params", strv_json(c->jail_params), "driver",
        c->net_driver && *c->net_driver ? c->net_driver : "ipnet", "endpoints", eps, "mounts",
        mounts, "limits", "memory", (json_int_t)c->limits.memory_bytes, "pids",
        (json_int_t)c->limits.pids_max, "cpu_millis", (json_int_t)c->limits.cpu_millis, "tty",
        c->tty, "stop_signal", spec->stop_signal);
}

static const char **strs(json_t *arr)
{
    size_t n = json_array_size(arr);
    const char **v = xcalloc(n + 1, sizeof(char *));
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        const char *s = json_string_value(json_array_get(arr, i));
        if (s)
            v[k++] = s;
    }
    return v;
}

static const char *opt(json_t *o, const char *key)
{
    return json_string_value(json_object_get(o, key));
}

int jailmon_spec_parse(const char *text, size_t len, jailmon_spec *out, kl_error *err)
{
    memset(out, 0, sizeof(*out));
    out->doc = json_loadb(text, len, 0, NULL);
    json_t *d = out->doc;
    json_t *h = json_object_get(d, "host");
    out->exec_id = opt(d, "exec_id");
    out->run_dir = opt(d, "run_dir");
    out->host.zfs_root = opt(h, "zfs_root");
    out->host.pty_helper = opt(h, "pty_helper");
    out->host.pf_anchor = opt(h, "pf_anchor");
    out->jail.cid = opt(d, "cid");
    const char *driver = opt(d, "driver");
    if (!json_is_object(d) || !out->exec_id || !out->run_dir || out->run_dir[0] != '/' ||
        !out->host.zfs_root || !out->jail.cid || !driver) {
        jailmon_spec_clear(out);
        return kl_error_set(err, EINVAL, "kleene-jailmon: malformed spec");
    }
    static const struct {
        const char *name;
        fb_netdriver d;
    } drivers[] = {{"ipnet", FB_NET_IPNET},
                   {"vnet", FB_NET_VNET},
                   {"host", FB_NET_HOST},
                   {"disabled", FB_NET_DISABLED}};
    bool known = false;
    for (size_t i = 0; i < sizeof(drivers) / sizeof(drivers[0]); i++)
        if (!strcmp(driver, drivers[i].name)) {
            out->jail.driver = drivers[i].d;
            known = true;
        }
    if (!known) {
        jailmon_spec_clear(out);
        return kl_error_set(err, EINVAL, "kleene-jailmon: unknown network driver");
    }
    out->log_max = (size_t)json_integer_value(json_object_get(d, "log_max"));
    out->attach = json_is_true(json_object_get(d, "attach"));
    out->stop_cmd = opt(d, "stop_cmd");
    out->env = strs(json_object_get(d, "env"));
    out->cmd = strs(json_object_get(d, "cmd"));
    out->params = strs(json_object_get(d, "params"));
    out->jail.user = opt(d, "user");
    out->jail.env = out->env;
    out->jail.cmd = out->cmd;
    out->jail.jail_params = out->params;
    out->jail.tty = json_is_true(json_object_get(d, "tty"));
    json_int_t sig = json_integer_value(json_object_get(d, "stop_signal"));
    out->jail.stop_signal = sig > 0 && sig < 1024 ? (int)sig : 0;
    json_t *lim = json_object_get(d, "limits");
    out->jail.limits = (fb_limits){
        .memory_bytes = json_integer_value(json_object_get(lim, "memory")),
        .pids_max = json_integer_value(json_object_get(lim, "pids")),
        .cpu_millis = json_integer_value(json_object_get(lim, "cpu_millis")),
    };
    json_t *eps = json_object_get(d, "endpoints");
    size_t n = json_array_size(eps);
    out->endpoints = xcalloc(n + 1, sizeof(fb_endpoint));
    for (size_t i = 0; i < n; i++) {
        json_t *e = json_array_get(eps, i);
        fb_endpoint *f = &out->endpoints[out->jail.n_endpoints];
        f->ifname = opt(e, "ifname");
        if (!f->ifname)
            continue;
        f->ip4 = opt(e, "ip4");
        f->ip6 = opt(e, "ip6");
        f->prefix4 = (int)json_integer_value(json_object_get(e, "prefix4"));
        f->prefix6 = (int)json_integer_value(json_object_get(e, "prefix6"));
        f->gw4 = opt(e, "gw4");
        f->gw6 = opt(e, "gw6");
        out->jail.n_endpoints++;
    }
    out->jail.endpoints = out->endpoints;
    json_t *ms = json_object_get(d, "mounts");
    n = json_array_size(ms);
    out->mounts = xcalloc(n + 1, sizeof(fb_mount));
    for (size_t i = 0; i < n; i++) {
        json_t *m = json_array_get(ms, i);
        fb_mount *f = &out->mounts[out->jail.n_mounts];
        f->source = opt(m, "source");
        f->destination = opt(m, "destination");
        f->read_only = json_is_true(json_object_get(m, "read_only"));
        if (f->source && f->destination)
            out->jail.n_mounts++;
    }
    out->jail.mounts = out->mounts;
    return 0;
}

void jailmon_spec_clear(jailmon_spec *s)
{
    free(s->env);
    free(s->cmd);
    free(s->params);
    free(s->endpoints);
    free(s->mounts);
    json_decref(s->doc);
    memset(s, 0, sizeof(*s));
}
