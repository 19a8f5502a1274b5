/* The wire between kleened (fetchproc.c) and its helper kleene-fetch (kleene_fetch.c).
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
 *   {"type":"result","ok":true,"entries":N,"bytes":N,"skipped_devices":N}
 *   {"type":"result","ok":false,"stage":"fetch"|"extract","code":ERRNO,"msg":"..."}
 * The result is the last line; the helper exits right after it (status 0 when ok, 1 when
 * not). kleened treats anything else (a longer line, bad JSON, a missing field, no result
 * before the pipe closes) as a broken helper: it kills it and reports an error. Unknown
 * types are skipped, so a newer helper may add some. */
#ifndef KL_HOST_LINUX_FETCHPROTO_H
#define KL_HOST_LINUX_FETCHPROTO_H

#define FETCHPROTO_HELPER "kleene-fetch"
#define FETCHPROTO_DIR_FD 3
#define FETCHPROTO_LINE_MAX 16384

#endif
