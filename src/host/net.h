/* Host networking (DESIGN.md §2, API.md §9-10): links, addresses, routes and veth pairs
 * through netlink, sysctls, and the firewall (our own nftables table).
 *
 * Portable interface: no Linux types. A network namespace is referred to by an open file
 * descriptor (`netns_fd`, -1 = the calling thread's current one); host_netns_open_pid gives
 * one for a process. Interface names must pass host_ifname_is_valid (every function checks
 * again). Addresses are text: "10.0.0.2" or "fd00::2", with "/len" where a prefix is meant.
 * The firewall and the sysctls act on the calling thread's network namespace. */
#ifndef KL_HOST_NET_H
#define KL_HOST_NET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "lib/error.h"

#define HOST_IFNAME_MAX 15

/* 1..15 bytes of [A-Za-z0-9_.-], not "." or "..": stricter than the kernel (no '/', ':',
 * whitespace, quotes or anything else), so a name is also safe inside nft text. */
bool host_ifname_is_valid(const char *name);

/* ---- ports ----------------------------------------------------------------------------- */

/* Whether a program in the calling thread's network namespace holds `proto` ("tcp"/"udp")
 * port `port` on any address (a trial bind of 0.0.0.0 and [::] fails with EADDRINUSE): 1 with
 * `who` = "<command> (pid <pid>)" (or "another program" when the owner cannot be seen), 0 when
 * free, -1 on another error. */
int host_port_holder(const char *proto, uint16_t port, char *who, size_t who_len, kl_error *err);

/* One line of /proc/net/{tcp,udp}{,6}: 1 with *inode when its local port is `port`, else 0.
 * (Exposed for tests.) */
int host_proc_net_inode(const char *line, uint16_t port, unsigned long *inode);

/* ---- namespaces --------------------------------------------------------------------- */

/* An fd (O_CLOEXEC) for the network namespace of process `pid`. */
int host_netns_open_pid(pid_t pid, kl_error *err);

/* A new, empty network namespace with `lo` up, as an fd (O_CLOEXEC); it lives as long as the
 * fd or a process in it. Lets the caller wire a container's interfaces before the container's
 * first process runs (the runtime joins it through /proc/<pid>/fd/<fd>). */
int host_netns_new(kl_error *err);

/* ---- links -------------------------------------------------------------------------- */

/* Create a bridge in the current netns (down). EEXIST if a link of that name exists. */
int host_bridge_create(const char *name, kl_error *err);
/* The link of a `loopback` network: on FreeBSD a cloned loopback interface (`ifconfig lo
 * create name NAME`, FREEBSD-HOST.md §7.2); on Linux a bridge as for host_bridge_create (a
 * private L2 segment without gateway). EEXIST if a link of that name exists. */
int host_loopback_create(const char *name, kl_error *err);
bool host_link_exists(int netns_fd, const char *name);
/* ENODEV if there is no such link. */
int host_link_delete(int netns_fd, const char *name, kl_error *err);
int host_link_set_up(int netns_fd, const char *name, bool up, kl_error *err);

/* Create a veth pair with its container end directly inside `netns_fd` (no move: ~1 ms
 * against ~20 ms, HOST-FACTS §3): `host_if` in the current netns, attached to `bridge`
 * (NULL: none), and `ctr_if` (e.g. "eth0") in the target netns, both up. */
int host_veth_create(const char *host_if, const char *bridge, int netns_fd, const char *ctr_if,
                     kl_error *err);

/* Hairpin mode of a bridge port (a container reaching its own published port). */
int host_bridge_port_set_hairpin(const char *port, bool on, kl_error *err);

/* ---- addresses and routes ----------------------------------------------------------- */

/* Add/remove "addr/len" (IPv4 or IPv6; IPv6 without duplicate address detection). */
int host_addr_add(int netns_fd, const char *ifname, const char *cidr, kl_error *err);
int host_addr_del(int netns_fd, const char *ifname, const char *cidr, kl_error *err);
/* The addresses of `ifname` as "addr/len" (IPv4 first, in kernel order; a strv). */
int host_addr_list(int netns_fd, const char *ifname, char ***out, kl_error *err);

/* A default route via `gateway` (its family decides IPv4/IPv6); `ifname` may be NULL. */
int host_route_add_default(int netns_fd, const char *gateway, const char *ifname, kl_error *err);
/* The interface of the current netns' default route of `family` (4 or 6; the lowest
 * metric wins): nat_if and `<host-gateway>`. ENOENT if there is none. */
int host_default_route_if(int family, char name[HOST_IFNAME_MAX + 1], kl_error *err);

