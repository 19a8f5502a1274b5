/* Docker-style image references (reference.h). */
#include "registry/reference.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "lib/cleanup.h"
#include "lib/xalloc.h"
#include "registry/digest.h"

static bool is_lower_alnum(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

static bool is_alnum(char c)
{
    return is_lower_alnum(c) || (c >= 'A' && c <= 'Z');
}

/* One repository component, s[0..n): lowercase alnum runs joined by '.', '_', "__" or any
 * number of '-'. */
static int check_component(const char *s, size_t n, const char *whole, kl_error *err)
{
    if (n == 0)
        return kl_error_set(err, EINVAL, "invalid reference \"%.300s\": empty path component",
                            whole);
    for (size_t i = 0; i < n; i++)
        if (s[i] >= 'A' && s[i] <= 'Z')
            return kl_error_set(err, EINVAL,
                                "invalid reference \"%.300s\": repository name must be lowercase",
                                whole);
    if (!is_lower_alnum(s[0]) || !is_lower_alnum(s[n - 1]))
        return kl_error_set(err, EINVAL,
                            "invalid reference \"%.300s\": a path component must start and end "
                            "with a letter or digit",
                            whole);
    size_t i = 0;
    while (i < n) {
        if (is_lower_alnum(s[i])) {
            i++;
            continue;
        }
        /* a separator between two alnum runs */
        size_t j = i;
        if (s[i] == '.') {
            j = i + 1;
        } else if (s[i] == '_') {
            j = i + 1;
            if (j < n && s[j] == '_')
                j++;
        } else if (s[i] == '-') {
            while (j < n && s[j] == '-')
                j++;
        } else {
            return kl_error_set(err, EINVAL,
                                "invalid reference \"%.300s\": invalid character '%c' in the "
                                "repository name",
                                whole, isprint((unsigned char)s[i]) ? s[i] : '?');
        }
        if (j >= n || !is_lower_alnum(s[j]))
            return kl_error_set(err, EINVAL,
                                "invalid reference \"%.300s\": invalid separator in the "
                                "repository name",
                                whole);
        i = j;
    }
    return 0;
}

/* host[:port], host being dot-separated labels of [A-Za-z0-9-] (not starting or ending with
 * '-') or a bracketed IPv6 address. */
static int check_domain(const char *s, size_t n, const char *whole, kl_error *err)
{
    size_t host_end = n;
    if (n && s[0] == '[') {
        const char *close = memchr(s, ']', n);
        if (!close || close == s + 1)
            return kl_error_set(err, EINVAL, "invalid reference \"%.300s\": bad IPv6 registry",
                                whole);
        for (const char *p = s + 1; p < close; p++)
            if (!isxdigit((unsigned char)*p) && *p != ':' && *p != '.')
                return kl_error_set(err, EINVAL, "invalid reference \"%.300s\": bad IPv6 registry",
                                    whole);
        host_end = (size_t)(close - s) + 1;
        if (host_end < n && s[host_end] != ':')
            return kl_error_set(err, EINVAL, "invalid reference \"%.300s\": bad IPv6 registry",
                                whole);
    } else {
        const char *colon = memchr(s, ':', n);
        if (colon)
            host_end = (size_t)(colon - s);
        size_t label = 0;
        if (host_end == 0)
            return kl_error_set(err, EINVAL, "invalid reference \"%.300s\": empty registry host",
                                whole);
        for (size_t i = 0; i <= host_end; i++) {
            if (i == host_end || s[i] == '.') {
                if (label == 0 || s[i - 1] == '-')
                    return kl_error_set(err, EINVAL,
                                        "invalid reference \"%.300s\": bad registry host", whole);
                label = 0;
                continue;
            }
            if (!is_alnum(s[i]) && !(s[i] == '-' && label > 0))
                return kl_error_set(err, EINVAL, "invalid reference \"%.300s\": bad registry host",
                                    whole);
            label++;
        }
    }
    if (host_end < n) {
        /* ":port" */
        size_t digits = n - host_end - 1;
        if (digits == 0 || digits > 5)
            return kl_error_set(err, EINVAL, "invalid reference \"%.300s\": bad registry port",
                                whole);
        long port = 0;
        for (size_t i = host_end + 1; i < n; i++) {
            if (s[i] < '0' || s[i] > '9')
                return kl_error_set(err, EINVAL, "invalid reference \"%.300s\": bad registry port",
                                    whole);
            port = port * 10 + (s[i] - '0');
        }
        if (port < 1 || port > 65535)
            return kl_error_set(err, EINVAL, "invalid reference \"%.300s\": bad registry port",
                                whole);
    }
    return 0;
}

static int check_tag(const char *t, const char *whole, kl_error *err)
{
    size_t n = strlen(t);
    if (n == 0 || n > OCI_REF_TAG_MAX)
        return kl_error_set(err, EINVAL,
                            "invalid reference \"%.300s\": a tag has 1 to %d "
                            "characters",
                            whole, OCI_REF_TAG_MAX);
    if (!(is_alnum(t[0]) || t[0] == '_'))
        return kl_error_set(err, EINVAL, "invalid reference \"%.300s\": invalid tag", whole);
    for (size_t i = 1; i < n; i++)
        if (!(is_alnum(t[i]) || t[i] == '_' || t[i] == '.' || t[i] == '-'))
            return kl_error_set(err, EINVAL, "invalid reference \"%.300s\": invalid tag", whole);
    return 0;
}

void oci_ref_clear(oci_ref *ref)
{
    free(ref->domain);
    free(ref->path);
    free(ref->tag);
    free(ref->digest);
    memset(ref, 0, sizeof(*ref));
}

int oci_ref_parse(const char *s, oci_ref *ref, kl_error *err)
{
    memset(ref, 0, sizeof(*ref));
    if (!s || !*s)
        return kl_error_set(err, EINVAL, "invalid reference: empty");
    _cleanup_free_ char *digest = NULL;
    _cleanup_free_ char *tag = NULL;
    _cleanup_free_ char *rest = NULL;
    const char *at = strchr(s, '@');
    if (at) {
        if (oci_digest_parse(at + 1, NULL, err) < 0)
            return kl_error_prefix(err, "invalid reference \"%.300s\"", s);
        digest = xstrdup(at + 1);
        rest = xstrndup(s, (size_t)(at - s));
    } else {
        rest = xstrdup(s);
    }
    /* a tag is after the last ':' that follows the last '/' */
    char *slash = strrchr(rest, '/');
    char *colon = strrchr(slash ? slash : rest, ':');
    if (colon) {
        *colon = '\0';
        if (check_tag(colon + 1, s, err) < 0)
            return -1;
        tag = xstrdup(colon + 1);
    }
    size_t len = strlen(rest);
    if (len == 0)
        return kl_error_set(err, EINVAL, "invalid reference \"%.300s\": no repository name", s);
    if (len > OCI_REF_NAME_MAX)
        return kl_error_set(err, EINVAL,
                            "invalid reference \"%.300s\": repository name longer than %d", s,
                            OCI_REF_NAME_MAX);
    /* the first component is a registry when it looks like a host */
    const char *path = rest;
    _cleanup_free_ char *domain = NULL;
    char *first_slash = strchr(rest, '/');
    if (first_slash) {
        size_t dn = (size_t)(first_slash - rest);
        bool is_domain = memchr(rest, '.', dn) || memchr(rest, ':', dn) ||
                         (dn == 9 && memcmp(rest, "localhost", 9) == 0) || rest[0] == '[';
        if (is_domain) {
            if (check_domain(rest, dn, s, err) < 0)
                return -1;
            domain = xstrndup(rest, dn);
            path = first_slash + 1;
        }
    }
    if (!domain)
        domain = xstrdup(OCI_REF_DEFAULT_DOMAIN);
    else if (strcmp(domain, "index.docker.io") == 0) {
        free(domain);
        domain = xstrdup(OCI_REF_DEFAULT_DOMAIN);
    }
    /* every path component */
    for (const char *p = path;;) {
        const char *e = strchr(p, '/');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        if (check_component(p, n, s, err) < 0)
            return -1;
        if (!e)
            break;
        p = e + 1;
    }
    if (strcmp(domain, OCI_REF_DEFAULT_DOMAIN) == 0 && !strchr(path, '/'))
        ref->path = xasprintf("library/%s", path);
    else
        ref->path = xstrdup(path);
    /* bounded in its full form, so that every form of it parses back */
    if (strlen(domain) + 1 + strlen(ref->path) > OCI_REF_NAME_MAX) {
        free(ref->path);
        ref->path = NULL;
        return kl_error_set(err, EINVAL,
                            "invalid reference \"%.300s\": repository name longer than %d", s,
                            OCI_REF_NAME_MAX);
    }
    ref->domain = steal_pointer(&domain);
    if (!tag && !digest)
        tag = xstrdup(OCI_REF_DEFAULT_TAG);
    ref->tag = steal_pointer(&tag);
    ref->digest = steal_pointer(&digest);
    return 0;
}

char *oci_ref_repository(const oci_ref *ref)
{
    return xasprintf("%s/%s", ref->domain, ref->path);
}

char *oci_ref_format(const oci_ref *ref)
{
    return xasprintf("%s/%s%s%s%s%s", ref->domain, ref->path, ref->tag ? ":" : "",
                     ref->tag ? ref->tag : "", ref->digest ? "@" : "",
                     ref->digest ? ref->digest : "");
}

char *oci_ref_familiar(const oci_ref *ref)
{
    const char *name = ref->path;
    _cleanup_free_ char *full = NULL;
    size_t first = strcspn(ref->path, "/");
    bool first_is_domain =
        ref->path[first] == '/' &&
        (memchr(ref->path, '.', first) || (first == 9 && memcmp(ref->path, "localhost", 9) == 0));
    if (strcmp(ref->domain, OCI_REF_DEFAULT_DOMAIN) == 0 && !first_is_domain) {
        if (strncmp(name, "library/", 8) == 0 && !strchr(name + 8, '/'))
            name += 8;
    } else {
        full = oci_ref_repository(ref);
        name = full;
    }
    return xasprintf("%s%s%s%s%s", name, ref->tag ? ":" : "", ref->tag ? ref->tag : "",
                     ref->digest ? "@" : "", ref->digest ? ref->digest : "");
}

const char *oci_ref_manifest_ref(const oci_ref *ref)
{
    return ref->digest ? ref->digest : ref->tag;
}

const char *oci_ref_api_host(const oci_ref *ref)
{
    if (strcmp(ref->domain, OCI_REF_DEFAULT_DOMAIN) == 0)
        return OCI_REF_DOCKER_HUB_API;
    return ref->domain;
}

bool oci_ref_domain_is_loopback(const char *domain)
{
    if (!domain)
        return false;
    size_t n = strlen(domain);
    if (domain[0] == '[') {
        const char *close = strchr(domain, ']');
        return close && (size_t)(close - domain) == 4 && memcmp(domain, "[::1]", 5) == 0;
    }
    const char *colon = strchr(domain, ':');
    if (colon)
        n = (size_t)(colon - domain);
    if (n == 9 && memcmp(domain, "localhost", 9) == 0)
        return true;
    /* 127.a.b.c, each part a decimal 0..255 */
    if (n < 9 || memcmp(domain, "127.", 4) != 0)
        return false;
    int parts = 2, value = 0, digits = 0; /* "127" and the one being read */
    for (size_t i = 4; i <= n; i++) {
        if (i == n || domain[i] == '.') {
            if (digits == 0 || value > 255)
                return false;
            if (i < n)
                parts++;
            value = 0;
            digits = 0;
        } else if (domain[i] >= '0' && domain[i] <= '9' && digits < 3) {
            value = value * 10 + (domain[i] - '0');
            digits++;
        } else {
            return false;
        }
    }
    return parts == 4;
}

/* Docker Hub's other names, as `docker login` and config files write them. */
static const char *const hub_aliases[] = {"docker.io", "index.docker.io", "registry-1.docker.io",
                                          "registry.hub.docker.com", NULL};

char *oci_registry_normalize(const char *server, kl_error *err)
{
    const char *s = server ? server : "";
    if (!strncasecmp(s, "https://", 8))
        s += 8;
    else if (!strncasecmp(s, "http://", 7))
        s += 7;
    size_t n = strcspn(s, "/");
    _cleanup_free_ char *d = xstrndup(s, n);
    for (size_t i = 0; hub_aliases[i]; i++)
        if (!strcasecmp(d, hub_aliases[i]))
            return xstrdup(OCI_REF_DEFAULT_DOMAIN);
    /* a domain is what a reference's first component may be: the reference grammar says */
    _cleanup_free_ char *probe = xasprintf("%s/x", d);
    oci_ref r;
    if (!*d || oci_ref_parse(probe, &r, NULL) < 0) {
        kl_error_set(err, EINVAL, "'%.200s' is not a registry (host[:port])", server ? server : "");
        return NULL;
    }
    bool same = !strcmp(r.domain, d);
    oci_ref_clear(&r);
    if (!same) {
        kl_error_set(err, EINVAL,
                     "'%.200s' is not a registry (host[:port]; a name without '.' or ':' is a "
                     "repository, except localhost)",
                     server ? server : "");
        return NULL;
    }
    return steal_pointer(&d);
}

char *oci_registry_auth_key(const char *domain)
{
    if (!strcmp(domain, OCI_REF_DEFAULT_DOMAIN))
        return xstrdup(OCI_REGISTRY_HUB_AUTH_KEY);
    return xstrdup(domain);
}
