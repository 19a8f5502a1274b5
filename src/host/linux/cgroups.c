/* Container cgroups: v1 memory, pids and cpu hierarchies (this machine is a v1/v2 hybrid whose
 * v2 side has only hugetlb), or v2 when the unified hierarchy offers those controllers.
 *
 * A container's cgroup is <controller mount>/<the daemon's own path>/kleene/<id>, the own path
 * read from /proc/self/cgroup: nesting under our own cgroup keeps whoever accounts for the
 * daemon (a supervisor, a CI harness) accounting for its containers too. It must never write
 * to the daemon's own cgroup files, only create and remove below them. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "host/linux/internal.h"
#include "lib/cleanup.h"
#include "lib/xalloc.h"

typedef struct hierarchy {
    const char *controller; /* "memory", "pids", "cpu"; NULL entry = unified v2 */
    char *mount;            /* mount point */
    char *own;              /* our own path in it, from /proc/self/cgroup */
} hierarchy;

/* Mount point of the v1 hierarchy carrying `controller`, or of cgroup2 when controller is
 * NULL. Parsed from /proc/self/mountinfo. */
static char *find_mount(const char *controller)
{
    _cleanup_fclose_ FILE *f = fopen("/proc/self/mountinfo", "re");
    if (!f)
        return NULL;
    char line[4096];
    while (fgets(line, sizeof(line), f)) {
        char *sep = strstr(line, " - ");
        if (!sep)
            continue;
        char fstype[32], source[256], opts[1024];
        if (sscanf(sep + 3, "%31s %255s %1023s", fstype, source, opts) != 3)
            continue;
        char mnt[1024];
        if (sscanf(line, "%*s %*s %*s %*s %1023s", mnt) != 1)
            continue;
        if (!controller) {
            if (strcmp(fstype, "cgroup2") == 0)
                return xstrdup(mnt);
            continue;
        }
        if (strcmp(fstype, "cgroup") != 0)
            continue;
        for (char *save = NULL, *o = strtok_r(opts, ",", &save); o; o = strtok_r(NULL, ",", &save))
            if (strcmp(o, controller) == 0)
                return xstrdup(mnt);
    }
    return NULL;
}

/* Path of `pid` ("self" when 0) in the hierarchy of `controller` (NULL: the "0::" v2 line). */
static char *own_path(int pid, const char *controller)
{
    char p[64];
    if (pid)
        snprintf(p, sizeof(p), "/proc/%d/cgroup", pid);
    else
        snprintf(p, sizeof(p), "/proc/self/cgroup");
    _cleanup_fclose_ FILE *f = fopen(p, "re");
    if (!f)
        return NULL;
    char line[4096];
    while (fgets(line, sizeof(line), f)) {
        line[strcspn(line, "\n")] = '\0';
        char *c1 = strchr(line, ':');
        char *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
        if (!c2)
            continue;
        *c2 = '\0';
        const char *ctrls = c1 + 1, *path = c2 + 1;
        if (!controller) {
            if (*ctrls == '\0')
                return xstrdup(path);
            continue;
        }
        _cleanup_free_ char *copy = xstrdup(ctrls);
        for (char *save = NULL, *o = strtok_r(copy, ",", &save); o; o = strtok_r(NULL, ",", &save))
            if (strcmp(o, controller) == 0)
                return xstrdup(path);
    }
    return NULL;
}

