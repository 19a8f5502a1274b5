/* The build context as a tar stream, for `klee build` to a kleened on another machine
 * (context_upload, docs/api.md), and one path's for `klee container cp`.
 *
 * Walks DIR by directory fds without following symlinks, in name order (the same context gives
 * the same bytes), and writes POSIX ustar entries, with a pax header for names, link targets
 * or sizes that do not fit: regular files, directories and symlinks; sockets, fifos and
 * devices are skipped. What the context's .dockerignore excludes is left out, except the
 * Dockerfile and the .dockerignore themselves (Docker's rule). Writes to a callback in chunks. */
#ifndef KLEE_TARSTREAM_H
#define KLEE_TARSTREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/error.h"

/* Receives the stream; returns -1 (with err set) to stop. */
typedef int (*tarstream_write_fn)(void *ud, const void *data, size_t n, kl_error *err);

typedef struct tarstream_stats {
    uint64_t files, dirs, links, skipped, excluded, bytes;
} tarstream_stats;

/* Write the archive of `dir` (`dockerfile`: its path relative to dir, kept even if ignored)
 * and the two zero blocks that end it. */
int tarstream_write_dir(const char *dir, const char *dockerfile, tarstream_write_fn write, void *ud,
                        tarstream_stats *stats, kl_error *err);

/* Ours, for `klee container cp`: the archive of one path, without .dockerignore: a regular
 * file, a symlink (as a symlink; with `follow` the top one is followed) or a directory and
 * everything below it (symlinks below never followed), its entries named `as` ("x", "x/...")
 * or, with `as` ".", a directory's contents without a prefix. Then the end blocks. */
int tarstream_write_path(const char *path, const char *as, bool follow, tarstream_write_fn write,
                         void *ud, tarstream_stats *stats, kl_error *err);

#endif
