/* config.json → the runtime core's spec (ocimap.h). */
#include <errno.h>
#include <linux/filter.h>
#include <seccomp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/cleanup.h"
#include "lib/xalloc.h"
#include "ociruntime/ocimap.h"

static bool has_new_ns(const oci_config *c, const char *type)
{
    const oci_namespace *n = oci_config_namespace(c, type);
    return n != NULL;
}

/* runc's rule: a sysctl must be one of the container's own namespaces. */
static int check_sysctl(const oci_config *c, const char *key, kl_error *err)
{
    static const char *const ipc_keys[] = {
        "kernel.msgmax", "kernel.msgmnb", "kernel.msgmni", "kernel.sem",
        "kernel.shmall", "kernel.shmmax", "kernel.shmmni", "kernel.shm_rmid_forced"};
    for (size_t i = 0; i < KL_ARRAY_SIZE(ipc_keys); i++)
        if (strcmp(key, ipc_keys[i]) == 0)
            goto ipc;
    if (strncmp(key, "fs.mqueue.", 10) == 0)
        goto ipc;
    if (strncmp(key, "net.", 4) == 0) {
        if (!has_new_ns(c, "network"))
            return kl_error_set(err, EINVAL,
                                "config: linux.sysctl: %s needs the container's own network "
                                "namespace",
                                key);
        return 0;
    }
    if (strcmp(key, "kernel.hostname") == 0 || strcmp(key, "kernel.domainname") == 0) {
        if (!has_new_ns(c, "uts"))
            return kl_error_set(err, EINVAL,
                                "config: linux.sysctl: %s needs the container's own UTS namespace",
                                key);
        return 0;
    }
    return kl_error_set(
        err, EINVAL, "config: linux.sysctl: %s is not namespaced: it would change the host", key);
ipc:
    if (!has_new_ns(c, "ipc"))
        return kl_error_set(
            err, EINVAL, "config: linux.sysctl: %s needs the container's own IPC namespace", key);
    return 0;
}

static host_hook *map_hooks(const oci_hook_list *l)
{
    host_hook *h = xcalloc(l->n + 1, sizeof(host_hook));
    for (size_t i = 0; i < l->n; i++)
        h[i] = (host_hook){.path = l->hooks[i].path,
                           .args = l->hooks[i].args,
                           .env = l->hooks[i].env,
                           .timeout_s = l->hooks[i].timeout};
    return h;
}

void oci_map_resources(const oci_resources *r, host_resources *o, oci_mapped *m)
{
    memset(o, 0, sizeof(*o));
    o->has_memory_limit = r->has_memory_limit;
    o->memory_limit = r->memory_limit;
    o->has_memory_reservation = r->has_memory_reservation;
    o->memory_reservation = r->memory_reservation;
    o->has_memory_swap = r->has_memory_swap;
    o->memory_swap = r->memory_swap;
    o->has_memory_swappiness = r->has_memory_swappiness;
    o->memory_swappiness = r->memory_swappiness;
    o->has_disable_oom_killer = r->has_disable_oom_killer;
    o->disable_oom_killer = r->disable_oom_killer;
    o->has_cpu_shares = r->has_cpu_shares;
    o->cpu_shares = r->cpu_shares;
    o->has_cpu_quota = r->has_cpu_quota;
    o->cpu_quota = r->cpu_quota;
    o->has_cpu_period = r->has_cpu_period;
    o->cpu_period = r->cpu_period;
    o->has_cpu_rt_runtime = r->has_cpu_rt_runtime;
    o->cpu_rt_runtime = r->cpu_rt_runtime;
    o->has_cpu_rt_period = r->has_cpu_rt_period;
    o->cpu_rt_period = r->cpu_rt_period;
    o->cpu_cpus = r->cpu_cpus;
    o->cpu_mems = r->cpu_mems;
    o->has_pids_limit = r->has_pids_limit;
    o->pids_limit = r->pids_limit;
    o->has_blkio_weight = r->has_blkio_weight;
    o->blkio_weight = r->blkio_weight;
    o->has_blkio_leaf_weight = r->has_blkio_leaf_weight;
    o->blkio_leaf_weight = r->blkio_leaf_weight;
    o->has_net_class_id = r->has_net_class_id;
    o->net_class_id = r->net_class_id;
    if (r->n_hugepages) {
        free(m->hugepage_sizes);
        free(m->hugepage_limits);
        m->hugepage_sizes = xcalloc(r->n_hugepages + 1, sizeof(char *));
        m->hugepage_limits = xcalloc(r->n_hugepages + 1, sizeof(unsigned long long));
        for (size_t i = 0; i < r->n_hugepages; i++) {
            m->hugepage_sizes[i] = r->hugepages[i].page_size;
            m->hugepage_limits[i] = r->hugepages[i].limit;
        }
        o->hugepage_sizes = m->hugepage_sizes;
        o->hugepage_limits = m->hugepage_limits;
        o->n_hugepages = r->n_hugepages;
    }
    if (r->n_devices) {
        free(m->device_rules);
        m->device_rules = xcalloc(r->n_devices + 1, sizeof(host_device_rule));
        for (size_t i = 0; i < r->n_devices; i++) {
            host_device_rule *d = &m->device_rules[i];
            d->allow = r->devices[i].allow;
            d->type = r->devices[i].type;
            d->major = r->devices[i].major;
            d->minor = r->devices[i].minor;
            memcpy(d->access, r->devices[i].access, sizeof(d->access));
        }
        o->devices = m->device_rules;
        o->n_devices = r->n_devices;
    }
}

