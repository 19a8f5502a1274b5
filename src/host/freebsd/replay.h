/* The replaying runner of the golden tests (runner.h): a golden file lists, in order, every
 * command the FreeBSD layer must run (exact argv), every file it must write (exact content)
 * and what each command answers (canned outputs, exit statuses). The layer runs against it
 * as against the host; the first difference stops the operation and is reported.
 *
 * Golden file format, one item per line (docs/freebsd.md "Golden files"):
 *   # text            a comment (says why we differ from the original, where we do)
 *   $ ARGV            a command run to completion (elements as fb_argv_quote shows them)
 *   $| ARGV           ... piped into this one (zfs send | zfs receive)
 *   & ARGV            a command started in the background (jail -c, jexec)
 *   <| TEXT           a line the command must get on its stdin
 *   > TEXT            a line of its stdout;  >< FILE  its stdout is FILE (relative to the
 *                     golden file's directory: canned jls, zfs list, ifconfig, netstat)
 *   2> TEXT           a line of its stderr
 *   ? N               its exit status (default 0); for `&`, what waiting for it gives
 *   ~                 after `&`: the process is held (runs, its output pipe open) until a
 *                     later step releases it; after `$`: running this command ends the oldest
 *                     held process (a `jexec ... kill -TERM -1` ending the foreground jail -c)
 *                     A spawned process's `>` lines come out of a real pipe (fb_proc.out_fd).
 *   + ROOT REL        directories REL made below ROOT without following symlinks (fb_make_path);
 *   +f ROOT REL       ... with REL's last component an empty file; `? 1`: a symlink on the way
 *   = PATH MODE       a file written (MODE in octal), its content in the lines that follow:
 *   | TEXT            a line of the file
 *   \ no newline      the stdin or file content before it has no final newline
 *   % mkdir /PATH     once the command is matched, make the directory PATH (-p): what a
 *   % rmdir /PATH     replayed `zfs create/clone -o mountpoint=PATH` mounts, or a `zfs
 *                     destroy` unmounts, so that the engine finds the tree where it would be
 * In `$`, `$|`, `&` lines a {NAME} ([A-Z0-9_]+ in braces) stands for an id kleened makes up
 * (12 of [0-9a-f]): the first one binds NAME, later ones must be the same id; a bound {NAME}
 * in canned outputs and `%` paths is replaced by its id.
 * A test ends with fb_replay_finish(): every item must have been used. */
#ifndef KL_FB_REPLAY_H
#define KL_FB_REPLAY_H

#include "host/freebsd/runner.h"

fb_runner *fb_replay_new(const char *golden_path, kl_error *err);

/* 0 when the layer did exactly what the golden file says (every item used, no difference);
 * -1 with the first difference (expected/actual and the transcript so far) in err. */
int fb_replay_finish(fb_runner *r, kl_error *err);

/* What the layer did so far, in golden-file form (commands and writes; no canned outputs). */
const char *fb_replay_transcript(fb_runner *r);

#endif
