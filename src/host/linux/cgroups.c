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

/* ---- full containers (host_full_spec): every hierarchy, a given path, OCI resources -------- */

/* mkdir -p of `rel` (no leading '/') below `base`, giving each new cpuset level its parent's
 * cpus and mems. */
static int make_path(const char *base, const char *rel, bool cpuset, kl_error *err)
{
    _cleanup_free_ char *p = xasprintf("%s/%s", base, rel);
    size_t blen = strlen(base);
    for (char *s = p + blen + 1;; s++) {
        if (*s == '/' || !*s) {
            char saved = *s;
            *s = '\0';
            if (s > p + blen + 1 && s[-1] != '/') {
                bool made = mkdir(p, 0755) == 0;
                if (!made && errno != EEXIST)
                    return kl_error_errno(err, errno, "cgroup: mkdir %s", p);
                if (made && cpuset) {
                    _cleanup_free_ char *parent = xstrdup(p);
                    *strrchr(parent, '/') = '\0';
                    if (cpuset_inherit(parent, p, err) < 0)
                        return -1;
                }
            }
            *s = saved;
            if (!saved)
                break;
        }
    }
    return 0;
}

int cgroups_create_full(const char *id, const char *path, const host_resources *res,
                        cgroup_set *out, kl_error *err)
{
    memset(out, 0, sizeof(*out));
    for (int i = 0; i < CGROUPS_MAX; i++)
        out->procs_fds[i] = -1;
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
            continue;
        if (slot >= CGROUPS_MAX) {
            cgroups_release(out, true);
            return kl_error_set(err, E2BIG, "cgroup: more than %d hierarchies", CGROUPS_MAX);
        }
        const char *o = strcmp(own, "/") == 0 ? "" : own;
        _cleanup_free_ char *base = NULL, *rel = NULL;
        if (path && path[0] == '/') {
            base = xstrdup(mount);
            rel = xstrdup(path + 1);
        } else {
            base = xasprintf("%s%s", mount, o);
            rel = path && *path ? xstrdup(path) : xasprintf("kleene/%s", id);
        }
        while (*rel && rel[strlen(rel) - 1] == '/')
            rel[strlen(rel) - 1] = '\0';
        if (!*rel) {
            cgroups_release(out, true);
            return kl_error_set(err, EINVAL, "cgroup: the path '%s' names a hierarchy's root",
                                path ? path : "");
        }
        if (make_path(base, rel, has_token(ctrls, "cpuset"), err) < 0) {
            cgroups_release(out, true);
            return -1;
        }
        out->mounts[slot] = xstrdup(mount);
        if (add_dir(out, slot++, xasprintf("%s/%s", base, rel), NULL, err) < 0) {
            cgroups_release(out, true);
            return -1;
        }
    }
    if (res && cgroups_apply_resources(out->dirs, res, err) < 0) {
        cgroups_release(out, true);
        return -1;
    }
    return 0;
}

/* The first directory of `dirs` that has `file`; NULL if none. */
static const char *dir_with(char *const *dirs, const char *file)
{
    for (char *const *d = dirs; d && *d; d++) {
        _cleanup_free_ char *p = xasprintf("%s/%s", *d, file);
        if (access(p, F_OK) == 0)
            return *d;
    }
    return NULL;
}

/* Write `val` to the first of the file names that exists in one of the dirs; ENOTSUP naming
 * `what` when none does. */
static int write_any(char *const *dirs, const char *const *files, const char *val, const char *what,
                     kl_error *err)
{
    for (const char *const *f = files; *f; f++) {
        const char *d = dir_with(dirs, *f);
        if (d)
            return write_file(d, *f, val, err);
    }
    return kl_error_set(err, ENOTSUP, "cgroup: %s cannot be set on this host (no %s)", what,
                        files[0]);
}

static void fmt_limit(char *v, size_t n, long long x)
{
    if (x < 0)
        snprintf(v, n, "-1");
    else
        snprintf(v, n, "%lld", x);
}

