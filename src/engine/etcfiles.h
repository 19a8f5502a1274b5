/* A container's /etc/hosts, /etc/hostname and /etc/resolv.conf (docs/api.md "Name
 * resolution"): the text of each, the checks of what users give for them (extra hosts,
 * aliases, nameservers), and their writing.
 *
 * Names between containers are resolved through /etc/hosts, not an embedded DNS server: the
 * file lists the container's own hostname and every container on the networks it shares
 * (their names, aliases and 12-hex ids), and kleened rewrites it when that changes. The files
 * live in the container's directory and are bind-mounted into it, so a rewrite must keep the
 * inode (etcfiles_rewrite writes in place; a rename would leave the container on the old
 * file).
 *
 * Pure except etcfiles_rewrite and etcfiles_host_resolv. Untrusted text goes into the checks;
 * every bad value is a clean EINVAL error naming it. */
#ifndef KL_ENGINE_ETCFILES_H
#define KL_ENGINE_ETCFILES_H

#include <stdbool.h>
#include <stddef.h>

#include "lib/error.h"

/* Longest host name or alias (a DNS name). */
#define ETCFILES_NAME_MAX 253

/* A name a container may be reached by: 1..253 characters of [A-Za-z0-9_.-], not starting
 * with '.' or '-'. EINVAL naming `what` ("alias", "extra host") and the value. */
int etcfiles_check_name(const char *what, const char *name, kl_error *err);

/* An extra host "NAME:ADDRESS" (Docker's --add-host; the address may be IPv6 and contain
 * ':'; "host-gateway" stands for the container's gateway). Splits it: *name_len is the
 * length of NAME, *addr points into `entry`. EINVAL with a message naming the entry. */
int etcfiles_check_extra_host(const char *entry, size_t *name_len, const char **addr,
                              kl_error *err);

/* A nameserver: an IPv4 or IPv6 address. */
int etcfiles_check_nameserver(const char *addr, kl_error *err);

/* A search domain (a name as above) or a resolver option (1..64 of [A-Za-z0-9_.:-]). */
int etcfiles_check_search(const char *domain, kl_error *err);
int etcfiles_check_option(const char *option, kl_error *err);

/* Another container (or the container itself) as /etc/hosts lists it: its addresses on a
 * shared network ("" when none) and its names (container name, aliases, id), deduplicated
 * by the renderer. */
typedef struct etcfiles_peer {
    const char *ip, *ip6;
    char *const *names;
} etcfiles_peer;

typedef struct etcfiles_hosts {
    const char *hostname; /* the container's host name */
    const char *ip, *ip6; /* its first addresses ("" or NULL: none) */
    char *const *extra;   /* "NAME:ADDRESS", host-gateway already replaced; NULL-terminated */
    const etcfiles_peer *peers;
    size_t n_peers;
} etcfiles_hosts;

/* The text of /etc/hosts (malloc'ed): localhost lines, the extra hosts, the container's own
 * hostname on its first addresses, then one line per peer address. */
char *etcfiles_hosts_text(const etcfiles_hosts *in);

/* The text of /etc/resolv.conf (malloc'ed) from the host's (`host_text`, may be NULL): the
 * given nameservers / search domains / options replace the host's when non-NULL (an empty
 * list: none); nameservers on loopback addresses are dropped (a container's loopback is its
 * own). */
char *etcfiles_resolv_text(const char *host_text, char *const *nameservers, char *const *search,
                           char *const *options);

/* The host's resolv.conf text (malloc'ed), NULL when it cannot be read. */
char *etcfiles_host_resolv(const char *path);

/* Write `text` to `dir`/`name` in place: created if missing (0644), else the same inode
 * rewritten and truncated (a bind mount of it sees the new text). Never follows a symlink. */
int etcfiles_rewrite(const char *dir, const char *name, const char *text, kl_error *err);

#endif
