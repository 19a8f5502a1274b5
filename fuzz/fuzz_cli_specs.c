/* libFuzzer target for klee's --mount, --publish, --memory, --cpus and count parsers: any input
 * gives a clean result or a clean error, and what parses has the fields the syntax promises. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cli/specs.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    if (!s)
        return 0;
    memcpy(s, data, size);
    s[size] = '\0';
    kl_error err = KL_ERROR_INIT;
    specs_mount m;
    if (specs_parse_mount(s, &m, &err) == 0) {
        if (!m.source || !m.destination || strchr(m.source, ':') || strchr(m.destination, ':') ||
            (m.source[0] == '/') != (strcmp(m.type, "nullfs") == 0))
            abort();
        json_decref(specs_mount_json(&m)); /* NULL for invalid UTF-8 is fine */
        specs_mount_clear(&m);
    } else if (!err.msg[0]) {
        abort();
    }
    err = (kl_error)KL_ERROR_INIT;
    specs_port p;
    if (specs_parse_publish(s, &p, &err) == 0) {
        if (!p.host_port || !p.container_port || !p.protocol ||
            (strcmp(p.protocol, "tcp") != 0 && strcmp(p.protocol, "udp") != 0) ||
            strchr(p.host_port, ':') || strchr(p.host_port, '/'))
            abort();
        json_decref(specs_port_json(&p));
        specs_port_clear(&p);
    } else if (!err.msg[0]) {
        abort();
    }
    err = (kl_error)KL_ERROR_INIT;
    long long n;
    if (specs_parse_size(s, &n, &err) == 0 ? n < 0 : !err.msg[0])
        abort();
    err = (kl_error)KL_ERROR_INIT;
    double c;
    if (specs_parse_cpus(s, &c, &err) == 0 ? !(c >= 0 && c <= 1024) : !err.msg[0])
        abort();
    err = (kl_error)KL_ERROR_INIT;
    if (specs_parse_count(s, "count", -1, 86400, &n, &err) == 0 ? n < -1 || n > 86400 : !err.msg[0])
        abort();
    free(s);
    return 0;
}
