/* Networks (networks.h): rows, links and the firewall.
 *
 * The store is the source of truth: links, addresses and nft rules are derived from it and
 * can always be rebuilt (networks_init). Host changes are made after the validation that can
 * refuse them, and a failure half-way undoes what was made. This module must not start or
 * stop containers, nor write container fields other than the addresses of their published
 * ports (filled like the original, API.md §5.5). */
#include "engine/networks.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine/containers.h"
#include "engine/etcfiles.h"
#include "engine/ipam.h"
#include "engine/portspec.h"
#include "host/host.h"
#include "host/monitor.h"
#include "host/net.h"
#include "host/runtime.h"
#include "lib/buf.h"
#include "lib/cleanup.h"
#include "lib/id.h"
#include "lib/jsonx.h"
#include "lib/labels.h"
#include "lib/log.h"
#include "lib/names.h"
#include "lib/xalloc.h"

#define AUTO "<auto>"
#define HOST_GATEWAY "<host-gateway>"

typedef struct net_rec {
    char id[13];
    char *name, *type, *ifname, *created;
    char *subnet, *subnet6, *gateway, *gateway6, *nat;
    bool icc, internal;
    json_t *labels;      /* ours (docs/api.md "Labels") */
    char *ip_range;      /* ours: automatic IPv4 addresses come from this part of the subnet; "" */
    bool docker_default; /* the Docker door's default network (networks_default) */
} net_rec;

static void net_rec_clear(net_rec *n)
{
    free(n->name);
    free(n->type);
    free(n->ifname);
    free(n->created);
    free(n->subnet);
    free(n->subnet6);
    free(n->gateway);
    free(n->gateway6);
    free(n->nat);
    free(n->ip_range);
    json_decref(n->labels);
    memset(n, 0, sizeof(*n));
}

typedef struct ep_rec {
    char id[13];
    char container_id[13];
    char network_id[13];
    char *ip, *ip6, *epair;
    char **aliases; /* ours: names the container also has on this network (never NULL) */
} ep_rec;

static void ep_recs_free(ep_rec *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(v[i].ip);
        free(v[i].ip6);
        free(v[i].epair);
        strv_free(v[i].aliases);
    }
    free(v);
}

static const char *col_text(sqlite3_stmt *st, int i)
{
    const unsigned char *t = sqlite3_column_text(st, i);
    return t ? (const char *)t : "";
}

static bool is_bridge_type(const char *type)
{
    return strcmp(type, "bridge") == 0;
}

static bool kleened_owns_link(const net_rec *n)
{
    return strcmp(n->type, "custom") != 0;
}

void networks_set_nat_if(kl_engine *e, const char *nat_if)
{
    engine_lock(e);
    free(e->nat_if);
    e->nat_if = nat_if && nat_if[0] ? xstrdup(nat_if) : NULL;
    engine_unlock(e);
}

/* The host gateway interface: the configured nat_if, else the IPv4 default route's. */
static void host_gateway_if(kl_engine *e, char out[HOST_IFNAME_MAX + 1])
{
    out[0] = '\0';
    if (e->nat_if) {
        snprintf(out, HOST_IFNAME_MAX + 1, "%s", e->nat_if);
        return;
    }
    kl_error ignored = KL_ERROR_INIT;
    if (host_default_route_if(4, out, &ignored) < 0)
        out[0] = '\0';
}

/* ---- rows ------------------------------------------------------------------------------ */

#define NET_COLUMNS "id, name, type, interface, created, doc"

static void net_from_row(sqlite3_stmt *st, net_rec *n)
{
    snprintf(n->id, sizeof(n->id), "%s", col_text(st, 0));
    n->name = xstrdup(col_text(st, 1));
    n->type = xstrdup(col_text(st, 2));
    n->ifname = xstrdup(col_text(st, 3));
    n->created = xstrdup(col_text(st, 4));
    _cleanup_json_ json_t *doc = json_loads(col_text(st, 5), 0, NULL);
    n->subnet = xstrdup(jx_str(doc, "subnet", ""));
    n->subnet6 = xstrdup(jx_str(doc, "subnet6", ""));
    n->gateway = xstrdup(jx_str(doc, "gateway", ""));
    n->gateway6 = xstrdup(jx_str(doc, "gateway6", ""));
    n->nat = xstrdup(jx_str(doc, "nat", ""));
    n->icc = jx_bool(doc, "icc", true);
    n->internal = jx_bool(doc, "internal", false);
    json_t *labels = json_object_get(doc, "labels");
    n->labels = json_is_object(labels) ? json_incref(labels) : json_object();
    n->ip_range = xstrdup(jx_str(doc, "ip_range", ""));
    n->docker_default = jx_bool(doc, "docker_default", false);
}

static json_t *net_json(const net_rec *n)
{
    json_t *o = json_pack(
        "{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:b, s:b, s:o, s:s, s:s}", "id", n->id,
        "name", n->name, "type", n->type, "interface", n->ifname, "subnet", n->subnet, "subnet6",
        n->subnet6, "gateway", n->gateway, "gateway6", n->gateway6, "nat", n->nat, "icc", n->icc,
        "internal", n->internal, "labels", n->labels ? json_deep_copy(n->labels) : json_object(),
        "ip_range", n->ip_range ? n->ip_range : "", "created", n->created ? n->created : "");
    if (n->docker_default) /* ours: the Docker door's default network (networks_default) */
        json_object_set_new(o, "docker_default", json_true());
    return o;
}

/* Every network, by name. Under the engine lock. */
static int nets_all(kl_engine *e, net_rec **out, size_t *n_out, kl_error *err)
{
    *out = NULL;
    *n_out = 0;
    store_lock(e->store);
    _cleanup_stmt_ sqlite3_stmt *st =
        store_prepare(e->store, "SELECT " NET_COLUMNS " FROM networks ORDER BY name", err);
    int r = st ? 0 : -1;
    while (st) {
        int rc = sqlite3_step(st);
        if (rc == SQLITE_DONE)
            break;
        if (rc != SQLITE_ROW) {
            r = store_fail(e->store, "listing networks", err);
            break;
        }
        *out = xrealloc(*out, (*n_out + 1) * sizeof(**out));
        memset(&(*out)[*n_out], 0, sizeof(**out));
        net_from_row(st, &(*out)[(*n_out)++]);
    }
    store_unlock(e->store);
    return r;
}

static void nets_free(net_rec *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        net_rec_clear(&v[i]);
    free(v);
}

/* Exact id, exact name, then a unique id prefix (API.md decision 5 applied to networks: no
 * crash on ambiguity). 1 found, 0 not found, -1 error (ambiguous: EINVAL). */
static int net_find(kl_engine *e, const char *ident, net_rec *out, kl_error *err)
{
    size_t n = 0;
    net_rec *v = NULL;
    if (nets_all(e, &v, &n, err) < 0)
        return -1;
    ssize_t hit = -1;
    for (size_t i = 0; hit < 0 && i < n; i++)
        if (strcmp(v[i].id, ident) == 0)
            hit = (ssize_t)i;
    for (size_t i = 0; hit < 0 && i < n; i++)
        if (strcmp(v[i].name, ident) == 0)
            hit = (ssize_t)i;
    size_t len = strlen(ident);
    int r = 0;
    if (hit < 0 && len > 0) {
        size_t matches = 0;
        for (size_t i = 0; i < n; i++)
            if (strncmp(v[i].id, ident, len) == 0) {
                matches++;
                hit = (ssize_t)i;
            }
        if (matches > 1) {
            _cleanup_buf_ kl_buf names = KL_BUF_INIT;
            for (size_t i = 0; i < n; i++)
                if (strncmp(v[i].id, ident, len) == 0)
                    kl_buf_printf(&names, "%s%s", names.len ? ", " : "", v[i].id);
            kl_buf_append(&names, "", 1);
            r = kl_error_set(err, EINVAL, "network id prefix '%s' is ambiguous: %s", ident,
                             names.data);
            hit = -1;
        }
    }
    if (r == 0 && hit >= 0) {
        *out = v[hit];
        memset(&v[hit], 0, sizeof(v[hit]));
        r = 1;
    }
    nets_free(v, n);
    return r;
}

/* Endpoints matching `where` (a SQL condition on ?1), in connect order. */
static int eps_query(kl_engine *e, const char *where, const char *arg, ep_rec **out, size_t *n_out,
                     kl_error *err)
{
    *out = NULL;
    *n_out = 0;
    _cleanup_free_ char *sql =
        xasprintf("SELECT id, container_id, network_id, ip_address, ip_address6, epair,"
                  " json_extract(doc, '$.aliases') FROM endpoints"
                  " WHERE %s ORDER BY rowid",
                  where);
    store_lock(e->store);
    _cleanup_stmt_ sqlite3_stmt *st = store_prepare(e->store, sql, err);
    int r = st ? 0 : -1;
    if (st && arg)
        sqlite3_bind_text(st, 1, arg, -1, SQLITE_TRANSIENT);
    while (st) {
        int rc = sqlite3_step(st);
        if (rc == SQLITE_DONE)
            break;
        if (rc != SQLITE_ROW) {
            r = store_fail(e->store, "listing endpoints", err);
            break;
        }
        *out = xrealloc(*out, (*n_out + 1) * sizeof(**out));
        ep_rec *p = &(*out)[(*n_out)++];
        memset(p, 0, sizeof(*p));
        snprintf(p->id, sizeof(p->id), "%s", col_text(st, 0));
        snprintf(p->container_id, sizeof(p->container_id), "%s", col_text(st, 1));
        snprintf(p->network_id, sizeof(p->network_id), "%s", col_text(st, 2));
        p->ip = xstrdup(col_text(st, 3));
        p->ip6 = xstrdup(col_text(st, 4));
        p->epair = sqlite3_column_type(st, 5) == SQLITE_NULL ? NULL : xstrdup(col_text(st, 5));
        _cleanup_json_ json_t *al = json_loads(col_text(st, 6), 0, NULL);
        p->aliases = jx_strv(al);
    }
    store_unlock(e->store);
    if (r < 0) {
        ep_recs_free(*out, *n_out);
        *out = NULL;
        *n_out = 0;
    }
    return r;
}

static json_t *ep_json(const ep_rec *p)
{
    return json_pack("{s:s, s:s, s:s, s:o, s:s, s:s, s:o}", "id", p->id, "network_id",
                     p->network_id, "container_id", p->container_id, "epair",
                     p->epair ? json_string(p->epair) : json_null(), "ip_address", p->ip,
                     "ip_address6", p->ip6, "aliases", jx_from_strv(p->aliases));
}

