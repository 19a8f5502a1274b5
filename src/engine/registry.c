/* Registry access settings and credentials (registry.h). */
#include "engine/registry.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine/images.h"
#include "host/fetch.h"
#include "lib/cleanup.h"
#include "lib/log.h"
#include "lib/xalloc.h"
#include "registry/reference.h"

static bool has_control(const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p < 0x20 || *p == 0x7f)
            return true;
    return false;
}

int registry_credentials_check(const char *username, const char *password, kl_error *err)
{
    bool user = username && *username, pass = password && *password;
    if (!user && pass)
        return kl_error_set(err, EINVAL, "registry credentials: a password without a username");
    if (!user)
        return 0;
    if (strlen(username) > REGISTRY_USERNAME_MAX)
        return kl_error_set(err, EINVAL, "registry credentials: the username is longer than %d",
                            REGISTRY_USERNAME_MAX);
    if (strchr(username, ':'))
        return kl_error_set(err, EINVAL, "registry credentials: the username contains ':'");
    if (has_control(username))
        return kl_error_set(err, EINVAL,
                            "registry credentials: the username contains control characters");
    if (pass && strlen(password) > REGISTRY_PASSWORD_MAX)
        return kl_error_set(err, EINVAL, "registry credentials: the password is longer than %d",
                            REGISTRY_PASSWORD_MAX);
    if (pass && has_control(password))
        return kl_error_set(err, EINVAL,
                            "registry credentials: the password contains control characters");
    return 0;
}

char *registry_domain_of(const char *reference)
{
    oci_ref r;
    if (!reference || oci_ref_parse(reference, &r, NULL) < 0)
        return NULL;
    char *d = xstrdup(r.domain);
    oci_ref_clear(&r);
    return d;
}

/* The host part of a domain that is an IP literal, in binary; false for names. */
static bool domain_ip(const char *domain, int *af, unsigned char addr[16])
{
    char host[INET6_ADDRSTRLEN + 2];
    const char *h = domain, *end;
    if (*h == '[') {
        h++;
        end = strchr(h, ']');
        if (!end)
            return false;
    } else {
        end = strchr(h, ':');
        if (!end)
            end = h + strlen(h);
    }
    size_t n = (size_t)(end - h);
    if (n == 0 || n >= sizeof(host))
        return false;
    memcpy(host, h, n);
    host[n] = '\0';
    if (inet_pton(AF_INET, host, addr) == 1) {
        *af = AF_INET;
        return true;
    }
    if (inet_pton(AF_INET6, host, addr) == 1) {
        *af = AF_INET6;
        return true;
    }
    return false;
}

static bool prefix_holds(const char *prefix, int af, const unsigned char addr[16])
{
    const char *slash = strchr(prefix, '/');
    char net[INET6_ADDRSTRLEN];
    size_t n = slash ? (size_t)(slash - prefix) : 0;
    if (!slash || n >= sizeof(net))
        return false;
    memcpy(net, prefix, n);
    net[n] = '\0';
    unsigned char nb[16];
    if (inet_pton(af, net, nb) != 1)
        return false;
    unsigned long bits = strtoul(slash + 1, NULL, 10);
    unsigned long max = af == AF_INET ? 32 : 128;
    if (bits > max)
        return false;
    for (unsigned long i = 0; i < bits; i++) {
        unsigned char m = (unsigned char)(0x80u >> (i % 8));
        if ((nb[i / 8] & m) != (addr[i / 8] & m))
            return false;
    }
    return true;
}

void registry_transport_get(kl_engine *e, const char *domain, registry_transport *t)
{
    *t = (registry_transport){0};
    if (!domain || !*domain)
        return;
    int af = 0;
    unsigned char addr[16];
    bool is_ip = domain_ip(domain, &af, addr);
    for (size_t i = 0; e->insecure_registries && e->insecure_registries[i]; i++) {
        const char *entry = e->insecure_registries[i];
        if (!strcasecmp(entry, domain) || (is_ip && prefix_holds(entry, af, addr))) {
            t->insecure = true;
            break;
        }
    }
    /* the domain names a directory: only one a reference can hold (no '/', not a dot name) */
    if (e->registry_certs_dir && !strchr(domain, '/') && domain[0] != '.') {
        _cleanup_free_ char *dir = xasprintf("%s/%s", e->registry_certs_dir, domain);
        _cleanup_free_ char *f = xasprintf("%s/ca.crt", dir);
        struct stat st;
        if (stat(f, &st) == 0 && S_ISREG(st.st_mode))
            t->ca_file = steal_pointer(&f);
        /* a client certificate: NAME.cert with NAME.key (Docker's names) */
        struct dirent **names = NULL;
        int n = scandir(dir, &names, NULL, alphasort);
        for (int i = 0; i < n; i++) {
            const char *nm = names[i]->d_name;
            size_t len = strlen(nm);
            if (!t->client_cert && len > 5 && !strcmp(nm + len - 5, ".cert")) {
                _cleanup_free_ char *cert = xasprintf("%s/%s", dir, nm);
                _cleanup_free_ char *key = xasprintf("%s/%.*s.key", dir, (int)(len - 5), nm);
                if (stat(cert, &st) == 0 && S_ISREG(st.st_mode) && stat(key, &st) == 0 &&
                    S_ISREG(st.st_mode)) {
                    t->client_cert = steal_pointer(&cert);
                    t->client_key = steal_pointer(&key);
                } else {
                    log_warn("registry %s: %s has no key %.*s.key beside it: not used", domain,
                             cert, (int)(len - 5), nm);
                }
            }
            free(names[i]);
        }
        free(names);
    }
}

void registry_transport_clear(registry_transport *t)
{
    free(t->ca_file);
    free(t->client_cert);
    free(t->client_key);
    *t = (registry_transport){0};
}

char *registry_tls_hint(kl_engine *e, const char *domain)
{
    return xasprintf(" (kleened trusts the system's CAs and %s/%s/ca.crt; a registry listed in "
                     "insecure_registries is used without verifying its certificate)",
                     e->registry_certs_dir ? e->registry_certs_dir : "registry_certs_dir",
                     domain ? domain : "<registry>");
}

char *registry_login(kl_engine *e, const char *server, const char *username, const char *password,
                     kl_error *err)
{
    if (!username || !*username)
        return kl_error_set(err, EINVAL, "logging in needs a username"), NULL;
    if (registry_credentials_check(username, password, err) < 0)
        return NULL;
    _cleanup_free_ char *domain = oci_registry_normalize(server, err);
    if (!domain)
        return NULL;
    _cleanup_registry_transport_ registry_transport t;
    registry_transport_get(e, domain, &t);
    _cleanup_free_ char *sroot = images_storage_root(e);
    _cleanup_close_ int dfd = open(sroot, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0)
        return kl_error_errno(err, errno, "opening %s", sroot), NULL;
    host_pull_child_opts po = {.insecure = t.insecure,
                               .ca_file = t.ca_file,
                               .client_cert = t.client_cert,
                               .client_key = t.client_key,
                               .username = username,
                               .password = password};
    kl_error ferr = KL_ERROR_INIT;
    int rc = host_login_child(domain, dfd, &po, NULL, &ferr);
    if (rc < 0) {
        _cleanup_free_ char *hint =
            ferr.code == EKEYREJECTED ? registry_tls_hint(e, domain) : xstrdup("");
        return kl_error_set(err, ferr.code, "%s%s", ferr.msg, hint), NULL;
    }
    return steal_pointer(&domain);
}
