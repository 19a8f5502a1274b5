/* --mount and --publish parsing (see specs.h). Splits exactly like Python's str.split,
 * which the original used: empty fields count ("a::b" has three). */
#include "cli/specs.h"
#include "lib/xalloc.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

/* Number of `sep`-separated fields of s (always >= 1). */
static size_t count_fields(const char *s, char sep)
{
    size_t n = 1;
    for (; *s; s++)
        if (*s == sep)
            n++;
    return n;
}

/* Field i (0-based) of s, as a new string. */
static char *field(const char *s, char sep, size_t i)
{
    for (; i > 0; i--)
        s = strchr(s, sep) + 1;
    const char *end = strchr(s, sep);
    return end ? xstrndup(s, (size_t)(end - s)) : xstrdup(s);
}

int specs_parse_mount(const char *spec, specs_mount *out, kl_error *err)
{
    memset(out, 0, sizeof(*out));
    size_t n = count_fields(spec, ':');
    if (n > 3)
        return kl_error_set(err, EINVAL,
                            "invalid mount format '%s'. Max 3 elements separated by ':'.", spec);
    if (n < 2)
        return kl_error_set(
            err, EINVAL,
            "invalid mount format '%s'. Must have at least 2 elements separated by ':'.", spec);
    if (n == 3) {
        const char *mode = strrchr(spec, ':') + 1;
        if (strcmp(mode, "ro") != 0 && strcmp(mode, "rw") != 0)
            return kl_error_set(
                err, EINVAL,
                "invalid mount format '%s'. Last element should be either 'ro' or 'rw'.", spec);
        out->read_only = strcmp(mode, "ro") == 0;
    }
    out->source = field(spec, ':', 0);
    out->destination = field(spec, ':', 1);
    out->type = out->source[0] == '/' ? "nullfs" : "volume";
    return 0;
}

void specs_mount_clear(specs_mount *m)
{
    free(m->source);
    free(m->destination);
    memset(m, 0, sizeof(*m));
}

json_t *specs_mount_json(const specs_mount *m)
{
    return json_pack("{s:s, s:s, s:s, s:b}", "type", m->type, "source", m->source, "destination",
                     m->destination, "read_only", m->read_only);
}

int specs_parse_publish(const char *spec, specs_port *out, kl_error *err)
{
    memset(out, 0, sizeof(*out));
    size_t nslash = count_fields(spec, '/');
    if (nslash > 2)
        return kl_error_set(err, EINVAL, "could not decode port to publish: %s", spec);
    char *ports = field(spec, '/', 0);
    char *proto = nslash == 2 ? field(spec, '/', 1) : xstrdup("tcp");
    size_t n = count_fields(ports, ':');
    if (n > 3) {
        free(ports);
        free(proto);
        return kl_error_set(err, EINVAL, "could not decode port to publish: %s", spec);
    }
    if (strcmp(proto, "tcp") != 0 && strcmp(proto, "udp") != 0) {
        kl_error_set(err, EINVAL, "'%s' is not a valid PublishedPortConfigProtocol", proto);
        free(ports);
        free(proto);
        return -1;
    }
    out->protocol = proto;
    if (n == 3) {
        out->interface = field(ports, ':', 0);
        out->host_port = field(ports, ':', 1);
        out->container_port = field(ports, ':', 2);
    } else if (n == 2) {
        out->host_port = field(ports, ':', 0);
        out->container_port = field(ports, ':', 1);
    } else {
        out->host_port = xstrdup(ports);
        out->container_port = xstrdup(ports);
    }
    free(ports);
    return 0;
}

void specs_port_clear(specs_port *p)
{
    free(p->interface);
    free(p->host_port);
    free(p->container_port);
    free(p->protocol);
    memset(p, 0, sizeof(*p));
}