int cgroups_apply_resources(char *const *dirs, const host_resources *r, kl_error *err)
{
    char v[128];
    bool v2 =
        dir_with(dirs, "memory.max") != NULL && dir_with(dirs, "memory.limit_in_bytes") == NULL;
    if (r->has_memory_limit) {
        if (v2)
            snprintf(v, sizeof(v), r->memory_limit < 0 ? "max" : "%lld", r->memory_limit);
        else
            fmt_limit(v, sizeof(v), r->memory_limit);
        const char *const f[] = {v2 ? "memory.max" : "memory.limit_in_bytes", NULL};
        kl_error first = KL_ERROR_INIT;
        if (write_any(dirs, f, v, "memory.limit", &first) < 0) {
            /* Below the current memory+swap limit only: raise that first, then retry. */
            if (!r->has_memory_swap || v2) {
                *err = first;
                return -1;
            }
            char s[64];
            fmt_limit(s, sizeof(s), r->memory_swap);
            const char *const fs[] = {"memory.memsw.limit_in_bytes", NULL};
            if (write_any(dirs, fs, s, "memory.swap", err) < 0 ||
                write_any(dirs, f, v, "memory.limit", err) < 0)
                return -1;
        }
    }
    if (r->has_memory_swap) {
        if (v2) {
            /* OCI's swap is memory+swap; v2 limits swap alone. */
            long long s = r->memory_swap < 0 ? -1
                          : r->has_memory_limit && r->memory_limit > 0
                              ? r->memory_swap - r->memory_limit
                              : r->memory_swap;
            snprintf(v, sizeof(v), s < 0 ? "max" : "%lld", s);
            const char *const f[] = {"memory.swap.max", NULL};
            if (write_any(dirs, f, v, "memory.swap", err) < 0)
                return -1;
        } else {
            fmt_limit(v, sizeof(v), r->memory_swap);
            const char *const f[] = {"memory.memsw.limit_in_bytes", NULL};
            if (write_any(dirs, f, v, "memory.swap", err) < 0)
                return -1;
        }
    }
    if (r->has_memory_reservation) {
        if (v2)
            snprintf(v, sizeof(v), r->memory_reservation < 0 ? "max" : "%lld",
                     r->memory_reservation);
        else
            fmt_limit(v, sizeof(v), r->memory_reservation);
        const char *const f[] = {v2 ? "memory.low" : "memory.soft_limit_in_bytes", NULL};
        if (write_any(dirs, f, v, "memory.reservation", err) < 0)
            return -1;
    }
    if (r->has_memory_swappiness && !v2) {
        snprintf(v, sizeof(v), "%llu", r->memory_swappiness);
        const char *const f[] = {"memory.swappiness", NULL};
        if (write_any(dirs, f, v, "memory.swappiness", err) < 0)
            return -1;
    }
    if (r->has_disable_oom_killer && r->disable_oom_killer && !v2) {
        const char *const f[] = {"memory.oom_control", NULL};
        if (write_any(dirs, f, "1", "memory.disableOOMKiller", err) < 0)
            return -1;
    }
    if (r->has_cpu_shares && r->cpu_shares) {
        if (dir_with(dirs, "cpu.shares")) {
            snprintf(v, sizeof(v), "%llu", r->cpu_shares);
            const char *const f[] = {"cpu.shares", NULL};
            if (write_any(dirs, f, v, "cpu.shares", err) < 0)
                return -1;
        } else {
            /* v2 weight from shares, as runc converts: [2, 262144] → [1, 10000]. */
            unsigned long long w = 1 + ((r->cpu_shares - 2) * 9999) / 262142;
            snprintf(v, sizeof(v), "%llu", w);
            const char *const f[] = {"cpu.weight", NULL};
            if (write_any(dirs, f, v, "cpu.shares", err) < 0)
                return -1;
        }
    }
    if (r->has_cpu_period || r->has_cpu_quota) {
        if (dir_with(dirs, "cpu.cfs_quota_us")) {
            if (r->has_cpu_period && r->cpu_period) {
                snprintf(v, sizeof(v), "%llu", r->cpu_period);
                const char *const f[] = {"cpu.cfs_period_us", NULL};
                if (write_any(dirs, f, v, "cpu.period", err) < 0)
                    return -1;
            }
            if (r->has_cpu_quota && r->cpu_quota) {
                snprintf(v, sizeof(v), "%lld", r->cpu_quota);
                const char *const f[] = {"cpu.cfs_quota_us", NULL};
                if (write_any(dirs, f, v, "cpu.quota", err) < 0)
                    return -1;
            }
        } else {
            unsigned long long period = r->has_cpu_period && r->cpu_period ? r->cpu_period : 100000;
            if (r->has_cpu_quota && r->cpu_quota > 0)
                snprintf(v, sizeof(v), "%lld %llu", r->cpu_quota, period);
            else
                snprintf(v, sizeof(v), "max %llu", period);
            const char *const f[] = {"cpu.max", NULL};
            if (write_any(dirs, f, v, "cpu.quota", err) < 0)
                return -1;
        }
    }
    if (r->has_cpu_rt_period && r->cpu_rt_period) {
        snprintf(v, sizeof(v), "%llu", r->cpu_rt_period);
        const char *const f[] = {"cpu.rt_period_us", NULL};
        if (write_any(dirs, f, v, "cpu.realtimePeriod", err) < 0)
            return -1;
    }
    if (r->has_cpu_rt_runtime && r->cpu_rt_runtime) {
        snprintf(v, sizeof(v), "%lld", r->cpu_rt_runtime);
        const char *const f[] = {"cpu.rt_runtime_us", NULL};
        if (write_any(dirs, f, v, "cpu.realtimeRuntime", err) < 0)
            return -1;
    }
    if (r->cpu_cpus && *r->cpu_cpus) {
        const char *const f[] = {"cpuset.cpus", NULL};
        if (write_any(dirs, f, r->cpu_cpus, "cpu.cpus", err) < 0)
            return -1;
    }
    if (r->cpu_mems && *r->cpu_mems) {
        const char *const f[] = {"cpuset.mems", NULL};
        if (write_any(dirs, f, r->cpu_mems, "cpu.mems", err) < 0)
            return -1;
    }
    if (r->has_pids_limit) {
        if (r->pids_limit > 0)
            snprintf(v, sizeof(v), "%lld", r->pids_limit);
        else
            snprintf(v, sizeof(v), "max");
        const char *const f[] = {"pids.max", NULL};
        if (write_any(dirs, f, v, "pids.limit", err) < 0)
            return -1;
    }
    if (r->has_blkio_weight && r->blkio_weight) {
        snprintf(v, sizeof(v), "%u", r->blkio_weight);
        const char *const f[] = {"blkio.weight", "blkio.bfq.weight", "io.weight", "io.bfq.weight",
                                 NULL};
        if (write_any(dirs, f, v, "blockIO.weight", err) < 0)
            return -1;
    }
    if (r->has_blkio_leaf_weight && r->blkio_leaf_weight) {
        snprintf(v, sizeof(v), "%u", r->blkio_leaf_weight);
        const char *const f[] = {"blkio.leaf_weight", NULL};
        if (write_any(dirs, f, v, "blockIO.leafWeight", err) < 0)
            return -1;
    }
    if (r->has_net_class_id) {
        snprintf(v, sizeof(v), "%u", r->net_class_id);
        const char *const f[] = {"net_cls.classid", NULL};
        if (write_any(dirs, f, v, "network.classID", err) < 0)
            return -1;
    }
    for (size_t i = 0; i < r->n_hugepages; i++) {
        _cleanup_free_ char *f1 = xasprintf("hugetlb.%s.limit_in_bytes", r->hugepage_sizes[i]);
        _cleanup_free_ char *f2 = xasprintf("hugetlb.%s.max", r->hugepage_sizes[i]);
        const char *const f[] = {f1, f2, NULL};
        snprintf(v, sizeof(v), "%llu", r->hugepage_limits[i]);
        if (write_any(dirs, f, v, "hugepageLimits", err) < 0)
            return -1;
    }
    if (r->n_devices) {
        const char *d = dir_with(dirs, "devices.allow");
        if (!d)
            return kl_error_set(err, ENOTSUP,
                                "cgroup: device rules need the v1 devices controller");
        for (size_t i = 0; i < r->n_devices; i++) {
            const host_device_rule *x = &r->devices[i];
            char maj[24], min[24];
            if (x->major < 0)
                snprintf(maj, sizeof(maj), "*");
            else
                snprintf(maj, sizeof(maj), "%lld", x->major);
            if (x->minor < 0)
                snprintf(min, sizeof(min), "*");
            else
                snprintf(min, sizeof(min), "%lld", x->minor);
            if (x->type == 'a')
                snprintf(v, sizeof(v), "a");
            else
                snprintf(v, sizeof(v), "%c %s:%s %s", x->type, maj, min,
                         x->access[0] ? x->access : "rwm");
            if (write_file(d, x->allow ? "devices.allow" : "devices.deny", v, err) < 0)
                return -1;
        }
    }
    return 0;
}

