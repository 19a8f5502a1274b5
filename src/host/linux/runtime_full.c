/* Containers described in full (host_full_spec in host/runtime.h): what an OCI bundle's
 * config.json says, set up by the same core as kleened's containers (runtime.c's path
 * resolution inside the root, bind and mask helpers, the message socket, cgroups.c, caps.c),
 * without its defaults.
 *
 * The caller (kleene-runtime) clone3()s the container's process into the new namespaces; the
 * process waits for the caller's go (its cgroups joined, its id maps written), joins the
 * namespaces given by path, sets hostname, sysctls, rlimits, builds the mount tree in order,
 * creates the devices, runs the createContainer hooks, pivot_root()s, masks and makes paths
 * read-only, opens the console, reports ready and waits on the start gate (a FIFO: opening it
 * for writing blocks until `start` opens it for reading). Then the startContainer hooks, the
 * confinement (bounding set, seccomp, user, capabilities) and execve: the command is pid 1.
 *
 * Every container path is resolved inside the root (openat2 RESOLVE_IN_ROOT, runtime.c), and
 * mounts target the resulting fds; bind sources are host paths the bundle's owner (root, who
 * runs the runtime) chose.
 *
 * It must not: keep anything of the caller open in the container (every fd not asked for is
 * closed at once: a lock the caller holds must not outlive it in the container's process). */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/filter.h>
#include <linux/magic.h>
#include <linux/openat2.h>
#include <linux/sched.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "host/linux/internal.h"
#include "host/linux/mountopts.h"
#include "host/linux/userspec.h"
#include "lib/cleanup.h"
#include "lib/xalloc.h"

#define STATE_MSG_MAX 65536

static const struct {
    const char *name;
    int flag;
    const char *proc;
} ns_kinds[] = {
    {"user", CLONE_NEWUSER, "user"}, {"ipc", CLONE_NEWIPC, "ipc"},
    {"uts", CLONE_NEWUTS, "uts"},    {"network", CLONE_NEWNET, "net"},
    {"pid", CLONE_NEWPID, "pid"},    {"cgroup", CLONE_NEWCGROUP, "cgroup"},
    {"mount", CLONE_NEWNS, "mnt"},
};
#define NS_KINDS 7

typedef struct full_ctx {
    const host_container_spec *spec;
    const host_full_spec *f;
    int ns_fd[NS_KINDS]; /* joined by path, -1 otherwise */
    bool ns_new[NS_KINDS];
    uint64_t caps[HOST_CAP_SETS];
    int sock;
} full_ctx;

static int ns_index(const char *name)
{
    for (int i = 0; i < NS_KINDS; i++)
        if (strcmp(ns_kinds[i].name, name) == 0)
            return i;
    return -1;
}

/* ---- hooks --------------------------------------------------------------------------------------
 */