/* ---- sysctls (current netns) -------------------------------------------------------- */

/* Write `value` to /proc/sys/<key>; key uses '/' separators ("net/ipv4/ip_forward"). */
int host_sysctl_write(const char *key, const char *value, kl_error *err);
/* net.ipv4.ip_forward=1 (and, if `ipv6`, net.ipv6.conf.all.forwarding=1), and bridged
 * traffic through the ip hooks (net.bridge.bridge-nf-call-ip{,6}tables=1) if available. */
int host_net_enable_forwarding(bool ipv6, kl_error *err);
/* net.ipv4.conf.<bridge>.route_localnet=1: lets 127.0.0.1 be DNATed to its containers. */
int host_bridge_set_route_localnet(const char *bridge, kl_error *err);

/* ---- firewall ----------------------------------------------------------------------- */

typedef struct host_fw_network {
    const char *bridge;  /* the network's interface */
    const char *subnet;  /* "10.0.0.0/24" or NULL/"" */
    const char *subnet6; /* "fd00::/64" or NULL/"" */
    const char *nat_if;  /* masquerade outbound traffic through this interface; NULL/"": none */
    bool icc;            /* containers of this network may talk to each other */
    bool internal;       /* nothing outside the subnet is reachable */
    /* Interfaces of the network's running containers that are ports of its bridge, where a
     * host's firewall sees their traffic (FreeBSD's vnet epairs, their `a` ends, listed in the
     * network's interfaces as the original's pf rules do); NULL-terminated or NULL. Filled
     * only where the runtime wires networks itself (host_runtime_wires_endpoints); Linux's
     * firewall does not use them. */
    const char *const *members;
} host_fw_network;

typedef struct host_fw_port {
    bool is_udp;
    unsigned host_first, host_last; /* host port or range */
    unsigned ctr_first, ctr_last;   /* container port(s); a range maps by offset */
    const char *const *interfaces;  /* incoming interfaces (n_interfaces 0: any) */
    size_t n_interfaces;
    const char *host_addr; /* only this local address (NULL/"": any local) */
    const char *bridge;    /* the network the container is reached on */
    const char *ip;        /* container IPv4 (NULL/"": none) */
    const char *ip6;       /* container IPv6 (NULL/"": none) */
} host_fw_port;

typedef struct host_fw_config {
    const host_fw_network *networks;
    size_t n_networks;
    const host_fw_port *ports;
    size_t n_ports;
} host_fw_config;

/* The complete nft batch (xmalloc'ed text) that replaces our table: pure, no I/O. Every
 * name and address is validated first (EINVAL), so nothing unchecked reaches nft. */
char *host_fw_render(const host_fw_config *cfg, kl_error *err);
/* Apply the batch atomically (`nft -f -`); on failure nothing changes. */
int host_fw_apply(const host_fw_config *cfg, kl_error *err);

/* What was last applied to our table, so that the next change applies only the difference:
 * the table's structure depends on the networks only, published ports are elements. One per
 * process (kleened's engine); it assumes nobody else changes the table (if someone does, the
 * next incremental batch fails and the table is replaced). */
typedef struct host_fw host_fw;
host_fw *host_fw_new(void);
void host_fw_free(host_fw *fw);
/* Forget what was applied: the next sync replaces the whole table. */
void host_fw_forget(host_fw *fw);
/* Make our table match cfg: nothing runs when nothing changed; one nfnetlink batch of
 * element deletions and additions when only published ports changed (~0.2 ms, no nft run);
 * otherwise (or when that batch fails) the whole table is replaced atomically through nft. Returns
 * 0 (nothing to do), 1 (elements changed), 2 (table replaced) or -1 (nothing changed; the next sync
 * replaces the table). */
int host_fw_sync(host_fw *fw, const host_fw_config *cfg, kl_error *err);
/* What host_fw_sync would do now, as nft text (pure): "" when nothing changed; *whole tells
 * whether it replaces the table (else the text shows the element changes that it sends
 * through nfnetlink). fw may be NULL (unknown). */
char *host_fw_render_sync(const host_fw *fw, const host_fw_config *cfg, bool *whole, kl_error *err);
/* Check the batch with `nft -c -f -` (changes nothing). */
int host_fw_check(const host_fw_config *cfg, kl_error *err);
/* Run an arbitrary batch through nft (check_only: `-c`); for tests and tools. */
int host_fw_run_nft(const char *batch, bool check_only, kl_error *err);
/* Remove our table (no error if it does not exist). */
int host_fw_remove(kl_error *err);

#endif
