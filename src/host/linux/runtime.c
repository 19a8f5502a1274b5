/* The Linux container runtime core behind host/runtime.h.
 *
 * host_container_start(): clone3() into new pid, mount, uts, ipc (unless shared), net (new, or
 * joined, or the host's) namespaces; the child joins the container's cgroups and unshares a
 * cgroup namespace, builds the container's mount tree inside a private mount namespace (the
 * rootfs, /proc, a minimal /dev, read-only /sys, the bind mounts, masked and read-only /proc
 * paths), pivot_root()s into it and becomes the REAPER: pid 1 of the container. The reaper
 * drops to the container's capability bounding set, sets no_new_privs and loads the seccomp
 * filter, then forks the command, which switches user and execs. The reaper forwards every
 * signal it can catch but SIGCHLD to the main process (to every process once the main one is
 * gone; what it cannot catch goes to the main process by a pidfd it hands to the caller,
 * host_container_signal_main), reaps everything, and exits with the main process's code only
 * when no other process is left in its pid namespace (exec'd processes included).
 *
 * Errors of the children travel back over a SOCK_SEQPACKET socketpair whose last copy closes
 * at the successful execve, so the caller learns "no such file" synchronously.
 *
 * Every path below the container root is resolved inside it (openat2 RESOLVE_IN_ROOT, no
 * magic links) and mounts target the resulting fds (move_mount or /proc/self/fd/N); no user
 * path is ever concatenated to the host path of the root.
 *
 * The children run between clone() and execve() in a copy of the caller: call this from a
 * single-threaded process (the container monitor), or from one whose other threads never
 * hold the malloc lock across a fork. It must not: know about images, networks or storage. */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/openat2.h>
#include <linux/magic.h>
#include <linux/sched.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>
#include <dirent.h>

#include "host/linux/internal.h"
#include "host/linux/confined_open.h"
#include "host/linux/userspec.h"
#include "host/storage.h"
#include "lib/cleanup.h"
#include "lib/xalloc.h"

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif
#ifndef TIOCGPTPEER
#define TIOCGPTPEER _IO('T', 0x41)
#endif

/* The soft limit of open files a container starts with unless it asks for one (the kernel's
 * default for init, and systemd's and containerd's for what they start). */
#define CONTAINER_NOFILE_SOFT 1024

#define DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

/* ---- messages from the children ------------------------------------------------------------ */

void send_msg(int sock, char type, int pid, const char *text, int fd)
{
    child_msg m = {.type = type, .pid = pid};
    if (text)
        snprintf(m.text, sizeof(m.text), "%s", text);
    struct iovec iov = {.iov_base = &m, .iov_len = sizeof(m)};
    union {
        char buf[CMSG_SPACE(sizeof(int))];
        struct cmsghdr align;
    } u;
    struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
    if (fd >= 0) {
        mh.msg_control = u.buf;
        mh.msg_controllen = sizeof(u.buf);
        struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int));
        memcpy(CMSG_DATA(c), &fd, sizeof(int));
    }
    (void)KL_RETRY_EINTR(sendmsg(sock, &mh, MSG_NOSIGNAL));
}

/* Report the error to the parent and die; only for the children. */
__attribute__((noreturn)) void child_fail(int sock, const kl_error *e)
{
    send_msg(sock, MSG_ERROR, 0, e->msg, -1);
    _exit(127);
}

/* Returns 1 with a message, 0 at EOF, -1 on error. */
int recv_msg(int sock, child_msg *m, int *fd)
{
    union {
        char buf[CMSG_SPACE(sizeof(int))];
        struct cmsghdr align;
    } u;
    struct iovec iov = {.iov_base = m, .iov_len = sizeof(*m)};
    struct msghdr mh = {
        .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = sizeof(u.buf)};
    *fd = -1;
    ssize_t n = KL_RETRY_EINTR(recvmsg(sock, &mh, MSG_CMSG_CLOEXEC));
    if (n < 0)
        return -1;
    if (n == 0)
        return 0;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c))
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS)
            memcpy(fd, CMSG_DATA(c), sizeof(int));
    m->text[sizeof(m->text) - 1] = '\0';
    return 1;
}

/* ---- paths inside the container root -------------------------------------------------------- */

int openat2_in_root(int rootfd, const char *rel, int flags, unsigned long long extra)
{
    struct open_how how = {.flags = (unsigned long long)(flags | O_CLOEXEC),
                           .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS | extra};
    return kl_openat2(rootfd, rel, &how);
}

/* Lexically clean an absolute container path into a relative one without ".", ".." or empty
 * components ("..": clamped at the root, as the kernel does inside the root). */
char *clean_rel(const char *path)
{
    char *out = xmalloc(strlen(path) + 2);
    size_t n = 0;
    const char *p = path;
    while (*p) {
        while (*p == '/')
            p++;
        const char *e = p;
        while (*e && *e != '/')
            e++;
        size_t len = (size_t)(e - p);
        if (len == 0 || (len == 1 && p[0] == '.')) {
        } else if (len == 2 && p[0] == '.' && p[1] == '.') {
            while (n > 0 && out[n - 1] != '/')
                n--;
            if (n > 0)
                n--;
        } else {
            if (n > 0)
                out[n++] = '/';
            memcpy(out + n, p, len);
            n += len;
        }
        p = e;
    }
    out[n] = '\0';
    return out;
}

/* Open (creating what is missing) `path` inside the root: a directory, or with is_file a
 * regular file (parents created as directories). Every component is resolved inside the root
 * by the kernel; creation happens with *at() calls on the fd of the already-resolved parent,
 * so a symlink planted in the image can neither redirect it outside nor be followed by the
 * create (mkdirat/openat O_EXCL do not follow a final symlink). Returns an O_PATH fd. */
int mkpath_in_root(int rootfd, const char *path, bool is_file, unsigned long long extra,
                   kl_error *err)
{
    _cleanup_free_ char *rel = clean_rel(path);
    if (rel[0] == '\0') {
        if (is_file)
            return kl_error_set(err, EINVAL, "'%s' is the container's root directory", path);
        return fcntl(rootfd, F_DUPFD_CLOEXEC, 3);
    }
    _cleanup_close_ int cur = fcntl(rootfd, F_DUPFD_CLOEXEC, 3);
    char *p = rel;
    for (;;) {
        char *slash = strchr(p, '/');
        bool last = slash == NULL;
        if (slash)
            *slash = '\0';
        int want_dir = !(last && is_file);
        int fd = openat2_in_root(rootfd, rel, O_PATH | (want_dir ? O_DIRECTORY : 0), extra);
        if (fd < 0 && errno == ENOENT) {
            if (want_dir) {
                if (mkdirat(cur, p, 0755) < 0 && errno != EEXIST)
                    return kl_error_errno(err, errno, "creating /%s in the container", rel);
            } else {
                int c = openat(cur, p, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC | O_NOFOLLOW, 0644);
                if (c < 0 && errno != EEXIST)
                    return kl_error_errno(err, errno, "creating /%s in the container", rel);
                if (c >= 0)
                    close(c);
            }
            fd = openat2_in_root(rootfd, rel, O_PATH | (want_dir ? O_DIRECTORY : 0), extra);
        }
        if (fd < 0)
            return kl_error_errno(err, errno, "resolving /%s in the container", rel);
        if (!want_dir) {
            struct stat st;
            if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
                close(fd);
                return kl_error_set(err, EINVAL, "/%s in the container is not a regular file", rel);
            }
        }
        close(cur);
        cur = fd;
        if (last)
            break;
        *slash = '/';
        p = slash + 1;
    }
    return steal_fd(&cur);
}

void fd_path(char buf[64], int fd, const char *sub)
{
    snprintf(buf, 64, "/proc/self/fd/%d%s%s", fd, sub ? "/" : "", sub ? sub : "");
}

/* Bind (a clone of) the mount tree at src_fd onto target (dirfd + name, or the fd itself when
 * name is NULL), with extra mount attributes, atomically: the attributes are set on the
 * detached copy before it becomes visible. */
