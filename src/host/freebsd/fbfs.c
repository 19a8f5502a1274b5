/* host/fs.h, host_bind_source_check (host/runtime.h), host/process.h and host_port_holder
 * (host/net.h) on FreeBSD.
 *
 * Confined resolution: FreeBSD has O_RESOLVE_BENEATH but nothing like Linux's
 * RESOLVE_IN_ROOT, so both host_open_beneath and host_open_in_root walk the path here, one
 * component at a time from a directory fd, never following a symlink in the kernel
 * (O_NOFOLLOW): a symlink is read (readlinkat) and its target spliced into the rest of the
 * path, so `..` and absolute targets are decided by this walk, not by the kernel. Beneath:
 * leaving the directory (absolute path or target, `..` above it) is EXDEV. In root: `/` and
 * `..` at the top stay at the top, as in a chroot. Portable POSIX: tested on Linux.
 *
 * host_process_end_fd uses kqueue's EVFILT_PROC (the one `#ifdef __FreeBSD__` block of the
 * layer's engine interfaces, listed in docs/freebsd.md); elsewhere it is ENOTSUP.
 * It must not: follow a symlink in the kernel, or accept what it cannot check. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#ifdef __FreeBSD__
#include <sys/event.h>
#include <sys/mount.h>
#endif

#include "host/freebsd/fbhost.h"
#include "host/fs.h"
#include "host/net.h"
#include "host/process.h"
#include "host/runtime.h"
#include "lib/cleanup.h"
#include "lib/xalloc.h"

#define WALK_MAX_LINKS 40

typedef struct walk {
    int *fds; /* fds[0] = the root, fds[depth] = where we are */
    size_t depth, cap;
} walk;

static void walk_free(walk *w)
{
    for (size_t i = 0; w->fds && i <= w->depth; i++)
        if (w->fds[i] >= 0)
            close(w->fds[i]);
    free(w->fds);
}

static void walk_push(walk *w, int fd)
{
    if (w->depth + 2 > w->cap) {
        w->cap = w->cap ? w->cap * 2 : 16;
        w->fds = xrealloc(w->fds, w->cap * sizeof(int));
    }
    w->fds[++w->depth] = fd;
}

static void walk_pop_to(walk *w, size_t depth)
{
    while (w->depth > depth)
        close(w->fds[w->depth--]);
}

/* The next component of *p (advanced past it and its slashes) into name; false at the end. */
static bool next_component(const char **p, char *name, size_t n, bool *too_long)
{
    while (**p == '/')
        (*p)++;
    if (!**p)
        return false;
    size_t len = strcspn(*p, "/");
    *too_long = len >= n;
    if (!*too_long) {
        memcpy(name, *p, len);
        name[len] = '\0';
    }
    *p += len;
    while (**p == '/')
        (*p)++;
    return true;
}

/* Resolve `path` from dirfd. mkdirs: make missing directories (0755) and return the last
 * directory; else open the last component with flags/mode. -1 with errno. */
