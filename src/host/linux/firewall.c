/* The firewall: our own nftables table `inet kleene` (one table for IPv4 and IPv6), changed
 * by one atomic batch per change. The table's structure comes from the networks and is
 * replaced as a whole when they change (`nft -f -`; the nft program rather than the GPL
 * libnftables keeps the project BSD-licensed); published ports are elements of maps and sets
 * in it, added and deleted in one nfnetlink batch of our own (nfset.c) when only they change
 * (host_fw_sync). It reproduces the semantics of the original's pf rules (API.md §10.4):
 *   - outbound NAT: a non-internal network's subnet is masqueraded through its nat_if;
 *   - published ports: DNAT in prerouting (from outside) and output (from the host itself,
 *     127.0.0.1 included: masquerade + route_localnet) for local destination addresses,
 *     plus the hairpin masquerade (`ct status dnat`) so containers reach published ports,
 *     their own included;
 *   - forward: established/related pass; an internal network reaches nothing outside its
 *     bridge (and, in input, no host address outside its subnet); published ports pass
 *     from anywhere else; icc=false drops traffic inside a bridge (bridged traffic passes
 *     these hooks through br_netfilter); traffic into a network from anywhere else is
 *     dropped (isolation between networks, and no unpublished access from outside).
 * Policies stay `accept`: we only ever match traffic of our bridges, and never touch any
 * other table. Must not: put any text (or element byte) into a batch that has not been
 * validated here. */
#include "host/net.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib/buf.h"
#include "lib/cleanup.h"
#include "lib/log.h"
#include "lib/xalloc.h"
#include "host/linux/nfset.h"

#define FW_TABLE_NAME "kleene"
#define FW_TABLE "inet " FW_TABLE_NAME

/* ---- validation: everything that goes into the text passes one of these -------------- */

static int fw_ifname(const char *name, kl_error *err)
{
    if (!name || !host_ifname_is_valid(name))
        return kl_error_set(err, EINVAL, "firewall: invalid interface name \"%s\"",
                            name ? name : "(null)");
    return 0;
}

static bool is_set(const char *s)
{
    return s && s[0];
}

/* A bare address of family `af` (0: either; the found family is stored), normalized. */
static int fw_addr(const char *s, int *af, char out[INET6_ADDRSTRLEN], kl_error *err)
{
    unsigned char b[16];
    int f = strchr(s, ':') ? AF_INET6 : AF_INET;
    if ((*af && *af != f) || inet_pton(f, s, b) != 1 || !inet_ntop(f, b, out, INET6_ADDRSTRLEN))
        return kl_error_set(err, EINVAL, "firewall: invalid %s address \"%s\"",
                            *af == AF_INET6  ? "IPv6"
                            : *af == AF_INET ? "IPv4"
                                             : "IP",
                            s);
    *af = f;
    return 0;
}

/* "addr/len" (or a bare address) of family `af`, written as the network: "10.0.0.0/24". */
static int fw_prefix(const char *s, int af, char out[INET6_ADDRSTRLEN + 4], kl_error *err)
{
    char host[INET6_ADDRSTRLEN];
    unsigned char b[16];
    const char *slash = strchr(s, '/');
    size_t hl = slash ? (size_t)(slash - s) : strlen(s);
    int max = af == AF_INET ? 32 : 128, len = max;
    bool ok = hl > 0 && hl < sizeof(host);
    if (ok) {
        memcpy(host, s, hl);
        host[hl] = '\0';
        ok = inet_pton(af, host, b) == 1;
    }
    if (ok && slash) {
        const char *l = slash + 1;
        size_t n = strlen(l);
        ok = n > 0 && n <= 3 && strspn(l, "0123456789") == n && atoi(l) <= max;
        len = ok ? atoi(l) : 0;
    }
    if (!ok)
        return kl_error_set(err, EINVAL, "firewall: invalid %s subnet \"%s\"",
                            af == AF_INET ? "IPv4" : "IPv6", s);
    for (int i = 0; i < max / 8; i++) {
        int keep = len - i * 8;
        b[i] &= keep >= 8 ? 0xff : keep <= 0 ? 0 : (unsigned char)(0xff << (8 - keep));
    }
    inet_ntop(af, b, host, sizeof(host));
    snprintf(out, INET6_ADDRSTRLEN + 4, "%s/%d", host, len);
    return 0;
}

/* ---- the published-port maps ------------------------------------------------------- */

/* The table's structure (chains, maps, the rules that look the maps up) depends only on the
 * networks; every published port is a handful of map elements. So a container start or stop
 * changes elements only: one nfnetlink batch (nfset.c, ~0.2 ms), while replacing the table
 * through nft costs 10-30 ms (HOST-FACTS §3).
 *
 * DNAT maps are keyed by what the old per-port rules matched: the incoming interface
 * (prerouting, when the port names interfaces), the protocol, the host address (when the port
 * has one, else `fib daddr type local`) and the host port or range; their data is the
 * container address and port. A shifted range (8000-8010 -> 9000-9010) is one element per
 * port, as the anonymous map of the old rule was. A container side that is a range otherwise
 * (same-numbered, 7000-7010 -> 7000-7010, or of another length) stays a rule, and a change
 * of it replaces the table as before: nft 1.0.6 has interval map data for IPv4 only (IPv6
 * gives ENODATA), and lists single-port interval data in a form it cannot load again. */
enum {
    M_PRE4_IF_ADDR,
    M_PRE4_ADDR,
    M_PRE4_IF,
    M_PRE4,
    M_PRE6_IF_ADDR,
    M_PRE6_ADDR,
    M_PRE6_IF,
    M_PRE6,
    M_OUT4_ADDR,
    M_OUT4,
    M_OUT6_ADDR,
    M_OUT6,
    M_FWD4,
    M_FWD6,
    M_COUNT
};

