/* Set elements through nfnetlink (nfset.h).
 *
 * Why not the nft program, as for the rest of the table: an element deletion puts work on
 * nf_tables' destroy list (released after an RCU grace period), and every NETLINK_NETFILTER
 * socket that closes flushes that list first. nft closes its socket when it exits, so a
 * `delete element` costs 13-25 ms here (a grace period), against ~0.2 ms on a socket that
 * stays open; an `add element` through nft costs ~3 ms, almost all of it the exec. Container
 * start and stop change elements only, and must be fast (DESIGN.md §4: no shelling out on
 * the start path). The messages are the kernel's uapi (linux/netfilter/nf_tables.h), built
 * with libmnl: no GPL code (libnftnl, libnftables) is involved.
 * Must not: name a table or set other than the caller's constants; the caller validated
 * every byte of keys and data. */
#include "host/linux/nfset.h"

#include <arpa/inet.h>
#include <errno.h>
#include <libmnl/libmnl.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <poll.h>
#include <string.h>
#include <time.h>

#include "lib/buf.h"
#include "lib/cleanup.h"
#include "lib/xalloc.h"

/* The largest batch sent at once: netlink refuses a message beyond the socket's send
 * buffer (~200 KiB by default). Larger changes are the caller's to make otherwise. */
#define NFSET_BATCH_MAX (128 * 1024)

struct nfset {
    struct mnl_socket *sock;
    unsigned portid;
    unsigned seq;
};

nfset *nfset_open(kl_error *err)
{
    struct mnl_socket *sock = mnl_socket_open2(NETLINK_NETFILTER, SOCK_CLOEXEC);
    if (!sock) {
        kl_error_errno(err, errno, "firewall: opening a netfilter netlink socket");
        return NULL;
    }
    if (mnl_socket_bind(sock, 0, MNL_SOCKET_AUTOPID) < 0) {
        kl_error_errno(err, errno, "firewall: binding a netfilter netlink socket");
        mnl_socket_close(sock);
        return NULL;
    }
    nfset *s = xcalloc(1, sizeof(*s));
    s->sock = sock;
    s->portid = mnl_socket_get_portid(sock);
    s->seq = (unsigned)time(NULL);
    return s;
}

void nfset_close(nfset *s)
{
    if (!s)
        return;
    mnl_socket_close(s->sock);
    free(s);
}

/* Room for one more message of up to `max` bytes at the end of b; the header is returned. */
static struct nlmsghdr *msg_put(kl_buf *b, size_t max, uint16_t type, uint16_t flags,
                                uint8_t family, uint16_t res_id, unsigned seq)
{
    kl_buf_reserve(b, max);
    struct nlmsghdr *h = mnl_nlmsg_put_header(b->data + b->len);
    h->nlmsg_type = type;
    h->nlmsg_flags = (uint16_t)(NLM_F_REQUEST | flags);
    h->nlmsg_seq = seq;
    struct nfgenmsg *g = mnl_nlmsg_put_extra_header(h, sizeof(*g));
    g->nfgen_family = family;
    g->version = NFNETLINK_V0;
    g->res_id = htons(res_id);
    return h;
}

static void put_data(struct nlmsghdr *h, uint16_t type, const void *p, size_t n)
{
    struct nlattr *nest = mnl_attr_nest_start(h, type);
    mnl_attr_put(h, NFTA_DATA_VALUE, n, p);
    mnl_attr_nest_end(h, nest);
}

static size_t elem_size(const nfset_elem *e)
{
    /* the nests and attribute headers of one element, generously */
    return 64 + 2 * MNL_ALIGN(e->key_len) + MNL_ALIGN(e->data_len);
}

/* One NEWSETELEM/DELSETELEM message per run of elements of the same set. */
static int put_elems(kl_buf *b, uint16_t msg, const char *table, const nfset_elem *v, size_t n,
                     unsigned *seq, size_t *n_msgs)
{
    for (size_t i = 0; i < n;) {
        size_t j = i, max = 256 + strlen(table) + strlen(v[i].set);
        while (j < n && strcmp(v[j].set, v[i].set) == 0)
            max += elem_size(&v[j++]);
        if (b->len + max > NFSET_BATCH_MAX)
            return -1;
        uint16_t flags = NLM_F_ACK | (msg == NFT_MSG_NEWSETELEM ? NLM_F_CREATE | NLM_F_EXCL : 0);
        struct nlmsghdr *h = msg_put(b, max, (uint16_t)(NFNL_SUBSYS_NFTABLES << 8 | msg), flags,
                                     NFPROTO_INET, 0, ++*seq);
        mnl_attr_put_strz(h, NFTA_SET_ELEM_LIST_TABLE, table);
        mnl_attr_put_strz(h, NFTA_SET_ELEM_LIST_SET, v[i].set);
        struct nlattr *list = mnl_attr_nest_start(h, NFTA_SET_ELEM_LIST_ELEMENTS);
        for (size_t k = i; k < j; k++) {
            struct nlattr *el = mnl_attr_nest_start(h, NFTA_LIST_ELEM);
            put_data(h, NFTA_SET_ELEM_KEY, v[k].key, v[k].key_len);
            /* Every set of ours has intervals: the end of the key's range. */
            put_data(h, NFTA_SET_ELEM_KEY_END, v[k].key_end, v[k].key_len);
            if (msg == NFT_MSG_NEWSETELEM && v[k].data)
                put_data(h, NFTA_SET_ELEM_DATA, v[k].data, v[k].data_len);
            mnl_attr_nest_end(h, el);
        }
        mnl_attr_nest_end(h, list);
        b->len += h->nlmsg_len;
        (*n_msgs)++;
        i = j;
    }
    return 0;
}

