/* Watching processes that are not our children: a container's reaper runs under its monitor,
 * which is double-forked away from kleened (DESIGN.md §4), so kleened cannot wait for it.
 * Portable interface (a FreeBSD layer would use kqueue's EVFILT_PROC). */
#ifndef KL_HOST_PROCESS_H
#define KL_HOST_PROCESS_H

#include "lib/error.h"

/* An fd (close-on-exec) that polls readable once process `pid` has ended. ESRCH when there
 * is no such process (any more). */
int host_process_end_fd(int pid, kl_error *err);

#endif