typedef struct fw_map {
    const char *name;
    const char *type; /* "key : data", or the key of a set */
    const char *rule; /* the rule that uses it */
} fw_map;

#define D4 " : ipv4_addr . inet_service"
#define D6 " : ipv6_addr . inet_service"
#define L4 "meta l4proto { tcp, udp } "
#define LOCAL4 "meta nfproto ipv4 " L4 "fib daddr type local "
#define LOCAL6 "meta nfproto ipv6 " L4 "fib daddr type local "

/* In chain order: a port bound to a host address is more specific than one on every local
 * address, and is looked up first. */
static const fw_map fw_maps[M_COUNT] = {
    [M_PRE4_IF_ADDR] = {"pre4_if_addr", "ifname . inet_proto . ipv4_addr . inet_service" D4,
                        L4 "dnat ip to iifname . meta l4proto . ip daddr . th dport map "
                           "@pre4_if_addr"},
    [M_PRE4_ADDR] = {"pre4_addr", "inet_proto . ipv4_addr . inet_service" D4,
                     L4 "dnat ip to meta l4proto . ip daddr . th dport map @pre4_addr"},
    [M_PRE4_IF] = {"pre4_if", "ifname . inet_proto . inet_service" D4,
                   LOCAL4 "dnat ip to iifname . meta l4proto . th dport map @pre4_if"},
    [M_PRE4] = {"pre4", "inet_proto . inet_service" D4,
                LOCAL4 "dnat ip to meta l4proto . th dport map @pre4"},
    [M_PRE6_IF_ADDR] = {"pre6_if_addr", "ifname . inet_proto . ipv6_addr . inet_service" D6,
                        L4 "dnat ip6 to iifname . meta l4proto . ip6 daddr . th dport map "
                           "@pre6_if_addr"},
    [M_PRE6_ADDR] = {"pre6_addr", "inet_proto . ipv6_addr . inet_service" D6,
                     L4 "dnat ip6 to meta l4proto . ip6 daddr . th dport map @pre6_addr"},
    [M_PRE6_IF] = {"pre6_if", "ifname . inet_proto . inet_service" D6,
                   LOCAL6 "dnat ip6 to iifname . meta l4proto . th dport map @pre6_if"},
    [M_PRE6] = {"pre6", "inet_proto . inet_service" D6,
                LOCAL6 "dnat ip6 to meta l4proto . th dport map @pre6"},
    [M_OUT4_ADDR] = {"out4_addr", "inet_proto . ipv4_addr . inet_service" D4,
                     L4 "dnat ip to meta l4proto . ip daddr . th dport map @out4_addr"},
    [M_OUT4] = {"out4", "inet_proto . inet_service" D4,
                LOCAL4 "dnat ip to meta l4proto . th dport map @out4"},
    [M_OUT6_ADDR] = {"out6_addr", "inet_proto . ipv6_addr . inet_service" D6,
                     L4 "dnat ip6 to meta l4proto . ip6 daddr . th dport map @out6_addr"},
    [M_OUT6] = {"out6", "inet_proto . inet_service" D6,
                LOCAL6 "dnat ip6 to meta l4proto . th dport map @out6"},
    [M_FWD4] = {"fwd4", "ifname . ipv4_addr . inet_proto . inet_service",
                L4 "oifname . ip daddr . meta l4proto . th dport @fwd4 accept"},
    [M_FWD6] = {"fwd6", "ifname . ipv6_addr . inet_proto . inet_service",
                L4 "oifname . ip6 daddr . meta l4proto . th dport @fwd6 accept"},
};

/* An element: its key is `match . lo[-hi]` (the port is always the last part), kept both as
 * nft text (for whole-table batches) and in the kernel's layout (for nfset.c): each part of a
 * concatenation padded to 4 bytes, an interface name as 16 bytes, ports big-endian. */
#define FW_KEY_MAX 48
#define FW_DATA_MAX 20

typedef struct fw_elem {
    int map;
    char *match;
    unsigned char key[FW_KEY_MAX]; /* the match part; the port is appended when sent */
    size_t key_len;
    unsigned lo, hi;
    char *data; /* "" in a set */
    unsigned char bin[FW_DATA_MAX];
    size_t bin_len;
    size_t seq; /* the order of the ports: the first of two overlapping elements wins */
    char *text; /* "name\tkey\tdata", how resolved elements are compared */
} fw_elem;

typedef struct fw_elems {
    fw_elem *v;
    size_t n, cap;
} fw_elems;

static void elems_free(fw_elems *es)
{
    for (size_t i = 0; i < es->n; i++) {
        free(es->v[i].match);
        free(es->v[i].data);
        free(es->v[i].text);
    }
    free(es->v);
    *es = (fw_elems){0};
}

static fw_elem *elems_push(fw_elems *es)
{
    if (es->n == es->cap) {
        es->cap = es->cap ? es->cap * 2 : 32;
        es->v = xrealloc(es->v, es->cap * sizeof(*es->v));
    }
    fw_elem *e = &es->v[es->n];
    memset(e, 0, sizeof(*e));
    e->seq = es->n++;
    return e;
}

/* A key under construction: text and bytes, part by part. */
typedef struct fw_key {
    kl_buf text;
    unsigned char bin[FW_KEY_MAX];
    size_t len;
} fw_key;

static void key_part(fw_key *k, const char *text, const void *bin, size_t n)
{
    if (k->text.len)
        kl_buf_puts(&k->text, " . ");
    kl_buf_puts(&k->text, text);
    memcpy(k->bin + k->len, bin, n);
    size_t padded = (n + 3) & ~(size_t)3;
    memset(k->bin + k->len + n, 0, padded - n);
    k->len += padded;
}