typedef struct acks {
    unsigned first, last; /* the sequence numbers of our messages */
    size_t got;
    int error; /* the first error the kernel reported */
} acks;

static int ack_cb(const struct nlmsghdr *h, void *data)
{
    acks *a = data;
    if (h->nlmsg_type != NLMSG_ERROR || h->nlmsg_seq < a->first || h->nlmsg_seq > a->last)
        return MNL_CB_OK;
    const struct nlmsgerr *e = mnl_nlmsg_get_payload(h);
    if (e->error && !a->error)
        a->error = -e->error;
    a->got++;
    return MNL_CB_OK;
}

int nfset_change(nfset *s, const char *table, const nfset_elem *del, size_t n_del,
                 const nfset_elem *add, size_t n_add, kl_error *err)
{
    if (n_del + n_add == 0)
        return 0;
    _cleanup_buf_ kl_buf b = KL_BUF_INIT;
    size_t n_msgs = 0;
    struct nlmsghdr *h =
        msg_put(&b, 64, NFNL_MSG_BATCH_BEGIN, 0, AF_UNSPEC, NFNL_SUBSYS_NFTABLES, ++s->seq);
    b.len += h->nlmsg_len;
    acks a = {.first = s->seq + 1};
    if (put_elems(&b, NFT_MSG_DELSETELEM, table, del, n_del, &s->seq, &n_msgs) < 0 ||
        put_elems(&b, NFT_MSG_NEWSETELEM, table, add, n_add, &s->seq, &n_msgs) < 0)
        return kl_error_set(err, E2BIG, "firewall: too many set elements for one batch");
    a.last = s->seq;
    h = msg_put(&b, 64, NFNL_MSG_BATCH_END, 0, AF_UNSPEC, NFNL_SUBSYS_NFTABLES, ++s->seq);
    b.len += h->nlmsg_len;

    /* Privileged: element changes in our own table, of keys and data the caller built from
     * validated addresses, names and ports. */
    if (mnl_socket_sendto(s->sock, b.data, b.len) < 0)
        return kl_error_errno(err, errno, "firewall: sending set elements");
    char buf[MNL_SOCKET_BUFFER_SIZE];
    while (a.got < n_msgs && !a.error) {
        /* The kernel answers at once; a bound wait guards against a lost answer. */
        struct pollfd p = {mnl_socket_get_fd(s->sock), POLLIN, 0};
        int pr = poll(&p, 1, 2000);
        if (pr < 0 && errno == EINTR)
            continue;
        if (pr <= 0)
            return kl_error_set(err, ETIMEDOUT, "firewall: no answer to a set element change");
        ssize_t r = mnl_socket_recvfrom(s->sock, buf, sizeof(buf));
        if (r < 0) {
            if (errno == EINTR)
                continue;
            return kl_error_errno(err, errno, "firewall: reading the answer");
        }
        /* Acknowledgements are control messages: ack_cb sees them through the array. */
        mnl_cb_t ctl[NLMSG_MIN_TYPE] = {[NLMSG_ERROR] = ack_cb};
        if (mnl_cb_run2(buf, (size_t)r, 0, s->portid, NULL, &a, ctl, NLMSG_MIN_TYPE) < 0)
            return kl_error_errno(err, errno, "firewall: reading the answer");
    }
    if (a.error) {
        /* The batch is aborted as a whole; drain what else the kernel answers to it. */
        for (;;) {
            struct pollfd p = {mnl_socket_get_fd(s->sock), POLLIN, 0};
            if (poll(&p, 1, 0) <= 0 || mnl_socket_recvfrom(s->sock, buf, sizeof(buf)) <= 0)
                break;
        }
        return kl_error_errno(err, a.error, "firewall: changing set elements");
    }
    return 0;
}
