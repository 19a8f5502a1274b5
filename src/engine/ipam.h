/* IP address management for networks (API.md §5.12, §9.3; our fixes of §12 items 6-7).
 *
 * Parses the subnet/gateway fields of a network config (IPv4 and IPv6, CIDR or a bare
 * address) with the original's error strings, computes `<auto>` gateways and hands out
 * endpoint addresses. Fixes of ours: the network address and the IPv4 broadcast address are
 * never allocated, and a static address outside the subnet or already in use is refused.
 *
 * Pure: no I/O, no store access. The caller passes the addresses in use (endpoints of the
 * network and addresses configured on its interface). Untrusted text goes in; every bad
 * value is a clean EINVAL error. */
#ifndef KL_ENGINE_IPAM_H
#define KL_ENGINE_IPAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/error.h"

/* Big enough for any formatted address or "address/prefixlen". */
#define IPAM_STRLEN 64

typedef struct ipam_addr {
    int family;        /* 4 or 6 */
    uint8_t bytes[16]; /* network byte order; IPv4 uses the first 4 */
} ipam_addr;

typedef struct ipam_prefix {
    ipam_addr addr; /* as given (host bits may be set: "10.0.0.7/24") */
    int len;        /* prefix length: 0..32 or 0..128 */
} ipam_prefix;

/* A bare address (inet_pton syntax). EINVAL: "could not parse inet address <s>: einval". */
int ipam_addr_parse(const char *s, ipam_addr *a, kl_error *err);

/* "addr/len" or a bare address (then len is 32 or 128).
 * EINVAL: `could not parse cidr block: "<s>"`. */
int ipam_prefix_parse(const char *s, ipam_prefix *p, kl_error *err);

/* Validate one of the network config fields "subnet", "subnet6", "gateway", "gateway6"
 * (API.md §5.12): "" is fine, "<auto>" is fine for the gateways, anything else must parse
 * as CIDR or address of the field's family. Errors (EINVAL), exactly the original's:
 * `invalid subnet: could not parse cidr block: "<value>"`, `invalid subnet6: wrong IP
 * protocol` (and the same for gateway/gateway6). */
int ipam_config_field_check(const char *field, const char *value, kl_error *err);

void ipam_addr_format(const ipam_addr *a, char out[IPAM_STRLEN]);
/* "network/len" with the host bits cleared: "10.0.0.0/24". */
void ipam_prefix_format_network(const ipam_prefix *p, char out[IPAM_STRLEN]);

int ipam_addr_cmp(const ipam_addr *a, const ipam_addr *b);
bool ipam_prefix_contains(const ipam_prefix *p, const ipam_addr *a);
/* True if the two prefixes share an address (same family, and the shorter one contains the
 * other's network address). */
bool ipam_prefix_overlaps(const ipam_prefix *a, const ipam_prefix *b);
/* The network address (host bits cleared) and the last address of the prefix. */
void ipam_prefix_first(const ipam_prefix *p, ipam_addr *out);
void ipam_prefix_last(const ipam_prefix *p, ipam_addr *out);

/* True if `a` (inside p) may be given to a host: not the network address and, for IPv4,
 * not the broadcast address (IPv4 /31 and /32 and IPv6 /128 have no host addresses). */
bool ipam_is_host_addr(const ipam_prefix *p, const ipam_addr *a);

/* `<auto>` gateway: the first host address (network + 1). EINVAL when the subnet has none. */
int ipam_gateway_auto(const ipam_prefix *subnet, ipam_addr *out, kl_error *err);

/* The lowest free host address of `subnet`: not in used[] (addresses of another family or
 * outside the subnet are ignored) and not `gateway` (may be NULL). Freed addresses are thus
 * reused lowest first. ENOSPC: "no more inet IP's left in the network" ("inet6" for v6). */
int ipam_allocate(const ipam_prefix *subnet, const ipam_addr *used, size_t n_used,
                  const ipam_addr *gateway, ipam_addr *out, kl_error *err);

/* Check a static address for `subnet`: it parses, has the subnet's family, lies in the
 * subnet, is a host address and is neither used nor the gateway. EINVAL or EEXIST. */
int ipam_check_static(const ipam_prefix *subnet, const char *text, const ipam_addr *used,
                      size_t n_used, const ipam_addr *gateway, ipam_addr *out, kl_error *err);

/* The endpoint address request of API.md §5.14/§9.3 for one family (4 or 6): "" → no
 * address (out = ""); "<auto>" → allocate (no subnet → no address, no error); anything else
 * → a static address (no subnet → "cannot set ip address because there is no IPv4 subnet
 * defined for this network"). `subnet`, `gateway` may be NULL. Writes the address text. */
int ipam_request(int family, const char *request, const ipam_prefix *subnet, const ipam_addr *used,
                 size_t n_used, const ipam_addr *gateway, char out[IPAM_STRLEN], kl_error *err);

#endif
