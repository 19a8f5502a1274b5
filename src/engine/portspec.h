/* Published port specifications (API.md §5.5): host_port "N" or "N:M"; container_port "N",
 * "N:*" (a range as long as the host range, starting at N) or "N:M"; each number 0-65535.
 *
 * Parses untrusted request text; every malformed value is a clean EINVAL with the
 * original's messages: "could not decode port publishing specification" for a bad shape
 * (more than one ':'), "invalid port value (should be in the range
 * 0 - 65535)" for a bad number (also "*" in host_port). Stricter than the original (our fix): a
 * range must not run backwards. Pure, no I/O. */
#ifndef KL_ENGINE_PORTSPEC_H
#define KL_ENGINE_PORTSPEC_H

#include <stdbool.h>
#include <stdint.h>

#include "lib/error.h"

typedef struct portspec {
    uint16_t host_first, host_last; /* equal for a single port */
    bool host_is_range;             /* "N:M" was given */
    /* The container ports the host ports map to. "N:*" resolves to N .. N+(host_last -
     * host_first) (N alone for a single host port), which must stay within 65535. */
    uint16_t ctr_first, ctr_last;
    bool ctr_is_star; /* "N:*" was given */
    bool ctr_is_range;
} portspec;

int portspec_parse(const char *host_port, const char *container_port, portspec *out, kl_error *err);

/* The resolved container port(s) as pf/nft write them: "80" or "80:90" ("N:*" resolved). */
void portspec_format_container(const portspec *p, char out[16]);

#endif
