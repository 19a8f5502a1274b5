/* The container runtime core of the host layer: start a container process, join a running
 * container for exec, signal and wait.
 *
 * Portable on purpose: plain C types only, no Linux (or FreeBSD) type or constant appears
 * here. The Linux implementation lives in src/host/linux/ (namespaces + pivot_root + a reaper
 * as pid 1); a FreeBSD one would drive jail(2)/jexec the same way.
 *
 * It must not: know about images, layers, networks or the database. The caller hands it an
 * already-prepared root directory and final values (merged env, resolved host mount sources).
 *
 * Exit-code rule (host_process_wait): a process that exited normally gives its exit status
 * (0..255); one killed by signal N gives 128+N (SIGKILL → 137, SIGTERM → 143). For a
 * container this is the status of its MAIN process (the command of the spec), but the
 * container only ends when no other process is left in it (jail semantics: the reaper, pid 1
 * of the container, waits for orphans and for exec'd processes, then exits with the main
 * process's code). If the whole container is killed (host_container_kill or SIGKILL to the
 * reaper) before the main process ended, the result is 137.
 *
 * Exec'd processes are children of the caller of host_exec_start(), not of the reaper: reap
 * them promptly (host_process_wait). The kernel completes the death of a container's pid 1
 * only after every process of its pid namespace has been reaped by its parent. */
#ifndef KL_HOST_RUNTIME_H
#define KL_HOST_RUNTIME_H

#include <stdbool.h>
#include <stddef.h>

#include "lib/error.h"

typedef enum host_netns_mode {
    HOST_NETNS_NEW = 0, /* own network namespace (only lo, brought up) */
    HOST_NETNS_HOST,    /* share the host's network stack */
    HOST_NETNS_PATH,    /* join an existing one: spec.netns_path (e.g. /run/netns/x) */
} host_netns_mode;

typedef struct host_mount {
    const char *source;      /* absolute host path: directory or regular file */
    const char *destination; /* absolute path inside the container, created if missing;
                                never on /proc or /sys */
    bool read_only;
    bool source_is_ours; /* made by the engine (a volume): exempt from denied_sources */
} host_mount;

typedef struct host_limits {
    long long memory_bytes; /* 0 = unlimited */
    long long pids_max;     /* 0 = unlimited */
    long long cpu_millis;   /* 1000 = one CPU; 0 = unlimited */
    long long nofile;       /* RLIMIT_NOFILE soft+hard; 0 = inherit. Clamped to the current hard
                               limit, never raised above it */
} host_limits;

/* Who is pid 1 of the container. NONE: our reaper, with the command as its child (the default:
 * jail semantics, the container ends when its last process has). Otherwise the command itself
 * is pid 1 (a thin virtual machine, docs/thin-vm.md): the container ends when it does, and it
 * gets what an init expects: a console (/dev/console, the main process's pty), tmpfs on /run,
 * /run/lock and /tmp, its own cgroups mounted writable at /sys/fs/cgroup (nothing of the
 * host's), container=kleene in its environment and a stable /etc/machine-id. */
typedef enum host_init_mode {
    HOST_INIT_NONE = 0,
    HOST_INIT_AUTO,    /* an init path → PLAIN or SYSTEMD (host_init_resolve), else NONE */
    HOST_INIT_PLAIN,   /* busybox init, sysvinit, OpenRC ...: stopped with SIGTERM */
    HOST_INIT_SYSTEMD, /* stopped with SIGRTMIN+3 (its "halt") */
} host_init_mode;

/* "auto", "systemd", "plain", "none" → *out; -1 (EINVAL, message) for anything else. */
int host_init_mode_parse(const char *name, host_init_mode *out, kl_error *err);
const char *host_init_mode_name(host_init_mode m);
/* AUTO → SYSTEMD when argv[0] is an init path (/sbin/init, /usr/sbin/init, /lib/systemd/systemd,
 * /usr/lib/systemd/systemd) that resolves, inside rootfs, to systemd's binary; → PLAIN when it
 * is an init path that is something else (busybox, sysvinit); → NONE otherwise. Other modes
 * are returned as they are. Never fails: what cannot be resolved is not an init. */
host_init_mode host_init_resolve(const char *rootfs, char *const *argv, host_init_mode asked);
/* What can be told without the root: AUTO → NONE when argv[0] is no init path; AUTO stays
 * AUTO when it is one (only the root can tell which init it is). Other modes as they are. */
