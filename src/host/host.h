/* The host interface (DESIGN.md §2). Everything above src/host (engine, api, daemon) reaches
 * the operating system only through the headers included here. No Linux (or FreeBSD) types
 * may appear in them: src/host/linux/ implements them for Linux, a FreeBSD layer will
 * implement the same functions. */
#ifndef KL_HOST_H
#define KL_HOST_H

#include "host/fs.h"
#include "host/storage.h"
#include "host/fetch.h"
#include "host/helpers.h"
#include "host/net.h"
#include "host/process.h"
#include "lib/error.h"

/* What the host layer is told at daemon start (kleened.yaml, docs/config.md). Linux uses none
 * of it. */
typedef struct host_layer_config {
    /* FreeBSD: the root dataset; NULL or "": the environment variable KLEENED_ZFS_ROOT, else
     * zroot/kleene. */
    const char *zfs_root;
    /* FreeBSD: the name of our pf anchor; NULL or "": "kleene". */
    const char *pf_anchor;
} host_layer_config;

/* Set the host layer up, once, at daemon start (before engine_open). `cfg` may be NULL (all
 * defaults). Linux: nothing to do. FreeBSD: the runner that runs the host's commands, the
 * root dataset and the pf anchor (docs/freebsd.md); an invalid dataset name is EINVAL. */
int host_layer_setup(const host_layer_config *cfg, kl_error *err);

#endif
