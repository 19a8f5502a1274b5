/* Linux file-tree helpers shared by the storage, overlay and archive modules: openat2
 * confinement (host_open_beneath, host/fs.h), removal and copy of trees by directory fds, staging
 * directories. Internal to src/host/linux; nothing above the host layer includes this. */
#ifndef KL_HOST_LINUX_FSUTIL_H
#define KL_HOST_LINUX_FSUTIL_H

#include <stdbool.h>
#include <sys/stat.h>

#include "lib/error.h"

/* Remove dirfd/name recursively (a missing entry is fine). Never descends into another
 * mount: a mount point below gives EBUSY. */
int fs_remove_at(int dirfd, const char *name, kl_error *err);

/* Remove everything inside the directory dfd (not dfd itself), like fs_remove_at. */
int fs_remove_contents(int dfd, kl_error *err);

/* True if the directory fd carries an overlay opaque mark (trusted. or user.overlay.opaque=y). */
bool fs_dir_is_opaque(int fd);

/* Make a new directory `parent_dirfd`/.staging-<name>-XXXXXX (mode 0700); returns an
 * O_DIRECTORY fd and stores the created name (xmalloc'ed) in *staging_name. */
int fs_staging_create(int parent_dirfd, const char *name, char **staging_name, kl_error *err);

/* Rename parent/staging_name to parent/name; EEXIST if name appeared meanwhile. */
int fs_staging_commit(int parent_dirfd, const char *staging_name, const char *name, kl_error *err);

/* Copy the contents of directory src_dirfd into directory dst_dirfd (and the metadata of
 * src_dirfd itself onto dst_dirfd). With `overlay_merge`, the source is an overlay layer
 * merged onto what dst already holds: whiteouts (0/0 char devices) delete, opaque
 * directories replace, everything else overwrites; trusted.overlay.* xattrs are dropped. */
int fs_copy_tree(int src_dirfd, int dst_dirfd, bool overlay_merge, kl_error *err);

/* Tests only: behave as a kernel without the `lowerdir+` mount parameter (before 6.8), so
 * that stacks beyond one page of mount options are flattened by length. */
extern bool fs_overlay_legacy_only;

#endif
