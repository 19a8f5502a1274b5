/* The Docker door's network endpoints (docs/docker-api.md "Networks"): list (filters), inspect,
 * create (bridge driver, IPAM Subnet/Gateway/IPRange, Internal, Labels, the bridge options
 * for icc, masquerade and the bridge's name), connect, disconnect, remove, prune, onto
 * engine/networks.h. A Kleene network of type bridge is a Docker bridge network; loopback and
 * custom networks show their type as the driver. What the engine cannot do is refused with
 * a message naming the field, never ignored. */
#include "api/docker/dk.h"
#include "engine/containers.h"
#include "engine/engine.h"
#include "engine/ipam.h"
#include "engine/networks.h"
#include "lib/cleanup.h"
#include "lib/jsonx.h"
#include "lib/labels.h"
#include "lib/log.h"
#include "lib/xalloc.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define OPT_ICC "com.docker.network.bridge.enable_icc"
#define OPT_MASQ "com.docker.network.bridge.enable_ip_masquerade"
#define OPT_NAME "com.docker.network.bridge.name"

/* "10.0.0.0/24" and "<auto>"/"" → the gateway address, or "" when none. */
static void gateway_of(const char *subnet, const char *gateway, char out[IPAM_STRLEN])
{
    out[0] = '\0';
    if (strcmp(gateway, "<auto>") != 0) {
        snprintf(out, IPAM_STRLEN, "%s", gateway);
        char *slash = strchr(out, '/');
        if (slash)
            *slash = '\0';
        return;
    }
    ipam_prefix p;
    ipam_addr a;
    kl_error err = KL_ERROR_INIT;
    if (subnet[0] && ipam_prefix_parse(subnet, &p, &err) == 0 &&
        ipam_gateway_auto(&p, &a, &err) == 0)
        ipam_addr_format(&a, out);
}

/* "/<len>" of a subnet ("" when none). */
static void prefix_suffix(const char *subnet, char out[8])
{
    const char *slash = strchr(subnet, '/');
    snprintf(out, 8, "%s", slash && strlen(slash) < 8 ? slash : "");
}

static json_t *ipam_config(const char *subnet, const char *gateway, const char *range)
{
    json_t *c = json_object();
    json_object_set_new(c, "Subnet", json_string(subnet));
    char gw[IPAM_STRLEN];
    gateway_of(subnet, gateway, gw);
    if (gw[0])
        json_object_set_new(c, "Gateway", json_string(gw));
    if (range && range[0])
        json_object_set_new(c, "IPRange", json_string(range));
    return c;
}

/* Docker's Network of a Kleene one; `eps` (EndPoint[], may be NULL: the list leaves
 * Containers empty, as dockerd does) fills Containers. */
static json_t *dk_network_json(kl_engine *e, const json_t *n, const json_t *eps)
{
    char id[DK_ID_LEN + 1];
    dk_long_id("network", jx_str(n, "id", ""), id);
    const char *type = jx_str(n, "type", "");
    const char *subnet = jx_str(n, "subnet", ""), *subnet6 = jx_str(n, "subnet6", "");
    json_t *configs = json_array();
    if (subnet[0])
        json_array_append_new(
            configs, ipam_config(subnet, jx_str(n, "gateway", ""), jx_str(n, "ip_range", "")));
    if (subnet6[0])
        json_array_append_new(configs, ipam_config(subnet6, jx_str(n, "gateway6", ""), NULL));
    json_t *containers = json_object();
    size_t i;
    json_t *ep;
    json_array_foreach(eps, i, ep)
    {
        const char *cid = jx_str(ep, "container_id", "");
        container_record c = {0};
        kl_error err = KL_ERROR_INIT;
        if (containers_get(e, cid, &c, &err) < 0)
            continue;
        char clong[DK_ID_LEN + 1], elong[DK_ID_LEN + 1];
        dk_long_id("container", cid, clong);
        dk_long_id("endpoint", jx_str(ep, "id", ""), elong);
        char s4[8], s6[8];
        prefix_suffix(subnet, s4);
        prefix_suffix(subnet6, s6);
        const char *ip = jx_str(ep, "ip_address", ""), *ip6 = jx_str(ep, "ip_address6", "");
        _cleanup_free_ char *a4 = ip[0] ? xasprintf("%s%s", ip, s4) : xstrdup("");
        _cleanup_free_ char *a6 = ip6[0] ? xasprintf("%s%s", ip6, s6) : xstrdup("");
        json_object_set_new(containers, clong,
                            json_pack("{s:s, s:s, s:s, s:s, s:s}", "Name", c.name, "EndpointID",
                                      elong, "MacAddress", "", "IPv4Address", a4, "IPv6Address",
                                      a6));
        container_record_clear(&c);
    }
    json_t *labels = json_object_get(n, "labels");
    json_t *opts =
        json_pack("{s:s, s:s, s:s}", OPT_ICC, jx_bool(n, "icc", true) ? "true" : "false", OPT_MASQ,
                  jx_str(n, "nat", "")[0] ? "true" : "false", OPT_NAME, jx_str(n, "interface", ""));
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:b, s:{s:s, s:{}, s:o}, s:b, s:b, s:b, "
                     "s:{s:s}, s:b, s:o, s:o, s:o}",
                     "Name", jx_str(n, "name", ""), "Id", id, "Created",
                     dk_time(jx_str(n, "created", "")), "Scope", "local", "Driver", type,
                     "EnableIPv6", subnet6[0] != '\0', "IPAM", "Driver", "default", "Options",
                     "Config", configs, "Internal", jx_bool(n, "internal", false), "Attachable", 0,
                     "Ingress", 0, "ConfigFrom", "Network", "", "ConfigOnly", 0, "Containers",
                     containers, "Options", opts, "Labels",
                     json_is_object(labels) ? json_deep_copy(labels) : json_object());
}