static void key_ifname(fw_key *k, const char *name)
{
    char bin[16] = {0}, text[HOST_IFNAME_MAX + 3];
    memcpy(bin, name, strlen(name)); /* validated: at most 15 bytes */
    snprintf(text, sizeof(text), "\"%s\"", name);
    key_part(k, text, bin, sizeof(bin));
}

static void key_proto(fw_key *k, bool is_udp)
{
    unsigned char p = is_udp ? IPPROTO_UDP : IPPROTO_TCP;
    key_part(k, is_udp ? "udp" : "tcp", &p, 1);
}

/* `addr`: normalized text of family af. */
static void key_addr(fw_key *k, int af, const char *addr)
{
    unsigned char bin[16];
    inet_pton(af, addr, bin);
    key_part(k, addr, bin, af == AF_INET ? 4 : 16);
}

static void put_port(unsigned char *p, unsigned port)
{
    p[0] = (unsigned char)(port >> 8);
    p[1] = (unsigned char)port;
    p[2] = p[3] = 0;
}

/* Add an element of `map` with key k, ports lo-hi and (in a map) data addr . port. */
static void elems_add(fw_elems *es, int map, fw_key *k, unsigned lo, unsigned hi, int daf,
                      const char *daddr, unsigned dport)
{
    fw_elem *e = elems_push(es);
    e->map = map;
    e->match = kl_buf_steal(&k->text);
    memcpy(e->key, k->bin, k->len);
    e->key_len = k->len;
    e->lo = lo;
    e->hi = hi;
    if (daddr) {
        e->data = xasprintf("%s . %u", daddr, dport);
        size_t al = daf == AF_INET ? 4 : 16;
        inet_pton(daf, daddr, e->bin);
        put_port(e->bin + al, dport);
        e->bin_len = al + 4;
    } else {
        e->data = xstrdup("");
    }
}

typedef struct net_text {
    char subnet[INET6_ADDRSTRLEN + 4], subnet6[INET6_ADDRSTRLEN + 4];
} net_text;

enum { K_SINGLE, K_SAME, K_SHIFT, K_RANGE };

/* How the host port(s) map to the container port(s). */
static int dnat_kind(const host_fw_port *p)
{
    unsigned hn = p->host_last - p->host_first, cn = p->ctr_last - p->ctr_first;
    if (hn == 0 || cn == 0)
        return K_SINGLE; /* every host port to the first container port */
    if (hn == cn)
        return p->host_first == p->ctr_first ? K_SAME : K_SHIFT;
    return K_RANGE;
}

/* A port the maps cannot express (see above): it stays a rule. */
static bool is_rule_port(const host_fw_port *p)
{
    int k = dnat_kind(p);
    return k == K_SAME || k == K_RANGE;
}

/* The validated, normalized addresses of a port. */
typedef struct port_text {
    char ip[INET6_ADDRSTRLEN], ip6[INET6_ADDRSTRLEN], ha[INET6_ADDRSTRLEN];
    int haf; /* family of ha; 0: no host address */
} port_text;

static void port_texts(const host_fw_port *p, port_text *t)
{
    int af4 = AF_INET, af6 = AF_INET6;
    memset(t, 0, sizeof(*t));
    if (!is_set(p->ip) || fw_addr(p->ip, &af4, t->ip, NULL) < 0)
        t->ip[0] = '\0';
    if (!is_set(p->ip6) || fw_addr(p->ip6, &af6, t->ip6, NULL) < 0)
        t->ip6[0] = '\0';
    if (!is_set(p->host_addr) || fw_addr(p->host_addr, &t->haf, t->ha, NULL) < 0) {
        t->ha[0] = '\0';
        t->haf = 0;
    }
}

/* The container address of family af the port DNATs to, or NULL (none, or the port is bound
 * to a host address of the other family). */
static const char *port_target(const port_text *t, int af)
{
    const char *ip = af == AF_INET ? t->ip : t->ip6;
    if (!ip[0] || (t->haf && t->haf != af))
        return NULL;
    return ip;
}

/* ---- rules (the structure, and ports that stay rules) ------------------------------- */

static void port_match(kl_buf *b, const host_fw_port *p)
{
    if (p->host_first == p->host_last)
        kl_buf_printf(b, "%s dport %u", p->is_udp ? "udp" : "tcp", p->host_first);
    else
        kl_buf_printf(b, "%s dport %u-%u", p->is_udp ? "udp" : "tcp", p->host_first, p->host_last);
}

/* One DNAT rule for port p to container address `ip` of family af. */
static void dnat_rule(kl_buf *b, const host_fw_port *p, bool prerouting, int af, const char *ip,
                      const char *host_addr)
{
    const char *fam = af == AF_INET ? "ip" : "ip6";
    kl_buf_puts(b, "\t\t");
    if (prerouting && p->n_interfaces > 0) {
        kl_buf_puts(b, "iifname ");
        if (p->n_interfaces > 1)
            kl_buf_puts(b, "{ ");
        for (size_t i = 0; i < p->n_interfaces; i++)
            kl_buf_printf(b, "%s\"%s\"", i ? ", " : "", p->interfaces[i]);
        kl_buf_puts(b, p->n_interfaces > 1 ? " } " : " ");
    }
    if (host_addr)
        kl_buf_printf(b, "%s daddr %s ", fam, host_addr);
    else
        kl_buf_printf(b, "meta nfproto %s fib daddr type local ", af == AF_INET ? "ipv4" : "ipv6");
    port_match(b, p);
    const char *l = af == AF_INET6 ? "[" : "", *r = af == AF_INET6 ? "]" : "";
    switch (dnat_kind(p)) {
    case K_SINGLE:
        kl_buf_printf(b, " dnat %s to %s%s%s:%u\n", fam, l, ip, r, p->ctr_first);
        break;
    case K_SAME:
        kl_buf_printf(b, " dnat %s to %s\n", fam, ip); /* ports stay as they are */
        break;
    case K_SHIFT:
        /* pf's "port A:B -> ip port N:*": one map element per port. */
        kl_buf_printf(b, " dnat %s to %s dport map { ", fam, p->is_udp ? "udp" : "tcp");
        for (unsigned i = 0; i <= p->host_last - p->host_first; i++)
            kl_buf_printf(b, "%s%u : %s . %u", i ? ", " : "", p->host_first + i, ip,
                          p->ctr_first + i);
        kl_buf_puts(b, " }\n");
        break;
    default:
        kl_buf_printf(b, " dnat %s to %s%s%s:%u-%u\n", fam, l, ip, r, p->ctr_first, p->ctr_last);
    }
}

