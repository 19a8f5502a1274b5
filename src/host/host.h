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

/* Set the host layer up, once, at daemon start (before engine_open). Linux: nothing to do.
 * FreeBSD: the runner that runs the host's commands, and the root dataset (the environment
 * variable KLEENED_ZFS_ROOT, default zroot/kleene; docs/freebsd.md). */
int host_layer_setup(kl_error *err);

#endif