char **host_process_cgroups(const host_process *p)
{
    char **v = xcalloc(CGROUPS_MAX + 1, sizeof(char *));
    size_t n = 0;
    for (int i = 0; p->priv && i < CGROUPS_MAX; i++)
        if (p->priv->cg.dirs[i])
            v[n++] = xstrdup(p->priv->cg.dirs[i]);
    return v;
}

int host_cgroups_remove(char *const *dirs, kl_error *err)
{
    int r = 0;
    for (char *const *d = dirs; d && *d; d++) {
        rmdir_tree(*d);
        if (access(*d, F_OK) == 0 && r == 0)
            r = kl_error_set(err, EBUSY, "cgroup: %s is still in use", *d);
    }
    return r;
}

int host_cgroups_freeze(char *const *dirs, bool frozen, kl_error *err)
{
    const char *d = dir_with(dirs, "freezer.state");
    if (d) {
        if (write_file(d, "freezer.state", frozen ? "FROZEN" : "THAWED", err) < 0)
            return -1;
        /* FREEZING until every task has stopped. */
        for (int tries = 0; frozen && tries < 2000; tries++) {
            _cleanup_free_ char *p = xasprintf("%s/freezer.state", d);
            _cleanup_fclose_ FILE *f = fopen(p, "re");
            char line[32] = "";
            if (f && fgets(line, sizeof(line), f) && strncmp(line, "FROZEN", 6) == 0)
                return 0;
            nanosleep(&(struct timespec){0, 1000000}, NULL);
        }
        return frozen ? kl_error_set(err, EBUSY, "cgroup: %s did not freeze", d) : 0;
    }
    d = dir_with(dirs, "cgroup.freeze");
    if (!d)
        return kl_error_set(err, ENOTSUP, "cgroup: no freezer for this container");
    return write_file(d, "cgroup.freeze", frozen ? "1" : "0", err);
}

