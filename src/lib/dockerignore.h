/* .dockerignore: which paths of a build context COPY must not see (Docker's rules,
 * docs/dockerfile.md). Pure: parses text, matches context-relative paths; no I/O.
 *
 * Rules: one pattern a line; lines starting with '#' and blank lines are ignored; surrounding
 * whitespace is trimmed; a leading '!' makes an exception (re-includes); patterns are
 * lexically cleaned and a leading '/' is stripped (patterns are relative to the context).
 * `*` matches any run of characters except '/', `?` one character except '/', `[...]` a
 * class (`[^...]` negated), `\x` the character x, and `**` any number of directories
 * (pattern "a/" "**" "/b" matches a/b and a/x/y/b; a trailing `**` matches everything below). A
 * path is excluded when the last pattern matching it, or one of its parent directories, is not an
 * exception. */
#ifndef KL_LIB_DOCKERIGNORE_H
#define KL_LIB_DOCKERIGNORE_H

#include <stdbool.h>

#include "lib/error.h"

typedef struct dockerignore dockerignore;

/* Parse the file's text. EINVAL with `line <n>: ...` for a malformed pattern (an
 * unterminated '[' class). An empty text gives a matcher that excludes nothing. */
dockerignore *dockerignore_parse(const char *text, kl_error *err);
void dockerignore_free(dockerignore *di);

/* Is the context-relative path (e.g. "src/a.c"; a leading "./" or "/" is ignored) excluded? */
bool dockerignore_is_excluded(const dockerignore *di, const char *path);

/* Are there exception ('!') patterns? Then a walker must descend into excluded directories,
 * because something below may be re-included. */
bool dockerignore_has_exceptions(const dockerignore *di);

/* The number of patterns (for tests and diagnostics). */
unsigned dockerignore_count(const dockerignore *di);

#endif
