/* The portable host interfaces of src/host that map one-to-one onto the FreeBSD layer:
 * host/net.h (links, addresses, default route, forwarding, the firewall as our pf anchor)
 * and host/helpers.h, on the host set with fb_host_set_default().
 *
 * What has no FreeBSD counterpart says so with ENOTSUP: network namespaces and veth pairs
 * (a vnet jail gets its epair from jail(8) at start, fb_container_start), hairpin and
 * route_localnet (Linux bridge/netfilter details). The engine's other interfaces are in
 * fbfs.c, fbstorage.c and fbengine.c (docs/freebsd.md "Wiring kleened to this layer").
 * It must not: be linked together with src/host/linux (same symbols). */
#include <arpa/inet.h>
#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "host/freebsd/ifnet.h"
#include "host/freebsd/pf.h"
#include "host/helpers.h"
#include "host/net.h"
#include "lib/buf.h"
#include "lib/cleanup.h"
#include "lib/xalloc.h"

#ifndef KL_LIBEXEC_DIR
#define KL_LIBEXEC_DIR "/usr/local/libexec/kleene"
#endif

static const fb_host *default_host;

void fb_host_set_default(const fb_host *h)
{
    default_host = h;
}

const fb_host *fb_host_default(kl_error *err)
{
    if (!default_host)
        kl_error_set(err, ENODEV, "the FreeBSD host layer is not set up (fb_host_set_default)");
    return default_host;
}

static int no_netns(int netns_fd, kl_error *err)
{
    if (netns_fd >= 0)
        return kl_error_set(err, ENOTSUP, "network namespaces do not exist on FreeBSD");
    return 0;
}

bool host_ifname_is_valid(const char *name)
{
    return fb_ifname_is_valid(name);
}

int host_netns_open_pid(pid_t pid, kl_error *err)
{
    return kl_error_set(err, ENOTSUP, "network namespaces do not exist on FreeBSD (vnet jails)");
}

int host_netns_new(kl_error *err)
{
    return kl_error_set(err, ENOTSUP, "network namespaces do not exist on FreeBSD (vnet jails)");
}

int host_bridge_create(const char *name, kl_error *err)
{
    const fb_host *h = fb_host_default(err);
    if (!h)
        return -1;
    fb_network n = {.id = "b", .type = FB_NETTYPE_BRIDGE, .ifname = name};
    return fb_net_create(h, &n, err);
}

int host_loopback_create(const char *name, kl_error *err)
{
    const fb_host *h = fb_host_default(err);
    if (!h)
        return -1;
    fb_network n = {.id = "l", .type = FB_NETTYPE_LOOPBACK, .ifname = name};
    return fb_net_create(h, &n, err);
}

bool host_link_exists(int netns_fd, const char *name)
{
    kl_error err = KL_ERROR_INIT;
    const fb_host *h = fb_host_default(&err);
    bool exists = false;
    if (!h || netns_fd >= 0 || fb_if_addresses(h, name, NULL, &exists, &err) < 0)
        return false;
    return exists;
}

int host_link_delete(int netns_fd, const char *name, kl_error *err)
{
    const fb_host *h = fb_host_default(err);
    if (!h || no_netns(netns_fd, err) < 0)
        return -1;
    bool exists = false;
    if (fb_if_addresses(h, name, NULL, &exists, err) < 0)
        return -1;
    if (!exists)
        return kl_error_set(err, ENODEV, "no interface %s", name);
    return fb_run_ok(h->run, FB_ARGV("/sbin/ifconfig", name, "destroy"), NULL, err);
}

int host_link_set_up(int netns_fd, const char *name, bool up, kl_error *err)
{
    const fb_host *h = fb_host_default(err);
    if (!h || no_netns(netns_fd, err) < 0)
        return -1;
    if (!fb_ifname_is_valid(name))
        return kl_error_set(err, EINVAL, "invalid interface name '%s'", name ? name : "");
    return fb_run_ok(h->run, FB_ARGV("/sbin/ifconfig", name, up ? "up" : "down"), NULL, err);
}

int host_veth_create(const char *host_if, const char *bridge, int netns_fd, const char *ctr_if,
                     kl_error *err)
{
    return kl_error_set(err, ENOTSUP, "no veth on FreeBSD: vnet jails get an epair at start");
}

int host_bridge_port_set_hairpin(const char *port, bool on, kl_error *err)
{
    return kl_error_set(err, ENOTSUP, "hairpin is a Linux bridge setting");
}