host_init_mode host_init_from_argv(char *const *argv, host_init_mode asked);
/* The signal that asks the init of this mode to shut down (host signal number). */
int host_init_stop_signal(host_init_mode m);
/* ---- a container described in full (an OCI bundle's config.json) ------------------------------
 *
 * With host_container_spec.full set, the caller describes everything and the core adds no
 * default of its own: no mount beyond `mounts` (and the default devices in a /dev tmpfs), the
 * capability sets as given, no seccomp filter unless one is given, the namespaces listed (new
 * or joined), and the command itself is pid 1 of the container: no reaper, the container ends
 * when it does (the OCI model: whoever waits for the pid, e.g. containerd's shim as a
 * subreaper, gets its exit status). host_container_start then returns when the container is
 * set up and its process waits on the start gate (start_fd); it execs the command when the
 * gate is opened for reading (host_container_release_gate), or at once without a gate. */

typedef struct host_fs_mount {
    const char *destination; /* absolute, inside the container */
    const char *type;        /* "bind" (or NULL with a bind option), "proc", "tmpfs", ... */
    const char *source;      /* bind: an absolute host path */
    char *const *options;    /* mount(8) options: ro, nosuid, rbind, rprivate, mode=755 ... */
} host_fs_mount;

typedef struct host_id_map {
    unsigned int container_id, host_id, size;
} host_id_map;

typedef struct host_rlimit {
    const char *type; /* "RLIMIT_NOFILE" ... */
    unsigned long long soft, hard;
} host_rlimit;

typedef struct host_namespace {
    const char *type; /* pid network mount ipc uts user cgroup */
    const char *path; /* NULL: a new one; else joined */
} host_namespace;

typedef struct host_device {
    const char *path; /* absolute, inside the container */
    char type;        /* 'c', 'u', 'b', 'p' */
    long long major, minor;
    unsigned int mode; /* permission bits; 0666 when !has_mode */
    unsigned int uid, gid;
    bool has_mode;
} host_device;

typedef struct host_hook {
    const char *path;
    char *const *args;
    char *const *env;
    int timeout_s; /* 0: none */
} host_hook;

/* Cgroup resources (OCI linux.resources); has_* says the value is set. */
typedef struct host_device_rule {
    bool allow;
    char type;              /* 'a', 'c', 'b' */
    long long major, minor; /* -1: any */
    char access[4];
} host_device_rule;

typedef struct host_resources {
    bool has_memory_limit, has_memory_reservation, has_memory_swap, has_memory_swappiness,
        has_disable_oom_killer;
    long long memory_limit, memory_reservation, memory_swap;
    unsigned long long memory_swappiness;
    bool disable_oom_killer;
    bool has_cpu_shares, has_cpu_quota, has_cpu_period, has_cpu_rt_runtime, has_cpu_rt_period;
    unsigned long long cpu_shares, cpu_period, cpu_rt_period;
    long long cpu_quota, cpu_rt_runtime;
    const char *cpu_cpus, *cpu_mems;
    bool has_pids_limit;
    long long pids_limit;
    bool has_blkio_weight, has_blkio_leaf_weight;
    unsigned int blkio_weight, blkio_leaf_weight;
    const char *const *hugepage_sizes; /* "2MB" ... parallel to hugepage_limits */
    const unsigned long long *hugepage_limits;
    size_t n_hugepages;
    const host_device_rule *devices;
    size_t n_devices;
    bool has_net_class_id;
    unsigned int net_class_id;
} host_resources;

enum {
    HOST_CAP_BOUNDING,
    HOST_CAP_EFFECTIVE,
    HOST_CAP_PERMITTED,
    HOST_CAP_INHERITABLE,
    HOST_CAP_AMBIENT,
    HOST_CAP_SETS
};

/* The process of a full container (or of an exec into one). */
typedef struct host_full_process {
    unsigned int uid, gid;
    const unsigned int *additional_gids;
    size_t n_additional_gids;
    bool has_umask;
    unsigned int umask;
    char *const *caps[HOST_CAP_SETS]; /* names; NULL: that set empty */
    bool no_new_privs;
    const host_rlimit *rlimits;
    size_t n_rlimits;
    bool has_oom_score_adj;
    int oom_score_adj;
    /* A compiled seccomp filter (BPF instructions) or NULL for none. */
    const void *seccomp_bpf;
    size_t seccomp_bpf_len;
    bool seccomp_log; /* SECCOMP_FILTER_FLAG_LOG */
    int preserve_fds; /* fds 3 .. 3+n-1 of the caller stay open in the process */
    int console_fd;   /* with tty: where the pty master goes (host_process.pty_fd otherwise) */
} host_full_process;

