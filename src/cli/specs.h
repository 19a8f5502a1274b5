/* Parsers for the container options that have their own syntax (KLEE-CLI.md §5 container):
 * `--mount SOURCE:DESTINATION[:rw|ro]` and `--publish [IFACE:]HOST[:CONTAINER][/PROTO]`.
 *
 * Pure string functions, byte-compatible with the original klee's decoding (a Python
 * str.split on ':' and '/'), so they can be fuzzed and tested without a daemon. They check
 * the syntax only; port numbers and names are validated by kleened. */
#ifndef KLEE_SPECS_H
#define KLEE_SPECS_H

#include "lib/error.h"

#include <jansson.h>
#include <stdbool.h>

/* A MountPointConfig (API.md §5.6). */
typedef struct specs_mount {
    const char *type; /* "nullfs" when source starts with '/', else "volume" (static) */
    char *source;
    char *destination;
    bool read_only;
} specs_mount;

/* Parse a --mount value. Errors (EINVAL; the caller exits 125):
 * "invalid mount format '<m>'. Max 3 elements separated by ':'."
 * "invalid mount format '<m>'. Must have at least 2 elements separated by ':'."
 * "invalid mount format '<m>'. Last element should be either 'ro' or 'rw'."
 * (the original's wording, "separated" included). */
int specs_parse_mount(const char *spec, specs_mount *out, kl_error *err);
void specs_mount_clear(specs_mount *m);
/* {"type","source","destination","read_only"} */
json_t *specs_mount_json(const specs_mount *m);

/* A PublishedPortConfig (API.md §5.5). */
typedef struct specs_port {
    char *interface; /* NULL: none given (interfaces []) */
    char *host_port;
    char *container_port; /* defaults to host_port */
    char *protocol;       /* "tcp" unless given */
} specs_port;

/* Parse a --publish value: HOST[:CONTAINER][/PROTO] or IFACE:HOST:CONTAINER[/PROTO].
 * Errors (EINVAL; the caller exits 1): "could not decode port to publish: <p>" for more
 * than one '/' or more than two ':'; "'<x>' is not a valid PublishedPortConfigProtocol"
 * for a protocol other than tcp or udp. */
int specs_parse_publish(const char *spec, specs_port *out, kl_error *err);
void specs_port_clear(specs_port *p);
/* {"interfaces":[...],"host_port","container_port","protocol"} */
json_t *specs_port_json(const specs_port *p);

/* A size as docker writes it (--memory): a number of bytes with an optional unit b, k, m, g
 * (powers of 1024, either case, an optional trailing "b" as in "64mb"); "0" means no limit.
 * EINVAL "invalid size '<s>': ..." for anything else or an overflow. */
int specs_parse_size(const char *s, long long *bytes, kl_error *err);

/* A CPU count (--cpus): a decimal number from 0 to 1024 ("1.5", ".5", "2"); EINVAL
 * otherwise. */
int specs_parse_cpus(const char *s, double *cpus, kl_error *err);

/* A whole number from min to max (--pids-limit, --stop-timeout, --time). EINVAL
 * "invalid <what> '<s>': ..." otherwise. */
int specs_parse_count(const char *s, const char *what, long long min, long long max, long long *out,
                      kl_error *err);

#endif