int bind_fd(int src_fd, const char *src_name, int target_fd, const char *target_name,
            unsigned long long attrs, bool recursive, kl_error *err)
{
    unsigned int flags = OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | (recursive ? AT_RECURSIVE : 0);
    if (!src_name)
        flags |= AT_EMPTY_PATH;
    _cleanup_close_ int tree = open_tree(src_fd, src_name ? src_name : "", flags);
    if (tree < 0)
        return kl_error_errno(err, errno, "open_tree");
    if (attrs) {
        /* An access-time mode replaces the one the source has: the kernel wants the whole
         * field cleared with it. */
        struct mount_attr a = {.attr_set = attrs,
                               .attr_clr = (attrs & (MOUNT_ATTR_NOATIME | MOUNT_ATTR_STRICTATIME))
                                               ? MOUNT_ATTR__ATIME
                                               : 0};
        if (mount_setattr(tree, "", AT_EMPTY_PATH | (recursive ? AT_RECURSIVE : 0), &a, sizeof(a)) <
            0)
            return kl_error_errno(err, errno, "mount_setattr");
    }
    unsigned int mflags = MOVE_MOUNT_F_EMPTY_PATH | (target_name ? 0 : MOVE_MOUNT_T_EMPTY_PATH);
    if (move_mount(tree, "", target_fd, target_name ? target_name : "", mflags) < 0)
        return kl_error_errno(err, errno, "move_mount");
    return 0;
}

/* ---- the container's mount tree ------------------------------------------------------------ */

static const char *const dev_nodes[] = {"null", "zero", "full", "random", "urandom", "tty"};