int host_cgroups_update(char *const *dirs, const host_resources *res, kl_error *err)
{
    return cgroups_apply_resources(dirs, res, err);
}

int host_cgroups_pids(char *const *dirs, int **pids, kl_error *err)
{
    const char *d = dir_with(dirs, "cgroup.procs");
    if (!d)
        return kl_error_set(err, ENOENT, "cgroup: the container has no cgroup");
    _cleanup_free_ char *p = xasprintf("%s/cgroup.procs", d);
    _cleanup_fclose_ FILE *f = fopen(p, "re");
    if (!f)
        return kl_error_errno(err, errno, "cgroup: reading %s", p);
    size_t n = 0, cap = 16;
    int *v = xcalloc(cap + 1, sizeof(int));
    char line[64];
    while (fgets(line, sizeof(line), f)) {
        if (n == cap) {
            cap *= 2;
            v = xrealloc(v, (cap + 1) * sizeof(int));
        }
        v[n++] = atoi(line);
    }
    v[n] = 0;
    *pids = v;
    return (int)n;
}

int cgroups_open_all_of_pid(int pid, cgroup_set *out, kl_error *err)
{
    memset(out, 0, sizeof(*out));
    for (int i = 0; i < CGROUPS_MAX; i++)
        out->procs_fds[i] = -1;
    char p[64];
    snprintf(p, sizeof(p), "/proc/%d/cgroup", pid);
    _cleanup_fclose_ FILE *f = fopen(p, "re");
    if (!f)
        return kl_error_errno(err, errno, "cgroup: reading %s", p);
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
        _cleanup_free_ char *first = xstrndup(ctrls, strcspn(ctrls, ","));
        _cleanup_free_ char *mount = find_mount(*ctrls ? first : NULL);
        if (!mount)
            continue;
        if (add_dir(out, slot++, xasprintf("%s%s", mount, strcmp(path, "/") == 0 ? "" : path), NULL,
                    err) < 0) {
            cgroups_release(out, false);
            return -1;
        }
    }
    return 0;
}

