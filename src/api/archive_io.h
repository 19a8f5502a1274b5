/* The glue both doors' archive endpoints share around the engine's copying (engine/ctrcopy.h):
 * the Kleene API's /containers/{id}/archive (api/archive.c, `klee container cp`) and the Docker
 * door's (api/docker/archive.c, `docker cp`). Each door keeps its own query, stat header
 * contents, statuses and messages; here: the stat header's encoding, the tar stream of a GET,
 * the streamed body a PUT reads, and the HEAD/GET/PUT steps between opening the container and
 * answering. Nothing here answers an error: a failure returns -1 with the engine's error for
 * the door to translate. */
#ifndef KL_API_ARCHIVE_IO_H
#define KL_API_ARCHIVE_IO_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "api/api.h"
#include "engine/ctrcopy.h"
#include "lib/buf.h"
#include "lib/error.h"

/* st's mtime as RFC 3339 UTC with nanoseconds ("2026-12-07T20:12:00.000000000Z") into buf. */
void archive_io_mtime(const ctrcopy_stat *st, char *buf, size_t size);

/* Append the header "<name>: <base64 of j, compact JSON>" to res. */
void archive_io_add_json_header(api_response *res, const char *name, const json_t *j);

/* A door's stat header: adds to res what it says of st. */
typedef void (*archive_io_header_fn)(api_response *res, const ctrcopy_stat *st);

/* HEAD: stat `path` in cc (closed here) and add its header. 0, or -1 with *err (nothing
 * answered). */
int archive_io_head(ctrcopy *cc, const char *path, api_response *res, archive_io_header_fn header,
                    kl_error *err);

/* GET: the stat header and a 200 streaming the tar of `path` in cc (taken: closed by the
 * stream, or here on failure). A read error mid-stream is logged as "<what>: <message>" and
 * aborts the stream. 0, or -1 with *err (nothing answered). */
int archive_io_get(ctrcopy *cc, const char *path, api_response *res, archive_io_header_fn header,
                   const char *what, kl_error *err);

/* A PUT's body as the engine reads it: streamed by the server (req->body_read), or without
 * streaming (a door called directly: the fuzzer, tests) the bytes of `buf` (none when NULL).
 * A failed streamed read is logged ("<what>: the upload: ...") and remembered in failed/err. */
typedef struct archive_io_body {
    api_request *req;
    const kl_buf *buf;
    const char *what;
    size_t at;
    bool failed;
    kl_error err;
} archive_io_body;

/* PUT: extract the body into directory `path` of cc (closed here). 0, or -1 with *err (and
 * body->failed when the body could not be read); nothing answered. */
int archive_io_put(ctrcopy *cc, const char *path, const ctrcopy_put_opts *o, archive_io_body *body,
                   kl_error *err);

#endif