typedef struct host_full_spec {
    host_full_process process;
    const host_namespace *namespaces;
    size_t n_namespaces;
    const host_id_map *uid_maps, *gid_maps;
    size_t n_uid_maps, n_gid_maps;
    const char *domainname; /* NULL: untouched */
    bool root_readonly;
    const char *root_propagation; /* NULL: rslave for the whole tree, as runc */
    const host_fs_mount *mounts;
    size_t n_mounts;
    char *const *masked_paths;
    char *const *readonly_paths;
    const host_device *devices;
    size_t n_devices;
    char *const *sysctl;     /* "key=value" */
    const char *personality; /* NULL, "LINUX", "LINUX32" */
    /* The cgroup: "/a/b" from each hierarchy's root, "a/b" below the caller's own cgroup;
     * NULL: <own>/kleene/<id>. Every mounted hierarchy of the caller gets one. */
    const char *cgroups_path;
    const host_resources *resources;
    /* The start gate: an O_PATH fd of a FIFO; -1: exec at once. */
    int start_fd;
    /* Hooks run by the container's process with state_json on stdin: createContainer after the
     * mounts, before pivot_root (paths of the caller's namespace), startContainer after the
     * gate, before the exec (paths of the container's). */
    const host_hook *create_container_hooks;
    size_t n_create_container_hooks;
    const host_hook *start_container_hooks;
    size_t n_start_container_hooks;
    /* Called in the caller once the namespaces exist (createRuntime, prestart), with the pid;
     * it returns the state JSON the container's hooks get (malloc'ed) or NULL. */
    char *(*on_created)(void *ctx, int pid, kl_error *err);
    void *ctx;
} host_full_spec;

/* Open the start gate of a created container: its process (host pid `pid`) goes on to exec.
 * `fifo` is the gate's path. Returns once the process has passed it; ESRCH if it is gone. */
int host_container_release_gate(const char *fifo, int pid, kl_error *err);

/* Run a hook (its path, args, env) with `state` on its stdin and wait for it (its timeout:
 * SIGKILL). EIO when it exits non-zero. */
int host_hook_run(const host_hook *h, const char *state, kl_error *err);

typedef struct host_container_spec {
    const char *id;     /* container id (12 hex); names the cgroup. Required */
    const char *rootfs; /* the root directory (see rootfs_layers). Required */
    /* With rootfs_layers (bottom first, NULL-terminated): the runtime mounts their overlay,
     * writable through rootfs_upper (rootfs_work: its work directory; both NULL: read-only),
     * on `rootfs` inside the container's own mount namespace only (host_rootfs_mount), so it
     * lives and dies with the container and nothing of it is ever mounted in the caller's
     * namespace. Without: `rootfs` is a directory the caller prepared (e.g. mounted). */
    char *const *rootfs_layers;
    const char *rootfs_upper;
    const char *rootfs_work;
    const char *hostname; /* NULL → id */
    char *const *argv;    /* command, argv[0] searched in the env's PATH. Required */
    char *const *env;     /* "K=V", already merged (host_env_merge); defaults are added */
    const char *user;     /* "", "name", "name:group", "uid", "uid:gid"; "" or NULL = root */
    const char *cwd;      /* NULL or "" → "/" */
    bool make_cwd;        /* create cwd (as root, inside the root) when the image lacks it */
    const host_mount *mounts;
    size_t n_mounts;
    /* Directories whose trees no bind mount source may be in (kleened's root and run
     * directories), checked on the opened source (host_bind_source_check). NULL: none. */
    char *const *denied_sources;
    char *const *cap_add;  /* "NET_ADMIN" or "CAP_NET_ADMIN", added to the default set */
    char *const *cap_drop; /* removed from the default set ("ALL" drops everything) */
    host_netns_mode netns;
    const char *netns_path;
    bool share_ipc;      /* join the host's SysV IPC namespace instead of a private one */
    bool no_devfs;       /* don't mount a minimal /dev; the image's /dev is used as is */
    bool login_env;      /* add USER, LOGNAME, SHELL of the user (exec.clean) */
    bool no_seccomp;     /* skip the default seccomp filter (privileged use only) */
    bool no_raw_sockets; /* drop CAP_NET_RAW (in the Docker default set) */
    host_limits limits;
    bool tty; /* allocate a pty inside the container; out->pty_fd is its master */
    unsigned short tty_rows, tty_cols;
    int stdin_fd, stdout_fd, stderr_fd; /* without tty; -1 → /dev/null */
    /* AUTO is resolved by the runtime (host_init_resolve), inside the container's mount
     * namespace once the root is mounted there; host_process.init says what it became. Until
     * then AUTO counts as an init (host_container_has_console, the cgroups made). */
    host_init_mode init;
    const host_full_spec *full; /* described in full (above); NULL: the defaults */
    /* For a runtime that takes jail(8) parameters as they are (FreeBSD: host_jailparams.params,
     * set by host_jailparams_apply, passed to `jail -c`); NULL elsewhere, ignored on Linux. */
    char *const *jail_params;
    /* For a runtime that wires a container's networks itself at its start
     * (host_runtime_wires_endpoints: FreeBSD's jails get their addresses or epairs at
     * `jail -c`): the network driver ("ipnet", "vnet", "host", "disabled") and the endpoints.
     * Ignored on Linux, where the engine plugs a network namespace (HOST_NETNS_PATH). */
    const char *net_driver;
    const struct host_endpoint *endpoints;
    size_t n_endpoints;
} host_container_spec;

