/* The Docker door's container endpoints (docs/docker-api.md "Containers"): create (Docker's
 * Config and HostConfig translated to a Kleene ContainerConfig; what would change what the
 * container does and has no Kleene meaning is refused, naming the field), list with filters,
 * inspect, start, stop, kill, restart, wait, remove, rename, logs, prune.
 *
 * The Config and HostConfig a container was created with are stored with it (the engine's
 * container_record.door) so that inspect shows them and start knows Tty; everything else is
 * the engine's. */
#include "api/docker/dk.h"
#include "api/handlers.h"
#include "api/schema.h"
#include "engine/containers.h"
#include "engine/engine.h"
#include "engine/events.h"
#include "engine/exec.h"
#include "engine/images.h"
#include "engine/networks.h"
#include "engine/volumes.h"
#include "lib/cleanup.h"
#include "lib/id.h"
#include "lib/jsonx.h"
#include "lib/labels.h"
#include "lib/log.h"
#include "lib/signame.h"
#include "lib/xalloc.h"

#include <errno.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

/* ---- looking containers up ---------------------------------------------------------------- */

int dk_container_get(dk_request *r, const char *ident, container_record *c, api_response *res)
{
    char buf[16];
    bool full;
    const char *id = dk_ident(ident, buf, &full);
    kl_error err = KL_ERROR_INIT;
    if (containers_get(r->req->ctx->engine, id, c, &err) < 0) {
        if (err.code == ENOENT)
            dk_error(res, 404, "No such container: %s", ident);
        else
            dk_error(res, dk_status(err.code), "%s", err.msg);
        return -1;
    }
    if (full) {
        char long_id[DK_ID_LEN + 1];
        dk_long_id("container", c->id, long_id);
        const char *want = ident[0] == '/' ? ident + 1 : ident;
        if (strncmp(long_id, want, strlen(want)) != 0) {
            container_record_clear(c);
            dk_error(res, 404, "No such container: %s", ident);
            return -1;
        }
    }
    return 0;
}

/* ---- create ------------------------------------------------------------------------------- */

static bool is_zero(const json_t *v)
{
    return !v || json_is_null(v) || json_is_false(v) ||
           (json_is_integer(v) && json_integer_value(v) == 0) ||
           (json_is_real(v) && json_real_value(v) == 0) ||
           (json_is_string(v) && !json_string_value(v)[0]) ||
           (json_is_array(v) && json_array_size(v) == 0) ||
           (json_is_object(v) && json_object_size(v) == 0);
}

/* HostConfig fields that change what a container does and have no Kleene meaning: refused
 * unless zero (what the CLI sends when the option is not used). */
static const char *const refused_host[] = {
    "Devices",
    "DeviceRequests",
    "DeviceCgroupRules",
    "SecurityOpt",
    "Sysctls",
    "Ulimits",
    "ReadonlyRootfs",
    "PidMode",
    "UTSMode",
    "UsernsMode",
    "Tmpfs",
    "VolumesFrom",
    "Links",
    "GroupAdd",
    "OomKillDisable",
    "OomScoreAdj",
    "CpuShares",
    "CpusetCpus",
    "CpusetMems",
    "CpuRealtimePeriod",
    "CpuRealtimeRuntime",
    "BlkioWeight",
    "BlkioWeightDevice",
    "BlkioDeviceReadBps",
    "BlkioDeviceWriteBps",
    "BlkioDeviceReadIOps",
    "BlkioDeviceWriteIOps",
    "MemoryReservation",
    "KernelMemory",
    "KernelMemoryTCP",
    "Init",
    "CgroupParent",
    "ShmSize",
    "PublishAllPorts",
    "StorageOpt",
    "CapDrop",
    "CpuCount",
    "CpuPercent",
    "IOMaximumIOps",
    "IOMaximumBandwidth",
    "MaskedPaths",
    "ReadonlyPaths",
    "ContainerIDFile",
};

/* A string field that must be one of `ok` ("" always is). */
static int check_enum(const json_t *obj, const char *key, const char *where, const char *const *ok,
                      api_response *res)
{
    json_t *v = json_object_get(obj, key);
    if (is_zero(v))
        return 0;
    if (json_is_string(v))
        for (size_t i = 0; ok[i]; i++)
            if (!strcmp(json_string_value(v), ok[i]))
                return 0;
    _cleanup_free_ char *s = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
    dk_error(res, 400, "%s.%s %s is not supported by kleened", where, key, s ? s : "");
    return -1;
}

static bool json_is_str_array(const json_t *v)
{
    if (!json_is_array(v))
        return false;
    size_t i;
    json_t *it;
    json_array_foreach(v, i, it) if (!json_is_string(it)) return false;
    return true;
}

/* Binds "src:dst[:opts]" → Kleene mounts. */
static int add_bind(json_t *mounts, const char *spec, api_response *res)
{
    _cleanup_free_ char *s = xstrdup(spec);
    char *parts[3] = {0};
    size_t n = 0;
    for (char *p = s, *tok; n < 3 && (tok = strsep(&p, ":"));)
        parts[n++] = tok;
    size_t colons = 0;
    for (const char *c = spec; *c; c++)
        colons += *c == ':';
    if ((colons != 1 && colons != 2) || !parts[0][0] || !parts[1][0]) {
        dk_error(res, 400, "invalid HostConfig.Binds entry '%s': expected src:dst[:ro|rw]", spec);
        return -1;
    }
    bool ro = false;
    if (n == 3) {
        _cleanup_free_ char *opts = xstrdup(parts[2]);
        for (char *p = opts, *o; (o = strsep(&p, ","));) {
            if (!strcmp(o, "ro"))
                ro = true;
            else if (strcmp(o, "rw") != 0 && strcmp(o, "z") != 0 && strcmp(o, "Z") != 0 &&
                     strcmp(o, "rprivate") != 0 && strcmp(o, "private") != 0) {
                dk_error(res, 400,
                         "HostConfig.Binds option '%s' of '%s' is not supported by kleened", o,
                         spec);
                return -1;
            }
        }
    }
    json_array_append_new(mounts, json_pack("{s:s, s:s, s:s, s:b}", "type",
                                            parts[0][0] == '/' ? "nullfs" : "volume", "source",
                                            parts[0], "destination", parts[1], "read_only", ro));
    return 0;
}

/* HostConfig.Mounts entries → Kleene mounts. */
static int add_mount(json_t *mounts, json_t *m, json_t *anon, api_response *res)
{
    const char *type = jx_str(m, "Type", "");
    const char *src = jx_str(m, "Source", "");
    const char *dst = jx_str(m, "Target", "");
    bool ro = jx_bool(m, "ReadOnly", false);
    if (!*dst) {
        dk_error(res, 400, "HostConfig.Mounts: Target is required");
        return -1;
    }
    if (!strcmp(type, "bind")) {
        if (src[0] != '/') {
            dk_error(res, 400, "HostConfig.Mounts: a bind mount needs an absolute Source");
            return -1;
        }
    } else if (!strcmp(type, "volume")) {
        if (!*src) {
            char id[KL_ID_LEN + 1], name[DK_ID_LEN + 1];
            kl_id_new(id);
            dk_long_id("volume", id, name);
            json_array_append_new(anon, json_string(name));
            src = json_string_value(json_array_get(anon, json_array_size(anon) - 1));
        }
    } else {
        dk_error(res, 400, "HostConfig.Mounts: Type '%s' is not supported by kleened", type);
        return -1;
    }
    json_t *vo = json_object_get(m, "VolumeOptions"), *bo = json_object_get(m, "BindOptions");
    if (!is_zero(json_object_get(vo, "DriverConfig")) || !is_zero(json_object_get(vo, "NoCopy")) ||
        !is_zero(json_object_get(m, "TmpfsOptions")) ||
        !is_zero(json_object_get(bo, "NonRecursive"))) {
        dk_error(res, 400, "HostConfig.Mounts: mount options of '%s' are not supported by kleened",
                 dst);
        return -1;
    }
    json_array_append_new(mounts, json_pack("{s:s, s:s, s:s, s:b}", "type",
                                            !strcmp(type, "bind") ? "nullfs" : "volume", "source",
                                            src, "destination", dst, "read_only", ro));
    return 0;
}

/* "80/tcp" → "80" and "tcp". */
static int split_port(const char *spec, char *port, size_t plen, const char **proto)
{
    const char *slash = strchr(spec, '/');
    size_t n = slash ? (size_t)(slash - spec) : strlen(spec);
    if (n == 0 || n >= plen)
        return -1;
    memcpy(port, spec, n);
    port[n] = '\0';
    *proto = slash ? slash + 1 : "tcp";
    return strcmp(*proto, "tcp") && strcmp(*proto, "udp") ? -1 : 0;
}