int host_hook_run(const host_hook *h, const char *state, kl_error *err)
{
    int in[2];
    if (pipe2(in, O_CLOEXEC) < 0)
        return kl_error_errno(err, errno, "hook %s: pipe", h->path);
    int pidfd = -1;
    struct clone_args ca = {.flags = CLONE_PIDFD,
                            .pidfd = (unsigned long long)(uintptr_t)&pidfd,
                            .exit_signal = SIGCHLD};
    long pid = syscall(SYS_clone3, &ca, sizeof(ca));
    if (pid < 0) {
        close(in[0]);
        close(in[1]);
        return kl_error_errno(err, errno, "hook %s: fork", h->path);
    }
    if (pid == 0) {
        dup2(in[0], 0);
        char *const none[] = {NULL};
        char *const argv0[] = {(char *)h->path, NULL};
        execve(h->path, h->args && h->args[0] ? h->args : argv0, h->env ? h->env : none);
        _exit(127);
    }
    close(in[0]);
    /* The state on stdin; a hook that does not read it must not block us. */
    const char *s = state ? state : "";
    size_t len = strlen(s), off = 0;
    struct sigaction ign = {.sa_handler = SIG_IGN}, old;
    sigaction(SIGPIPE, &ign, &old);
    while (off < len) {
        ssize_t n = write(in[1], s + off, len - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        off += (size_t)n;
    }
    close(in[1]);
    sigaction(SIGPIPE, &old, NULL);
    int code = 0;
    int r = wait_pidfd(pidfd, h->timeout_s > 0 ? h->timeout_s * 1000 : -1, &code, err);
    if (r == 0) {
        syscall(SYS_pidfd_send_signal, pidfd, SIGKILL, NULL, 0);
        wait_pidfd(pidfd, -1, &code, err);
        close(pidfd);
        return kl_error_set(err, ETIMEDOUT, "hook %s: timed out after %d s", h->path, h->timeout_s);
    }
    close(pidfd);
    if (r < 0)
        return -1;
    if (code != 0)
        return kl_error_set(err, EIO, "hook %s: exited with %d", h->path, code);
    return 0;
}

/* ---- the child: mounts ---------------------------------------------------------------------- */

/* The propagation of the mount now on `dest` (reopened: an fd taken before the mount is
 * the directory under it). */
static int set_propagation(int rootfd, const char *dest, unsigned long prop, kl_error *err)
{
    _cleanup_free_ char *rel = clean_rel(dest);
    _cleanup_close_ int at = openat2_in_root(rootfd, rel[0] ? rel : ".", O_PATH, 0);
    if (at < 0)
        return kl_error_errno(err, errno, "mount on %s: propagation", dest);
    char p[64];
    fd_path(p, at, NULL);
    /* Safe: the propagation of a mount we just made, inside our own namespace. */
    if (mount(NULL, p, NULL, prop, NULL) < 0)
        return kl_error_errno(err, errno, "mount on %s: propagation", dest);
    return 0;
}

static int do_bind(int rootfd, const host_fs_mount *m, const mount_opts *o, kl_error *err)
{
    if (!m->source || m->source[0] != '/')
        return kl_error_set(err, EINVAL, "bind mount on %s: the source must be an absolute path",
                            m->destination);
    _cleanup_close_ int src = open(m->source, O_PATH | O_CLOEXEC);
    if (src < 0)
        return kl_error_errno(err, errno, "bind mount source %s", m->source);
    struct stat st;
    if (fstat(src, &st) < 0)
        return kl_error_errno(err, errno, "bind mount source %s", m->source);
    _cleanup_close_ int dst = mkpath_in_root(rootfd, m->destination, !S_ISDIR(st.st_mode), 0, err);
    if (dst < 0)
        return kl_error_prefix(err, "bind mount on %s", m->destination);
    if (bind_fd(src, NULL, dst, NULL, mount_opts_attrs(o->flags), o->recursive, err) < 0)
        return kl_error_prefix(err, "bind mount %s on %s", m->source, m->destination);
    if (o->propagation && set_propagation(rootfd, m->destination, o->propagation, err) < 0)
        return -1;
    return 0;
}

static int do_cgroup_mount(int rootfd, const host_fs_mount *m, const mount_opts *o,
                           const cgroup_set *cg, kl_error *err)
{
    if (strcmp(m->destination, "/sys/fs/cgroup") != 0)
        return kl_error_set(err, ENOTSUP, "a cgroup mount is only supported on /sys/fs/cgroup");
    if (setup_cgroupfs(rootfd, cg, err) < 0)
        return -1;
    _cleanup_close_ int dir =
        openat2_in_root(rootfd, "sys/fs/cgroup", O_PATH | O_DIRECTORY, RESOLVE_NO_SYMLINKS);
    if (dir < 0)
        return kl_error_errno(err, errno, "opening /sys/fs/cgroup");
    unsigned long long attrs = mount_opts_attrs(o->flags);
    struct mount_attr a = {.attr_set = attrs};
    if (attrs && mount_setattr(dir, "", AT_EMPTY_PATH | AT_RECURSIVE, &a, sizeof(a)) < 0)
        return kl_error_errno(err, errno, "/sys/fs/cgroup: setting its options");
    return 0;
}

static int do_mount(int rootfd, const host_fs_mount *m, const cgroup_set *cg, kl_error *err)
{
    mount_opts o;
    if (mount_opts_parse(m->options, &o, err) < 0)
        return kl_error_prefix(err, "mount on %s", m->destination);
    int r;
    const char *type = m->type;
    if (o.bind || (type && strcmp(type, "bind") == 0)) {
        r = do_bind(rootfd, m, &o, err);
    } else if (!type || !*type) {
        r = kl_error_set(err, EINVAL, "mount on %s: no type", m->destination);
    } else if (strcmp(type, "cgroup") == 0 || strcmp(type, "cgroup2") == 0) {
        r = do_cgroup_mount(rootfd, m, &o, cg, err);
    } else {
        _cleanup_close_ int dst = mkpath_in_root(rootfd, m->destination, false, 0, err);
        if (dst < 0) {
            mount_opts_free(&o);
            return kl_error_prefix(err, "mount on %s", m->destination);
        }
        char p[64];
        fd_path(p, dst, NULL);
        /* Safe: a filesystem of the given type (no device: proc, tmpfs, sysfs ...; a device
         * source is whatever the bundle's owner, root, named) on a directory resolved inside
         * the container's root, in the container's own mount namespace. */
        r = 0;
        if (mount(m->source ? m->source : type, p, type, o.flags, o.data) < 0) {
            /* sysfs in a network namespace we do not own, mqueue in an IPC namespace we
             * do not own: bind the host's as runc does. */
            if (errno == EPERM && (strcmp(type, "sysfs") == 0 || strcmp(type, "mqueue") == 0)) {
                const char *hp = strcmp(type, "sysfs") == 0 ? "/sys" : "/dev/mqueue";
                _cleanup_close_ int src = open(hp, O_PATH | O_CLOEXEC);
                if (src < 0 ||
                    bind_fd(src, NULL, dst, NULL, mount_opts_attrs(o.flags), true, err) < 0)
                    r = kl_error_errno(err, errno, "mounting %s on %s", type, m->destination);
            } else {
                r = kl_error_errno(err, errno, "mounting %s on %s", type, m->destination);
            }
        }
        if (r == 0 && o.propagation)
            r = set_propagation(rootfd, m->destination, o.propagation, err);
    }
    mount_opts_free(&o);
    return r;
}

/* Is there a mount of ours on /dev that is not a bind? Then /dev is ours to fill. */
static bool dev_is_ours(const host_full_spec *f)
{
    for (size_t i = 0; i < f->n_mounts; i++) {
        const host_fs_mount *m = &f->mounts[i];
        if (strcmp(m->destination, "/dev") != 0)
            continue;
        bool bind = m->type && strcmp(m->type, "bind") == 0;
        for (char *const *o = m->options; o && *o; o++)
            bind = bind || strcmp(*o, "bind") == 0 || strcmp(*o, "rbind") == 0;
        return !bind;
    }
    return false;
}

static int make_device(int rootfd, const host_device *d, bool in_userns, kl_error *err)
{
    _cleanup_free_ char *rel = clean_rel(d->path);
    char *slash = strrchr(rel, '/');
    const char *name = slash ? slash + 1 : rel;
    _cleanup_close_ int dir = -1;
    if (slash) {
        *slash = '\0';
        _cleanup_free_ char *abs = xasprintf("/%s", rel);
        dir = mkpath_in_root(rootfd, abs, false, 0, err);
        *slash = '/';
    } else {
        dir = fcntl(rootfd, F_DUPFD_CLOEXEC, 3);
    }
    if (dir < 0)
        return kl_error_prefix(err, "device %s", d->path);
    char p[64];
    fd_path(p, dir, NULL);
    _cleanup_close_ int dfd = open(p, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0)
        return kl_error_errno(err, errno, "device %s", d->path);
    struct stat st;
    if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0)
        unlinkat(dfd, name, 0); /* the config's device replaces what is there */
    mode_t type = d->type == 'b' ? S_IFBLK : d->type == 'p' ? S_IFIFO : S_IFCHR;
    mode_t perm = d->has_mode ? (mode_t)(d->mode & 07777) : 0666;
    dev_t dev = makedev((unsigned)d->major, (unsigned)d->minor);
    if (in_userns && d->type != 'p') {
        /* No mknod in a user namespace: bind the host's node (it must exist). */
        int c = openat(dfd, name, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0600);
        if (c < 0)
            return kl_error_errno(err, errno, "device %s", d->path);
        close(c);
        _cleanup_close_ int src = open(d->path, O_PATH | O_CLOEXEC);
        if (src < 0)
            return kl_error_errno(err, errno, "device %s: the host's node", d->path);
        return bind_fd(src, NULL, dfd, name, 0, false, err) < 0
                   ? kl_error_prefix(err, "device %s", d->path)
                   : 0;
    }
    /* Safe: a node the bundle's owner (root) asked for, in the container's /dev. */
    if (mknodat(dfd, name, type | perm, dev) < 0)
        return kl_error_errno(err, errno, "device %s: mknod", d->path);
    if (fchmodat(dfd, name, perm, 0) < 0 ||
        fchownat(dfd, name, d->uid, d->gid, AT_SYMLINK_NOFOLLOW) < 0)
        return kl_error_errno(err, errno, "device %s: mode or owner", d->path);
    return 0;
}