/* The ports that stay rules, in one chain. The bridges of all networks count as incoming
 * interfaces of a port that names interfaces: containers reach a published port through a
 * host address too (another container's, or their own: hairpin), arriving on their bridge. */
static void render_rule_ports(kl_buf *b, const host_fw_config *cfg, const char **bridges,
                              bool prerouting)
{
    for (size_t i = 0; i < cfg->n_ports; i++) {
        const host_fw_port *p = &cfg->ports[i];
        port_text t;
        port_texts(p, &t);
        if (!is_rule_port(p))
            continue;
        for (int f = 0; f < 2; f++) {
            int af = f ? AF_INET6 : AF_INET;
            const char *ip = port_target(&t, af);
            if (!ip)
                continue;
            dnat_rule(b, p, prerouting, af, ip, t.haf ? t.ha : NULL);
            if (prerouting && p->n_interfaces > 0 && cfg->n_networks > 0) {
                host_fw_port from_ctr = *p;
                from_ctr.interfaces = bridges;
                from_ctr.n_interfaces = cfg->n_networks;
                dnat_rule(b, &from_ctr, true, af, ip, t.haf ? t.ha : NULL);
            }
        }
    }
}

static void render_map_rules(kl_buf *b, int first, int last)
{
    for (int m = first; m <= last; m++)
        kl_buf_printf(b, "\t\t%s\n", fw_maps[m].rule);
}

/* The table without its elements. `with_maps`: there are networks or ports. */
static void render_structure(kl_buf *b, const host_fw_config *cfg, const net_text *nt,
                             const char **bridges)
{
    bool with_maps = cfg->n_networks > 0 || cfg->n_ports > 0;
    kl_buf_puts(b, "table " FW_TABLE " {\n");
    for (int m = 0; with_maps && m < M_COUNT; m++)
        kl_buf_printf(b, "\t%s %s {\n\t\ttype %s\n\t\tflags interval\n\t}\n",
                      m >= M_FWD4 ? "set" : "map", fw_maps[m].name, fw_maps[m].type);

    kl_buf_puts(b, "\tchain prerouting {\n"
                   "\t\ttype nat hook prerouting priority dstnat; policy accept;\n");
    render_rule_ports(b, cfg, bridges, true);
    if (with_maps)
        render_map_rules(b, M_PRE4_IF_ADDR, M_PRE6);
    kl_buf_puts(b, "\t}\n\tchain output {\n"
                   "\t\ttype nat hook output priority -100; policy accept;\n");
    render_rule_ports(b, cfg, bridges, false);
    if (with_maps)
        render_map_rules(b, M_OUT4_ADDR, M_OUT6);

    kl_buf_puts(b, "\t}\n\tchain postrouting {\n"
                   "\t\ttype nat hook postrouting priority srcnat; policy accept;\n");
    for (size_t i = 0; i < cfg->n_networks; i++) {
        const host_fw_network *n = &cfg->networks[i];
        if (n->internal || !is_set(n->nat_if))
            continue;
        if (nt[i].subnet[0])
            kl_buf_printf(b, "\t\tip saddr %s oifname \"%s\" masquerade\n", nt[i].subnet,
                          n->nat_if);
        if (nt[i].subnet6[0])
            kl_buf_printf(b, "\t\tip6 saddr %s oifname \"%s\" masquerade\n", nt[i].subnet6,
                          n->nat_if);
    }
    for (size_t i = 0; i < cfg->n_networks; i++) {
        const host_fw_network *n = &cfg->networks[i];
        /* 127.0.0.1 -> container (output DNAT) needs a source the container can answer. */
        kl_buf_printf(b, "\t\tip saddr 127.0.0.0/8 oifname \"%s\" masquerade\n", n->bridge);
        /* Hairpin: a container reaching a published port of its own network (itself too). */
        if (nt[i].subnet[0])
            kl_buf_printf(b, "\t\tct status dnat ip saddr %s oifname \"%s\" masquerade\n",
                          nt[i].subnet, n->bridge);
        if (nt[i].subnet6[0])
            kl_buf_printf(b, "\t\tct status dnat ip6 saddr %s oifname \"%s\" masquerade\n",
                          nt[i].subnet6, n->bridge);
    }

    kl_buf_puts(b, "\t}\n\tchain forward {\n"
                   "\t\ttype filter hook forward priority filter; policy accept;\n"
                   "\t\tct state established,related accept\n");
    for (size_t i = 0; i < cfg->n_networks; i++)
        if (cfg->networks[i].internal)
            kl_buf_printf(b, "\t\tiifname \"%s\" oifname != \"%s\" drop\n", cfg->networks[i].bridge,
                          cfg->networks[i].bridge);
    /* Published ports pass from anywhere (before icc and isolation drop). */
    if (with_maps)
        render_map_rules(b, M_FWD4, M_FWD6);
    for (size_t i = 0; i < cfg->n_networks; i++)
        if (!cfg->networks[i].icc)
            kl_buf_printf(b, "\t\tiifname \"%s\" oifname \"%s\" drop\n", cfg->networks[i].bridge,
                          cfg->networks[i].bridge);
    for (size_t i = 0; i < cfg->n_networks; i++)
        kl_buf_printf(b, "\t\toifname \"%s\" iifname != \"%s\" drop\n", cfg->networks[i].bridge,
                      cfg->networks[i].bridge);

    kl_buf_puts(b, "\t}\n\tchain input {\n"
                   "\t\ttype filter hook input priority filter; policy accept;\n");
    for (size_t i = 0; i < cfg->n_networks; i++) {
        const host_fw_network *n = &cfg->networks[i];
        if (!n->internal)
            continue;
        if (nt[i].subnet[0])
            kl_buf_printf(b, "\t\tiifname \"%s\" ip daddr != %s drop\n", n->bridge, nt[i].subnet);
        else
            kl_buf_printf(b, "\t\tiifname \"%s\" meta nfproto ipv4 drop\n", n->bridge);
        kl_buf_printf(b, "\t\tiifname \"%s\" ip6 daddr != { %s%sfe80::/10, ff00::/8 } drop\n",
                      n->bridge, nt[i].subnet6, nt[i].subnet6[0] ? ", " : "");
    }
    kl_buf_puts(b, "\t}\n}\n");
}