static int ep_set_epair(kl_engine *e, const char *ep_id, const char *epair, kl_error *err)
{
    store_lock(e->store);
    _cleanup_stmt_ sqlite3_stmt *st =
        store_prepare(e->store, "UPDATE endpoints SET epair = ?2 WHERE id = ?1", err);
    int r = -1;
    if (st) {
        sqlite3_bind_text(st, 1, ep_id, -1, SQLITE_TRANSIENT);
        if (epair)
            sqlite3_bind_text(st, 2, epair, -1, SQLITE_TRANSIENT);
        else
            sqlite3_bind_null(st, 2);
        r = sqlite3_step(st) == SQLITE_DONE ? 0 : store_fail(e->store, "updating endpoint", err);
    }
    store_unlock(e->store);
    return r;
}

static int exec_with_id(kl_engine *e, const char *sql, const char *id, kl_error *err)
{
    store_lock(e->store);
    _cleanup_stmt_ sqlite3_stmt *st = store_prepare(e->store, sql, err);
    int r = -1;
    if (st) {
        sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
        r = sqlite3_step(st) == SQLITE_DONE ? 0 : store_fail(e->store, "updating the store", err);
    }
    store_unlock(e->store);
    return r;
}

/* ---- the running side of containers ---------------------------------------------------- */

int containers_pid(kl_engine *e, const char *id)
{
    _cleanup_free_ char *dir = containers_run_dir(e, id);
    if (!dir)
        return -1;
    _cleanup_free_ char *path = xasprintf("%s/state.json", dir);
    _cleanup_json_ json_t *state = json_load_file(path, 0, NULL);
    if (!state || !jx_bool(state, "running", false))
        return -1;
    long long pid = jx_int(state, "container_pid", -1);
    if (pid <= 1 || pid > 0x7fffffff)
        return -1;
    if (kill((pid_t)pid, 0) < 0 && errno == ESRCH)
        return -1;
    return (int)pid;
}

/* The host end of an endpoint's veth: "kv" + its id (14 characters). */
static void host_if_name(const char *ep_id, char out[HOST_IFNAME_MAX + 1])
{
    snprintf(out, HOST_IFNAME_MAX + 1, "kv%s", ep_id);
}

/* The gateway address of `family` a container on `n` routes through, or "" (only bridge
 * networks have gateways; `<auto>` is the subnet's first host address). */
static void net_gateway_addr(const net_rec *n, int family, char out[IPAM_STRLEN])
{
    out[0] = '\0';
    const char *gw = family == 4 ? n->gateway : n->gateway6;
    const char *subnet = family == 4 ? n->subnet : n->subnet6;
    if (!is_bridge_type(n->type) || !gw[0])
        return;
    kl_error ignored = KL_ERROR_INIT;
    ipam_prefix p;
    ipam_addr a;
    if (strcmp(gw, AUTO) == 0) {
        if (!subnet[0] || ipam_prefix_parse(subnet, &p, &ignored) < 0 ||
            ipam_gateway_auto(&p, &a, &ignored) < 0)
            return;
    } else {
        if (ipam_prefix_parse(gw, &p, &ignored) < 0)
            return;
        a = p.addr;
    }
    ipam_addr_format(&a, out);
}

static int prefix_len_of(const char *subnet)
{
    ipam_prefix p;
    kl_error ignored = KL_ERROR_INIT;
    if (!subnet[0] || ipam_prefix_parse(subnet, &p, &ignored) < 0)
        return -1;
    return p.len;
}

/* True if `nsfd` is kleened's own network namespace: a container there (a wrong or stale
 * pid) must never get a veth end, addresses or routes. */
static bool is_own_netns(int nsfd)
{
    kl_error ignored = KL_ERROR_INIT;
    _cleanup_close_ int self = host_netns_open_pid(getpid(), &ignored);
    struct stat a, b;
    if (self < 0 || fstat(self, &a) < 0 || fstat(nsfd, &b) < 0)
        return true;
    return a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

/* Give a running container (netns `nsfd`) its veth on network `n` for endpoint `ep`. */
static int plug(kl_engine *e, const net_rec *n, const ep_rec *ep, int nsfd, kl_error *err)
{
    if (is_own_netns(nsfd))
        return kl_error_set(err, EINVAL,
                            "connecting container %s to network %s: the container does not "
                            "have its own network namespace",
                            ep->container_id, n->name);
    char host_if[HOST_IFNAME_MAX + 1];
    host_if_name(ep->id, host_if);
    kl_error ignored = KL_ERROR_INIT;
    /* A leftover of ours (same endpoint id) from an earlier run. */
    if (host_link_exists(-1, host_if))
        host_link_delete(-1, host_if, &ignored);
    char ctr_if[HOST_IFNAME_MAX + 1] = "";
    for (int i = 0; i < 100; i++) {
        snprintf(ctr_if, sizeof(ctr_if), "eth%d", i);
        if (!host_link_exists(nsfd, ctr_if))
            break;
    }
    /* Privileged: a veth pair named from our endpoint id, its container end created inside
     * the container's netns (fd opened from the reaper pid the monitor recorded); the
     * addresses come from our IPAM, never from the container. */
    const char *master = n->ifname;
    if (host_veth_create(host_if, master, nsfd, ctr_if, err) < 0) {
        if (kleened_owns_link(n))
            return kl_error_prefix(err, "connecting container %s to network %s", ep->container_id,
                                   n->name);
        /* A custom interface that cannot take bridge ports: the veth stays unattached. */
        ignored = (kl_error)KL_ERROR_INIT;
        master = NULL;
        if (host_veth_create(host_if, NULL, nsfd, ctr_if, err) < 0)
            return kl_error_prefix(err, "connecting container %s to network %s", ep->container_id,
                                   n->name);
    }
    int r = 0;
    const char *ips[2] = {ep->ip, ep->ip6};
    const char *subnets[2] = {n->subnet, n->subnet6};
    for (int f = 0; r == 0 && f < 2; f++) {
        if (!ips[f][0])
            continue;
        int len = prefix_len_of(subnets[f]);
        _cleanup_free_ char *cidr = xasprintf("%s/%d", ips[f], len < 0 ? (f ? 128 : 32) : len);
        r = host_addr_add(nsfd, ctr_if, cidr, err);
    }
    for (int f = 0; r == 0 && f < 2; f++) {
        char gw[IPAM_STRLEN];
        net_gateway_addr(n, f ? 6 : 4, gw);
        if (!gw[0] || !ips[f][0])
            continue;
        kl_error rerr = KL_ERROR_INIT;
        /* A second network's gateway: the first default route stays. */
        if (host_route_add_default(nsfd, gw, ctr_if, &rerr) < 0)
            log_warn("container %s: default route via %s: %s", ep->container_id, gw, rerr.msg);
    }
    if (r == 0 && master) {
        kl_error herr = KL_ERROR_INIT;
        if (host_bridge_port_set_hairpin(host_if, true, &herr) < 0)
            log_warn("container %s: hairpin on %s: %s", ep->container_id, host_if, herr.msg);
    }
    if (r == 0)
        r = ep_set_epair(e, ep->id, host_if, err);
    if (r < 0) {
        host_link_delete(-1, host_if, &ignored);
        return kl_error_prefix(err, "connecting container %s to network %s", ep->container_id,
                               n->name);
    }
    return 0;
}

/* Forget an endpoint's veth, deleting it first (deleting one end deletes the pair) unless
 * `with_netns`: its container has ended, and the pair goes when the kernel destroys the
 * container's netns, asynchronously; deleting it here would cost ~20 ms (an RCU sync,
 * HOST-FACTS §3) on the path of every container end. A pair still there at the next start
 * is deleted by plug. */
static void unplug_ep(kl_engine *e, const ep_rec *ep, bool with_netns)
{
    char host_if[HOST_IFNAME_MAX + 1];
    host_if_name(ep->id, host_if);
    kl_error err = KL_ERROR_INIT;
    if (!with_netns && host_link_exists(-1, host_if) && host_link_delete(-1, host_if, &err) < 0 &&
        err.code != ENODEV)
        log_warn("endpoint %s: deleting %s: %s", ep->id, host_if, err.msg);
    err = (kl_error)KL_ERROR_INIT;
    if (ep->epair && ep_set_epair(e, ep->id, NULL, &err) < 0)
        log_warn("endpoint %s: %s", ep->id, err.msg);
}

/* ---- a runtime that wires networks itself (host_runtime_wires_endpoints: FreeBSD) -------
 * The container's endpoints go to the runtime in its spec at start
 * (networks_container_endpoints); connect and disconnect of a running container go to its
 * monitor (host_monitor_network), which owns the jail's addresses and epairs. */

/* The runtime's view of endpoint `ep` on network `n`; strings owned by *pool. */
static void runtime_endpoint(const net_rec *n, const ep_rec *ep, host_endpoint *out, char ***pool)
{
    char gw4[IPAM_STRLEN], gw6[IPAM_STRLEN];
    net_gateway_addr(n, 4, gw4);
    net_gateway_addr(n, 6, gw6);
    const char *v[] = {n->ifname, ep->ip, ep->ip6, gw4, gw6};
    const char *kept[5];
    for (int i = 0; i < 5; i++) {
        kept[i] = NULL;
        if (v[i] && v[i][0]) {
            strv_push(pool, v[i]);
            kept[i] = (*pool)[strv_len(*pool) - 1];
        }
    }
    int p4 = prefix_len_of(n->subnet), p6 = prefix_len_of(n->subnet6);
    *out = (host_endpoint){.ifname = kept[0],
                           .ip4 = kept[1],
                           .ip6 = kept[2],
                           .prefix4 = p4 < 0 ? 32 : p4,
                           .prefix6 = p6 < 0 ? 128 : p6,
                           .gw4 = ep->ip[0] ? kept[3] : NULL,
                           .gw6 = ep->ip6[0] ? kept[4] : NULL};
}

/* Connect or disconnect a running container's endpoint through its monitor; 0 (nothing to
 * do) when the container does not run. Under the engine lock. */
static int monitor_network(kl_engine *e, const net_rec *n, const ep_rec *ep, bool connect,
                           kl_error *err)
{
    if (containers_pid(e, ep->container_id) <= 0)
        return 0;
    _cleanup_strv_ char **pool = NULL;
    host_endpoint hep;
    runtime_endpoint(n, ep, &hep, &pool);
    _cleanup_free_ char *run_dir = containers_run_dir(e, ep->container_id);
    kl_error cerr = KL_ERROR_INIT;
    host_monitor *m = host_monitor_connect(run_dir, &cerr);
    if (!m)
        return 0; /* its monitor is gone: the container is not running (any more) */
    int r = host_monitor_network(m, connect, &hep, err);
    host_monitor_close(m);
    if (r < 0)
        return kl_error_prefix(err, "%s container %s %s network %s",
                               connect ? "connecting" : "disconnecting", ep->container_id,
                               connect ? "to" : "from", n->name);
    return 0;
}

static void unplug(kl_engine *e, const ep_rec *ep)
{
    if (host_runtime_wires_endpoints()) {
        net_rec n = {0};
        kl_error err = KL_ERROR_INIT;
        if (net_find(e, ep->network_id, &n, &err) == 1 &&
            monitor_network(e, &n, ep, false, &err) < 0)
            log_warn("endpoint %s: %s", ep->id, err.msg);
        net_rec_clear(&n);
        kl_error eerr = KL_ERROR_INIT;
        if (ep->epair && ep_set_epair(e, ep->id, NULL, &eerr) < 0)
            log_warn("endpoint %s: %s", ep->id, eerr.msg);
        return;
    }
    unplug_ep(e, ep, false);
}

int networks_container_endpoints(kl_engine *e, const char *container_id, networks_endpoints *out,
                                 kl_error *err)
{
    *out = (networks_endpoints){0};
    engine_lock(e);
    container_record c = {0};
    ep_rec *eps = NULL;
    size_t n_eps = 0;
    int r = containers_get(e, container_id, &c, err);
    bool wired = r == 0 && c.network_driver && strcmp(c.network_driver, "host") != 0 &&
                 strcmp(c.network_driver, "disabled") != 0;
    if (wired)
        r = eps_query(e, "container_id = ?1", c.id, &eps, &n_eps, err);
    if (wired && r == 0 && n_eps > 0)
        out->v = xcalloc(n_eps, sizeof(*out->v));
    for (size_t i = 0; wired && r == 0 && i < n_eps; i++) {
        net_rec n = {0};
        int found = net_find(e, eps[i].network_id, &n, err);
        if (found == 1)
            runtime_endpoint(&n, &eps[i], &out->v[out->n++], &out->pool);
        else if (found == 0)
            r = kl_error_set(err, ENOENT, "network %s not found", eps[i].network_id);
        else
            r = -1;
        net_rec_clear(&n);
    }
    ep_recs_free(eps, n_eps);
    container_record_clear(&c);
    engine_unlock(e);
    if (r < 0)
        networks_endpoints_clear(out);
    return r;
}

void networks_endpoints_clear(networks_endpoints *eps)
{
    free(eps->v);
    strv_free(eps->pool);
    *eps = (networks_endpoints){0};
}

void networks_container_record_ports(kl_engine *e, const char *container_id)
{
    _cleanup_free_ char *run_dir = containers_run_dir(e, container_id);
    kl_error err = KL_ERROR_INIT;
    _cleanup_free_ char *st = host_monitor_status(run_dir, &err);
    _cleanup_json_ json_t *j = st ? json_loads(st, 0, NULL) : NULL;
    json_t *epairs = json_object_get(json_object_get(j, "jail"), "epairs");
    if (!json_array_size(epairs))
        return;
    engine_lock(e);
    ep_rec *eps = NULL;
    size_t n_eps = 0;
    if (eps_query(e, "container_id = ?1", container_id, &eps, &n_eps, &err) < 0)
        log_warn("container %s: %s", container_id, err.msg);
    for (size_t i = 0; i < n_eps; i++) {
        net_rec n = {0};
        if (net_find(e, eps[i].network_id, &n, &err) != 1)
            continue;
        size_t k;
        json_t *x;
        json_array_foreach(epairs, k, x)
        {
            const char *ep = jx_str(x, "epair", "");
            if (strcmp(jx_str(x, "ifname", ""), n.ifname) == 0 && host_ifname_is_valid(ep) &&
                ep_set_epair(e, eps[i].id, ep, &err) < 0)
                log_warn("endpoint %s: %s", eps[i].id, err.msg);
        }
        net_rec_clear(&n);
    }
    ep_recs_free(eps, n_eps);
    engine_unlock(e);
}

/* ---- firewall -------------------------------------------------------------------------- */

typedef struct fw_build {
    host_fw_network *nets;
    size_t n_nets;
    host_fw_port *ports;
    size_t n_ports;
    char **pool;    /* owned strings the arrays point into */
    char ***ifaces; /* owned interface lists of ports */
    size_t n_ifaces;
} fw_build;

static const char *pool_keep(fw_build *b, const char *s)
{
    strv_push(&b->pool, s);
    return b->pool[strv_len(b->pool) - 1];
}

static void fw_build_free(fw_build *b)
{
    free(b->nets);
    free(b->ports);
    strv_free(b->pool);
    for (size_t i = 0; i < b->n_ifaces; i++)
        strv_free(b->ifaces[i]);
    free(b->ifaces);
}

static const char *normalized_subnet(fw_build *b, const char *subnet)
{
    ipam_prefix p;
    kl_error ignored = KL_ERROR_INIT;
    if (!subnet[0] || ipam_prefix_parse(subnet, &p, &ignored) < 0)
        return NULL;
    char out[IPAM_STRLEN];
    ipam_prefix_format_network(&p, out);
    return pool_keep(b, out);
}

/* Fill the addresses of a container's published ports (API.md §5.5) in the store, like the
 * original does at every regeneration. Best effort. */
static void save_port_addresses(kl_engine *e, const char *id, json_t *ports)
{
    _cleanup_free_ char *text = json_dumps(ports, JSON_COMPACT);
    if (!text)
        return;
    kl_error err = KL_ERROR_INIT;
    store_lock(e->store);
    _cleanup_stmt_ sqlite3_stmt *st =
        store_prepare(e->store,
                      "UPDATE containers SET doc = json_set(doc, '$.public_ports', json(?2))"
                      " WHERE id = ?1 AND json_type(doc, '$.public_ports') = 'array'",
                      &err);
    if (st) {
        sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 2, text, -1, SQLITE_TRANSIENT);
        if (sqlite3_step(st) != SQLITE_DONE)
            store_fail(e->store, "saving published port addresses", &err);
    }
    store_unlock(e->store);
    if (err.msg[0])
        log_warn("container %s: %s", id, err.msg);
}

