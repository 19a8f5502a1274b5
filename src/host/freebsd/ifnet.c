/* Networks on a FreeBSD host (ifnet.h): ifconfig, netstat and sysctl through the runner.
 * It must not: destroy an interface it did not create (B12), or pass a name or address to
 * ifconfig that it has not validated. */
#include "host/freebsd/ifnet.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <string.h>

#include "lib/buf.h"
#include "lib/cleanup.h"
#include "lib/xalloc.h"

#define IFCONFIG "/sbin/ifconfig"
#define NETSTAT "/usr/bin/netstat"

bool fb_ifname_is_valid(const char *name)
{
    if (!name || !*name || strlen(name) > 15 || name[0] == '-' || name[0] == '.')
        return false;
    for (const char *p = name; *p; p++)
        if (!isalnum((unsigned char)*p) && *p != '_' && *p != '.')
            return false;
    return true;
}

static int family_of(const char *ip)
{
    unsigned char buf[16];
    if (ip && inet_pton(AF_INET, ip, buf) == 1)
        return 4;
    if (ip && inet_pton(AF_INET6, ip, buf) == 1)
        return 6;
    return 0;
}

static bool has(const char *s)
{
    return s && *s;
}

int fb_if_addresses(const fb_host *h, const char *ifname, char ***addrs, bool *exists,
                    kl_error *err)
{
    if (!fb_ifname_is_valid(ifname))
        return kl_error_set(err, EINVAL, "invalid interface name '%s'", ifname ? ifname : "");
    _cleanup_result_ fb_result r = FB_RESULT_INIT;
    if (fb_run_ok(h->run, FB_ARGV(NETSTAT, "--libxo", "json", "-I", ifname, "-n"), &r, err) < 0)
        return -1;
    _cleanup_json_ json_t *j = json_loads(r.out, 0, NULL);
    json_t *arr = json_object_get(json_object_get(j, "statistics"), "interface");
    if (!j)
        return kl_error_set(err, EIO, "netstat: unexpected output");
    char **v = xcalloc(1, sizeof(char *));
    size_t i;
    json_t *x;
    json_array_foreach(arr, i, x)
    {
        const char *a = json_string_value(json_object_get(x, "address"));
        if (family_of(a))
            strv_push(&v, a);
    }
    if (exists)
        *exists = json_array_size(arr) > 0;
    if (addrs)
        *addrs = v;
    else
        strv_free(v);
    return 0;
}

static bool in_strv(char *const *v, const char *s)
{
    for (size_t i = 0; v && v[i]; i++)
        if (!strcmp(v[i], s))
            return true;
    return false;
}

int fb_alias_add(const fb_host *h, const char *ifname, const char *ip, kl_error *err)
{
    int fam = family_of(ip);
    if (!fam || !fb_ifname_is_valid(ifname))
        return kl_error_set(err, EINVAL, "invalid interface or address '%s'", ip ? ip : "");
    _cleanup_free_ char *cidr = xasprintf("%s/%d", ip, fam == 4 ? 32 : 128);
    if (fb_run_ok(h->run, FB_ARGV(IFCONFIG, ifname, fam == 4 ? "inet" : "inet6", cidr, "alias"),
                  NULL, err) < 0)
        return kl_error_prefix(err, "error adding %s alias to %s", ip, ifname);
    return 0;
}

int fb_alias_remove(const fb_host *h, const char *ifname, const char *ip, kl_error *err)
{
    int fam = family_of(ip);
    if (!fam)
        return kl_error_set(err, EINVAL, "invalid address '%s'", ip ? ip : "");
    _cleanup_strv_ char **addrs = NULL;
    if (fb_if_addresses(h, ifname, &addrs, NULL, err) < 0)
        return -1;
    if (!in_strv(addrs, ip))
        return 0;
    if (fb_run_ok(h->run, FB_ARGV(IFCONFIG, ifname, fam == 4 ? "inet" : "inet6", ip, "-alias"),
                  NULL, err) < 0)
        return kl_error_prefix(err, "error removing %s alias from %s", ip, ifname);
    return 0;
}

int fb_epair_create(const fb_host *h, char name[16], kl_error *err)
{
    _cleanup_result_ fb_result r = FB_RESULT_INIT;
    if (fb_run_ok(h->run, FB_ARGV(IFCONFIG, "epair", "create"), &r, err) < 0)
        return -1;
    _cleanup_free_ char *a = fb_trim(r.out);
    size_t n = strlen(a);
    if (n < 2 || n > 15 || a[n - 1] != 'a' || strncmp(a, "epair", 5) || !fb_ifname_is_valid(a))
        return kl_error_set(err, EIO, "ifconfig epair create: unexpected output '%s'", a);
    memcpy(name, a, n - 1);
    name[n - 1] = '\0';
    return 0;
}

