/* The firewall: our own nftables table `inet kleene` (one table for IPv4 and IPv6), replaced
 * as a whole by one atomic batch per change (`nft -f -`; the nft program rather than the
 * GPL libnftables keeps the project BSD-licensed). It reproduces the semantics of the
 * original's pf rules (API.md §10.4):
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
 * other table. Must not: put any text into the batch that has not been validated here. */
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
#include "lib/xalloc.h"

#define FW_TABLE "inet kleene"

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

/* ---- rendering ---------------------------------------------------------------------- */

typedef struct net_text {
    char subnet[INET6_ADDRSTRLEN + 4], subnet6[INET6_ADDRSTRLEN + 4];
} net_text;

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
    unsigned hn = p->host_last - p->host_first, cn = p->ctr_last - p->ctr_first;
    const char *l = af == AF_INET6 ? "[" : "", *r = af == AF_INET6 ? "]" : "";
    if (hn == 0 || cn == 0) {
        kl_buf_printf(b, " dnat %s to %s%s%s:%u\n", fam, l, ip, r, p->ctr_first);
    } else if (hn == cn && p->host_first == p->ctr_first) {
        kl_buf_printf(b, " dnat %s to %s\n", fam, ip); /* ports stay as they are */
    } else if (hn == cn) {
        /* A shifted range (pf's "port A:B -> ip port N:*"): one map element per port. */
        kl_buf_printf(b, " dnat %s to %s dport map { ", fam, p->is_udp ? "udp" : "tcp");
        for (unsigned i = 0; i <= hn; i++)
            kl_buf_printf(b, "%s%u : %s . %u", i ? ", " : "", p->host_first + i, ip,
                          p->ctr_first + i);
        kl_buf_puts(b, " }\n");
    } else {
        kl_buf_printf(b, " dnat %s to %s%s%s:%u-%u\n", fam, l, ip, r, p->ctr_first, p->ctr_last);
    }
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

static void render_port(kl_buf *b, const host_fw_port *p, bool prerouting)
{
    char ip[INET6_ADDRSTRLEN], ip6[INET6_ADDRSTRLEN], ha[INET6_ADDRSTRLEN];
    int af4 = AF_INET, af6 = AF_INET6, haf = 0;
    bool has_ha = is_set(p->host_addr) && fw_addr(p->host_addr, &haf, ha, NULL) == 0;
    if (is_set(p->ip) && fw_addr(p->ip, &af4, ip, NULL) == 0 && (!has_ha || haf == AF_INET))
        dnat_rule(b, p, prerouting, AF_INET, ip, has_ha ? ha : NULL);
    if (is_set(p->ip6) && fw_addr(p->ip6, &af6, ip6, NULL) == 0 && (!has_ha || haf == AF_INET6))
        dnat_rule(b, p, prerouting, AF_INET6, ip6, has_ha ? ha : NULL);
}

static void render_ports(kl_buf *b, const host_fw_config *cfg, bool prerouting)
{
    /* The bridges of all networks: containers reach a published port through a host
     * address too (another container's, or their own: hairpin), arriving on their bridge
     * rather than on the port's interfaces. */
    _cleanup_free_ const char **bridges = xcalloc(cfg->n_networks + 1, sizeof(*bridges));
    for (size_t i = 0; i < cfg->n_networks; i++)
        bridges[i] = cfg->networks[i].bridge;
    for (size_t i = 0; i < cfg->n_ports; i++) {
        const host_fw_port *p = &cfg->ports[i];
        render_port(b, p, prerouting);
        if (prerouting && p->n_interfaces > 0 && cfg->n_networks > 0) {
            host_fw_port from_ctr = *p;
            from_ctr.interfaces = bridges;
            from_ctr.n_interfaces = cfg->n_networks;
            render_port(b, &from_ctr, true);
        }
    }
}

