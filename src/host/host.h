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

#endif
