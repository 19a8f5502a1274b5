/* Pure helpers of `klee container` (container.c), exposed for unit tests: the `ls` table
 * cells and the exit code carried by an exec's closing message. */
#ifndef KLEE_CONTAINER_H
#define KLEE_CONTAINER_H

#include <jansson.h>
#include <stddef.h>

/* Columns of `container ls` (KLEE-CLI.md §4). */
#define CONTAINER_LS_NCOLS 8

/* The cells of one ContainerSummary row, in column order: CONTAINER ID, NAME, IMAGE
 * (`name:tag`, or image_id when the name is empty), COMMAND (cmd joined by spaces, or
 * `Dockerfile` when cmd is null), CREATED (`<duration> ago` relative to `now`), AUTORUN
 * (`yes` for restart_policy `on-startup`, else `no`), STATUS (`running`/`stopped`), JID
 * (empty when null). Writes CONTAINER_LS_NCOLS new strings into cells. */
void container_ls_row(const json_t *summary, double now, char **cells);

/* The process's exit code from a closing message of /exec/start (API.md §7.3):
 * "executable <id> and its container exited with exit-code N" or
 * "<id> has exited with exit-code N". Returns N (0..255), or -1 when the message has
 * neither form. */
int container_exit_code(const char *message);

#endif
