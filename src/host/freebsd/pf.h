/* pf for Kleene's networks (FREEBSD-HOST.md §8): NAT, published ports (rdr) and filtering,
 * rendered from the networks and containers, loaded into an anchor of our own with
 * `pfctl -a <anchor> -f -`. DIFFERENCE: the original regenerated the whole /etc/pf.conf from
 * a template, wrote it in place and ignored pfctl's failures (B18); the host's own pf.conf
 * is never written here, it only has to hook the anchor in (`kleened init` offers it):
 *     nat-anchor "kleene"
 *     rdr-anchor "kleene"
 *     anchor "kleene"
 * Portable; see fbhost.h. */
#ifndef KL_FB_PF_H
#define KL_FB_PF_H

#include <stdbool.h>
#include <stddef.h>

#include "host/freebsd/fbhost.h"

typedef struct fb_pf_network {
    const char *id;      /* network id: macros are kleenet_<id>_... */
    const char *ifname;  /* kleene0 */
    const char *subnet;  /* NULL/"" none */
    const char *subnet6; /* NULL/"" none */
    const char *nat_if;  /* NULL/"": no NAT */
    bool icc;
    bool internal;
    const char *const *epairs; /* the "a" ends of its vnet endpoints ("epair3a"), may be NULL */
} fb_pf_network;

typedef struct fb_pf_port {
    bool is_udp;
    unsigned host_first, host_last; /* host port or range */
    unsigned ctr_first;             /* container port (a range maps by offset) */
    const char *const *interfaces;  /* incoming interfaces; NULL/empty: the host gateway's */
    const char *ip;                 /* container IPv4 (NULL/"": none) */
    const char *ip6;                /* container IPv6 (NULL/"": none) */
} fb_pf_port;

typedef struct fb_pf_config {
    const fb_pf_network *networks; /* ordered by name, as the original */
    size_t n_networks;
    const fb_pf_port *ports; /* ordered by container creation, then as published */
    size_t n_ports;
} fb_pf_config;

/* The anchor's rules (xmalloc'ed), pure: macros, translation (nat, rdr), filtering, in the
 * original's order. Every name and address is checked first (EINVAL). Fixed on the way:
 * B15 (the IPv6 egress block of internal networks uses the detected gateway), B16 (no
 * reference to an undefined gateway macro), B17 (the pass on the Kleene interfaces uses the
 * port's protocol). */
char *fb_pf_render(const fb_host *h, const fb_pf_config *cfg, kl_error *err);

/* Render and load into the anchor, atomically (pfctl loads a whole ruleset or nothing). A
 * refused ruleset is an error with pfctl's message, the previous one stays loaded. */
int fb_pf_apply(const fb_host *h, const fb_pf_config *cfg, kl_error *err);

/* Daemon start: enable pf (already enabled is fine) and check that the main ruleset hooks
 * our anchor in; *warning (may be NULL) gets a message when it does not (rules would be
 * loaded but never evaluated). */
int fb_pf_start(const fb_host *h, char **warning, kl_error *err);

#endif
