/* Networks (API.md §5.12-§5.15, §6 Networks, §9, §10; DESIGN.md §2): rows in `networks` and
 * `endpoints`, the host links they stand for, and the firewall built from all of them.
 *
 * On Linux every network is reached through a bridge: `bridge` networks get a Linux bridge
 * (with the `<auto>` gateways as addresses), `loopback` networks get a bridge too but their
 * gateways are ignored (no address on it, no default route in containers: a private L2
 * segment), and `custom` networks use an existing interface that is never created or
 * deleted here. A container on a network gets a veth pair: its end (`eth<N>`) inside the
 * container's netns with the endpoint's addresses, the host end (`kv<endpoint id>`) on the
 * bridge. The `ipnet` driver is mapped like `vnet` (DESIGN.md §2); unlike the original,
 * running containers of either driver can be connected (hot-plug) and disconnected.
 *
 * Our fixes (API.md decisions 6-10): names are unique by name only; the network and
 * broadcast addresses are never allocated; a static address outside the subnet or taken is
 * refused; the firewall is rebuilt from the store on every change that affects it
 * (create, remove, prune, connect, disconnect, container start and stop) and never names an
 * interface that does not exist. A firewall failure is logged, not returned (as the
 * original). Every public function takes the engine lock itself. */
#ifndef KL_ENGINE_NETWORKS_H
#define KL_ENGINE_NETWORKS_H

#include <jansson.h>
#include <stdbool.h>

#include "engine/engine.h"
#include "host/runtime.h"
#include "lib/error.h"

/* The interface `nat: "<host-gateway>"` and published ports with no interface resolve to
 * (kleened's `nat_if` config key); NULL or "" = detect the default route's interface. */
void networks_set_nat_if(kl_engine *e, const char *nat_if);

/* Create from a NetworkConfig (normalized by the API schema; missing fields take the
 * defaults of §5.12). Ours: `labels`, `ip_range` (an IPv4 prefix inside `subnet` that
 * automatic addresses come from) and, for the Docker door only (the Kleene schema has no such
 * field), `auto_subnet: true` with no `subnet`: the first free subnet of dockerd's pools
 * (172.18-31.0.0/16, 192.168.N.0/20) with an `<auto>` gateway. Returns the new id (xmalloc'ed).
 * Errors (all 409 at the API): the §5.12 messages in the §5.12 order, "network name is already
 * taken", interface errors. */
char *networks_create(kl_engine *e, const json_t *config, kl_error *err);

/* Network[] ordered by name (Network: §5.13 and ours: `labels`, `ip_range`, `created`). */
json_t *networks_list(kl_engine *e, kl_error *err);

/* {"network": Network, "network_endpoints": EndPoint[]}. ENOENT "network not found". */
json_t *networks_inspect(kl_engine *e, const char *ident, kl_error *err);

/* Disconnect every container, delete the interface (unless custom) and the row.
 * ENOENT "network not found." (with the period, as the original). */
int networks_remove(kl_engine *e, const char *ident, char id_out[13], kl_error *err);

/* Remove every network with no endpoints; returns their ids (name order). */
json_t *networks_prune(kl_engine *e, kl_error *err);
/* The same for the networks whose labels pass Docker's `label` and `label!` filters (arrays
 * of KEY[=VALUE] strings, NULL = none; lib/labels.h) and, when `until` is not NULL, that were
 * created before it (a time as the store writes them); returns their names (the Docker
 * door's NetworksDeleted). */
json_t *networks_prune_matching(kl_engine *e, const json_t *label, const json_t *label_not,
                                const char *until, kl_error *err);

/* Connect from an EndPointConfig {container, network, ip_address, ip_address6}. Errors in
 * the order of API.md §9.4: ENOENT "container not found" / "network not found", EEXIST
 * "container already connected to the network", then driver (§9.2) and IPAM (§9.3). A
 * running container gets its veth at once. */
int networks_connect(kl_engine *e, const json_t *config, kl_error *err);

/* Remove the endpoint (and the veth of a running container). Errors: "container not
 * found", "network not found", "endpoint configuration not found". */
int networks_disconnect(kl_engine *e, const char *network, const char *container, kl_error *err);