/* ---- dockerd's predefined networks host and none ----------------------------------------
 * Container modes (network_driver host / disabled), shown by the Docker door as networks as
 * dockerd shows them; never Kleene networks (the Kleene API and klee see nothing of them). */
typedef struct {
    const char *name;      /* Docker name */
    const char *driver;    /* Docker driver */
    const char *container; /* the network_driver of its containers */
} predef_net;

static const predef_net predefs[] = {{"host", "host", "host"}, {"none", "null", "disabled"}};

bool dk_predefined_network_id(const char *name, char out[DK_ID_LEN + 1])
{
    for (size_t i = 0; i < KL_ARRAY_SIZE(predefs); i++)
        if (!strcmp(name, predefs[i].name)) {
            /* SHA-1 of "kleene:predefined-network:<name>::<round>": stable, hex only */
            char kind[48];
            snprintf(kind, sizeof(kind), "predefined-network:%s", name);
            dk_long_id(kind, "", out);
            return true;
        }
    return false;
}

static bool all_hex(const char *s)
{
    if (!*s)
        return false;
    for (; *s; s++)
        if (!isxdigit((unsigned char)*s) || isupper((unsigned char)*s))
            return false;
    return true;
}

/* The predefined network a Docker reference names: its exact name, or a prefix of its id that
 * names no Kleene network; NULL otherwise. */
static const predef_net *predef_find(kl_engine *e, const char *ref)
{
    for (size_t i = 0; i < KL_ARRAY_SIZE(predefs); i++)
        if (!strcmp(ref, predefs[i].name))
            return &predefs[i];
    if (!all_hex(ref) || strlen(ref) > DK_ID_LEN)
        return NULL;
    for (size_t i = 0; i < KL_ARRAY_SIZE(predefs); i++) {
        char id[DK_ID_LEN + 1];
        dk_predefined_network_id(predefs[i].name, id);
        if (strncmp(id, ref, strlen(ref)) != 0)
            continue;
        char buf[16];
        bool check_full;
        kl_error err = KL_ERROR_INIT;
        _cleanup_json_ json_t *ins = networks_inspect(e, dk_ident(ref, buf, &check_full), &err);
        return ins ? NULL : &predefs[i];
    }
    return NULL;
}

/* The containers of a predefined network's mode: {64-hex id: {Name, EndpointID, ...}}. */
static json_t *predef_containers(kl_engine *e, const predef_net *p)
{
    json_t *out = json_object();
    kl_error err = KL_ERROR_INIT;
    _cleanup_json_ json_t *list = containers_list(e, true, &err);
    size_t i;
    json_t *c;
    json_array_foreach(list, i, c)
    {
        if (strcmp(jx_str(c, "network_driver", ""), p->container) != 0)
            continue;
        char clong[DK_ID_LEN + 1], elong[DK_ID_LEN + 1], kind[48];
        const char *cid = jx_str(c, "id", "");
        dk_long_id("container", cid, clong);
        snprintf(kind, sizeof(kind), "endpoint:%s", p->name);
        dk_long_id(kind, cid, elong);
        json_object_set_new(out, clong,
                            json_pack("{s:s, s:s, s:s, s:s, s:s}", "Name", jx_str(c, "name", ""),
                                      "EndpointID", elong, "MacAddress", "", "IPv4Address", "",
                                      "IPv6Address", ""));
    }
    return out;
}

