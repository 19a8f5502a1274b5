/* config.json (oci_config) → the runtime core's spec (host_container_spec with a
 * host_full_spec): the translation of the door, nothing more. Checks that need the whole
 * config (a hostname without a UTS namespace, a sysctl outside the container's namespaces)
 * are made here; the seccomp profile is compiled to BPF here (libseccomp), so that the core
 * only loads a program. */
#ifndef KL_OCI_MAP_H
#define KL_OCI_MAP_H

#include "host/runtime.h"
#include "ociruntime/ocispec.h"

typedef struct oci_mapped {
    host_container_spec spec;
    host_full_spec full;
    /* storage the spec points into */
    char *rootfs;
    host_fs_mount *mounts;
    char **mount_sources;
    host_namespace *namespaces;
    host_id_map *uid_maps, *gid_maps;
    host_rlimit *rlimits;
    host_device *devices;
    host_hook *hooks_create_container, *hooks_start_container;
    host_resources resources;
    host_device_rule *device_rules;
    const char **hugepage_sizes;
    unsigned long long *hugepage_limits;
    char **sysctl;
    unsigned int *gids;
    void *seccomp_bpf;
} oci_mapped;

/* Map `c` (of the bundle `bundle`, with container `id`). The result points into `c`: keep it
 * alive. */
int oci_map(const oci_config *c, const char *bundle, const char *id, oci_mapped *out,
            kl_error *err);
void oci_mapped_free(oci_mapped *m);

/* The process part alone (exec --process, or the container's own), into `p` (storage in m). */
int oci_map_process(const oci_process *src, const oci_config *c, host_full_process *p,
                    oci_mapped *m, kl_error *err);
/* linux.resources → host_resources (storage in m). */
void oci_map_resources(const oci_resources *r, host_resources *out, oci_mapped *m);

/* The seccomp profile compiled to BPF (malloc'ed instructions, *len bytes). */
int oci_seccomp_compile(const oci_seccomp *s, void **bpf, size_t *len, bool *log_flag,
                        kl_error *err);

#endif
