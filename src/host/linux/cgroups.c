/* Container cgroups: v1 memory, pids and cpu hierarchies (this machine is a v1/v2 hybrid whose
 * v2 side has only hugetlb), or v2 when the unified hierarchy offers those controllers.
 *
 * A container's cgroup is <controller mount>/<the daemon's own path>/kleene/<id>, the own path
 * read from /proc/self/cgroup: nesting under our own cgroup keeps whoever accounts for the
 * daemon (a supervisor, a CI harness) accounting for its containers too. It must never write
 * to the daemon's own cgroup files, only create and remove below them. */
#include <dirent.h>
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

static int add_dir(cgroup_set *out, int slot, char *dir, const char *join, kl_error *err)
{
    out->dirs[slot] = dir;
    _cleanup_free_ char *procs = xasprintf("%s/cgroup.procs", join ? join : dir);
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
    if (add_dir(out, 0, dir, NULL, err) < 0)
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

static bool has_token(const char *list, const char *tok)
{
    size_t n = strlen(tok);
    for (const char *p = list; p && *p;) {
        size_t len = strcspn(p, ",");
        if (len == n && strncmp(p, tok, n) == 0)
            return true;
        p += len;
        if (*p == ',')
            p++;
    }
    return false;
}

/* A new v1 cpuset cgroup starts with no cpus and no mems (unless clone_children), and then no
 * task can join it: give it its parent's. */
static int cpuset_inherit(const char *parent, const char *dir, kl_error *err)
{
    static const char *const files[] = {"cpuset.cpus", "cpuset.mems"};
    for (size_t i = 0; i < KL_ARRAY_SIZE(files); i++) {
        _cleanup_free_ char *pp = xasprintf("%s/%s", parent, files[i]);
        _cleanup_free_ char *cp = xasprintf("%s/%s", dir, files[i]);
        char have[512] = "", want[512] = "";
        _cleanup_fclose_ FILE *c = fopen(cp, "re");
        if (c && fgets(have, sizeof(have), c) && have[0] != '\n')
            continue;
        _cleanup_fclose_ FILE *pf = fopen(pp, "re");
        if (!pf || !fgets(want, sizeof(want), pf))
            return kl_error_errno(err, errno ? errno : EIO, "cgroup: reading %s", pp);
        want[strcspn(want, "\n")] = '\0';
        if (write_file(dir, files[i], want, err) < 0)
            return -1;
    }
    return 0;
}

static int write_limits_v1(const char *ctrls, const char *dir, const host_limits *lim,
                           kl_error *err)
{
    char v[64];
    if (has_token(ctrls, "memory") && lim->memory_bytes > 0) {
        snprintf(v, sizeof(v), "%lld", lim->memory_bytes);
        if (write_file(dir, "memory.limit_in_bytes", v, err) < 0)
            return -1;
    }
    if (has_token(ctrls, "pids") && lim->pids_max > 0) {
        snprintf(v, sizeof(v), "%lld", lim->pids_max);
        if (write_file(dir, "pids.max", v, err) < 0)
            return -1;
    }
    if (has_token(ctrls, "cpu") && lim->cpu_millis > 0) {
        snprintf(v, sizeof(v), "%lld", lim->cpu_millis * 100);
        if (write_file(dir, "cpu.cfs_period_us", "100000", err) < 0 ||
            write_file(dir, "cpu.cfs_quota_us", v, err) < 0)
            return -1;
    }
    return 0;
}

/* For an init as pid 1 (cgroups_create with every): a cgroup in each hierarchy we are in. */
static int create_every(const char *id, const host_limits *lim, cgroup_set *out, kl_error *err)
{
    _cleanup_free_ char *v2m = NULL, *v2o = NULL;
    if (has_v2_controllers(&v2m, &v2o)) {
        if (create_v2(id, lim, v2m, v2o, out, err) < 0)
            return -1;
        _cleanup_free_ char *payload = xasprintf("%s/payload", out->dirs[0]);
        if (make_dir(payload, err) < 0)
            return -1;
        close(out->procs_fds[0]);
        out->procs_fds[0] = -1;
        out->mounts[0] = xstrdup(v2m);
        _cleanup_free_ char *procs = xasprintf("%s/cgroup.procs", payload);
        out->procs_fds[0] = open(procs, O_WRONLY | O_CLOEXEC);
        if (out->procs_fds[0] < 0)
            return kl_error_errno(err, errno, "cgroup: opening %s", procs);
        return 0;
    }
    _cleanup_fclose_ FILE *f = fopen("/proc/self/cgroup", "re");
    if (!f)
        return kl_error_errno(err, errno, "cgroup: reading /proc/self/cgroup");
    char line[4096];
    int slot = 0;
    while (fgets(line, sizeof(line), f)) {
        line[strcspn(line, "\n")] = '\0';
        char *c1 = strchr(line, ':');
        char *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
        if (!c2)
            continue;
        *c2 = '\0';
        const char *ctrls = c1 + 1, *own = c2 + 1;
        _cleanup_free_ char *first = xstrndup(ctrls, strcspn(ctrls, ","));
        _cleanup_free_ char *mount = find_mount(*ctrls ? first : NULL);
        if (!mount)
            continue; /* not mounted here: nothing to join, nothing to show */
        if (slot >= CGROUPS_MAX)
            return kl_error_set(err, E2BIG, "cgroup: more than %d hierarchies", CGROUPS_MAX);
        _cleanup_free_ char *parent = cg_dir(mount, own, NULL);
        char *dir = cg_dir(mount, own, id);
        _cleanup_free_ char *payload = xasprintf("%s/payload", dir);
        _cleanup_free_ char *ownp = xasprintf("%s%s", mount, strcmp(own, "/") == 0 ? "" : own);
        bool cpuset = has_token(ctrls, "cpuset");
        int r = make_dir(parent, err);
        if (r == 0 && cpuset)
            r = cpuset_inherit(ownp, parent, err);
        if (r == 0)
            r = make_dir(dir, err);
        if (r == 0 && cpuset)
            r = cpuset_inherit(parent, dir, err);
        if (r == 0)
            r = make_dir(payload, err);
        if (r == 0 && cpuset)
            r = cpuset_inherit(dir, payload, err);
        if (r < 0) {
            free(dir);
            return -1;
        }
        out->mounts[slot] = xstrdup(mount);
        if (add_dir(out, slot++, dir, payload, err) < 0 ||
            write_limits_v1(ctrls, dir, lim, err) < 0)
            return -1;
    }
    if (ferror(f))
        return kl_error_errno(err, EIO, "cgroup: reading /proc/self/cgroup");
    if (slot == 0)
        return kl_error_set(err, ENOENT,
                            "an init as pid 1 needs cgroups, and no cgroup hierarchy is mounted in "
                            "kleened's mount namespace (/sys/fs/cgroup)");
    return 0;
}

int cgroups_create(const char *id, const host_limits *lim, bool every, cgroup_set *out,
                   kl_error *err)
{
    memset(out, 0, sizeof(*out));
    for (int i = 0; i < CGROUPS_MAX; i++)
        out->procs_fds[i] = -1;
    if (every) {
        if (create_every(id, lim, out, err) < 0) {
            cgroups_release(out, true);
            return -1;
        }
        return 0;
    }

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
        if (add_dir(out, slot++, dir, NULL, err) < 0) {
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
    bool v2 = has_v2_controllers(&v2m, &v2o);
    char p[64];
    snprintf(p, sizeof(p), "/proc/%d/cgroup", pid);
    _cleanup_fclose_ FILE *f = fopen(p, "re");
    if (!f)
        return kl_error_errno(err, errno, "cgroup: reading %s", p);
    /* Every hierarchy in which the process sits in a cgroup of ours: memory and pids (and
     * cpu) for a plain container, all of them for an init's (cgroups_create with every). */
    char line[4096];
    int slot = 0;
    while (fgets(line, sizeof(line), f) && slot < CGROUPS_MAX) {
        line[strcspn(line, "\n")] = '\0';
        char *c1 = strchr(line, ':');
        char *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
        if (!c2)
            continue;
        *c2 = '\0';
        const char *ctrls = c1 + 1, *path = c2 + 1;
        if (v2 && *ctrls)
            continue;
        if (!strstr(path, "/kleene/"))
            continue; /* the container has no cgroup of its own here */
        _cleanup_free_ char *first = xstrndup(ctrls, strcspn(ctrls, ","));
        _cleanup_free_ char *mount = v2 ? xstrdup(v2m) : find_mount(*ctrls ? first : NULL);
        if (!mount)
            continue;
        if (add_dir(out, slot++, xasprintf("%s%s", mount, path), NULL, err) < 0) {
            cgroups_release(out, false);
            return -1;
        }
    }
    return 0;
}

int cgroups_mount_options(const char *mount_point, char fstype[16], char *opts, size_t opts_size,
                          kl_error *err)
{
    _cleanup_fclose_ FILE *f = fopen("/proc/self/mountinfo", "re");
    if (!f)
        return kl_error_errno(err, errno, "reading /proc/self/mountinfo");
    char line[4096];
    while (fgets(line, sizeof(line), f)) {
        char *sep = strstr(line, " - ");
        char mnt[1024], type[32], source[256], super[1024];
        if (!sep || sscanf(line, "%*s %*s %*s %*s %1023s", mnt) != 1 ||
            strcmp(mnt, mount_point) != 0)
            continue;
        if (sscanf(sep + 3, "%31s %255s %1023s", type, source, super) != 3)
            continue;
        if (strcmp(type, "cgroup") != 0 && strcmp(type, "cgroup2") != 0)
            continue;
        snprintf(fstype, 16, "%s", type);
        opts[0] = '\0';
        if (strcmp(type, "cgroup2") == 0)
            return 0;
        /* The options that name the hierarchy: its controllers and name=; "none" first when
         * it has no controller (a named hierarchy). */
        size_t n = 0;
        bool has_ctrl = false;
        for (char *save = NULL, *o = strtok_r(super, ",", &save); o;
             o = strtok_r(NULL, ",", &save)) {
            static const char *const flags[] = {
                "rw", "ro", "xattr", "noprefix", "clone_children", "cpuset_v2_mode"};
            bool is_flag = strchr(o, '=') && strncmp(o, "name=", 5) != 0;
            for (size_t i = 0; i < KL_ARRAY_SIZE(flags); i++)
                is_flag = is_flag || strcmp(o, flags[i]) == 0;
            if (is_flag)
                continue;
            if (strncmp(o, "name=", 5) != 0)
                has_ctrl = true;
            int w = snprintf(opts + n, opts_size - n, "%s%s", n ? "," : "", o);
            if (w < 0 || (size_t)w >= opts_size - n)
                return kl_error_set(err, E2BIG, "cgroup options of %s too long", mount_point);
            n += (size_t)w;
        }
        if (!has_ctrl) {
            char tmp[1024];
            snprintf(tmp, sizeof(tmp), "none%s%s", n ? "," : "", opts);
            snprintf(opts, opts_size, "%s", tmp);
        }
        return 0;
    }
    return kl_error_set(err, ENOENT, "no cgroup hierarchy mounted on %s", mount_point);
}

/* rmdir a cgroup and, depth first, the cgroups an init made below it (all empty of tasks once
 * the container has ended; a cgroup directory holds only its control files otherwise, which
 * rmdir takes along). */
static void rmdir_tree(const char *dir)
{
    _cleanup_closedir_ DIR *d = opendir(dir);
    if (d) {
        struct dirent *de;
        while ((de = readdir(d)))
            if (de->d_type == DT_DIR && strcmp(de->d_name, ".") != 0 &&
                strcmp(de->d_name, "..") != 0) {
                _cleanup_free_ char *sub = xasprintf("%s/%s", dir, de->d_name);
                rmdir_tree(sub);
            }
    }
    /* The last task may still be on its way out of the cgroup: retry a little. */
    for (int tries = 0; tries < 200; tries++) {
        if (rmdir(dir) == 0 || errno != EBUSY)
            break;
        nanosleep(&(struct timespec){0, 500000}, NULL);
    }
}

void cgroups_release(cgroup_set *cg, bool remove)
{
    for (int i = 0; i < CGROUPS_MAX; i++) {
        if (cg->procs_fds[i] >= 0)
            close(cg->procs_fds[i]);
        cg->procs_fds[i] = -1;
        if (cg->dirs[i] && remove)
            rmdir_tree(cg->dirs[i]);
        free(cg->dirs[i]);
        free(cg->mounts[i]);
        cg->dirs[i] = cg->mounts[i] = NULL;
    }
}
