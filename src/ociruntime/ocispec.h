/* config.json of an OCI bundle (runtime-spec 1.x), parsed into plain structs.
 *
 * The input is untrusted: the file is bounded (OCI_CONFIG_MAX), every array and string has a
 * cap, every field is type-checked, and an error names the field ("process.user.uid: expected
 * an integer from 0 to 4294967295"). Unknown properties are ignored, as the spec demands.
 * Semantic checks that need the host (paths exist, capability names are known) are left to
 * the runtime core; the ones that do not (ociVersion, absolute container paths, namespace
 * types, the root path staying inside the bundle) are made here.
 *
 * It must not: touch the filesystem (oci_config_load reads one file; the parser is pure). */
#ifndef KL_OCI_SPEC_H
#define KL_OCI_SPEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/error.h"

#define OCI_CONFIG_MAX (4u * 1024 * 1024)
#define OCI_ARRAY_MAX 4096
#define OCI_STRING_MAX 65536

typedef struct oci_user {
    uint32_t uid, gid;
    bool has_umask;
    uint32_t umask;
    uint32_t *additional_gids;
    size_t n_additional_gids;
} oci_user;

typedef struct oci_rlimit {
    char *type; /* "RLIMIT_NOFILE" ... */
    uint64_t soft, hard;
} oci_rlimit;

enum {
    OCI_CAP_BOUNDING,
    OCI_CAP_EFFECTIVE,
    OCI_CAP_PERMITTED,
    OCI_CAP_INHERITABLE,
    OCI_CAP_AMBIENT,
    OCI_CAP_SETS
};

typedef struct oci_process {
    bool terminal;
    unsigned int console_height, console_width;
    oci_user user;
    char **args; /* at least one */
    char **env;
    char *cwd; /* absolute */
    bool has_caps;
    char **caps[OCI_CAP_SETS]; /* NULL: that set is empty */
    oci_rlimit *rlimits;
    size_t n_rlimits;
    bool no_new_privileges;
    bool has_oom_score_adj;
    int oom_score_adj;
    char *apparmor_profile;
    char *selinux_label;
} oci_process;

typedef struct oci_mount {
    char *destination;
    char *type;   /* NULL when absent */
    char *source; /* NULL when absent */
    char **options;
} oci_mount;

typedef struct oci_hook {
    char *path;
    char **args;
    char **env;
    int timeout; /* seconds, 0 = none */
} oci_hook;

enum {
    OCI_HOOK_PRESTART,
    OCI_HOOK_CREATE_RUNTIME,
    OCI_HOOK_CREATE_CONTAINER,
    OCI_HOOK_START_CONTAINER,
    OCI_HOOK_POSTSTART,
    OCI_HOOK_POSTSTOP,
    OCI_HOOK_KINDS
};

typedef struct oci_hook_list {
    oci_hook *hooks;
    size_t n;
} oci_hook_list;

typedef struct oci_namespace {
    char *type; /* pid network mount ipc uts user cgroup time */
    char *path; /* NULL: a new one */
} oci_namespace;

typedef struct oci_idmap {
    uint32_t container_id, host_id, size;
} oci_idmap;

typedef struct oci_device {
    char *path;
    char type; /* 'c', 'u', 'b', 'p' */
    int64_t major, minor;
    bool has_file_mode, has_uid, has_gid;
    uint32_t file_mode, uid, gid;
} oci_device;

typedef struct oci_device_rule {
    bool allow;
    char type;            /* 'a', 'c', 'b' */
    int64_t major, minor; /* -1: any */
    char access[4];       /* subset of "rwm" */
} oci_device_rule;

typedef struct oci_hugepage {
    char *page_size;
    uint64_t limit;
} oci_hugepage;