json_t *dk_create_translate(const json_t *body, const char *name, json_t **networks, json_t **anon,
                            api_response *res)
{
    json_t *hc = json_object_get(body, "HostConfig");
    if (hc && !json_is_object(hc) && !json_is_null(hc))
        return dk_error(res, 400, "HostConfig must be an object"), NULL;
    if (json_is_true(json_object_get(hc, "Privileged")))
        return dk_error(res, 400,
                        "HostConfig.Privileged is not supported by kleened: containers always run "
                        "with the default capabilities, seccomp filter and masked paths"),
               NULL;
    for (size_t i = 0; i < KL_ARRAY_SIZE(refused_host); i++)
        if (!is_zero(json_object_get(hc, refused_host[i])))
            return dk_error(res, 400, "HostConfig.%s is not supported by kleened", refused_host[i]),
                   NULL;
    static const char *const ipc_ok[] = {"private", "shareable", NULL};
    static const char *const cgns_ok[] = {"private", NULL};
    static const char *const iso_ok[] = {"default", NULL};
    static const char *const rt_ok[] = {"kleene", "runc", NULL};
    static const char *const vd_ok[] = {"local", NULL};
    static const char *const log_ok[] = {"json-file", "local", NULL};
    if (check_enum(hc, "IpcMode", "HostConfig", ipc_ok, res) < 0 ||
        check_enum(hc, "CgroupnsMode", "HostConfig", cgns_ok, res) < 0 ||
        check_enum(hc, "Isolation", "HostConfig", iso_ok, res) < 0 ||
        check_enum(hc, "Runtime", "HostConfig", rt_ok, res) < 0 ||
        check_enum(hc, "VolumeDriver", "HostConfig", vd_ok, res) < 0 ||
        check_enum(json_object_get(hc, "LogConfig"), "Type", "HostConfig.LogConfig", log_ok, res) <
            0)
        return NULL;
    json_t *swap = json_object_get(hc, "MemorySwap");
    if (!is_zero(swap) && !(json_is_integer(swap) && json_integer_value(swap) == -1))
        return dk_error(res, 400, "HostConfig.MemorySwap is not supported by kleened"), NULL;
    json_t *swappiness = json_object_get(hc, "MemorySwappiness");
    if (!is_zero(swappiness) &&
        !(json_is_integer(swappiness) && json_integer_value(swappiness) == -1))
        return dk_error(res, 400, "HostConfig.MemorySwappiness is not supported by kleened"), NULL;
    /* Config fields */
    json_t *hcheck = json_object_get(body, "Healthcheck");
    json_t *htest = json_object_get(hcheck, "Test");
    if (!is_zero(htest) && !(json_is_string(json_array_get(htest, 0)) &&
                             !strcmp(json_string_value(json_array_get(htest, 0)), "NONE")))
        return dk_error(res, 400, "Config.Healthcheck is not supported by kleened"), NULL;
    if (!is_zero(json_object_get(body, "MacAddress")))
        return dk_error(res, 400, "Config.MacAddress is not supported by kleened"), NULL;
    if (!is_zero(json_object_get(body, "Domainname")))
        return dk_error(res, 400, "Config.Domainname is not supported by kleened"), NULL;
    /* dockerd checks it at create: its "Invalid signal" */
    const char *stopsig = jx_str(body, "StopSignal", "");
    if (*stopsig && kl_signal_parse(stopsig) < 0)
        return dk_error(res, 400, "Invalid signal: %s", stopsig), NULL;

    const char *image = jx_str(body, "Image", "");
    if (!*image)
        return dk_error(res, 400, "Config.Image is required"), NULL;
    json_t *cmd = json_object_get(body, "Cmd"), *ep = json_object_get(body, "Entrypoint");
    json_t *env = json_object_get(body, "Env");
    if ((cmd && !json_is_null(cmd) && !json_is_str_array(cmd) && !json_is_string(cmd)) ||
        (ep && !json_is_null(ep) && !json_is_str_array(ep) && !json_is_string(ep)))
        return dk_error(res, 400, "Cmd and Entrypoint must be lists of strings"), NULL;
    if (env && !json_is_null(env) && !json_is_str_array(env))
        return dk_error(res, 400, "Env must be a list of strings"), NULL;

    _cleanup_json_ json_t *k = json_object();
    if (name && *name)
        json_object_set_new(k, "name", json_string(name));
    json_object_set_new(k, "image", json_string(image));
    json_object_set_new(k, "cmd",
                        json_is_string(cmd)  ? json_pack("[O]", cmd)
                        : json_is_array(cmd) ? json_incref(cmd)
                                             : json_array());
    if (json_is_array(ep) || json_is_string(ep))
        json_object_set_new(k, "entrypoint",
                            json_is_string(ep) ? json_pack("[O]", ep) : json_incref(ep));
    json_object_set_new(k, "user", json_string(jx_str(body, "User", "")));
    json_object_set_new(k, "env", json_is_array(env) ? json_incref(env) : json_array());
    const char *wd = jx_str(body, "WorkingDir", "");
    if (*wd)
        json_object_set_new(k, "workdir", json_string(wd));
    json_t *labels = json_object_get(body, "Labels"); /* the engine's labels (lib/labels.h) */
    if (json_is_object(labels))
        json_object_set(k, "labels", labels);
    else if (labels && !json_is_null(labels))
        return dk_error(res, 400, "Config.Labels must be an object of strings"), NULL;
    json_t *jp = json_array();
    json_object_set_new(k, "jail_param", jp);
    const char *hostname = jx_str(body, "Hostname", "");
    if (*hostname)
        json_array_append_new(jp, json_sprintf("host.hostname=%s", hostname));
    /* name resolution (docs/docker-api.md "Name resolution"): kleened writes /etc/hosts
     * (with ExtraHosts) and, as dockerd, /etc/resolv.conf: the host's unless Dns* say */
    static const char *const dnsmap[][2] = {{"ExtraHosts", "extra_hosts"},
                                            {"Dns", "dns"},
                                            {"DnsSearch", "dns_search"},
                                            {"DnsOptions", "dns_options"}};
    for (size_t d = 0; d < KL_ARRAY_SIZE(dnsmap); d++) {
        json_t *v = json_object_get(hc, dnsmap[d][0]);
        if (v && !json_is_null(v) && !json_is_str_array(v))
            return dk_error(res, 400, "HostConfig.%s must be a list of strings", dnsmap[d][0]),
                   NULL;
        if (json_is_array(v) && json_array_size(v))
            json_object_set(k, dnsmap[d][1], v);
    }
    if (!json_object_get(k, "dns"))
        json_object_set_new(k, "dns", json_array());
    json_t *capadd = json_object_get(hc, "CapAdd");
    size_t i;
    json_t *it;
    json_array_foreach(capadd, i, it)
    {
        const char *cap = json_string_value(it);
        if (cap && (!strcasecmp(cap, "NET_RAW") || !strcasecmp(cap, "CAP_NET_RAW")))
            json_array_append_new(jp, json_string("allow.raw_sockets=true"));
        else
            return dk_error(res, 400, "HostConfig.CapAdd '%s' is not supported by kleened",
                            cap ? cap : "?"),
                   NULL;
    }

    /* mounts */
    json_t *mounts = json_array();
    json_object_set_new(k, "mounts", mounts);
    *anon = json_array();
    json_array_foreach(json_object_get(hc, "Binds"), i, it)
    {
        if (!json_is_string(it) || add_bind(mounts, json_string_value(it), res) < 0)
            return json_is_string(it) ? NULL : (dk_error(res, 400, "Binds: strings"), NULL);
    }
    json_array_foreach(json_object_get(hc, "Mounts"), i, it)
    {
        if (add_mount(mounts, it, *anon, res) < 0)
            return NULL;
    }
    const char *vkey;
    json_t *vv;
    json_object_foreach(json_object_get(body, "Volumes"), vkey, vv)
    {
        bool covered = false;
        size_t j;
        json_t *m;
        json_array_foreach(mounts, j, m) covered |= !strcmp(jx_str(m, "destination", ""), vkey);
        if (covered)
            continue;
        char id[KL_ID_LEN + 1], vname[DK_ID_LEN + 1];
        kl_id_new(id);
        dk_long_id("volume", id, vname);
        json_array_append_new(*anon, json_string(vname));
        json_array_append_new(mounts, json_pack("{s:s, s:s, s:s, s:b}", "type", "volume", "source",
                                                vname, "destination", vkey, "read_only", 0));
    }

    /* network */
    const char *mode = jx_str(hc, "NetworkMode", "");
    const char *driver = "ipnet";
    *networks = json_array();
    if (json_is_true(json_object_get(body, "NetworkDisabled")) || !strcmp(mode, "none"))
        driver = "disabled";
    else if (!strcmp(mode, "host"))
        driver = "host";
    else if (!strncmp(mode, "container:", 10))
        return dk_error(res, 400, "HostConfig.NetworkMode '%s' is not supported by kleened", mode),
               NULL;
    else if (*mode && strcmp(mode, "default") != 0)
        json_array_append_new(*networks, json_string(mode));
    json_object_foreach(
        json_object_get(json_object_get(body, "NetworkingConfig"), "EndpointsConfig"), vkey, vv)
    {
        bool have = false;
        size_t j;
        json_t *n;
        json_array_foreach(*networks, j, n) have |= !strcmp(json_string_value(n), vkey);
        if (!have && strcmp(vkey, "default") != 0 && strcmp(vkey, "host") != 0 &&
            strcmp(vkey, "none") != 0)
            json_array_append_new(*networks, json_string(vkey));
    }
    /* no network named: the default network, as dockerd's bridge (networks_default) */
    if (!strcmp(driver, "ipnet") && !json_array_size(*networks))
        json_array_append_new(*networks, json_string(NETWORKS_DEFAULT_NAME));
    json_object_set_new(k, "network_driver", json_string(driver));

    /* ports */
    json_t *ports = json_array();
    json_object_set_new(k, "public_ports", ports);
    json_object_foreach(json_object_get(hc, "PortBindings"), vkey, vv)
    {
        char cport[16];
        const char *proto;
        if (split_port(vkey, cport, sizeof(cport), &proto) < 0)
            return dk_error(res, 400, "invalid HostConfig.PortBindings key '%s'", vkey), NULL;
        size_t j;
        json_t *b;
        json_array_foreach(vv, j, b)
        {
            const char *hip = jx_str(b, "HostIp", "");
            const char *hport = jx_str(b, "HostPort", "");
            bool any = !*hip || !strcmp(hip, "0.0.0.0") || !strcmp(hip, "::");
            json_array_append_new(ports,
                                  json_pack("{s:[], s:s, s:s, s:s, s:s}", "interfaces", "host_port",
                                            *hport ? hport : cport, "container_port", cport,
                                            "protocol", proto, "host_address", any ? "" : hip));
        }
    }

    if (json_array_size(ports) && strcmp(driver, "ipnet") != 0)
        return dk_error(res, 400,
                        "HostConfig.PortBindings: publishing ports needs a network (not with "
                        "NetworkMode %s)",
                        mode),
               NULL;

    /* restart, removal, limits, stop */
    const char *rp = jx_str(json_object_get(hc, "RestartPolicy"), "Name", "");
    if (*rp && strcmp(rp, "no") != 0)
        return dk_error(res, 400,
                        "HostConfig.RestartPolicy '%s' is not supported by kleened (only \"no\"; "
                        "Kleene's restart_policy on-startup starts a container when kleened "
                        "starts)",
                        rp),
               NULL;
    json_object_set_new(k, "restart_policy", json_string("no"));
    json_object_set_new(k, "auto_remove",
                        json_boolean(json_is_true(json_object_get(hc, "AutoRemove"))));
    long long mem = jx_int(hc, "Memory", 0);
    if (mem < 0)
        return dk_error(res, 400, "HostConfig.Memory must not be negative"), NULL;
    if (mem > 0)
        json_object_set_new(k, "memory", json_integer(mem));
    long long nano = jx_int(hc, "NanoCpus", 0), quota = jx_int(hc, "CpuQuota", 0),
              period = jx_int(hc, "CpuPeriod", 0);
    if (nano > 0 && quota > 0)
        return dk_error(res, 400, "HostConfig.NanoCpus and HostConfig.CpuQuota conflict"), NULL;
    if (nano > 0)
        json_object_set_new(k, "cpus", json_real((double)nano / 1e9));
    else if (quota > 0)
        json_object_set_new(k, "cpus",
                            json_real((double)quota / (double)(period > 0 ? period : 100000)));
    else if (period > 0)
        return dk_error(res, 400, "HostConfig.CpuPeriod without CpuQuota is not supported"), NULL;
    long long pids = jx_int(hc, "PidsLimit", 0);
    if (pids > 0)
        json_object_set_new(k, "pids_limit", json_integer(pids));
    json_t *st = json_object_get(body, "StopTimeout");
    if (json_is_integer(st) && json_integer_value(st) >= 0)
        json_object_set(k, "stop_timeout", st);
    if (*stopsig)
        json_object_set_new(k, "stop_signal", json_string(stopsig));

    /* what the door keeps with the container */
    json_t *door = json_object();
    static const char *const keep[] = {
        "Hostname", "User",       "AttachStdin", "AttachStdout", "AttachStderr", "ExposedPorts",
        "Tty",      "OpenStdin",  "StdinOnce",   "Env",          "Cmd",          "Image",
        "Volumes",  "WorkingDir", "Entrypoint",  "StopSignal",   "StopTimeout"};
    for (size_t j = 0; j < KL_ARRAY_SIZE(keep); j++) {
        json_t *v = json_object_get(body, keep[j]);
        if (v)
            json_object_set(door, keep[j], v);
    }
    json_object_set_new(door, "HostConfig", hc ? json_deep_copy(hc) : json_object());
    json_object_set(door, "AnonymousVolumes", *anon);
    json_object_set_new(k, "door", json_pack("{s:o}", "docker", door));
    return steal_pointer(&k);
}

