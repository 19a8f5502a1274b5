/* The engine: Kleene's domain state (images, containers, exec instances, networks, volumes)
 * over the metadata store and the directories under the root. Portable: no HTTP, no host
 * specifics (those go through host/host.h).
 *
 * Locking: engine state changes are serialised under `lock`, which is recursive so that an
 * operation may call another (container create making a volume). Public functions of the
 * engine modules take it themselves; long work (builds, downloads, deleting big trees) runs
 * outside it and takes it only to record results. */
#ifndef KL_ENGINE_ENGINE_H
#define KL_ENGINE_ENGINE_H

#include <pthread.h>

#include "engine/store.h"
#include "lib/error.h"

typedef struct kl_engine {
    kl_store *store;
    char
        *root; /* absolute, no trailing '/': <root>/metadata.sqlite, image/, container/, volumes/ */
    char *run_root;            /* runtime files (monitor sockets ...); may be NULL */
    char *nat_if;              /* config `nat_if` (networks_set_nat_if); NULL: detect */
    char *dataset_root;        /* config `zfs_dataset_root` (images.c); NULL: "/" */
    struct host_fw *fw;        /* the firewall as networks.c last applied it; NULL: not yet */
    struct endwatch *endwatch; /* container ends (endwatch.h); NULL: not watched */
    pthread_mutex_t lock;
} kl_engine;

/* Create <root> (and its parents), <root>/image, <root>/container, <root>/volumes (mode 0700
 * when created) and `run_root` if given, then open the store at <root>/metadata.sqlite.
 * `root` must be an absolute path. */
kl_engine *engine_open(const char *root, const char *run_root, kl_error *err);
void engine_close(kl_engine *e);

void engine_lock(kl_engine *e);
void engine_unlock(kl_engine *e);

/* Give back what caches hold and can read again (SQLite's page cache, which otherwise keeps
 * up to 2 MB of pages after a burst of requests). For a quiet moment: nothing is lost. */
void engine_release_memory(kl_engine *e);

#endif
