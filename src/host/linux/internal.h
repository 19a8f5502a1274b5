/* Internal interfaces between the files of the Linux runtime (not part of host/runtime.h). */
#ifndef KL_HOST_LINUX_INTERNAL_H
#define KL_HOST_LINUX_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "host/runtime.h"
#include "lib/error.h"

/* caps.c ------------------------------------------------------------------------------------ */
/* Docker's default capability set, as a bit mask over capability numbers. */
uint64_t caps_default_mask(void);
/* Default set + add - drop (names "NET_RAW" or "CAP_NET_RAW", "ALL"). */
int caps_compute(char *const *add, char *const *drop, bool no_raw_sockets, uint64_t *mask,
                 kl_error *err);
/* Drop everything outside `mask` from the bounding set and clear the ambient set. Must run
 * before the user switch (needs CAP_SETPCAP). */
int caps_limit_bounding(uint64_t mask, kl_error *err);
/* After the user switch: permitted = effective = mask for uid 0, nothing otherwise;
 * inheritable always empty. */
int caps_set_final(uint64_t mask, bool is_root, kl_error *err);

/* seccomp.c --------------------------------------------------------------------------------- */
/* Compile the default deny-list filter once (thread-safe); later loads, also in forked
 * children, use the compiled program. */
int seccomp_default_prepare(kl_error *err);
/* Load the default deny-list filter into the calling thread (needs no_new_privs set);
 * compiles it first if seccomp_default_prepare has not. */
int seccomp_load_default(kl_error *err);

/* cgroups.c --------------------------------------------------------------------------------- */
#define CGROUPS_MAX 4
typedef struct cgroup_set {
    char *dirs[CGROUPS_MAX]; /* created directories, NULL-padded */
    int procs_fds[CGROUPS_MAX];
} cgroup_set;

/* Create <controller mount>/<own path>/kleene/<id> for memory and pids (and cpu when limited),
 * write the limits, and open each cgroup.procs for writing. */
int cgroups_create(const char *id, const host_limits *lim, cgroup_set *out, kl_error *err);
/* Join the calling process to every cgroup of the set (writes "0" to the procs fds). */
int cgroups_enter(const cgroup_set *cg, kl_error *err);
/* Open the cgroup.procs files of the kleene cgroups of process `pid` (for exec). */
int cgroups_open_of_pid(int pid, cgroup_set *out, kl_error *err);
/* Close the fds; with remove, rmdir the directories (retrying while they are busy). */
void cgroups_release(cgroup_set *cg, bool remove);

#endif