/* "addr/len" with the family's check. */
static int split_cidr(const char *cidr, char *addr, size_t n, int *fam, kl_error *err)
{
    const char *slash = cidr ? strchr(cidr, '/') : NULL;
    unsigned char b[16];
    if (!slash || (size_t)(slash - cidr) >= n)
        return kl_error_set(err, EINVAL, "invalid address '%s'", cidr ? cidr : "");
    memcpy(addr, cidr, (size_t)(slash - cidr));
    addr[slash - cidr] = '\0';
    char *end;
    long len = strtol(slash + 1, &end, 10);
    *fam = inet_pton(AF_INET, addr, b) == 1 ? 4 : inet_pton(AF_INET6, addr, b) == 1 ? 6 : 0;
    if (!*fam || *end || !slash[1] || len < 0 || len > (*fam == 4 ? 32 : 128))
        return kl_error_set(err, EINVAL, "invalid address '%s'", cidr);
    return 0;
}

int host_addr_add(int netns_fd, const char *ifname, const char *cidr, kl_error *err)
{
    const fb_host *h = fb_host_default(err);
    char addr[64];
    int fam = 0;
    if (!h || no_netns(netns_fd, err) < 0 || split_cidr(cidr, addr, sizeof(addr), &fam, err) < 0)
        return -1;
    if (!fb_ifname_is_valid(ifname))
        return kl_error_set(err, EINVAL, "invalid interface name '%s'", ifname ? ifname : "");
    return fb_run_ok(h->run,
                     FB_ARGV("/sbin/ifconfig", ifname, fam == 4 ? "inet" : "inet6", cidr, "alias"),
                     NULL, err);
}

int host_addr_del(int netns_fd, const char *ifname, const char *cidr, kl_error *err)
{
    const fb_host *h = fb_host_default(err);
    char addr[64];
    int fam = 0;
    if (!h || no_netns(netns_fd, err) < 0 || split_cidr(cidr, addr, sizeof(addr), &fam, err) < 0)
        return -1;
    return fb_alias_remove(h, ifname, addr, err);
}

int host_addr_list(int netns_fd, const char *ifname, char ***out, kl_error *err)
{
    const fb_host *h = fb_host_default(err);
    if (!h || no_netns(netns_fd, err) < 0)
        return -1;
    if (!fb_ifname_is_valid(ifname))
        return kl_error_set(err, EINVAL, "invalid interface name '%s'", ifname ? ifname : "");
    _cleanup_result_ fb_result r = FB_RESULT_INIT;
    if (fb_run_ok(h->run, FB_ARGV("/usr/bin/netstat", "--libxo", "json", "-I", ifname, "-n"), &r,
                  err) < 0)
        return -1;
    _cleanup_json_ json_t *j = json_loads(r.out, 0, NULL);
    json_t *arr = json_object_get(json_object_get(j, "statistics"), "interface");
    char **v4 = xcalloc(1, sizeof(char *)), **v6 = xcalloc(1, sizeof(char *));
    size_t i;
    json_t *x;
    json_array_foreach(arr, i, x)
    {
        const char *a = json_string_value(json_object_get(x, "address"));
        const char *net = json_string_value(json_object_get(x, "network"));
        const char *slash = net ? strchr(net, '/') : NULL;
        unsigned char b[16];
        if (!a || !slash || strchr(a, '%'))
            continue;
        int len = atoi(slash + 1);
        _cleanup_free_ char *c = xasprintf("%s/%d", a, len);
        if (inet_pton(AF_INET, a, b) == 1)
            strv_push(&v4, c);
        else if (inet_pton(AF_INET6, a, b) == 1)
            strv_push(&v6, c);
    }
    for (size_t k = 0; v6[k]; k++)
        strv_push(&v4, v6[k]);
    strv_free(v6);
    *out = v4;
    return 0;
}

int host_route_add_default(int netns_fd, const char *gateway, const char *ifname, kl_error *err)
{
    const fb_host *h = fb_host_default(err);
    unsigned char b[16];
    if (!h || no_netns(netns_fd, err) < 0)
        return -1;
    int fam = gateway && inet_pton(AF_INET, gateway, b) == 1    ? 4
              : gateway && inet_pton(AF_INET6, gateway, b) == 1 ? 6
                                                                : 0;
    if (!fam)
        return kl_error_set(err, EINVAL, "invalid gateway '%s'", gateway ? gateway : "");
    return fb_run_ok(
        h->run, FB_ARGV("/sbin/route", "add", fam == 4 ? "-inet" : "-inet6", "default", gateway),
        NULL, err);
}

