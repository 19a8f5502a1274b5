/* Containers as jails (FREEBSD-HOST.md §4, §6): the `jail -c` argv with the original's
 * defaults and the user's -J parameters, the pty helper for tty processes, jexec, stop with
 * exec.stop and a grace period, `jail -m` updates, rctl limits, nullfs and volume mounts,
 * cleanup, and the running jails for re-adoption at start (jls).
 * Portable (POSIX + the runner); see fbhost.h. */
#ifndef KL_FB_JAIL_H
#define KL_FB_JAIL_H

#include <stdbool.h>
#include <stddef.h>

#include "host/freebsd/fbhost.h"

typedef enum fb_netdriver {
    FB_NET_IPNET = 0, /* the host's stack, per-jail addresses (ip4.addr/ip6.addr) */
    FB_NET_VNET,      /* a vnet jail with an epair per network */
    FB_NET_HOST,      /* ip4=inherit ip6=inherit */
    FB_NET_DISABLED,  /* ip4=disable ip6=disable */
} fb_netdriver;

typedef struct fb_endpoint {
    const char *ifname; /* the network's interface: kleene0 */
    const char *ip4;    /* NULL/"" none */
    const char *ip6;
    int prefix4, prefix6; /* the subnets' prefix lengths (vnet addresses) */
    const char *gw4;      /* vnet default route via this gateway; NULL/"" none */
    const char *gw6;
    char epair[16]; /* vnet: "epair3", set by fb_container_start; "" when none */
} fb_endpoint;

typedef struct fb_mount {
    const char *source;      /* host path (nullfs) or the volume's mountpoint */
    const char *destination; /* absolute path inside the container */
    bool read_only;
    /* Make the destination at start if the image lacks it (fb_make_path: a directory, or an
     * empty file when source_is_file), as the runtime does on Linux; the original made it at
     * create (§6.1, fb_mount_prepare), which the jail monitor's mounts do not go through. */
    bool make_destination;
    bool source_is_file;
} fb_mount;

typedef struct fb_limits {
    long long memory_bytes; /* rctl memoryuse:deny; 0 none */
    long long pids_max;     /* rctl maxproc:deny */
    long long cpu_millis;   /* rctl pcpu:deny (percent = millis / 10) */
} fb_limits;

typedef struct fb_jail_spec {
    const char *cid;
    const char *user;       /* "" or NULL → root */
    const char *const *env; /* "K=V", merged already; passed sorted by name (the original) */
    const char *const *cmd; /* required */
    const char *const *jail_params; /* the user's -J list, in order (may be NULL) */
    fb_netdriver driver;
    fb_endpoint *endpoints;
    size_t n_endpoints;
    const fb_mount *mounts;
    size_t n_mounts;
    fb_limits limits;
    bool tty;
    int stop_signal; /* what a stop sends every process of the jail (host number); 0: SIGTERM */
} fb_jail_spec;

/* The default parameters prepended to the user's (FREEBSD-HOST.md §4.2 step 5), each only
 * when no user parameter starts with one of its prefixes, then the user's in their order.
 * DIFFERENCE: exec.stop without the literal double quotes (B9). A strv. */
char **fb_jail_params(const char *cid, const char *user, const char *const *user_params);

/* The whole `jail -c` argv (pure): path, name, network, parameters, command=/usr/bin/env
 * K=V... cmd..., behind the pty helper when tty. Endpoints' epairs must be set for vnet. */
int fb_jail_create_argv(const fb_host *h, const fb_jail_spec *s, const char *path, char ***argv,
                        kl_error *err);

/* jls: 1 when jail <cid> exists (running), 0 when not. */
int fb_jail_is_running(const fb_host *h, const char *cid, kl_error *err);

/* A running jail, from `jls -v --libxo=json` (re-adoption at start). */
typedef struct fb_jail_info {
    char *name;
    int jid;
    char *path;
    char **ipv4; /* strv */
    char **ipv6;
} fb_jail_info;
int fb_jails_list(const fb_host *h, fb_jail_info **out, size_t *n, kl_error *err);
void fb_jails_free(fb_jail_info *v, size_t n);

/* Container create, mount records (§6.1): the destination inside the container's dataset
 * made (a directory, or an empty file when the source is a file). Destinations must be
 * absolute, without `..` (B5). */
int fb_mount_prepare(const fb_host *h, const char *cid, const char *destination,
                     bool source_is_file, kl_error *err);
/* A volume's copy-up at create: when the volume is empty and the image's directory is not,
 * copy it (dotfiles included) into the volume (B4: the original copied every time, without
 * dotfiles, through sh -c). */
int fb_volume_populate(const fb_host *h, const char *cid, const char *destination,
                       const char *volume_mp, kl_error *err);

/* Start (§4.2): jls, the mountpoint, nullfs mounts, epairs or aliases, rctl limits, then the
 * foreground `jail -c` (spawned; the caller reads proc->out_fd and waits). Every step is
 * undone when a later one fails (the original went on after failed mounts and epairs). */
int fb_container_start(const fb_host *h, fb_jail_spec *s, fb_proc *proc, kl_error *err);

/* The foreground jail(8) of a start has ended (its status is 0, or 1 if a step or the
 * command failed; jail(8) undid its own steps then). jls: 1 when the jail is gone (the
 * container stopped; our side cleaned up: fb_container_cleanup), 0 when it still runs
 * (processes started by the command keep it alive). */
int fb_container_ended(const fb_host *h, fb_jail_spec *s, kl_error *err);

/* Exec into a running jail (§4.3): jexec -l -U <user> <cid> /usr/bin/env K=V... cmd... */
int fb_container_exec(const fb_host *h, const char *cid, const char *user, const char *const *env,
                      const char *const *cmd, bool tty, fb_proc *proc, kl_error *err);

/* Stop (§4.5): exec.stop in the jail unless exec.nostop (the original never ran it, B9),
 * SIGTERM to every process of the jail, up to grace_ms for them to end, then `jail -r`;
 * then cleanup. ENOENT "container not running" when the jail is not running (after cleanup,
 * as the original). */
int fb_container_stop(const fb_host *h, fb_jail_spec *s, int grace_ms, kl_error *err);

/* Cleanup after a jail ended (§4.5): epairs, aliases, mounts in reverse order (B6), devfs,
 * rctl rules. Best effort: every step runs; the first failure is reported. */
int fb_container_cleanup(const fb_host *h, fb_jail_spec *s, kl_error *err);

/* Live update (§4.7): jail -m name=<cid> <params>, the pseudo-parameters (exec.*, mount.*,
 * command) left out, since -m ignores them. A refusal is the original's error message. */
int fb_container_update(const fb_host *h, const char *cid, const char *const *params,
                        kl_error *err);

#endif