static int setup_dev(int rootfd, bool own_ipc, kl_error *err)
{
    /* "dev" must be a real directory of the image: no symlink is followed for it. */
    _cleanup_close_ int under = mkpath_in_root(rootfd, "/dev", false, RESOLVE_NO_SYMLINKS, err);
    if (under < 0)
        return -1;
    char p[64];
    fd_path(p, under, NULL);
    if (mount("tmpfs", p, "tmpfs", MS_NOSUID | MS_NOEXEC, "mode=755,size=65536k") < 0)
        return kl_error_errno(err, errno, "mounting /dev");
    _cleanup_close_ int dev =
        openat2_in_root(rootfd, "dev", O_PATH | O_DIRECTORY, RESOLVE_NO_SYMLINKS);
    if (dev < 0)
        return kl_error_errno(err, errno, "opening /dev");
    _cleanup_close_ int hostdev = open("/dev", O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (hostdev < 0)
        return kl_error_errno(err, errno, "opening the host's /dev");
    for (size_t i = 0; i < KL_ARRAY_SIZE(dev_nodes); i++) {
        int c = openat(dev, dev_nodes[i], O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0666);
        if (c < 0)
            return kl_error_errno(err, errno, "creating /dev/%s", dev_nodes[i]);
        close(c);
        /* Safe: a fixed host device node onto a file we just created in our own tmpfs. */
        if (bind_fd(hostdev, dev_nodes[i], dev, dev_nodes[i], MOUNT_ATTR_NOSUID | MOUNT_ATTR_NOEXEC,
                    false, err) < 0)
            return kl_error_prefix(err, "binding /dev/%s", dev_nodes[i]);
    }
    if (mkdirat(dev, "pts", 0755) < 0 || mkdirat(dev, "shm", 01777) < 0)
        return kl_error_errno(err, errno, "creating /dev/pts, /dev/shm");
    fd_path(p, dev, "pts");
    if (mount("devpts", p, "devpts", MS_NOSUID | MS_NOEXEC,
              "newinstance,ptmxmode=0666,mode=0620,gid=5") < 0)
        return kl_error_errno(err, errno, "mounting /dev/pts");
    fd_path(p, dev, "shm");
    if (mount("shm", p, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=1777,size=65536k") < 0)
        return kl_error_errno(err, errno, "mounting /dev/shm");
    if (own_ipc) {
        if (mkdirat(dev, "mqueue", 0755) < 0)
            return kl_error_errno(err, errno, "creating /dev/mqueue");
        fd_path(p, dev, "mqueue");
        if (mount("mqueue", p, "mqueue", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
            return kl_error_errno(err, errno, "mounting /dev/mqueue");
    }
    static const char *const links[][2] = {
        {"pts/ptmx", "ptmx"},          {"/proc/self/fd", "fd"},       {"/proc/self/fd/0", "stdin"},
        {"/proc/self/fd/1", "stdout"}, {"/proc/self/fd/2", "stderr"}, {"/proc/kcore", "core"},
    };
    for (size_t i = 0; i < KL_ARRAY_SIZE(links); i++)
        if (symlinkat(links[i][0], dev, links[i][1]) < 0)
            return kl_error_errno(err, errno, "creating /dev/%s", links[i][1]);
    return 0;
}

/* Docker's masked and read-only paths. */
static const char *const masked_proc[] = {"asound",      "acpi",          "kcore",
                                          "keys",        "latency_stats", "timer_list",
                                          "timer_stats", "sched_debug",   "scsi"};
static const char *const masked_sys[] = {"firmware", "devices/virtual/powercap"};
static const char *const readonly_proc[] = {"bus", "fs", "irq", "sys", "sysrq-trigger"};

int mask_one(int dirfd, const char *name, int nullfd, kl_error *err)
{
    struct stat st;
    if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
        return errno == ENOENT ? 0 : kl_error_errno(err, errno, "stat %s", name);
    if (S_ISDIR(st.st_mode)) {
        char p[64 + 64];
        snprintf(p, sizeof(p), "/proc/self/fd/%d/%s", dirfd, name);
        if (mount("tmpfs", p, "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=0") < 0)
            return kl_error_errno(err, errno, "masking %s", name);
        return 0;
    }
    if (bind_fd(nullfd, NULL, dirfd, name, 0, false, err) < 0)
        return kl_error_prefix(err, "masking %s", name);
    return 0;
}

static int setup_proc_sys(int rootfd, int nullfd, kl_error *err)
{
    char p[64];
    {
        _cleanup_close_ int t = mkpath_in_root(rootfd, "/proc", false, RESOLVE_NO_SYMLINKS, err);
        if (t < 0)
            return -1;
        fd_path(p, t, NULL);
        /* Safe: the new pid namespace's own proc, on a directory resolved inside the root. */
        if (mount("proc", p, "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
            return kl_error_errno(err, errno, "mounting /proc");
    }
    {
        _cleanup_close_ int t = mkpath_in_root(rootfd, "/sys", false, RESOLVE_NO_SYMLINKS, err);
        if (t < 0)
            return -1;
        fd_path(p, t, NULL);
        if (mount("sysfs", p, "sysfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
            return kl_error_errno(err, errno, "mounting /sys");
    }
    _cleanup_close_ int proc =
        openat2_in_root(rootfd, "proc", O_PATH | O_DIRECTORY, RESOLVE_NO_SYMLINKS);
    _cleanup_close_ int sys =
        openat2_in_root(rootfd, "sys", O_PATH | O_DIRECTORY, RESOLVE_NO_SYMLINKS);
    if (proc < 0 || sys < 0)
        return kl_error_errno(err, errno, "opening /proc or /sys");
    for (size_t i = 0; i < KL_ARRAY_SIZE(readonly_proc); i++) {
        struct stat st;
        if (fstatat(proc, readonly_proc[i], &st, AT_SYMLINK_NOFOLLOW) < 0)
            continue;
        /* Safe: procfs entries of our own proc mount, made read-only in place. */
        if (bind_fd(proc, readonly_proc[i], proc, readonly_proc[i],
                    MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC,
                    true, err) < 0)
            return kl_error_prefix(err, "making /proc/%s read-only", readonly_proc[i]);
    }
    for (size_t i = 0; i < KL_ARRAY_SIZE(masked_proc); i++)
        if (mask_one(proc, masked_proc[i], nullfd, err) < 0)
            return kl_error_prefix(err, "/proc");
    for (size_t i = 0; i < KL_ARRAY_SIZE(masked_sys); i++)
        if (mask_one(sys, masked_sys[i], nullfd, err) < 0)
            return kl_error_prefix(err, "/sys");
    return 0;
}

int setup_user_mount(int rootfd, const host_mount *m, char *const *denied, kl_error *err)
{
    if (!m->source || m->source[0] != '/' || !m->destination || m->destination[0] != '/')
        return kl_error_set(err, EINVAL, "bind mount needs absolute source and destination");
    /* The source is a host path chosen by the (root-equivalent) API user, possibly through
     * symlinks others control: it is opened once (its symlinks followed once), that very
     * object is checked (not in kleened's own directories, bindsource.c) and mounted, so
     * neither its type nor its place can change in between. */
    _cleanup_close_ int src = open(m->source, O_PATH | O_CLOEXEC);
    if (src < 0)
        return kl_error_errno(err, errno, "bind mount source %s", m->source);
    struct stat st;
    if (fstat(src, &st) < 0)
        return kl_error_errno(err, errno, "bind mount source %s", m->source);
    if (!S_ISDIR(st.st_mode) && !S_ISREG(st.st_mode))
        return kl_error_set(err, EINVAL,
                            "bind mount source %s: could not determine source type, must be "
                            "either directory or regular file",
                            m->source);
    if (!m->source_is_ours && bindsource_check_fd(src, m->source, denied, err) < 0)
        return -1;
    _cleanup_close_ int dst = mkpath_in_root(rootfd, m->destination, S_ISREG(st.st_mode), 0, err);
    if (dst < 0)
        return -1;
    /* Where the destination really is, symlinks of the image followed inside the root: never
     * on the container's /proc or /sys, whose files control the kernel (runc refuses these
     * too); the destination's path was checked by the engine, this catches the links. */
    struct statfs sf;
    if (fstatfs(dst, &sf) < 0)
        return kl_error_errno(err, errno, "bind mount destination %s", m->destination);
    if (sf.f_type == PROC_SUPER_MAGIC || sf.f_type == SYSFS_MAGIC)
        return kl_error_set(err, EPERM,
                            "bind mount destination %s: it is on the container's %s, which "
                            "cannot be mounted over",
                            m->destination, sf.f_type == SYSFS_MAGIC ? "/sys" : "/proc");
    unsigned long long attrs = MOUNT_ATTR_NODEV | (m->read_only ? MOUNT_ATTR_RDONLY : 0);
    if (bind_fd(src, NULL, dst, NULL, attrs, true, err) < 0)
        return kl_error_prefix(err, "bind mount %s on %s", m->source, m->destination);
    return 0;
}

/* ---- an init as pid 1 (host_init_mode) ------------------------------------------------------ */

static int mount_tmpfs_at(int rootfd, const char *path, const char *opts, kl_error *err)
{
    _cleanup_close_ int t = mkpath_in_root(rootfd, path, false, 0, err);
    if (t < 0)
        return -1;
    char p[64];
    fd_path(p, t, NULL);
    /* Safe: a fresh tmpfs on a directory resolved inside the container's root. */
    if (mount("tmpfs", p, "tmpfs", MS_NOSUID | MS_NODEV, opts) < 0)
        return kl_error_errno(err, errno, "mounting a tmpfs on %s", path);
    return 0;
}

/* The container's own cgroups at /sys/fs/cgroup (cgroups_create made them with `every`, and
 * we are in its cgroup namespace, so each mount is rooted at the container's cgroup). */
int setup_cgroupfs(int rootfd, const cgroup_set *cg, kl_error *err)
{
    _cleanup_close_ int t =
        mkpath_in_root(rootfd, "/sys/fs/cgroup", false, RESOLVE_NO_SYMLINKS, err);
    if (t < 0)
        return -1;
    char p[64 + 256];
    fd_path(p, t, NULL);
    const unsigned long fl = MS_NOSUID | MS_NODEV | MS_NOEXEC;
    char fstype[16], opts[512];
    if (cg->mounts[0] && !cg->mounts[1] && strcmp(cg->mounts[0], "/sys/fs/cgroup") == 0) {
        /* The host's layout is cgroup2 alone: so is the container's. Safe: the cgroup2
         * filesystem rooted at our cgroup namespace, on a directory of our own sysfs. */
        if (mount("cgroup2", p, "cgroup2", fl, NULL) < 0)
            return kl_error_errno(err, errno, "mounting cgroup2 on /sys/fs/cgroup");
        return 0;
    }
    /* Safe: a tmpfs on the /sys/fs/cgroup directory of the container's own sysfs mount. */
    if (mount("tmpfs", p, "tmpfs", fl, "mode=755,size=64k") < 0)
        return kl_error_errno(err, errno, "mounting a tmpfs on /sys/fs/cgroup");
    _cleanup_close_ int dir =
        openat2_in_root(rootfd, "sys/fs/cgroup", O_PATH | O_DIRECTORY, RESOLVE_NO_SYMLINKS);
    if (dir < 0)
        return kl_error_errno(err, errno, "opening /sys/fs/cgroup");
    for (int i = 0; i < CGROUPS_MAX && cg->mounts[i]; i++) {
        const char *name = strrchr(cg->mounts[i], '/');
        name = name && name[1] ? name + 1 : "unified";
        if (cgroups_mount_options(cg->mounts[i], fstype, opts, sizeof(opts), err) < 0)
            return -1;
        if (mkdirat(dir, name, 0555) < 0 && errno != EEXIST)
            return kl_error_errno(err, errno, "creating /sys/fs/cgroup/%s", name);
        snprintf(p, sizeof(p), "/proc/self/fd/%d/%s", dir, name);
        /* Safe: a hierarchy the container has a cgroup of its own in (nothing of the host's
         * above it is reachable in its cgroup namespace), on a directory of our tmpfs. */
        if (mount(fstype, p, fstype, fl, opts[0] ? opts : NULL) < 0)
            return kl_error_errno(err, errno,
                                  "mounting the %s cgroup hierarchy on "
                                  "/sys/fs/cgroup/%s",
                                  opts[0] ? opts : fstype, name);
    }
    struct mount_attr a = {.attr_set = MOUNT_ATTR_RDONLY};
    if (mount_setattr(dir, "", AT_EMPTY_PATH, &a, sizeof(a)) < 0)
        return kl_error_errno(err, errno, "making /sys/fs/cgroup read-only");
    return 0;
}

/* 32 hex digits that stay the same for a container id (machine-id(5): not all zeros). */
static void machine_id_of(const char *id, char out[33])
{
    uint64_t h[2] = {0xcbf29ce484222325ULL, 0x84222325cbf29ce4ULL};
    for (int k = 0; k < 2; k++) {
        for (const char *c = id; *c; c++) {
            h[k] ^= (unsigned char)*c;
            h[k] *= 0x100000001b3ULL;
        }
        h[k] ^= (uint64_t)(k + 1);
        h[k] *= 0x100000001b3ULL;
    }
    snprintf(out, 33, "%016llx%016llx", (unsigned long long)h[0], (unsigned long long)h[1]);
    if (strspn(out, "0") == 32)
        out[31] = '1';
}

/* /etc/machine-id of the container's own root (its upper layer), so that an init finds the
 * same one at every start. A read-only or odd /etc (a symlink) is left as it is. */
static void write_machine_id(int rootfd, const char *id)
{
    struct open_how how = {.flags = O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW,
                           .mode = 0444,
                           .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_SYMLINKS};
    _cleanup_close_ int fd = kl_openat2(rootfd, "etc/machine-id", &how);
    if (fd < 0)
        return;
    char mid[34];
    machine_id_of(id, mid);
    mid[32] = '\n';
    (void)!write(fd, mid, 33);
}

static int setup_init(int rootfd, const host_container_spec *s, const cgroup_set *cg, kl_error *err)
{
    if (mount_tmpfs_at(rootfd, "/run", "mode=755,size=65536k", err) < 0 ||
        mount_tmpfs_at(rootfd, "/run/lock", "mode=1777,size=5120k", err) < 0 ||
        mount_tmpfs_at(rootfd, "/tmp", "mode=1777", err) < 0)
        return -1;
    if (setup_cgroupfs(rootfd, cg, err) < 0)
        return -1;
    write_machine_id(rootfd, s->id);
    return 0;
}

bool host_container_has_console(const host_container_spec *spec)
{
    return spec->init != HOST_INIT_NONE && !spec->no_devfs;
}

/* After pivot_root: the pty slave becomes /dev/console (a file of our /dev tmpfs). */
static int setup_console(int slave, bool raw, kl_error *err)
{
    int c = open("/dev/console", O_CREAT | O_WRONLY | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (c < 0 && errno != EEXIST)
        return kl_error_errno(err, errno, "creating /dev/console");
    if (c >= 0)
        close(c);
    char p[64];
    fd_path(p, slave, NULL);
    /* Safe: our own pty's slave onto a file of the /dev tmpfs we mounted. */
    if (mount(p, "/dev/console", NULL, MS_BIND, NULL) < 0)
        return kl_error_errno(err, errno, "binding the console");
    if (raw) {
        /* No tty was asked for: the console only feeds the log, byte for byte. */
        struct termios t;
        if (tcgetattr(slave, &t) == 0) {
            t.c_oflag &= ~(tcflag_t)OPOST;
            t.c_lflag &= ~(tcflag_t)(ECHO | ECHONL);
            tcsetattr(slave, TCSANOW, &t);
        }
    }
    return 0;
}

static const char *const init_paths[] = {"/sbin/init", "/usr/sbin/init", "/lib/systemd/systemd",
                                         "/usr/lib/systemd/systemd", "/bin/init"};

int host_init_mode_parse(const char *name, host_init_mode *out, kl_error *err)
{
    static const struct {
        const char *name;
        host_init_mode m;
    } modes[] = {{"none", HOST_INIT_NONE},
                 {"auto", HOST_INIT_AUTO},
                 {"plain", HOST_INIT_PLAIN},
                 {"systemd", HOST_INIT_SYSTEMD}};
    for (size_t i = 0; name && i < KL_ARRAY_SIZE(modes); i++)
        if (strcmp(name, modes[i].name) == 0) {
            *out = modes[i].m;
            return 0;
        }
    return kl_error_set(err, EINVAL, "invalid init mode '%.40s' (auto, systemd, plain or none)",
                        name ? name : "");
}

const char *host_init_mode_name(host_init_mode m)
{
    switch (m) {
    case HOST_INIT_AUTO:
        return "auto";
    case HOST_INIT_PLAIN:
        return "plain";
    case HOST_INIT_SYSTEMD:
        return "systemd";
    default:
        return "none";
    }
}

static bool same_file(int rootfd, const char *a, const struct stat *st)
{
    _cleanup_close_ int fd = openat2_in_root(rootfd, a, O_PATH, 0);
    struct stat o;
    return fd >= 0 && fstat(fd, &o) == 0 && o.st_ino == st->st_ino && o.st_dev == st->st_dev;
}

host_init_mode host_init_from_argv(char *const *argv, host_init_mode asked)
{
    if (asked != HOST_INIT_AUTO)
        return asked;
    for (size_t i = 0; argv && argv[0] && i < KL_ARRAY_SIZE(init_paths); i++)
        if (strcmp(argv[0], init_paths[i]) == 0)
            return HOST_INIT_AUTO;
    return HOST_INIT_NONE;
}

host_init_mode host_init_resolve(const char *rootfs, char *const *argv, host_init_mode asked)
{
    if (asked != HOST_INIT_AUTO)
        return asked;
    if (!rootfs || host_init_from_argv(argv, asked) == HOST_INIT_NONE)
        return HOST_INIT_NONE;
    _cleanup_close_ int rootfd = open(rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (rootfd < 0)
        return HOST_INIT_NONE;
    /* Symlinks are followed inside the root: /sbin/init → /lib/systemd/systemd is systemd. */
    _cleanup_close_ int fd = openat2_in_root(rootfd, argv[0] + 1, O_PATH, 0);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
        return HOST_INIT_NONE;
    if (same_file(rootfd, "lib/systemd/systemd", &st) ||
        same_file(rootfd, "usr/lib/systemd/systemd", &st))
        return HOST_INIT_SYSTEMD;
    return HOST_INIT_PLAIN;
}

int host_init_stop_signal(host_init_mode m)
{
    return m == HOST_INIT_SYSTEMD ? SIGRTMIN + 3 : SIGTERM;
}

int bring_up_lo(kl_error *err)
{
    _cleanup_close_ int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    struct ifreq ifr = {0};
    strcpy(ifr.ifr_name, "lo");
    if (s < 0 || ioctl(s, SIOCGIFFLAGS, &ifr) < 0)
        return kl_error_errno(err, errno, "loopback");
    ifr.ifr_flags |= IFF_UP;
    if (ioctl(s, SIOCSIFFLAGS, &ifr) < 0)
        return kl_error_errno(err, errno, "bringing up lo");
    return 0;
}

/* ---- the process that finally execs ---------------------------------------------------------- */

typedef struct exec_ctx {
    char *const *argv;
    char *const *env;
    const char *user;
    const char *cwd;
    bool login_env;
    bool tty;
    bool no_term; /* a console nobody asked a tty for: no TERM default */
    int tty_slave;
    int stdio[3];
    int nullfd;
    uint64_t caps;
    int sock;
} exec_ctx;

void exec_in_path(char *const *argv, char **env)
{
    const char *cmd = argv[0];
    if (strchr(cmd, '/')) {
        execve(cmd, argv, env);
        return;
    }
    const char *path = DEFAULT_PATH;
    for (char **e = env; *e; e++)
        if (strncmp(*e, "PATH=", 5) == 0)
            path = *e + 5;
    int saved = ENOENT;
    for (const char *p = path;;) {
        const char *c = strchr(p, ':');
        size_t n = c ? (size_t)(c - p) : strlen(p);
        char full[4096];
        if (n + strlen(cmd) + 2 < sizeof(full)) {
            snprintf(full, sizeof(full), "%.*s%s%s", (int)n, p, n ? "/" : "", cmd);
            execve(full, argv, env);
            if (errno != ENOENT && errno != ENOTDIR)
                saved = errno;
        }
        if (!c)
            break;
        p = c + 1;
    }
    errno = saved;
}

/* In the final child: stdio/tty, user, capabilities, environment, cwd, execve. Bounding set,
 * no_new_privs and seccomp are already in place (inherited or applied by the caller). */
static __attribute__((noreturn)) void finish_and_exec(const exec_ctx *x)
{
    kl_error e = KL_ERROR_INIT;
    if (setsid() < 0) {
        kl_error_errno(&e, errno, "setsid");
        child_fail(x->sock, &e);
    }
    if (x->tty) {
        if (ioctl(x->tty_slave, TIOCSCTTY, 0) < 0) {
            kl_error_errno(&e, errno, "setting the controlling terminal");
            child_fail(x->sock, &e);
        }
        for (int i = 0; i < 3; i++)
            dup2(x->tty_slave, i);
    } else {
        /* dup first to high numbers so that an fd already sitting on 0..2 is not lost */
        int tmp[3];
        for (int i = 0; i < 3; i++)
            tmp[i] = fcntl(x->stdio[i] >= 0 ? x->stdio[i] : x->nullfd, F_DUPFD_CLOEXEC, 10);
        for (int i = 0; i < 3; i++)
            if (tmp[i] < 0 || dup2(tmp[i], i) < 0) {
                kl_error_errno(&e, errno, "setting up stdio");
                child_fail(x->sock, &e);
            }
    }
    /* Everything else (the monitor's fds) is closed at execve. */
    syscall(SYS_close_range, 3U, ~0U, CLOSE_RANGE_CLOEXEC);

    _cleanup_close_ int rootfd = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
    userspec_result u;
    if (userspec_resolve_at(rootfd, x->user, &u, &e) < 0)
        child_fail(x->sock, &e);
    gid_t groups[USERSPEC_MAX_GROUPS];
    for (size_t i = 0; i < u.n_groups; i++)
        groups[i] = u.groups[i];
    if (setgroups(u.n_groups, groups) < 0 || setresgid(u.gid, u.gid, u.gid) < 0 ||
        setresuid(u.uid, u.uid, u.uid) < 0) {
        kl_error_errno(&e, errno, "switching to user %s (%u:%u)",
                       x->user && *x->user ? x->user : "root", u.uid, u.gid);
        child_fail(x->sock, &e);
    }
    if (caps_set_final(x->caps, u.uid == 0, &e) < 0)
        child_fail(x->sock, &e);

    char host[256] = "";
    gethostname(host, sizeof(host) - 1);
    char *defaults[8];
    size_t nd = 0;
    defaults[nd++] = xstrdup("PATH=" DEFAULT_PATH);
    defaults[nd++] = xasprintf("HOSTNAME=%s", host);
    defaults[nd++] = xasprintf("HOME=%s", u.home);
    if (x->tty && !x->no_term)
        defaults[nd++] = xstrdup("TERM=xterm");
    if (x->login_env && u.name[0]) {
        defaults[nd++] = xasprintf("USER=%s", u.name);
        defaults[nd++] = xasprintf("LOGNAME=%s", u.name);
        defaults[nd++] = xasprintf("SHELL=%s", u.shell);
    }
    defaults[nd] = NULL;
    char **env = host_env_merge(defaults, x->env);

    const char *cwd = x->cwd && *x->cwd ? x->cwd : "/";
    if (chdir(cwd) < 0) {
        kl_error_errno(&e, errno, "changing to the working directory %s", cwd);
        child_fail(x->sock, &e);
    }
    exec_in_path(x->argv, env);
    kl_error_errno(&e, errno, "executing %s", x->argv[0]);
    child_fail(x->sock, &e);
}

/* Bounding set, no_new_privs, seccomp: the part inherited by everything forked afterwards. */
static int confine(uint64_t caps, bool with_seccomp, kl_error *err)
{
    if (caps_limit_bounding(caps, err) < 0)
        return -1;
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
        return kl_error_errno(err, errno, "setting no_new_privs");
    if (with_seccomp && seccomp_load_default(err) < 0)
        return -1;
    return 0;
}

int open_pty(bool *ok, int *master, int *slave, unsigned short rows, unsigned short cols,
             kl_error *err)
{
    *master = open("/dev/pts/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (*master < 0)
        return kl_error_errno(err, errno, "opening /dev/pts/ptmx (a tty needs mount.devfs)");
    int unlock = 0;
    if (ioctl(*master, TIOCSPTLCK, &unlock) < 0)
        return kl_error_errno(err, errno, "unlocking the pty");
    *slave = ioctl(*master, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (*slave < 0)
        return kl_error_errno(err, errno, "opening the pty's peer");
    if (rows && cols) {
        struct winsize ws = {.ws_row = rows, .ws_col = cols};
        ioctl(*master, TIOCSWINSZ, &ws);
    }
    *ok = true;
    return 0;
}

/* ---- the reaper ------------------------------------------------------------------------------ */

static int status_to_code(int st)
{
    if (WIFEXITED(st))
        return WEXITSTATUS(st);
    if (WIFSIGNALED(st))
        return 128 + WTERMSIG(st);
    return 255;
}

/* Live pids of this pid namespace other than ours (we are 1), read from our own /proc. */
static size_t other_pids(int *pids, size_t max)
{
    _cleanup_closedir_ DIR *d = opendir("/proc");
    size_t n = 0;
    if (!d)
        return 0;
    struct dirent *de;
    while ((de = readdir(d)) && n < max) {
        char *end;
        long pid = strtol(de->d_name, &end, 10);
        if (*end || pid <= 1)
            continue;
        /* A zombie waiting for its parent outside (an exec'd process) is over already. */
        char p[64], st[512];
        snprintf(p, sizeof(p), "/proc/%ld/stat", pid);
        _cleanup_close_ int fd = open(p, O_RDONLY | O_CLOEXEC);
        ssize_t len = fd >= 0 ? read(fd, st, sizeof(st) - 1) : -1;
        if (len <= 0)
            continue;
        st[len] = '\0';
        char *rp = strrchr(st, ')');
        if (rp && rp[1] == ' ' && (rp[2] == 'Z' || rp[2] == 'X'))
            continue;
        pids[n++] = (int)pid;
    }
    return n;
}

/* The signals the reaper blocks and reads from its signalfd: every one that can be caught (not
 * KILL and STOP; glibc refuses its own 32 and 33 in a sigset). It uses SIGCHLD itself and
 * passes every other one on. A signal sent to pid 1 of a pid namespace from outside reaches it
 * only when it is handled or blocked, which is why they are all blocked. */
static void reaper_signals(sigset_t *mask)
{
    sigemptyset(mask);
    for (int sig = 1; sig <= SIGRTMAX; sig++)
        if (sig != SIGKILL && sig != SIGSTOP)
            (void)sigaddset(mask, sig);
}

static bool reaper_forwards(int sig)
{
    sigset_t m;
    reaper_signals(&m);
    return sig != SIGCHLD && sigismember(&m, sig) == 1;
}

static __attribute__((noreturn)) void reaper_loop(int main_pid, const sigset_t *mask)
{
    int sfd = signalfd(-1, mask, SFD_CLOEXEC | SFD_NONBLOCK);
    int main_status = -1;
    for (;;) {
        int st;
        pid_t pid;
        while ((pid = waitpid(-1, &st, WNOHANG)) > 0)
            if (pid == main_pid) {
                main_status = st;
                main_pid = 0;
            }
        struct pollfd pfd[65];
        size_t npfd = 0;
        pfd[npfd++] = (struct pollfd){.fd = sfd, .events = POLLIN};
        if (pid < 0 && errno == ECHILD) {
            /* No children left; processes that joined with exec have parents outside, so
             * look for them before ending the container. */
            int pids[64];
            size_t n = other_pids(pids, KL_ARRAY_SIZE(pids));
            if (n == 0)
                _exit(main_status < 0 ? 255 : status_to_code(main_status));
            for (size_t i = 0; i < n; i++) {
                int fd = (int)syscall(SYS_pidfd_open, pids[i], 0);
                if (fd >= 0)
                    pfd[npfd++] = (struct pollfd){.fd = fd, .events = POLLIN};
            }
            if (npfd == 1)
                continue; /* they all exited meanwhile */
        }
        poll(pfd, npfd, -1);
        for (size_t i = 1; i < npfd; i++)
            close(pfd[i].fd);
        if (pfd[0].revents & POLLIN) {
            struct signalfd_siginfo si;
            while (read(sfd, &si, sizeof(si)) == sizeof(si)) {
                int sig = (int)si.ssi_signo;
                if (sig == SIGCHLD)
                    continue;
                if (main_pid > 0)
                    kill(main_pid, sig);
                else
                    kill(-1, sig); /* every process of the namespace except us */
            }
        }
    }
}

/* ---- container start ------------------------------------------------------------------------- */

typedef struct start_ctx {
    const host_container_spec *spec; /* in the reaper: its own copy, init resolved */
    const cgroup_set *cg;
    int netns_fd;
    int sock;
    uint64_t caps;
} start_ctx;

/* A negative value (kleened's OOM protection, e.g. OOMScoreAdjust= of its unit) back to 0;
 * raising it needs no privilege. Most starts read "0" and write nothing. */
static int reset_oom_score_adj(kl_error *err)
{
    _cleanup_close_ int fd = open("/proc/self/oom_score_adj", O_RDWR | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? 0 : kl_error_errno(err, errno, "opening oom_score_adj");
    char v[16];
    ssize_t n = read(fd, v, sizeof(v) - 1);
    if (n <= 0 || v[0] != '-')
        return 0;
    if (pwrite(fd, "0", 1, 0) != 1)
        return kl_error_errno(err, errno, "resetting oom_score_adj");
    return 0;
}

/* s: the reaper's copy of c->spec, whose init mode is resolved here once the root is there. */
static int reaper_setup(const start_ctx *c, host_container_spec *s, int *nullfd_out, kl_error *err)
{
    if (cgroups_enter(c->cg, err) < 0)
        return -1;
    if (unshare(CLONE_NEWCGROUP) < 0)
        return kl_error_errno(err, errno, "creating the cgroup namespace");
    if (s->netns == HOST_NETNS_PATH && setns(c->netns_fd, CLONE_NEWNET) < 0)
        return kl_error_errno(err, errno, "joining network namespace %s", s->netns_path);
    if (s->netns == HOST_NETNS_NEW && bring_up_lo(err) < 0)
        return -1;
    const char *h = s->hostname && *s->hostname ? s->hostname : s->id;
    if (sethostname(h, strlen(h)) < 0)
        return kl_error_errno(err, errno, "setting the hostname");

    /* Nothing we mount may propagate back to the host. */
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
        return kl_error_errno(err, errno, "making / private");
    /* The overlay of the container's layers, in this mount namespace only: when its last
     * process is gone, the namespace and the overlay go with it, whatever happened to kleened
     * or the monitor. Safe: the layer, upper and work paths come from the engine (its own
     * storage root), never from a user. */
    if (s->rootfs_layers) {
        size_t n = 0;
        while (s->rootfs_layers[n])
            n++;
        if (host_rootfs_mount((const char *const *)s->rootfs_layers, n, s->rootfs_upper,
                              s->rootfs_work, s->rootfs, err) < 0)
            return -1;
    }
    /* The root bound onto itself: a mount of its own for pivot_root, without devices. */
    if (bind_fd(AT_FDCWD, s->rootfs, AT_FDCWD, s->rootfs, MOUNT_ATTR_NODEV, true, err) < 0)
        return kl_error_prefix(err, "binding the root %s", s->rootfs);
    _cleanup_close_ int rootfd = open(s->rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (rootfd < 0)
        return kl_error_errno(err, errno, "opening the root %s", s->rootfs);
    /* Init mode auto looks at the command in the root, which only this namespace has; the
     * caller learns the result (its stop signal, whether pid 1 is the command). */
    if (s->init == HOST_INIT_AUTO) {
        s->init = host_init_resolve(s->rootfs, s->argv, s->init);
        send_msg(c->sock, MSG_INIT, (int)s->init, NULL, -1);
    }
    /* In the image's root, before anything is mounted on it (Docker's habit). */
    if (s->make_cwd && s->cwd && *s->cwd) {
        int fd = mkpath_in_root(rootfd, s->cwd, false, 0, err);
        if (fd < 0)
            return kl_error_prefix(err, "working directory");
        close(fd);
    }
    int nullfd = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (nullfd < 0)
        return kl_error_errno(err, errno, "opening /dev/null");
    *nullfd_out = nullfd;
    if (setup_proc_sys(rootfd, nullfd, err) < 0)
        return -1;
    if (!s->no_devfs && setup_dev(rootfd, !s->share_ipc, err) < 0)
        return -1;
    if (s->init != HOST_INIT_NONE && setup_init(rootfd, s, c->cg, err) < 0)
        return -1;
    for (size_t i = 0; i < s->n_mounts; i++)
        if (setup_user_mount(rootfd, &s->mounts[i], s->denied_sources, err) < 0)
            return -1;

    /* pivot_root(".", "."): the old root ends up stacked on the new one and is detached. */
    if (fchdir(rootfd) < 0)
        return kl_error_errno(err, errno, "entering the root");
    if (syscall(SYS_pivot_root, ".", ".") < 0)
        return kl_error_errno(err, errno, "pivot_root");
    if (umount2(".", MNT_DETACH) < 0)
        return kl_error_errno(err, errno, "detaching the old root");
    if (chdir("/") < 0)
        return kl_error_errno(err, errno, "chdir /");

    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    if (s->limits.nofile > 0) {
        rlim_t v = (rlim_t)s->limits.nofile;
        if (v > rl.rlim_max)
            v = rl.rlim_max; /* never above the inherited hard limit (HOST-FACTS §4) */
        rl.rlim_cur = rl.rlim_max = v;
        if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
            return kl_error_errno(err, errno, "setting RLIMIT_NOFILE");
    } else if (rl.rlim_cur > CONTAINER_NOFILE_SOFT) {
        /* A soft limit kleened raised for itself is not the container's: the usual 1024
         * (select() breaks above it, and some programs close every possible fd at start);
         * the hard limit stays, for programs that raise their own. */
        rl.rlim_cur = CONTAINER_NOFILE_SOFT;
        if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
            return kl_error_errno(err, errno, "setting RLIMIT_NOFILE");
    }
    /* kleened's OOM protection is not the container's. */
    if (reset_oom_score_adj(err) < 0)
        return -1;
    return 0;
}

/* The container's command, as a child of the reaper; returns its pid (or -1, errno set).
 *
 * vfork: the reaper is single-threaded and waits for the command to exec, so the command can
 * borrow its memory until execve instead of copying the whole address space (a fork of
 * kleened's, so copying it costs about half a millisecond per start). The child changes only
 * per-task state (credentials, fds, signal mask, seccomp is already inherited) and memory the
 * reaper never looks at again (its own allocations), and finish_and_exec never returns. */
static __attribute__((noinline)) pid_t spawn_command(const exec_ctx *x, const sigset_t *old)
{
    pid_t pid = vfork();
    if (pid == 0) {
        sigprocmask(SIG_SETMASK, old, NULL);
        finish_and_exec(x);
    }
    return pid;
}

/* An init as the container's pid 1: this process, set up and confined like the reaper, becomes
 * the command itself (its console on a pty, container=kleene in its environment). */
static __attribute__((noreturn)) void init_exec(const start_ctx *c, int nullfd, int slave)
{
    const host_container_spec *s = c->spec;
    char *const ours[] = {"container=kleene", NULL};
    char **env = host_env_merge(s->env, ours);
    exec_ctx x = {.argv = s->argv,
                  .env = env,
                  .user = s->user,
                  .cwd = s->cwd,
                  .login_env = s->login_env,
                  .tty = slave >= 0,
                  .no_term = !s->tty,
                  .tty_slave = slave,
                  .stdio = {s->stdin_fd, s->stdout_fd, s->stderr_fd},
                  .nullfd = nullfd,
                  .caps = c->caps,
                  .sock = c->sock};
    finish_and_exec(&x);
}

static __attribute__((noreturn)) void reaper_main(const start_ctx *caller)
{
    host_container_spec own = *caller->spec;
    start_ctx ctx = *caller;
    ctx.spec = &own;
    const start_ctx *c = &ctx;
    const host_container_spec *s = &own;
    kl_error e = KL_ERROR_INIT;
    int nullfd = -1;
    if (reaper_setup(c, &own, &nullfd, &e) < 0)
        child_fail(c->sock, &e);
    bool have_pty = false;
    int master = -1, slave = -1;
    if (s->tty || host_container_has_console(s)) {
        if (open_pty(&have_pty, &master, &slave, s->tty_rows, s->tty_cols, &e) < 0)
            child_fail(c->sock, &e);
        send_msg(c->sock, MSG_PTY, 0, NULL, master);
        close(master);
    }
    /* Before the seccomp filter, which refuses mount(2). */
    if (host_container_has_console(s) && setup_console(slave, !s->tty, &e) < 0)
        child_fail(c->sock, &e);
    if (confine(c->caps, !s->no_seccomp, &e) < 0)
        child_fail(c->sock, &e);
    if (s->init != HOST_INIT_NONE)
        init_exec(c, nullfd, slave);

    sigset_t mask;
    reaper_signals(&mask);
    sigset_t old;
    sigprocmask(SIG_BLOCK, &mask, &old);

    exec_ctx x = {.argv = s->argv,
                  .env = s->env,
                  .user = s->user,
                  .cwd = s->cwd,
                  .login_env = s->login_env,
                  .tty = s->tty,
                  .tty_slave = slave,
                  .stdio = {s->stdin_fd, s->stdout_fd, s->stderr_fd},
                  .nullfd = nullfd,
                  .caps = c->caps,
                  .sock = c->sock};
    /* Named before the command runs: with vfork the command may look at pid 1 before the
     * reaper is scheduled again. */
    prctl(PR_SET_NAME, "kleene-init", 0, 0, 0);
    pid_t pid = spawn_command(&x, &old);
    if (pid < 0) {
        kl_error_errno(&e, errno, "forking the command");
        child_fail(c->sock, &e);
    }
    /* The caller's handle on the main process, for the signals we cannot pass on (STOP): a
     * pidfd names this very process, never a later one with its pid. Our child is not reaped
     * before we reap it, so the pid is still its own here. */
    int main_pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
    if (main_pidfd >= 0) {
        send_msg(c->sock, MSG_PID, (int)pid, NULL, main_pidfd);
        close(main_pidfd);
    }
    /* The reaper keeps nothing of the caller's: no stdio, no fds (the error socket included,
     * so that the caller sees EOF once the command has exec'd). */
    for (int i = 0; i < 3; i++)
        dup2(nullfd, i);
    syscall(SYS_close_range, 3U, ~0U, 0U);
    /* From here on the reaper is as weak as the container's root. */
    caps_set_final(c->caps, true, &e);
    reaper_loop(pid, &mask);
}

void process_init(host_process *out)
{
    out->pid = -1;
    out->pty_fd = -1;
    out->init = HOST_INIT_NONE;
    out->priv = xcalloc(1, sizeof(*out->priv));
    out->priv->pidfd = -1;
    out->priv->main_pidfd = -1;
    for (int i = 0; i < CGROUPS_MAX; i++)
        out->priv->cg.procs_fds[i] = -1;
}

/* Collect the children's messages until EOF (success) or an error message. */
static int collect(int sock, host_process *out, int *pid_out, int *pidfd_out, kl_error *err)
{
    for (;;) {
        child_msg m;
        int fd;
        int r = recv_msg(sock, &m, &fd);
        if (r < 0)
            return kl_error_errno(err, errno, "reading from the container's setup");
        if (r == 0)
            return 0;
        if (m.type == MSG_ERROR) {
            if (fd >= 0)
                close(fd);
            return kl_error_set(err, EIO, "%s", m.text);
        }
        if (m.type == MSG_INIT && m.pid >= HOST_INIT_NONE && m.pid <= HOST_INIT_SYSTEMD)
            out->init = (host_init_mode)m.pid;
        if (m.type == MSG_PTY && fd >= 0)
            out->pty_fd = fd;
        else if (m.type == MSG_PID && fd >= 0) {
            *pid_out = m.pid;
            *pidfd_out = fd;
        } else if (fd >= 0)
            close(fd);
    }
}

int wait_pidfd(int pidfd, int timeout_ms, int *code, kl_error *err)
{
    struct pollfd p = {.fd = pidfd, .events = POLLIN};
    int r = (int)KL_RETRY_EINTR(poll(&p, 1, timeout_ms));
    if (r < 0)
        return kl_error_errno(err, errno, "waiting for a process");
    if (r == 0)
        return 0;
    siginfo_t si = {0};
    if (KL_RETRY_EINTR(waitid(P_PIDFD, (id_t)pidfd, &si, WEXITED)) < 0)
        return kl_error_errno(err, errno, "reaping a process");
    *code = si.si_code == CLD_EXITED ? si.si_status : 128 + si.si_status;
    return 1;
}

int host_container_start(const host_container_spec *spec, host_process *out, kl_error *err)
{
    if (spec->full)
        return full_container_start(spec, out, err);
    process_init(out);
    if (!spec->id || !*spec->id || !spec->rootfs || spec->rootfs[0] != '/' || !spec->argv ||
        !spec->argv[0])
        return kl_error_set(err, EINVAL, "container spec needs an id, an absolute rootfs and argv");
    if (spec->netns == HOST_NETNS_PATH && !spec->netns_path)
        return kl_error_set(err, EINVAL, "container spec: netns path missing");
    uint64_t caps;
    if (caps_compute(spec->cap_add, spec->cap_drop, spec->no_raw_sockets, &caps, err) < 0)
        return kl_error_prefix(err, "container %s", spec->id);

    _cleanup_close_ int netns_fd = -1;
    if (spec->netns == HOST_NETNS_PATH) {
        netns_fd = open(spec->netns_path, O_RDONLY | O_CLOEXEC);
        if (netns_fd < 0)
            return kl_error_errno(err, errno, "container %s: network namespace %s", spec->id,
                                  spec->netns_path);
    }
    out->priv->is_container = true;
    /* AUTO with an init path counts as an init until the reaper has looked (an init path
     * that turns out to be no file fails to execute anyway). */
    out->init = host_init_from_argv(spec->argv, spec->init);
    if (cgroups_create(spec->id, &spec->limits, out->init != HOST_INIT_NONE, &out->priv->cg, err) <
        0)
        return kl_error_prefix(err, "container %s", spec->id);

    int sv[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
        cgroups_release(&out->priv->cg, true);
        return kl_error_errno(err, errno, "container %s: socketpair", spec->id);
    }
    _cleanup_close_ int parent_sock = sv[0];
    start_ctx c = {
        .spec = spec, .cg = &out->priv->cg, .netns_fd = netns_fd, .sock = sv[1], .caps = caps};

    unsigned long long flags = CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWUTS | CLONE_PIDFD;
    if (!spec->share_ipc)
        flags |= CLONE_NEWIPC;
    if (spec->netns == HOST_NETNS_NEW)
        flags |= CLONE_NEWNET;
    int pidfd = -1;
    struct clone_args ca = {
        .flags = flags, .pidfd = (unsigned long long)(uintptr_t)&pidfd, .exit_signal = SIGCHLD};
    long pid = syscall(SYS_clone3, &ca, sizeof(ca));
    if (pid == 0) {
        close(parent_sock);
        reaper_main(&c);
    }
    close(sv[1]);
    if (pid < 0) {
        cgroups_release(&out->priv->cg, true);
        return kl_error_errno(err, errno, "container %s: clone3", spec->id);
    }
    out->pid = (int)pid;
    out->priv->pidfd = pidfd;
    /* The child joined the cgroups: we no longer need the procs fds. */
    for (int i = 0; i < CGROUPS_MAX; i++) {
        if (out->priv->cg.procs_fds[i] >= 0)
            close(out->priv->cg.procs_fds[i]);
        out->priv->cg.procs_fds[i] = -1;
    }
    int main_pid = -1, main_pidfd = -1;
    int r = collect(parent_sock, out, &main_pid, &main_pidfd, err);
    out->priv->main_pidfd = main_pidfd;
    if (r < 0) {
        int code;
        kl_error ignored = KL_ERROR_INIT;
        host_process_wait(out, -1, &code, &ignored);
        return -1; /* the caller names the container (engine/exec.c) */
    }
    return 0;
}

/* ---- exec into a running container ----------------------------------------------------------- */

/* CapBnd (hex) and Seccomp mode of a process, from /proc/<pid>/status. */
static int read_confinement(int pid, uint64_t *capbnd, bool *seccomp, kl_error *err)
{
    char p[64];
    snprintf(p, sizeof(p), "/proc/%d/status", pid);
    _cleanup_fclose_ FILE *f = fopen(p, "re");
    if (!f)
        return kl_error_errno(err, errno, "container process %d", pid);
    char line[256];
    bool got = false;
    *seccomp = false;
    while (fgets(line, sizeof(line), f)) {
        if (strncmp(line, "CapBnd:", 7) == 0) {
            *capbnd = strtoull(line + 7, NULL, 16);
            got = true;
        } else if (strncmp(line, "Seccomp:", 8) == 0) {
            *seccomp = atoi(line + 8) != 0;
        }
    }
    if (!got)
        return kl_error_set(err, EIO, "container process %d: no CapBnd", pid);
    return 0;
}

static const struct {
    const char *name;
    int type;
} ns_order[] = {
    {"user", CLONE_NEWUSER}, {"ipc", CLONE_NEWIPC}, {"uts", CLONE_NEWUTS},
    {"net", CLONE_NEWNET},   {"pid", CLONE_NEWPID}, {"cgroup", CLONE_NEWCGROUP},
    {"mnt", CLONE_NEWNS},
};

typedef struct join_ctx {
    const host_exec_spec *spec;
    int nsfd[7];
    int rootfd;
    cgroup_set cg;
    uint64_t caps;
    bool seccomp;
    int sock;
    struct rlimit rlim[RLIM_NLIMITS]; /* the reaper's */
    bool has_rlim[RLIM_NLIMITS];
} join_ctx;

static __attribute__((noreturn)) void exec_middle(join_ctx *j)
{
    const host_exec_spec *s = j->spec;
    kl_error e = KL_ERROR_INIT;
    /* The container's resource limits, not the monitor's (which are kleened's); a full exec
     * sets its own (full_exec_prepare). */
    for (int i = 0; i < RLIM_NLIMITS && !s->full; i++)
        if (j->has_rlim[i] && setrlimit((__rlimit_resource_t)i, &j->rlim[i]) < 0) {
            kl_error_errno(&e, errno, "setting resource limit %d", i);
            child_fail(j->sock, &e);
        }
    if (s->full ? full_exec_prepare(s->full, &e) < 0 : reset_oom_score_adj(&e) < 0)
        child_fail(j->sock, &e);
    if (cgroups_enter(&j->cg, &e) < 0)
        child_fail(j->sock, &e);
    for (size_t i = 0; i < KL_ARRAY_SIZE(ns_order); i++)
        if (j->nsfd[i] >= 0 && setns(j->nsfd[i], ns_order[i].type) < 0) {
            kl_error_errno(&e, errno, "joining the container's %s namespace", ns_order[i].name);
            child_fail(j->sock, &e);
        }
    if (fchdir(j->rootfd) < 0 || chroot(".") < 0 || chdir("/") < 0) {
        kl_error_errno(&e, errno, "entering the container's root");
        child_fail(j->sock, &e);
    }
    /* The pid namespace applies to children only; CLONE_PARENT makes the exec'd process a
     * child of the caller, so it can be waited for like any other. */
    int pidfd = -1;
    struct clone_args ca = {.flags = CLONE_PARENT | CLONE_PIDFD,
                            .pidfd = (unsigned long long)(uintptr_t)&pidfd};
    long pid = syscall(SYS_clone3, &ca, sizeof(ca));
    if (pid < 0) {
        kl_error_errno(&e, errno, "forking into the container");
        child_fail(j->sock, &e);
    }
    if (pid > 0) {
        send_msg(j->sock, MSG_PID, (int)pid, NULL, pidfd);
        _exit(0);
    }
    if (s->full)
        full_exec_child(s, j->sock);
    bool have_pty = false;
    int master = -1, slave = -1;
    if (s->tty) {
        if (open_pty(&have_pty, &master, &slave, s->tty_rows, s->tty_cols, &e) < 0)
            child_fail(j->sock, &e);
        send_msg(j->sock, MSG_PTY, 0, NULL, master);
        close(master);
    }
    if (confine(j->caps, j->seccomp, &e) < 0)
        child_fail(j->sock, &e);
    int nullfd = open("/dev/null", O_RDWR | O_CLOEXEC);
    exec_ctx x = {.argv = s->argv,
                  .env = s->env,
                  .user = s->user,
                  .cwd = s->cwd,
                  .login_env = s->login_env,
                  .tty = s->tty,
                  .tty_slave = slave,
                  .stdio = {s->stdin_fd, s->stdout_fd, s->stderr_fd},
                  .nullfd = nullfd,
                  .caps = j->caps,
                  .sock = j->sock};
    if (nullfd < 0 && (s->stdin_fd < 0 || s->stdout_fd < 0 || s->stderr_fd < 0) && !s->tty) {
        kl_error_errno(&e, errno, "opening /dev/null in the container");
        child_fail(j->sock, &e);
    }
    finish_and_exec(&x);
}

static void join_ctx_close(join_ctx *j)
{
    for (size_t i = 0; i < KL_ARRAY_SIZE(j->nsfd); i++)
        if (j->nsfd[i] >= 0)
            close(j->nsfd[i]);
    if (j->rootfd >= 0)
        close(j->rootfd);
    cgroups_release(&j->cg, false);
}

int host_exec_start(const host_exec_spec *spec, host_process *out, kl_error *err)
{
    process_init(out);
    if (spec->container_pid <= 0 || !spec->argv || !spec->argv[0])
        return kl_error_set(err, EINVAL, "exec spec needs a container pid and argv");
    _cleanup_(join_ctx_close) join_ctx j = {.spec = spec, .rootfd = -1};
    for (size_t i = 0; i < KL_ARRAY_SIZE(j.nsfd); i++)
        j.nsfd[i] = -1;
    for (int i = 0; i < CGROUPS_MAX; i++)
        j.cg.procs_fds[i] = -1;
    char p[128];
    int pid = spec->container_pid;
    if (!spec->full && read_confinement(pid, &j.caps, &j.seccomp, err) < 0)
        return -1;
    for (int i = 0; i < RLIM_NLIMITS; i++)
        j.has_rlim[i] = prlimit(pid, (__rlimit_resource_t)i, NULL, &j.rlim[i]) == 0;
    for (size_t i = 0; i < KL_ARRAY_SIZE(ns_order); i++) {
        snprintf(p, sizeof(p), "/proc/%d/ns/%s", pid, ns_order[i].name);
        struct stat theirs, ours;
        char own[64];
        snprintf(own, sizeof(own), "/proc/self/ns/%s", ns_order[i].name);
        if (stat(p, &theirs) == 0 && stat(own, &ours) == 0 && theirs.st_ino == ours.st_ino &&
            theirs.st_dev == ours.st_dev)
            continue; /* shared with us (host network, host IPC) */
        j.nsfd[i] = open(p, O_RDONLY | O_CLOEXEC);
        if (j.nsfd[i] < 0)
            return kl_error_errno(err, errno, "exec: opening %s", p);
    }
    snprintf(p, sizeof(p), "/proc/%d/root", pid);
    j.rootfd = open(p, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (j.rootfd < 0)
        return kl_error_errno(err, errno, "exec: opening %s", p);
    if ((spec->full ? cgroups_open_all_of_pid(pid, &j.cg, err)
                    : cgroups_open_of_pid(pid, &j.cg, err)) < 0)
        return -1;
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
        return kl_error_errno(err, errno, "exec: socketpair");
    _cleanup_close_ int parent_sock = sv[0];
    _cleanup_close_ int child_sock = sv[1];
    j.sock = child_sock;
    pid_t middle = fork();
    if (middle < 0)
        return kl_error_errno(err, errno, "exec: fork");
    if (middle == 0) {
        close(parent_sock);
        exec_middle(&j);
    }
    close(steal_fd(&child_sock));
    int xpid = -1, xpidfd = -1;
    int r = collect(parent_sock, out, &xpid, &xpidfd, err);
    int st;
    KL_RETRY_EINTR(waitpid(middle, &st, 0));
    out->pid = xpid;
    out->priv->pidfd = xpidfd;
    if (r < 0) {
        if (xpidfd >= 0) {
            int code;
            kl_error ignored = KL_ERROR_INIT;
            host_process_wait(out, -1, &code, &ignored);
        }
        return kl_error_prefix(err, "exec in container (pid %d)", pid);
    }
    if (xpidfd < 0)
        return kl_error_set(err, EIO, "exec in container (pid %d): no process was started", pid);
    return 0;
}

/* ---- signals, waiting ------------------------------------------------------------------------ */

int host_container_signal_all(const host_process *ctr, int sig, kl_error *err)
{
    if (!ctr->priv || ctr->priv->pidfd < 0)
        return kl_error_set(err, ESRCH, "container is not running");
    if (sig == SIGKILL) {
        /* pid 1 of a pid namespace dying takes every process of it along. */
        if (syscall(SYS_pidfd_send_signal, ctr->priv->pidfd, SIGKILL, NULL, 0) < 0 &&
            errno != ESRCH)
            return kl_error_errno(err, errno, "killing container (pid %d)", ctr->pid);
        return 0;
    }
    char p[64];
    snprintf(p, sizeof(p), "/proc/%d/ns/pid", ctr->pid);
    struct stat ns;
    if (stat(p, &ns) < 0)
        return kl_error_errno(err, errno, "container (pid %d)", ctr->pid);
    _cleanup_closedir_ DIR *d = opendir("/proc");
    if (!d)
        return kl_error_errno(err, errno, "listing /proc");
    struct dirent *de;
    while ((de = readdir(d))) {
        char *end;
        long pid = strtol(de->d_name, &end, 10);
        if (*end || pid <= 0 || pid == ctr->pid)
            continue;
        /* The pidfd first, the namespace after: the pidfd holds the process it was opened
         * on, so if the pid was free and taken again meanwhile, either the check sees a
         * stranger or the pidfd names a process that is gone (ESRCH): never a stranger
         * signalled for the container's. */
        _cleanup_close_ int fd = (int)syscall(SYS_pidfd_open, (pid_t)pid, 0);
        if (fd < 0)
            continue;
        struct stat st;
        snprintf(p, sizeof(p), "/proc/%ld/ns/pid", pid);
        if (stat(p, &st) == 0 && st.st_ino == ns.st_ino && st.st_dev == ns.st_dev)
            syscall(SYS_pidfd_send_signal, fd, sig, NULL, 0);
    }
    return 0;
}

/* Whether the process of a pidfd has ended (it may not be reaped yet). */
static bool pidfd_has_ended(int pidfd)
{
    struct pollfd pf = {.fd = pidfd, .events = POLLIN};
    return KL_RETRY_EINTR(poll(&pf, 1, 0)) == 1;
}

int host_container_signal_main(const host_process *ctr, int sig, kl_error *err)
{
    if (!ctr->priv || ctr->priv->pidfd < 0)
        return kl_error_set(err, ESRCH, "container is not running");
    if (ctr->init != HOST_INIT_NONE || sig == SIGKILL || reaper_forwards(sig)) {
        /* An init is pid 1 itself and gets what it handles; the reaper passes the rest on. */
        if (syscall(SYS_pidfd_send_signal, ctr->priv->pidfd, sig, NULL, 0) < 0)
            return kl_error_errno(err, errno, "signalling the container (pid %d)", ctr->pid);
        return 0;
    }
    int fd = ctr->priv->main_pidfd;
    if (fd < 0)
        return kl_error_set(err, ENOTSUP, "signal %d: no handle on the container's main process",
                            sig);
    /* A zombie takes a signal without a word: once the main process has ended, the others
     * get it, as the reaper does for what it passes on. */
    if (!pidfd_has_ended(fd)) {
        if (syscall(SYS_pidfd_send_signal, fd, sig, NULL, 0) == 0)
            return 0;
        if (errno != ESRCH)
            return kl_error_errno(err, errno, "signalling the container's main process");
    }
    return host_container_signal_all(ctr, sig, err);
}

int host_process_wait(host_process *p, int timeout_ms, int *exit_code, kl_error *err)
{
    if (!p->priv || p->priv->pidfd < 0)
        return kl_error_set(err, ESRCH, "no process to wait for");
    int r = wait_pidfd(p->priv->pidfd, timeout_ms, exit_code, err);
    if (r <= 0)
        return r;
    close(p->priv->pidfd);
    p->priv->pidfd = -1;
    if (p->priv->main_pidfd >= 0)
        close(p->priv->main_pidfd);
    p->priv->main_pidfd = -1;
    if (p->priv->is_container)
        cgroups_release(&p->priv->cg, true);
    return 1;
}

int host_container_stop(host_process *ctr, int grace_ms, int *exit_code, kl_error *err)
{
    if (host_container_signal_all(ctr, SIGTERM, err) < 0)
        return -1;
    int r = host_process_wait(ctr, grace_ms, exit_code, err);
    if (r != 0)
        return r < 0 ? -1 : 0;
    if (host_container_signal_all(ctr, SIGKILL, err) < 0)
        return -1;
    return host_process_wait(ctr, -1, exit_code, err) < 0 ? -1 : 0;
}

void host_process_release(host_process *p)
{
    if (p->pty_fd >= 0)
        close(p->pty_fd);
    p->pty_fd = -1;
    if (p->priv) {
        if (p->priv->pidfd >= 0)
            close(p->priv->pidfd);
        if (p->priv->main_pidfd >= 0)
            close(p->priv->main_pidfd);
        cgroups_release(&p->priv->cg, false);
        free(p->priv);
        p->priv = NULL;
    }
}

int host_pty_resize(int pty_fd, unsigned short rows, unsigned short cols, kl_error *err)
{
    struct winsize ws = {.ws_row = rows, .ws_col = cols};
    if (ioctl(pty_fd, TIOCSWINSZ, &ws) < 0)
        return kl_error_errno(err, errno, "resizing the pty");
    return 0;
}