int host_default_route_if(int family, char name[HOST_IFNAME_MAX + 1], kl_error *err)
{
    const fb_host *h = fb_host_default(err);
    if (!h)
        return -1;
    _cleanup_result_ fb_result r = FB_RESULT_INIT;
    if (fb_run_ok(h->run, FB_ARGV("/usr/bin/netstat", "--libxo", "json", "-rn"), &r, err) < 0)
        return -1;
    _cleanup_json_ json_t *j = json_loads(r.out, 0, NULL);
    json_t *fams = json_object_get(
        json_object_get(json_object_get(json_object_get(j, "statistics"), "route-information"),
                        "route-table"),
        "rt-family");
    const char *want = family == 6 ? "Internet6" : "Internet";
    size_t i, k;
    json_t *f, *e;
    json_array_foreach(fams, i, f)
    {
        const char *af = json_string_value(json_object_get(f, "address-family"));
        if (!af || strcmp(af, want))
            continue;
        json_array_foreach(json_object_get(f, "rt-entry"), k, e)
        {
            const char *dst = json_string_value(json_object_get(e, "destination"));
            const char *ifn = json_string_value(json_object_get(e, "interface-name"));
            if (dst && !strcmp(dst, "default") && fb_ifname_is_valid(ifn)) {
                snprintf(name, HOST_IFNAME_MAX + 1, "%s", ifn);
                return 0;
            }
        }
    }
    return kl_error_set(err, ENOENT, "no IPv%d default route", family == 6 ? 6 : 4);
}

int host_sysctl_write(const char *key, const char *value, kl_error *err)
{
    const fb_host *h = fb_host_default(err);
    if (!h)
        return -1;
    /* Linux keys use '/', FreeBSD's '.': accept both, write the FreeBSD form. */
    _cleanup_free_ char *k = xstrdup(key ? key : "");
    for (char *p = k; *p; p++)
        if (*p == '/')
            *p = '.';
    for (const char *p = k; *p; p++)
        if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._", *p))
            return kl_error_set(err, EINVAL, "invalid sysctl '%s'", key);
    for (const char *p = value ? value : ""; *p; p++)
        if (!strchr("0123456789abcdefghijklmnopqrstuvwxyz-", *p))
            return kl_error_set(err, EINVAL, "invalid sysctl value '%s'", value);
    _cleanup_free_ char *set = xasprintf("%s=%s", k, value ? value : "");
    return fb_run_ok(h->run, FB_ARGV("/sbin/sysctl", set), NULL, err);
}

int host_net_enable_forwarding(bool ipv6, kl_error *err)
{
    const fb_host *h = fb_host_default(err);
    return h ? fb_net_enable_forwarding(h, ipv6, err) : -1;
}

int host_bridge_set_route_localnet(const char *bridge, kl_error *err)
{
    return kl_error_set(err, ENOTSUP, "route_localnet is a Linux setting");
}

/* ---- the firewall: our pf anchor ---------------------------------------------------- */

typedef struct fw_conv {
    fb_pf_network *nets;
    fb_pf_port *ports;
    char (*ids)[16];
    fb_pf_config cfg;
} fw_conv;

static void fw_conv_free(fw_conv *c)
{
    free(c->nets);
    free(c->ports);
    free(c->ids);
}

static int fw_convert(const host_fw_config *in, fw_conv *c, kl_error *err)
{
    memset(c, 0, sizeof(*c));
    c->nets = xcalloc(in->n_networks + 1, sizeof(*c->nets));
    c->ids = xcalloc(in->n_networks + 1, sizeof(*c->ids));
    c->ports = xcalloc(in->n_ports + 1, sizeof(*c->ports));
    for (size_t i = 0; i < in->n_networks; i++) {
        const host_fw_network *n = &in->networks[i];
        snprintf(c->ids[i], sizeof(c->ids[i]), "n%zu", i);
        c->nets[i] = (fb_pf_network){.id = c->ids[i],
                                     .ifname = n->bridge,
                                     .subnet = n->subnet,
                                     .subnet6 = n->subnet6,
                                     .nat_if = n->nat_if,
                                     .icc = n->icc,
                                     .internal = n->internal,
                                     .epairs = n->members};
    }
    for (size_t i = 0; i < in->n_ports; i++) {
        const host_fw_port *p = &in->ports[i];
        if (p->host_addr && *p->host_addr)
            return kl_error_set(err, ENOTSUP,
                                "publishing on one host address is not supported on FreeBSD yet");
        if (p->n_interfaces > 0 && p->interfaces[p->n_interfaces] != NULL)
            return kl_error_set(err, EINVAL, "published port: interfaces must end with NULL");
        c->ports[i] = (fb_pf_port){.is_udp = p->is_udp,
                                   .host_first = p->host_first,
                                   .host_last = p->host_last,
                                   .ctr_first = p->ctr_first,
                                   .interfaces = p->n_interfaces ? p->interfaces : NULL,
                                   .ip = p->ip,
                                   .ip6 = p->ip6};
    }
    c->cfg = (fb_pf_config){c->nets, in->n_networks, c->ports, in->n_ports};
    return 0;
}

