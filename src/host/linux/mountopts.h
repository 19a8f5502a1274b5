/* mount(8)-style option lists (an OCI mount's "options") → mount(2) flags, propagation, the
 * bind kind and the filesystem data string. Pure, for runtime_full.c and its unit test.
 * Unknown options are filesystem data ("mode=755", "size=64k", "newinstance"); a few that make
 * no sense for a container or that we do not implement are refused by name. */
#ifndef KL_HOST_LINUX_MOUNTOPTS_H
#define KL_HOST_LINUX_MOUNTOPTS_H

#include <stdbool.h>

#include "lib/error.h"

typedef struct mount_opts {
    unsigned long flags;       /* MS_RDONLY, MS_NOSUID ... to set */
    unsigned long clear;       /* flags an option cleared explicitly (rw, suid, dev, exec...) */
    unsigned long propagation; /* MS_PRIVATE / MS_SLAVE / MS_SHARED / MS_UNBINDABLE (| MS_REC) */
    bool bind, recursive;      /* bind / rbind */
    char *data;                /* the rest, comma-joined; NULL when none (caller frees) */
} mount_opts;

int mount_opts_parse(char *const *options, mount_opts *out, kl_error *err);
void mount_opts_free(mount_opts *o);
/* The MOUNT_ATTR_* of flags (for mount_setattr on a bind). */
unsigned long long mount_opts_attrs(unsigned long flags);

#endif