static int setup_devices(int rootfd, const host_full_spec *f, bool in_userns, kl_error *err)
{
    for (size_t i = 0; i < f->n_devices; i++)
        if (make_device(rootfd, &f->devices[i], in_userns, err) < 0)
            return -1;
    if (!dev_is_ours(f))
        return 0;
    static const struct {
        const char *path;
        int major, minor;
    } defaults[] = {{"/dev/null", 1, 3},   {"/dev/zero", 1, 5},    {"/dev/full", 1, 7},
                    {"/dev/random", 1, 8}, {"/dev/urandom", 1, 9}, {"/dev/tty", 5, 0}};
    _cleanup_close_ int dev = openat2_in_root(rootfd, "dev", O_PATH | O_DIRECTORY, 0);
    if (dev < 0)
        return kl_error_errno(err, errno, "opening /dev");
    for (size_t i = 0; i < KL_ARRAY_SIZE(defaults); i++) {
        struct stat st;
        if (fstatat(dev, defaults[i].path + 5, &st, AT_SYMLINK_NOFOLLOW) == 0)
            continue; /* given by the config */
        host_device d = {.path = defaults[i].path,
                         .type = 'c',
                         .major = defaults[i].major,
                         .minor = defaults[i].minor,
                         .mode = 0666,
                         .has_mode = true};
        /* A bind of the host's node works everywhere (a user namespace, a nodev mount). */
        if (make_device(rootfd, &d, true, err) < 0)
            return -1;
    }
    static const char *const links[][2] = {
        {"/proc/self/fd", "fd"},       {"/proc/self/fd/0", "stdin"}, {"/proc/self/fd/1", "stdout"},
        {"/proc/self/fd/2", "stderr"}, {"/proc/kcore", "core"},      {"pts/ptmx", "ptmx"},
    };
    for (size_t i = 0; i < KL_ARRAY_SIZE(links); i++) {
        struct stat st;
        if (fstatat(dev, links[i][1], &st, AT_SYMLINK_NOFOLLOW) == 0)
            continue;
        char p[64];
        fd_path(p, dev, NULL);
        _cleanup_close_ int d = open(p, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (d < 0 || symlinkat(links[i][0], d, links[i][1]) < 0)
            return kl_error_errno(err, errno, "creating /dev/%s", links[i][1]);
    }
    return 0;
}

/* After pivot_root: the parent directory of `path` and its last component. */
static int open_parent(const char *path, char **name, kl_error *err)
{
    _cleanup_close_ int root = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
    _cleanup_free_ char *rel = clean_rel(path);
    char *slash = strrchr(rel, '/');
    if (!rel[0])
        return kl_error_set(err, EINVAL, "'%s' is the root", path);
    *name = xstrdup(slash ? slash + 1 : rel);
    if (slash)
        *slash = '\0';
    int fd = slash ? openat2_in_root(root, rel, O_PATH | O_DIRECTORY, 0)
                   : fcntl(root, F_DUPFD_CLOEXEC, 3);
    if (fd < 0) {
        free(*name);
        *name = NULL;
        if (errno == ENOENT || errno == ENOTDIR)
            return 0;
        return kl_error_errno(err, errno, "resolving %s", path);
    }
    return fd;
}

static int mask_paths(char *const *paths, kl_error *err)
{
    _cleanup_close_ int nullfd = open("/dev/null", O_PATH | O_CLOEXEC);
    if (paths && paths[0] && nullfd < 0)
        return kl_error_errno(err, errno, "masking: /dev/null");
    for (char *const *p = paths; p && *p; p++) {
        _cleanup_free_ char *name = NULL;
        _cleanup_close_ int dir = open_parent(*p, &name, err);
        if (dir < 0)
            return kl_error_prefix(err, "masking %s", *p);
        if (!name)
            continue;
        char dp[64];
        fd_path(dp, dir, NULL);
        _cleanup_close_ int d = open(dp, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (d < 0 || mask_one(d, name, nullfd, err) < 0)
            return d < 0 ? kl_error_errno(err, errno, "masking %s", *p)
                         : kl_error_prefix(err, "masking %s", *p);
    }
    return 0;
}

static int readonly_paths(char *const *paths, kl_error *err)
{
    for (char *const *p = paths; p && *p; p++) {
        _cleanup_free_ char *name = NULL;
        _cleanup_close_ int dir = open_parent(*p, &name, err);
        if (dir < 0)
            return kl_error_prefix(err, "read-only %s", *p);
        if (!name)
            continue;
        struct stat st;
        if (fstatat(dir, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
            continue;
        /* Safe: a path of the container made read-only in place. */
        if (bind_fd(dir, name, dir, name,
                    MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC,
                    true, err) < 0)
            return kl_error_prefix(err, "making %s read-only", *p);
    }
    return 0;
}

/* ---- the child: process steps ---------------------------------------------------------------- */

static int rlimit_number(const char *name)
{
    static const struct {
        const char *n;
        int r;
    } t[] = {{"RLIMIT_AS", RLIMIT_AS},
             {"RLIMIT_CORE", RLIMIT_CORE},
             {"RLIMIT_CPU", RLIMIT_CPU},
             {"RLIMIT_DATA", RLIMIT_DATA},
             {"RLIMIT_FSIZE", RLIMIT_FSIZE},
             {"RLIMIT_LOCKS", RLIMIT_LOCKS},
             {"RLIMIT_MEMLOCK", RLIMIT_MEMLOCK},
             {"RLIMIT_MSGQUEUE", RLIMIT_MSGQUEUE},
             {"RLIMIT_NICE", RLIMIT_NICE},
             {"RLIMIT_NOFILE", RLIMIT_NOFILE},
             {"RLIMIT_NPROC", RLIMIT_NPROC},
             {"RLIMIT_RSS", RLIMIT_RSS},
             {"RLIMIT_RTPRIO", RLIMIT_RTPRIO},
             {"RLIMIT_RTTIME", RLIMIT_RTTIME},
             {"RLIMIT_SIGPENDING", RLIMIT_SIGPENDING},
             {"RLIMIT_STACK", RLIMIT_STACK}};
    for (size_t i = 0; i < KL_ARRAY_SIZE(t); i++)
        if (strcmp(t[i].n, name) == 0)
            return t[i].r;
    return -1;
}

static int apply_rlimits(const host_full_process *p, kl_error *err)
{
    for (size_t i = 0; i < p->n_rlimits; i++) {
        int r = rlimit_number(p->rlimits[i].type);
        if (r < 0)
            return kl_error_set(err, EINVAL, "unknown resource limit %s", p->rlimits[i].type);
        struct rlimit rl = {.rlim_cur = p->rlimits[i].soft, .rlim_max = p->rlimits[i].hard};
        if (setrlimit((__rlimit_resource_t)r, &rl) < 0)
            return kl_error_errno(err, errno, "setting %s to %llu/%llu", p->rlimits[i].type,
                                  p->rlimits[i].soft, p->rlimits[i].hard);
    }
    return 0;
}

static int apply_oom_score_adj(const host_full_process *p, kl_error *err)
{
    if (!p->has_oom_score_adj)
        return 0;
    _cleanup_close_ int fd = open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC);
    char v[16];
    int n = snprintf(v, sizeof(v), "%d", p->oom_score_adj);
    if (fd < 0 || write(fd, v, (size_t)n) != n)
        return kl_error_errno(err, errno, "setting oom_score_adj to %d", p->oom_score_adj);
    return 0;
}

static int load_filter(const host_full_process *p, kl_error *err)
{
    if (!p->seccomp_bpf)
        return 0;
    struct sock_fprog prog = {.len = (unsigned short)(p->seccomp_bpf_len / 8),
                              .filter = (void *)p->seccomp_bpf};
    unsigned int flags = p->seccomp_log ? SECCOMP_FILTER_FLAG_LOG : 0;
    if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, flags, &prog) < 0)
        return kl_error_errno(err, errno, "loading the seccomp filter");
    return 0;
}

static __attribute__((noreturn)) void fail_to(int sock, const kl_error *e)
{
    if (sock >= 0)
        child_fail(sock, e);
    dprintf(2, "kleene-runtime: %s\n", e->msg);
    _exit(127);
}

void full_finish_exec(const host_full_process *p, char *const *argv, char *const *env,
                      const char *cwd, int sock)
{
    kl_error e = KL_ERROR_INIT;
    uint64_t caps[HOST_CAP_SETS];
    if (full_caps_parse(p, caps, &e) < 0)
        fail_to(sock, &e);
    if (caps_limit_bounding(caps[HOST_CAP_BOUNDING], &e) < 0)
        fail_to(sock, &e);
    /* Without no_new_privs the filter needs CAP_SYS_ADMIN: load it while we have it. */
    if (!p->no_new_privs && load_filter(p, &e) < 0)
        fail_to(sock, &e);
    if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0) {
        kl_error_errno(&e, errno, "keeping capabilities");
        fail_to(sock, &e);
    }
    gid_t groups[1024];
    size_t ng = p->n_additional_gids < 1024 ? p->n_additional_gids : 1024;
    for (size_t i = 0; i < ng; i++)
        groups[i] = p->additional_gids[i];
    if (setgroups(ng, groups) < 0 && !(errno == EPERM && ng == 0)) {
        kl_error_errno(&e, errno, "setting the additional groups");
        fail_to(sock, &e);
    }
    if (setresgid(p->gid, p->gid, p->gid) < 0 || setresuid(p->uid, p->uid, p->uid) < 0) {
        kl_error_errno(&e, errno, "switching to uid %u gid %u", p->uid, p->gid);
        fail_to(sock, &e);
    }
    prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0);
    if (full_caps_apply(caps, &e) < 0)
        fail_to(sock, &e);
    if (p->has_umask)
        umask((mode_t)p->umask);
    const char *dir = cwd && *cwd ? cwd : "/";
    if (chdir(dir) < 0) {
        kl_error_errno(&e, errno, "changing to the working directory %s", dir);
        fail_to(sock, &e);
    }
    if (p->no_new_privs && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
        kl_error_errno(&e, errno, "setting no_new_privs");
        fail_to(sock, &e);
    }
    if (p->no_new_privs && load_filter(p, &e) < 0)
        fail_to(sock, &e);
    /* Everything not asked for goes at execve. */
    syscall(SYS_close_range, 3U + (unsigned)(p->preserve_fds > 0 ? p->preserve_fds : 0), ~0U,
            CLOSE_RANGE_CLOEXEC);
    /* HOME from the container's passwd when the environment has none (as runc). */
    char **envp = strv_dup(env);
    bool has_home = false;
    for (char **x = envp; x && *x; x++)
        has_home = has_home || strncmp(*x, "HOME=", 5) == 0;
    if (!has_home) {
        _cleanup_close_ int rootfd = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
        userspec_result u;
        char uid[16];
        snprintf(uid, sizeof(uid), "%u", p->uid);
        kl_error ignored = KL_ERROR_INIT;
        if (rootfd >= 0 && userspec_resolve_at(rootfd, uid, &u, &ignored) == 0) {
            _cleanup_free_ char *h = xasprintf("HOME=%s", u.home);
            strv_push(&envp, h);
        }
    }
    if (!envp)
        envp = xcalloc(1, sizeof(char *));
    exec_in_path(argv, envp);
    kl_error_errno(&e, errno, "executing %s", argv[0]);
    fail_to(sock, &e);
}

