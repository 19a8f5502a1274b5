/* libFuzzer target for IPAM parsing: any input must give a clean result or a clean error;
 * what parses as a prefix formats and re-parses to the same network, and allocation in it
 * returns a host address of the prefix (never network/broadcast) or a clean ENOSPC. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "engine/ipam.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    if (!s)
        return 0;
    memcpy(s, data, size);
    s[size] = '\0';
    kl_error err = KL_ERROR_INIT;
    static const char *fields[] = {"subnet", "subnet6", "gateway", "gateway6"};
    for (size_t i = 0; i < 4; i++)
        if (ipam_config_field_check(fields[i], s, &err) < 0 && (err.code == 0 || !err.msg[0]))
            abort();
    ipam_prefix p, p2;
    if (ipam_prefix_parse(s, &p, &err) == 0) {
        char f[IPAM_STRLEN];
        ipam_prefix_format_network(&p, f);
        if (ipam_prefix_parse(f, &p2, &err) != 0 || p2.len != p.len ||
            !ipam_prefix_contains(&p2, &p.addr))
            abort();
        ipam_addr out, used = p.addr;
        if (ipam_allocate(&p, &used, 1, NULL, &out, &err) == 0) {
            if (!ipam_is_host_addr(&p, &out) || ipam_addr_cmp(&out, &used) == 0)
                abort();
        } else if (err.code == 0) {
            abort();
        }
        char req[IPAM_STRLEN];
        (void)ipam_request(p.addr.family, "<auto>", &p, NULL, 0, NULL, req, &err);
    }
    ipam_addr a;
    if (ipam_addr_parse(s, &a, &err) == 0) {
        char f[IPAM_STRLEN];
        ipam_addr b;
        ipam_addr_format(&a, f);
        if (ipam_addr_parse(f, &b, &err) != 0 || ipam_addr_cmp(&a, &b) != 0)
            abort();
    }
    free(s);
    return 0;
}
