/* A build context sent by the client (ours, opt-in: `context_upload` of /images/build,
 * docs/api.md), so that `klee --host https://remote:8085 build .` works from another machine.
 *
 * The archive (tar, as klee sends it) is written to a private directory under the root,
 * <root>/uploads/<id>/context.tar (mode 0700 directories, 0600 file), with a size limit, and
 * extracted by the kleene-fetch helper (host_fetch_extract_child) into
 * <root>/uploads/<id>/context: kleened never parses the archive itself, and the extraction
 * refuses absolute paths, `..` and links out of the tree. Everything is removed by
 * upload_free(). Portable: the host work goes through host/. */
#ifndef KL_ENGINE_UPLOAD_H
#define KL_ENGINE_UPLOAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine/engine.h"
#include "lib/error.h"

/* The largest archive accepted (bytes). */
#define UPLOAD_MAX_BYTES (4ULL * 1024 * 1024 * 1024)

typedef struct upload upload;

upload *upload_begin(kl_engine *e, kl_error *err);
/* Append archive bytes. EFBIG past UPLOAD_MAX_BYTES. */
int upload_write(upload *u, const void *data, size_t n, kl_error *err);
/* All bytes are in: extract. `cancelled` (may be NULL) is asked while the helper runs. */
int upload_finish(upload *u, _Bool (*cancelled)(void *), void *ctx, kl_error *err);
/* Docker's `docker build - < Dockerfile`: the body is the Dockerfile itself, not an archive.
 * True when the bytes written start as no archive kleene-fetch reads would (no gzip, bzip2,
 * xz or zstd magic, no "ustar" at offset 257 of a tar header). Only the magic bytes are
 * looked at; the content is never parsed here. */
bool upload_is_archive(upload *u);
/* Instead of upload_finish: the bytes written are the context's only file, `Dockerfile`. */
int upload_finish_as_dockerfile(upload *u, kl_error *err);
/* The extracted context directory (absolute), after upload_finish. */
const char *upload_context(const upload *u);
uint64_t upload_bytes(const upload *u);
/* Remove the directory and everything in it, and free. NULL is fine. */
void upload_free(upload *u);

/* At start (engine_open): remove every upload directory a crash left (no build survives a
 * restart, so none is in use). */
void upload_sweep(kl_engine *e);

#endif
