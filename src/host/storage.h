/* Image storage on the host: layers, overlay mounts of layer stacks, tree copies and safe
 * archive extraction (DESIGN.md §2: an image is an ordered stack of layers, each layer a
 * directory, each addressable as a snapshot).
 *
 * Portable interface: no Linux types here. The engine owns the metadata (which image is
 * which stack, which container uses which layers); this module owns the directories.
 * Layout under a storage root R:
 *   R/layers/<id>            a layer (a directory, or a symlink to a host directory for
 *                            zfs-clone images)
 *   R/layers/.staging-*      work in progress; removed on failure and by host_storage_init
 * Stacks are given bottom first: lowers[0] is the base layer, lowers[n-1] the top one. */
#ifndef KL_HOST_STORAGE_H
#define KL_HOST_STORAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "lib/error.h"

/* ---- layers ------------------------------------------------------------------------- */

/* Create R and R/layers if missing and remove stale staging directories left by a crash. */
int host_storage_init(const char *root, kl_error *err);

/* A layer id is 1..128 of [A-Za-z0-9_.-], not starting with '.' or '-'. */
bool host_layer_id_is_valid(const char *id);

/* "R/layers/<id>" (xmalloc'ed). Does not check that it exists. */
char *host_layer_path(const char *root, const char *id);

/* Create an empty layer directory (mode 0755). EEXIST if the layer exists. */
int host_layer_create(const char *root, const char *id, kl_error *err);

/* Turn an existing directory (e.g. a build container's upper directory) into layer <id>
 * by renaming it; `dir` must be on the same filesystem as R. */
int host_layer_commit(const char *root, const char *dir, const char *id, kl_error *err);

/* zfs-copy: copy the host directory tree `src` into a new layer <id>. Modes, owners,
 * timestamps, symlinks, hard links, xattrs, fifos and device nodes are preserved; file data
 * is reflinked or copied in the kernel (copy_file_range). Atomic: on failure no layer
 * exists and no staging directory is left. */
int host_layer_copy_from(const char *root, const char *id, const char *src, kl_error *err);

/* zfs-clone: use the host directory `src` (absolute, outside R) read-only as layer <id>,
 * without copying: the layer is a symlink to it. Removing the layer never touches `src`. */
int host_layer_clone_from(const char *root, const char *id, const char *src, kl_error *err);

/* True if the layer is a (zfs-clone) link to a host directory. */
bool host_layer_is_external(const char *root, const char *id);

/* Remove layer <id>. Refused with EBUSY if any overlay mount, in any mount namespace this
 * process can see, uses it (the engine also refuses layers its metadata says are used).
 * ENOENT if there is no such layer. */
int host_layer_remove(const char *root, const char *id, kl_error *err);

/* ---- full-tree layers ------------------------------------------------------------------ */
/* On Linux a layer holds only its changes (an overlay diff) and a container's root is the
 * overlay of its image's whole stack. On FreeBSD (ZFS, docs/freebsd.md) every layer holds
 * the whole tree: a dataset, cloned from the layer below when there is one, and a
 * container's root is a clone of its image's top layer. Where the engine reads an image's
 * tree it then uses the top layer alone. */

/* True when every layer holds the whole tree (FreeBSD), false for overlay diffs (Linux). */
bool host_layers_full_tree(void);

/* A layer's content is final: FreeBSD snapshots it (`@image`), the snapshot that container
 * roots and the layers above are cloned from. Called once the layer is written, before an
 * image uses it. Linux: nothing to do (0). */
int host_layer_seal(const char *root, const char *id, kl_error *err);

/* Full-tree layers only (Linux: ENOTSUP, never called there): container <cid>'s writable
 * root, a clone of the sealed layer <top> mounted at `path` (an existing empty directory).
 * On failure nothing is left. */
int host_container_root_create(const char *root, const char *cid, const char *top, const char *path,
                               kl_error *err);
/* Remove container <cid>'s root (and with it everything written in it). A root that does
 * not exist is not an error. */
int host_container_root_remove(const char *root, const char *cid, kl_error *err);
/* Make container <cid>'s root the new sealed layer <id> (a build step's changes): FreeBSD
 * renames its dataset to the layer's, mounts it at R/layers/<id> and snapshots it (as the
 * original's build commit). On failure the root stays the container's. */
int host_container_root_commit(const char *root, const char *cid, const char *id, kl_error *err);

