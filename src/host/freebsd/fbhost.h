/* The FreeBSD host layer (src/host/freebsd/, docs/freebsd.md): jails, ZFS and pf driven
 * through their commands, every one through the runner seam (runner.h).
 *
 * This header is the layer's own operation-level interface: one function per host side of
 * an API operation of shared/FREEBSD-HOST.md (image create by method, container clone and
 * start, network create ...), each doing the whole host sequence and undoing what it did
 * when a later step fails. The portable host interfaces of src/host (its *.h headers) that map
 * one-to-one onto these (addresses, links, the firewall, layers as datasets) are implemented on top
 * of them in hostif.c.
 *
 * Portable: builds and is tested on Linux (POSIX + the runner). */
#ifndef KL_FB_HOST_H
#define KL_FB_HOST_H

#include <stdbool.h>
#include <stddef.h>

#include "host/freebsd/runner.h"
#include "lib/error.h"

typedef struct fb_host {
    fb_runner *run;         /* the seam; owned by the caller */
    const char *root;       /* kleene_root dataset, e.g. "zroot/kleene" */
    const char *pf_anchor;  /* our pf anchor, "kleene" by default */
    const char *pty_helper; /* absolute path of kleene-pty (tty processes) */
    const char *gateway_if; /* interface of the default route (fb_net_detect_gateway), or NULL */
    /* Whether a host file exists (only /etc/localtime is asked); NULL = access(2). */
    bool (*host_file_exists)(const char *path);
} fb_host;

/* The host that the portable interfaces of src/host (host/net.h, host/helpers.h), as
 * implemented by hostif.c, act on. Keep it alive while they are used. */
void fb_host_set_default(const fb_host *h);
/* The host set with fb_host_set_default (kleened: host_layer_setup), or NULL with ENODEV. */
const fb_host *fb_host_default(kl_error *err);

struct host_layer_config;
/* The root dataset and pf anchor kleened uses (fbengine.c, host_layer_setup): the config's
 * zfs_root, else env_root ($KLEENED_ZFS_ROOT), else zroot/kleene; the config's pf_anchor,
 * else "kleene". Each checked (EINVAL). */
int fb_layer_config_resolve(const struct host_layer_config *cfg, const char *env_root, char **root,
                            char **anchor, kl_error *err);

/* The holder of a port in sockstat(1)'s output ("USER COMMAND PID ..." lines after the
 * header): 1 with who = "<command> (pid <pid>)", 0 when there is none (fbfs.c). */
int fb_sockstat_holder(const char *out, char *who, size_t who_len);

/* Progress messages of long operations (image creation), as the original sends them. */
typedef void (*fb_info_fn)(const char *msg, void *ctx);

/* ---- names and datasets (zfs.c) ------------------------------------------------------ */

/* A dataset name we accept from users (zfs-copy/zfs-clone parents): [A-Za-z0-9_.:/-],
 * components not empty, not starting with '-' or '/', no '@' or '#'. */
bool fb_dataset_is_valid(const char *ds);
/* One component we create (ids, volume names): [A-Za-z0-9_.:-], not starting with '-' or '.'. */
bool fb_component_is_valid(const char *name);

char *fb_image_ds(const fb_host *h, const char *iid);     /* <root>/image/<iid> */
char *fb_container_ds(const fb_host *h, const char *cid); /* <root>/container/<cid> */
char *fb_volume_ds(const fb_host *h, const char *name);   /* <root>/volumes/<name> */

/* `zfs list -H -o mountpoint DS`: the path, or ENOENT (no dataset) / EINVAL (`none`,
 * `legacy`: not a path; the original took `legacy` for one, B30). */
int fb_zfs_mountpoint(const fb_host *h, const char *ds, char **mp, kl_error *err);
/* `zfs list -H -o name DS` (no shell, unlike the original): 1 exists, 0 not, -1 error. */
int fb_zfs_exists(const fb_host *h, const char *ds, kl_error *err);

/* Daemon start: the root dataset and its image/, container/, volumes/ children must exist
 * (the original does not look and fails later, at the first clone). */
int fb_storage_check(const fb_host *h, kl_error *err);

/* ---- images (zfs.c) ------------------------------------------------------------------ */