/* linux.resources; has_* says the value was given. */
typedef struct oci_resources {
    bool has_memory_limit, has_memory_reservation, has_memory_swap, has_memory_kernel,
        has_memory_swappiness, has_disable_oom_killer;
    int64_t memory_limit, memory_reservation, memory_swap, memory_kernel;
    uint64_t memory_swappiness;
    bool disable_oom_killer;
    bool has_cpu_shares, has_cpu_quota, has_cpu_period, has_cpu_rt_runtime, has_cpu_rt_period;
    uint64_t cpu_shares, cpu_period, cpu_rt_period;
    int64_t cpu_quota, cpu_rt_runtime;
    char *cpu_cpus, *cpu_mems; /* NULL when absent */
    bool has_pids_limit;
    int64_t pids_limit;
    bool has_blkio_weight, has_blkio_leaf_weight;
    uint32_t blkio_weight, blkio_leaf_weight;
    oci_hugepage *hugepages;
    size_t n_hugepages;
    oci_device_rule *devices;
    size_t n_devices;
    bool has_net_class_id;
    uint32_t net_class_id;
} oci_resources;

typedef struct oci_seccomp_arg {
    uint32_t index;
    uint64_t value, value_two;
    char *op; /* SCMP_CMP_EQ ... */
} oci_seccomp_arg;

typedef struct oci_seccomp_rule {
    char **names;
    char *action;
    bool has_errno;
    uint32_t errno_ret;
    oci_seccomp_arg *args;
    size_t n_args;
} oci_seccomp_rule;

typedef struct oci_seccomp {
    char *default_action;
    bool has_default_errno;
    uint32_t default_errno;
    char **architectures;
    char **flags;
    oci_seccomp_rule *rules;
    size_t n_rules;
} oci_seccomp;

typedef struct oci_config {
    char *oci_version;
    char *root_path; /* as written; oci_config_root resolves it */
    bool root_readonly;
    char *hostname, *domainname; /* NULL when absent */
    oci_process process;
    bool has_process;
    oci_mount *mounts;
    size_t n_mounts;
    oci_hook_list hooks[OCI_HOOK_KINDS];
    char **annotation_keys, **annotation_values; /* parallel, NULL-terminated */
    /* linux */
    oci_namespace *namespaces;
    size_t n_namespaces;
    oci_idmap *uid_mappings, *gid_mappings;
    size_t n_uid_mappings, n_gid_mappings;
    oci_device *devices;
    size_t n_devices;
    char *cgroups_path;
    bool has_resources;
    oci_resources resources;
    char **sysctl_keys, **sysctl_values; /* parallel, NULL-terminated */
    oci_seccomp *seccomp;                /* NULL when absent */
    char *rootfs_propagation;
    char **masked_paths, **readonly_paths;
    char *mount_label;
    char *personality_domain; /* LINUX, LINUX32 */
    char **personality_flags;
} oci_config;

/* Parse `len` bytes of JSON. The result is freed with oci_config_free. */
int oci_config_parse(const char *text, size_t len, oci_config *out, kl_error *err);
/* Read and parse <bundle>/config.json. */
int oci_config_load(const char *bundle, oci_config *out, kl_error *err);
void oci_config_free(oci_config *c);

/* linux.resources alone (the JSON of `update --resources`). */
int oci_resources_parse(const char *text, size_t len, oci_resources *out, kl_error *err);
void oci_resources_free(oci_resources *r);

/* A process.json (exec --process): the `process` object alone. */
int oci_process_parse(const char *text, size_t len, oci_process *out, kl_error *err);
void oci_process_free(oci_process *p);

static inline void oci_config_freep(oci_config **c)
{
    if (*c)
        oci_config_free(*c);
}
static inline void oci_resources_freep(oci_resources **r)
{
    if (*r)
        oci_resources_free(*r);
}
static inline void oci_process_freep(oci_process **p)
{
    if (*p)
        oci_process_free(*p);
}

/* The root directory: root.path relative to `bundle` (absolute paths stay). A relative path
 * must stay inside the bundle (no ".." out of it). Caller frees. */
char *oci_config_root(const oci_config *c, const char *bundle, kl_error *err);

/* The namespace entry of `type`, or NULL. */
const oci_namespace *oci_config_namespace(const oci_config *c, const char *type);

/* The default config.json of `spec` (a busybox-friendly sh in rootfs, runc's defaults). */
char *oci_config_default_json(void);

#endif
