/* IP address management: parsing, `<auto>` gateways, allocation (see ipam.h).
 * Addresses are handled as 16-byte big-endian numbers, so one code path serves both
 * families. Must not touch the store or the host. */
#include "engine/ipam.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/cleanup.h"
#include "lib/xalloc.h"

static int addr_bytes(int family)
{
    return family == 4 ? 4 : 16;
}

static int addr_bits(int family)
{
    return family == 4 ? 32 : 128;
}

static bool parse_addr(const char *s, ipam_addr *a)
{
    memset(a, 0, sizeof(*a));
    if (strchr(s, ':')) {
        a->family = 6;
        return inet_pton(AF_INET6, s, a->bytes) == 1;
    }
    a->family = 4;
    return inet_pton(AF_INET, s, a->bytes) == 1;
}

int ipam_addr_parse(const char *s, ipam_addr *a, kl_error *err)
{
    if (!parse_addr(s, a))
        return kl_error_set(err, EINVAL, "could not parse inet address %s: einval", s);
    return 0;
}

static bool prefix_parse(const char *s, ipam_prefix *p)
{
    memset(p, 0, sizeof(*p));
    const char *slash = strchr(s, '/');
    char host[IPAM_STRLEN];
    size_t hl = slash ? (size_t)(slash - s) : strlen(s);
    if (hl == 0 || hl >= sizeof(host))
        return false;
    memcpy(host, s, hl);
    host[hl] = '\0';
    if (!parse_addr(host, &p->addr))
        return false;
    p->len = addr_bits(p->addr.family);
    if (!slash)
        return true;
    const char *l = slash + 1;
    size_t n = strlen(l);
    if (n == 0 || n > 3 || strspn(l, "0123456789") != n || atoi(l) > p->len)
        return false;
    p->len = atoi(l);
    return true;
}

int ipam_prefix_parse(const char *s, ipam_prefix *p, kl_error *err)
{
    if (!prefix_parse(s, p))
        return kl_error_set(err, EINVAL, "could not parse cidr block: \"%s\"", s);
    return 0;
}

int ipam_config_field_check(const char *field, const char *value, kl_error *err)
{
    bool is_gateway = strncmp(field, "gateway", 7) == 0;
    int want = field[strlen(field) - 1] == '6' ? 6 : 4;
    if (value[0] == '\0' || (is_gateway && strcmp(value, "<auto>") == 0))
        return 0;
    ipam_prefix p;
    if (ipam_prefix_parse(value, &p, err) < 0)
        return kl_error_prefix(err, "invalid %s", field);
    if (p.addr.family != want)
        return kl_error_set(err, EINVAL, "invalid %s: wrong IP protocol", field);
    return 0;
}

void ipam_addr_format(const ipam_addr *a, char out[IPAM_STRLEN])
{
    if (!inet_ntop(a->family == 4 ? AF_INET : AF_INET6, a->bytes, out, IPAM_STRLEN))
        snprintf(out, IPAM_STRLEN, "?");
}

int ipam_addr_cmp(const ipam_addr *a, const ipam_addr *b)
{
    if (a->family != b->family)
        return a->family < b->family ? -1 : 1;
    return memcmp(a->bytes, b->bytes, (size_t)addr_bytes(a->family));
}

/* Set (value=1) or clear the host bits of `a` for a prefix of length `len`. */
static void fill_host_bits(ipam_addr *a, int len, int value)
{
    int nb = addr_bytes(a->family);
    for (int i = 0; i < nb; i++) {
        int bit0 = i * 8;
        uint8_t mask; /* the host bits of this byte */
        if (bit0 + 8 <= len)
            mask = 0;
        else if (bit0 >= len)
            mask = 0xff;
        else
            mask = (uint8_t)(0xff >> (len - bit0));
        a->bytes[i] = value ? (a->bytes[i] | mask) : (a->bytes[i] & (uint8_t)~mask);
    }
}

void ipam_prefix_first(const ipam_prefix *p, ipam_addr *out)
{
    *out = p->addr;
    fill_host_bits(out, p->len, 0);
}

void ipam_prefix_last(const ipam_prefix *p, ipam_addr *out)
{
    *out = p->addr;
    fill_host_bits(out, p->len, 1);
}

void ipam_prefix_format_network(const ipam_prefix *p, char out[IPAM_STRLEN])
{
    ipam_addr n;
    char a[IPAM_STRLEN];
    ipam_prefix_first(p, &n);
    ipam_addr_format(&n, a);
    snprintf(out, IPAM_STRLEN, "%s/%d", a, p->len);
}

bool ipam_prefix_contains(const ipam_prefix *p, const ipam_addr *a)
{
    if (a->family != p->addr.family)
        return false;
    ipam_addr x = *a, n;
    fill_host_bits(&x, p->len, 0);
    ipam_prefix_first(p, &n);
    return ipam_addr_cmp(&x, &n) == 0;
}

bool ipam_prefix_overlaps(const ipam_prefix *a, const ipam_prefix *b)
{
    if (a->addr.family != b->addr.family)
        return false;
    const ipam_prefix *wide = a->len <= b->len ? a : b;
    const ipam_prefix *narrow = wide == a ? b : a;
    ipam_addr first;
    ipam_prefix_first(narrow, &first);
    return ipam_prefix_contains(wide, &first);
}

