/* `--format` of klee's ls commands: `json` (one JSON object per line) or a template in the
 * spirit of Docker's Go templates, limited to what listings need:
 *
 *   {{.Field}}       the field's value: a string as is, null as nothing, an array of strings
 *                    joined by ", ", anything else as compact JSON
 *   {{json .Field}}  the field's value as compact JSON;  {{json .}} the whole object
 *   \t, \n, \\       a tab, a newline, a backslash (as typed on a command line)
 *   table PREFIX     a leading "table " prints a header line first: each {{...}} replaced by
 *                    its field name in capitals
 *
 * A field is looked up exactly, then ignoring case. An unknown field or a malformed {{...}} is
 * an error naming it. Pure: builds strings, prints nothing. */
#ifndef KLEE_FORMAT_H
#define KLEE_FORMAT_H

#include <jansson.h>
#include <stdbool.h>

#include "lib/error.h"

/* Check a template before use (syntax only). */
int format_check(const char *tmpl, kl_error *err);

/* "table ..." → true, *body = what follows "table ". Otherwise false, *body = tmpl. */
bool format_is_table(const char *tmpl, const char **body);

/* One line for `object` (no newline added). Caller frees. NULL on error (unknown field). */
char *format_render(const char *body, const json_t *object, kl_error *err);

/* The header line of a "table" template body. Caller frees. */
char *format_header(const char *body);

#endif