static void fw_add_container_ports(kl_engine *e, fw_build *b, const char *cid, const net_rec *nets,
                                   size_t n_nets, const char *gw_if, const char *ended)
{
    ep_rec *eps = NULL;
    size_t n_eps = 0;
    kl_error err = KL_ERROR_INIT;
    if (eps_query(e, "container_id = ?1", cid, &eps, &n_eps, &err) < 0) {
        log_warn("firewall: container %s: %s", cid, err.msg);
        return;
    }
    const char *ip = "", *ip6 = "", *bridge = NULL;
    for (size_t i = 0; i < n_eps; i++) {
        bool take = false;
        if (!ip[0] && eps[i].ip[0]) {
            ip = pool_keep(b, eps[i].ip);
            take = true;
        }
        if (!ip6[0] && eps[i].ip6[0]) {
            ip6 = pool_keep(b, eps[i].ip6);
            take = true;
        }
        for (size_t k = 0; take && !bridge && k < n_nets; k++)
            if (strcmp(nets[k].id, eps[i].network_id) == 0)
                bridge = pool_keep(b, nets[k].ifname);
    }
    ep_recs_free(eps, n_eps);

    container_record rec = {0};
    if (containers_get(e, cid, &rec, &err) < 0) {
        log_warn("firewall: container %s: %s", cid, err.msg);
        return;
    }
    /* `ended`: its monitor may not have recorded the end yet. */
    bool running = !(ended && strcmp(cid, ended) == 0) && containers_pid(e, cid) >= 0;
    _cleanup_json_ json_t *ports = rec.public_ports ? json_deep_copy(rec.public_ports) : NULL;
    bool changed = false;
    size_t i;
    json_t *port;
    json_array_foreach(ports, i, port)
    {
        if (strcmp(jx_str(port, "ip_address", ""), ip) != 0 ||
            strcmp(jx_str(port, "ip_address6", ""), ip6) != 0) {
            json_object_set_new(port, "ip_address", json_string(ip));
            json_object_set_new(port, "ip_address6", json_string(ip6));
            changed = true;
        }
        if (!running || (!ip[0] && !ip6[0]))
            continue;
        portspec ps;
        kl_error perr = KL_ERROR_INIT;
        if (portspec_parse(jx_str(port, "host_port", ""), jx_str(port, "container_port", ""), &ps,
                           &perr) < 0) {
            log_warn("firewall: container %s: %s", cid, perr.msg);
            continue;
        }
        char **ifs = jx_strv(json_object_get(port, "interfaces"));
        if (!ifs || !ifs[0]) {
            strv_free(ifs);
            ifs = NULL;
            if (gw_if[0])
                strv_push(&ifs, gw_if);
        }
        bool ok = true;
        for (char **p = ifs; p && *p; p++)
            ok = ok && host_ifname_is_valid(*p);
        if (!ok) {
            log_warn("firewall: container %s: invalid interface in published port", cid);
            strv_free(ifs);
            continue;
        }
        b->ifaces = xrealloc(b->ifaces, (b->n_ifaces + 1) * sizeof(*b->ifaces));
        b->ifaces[b->n_ifaces++] = ifs;
        b->ports = xrealloc(b->ports, (b->n_ports + 1) * sizeof(*b->ports));
        b->ports[b->n_ports++] = (host_fw_port){
            .is_udp = strcmp(jx_str(port, "protocol", "tcp"), "udp") == 0,
            .host_first = ps.host_first,
            .host_last = ps.host_last,
            .ctr_first = ps.ctr_first,
            .ctr_last = ps.ctr_last,
            .interfaces = (const char *const *)ifs,
            .n_interfaces = strv_len(ifs),
            .bridge = bridge,
            .ip = ip,
            .ip6 = ip6,
            .host_addr = *jx_str(port, "host_address", "")
                             ? pool_keep(b, jx_str(port, "host_address", ""))
                             : NULL,
        };
    }
    if (changed)
        save_port_addresses(e, cid, ports);
    container_record_clear(&rec);
}

/* The bridge ports of network n's running containers that a runtime wiring networks itself
 * recorded (FreeBSD's vnet epairs: their `a` ends); NULL elsewhere or when there are none.
 * `ended`: a container that counts as stopped. */
static const char *const *fw_members(kl_engine *e, fw_build *b, const net_rec *n, const char *ended)
{
    if (!host_runtime_wires_endpoints())
        return NULL;
    ep_rec *eps = NULL;
    size_t n_eps = 0;
    kl_error err = KL_ERROR_INIT;
    if (eps_query(e, "network_id = ?1 AND epair IS NOT NULL", n->id, &eps, &n_eps, &err) < 0)
        log_warn("firewall: network %s: %s", n->name, err.msg);
    char **v = NULL;
    for (size_t i = 0; i < n_eps; i++) {
        if ((ended && strcmp(eps[i].container_id, ended) == 0) ||
            containers_pid(e, eps[i].container_id) < 0)
            continue;
        _cleanup_free_ char *a = xasprintf("%sa", eps[i].epair);
        if (host_ifname_is_valid(a))
            strv_push(&v, a);
    }
    ep_recs_free(eps, n_eps);
    if (!v)
        return NULL;
    b->ifaces = xrealloc(b->ifaces, (b->n_ifaces + 1) * sizeof(*b->ifaces));
    b->ifaces[b->n_ifaces++] = v; /* freed with the build */
    return (const char *const *)v;
}