static int write_file(const char *dir, const char *file, const char *val, kl_error *err)
{
    _cleanup_free_ char *p = xasprintf("%s/%s", dir, file);
    _cleanup_close_ int fd = open(p, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return kl_error_errno(err, errno, "cgroup: opening %s", p);
    size_t n = strlen(val);
    if (KL_RETRY_EINTR(write(fd, val, n)) != (ssize_t)n)
        return kl_error_errno(err, errno, "cgroup: writing '%s' to %s", val, p);
    return 0;
}

static bool has_v2_controllers(char **mount, char **own)
{
    _cleanup_free_ char *m = find_mount(NULL);
    _cleanup_free_ char *o = own_path(0, NULL);
    if (!m || !o)
        return false;
    _cleanup_free_ char *p = xasprintf("%s%s/cgroup.controllers", m, o);
    _cleanup_fclose_ FILE *f = fopen(p, "re");
    char line[1024] = "";
    if (!f || !fgets(line, sizeof(line), f))
        return false;
    if (!strstr(line, "memory") || !strstr(line, "pids"))
        return false;
    *mount = steal_pointer(&m);
    *own = steal_pointer(&o);
    return true;
}

static int make_dir(const char *p, kl_error *err)
{
    if (mkdir(p, 0755) < 0 && errno != EEXIST)
        return kl_error_errno(err, errno, "cgroup: mkdir %s", p);
    return 0;
}

/* <mount><own>/kleene/<id>; "/" as own path gives no double slash. */
static char *cg_dir(const char *mount, const char *own, const char *id)
{
    const char *o = strcmp(own, "/") == 0 ? "" : own;
    if (!id)
        return xasprintf("%s%s/kleene", mount, o);
    return xasprintf("%s%s/kleene/%s", mount, o, id);
}

static int add_dir(cgroup_set *out, int slot, char *dir, kl_error *err)
{
    out->dirs[slot] = dir;
    _cleanup_free_ char *procs = xasprintf("%s/cgroup.procs", dir);
    out->procs_fds[slot] = open(procs, O_WRONLY | O_CLOEXEC);
    if (out->procs_fds[slot] < 0)
        return kl_error_errno(err, errno, "cgroup: opening %s", procs);
    return 0;
}

static int create_v2(const char *id, const host_limits *lim, const char *mount, const char *own,
                     cgroup_set *out, kl_error *err)
{
    _cleanup_free_ char *parent = cg_dir(mount, own, NULL);
    if (make_dir(parent, err) < 0)
        return -1;
    /* The parent's subtree_control must already delegate them: we never write our own
     * cgroup's files. */
    if (write_file(parent, "cgroup.subtree_control", "+memory +pids +cpu", err) < 0)
        return kl_error_prefix(err, "cgroup v2 (is kleened's own cgroup delegating "
                                    "memory, pids and cpu?)");
    char *dir = cg_dir(mount, own, id);
    if (make_dir(dir, err) < 0) {
        free(dir);
        return -1;
    }
    if (add_dir(out, 0, dir, err) < 0)
        return -1;
    char v[64];
    if (lim->memory_bytes > 0) {
        snprintf(v, sizeof(v), "%lld", lim->memory_bytes);
        if (write_file(dir, "memory.max", v, err) < 0)
            return -1;
    }
    if (lim->pids_max > 0) {
        snprintf(v, sizeof(v), "%lld", lim->pids_max);
        if (write_file(dir, "pids.max", v, err) < 0)
            return -1;
    }
    if (lim->cpu_millis > 0) {
        snprintf(v, sizeof(v), "%lld 100000", lim->cpu_millis * 100);
        if (write_file(dir, "cpu.max", v, err) < 0)
            return -1;
    }
    return 0;
}

int cgroups_create(const char *id, const host_limits *lim, cgroup_set *out, kl_error *err)
{
    memset(out, 0, sizeof(*out));
    for (int i = 0; i < CGROUPS_MAX; i++)
        out->procs_fds[i] = -1;

    _cleanup_free_ char *v2m = NULL, *v2o = NULL;
    if (has_v2_controllers(&v2m, &v2o)) {
        if (create_v2(id, lim, v2m, v2o, out, err) < 0) {
            cgroups_release(out, true);
            return -1;
        }
        return 0;
    }

    static const char *const ctrls[] = {"memory", "pids", "cpu"};
    int slot = 0;
    for (size_t i = 0; i < KL_ARRAY_SIZE(ctrls); i++) {
        if (strcmp(ctrls[i], "cpu") == 0 && lim->cpu_millis <= 0)
            continue;
        _cleanup_free_ char *mount = find_mount(ctrls[i]);
        _cleanup_free_ char *own = own_path(0, ctrls[i]);
        if (!mount || !own) {
            bool wanted =
                (i == 0 && lim->memory_bytes > 0) || (i == 1 && lim->pids_max > 0) || i == 2;
            if (wanted) {
                cgroups_release(out, true);
                return kl_error_set(err, ENOTSUP, "cgroup: no %s controller on this host",
                                    ctrls[i]);
            }
            continue;
        }
        _cleanup_free_ char *parent = cg_dir(mount, own, NULL);
        char *dir = cg_dir(mount, own, id);
        char v[64];
        int r = make_dir(parent, err);
        if (r == 0)
            r = make_dir(dir, err);
        if (r < 0) {
            free(dir);
            cgroups_release(out, true);
            return -1;
        }
        if (add_dir(out, slot++, dir, err) < 0) {
            cgroups_release(out, true);
            return -1;
        }
        r = 0;
        if (i == 0 && lim->memory_bytes > 0) {
            snprintf(v, sizeof(v), "%lld", lim->memory_bytes);
            r = write_file(dir, "memory.limit_in_bytes", v, err);
        } else if (i == 1 && lim->pids_max > 0) {
            snprintf(v, sizeof(v), "%lld", lim->pids_max);
            r = write_file(dir, "pids.max", v, err);
        } else if (i == 2) {
            r = write_file(dir, "cpu.cfs_period_us", "100000", err);
            snprintf(v, sizeof(v), "%lld", lim->cpu_millis * 100);
            if (r == 0)
                r = write_file(dir, "cpu.cfs_quota_us", v, err);
        }
        if (r < 0) {
            cgroups_release(out, true);
            return -1;
        }
    }
    return 0;
}

int cgroups_enter(const cgroup_set *cg, kl_error *err)
{
    for (int i = 0; i < CGROUPS_MAX; i++) {
        if (cg->procs_fds[i] < 0)
            continue;
        if (KL_RETRY_EINTR(write(cg->procs_fds[i], "0", 1)) != 1)
            return kl_error_errno(err, errno, "cgroup: joining %s", cg->dirs[i]);
    }
    return 0;
}

int cgroups_open_of_pid(int pid, cgroup_set *out, kl_error *err)
{
    memset(out, 0, sizeof(*out));
    for (int i = 0; i < CGROUPS_MAX; i++)
        out->procs_fds[i] = -1;
    _cleanup_free_ char *v2m = NULL, *v2o = NULL;
    static const char *const ctrls[] = {"memory", "pids", "cpu"};
    bool v2 = has_v2_controllers(&v2m, &v2o);
    int slot = 0;
    for (size_t i = 0; i < (v2 ? 1 : KL_ARRAY_SIZE(ctrls)); i++) {
        const char *c = v2 ? NULL : ctrls[i];
        _cleanup_free_ char *mount = v2 ? xstrdup(v2m) : find_mount(c);
        _cleanup_free_ char *path = own_path(pid, c);
        if (!mount || !path || !strstr(path, "/kleene/"))
            continue; /* the container has no cgroup of its own here */
        if (add_dir(out, slot++, xasprintf("%s%s", mount, path), err) < 0) {
            cgroups_release(out, false);
            return -1;
        }
    }
    return 0;
}

void cgroups_release(cgroup_set *cg, bool remove)
{
    for (int i = 0; i < CGROUPS_MAX; i++) {
        if (cg->procs_fds[i] >= 0)
            close(cg->procs_fds[i]);
        cg->procs_fds[i] = -1;
        if (cg->dirs[i] && remove) {
            /* The last task may still be on its way out of the cgroup: retry a little. */
            for (int tries = 0; tries < 200; tries++) {
                if (rmdir(cg->dirs[i]) == 0 || errno != EBUSY)
                    break;
                nanosleep(&(struct timespec){0, 500000}, NULL);
            }
        }
        free(cg->dirs[i]);
        cg->dirs[i] = NULL;
    }
}
