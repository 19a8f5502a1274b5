/* Elements of nf_tables sets and maps, added and deleted through nfnetlink (libmnl) on a
 * socket kept open: the firewall's per-container changes (firewall.c). Internal to the Linux
 * host layer. */
#ifndef KL_HOST_LINUX_NFSET_H
#define KL_HOST_LINUX_NFSET_H

#include <stdbool.h>
#include <stddef.h>

#include "lib/error.h"

/* One element: key (and key_end, the upper end of an interval) in the kernel's layout, each
 * part of a concatenation padded to 4 bytes; data for a map, NULL in a set. */
typedef struct nfset_elem {
    const char *set;
    const void *key, *key_end;
    size_t key_len;
    const void *data;
    size_t data_len;
} nfset_elem;

typedef struct nfset nfset; /* a NETLINK_NETFILTER socket in the caller's netns */

nfset *nfset_open(kl_error *err);
void nfset_close(nfset *s);

/* In one transaction of table `table` (family inet): delete `del`, then add `add` (an
 * element that exists already is an error, EEXIST, as is a missing one on delete, ENOENT).
 * Everything or nothing changes. E2BIG when the batch would not fit one message. */
int nfset_change(nfset *s, const char *table, const nfset_elem *del, size_t n_del,
                 const nfset_elem *add, size_t n_add, kl_error *err);

#endif
