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
#include <stdint.h>

#include "engine/store.h"
#include "lib/error.h"

typedef struct kl_engine {
    kl_store *store;
    char
        *root; /* absolute, no trailing '/': <root>/metadata.sqlite, image/, container/, volumes/ */
    char *run_root;             /* runtime files (monitor sockets ...); may be NULL */
    char *private_dirs[3];      /* root and run_root, NULL-terminated: kleened's own, which no
                                   bind mount source may be in (containers_check_mount) */
    char *nat_if;               /* config `nat_if` (networks_set_nat_if); NULL: detect */
    char *dataset_root;         /* config `zfs_dataset_root` (images.c); NULL: "/" */
    char **insecure_registries; /* config `insecure_registries` (registry.c); NULL: none */
    char *registry_certs_dir;   /* config `registry_certs_dir` (registry.c); NULL: none */
    uint64_t registry_push_chunk_size; /* config `registry_push_chunk_size`; 0: one PUT */
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

/* ---- a full disk ------------------------------------------------------------------------
 * Every removal must work when the filesystem of the root has no byte left (issue 12): a
 * removal's metadata step is an SQLite write, which needs room in the write-ahead log even
 * when it deletes rows. A removal that finds less than ENGINE_RESERVE_LOW free first
 * checkpoints the log, so that its transaction rewrites the log over room the file has. The
 * engine also keeps <root>/space.reserve, a file of ENGINE_RESERVE_BYTES allocated on disk,
 * and gives it back in ENGINE_RESERVE_STEP pieces when the checkpoint needs room or the log
 * file is small; creations never touch it, so they fail with ENOSPC while removals still
 * work. The reserve grows back (best effort) after each removal and at start.
 * Anything else writing on the same filesystem (a container filling a volume) can take the
 * released room first; removals that free data free it before their metadata step where
 * the order allows (containers), so they do not depend on the reserve. */
#define ENGINE_RESERVE_FILE "space.reserve"
#define ENGINE_RESERVE_BYTES (4L * 1024 * 1024)
#define ENGINE_RESERVE_STEP (1L * 1024 * 1024)
#define ENGINE_RESERVE_LOW (1L * 1024 * 1024)

/* Before a removal: release one step of the reserve if the root's filesystem is short. */
void engine_space_for_removal(kl_engine *e);
/* After a removal (and at start): grow the reserve back as far as the free space allows. */
void engine_space_restore(kl_engine *e);

/* ---- crash tests ------------------------------------------------------------------------
 * When the environment variable KLEENED_CRASH_POINT (read once, at engine_open) names
 * `point`, kleened logs it and kills itself with SIGKILL there: tests/e2e/crash.bats and
 * tests/torture/ use it to stop kleened between the steps of a multi-step change. Without
 * the variable this is one string comparison against NULL. The points are listed in
 * docs/crash-consistency.md. */
void engine_crash_point(const char *point);

/* ---- race tests --------------------------------------------------------------------------
 * When KLEENED_DELAY_POINT (read once, at engine_open) is `point[:ms]`, kleened sleeps there
 * (default 100 ms, at most 10 s): a test widens a race window to show that it is handled.
 * Without the variable this is one comparison against NULL. Points: `log-monitor-connected`
 * (exec_log_open, between connecting to a container's monitor and asking it for the log). */
void engine_delay_point(const char *point);

#endif
