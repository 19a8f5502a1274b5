/* Mount option lists → mount(2) arguments (mountopts.h). */
#include <errno.h>
#include <string.h>
#include <sys/mount.h>

#include "host/linux/mountopts.h"
#include "lib/buf.h"
#include "lib/cleanup.h"
#include "lib/xalloc.h"

static const struct {
    const char *name;
    unsigned long set, clear;
} flag_opts[] = {
    {"defaults", 0, 0},
    {"ro", MS_RDONLY, 0},
    {"rw", 0, MS_RDONLY},
    {"nosuid", MS_NOSUID, 0},
    {"suid", 0, MS_NOSUID},
    {"nodev", MS_NODEV, 0},
    {"dev", 0, MS_NODEV},
    {"noexec", MS_NOEXEC, 0},
    {"exec", 0, MS_NOEXEC},
    {"sync", MS_SYNCHRONOUS, 0},
    {"async", 0, MS_SYNCHRONOUS},
    {"dirsync", MS_DIRSYNC, 0},
    {"mand", MS_MANDLOCK, 0},
    {"nomand", 0, MS_MANDLOCK},
    {"noatime", MS_NOATIME, 0},
    {"atime", 0, MS_NOATIME},
    {"nodiratime", MS_NODIRATIME, 0},
    {"diratime", 0, MS_NODIRATIME},
    {"relatime", MS_RELATIME, 0},
    {"norelatime", 0, MS_RELATIME},
    {"strictatime", MS_STRICTATIME, 0},
    {"nostrictatime", 0, MS_STRICTATIME},
    {"silent", MS_SILENT, 0},
    {"loud", 0, MS_SILENT},
};

static const struct {
    const char *name;
    unsigned long flags;
} prop_opts[] = {
    {"private", MS_PRIVATE},       {"rprivate", MS_PRIVATE | MS_REC},
    {"shared", MS_SHARED},         {"rshared", MS_SHARED | MS_REC},
    {"slave", MS_SLAVE},           {"rslave", MS_SLAVE | MS_REC},
    {"unbindable", MS_UNBINDABLE}, {"runbindable", MS_UNBINDABLE | MS_REC},
};

int mount_opts_parse(char *const *options, mount_opts *out, kl_error *err)
{
    memset(out, 0, sizeof(*out));
    _cleanup_buf_ kl_buf data = KL_BUF_INIT;
    for (char *const *o = options; o && *o; o++) {
        const char *s = *o;
        bool done = false;
        for (size_t i = 0; !done && i < KL_ARRAY_SIZE(flag_opts); i++)
            if (strcmp(s, flag_opts[i].name) == 0) {
                out->flags = (out->flags & ~flag_opts[i].clear) | flag_opts[i].set;
                out->clear = (out->clear & ~flag_opts[i].set) | flag_opts[i].clear;
                done = true;
            }
        for (size_t i = 0; !done && i < KL_ARRAY_SIZE(prop_opts); i++)
            if (strcmp(s, prop_opts[i].name) == 0) {
                out->propagation = prop_opts[i].flags;
                done = true;
            }
        if (done)
            continue;
        if (strcmp(s, "bind") == 0) {
            out->bind = true;
            continue;
        }
        if (strcmp(s, "rbind") == 0) {
            out->bind = out->recursive = true;
            continue;
        }
        if (strcmp(s, "remount") == 0 || strcmp(s, "move") == 0 || strncmp(s, "idmap", 5) == 0 ||
            strncmp(s, "ridmap", 6) == 0 || strcmp(s, "tmpcopyup") == 0)
            return kl_error_set(err, ENOTSUP, "mount option '%.64s' is not supported", s);
        if (!*s)
            continue;
        if (strchr(s, ','))
            return kl_error_set(err, EINVAL, "mount option '%.64s' contains a comma", s);
        if (data.len)
            kl_buf_append(&data, ",", 1);
        kl_buf_append(&data, s, strlen(s));
    }
    if (data.len) {
        out->data = xstrndup(data.data, data.len);
    }
    return 0;
}

void mount_opts_free(mount_opts *o)
{
    free(o->data);
    o->data = NULL;
}

unsigned long long mount_opts_attrs(unsigned long flags)
{
    unsigned long long a = 0;
    if (flags & MS_RDONLY)
        a |= MOUNT_ATTR_RDONLY;
    if (flags & MS_NOSUID)
        a |= MOUNT_ATTR_NOSUID;
    if (flags & MS_NODEV)
        a |= MOUNT_ATTR_NODEV;
    if (flags & MS_NOEXEC)
        a |= MOUNT_ATTR_NOEXEC;
    if (flags & MS_NODIRATIME)
        a |= MOUNT_ATTR_NODIRATIME;
    if (flags & MS_NOATIME)
        a |= MOUNT_ATTR_NOATIME;
    else if (flags & MS_STRICTATIME)
        a |= MOUNT_ATTR_STRICTATIME;
    return a;
}
