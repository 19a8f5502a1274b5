/* Random container names in Docker's style: "adjective_surname" (e.g. "focused_hopper").
 * Uniqueness is the caller's business (the store); this only draws a name. */
#ifndef KL_NAMES_H
#define KL_NAMES_H

#include <stddef.h>

/* Longest name kl_name_random can produce, including the NUL. */
#define KL_NAME_MAX 32

/* Write a random name into out (NUL-terminated, truncated to outlen - 1 if outlen is smaller
 * than KL_NAME_MAX). Never "boring_wozniak" (Steve Wozniak is not boring). */
void kl_name_random(char *out, size_t outlen);

#endif