/* Docker's Network of a predefined one; `containers` (may be NULL: empty, as in the list). */
static json_t *predef_json(const predef_net *p, json_t *containers)
{
    char id[DK_ID_LEN + 1];
    dk_predefined_network_id(p->name, id);
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:b, s:{s:s, s:n, s:[]}, s:b, s:b, s:b, "
                     "s:{s:s}, s:b, s:o, s:{}, s:{}}",
                     "Name", p->name, "Id", id, "Created", dk_time(""), "Scope", "local", "Driver",
                     p->driver, "EnableIPv6", 0, "IPAM", "Driver", "default", "Options", "Config",
                     "Internal", 0, "Attachable", 0, "Ingress", 0, "ConfigFrom", "Network", "",
                     "ConfigOnly", 0, "Containers", containers ? containers : json_object(),
                     "Options", "Labels");
}

/* The network a Docker reference names: its Kleene inspect ({"network", "network_endpoints"});
 * NULL after a 404/500 in res. */
static json_t *network_find(kl_engine *e, const char *ref, api_response *res)
{
    char buf[16];
    bool check_full;
    const char *ident = dk_ident(ref, buf, &check_full);
    kl_error err = KL_ERROR_INIT;
    if (!strcmp(ref, NETWORKS_DEFAULT_NAME)) { /* made on first use */
        _cleanup_free_ char *dflt = networks_default(e, &err);
        err = (kl_error)KL_ERROR_INIT;
    }
    json_t *ins = networks_inspect(e, ident, &err);
    if (ins && check_full) {
        char id[DK_ID_LEN + 1];
        dk_long_id("network", jx_str(json_object_get(ins, "network"), "id", ""), id);
        if (strncmp(id, ref, strlen(ref)) != 0) {
            json_decref(ins);
            ins = NULL;
            err.code = ENOENT;
        }
    }
    if (!ins) {
        if (err.code == ENOENT || err.code == 0)
            dk_error(res, 404, "network %s not found", ref);
        else
            dk_error(res, dk_status(err.code), "%s", err.msg);
    }
    return ins;
}

static bool any_value(const json_t *values, const char *wanted)
{
    size_t i;
    json_t *v;
    json_array_foreach(values, i, v) if (!strcmp(json_string_value(v), wanted)) return true;
    return false;
}

/* One network as the list's filters see it. */
typedef struct net_row {
    const char *name, *id, *driver;
    const json_t *labels;
    const char *type; /* "builtin" or "custom" */
    int unused;       /* dangling: 1 / 0, or -1 to be asked of the engine (kleene_id) */
} net_row;

/* Whether a network passes every filter of the list (name substring, id prefix, driver, scope,
 * type, dangling, label). */
static bool net_matches(const json_t *f, const net_row *n, kl_engine *e, const char *kleene_id)
{
    if (!kl_labels_match_filters(n->labels, json_object_get(f, "label"),
                                 json_object_get(f, "label!")))
        return false;
    json_t *vs;
    size_t k;
    json_t *v;
    if (json_array_size(vs = json_object_get(f, "name"))) {
        bool any = false;
        json_array_foreach(vs, k, v) any |= strstr(n->name, json_string_value(v)) != NULL;
        if (!any)
            return false;
    }
    if (json_array_size(vs = json_object_get(f, "id"))) {
        bool any = false;
        json_array_foreach(vs, k, v) any |=
            !strncmp(n->id, json_string_value(v), strlen(json_string_value(v)));
        if (!any)
            return false;
    }
    if (json_array_size(vs = json_object_get(f, "driver")) && !any_value(vs, n->driver))
        return false;
    if (json_array_size(vs = json_object_get(f, "scope")) && !any_value(vs, "local"))
        return false;
    if (json_array_size(vs = json_object_get(f, "type")) && !any_value(vs, n->type))
        return false;
    if (json_array_size(vs = json_object_get(f, "dangling"))) {
        bool unused = n->unused == 1;
        if (n->unused < 0) {
            kl_error err = KL_ERROR_INIT;
            _cleanup_json_ json_t *ins = networks_inspect(e, kleene_id, &err);
            unused = ins && json_array_size(json_object_get(ins, "network_endpoints")) == 0;
        }
        if (!any_value(vs, unused ? "true" : "false") && !any_value(vs, unused ? "1" : "0"))
            return false;
    }
    return true;
}