/* ---- volumes ------------------------------------------------------------------------- */
/* A volume is the directory R'/volumes/<name> the engine makes (engine/volumes.c). Linux:
 * that directory is all there is. FreeBSD: a dataset <root>/volumes/<name> is mounted on it
 * (its own quota and snapshots, as the original's volumes). */

/* Give the new volume `name` its storage at `path` (an empty directory just made). Linux:
 * nothing (0). FreeBSD: zfs create -o mountpoint=<path>. On failure nothing is left. */
int host_volume_create(const char *name, const char *path, kl_error *err);
/* Before the engine deletes the volume's directory: FreeBSD destroys its dataset (and its
 * files); a volume without one is not an error. Linux: nothing (0). */
int host_volume_remove(const char *name, kl_error *err);

/* True if some overlay mount (in any visible mount namespace) has `path` as a layer. */
bool host_path_is_mounted_layer(const char *path);

/* rm -rf of `path`, by directory fds; never crosses into another filesystem (a mount
 * below `path` makes it fail with EBUSY). A missing path is not an error. */
int host_tree_remove(const char *path, kl_error *err);

/* Like host_tree_remove, but `path` itself (a directory) stays, empty. */
int host_tree_empty(const char *path, kl_error *err);

/* ---- blobs --------------------------------------------------------------------------- */
/* Registry blobs kept as fetched (manifests, configs, compressed layers), for push and save
 * (docs/image-store.md): R/blobs/sha256/<64 hex>, read-only files. The engine's `blobs`
 * table says which exist; files without a row are collected at start. */

/* Create R/blobs/sha256 if missing. */
int host_blobs_init(const char *root, kl_error *err);

/* "R/blobs/sha256/<hex>" for "sha256:<hex>" (xmalloc'ed), or NULL for an invalid digest. */
char *host_blob_path(const char *root, const char *digest);

/* Move the file `src` (same filesystem as R, already verified by whoever wrote it) into
 * place as blob `digest`. The content is named by its digest: an existing file of that name
 * holds the same bytes and is replaced. */
int host_blob_commit(const char *root, const char *src, const char *digest, kl_error *err);

/* Remove blob `digest`; a missing one is not an error. */
int host_blob_remove(const char *root, const char *digest, kl_error *err);

/* Every "sha256:<hex>" file under R/blobs/sha256 (others are ignored), pushed onto *out. */
int host_blob_list(const char *root, char ***out, kl_error *err);

/* ---- overlay mounts ----------------------------------------------------------------- */

/* The kernel's limit on overlay lower layers (500 on Linux). */
#define HOST_OVERLAY_MAX_LOWERS 500

/* Mount the stack lowers[0..n) (bottom first) at `target`, writable through `upper`
 * (`work`: an empty directory on the same filesystem as `upper`). With upper == NULL the
 * mount is read-only and `work` is ignored. n >= 1.
 * Stacks too deep for one overlay mount are flattened: the bottom layers are merged
 * (whiteouts and opaque directories applied) into `<target>.flat`, which is rebuilt on every
 * mount and removed by host_rootfs_unmount. A one-layer read-only stack is a read-only bind
 * mount.
 * On failure nothing is left mounted. */
int host_rootfs_mount(const char *const *lowers, size_t n, const char *upper, const char *work,
                      const char *target, kl_error *err);

/* The same stack mounted in no mount namespace at all: returns a directory fd (O_CLOEXEC) of
 * its root, the only way to reach it. It is mounted at `target` (an empty directory, as
 * above) inside a mount namespace of a short-lived thread of its own, opened, and detached
 * there before the thread ends, so that it is never visible anywhere, and closing the fd
 * (with every fd opened below it) unmounts it; so does the end of the process, a kill -9
 * included: nothing is left to clean after a crash. `<target>.flat` is made as above
 * (host_rootfs_unmount(target) removes it). For builds (engine/builder.c). */
int host_rootfs_open(const char *const *lowers, size_t n, const char *upper, const char *work,
                     const char *target, kl_error *err);

/* Unmount `target` (lazily if busy) and remove its `<target>.flat` if there is one.
 * Not being mounted is not an error. */
int host_rootfs_unmount(const char *target, kl_error *err);

/* Shutdown / recovery: unmount every mount at or below `dir` in this mount namespace,
 * deepest first. Returns the number unmounted, or -1. */
int host_unmount_below(const char *dir, kl_error *err);

/* Merge lowers[0..n) (bottom first) into the new directory `dest` (must not exist),
 * applying overlay whiteouts and opaque directories. Atomic like host_layer_copy_from. */