int oci_map_process(const oci_process *src, const oci_config *c, host_full_process *p,
                    oci_mapped *m, kl_error *err)
{
    memset(p, 0, sizeof(*p));
    p->uid = src->user.uid;
    p->gid = src->user.gid;
    if (src->user.n_additional_gids) {
        free(m->gids);
        m->gids = xcalloc(src->user.n_additional_gids + 1, sizeof(unsigned int));
        for (size_t i = 0; i < src->user.n_additional_gids; i++)
            m->gids[i] = src->user.additional_gids[i];
        p->additional_gids = m->gids;
        p->n_additional_gids = src->user.n_additional_gids;
    }
    p->has_umask = src->user.has_umask;
    p->umask = src->user.umask;
    for (int i = 0; i < HOST_CAP_SETS && i < OCI_CAP_SETS; i++)
        p->caps[i] = src->caps[i];
    p->no_new_privs = src->no_new_privileges;
    if (src->n_rlimits) {
        free(m->rlimits);
        m->rlimits = xcalloc(src->n_rlimits + 1, sizeof(host_rlimit));
        for (size_t i = 0; i < src->n_rlimits; i++)
            m->rlimits[i] = (host_rlimit){.type = src->rlimits[i].type,
                                          .soft = src->rlimits[i].soft,
                                          .hard = src->rlimits[i].hard};
        p->rlimits = m->rlimits;
        p->n_rlimits = src->n_rlimits;
    }
    p->has_oom_score_adj = src->has_oom_score_adj;
    p->oom_score_adj = src->oom_score_adj;
    if (src->apparmor_profile && *src->apparmor_profile)
        return kl_error_set(err, ENOTSUP,
                            "config: process.apparmorProfile: AppArmor is not supported");
    if (src->selinux_label && *src->selinux_label)
        return kl_error_set(err, ENOTSUP, "config: process.selinuxLabel: SELinux is not supported");
    if (c && c->seccomp && !m->seccomp_bpf) {
        size_t len = 0;
        bool log = false;
        if (oci_seccomp_compile(c->seccomp, &m->seccomp_bpf, &len, &log, err) < 0)
            return -1;
        p->seccomp_bpf = m->seccomp_bpf;
        p->seccomp_bpf_len = len;
        p->seccomp_log = log;
    }
    return 0;
}

/* With device rules in the config: the devices the container is given (linux.devices) and
 * the default ones are allowed after them, as runc does, so that a "deny all" first rule does
 * not take /dev/null away. */
