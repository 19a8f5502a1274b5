/* Who holds a host port (host/net.h: host_port_holder): a trial bind of the wildcard
 * addresses in kleened's network namespace, and, when it fails, the owner of the socket
 * found through /proc/net/{tcp,udp}{,6} (its inode) and /proc/<pid>/fd (the process that
 * has it open), as ss -p does.
 *
 * Reads only the kernel's own tables and names; binds nothing that outlives the call (the
 * trial sockets are closed at once, without listening, so no connection can reach them). */
#include "host/net.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lib/cleanup.h"

/* 0 free, 1 in use, -1 another error (errno). */
static int try_bind(int family, int type, uint16_t port)
{
    _cleanup_close_ int fd = socket(family, type | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return family == AF_INET6 && errno == EAFNOSUPPORT ? 0 : -1;
    int r;
    if (family == AF_INET6) {
        int on = 1;
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof(on));
        struct sockaddr_in6 a = {.sin6_family = AF_INET6, .sin6_port = htons(port)};
        a.sin6_addr = in6addr_any;
        r = bind(fd, (struct sockaddr *)&a, sizeof(a));
    } else {
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
        a.sin_addr.s_addr = htonl(INADDR_ANY);
        r = bind(fd, (struct sockaddr *)&a, sizeof(a));
    }
    if (r == 0)
        return 0;
    if (errno == EADDRINUSE)
        return 1;
    /* no IPv6 address configured at all: nothing can hold it there */
    if (family == AF_INET6 && errno == EADDRNOTAVAIL)
        return 0;
    return -1;
}

int host_proc_net_inode(const char *line, uint16_t port, unsigned long *inode)
{
    /* "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid
     * timeout inode": local_address is HEX_ADDR:HEX_PORT */
    unsigned sl;
    char local[80], remote[80];
    unsigned st;
    unsigned long txq, rxq, tr, when, retr, uid, timeout, ino;
    if (sscanf(line, " %u: %79s %79s %x %lx:%lx %lx:%lx %lx %lu %lu %lu", &sl, local, remote, &st,
               &txq, &rxq, &tr, &when, &retr, &uid, &timeout, &ino) != 12)
        return 0;
    const char *colon = strrchr(local, ':');
    if (!colon)
        return 0;
    char *end;
    unsigned long p = strtoul(colon + 1, &end, 16);
    if (*end || p != port || ino == 0)
        return 0;
    *inode = ino;
    return 1;
}

/* The inodes of the sockets bound to `port` in /proc/net/<table>. */
static size_t inodes_of(const char *table, uint16_t port, unsigned long *out, size_t max)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/net/%s", table);
    _cleanup_fclose_ FILE *f = fopen(path, "re");
    if (!f)
        return 0;
    char line[512];
    size_t n = 0;
    while (n < max && fgets(line, sizeof(line), f)) {
        unsigned long ino;
        if (host_proc_net_inode(line, port, &ino) == 1)
            out[n++] = ino;
    }
    return n;
}

/* A process that has one of the socket inodes open: "<comm> (pid <pid>)". */
static bool find_owner(const unsigned long *inodes, size_t n, char *who, size_t who_len)
{
    _cleanup_closedir_ DIR *proc = opendir("/proc");
    if (!proc)
        return false;
    struct dirent *pe;
    while ((pe = readdir(proc))) {
        char *end;
        long pid = strtol(pe->d_name, &end, 10);
        if (*end || pid <= 0)
            continue;
        char fdpath[64];
        snprintf(fdpath, sizeof(fdpath), "/proc/%ld/fd", pid);
        _cleanup_closedir_ DIR *fds = opendir(fdpath);
        if (!fds)
            continue;
        struct dirent *fe;
        while ((fe = readdir(fds))) {
            char target[64];
            ssize_t len = readlinkat(dirfd(fds), fe->d_name, target, sizeof(target) - 1);
            if (len <= 0)
                continue;
            target[len] = '\0';
            unsigned long ino;
            if (sscanf(target, "socket:[%lu]", &ino) != 1)
                continue;
            for (size_t i = 0; i < n; i++) {
                if (inodes[i] != ino)
                    continue;
                char comm[64] = "";
                char cpath[64];
                snprintf(cpath, sizeof(cpath), "/proc/%ld/comm", pid);
                _cleanup_fclose_ FILE *cf = fopen(cpath, "re");
                if (cf && fgets(comm, sizeof(comm), cf))
                    comm[strcspn(comm, "\n")] = '\0';
                snprintf(who, who_len, "%s (pid %ld)", comm[0] ? comm : "?", pid);
                return true;
            }
        }
    }
    return false;
}

int host_port_holder(const char *proto, uint16_t port, char *who, size_t who_len, kl_error *err)
{
    bool udp = strcmp(proto, "udp") == 0;
    int type = udp ? SOCK_DGRAM : SOCK_STREAM;
    int r4 = try_bind(AF_INET, type, port);
    int r6 = r4 == 1 ? 0 : try_bind(AF_INET6, type, port);
    if (r4 < 0 || r6 < 0)
        return kl_error_errno(err, errno, "checking whether %s port %u is free", proto,
                              (unsigned)port);
    if (r4 == 0 && r6 == 0)
        return 0;
    unsigned long inodes[16];
    size_t n = inodes_of(udp ? "udp" : "tcp", port, inodes, 16);
    n += inodes_of(udp ? "udp6" : "tcp6", port, inodes + n, 16 - n);
    if (!(n && find_owner(inodes, n, who, who_len)))
        snprintf(who, who_len, "another program");
    return 1;
}