int host_layers_flatten(const char *const *lowers, size_t n, const char *dest, kl_error *err);

/* Copy the directory `path` (absolute, normalised, no `..`) as the merged view of the stack
 * lowers[0..n) (bottom first) shows it into the existing directory `dest`, applying
 * whiteouts and opaque directories, without mounting anything (volume pre-population at
 * container create, API.md §8.6). A symlink on the way counts as "not a directory": nothing
 * inside the stack is followed. Returns 1 when the path is a directory of the merged view
 * (its content copied, dest's own metadata set from it), 0 when it is not (dest is left
 * empty if it was). */
int host_layers_copy_path(const char *const *lowers, size_t n, const char *path, const char *dest,
                          kl_error *err);

/* ---- archives ----------------------------------------------------------------------- */

/* Streaming source: set *buf to the next chunk and return its length, 0 at the end, or -1
 * with `err` set. The chunk stays valid until the next call. */
typedef ssize_t (*host_read_fn)(void *ctx, const void **buf, kl_error *err);

typedef struct host_extract_stats {
    uint64_t entries;         /* entries written (files, dirs, links, fifos) */
    uint64_t bytes;           /* file data bytes written */
    uint64_t skipped_devices; /* device nodes (and sockets) not created */
} host_extract_stats;

/* Called after every `every` entries (0 = never) and once at the end. */
typedef void (*host_extract_progress_fn)(const host_extract_stats *stats, void *ctx);

typedef struct host_extract_opts {
    host_extract_progress_fn progress; /* may be NULL */
    void *progress_ctx;
    unsigned every; /* report every N entries; 0 = only at the end */
    /* An OCI/Docker image layer (OCI image-spec "layer.md"): `.wh.NAME` entries become
     * overlay whiteouts (a 0/0 character device NAME), `.wh..wh..opq` makes its directory
     * opaque (trusted.overlay.opaque=y), other `.wh.`-prefixed names are refused, and an
     * empty archive is a valid (empty) layer. Off: such names are ordinary files. */
    bool oci_layer;
    /* Called with the whole uncompressed stream of the archive, in order, including what
     * follows its end-of-archive marker (an image layer's diff_id is the digest of exactly
     * that: host/linux/pull.c). With a tap the archive is decompressed once, by a filter
     * stage of its own, and what comes out must be the archive itself (no second
     * compression). NULL: no tap. */
    void (*uncompressed_tap)(const void *buf, size_t n, void *ctx);
    void *tap_ctx;
} host_extract_opts;

/* Receives the bytes of a packed layer, in order; -1 (err set) stops the packing. */
typedef int (*host_pack_write_fn)(const void *data, size_t n, void *ctx, kl_error *err);

/* Pack the layer directory `dir` as an image layer (an uncompressed tar, the reverse of
 * oci_layer extraction): overlay whiteouts (0/0 character devices) become `.wh.NAME`
 * entries, opaque directories get a `.wh..wh..opq` entry, hard links within the layer are
 * tar hard links, long names and the xattrs security.capability and user.* go in pax
 * headers. Deterministic (names in byte order, the files' own metadata, nothing of the time
 * of packing): the same directory gives the same bytes. */
int host_layer_pack(const char *dir, host_pack_write_fn write, void *ctx, kl_error *err);

/* Extract a tar/cpio/... archive (plain or gzip, xz, zstd, bzip2, lz4 ... compressed: all
 * formats and filters libarchive reads) streamed from `read` into the new directory
 * `parent_dirfd`/`name` (which must not exist). The data goes to a staging directory that
 * is renamed into place on success and removed on failure: a failed extraction leaves
 * nothing behind.
 * Refused (the extraction fails): absolute entry paths, `..` components, entries whose
 * parent path leads through a symlink out of the tree, hard links whose target is outside
 * the tree. Symlinks themselves may point anywhere (absolute targets are normal in root
 * filesystems): they are stored as-is and never followed when writing. Device nodes and
 * sockets are not created; they are counted in stats->skipped_devices.
 * `stats` (may be NULL) receives the totals, also on failure. */
int host_archive_extract(host_read_fn read, void *read_ctx, int parent_dirfd, const char *name,
                         const host_extract_opts *opts, host_extract_stats *stats, kl_error *err);

/* Same, reading an archive file. */
int host_archive_extract_file(const char *archive_path, int parent_dirfd, const char *name,
                              const host_extract_opts *opts, host_extract_stats *stats,
                              kl_error *err);

#endif