/* The command must be there before create reports success (runc's habit): searched as
 * exec_in_path will, and executable. */
static int check_command(char *const *argv, char *const *env, kl_error *err)
{
    const char *cmd = argv[0];
    if (strchr(cmd, '/')) {
        if (access(cmd, X_OK) < 0)
            return kl_error_errno(err, errno, "executable %s", cmd);
        return 0;
    }
    const char *path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
    for (char *const *e = env; e && *e; e++)
        if (strncmp(*e, "PATH=", 5) == 0)
            path = *e + 5;
    for (const char *p = path;;) {
        const char *c = strchr(p, ':');
        size_t n = c ? (size_t)(c - p) : strlen(p);
        char full[4096];
        if (n + strlen(cmd) + 2 < sizeof(full)) {
            snprintf(full, sizeof(full), "%.*s%s%s", (int)n, p, n ? "/" : "", cmd);
            struct stat st;
            if (stat(full, &st) == 0 && S_ISREG(st.st_mode) && access(full, X_OK) == 0)
                return 0;
        }
        if (!c)
            break;
        p = c + 1;
    }
    return kl_error_set(err, ENOENT, "executable file '%s' not found in $PATH", cmd);
}

static int write_sysctls(char *const *sysctl, kl_error *err)
{
    for (char *const *s = sysctl; s && *s; s++) {
        const char *eq = strchr(*s, '=');
        if (!eq)
            continue;
        _cleanup_free_ char *key = xstrndup(*s, (size_t)(eq - *s));
        for (char *c = key; *c; c++)
            if (*c == '.')
                *c = '/';
        _cleanup_free_ char *p = xasprintf("/proc/sys/%s", key);
        _cleanup_close_ int fd = open(p, O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
        size_t n = strlen(eq + 1);
        if (fd < 0 || write(fd, eq + 1, n) != (ssize_t)n)
            return kl_error_errno(err, errno, "sysctl %.*s", (int)(eq - *s), *s);
    }
    return 0;
}

static unsigned long propagation_flag(const char *name)
{
    static const struct {
        const char *n;
        unsigned long f;
    } t[] = {{"private", MS_PRIVATE},       {"rprivate", MS_PRIVATE | MS_REC},
             {"slave", MS_SLAVE},           {"rslave", MS_SLAVE | MS_REC},
             {"shared", MS_SHARED},         {"rshared", MS_SHARED | MS_REC},
             {"unbindable", MS_UNBINDABLE}, {"runbindable", MS_UNBINDABLE | MS_REC}};
    for (size_t i = 0; name && i < KL_ARRAY_SIZE(t); i++)
        if (strcmp(t[i].n, name) == 0)
            return t[i].f;
    return 0;
}

/* Close every fd from 3 up except those in keep (and the preserved ones). */
static void close_others(int preserve, const int *keep, size_t n)
{
    unsigned int from = 3U + (unsigned)(preserve > 0 ? preserve : 0);
    int sorted[32];
    size_t m = 0;
    for (size_t i = 0; i < n && m < KL_ARRAY_SIZE(sorted); i++)
        if (keep[i] >= (int)from)
            sorted[m++] = keep[i];
    for (size_t i = 1; i < m; i++)
        for (size_t j = i; j > 0 && sorted[j - 1] > sorted[j]; j--) {
            int t = sorted[j];
            sorted[j] = sorted[j - 1];
            sorted[j - 1] = t;
        }
    for (size_t i = 0; i < m; i++) {
        if ((unsigned)sorted[i] > from)
            syscall(SYS_close_range, from, (unsigned)sorted[i] - 1, 0U);
        from = (unsigned)sorted[i] + 1;
    }
    syscall(SYS_close_range, from, ~0U, 0U);
}

static __attribute__((noreturn)) void full_child(full_ctx *c, cgroup_set *cg)
{
    const host_container_spec *s = c->spec;
    const host_full_spec *f = c->f;
    kl_error e = KL_ERROR_INIT;
    int keep[CGROUPS_MAX + NS_KINDS + 4];
    size_t nk = 0;
    keep[nk++] = c->sock;
    if (f->start_fd >= 0)
        keep[nk++] = f->start_fd;
    for (int i = 0; i < NS_KINDS; i++)
        if (c->ns_fd[i] >= 0)
            keep[nk++] = c->ns_fd[i];
    close_others(f->process.preserve_fds, keep, nk);

    /* Wait for the go: our cgroups joined and our id maps written by the caller. */
    char go;
    if (KL_RETRY_EINTR(read(c->sock, &go, 1)) != 1 || go != 'G')
        _exit(127);
    bool in_userns = c->ns_new[0] || c->ns_fd[0] >= 0;
    for (int i = 0; i < NS_KINDS; i++) {
        if (c->ns_fd[i] < 0 || ns_kinds[i].flag == CLONE_NEWPID)
            continue; /* pid: joined by the caller before the clone */
        if (setns(c->ns_fd[i], ns_kinds[i].flag) < 0) {
            kl_error_errno(&e, errno, "joining the %s namespace", ns_kinds[i].name);
            child_fail(c->sock, &e);
        }
        close(c->ns_fd[i]);
    }
    if (in_userns && (setresgid(0, 0, 0) < 0 || setresuid(0, 0, 0) < 0)) {
        kl_error_errno(&e, errno, "becoming root in the user namespace (is 0 mapped?)");
        child_fail(c->sock, &e);
    }
    /* The id change made us non-dumpable, which gives our /proc/self/fd to the host's root:
     * the start gate is reopened through it. execve decides dumpability again. */
    if (in_userns)
        prctl(PR_SET_DUMPABLE, 1, 0, 0, 0);
    if (c->ns_new[5] && unshare(CLONE_NEWCGROUP) < 0) {
        kl_error_errno(&e, errno, "creating the cgroup namespace");
        child_fail(c->sock, &e);
    }
    if (s->hostname && sethostname(s->hostname, strlen(s->hostname)) < 0) {
        kl_error_errno(&e, errno, "setting the hostname");
        child_fail(c->sock, &e);
    }
    if (f->domainname && setdomainname(f->domainname, strlen(f->domainname)) < 0) {
        kl_error_errno(&e, errno, "setting the domain name");
        child_fail(c->sock, &e);
    }
    if (c->ns_new[3] && bring_up_lo(&e) < 0)
        child_fail(c->sock, &e);
    if (write_sysctls(f->sysctl, &e) < 0 || apply_rlimits(&f->process, &e) < 0 ||
        apply_oom_score_adj(&f->process, &e) < 0)
        child_fail(c->sock, &e);

    /* The state for our hooks, after the caller's own (createRuntime, prestart). */
    _cleanup_free_ char *state = NULL;
    if (f->on_created || f->n_create_container_hooks || f->n_start_container_hooks) {
        send_msg(c->sock, MSG_HOOKS, 0, NULL, -1);
        state = xmalloc(STATE_MSG_MAX + 1);
        ssize_t n = KL_RETRY_EINTR(recv(c->sock, state, STATE_MSG_MAX, 0));
        if (n <= 0)
            _exit(127); /* the caller failed: it reports */
        state[n] = '\0';
    }

    /* The host /proc of this process, for the start gate after pivot_root. */
    _cleanup_close_ int self = open("/proc/self", O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (self < 0) {
        kl_error_errno(&e, errno, "opening /proc/self");
        child_fail(c->sock, &e);
    }

    /* Mounts. Nothing may propagate back to the host unless the config says so: slave (or
     * private) for the whole tree first; shared and unbindable go on the root after
     * pivot_root, which refuses a shared root and cannot clone an unbindable one. */
    unsigned long prop = propagation_flag(f->root_propagation);
    unsigned long before = (prop & (MS_SLAVE | MS_PRIVATE)) ? (prop | MS_REC) : (MS_SLAVE | MS_REC);
    /* Sharing the caller's mount namespace (no mount namespace in the config): the mounts
     * are made in it, below the root, and undone by the caller after the container
     * (host_mounts_undo); the root is entered with chroot. */
    bool own_mntns = c->ns_new[6] || c->ns_fd[6] >= 0;
    if (own_mntns && mount(NULL, "/", NULL, before, NULL) < 0) {
        kl_error_errno(&e, errno, "setting the propagation of /");
        child_fail(c->sock, &e);
    }
    if ((own_mntns || f->root_readonly) &&
        bind_fd(AT_FDCWD, s->rootfs, AT_FDCWD, s->rootfs, 0, true, &e) < 0) {
        kl_error_prefix(&e, "binding the root %s", s->rootfs);
        child_fail(c->sock, &e);
    }
    _cleanup_close_ int rootfd = open(s->rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (rootfd < 0) {
        kl_error_errno(&e, errno, "opening the root %s", s->rootfs);
        child_fail(c->sock, &e);
    }
    for (size_t i = 0; i < f->n_mounts; i++)
        if (do_mount(rootfd, &f->mounts[i], cg, &e) < 0)
            child_fail(c->sock, &e);
    if (setup_devices(rootfd, f, in_userns, &e) < 0)
        child_fail(c->sock, &e);
    if (s->cwd && *s->cwd) {
        int fd = mkpath_in_root(rootfd, s->cwd, false, 0, &e);
        if (fd < 0) {
            kl_error_prefix(&e, "working directory");
            child_fail(c->sock, &e);
        }
        close(fd);
    }
    for (size_t i = 0; i < f->n_create_container_hooks; i++)
        if (host_hook_run(&f->create_container_hooks[i], state, &e) < 0) {
            kl_error_prefix(&e, "createContainer");
            child_fail(c->sock, &e);
        }

    if (!own_mntns) {
        if (fchdir(rootfd) < 0 || chroot(".") < 0 || chdir("/") < 0) {
            kl_error_errno(&e, errno, "chroot into %s", s->rootfs);
            child_fail(c->sock, &e);
        }
    } else if (fchdir(rootfd) < 0 || syscall(SYS_pivot_root, ".", ".") < 0 ||
               umount2(".", MNT_DETACH) < 0 || chdir("/") < 0) {
        kl_error_errno(&e, errno, "pivot_root into %s", s->rootfs);
        child_fail(c->sock, &e);
    }
    if (own_mntns && (prop & (MS_SHARED | MS_UNBINDABLE)) &&
        mount(NULL, "/", NULL, prop, NULL) < 0) {
        kl_error_errno(&e, errno, "setting rootfsPropagation");
        child_fail(c->sock, &e);
    }
    if (mask_paths(f->masked_paths, &e) < 0 || readonly_paths(f->readonly_paths, &e) < 0)
        child_fail(c->sock, &e);
    if (f->root_readonly) {
        struct mount_attr a = {.attr_set = MOUNT_ATTR_RDONLY};
        if (mount_setattr(AT_FDCWD, "/", 0, &a, sizeof(a)) < 0) {
            kl_error_errno(&e, errno, "making the root read-only");
            child_fail(c->sock, &e);
        }
    }
    if (s->tty) {
        bool ok = false;
        int master = -1, slave = -1;
        if (open_pty(&ok, &master, &slave, s->tty_rows, s->tty_cols, &e) < 0)
            child_fail(c->sock, &e);
        if (setsid() < 0 || ioctl(slave, TIOCSCTTY, 0) < 0) {
            kl_error_errno(&e, errno, "making the pty the controlling terminal");
            child_fail(c->sock, &e);
        }
        for (int i = 0; i < 3; i++)
            dup2(slave, i);
        /* /dev/console: the pty, when /dev is ours (as runc). */
        int cons = dev_is_ours(f)
                       ? open("/dev/console", O_CREAT | O_WRONLY | O_CLOEXEC | O_NOFOLLOW, 0600)
                       : -1;
        if (cons >= 0) {
            close(cons);
            char p[64];
            fd_path(p, slave, NULL);
            /* Safe: our own pty's slave onto /dev/console of our own /dev. */
            if (mount(p, "/dev/console", NULL, MS_BIND, NULL) < 0) {
                kl_error_errno(&e, errno, "binding the console");
                child_fail(c->sock, &e);
            }
        }
        send_msg(c->sock, MSG_PTY, 0, NULL, master);
        close(master);
        if (slave > 2)
            close(slave);
    } else if (setsid() < 0) {
        kl_error_errno(&e, errno, "setsid");
        child_fail(c->sock, &e);
    }
    if (f->personality) {
        unsigned long pers = strcmp(f->personality, "LINUX32") == 0 ? PER_LINUX32 : PER_LINUX;
        if (personality(pers) < 0) {
            kl_error_errno(&e, errno, "setting the personality %s", f->personality);
            child_fail(c->sock, &e);
        }
    }
    if (s->argv && check_command(s->argv, s->env, &e) < 0)
        child_fail(c->sock, &e);

    /* Ready: the caller may go. Then wait for start. */
    send_msg(c->sock, MSG_READY, 0, NULL, -1);
    close(c->sock);
    if (f->start_fd >= 0) {
        char name[32];
        snprintf(name, sizeof(name), "fd/%d", f->start_fd);
        int w = openat(self, name, O_WRONLY | O_CLOEXEC);
        if (w < 0 || write(w, "0", 1) != 1) {
            kl_error_errno(&e, errno, "waiting for start");
            fail_to(-1, &e);
        }
        close(w);
        close(f->start_fd);
    }
    close(self);
    if (!s->argv)
        _exit(0);
    for (size_t i = 0; i < f->n_start_container_hooks; i++)
        if (host_hook_run(&f->start_container_hooks[i], state, &e) < 0) {
            kl_error_prefix(&e, "startContainer");
            fail_to(-1, &e);
        }
    full_finish_exec(&f->process, s->argv, s->env, s->cwd, -1);
}

/* ---- the caller
 * ---------------------------------------------------------------------------------- */

static int write_map(int pid, const char *file, const host_id_map *m, size_t n, kl_error *err)
{
    if (!n)
        return 0;
    char buf[8192];
    size_t len = 0;
    for (size_t i = 0; i < n && len < sizeof(buf) - 40; i++)
        len += (size_t)snprintf(buf + len, sizeof(buf) - len, "%u %u %u\n", m[i].container_id,
                                m[i].host_id, m[i].size);
    char p[64];
    snprintf(p, sizeof(p), "/proc/%d/%s", pid, file);
    _cleanup_close_ int fd = open(p, O_WRONLY | O_CLOEXEC);
    if (fd < 0 || write(fd, buf, len) != (ssize_t)len)
        return kl_error_errno(err, errno, "writing %s", file);
    return 0;
}

static void full_ctx_close(full_ctx *c)
{
    for (int i = 0; i < NS_KINDS; i++)
        if (c->ns_fd[i] >= 0)
            close(c->ns_fd[i]);
}

int full_container_start(const host_container_spec *spec, host_process *out, kl_error *err)
{
    process_init(out);
    const host_full_spec *f = spec->full;
    /* No argv: a container without a process (OCI allows creating one); it never passes
     * its gate to any command. */
    if (!spec->id || !*spec->id || !spec->rootfs || spec->rootfs[0] != '/' ||
        (spec->argv && !spec->argv[0]))
        return kl_error_set(err, EINVAL, "container spec needs an id and an absolute rootfs");
    _cleanup_(full_ctx_close) full_ctx c = {.spec = spec, .f = f};
    for (int i = 0; i < NS_KINDS; i++)
        c.ns_fd[i] = -1;
    if (full_caps_parse(&f->process, c.caps, err) < 0)
        return -1;
    for (size_t i = 0; i < f->n_namespaces; i++) {
        int k = ns_index(f->namespaces[i].type);
        if (k < 0)
            return kl_error_set(err, EINVAL, "namespace '%s' is not supported",
                                f->namespaces[i].type);
        if (!f->namespaces[i].path) {
            c.ns_new[k] = true;
            continue;
        }
        c.ns_fd[k] = open(f->namespaces[i].path, O_RDONLY | O_CLOEXEC);
        if (c.ns_fd[k] < 0)
            return kl_error_errno(err, errno, "%s namespace %s", ns_kinds[k].name,
                                  f->namespaces[i].path);
    }
    /* Outside a user namespace the process cannot gain a capability we lack (this host's
     * bounding set may miss some): refuse at create rather than fail at the exec. */
    if (!c.ns_new[0] && c.ns_fd[0] < 0 && full_caps_check(c.caps, err) < 0)
        return -1;
    out->priv->is_container = true;
    if (cgroups_create_full(spec->id, f->cgroups_path, f->resources, &out->priv->cg, err) < 0)
        return kl_error_prefix(err, "container %s", spec->id);

    /* A pid namespace given by path is joined here: it applies to our children. The caller
     * is a short-lived front end, so its own pid namespace for children may change. */
    _cleanup_close_ int own_pidns = -1;
    if (c.ns_fd[4] >= 0) {
        own_pidns = open("/proc/self/ns/pid", O_RDONLY | O_CLOEXEC);
        if (own_pidns < 0 || setns(c.ns_fd[4], CLONE_NEWPID) < 0) {
            cgroups_release(&out->priv->cg, true);
            return kl_error_errno(err, errno, "joining the pid namespace");
        }
    }
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
        cgroups_release(&out->priv->cg, true);
        return kl_error_errno(err, errno, "socketpair");
    }
    _cleanup_close_ int parent_sock = sv[0];
    c.sock = sv[1];
    unsigned long long flags = CLONE_PIDFD;
    for (int i = 0; i < NS_KINDS; i++)
        if (c.ns_new[i] && ns_kinds[i].flag != CLONE_NEWCGROUP)
            flags |= (unsigned long long)ns_kinds[i].flag;
    int pidfd = -1;
    struct clone_args ca = {
        .flags = flags, .pidfd = (unsigned long long)(uintptr_t)&pidfd, .exit_signal = SIGCHLD};
    long pid = syscall(SYS_clone3, &ca, sizeof(ca));
    if (pid == 0) {
        close(parent_sock);
        full_child(&c, &out->priv->cg);
    }
    close(sv[1]);
    /* Our own children (hooks) belong to our own pid namespace again. */
    if (own_pidns >= 0)
        setns(own_pidns, CLONE_NEWPID);
    if (pid < 0) {
        cgroups_release(&out->priv->cg, true);
        return kl_error_errno(err, errno, "clone3");
    }
    out->pid = (int)pid;
    out->priv->pidfd = pidfd;
    int r = 0;
    char pidstr[16];
    snprintf(pidstr, sizeof(pidstr), "%ld", pid);
    for (int i = 0; i < CGROUPS_MAX && r == 0; i++) {
        if (out->priv->cg.procs_fds[i] < 0)
            continue;
        if (KL_RETRY_EINTR(write(out->priv->cg.procs_fds[i], pidstr, strlen(pidstr))) < 0)
            r = kl_error_errno(err, errno, "cgroup: joining %s", out->priv->cg.dirs[i]);
        close(out->priv->cg.procs_fds[i]);
        out->priv->cg.procs_fds[i] = -1;
    }
    if (r == 0 && c.ns_new[0]) {
        if (write_map((int)pid, "uid_map", f->uid_maps, f->n_uid_maps, err) < 0 ||
            write_map((int)pid, "gid_map", f->gid_maps, f->n_gid_maps, err) < 0)
            r = -1;
    }
    if (r == 0 && send(parent_sock, "G", 1, MSG_NOSIGNAL) != 1)
        r = kl_error_errno(err, errno, "starting the container's setup");
    /* Messages until ready (or the exec without a gate: EOF). */
    while (r == 0) {
        child_msg m;
        int fd;
        int got = recv_msg(parent_sock, &m, &fd);
        if (got < 0) {
            r = kl_error_errno(err, errno, "reading from the container's setup");
            break;
        }
        if (got == 0) {
            if (f->start_fd >= 0)
                r = kl_error_set(err, EIO, "the container's setup ended without a word");
            break;
        }
        if (m.type == MSG_ERROR) {
            if (fd >= 0)
                close(fd);
            r = kl_error_set(err, EIO, "%s", m.text);
        } else if (m.type == MSG_PTY && fd >= 0) {
            out->pty_fd = fd;
        } else if (m.type == MSG_HOOKS) {
            _cleanup_free_ char *state =
                f->on_created ? f->on_created(f->ctx, (int)pid, err) : xstrdup("{}");
            if (!state) {
                r = -1;
                break;
            }
            size_t len = strlen(state);
            if (len > STATE_MSG_MAX)
                len = STATE_MSG_MAX;
            if (send(parent_sock, state, len ? len : 1, MSG_NOSIGNAL) < 0)
                r = kl_error_errno(err, errno, "sending the state to the container");
        } else if (m.type == MSG_READY) {
            break;
        } else if (fd >= 0) {
            close(fd);
        }
    }
    if (r < 0) {
        syscall(SYS_pidfd_send_signal, pidfd, SIGKILL, NULL, 0);
        int code;
        kl_error ignored = KL_ERROR_INIT;
        host_process_wait(out, -1, &code, &ignored);
        return -1;
    }
    return 0;
}

int host_container_release_gate(const char *fifo, int pid, kl_error *err)
{
    _cleanup_close_ int fd = open(fifo, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
        return kl_error_errno(err, errno, "opening %s", fifo);
    _cleanup_close_ int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
    for (;;) {
        struct pollfd p[2] = {{.fd = fd, .events = POLLIN}, {.fd = pidfd, .events = POLLIN}};
        int n = (int)KL_RETRY_EINTR(poll(p, pidfd >= 0 ? 2 : 1, 50));
        if (n < 0)
            return kl_error_errno(err, errno, "waiting on %s", fifo);
        if (p[0].revents & POLLIN) {
            char b;
            if (read(fd, &b, 1) == 1)
                return 0;
        }
        if (pidfd < 0 ? kill(pid, 0) < 0 : (p[1].revents & POLLIN) != 0)
            return kl_error_set(err, ESRCH, "the container's process is gone");
    }
}

/* ---- exec into a full container -----------------------------------------------------------------
 */

int full_exec_prepare(const host_full_process *p, kl_error *err)
{
    if (apply_rlimits(p, err) < 0 || apply_oom_score_adj(p, err) < 0)
        return -1;
    return 0;
}

void full_exec_child(const host_exec_spec *s, int sock)
{
    kl_error e = KL_ERROR_INIT;
    if (setsid() < 0) {
        kl_error_errno(&e, errno, "setsid");
        child_fail(sock, &e);
    }
    if (s->tty) {
        bool ok = false;
        int master = -1, slave = -1;
        if (open_pty(&ok, &master, &slave, s->tty_rows, s->tty_cols, &e) < 0)
            child_fail(sock, &e);
        if (ioctl(slave, TIOCSCTTY, 0) < 0) {
            kl_error_errno(&e, errno, "making the pty the controlling terminal");
            child_fail(sock, &e);
        }
        for (int i = 0; i < 3; i++)
            dup2(slave, i);
        send_msg(sock, MSG_PTY, 0, NULL, master);
        close(master);
        if (slave > 2)
            close(slave);
    }
    full_finish_exec(s->full, s->argv, s->env, s->cwd, sock);
}

/* ---- mounts in the caller's namespace (a container without a mount namespace) ------------- */

/* Mount ids and points at or below `path`, from /proc/self/mountinfo. */
static size_t mounts_below(const char *path, int *ids, char (*points)[4096], size_t max)
{
    _cleanup_fclose_ FILE *f = fopen("/proc/self/mountinfo", "re");
    size_t n = 0, plen = strlen(path);
    char line[8192];
    while (f && n < max && fgets(line, sizeof(line), f)) {
        int id;
        char point[4096];
        if (sscanf(line, "%d %*d %*s %*s %4095s", &id, point) != 2)
            continue;
        if (strncmp(point, path, plen) != 0 || (point[plen] != '\0' && point[plen] != '/'))
            continue;
        ids[n] = id;
        if (points)
            memcpy(points[n], point, sizeof(point));
        n++;
    }
    return n;
}

char *host_mounts_snapshot(const char *path)
{
    int ids[512];
    size_t n = mounts_below(path, ids, NULL, 512);
    char *out = xstrdup("");
    for (size_t i = 0; i < n; i++) {
        char *next = xasprintf("%s%s%d", out, i ? "," : "", ids[i]);
        free(out);
        out = next;
    }
    return out;
}

int host_mounts_undo(const char *path, const char *snapshot, kl_error *err)
{
    _cleanup_free_ int *ids = xcalloc(1024, sizeof(int));
    _cleanup_free_ char(*points)[4096] = xcalloc(1024, 4096);
    size_t n = mounts_below(path, ids, points, 1024);
    /* Deepest first: the longest mount points, then by id, newest first. */
    for (;;) {
        size_t best = n;
        for (size_t i = 0; i < n; i++) {
            if (ids[i] < 0)
                continue;
            char key[16];
            snprintf(key, sizeof(key), "%d", ids[i]);
            bool kept = false;
            for (const char *p = snapshot; p && *p;) {
                size_t l = strcspn(p, ",");
                kept = kept || (l == strlen(key) && strncmp(p, key, l) == 0);
                p += l;
                if (*p == ',')
                    p++;
            }
            if (kept) {
                ids[i] = -1;
                continue;
            }
            if (best == n || strlen(points[i]) > strlen(points[best]) ||
                (strlen(points[i]) == strlen(points[best]) && ids[i] > ids[best]))
                best = i;
        }
        if (best == n)
            return 0;
        /* Safe: a mount this container's setup made below its own root. */
        if (umount2(points[best], MNT_DETACH) < 0 && errno != EINVAL && errno != ENOENT)
            return kl_error_errno(err, errno, "unmounting %s", points[best]);
        ids[best] = -1;
    }
}
