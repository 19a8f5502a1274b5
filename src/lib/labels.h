/* Labels: the string→string maps users attach to containers, images, networks and volumes
 * (docs/api.md "Labels"), and the `label=` filters the Docker door applies to listings.
 *
 * The rule for labels given through an API (a container's, network's or volume's `labels`,
 * a build's `labels`, the CLI's --label):
 *  - at most KL_LABELS_MAX labels;
 *  - a key is 1..KL_LABEL_KEY_MAX bytes of printable ASCII other than space and '=' (so that
 *    `key=value` and the filter `label=key=value` split at the first '='; dots, slashes,
 *    colons, brackets are fine: "com.docker.compose.project", "traefik.http.routers.a.rule");
 *  - a value is 0..KL_LABEL_VALUE_MAX bytes of UTF-8 without control characters other than
 *    tab and newline (a value is shown on terminals: no escape sequences).
 * Labels an image brings from a Dockerfile LABEL or a pulled image's config are kept as they
 * are; filters match them the same way.
 *
 * Pure functions on JSON values: no I/O, no state. */
#ifndef KL_LABELS_H
#define KL_LABELS_H

#include <jansson.h>
#include <stdbool.h>

#include "lib/error.h"

#define KL_LABELS_MAX 256
#define KL_LABEL_KEY_MAX 255
#define KL_LABEL_VALUE_MAX 4096

/* 0 when `labels` is NULL, JSON null or an object that follows the rule above; else -1 and
 * EINVAL with a message naming the first offending key ("label key 'a b': ..."). */
int kl_labels_check(const json_t *labels, kl_error *err);

/* Add one `KEY=VALUE` (or `KEY`, for an empty value: Docker's --label) to the object
 * `labels`, checking key and value by the rule above. EINVAL on a bad one. */
int kl_labels_add_assignment(json_t *labels, const char *assignment, kl_error *err);

/* A filter is `KEY` (the label is present, whatever its value) or `KEY=VALUE` (present with
 * exactly that value). EINVAL for an empty key. */
int kl_labels_filter_check(const char *filter, kl_error *err);

/* Whether `labels` (an object, or NULL/null = none) passes `filter`. */
bool kl_labels_match(const json_t *labels, const char *filter);

/* Whether `labels` passes every filter of `filters` (an array of strings; NULL or empty:
 * true), as Docker combines several `label` filters. */
bool kl_labels_match_all(const json_t *labels, const json_t *filters);

/* Docker's `label` and `label!` filters together: every filter of `must` passes and none of
 * `must_not` does (arrays of strings, NULL = none). */
bool kl_labels_match_filters(const json_t *labels, const json_t *must, const json_t *must_not);

#endif