char *host_fw_render(const host_fw_config *cfg, kl_error *err)
{
    const fb_host *h = fb_host_default(err);
    fw_conv c;
    if (!h)
        return NULL;
    if (fw_convert(cfg, &c, err) < 0) {
        fw_conv_free(&c);
        return NULL;
    }
    char *text = fb_pf_render(h, &c.cfg, err);
    fw_conv_free(&c);
    return text;
}

int host_fw_apply(const host_fw_config *cfg, kl_error *err)
{
    const fb_host *h = fb_host_default(err);
    fw_conv c;
    if (!h)
        return -1;
    int rc = fw_convert(cfg, &c, err);
    if (rc == 0)
        rc = fb_pf_apply(h, &c.cfg, err);
    fw_conv_free(&c);
    return rc;
}

int host_fw_check(const host_fw_config *cfg, kl_error *err)
{
    const fb_host *h = fb_host_default(err);
    _cleanup_free_ char *text = h ? host_fw_render(cfg, err) : NULL;
    if (!text)
        return -1;
    _cleanup_result_ fb_result r = FB_RESULT_INIT;
    if (fb_run(h->run, FB_ARGV("/sbin/pfctl", "-n", "-a", h->pf_anchor, "-f", "-"), text, &r, err) <
        0)
        return -1;
    if (r.status != 0) {
        _cleanup_free_ char *o = fb_trim(*r.err ? r.err : r.out);
        return kl_error_set(err, EINVAL, "pf refuses the rules: %s", o);
    }
    return 0;
}

int host_fw_remove(kl_error *err)
{
    const fb_host *h = fb_host_default(err);
    if (!h)
        return -1;
    return fb_run_ok(h->run, FB_ARGV("/sbin/pfctl", "-a", h->pf_anchor, "-F", "all"), NULL, err);
}

struct host_fw {
    char *last; /* the rules last loaded, or NULL */
};

host_fw *host_fw_new(void)
{
    return xcalloc(1, sizeof(host_fw));
}

void host_fw_free(host_fw *fw)
{
    if (fw) {
        free(fw->last);
        free(fw);
    }
}

void host_fw_forget(host_fw *fw)
{
    free(fw->last);
    fw->last = NULL;
}

/* pf loads an anchor whole and atomically: a change is always a replacement (2), and
 * nothing runs when the rules are the same (0). */
int host_fw_sync(host_fw *fw, const host_fw_config *cfg, kl_error *err)
{
    _cleanup_free_ char *text = host_fw_render(cfg, err);
    if (!text)
        return -1;
    if (fw->last && !strcmp(fw->last, text))
        return 0;
    if (host_fw_apply(cfg, err) < 0) {
        host_fw_forget(fw);
        return -1;
    }
    free(fw->last);
    fw->last = steal_pointer(&text);
    return 2;
}

char *host_fw_render_sync(const host_fw *fw, const host_fw_config *cfg, bool *whole, kl_error *err)
{
    char *text = host_fw_render(cfg, err);
    if (!text)
        return NULL;
    *whole = true;
    if (fw && fw->last && !strcmp(fw->last, text)) {
        free(text);
        return xstrdup("");
    }
    return text;
}

int host_fw_run_nft(const char *batch, bool check_only, kl_error *err)
{
    return kl_error_set(err, ENOTSUP, "no nftables on FreeBSD (pf)");
}

/* ---- helpers ------------------------------------------------------------------------ */

char *host_helper_path(const char *name, kl_error *err)
{
    if (!name || !*name || strchr(name, '/') || !strcmp(name, ".") || !strcmp(name, "..")) {
        kl_error_set(err, EINVAL, "invalid helper program name '%s'", name ? name : "");
        return NULL;
    }
    const char *env = getenv("KLEENE_LIBEXEC_DIR");
    const char *dirs[] = {env && *env ? env : NULL, KL_LIBEXEC_DIR};
    _cleanup_buf_ kl_buf tried = KL_BUF_INIT;
    for (size_t i = 0; i < KL_ARRAY_SIZE(dirs); i++) {
        if (!dirs[i])
            continue;
        char *path = xasprintf("%s/%s", dirs[i], name);
        struct stat st;
        if (stat(path, &st) == 0 && S_ISREG(st.st_mode) && access(path, X_OK) == 0)
            return path;
        free(path);
        kl_buf_printf(&tried, "%s%s", tried.len ? ", " : "", dirs[i]);
    }
    kl_error_set(err, ENOENT, "helper program %s not found (looked in %s)", name,
                 tried.data ? tried.data : "");
    return NULL;
}
