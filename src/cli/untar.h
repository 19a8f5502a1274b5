/* A safe tar extractor for `klee container cp CONTAINER:PATH LOCALPATH`: the archive comes
 * from a server, so it is untrusted input (fuzz/fuzz_untar.c).
 *
 * A push parser: feed it the bytes as they arrive (any cut), then finish. It reads ustar,
 * pax ('x' headers: path, linkpath, size, uid, gid, mtime; 'g' ignored), GNU long names and
 * link targets ('L', 'K'), octal and base-256 numbers, and writes below one destination
 * directory only:
 * - names are split into components; absolute names and `..` are refused (EBADMSG), `.` and
 *   empty components dropped;
 * - every directory on the way is opened with O_NOFOLLOW from the destination's fd, one
 *   component at a time: a symlink (one the archive made, or one that was there) is never
 *   gone through (EBADMSG);
 * - files are created with O_EXCL|O_NOFOLLOW after what was there is unlinked (a directory
 *   in the way of a non-directory, or the reverse, is an error: Docker's
 *   NoOverwriteDirNonDir); symlinks are made as they are (never followed); hard links only
 *   to entries resolved the same way inside the destination, the link itself not followed;
 *   fifos made; device nodes and other types skipped (counted);
 * - modes (without setuid/setgid unless keep_owner), mtimes; owners only with keep_owner;
 *   directories get their modes and mtimes at the end (so a read-only one can be filled).
 * It prints nothing. */
#ifndef KLEE_UNTAR_H
#define KLEE_UNTAR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/error.h"

typedef struct untar_opts {
    /* Every entry's name must begin with the component(s) `rename_from` ("etc", "." for
     * none), replaced by `rename_to` ("." for none: into the destination itself). NULL for
     * both: names are kept. */
    const char *rename_from;
    const char *rename_to;
    bool keep_owner; /* lchown to the archive's ids and keep setuid/setgid */
} untar_opts;

typedef struct untar_stats {
    uint64_t files, dirs, symlinks, hardlinks, fifos, skipped, bytes;
} untar_stats;

typedef struct untar untar;

/* Extract below directory `dest_dirfd` (duplicated: the caller keeps its fd). */
untar *untar_new(int dest_dirfd, const untar_opts *o);
/* Feed the next bytes. -1 with err (EBADMSG for a malformed or hostile archive, an errno of
 * the filesystem otherwise); after a failure every call fails. */
int untar_feed(untar *u, const void *data, size_t n, kl_error *err);
/* The archive has ended: EBADMSG when it ended inside an entry; then the directories' modes
 * and mtimes. */
int untar_finish(untar *u, kl_error *err);
const untar_stats *untar_get_stats(const untar *u);
void untar_free(untar *u);

#endif