void dk_networks_list(dk_request *r, api_response *res)
{
    static const char *const known[] = {"dangling", "driver", "id",   "label", "label!",
                                        "name",     "scope",  "type", NULL};
    kl_engine *e = r->req->ctx->engine;
    _cleanup_json_ json_t *f = dk_filters(r, known, res);
    if (!f)
        return;
    const char *key;
    json_t *vals;
    json_object_foreach(f, key, vals)
    {
        size_t i;
        json_t *v;
        json_array_foreach(vals, i, v)
        {
            const char *s = json_string_value(v);
            if (!strcmp(key, "dangling") && strcmp(s, "true") && strcmp(s, "false") &&
                strcmp(s, "1") && strcmp(s, "0"))
                return dk_error(res, 400, "invalid filter 'dangling=%s'", s);
            if (!strcmp(key, "type") && strcmp(s, "custom") && strcmp(s, "builtin"))
                return dk_error(res, 400, "invalid filter: 'type=%s': custom or builtin", s);
        }
    }
    kl_error err = KL_ERROR_INIT;
    /* the default network is there for Docker's clients from their first look, as dockerd's
     * bridge (made now if no container needed it yet) */
    _cleanup_free_ char *dflt = networks_default(e, &err);
    if (!dflt)
        log_warn("docker: the default network: %s", err.msg);
    err = (kl_error)KL_ERROR_INIT;
    _cleanup_json_ json_t *list = networks_list(e, &err);
    if (!list)
        return dk_error(res, 500, "%s", err.msg);
    json_t *out = json_array();
    size_t i;
    json_t *n;
    for (i = 0; i < KL_ARRAY_SIZE(predefs); i++) {
        const predef_net *p = &predefs[i];
        char id[DK_ID_LEN + 1];
        dk_predefined_network_id(p->name, id);
        _cleanup_json_ json_t *none = json_object();
        /* dockerd never counts a predefined network as dangling */
        const net_row row = {p->name, id, p->driver, none, "builtin", 0};
        if (net_matches(f, &row, NULL, NULL))
            json_array_append_new(out, predef_json(p, NULL));
    }
    json_array_foreach(list, i, n)
    {
        char id[DK_ID_LEN + 1];
        dk_long_id("network", jx_str(n, "id", ""), id);
        const net_row row = {jx_str(n, "name", ""),
                             id,
                             jx_str(n, "type", ""),
                             json_object_get(n, "labels"),
                             jx_bool(n, "docker_default", false) ? "builtin" : "custom",
                             -1};
        if (net_matches(f, &row, e, jx_str(n, "id", "")))
            json_array_append_new(out, dk_network_json(e, n, NULL));
    }
    api_reply_json(res, 200, out);
}

void dk_networks_inspect(dk_request *r, api_response *res)
{
    kl_engine *e = r->req->ctx->engine;
    const predef_net *p = predef_find(e, r->params[0]);
    if (p)
        return api_reply_json(res, 200, predef_json(p, predef_containers(e, p)));
    _cleanup_json_ json_t *ins = network_find(e, r->params[0], res);
    if (ins)
        api_reply_json(res, 200,
                       dk_network_json(e, json_object_get(ins, "network"),
                                       json_object_get(ins, "network_endpoints")));
}

/* "true"/"false" of a bridge option; -1 (and a 400 in res) otherwise. */
static int option_bool(const char *name, const json_t *v, api_response *res)
{
    const char *s = json_string_value(v);
    if (s && (!strcmp(s, "true") || !strcmp(s, "1")))
        return 1;
    if (s && (!strcmp(s, "false") || !strcmp(s, "0")))
        return 0;
    dk_error(res, 400, "invalid value of network option %s: true or false", name);
    return -1;
}

static bool is_empty(const json_t *v)
{
    return !v || json_is_null(v) || (json_is_object(v) && json_object_size(v) == 0) ||
           (json_is_array(v) && json_array_size(v) == 0) ||
           (json_is_string(v) && !json_string_length(v)) || json_is_false(v);
}