void dk_containers_create(dk_request *r, api_response *res)
{
    kl_engine *e = r->req->ctx->engine;
    _cleanup_json_ json_t *body = dk_body_object(r, false, res);
    if (!body)
        return;
    const char *name = dk_query_str(r, "name", NULL);
    if (name && name[0] == '/')
        name++;
    _cleanup_json_ json_t *networks = NULL, *anon = NULL;
    _cleanup_json_ json_t *k = dk_create_translate(body, name, &networks, &anon, res);
    if (!k)
        return;
    kl_error err = KL_ERROR_INIT;
    size_t i;
    json_t *it;
    json_array_foreach(networks, i, it)
    {
        if (!strcmp(json_string_value(it), NETWORKS_DEFAULT_NAME)) {
            _cleanup_free_ char *nid = networks_default(e, &err);
            if (!nid)
                return dk_error(res, 500, "the default network: %s", err.msg);
        }
        _cleanup_json_ json_t *n = networks_inspect(e, json_string_value(it), &err);
        if (!n)
            return dk_error(res, 404, "network %s not found", json_string_value(it));
        json_t *epc = json_object_get(
            json_object_get(json_object_get(body, "NetworkingConfig"), "EndpointsConfig"),
            json_string_value(it));
        if (dk_endpoint_check(epc, res) < 0)
            return;
    }
    /* the schema's defaults and checks of a Kleene create */
    json_t *door = json_incref(json_object_get(k, "door"));
    json_t *ep = json_incref(json_object_get(k, "entrypoint"));
    json_object_del(k, "door");
    json_object_del(k, "entrypoint");
    json_t *errors = NULL;
    _cleanup_json_ json_t *cast = schema_cast(&schema_container_config, k, &errors);
    if (!cast) {
        _cleanup_json_ json_t *errs = errors;
        json_decref(door);
        json_decref(ep);
        return dk_error(res, 400, "invalid container config: %s", schema_first_error_message(errs));
    }
    json_object_set_new(cast, "door", door);
    if (ep)
        json_object_set_new(cast, "entrypoint", ep);
    json_array_foreach(anon, i, it)
    {
        if (volumes_create(e, json_string_value(it), &err) < 0)
            return dk_error(res, 500, "creating volume: %s", err.msg);
    }
    _cleanup_free_ char *id = containers_create(e, cast, &err);
    if (!id) {
        json_array_foreach(anon, i, it)
        {
            kl_error e2 = KL_ERROR_INIT;
            volumes_remove(e, json_string_value(it), &e2);
        }
        if (err.code == ENOENT && strstr(err.msg, "image"))
            return dk_error(res, 404, "No such image: %s", jx_str(body, "Image", ""));
        if (err.code == EEXIST)
            return dk_error(res, 409, "Conflict. %s", err.msg);
        return dk_error(res,
                        err.code == ENOENT           ? 404
                        : dk_status(err.code) == 500 ? 400
                                                     : dk_status(err.code),
                        "%s", err.msg);
    }
    json_array_foreach(networks, i, it)
    {
        /* "<auto>": an address from the network's subnet (what klee asks for too) */
        _cleanup_json_ json_t *ec =
            json_pack("{s:s, s:s, s:s, s:s}", "container", id, "network", json_string_value(it),
                      "ip_address", "<auto>", "ip_address6", "<auto>");
        json_t *epc = json_object_get(
            json_object_get(json_object_get(body, "NetworkingConfig"), "EndpointsConfig"),
            json_string_value(it));
        const char *ip4 = jx_str(json_object_get(epc, "IPAMConfig"), "IPv4Address", "");
        if (*ip4)
            json_object_set_new(ec, "ip_address", json_string(ip4));
        json_t *aliases = json_object_get(epc, "Aliases");
        if (json_is_array(aliases))
            json_object_set(ec, "aliases", aliases);
        if (networks_connect(e, ec, &err) < 0) {
            kl_error e2 = KL_ERROR_INIT;
            char gone[13];
            containers_remove(e, id, gone, &e2);
            return dk_error(res, dk_status(err.code), "connecting to network %s: %s",
                            json_string_value(it), err.msg);
        }
    }
    char long_id[DK_ID_LEN + 1];
    dk_long_id("container", id, long_id);
    api_reply_json(res, 201, json_pack("{s:s, s:[]}", "Id", long_id, "Warnings"));
}