static void add_device_rules(const oci_config *c, oci_mapped *m)
{
    static const host_device_rule defaults[] = {
        {true, 'c', -1, -1, "m"},    {true, 'b', -1, -1, "m"}, {true, 'c', 1, 3, "rwm"},
        {true, 'c', 1, 8, "rwm"},    {true, 'c', 1, 7, "rwm"}, {true, 'c', 5, 0, "rwm"},
        {true, 'c', 1, 5, "rwm"},    {true, 'c', 1, 9, "rwm"}, {true, 'c', 5, 1, "rwm"},
        {true, 'c', 136, -1, "rwm"}, {true, 'c', 5, 2, "rwm"}, {true, 'c', 10, 200, "rwm"},
    };
    size_t n = m->resources.n_devices + c->n_devices + KL_ARRAY_SIZE(defaults);
    host_device_rule *r = xcalloc(n + 1, sizeof(*r));
    size_t k = 0;
    for (size_t i = 0; i < m->resources.n_devices; i++)
        r[k++] = m->device_rules[i];
    for (size_t i = 0; i < c->n_devices; i++) {
        const oci_device *d = &c->devices[i];
        if (d->type == 'p')
            continue;
        r[k++] = (host_device_rule){.allow = true,
                                    .type = d->type == 'b' ? 'b' : 'c',
                                    .major = d->major,
                                    .minor = d->minor,
                                    .access = "rwm"};
    }
    for (size_t i = 0; i < KL_ARRAY_SIZE(defaults); i++)
        r[k++] = defaults[i];
    free(m->device_rules);
    m->device_rules = r;
    m->resources.devices = r;
    m->resources.n_devices = k;
}