/* Under the engine lock. Builds the whole ruleset from the store and brings the table to it:
 * host_fw_sync changes only published-port elements when the networks stay as they are, and
 * runs nothing when nothing changed (a container without published ports). `ended`: a
 * container that counts as stopped, or NULL. */
static int fw_apply_locked(kl_engine *e, const char *ended, kl_error *err)
{
    fw_build b = {0};
    net_rec *nets = NULL;
    size_t n_nets = 0;
    if (nets_all(e, &nets, &n_nets, err) < 0)
        return -1;
    b.nets = xcalloc(n_nets + 1, sizeof(*b.nets));
    for (size_t i = 0; i < n_nets; i++) {
        const net_rec *n = &nets[i];
        /* API.md decision 10: no rule names an interface that does not exist. */
        if (!host_link_exists(-1, n->ifname)) {
            log_warn("firewall: network %s: interface %s does not exist", n->name, n->ifname);
            continue;
        }
        b.nets[b.n_nets++] = (host_fw_network){
            .bridge = pool_keep(&b, n->ifname),
            .subnet = normalized_subnet(&b, n->subnet),
            .subnet6 = normalized_subnet(&b, n->subnet6),
            .nat_if = n->nat[0] ? pool_keep(&b, n->nat) : NULL,
            .icc = n->icc,
            .internal = n->internal,
            .members = fw_members(e, &b, n, ended),
        };
    }
    char gw_if[HOST_IFNAME_MAX + 1];
    host_gateway_if(e, gw_if);

    char **cids = NULL;
    store_lock(e->store);
    {
        _cleanup_stmt_ sqlite3_stmt *st = store_prepare(
            e->store,
            "SELECT container_id FROM endpoints GROUP BY container_id ORDER BY MIN(rowid)", err);
        while (st && sqlite3_step(st) == SQLITE_ROW)
            strv_push(&cids, col_text(st, 0));
    }
    store_unlock(e->store);
    for (char **c = cids; c && *c; c++)
        fw_add_container_ports(e, &b, *c, nets, n_nets, gw_if, ended);
    strv_free(cids);

    host_fw_config cfg = {
        .networks = b.nets, .n_networks = b.n_nets, .ports = b.ports, .n_ports = b.n_ports};
    if (!e->fw)
        e->fw = host_fw_new();
    int r = host_fw_sync(e->fw, &cfg, err);
    if (r > 0)
        log_debug("firewall: %s", r == 1 ? "published ports changed" : "table replaced");
    fw_build_free(&b);
    nets_free(nets, n_nets);
    return r;
}

/* After a change: apply, and only log a failure (the original does the same). */
static void fw_update_ended(kl_engine *e, const char *ended)
{
    kl_error err = KL_ERROR_INIT;
    if (fw_apply_locked(e, ended, &err) < 0)
        log_warn("firewall: %s", err.msg);
}

static void fw_update(kl_engine *e)
{
    fw_update_ended(e, NULL);
}

int networks_firewall_apply(kl_engine *e, kl_error *err)
{
    engine_lock(e);
    int r = fw_apply_locked(e, NULL, err);
    engine_unlock(e);
    return r;
}

static void hosts_refresh_cids_locked(kl_engine *e, char *const *cids);

/* ---- create, list, inspect, remove, prune ---------------------------------------------- */

/* Whether a network row has `value` in `column` (a column name of ours, never input). */
static bool network_has(kl_engine *e, const char *column, const char *value)
{
    store_lock(e->store);
    kl_error ignored = KL_ERROR_INIT;
    _cleanup_free_ char *sql = xasprintf("SELECT 1 FROM networks WHERE %s = ?1", column);
    _cleanup_stmt_ sqlite3_stmt *st = store_prepare(e->store, sql, &ignored);
    bool found = false;
    if (st) {
        sqlite3_bind_text(st, 1, value, -1, SQLITE_TRANSIENT);
        found = sqlite3_step(st) == SQLITE_ROW;
    }
    store_unlock(e->store);
    return found;
}

static bool interface_used(kl_engine *e, const char *ifname)
{
    return network_has(e, "interface", ifname);
}

static bool name_taken(kl_engine *e, const char *name)
{
    return network_has(e, "name", name);
}

/* Under the engine lock: refuse a subnet (or subnet6) that shares addresses with another
 * network's, as Docker does (two bridges routing the same addresses make both unreachable);
 * EEXIST naming the other network. */
static int check_subnet_overlap(kl_engine *e, const char *subnet, const char *subnet6,
                                kl_error *err)
{
    size_t n = 0;
    net_rec *v = NULL;
    if (nets_all(e, &v, &n, err) < 0)
        return -1;
    int r = 0;
    for (int f = 0; r == 0 && f < 2; f++) {
        const char *mine = f ? subnet6 : subnet;
        ipam_prefix p;
        kl_error ignored = KL_ERROR_INIT;
        if (!mine[0] || ipam_prefix_parse(mine, &p, &ignored) < 0)
            continue;
        for (size_t i = 0; r == 0 && i < n; i++) {
            const char *theirs = f ? v[i].subnet6 : v[i].subnet;
            ipam_prefix q;
            if (!theirs[0] || ipam_prefix_parse(theirs, &q, &ignored) < 0)
                continue;
            if (ipam_prefix_overlaps(&p, &q)) {
                char a[IPAM_STRLEN], b[IPAM_STRLEN];
                ipam_prefix_format_network(&p, a);
                ipam_prefix_format_network(&q, b);
                r = kl_error_set(err, EEXIST,
                                 "subnet %s overlaps %s of network '%s' (set allow_subnet_overlap "
                                 "to share it)",
                                 a, b, v[i].name);
            }
        }
    }
    nets_free(v, n);
    return r;
}

/* Create (or keep) the bridge of a network kleened owns, up, with its `<auto>` gateway
 * addresses. `fresh`: the link must not exist yet. */
static int bring_up_link(const net_rec *n, bool fresh, kl_error *err)
{
    bool exists = host_link_exists(-1, n->ifname);
    if (fresh && exists)
        return kl_error_set(err, EEXIST, "interface %s already exists", n->ifname);
    /* Privileged: a bridge named by a validated name that no network and no host link
     * uses; nothing else on the host is touched. */
    if (!exists && (strcmp(n->type, "loopback") == 0 ? host_loopback_create(n->ifname, err)
                                                     : host_bridge_create(n->ifname, err)) < 0)
        return -1;
    if (host_link_set_up(-1, n->ifname, true, err) < 0)
        return -1;
    if (!is_bridge_type(n->type))
        return 0;
    char **have = NULL;
    kl_error ignored = KL_ERROR_INIT;
    if (host_addr_list(-1, n->ifname, &have, &ignored) < 0)
        have = NULL;
    int r = 0;
    for (int f = 0; r == 0 && f < 2; f++) {
        const char *gw = f ? n->gateway6 : n->gateway;
        const char *subnet = f ? n->subnet6 : n->subnet;
        if (strcmp(gw, AUTO) != 0 || !subnet[0])
            continue;
        char addr[IPAM_STRLEN];
        net_gateway_addr(n, f ? 6 : 4, addr);
        if (!addr[0])
            continue;
        _cleanup_free_ char *cidr = xasprintf("%s/%d", addr, prefix_len_of(subnet));
        bool present = false;
        for (char **h = have; h && *h; h++)
            present = present || strcmp(*h, cidr) == 0;
        if (!present)
            r = host_addr_add(-1, n->ifname, cidr, err);
    }
    strv_free(have);
    if (r == 0) {
        kl_error lerr = KL_ERROR_INIT;
        if (host_bridge_set_route_localnet(n->ifname, &lerr) < 0)
            log_debug("network %s: route_localnet: %s", n->name, lerr.msg);
    }
    return r;
}

/* `ip_range` (ours): an IPv4 prefix inside the IPv4 subnet. */
static int check_ip_range(const char *range, const char *subnet, kl_error *err)
{
    ipam_prefix r, s;
    if (ipam_prefix_parse(range, &r, err) < 0 || r.addr.family != 4)
        return kl_error_set(err, EINVAL, "invalid ip range '%s': an IPv4 prefix is expected",
                            range);
    if (!subnet[0])
        return kl_error_set(err, EINVAL, "an ip range needs an IPv4 subnet");
    if (ipam_prefix_parse(subnet, &s, err) < 0 || s.addr.family != 4)
        return kl_error_set(err, EINVAL, "invalid subnet '%s'", subnet);
    ipam_addr first;
    ipam_prefix_first(&r, &first);
    if (r.len < s.len || !ipam_prefix_contains(&s, &first))
        return kl_error_set(err, EINVAL, "ip range %s is not inside the subnet %s", range, subnet);
    return 0;
}

/* The first subnet of the pools (dockerd's defaults for user networks: 172.18.0.0/16 to
 * 172.31.0.0/16, then 192.168.0.0/20 to 192.168.240.0/20) that no network has a part of.
 * Under the engine lock. */
static int pick_subnet(kl_engine *e, bool docker_default, char out[IPAM_STRLEN], kl_error *err)
{
    size_t n = 0;
    net_rec *v = NULL;
    if (nets_all(e, &v, &n, err) < 0)
        return -1;
    int r = -1;
    /* the default network first tries dockerd's default bridge subnet, 172.17.0.0/16 */
    for (int i = docker_default ? -1 : 0; r < 0 && i < 14 + 16; i++) {
        if (i < 0)
            snprintf(out, IPAM_STRLEN, "172.17.0.0/16");
        else if (i < 14)
            snprintf(out, IPAM_STRLEN, "172.%d.0.0/16", 18 + i);
        else
            snprintf(out, IPAM_STRLEN, "192.168.%d.0/20", (i - 14) * 16);
        ipam_prefix p;
        kl_error ignored = KL_ERROR_INIT;
        ipam_prefix_parse(out, &p, &ignored);
        bool taken = false;
        for (size_t k = 0; !taken && k < n; k++) {
            ipam_prefix q;
            taken = v[k].subnet[0] && ipam_prefix_parse(v[k].subnet, &q, &ignored) == 0 &&
                    ipam_prefix_overlaps(&p, &q);
        }
        if (!taken)
            r = 0;
    }
    nets_free(v, n);
    if (r < 0)
        kl_error_set(err, ENOSPC, "no free subnet left in the address pools: give one");
    return r;
}