/* ---- elements ----------------------------------------------------------------------- */

/* The DNAT elements of port p for family af, in chain `pre` (prerouting) or output. */
static void dnat_elements(fw_elems *es, const host_fw_port *p, const port_text *t, int af, bool pre,
                          const char **bridges, size_t n_bridges)
{
    const char *ip = port_target(t, af);
    if (!ip || is_rule_port(p))
        return;
    bool v4 = af == AF_INET, has_ha = t->haf != 0;
    int map;
    /* Prerouting with interfaces: each of them and each bridge; else any interface. */
    size_t n_if = pre && p->n_interfaces > 0 ? p->n_interfaces + n_bridges : 0;
    if (!pre)
        map = has_ha ? (v4 ? M_OUT4_ADDR : M_OUT6_ADDR) : (v4 ? M_OUT4 : M_OUT6);
    else if (n_if)
        map = has_ha ? (v4 ? M_PRE4_IF_ADDR : M_PRE6_IF_ADDR) : (v4 ? M_PRE4_IF : M_PRE6_IF);
    else
        map = has_ha ? (v4 ? M_PRE4_ADDR : M_PRE6_ADDR) : (v4 ? M_PRE4 : M_PRE6);
    /* (key ports, container port): one, or one per port of a shifted range. */
    bool shift = dnat_kind(p) == K_SHIFT;
    unsigned n = shift ? p->host_last - p->host_first + 1 : 1;
    for (unsigned k = 0; k < n; k++) {
        unsigned klo = p->host_first + k, khi = shift ? klo : p->host_last;
        for (size_t i = 0; i < (n_if ? n_if : 1); i++) {
            fw_key key = {KL_BUF_INIT, {0}, 0};
            if (n_if)
                key_ifname(&key,
                           i < p->n_interfaces ? p->interfaces[i] : bridges[i - p->n_interfaces]);
            key_proto(&key, p->is_udp);
            if (has_ha)
                key_addr(&key, af, t->ha);
            elems_add(es, map, &key, klo, khi, af, ip, p->ctr_first + k);
        }
    }
}

static void port_elements(fw_elems *es, const host_fw_port *p, const char **bridges,
                          size_t n_bridges)
{
    port_text t;
    port_texts(p, &t);
    for (int f = 0; f < 2; f++) {
        int af = f ? AF_INET6 : AF_INET;
        dnat_elements(es, p, &t, af, true, bridges, n_bridges);
        dnat_elements(es, p, &t, af, false, bridges, n_bridges);
        /* forward: to the container's port(s), whatever the DNAT */
        const char *ip = af == AF_INET ? t.ip : t.ip6;
        if (!ip[0])
            continue;
        fw_key key = {KL_BUF_INIT, {0}, 0};
        key_ifname(&key, p->bridge);
        key_addr(&key, af, ip);
        key_proto(&key, p->is_udp);
        elems_add(es, f ? M_FWD6 : M_FWD4, &key, p->ctr_first, p->ctr_last, 0, NULL, 0);
    }
}

