/* kleene-runtime's per-container state (ocistate.h). */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/cleanup.h"
#include "lib/jsonx.h"
#include "lib/xalloc.h"
#include "ociruntime/ocispec.h"
#include "ociruntime/ocistate.h"

#define STATE_FILE_MAX (8u * 1024 * 1024)

int oci_id_check(const char *id, kl_error *err)
{
    size_t n = id ? strlen(id) : 0;
    if (n == 0)
        return kl_error_set(err, EINVAL, "container id cannot be empty");
    if (n > OCI_ID_MAX)
        return kl_error_set(err, EINVAL, "container id is longer than %d characters", OCI_ID_MAX);
    if (id[0] == '.')
        return kl_error_set(err, EINVAL, "invalid container id '%.64s': it starts with '.'", id);
    for (size_t i = 0; i < n; i++) {
        char c = id[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '+' || c == '-' || c == '.'))
            return kl_error_set(err, EINVAL,
                                "invalid container id '%.64s': only letters, digits and _+-. are "
                                "allowed",
                                id);
    }
    return 0;
}

int oci_root_open(const char *root, kl_error *err)
{
    if (!root || root[0] != '/')
        return kl_error_set(err, EINVAL, "--root must be an absolute path");
    _cleanup_free_ char *p = xstrdup(root);
    for (char *s = p + 1;; s++) {
        if (*s == '/' || !*s) {
            char saved = *s;
            *s = '\0';
            if (mkdir(p, 0700) < 0 && errno != EEXIST)
                return kl_error_errno(err, errno, "creating %s", p);
            *s = saved;
            if (!saved)
                break;
        }
    }
    int fd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return kl_error_errno(err, errno, "opening %s", root);
    return fd;
}

static int lock_dir(int rootfd, const char *id, bool exclusive, kl_error *err)
{
    _cleanup_close_ int fd = openat(rootfd, id, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) {
        if (errno == ENOENT)
            return kl_error_set(err, ENOENT, "container %s does not exist", id);
        return kl_error_errno(err, errno, "container %s: opening its state", id);
    }
    if (KL_RETRY_EINTR(flock(fd, exclusive ? LOCK_EX : LOCK_SH)) < 0)
        return kl_error_errno(err, errno, "container %s: locking its state", id);
    /* Removed while we waited for the lock (a delete): it is gone. */
    struct stat st;
    if (fstat(fd, &st) < 0 || st.st_nlink == 0)
        return kl_error_set(err, ENOENT, "container %s does not exist", id);
    return steal_fd(&fd);
}

int oci_state_create_dir(int rootfd, const char *id, kl_error *err)
{
    if (oci_id_check(id, err) < 0)
        return -1;
    if (mkdirat(rootfd, id, 0700) < 0) {
        if (errno == EEXIST)
            return kl_error_set(err, EEXIST, "container with id %s already exists", id);
        return kl_error_errno(err, errno, "container %s: creating its state directory", id);
    }
    int fd = lock_dir(rootfd, id, true, err);
    if (fd < 0)
        unlinkat(rootfd, id, AT_REMOVEDIR);
    return fd;
}

int oci_state_open_dir(int rootfd, const char *id, bool exclusive, kl_error *err)
{
    if (oci_id_check(id, err) < 0)
        return -1;
    return lock_dir(rootfd, id, exclusive, err);
}

static json_t *strmap_json(char **keys, char **values)
{
    json_t *o = json_object();
    for (size_t i = 0; keys && keys[i]; i++)
        json_object_set_new(o, keys[i], json_string(values[i]));
    return o;
}

