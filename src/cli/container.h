/* Pure helpers of `klee container` (container.c), exposed for unit tests: the `ls` table
 * cells and the exit code carried by an exec's closing message. */
#ifndef KLEE_CONTAINER_H
#define KLEE_CONTAINER_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

/* Cells of a `container ls` row: the original's columns (KLEE-CLI.md §4) with STATUS in
 * Docker's words when kleened tells (docs/klee-differences.md), then IP ADDRESS and PORTS;
 * JID last (shown only when a row has one: never on Linux). */
#define CONTAINER_LS_NCOLS 10

/* The cells of one ContainerSummary row, in column order: CONTAINER ID, NAME, IMAGE
 * (`name:tag`, or image_id when the name is empty), COMMAND (cmd joined by spaces, or
 * `Dockerfile` when cmd is null), CREATED (`<duration> ago` relative to `now`), AUTORUN
 * (`yes` for restart_policy `on-startup`, else `no`), STATUS (container_ls_status), IP
 * ADDRESS (ip_addresses joined by ", "), PORTS (`[iface:]host->container/proto`, joined by
 * ", "), JID (empty when null). Writes CONTAINER_LS_NCOLS new strings into cells. */
void container_ls_row(const json_t *summary, double now, char **cells);

/* STATUS: with the state fields of `?state=true` (docs/api.md) "Up 5 minutes",
 * "Exited (3) 2 hours ago", "Created"; from a daemon without them `running`/`stopped`, as the
 * original. Caller frees. */
char *container_ls_status(const json_t *summary, double now);

/* The docker-style status word of a row: "running", "exited" or "created" (for --filter). */
const char *container_ls_state(const json_t *summary);

/* The process's exit code from a closing message of /exec/start (API.md §7.3):
 * "executable <id> and its container exited with exit-code N" or
 * "<id> has exited with exit-code N". Returns N (0..255), or -1 when the message has
 * neither form. */
int container_exit_code(const char *message);

/* Reading kleened's multiplexed log stream (docs/api.md, GET /containers/{id}/logs with
 * multiplex=true): frames of an 8-byte header (stream 1 stdout or 2 stderr, three zero bytes,
 * a 32-bit big-endian length) and that many bytes, cut anywhere by the transport. */
typedef struct container_demux {
    unsigned char head[8];
    size_t head_len;
    int stream;     /* of the frame being read */
    size_t left;    /* its bytes still to come */
    bool is_broken; /* a header that is not one: nothing more is delivered */
} container_demux;

typedef void (*container_demux_fn)(void *ud, int stream, const char *data, size_t n);
/* Feed n bytes; each piece of payload goes to out with its stream. -1 (and is_broken) at a
 * malformed header. Pure. */
int container_demux_feed(container_demux *d, const char *data, size_t n, container_demux_fn out,
                         void *ud);

/* `logs --since` in the form kleened compares: a time (ISO 8601, offsets allowed), Unix
 * seconds, or a duration before `now` (30s, 10m, 2h, 1h30m) → "YYYY-MM-DDTHH:MM:SS.ffffffZ".
 * -1 when arg is none of these. */
int container_logs_since(const char *arg, double now, char out[40]);

#endif