int oci_map(const oci_config *c, const char *bundle, const char *id, oci_mapped *m, kl_error *err)
{
    memset(m, 0, sizeof(*m));
    host_container_spec *s = &m->spec;
    host_full_spec *f = &m->full;
    /* Without a process the container is created (its namespaces and mounts exist, held by
     * a process that waits on the gate) and start refuses: runtime-spec's reading. */
    m->rootfs = oci_config_root(c, bundle, err);
    if (!m->rootfs)
        return -1;
    struct stat st;
    if (stat(m->rootfs, &st) < 0)
        return kl_error_errno(err, errno, "config: root.path %s", m->rootfs);
    if (!S_ISDIR(st.st_mode))
        return kl_error_set(err, ENOTDIR, "config: root.path %s is not a directory", m->rootfs);
    s->id = id;
    s->rootfs = m->rootfs;
    s->argv = c->process.args;
    s->env = c->process.env;
    s->cwd = c->process.cwd;
    s->tty = c->process.terminal;
    s->tty_rows = (unsigned short)c->process.console_height;
    s->tty_cols = (unsigned short)c->process.console_width;
    s->stdin_fd = s->stdout_fd = s->stderr_fd = -1;
    s->full = f;
    if (c->hostname && *c->hostname && !has_new_ns(c, "uts"))
        return kl_error_set(err, EINVAL,
                            "config: hostname: setting it needs a new UTS namespace "
                            "(linux.namespaces)");
    const oci_namespace *uts = oci_config_namespace(c, "uts");
    if (c->hostname && uts && !uts->path)
        s->hostname = c->hostname;
    if (c->domainname && uts && !uts->path)
        f->domainname = c->domainname;
    if (oci_map_process(&c->process, c, &f->process, m, err) < 0)
        return -1;

    m->namespaces = xcalloc(c->n_namespaces + 1, sizeof(host_namespace));
    for (size_t i = 0; i < c->n_namespaces; i++) {
        if (strcmp(c->namespaces[i].type, "time") == 0)
            return kl_error_set(err, ENOTSUP,
                                "config: linux.namespaces: time namespaces are not "
                                "supported");
        m->namespaces[i] =
            (host_namespace){.type = c->namespaces[i].type, .path = c->namespaces[i].path};
    }
    f->namespaces = m->namespaces;
    f->n_namespaces = c->n_namespaces;
    const oci_namespace *user = oci_config_namespace(c, "user");
    if (user && !user->path && (!c->n_uid_mappings || !c->n_gid_mappings))
        return kl_error_set(err, EINVAL,
                            "config: linux.uidMappings and gidMappings are required for a new "
                            "user namespace");
    m->uid_maps = xcalloc(c->n_uid_mappings + 1, sizeof(host_id_map));
    for (size_t i = 0; i < c->n_uid_mappings; i++)
        m->uid_maps[i] = (host_id_map){c->uid_mappings[i].container_id, c->uid_mappings[i].host_id,
                                       c->uid_mappings[i].size};
    m->gid_maps = xcalloc(c->n_gid_mappings + 1, sizeof(host_id_map));
    for (size_t i = 0; i < c->n_gid_mappings; i++)
        m->gid_maps[i] = (host_id_map){c->gid_mappings[i].container_id, c->gid_mappings[i].host_id,
                                       c->gid_mappings[i].size};
    f->uid_maps = m->uid_maps;
    f->n_uid_maps = c->n_uid_mappings;
    f->gid_maps = m->gid_maps;
    f->n_gid_maps = c->n_gid_mappings;

    f->root_readonly = c->root_readonly;
    f->root_propagation = c->rootfs_propagation;
    m->mounts = xcalloc(c->n_mounts + 1, sizeof(host_fs_mount));
    m->mount_sources = xcalloc(c->n_mounts + 1, sizeof(char *));
    for (size_t i = 0; i < c->n_mounts; i++) {
        const oci_mount *om = &c->mounts[i];
        const char *src = om->source;
        /* A relative bind source is relative to the bundle. */
        if (src && src[0] && src[0] != '/') {
            bool bind = om->type && strcmp(om->type, "bind") == 0;
            for (char **o = om->options; o && *o; o++)
                bind = bind || strcmp(*o, "bind") == 0 || strcmp(*o, "rbind") == 0;
            if (bind) {
                m->mount_sources[i] = xasprintf("%s/%s", bundle, src);
                src = m->mount_sources[i];
            }
        }
        m->mounts[i] = (host_fs_mount){.destination = om->destination,
                                       .type = om->type,
                                       .source = src,
                                       .options = om->options};
    }
    f->mounts = m->mounts;
    f->n_mounts = c->n_mounts;
    f->masked_paths = c->masked_paths;
    f->readonly_paths = c->readonly_paths;
    m->devices = xcalloc(c->n_devices + 1, sizeof(host_device));
    for (size_t i = 0; i < c->n_devices; i++) {
        const oci_device *d = &c->devices[i];
        m->devices[i] = (host_device){.path = d->path,
                                      .type = d->type,
                                      .major = d->major,
                                      .minor = d->minor,
                                      .mode = d->file_mode,
                                      .has_mode = d->has_file_mode,
                                      .uid = d->has_uid ? d->uid : 0,
                                      .gid = d->has_gid ? d->gid : 0};
    }
    f->devices = m->devices;
    f->n_devices = c->n_devices;
    size_t ns = strv_len(c->sysctl_keys);
    m->sysctl = xcalloc(ns + 1, sizeof(char *));
    for (size_t i = 0; i < ns; i++) {
        if (check_sysctl(c, c->sysctl_keys[i], err) < 0)
            return -1;
        m->sysctl[i] = xasprintf("%s=%s", c->sysctl_keys[i], c->sysctl_values[i]);
    }
    f->sysctl = m->sysctl;
    if (c->personality_domain) {
        if (c->personality_flags && c->personality_flags[0])
            return kl_error_set(err, ENOTSUP, "config: linux.personality.flags are not supported");
        f->personality = c->personality_domain;
    }
    f->cgroups_path = c->cgroups_path;
    if (c->has_resources) {
        oci_map_resources(&c->resources, &m->resources, m);
        f->resources = &m->resources;
        if (c->resources.n_devices)
            add_device_rules(c, m);
    }
    m->hooks_create_container = map_hooks(&c->hooks[OCI_HOOK_CREATE_CONTAINER]);
    m->hooks_start_container = map_hooks(&c->hooks[OCI_HOOK_START_CONTAINER]);
    f->create_container_hooks = m->hooks_create_container;
    f->n_create_container_hooks = c->hooks[OCI_HOOK_CREATE_CONTAINER].n;
    f->start_container_hooks = m->hooks_start_container;
    f->n_start_container_hooks = c->hooks[OCI_HOOK_START_CONTAINER].n;
    f->start_fd = -1;
    return 0;
}

