/* Names of objects. The one character set and length limit of the names users give to
 * containers, networks and volumes (docs/api.md "Names"), and random container names in
 * Docker's style: "adjective_surname" (e.g. "focused_hopper"). Uniqueness is the caller's
 * business (the store). */
#ifndef KL_NAMES_H
#define KL_NAMES_H

#include <stdbool.h>
#include <stddef.h>

/* Longest name kl_name_random can produce, including the NUL. */
#define KL_NAME_MAX 32

/* Write a random name into out (NUL-terminated, truncated to outlen - 1 if outlen is smaller
 * than KL_NAME_MAX). Never "boring_wozniak" (Steve Wozniak is not boring). */
void kl_name_random(char *out, size_t outlen);

/* The longest name of a container, network or volume, in bytes (a container name's optional
 * leading '/' counts). Names become SQLite text, directory names (volumes) and log lines. */
#define KL_OBJECT_NAME_MAX 255

/* The character set of every such name, as a regular expression for messages. */
#define KL_OBJECT_NAME_PATTERN "^[a-zA-Z0-9][a-zA-Z0-9_.-]*$"

/* True if s is 1..KL_OBJECT_NAME_MAX characters of KL_OBJECT_NAME_PATTERN: ASCII letters and
 * digits, then also '_', '.' and '-'. No '/', no whitespace or control characters, nothing
 * beyond ASCII (so no bidirectional overrides such as U+202E), never "." or "..". */
bool kl_name_is_valid(const char *s);

#endif
