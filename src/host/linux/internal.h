/* Internal interfaces between the files of the Linux runtime (not part of host/runtime.h). */
#ifndef KL_HOST_LINUX_INTERNAL_H
#define KL_HOST_LINUX_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
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

/* seccomp.c (libseccomp) ------------------------------------------------------------------- */
/* Compile the default deny-list filter once (thread-safe) and keep it (seccomp_default_set);
 * later loads, also in forked children, use the compiled program. */
int seccomp_default_prepare(kl_error *err);

/* seccomp_load.c (no libseccomp) ----------------------------------------------------------- */
struct sock_fprog;
/* The compiled default filter, NULL until prepared or set. */
const struct sock_fprog *seccomp_default_program(void);
/* Keep prog (malloc'ed, with its malloc'ed filter) as the default filter; if one is kept
 * already, prog is freed. */
void seccomp_default_set(struct sock_fprog *prog);
/* The same from len bytes of BPF instructions (the program kleened hands the monitor). */
int seccomp_default_set_copy(const void *insns, size_t len, kl_error *err);
/* Load the default filter into the calling thread (needs no_new_privs set). EINVAL if it has
 * been neither prepared nor set. */
int seccomp_load_default(kl_error *err);

/* cgroups.c --------------------------------------------------------------------------------- */
#define CGROUPS_MAX 16
typedef struct cgroup_set {
    char *dirs[CGROUPS_MAX];   /* created directories, NULL-padded */
    char *mounts[CGROUPS_MAX]; /* with `every`: the host mount point of each one's hierarchy */
    int procs_fds[CGROUPS_MAX];
} cgroup_set;

/* Create <controller mount>/<own path>/kleene/<id> for memory and pids (and cpu when limited),
 * write the limits, and open each cgroup.procs for writing.
 * With `every` (a container whose pid 1 is an init, which manages cgroups of its own): in
 * every mounted hierarchy the daemon is in (each v1 one, name=systemd, the unified one), and
 * the container joins <id>/payload, so that the limits, on <id>, stay out of its reach once
 * its cgroup namespace is rooted at payload. */
int cgroups_create(const char *id, const host_limits *lim, bool every, cgroup_set *out,
                   kl_error *err);
/* The filesystem type ("cgroup" or "cgroup2") and the options naming the hierarchy mounted on
 * `mount_point` ("memory", "cpu,cpuacct", "none,name=systemd"; "" for cgroup2), from
 * /proc/self/mountinfo: what mounts the same hierarchy again (in a container's cgroup
 * namespace: rooted at its cgroup). -1 (ENOENT) if nothing is mounted there. */
int cgroups_mount_options(const char *mount_point, char fstype[16], char *opts, size_t opts_size,
                          kl_error *err);
/* Join the calling process to every cgroup of the set (writes "0" to the procs fds). */
int cgroups_enter(const cgroup_set *cg, kl_error *err);
/* Open the cgroup.procs files of the kleene cgroups of process `pid` (for exec). */
int cgroups_open_of_pid(int pid, cgroup_set *out, kl_error *err);
/* What the container of `pid` uses, from its kleene cgroups (v2, or the v1 memory, cpuacct and
 * pids hierarchies); what it has no cgroup of ours for is left as it was. */
void cgroups_usage_of_pid(int pid, long long *mem, long long *mem_limit, long long *cpu_ns,
                          long long *pids);
/* Close the fds; with remove, rmdir the directories (retrying while they are busy). */
void cgroups_release(cgroup_set *cg, bool remove);

/* runtime.c: shared with runtime_full.c --------------------------------------------------- */
struct host_process_priv {
    int pidfd;
    int main_pidfd; /* a container's main process (the reaper's child), -1 if none or unknown */
    bool is_container;
    cgroup_set cg;
};

/* Send `sig` to the container's main process, the way Docker users expect of pid 1: an init
 * as pid 1 gets it itself (when it handles it, as any pid 1); else the reaper passes on what
 * it can catch (to every process once the main one has ended), and what it cannot (STOP, CHLD
 * which it uses itself, glibc's 32 and 33) goes to the main process directly by the pidfd the
 * reaper gave, to every process but the reaper once the main one has ended. SIGKILL ends the
 * reaper, and the container with it. The monitor calls it; it is Linux's only. */
int host_container_signal_main(const host_process *ctr, int sig, kl_error *err);

/* Messages of the container's setup children to the caller (SOCK_SEQPACKET). */
/* MSG_INIT: the init mode the reaper resolved (host_container_spec.init AUTO), in .pid. */
enum {
    MSG_ERROR = 'E',
    MSG_PTY = 'P',
    MSG_PID = 'I',
    MSG_INIT = 'M',
    MSG_HOOKS = 'H',
    MSG_READY = 'R'
};
typedef struct child_msg {
    char type;
    int pid;
    char text[KL_ERROR_MSG_MAX];
} child_msg;
void send_msg(int sock, char type, int pid, const char *text, int fd);
/* Report the error to the parent and die; only for the children. */
__attribute__((noreturn)) void child_fail(int sock, const kl_error *e);
/* Returns 1 with a message, 0 at EOF, -1 on error. */
int recv_msg(int sock, child_msg *m, int *fd);
void process_init(host_process *out);
int wait_pidfd(int pidfd, int timeout_ms, int *code, kl_error *err);

