/* Links, addresses, routes and veth pairs through rtnetlink (libmnl), plus sysctls.
 *
 * No shelling out: every operation is one or two netlink requests (the container start path
 * depends on it, DESIGN.md §4). An operation on another network namespace opens its netlink
 * socket inside that namespace (setns on the calling thread only, then back), so the socket
 * is bound there for good and the rest of the process is never affected.
 * Must not: act on names that fail host_ifname_is_valid, or write outside /proc/sys. */
#include "host/net.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <libmnl/libmnl.h>
#include <linux/if_addr.h>
#include <linux/if_link.h>
#include <linux/neighbour.h>
#include <linux/rtnetlink.h>
#include <linux/veth.h>
#include <net/if.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lib/cleanup.h"
#include "lib/log.h"
#include "lib/xalloc.h"

bool host_ifname_is_valid(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n > HOST_IFNAME_MAX || strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
        return false;
    return strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") == n;
}

static int check_name(const char *name, kl_error *err)
{
    if (!name || !host_ifname_is_valid(name))
        return kl_error_set(err, EINVAL, "invalid interface name \"%s\"", name ? name : "(null)");
    return 0;
}

int host_netns_open_pid(pid_t pid, kl_error *err)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/ns/net", (int)pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return kl_error_errno(err, errno, "opening %s", path);
    return fd;
}