int oci_state_save(int dirfd, const oci_state *s, kl_error *err)
{
    _cleanup_json_ json_t *j = json_object();
    json_object_set_new(j, "id", json_string(s->id));
    json_object_set_new(j, "pid", json_integer(s->pid));
    json_object_set_new(j, "pid_start", json_integer((json_int_t)s->pid_start));
    json_object_set_new(j, "bundle", json_string(s->bundle));
    json_object_set_new(j, "rootfs", json_string(s->rootfs ? s->rootfs : ""));
    json_object_set_new(j, "created", json_string(s->created ? s->created : ""));
    json_object_set_new(j, "annotations", strmap_json(s->annotation_keys, s->annotation_values));
    json_object_set_new(j, "cgroups", jx_from_strv(s->cgroups));
    json_object_set_new(j, "config", json_string(s->config_json ? s->config_json : ""));
    json_object_set_new(j, "creating", json_boolean(s->status == OCI_CREATING));
    if (s->host_mounts)
        json_object_set_new(j, "host_mounts", json_string(s->host_mounts));
    _cleanup_free_ char *text = jx_dump(j);
    _cleanup_close_ int fd = openat(dirfd, OCI_STATE_NAME ".tmp",
                                    O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0)
        return kl_error_errno(err, errno, "writing the state of %s", s->id);
    size_t n = strlen(text);
    /* No fsync: --root lives on /run (a tmpfs), whose content a reboot takes anyway; the
     * rename keeps every reader from seeing half a file. */
    if (KL_RETRY_EINTR(write(fd, text, n)) != (ssize_t)n)
        return kl_error_errno(err, errno, "writing the state of %s", s->id);
    if (renameat(dirfd, OCI_STATE_NAME ".tmp", dirfd, OCI_STATE_NAME) < 0)
        return kl_error_errno(err, errno, "writing the state of %s", s->id);
    return 0;
}

int oci_state_load(int dirfd, oci_state *out, kl_error *err)
{
    memset(out, 0, sizeof(*out));
    _cleanup_close_ int fd = openat(dirfd, OCI_STATE_NAME, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) {
        if (errno == ENOENT) /* a create that did not get as far as its first state */
            return kl_error_set(err, ENOENT, "the container's state is missing");
        return kl_error_errno(err, errno, "reading the container's state");
    }
    struct stat st;
    if (fstat(fd, &st) < 0 || (size_t)st.st_size > STATE_FILE_MAX)
        return kl_error_set(err, EINVAL, "the container's state is unreadable");
    json_error_t je;
    _cleanup_json_ json_t *j = json_loadfd(fd, 0, &je);
    if (!j || !json_is_object(j))
        return kl_error_set(err, EINVAL, "the container's state is corrupt: %s", je.text);
    out->id = xstrdup(jx_str(j, "id", ""));
    out->pid = (int)jx_int(j, "pid", 0);
    out->pid_start = (uint64_t)jx_int(j, "pid_start", 0);
    out->bundle = xstrdup(jx_str(j, "bundle", ""));
    out->rootfs = xstrdup(jx_str(j, "rootfs", ""));
    out->created = xstrdup(jx_str(j, "created", ""));
    out->config_json = xstrdup(jx_str(j, "config", ""));
    out->cgroups = jx_strv(json_object_get(j, "cgroups"));
    const char *hm = jx_str(j, "host_mounts", NULL);
    out->host_mounts = hm ? xstrdup(hm) : NULL;
    json_t *a = json_object_get(j, "annotations");
    if (json_is_object(a)) {
        out->annotation_keys = xcalloc(json_object_size(a) + 1, sizeof(char *));
        out->annotation_values = xcalloc(json_object_size(a) + 1, sizeof(char *));
        size_t n = 0;
        const char *k;
        json_t *v;
        json_object_foreach(a, k, v)
        {
            out->annotation_keys[n] = xstrdup(k);
            out->annotation_values[n++] = xstrdup(json_is_string(v) ? json_string_value(v) : "");
        }
    }
    out->status = jx_bool(j, "creating", false) ? OCI_CREATING : oci_state_observe(dirfd, out);
    return 0;
}