void oci_mapped_free(oci_mapped *m)
{
    free(m->rootfs);
    for (size_t i = 0; m->mount_sources && i < m->full.n_mounts; i++)
        free(m->mount_sources[i]); /* sparse: only bind sources made absolute */
    free(m->mount_sources);
    free(m->mounts);
    free(m->namespaces);
    free(m->uid_maps);
    free(m->gid_maps);
    free(m->rlimits);
    free(m->devices);
    free(m->hooks_create_container);
    free(m->hooks_start_container);
    free(m->device_rules);
    free(m->hugepage_sizes);
    free(m->hugepage_limits);
    strv_free(m->sysctl);
    free(m->gids);
    free(m->seccomp_bpf);
    memset(m, 0, sizeof(*m));
}

/* ---- seccomp ----------------------------------------------------------------------------------
 */

static int action_of(const char *name, bool has_errno, uint32_t errno_ret, uint32_t *out,
                     kl_error *err)
{
    uint32_t e = has_errno ? errno_ret : EPERM;
    if (strcmp(name, "SCMP_ACT_KILL") == 0 || strcmp(name, "SCMP_ACT_KILL_THREAD") == 0)
        *out = SCMP_ACT_KILL_THREAD;
    else if (strcmp(name, "SCMP_ACT_KILL_PROCESS") == 0)
        *out = SCMP_ACT_KILL_PROCESS;
    else if (strcmp(name, "SCMP_ACT_TRAP") == 0)
        *out = SCMP_ACT_TRAP;
    else if (strcmp(name, "SCMP_ACT_ERRNO") == 0)
        *out = SCMP_ACT_ERRNO(e);
    else if (strcmp(name, "SCMP_ACT_TRACE") == 0)
        *out = SCMP_ACT_TRACE(e);
    else if (strcmp(name, "SCMP_ACT_ALLOW") == 0)
        *out = SCMP_ACT_ALLOW;
    else if (strcmp(name, "SCMP_ACT_LOG") == 0)
        *out = SCMP_ACT_LOG;
    else
        return kl_error_set(err, ENOTSUP, "seccomp: action %s is not supported", name);
    return 0;
}

static const struct {
    const char *oci;
    const char *scmp;
} arch_names[] = {
    {"SCMP_ARCH_X86", "x86"},
    {"SCMP_ARCH_X86_64", "x86_64"},
    {"SCMP_ARCH_X32", "x32"},
    {"SCMP_ARCH_ARM", "arm"},
    {"SCMP_ARCH_AARCH64", "aarch64"},
    {"SCMP_ARCH_MIPS", "mips"},
    {"SCMP_ARCH_MIPS64", "mips64"},
    {"SCMP_ARCH_MIPS64N32", "mips64n32"},
    {"SCMP_ARCH_MIPSEL", "mipsel"},
    {"SCMP_ARCH_MIPSEL64", "mipsel64"},
    {"SCMP_ARCH_MIPSEL64N32", "mipsel64n32"},
    {"SCMP_ARCH_PPC", "ppc"},
    {"SCMP_ARCH_PPC64", "ppc64"},
    {"SCMP_ARCH_PPC64LE", "ppc64le"},
    {"SCMP_ARCH_S390", "s390"},
    {"SCMP_ARCH_S390X", "s390x"},
    {"SCMP_ARCH_RISCV64", "riscv64"},
};

static void release_ctx(scmp_filter_ctx *c)
{
    if (*c)
        seccomp_release(*c);
}