/* A container's endpoint on one network, as a runtime that wires networks itself needs it. */
typedef struct host_endpoint {
    const char *ifname;   /* the network's interface (bridge, cloned lo) */
    const char *ip4;      /* NULL or "": none */
    const char *ip6;      /* NULL or "": none */
    int prefix4, prefix6; /* the subnets' prefix lengths */
    const char *gw4;      /* the default route's gateway through this network; NULL: none */
    const char *gw6;
} host_endpoint;

/* A running container's jail parameters changed (containers_update): FreeBSD applies the
 * list to the running jail with `jail -m` (FREEBSD-HOST.md §4.7: the pseudo-parameters left
 * out; a refusal is an error with jail(8)'s message, and the caller then saves nothing, as
 * the original). Linux: nothing (0), the stored parameters apply at the next start. */
int host_container_update(const char *id, char *const *jail_params, kl_error *err);

/* The containers the host still runs without a monitor, by id (a strv, never NULL on
 * success): FreeBSD's jails whose name is a container id (`jls -v`), whose monitor died or
 * was lost; the engine takes them over at its start (exec_recover). Linux: none. */
int host_orphan_containers(char ***ids, kl_error *err);

/* Whether this host's runtime gives a container its network endpoints itself at start
 * (host_container_spec.endpoints; FreeBSD) rather than joining a network namespace the
 * engine made and wired (Linux). */
bool host_runtime_wires_endpoints(void);

/* Whether a container of this spec gets a console (an init, with mount.devfs): its main
 * process then runs on a pty even without spec->tty, whose master is host_process.pty_fd; the
 * pty is also the container's /dev/console. */
bool host_container_has_console(const host_container_spec *spec);

/* An exec process gets the container's capability bounding set and seccomp state (read from
 * its reaper), so they need not be repeated here. */
typedef struct host_exec_spec {
    int container_pid; /* host pid of the container's reaper (host_process.pid) */
    char *const *argv;
    char *const *env; /* already merged over the container's env */
    const char *user;
    const char *cwd;
    bool login_env;
    bool tty;
    unsigned short tty_rows, tty_cols;
    int stdin_fd, stdout_fd, stderr_fd;
    /* An exec into a full container: the process as described (capabilities, seccomp, ids,
     * rlimits) instead of the container's reaper's confinement; user and login_env unused.
     * stdio: the caller's own 0..2 when the *_fd are -1 and there is no tty. */
    const host_full_process *full;
} host_exec_spec;

struct host_process_priv;

/* A started container (its reaper) or exec process. Owned by the caller; release with
 * host_process_release() after host_process_wait() returned the exit code. */
typedef struct host_process {
    int pid;    /* host pid: the container's reaper, or the exec'd process */
    int pty_fd; /* master side of the pty when tty was asked for, else -1 */
    /* A container's init mode, AUTO resolved (host_container_spec.init): a caller that needs
     * it (the stop signal, whether pid 1 is the command) reads it here after the start. */
    host_init_mode init;
    struct host_process_priv *priv;
} host_process;

/* Whether the bind mount source `source` may be mounted: not in the tree of any of the
 * `denied` directories (a second name for one of them, a bind mount of it, counts too).
 * Symlinks in `source` are followed once; the check is on what they lead to. EPERM when it is
 * refused. Container starts check the source they mount the same way, on the very object. */
