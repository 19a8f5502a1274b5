/* Helpers shared by test_netlink and test_firewall: private network namespaces (no
 * processes, no bind mounts: an fd keeps each one alive, so nothing can be left behind)
 * and TCP probes made with sockets created inside them. Traffic never leaves them. */
#ifndef KL_TEST_NETTEST_H
#define KL_TEST_NETTEST_H

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static int nt_self_ns = -1; /* the namespace this test process runs in */

static double nt_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* Move the whole (single-threaded) test process into a fresh netns: the "host". */
static int nt_enter_fresh_host(void)
{
    if (unshare(CLONE_NEWNET) < 0)
        return -1;
    nt_self_ns = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
    return nt_self_ns;
}

/* A new netns, held only by the returned fd. */
static int nt_new_ns(void)
{
    if (unshare(CLONE_NEWNET) < 0)
        return -1;
    int fd = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
    if (setns(nt_self_ns, CLONE_NEWNET) < 0)
        abort();
    return fd;
}

/* A socket created inside `ns` (-1: ours). */
static int nt_socket(int ns, int family, int type)
{
    if (ns >= 0 && setns(ns, CLONE_NEWNET) < 0)
        return -1;
    int s = socket(family, type | SOCK_CLOEXEC, 0);
    if (ns >= 0 && setns(nt_self_ns, CLONE_NEWNET) < 0)
        abort();
    return s;
}

static int nt_sockaddr(const char *ip, int port, struct sockaddr_storage *ss, socklen_t *len)
{
    memset(ss, 0, sizeof(*ss));
    if (strchr(ip, ':')) {
        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons((uint16_t)port);
        *len = sizeof(*s6);
        return inet_pton(AF_INET6, ip, &s6->sin6_addr) == 1 ? AF_INET6 : -1;
    }
    struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
    s4->sin_family = AF_INET;
    s4->sin_port = htons((uint16_t)port);
    *len = sizeof(*s4);
    return inet_pton(AF_INET, ip, &s4->sin_addr) == 1 ? AF_INET : -1;
}

/* A TCP listener in `ns` on ip:port. */
static int nt_listen(int ns, const char *ip, int port)
{
    struct sockaddr_storage ss;
    socklen_t len;
    int af = nt_sockaddr(ip, port, &ss, &len);
    int s = nt_socket(ns, af, SOCK_STREAM | SOCK_NONBLOCK);
    int one = 1;
    setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (s < 0 || bind(s, (struct sockaddr *)&ss, len) < 0 || listen(s, 16) < 0) {
        if (s >= 0)
            close(s);
        return -1;
    }
    return s;
}

/* Connect from `ns` to ip:port within timeout_ms. If it connects and `listener` >= 0, the
 * connection must arrive there: the peer address it sees is written to `peer` (may be
 * NULL). Returns 0 when connected (and accepted), -1 otherwise. */
static int nt_connect(int ns, const char *ip, int port, int timeout_ms, int listener, char *peer,
                      size_t peer_len)
{
    struct sockaddr_storage ss;
    socklen_t len;
    int af = nt_sockaddr(ip, port, &ss, &len);
    int s = nt_socket(ns, af, SOCK_STREAM | SOCK_NONBLOCK);
    if (s < 0)
        return -1;
    int r = connect(s, (struct sockaddr *)&ss, len);
    if (r < 0 && errno == EINPROGRESS) {
        struct pollfd p = {s, POLLOUT, 0};
        int e = 0;
        socklen_t el = sizeof(e);
        r = (poll(&p, 1, timeout_ms) == 1 && getsockopt(s, SOL_SOCKET, SO_ERROR, &e, &el) == 0 &&
             e == 0)
                ? 0
                : -1;
    }
    if (r == 0 && listener >= 0) {
        struct pollfd p = {listener, POLLIN, 0};
        struct sockaddr_storage from;
        socklen_t fl = sizeof(from);
        int c = poll(&p, 1, timeout_ms) == 1 ? accept(listener, (struct sockaddr *)&from, &fl) : -1;
        if (c < 0) {
            r = -1;
        } else {
            if (peer) {
                const void *a = from.ss_family == AF_INET
                                    ? (const void *)&((struct sockaddr_in *)&from)->sin_addr
                                    : (const void *)&((struct sockaddr_in6 *)&from)->sin6_addr;
                inet_ntop(from.ss_family, a, peer, (socklen_t)peer_len);
            }
            close(c);
        }
    }
    close(s);
    return r;
}

#endif
