/* Copies into and out of a container's filesystem (Docker's `docker cp`: the archive
 * endpoints, docs/docker-api.md "Copying files").
 *
 * The filesystem is the one the container's processes see, its volumes and bind mounts
 * included: for a running container the root of its reaper (host_process_root_open), for a
 * stopped one (created and never started, or exited) its layer stack mounted with its
 * mounts in a mount namespace no process is in (host_rootfs_open_mounted). While a copy
 * runs the container can neither be started nor removed (EBUSY): a copy holds the container's
 * overlay (a running one's too, once it has stopped); two copies of a stopped container at
 * once: EBUSY.
 *
 * Every user path is resolved inside that root (host_open_in_root: `..` and symlinks, even
 * absolute ones, stay in it) and everything below is reached by directory fds and single
 * names never followed, so a container symlink to / or /etc can not lead to the host's files.
 *
 * Out: a tar stream we write ourselves (writing is not parsing): directories, regular files,
 * symlinks as symlinks, fifos, device nodes; modes, owners, mtimes; long names and large
 * sizes in pax headers. In: the client's archive is untrusted; it is extracted by the
 * kleene-fetch helper (as build contexts are, upload.c) streamed through a pipe into a
 * private staging directory under <root>/copies/, then copied into the container directory
 * without following anything. Portable: the host work goes through host/. */
#ifndef KL_ENGINE_CTRCOPY_H
#define KL_ENGINE_CTRCOPY_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "engine/engine.h"
#include "lib/error.h"

typedef struct ctrcopy ctrcopy;

/* Open container `ident`'s filesystem for a copy. ENOENT "container not found"; EBUSY when
 * a stopped container's filesystem is already open for another copy. */
ctrcopy *ctrcopy_open(kl_engine *e, const char *ident, kl_error *err);
void ctrcopy_close(ctrcopy *c);
/* The container's (12 hex) id. */
const char *ctrcopy_container_id(const ctrcopy *c);
/* Whether the container was running when it was opened. */
bool ctrcopy_is_running(const ctrcopy *c);

/* What Docker's X-Docker-Container-Path-Stat says about a path. */
typedef struct ctrcopy_stat {
    char name[256]; /* the base name of the path as asked ("/" for the root) */
    long long size; /* bytes */
    unsigned mode;  /* st_mode */
    struct timespec mtime;
    char *link_target; /* for a symlink: its target resolved in the container (absolute),
                          else NULL; owned */
} ctrcopy_stat;
void ctrcopy_stat_clear(ctrcopy_stat *s);

/* Stat `path` (absolute; EINVAL otherwise) as Docker does: its parents' symlinks followed
 * inside the root, the last component not followed unless the path ends in "/" or "/.".
 * ENOENT when missing. */
int ctrcopy_stat_path(ctrcopy *c, const char *path, ctrcopy_stat *out, kl_error *err);

/* ---- out: a tar stream of a path ----------------------------------------------------- */

typedef struct ctrcopy_tar ctrcopy_tar;
/* Start the archive of `path` (stat it as ctrcopy_stat_path, into *st). Takes c (closed by
 * ctrcopy_tar_free, also when this fails). The entries are named from the path's base name
 * (a directory "etc/", its files "etc/hosts"). */
ctrcopy_tar *ctrcopy_tar_open(ctrcopy *c, const char *path, ctrcopy_stat *st, kl_error *err);
/* The next bytes of the archive: up to max into buf; 0 at its end, -1 on error (a file that
 * can not be read is an error; a file that shrank is padded with zeros). */
ssize_t ctrcopy_tar_read(ctrcopy_tar *t, char *buf, size_t max, kl_error *err);
void ctrcopy_tar_free(ctrcopy_tar *t);

/* ---- in: an archive extracted into a directory --------------------------------------- */

/* The archive's bytes: the count (up to n), 0 at the end, -1 when the source failed. */
typedef ssize_t (*ctrcopy_read_fn)(void *ctx, void *buf, size_t n);

typedef struct ctrcopy_put_opts {
    bool no_overwrite_dir_non_dir; /* refuse to replace a directory by a non-directory and the
                                      reverse (else the existing one is removed) */
    bool copy_uid_gid;             /* keep the archive's owners (else root's: 0:0) */
} ctrcopy_put_opts;

/* Extract the archive (tar, plain or gzip/bzip2/xz compressed) read from `read` into the
 * directory `path` of the container (absolute, resolved inside the root, symlinks
 * followed there). Errors: EINVAL relative path, ENOENT missing, ENOTDIR not a directory,
 * EROFS read-only (the root or a volume), EBADMSG the archive is malformed or hostile
 * (absolute names, `..`, links out of the tree), EEXIST a no_overwrite_dir_non_dir conflict.
 * Returns 0 or -1; on failure, what was already copied into the container stays. */
int ctrcopy_put(ctrcopy *c, const char *path, const ctrcopy_put_opts *o, ctrcopy_read_fn read,
                void *read_ctx, kl_error *err);

/* At start: remove staging directories a crash left under <root>/copies. */
void ctrcopy_sweep(kl_engine *e);

/* Whether a copy holds container `id`'s stopped filesystem (a start or removal must wait). */
bool ctrcopy_holds(kl_engine *e, const char *id);

#endif