/* Paths inside a container root: openat2 RESOLVE_IN_ROOT (no magic links). */
int openat2_in_root(int rootfd, const char *rel, int flags, unsigned long long extra);
/* An absolute container path, lexically cleaned, relative (caller frees). */
char *clean_rel(const char *path);
/* Open (creating what is missing: directories, or with is_file a regular file last) `path`
 * inside the root; an O_PATH fd. */
int mkpath_in_root(int rootfd, const char *path, bool is_file, unsigned long long extra,
                   kl_error *err);
/* "/proc/self/fd/<fd>[/sub]" into buf. */
void fd_path(char buf[64], int fd, const char *sub);
/* Bind a clone of the tree at src (fd [+ name]) onto the target, with mount attributes set
 * on the detached copy first. */
int bind_fd(int src_fd, const char *src_name, int target_fd, const char *target_name,
            unsigned long long attrs, bool recursive, kl_error *err);
/* A user's bind mount (a volume or a host path) on its destination inside the root: the source
 * checked against `denied` (unless source_is_ours), read-only when asked, never on /proc or
 * /sys. */
int setup_user_mount(int rootfd, const host_mount *m, char *const *denied, kl_error *err);
/* Mask dirfd/name: /dev/null (nullfd) over a file, an empty read-only tmpfs over a directory. */
int mask_one(int dirfd, const char *name, int nullfd, kl_error *err);
/* The container's own cgroup hierarchies on /sys/fs/cgroup of the root (cg->mounts). */
int setup_cgroupfs(int rootfd, const cgroup_set *cg, kl_error *err);
int bring_up_lo(kl_error *err);
/* execve argv[0], searched in env's PATH when it has no '/'; returns with errno on failure. */
void exec_in_path(char *const *argv, char **env);
/* A pty from /dev/pts/ptmx of the current root. */
int open_pty(bool *ok, int *master, int *slave, unsigned short rows, unsigned short cols,
             kl_error *err);

/* runtime_full.c: containers described in full (host_full_spec) ----------------------------- */
int full_container_start(const host_container_spec *spec, host_process *out, kl_error *err);
/* The last steps of a full container's or exec's process, in its root and namespaces: bounding
 * set, seccomp, user and groups, capabilities, umask, cwd, execve. Errors go to `sock` (or to
 * stderr when sock < 0); never returns. */
__attribute__((noreturn)) void full_finish_exec(const host_full_process *p, char *const *argv,
                                                char *const *env, const char *cwd, int sock);
/* caps.c: capabilities of a full process: names ("CAP_X") → masks (EINVAL naming an unknown
 * one); apply effective/permitted/inheritable and raise the ambient ones (after the user
 * switch, with the bounding set already limited by caps_limit_bounding). */
int full_caps_parse(const host_full_process *p, uint64_t masks[HOST_CAP_SETS], kl_error *err);
int full_caps_apply(const uint64_t masks[HOST_CAP_SETS], kl_error *err);
/* EPERM naming the first capability of the effective, permitted, inheritable or ambient set
 * that the caller does not have itself (known to the kernel). */
int full_caps_check(const uint64_t masks[HOST_CAP_SETS], kl_error *err);

/* An exec into a full container (host_exec_spec.full): its rlimits and oom_score_adj in the
 * middle process (before joining), then in the final child the pty (or the caller's stdio)
 * and full_finish_exec. */
int full_exec_prepare(const host_full_process *p, kl_error *err);
__attribute__((noreturn)) void full_exec_child(const host_exec_spec *s, int sock);

/* cgroups.c, full containers ------------------------------------------------------------------ */
/* A cgroup in every mounted hierarchy the caller is in (like `every`, without payload), at
 * `path` (absolute: from each hierarchy's root; relative: below the caller's cgroup; NULL:
 * <own>/kleene/<id>), with the resources written. */
int cgroups_create_full(const char *id, const char *path, const host_resources *res,
                        cgroup_set *out, kl_error *err);
/* Like cgroups_open_of_pid, for every hierarchy the process is in (mounted ones). */
int cgroups_open_all_of_pid(int pid, cgroup_set *out, kl_error *err);
int cgroups_apply_resources(char *const *dirs, const host_resources *res, kl_error *err);

/* bindsource.c ------------------------------------------------------------------------------ */
/* 0 when the object open at fd (a bind mount source, named `source` in messages) lies in
 * none of the `denied` directories' trees (NULL: none); -1 with EPERM when it does. */
int bindsource_check_fd(int fd, const char *source, char *const *denied, kl_error *err);

/* monitor.c (the kleene-monitor program) --------------------------------------------------- */
struct host_monitor_spec;
/* Be the monitor of spec: start its container, answer on status_fd (the caller's end of the
 * status socket: the first reply or error, then with spec->attach the main process's stream)
 * and on monitor.sock until the container has ended. Never returns. Expects a clean process:
 * stdio on /dev/null, default signal dispositions, an empty signal mask (monitor_main.c). */
__attribute__((noreturn)) void monitor_run(const struct host_monitor_spec *spec, int status_fd);
/* Report msg to the caller on status_fd as the start's error ('X') and exit. */
__attribute__((noreturn)) void monitor_fail(int status_fd, const char *msg);

/* monitor_spawn.c (kleened's side) ---------------------------------------------------------- */
/* The path of the kleene-monitor program to run (see there for where it is looked for), or
 * NULL with ENOENT and a message that says what is missing. */
const char *monitor_program(kl_error *err);

#endif