void oci_state_free(oci_state *s)
{
    free(s->id);
    free(s->bundle);
    free(s->rootfs);
    free(s->created);
    free(s->config_json);
    free(s->host_mounts);
    strv_free(s->annotation_keys);
    strv_free(s->annotation_values);
    strv_free(s->cgroups);
    memset(s, 0, sizeof(*s));
}

int oci_state_remove(int rootfd, int dirfd, const char *id, kl_error *err)
{
    static const char *const files[] = {OCI_FIFO_NAME, OCI_STATE_NAME, OCI_STATE_NAME ".tmp"};
    for (size_t i = 0; i < KL_ARRAY_SIZE(files); i++)
        if (unlinkat(dirfd, files[i], 0) < 0 && errno != ENOENT)
            return kl_error_errno(err, errno, "container %s: removing %s", id, files[i]);
    if (unlinkat(rootfd, id, AT_REMOVEDIR) < 0 && errno != ENOENT)
        return kl_error_errno(err, errno, "container %s: removing its state directory", id);
    return 0;
}

uint64_t oci_pid_start_time(int pid)
{
    if (pid <= 0)
        return 0;
    char p[64], buf[1024];
    snprintf(p, sizeof(p), "/proc/%d/stat", pid);
    _cleanup_close_ int fd = open(p, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    char *rp = strrchr(buf, ')');
    if (!rp || rp[1] != ' ')
        return 0;
    /* After ") ": field 3 (state) ... field 22 (starttime): 19 more spaces. */
    char *s = rp + 2;
    if (*s == 'Z' || *s == 'X')
        return 0;
    for (int f = 3; f < 22 && s; f++) {
        s = strchr(s, ' ');
        if (s)
            s++;
    }
    return s ? strtoull(s, NULL, 10) : 0;
}

bool oci_pid_is_alive(int pid, uint64_t start)
{
    uint64_t now = oci_pid_start_time(pid);
    return now != 0 && now == start;
}

static bool is_frozen(char *const *cgroups)
{
    for (char *const *c = cgroups; c && *c; c++) {
        _cleanup_free_ char *p = xasprintf("%s/freezer.state", *c);
        _cleanup_fclose_ FILE *f = fopen(p, "re");
        char line[32];
        if (f && fgets(line, sizeof(line), f))
            return strncmp(line, "FROZEN", 6) == 0 || strncmp(line, "FREEZING", 8) == 0;
    }
    return false;
}

oci_status oci_state_observe(int dirfd, const oci_state *s)
{
    if (!oci_pid_is_alive(s->pid, s->pid_start))
        return OCI_STOPPED;
    struct stat st;
    if (fstatat(dirfd, OCI_FIFO_NAME, &st, AT_SYMLINK_NOFOLLOW) == 0)
        return OCI_CREATED;
    if (is_frozen(s->cgroups))
        return OCI_PAUSED;
    return OCI_RUNNING;
}

const char *oci_status_name(oci_status st)
{
    switch (st) {
    case OCI_CREATING:
        return "creating";
    case OCI_CREATED:
        return "created";
    case OCI_RUNNING:
        return "running";
    case OCI_PAUSED:
        return "paused";
    default:
        return "stopped";
    }
}

char *oci_state_json(const oci_state *s, bool pretty)
{
    _cleanup_json_ json_t *j = json_object();
    json_object_set_new(j, "ociVersion", json_string("1.0.2"));
    json_object_set_new(j, "id", json_string(s->id));
    json_object_set_new(j, "status", json_string(oci_status_name(s->status)));
    if (s->status != OCI_STOPPED)
        json_object_set_new(j, "pid", json_integer(s->pid));
    else
        json_object_set_new(j, "pid", json_integer(0));
    json_object_set_new(j, "bundle", json_string(s->bundle));
    json_object_set_new(j, "annotations", strmap_json(s->annotation_keys, s->annotation_values));
    return json_dumps(j, JSON_PRESERVE_ORDER | (pretty ? JSON_INDENT(2) : JSON_COMPACT));
}