int host_bind_source_check(const char *source, char *const *denied, kl_error *err);

/* Prepare, once per process, what container starts need and is costly to redo each time (on
 * Linux: compiling the default seccomp filter). Call it before host_container_start or
 * host_exec_start in a process that starts containers itself; without it, a start that needs
 * the filter fails. Idempotent and thread-safe. (The monitor program of host/monitor.h gets
 * the prepared state from its caller; host_monitor_start prepares it.) */
int host_runtime_prepare(kl_error *err);

/* Start a container. Returns 0 once the command has been exec'd inside it (setup and exec
 * errors such as "no such file" are reported here, and the container is gone again). */
int host_container_start(const host_container_spec *spec, host_process *out, kl_error *err);

/* Start a process inside a running container (its namespaces, root, cgroups), with its own
 * user/env/cwd/tty. Returns 0 once it has been exec'd. */
int host_exec_start(const host_exec_spec *spec, host_process *out, kl_error *err);

/* Send `sig` (a host signal number) to every process of the container except its reaper.
 * SIGKILL kills the reaper itself, which takes the whole container down. */
int host_container_signal_all(const host_process *ctr, int sig, kl_error *err);

/* Stop: SIGTERM to every process, wait up to grace_ms for the container to end, then SIGKILL.
 * Reaps and cleans up like host_process_wait; *exit_code as there. */
int host_container_stop(host_process *ctr, int grace_ms, int *exit_code, kl_error *err);

/* Wait for the process (container: its reaper) to end; timeout_ms < 0 waits forever.
 * Returns 1 when it ended (*exit_code per the rule above; a container's cgroups are removed),
 * 0 on timeout, -1 on error. */
int host_process_wait(host_process *p, int timeout_ms, int *exit_code, kl_error *err);

/* Free what host_process holds (closes pty_fd). Does not kill anything. */
void host_process_release(host_process *p);

/* ---- what runs in a container and what it uses (Docker's top and stats) ------------------ */

/* One process of a container. */
typedef struct host_proc {
    int pid, ppid;                  /* host pids */
    unsigned uid;                   /* real uid */
    char state;                     /* R, S, D, Z ... */
    unsigned long long start_ticks; /* start after boot, in clock ticks */
    unsigned long long cpu_ticks;   /* user + system time, in clock ticks */
    char *cmd;                      /* the command line, arguments joined by spaces */
} host_proc;

/* The processes in the pid namespace of host pid `pid` (a container's reaper), the reaper
 * first. ESRCH when `pid` is gone. */
int host_container_procs(int pid, host_proc **out, size_t *n, kl_error *err);
void host_procs_free(host_proc *p, size_t n);
/* Clock ticks per second, seconds since boot: to turn start_ticks and cpu_ticks into times. */
long host_clock_ticks(void);
double host_uptime(void);

/* Resource use of the container whose reaper is host pid `pid`, from its cgroups; fields it
 * has no cgroup for are -1. */
typedef struct host_usage {
    long long mem_bytes, mem_limit; /* limit 0: none */
    long long cpu_ns;               /* CPU time of everything in the container */
    long long pids;
    long long system_ns; /* the host's total CPU time (all CPUs, /proc/stat), for percentages */
    int ncpu;
} host_usage;
int host_container_usage(int pid, host_usage *out, kl_error *err);

/* ---- a container's filesystem as its processes see it (docker cp, engine/ctrcopy.c) ----- */

/* The root directory of a running container, its mounts (volumes, bind mounts) included:
 * the root of process `pid` (the container's reaper), which must be a child of `parent_pid`
 * (its monitor) — checked on the process whose root was opened, so that a pid reused by
 * another process is refused (ESRCH). A directory fd to use with host_open_in_root only. */
int host_process_root_open(int pid, int parent_pid, kl_error *err);

/* A stopped container's filesystem: its layer stack (as host_rootfs_open: lowers bottom
 * first, upper, work, an empty `target`) with `mounts` bound on it (resolved inside the root
 * as at a start; read-only ones read-only; bind sources checked against `denied`), all in a
 * mount namespace of its own that no process is in. Returns the root's directory fd; *hold
 * gets an fd that keeps that namespace alive. Closing both (and every fd opened below the
 * root) unmounts everything; so does the end of the process, a kill -9 included. */
int host_rootfs_open_mounted(const char *const *lowers, size_t n, const char *upper,
                             const char *work, const char *target, const host_mount *mounts,
                             size_t n_mounts, char *const *denied, int *hold, kl_error *err);