char *networks_create(kl_engine *e, const json_t *config, kl_error *err)
{
    const char *name = jx_str(config, "name", "");
    const char *type = jx_str(config, "type", "");
    static const char *const fields[] = {"subnet", "subnet6", "gateway", "gateway6"};
    for (size_t i = 0; i < KL_ARRAY_SIZE(fields); i++)
        if (ipam_config_field_check(fields[i], jx_str(config, fields[i], ""), err) < 0)
            return NULL;
    if (strcmp(type, "bridge") != 0 && strcmp(type, "loopback") != 0 &&
        strcmp(type, "custom") != 0) {
        kl_error_set(err, EINVAL, "invalid network type '%s'", type);
        return NULL;
    }
    if (!kl_name_is_valid(name)) { /* the API refuses it first; this guards other callers */
        kl_error_set(err, EINVAL,
                     "invalid network name: 1-%d characters of [a-zA-Z0-9][a-zA-Z0-9_.-]",
                     KL_OBJECT_NAME_MAX);
        return NULL;
    }
    if (kl_labels_check(json_object_get(config, "labels"), err) < 0)
        return NULL;
    const char *subnet = jx_str(config, "subnet", "");
    const char *ip_range = jx_str(config, "ip_range", "");
    if (ip_range[0] && check_ip_range(ip_range, subnet, err) < 0)
        return NULL;
    bool auto_subnet = !subnet[0] && jx_bool(config, "auto_subnet", false);
    const char *nat = jx_str(config, "nat", HOST_GATEWAY);
    if (nat[0] && strcmp(nat, HOST_GATEWAY) != 0 && !host_ifname_is_valid(nat)) {
        kl_error_set(err, EINVAL, "invalid nat interface '%s'", nat);
        return NULL;
    }
    const char *ifname = jx_str(config, "interface", "");
    if (ifname[0] && !host_ifname_is_valid(ifname)) {
        kl_error_set(err, EINVAL, "invalid interface name '%s': 1-15 characters of [A-Za-z0-9_.-]",
                     ifname);
        return NULL;
    }

    engine_lock(e);
    net_rec n = {0};
    char *result = NULL;
    do {
        if (name_taken(e, name)) {
            kl_error_set(err, EEXIST, "network name is already taken");
            break;
        }
        char picked[IPAM_STRLEN];
        if (auto_subnet) {
            if (pick_subnet(e, jx_bool(config, "docker_default", false), picked, err) < 0)
                break;
            subnet = picked;
        }
        if (!jx_bool(config, "allow_subnet_overlap", false) &&
            check_subnet_overlap(e, subnet, jx_str(config, "subnet6", ""), err) < 0)
            break;
        char autoname[HOST_IFNAME_MAX + 1];
        if (!ifname[0]) {
            for (int i = 0;; i++) {
                snprintf(autoname, sizeof(autoname), "kleene%d", i);
                if (!interface_used(e, autoname) && !host_link_exists(-1, autoname))
                    break;
            }
            ifname = autoname;
        }
        n.name = xstrdup(name);
        n.type = xstrdup(type);
        n.ifname = xstrdup(ifname);
        n.subnet = xstrdup(subnet);
        n.subnet6 = xstrdup(jx_str(config, "subnet6", ""));
        n.gateway = xstrdup(auto_subnet && !jx_str(config, "gateway", "")[0]
                                ? AUTO
                                : jx_str(config, "gateway", ""));
        n.ip_range = xstrdup(ip_range);
        n.gateway6 = xstrdup(jx_str(config, "gateway6", ""));
        n.icc = jx_bool(config, "icc", true);
        n.internal = jx_bool(config, "internal", false);
        if (strcmp(nat, HOST_GATEWAY) == 0) {
            char gw_if[HOST_IFNAME_MAX + 1];
            host_gateway_if(e, gw_if);
            n.nat = xstrdup(gw_if);
        } else {
            n.nat = xstrdup(nat);
        }
        if (kleened_owns_link(&n)) {
            if (interface_used(e, n.ifname)) {
                kl_error_set(err, EEXIST, "interface %s is already used by another network",
                             n.ifname);
                break;
            }
            if (host_link_exists(-1, n.ifname)) {
                kl_error_set(err, EEXIST, "creating network %s: interface %s already exists", name,
                             n.ifname);
                break;
            }
        } else if (!host_link_exists(-1, n.ifname)) {
            kl_error_set(err, ENODEV,
                         "interface %s does not exist (a custom network uses an existing one)",
                         n.ifname);
            break;
        }
        kl_id_new(n.id);
        char now[32];
        kl_time_now_iso(now);
        n.labels = json_is_object(json_object_get(config, "labels"))
                       ? json_deep_copy(json_object_get(config, "labels"))
                       : json_object();
        _cleanup_json_ json_t *docj =
            json_pack("{s:s, s:s, s:s, s:s, s:s, s:b, s:b, s:O}", "subnet", n.subnet, "subnet6",
                      n.subnet6, "gateway", n.gateway, "gateway6", n.gateway6, "nat", n.nat, "icc",
                      n.icc, "internal", n.internal, "labels", n.labels);
        if (n.ip_range[0])
            json_object_set_new(docj, "ip_range", json_string(n.ip_range));
        if (jx_bool(config, "docker_default", false))
            json_object_set_new(docj, "docker_default", json_true());
        _cleanup_free_ char *doc = json_dumps(docj, JSON_COMPACT | JSON_SORT_KEYS);
        /* The row first, then the link: a crash in between leaves a row whose link
         * networks_init() makes at the next start (the new state); the other order would
         * leave a bridge no row owns. */
        store_lock(e->store);
        _cleanup_stmt_ sqlite3_stmt *st = store_prepare(
            e->store,
            "INSERT INTO networks (id, name, type, interface, created, doc) VALUES (?,?,?,?,?,?)",
            err);
        int r = -1;
        if (st) {
            sqlite3_bind_text(st, 1, n.id, -1, SQLITE_STATIC);
            sqlite3_bind_text(st, 2, n.name, -1, SQLITE_STATIC);
            sqlite3_bind_text(st, 3, n.type, -1, SQLITE_STATIC);
            sqlite3_bind_text(st, 4, n.ifname, -1, SQLITE_STATIC);
            sqlite3_bind_text(st, 5, now, -1, SQLITE_STATIC);
            sqlite3_bind_text(st, 6, doc, -1, SQLITE_STATIC);
            r = sqlite3_step(st) == SQLITE_DONE ? 0
                                                : store_fail(e->store, "storing the network", err);
        }
        store_unlock(e->store);
        if (r < 0)
            break;
        engine_crash_point("network-create-row");
        if (kleened_owns_link(&n) && bring_up_link(&n, false, err) < 0) {
            kl_error_prefix(err, "creating network %s", name);
            kl_error ignored = KL_ERROR_INIT;
            host_link_delete(-1, n.ifname, &ignored);
            ignored = (kl_error)KL_ERROR_INIT;
            if (exec_with_id(e, "DELETE FROM networks WHERE id = ?1", n.id, &ignored) < 0)
                log_warn("network %s: %s (kleened's next start makes its link)", n.id, ignored.msg);
            break;
        }
        log_info("network %s (%s): created, %s on %s", n.id, n.name, n.type, n.ifname);
        events_emit(e->events, "network", "create", n.id, n.labels, "name", n.name, "type", n.type,
                    NULL);
        fw_update(e);
        result = xstrdup(n.id);
    } while (0);
    net_rec_clear(&n);
    engine_unlock(e);
    return result;
}

json_t *networks_list(kl_engine *e, kl_error *err)
{
    engine_lock(e);
    net_rec *v = NULL;
    size_t n = 0;
    json_t *list = NULL;
    if (nets_all(e, &v, &n, err) == 0) {
        list = json_array();
        for (size_t i = 0; i < n; i++)
            json_array_append_new(list, net_json(&v[i]));
    }
    nets_free(v, n);
    engine_unlock(e);
    return list;
}

json_t *networks_inspect(kl_engine *e, const char *ident, kl_error *err)
{
    engine_lock(e);
    net_rec n = {0};
    json_t *out = NULL;
    int found = net_find(e, ident, &n, err);
    if (found == 0)
        kl_error_set(err, ENOENT, "network not found");
    ep_rec *eps = NULL;
    size_t n_eps = 0;
    if (found == 1 && eps_query(e, "network_id = ?1", n.id, &eps, &n_eps, err) == 0) {
        json_t *list = json_array();
        for (size_t i = 0; i < n_eps; i++)
            json_array_append_new(list, ep_json(&eps[i]));
        out = json_pack("{s:o, s:o}", "network", net_json(&n), "network_endpoints", list);
    }
    ep_recs_free(eps, n_eps);
    net_rec_clear(&n);
    engine_unlock(e);
    return out;
}

/* Under the engine lock: disconnect everything, delete the link, then the rows. A crash
 * before the rows go leaves a network whose link networks_init() makes again at the next
 * start (the old state); the other order would leave a bridge no row owns. */
static int remove_locked(kl_engine *e, net_rec *n, kl_error *err)
{
    ep_rec *eps = NULL;
    size_t n_eps = 0;
    if (eps_query(e, "network_id = ?1", n->id, &eps, &n_eps, err) < 0)
        return -1;
    engine_space_for_removal(e); /* unplug writes too */
    char **cids = NULL;
    for (size_t i = 0; i < n_eps; i++) {
        unplug(e, &eps[i]);
        strv_push(&cids, eps[i].container_id);
    }
    ep_recs_free(eps, n_eps);
    if (kleened_owns_link(n)) {
        kl_error lerr = KL_ERROR_INIT;
        /* Privileged: the link is ours (created for this network, name in its row). */
        if (host_link_delete(-1, n->ifname, &lerr) < 0 && lerr.code != ENODEV)
            log_warn("network %s: deleting %s: %s", n->name, n->ifname, lerr.msg);
    }
    engine_crash_point("network-remove-unlinked");
    if (exec_with_id(e, "DELETE FROM endpoints WHERE network_id = ?1", n->id, err) < 0 ||
        exec_with_id(e, "DELETE FROM networks WHERE id = ?1", n->id, err) < 0) {
        kl_error lerr = KL_ERROR_INIT;
        if (kleened_owns_link(n) && bring_up_link(n, false, &lerr) < 0)
            log_warn("network %s: re-creating %s: %s", n->name, n->ifname, lerr.msg);
        strv_free(cids);
        return -1;
    }
    log_info("network %s (%s): removed", n->id, n->name);
    /* the disconnect of each container it had (cids: hosts refresh and events) */
    for (char **c = cids; c && *c; c++)
        events_emit(e->events, "network", "disconnect", n->id, NULL, "container", *c, "name",
                    n->name, "type", n->type, NULL);
    hosts_refresh_cids_locked(e, cids);
    strv_free(cids);
    events_emit(e->events, "network", "destroy", n->id, n->labels, "name", n->name, "type", n->type,
                NULL);
    return 0;
}