/* ---- usage (Docker's stats) ----------------------------------------------------------------- */

/* The first number in <dir>/<file> (for "key value" files: the value of `key`); -1 if
 * unreadable; "max" reads as 0. */
static long long read_number(const char *dir, const char *file, const char *key)
{
    _cleanup_free_ char *p = xasprintf("%s/%s", dir, file);
    _cleanup_fclose_ FILE *f = fopen(p, "re");
    char line[256];
    while (f && fgets(line, sizeof(line), f)) {
        const char *v = line;
        if (key) {
            size_t k = strlen(key);
            if (strncmp(line, key, k) != 0 || line[k] != ' ')
                continue;
            v = line + k + 1;
        }
        if (!strncmp(v, "max", 3))
            return 0;
        return strtoll(v, NULL, 10);
    }
    return -1;
}

/* The directory of `pid` in the hierarchy of `controller` (NULL: v2), when it is one of ours
 * (under .../kleene/): usage read elsewhere would be some other group's. */
static char *our_dir_of(int pid, const char *controller)
{
    _cleanup_free_ char *m = find_mount(controller);
    _cleanup_free_ char *o = own_path(pid, controller);
    if (!m || !o || !strstr(o, "/kleene/"))
        return NULL;
    return xasprintf("%s%s", m, o);
}

void cgroups_usage_of_pid(int pid, long long *mem, long long *mem_limit, long long *cpu_ns,
                          long long *pids)
{
    _cleanup_free_ char *v2 = NULL, *v2mount = NULL, *v2own = NULL;
    if (has_v2_controllers(&v2mount, &v2own) && (v2 = our_dir_of(pid, NULL))) {
        *mem = read_number(v2, "memory.current", NULL);
        *mem_limit = read_number(v2, "memory.max", NULL);
        long long us = read_number(v2, "cpu.stat", "usage_usec");
        *cpu_ns = us >= 0 ? us * 1000 : -1;
        *pids = read_number(v2, "pids.current", NULL);
        if (*mem_limit < 0)
            *mem_limit = 0;
        return;
    }
    _cleanup_free_ char *mdir = our_dir_of(pid, "memory");
    _cleanup_free_ char *cdir = our_dir_of(pid, "cpuacct");
    _cleanup_free_ char *pdir = our_dir_of(pid, "pids");
    if (mdir) {
        *mem = read_number(mdir, "memory.usage_in_bytes", NULL);
        long long lim = read_number(mdir, "memory.limit_in_bytes", NULL);
        *mem_limit = lim > 0 && lim < (1LL << 60) ? lim : 0;
    }
    if (cdir)
        *cpu_ns = read_number(cdir, "cpuacct.usage", NULL);
    if (pdir)
        *pids = read_number(pdir, "pids.current", NULL);
}
