/* Published port conflicts (portclaim.h). */
#include "engine/portclaim.h"

#include <errno.h>
#include <string.h>

#include "engine/containers.h"
#include "engine/portspec.h"
#include "host/net.h"
#include "lib/cleanup.h"
#include "lib/jsonx.h"

static bool parse(const json_t *p, portspec *ps)
{
    kl_error err = KL_ERROR_INIT;
    return portspec_parse(jx_str(p, "host_port", ""), jx_str(p, "container_port", ""), ps, &err) ==
           0;
}

static bool interfaces_overlap(const json_t *a, const json_t *b)
{
    size_t na = json_array_size(a), nb = json_array_size(b);
    if (na == 0 || nb == 0)
        return true;
    for (size_t i = 0; i < na; i++)
        for (size_t k = 0; k < nb; k++) {
            const char *x = json_string_value(json_array_get(a, i));
            const char *y = json_string_value(json_array_get(b, k));
            if (x && y && strcmp(x, y) == 0)
                return true;
        }
    return false;
}

bool portclaim_overlap(const json_t *a, const json_t *b)
{
    portspec pa, pb;
    if (!parse(a, &pa) || !parse(b, &pb))
        return false;
    if (strcmp(jx_str(a, "protocol", "tcp"), jx_str(b, "protocol", "tcp")) != 0)
        return false;
    if (pa.host_last < pb.host_first || pb.host_last < pa.host_first)
        return false;
    return interfaces_overlap(json_object_get(a, "interfaces"), json_object_get(b, "interfaces"));
}

/* The first port of a's host range that b's covers too (for the message). */
static unsigned first_common(const json_t *a, const json_t *b)
{
    portspec pa, pb;
    if (!parse(a, &pa) || !parse(b, &pb))
        return 0;
    return pa.host_first > pb.host_first ? pa.host_first : pb.host_first;
}

int portclaim_check(kl_engine *e, const char *id, const json_t *ports, kl_error *err)
{
    if (!json_array_size(ports))
        return 0;
    _cleanup_json_ json_t *running = containers_list(e, false, err);
    if (!running)
        return kl_error_prefix(err, "checking published ports");
    size_t i;
    json_t *p;
    json_array_foreach(ports, i, p)
    {
        const char *proto = jx_str(p, "protocol", "tcp");
        size_t k;
        json_t *c;
        json_array_foreach(running, k, c)
        {
            if (strcmp(jx_str(c, "id", ""), id) == 0)
                continue;
            size_t m;
            json_t *q;
            json_array_foreach(json_object_get(c, "public_ports"), m, q)
            {
                if (portclaim_overlap(p, q))
                    return kl_error_set(
                        err, EADDRINUSE,
                        "port %u/%s is already published by running container %s (%s)",
                        first_common(p, q), proto, jx_str(c, "name", ""), jx_str(c, "id", ""));
            }
        }
        portspec ps;
        if (!parse(p, &ps))
            continue; /* checked at create */
        for (unsigned port = ps.host_first ? ps.host_first : 1; port <= ps.host_last; port++) {
            char who[128];
            int r = host_port_holder(proto, (uint16_t)port, who, sizeof(who), err);
            if (r < 0)
                return -1;
            if (r == 1)
                return kl_error_set(err, EADDRINUSE,
                                    "port %u/%s is already in use on the host by %s", port, proto,
                                    who);
        }
    }
    return 0;
}