int networks_remove(kl_engine *e, const char *ident, char id_out[13], kl_error *err)
{
    engine_lock(e);
    net_rec n = {0};
    int found = net_find(e, ident, &n, err);
    int r = -1;
    if (found == 0)
        kl_error_set(err, ENOENT, "network not found.");
    if (found == 1 && remove_locked(e, &n, err) == 0) {
        if (id_out)
            snprintf(id_out, 13, "%s", n.id);
        fw_update(e);
        r = 0;
    }
    net_rec_clear(&n);
    engine_unlock(e);
    engine_space_restore(e);
    return r;
}

/* Remove every network without endpoints whose labels pass the filters; `names`: the result
 * lists names, else ids. */
static json_t *prune(kl_engine *e, const json_t *must, const json_t *must_not, const char *until,
                     bool names, kl_error *err)
{
    engine_lock(e);
    net_rec *v = NULL;
    size_t n = 0;
    json_t *ids = NULL;
    _cleanup_buf_ kl_buf failed = KL_BUF_INIT;
    if (nets_all(e, &v, &n, err) == 0) {
        ids = json_array();
        for (size_t i = 0; i < n; i++) {
            ep_rec *eps = NULL;
            size_t n_eps = 0;
            kl_error lerr = KL_ERROR_INIT;
            if (eps_query(e, "network_id = ?1", v[i].id, &eps, &n_eps, &lerr) < 0) {
                log_warn("prune: %s", lerr.msg);
                kl_buf_printf(&failed, "%snetwork %s: %s", failed.len ? "; " : "", v[i].id,
                              lerr.msg);
                continue;
            }
            ep_recs_free(eps, n_eps);
            /* the Docker door's default network stays, as dockerd's predefined ones */
            if (n_eps > 0 || !kl_labels_match_filters(v[i].labels, must, must_not) ||
                (until && strcmp(v[i].created, until) >= 0) || (names && v[i].docker_default))
                continue;
            if (remove_locked(e, &v[i], &lerr) < 0) {
                log_warn("prune: network %s: %s", v[i].id, lerr.msg);
                kl_buf_printf(&failed, "%snetwork %s: %s", failed.len ? "; " : "", v[i].id,
                              lerr.msg);
            } else {
                json_array_append_new(ids, json_string(names ? v[i].name : v[i].id));
            }
        }
        if (json_array_size(ids) > 0)
            fw_update(e);
    }
    nets_free(v, n);
    engine_unlock(e);
    engine_space_restore(e);
    /* Never a silent partial success (issue 12): name each failure and what was removed. */
    if (ids && failed.len) {
        _cleanup_free_ char *done = jx_dump(ids);
        kl_error_set(err, EIO, "pruning networks: %s (removed: %s)", failed.data, done);
        json_decref(ids);
        return NULL;
    }
    return ids;
}

json_t *networks_prune(kl_engine *e, kl_error *err)
{
    return prune(e, NULL, NULL, NULL, false, err);
}

json_t *networks_prune_matching(kl_engine *e, const json_t *label, const json_t *label_not,
                                const char *until, kl_error *err)
{
    return prune(e, label, label_not, until, true, err);
}

/* ---- connect, disconnect --------------------------------------------------------------- */

/* The addresses of `family` in use on network `n`: its endpoints' and its interface's. */
static size_t used_addresses(kl_engine *e, const net_rec *n, int family, ipam_addr **out)
{
    *out = NULL;
    size_t count = 0;
    char **texts = NULL;
    ep_rec *eps = NULL;
    size_t n_eps = 0;
    kl_error err = KL_ERROR_INIT;
    if (eps_query(e, "network_id = ?1", n->id, &eps, &n_eps, &err) == 0)
        for (size_t i = 0; i < n_eps; i++)
            if ((family == 4 ? eps[i].ip : eps[i].ip6)[0])
                strv_push(&texts, family == 4 ? eps[i].ip : eps[i].ip6);
    ep_recs_free(eps, n_eps);
    char **on_if = NULL;
    if (host_link_exists(-1, n->ifname) && host_addr_list(-1, n->ifname, &on_if, &err) == 0)
        for (char **p = on_if; p && *p; p++) {
            char *slash = strchr(*p, '/');
            if (slash)
                *slash = '\0';
            strv_push(&texts, *p);
        }
    strv_free(on_if);
    *out = xcalloc(strv_len(texts) + 1, sizeof(**out));
    for (char **p = texts; p && *p; p++) {
        kl_error ignored = KL_ERROR_INIT;
        if (ipam_addr_parse(*p, &(*out)[count], &ignored) == 0 && (*out)[count].family == family)
            count++;
    }
    strv_free(texts);
    return count;
}

static int request_address(kl_engine *e, const net_rec *n, int family, const char *request,
                           char out[IPAM_STRLEN], kl_error *err)
{
    ipam_prefix subnet;
    const char *stext = family == 4 ? n->subnet : n->subnet6;
    /* an automatic IPv4 address comes from the network's ip range when it has one (its first
     * and last address are not handed out, as for a subnet) */
    if (family == 4 && strcmp(request, AUTO) == 0 && n->ip_range && n->ip_range[0])
        stext = n->ip_range;
    bool has_subnet = stext[0] && ipam_prefix_parse(stext, &subnet, err) == 0;
    char gwtext[IPAM_STRLEN];
    net_gateway_addr(n, family, gwtext);
    ipam_addr gw;
    kl_error ignored = KL_ERROR_INIT;
    bool has_gw = gwtext[0] && ipam_addr_parse(gwtext, &gw, &ignored) == 0;
    _cleanup_free_ ipam_addr *used = NULL;
    size_t n_used = request[0] && has_subnet ? used_addresses(e, n, family, &used) : 0;
    return ipam_request(family, request, has_subnet ? &subnet : NULL, used, n_used,
                        has_gw ? &gw : NULL, out, err);
}

static int check_driver(const char *driver, const char *type, kl_error *err)
{
    if (strcmp(driver, "host") == 0 || strcmp(driver, "disabled") == 0)
        return kl_error_set(err, EINVAL,
                            "containers with the '%s' network-driver cannot connect to networks.",
                            driver);
    if (strcmp(driver, "vnet") == 0 && strcmp(type, "bridge") != 0)
        return kl_error_set(err, EINVAL,
                            "containers using the 'vnet' network-driver can't connect to %s "
                            "networks",
                            type);
    return 0;
}

static int ep_find(kl_engine *e, const char *cid, const char *nid, ep_rec **out, size_t *n_out,
                   kl_error *err)
{
    _cleanup_free_ char *where =
        xasprintf("container_id = ?1 AND network_id = '%s'", nid); /* nid: 12 hex from the store */
    return eps_query(e, where, cid, out, n_out, err);
}

/* The container, the network and the container's endpoints on that network (API.md §9.4's
 * first checks, in its order: container, then network). */
static int pair_find(kl_engine *e, const char *cident, const char *nident, container_record *c,
                     net_rec *n, ep_rec **eps, size_t *n_eps, kl_error *err)
{
    if (containers_get(e, cident, c, err) < 0)
        return -1;
    int found = net_find(e, nident, n, err);
    if (found <= 0) {
        if (found == 0)
            kl_error_set(err, ENOENT, "network not found");
        return -1;
    }
    return ep_find(e, c->id, n->id, eps, n_eps, err);
}

int networks_connect(kl_engine *e, const json_t *config, kl_error *err)
{
    const char *cident = jx_str(config, "container", "");
    const char *nident = jx_str(config, "network", "");
    engine_lock(e);
    container_record c = {0};
    net_rec n = {0};
    ep_rec *eps = NULL;
    size_t n_eps = 0;
    int r = -1;
    do {
        if (pair_find(e, cident, nident, &c, &n, &eps, &n_eps, err) < 0)
            break;
        if (n_eps > 0) {
            kl_error_set(err, EEXIST, "container already connected to the network");
            break;
        }
        if (check_driver(c.network_driver ? c.network_driver : "", n.type, err) < 0)
            break;
        _cleanup_json_ json_t *epdoc = json_object();
        json_t *aliases = json_object_get(config, "aliases");
        if (aliases && !json_is_null(aliases)) {
            size_t k;
            json_t *a;
            bool ok = json_is_array(aliases);
            json_array_foreach(aliases, k, a) ok = ok && json_is_string(a);
            if (!ok) {
                kl_error_set(err, EINVAL, "aliases must be a list of names");
                break;
            }
            json_array_foreach(aliases, k, a) ok =
                ok && etcfiles_check_name("alias", json_string_value(a), err) == 0;
            if (!ok)
                break;
            if (json_array_size(aliases))
                json_object_set(epdoc, "aliases", aliases);
        }
        _cleanup_free_ char *epdoc_s = json_dumps(epdoc, JSON_COMPACT);
        char ip[IPAM_STRLEN], ip6[IPAM_STRLEN];
        if (request_address(e, &n, 4, jx_str(config, "ip_address", ""), ip, err) < 0 ||
            request_address(e, &n, 6, jx_str(config, "ip_address6", ""), ip6, err) < 0)
            break;
        ep_rec ep = {.ip = ip, .ip6 = ip6};
        kl_id_new(ep.id);
        snprintf(ep.container_id, sizeof(ep.container_id), "%s", c.id);
        snprintf(ep.network_id, sizeof(ep.network_id), "%s", n.id);
        store_lock(e->store);
        {
            _cleanup_stmt_ sqlite3_stmt *st =
                store_prepare(e->store,
                              "INSERT INTO endpoints (id, container_id, network_id, ip_address,"
                              " ip_address6, doc) VALUES (?,?,?,?,?,?)",
                              err);
            if (st) {
                sqlite3_bind_text(st, 1, ep.id, -1, SQLITE_STATIC);
                sqlite3_bind_text(st, 2, c.id, -1, SQLITE_STATIC);
                sqlite3_bind_text(st, 3, n.id, -1, SQLITE_STATIC);
                sqlite3_bind_text(st, 4, ip, -1, SQLITE_STATIC);
                sqlite3_bind_text(st, 5, ip6, -1, SQLITE_STATIC);
                sqlite3_bind_text(st, 6, epdoc_s, -1, SQLITE_STATIC);
                r = sqlite3_step(st) == SQLITE_DONE
                        ? 0
                        : store_fail(e->store, "storing the endpoint", err);
            }
        }
        store_unlock(e->store);
        if (r < 0)
            break;
        int pid = containers_pid(e, c.id);
        if (pid > 0 && host_runtime_wires_endpoints()) {
            r = monitor_network(e, &n, &ep, true, err);
            if (r < 0) {
                kl_error ignored = KL_ERROR_INIT;
                exec_with_id(e, "DELETE FROM endpoints WHERE id = ?1", ep.id, &ignored);
                break;
            }
        } else if (pid > 0) {
            /* Hot-plug into the running container (our difference from the original). */
            int nsfd = host_netns_open_pid(pid, err);
            r = nsfd < 0 ? -1 : plug(e, &n, &ep, nsfd, err);
            if (nsfd >= 0)
                close(nsfd);
            if (r < 0) {
                kl_error ignored = KL_ERROR_INIT;
                exec_with_id(e, "DELETE FROM endpoints WHERE id = ?1", ep.id, &ignored);
                break;
            }
        }
        log_info("container %s: connected to network %s (%s%s%s)", c.id, n.name, ip,
                 ip[0] && ip6[0] ? " " : "", ip6);
        events_emit(e->events, "network", "connect", n.id, NULL, "container", c.id, "name", n.name,
                    "type", n.type, NULL);
        fw_update(e);
        char *nids[] = {n.id, NULL};
        networks_hosts_refresh(e, nids, c.id);
    } while (0);
    ep_recs_free(eps, n_eps);
    net_rec_clear(&n);
    container_record_clear(&c);
    engine_unlock(e);
    return r;
}

