/* Helper programs that kleened starts (kleene-fetch, ...): where to find them.
 *
 * Portable interface; the search order is the host layer's. Helpers are installed to
 * <prefix>/<libexecdir>/kleene by `meson install`; a build tree finds its own. */
#ifndef KL_HOST_HELPERS_H
#define KL_HOST_HELPERS_H

#include "lib/error.h"

/* The path (xmalloc'ed) of the helper program `name` (a plain file name), the first
 * executable regular file found in:
 *   1. $KLEENE_LIBEXEC_DIR, if set (tests, unusual installs);
 *   2. the directory of the running executable;
 *   3. the install's libexec directory (<prefix>/<libexecdir>/kleene);
 *   4. the build directory the helpers were built in (a build tree run without install).
 * 4 comes before 3 when the running executable is inside that build tree: a kleened run
 * from the build (the e2e tests) uses the helpers built with it, not older installed ones.
 * NULL with ENOENT "helper program NAME not found (looked in A, B, C, D)" if none has it. */
char *host_helper_path(const char *name, kl_error *err);

#endif
