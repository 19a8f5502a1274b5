/* The wire between kleened (fetchproc.c) and its helper kleene-fetch (kleene_fetch.c):
 * typed messages, encoded and parsed here (fetchproto.c) and nowhere else.
 *
 * kleened starts the helper as
 *   kleene-fetch --dir-fd 3 [--every N] [--log-level LEVEL] -- URL NAME
 * with fd 3 the directory to extract into (NAME must not exist in it), stdin /dev/null,
 * stdout a pipe to kleened, stderr kleened's. (--dir PATH instead of --dir-fd is for people
 * running it by hand.) The helper writes one JSON object per line to stdout, each line at
 * most FETCHPROTO_LINE_MAX bytes with its newline:
 *   {"type":"fetch","bytes":N,"total":N,"percent":P,"done":B}     host_fetch_progress
 *   {"type":"extract","entries":N,"bytes":N,"skipped_devices":N}  host_extract_stats
 *   {"type":"log","level":L,"msg":"..."}                          L a kl_log_level
 *   {"type":"layer","index":I,"n":N,"digest":"sha256:…","bytes":N,"total":N,"done":B}
 *                                                                 host_fetch_layer (pulls)
 *   {"type":"result","ok":true,"entries":N,"bytes":N,"skipped_devices":N}
 *   {"type":"result","ok":false,"stage":"fetch"|"extract","code":ERRNO,"msg":"..."}
 * The result is the last line; the helper exits right after it (status 0 when ok, 1 when
 * not). kleened treats anything else (a longer line, bad JSON, a missing or out-of-range
 * field, no result before the pipe closes) as a broken helper: it kills it and reports an
 * error. Unknown types are skipped, so a newer helper may add some.
 *
 * The parser reads what a helper that may have been subverted by the data it parsed sends:
 * it accepts nothing it does not check (fuzz/fuzz_fetchproto.c). */
#ifndef KL_HOST_LINUX_FETCHPROTO_H
#define KL_HOST_LINUX_FETCHPROTO_H

#include <stddef.h>

#include "host/fetch.h"
#include "lib/error.h"

#define FETCHPROTO_HELPER "kleene-fetch"
#define FETCHPROTO_DIR_FD 3
/* kleene-fetch --pull --have-fd: the layers kleened has, "<blob digest> <diff_id>\n" each */
#define FETCHPROTO_HAVE_FD 4
/* Several CA files of a registry (every .crt file of registry_certs_dir/<domain>): kleened hands
 * the helper one bundle of them, a memory file at this fd, as `--ca-file /proc/self/fd/5`. */
#define FETCHPROTO_CA_FD 5
#define FETCHPROTO_HAVE_MAX 100000
#define FETCHPROTO_LINE_MAX 16384
/* the most layers a layer message may count */
#define FETCHPROTO_LAYERS_MAX 100000

typedef enum fetchproto_type {
    FETCHPROTO_UNKNOWN = 0, /* a type this version does not know: skip it */
    FETCHPROTO_FETCH,
    FETCHPROTO_EXTRACT,
    FETCHPROTO_LOG,
    FETCHPROTO_RESULT,
    FETCHPROTO_LAYER,
} fetchproto_type;

typedef struct fetchproto_msg {
    fetchproto_type type;
    host_fetch_progress fetch; /* FETCH */
    host_extract_stats stats;  /* EXTRACT; RESULT when ok */
    int level;                 /* LOG: a kl_log_level */
    bool ok;                   /* RESULT */
    host_fetch_stage stage;    /* RESULT when !ok: FETCH or EXTRACT */
    int code;                  /* RESULT when !ok: an errno value, 1..4095 */
    char *text;                /* LOG; RESULT when !ok (xmalloc'ed) */
    host_fetch_layer layer;    /* LAYER */
} fetchproto_msg;

/* One line, with its newline (xmalloc'ed, *len set), or NULL if it would be longer than
 * FETCHPROTO_LINE_MAX (only a long log text can be). */
char *fetchproto_encode(const fetchproto_msg *m, size_t *len);

/* Parse one line (without its newline) into *m (clear it with fetchproto_msg_clear).
 * -1 with EPROTO and what is wrong ("not a JSON object with a type", "an invalid fetch
 * progress" ...) otherwise. */
int fetchproto_parse(const char *line, size_t len, fetchproto_msg *m, kl_error *err);

void fetchproto_msg_clear(fetchproto_msg *m);

#endif