static int walk_path(int dirfd, const char *path, bool in_root, bool mkdirs, int flags, mode_t mode)
{
    if (!path) {
        errno = EINVAL;
        return -1;
    }
    if (path[0] == '/' && !in_root) {
        errno = EXDEV;
        return -1;
    }
    int root = fcntl(dirfd, F_DUPFD_CLOEXEC, 3);
    if (root < 0)
        return -1;
    walk w = {.fds = xmalloc(16 * sizeof(int)), .depth = 0, .cap = 16};
    w.fds[0] = root;
    _cleanup_free_ char *buf = xstrdup(path);
    const char *p = buf;
    int links = 0, result = -1, saved = 0;
    char name[NAME_MAX + 1];
    bool too_long;
    while (next_component(&p, name, sizeof(name), &too_long)) {
        int cur = w.fds[w.depth];
        bool last = *p == '\0';
        if (too_long) {
            saved = ENAMETOOLONG;
            goto out;
        }
        if (!strcmp(name, "."))
            continue;
        if (!strcmp(name, "..")) {
            if (w.depth > 0)
                walk_pop_to(&w, w.depth - 1);
            else if (!in_root) {
                saved = EXDEV;
                goto out;
            }
            continue;
        }
        struct stat st;
        if (fstatat(cur, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
            if (errno != ENOENT) {
                saved = errno;
                goto out;
            }
            if (mkdirs) {
                if (mkdirat(cur, name, 0755) < 0 && errno != EEXIST) {
                    saved = errno;
                    goto out;
                }
            } else if (last) {
                result = openat(cur, name, flags | O_NOFOLLOW | O_CLOEXEC, mode);
                saved = result < 0 ? errno : 0;
                goto out;
            } else {
                saved = ENOENT;
                goto out;
            }
        } else if (S_ISLNK(st.st_mode)) {
            if (last && (flags & O_NOFOLLOW) && !mkdirs) {
                result = openat(cur, name, flags | O_CLOEXEC, mode);
                saved = result < 0 ? errno : 0;
                goto out;
            }
            if (++links > WALK_MAX_LINKS) {
                saved = ELOOP;
                goto out;
            }
            char target[PATH_MAX];
            ssize_t n = readlinkat(cur, name, target, sizeof(target) - 1);
            if (n < 0) {
                saved = errno;
                goto out;
            }
            target[n] = '\0';
            if (target[0] == '/') {
                if (!in_root) {
                    saved = EXDEV;
                    goto out;
                }
                walk_pop_to(&w, 0);
            }
            char *spliced = xasprintf("%s/%s", target, p);
            free(buf);
            buf = spliced;
            p = buf;
            continue;
        } else if (last && !mkdirs) {
            result = openat(cur, name, flags | O_NOFOLLOW | O_CLOEXEC, mode);
            saved = result < 0 ? errno : 0;
            goto out;
        }
        int fd = openat(cur, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0) {
            saved = errno == ELOOP ? EAGAIN : errno; /* swapped for a symlink meanwhile */
            goto out;
        }
        walk_push(&w, fd);
    }
    /* The path ended on a directory (".", "..", a trailing slash, or mkdirs). */
    if (mkdirs)
        result = fcntl(w.fds[w.depth], F_DUPFD_CLOEXEC, 3);
    else
        result = openat(w.fds[w.depth], ".", flags | O_CLOEXEC, mode);
    saved = result < 0 ? errno : 0;
out:
    walk_free(&w);
    errno = saved;
    return result;
}

int host_open_beneath(int dirfd, const char *path, int flags, mode_t mode)
{
    return walk_path(dirfd, path, false, false, flags, mode);
}

int host_open_in_root(int dirfd, const char *path, int flags, mode_t mode)
{
    return walk_path(dirfd, path, true, false, flags, mode);
}

bool host_fd_is_kernel_fs(int fd)
{
#ifdef __FreeBSD__
    static const char *const kernel_fs[] = {"procfs", "linprocfs", "linsysfs",
                                            "devfs",  "fdescfs",   "mqueuefs"};
    struct statfs sf;
    if (fstatfs(fd, &sf) < 0)
        return false;
    for (size_t i = 0; i < sizeof(kernel_fs) / sizeof(kernel_fs[0]); i++)
        if (strcmp(sf.f_fstypename, kernel_fs[i]) == 0)
            return true;
    return false;
#else
    (void)fd; /* the layer built on Linux (kleened-fbsim): no FreeBSD filesystem to meet */
    return false;
#endif
}

int host_mkdirs_in_root(int rootfd, const char *path, kl_error *err)
{
    int fd = walk_path(rootfd, path, true, true, 0, 0);
    if (fd < 0)
        return kl_error_errno(err, errno, "making directory %s", path ? path : "");
    return fd;
}

/* ---- bind mount sources ------------------------------------------------------------ */

static bool same_file(const struct stat *a, const struct stat *b)
{
    return a->st_dev == b->st_dev && a->st_ino == b->st_ino;
}

/* The directory holding the non-directory `source` (st: the stat of what was opened),
 * checked to hold that very file under its name. */
static int parent_of_file(const char *source, const struct stat *st, kl_error *err)
{
    _cleanup_free_ char *real = realpath(source, NULL);
    if (!real)
        return kl_error_errno(err, errno, "finding its directory");
    char *slash = strrchr(real, '/');
    if (!slash || !slash[1])
        return kl_error_set(err, EINVAL, "it is not reachable from the host's root");
    *slash = '\0';
    const char *name = slash + 1;
    _cleanup_close_ int rootfd = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (rootfd < 0)
        return kl_error_errno(err, errno, "opening /");
    /* realpath gave a path without symlinks: resolved beneath "/", a symlink swapped in
     * since then is not followed out of the tree (and the check below catches the rest). */
    int dfd = host_open_beneath(rootfd, real[0] ? real + 1 : ".", O_RDONLY | O_DIRECTORY, 0);
    if (dfd < 0)
        return kl_error_errno(err, errno, "opening its directory /%s", real + 1);
    struct stat here;
    if (fstatat(dfd, name, &here, AT_SYMLINK_NOFOLLOW) < 0 || !same_file(&here, st)) {
        close(dfd);
        return kl_error_set(err, EAGAIN, "it was moved while it was checked");
    }
    return dfd;
}

int host_bind_source_check(const char *source, char *const *denied, kl_error *err)
{
    _cleanup_close_ int fd = open(source, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
    if (fd < 0)
        return kl_error_errno(err, errno, "bind mount source %s", source);
    if (!denied || !*denied)
        return 0;
    size_t n = strv_len(denied);
    _cleanup_free_ struct stat *deny = xcalloc(n, sizeof(*deny));
    for (size_t i = 0; i < n; i++)
        if (stat(denied[i], &deny[i]) < 0)
            return kl_error_errno(err, errno, "bind mount source %s: checking against %s", source,
                                  denied[i]);
    struct stat st;
    if (fstat(fd, &st) < 0)
        return kl_error_errno(err, errno, "bind mount source %s", source);
    _cleanup_close_ int cur =
        S_ISDIR(st.st_mode) ? fcntl(fd, F_DUPFD_CLOEXEC, 3) : parent_of_file(source, &st, err);
    if (cur < 0)
        return err->code ? kl_error_prefix(err, "bind mount source %s", source)
                         : kl_error_errno(err, errno, "bind mount source %s", source);
    for (int depth = 0; depth < 4096; depth++) {
        struct stat at;
        if (fstat(cur, &at) < 0)
            return kl_error_errno(err, errno, "bind mount source %s", source);
        for (size_t i = 0; i < n; i++)
            if (same_file(&at, &deny[i]))
                return kl_error_set(err, EPERM,
                                    "bind mount source %s: it is inside %s, kleened's own "
                                    "directory, which no container may see",
                                    source, denied[i]);
        int up = openat(cur, "..", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (up < 0)
            return kl_error_errno(err, errno, "bind mount source %s: walking up", source);
        struct stat above;
        if (fstat(up, &above) < 0 || same_file(&above, &at)) {
            close(up);
            return 0; /* the root: nothing denied on the way */
        }
        close(cur);
        cur = up;
    }
    return kl_error_set(err, ELOOP, "bind mount source %s: too deep", source);
}

/* ---- processes ----------------------------------------------------------------------- */

int host_process_end_fd(int pid, kl_error *err)
{
    if (pid <= 0)
        return kl_error_set(err, ESRCH, "no process %d", pid);
#ifdef __FreeBSD__
    /* A kqueue polls readable once an event is pending: here the process's NOTE_EXIT. */
    _cleanup_close_ int kq = kqueue();
    if (kq < 0 || fcntl(kq, F_SETFD, FD_CLOEXEC) < 0)
        return kl_error_errno(err, errno, "watching process %d", pid);
    struct kevent ev;
    EV_SET(&ev, (uintptr_t)pid, EVFILT_PROC, EV_ADD | EV_ONESHOT, NOTE_EXIT, 0, NULL);
    if (kevent(kq, &ev, 1, NULL, 0, NULL) < 0)
        return kl_error_errno(err, errno, "watching process %d", pid);
    return steal_fd(&kq);
#else
    return kl_error_set(err, ENOTSUP, "watching process %d needs kqueue (FreeBSD)", pid);
#endif
}

/* ---- ports ------------------------------------------------------------------------- */

/* 0 free, 1 in use, -1 another error (errno). */
static int try_bind(int family, int type, uint16_t port)
{
    _cleanup_close_ int fd = socket(family, type, 0);
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
    if (family == AF_INET6 && errno == EADDRNOTAVAIL)
        return 0;
    return -1;
}

int fb_sockstat_holder(const char *out, char *who, size_t who_len)
{
    /* "USER COMMAND PID FD PROTO LOCAL FOREIGN", then one line per socket. */
    const char *line = out ? strchr(out, '\n') : NULL;
    while (line && *++line) {
        char user[64], cmd[64];
        long pid;
        if (sscanf(line, "%63s %63s %ld", user, cmd, &pid) == 3 && pid > 0) {
            snprintf(who, who_len, "%s (pid %ld)", cmd, pid);
            return 1;
        }
        line = strchr(line, '\n');
    }
    return 0;
}

int host_port_holder(const char *proto, uint16_t port, char *who, size_t who_len, kl_error *err)
{
    bool udp = proto && strcmp(proto, "udp") == 0;
    int type = udp ? SOCK_DGRAM : SOCK_STREAM;
    int r4 = try_bind(AF_INET, type, port);
    int r6 = r4 == 1 ? 0 : try_bind(AF_INET6, type, port);
    if (r4 < 0 || r6 < 0)
        return kl_error_errno(err, errno, "checking whether %s port %u is free",
                              udp ? "udp" : "tcp", (unsigned)port);
    if (r4 == 0 && r6 == 0)
        return 0;
    /* Who: sockstat(1) lists the listeners of the port (no /proc on FreeBSD). */
    kl_error e2 = KL_ERROR_INIT;
    const fb_host *h = fb_host_default(&e2);
    char portstr[16];
    snprintf(portstr, sizeof(portstr), "%u", (unsigned)port);
    _cleanup_result_ fb_result res = FB_RESULT_INIT;
    if (!(h &&
          fb_run(h->run,
                 FB_ARGV("/usr/bin/sockstat", "-46l", "-P", udp ? "udp" : "tcp", "-p", portstr),
                 NULL, &res, &e2) == 0 &&
          res.status == 0 && fb_sockstat_holder(res.out, who, who_len)))
        snprintf(who, who_len, "another program");
    return 1;
}