/* kleened start: re-create the interfaces (and `<auto>` gateway addresses) of stored
 * networks, clear stale `epair`s, enable forwarding, apply the firewall. Failures of one
 * network are logged and do not stop the others. */
int networks_init(kl_engine *e, kl_error *err);

/* Container start hook (after the container's netns exists, before its command runs):
 * for each endpoint create the veth inside the netns of `container_pid`, add the
 * addresses, default routes via the bridge networks' gateways, hairpin on, record the
 * `epair`, then apply the firewall. Nothing for the `host`/`disabled` drivers. */
/* Whether the container has endpoints that need interfaces (a driver other than host and
 * disabled, and at least one network). */
bool networks_container_is_wired(kl_engine *e, const char *container_id);
/* Like networks_container_started, into the network namespace `netns_fd` (e.g. one made with
 * host_netns_new before the container's first process runs), but without the firewall: the
 * caller applies it (networks_firewall_apply) once the container runs, since only running
 * containers' published ports are in it. */
int networks_container_plug(kl_engine *e, const char *container_id, int netns_fd, kl_error *err);
int networks_container_started(kl_engine *e, const char *container_id, int container_pid,
                               kl_error *err);
/* Container stop hook: the veths go with the container's netns (not deleted here: that
 * costs ~20 ms); clear `epair` and update the firewall, counting the container as stopped.
 * Nothing when its endpoints were unplugged already. */
void networks_container_stopped(kl_engine *e, const char *container_id);

/* For a runtime that wires a container's networks itself (host_runtime_wires_endpoints:
 * FreeBSD's jails get their addresses or epairs at `jail -c`): the container's endpoints as
 * host_container_spec.endpoints wants them (each network's interface, the addresses with the
 * subnets' prefix lengths, the bridge networks' gateways for default routes). None for the
 * host and disabled drivers. Connect and disconnect of such a running container go to its
 * monitor (host_monitor_network) instead of a network namespace. */
typedef struct networks_endpoints {
    host_endpoint *v;
    size_t n;
    char **pool; /* the strings v points into */
} networks_endpoints;
int networks_container_endpoints(kl_engine *e, const char *container_id, networks_endpoints *out,
                                 kl_error *err);
void networks_endpoints_clear(networks_endpoints *eps);
/* After such a container's start: the bridge ports its monitor made for it (FreeBSD's vnet
 * epairs, from the monitor's state) recorded in its endpoints (EndPoint.epair, as the
 * original; the firewall lists them among the network's interfaces). */
void networks_container_record_ports(kl_engine *e, const char *container_id);

/* kleened stops: with no container running, remove the firewall table (nothing needs its NAT
 * or published ports, and the next kleened applies it again); while containers run it stays,
 * so that they keep their network. */
void networks_shutdown(kl_engine *e);

/* Rebuild the firewall from the store and running containers and apply it. */
int networks_firewall_apply(kl_engine *e, kl_error *err);

/* The Docker door's default network (docs/docker-api.md "Networks"): the network named
 * "bridge", created on first use (a bridge on dockerd's 172.17.0.0/16 when free, else the
 * first free pool subnet, as auto_subnet). Names are not resolved on it (as on dockerd's
 * default bridge). Returns its id (xmalloc'ed). */
#define NETWORKS_DEFAULT_NAME "bridge"
char *networks_default(kl_engine *e, kl_error *err);

/* Name resolution (docs/api.md "Name resolution", etcfiles.h). Write the container's hosts,
 * hostname and (with dns settings) resolv.conf into its directory, before it starts; the
 * caller bind-mounts them. Its /etc/hosts lists its host name and every container on the
 * networks it shares (name, aliases, id). */
struct container_record;
int networks_etc_write(kl_engine *e, const struct container_record *c, kl_error *err);
/* Rewrite /etc/hosts of every started container on these networks (ids, NULL-terminated)
 * and of `container_id` (or NULL): after a connect, disconnect, rename or removal. */
void networks_hosts_refresh(kl_engine *e, char *const *network_ids, const char *container_id);
/* The ids of the networks a container is connected to (strv, NULL when none). */
char **networks_container_network_ids(kl_engine *e, const char *container_id);

#endif