/* ---- list and inspect --------------------------------------------------------------------- */

static json_t *door_config(const container_record *c)
{
    return json_object_get(c->door, "docker");
}

static const char *state_name(const container_run *st)
{
    return st->running ? "running" : st->started[0] ? "exited" : "created";
}

/* "2026-12-07T10:13:01.123456Z" → seconds since the epoch (0 when malformed). */
static long long epoch_of(const char *t)
{
    struct tm tm = {0};
    if (!t || !strptime(t, "%Y-%m-%dT%H:%M:%S", &tm))
        return 0;
    return (long long)timegm(&tm);
}

static void human_ago(long long secs, char *out, size_t n)
{
    if (secs < 1)
        snprintf(out, n, "Less than a second");
    else if (secs < 60)
        snprintf(out, n, "%lld seconds", secs);
    else if (secs < 3600)
        snprintf(out, n, "%lld minutes", secs / 60);
    else if (secs < 86400)
        snprintf(out, n, "%lld hours", secs / 3600);
    else
        snprintf(out, n, "%lld days", secs / 86400);
}

static char *status_text(const container_run *st)
{
    char ago[64];
    long long now = (long long)time(NULL);
    if (st->running) {
        human_ago(now - epoch_of(st->started), ago, sizeof(ago));
        return xasprintf("Up %s", ago);
    }
    if (!st->started[0])
        return xstrdup("Created");
    human_ago(now - epoch_of(st->finished), ago, sizeof(ago));
    return xasprintf("Exited (%d) %s ago", st->exit_code < 0 ? 0 : st->exit_code, ago);
}

/* The command line as docker ps shows it. */
static char *command_text(const container_record *c)
{
    _cleanup_buf_ kl_buf b = KL_BUF_INIT;
    char *const *lists[2] = {c->image_entrypoint, c->cmd && c->cmd[0] ? c->cmd : c->image_cmd};
    for (int l = 0; l < 2; l++)
        for (char *const *p = lists[l]; p && *p; p++) {
            if (b.len)
                kl_buf_append(&b, " ", 1);
            kl_buf_puts(&b, *p);
        }
    return xstrdup(b.len ? b.data : "");
}

static json_t *ports_json(const container_record *c)
{
    json_t *out = json_array();
    size_t i;
    json_t *p;
    json_array_foreach(c->public_ports, i, p)
    {
        long long priv = strtoll(jx_str(p, "container_port", "0"), NULL, 10);
        long long pub = strtoll(jx_str(p, "host_port", "0"), NULL, 10);
        const char *ha = jx_str(p, "host_address", "");
        json_array_append_new(out,
                              json_pack("{s:s, s:I, s:I, s:s}", "IP", *ha ? ha : "0.0.0.0",
                                        "PrivatePort", (json_int_t)priv, "PublicPort",
                                        (json_int_t)pub, "Type", jx_str(p, "protocol", "tcp")));
    }
    return out;
}

static json_t *labels_of(const container_record *c)
{
    return json_is_object(c->labels) ? json_incref(c->labels) : json_object();
}

/* The image as the container was created from (the name given), else its id. */
static char *image_of(const container_record *c)
{
    const char *given = jx_str(door_config(c), "Image", NULL);
    return xstrdup(given ? given : c->image_id);
}

/* Networks of a container: {"name": {NetworkID, EndpointID, IPAddress, ...}}. */
static json_t *networks_of(kl_engine *e, const container_record *c)
{
    json_t *out = json_object();
    kl_error err = KL_ERROR_INIT;
    _cleanup_json_ json_t *ins = containers_inspect(e, c->id, &err);
    size_t i;
    json_t *ep;
    json_array_foreach(json_object_get(ins, "container_endpoints"), i, ep)
    {
        const char *nid = jx_str(ep, "network_id", "");
        _cleanup_json_ json_t *n = networks_inspect(e, nid, &err);
        json_t *net = json_object_get(n, "network");
        const char *nname = jx_str(net, "name", nid);
        /* the prefix length of the subnet, the gateway when the network has a fixed one */
        const char *subnet = jx_str(net, "subnet", "");
        const char *slash = strchr(subnet, '/');
        int prefix = slash ? atoi(slash + 1) : 0;
        const char *gw = jx_str(net, "gateway", "");
        char long_nid[DK_ID_LEN + 1], long_ep[DK_ID_LEN + 1];
        dk_long_id("network", nid, long_nid);
        dk_long_id("endpoint", jx_str(ep, "id", "000000000000"), long_ep);
        json_object_set_new(out, nname,
                            json_pack("{s:s, s:s, s:s, s:s, s:I, s:s, s:n, s:[]}", "NetworkID",
                                      long_nid, "EndpointID", long_ep, "IPAddress",
                                      jx_str(ep, "ip_address", ""), "GlobalIPv6Address",
                                      jx_str(ep, "ip_address6", ""), "IPPrefixLen",
                                      (json_int_t)prefix, "Gateway", gw[0] == '<' ? "" : gw,
                                      "IPAMConfig", "Aliases"));
        json_t *al = json_object_get(ep, "aliases");
        if (json_array_size(al))
            json_object_set(json_object_get(out, nname), "Aliases", al);
    }
    const char *mode = !strcmp(c->network_driver, "host")       ? "host"
                       : !strcmp(c->network_driver, "disabled") ? "none"
                                                                : NULL;
    char pid[DK_ID_LEN + 1];
    if (mode && dk_predefined_network_id(mode, pid))
        json_object_set_new(out, mode, json_pack("{s:s}", "NetworkID", pid));
    return out;
}

static const char *network_mode(const container_record *c)
{
    const char *m = jx_str(json_object_get(door_config(c), "HostConfig"), "NetworkMode", "");
    if (*m)
        return m;
    return !strcmp(c->network_driver, "host")       ? "host"
           : !strcmp(c->network_driver, "disabled") ? "none"
                                                    : "default";
}

static json_t *mounts_json(const container_record *c)
{
    json_t *out = json_array();
    for (size_t i = 0; i < c->n_mounts; i++) {
        const container_mount *m = &c->mounts[i];
        bool vol = !strcmp(m->type, "volume");
        json_t *j =
            json_pack("{s:s, s:s, s:s, s:s, s:b, s:s}", "Type", vol ? "volume" : "bind", "Source",
                      m->source, "Destination", m->destination, "Mode", m->read_only ? "ro" : "",
                      "RW", !m->read_only, "Propagation", vol ? "" : "rprivate");
        if (vol) {
            json_object_set_new(j, "Name", json_string(m->source));
            json_object_set_new(j, "Driver", json_string("local"));
        }
        json_array_append_new(out, j);
    }
    return out;
}

static json_t *summary_json(kl_engine *e, const container_record *c, const container_run *st)
{
    char long_id[DK_ID_LEN + 1];
    dk_long_id("container", c->id, long_id);
    _cleanup_free_ char *image = image_of(c);
    _cleanup_free_ char *cmd = command_text(c);
    _cleanup_free_ char *status = status_text(st);
    char image_id[DK_ID_LEN + 8];
    char lid[DK_ID_LEN + 1];
    dk_long_id("image", c->image_id, lid);
    snprintf(image_id, sizeof(image_id), "sha256:%s", lid);
    return json_pack("{s:s, s:[s+], s:s, s:s, s:s, s:I, s:o, s:o, s:s, s:s, s:{s:s}, s:{s:o},"
                     " s:o}",
                     "Id", long_id, "Names", "/", c->name, "Image", image, "ImageID", image_id,
                     "Command", cmd, "Created", (json_int_t)epoch_of(c->created), "Ports",
                     ports_json(c), "Labels", labels_of(c), "State", state_name(st), "Status",
                     status, "HostConfig", "NetworkMode", network_mode(c), "NetworkSettings",
                     "Networks", networks_of(e, c), "Mounts", mounts_json(c));
}