static int elem_group_cmp(const void *a, const void *b)
{
    const fw_elem *x = a, *y = b;
    if (x->map != y->map)
        return x->map < y->map ? -1 : 1;
    int c = strcmp(x->match, y->match);
    if (c)
        return c;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static int elem_lo_cmp(const void *a, const void *b)
{
    const fw_elem *x = *(fw_elem *const *)a, *y = *(fw_elem *const *)b;
    return x->lo < y->lo ? -1 : x->lo > y->lo;
}

static int elem_text_cmp(const void *a, const void *b)
{
    return strcmp(((const fw_elem *)a)->text, ((const fw_elem *)b)->text);
}

/* A resolved copy of e with ports lo-hi. */
static void elem_keep(fw_elems *out, const fw_elem *e, unsigned lo, unsigned hi)
{
    fw_elem *c = elems_push(out);
    size_t seq = c->seq;
    *c = *e;
    c->seq = seq;
    c->lo = lo;
    c->hi = hi;
    c->match = xstrdup(e->match);
    c->data = xstrdup(e->data);
    char ports[16];
    if (lo == hi)
        snprintf(ports, sizeof(ports), "%u", lo);
    else
        snprintf(ports, sizeof(ports), "%u-%u", lo, hi);
    c->text = xasprintf("%s\t%s . %s\t%s", fw_maps[e->map].name, e->match, ports, e->data);
}

/* The elements the maps can hold: in a DNAT map, of two elements whose keys overlap the
 * first wins (as the first of two rules did; logged at debug level; the other takes effect
 * once the first is gone); in a forward set, overlapping ranges merge. `out` is sorted by
 * text. */
static void elems_resolve(fw_elems *es, fw_elems *out)
{
    *out = (fw_elems){0};
    if (es->n > 1) /* (qsort's base must not be NULL, even for none) */
        qsort(es->v, es->n, sizeof(*es->v), elem_group_cmp);
    _cleanup_free_ fw_elem **acc = xcalloc(es->n + 1, sizeof(*acc));
    for (size_t i = 0; i < es->n;) {
        size_t j = i;
        while (j < es->n && es->v[j].map == es->v[i].map &&
               strcmp(es->v[j].match, es->v[i].match) == 0)
            j++;
        size_t na = 0;
        if (es->v[i].map >= M_FWD4) {
            for (size_t k = i; k < j; k++)
                acc[na++] = &es->v[k];
            qsort(acc, na, sizeof(*acc), elem_lo_cmp);
            for (size_t k = 0; k < na;) {
                unsigned hi = acc[k]->hi;
                size_t l = k + 1;
                for (; l < na && acc[l]->lo <= hi + 1; l++)
                    hi = acc[l]->hi > hi ? acc[l]->hi : hi;
                elem_keep(out, acc[k], acc[k]->lo, hi);
                k = l;
            }
        } else {
            /* acc: the accepted elements, sorted by lo and disjoint. */
            for (size_t k = i; k < j; k++) {
                fw_elem *e = &es->v[k];
                size_t lo = 0, hi = na; /* the first accepted one with lo > e->lo */
                while (lo < hi) {
                    size_t mid = (lo + hi) / 2;
                    if (acc[mid]->lo <= e->lo)
                        lo = mid + 1;
                    else
                        hi = mid;
                }
                const fw_elem *prev = lo > 0 ? acc[lo - 1] : NULL;
                const fw_elem *next = lo < na ? acc[lo] : NULL;
                const fw_elem *clash = prev && prev->hi >= e->lo   ? prev
                                       : next && next->lo <= e->hi ? next
                                                                   : NULL;
                if (clash) {
                    if (clash->lo != e->lo || clash->hi != e->hi ||
                        strcmp(clash->data, e->data) != 0)
                        log_debug("firewall: %s { %s . %u-%u : %s } overlaps %s . %u-%u: not "
                                  "applied while that one is",
                                  fw_maps[e->map].name, e->match, e->lo, e->hi, e->data,
                                  clash->match, clash->lo, clash->hi);
                    continue;
                }
                memmove(&acc[lo + 1], &acc[lo], (na - lo) * sizeof(*acc));
                acc[lo] = e;
                na++;
            }
            for (size_t k = 0; k < na; k++)
                elem_keep(out, acc[k], acc[k]->lo, acc[k]->hi);
        }
        i = j;
    }
    if (out->n > 1)
        qsort(out->v, out->n, sizeof(*out->v), elem_text_cmp);
}

static int check_port(const host_fw_port *p, kl_error *err)
{
    if (p->host_first > p->host_last || p->host_last > 65535 || p->ctr_first > p->ctr_last ||
        p->ctr_last > 65535)
        return kl_error_set(err, EINVAL, "firewall: invalid port range");
    if (fw_ifname(p->bridge, err) < 0)
        return -1;
    for (size_t i = 0; i < p->n_interfaces; i++)
        if (fw_ifname(p->interfaces[i], err) < 0)
            return -1;
    return 0;
}

/* ---- rendering ---------------------------------------------------------------------- */

typedef struct fw_parts {
    char *structure;   /* "table inet kleene { ... }" without elements */
    fw_elems elements; /* resolved, sorted by text */
} fw_parts;

static void parts_clear(fw_parts *p)
{
    free(p->structure);
    elems_free(&p->elements);
    *p = (fw_parts){0};
}

static int render_parts(const host_fw_config *cfg, fw_parts *out, kl_error *err)
{
    *out = (fw_parts){0};
    _cleanup_free_ net_text *nt = xcalloc(cfg->n_networks + 1, sizeof(*nt));
    for (size_t i = 0; i < cfg->n_networks; i++) {
        const host_fw_network *n = &cfg->networks[i];
        if (fw_ifname(n->bridge, err) < 0 || (is_set(n->nat_if) && fw_ifname(n->nat_if, err) < 0))
            return -1;
        if (is_set(n->subnet) && fw_prefix(n->subnet, AF_INET, nt[i].subnet, err) < 0)
            return -1;
        if (is_set(n->subnet6) && fw_prefix(n->subnet6, AF_INET6, nt[i].subnet6, err) < 0)
            return -1;
    }
    for (size_t i = 0; i < cfg->n_ports; i++) {
        const host_fw_port *p = &cfg->ports[i];
        char a[INET6_ADDRSTRLEN];
        int af4 = AF_INET, af6 = AF_INET6, any = 0;
        if (check_port(p, err) < 0 || (is_set(p->ip) && fw_addr(p->ip, &af4, a, err) < 0) ||
            (is_set(p->ip6) && fw_addr(p->ip6, &af6, a, err) < 0) ||
            (is_set(p->host_addr) && fw_addr(p->host_addr, &any, a, err) < 0))
            return -1;
    }
    _cleanup_free_ const char **bridges = xcalloc(cfg->n_networks + 1, sizeof(*bridges));
    for (size_t i = 0; i < cfg->n_networks; i++)
        bridges[i] = cfg->networks[i].bridge;

    _cleanup_buf_ kl_buf b = KL_BUF_INIT;
    render_structure(&b, cfg, nt, bridges);
    fw_elems es = {0};
    for (size_t i = 0; i < cfg->n_ports; i++)
        port_elements(&es, &cfg->ports[i], bridges, cfg->n_networks);
    elems_resolve(&es, &out->elements);
    elems_free(&es);
    out->structure = kl_buf_steal(&b);
    return 0;
}

/* `verb element inet kleene NAME { ... }`, one line per map (el is sorted by text, so by
 * map); `with_data`: key : data (add), else the key (delete). */
static void render_element_lines(kl_buf *b, const char *verb, const fw_elem *const *el, size_t n,
                                 bool with_data)
{
    for (size_t i = 0; i < n; i++) {
        const fw_elem *e = el[i];
        if (i == 0 || el[i - 1]->map != e->map) {
            if (i > 0)
                kl_buf_puts(b, " }\n");
            kl_buf_printf(b, "%s element " FW_TABLE " %s { ", verb, fw_maps[e->map].name);
        } else {
            kl_buf_puts(b, ", ");
        }
        const char *key = strchr(e->text, '\t') + 1;
        kl_buf_append(b, key, (size_t)(strchr(key, '\t') - key));
        if (with_data && e->data[0])
            kl_buf_printf(b, " : %s", e->data);
    }
    if (n > 0)
        kl_buf_puts(b, " }\n");
}

static char *render_full(const fw_parts *p)
{
    _cleanup_buf_ kl_buf b = KL_BUF_INIT;
    /* The first line creates the table if missing, so the delete never fails; the whole
     * batch is one transaction. */
    kl_buf_puts(&b, "table " FW_TABLE "\ndelete table " FW_TABLE "\n");
    kl_buf_puts(&b, p->structure);
    _cleanup_free_ const fw_elem **el = xcalloc(p->elements.n + 1, sizeof(*el));
    for (size_t i = 0; i < p->elements.n; i++)
        el[i] = &p->elements.v[i];
    render_element_lines(&b, "add", el, p->elements.n, true);
    return kl_buf_steal(&b);
}

char *host_fw_render(const host_fw_config *cfg, kl_error *err)
{
    fw_parts p;
    if (render_parts(cfg, &p, err) < 0)
        return NULL;
    char *text = render_full(&p);
    parts_clear(&p);
    return text;
}

/* ---- running nft -------------------------------------------------------------------- */

static const char *nft_path(void)
{
    static const char *const paths[] = {"/usr/sbin/nft", "/sbin/nft", "/usr/bin/nft"};
    for (size_t i = 0; i < KL_ARRAY_SIZE(paths); i++)
        if (access(paths[i], X_OK) == 0)
            return paths[i];
    return NULL;
}

int host_fw_run_nft(const char *batch, bool check_only, kl_error *err)
{
    const char *nft = nft_path();
    if (!nft)
        return kl_error_set(err, ENOENT, "firewall: the nft program is not installed");
    /* Both ends are memory files, not pipes: no deadlock and no SIGPIPE whatever nft does. */
    _cleanup_close_ int in = memfd_create("kl-nft-in", MFD_CLOEXEC);
    _cleanup_close_ int out = memfd_create("kl-nft-out", MFD_CLOEXEC);
    if (in < 0 || out < 0)
        return kl_error_errno(err, errno, "firewall: memfd_create");
    size_t len = strlen(batch);
    for (size_t off = 0; off < len;) {
        ssize_t w = KL_RETRY_EINTR(write(in, batch + off, len - off));
        if (w <= 0)
            return kl_error_errno(err, errno, "firewall: writing the batch");
        off += (size_t)w;
    }
    if (lseek(in, 0, SEEK_SET) < 0)
        return kl_error_errno(err, errno, "firewall: lseek");
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, in, 0);
    posix_spawn_file_actions_adddup2(&fa, out, 1);
    posix_spawn_file_actions_adddup2(&fa, out, 2);
    char *argv_apply[] = {"nft", "-f", "-", NULL};
    char *argv_check[] = {"nft", "-c", "-f", "-", NULL};
    char *envp[] = {"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL=C", NULL};
    pid_t pid;
    /* Privileged: runs nft with fixed arguments and environment on a batch that
     * host_fw_render built from validated names and addresses only. */
    int rc = posix_spawn(&pid, nft, &fa, NULL, check_only ? argv_check : argv_apply, envp);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0)
        return kl_error_errno(err, rc, "firewall: running %s", nft);
    int status;
    if (KL_RETRY_EINTR(waitpid(pid, &status, 0)) < 0)
        return kl_error_errno(err, errno, "firewall: waiting for nft");
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
        return 0;
    char msg[600] = "";
    ssize_t n = pread(out, msg, sizeof(msg) - 1, 0);
    msg[n > 0 ? n : 0] = '\0';
    for (char *p = msg; *p; p++)
        if (*p == '\n' && p[1])
            *p = ' ';
    msg[strcspn(msg, "\n")] = '\0';
    return kl_error_set(err, EIO, "firewall: nft %s failed (status %d): %s",
                        check_only ? "check" : "apply", status, msg);
}