int networks_disconnect(kl_engine *e, const char *network, const char *container, kl_error *err)
{
    engine_lock(e);
    container_record c = {0};
    net_rec n = {0};
    ep_rec *eps = NULL;
    size_t n_eps = 0;
    int r = -1;
    do {
        if (pair_find(e, container, network, &c, &n, &eps, &n_eps, err) < 0)
            break;
        if (n_eps == 0) {
            kl_error_set(err, ENOENT, "endpoint configuration not found");
            break;
        }
        engine_space_for_removal(e);
        if (host_runtime_wires_endpoints()) {
            if (monitor_network(e, &n, &eps[0], false, err) < 0)
                break;
        } else {
            unplug(e, &eps[0]);
        }
        if (exec_with_id(e, "DELETE FROM endpoints WHERE id = ?1", eps[0].id, err) < 0)
            break;
        log_info("container %s: disconnected from network %s", c.id, n.name);
        events_emit(e->events, "network", "disconnect", n.id, NULL, "container", c.id, "name",
                    n.name, "type", n.type, NULL);
        fw_update(e);
        char *nids[] = {n.id, NULL};
        networks_hosts_refresh(e, nids, c.id);
        r = 0;
    } while (0);
    ep_recs_free(eps, n_eps);
    net_rec_clear(&n);
    container_record_clear(&c);
    engine_unlock(e);
    return r;
}

/* ---- start-up and container hooks ------------------------------------------------------ */

int networks_init(kl_engine *e, kl_error *err)
{
    engine_lock(e);
    net_rec *v = NULL;
    size_t n = 0;
    int r = nets_all(e, &v, &n, err);
    for (size_t i = 0; r == 0 && i < n; i++) {
        kl_error lerr = KL_ERROR_INIT;
        if (kleened_owns_link(&v[i]) && bring_up_link(&v[i], false, &lerr) < 0)
            log_warn("network %s: re-creating %s: %s", v[i].name, v[i].ifname, lerr.msg);
        else if (!kleened_owns_link(&v[i]) && !host_link_exists(-1, v[i].ifname))
            log_warn("network %s: custom interface %s does not exist", v[i].name, v[i].ifname);
    }
    nets_free(v, n);
    /* Endpoints of containers that died while kleened was away lost their veth. Those of
     * running containers must have theirs: a crash between the steps of a connect (the row,
     * then the veth) or of a network removal (the veths, then the rows) left one without. */
    ep_rec *eps = NULL;
    size_t n_eps = 0;
    if (r == 0 && eps_query(e, "1", NULL, &eps, &n_eps, err) == 0) {
        for (size_t i = 0; i < n_eps; i++) {
            int pid = containers_pid(e, eps[i].container_id);
            if (pid < 0) {
                if (eps[i].epair)
                    unplug(e, &eps[i]);
                continue;
            }
            if (host_runtime_wires_endpoints())
                continue; /* the jail and its monitor keep its addresses */
            char host_if[HOST_IFNAME_MAX + 1];
            host_if_name(eps[i].id, host_if);
            if (host_link_exists(-1, host_if) ||
                !networks_container_is_wired(e, eps[i].container_id))
                continue;
            net_rec net = {0};
            kl_error perr = KL_ERROR_INIT;
            int nsfd = -1;
            if (net_find(e, eps[i].network_id, &net, &perr) == 1 &&
                (nsfd = host_netns_open_pid(pid, &perr)) >= 0 &&
                plug(e, &net, &eps[i], nsfd, &perr) == 0)
                log_notice("container %s: its veth on network %s, lost in a crash, is back",
                           eps[i].container_id, net.name);
            else if (perr.code)
                log_warn("container %s: re-plugging endpoint %s: %s", eps[i].container_id,
                         eps[i].id, perr.msg);
            if (nsfd >= 0)
                close(nsfd);
            net_rec_clear(&net);
        }
    }
    ep_recs_free(eps, n_eps);
    if (r == 0) {
        kl_error ferr = KL_ERROR_INIT;
        if (host_net_enable_forwarding(true, &ferr) < 0)
            log_warn("enabling forwarding: %s", ferr.msg);
        /* Whatever the table holds (an earlier kleened's, or none): replace it. */
        if (e->fw)
            host_fw_forget(e->fw);
        fw_update(e);
    }
    engine_unlock(e);
    return r;
}

bool networks_container_is_wired(kl_engine *e, const char *container_id)
{
    engine_lock(e);
    kl_error err = KL_ERROR_INIT;
    container_record c = {0};
    ep_rec *eps = NULL;
    size_t n_eps = 0;
    bool wired = containers_get(e, container_id, &c, &err) == 0 && c.network_driver &&
                 strcmp(c.network_driver, "host") != 0 &&
                 strcmp(c.network_driver, "disabled") != 0 &&
                 eps_query(e, "container_id = ?1", c.id, &eps, &n_eps, &err) == 0 && n_eps > 0;
    ep_recs_free(eps, n_eps);
    container_record_clear(&c);
    engine_unlock(e);
    return wired;
}

/* Plug every endpoint of the container into the namespace given by nsfd, or by the pid's
 * namespace when nsfd < 0. */
static int container_plug(kl_engine *e, const char *container_id, int nsfd_given, int container_pid,
                          bool update_firewall, kl_error *err)
{
    engine_lock(e);
    container_record c = {0};
    ep_rec *eps = NULL;
    size_t n_eps = 0;
    int nsfd = -1;
    int r = containers_get(e, container_id, &c, err);
    bool wired = r == 0 && c.network_driver && strcmp(c.network_driver, "host") != 0 &&
                 strcmp(c.network_driver, "disabled") != 0;
    if (wired)
        r = eps_query(e, "container_id = ?1", c.id, &eps, &n_eps, err);
    if (wired && r == 0 && n_eps > 0) {
        nsfd = nsfd_given >= 0 ? nsfd_given : host_netns_open_pid(container_pid, err);
        if (nsfd < 0)
            r = -1;
    }
    size_t done = 0;
    for (; wired && r == 0 && done < n_eps; done++) {
        net_rec n = {0};
        int found = net_find(e, eps[done].network_id, &n, err);
        if (found == 1)
            r = plug(e, &n, &eps[done], nsfd, err);
        else if (found == 0)
            r = kl_error_set(err, ENOENT, "network %s not found", eps[done].network_id);
        else
            r = -1;
        net_rec_clear(&n);
    }
    if (r < 0)
        for (size_t i = 0; i < done; i++)
            unplug(e, &eps[i]);
    if (nsfd >= 0 && nsfd != nsfd_given)
        close(nsfd);
    if (r == 0 && wired && n_eps > 0 && update_firewall)
        fw_update(e);
    ep_recs_free(eps, n_eps);
    container_record_clear(&c);
    engine_unlock(e);
    return r;
}

int networks_container_started(kl_engine *e, const char *container_id, int container_pid,
                               kl_error *err)
{
    return container_plug(e, container_id, -1, container_pid, true, err);
}

int networks_container_plug(kl_engine *e, const char *container_id, int netns_fd, kl_error *err)
{
    return container_plug(e, container_id, netns_fd, -1, false, err);
}

void networks_container_stopped(kl_engine *e, const char *container_id)
{
    engine_lock(e);
    ep_rec *eps = NULL;
    size_t n_eps = 0;
    kl_error err = KL_ERROR_INIT;
    if (eps_query(e, "container_id = ?1", container_id, &eps, &n_eps, &err) < 0)
        log_warn("container %s: %s", container_id, err.msg);
    /* Endpoints without an epair were unplugged already, with the firewall updated then
     * (the end of a container can be learned twice: from its stream and its end watch). */
    bool plugged = false;
    for (size_t i = 0; i < n_eps; i++) {
        plugged = plugged || eps[i].epair;
        unplug_ep(e, &eps[i], true);
    }
    ep_recs_free(eps, n_eps);
    /* A runtime that wires networks itself records no epair here: its published ports go
     * now (host_fw_sync runs nothing when they were gone already). */
    if (plugged || (n_eps > 0 && host_runtime_wires_endpoints()))
        fw_update_ended(e, container_id);
    engine_unlock(e);
}

void networks_shutdown(kl_engine *e)
{
    engine_lock(e);
    char **ids = NULL;
    kl_error err = KL_ERROR_INIT;
    bool listed = false;
    store_lock(e->store);
    {
        _cleanup_stmt_ sqlite3_stmt *st =
            store_prepare(e->store, "SELECT id FROM containers", &err);
        while (st && sqlite3_step(st) == SQLITE_ROW)
            strv_push(&ids, (const char *)sqlite3_column_text(st, 0));
        listed = st != NULL;
    }
    store_unlock(e->store);
    size_t running = 0;
    for (char **p = ids; p && *p; p++)
        running += containers_is_running(e, *p);
    strv_free(ids);
    if (!listed) {
        log_warn("firewall: %s; the table stays", err.msg);
    } else if (running > 0) {
        log_info("firewall: %zu container%s still running: the table stays", running,
                 running == 1 ? "" : "s");
    } else if (host_fw_remove(&err) < 0) {
        log_warn("firewall: removing the table: %s", err.msg);
    } else {
        if (e->fw)
            host_fw_forget(e->fw);
        log_info("firewall: no container runs: the table is removed");
    }
    engine_unlock(e);
}

/* ---- the Docker door's default network --------------------------------------------------- */

char *networks_default(kl_engine *e, kl_error *err)
{
    engine_lock(e);
    net_rec n = {0};
    char *id = NULL;
    int found = net_find(e, NETWORKS_DEFAULT_NAME, &n, err);
    if (found == 1) {
        id = xstrdup(n.id);
    } else if (found == 0) {
        _cleanup_json_ json_t *config =
            json_pack("{s:s, s:s, s:b, s:b}", "name", NETWORKS_DEFAULT_NAME, "type", "bridge",
                      "auto_subnet", 1, "docker_default", 1);
        id = networks_create(e, config, err);
    }
    net_rec_clear(&n);
    engine_unlock(e);
    return id;
}

