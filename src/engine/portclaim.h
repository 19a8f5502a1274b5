/* Published ports and who else claims them (issue 13 item 5): before a container starts,
 * each host port it publishes must be free, i.e. not published by another running container
 * for the same protocol on an overlapping set of interfaces, and not bound by a program on
 * the host. The start then fails with an error naming the holder, before anything is mounted,
 * wired or added to the firewall.
 *
 * Must not: change anything (it only reads the store and tries binds through the host
 * layer). */
#ifndef KL_ENGINE_PORTCLAIM_H
#define KL_ENGINE_PORTCLAIM_H

#include <jansson.h>
#include <stdbool.h>

#include "engine/engine.h"
#include "lib/error.h"

/* Whether two PublishedPort objects ({interfaces, host_port, protocol, ...}) claim a common
 * host port: the same protocol, overlapping host port ranges, and interfaces in common (an
 * empty list means every interface). Malformed ones claim nothing. */
bool portclaim_overlap(const json_t *a, const json_t *b);

/* EADDRINUSE "port <p>/<proto> is already published by running container <name> (<id>)" or
 * "port <p>/<proto> is already in use on the host by <command> (pid <pid>)"; 0 when every
 * port of `ports` (PublishedPort[] of container `id`) is free. */
int portclaim_check(kl_engine *e, const char *id, const json_t *ports, kl_error *err);

#endif