/* Does the container pass every filter (docker ps --filter)? Each key: any of its values. */
static bool filter_match(kl_engine *e, const json_t *filters, const container_record *c,
                         const container_run *st, json_t *summary)
{
    const char *key;
    json_t *vals;
    json_object_foreach((json_t *)filters, key, vals)
    {
        if (!json_array_size(vals))
            continue;
        bool any = false;
        size_t i;
        json_t *it;
        json_array_foreach(vals, i, it)
        {
            const char *v = json_string_value(it);
            if (!strcmp(key, "id")) {
                char long_id[DK_ID_LEN + 1];
                dk_long_id("container", c->id, long_id);
                any |= !strncmp(long_id, v, strlen(v));
            } else if (!strcmp(key, "name")) {
                any |= strstr(c->name, v[0] == '/' ? v + 1 : v) != NULL;
            } else if (!strcmp(key, "status")) {
                any |= !strcmp(state_name(st), v);
            } else if (!strcmp(key, "label") || !strcmp(key, "label!")) {
                any = true; /* below: every label filter must pass, as with dockerd */
            } else if (!strcmp(key, "ancestor")) {
                kl_error err = KL_ERROR_INIT;
                _cleanup_free_ char *img = images_resolve(e, v, &err);
                any |=
                    (img && !strcmp(img, c->image_id)) || !strcmp(jx_str(summary, "Image", ""), v);
            } else if (!strcmp(key, "network")) {
                json_t *nets =
                    json_object_get(json_object_get(summary, "NetworkSettings"), "Networks");
                const char *nname;
                json_t *n;
                json_object_foreach(nets, nname, n) any |=
                    !strcmp(nname, v) || !strncmp(jx_str(n, "NetworkID", ""), v, strlen(v));
            } else if (!strcmp(key, "exited")) {
                any |= !st->running && st->started[0] && st->exit_code == atoi(v);
            }
        }
        if (!any)
            return false;
    }
    return kl_labels_match_filters(c->labels, json_object_get(filters, "label"),
                                   json_object_get(filters, "label!"));
}

void dk_containers_list(dk_request *r, api_response *res)
{
    kl_engine *e = r->req->ctx->engine;
    static const char *const known[] = {"id",       "name",    "status", "label", "label!",
                                        "ancestor", "network", "exited", NULL};
    _cleanup_json_ json_t *filters = dk_filters(r, known, res);
    if (!filters)
        return;
    long long limit;
    if (dk_query_int(r, "limit", -1, 1000000, -1, &limit, res) < 0)
        return;
    bool all = dk_query_bool(r, "all", false) || json_object_get(filters, "status") ||
               json_object_get(filters, "exited");
    kl_error err = KL_ERROR_INIT;
    _cleanup_json_ json_t *list = containers_list(e, true, &err);
    if (!list)
        return dk_error(res, 500, "%s", err.msg);
    json_t *out = json_array();
    /* newest first, like docker ps */
    for (size_t i = json_array_size(list); i-- > 0;) {
        json_t *row = json_array_get(list, i);
        container_record c = {0};
        container_run st;
        if (containers_get(e, jx_str(row, "id", ""), &c, &err) < 0)
            continue; /* removed meanwhile */
        if (containers_run_state(e, c.id, &st, &err) < 0 || (!all && !st.running)) {
            container_record_clear(&c);
            continue;
        }
        json_t *s = summary_json(e, &c, &st);
        if (filter_match(e, filters, &c, &st, s) &&
            (limit <= 0 || json_array_size(out) < (size_t)limit))
            json_array_append_new(out, s);
        else
            json_decref(s);
        container_record_clear(&c);
    }
    api_reply_json(res, 200, out);
}

void dk_containers_inspect(dk_request *r, api_response *res)
{
    kl_engine *e = r->req->ctx->engine;
    container_record c = {0};
    if (dk_container_get(r, r->params[0], &c, res) < 0)
        return;
    kl_error err = KL_ERROR_INIT;
    container_run st;
    if (containers_run_state(e, c.id, &st, &err) < 0) {
        container_record_clear(&c);
        return dk_error(res, dk_status(err.code), "%s", err.msg);
    }
    char long_id[DK_ID_LEN + 1], lid[DK_ID_LEN + 1];
    dk_long_id("container", c.id, long_id);
    dk_long_id("image", c.image_id, lid);
    _cleanup_free_ char *image_id = xasprintf("sha256:%s", lid);
    _cleanup_free_ char *image = image_of(&c);
    json_t *dc = door_config(&c);
    /* Config: what it was created with, completed by the engine's effective values */
    json_t *config = json_object();
    json_t *hc = json_deep_copy(json_object_get(dc, "HostConfig"));
    if (!hc)
        hc = json_object();
    const char *hn = jx_str(dc, "Hostname", "");
    json_object_set_new(config, "Hostname", json_string(*hn ? hn : c.id));
    json_object_set_new(config, "Domainname", json_string(""));
    json_object_set_new(config, "User", json_string(c.user[0] ? c.user : c.image_user));
    static const char *const bools[] = {"AttachStdin", "AttachStdout", "AttachStderr",
                                        "Tty",         "OpenStdin",    "StdinOnce"};
    for (size_t i = 0; i < KL_ARRAY_SIZE(bools); i++)
        json_object_set_new(config, bools[i], json_boolean(jx_bool(dc, bools[i], false)));
    _cleanup_strv_ char **env = NULL;
    {
        /* the image's env merged with the container's (later wins), as the process gets it */
        size_t n = 0;
        for (char **p = c.image_env; p && *p; p++)
            n++;
        for (char **p = c.env; p && *p; p++)
            n++;
        env = xcalloc(n + 1, sizeof(char *));
        size_t k = 0;
        char **srcs[2] = {c.image_env, c.env};
        for (int s = 0; s < 2; s++)
            for (char **p = srcs[s]; p && *p; p++) {
                size_t klen = strcspn(*p, "=");
                size_t j = 0;
                for (; j < k; j++)
                    if (!strncmp(env[j], *p, klen) && env[j][klen] == '=')
                        break;
                if (j < k) {
                    free(env[j]);
                    env[j] = xstrdup(*p);
                } else {
                    env[k++] = xstrdup(*p);
                }
            }
    }
    json_object_set_new(config, "Env", jx_from_strv(env));
    json_object_set_new(config, "Cmd", jx_from_strv(c.cmd && c.cmd[0] ? c.cmd : c.image_cmd));
    json_object_set_new(config, "Entrypoint",
                        c.image_entrypoint && c.image_entrypoint[0]
                            ? jx_from_strv(c.image_entrypoint)
                            : json_null());
    json_object_set_new(config, "Image", json_string(image));
    json_object_set_new(config, "WorkingDir",
                        json_string(c.workdir && c.workdir[0] ? c.workdir : c.image_workdir));
    json_object_set_new(config, "Labels", labels_of(&c));
    json_t *v = json_object_get(dc, "ExposedPorts");
    if (v)
        json_object_set(config, "ExposedPorts", v);
    v = json_object_get(dc, "Volumes");
    json_object_set(config, "Volumes", v ? v : json_null());
    json_object_set_new(config, "StopSignal",
                        json_string(c.stop_signal ? c.stop_signal : "SIGTERM"));
    if (c.stop_timeout >= 0)
        json_object_set_new(config, "StopTimeout", json_integer(c.stop_timeout));
    /* HostConfig: as created, with the engine's values for what it keeps */
    json_object_set_new(hc, "NetworkMode", json_string(network_mode(&c)));
    json_object_set_new(hc, "AutoRemove", json_boolean(c.auto_remove));
    json_object_set_new(hc, "Memory", json_integer(c.memory_bytes));
    json_object_set_new(hc, "NanoCpus", json_integer(c.cpu_millis * 1000000LL));
    json_object_set_new(hc, "PidsLimit", c.pids_max > 0 ? json_integer(c.pids_max) : json_null());
    json_object_set_new(hc, "Privileged", json_false());
    if (!json_object_get(hc, "RestartPolicy"))
        json_object_set_new(hc, "RestartPolicy",
                            json_pack("{s:s, s:i}", "Name", "no", "MaximumRetryCount", 0));
    /* The container log reads like json-file's (docker logs works): clients such as docker-py
     * only read the log of a json-file or journald container. */
    if (!*jx_str(json_object_get(hc, "LogConfig"), "Type", ""))
        json_object_set_new(hc, "LogConfig",
                            json_pack("{s:s, s:{}}", "Type", "json-file", "Config"));
    json_t *ports = json_object();
    size_t i;
    json_t *p;
    json_array_foreach(c.public_ports, i, p)
    {
        _cleanup_free_ char *key =
            xasprintf("%s/%s", jx_str(p, "container_port", ""), jx_str(p, "protocol", "tcp"));
        json_t *arr = json_object_get(ports, key);
        if (!arr) {
            arr = json_array();
            json_object_set_new(ports, key, arr);
        }
        const char *ha = jx_str(p, "host_address", "");
        json_array_append_new(arr, json_pack("{s:s, s:s}", "HostIp", *ha ? ha : "0.0.0.0",
                                             "HostPort", jx_str(p, "host_port", "")));
    }
    json_t *nets = networks_of(e, &c);
    const char *ip = "";
    const char *nname;
    json_t *n;
    json_object_foreach(nets, nname, n) if (!*ip) ip = jx_str(n, "IPAddress", "");
    json_t *netset = json_pack("{s:s, s:b, s:o, s:s, s:s, s:I, s:s, s:o}", "Bridge", "",
                               "HairpinMode", 0, "Ports", ports, "SandboxKey", "", "IPAddress", ip,
                               "IPPrefixLen", (json_int_t)0, "Gateway", "", "Networks", nets);
    json_t *state = json_pack("{s:s, s:b, s:b, s:b, s:b, s:b, s:i, s:i, s:s, s:s, s:s}", "Status",
                              state_name(&st), "Running", st.running, "Paused", 0, "Restarting", 0,
                              "OOMKilled", 0, "Dead", 0, "Pid", st.pid, "ExitCode",
                              st.exit_code < 0 ? 0 : st.exit_code, "Error", "", "StartedAt",
                              dk_time(st.started), "FinishedAt", dk_time(st.finished));
    char *const *argv0 = c.image_entrypoint && c.image_entrypoint[0] ? c.image_entrypoint
                         : c.cmd && c.cmd[0]                         ? c.cmd
                                                                     : c.image_cmd;
    json_t *args = json_array();
    {
        bool first = true;
        char *const *lists[2] = {c.image_entrypoint, c.cmd && c.cmd[0] ? c.cmd : c.image_cmd};
        for (int l = 0; l < 2; l++)
            for (char *const *q = lists[l]; q && *q; q++) {
                if (first) {
                    first = false;
                    continue;
                }
                json_array_append_new(args, json_string(*q));
            }
    }
    _cleanup_free_ char *name = xasprintf("/%s", c.name);
    json_t *out = json_pack(
        "{s:s, s:s, s:s, s:o, s:o, s:s, s:s, s:s, s:i, s:s, s:s, s:s, s:o, s:o, s:o, s:o, s:s}",
        "Id", long_id, "Created", c.created, "Path", argv0 && argv0[0] ? argv0[0] : "", "Args",
        args, "State", state, "Image", image_id, "Name", name, "Driver", "overlay", "RestartCount",
        0, "Platform", "linux", "MountLabel", "", "ProcessLabel", "", "HostConfig", hc, "Config",
        config, "NetworkSettings", netset, "Mounts", mounts_json(&c), "AppArmorProfile", "");
    json_object_set_new(out, "ResolvConfPath", json_string(""));
    json_object_set_new(out, "HostnamePath", json_string(""));
    json_object_set_new(out, "HostsPath", json_string(""));
    json_object_set_new(out, "LogPath", json_string(""));
    json_object_set_new(out, "ExecIDs", json_null());
    container_record_clear(&c);
    api_reply_json(res, 200, out);
}