int fb_epair_destroy(const fb_host *h, const char *bridge, const char *epair, kl_error *err)
{
    if (!fb_ifname_is_valid(epair))
        return kl_error_set(err, EINVAL, "invalid epair '%s'", epair ? epair : "");
    _cleanup_free_ char *a = xasprintf("%sa", epair);
    kl_error ig = KL_ERROR_INIT;
    if (fb_ifname_is_valid(bridge)) /* a failure is only a warning, as in the original */
        fb_run_ok(h->run, FB_ARGV(IFCONFIG, bridge, "deletem", a), NULL, &ig);
    return fb_run_ok(h->run, FB_ARGV(IFCONFIG, a, "destroy"), NULL, err);
}

/* "10.13.37.0/24" → "10.13.37.1/24" (the first host address, the <auto> gateway). */
static int first_host(const char *cidr, char **out, kl_error *err)
{
    _cleanup_free_ char *c = xstrdup(cidr);
    char *slash = strchr(c, '/');
    if (!slash)
        return kl_error_set(err, EINVAL, "could not parse cidr block: \"%s\"", cidr);
    *slash = '\0';
    int prefix = atoi(slash + 1);
    unsigned char b[16];
    int fam = family_of(c);
    if (!fam || inet_pton(fam == 4 ? AF_INET : AF_INET6, c, b) != 1 || prefix < 0 ||
        prefix > (fam == 4 ? 30 : 127))
        return kl_error_set(err, EINVAL, "could not parse cidr block: \"%s\"", cidr);
    int len = fam == 4 ? 4 : 16;
    for (int i = len - 1; i >= 0; i--)
        if (++b[i] != 0)
            break;
    char txt[INET6_ADDRSTRLEN];
    inet_ntop(fam == 4 ? AF_INET : AF_INET6, b, txt, sizeof(txt));
    *out = xasprintf("%s/%d", txt, prefix);
    return 0;
}

static int create_if(const fb_host *h, const fb_network *n, kl_error *err)
{
    const char *kind = n->type == FB_NETTYPE_LOOPBACK ? "lo" : "bridge";
    if (fb_run_ok(h->run, FB_ARGV(IFCONFIG, kind, "create", "name", n->ifname), NULL, err) < 0)
        return kl_error_prefix(err, "creating interface %s", n->ifname);
    if (n->type != FB_NETTYPE_BRIDGE)
        return 0;
    const char *gws[2] = {n->gateway, n->gateway6};
    const char *subs[2] = {n->subnet, n->subnet6};
    for (int i = 0; i < 2; i++) {
        if (!has(gws[i]) || strcmp(gws[i], "<auto>") || !has(subs[i]))
            continue;
        _cleanup_free_ char *gw = NULL;
        int rc = first_host(subs[i], &gw, err);
        if (rc == 0)
            rc = fb_run_ok(h->run, FB_ARGV(IFCONFIG, n->ifname, i ? "inet6" : "inet", gw, "alias"),
                           NULL, err);
        if (rc < 0) {
            kl_error ig = KL_ERROR_INIT;
            fb_run_ok(h->run, FB_ARGV(IFCONFIG, n->ifname, "destroy"), NULL, &ig);
            return kl_error_prefix(err, "adding the gateway to %s", n->ifname);
        }
    }
    return 0;
}

int fb_net_create(const fb_host *h, const fb_network *n, kl_error *err)
{
    if (!fb_ifname_is_valid(n->ifname))
        return kl_error_set(err, EINVAL, "invalid interface name '%s'", n->ifname ? n->ifname : "");
    if (n->type == FB_NETTYPE_CUSTOM)
        return 0;
    bool exists = false;
    if (fb_if_addresses(h, n->ifname, NULL, &exists, err) < 0)
        return -1;
    if (exists)
        return kl_error_set(err, EEXIST, "interface %s already exists on the host", n->ifname);
    return create_if(h, n, err);
}

int fb_net_adopt(const fb_host *h, const fb_network *n, kl_error *err)
{
    if (!fb_ifname_is_valid(n->ifname))
        return kl_error_set(err, EINVAL, "invalid interface name '%s'", n->ifname ? n->ifname : "");
    if (n->type == FB_NETTYPE_CUSTOM)
        return 0;
    bool exists = false;
    if (fb_if_addresses(h, n->ifname, NULL, &exists, err) < 0)
        return -1;
    return exists ? 0 : create_if(h, n, err);
}