/* a += 1; returns false on overflow past the family's last address. */
static bool addr_inc(ipam_addr *a)
{
    for (int i = addr_bytes(a->family) - 1; i >= 0; i--)
        if (++a->bytes[i] != 0)
            return true;
    return false;
}

/* The range of host addresses [lo, hi]; false if there is none. */
static bool host_range(const ipam_prefix *p, ipam_addr *lo, ipam_addr *hi)
{
    int bits = addr_bits(p->addr.family);
    if (p->len >= bits || (p->addr.family == 4 && p->len >= 31))
        return false;
    ipam_prefix_first(p, lo);
    addr_inc(lo);
    ipam_prefix_last(p, hi);
    if (p->addr.family == 4) { /* the broadcast address is not a host address */
        for (int i = 3; i >= 0; i--)
            if (hi->bytes[i]-- != 0)
                break;
    }
    return true;
}

bool ipam_is_host_addr(const ipam_prefix *p, const ipam_addr *a)
{
    ipam_addr lo, hi;
    if (!ipam_prefix_contains(p, a) || !host_range(p, &lo, &hi))
        return false;
    return ipam_addr_cmp(a, &lo) >= 0 && ipam_addr_cmp(a, &hi) <= 0;
}

int ipam_gateway_auto(const ipam_prefix *subnet, ipam_addr *out, kl_error *err)
{
    ipam_addr hi;
    if (!host_range(subnet, out, &hi)) {
        char s[IPAM_STRLEN];
        ipam_prefix_format_network(subnet, s);
        return kl_error_set(err, EINVAL, "subnet %s has no host addresses", s);
    }
    return 0;
}

static int cmp_addr_qsort(const void *a, const void *b)
{
    return ipam_addr_cmp(a, b);
}

int ipam_allocate(const ipam_prefix *subnet, const ipam_addr *used, size_t n_used,
                  const ipam_addr *gateway, ipam_addr *out, kl_error *err)
{
    ipam_addr lo, hi;
    bool any = host_range(subnet, &lo, &hi);
    /* The in-range addresses in use, sorted: one pass then finds the lowest gap. */
    _cleanup_free_ ipam_addr *taken = xcalloc(n_used + 1, sizeof(*taken));
    size_t n = 0;
    for (size_t i = 0; i < n_used; i++)
        if (ipam_prefix_contains(subnet, &used[i]))
            taken[n++] = used[i];
    if (gateway && ipam_prefix_contains(subnet, gateway))
        taken[n++] = *gateway;
    qsort(taken, n, sizeof(*taken), cmp_addr_qsort);
    ipam_addr cand = lo;
    for (size_t i = 0; any && i < n; i++) {
        int c = ipam_addr_cmp(&taken[i], &cand);
        if (c < 0)
            continue;
        if (c > 0)
            break;
        if (!addr_inc(&cand) || ipam_addr_cmp(&cand, &hi) > 0)
            any = false;
    }
    if (!any || ipam_addr_cmp(&cand, &hi) > 0)
        return kl_error_set(err, ENOSPC, "no more %s IP's left in the network",
                            subnet->addr.family == 4 ? "inet" : "inet6");
    *out = cand;
    return 0;
}

int ipam_check_static(const ipam_prefix *subnet, const char *text, const ipam_addr *used,
                      size_t n_used, const ipam_addr *gateway, ipam_addr *out, kl_error *err)
{
    ipam_addr a;
    char net[IPAM_STRLEN], s[IPAM_STRLEN];
    if (ipam_addr_parse(text, &a, err) < 0)
        return -1;
    ipam_prefix_format_network(subnet, net);
    ipam_addr_format(&a, s);
    if (a.family != subnet->addr.family)
        return kl_error_set(err, EINVAL, "ip address %s is not an IPv%d address", s,
                            subnet->addr.family);
    if (!ipam_prefix_contains(subnet, &a))
        return kl_error_set(err, EINVAL, "ip address %s is outside the network's subnet %s", s,
                            net);
    if (!ipam_is_host_addr(subnet, &a))
        return kl_error_set(
            err, EINVAL, "ip address %s is the network or broadcast address of subnet %s", s, net);
    if (gateway && ipam_addr_cmp(gateway, &a) == 0)
        return kl_error_set(err, EEXIST, "ip address %s is the gateway of the network", s);
    for (size_t i = 0; i < n_used; i++)
        if (ipam_addr_cmp(&used[i], &a) == 0)
            return kl_error_set(err, EEXIST, "ip address %s is already in use in the network", s);
    *out = a;
    return 0;
}

int ipam_request(int family, const char *request, const ipam_prefix *subnet, const ipam_addr *used,
                 size_t n_used, const ipam_addr *gateway, char out[IPAM_STRLEN], kl_error *err)
{
    out[0] = '\0';
    if (request[0] == '\0')
        return 0;
    bool is_auto = strcmp(request, "<auto>") == 0;
    if (!subnet) {
        if (is_auto)
            return 0;
        return kl_error_set(err, EINVAL,
                            "cannot set ip address because there is no IPv%d subnet defined for "
                            "this network",
                            family);
    }
    ipam_addr a;
    int r = is_auto ? ipam_allocate(subnet, used, n_used, gateway, &a, err)
                    : ipam_check_static(subnet, request, used, n_used, gateway, &a, err);
    if (r < 0)
        return -1;
    ipam_addr_format(&a, out);
    return 0;
}
