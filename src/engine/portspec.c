/* Published port specifications (see portspec.h). */
#include "engine/portspec.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#define ERR_SHAPE "could not decode port publishing specification"
#define ERR_VALUE "invalid port value (should be in the range 0 - 65535)"

/* One port number: 1..5 decimal digits, 0-65535. */
static bool port_parse(const char *s, size_t n, uint16_t *out)
{
    if (n == 0 || n > 5)
        return false;
    unsigned v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (unsigned)(s[i] - '0');
    }
    if (v > 65535)
        return false;
    *out = (uint16_t)v;
    return true;
}

/* "N" or "N:M" (and "N:*" when star_ok). Returns 0, or -1 with err. */
static int side_parse(const char *s, bool star_ok, uint16_t *first, uint16_t *last, bool *is_range,
                      bool *is_star, kl_error *err)
{
    const char *colon = strchr(s, ':');
    *is_range = *is_star = false;
    if (!colon) {
        if (!port_parse(s, strlen(s), first))
            return kl_error_set(err, EINVAL, ERR_VALUE);
        *last = *first;
        return 0;
    }
    if (strchr(colon + 1, ':'))
        return kl_error_set(err, EINVAL, ERR_SHAPE);
    if (strcmp(colon + 1, "*") == 0) {
        if (!star_ok) /* the original: "*" is then just not an integer */
            return kl_error_set(err, EINVAL, ERR_VALUE);
        if (!port_parse(s, (size_t)(colon - s), first))
            return kl_error_set(err, EINVAL, ERR_VALUE);
        *last = *first;
        *is_star = true;
        return 0;
    }
    if (!port_parse(s, (size_t)(colon - s), first) ||
        !port_parse(colon + 1, strlen(colon + 1), last))
        return kl_error_set(err, EINVAL, ERR_VALUE);
    if (*first > *last)
        return kl_error_set(err, EINVAL, "invalid port range %s (the first port is larger)", s);
    *is_range = true;
    return 0;
}

int portspec_parse(const char *host_port, const char *container_port, portspec *out, kl_error *err)
{
    portspec p;
    memset(&p, 0, sizeof(p));
    bool star;
    if (side_parse(host_port, false, &p.host_first, &p.host_last, &p.host_is_range, &star, err) <
            0 ||
        side_parse(container_port, true, &p.ctr_first, &p.ctr_last, &p.ctr_is_range, &p.ctr_is_star,
                   err) < 0)
        return -1;
    if (p.ctr_is_star) {
        unsigned last = (unsigned)p.ctr_first + (unsigned)(p.host_last - p.host_first);
        if (last > 65535)
            return kl_error_set(err, EINVAL, ERR_VALUE);
        p.ctr_last = (uint16_t)last;
    }
    *out = p;
    return 0;
}

void portspec_format_container(const portspec *p, char out[16])
{
    if (p->ctr_first == p->ctr_last)
        snprintf(out, 16, "%u", p->ctr_first);
    else
        snprintf(out, 16, "%u:%u", p->ctr_first, p->ctr_last);
}