/* IPAM of a NetworkCreate into the Kleene config; 0, or -1 after a 400 in res. */
static int read_ipam(const json_t *ipam, bool ipv6, json_t *config, api_response *res)
{
    if (ipam && !json_is_null(ipam) && !json_is_object(ipam))
        return dk_error(res, 400, "invalid IPAM: an object is expected"), -1;
    const char *driver = jx_str(ipam, "Driver", "");
    if (driver[0] && strcmp(driver, "default") != 0)
        return dk_error(res, 400, "IPAM driver '%s' is not supported by kleened (only 'default')",
                        driver),
               -1;
    if (!is_empty(json_object_get(ipam, "Options")))
        return dk_error(res, 400, "IPAM Options are not supported by kleened"), -1;
    json_t *cfgs = json_object_get(ipam, "Config");
    if (cfgs && !json_is_null(cfgs) && !json_is_array(cfgs))
        return dk_error(res, 400, "invalid IPAM.Config: a list is expected"), -1;
    bool has4 = false, has6 = false;
    size_t i;
    json_t *c;
    json_array_foreach(cfgs, i, c)
    {
        if (!json_is_object(c))
            return dk_error(res, 400, "invalid IPAM.Config[%zu]: an object is expected", i), -1;
        const char *key;
        json_t *v;
        json_object_foreach(c, key, v)
        {
            if (strcmp(key, "Subnet") && strcmp(key, "Gateway") && strcmp(key, "IPRange") &&
                !(!strcmp(key, "AuxiliaryAddresses") && is_empty(v)))
                return dk_error(res, 400, "IPAM.Config[%zu].%s is not supported by kleened", i,
                                key),
                       -1;
            if (strcmp(key, "AuxiliaryAddresses") && !json_is_string(v))
                return dk_error(res, 400, "invalid IPAM.Config[%zu].%s: a string is expected", i,
                                key),
                       -1;
        }
        const char *subnet = jx_str(c, "Subnet", "");
        if (!subnet[0])
            return dk_error(res, 400,
                            "IPAM.Config[%zu] without a Subnet is not supported by "
                            "kleened",
                            i),
                   -1;
        ipam_prefix p;
        kl_error err = KL_ERROR_INIT;
        if (ipam_prefix_parse(subnet, &p, &err) < 0)
            return dk_error(res, 400, "invalid IPAM.Config[%zu].Subnet: %s", i, err.msg), -1;
        bool v6 = p.addr.family == 6;
        if (v6 ? has6 : has4)
            return dk_error(res, 400, "more than one IPv%d subnet is not supported by kleened",
                            v6 ? 6 : 4),
                   -1;
        const char *gw = jx_str(c, "Gateway", "");
        const char *range = jx_str(c, "IPRange", "");
        if (v6 && range[0])
            return dk_error(res, 400,
                            "IPAM.Config[%zu].IPRange of an IPv6 subnet is not "
                            "supported by kleened",
                            i),
                   -1;
        json_object_set_new(config, v6 ? "subnet6" : "subnet", json_string(subnet));
        json_object_set_new(config, v6 ? "gateway6" : "gateway",
                            json_string(gw[0] ? gw : "<auto>"));
        if (range[0])
            json_object_set_new(config, "ip_range", json_string(range));
        has4 |= !v6;
        has6 |= v6;
    }
    if (ipv6 && !has6)
        return dk_error(res, 400,
                        "EnableIPv6 without an IPv6 subnet in IPAM.Config is not "
                        "supported by kleened"),
               -1;
    if (!has4) /* dockerd picks a free subnet of its pools; so does the engine */
        json_object_set_new(config, "auto_subnet", json_true());
    return 0;
}

void dk_networks_create(dk_request *r, api_response *res)
{
    kl_engine *e = r->req->ctx->engine;
    _cleanup_json_ json_t *body = dk_body_object(r, false, res);
    if (!body)
        return;
    static const char *const known[] = {
        "Name",       "CheckDuplicate", "Driver", "Scope",      "Internal", "Attachable", "Ingress",
        "ConfigOnly", "ConfigFrom",     "IPAM",   "EnableIPv6", "Options",  "Labels"};
    const char *key;
    json_t *val;
    json_object_foreach(body, key, val)
    {
        bool ok = false;
        for (size_t i = 0; i < KL_ARRAY_SIZE(known); i++)
            ok |= !strcmp(key, known[i]);
        if (!ok)
            return dk_error(res, 400, "network field %s is not supported by kleened", key);
    }
    const char *name = jx_str(body, "Name", "");
    if (!name[0])
        return dk_error(res, 400, "a network Name is required");
    char pid[DK_ID_LEN + 1];
    if (dk_predefined_network_id(name, pid)) /* dockerd's words */
        return dk_error(res, 403, "operation is not permitted on predefined %s network ", name);
    const char *driver = jx_str(body, "Driver", "");
    if (driver[0] && strcmp(driver, "bridge") != 0)
        return dk_error(res, 400, "network driver '%s' is not supported by kleened (only 'bridge')",
                        driver);
    const char *scope = jx_str(body, "Scope", "");
    if (scope[0] && strcmp(scope, "local") != 0)
        return dk_error(res, 400, "network Scope '%s' is not supported by kleened (only 'local')",
                        scope);
    static const char *const refused[] = {"Ingress", "ConfigOnly", "ConfigFrom"};
    for (size_t i = 0; i < KL_ARRAY_SIZE(refused); i++)
        if (!is_empty(json_object_get(body, refused[i])))
            return dk_error(res, 400, "network field %s is not supported by kleened (no swarm)",
                            refused[i]);
    json_t *labels = json_object_get(body, "Labels");
    kl_error err = KL_ERROR_INIT;
    if (kl_labels_check(labels, &err) < 0)
        return dk_error(res, 400, "invalid Labels: %s", err.msg);

    _cleanup_json_ json_t *config =
        json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:b, s:b, s:O}", "name", name, "type",
                  "bridge", "interface", "", "subnet", "", "subnet6", "", "gateway", "", "gateway6",
                  "", "icc", 1, "internal", jx_bool(body, "Internal", false), "labels",
                  labels && json_is_object(labels) ? labels : json_null());
    if (!config)
        return dk_error(res, 400, "invalid network: strings must be UTF-8");
    json_object_set_new(config, "nat", json_string("<host-gateway>"));
    json_t *opts = json_object_get(body, "Options");
    if (opts && !json_is_null(opts) && !json_is_object(opts))
        return dk_error(res, 400, "invalid Options: an object is expected");
    json_object_foreach(opts, key, val)
    {
        if (!strcmp(key, OPT_ICC) || !strcmp(key, OPT_MASQ)) {
            int b = option_bool(key, val, res);
            if (b < 0)
                return;
            if (!strcmp(key, OPT_ICC))
                json_object_set_new(config, "icc", json_boolean(b));
            else if (!b)
                json_object_set_new(config, "nat", json_string(""));
        } else if (!strcmp(key, OPT_NAME) && json_is_string(val)) {
            json_object_set(config, "interface", val);
        } else {
            return dk_error(res, 400, "network option %s is not supported by kleened", key);
        }
    }
    if (read_ipam(json_object_get(body, "IPAM"), jx_bool(body, "EnableIPv6", false), config, res) <
        0)
        return;
    _cleanup_free_ char *id = networks_create(e, config, &err);
    if (!id) {
        if (err.code == EEXIST && !strcmp(err.msg, "network name is already taken"))
            return dk_error(res, 409, "network with name %s already exists", name);
        return dk_error(res, err.code == EEXIST || err.code == EBUSY ? 409 : 400, "%s", err.msg);
    }
    char lid[DK_ID_LEN + 1];
    dk_long_id("network", id, lid);
    api_reply_json(res, 201, json_pack("{s:s, s:s}", "Id", lid, "Warning", ""));
}