int oci_seccomp_compile(const oci_seccomp *s, void **bpf, size_t *len, bool *log_flag,
                        kl_error *err)
{
    uint32_t def;
    if (action_of(s->default_action, s->has_default_errno, s->default_errno, &def, err) < 0)
        return -1;
    __attribute__((cleanup(release_ctx))) scmp_filter_ctx ctx = seccomp_init(def);
    if (!ctx)
        return kl_error_set(err, EINVAL, "seccomp: cannot create a filter");
    /* We load the program ourselves, after no_new_privs is decided. */
    seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 0);
    *log_flag = false;
    for (char **fl = s->flags; fl && *fl; fl++) {
        if (strcmp(*fl, "SECCOMP_FILTER_FLAG_LOG") == 0)
            *log_flag = true;
        else if (strcmp(*fl, "SECCOMP_FILTER_FLAG_SPEC_ALLOW") != 0 &&
                 strcmp(*fl, "SECCOMP_FILTER_FLAG_TSYNC") != 0)
            return kl_error_set(err, ENOTSUP, "seccomp: flag %s is not supported", *fl);
    }
    for (char **a = s->architectures; a && *a; a++) {
        const char *n = NULL;
        for (size_t i = 0; i < KL_ARRAY_SIZE(arch_names); i++)
            if (strcmp(*a, arch_names[i].oci) == 0)
                n = arch_names[i].scmp;
        if (!n)
            return kl_error_set(err, EINVAL, "seccomp: unknown architecture %s", *a);
        uint32_t arch = seccomp_arch_resolve_name(n);
        if (!arch)
            continue;
        int r = seccomp_arch_add(ctx, arch);
        if (r < 0 && r != -EEXIST)
            return kl_error_errno(err, -r, "seccomp: adding architecture %s", *a);
    }
    static const struct {
        const char *n;
        enum scmp_compare op;
    } ops[] = {{"SCMP_CMP_NE", SCMP_CMP_NE},
               {"SCMP_CMP_LT", SCMP_CMP_LT},
               {"SCMP_CMP_LE", SCMP_CMP_LE},
               {"SCMP_CMP_EQ", SCMP_CMP_EQ},
               {"SCMP_CMP_GE", SCMP_CMP_GE},
               {"SCMP_CMP_GT", SCMP_CMP_GT},
               {"SCMP_CMP_MASKED_EQ", SCMP_CMP_MASKED_EQ}};
    for (size_t i = 0; i < s->n_rules; i++) {
        const oci_seccomp_rule *r = &s->rules[i];
        uint32_t act;
        if (action_of(r->action, r->has_errno, r->errno_ret, &act, err) < 0)
            return -1;
        if (act == def)
            continue; /* libseccomp refuses a rule that changes nothing */
        struct scmp_arg_cmp cmp[6];
        bool same_index = false;
        for (size_t j = 0; j < r->n_args; j++) {
            enum scmp_compare op = SCMP_CMP_EQ;
            for (size_t k = 0; k < KL_ARRAY_SIZE(ops); k++)
                if (strcmp(r->args[j].op, ops[k].n) == 0)
                    op = ops[k].op;
            cmp[j] = (struct scmp_arg_cmp){.arg = r->args[j].index,
                                           .op = op,
                                           .datum_a = r->args[j].value,
                                           .datum_b = r->args[j].value_two};
            for (size_t k = 0; k < j; k++)
                same_index = same_index || r->args[k].index == r->args[j].index;
        }
        for (char **n = r->names; *n; n++) {
            int nr = seccomp_syscall_resolve_name(*n);
            if (nr == __NR_SCMP_ERROR)
                continue; /* a syscall this libseccomp does not know: as runc, skip it */
            int rc;
            if (same_index) {
                /* One comparison per argument and rule in libseccomp: a rule each (OR). */
                rc = 0;
                for (size_t j = 0; j < r->n_args && rc >= 0; j++)
                    rc = seccomp_rule_add_array(ctx, act, nr, 1, &cmp[j]);
            } else {
                rc = seccomp_rule_add_array(ctx, act, nr, (unsigned)r->n_args, cmp);
            }
            if (rc < 0 && rc != -EEXIST)
                return kl_error_errno(err, -rc, "seccomp: rule for %s", *n);
        }
    }
    _cleanup_close_ int fd = memfd_create("kleene-runtime-seccomp", MFD_CLOEXEC);
    if (fd < 0)
        return kl_error_errno(err, errno, "seccomp: memfd_create");
    int rc = seccomp_export_bpf(ctx, fd);
    if (rc < 0)
        return kl_error_errno(err, -rc, "seccomp: exporting the filter");
    struct stat st;
    if (fstat(fd, &st) < 0 || st.st_size <= 0 || st.st_size % 8 != 0 ||
        st.st_size / 8 > BPF_MAXINSNS)
        return kl_error_set(err, EINVAL, "seccomp: the filter is too large or empty");
    char *buf = xmalloc((size_t)st.st_size);
    if (pread(fd, buf, (size_t)st.st_size, 0) != st.st_size) {
        free(buf);
        return kl_error_errno(err, errno, "seccomp: reading the filter");
    }
    *bpf = buf;
    *len = (size_t)st.st_size;
    return 0;
}