int fb_net_remove(const fb_host *h, const fb_network *n, kl_error *err)
{
    if (!fb_ifname_is_valid(n->ifname))
        return kl_error_set(err, EINVAL, "invalid interface name '%s'", n->ifname ? n->ifname : "");
    if (n->type == FB_NETTYPE_CUSTOM)
        return 0;
    bool exists = false;
    if (fb_if_addresses(h, n->ifname, NULL, &exists, err) < 0)
        return -1;
    if (!exists)
        return 0;
    if (n->type == FB_NETTYPE_BRIDGE) {
        _cleanup_result_ fb_result r = FB_RESULT_INIT;
        if (fb_run_ok(h->run, FB_ARGV(IFCONFIG, n->ifname), &r, err) < 0)
            return -1;
        for (char *save = NULL, *ln = strtok_r(r.out, "\n", &save); ln;
             ln = strtok_r(NULL, "\n", &save)) {
            while (isspace((unsigned char)*ln))
                ln++;
            if (strncmp(ln, "member: ", 8))
                continue;
            char *m = ln + 8;
            m[strcspn(m, " \t")] = '\0';
            if (!fb_ifname_is_valid(m))
                continue;
            if (fb_run_ok(h->run, FB_ARGV(IFCONFIG, n->ifname, "deletem", m), NULL, err) < 0)
                return -1;
        }
    }
    return fb_run_ok(h->run, FB_ARGV(IFCONFIG, n->ifname, "destroy"), NULL, err);
}

/* The jail's addresses (jls -v -j <cid>): ipv4 and ipv6 lists. */
static int jail_addrs(const fb_host *h, const char *cid, char ***v4, char ***v6, kl_error *err)
{
    _cleanup_result_ fb_result r = FB_RESULT_INIT;
    if (fb_run_ok(h->run, FB_ARGV("/usr/sbin/jls", "--libxo", "json", "-v", "-j", cid), &r, err) <
        0)
        return -1;
    _cleanup_json_ json_t *j = json_loads(r.out, 0, NULL);
    json_t *jail =
        json_array_get(json_object_get(json_object_get(j, "jail-information"), "jail"), 0);
    *v4 = xcalloc(1, sizeof(char *));
    *v6 = xcalloc(1, sizeof(char *));
    json_t *lists[2] = {json_object_get(jail, "ipv4_addrs"), json_object_get(jail, "ipv6_addrs")};
    char ***outs[2] = {v4, v6};
    for (int k = 0; k < 2; k++) {
        size_t i;
        json_t *x;
        json_array_foreach(lists[k], i, x)
        {
            if (family_of(json_string_value(x)))
                strv_push(outs[k], json_string_value(x));
        }
    }
    return 0;
}

static char *join(char *const *v, const char *first)
{
    kl_buf b = KL_BUF_INIT;
    if (first)
        kl_buf_puts(&b, first);
    for (size_t i = 0; v && v[i]; i++) {
        if (b.len)
            kl_buf_puts(&b, ",");
        kl_buf_puts(&b, v[i]);
    }
    return kl_buf_steal(&b);
}

static int jail_set_addrs(const fb_host *h, const char *cid, char *const *v4, char *const *v6,
                          bool do4, bool do6, kl_error *err)
{
    _cleanup_free_ char *nm = xasprintf("name=%s", cid);
    _cleanup_free_ char *a4 = join(v4, NULL), *a6 = join(v6, NULL);
    _cleanup_free_ char *p4 = xasprintf("ip4.addr=%s", a4);
    _cleanup_free_ char *p6 = xasprintf("ip6.addr=%s", a6);
    const char *argv[6] = {"/usr/sbin/jail", "-m", nm, NULL, NULL, NULL};
    size_t k = 3;
    if (do4)
        argv[k++] = p4;
    if (do6)
        argv[k++] = p6;
    if (k == 3)
        return 0;
    /* B3: checked (the original ignored the result of this jail -m) */
    if (fb_run_ok(h->run, argv, NULL, err) < 0)
        return kl_error_prefix(err, "updating the addresses of container %s", cid);
    return 0;
}

int fb_net_connect_running(const fb_host *h, const char *cid, const fb_endpoint *ep, kl_error *err)
{
    if (has(ep->ip4) && fb_alias_add(h, ep->ifname, ep->ip4, err) < 0)
        return -1;
    if (has(ep->ip6) && fb_alias_add(h, ep->ifname, ep->ip6, err) < 0) {
        kl_error ig = KL_ERROR_INIT;
        if (has(ep->ip4))
            fb_alias_remove(h, ep->ifname, ep->ip4, &ig);
        return -1;
    }
    _cleanup_strv_ char **v4 = NULL, **v6 = NULL;
    int rc = jail_addrs(h, cid, &v4, &v6, err);
    if (rc == 0) {
        /* The new address first, as the original; B20: IPv6 as ip6.addr */
        _cleanup_strv_ char **n4 = xcalloc(1, sizeof(char *)), **n6 = xcalloc(1, sizeof(char *));
        if (has(ep->ip4))
            strv_push(&n4, ep->ip4);
        for (size_t i = 0; v4[i]; i++)
            if (!has(ep->ip4) || strcmp(v4[i], ep->ip4))
                strv_push(&n4, v4[i]);
        if (has(ep->ip6))
            strv_push(&n6, ep->ip6);
        for (size_t i = 0; v6[i]; i++)
            if (!has(ep->ip6) || strcmp(v6[i], ep->ip6))
                strv_push(&n6, v6[i]);
        rc = jail_set_addrs(h, cid, n4, n6, has(ep->ip4), has(ep->ip6), err);
    }
    if (rc < 0) {
        kl_error ig = KL_ERROR_INIT;
        if (has(ep->ip6))
            fb_alias_remove(h, ep->ifname, ep->ip6, &ig);
        if (has(ep->ip4))
            fb_alias_remove(h, ep->ifname, ep->ip4, &ig);
    }
    return rc;
}