/* The container a Docker reference names (exact id, name, 12-64 hex id); 0, or -1 after a
 * 404 in res. */
static int container_find(kl_engine *e, const char *ref, char id[13], api_response *res)
{
    char buf[16];
    bool check_full;
    const char *ident = dk_ident(ref, buf, &check_full);
    container_record c = {0};
    kl_error err = KL_ERROR_INIT;
    if (containers_get(e, ident, &c, &err) < 0) {
        dk_error(res, err.code == ENOENT ? 404 : dk_status(err.code), "No such container: %s", ref);
        return -1;
    }
    snprintf(id, 13, "%s", c.id);
    container_record_clear(&c);
    if (check_full) {
        char full[DK_ID_LEN + 1];
        dk_long_id("container", id, full);
        if (strncmp(full, ref, strlen(ref)) != 0) {
            dk_error(res, 404, "No such container: %s", ref);
            return -1;
        }
    }
    return 0;
}

/* A connect to (or disconnect from) a predefined network: a container's mode is set at its
 * create, so both are refused, with dockerd's words where it has them. */
static void predef_refuse(kl_engine *e, const predef_net *p, const char *ref, bool connect,
                          api_response *res)
{
    char cid[13];
    if (container_find(e, ref, cid, res) < 0)
        return;
    container_record c = {0};
    kl_error err = KL_ERROR_INIT;
    if (containers_get(e, cid, &c, &err) < 0)
        return dk_error(res, 404, "No such container: %s", ref);
    bool in_mode = !strcmp(c.network_driver, p->container);
    container_record_clear(&c);
    if (connect && in_mode)
        return dk_error(res, 403, "endpoint with name %s already exists in network %s", ref,
                        p->name);
    if (!connect && !in_mode)
        return dk_error(res, 403, "container %s is not connected to network %s", ref, p->name);
    if (!strcmp(p->name, "host"))
        return dk_error(res, 400,
                        "container cannot be disconnected from host network or connected to "
                        "host network");
    if (connect)
        return dk_error(res, 400,
                        "container cannot be connected to multiple networks with one of the "
                        "networks in private (none) mode");
    dk_error(res, 400,
             "container %s cannot be disconnected from the none network: its network mode is "
             "set at its create (kleened)",
             ref);
}

int dk_endpoint_check(const json_t *ec, api_response *res)
{
    /* Output fields of EndpointSettings clients send back empty are fine; what would change
     * the endpoint is refused by name. */
    static const char *const refused[] = {"Links", "DriverOpts", "MacAddress", "GlobalIPv6Address",
                                          "IPAddress"};
    for (size_t i = 0; i < KL_ARRAY_SIZE(refused); i++)
        if (!is_empty(json_object_get(ec, refused[i]))) {
            dk_error(res, 400, "EndpointConfig.%s is not supported by kleened%s", refused[i],
                     !strcmp(refused[i], "Links") ? " (use the container's name or an alias)" : "");
            return -1;
        }
    json_t *aliases = json_object_get(ec, "Aliases");
    size_t i;
    json_t *a;
    bool ok = !aliases || json_is_null(aliases) || json_is_array(aliases);
    json_array_foreach(aliases, i, a) ok = ok && json_is_string(a);
    if (!ok) {
        dk_error(res, 400, "EndpointConfig.Aliases must be a list of strings");
        return -1;
    }
    if (!is_empty(json_object_get(json_object_get(ec, "IPAMConfig"), "LinkLocalIPs"))) {
        dk_error(res, 400, "EndpointConfig.IPAMConfig.LinkLocalIPs is not supported by kleened");
        return -1;
    }
    return 0;
}

