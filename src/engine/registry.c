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

char *registry_path_of(const char *reference)
{
    oci_ref r;
    if (!reference || oci_ref_parse(reference, &r, NULL) < 0)
        return NULL;
    char *p = xstrdup(r.path);
    oci_ref_clear(&r);
    return p;
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

static bool is_regular(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

static bool has_suffix(const char *s, const char *suffix, size_t *stem)
{
    size_t n = strlen(s), m = strlen(suffix);
    if (n <= m || strcmp(s + n - m, suffix) != 0)
        return false;
    *stem = n - m;
    return true;
}

/* <registry_certs_dir>/<domain>/ as Docker reads it (registry.h). */
static int read_certs_dir(const char *domain, const char *dir, registry_transport *t, kl_error *err)
{
    struct dirent **names = NULL;
    int n = scandir(dir, &names, NULL, alphasort);
    int rc = 0;
    for (int i = 0; i < n; i++) {
        const char *nm = names[i]->d_name;
        size_t stem;
        _cleanup_free_ char *path = xasprintf("%s/%s", dir, nm);
        if (rc < 0 || !is_regular(path)) {
            /* not a file: nothing Docker would read either */
        } else if (has_suffix(nm, ".crt", &stem)) {
            strv_push(&t->ca_files, path);
        } else if (has_suffix(nm, ".cert", &stem)) {
            _cleanup_free_ char *key = xasprintf("%s/%.*s.key", dir, (int)stem, nm);
            if (!is_regular(key))
                rc = kl_error_set(err, EINVAL,
                                  "registry %s: the client certificate %s has no key %.*s.key "
                                  "beside it (a CA certificate's name ends in .crt)",
                                  domain, path, (int)stem, nm);
            else if (!t->client_cert) {
                t->client_cert = steal_pointer(&path);
                t->client_key = steal_pointer(&key);
            }
        } else if (has_suffix(nm, ".key", &stem)) {
            _cleanup_free_ char *cert = xasprintf("%s/%.*s.cert", dir, (int)stem, nm);
            if (!is_regular(cert))
                rc = kl_error_set(err, EINVAL,
                                  "registry %s: the key %s has no client certificate %.*s.cert "
                                  "beside it",
                                  domain, path, (int)stem, nm);
        }
        free(names[i]);
    }
    free(names);
    return rc;
}

int registry_transport_get(kl_engine *e, const char *domain, registry_transport *t, kl_error *err)
{
    *t = (registry_transport){0};
    if (!domain || !*domain)
        return 0;
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
        if (read_certs_dir(domain, dir, t, err) < 0)
            return -1;
    }
    return 0;
}

void registry_transport_clear(registry_transport *t)
{
    strv_free(t->ca_files);
    free(t->client_cert);
    free(t->client_key);
    *t = (registry_transport){0};
}

char *registry_tls_hint(kl_engine *e, const char *domain)
{
    return xasprintf(" (kleened trusts the system's CAs and %s/%s/*.crt; a registry listed in "
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
    if (registry_transport_get(e, domain, &t, err) < 0)
        return NULL;
    _cleanup_free_ char *sroot = images_storage_root(e);
    _cleanup_close_ int dfd = open(sroot, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0)
        return kl_error_errno(err, errno, "opening %s", sroot), NULL;
    host_pull_child_opts po = {.insecure = t.insecure,
                               .ca_files = (const char *const *)t.ca_files,
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