typedef struct fb_image_opts {
    bool dns;       /* copy the host's /etc/resolv.conf into the image (default true) */
    bool localtime; /* copy /etc/localtime (default true) */
    bool update;    /* freebsd-update fetch install (default false) */
    /* The new dataset's mountpoint (`-o mountpoint=` of zfs create/clone/receive); NULL:
     * inherited from <root>/image, as the original. */
    const char *mountpoint;
    /* Leave out the final `@image` snapshot: the caller writes more and takes it itself
     * (host_layer_seal). */
    bool no_snapshot;
} fb_image_opts;

/* zfs-copy: snapshot PARENT@<iid>, zfs send | zfs receive into <root>/image/<iid>, dns,
 * localtime, update, @image, then destroy PARENT@<iid>. On failure everything done is undone. */
int fb_image_create_copy(const fb_host *h, const char *iid, const char *parent,
                         const fb_image_opts *o, fb_info_fn info, void *ctx, kl_error *err);
/* zfs-clone: snapshot PARENT@<iid> (kept: the clone's origin), zfs clone, dns ... @image. */
int fb_image_create_clone(const fb_host *h, const char *iid, const char *parent,
                          const fb_image_opts *o, fb_info_fn info, void *ctx, kl_error *err);
/* fetch: fetch(1) URL into <root mp>/.fetch-<iid>.txz (one file per image, unlike the
 * original's shared base.txz, B24), zfs create, tar -x, dns ... @image, remove the file. */
int fb_image_create_fetch(const fb_host *h, const char *iid, const char *url,
                          const fb_image_opts *o, fb_info_fn info, void *ctx, kl_error *err);
/* fetch-auto: `uname -rms` decides the URL (fb_fetch_auto_url); *version_out (may be NULL)
 * gets "14.1-RELEASE-p7" for the autotag. */
int fb_image_create_fetch_auto(const fb_host *h, const char *iid, const fb_image_opts *o,
                               fb_info_fn info, void *ctx, char **version_out, kl_error *err);
/* The base.txz URL for `uname -rms` output ("FreeBSD 14.1-RELEASE-p7 amd64"), pure.
 * machine: the `uname -p` value when known (arm64 → arm64/aarch64), else NULL.
 * RELEASE (also -pN: the release's base.txz, the patches come from freebsd-update) →
 * releases/, STABLE and CURRENT → snapshots/, BETA/RC → releases/ (B25). */
int fb_fetch_auto_url(const char *uname_rms, char **url, char **version, kl_error *err);

/* Image remove: refuse (EBUSY, the original's message) when containers or images are clones
 * of it (`zfs destroy -n -r -p`), else `zfs destroy -r`. On failure the caller keeps the
 * metadata (the original deleted it anyway, B22). No such dataset: ENOENT. */
int fb_image_remove(const fb_host *h, const char *iid, kl_error *err);

/* Image prune: the snapshots under <root> with their clones. */
typedef struct fb_snapclones {
    char *dataset; /* "<root>/image/<iid>" */
    char **clones; /* union over its snapshots (strv, may be empty) */
} fb_snapclones;
int fb_snapshot_clones(const fb_host *h, fb_snapclones **out, size_t *n, kl_error *err);
void fb_snapclones_free(fb_snapclones *v, size_t n);

/* ---- containers' datasets and builds (zfs.c) ----------------------------------------- */

/* zfs clone <image ds>@<snap or "image"> <root>/container/<cid>. Errors carry zfs's output. */
int fb_container_clone(const fb_host *h, const char *cid, const char *image_ds, const char *snap,
                       kl_error *err);
/* zfs destroy -rf <root>/container/<cid> (with its build snapshots). */
int fb_container_destroy(const fb_host *h, const char *cid, kl_error *err);
/* A build step's snapshot <root>/container/<cid>@<snap> (checked, B3). */
int fb_build_snapshot(const fb_host *h, const char *cid, const char *snap, kl_error *err);
/* The build's end: zfs rename -f <container ds> <image ds>, snapshot @image; a failed
 * snapshot renames back. */
int fb_build_commit(const fb_host *h, const char *cid, const char *iid, kl_error *err);
/* Whether <image ds>@<snap> exists (FROM x@snap; exact, not the original's substring grep). */
int fb_snapshot_exists(const fb_host *h, const char *ds, const char *snap, kl_error *err);

/* ---- volumes (zfs.c) ------------------------------------------------------------------ */

/* zfs create <root>/volumes/<name>; *mp gets its real mountpoint (B2, B3). */
int fb_volume_create(const fb_host *h, const char *name, char **mp, kl_error *err);
/* zfs destroy -f (checked). */
int fb_volume_destroy(const fb_host *h, const char *name, kl_error *err);

#endif