/* ---- start, stop, kill, restart ------------------------------------------------------------- */

/* The end of input for the main process of a running container (a stream attached to it,
 * closed at once): failures are logged (the process has ended already, or its monitor). */
static void close_main_stdin(kl_engine *e, const char *container_id)
{
    kl_error err = KL_ERROR_INIT;
    exec_stream *st = exec_stream_attach(e, container_id, &err);
    if (st && exec_stream_close_stdin(st, &err) == 0) {
        exec_stream_detach(st);
        return;
    }
    log_debug("container %s: closing the main process's stdin: %s", container_id, err.msg);
    exec_stream_detach(st);
}

/* Start a container that does not run: its main process as an exec instance of the
 * container's defaults (a Tty container gets a terminal). A Docker attach waiting for the
 * start (attach.c) gets the stream; else detached. */
static int start_container(dk_request *r, const container_record *c, api_response *res)
{
    kl_engine *e = r->req->ctx->engine;
    kl_error err = KL_ERROR_INIT;
    bool tty = jx_bool(door_config(c), "Tty", false);
    _cleanup_json_ json_t *ec = json_pack("{s:s, s:[], s:s, s:[], s:b}", "container_id", c->id,
                                          "cmd", "user", "", "env", "tty", tty);
    _cleanup_free_ char *exec_id = exec_create(e, ec, &err);
    if (!exec_id)
        return dk_error(res, dk_status(err.code), "%s", err.msg), -1;
    int handed = dk_attach_hand_over(c->id, exec_id, &err);
    if (handed < 0)
        return dk_error(res, 500, "%s", err.msg), -1;
    if (handed == 0) {
        exec_started started;
        if (exec_start(e, exec_id, false, true, &started, &err) < 0)
            return dk_error(res, dk_status(err.code), "%s", err.msg), -1;
        /* dockerd gives a process without OpenStdin an empty stdin: it reads EOF (an attached
         * start closes it in attach.c). With a tty its terminal stays. */
        if (!tty && !jx_bool(door_config(c), "OpenStdin", false))
            close_main_stdin(e, c->id);
    }
    return 0;
}

void dk_containers_start(dk_request *r, api_response *res)
{
    container_record c = {0};
    if (dk_container_get(r, r->params[0], &c, res) < 0)
        return;
    if (containers_is_running(r->req->ctx->engine, c.id)) {
        container_record_clear(&c);
        return api_reply_empty(res, 304);
    }
    int rc = start_container(r, &c, res);
    container_record_clear(&c);
    if (rc == 0)
        api_reply_empty(res, 204);
}

/* 0 stopped, 1 it did not run (*res untouched), -1 error in res. */
static int stop_container(dk_request *r, const char *id, long long t, api_response *res)
{
    kl_error err = KL_ERROR_INIT;
    char full[13];
    if (exec_container_stop(r->req->ctx->engine, id, (int)t, full, &err) == 0)
        return 0;
    if (err.code == ENOTCONN)
        return 1;
    dk_error(res, dk_status(err.code), "%s", err.msg);
    return -1;
}

void dk_containers_stop(dk_request *r, api_response *res)
{
    long long t;
    if (dk_query_int(r, "t", -1, 86400, -1, &t, res) < 0)
        return;
    container_record c = {0};
    if (dk_container_get(r, r->params[0], &c, res) < 0)
        return;
    int rc = stop_container(r, c.id, t, res);
    container_record_clear(&c);
    if (rc >= 0)
        api_reply_empty(res, rc == 1 ? 304 : 204);
}

void dk_containers_restart(dk_request *r, api_response *res)
{
    long long t;
    if (dk_query_int(r, "t", -1, 86400, -1, &t, res) < 0)
        return;
    container_record c = {0};
    if (dk_container_get(r, r->params[0], &c, res) < 0)
        return;
    if (stop_container(r, c.id, t, res) >= 0 && start_container(r, &c, res) == 0) {
        containers_event(r->req->ctx->engine, c.id, "restart", NULL);
        api_reply_empty(res, 204);
    }
    container_record_clear(&c);
}

void dk_containers_kill(dk_request *r, api_response *res)
{
    /* dockerd's rule: any name of the table with or without SIG in any case, a number,
     * RTMIN+n / RTMAX-n; none or empty is KILL. */
    const char *name = dk_query_str(r, "signal", "SIGKILL");
    int sig = kl_signal_parse(*name ? name : "SIGKILL");
    if (sig < 0)
        return dk_error(res, 400, "Invalid signal: %s", name);
    container_record c = {0};
    if (dk_container_get(r, r->params[0], &c, res) < 0)
        return;
    kl_error err = KL_ERROR_INIT;
    char full[13];
    if (exec_container_kill(r->req->ctx->engine, c.id, sig, full, &err) == 0)
        api_reply_empty(res, 204);
    else if (err.code == ENOTCONN)
        dk_error(res, 409, "Container %s is not running", r->params[0]);
    else
        dk_error(res, dk_status(err.code), "%s", err.msg);
    container_record_clear(&c);
}

/* ---- wait ----------------------------------------------------------------------------------- */

typedef struct wait_ctx {
    kl_engine *e;
    char id[13];
    int condition; /* 0 not-running, 1 next-exit, 2 removed */
    char started0[40];
    int client_fd;
    bool done;
    /* The engine's events from the request on: a container that ends and is removed at once
     * (auto-remove) is gone before a look at its state could read its exit code, but its die
     * event carries it. */
    events_sub *sub;
    int died_code; /* -1: no die event of this container seen */
} wait_ctx;

static void wait_free(void *p)
{
    wait_ctx *w = p;
    events_unsubscribe(w->sub);
    free(w);
}

static bool client_gone(int fd)
{
    if (fd < 0)
        return false;
    struct pollfd pf = {.fd = fd, .events = POLLRDHUP};
    return poll(&pf, 1, 0) > 0 && (pf.revents & (POLLRDHUP | POLLHUP | POLLERR));
}