int host_netns_new(kl_error *err)
{
    _cleanup_close_ int self = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
    if (self < 0)
        return kl_error_errno(err, errno, "opening our own network namespace");
    /* Privileged: a fresh namespace for this thread only; it returns to ours at once. */
    if (unshare(CLONE_NEWNET) < 0)
        return kl_error_errno(err, errno, "creating a network namespace");
    int fd = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
    int saved = errno;
    if (setns(self, CLONE_NEWNET) < 0) {
        /* The thread would keep working in the new netns: never continue. */
        log_error("cannot return to our network namespace: %s", strerror(errno));
        abort();
    }
    if (fd < 0)
        return kl_error_errno(err, saved, "opening the new network namespace");
    if (host_link_set_up(fd, "lo", true, err) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* ---- the netlink channel ------------------------------------------------------------ */

typedef struct nl {
    struct mnl_socket *sock;
    unsigned seq;
    unsigned portid;
} nl;

static void nl_close(nl *n)
{
    if (n->sock)
        mnl_socket_close(n->sock);
    n->sock = NULL;
}
#define _cleanup_nl_ __attribute__((cleanup(nl_close)))

static struct mnl_socket *socket_open_bound(kl_error *err)
{
    struct mnl_socket *s = mnl_socket_open2(NETLINK_ROUTE, SOCK_CLOEXEC);
    if (!s) {
        kl_error_errno(err, errno, "opening a netlink socket");
        return NULL;
    }
    if (mnl_socket_bind(s, 0, MNL_SOCKET_AUTOPID) < 0) {
        kl_error_errno(err, errno, "binding a netlink socket");
        mnl_socket_close(s);
        return NULL;
    }
    return s;
}

/* A netlink socket in netns `netns_fd` (-1: the current one). */
static int nl_open(nl *n, int netns_fd, kl_error *err)
{
    memset(n, 0, sizeof(*n));
    n->seq = (unsigned)time(NULL);
    if (netns_fd < 0) {
        n->sock = socket_open_bound(err);
    } else {
        _cleanup_close_ int self = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
        if (self < 0)
            return kl_error_errno(err, errno, "opening our own network namespace");
        /* Privileged: the fd comes from our own code (a container's netns we made or
         * opened by pid), never from a request; only this thread moves, and it moves back
         * before anything else runs on it. */
        if (setns(netns_fd, CLONE_NEWNET) < 0)
            return kl_error_errno(err, errno, "entering a network namespace");
        n->sock = socket_open_bound(err);
        if (setns(self, CLONE_NEWNET) < 0) {
            /* The thread would keep working in a container's netns: never continue. */
            log_error("cannot return to our network namespace: %s", strerror(errno));
            abort();
        }
    }
    if (!n->sock)
        return -1;
    n->portid = mnl_socket_get_portid(n->sock);
    return 0;
}

static struct nlmsghdr *nl_msg(nl *n, char *buf, int type, int flags)
{
    struct nlmsghdr *h = mnl_nlmsg_put_header(buf);
    h->nlmsg_type = (uint16_t)type;
    h->nlmsg_flags = (uint16_t)(NLM_F_REQUEST | flags);
    h->nlmsg_seq = ++n->seq;
    return h;
}

/* Send `h` and read replies until the ACK (or the end of a dump), passing data messages to
 * cb. On a netlink error returns -1 with errno set to the kernel's error. */
static int nl_talk(nl *n, struct nlmsghdr *h, mnl_cb_t cb, void *data)
{
    /* NLM_F_DUMP shares bits with NLM_F_CREATE/EXCL: only RTM_GET* (type % 4 == 2) dump. */
    bool is_dump = h->nlmsg_type % 4 == 2 && (h->nlmsg_flags & NLM_F_DUMP) == NLM_F_DUMP;
    if (!is_dump)
        h->nlmsg_flags |= NLM_F_ACK;
    if (mnl_socket_sendto(n->sock, h, h->nlmsg_len) < 0)
        return -1;
    char buf[32768];
    unsigned seq = h->nlmsg_seq;
    for (;;) {
        ssize_t r = mnl_socket_recvfrom(n->sock, buf, sizeof(buf));
        if (r < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        int rc = mnl_cb_run(buf, (size_t)r, seq, n->portid, cb, data);
        if (rc <= MNL_CB_STOP)
            return rc < 0 ? -1 : 0;
    }
}

typedef struct link_info {
    int index;
    bool found;
} link_info;

static int link_cb(const struct nlmsghdr *h, void *data)
{
    const struct ifinfomsg *ifi = mnl_nlmsg_get_payload(h);
    link_info *li = data;
    li->index = ifi->ifi_index;
    li->found = true;
    return MNL_CB_OK;
}

/* Index of `name` in n's namespace; ENODEV if none. */
static int nl_ifindex(nl *n, const char *name, int *index, kl_error *err)
{
    char buf[MNL_SOCKET_BUFFER_SIZE];
    struct nlmsghdr *h = nl_msg(n, buf, RTM_GETLINK, 0);
    struct ifinfomsg *ifi = mnl_nlmsg_put_extra_header(h, sizeof(*ifi));
    ifi->ifi_family = AF_UNSPEC;
    mnl_attr_put_strz(h, IFLA_IFNAME, name);
    mnl_attr_put_u32(h, IFLA_EXT_MASK, RTEXT_FILTER_SKIP_STATS);
    link_info li = {0, false};
    if (nl_talk(n, h, link_cb, &li) < 0 || !li.found) {
        int e = li.found ? errno : (errno ? errno : ENODEV);
        if (e == ENODEV || e == ENOENT)
            return kl_error_set(err, ENODEV, "interface %s does not exist", name);
        return kl_error_errno(err, e, "looking up interface %s", name);
    }
    *index = li.index;
    return 0;
}

/* ---- links -------------------------------------------------------------------------- */

int host_bridge_create(const char *name, kl_error *err)
{
    if (check_name(name, err) < 0)
        return -1;
    _cleanup_nl_ nl n;
    if (nl_open(&n, -1, err) < 0)
        return -1;
    /* Privileged: creates a bridge named by a validated name; EXCL never takes over an
     * existing interface. */
    char buf[MNL_SOCKET_BUFFER_SIZE];
    struct nlmsghdr *h = nl_msg(&n, buf, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL);
    struct ifinfomsg *ifi = mnl_nlmsg_put_extra_header(h, sizeof(*ifi));
    ifi->ifi_family = AF_UNSPEC;
    mnl_attr_put_strz(h, IFLA_IFNAME, name);
    struct nlattr *li = mnl_attr_nest_start(h, IFLA_LINKINFO);
    mnl_attr_put_strz(h, IFLA_INFO_KIND, "bridge");
    mnl_attr_nest_end(h, li);
    if (nl_talk(&n, h, NULL, NULL) < 0)
        return kl_error_errno(err, errno, "creating bridge %s", name);
    return 0;
}

int host_loopback_create(const char *name, kl_error *err)
{
    return host_bridge_create(name, err); /* a private L2 segment: no gateway, no route */
}

bool host_link_exists(int netns_fd, const char *name)
{
    kl_error err = KL_ERROR_INIT;
    _cleanup_nl_ nl n;
    int index;
    if (!host_ifname_is_valid(name) || nl_open(&n, netns_fd, &err) < 0)
        return false;
    return nl_ifindex(&n, name, &index, &err) == 0;
}

int host_link_delete(int netns_fd, const char *name, kl_error *err)
{
    if (check_name(name, err) < 0)
        return -1;
    _cleanup_nl_ nl n;
    int index;
    if (nl_open(&n, netns_fd, err) < 0 || nl_ifindex(&n, name, &index, err) < 0)
        return -1;
    /* Privileged: deletes the link by the index just looked up for a validated name. */
    char buf[MNL_SOCKET_BUFFER_SIZE];
    struct nlmsghdr *h = nl_msg(&n, buf, RTM_DELLINK, 0);
    struct ifinfomsg *ifi = mnl_nlmsg_put_extra_header(h, sizeof(*ifi));
    ifi->ifi_family = AF_UNSPEC;
    ifi->ifi_index = index;
    if (nl_talk(&n, h, NULL, NULL) < 0)
        return kl_error_errno(err, errno, "deleting interface %s", name);
    return 0;
}

int host_link_set_up(int netns_fd, const char *name, bool up, kl_error *err)
{
    if (check_name(name, err) < 0)
        return -1;
    _cleanup_nl_ nl n;
    int index;
    if (nl_open(&n, netns_fd, err) < 0 || nl_ifindex(&n, name, &index, err) < 0)
        return -1;
    /* Privileged: changes only the IFF_UP flag of a validated, existing interface. */
    char buf[MNL_SOCKET_BUFFER_SIZE];
    struct nlmsghdr *h = nl_msg(&n, buf, RTM_NEWLINK, 0);
    struct ifinfomsg *ifi = mnl_nlmsg_put_extra_header(h, sizeof(*ifi));
    ifi->ifi_family = AF_UNSPEC;
    ifi->ifi_index = index;
    ifi->ifi_change = IFF_UP;
    ifi->ifi_flags = up ? IFF_UP : 0;
    if (nl_talk(&n, h, NULL, NULL) < 0)
        return kl_error_errno(err, errno, "setting %s %s", name, up ? "up" : "down");
    return 0;
}

int host_veth_create(const char *host_if, const char *bridge, int netns_fd, const char *ctr_if,
                     kl_error *err)
{
    if (check_name(host_if, err) < 0 || check_name(ctr_if, err) < 0 ||
        (bridge && check_name(bridge, err) < 0))
        return -1;
    if (netns_fd < 0)
        return kl_error_set(err, EINVAL, "creating veth %s: no target network namespace", host_if);
    _cleanup_nl_ nl n;
    int master = 0;
    if (nl_open(&n, -1, err) < 0 || (bridge && nl_ifindex(&n, bridge, &master, err) < 0))
        return -1;
    /* Privileged: one request creates both ends: `host_if` on the bridge here and
     * `ctr_if` inside the container's netns (no later move). Names are validated, EXCL
     * refuses to touch an existing interface, and the netns fd is one we opened. */
    char buf[MNL_SOCKET_BUFFER_SIZE];
    struct nlmsghdr *h = nl_msg(&n, buf, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL);
    struct ifinfomsg *ifi = mnl_nlmsg_put_extra_header(h, sizeof(*ifi));
    ifi->ifi_family = AF_UNSPEC;
    ifi->ifi_change = IFF_UP;
    ifi->ifi_flags = IFF_UP;
    mnl_attr_put_strz(h, IFLA_IFNAME, host_if);
    if (master)
        mnl_attr_put_u32(h, IFLA_MASTER, (uint32_t)master);
    struct nlattr *li = mnl_attr_nest_start(h, IFLA_LINKINFO);
    mnl_attr_put_strz(h, IFLA_INFO_KIND, "veth");
    struct nlattr *data = mnl_attr_nest_start(h, IFLA_INFO_DATA);
    struct nlattr *peer = mnl_attr_nest_start(h, VETH_INFO_PEER);
    struct ifinfomsg *pifi = mnl_nlmsg_put_extra_header(h, sizeof(*pifi));
    memset(pifi, 0, sizeof(*pifi));
    pifi->ifi_family = AF_UNSPEC; /* not IFF_UP yet: veth_open fails (ENOTCONN) while the
                                   * pair is not linked; it goes up below */
    mnl_attr_put_strz(h, IFLA_IFNAME, ctr_if);
    mnl_attr_put_u32(h, IFLA_NET_NS_FD, (uint32_t)netns_fd);
    mnl_attr_nest_end(h, peer);
    mnl_attr_nest_end(h, data);
    mnl_attr_nest_end(h, li);
    if (nl_talk(&n, h, NULL, NULL) < 0)
        return kl_error_errno(err, errno, "creating veth pair %s/%s", host_if, ctr_if);
    if (host_link_set_up(netns_fd, ctr_if, true, err) < 0) {
        kl_error ignored = KL_ERROR_INIT;
        host_link_delete(-1, host_if, &ignored);
        return -1;
    }
    return 0;
}

int host_bridge_port_set_hairpin(const char *port, bool on, kl_error *err)
{
    if (check_name(port, err) < 0)
        return -1;
    _cleanup_nl_ nl n;
    int index;
    if (nl_open(&n, -1, err) < 0 || nl_ifindex(&n, port, &index, err) < 0)
        return -1;
    /* Privileged: sets one bridge-port flag of a validated, existing port. */
    char buf[MNL_SOCKET_BUFFER_SIZE];
    struct nlmsghdr *h = nl_msg(&n, buf, RTM_SETLINK, 0);
    struct ifinfomsg *ifi = mnl_nlmsg_put_extra_header(h, sizeof(*ifi));
    ifi->ifi_family = AF_BRIDGE;
    ifi->ifi_index = index;
    struct nlattr *pi = mnl_attr_nest_start(h, IFLA_PROTINFO);
    mnl_attr_put_u8(h, IFLA_BRPORT_MODE, on ? 1 : 0);
    mnl_attr_nest_end(h, pi);
    if (nl_talk(&n, h, NULL, NULL) < 0)
        return kl_error_errno(err, errno, "setting hairpin mode of %s", port);
    return 0;
}

/* ---- addresses and routes ----------------------------------------------------------- */

typedef struct nl_addr {
    int af;
    unsigned char bytes[16];
    int len;
} nl_addr;

/* "addr" (want_prefix false) or "addr/len" (true); the family follows the text. */
static int addr_parse(const char *s, bool want_prefix, nl_addr *a, kl_error *err)
{
    char host[64];
    const char *slash = strchr(s, '/');
    size_t hl = slash ? (size_t)(slash - s) : strlen(s);
    memset(a, 0, sizeof(*a));
    if ((slash != NULL) != want_prefix || hl == 0 || hl >= sizeof(host))
        return kl_error_set(err, EINVAL, "invalid address \"%s\"", s);
    memcpy(host, s, hl);
    host[hl] = '\0';
    a->af = strchr(host, ':') ? AF_INET6 : AF_INET;
    if (inet_pton(a->af, host, a->bytes) != 1)
        return kl_error_set(err, EINVAL, "invalid address \"%s\"", s);
    int max = a->af == AF_INET ? 32 : 128;
    a->len = max;
    if (slash) {
        const char *l = slash + 1;
        size_t n = strlen(l);
        if (n == 0 || n > 3 || strspn(l, "0123456789") != n || atoi(l) > max)
            return kl_error_set(err, EINVAL, "invalid address \"%s\"", s);
        a->len = atoi(l);
    }
    return 0;
}

static int addr_change(int netns_fd, const char *ifname, const char *cidr, bool add, kl_error *err)
{
    nl_addr a;
    if (check_name(ifname, err) < 0 || addr_parse(cidr, true, &a, err) < 0)
        return -1;
    _cleanup_nl_ nl n;
    int index;
    if (nl_open(&n, netns_fd, err) < 0 || nl_ifindex(&n, ifname, &index, err) < 0)
        return -1;
    /* Privileged: adds/removes one parsed address on a validated, existing interface. */
    char buf[MNL_SOCKET_BUFFER_SIZE];
    struct nlmsghdr *h =
        nl_msg(&n, buf, add ? RTM_NEWADDR : RTM_DELADDR, add ? NLM_F_CREATE | NLM_F_EXCL : 0);
    struct ifaddrmsg *ifa = mnl_nlmsg_put_extra_header(h, sizeof(*ifa));
    ifa->ifa_family = (uint8_t)a.af;
    ifa->ifa_prefixlen = (uint8_t)a.len;
    ifa->ifa_scope = RT_SCOPE_UNIVERSE;
    ifa->ifa_index = (uint32_t)index;
    size_t alen = a.af == AF_INET ? 4 : 16;
    mnl_attr_put(h, IFA_LOCAL, alen, a.bytes);
    mnl_attr_put(h, IFA_ADDRESS, alen, a.bytes);
    if (add && a.af == AF_INET6) {
        /* Container addresses are assigned, not autoconfigured: DAD would only delay them. */
        ifa->ifa_flags = IFA_F_NODAD;
        mnl_attr_put_u32(h, IFA_FLAGS, IFA_F_NODAD);
    }
    if (nl_talk(&n, h, NULL, NULL) < 0)
        return kl_error_errno(err, errno, "%s address %s %s %s", add ? "adding" : "removing", cidr,
                              add ? "to" : "from", ifname);
    return 0;
}

int host_addr_add(int netns_fd, const char *ifname, const char *cidr, kl_error *err)
{
    return addr_change(netns_fd, ifname, cidr, true, err);
}

int host_addr_del(int netns_fd, const char *ifname, const char *cidr, kl_error *err)
{
    return addr_change(netns_fd, ifname, cidr, false, err);
}

typedef struct addr_list {
    int index;
    char **v4, **v6;
} addr_list;

static int addr_attr_cb(const struct nlattr *attr, void *data)
{
    const struct nlattr **tb = data;
    int type = mnl_attr_get_type(attr);
    if (type <= IFA_MAX)
        tb[type] = attr;
    return MNL_CB_OK;
}

static int addr_list_cb(const struct nlmsghdr *h, void *data)
{
    addr_list *l = data;
    const struct ifaddrmsg *ifa = mnl_nlmsg_get_payload(h);
    if ((int)ifa->ifa_index != l->index)
        return MNL_CB_OK;
    const struct nlattr *tb[IFA_MAX + 1] = {0};
    mnl_attr_parse(h, sizeof(*ifa), addr_attr_cb, tb);
    const struct nlattr *at = tb[IFA_LOCAL] ? tb[IFA_LOCAL] : tb[IFA_ADDRESS];
    size_t need = ifa->ifa_family == AF_INET ? 4 : 16;
    if (!at || mnl_attr_get_payload_len(at) < need ||
        (ifa->ifa_family != AF_INET && ifa->ifa_family != AF_INET6))
        return MNL_CB_OK;
    char s[INET6_ADDRSTRLEN];
    inet_ntop(ifa->ifa_family, mnl_attr_get_payload(at), s, sizeof(s));
    _cleanup_free_ char *e = xasprintf("%s/%u", s, ifa->ifa_prefixlen);
    strv_push(ifa->ifa_family == AF_INET ? &l->v4 : &l->v6, e);
    return MNL_CB_OK;
}

int host_addr_list(int netns_fd, const char *ifname, char ***out, kl_error *err)
{
    if (check_name(ifname, err) < 0)
        return -1;
    _cleanup_nl_ nl n;
    addr_list l = {0, NULL, NULL};
    if (nl_open(&n, netns_fd, err) < 0 || nl_ifindex(&n, ifname, &l.index, err) < 0)
        return -1;
    char buf[MNL_SOCKET_BUFFER_SIZE];
    struct nlmsghdr *h = nl_msg(&n, buf, RTM_GETADDR, NLM_F_DUMP);
    struct ifaddrmsg *ifa = mnl_nlmsg_put_extra_header(h, sizeof(*ifa));
    ifa->ifa_family = AF_UNSPEC;
    if (nl_talk(&n, h, addr_list_cb, &l) < 0) {
        strv_free(l.v4);
        strv_free(l.v6);
        return kl_error_errno(err, errno, "listing addresses of %s", ifname);
    }
    char **all = xcalloc(1, sizeof(char *));
    for (char **p = l.v4; p && *p; p++)
        strv_push(&all, *p);
    for (char **p = l.v6; p && *p; p++)
        strv_push(&all, *p);
    strv_free(l.v4);
    strv_free(l.v6);
    *out = all;
    return 0;
}

int host_route_add_default(int netns_fd, const char *gateway, const char *ifname, kl_error *err)
{
    nl_addr gw;
    if (addr_parse(gateway, false, &gw, err) < 0 || (ifname && check_name(ifname, err) < 0))
        return -1;
    _cleanup_nl_ nl n;
    int index = 0;
    if (nl_open(&n, netns_fd, err) < 0 || (ifname && nl_ifindex(&n, ifname, &index, err) < 0))
        return -1;
    /* Privileged: adds one default route via a parsed address, in a netns we opened. */
    char buf[MNL_SOCKET_BUFFER_SIZE];
    struct nlmsghdr *h = nl_msg(&n, buf, RTM_NEWROUTE, NLM_F_CREATE | NLM_F_EXCL);
    struct rtmsg *rt = mnl_nlmsg_put_extra_header(h, sizeof(*rt));
    rt->rtm_family = (uint8_t)gw.af;
    rt->rtm_dst_len = 0;
    rt->rtm_table = RT_TABLE_MAIN;
    rt->rtm_protocol = RTPROT_BOOT;
    rt->rtm_scope = RT_SCOPE_UNIVERSE;
    rt->rtm_type = RTN_UNICAST;
    mnl_attr_put(h, RTA_GATEWAY, gw.af == AF_INET ? 4 : 16, gw.bytes);
    if (index)
        mnl_attr_put_u32(h, RTA_OIF, (uint32_t)index);
    if (nl_talk(&n, h, NULL, NULL) < 0)
        return kl_error_errno(err, errno, "adding a default route via %s", gateway);
    return 0;
}

typedef struct route_pick {
    int oif;
    uint32_t metric;
    bool found;
} route_pick;

static int route_attr_cb(const struct nlattr *attr, void *data)
{
    const struct nlattr **tb = data;
    int type = mnl_attr_get_type(attr);
    if (type <= RTA_MAX)
        tb[type] = attr;
    return MNL_CB_OK;
}

static int route_cb(const struct nlmsghdr *h, void *data)
{
    route_pick *p = data;
    const struct rtmsg *rt = mnl_nlmsg_get_payload(h);
    if (rt->rtm_dst_len != 0 || rt->rtm_type != RTN_UNICAST)
        return MNL_CB_OK;
    const struct nlattr *tb[RTA_MAX + 1] = {0};
    mnl_attr_parse(h, sizeof(*rt), route_attr_cb, tb);
    uint32_t table = tb[RTA_TABLE] ? mnl_attr_get_u32(tb[RTA_TABLE]) : rt->rtm_table;
    if (table != RT_TABLE_MAIN || !tb[RTA_OIF])
        return MNL_CB_OK;
    uint32_t metric = tb[RTA_PRIORITY] ? mnl_attr_get_u32(tb[RTA_PRIORITY]) : 0;
    if (!p->found || metric < p->metric) {
        p->found = true;
        p->metric = metric;
        p->oif = (int)mnl_attr_get_u32(tb[RTA_OIF]);
    }
    return MNL_CB_OK;
}

int host_default_route_if(int family, char name[HOST_IFNAME_MAX + 1], kl_error *err)
{
    _cleanup_nl_ nl n;
    if (nl_open(&n, -1, err) < 0)
        return -1;
    char buf[MNL_SOCKET_BUFFER_SIZE];
    struct nlmsghdr *h = nl_msg(&n, buf, RTM_GETROUTE, NLM_F_DUMP);
    struct rtmsg *rt = mnl_nlmsg_put_extra_header(h, sizeof(*rt));
    rt->rtm_family = family == 6 ? AF_INET6 : AF_INET;
    route_pick p = {0, 0, false};
    if (nl_talk(&n, h, route_cb, &p) < 0)
        return kl_error_errno(err, errno, "listing routes");
    char ifname[IF_NAMESIZE];
    if (!p.found)
        return kl_error_set(err, ENOENT, "no IPv%d default route", family == 6 ? 6 : 4);
    if (!if_indextoname((unsigned)p.oif, ifname))
        return kl_error_errno(err, errno, "naming interface %d", p.oif);
    snprintf(name, HOST_IFNAME_MAX + 1, "%s", ifname);
    return 0;
}

/* ---- sysctls ------------------------------------------------------------------------ */

int host_sysctl_write(const char *key, const char *value, kl_error *err)
{
    size_t n = strlen(key);
    if (n == 0 || key[0] == '/' || strstr(key, "..") ||
        strspn(key, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_./-") != n)
        return kl_error_set(err, EINVAL, "invalid sysctl key \"%s\"", key);
    _cleanup_free_ char *path = xasprintf("/proc/sys/%s", key);
    /* Privileged: the key is checked above (no "..", fixed root /proc/sys) and comes from
     * our code with at most a validated interface name in it. */
    _cleanup_close_ int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return kl_error_errno(err, errno, "opening %s", path);
    size_t len = strlen(value);
    if (KL_RETRY_EINTR(write(fd, value, len)) != (long)len)
        return kl_error_errno(err, errno, "writing %s", path);
    return 0;
}

int host_net_enable_forwarding(bool ipv6, kl_error *err)
{
    if (host_sysctl_write("net/ipv4/ip_forward", "1", err) < 0)
        return -1;
    if (ipv6 && host_sysctl_write("net/ipv6/conf/all/forwarding", "1", err) < 0)
        return -1;
    /* icc=false and isolation inside one bridge rely on bridged traffic passing the ip
     * hooks (br_netfilter). Without br_netfilter the files do not exist: nothing to do. */
    kl_error e = KL_ERROR_INIT;
    if (host_sysctl_write("net/bridge/bridge-nf-call-iptables", "1", &e) < 0 && e.code != ENOENT)
        return kl_error_set(err, e.code, "%s", e.msg);
    kl_error_clear(&e);
    if (host_sysctl_write("net/bridge/bridge-nf-call-ip6tables", "1", &e) < 0 && e.code != ENOENT)
        return kl_error_set(err, e.code, "%s", e.msg);
    return 0;
}

int host_bridge_set_route_localnet(const char *bridge, kl_error *err)
{
    if (check_name(bridge, err) < 0)
        return -1;
    _cleanup_free_ char *key = xasprintf("net/ipv4/conf/%s/route_localnet", bridge);
    return host_sysctl_write(key, "1", err);
}
