/* Learning that a running container ended by itself. kleened learns of a container's end when
 * it stops it, or from the stream of an attached client; a detached container that exits by
 * itself tells nobody, so its published ports stayed in the firewall (and its endpoints
 * plugged) until the next change. One thread polls an end fd (host_process_end_fd) per
 * watched container and calls back, off every request's path, for each one that ended.
 * Portable: poll(2) and a pipe. */
#ifndef KL_ENGINE_ENDWATCH_H
#define KL_ENGINE_ENDWATCH_H

#include "engine/engine.h"
#include "lib/error.h"

typedef struct endwatch endwatch;

/* Called on the watcher's thread, with no lock held: container `id` whose reaper was `pid`
 * has ended (or had already ended when it was added). */
typedef void (*endwatch_fn)(kl_engine *e, const char *id, int pid);

endwatch *endwatch_start(kl_engine *e, endwatch_fn on_end, kl_error *err);
/* Stop the thread (after a running callback returns) and forget every watch. */
void endwatch_stop(endwatch *w);
/* Watch container `id` whose reaper is `pid`, replacing an earlier watch of it. w may be NULL
 * (nothing is watched: a caller without a watcher, such as a test). */
void endwatch_add(endwatch *w, const char *id, int pid);

#endif