int host_fw_apply(const host_fw_config *cfg, kl_error *err)
{
    _cleanup_free_ char *batch = host_fw_render(cfg, err);
    if (!batch)
        return -1;
    return host_fw_run_nft(batch, false, err);
}

int host_fw_check(const host_fw_config *cfg, kl_error *err)
{
    _cleanup_free_ char *batch = host_fw_render(cfg, err);
    if (!batch)
        return -1;
    return host_fw_run_nft(batch, true, err);
}

int host_fw_remove(kl_error *err)
{
    return host_fw_run_nft("table " FW_TABLE "\ndelete table " FW_TABLE "\n", false, err);
}

/* ---- incremental changes ------------------------------------------------------------ */

struct host_fw {
    char *structure; /* what was applied last; NULL: unknown (replace the table) */
    fw_elems elements;
    nfset *nl; /* opened on first use, in the caller's netns */
};

host_fw *host_fw_new(void)
{
    return xcalloc(1, sizeof(host_fw));
}

void host_fw_forget(host_fw *fw)
{
    free(fw->structure);
    fw->structure = NULL;
    elems_free(&fw->elements);
}

void host_fw_free(host_fw *fw)
{
    if (!fw)
        return;
    host_fw_forget(fw);
    nfset_close(fw->nl);
    free(fw);
}