/* ---- name resolution: /etc/hosts, /etc/hostname, /etc/resolv.conf (etcfiles.h) ------------ */

/* What /etc/hosts lists for one network: every container connected to it (name, aliases
 * there, id; addresses). Loaded once per network for a whole refresh: a refresh rewrites the
 * file of every container on the network, and each lists all of them. */
typedef struct hosts_net {
    char id[13];
    bool docker_default;
    char gw[IPAM_STRLEN];
    size_t n;
    char (*cids)[13];
    char **ips, **ip6s;
    char ***names;
} hosts_net;

typedef struct hosts_cache {
    hosts_net *nets;
    size_t n;
} hosts_cache;

static void hosts_cache_clear(hosts_cache *hc)
{
    for (size_t i = 0; i < hc->n; i++) {
        hosts_net *hn = &hc->nets[i];
        for (size_t k = 0; k < hn->n; k++) {
            free(hn->ips[k]);
            free(hn->ip6s[k]);
            strv_free(hn->names[k]);
        }
        free(hn->cids);
        free(hn->ips);
        free(hn->ip6s);
        free(hn->names);
    }
    free(hc->nets);
    *hc = (hosts_cache){0};
}

/* Under the engine lock: the network's listing, loaded on first use (NULL when it is gone). */
static const hosts_net *hosts_net_get(kl_engine *e, hosts_cache *hc, const char *nid)
{
    for (size_t i = 0; i < hc->n; i++)
        if (!strcmp(hc->nets[i].id, nid))
            return &hc->nets[i];
    net_rec n = {0};
    kl_error err = KL_ERROR_INIT;
    if (net_find(e, nid, &n, &err) != 1)
        return NULL;
    hc->nets = xrealloc(hc->nets, (hc->n + 1) * sizeof(*hc->nets));
    hosts_net *hn = &hc->nets[hc->n++];
    *hn = (hosts_net){.docker_default = n.docker_default};
    snprintf(hn->id, sizeof(hn->id), "%s", n.id);
    net_gateway_addr(&n, 4, hn->gw);
    net_rec_clear(&n);
    ep_rec *eps = NULL;
    size_t n_eps = 0;
    if (eps_query(e, "network_id = ?1", nid, &eps, &n_eps, &err) < 0) {
        log_warn("network %s: /etc/hosts: %s", nid, err.msg);
        return hn;
    }
    hn->cids = xcalloc(n_eps + 1, sizeof(*hn->cids));
    hn->ips = xcalloc(n_eps + 1, sizeof(*hn->ips));
    hn->ip6s = xcalloc(n_eps + 1, sizeof(*hn->ip6s));
    hn->names = xcalloc(n_eps + 1, sizeof(*hn->names));
    for (size_t k = 0; k < n_eps; k++) {
        container_record p = {0};
        kl_error gerr = KL_ERROR_INIT;
        if (containers_get(e, eps[k].container_id, &p, &gerr) < 0)
            continue;
        char **nl = NULL;
        strv_push(&nl, p.name);
        for (char **a = eps[k].aliases; a && *a; a++)
            strv_push(&nl, *a);
        strv_push(&nl, p.id);
        container_record_clear(&p);
        memcpy(hn->cids[hn->n], eps[k].container_id, 13);
        hn->ips[hn->n] = xstrdup(eps[k].ip);
        hn->ip6s[hn->n] = xstrdup(eps[k].ip6);
        hn->names[hn->n] = nl;
        hn->n++;
    }
    ep_recs_free(eps, n_eps);
    return hn;
}

/* Under the engine lock: the text of the container's /etc/hosts. */
static char *hosts_text_locked(kl_engine *e, const container_record *c, const char *hostname,
                               hosts_cache *hc)
{
    ep_rec *eps = NULL;
    size_t n_eps = 0;
    kl_error err = KL_ERROR_INIT;
    if (eps_query(e, "container_id = ?1", c->id, &eps, &n_eps, &err) < 0)
        log_warn("container %s: /etc/hosts: %s", c->id, err.msg);
    const char *ip = "", *ip6 = "";
    char gw[IPAM_STRLEN] = ""; /* a copy: the cache's array moves as networks are added */
    etcfiles_peer *peers = NULL;
    size_t n_peers = 0;
    for (size_t i = 0; i < n_eps; i++) {
        if (!ip[0])
            ip = eps[i].ip;
        if (!ip6[0])
            ip6 = eps[i].ip6;
        const hosts_net *hn = hosts_net_get(e, hc, eps[i].network_id);
        if (!hn)
            continue;
        if (!gw[0])
            snprintf(gw, sizeof(gw), "%s", hn->gw);
        /* On the default network names are not resolved, as on dockerd's default bridge
         * (only the container itself is listed); on the others: every container connected
         * to it, the container itself too. */
        for (size_t k = 0; k < hn->n; k++) {
            if (hn->docker_default && strcmp(hn->cids[k], c->id) != 0)
                continue;
            peers = xrealloc(peers, (n_peers + 1) * sizeof(*peers));
            peers[n_peers++] =
                (etcfiles_peer){.ip = hn->ips[k], .ip6 = hn->ip6s[k], .names = hn->names[k]};
        }
    }
    /* host-gateway: the gateway of the container's first network that has one */
    char **extra = NULL;
    for (char **x = c->extra_hosts; x && *x; x++) {
        size_t nlen;
        const char *addr;
        kl_error xerr = KL_ERROR_INIT;
        if (etcfiles_check_extra_host(*x, &nlen, &addr, &xerr) < 0)
            continue;
        if (strcmp(addr, "host-gateway") != 0) {
            strv_push(&extra, *x);
        } else if (gw[0]) {
            _cleanup_free_ char *line = xasprintf("%.*s:%s", (int)nlen, *x, gw);
            strv_push(&extra, line);
        } else {
            log_warn("container %s: extra host %s: the container has no network with a gateway",
                     c->id, *x);
        }
    }
    etcfiles_hosts in = {.hostname = hostname,
                         .ip = ip,
                         .ip6 = ip6,
                         .extra = extra,
                         .peers = peers,
                         .n_peers = n_peers};
    char *text = etcfiles_hosts_text(&in);
    strv_free(extra);
    free(peers);
    ep_recs_free(eps, n_eps);
    return text;
}

/* The container's host name: its jail_param host.hostname, else its id. */
static char *hostname_of(const container_record *c)
{
    host_jailparams jp = {0};
    kl_error err = KL_ERROR_INIT;
    char *name = NULL;
    if (host_jailparams_parse(c->jail_param, &jp, &err) == 0 && jp.hostname && jp.hostname[0])
        name = xstrdup(jp.hostname);
    host_jailparams_free(&jp);
    return name ? name : xstrdup(c->id);
}

int networks_etc_write(kl_engine *e, const container_record *c, kl_error *err)
{
    engine_lock(e);
    _cleanup_free_ char *dir = containers_dir(e, c->id);
    _cleanup_free_ char *hostname = hostname_of(c);
    hosts_cache hc = {0};
    _cleanup_free_ char *hosts = hosts_text_locked(e, c, hostname, &hc);
    hosts_cache_clear(&hc);
    _cleanup_free_ char *hn = xasprintf("%s\n", hostname);
    int r = etcfiles_rewrite(dir, "hosts", hosts, err);
    if (r == 0)
        r = etcfiles_rewrite(dir, "hostname", hn, err);
    if (r == 0 && c->dns) {
        _cleanup_free_ char *host = etcfiles_host_resolv("/etc/resolv.conf");
        _cleanup_strv_ char **ns = NULL, **search = NULL, **opts = NULL;
        json_t *v;
        if (json_is_array(v = json_object_get(c->dns, "nameservers")))
            ns = jx_strv(v);
        if (json_is_array(v = json_object_get(c->dns, "search")))
            search = jx_strv(v);
        if (json_is_array(v = json_object_get(c->dns, "options")))
            opts = jx_strv(v);
        _cleanup_free_ char *text = etcfiles_resolv_text(host, ns, search, opts);
        r = etcfiles_rewrite(dir, "resolv.conf", text, err);
    }
    engine_unlock(e);
    return r;
}

/* Under the engine lock: rewrite /etc/hosts of these containers, those that have one (it is
 * written at their first start). */
static void hosts_refresh_cids_locked(kl_engine *e, char *const *cids)
{
    hosts_cache hc = {0};
    for (char *const *p = cids; p && *p; p++) {
        bool dup = false;
        for (char *const *q = cids; q < p && !dup; q++)
            dup = strcmp(*q, *p) == 0;
        _cleanup_free_ char *dir = containers_dir(e, *p);
        _cleanup_free_ char *path = xasprintf("%s/hosts", dir);
        if (dup || access(path, F_OK) < 0)
            continue;
        container_record c = {0};
        kl_error err = KL_ERROR_INIT;
        if (containers_get(e, *p, &c, &err) == 0) {
            _cleanup_free_ char *hostname = hostname_of(&c);
            _cleanup_free_ char *text = hosts_text_locked(e, &c, hostname, &hc);
            if (etcfiles_rewrite(dir, "hosts", text, &err) < 0)
                log_warn("container %s: /etc/hosts: %s", c.id, err.msg);
        }
        container_record_clear(&c);
    }
    hosts_cache_clear(&hc);
}

/* The containers connected to these networks. */
static char **cids_on_networks(kl_engine *e, char *const *nids)
{
    char **cids = NULL;
    for (char *const *n = nids; n && *n; n++) {
        ep_rec *eps = NULL;
        size_t n_eps = 0;
        kl_error err = KL_ERROR_INIT;
        if (eps_query(e, "network_id = ?1", *n, &eps, &n_eps, &err) < 0)
            continue;
        for (size_t i = 0; i < n_eps; i++)
            strv_push(&cids, eps[i].container_id);
        ep_recs_free(eps, n_eps);
    }
    return cids;
}

char **networks_container_network_ids(kl_engine *e, const char *container_id)
{
    engine_lock(e);
    ep_rec *eps = NULL;
    size_t n_eps = 0;
    kl_error err = KL_ERROR_INIT;
    char **nids = NULL;
    if (eps_query(e, "container_id = ?1", container_id, &eps, &n_eps, &err) == 0)
        for (size_t i = 0; i < n_eps; i++)
            strv_push(&nids, eps[i].network_id);
    ep_recs_free(eps, n_eps);
    engine_unlock(e);
    return nids;
}

void networks_hosts_refresh(kl_engine *e, char *const *network_ids, const char *container_id)
{
    engine_lock(e);
    char **cids = cids_on_networks(e, network_ids);
    if (container_id)
        strv_push(&cids, container_id);
    hosts_refresh_cids_locked(e, cids);
    strv_free(cids);
    engine_unlock(e);
}