/* Take the events that came (waiting at most ms for the first): the container's die codes. */
static void wait_events(wait_ctx *w, int ms)
{
    for (int timeout = ms;; timeout = 0) {
        event ev = {0};
        uint64_t lost = 0;
        int r = events_next(w->sub, &ev, timeout, &lost);
        if (r == 1 && !strcmp(ev.type, "container") && ev.actor && !strcmp(ev.actor, w->id) &&
            !strcmp(ev.action, "die")) {
            const char *c = event_attr(&ev, "exitCode");
            w->died_code = c ? atoi(c) : w->died_code;
        }
        event_clear(&ev);
        if (r == 0)
            return;
    }
}

/* The body comes when the condition is met: {"StatusCode": N, "Error": null}. */
static ssize_t wait_read(void *ctx, char *buf, size_t max)
{
    wait_ctx *w = ctx;
    if (w->done)
        return API_STREAM_END;
    int code = -1;
    bool seen_running = false;
    unsigned polls = 0;
    for (;;) {
        container_run st;
        kl_error err = KL_ERROR_INIT;
        int rs = containers_run_state(w->e, w->id, &st, &err);
        wait_events(w, 0); /* a die told before the removal is in the ring by now */
        if (rs < 0) {
            if (err.code != ENOENT)
                return API_STREAM_ERROR;
            /* removed: the code its die event told, else the one noted by the attached
             * client's relay, else the last one seen */
            int noted;
            if (w->died_code >= 0)
                code = w->died_code;
            else if (dk_exit_noted(w->id, &noted))
                code = noted;
            break;
        }
        seen_running |= st.running;
        bool ended_run =
            !st.running && st.started[0] && (seen_running || strcmp(st.started, w->started0) != 0);
        if (!st.running && st.started[0])
            code = st.exit_code;
        if (w->condition == 0 && !st.running)
            break;
        if (w->condition == 1 && ended_run)
            break;
        if (client_gone(w->client_fd))
            return API_STREAM_ERROR;
        /* woken at once by the container's events (its die, its destroy); a change no event
         * tells is seen within 10 ms at first, then within 100 ms */
        wait_events(w, ++polls < 200 ? 10 : 100);
    }
    w->done = true;
    int n = snprintf(buf, max, "{\"StatusCode\":%d,\"Error\":null}\n", code < 0 ? 0 : code);
    return n;
}

void dk_containers_wait(dk_request *r, api_response *res)
{
    const char *cond = dk_query_str(r, "condition", "not-running");
    int condition = !*cond || !strcmp(cond, "not-running") ? 0
                    : !strcmp(cond, "next-exit")           ? 1
                    : !strcmp(cond, "removed")             ? 2
                                                           : -1;
    if (condition < 0)
        return dk_error(res, 400, "invalid condition: '%s'", cond);
    container_record c = {0};
    if (dk_container_get(r, r->params[0], &c, res) < 0)
        return;
    wait_ctx *w = xcalloc(1, sizeof(*w));
    w->e = r->req->ctx->engine;
    memcpy(w->id, c.id, sizeof(w->id));
    w->condition = condition;
    w->client_fd = r->req->client_fd;
    w->died_code = -1;
    /* before the first look at the state, so that no die falls between the two */
    w->sub = events_subscribe(w->e->events, -1);
    container_record_clear(&c);
    container_run st;
    kl_error err = KL_ERROR_INIT;
    if (containers_run_state(w->e, w->id, &st, &err) == 0)
        memcpy(w->started0, st.started, sizeof(w->started0));
    dk_exit_forget(w->id);
    api_reply_stream(res, 200, "application/json", wait_read, w, wait_free);
}

/* ---- remove, rename, prune ------------------------------------------------------------------ */

void dk_containers_remove(dk_request *r, api_response *res)
{
    kl_engine *e = r->req->ctx->engine;
    container_record c = {0};
    if (dk_container_get(r, r->params[0], &c, res) < 0)
        return;
    bool force = dk_query_bool(r, "force", false);
    bool volumes = dk_query_bool(r, "v", false);
    kl_error err = KL_ERROR_INIT;
    if (containers_is_running(e, c.id)) {
        if (!force) {
            dk_error(res, 409,
                     "You cannot remove a running container %s. Stop the container before "
                     "attempting removal or force remove",
                     r->params[0]);
            return container_record_clear(&c);
        }
        char full[13];
        if (exec_container_kill(e, c.id, SIGKILL, full, &err) < 0 && err.code != ENOTCONN) {
            dk_error(res, dk_status(err.code), "%s", err.msg);
            return container_record_clear(&c);
        }
        int code;
        exec_container_wait(e, c.id, NULL, NULL, full, &code, &err);
    }
    char gone[13];
    if (containers_remove(e, c.id, gone, &err) < 0) {
        /* an auto-remove container may have gone meanwhile */
        if (err.code == ENOENT)
            api_reply_empty(res, 204);
        else
            dk_error(res, dk_status(err.code), "%s", err.msg);
        return container_record_clear(&c);
    }
    if (volumes) {
        size_t i;
        json_t *it;
        json_array_foreach(json_object_get(door_config(&c), "AnonymousVolumes"), i, it)
        {
            kl_error e2 = KL_ERROR_INIT;
            if (volumes_remove(e, json_string_value(it), &e2) < 0)
                log_info("docker rm -v %s: volume %s: %s", c.id, json_string_value(it), e2.msg);
        }
    }
    container_record_clear(&c);
    api_reply_empty(res, 204);
}

void dk_containers_rename(dk_request *r, api_response *res)
{
    const char *name = dk_query_str(r, "name", "");
    if (!*name)
        return dk_error(res, 400, "a name is required (query parameter name)");
    container_record c = {0};
    if (dk_container_get(r, r->params[0], &c, res) < 0)
        return;
    kl_error err = KL_ERROR_INIT;
    _cleanup_json_ json_t *upd = json_pack("{s:s}", "name", name[0] == '/' ? name + 1 : name);
    _cleanup_free_ char *id = containers_update(r->req->ctx->engine, c.id, upd, &err);
    container_record_clear(&c);
    if (!id)
        return dk_error(res, err.code == EEXIST ? 409 : dk_status(err.code), "%s", err.msg);
    api_reply_empty(res, 204);
}

void dk_containers_prune(dk_request *r, api_response *res)
{
    static const char *const known[] = {"until", "label", NULL};
    _cleanup_json_ json_t *filters = dk_filters(r, known, res);
    if (!filters)
        return;
    if (json_object_size(filters))
        return dk_error(res, 400, "prune filters are not supported by kleened");
    kl_error err = KL_ERROR_INIT;
    _cleanup_json_ json_t *ids = containers_prune(r->req->ctx->engine, &err);
    if (!ids)
        return dk_error(res, 500, "%s", err.msg);
    json_t *out = json_array();
    size_t i;
    json_t *it;
    json_array_foreach(ids, i, it)
    {
        char long_id[DK_ID_LEN + 1];
        dk_long_id("container", json_string_value(it), long_id);
        json_array_append_new(out, json_string(long_id));
    }
    api_reply_json(res, 200,
                   json_pack("{s:o, s:i}", "ContainersDeleted", out, "SpaceReclaimed", 0));
}

/* ---- logs ----------------------------------------------------------------------------------- */

/* Docker's since/until: seconds since the epoch, with an optional fraction. "" when absent. */
static int docker_time(const char *v, char out[32])
{
    out[0] = '\0';
    if (!v || !*v || !strcmp(v, "0"))
        return 0;
    char *end;
    double t = strtod(v, &end);
    if (*end || t < 0)
        return -1;
    time_t secs = (time_t)t;
    struct tm tm;
    gmtime_r(&secs, &tm);
    char base[24];
    strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out, 32, "%s.%06dZ", base, (int)((t - (double)secs) * 1e6));
    return 0;
}

/* Through the Kleene handler (one implementation of the log): multiplexed unless the
 * container has a terminal, as dockerd. */