json_t *specs_port_json(const specs_port *p)
{
    json_t *ifaces = json_array();
    if (p->interface)
        json_array_append_new(ifaces, json_string(p->interface));
    return json_pack("{s:o, s:s, s:s, s:s}", "interfaces", ifaces, "host_port", p->host_port,
                     "container_port", p->container_port, "protocol", p->protocol);
}

/* ---- numbers ------------------------------------------------------------------------------ */

int specs_parse_size(const char *s, long long *bytes, kl_error *err)
{
    const char *p = s;
    unsigned long long v = 0;
    bool digits = false;
    for (; *p >= '0' && *p <= '9'; p++) {
        if (v > (ULLONG_MAX - 9) / 10)
            return kl_error_set(err, EINVAL, "invalid size '%s': too large", s);
        v = v * 10 + (unsigned long long)(*p - '0');
        digits = true;
    }
    unsigned long long frac_num = 0, frac_den = 1;
    if (*p == '.') {
        for (p++; *p >= '0' && *p <= '9'; p++) {
            if (frac_den < 1000000000ULL) {
                frac_num = frac_num * 10 + (unsigned long long)(*p - '0');
                frac_den *= 10;
            }
            digits = true;
        }
    }
    if (!digits)
        return kl_error_set(err, EINVAL,
                            "invalid size '%s': a number with an optional unit b, k, m or g is "
                            "expected (e.g. 64m)",
                            s);
    unsigned long long mult = 1;
    switch (*p) {
    case 'b':
    case 'B':
        mult = 1;
        p++;
        break;
    case 'k':
    case 'K':
        mult = 1ULL << 10;
        p++;
        break;
    case 'm':
    case 'M':
        mult = 1ULL << 20;
        p++;
        break;
    case 'g':
    case 'G':
        mult = 1ULL << 30;
        p++;
        break;
    case 't':
    case 'T':
        mult = 1ULL << 40;
        p++;
        break;
    default:
        break;
    }
    if (mult > 1 && (*p == 'b' || *p == 'B'))
        p++;
    if (*p)
        return kl_error_set(err, EINVAL,
                            "invalid size '%s': a number with an optional unit b, k, m or g is "
                            "expected (e.g. 64m)",
                            s);
    if (v > (unsigned long long)LLONG_MAX / mult)
        return kl_error_set(err, EINVAL, "invalid size '%s': too large", s);
    unsigned long long total = v * mult + frac_num * mult / frac_den;
    if (total > (unsigned long long)LLONG_MAX)
        return kl_error_set(err, EINVAL, "invalid size '%s': too large", s);
    *bytes = (long long)total;
    return 0;
}

int specs_parse_cpus(const char *s, double *cpus, kl_error *err)
{
    const char *p = s;
    double v = 0;
    bool digits = false;
    for (; *p >= '0' && *p <= '9'; p++) {
        v = v * 10 + (*p - '0');
        digits = true;
        if (v > 1024)
            break;
    }
    if (*p == '.') {
        double scale = 0.1;
        for (p++; *p >= '0' && *p <= '9'; p++) {
            v += (*p - '0') * scale;
            scale /= 10;
            digits = true;
        }
    }
    if (!digits || *p || v > 1024)
        return kl_error_set(err, EINVAL,
                            "invalid number of CPUs '%s': a decimal number from 0 to 1024 is "
                            "expected (e.g. 1.5)",
                            s);
    *cpus = v;
    return 0;
}

int specs_parse_count(const char *s, const char *what, long long min, long long max, long long *out,
                      kl_error *err)
{
    const char *p = s;
    bool neg = *p == '-';
    if (neg)
        p++;
    long long v = 0;
    bool digits = false;
    for (; *p >= '0' && *p <= '9'; p++) {
        if (v > max)
            break;
        v = v * 10 + (*p - '0');
        digits = true;
    }
    if (neg)
        v = -v;
    if (!digits || *p || v < min || v > max)
        return kl_error_set(err, EINVAL,
                            "invalid %s '%s': a whole number from %lld to %lld is expected", what,
                            s, min, max);
    *out = v;
    return 0;
}