int fb_net_disconnect(const fb_host *h, const char *cid, fb_netdriver driver, fb_endpoint *ep,
                      bool running, kl_error *err)
{
    if (driver == FB_NET_VNET) {
        if (!ep->epair[0])
            return 0;
        _cleanup_free_ char *b = xasprintf("%sb", ep->epair);
        if (running && fb_run_ok(h->run, FB_ARGV(IFCONFIG, b, "-vnet", cid), NULL, err) < 0)
            return kl_error_prefix(err, "taking %s back from container %s", b, cid);
        int rc = fb_epair_destroy(h, ep->ifname, ep->epair, err);
        ep->epair[0] = '\0';
        return rc;
    }
    if (driver != FB_NET_IPNET)
        return 0;
    if (has(ep->ip4) && fb_alias_remove(h, ep->ifname, ep->ip4, err) < 0)
        return -1;
    if (has(ep->ip6) && fb_alias_remove(h, ep->ifname, ep->ip6, err) < 0)
        return -1;
    if (!running)
        return 0;
    _cleanup_strv_ char **v4 = NULL, **v6 = NULL;
    if (jail_addrs(h, cid, &v4, &v6, err) < 0)
        return -1;
    _cleanup_strv_ char **n4 = xcalloc(1, sizeof(char *)), **n6 = xcalloc(1, sizeof(char *));
    for (size_t i = 0; v4[i]; i++)
        if (!has(ep->ip4) || strcmp(v4[i], ep->ip4))
            strv_push(&n4, v4[i]);
    for (size_t i = 0; v6[i]; i++)
        if (!has(ep->ip6) || strcmp(v6[i], ep->ip6))
            strv_push(&n6, v6[i]);
    /* B20: both families (the original updated only ip4) */
    return jail_set_addrs(h, cid, n4, n6, has(ep->ip4), has(ep->ip6), err);
}

int fb_net_detect_gateway(const fb_host *h, char **ifname, kl_error *err)
{
    *ifname = NULL;
    _cleanup_result_ fb_result r = FB_RESULT_INIT;
    if (fb_run_ok(h->run, FB_ARGV(NETSTAT, "--libxo", "json", "-rn"), &r, err) < 0)
        return -1;
    _cleanup_json_ json_t *j = json_loads(r.out, 0, NULL);
    json_t *fams = json_object_get(
        json_object_get(json_object_get(json_object_get(j, "statistics"), "route-information"),
                        "route-table"),
        "rt-family");
    size_t i, k;
    json_t *f, *e;
    json_array_foreach(fams, i, f)
    {
        const char *af = json_string_value(json_object_get(f, "address-family"));
        if (!af || strcmp(af, "Internet"))
            continue;
        json_array_foreach(json_object_get(f, "rt-entry"), k, e)
        {
            const char *dst = json_string_value(json_object_get(e, "destination"));
            const char *ifn = json_string_value(json_object_get(e, "interface-name"));
            if (dst && !strcmp(dst, "default") && fb_ifname_is_valid(ifn)) {
                *ifname = xstrdup(ifn);
                return 0;
            }
        }
    }
    return 0;
}

static int sysctl_on(const fb_host *h, const char *key, kl_error *err)
{
    _cleanup_result_ fb_result r = FB_RESULT_INIT;
    if (fb_run_ok(h->run, FB_ARGV("/sbin/sysctl", "-n", key), &r, err) < 0)
        return -1;
    _cleanup_free_ char *v = fb_trim(r.out);
    if (!strcmp(v, "1"))
        return 0;
    _cleanup_free_ char *set = xasprintf("%s=1", key);
    return fb_run_ok(h->run, FB_ARGV("/sbin/sysctl", set), NULL, err);
}

int fb_net_enable_forwarding(const fb_host *h, bool ipv6, kl_error *err)
{
    if (sysctl_on(h, "net.inet.ip.forwarding", err) < 0)
        return -1;
    if (ipv6 && sysctl_on(h, "net.inet6.ip6.forwarding", err) < 0)
        return -1;
    return 0;
}