typedef struct fw_diff {
    const fw_elem **del, **add; /* sorted by text, so grouped by map */
    size_t n_del, n_add;
} fw_diff;

static void diff_clear(fw_diff *d)
{
    free(d->del);
    free(d->add);
}

/* From `old` to `new` (both sorted by text). A key whose data changed is deleted and added. */
static void diff(const fw_elems *old, const fw_elems *new, fw_diff *d)
{
    d->del = xcalloc(old->n + 1, sizeof(*d->del));
    d->add = xcalloc(new->n + 1, sizeof(*d->add));
    d->n_del = d->n_add = 0;
    size_t i = 0, j = 0;
    while (i < old->n || j < new->n) {
        int c = i == old->n ? 1 : j == new->n ? -1 : strcmp(old->v[i].text, new->v[j].text);
        if (c < 0)
            d->del[d->n_del++] = &old->v[i++];
        else if (c > 0)
            d->add[d->n_add++] = &new->v[j++];
        else
            i++, j++;
    }
}

/* The elements of a diff for nfset_change (keys and ends in `bytes`). */
static nfset_elem *diff_nfset(const fw_elem *const *v, size_t n,
                              unsigned char (*bytes)[2][FW_KEY_MAX])
{
    nfset_elem *out = xcalloc(n + 1, sizeof(*out));
    for (size_t i = 0; i < n; i++) {
        const fw_elem *e = v[i];
        memcpy(bytes[i][0], e->key, e->key_len);
        memcpy(bytes[i][1], e->key, e->key_len);
        put_port(bytes[i][0] + e->key_len, e->lo);
        put_port(bytes[i][1] + e->key_len, e->hi);
        out[i] = (nfset_elem){fw_maps[e->map].name,       bytes[i][0], bytes[i][1], e->key_len + 4,
                              e->bin_len ? e->bin : NULL, e->bin_len};
    }
    return out;
}

static int apply_diff(host_fw *fw, const fw_diff *d, kl_error *err)
{
    if (!fw->nl && !(fw->nl = nfset_open(err)))
        return -1;
    _cleanup_free_ unsigned char(*kd)[2][FW_KEY_MAX] = xcalloc(d->n_del + 1, sizeof(*kd));
    _cleanup_free_ unsigned char(*ka)[2][FW_KEY_MAX] = xcalloc(d->n_add + 1, sizeof(*ka));
    _cleanup_free_ nfset_elem *del = diff_nfset(d->del, d->n_del, kd);
    _cleanup_free_ nfset_elem *add = diff_nfset(d->add, d->n_add, ka);
    int r = nfset_change(fw->nl, FW_TABLE_NAME, del, d->n_del, add, d->n_add, err);
    if (r < 0 && err->code != E2BIG && err->code != EEXIST && err->code != ENOENT) {
        /* A socket in a bad state: a new one next time. */
        nfset_close(fw->nl);
        fw->nl = NULL;
    }
    return r;
}

char *host_fw_render_sync(const host_fw *fw, const host_fw_config *cfg, bool *whole, kl_error *err)
{
    fw_parts parts;
    if (render_parts(cfg, &parts, err) < 0)
        return NULL;
    char *out;
    *whole = !fw || !fw->structure || strcmp(fw->structure, parts.structure) != 0;
    if (*whole) {
        out = render_full(&parts);
    } else {
        fw_diff d;
        diff(&fw->elements, &parts.elements, &d);
        _cleanup_buf_ kl_buf b = KL_BUF_INIT;
        render_element_lines(&b, "delete", d.del, d.n_del, false);
        render_element_lines(&b, "add", d.add, d.n_add, true);
        out = kl_buf_steal(&b);
        diff_clear(&d);
    }
    parts_clear(&parts);
    return out;
}

int host_fw_sync(host_fw *fw, const host_fw_config *cfg, kl_error *err)
{
    fw_parts parts;
    if (render_parts(cfg, &parts, err) < 0)
        return -1;
    int r = 2;
    if (fw->structure && strcmp(fw->structure, parts.structure) == 0) {
        fw_diff d;
        diff(&fw->elements, &parts.elements, &d);
        kl_error ierr = KL_ERROR_INIT;
        r = d.n_del + d.n_add == 0 ? 0 : apply_diff(fw, &d, &ierr) == 0 ? 1 : 2;
        diff_clear(&d);
        if (r == 2)
            /* Our idea of the table was wrong (someone changed it), or the change is too
             * big for one message: replace the table. */
            log_debug("firewall: changing elements: %s; replacing the table", ierr.msg);
    }
    if (r == 2) {
        _cleanup_free_ char *batch = render_full(&parts);
        host_fw_forget(fw);
        if (host_fw_run_nft(batch, false, err) < 0)
            r = -1;
    }
    if (r > 0) {
        host_fw_forget(fw);
        fw->structure = steal_pointer(&parts.structure);
        fw->elements = parts.elements;
        parts.elements = (fw_elems){0};
    }
    parts_clear(&parts);
    return r;
}