void dk_containers_logs(dk_request *r, api_response *res)
{
    container_record c = {0};
    if (dk_container_get(r, r->params[0], &c, res) < 0)
        return;
    bool tty = jx_bool(door_config(&c), "Tty", false);
    char since[32];
    if (docker_time(dk_query_str(r, "since", ""), since) < 0) {
        container_record_clear(&c);
        return dk_error(res, 400, "invalid since: '%s'", dk_query_str(r, "since", ""));
    }
    if (*dk_query_str(r, "until", ""))
        return container_record_clear(&c),
               dk_error(res, 400, "logs: until is not supported by kleened");
    bool out = dk_query_bool(r, "stdout", false), err_ = dk_query_bool(r, "stderr", false);
    if (!out && !err_) {
        container_record_clear(&c);
        return dk_error(res, 400, "Bad parameters: you must choose at least one stream");
    }
    _cleanup_json_ json_t *q = json_pack(
        "{s:b, s:b, s:b, s:b, s:b}", "follow", dk_query_bool(r, "follow", false), "stdout", out,
        "stderr", err_, "multiplex", !tty, "timestamps", dk_query_bool(r, "timestamps", false));
    if (*since)
        json_object_set_new(q, "since", json_string(since));
    const char *tail = dk_query_str(r, "tail", "all");
    if (*tail && strcmp(tail, "all") != 0) {
        char *end;
        long long n = strtoll(tail, &end, 10);
        if (*end || n < 0) {
            container_record_clear(&c);
            return dk_error(res, 400, "invalid tail: '%s'", tail);
        }
        json_object_set_new(q, "tail", json_integer(n));
    }
    api_request kreq = *r->req;
    kreq.query = q;
    kreq.params[0] = c.id;
    api_containers_logs(&kreq, res);
    container_record_clear(&c);
    if (res->status == 200)
        res->content_type =
            tty ? "application/vnd.docker.raw-stream" : "application/vnd.docker.multiplexed-stream";
    else if (res->json) { /* the Kleene handler's {"message"} is Docker's shape already */
        if (res->status == 422)
            res->status = 400;
    }
}

/* ---- top and stats -------------------------------------------------------------------------- */

static void user_name(unsigned uid, char *out, size_t n)
{
    struct passwd pw, *res = NULL;
    char buf[1024];
    if (getpwuid_r((uid_t)uid, &pw, buf, sizeof(buf), &res) == 0 && res)
        snprintf(out, n, "%s", res->pw_name);
    else
        snprintf(out, n, "%u", uid);
}

void dk_containers_top(dk_request *r, api_response *res)
{
    const char *ps_args = dk_query_str(r, "ps_args", "");
    if (*ps_args && strcmp(ps_args, "-ef") != 0)
        return dk_error(res, 400, "top: ps_args '%s' is not supported by kleened", ps_args);
    container_record c = {0};
    if (dk_container_get(r, r->params[0], &c, res) < 0)
        return;
    kl_error err = KL_ERROR_INIT;
    _cleanup_json_ json_t *top = containers_top(r->req->ctx->engine, c.id, &err);
    container_record_clear(&c);
    if (!top) {
        if (err.code == ENOTCONN)
            return dk_error(res, 409, "Container %s is not running", r->params[0]);
        return dk_error(res, dk_status(err.code), "%s", err.msg);
    }
    json_t *rows = json_array();
    size_t i;
    json_t *p;
    time_t now = time(NULL);
    json_array_foreach(json_object_get(top, "processes"), i, p)
    {
        char user[64], pid[16], ppid[16], stime[16], cpu[16];
        user_name((unsigned)jx_int(p, "uid", 0), user, sizeof(user));
        snprintf(pid, sizeof(pid), "%lld", jx_int(p, "pid", 0));
        snprintf(ppid, sizeof(ppid), "%lld", jx_int(p, "ppid", 0));
        time_t started = (time_t)jx_int(p, "started", 0);
        struct tm tm;
        localtime_r(&started, &tm);
        strftime(stime, sizeof(stime), now - started < 86400 ? "%H:%M" : "%b%d", &tm);
        long long secs = (long long)json_real_value(json_object_get(p, "cpu_seconds"));
        snprintf(cpu, sizeof(cpu), "%02lld:%02lld:%02lld", secs / 3600, secs / 60 % 60, secs % 60);
        json_array_append_new(rows, json_pack("[s, s, s, s, s, s, s, s]", user, pid, ppid, "0",
                                              stime, "?", cpu, jx_str(p, "cmd", "")));
    }
    api_reply_json(res, 200,
                   json_pack("{s:[s, s, s, s, s, s, s, s], s:o}", "Titles", "UID", "PID", "PPID",
                             "C", "STIME", "TTY", "TIME", "CMD", "Processes", rows));
}

typedef struct stats_ctx {
    kl_engine *e;
    char id[13];
    char name[300];
    bool stream;
    int client_fd;
    int sent;
    json_t *prev; /* the last sample */
    char prev_time[32];
} stats_ctx;

static void stats_free(void *p)
{
    stats_ctx *s = p;
    json_decref(s->prev);
    free(s);
}

/* One sample of the engine's usage ({} fields when the container does not run). */
static json_t *usage_sample(stats_ctx *s, char when[32])
{
    kl_error err = KL_ERROR_INIT;
    kl_time_now_iso(when);
    json_t *u = containers_usage(s->e, s->id, &err);
    return u ? u : json_object();
}

static json_t *cpu_json(const json_t *u)
{
    long long cpu = jx_int(u, "cpu_ns", 0), sys = jx_int(u, "system_ns", 0);
    return json_pack("{s:{s:I, s:I, s:I}, s:I, s:I, s:{s:i, s:i, s:i}}", "cpu_usage", "total_usage",
                     (json_int_t)(cpu > 0 ? cpu : 0), "usage_in_kernelmode", (json_int_t)0,
                     "usage_in_usermode", (json_int_t)0, "system_cpu_usage",
                     (json_int_t)(sys > 0 ? sys : 0), "online_cpus",
                     (json_int_t)jx_int(u, "ncpu", 0), "throttling_data", "periods", 0,
                     "throttled_periods", 0, "throttled_time", 0);
}

static ssize_t stats_read(void *ctx, char *buf, size_t max)
{
    stats_ctx *s = ctx;
    if (!s->stream && s->sent)
        return API_STREAM_END;
    if (!s->prev) {
        s->prev = usage_sample(s, s->prev_time);
        /* a second sample a moment later, for the CPU percentage (precpu_stats) */
        for (int i = 0; i < 10; i++) {
            if (client_gone(s->client_fd))
                return API_STREAM_ERROR;
            nanosleep(&(struct timespec){0, 100 * 1000 * 1000}, NULL);
        }
    } else {
        for (int i = 0; i < 10; i++) {
            if (client_gone(s->client_fd))
                return API_STREAM_ERROR;
            nanosleep(&(struct timespec){0, 100 * 1000 * 1000}, NULL);
        }
    }
    char now[32];
    json_t *u = usage_sample(s, now);
    long long mem = jx_int(u, "memory", 0), lim = jx_int(u, "memory_limit", 0);
    if (lim <= 0)
        lim = (long long)sysconf(_SC_PHYS_PAGES) * (long long)sysconf(_SC_PAGESIZE);
    char long_id[DK_ID_LEN + 1];
    dk_long_id("container", s->id, long_id);
    _cleanup_json_ json_t *out = json_pack(
        "{s:s, s:s, s:s, s:s, s:{s:I}, s:o, s:o, s:{s:I, s:I, s:{}}, s:{s:[], s:[], s:[], s:[],"
        " s:[], s:[], s:[], s:[]}, s:i}",
        "read", now, "preread", s->prev_time, "id", long_id, "name", s->name, "pids_stats",
        "current", (json_int_t)(jx_int(u, "pids", 0) > 0 ? jx_int(u, "pids", 0) : 0), "cpu_stats",
        cpu_json(u), "precpu_stats", cpu_json(s->prev), "memory_stats", "usage",
        (json_int_t)(mem > 0 ? mem : 0), "limit", (json_int_t)lim, "stats", "blkio_stats",
        "io_service_bytes_recursive", "io_serviced_recursive", "io_queue_recursive",
        "io_service_time_recursive", "io_wait_time_recursive", "io_merged_recursive",
        "io_time_recursive", "sectors_recursive", "num_procs", 0);
    json_decref(s->prev);
    s->prev = u;
    memcpy(s->prev_time, now, sizeof(now));
    _cleanup_free_ char *text = json_dumps(out, JSON_COMPACT);
    size_t n = strlen(text);
    if (n + 1 > max)
        return API_STREAM_ERROR;
    memcpy(buf, text, n);
    buf[n] = '\n';
    s->sent++;
    return (ssize_t)n + 1;
}

void dk_containers_stats(dk_request *r, api_response *res)
{
    container_record c = {0};
    if (dk_container_get(r, r->params[0], &c, res) < 0)
        return;
    stats_ctx *s = xcalloc(1, sizeof(*s));
    s->e = r->req->ctx->engine;
    memcpy(s->id, c.id, sizeof(s->id));
    snprintf(s->name, sizeof(s->name), "/%s", c.name);
    s->stream = dk_query_bool(r, "stream", true);
    s->client_fd = r->req->client_fd;
    container_record_clear(&c);
    api_reply_stream(res, 200, "application/json", stats_read, s, stats_free);
}

/* ---- for other endpoints (dk.h) ---------------------------------------------------------------
 */

json_t *dk_container_summary(kl_engine *e, const container_record *c)
{
    container_run st;
    kl_error err = KL_ERROR_INIT;
    if (containers_run_state(e, c->id, &st, &err) < 0)
        return NULL;
    return summary_json(e, c, &st);
}