/* Set the window size of a pty master. */
int host_pty_resize(int pty_fd, unsigned short rows, unsigned short cols, kl_error *err);

/* Environment merge: a copy of `base` with every "K=V" of `over` replacing the base entry of
 * the same K or appended, in order. Entries without '=' are ignored. Never NULL. */
char **host_env_merge(char *const *base, char *const *over);

/* jail_param (shared/API.md 5.1) with Linux meanings. Accepted, with jail(8) boolean syntax
 * (`name`, `name=true|false|1|0`, `no`-prefixed last component = false):
 *   host.hostname=X       hostname of the container
 *   mount.devfs / mount.nodevfs   minimal /dev (default) / the image's /dev untouched
 *   allow.raw_sockets     add CAP_NET_RAW (false: drop it; the Docker default set has it)
 *   allow.sysvipc         true: share the host's SysV IPC namespace (FreeBSD's legacy meaning:
 *                         jailed processes see the host's IPC objects); false/default: own one
 *   exec.clean            true (Kleene default): login environment (HOME/USER/LOGNAME/SHELL of
 *                         the user, PATH) + the given env; false: only the given env + PATH,
 *                         HOME, HOSTNAME defaults. The daemon's own environment never leaks in.
 *   exec.jail_user=X      run the command as X (overrides the container's user)
 *   exec.stop=CMD         the container's stop command (`/bin/sh -c CMD` inside the container
 *                         before the stop signal); kept in exec_stop, not applied to the spec
 *                         (the monitor runs it: host_monitor_spec.stop_cmd)
 * Anything else is an error naming the parameter. String values may be wrapped in one pair
 * of double quotes. Later parameters override earlier ones. */
typedef struct host_jailparams {
    char *hostname;        /* NULL = unset */
    char *jail_user;       /* NULL = unset */
    char *exec_stop;       /* NULL = unset: exec.stop=CMD, the stop command (sh -c CMD) */
    int mount_devfs;       /* -1 unset, 0, 1 */
    int allow_raw_sockets; /* -1 unset, 0, 1 */
    int allow_sysvipc;     /* -1 unset, 0, 1 */
    int exec_clean;        /* -1 unset, 0, 1 */
    /* FreeBSD: the whole list as given (a strv), every parameter passed on to `jail -c`
     * (host_container_spec.jail_params); NULL on Linux. */
    char **params;
} host_jailparams;

int host_jailparams_parse(char *const *params, host_jailparams *out, kl_error *err);
/* On FreeBSD (src/host/freebsd/fbjailparam.c) every jail(8) parameter is accepted and kept as
 * it is in `params` (FREEBSD-HOST.md §4.2: the original's defaults are prepended unless a
 * parameter overrides them, `no`-negations are jail(8)'s own); only the syntax is checked
 * (`name[=value]`, a name of [a-z0-9_.]) and the parameters kleened sets itself (`name`,
 * `path`, `jid`, `command`) are refused. hostname, jail_user and exec_stop are filled too. */
void host_jailparams_free(host_jailparams *p);
/* Apply the set fields to a spec (hostname, user, no_devfs, no_raw_sockets, share_ipc,
 * login_env). The spec then points into `p`: keep it alive while the spec is used. */
void host_jailparams_apply(const host_jailparams *p, host_container_spec *spec);

/* A full container without a mount namespace makes its mounts in the caller's, below its
 * root: snapshot what is mounted there before the start (a string to keep), and undo what the
 * container added once it is gone. */
char *host_mounts_snapshot(const char *rootfs);
int host_mounts_undo(const char *rootfs, const char *snapshot, kl_error *err);

/* ---- cgroups of full containers, for a front end that keeps them across its own processes
 * (kleene-runtime keeps the directories in its state) ---------------------------------------- */

/* The cgroup directories a started container got (NULL-terminated; strv_free). */
char **host_process_cgroups(const host_process *p);
/* Remove them (after the container has ended), depth first; what is already gone is fine. */
int host_cgroups_remove(char *const *dirs, kl_error *err);
/* Freeze (pause) or thaw (resume) them (v1 freezer or cgroup.freeze). */
int host_cgroups_freeze(char *const *dirs, bool frozen, kl_error *err);
/* Apply resources to them (update). */
int host_cgroups_update(char *const *dirs, const host_resources *res, kl_error *err);
/* The pids in them (NULL-terminated in *pids, count returned); -1 on error. */
int host_cgroups_pids(char *const *dirs, int **pids, kl_error *err);
#endif