void dk_networks_connect(dk_request *r, api_response *res)
{
    kl_engine *e = r->req->ctx->engine;
    _cleanup_json_ json_t *body = dk_body_object(r, false, res);
    if (!body)
        return;
    const predef_net *p = predef_find(e, r->params[0]);
    if (p)
        return predef_refuse(e, p, jx_str(body, "Container", ""), true, res);
    _cleanup_json_ json_t *ins = network_find(e, r->params[0], res);
    if (!ins)
        return;
    json_t *net = json_object_get(ins, "network");
    char cid[13];
    if (container_find(e, jx_str(body, "Container", ""), cid, res) < 0)
        return;
    json_t *ec = json_object_get(body, "EndpointConfig");
    if (dk_endpoint_check(ec, res) < 0)
        return;
    json_t *ipam = json_object_get(ec, "IPAMConfig");
    const char *ip = jx_str(ipam, "IPv4Address", "");
    const char *ip6 = jx_str(ipam, "IPv6Address", "");
    _cleanup_json_ json_t *config =
        json_pack("{s:s, s:s, s:s, s:s}", "container", cid, "network", jx_str(net, "id", ""),
                  "ip_address", ip[0] ? ip : "<auto>", "ip_address6", ip6[0] ? ip6 : "<auto>");
    if (!config)
        return dk_error(res, 400, "invalid EndpointConfig: strings must be UTF-8");
    json_t *aliases = json_object_get(ec, "Aliases");
    if (json_is_array(aliases))
        json_object_set(config, "aliases", aliases);
    kl_error err = KL_ERROR_INIT;
    if (networks_connect(e, config, &err) < 0) {
        if (err.code == EEXIST && strstr(err.msg, "already connected"))
            return dk_error(res, 403, "endpoint with name %s already exists in network %s",
                            jx_str(body, "Container", ""), jx_str(net, "name", ""));
        return dk_error(res,
                        err.code == ENOENT   ? 404
                        : err.code == EINVAL ? 400
                                             : dk_status(err.code),
                        "%s", err.msg);
    }
    api_reply_empty(res, 200);
}

void dk_networks_disconnect(dk_request *r, api_response *res)
{
    kl_engine *e = r->req->ctx->engine;
    _cleanup_json_ json_t *body = dk_body_object(r, false, res);
    if (!body)
        return;
    const predef_net *p = predef_find(e, r->params[0]);
    if (p)
        return predef_refuse(e, p, jx_str(body, "Container", ""), false, res);
    _cleanup_json_ json_t *ins = network_find(e, r->params[0], res);
    if (!ins)
        return;
    json_t *net = json_object_get(ins, "network");
    char cid[13];
    if (container_find(e, jx_str(body, "Container", ""), cid, res) < 0)
        return;
    kl_error err = KL_ERROR_INIT;
    if (networks_disconnect(e, jx_str(net, "id", ""), cid, &err) < 0) {
        if (strstr(err.msg, "endpoint configuration not found"))
            return dk_error(res, 403, "container %s is not connected to network %s",
                            jx_str(body, "Container", ""), jx_str(net, "name", ""));
        return dk_error(res, dk_status(err.code), "%s", err.msg);
    }
    api_reply_empty(res, 200);
}

void dk_networks_remove(dk_request *r, api_response *res)
{
    kl_engine *e = r->req->ctx->engine;
    const predef_net *p = predef_find(e, r->params[0]);
    if (p)
        return dk_error(res, 403, "%s is a pre-defined network and cannot be removed", p->name);
    _cleanup_json_ json_t *ins = network_find(e, r->params[0], res);
    if (!ins)
        return;
    json_t *net = json_object_get(ins, "network");
    if (jx_bool(net, "docker_default", false))
        return dk_error(res, 403, "%s is a pre-defined network and cannot be removed",
                        jx_str(net, "name", ""));
    /* dockerd refuses while containers run on it; stopped ones are disconnected */
    size_t i;
    json_t *ep;
    json_array_foreach(json_object_get(ins, "network_endpoints"), i, ep)
    {
        if (containers_is_running(e, jx_str(ep, "container_id", ""))) {
            char lid[DK_ID_LEN + 1];
            dk_long_id("network", jx_str(net, "id", ""), lid);
            return dk_error(res, 403,
                            "error while removing network: network %s id %s has active endpoints",
                            jx_str(net, "name", ""), lid);
        }
    }
    kl_error err = KL_ERROR_INIT;
    char id[13];
    if (networks_remove(e, jx_str(net, "id", ""), id, &err) < 0)
        return dk_error(res, err.code == ENOENT ? 404 : dk_status(err.code), "%s", err.msg);
    api_reply_empty(res, 204);
}