char *host_fw_render(const host_fw_config *cfg, kl_error *err)
{
    _cleanup_free_ net_text *nt = xcalloc(cfg->n_networks + 1, sizeof(*nt));
    for (size_t i = 0; i < cfg->n_networks; i++) {
        const host_fw_network *n = &cfg->networks[i];
        if (fw_ifname(n->bridge, err) < 0 || (is_set(n->nat_if) && fw_ifname(n->nat_if, err) < 0))
            return NULL;
        if (is_set(n->subnet) && fw_prefix(n->subnet, AF_INET, nt[i].subnet, err) < 0)
            return NULL;
        if (is_set(n->subnet6) && fw_prefix(n->subnet6, AF_INET6, nt[i].subnet6, err) < 0)
            return NULL;
    }
    for (size_t i = 0; i < cfg->n_ports; i++) {
        const host_fw_port *p = &cfg->ports[i];
        char a[INET6_ADDRSTRLEN];
        int af4 = AF_INET, af6 = AF_INET6, any = 0;
        if (check_port(p, err) < 0 || (is_set(p->ip) && fw_addr(p->ip, &af4, a, err) < 0) ||
            (is_set(p->ip6) && fw_addr(p->ip6, &af6, a, err) < 0) ||
            (is_set(p->host_addr) && fw_addr(p->host_addr, &any, a, err) < 0))
            return NULL;
    }

    _cleanup_buf_ kl_buf b = KL_BUF_INIT;
    /* The first line creates the table if missing, so the delete never fails; the whole
     * batch is one transaction. */
    kl_buf_puts(&b, "table " FW_TABLE "\ndelete table " FW_TABLE "\ntable " FW_TABLE " {\n");

    kl_buf_puts(&b, "\tchain prerouting {\n"
                    "\t\ttype nat hook prerouting priority dstnat; policy accept;\n");
    render_ports(&b, cfg, true);
    kl_buf_puts(&b, "\t}\n\tchain output {\n"
                    "\t\ttype nat hook output priority -100; policy accept;\n");
    render_ports(&b, cfg, false);

    kl_buf_puts(&b, "\t}\n\tchain postrouting {\n"
                    "\t\ttype nat hook postrouting priority srcnat; policy accept;\n");
    for (size_t i = 0; i < cfg->n_networks; i++) {
        const host_fw_network *n = &cfg->networks[i];
        if (n->internal || !is_set(n->nat_if))
            continue;
        if (nt[i].subnet[0])
            kl_buf_printf(&b, "\t\tip saddr %s oifname \"%s\" masquerade\n", nt[i].subnet,
                          n->nat_if);
        if (nt[i].subnet6[0])
            kl_buf_printf(&b, "\t\tip6 saddr %s oifname \"%s\" masquerade\n", nt[i].subnet6,
                          n->nat_if);
    }
    for (size_t i = 0; i < cfg->n_networks; i++) {
        const host_fw_network *n = &cfg->networks[i];
        /* 127.0.0.1 -> container (output DNAT) needs a source the container can answer. */
        kl_buf_printf(&b, "\t\tip saddr 127.0.0.0/8 oifname \"%s\" masquerade\n", n->bridge);
        /* Hairpin: a container reaching a published port of its own network (itself too). */
        if (nt[i].subnet[0])
            kl_buf_printf(&b, "\t\tct status dnat ip saddr %s oifname \"%s\" masquerade\n",
                          nt[i].subnet, n->bridge);
        if (nt[i].subnet6[0])
            kl_buf_printf(&b, "\t\tct status dnat ip6 saddr %s oifname \"%s\" masquerade\n",
                          nt[i].subnet6, n->bridge);
    }

    kl_buf_puts(&b, "\t}\n\tchain forward {\n"
                    "\t\ttype filter hook forward priority filter; policy accept;\n"
                    "\t\tct state established,related accept\n");
    for (size_t i = 0; i < cfg->n_networks; i++)
        if (cfg->networks[i].internal)
            kl_buf_printf(&b, "\t\tiifname \"%s\" oifname != \"%s\" drop\n",
                          cfg->networks[i].bridge, cfg->networks[i].bridge);
    for (size_t i = 0; i < cfg->n_ports; i++) {
        const host_fw_port *p = &cfg->ports[i];
        char a[INET6_ADDRSTRLEN], range[16];
        if (p->ctr_first == p->ctr_last)
            snprintf(range, sizeof(range), "%u", p->ctr_first);
        else
            snprintf(range, sizeof(range), "%u-%u", p->ctr_first, p->ctr_last);
        int af4 = AF_INET, af6 = AF_INET6;
        if (is_set(p->ip) && fw_addr(p->ip, &af4, a, NULL) == 0)
            kl_buf_printf(&b, "\t\toifname \"%s\" ip daddr %s %s dport %s accept\n", p->bridge, a,
                          p->is_udp ? "udp" : "tcp", range);
        if (is_set(p->ip6) && fw_addr(p->ip6, &af6, a, NULL) == 0)
            kl_buf_printf(&b, "\t\toifname \"%s\" ip6 daddr %s %s dport %s accept\n", p->bridge, a,
                          p->is_udp ? "udp" : "tcp", range);
    }
    for (size_t i = 0; i < cfg->n_networks; i++)
        if (!cfg->networks[i].icc)
            kl_buf_printf(&b, "\t\tiifname \"%s\" oifname \"%s\" drop\n", cfg->networks[i].bridge,
                          cfg->networks[i].bridge);
    for (size_t i = 0; i < cfg->n_networks; i++)
        kl_buf_printf(&b, "\t\toifname \"%s\" iifname != \"%s\" drop\n", cfg->networks[i].bridge,
                      cfg->networks[i].bridge);

    kl_buf_puts(&b, "\t}\n\tchain input {\n"
                    "\t\ttype filter hook input priority filter; policy accept;\n");
    for (size_t i = 0; i < cfg->n_networks; i++) {
        const host_fw_network *n = &cfg->networks[i];
        if (!n->internal)
            continue;
        if (nt[i].subnet[0])
            kl_buf_printf(&b, "\t\tiifname \"%s\" ip daddr != %s drop\n", n->bridge, nt[i].subnet);
        else
            kl_buf_printf(&b, "\t\tiifname \"%s\" meta nfproto ipv4 drop\n", n->bridge);
        kl_buf_printf(&b, "\t\tiifname \"%s\" ip6 daddr != { %s%sfe80::/10, ff00::/8 } drop\n",
                      n->bridge, nt[i].subnet6, nt[i].subnet6[0] ? ", " : "");
    }
    kl_buf_puts(&b, "\t}\n}\n");
    return kl_buf_steal(&b);
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
