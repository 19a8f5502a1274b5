/* Networks on a FreeBSD host (FREEBSD-HOST.md §7, §2.2): cloned lo and bridge interfaces,
 * ipnet aliases, vnet epairs, the default route's interface and IP forwarding, all through
 * ifconfig, netstat and sysctl on the runner. Portable; see fbhost.h. */
#ifndef KL_FB_IFNET_H
#define KL_FB_IFNET_H

#include <stdbool.h>

#include "host/freebsd/fbhost.h"
#include "host/freebsd/jail.h"

typedef enum fb_nettype {
    FB_NETTYPE_LOOPBACK = 0,
    FB_NETTYPE_BRIDGE,
    FB_NETTYPE_CUSTOM,
} fb_nettype;

typedef struct fb_network {
    const char *id;
    fb_nettype type;
    const char *ifname;
    const char *subnet;  /* "10.13.37.0/24" or NULL/"" */
    const char *subnet6; /* "fd00:13:37::/64" or NULL/"" */
    const char *gateway; /* "<auto>", an address, or NULL/"" */
    const char *gateway6;
    const char *nat_if; /* NULL/"": no NAT */
    bool icc;
    bool internal;
} fb_network;

/* An interface name we create or pass to ifconfig: [A-Za-z0-9_.], 1..15, not "-..." */
bool fb_ifname_is_valid(const char *name);

/* `netstat --libxo json -I <if> -n`: the addresses on it (IPv4/IPv6 only, no MACs or
 * link-local "%scope" ones; a strv) and whether it exists (an empty list: it does not). */
int fb_if_addresses(const fb_host *h, const char *ifname, char ***addrs, bool *exists,
                    kl_error *err);
/* ifconfig <if> inet <ip>/32 alias (inet6 <ip>/128). */
int fb_alias_add(const fb_host *h, const char *ifname, const char *ip, kl_error *err);
/* §7.6: only when the address is on the interface: ifconfig <if> inet|inet6 <ip> -alias. */
int fb_alias_remove(const fb_host *h, const char *ifname, const char *ip, kl_error *err);
/* ifconfig epair create → "epairN" (its a end stays, its b end goes to the jail). */
int fb_epair_create(const fb_host *h, char name[16], kl_error *err);
/* The a end leaves its bridge and is destroyed (the b end goes with it). */
int fb_epair_destroy(const fb_host *h, const char *bridge, const char *epair, kl_error *err);

/* Network create (§7.2). DIFFERENCE (B12): an existing interface of that name is never
 * destroyed: EEXIST. Bridges get their <auto> gateways. */
int fb_net_create(const fb_host *h, const fb_network *n, kl_error *err);
/* Daemon start: an interface that exists (jails may still use it) is kept as it is; a
 * missing one is created as by fb_net_create (the original destroyed and re-created all). */
int fb_net_adopt(const fb_host *h, const fb_network *n, kl_error *err);
/* Network remove (§7.7): loopback destroyed; bridge members removed, then destroyed. */
int fb_net_remove(const fb_host *h, const fb_network *n, kl_error *err);

/* Connect an ipnet container while its jail runs (§7.4): aliases, then jail -m with the
 * jail's addresses plus the new ones, ip4.addr and ip6.addr each (B20). */
int fb_net_connect_running(const fb_host *h, const char *cid, const fb_endpoint *ep, kl_error *err);
/* Disconnect (§7.5). ipnet: aliases removed, and if running, jail -m with the remaining
 * addresses (both families). vnet: the epair (if any) taken back from the jail and
 * destroyed. */
int fb_net_disconnect(const fb_host *h, const char *cid, fb_netdriver driver, fb_endpoint *ep,
                      bool running, kl_error *err);

/* The interface of the IPv4 default route (`netstat --libxo json -rn`); *ifname NULL when
 * there is none (a warning for the caller, as the original). */
int fb_net_detect_gateway(const fb_host *h, char **ifname, kl_error *err);
/* IP forwarding on (net.inet.ip.forwarding; with ipv6 also net.inet6.ip6.forwarding, which
 * the original never set). */
int fb_net_enable_forwarding(const fb_host *h, bool ipv6, kl_error *err);

#endif