/* A Go duration ("90s", "1h30m", "1.5h", "250ms"): seconds in *out. */
static bool parse_duration(const char *v, double *out)
{
    double total = 0;
    const char *p = v;
    if (!*p)
        return false;
    while (*p) {
        char *end;
        if (!isdigit((unsigned char)*p) && *p != '.')
            return false;
        double n = strtod(p, &end);
        if (end == p)
            return false;
        p = end;
        static const struct {
            const char *unit;
            double secs;
        } units[] = {{"ns", 1e-9}, {"us", 1e-6}, {"µs", 1e-6}, {"ms", 1e-3},
                     {"s", 1},     {"m", 60},    {"h", 3600}};
        size_t best = 0, best_len = 0;
        for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
            size_t l = strlen(units[i].unit);
            if (l > best_len && !strncmp(p, units[i].unit, l)) {
                best = i;
                best_len = l;
            }
        }
        if (!best_len)
            return false;
        total += n * units[best].secs;
        p += best_len;
    }
    *out = total;
    return true;
}

/* RFC 3339 ("2026-12-07T10:13:01.5+02:00", "…Z", "2026-12-07"): Unix seconds. */
static bool parse_rfc3339(const char *v, double *out)
{
    struct tm tm = {0};
    const char *p = strptime(v, "%Y-%m-%dT%H:%M:%S", &tm);
    if (!p) {
        memset(&tm, 0, sizeof(tm));
        p = strptime(v, "%Y-%m-%d", &tm);
        if (!p || *p)
            return false;
        *out = (double)timegm(&tm);
        return true;
    }
    double frac = 0;
    if (*p == '.') {
        char *end;
        frac = strtod(p, &end);
        p = end;
    }
    long offset = 0;
    if (*p == 'Z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int hh, mm;
        if (sscanf(p + 1, "%2d:%2d", &hh, &mm) != 2 || strlen(p) != 6)
            return false;
        offset = (*p == '-' ? -1 : 1) * (hh * 3600L + mm * 60L);
        p += 6;
    }
    if (*p)
        return false;
    *out = (double)timegm(&tm) + frac - (double)offset;
    return true;
}

int dk_until(const char *v, char out[40], api_response *res)
{
    double t;
    char *end;
    errno = 0;
    double n = strtod(v, &end);
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    double d;
    if (*v && isdigit((unsigned char)*v) && !*end && !errno)
        t = n;
    else if (parse_duration(v, &d))
        t = (double)now.tv_sec + (double)now.tv_nsec / 1e9 - d;
    else if (parse_rfc3339(v, &d))
        t = d;
    else {
        dk_error(res, 400,
                 "invalid filter 'until=%.64s': a Unix time, an RFC 3339 time or a "
                 "duration (10m, 1h30m) is expected",
                 v);
        return -1;
    }
    if (!(t > 0 && t < 253402300800.0)) { /* before 10000-01-01 */
        dk_error(res, 400, "invalid filter 'until=%.64s': out of range", v);
        return -1;
    }
    time_t secs = (time_t)t;
    long usec = (long)((t - (double)secs) * 1e6);
    struct tm tm;
    gmtime_r(&secs, &tm);
    char base[32];
    strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out, 40, "%s.%06ldZ", base, usec);
    return 0;
}

void dk_networks_prune(dk_request *r, api_response *res)
{
    static const char *const known[] = {"label", "label!", "until", NULL};
    kl_engine *e = r->req->ctx->engine;
    _cleanup_json_ json_t *f = dk_filters(r, known, res);
    if (!f)
        return;
    char until[40];
    json_t *u = json_object_get(f, "until");
    if (json_array_size(u) > 1)
        return dk_error(res, 400, "the filter 'until' takes one value");
    if (json_array_size(u) && dk_until(json_string_value(json_array_get(u, 0)), until, res) < 0)
        return;
    kl_error err = KL_ERROR_INIT;
    _cleanup_json_ json_t *names =
        networks_prune_matching(e, json_object_get(f, "label"), json_object_get(f, "label!"),
                                json_array_size(u) ? until : NULL, &err);
    if (!names)
        return dk_error(res, 500, "%s", err.msg);
    api_reply_json(res, 200, json_pack("{s:O}", "NetworksDeleted", names));
}
