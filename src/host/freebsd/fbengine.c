/* The engine's remaining host interfaces on FreeBSD: the layer's set-up at daemon start
 * (host_layer_setup, host/host.h), init modes and a container's processes and resource use
 * (host/runtime.h) and the out-of-process fetch (host/fetch.h). The container monitor
 * (host/monitor.h) is kleene-jailmon: fbmonitor.c and the shared src/host/monitor_client.c.
 *
 * State (docs/freebsd.md "Wiring kleened to this layer"): kleened links and runs on this
 * layer; networks, the firewall (pf anchor), layers as ZFS datasets and container roots as
 * clones (fbstorage.c), confined paths, volumes and running jails work; image creation by
 * fetch is fbfetch.c's (fetch(1) and tar). The out-of-process fetch and pull (kleene-fetch:
 * registry pulls, image load, push) are not built for FreeBSD yet (ENOTSUP). Every such
 * refusal names what is missing; none pretends to have worked. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "host/fetch.h"
#include "host/freebsd/fbhost.h"
#include "host/helpers.h"
#include "host/host.h"
#include "host/runtime.h"
#include "lib/cleanup.h"
#include "lib/xalloc.h"

/* ---- the layer's set-up --------------------------------------------------------------- */

static fb_host production;
static char *production_root, *production_pty, *production_anchor;

int fb_layer_config_resolve(const host_layer_config *cfg, const char *env_root, char **root,
                            char **anchor, kl_error *err)
{
    const char *r = cfg && cfg->zfs_root && *cfg->zfs_root ? cfg->zfs_root
                    : env_root && *env_root                ? env_root
                                                           : "zroot/kleene";
    const char *a = cfg && cfg->pf_anchor && *cfg->pf_anchor ? cfg->pf_anchor : "kleene";
    if (!fb_dataset_is_valid(r))
        return kl_error_set(err, EINVAL, "invalid root dataset '%.100s' (%s)", r,
                            cfg && cfg->zfs_root && *cfg->zfs_root ? "zfs_root"
                                                                   : "KLEENED_ZFS_ROOT");
    if (!fb_component_is_valid(a))
        return kl_error_set(err, EINVAL, "invalid pf anchor name '%.100s'", a);
    *root = xstrdup(r);
    *anchor = xstrdup(a);
    return 0;
}

int host_layer_setup(const host_layer_config *cfg, kl_error *err)
{
    static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
    pthread_mutex_lock(&lock);
    int rc = 0;
    if (!production.run) {
        rc = fb_layer_config_resolve(cfg, getenv("KLEENED_ZFS_ROOT"), &production_root,
                                     &production_anchor, err);
        if (rc == 0) {
            kl_error e2 = KL_ERROR_INIT;
            production_pty = host_helper_path("kleene-pty", &e2); /* NULL: tty refused */
            production = (fb_host){.run = fb_runner_spawn_new(),
                                   .root = production_root,
                                   .pf_anchor = production_anchor,
                                   .pty_helper = production_pty};
            fb_host_set_default(&production);
        }
    }
    pthread_mutex_unlock(&lock);
    return rc;
}

/* ---- init modes ------------------------------------------------------------------------ */

int host_init_mode_parse(const char *name, host_init_mode *out, kl_error *err)
{
    /* A jail has no pid 1 of its own: "none" (the default) and "auto" (which finds no init
     * to run as pid 1 and so is "none") are accepted; an init as pid 1 is a Linux mode. */
    if (name && !strcmp(name, "none")) {
        *out = HOST_INIT_NONE;
        return 0;
    }
    if (name && !strcmp(name, "auto")) {
        *out = HOST_INIT_AUTO;
        return 0;
    }
    if (name && (!strcmp(name, "plain") || !strcmp(name, "systemd")))
        return kl_error_set(err, ENOTSUP,
                            "init mode '%s' does not exist on FreeBSD (a jail has no pid 1; "
                            "boot its rc with the jail parameter exec.start)",
                            name);
    return kl_error_set(err, EINVAL, "invalid init mode '%.40s' (auto, systemd, plain or none)",
                        name ? name : "");
}

/* ---- what runs in a container (Docker's top and stats) ------------------------------------
 * Not written yet for jails (ps -J / rctl -u would give them). */

int host_container_procs(int pid, host_proc **out, size_t *n, kl_error *err)
{
    (void)pid;
    *out = NULL;
    *n = 0;
    return kl_error_set(err, ENOTSUP, "listing a jail's processes is not written yet");
}

void host_procs_free(host_proc *p, size_t n)
{
    for (size_t i = 0; p && i < n; i++)
        free(p[i].cmd);
    free(p);
}

long host_clock_ticks(void)
{
    return 100;
}

double host_uptime(void)
{
    return 0;
}

int host_container_usage(int pid, host_usage *out, kl_error *err)
{
    (void)pid;
    *out = (host_usage){.mem_bytes = -1, .cpu_ns = -1, .pids = -1, .system_ns = -1};
    return kl_error_set(err, ENOTSUP, "a jail's resource use is not written yet");
}

/* ---- a container's filesystem for copies (docker cp) ---------------------------------------
 * Not written for jails yet: a running jail's root (with its nullfs mounts) through the jail,
 * a stopped one's ZFS clone with its volumes nullfs-mounted privately. */

int host_process_root_open(int pid, int parent_pid, kl_error *err)
{
    (void)pid;
    (void)parent_pid;
    return kl_error_set(err, ENOTSUP,
                        "copying to or from a running jail is not written yet (its root "
                        "through the jail's process)");
}

int host_rootfs_open_mounted(const char *const *lowers, size_t n, const char *upper,
                             const char *work, const char *target, const host_mount *mounts,
                             size_t n_mounts, char *const *denied, int *hold, kl_error *err)
{
    (void)lowers, (void)n, (void)upper, (void)work, (void)target, (void)mounts, (void)n_mounts,
        (void)denied;
    *hold = -1;
    return kl_error_set(err, ENOTSUP,
                        "copying to or from a stopped jail is not written yet (its root as a "
                        "ZFS clone with its volumes nullfs-mounted)");
}

/* ---- out-of-process fetch -------------------------------------------------------------- */

int host_fetch_extract_child(const char *url, int parent_dirfd, const char *name,
                             const host_fetch_child_opts *opts, host_extract_stats *stats,
                             host_fetch_stage *stage, kl_error *err)
{
    if (stage)
        *stage = HOST_FETCH_STAGE_HELPER;
    return kl_error_set(err, ENOTSUP,
                        "fetching archives is not implemented on FreeBSD yet (kleene-fetch is "
                        "not built there)");
}

int host_pull_child(const char *reference, int parent_dirfd, const char *name,
                    const host_pull_child_opts *pull, const host_fetch_child_opts *opts,
                    kl_error *err)
{
    return kl_error_set(err, ENOTSUP,
                        "pulling from a registry is not implemented on FreeBSD yet "
                        "(kleene-fetch is not built there)");
}

int host_extract_fd_child(int in_fd, int parent_dirfd, const char *name,
                          const host_fetch_child_opts *opts, host_extract_stats *stats,
                          host_fetch_stage *stage, kl_error *err)
{
    (void)in_fd, (void)parent_dirfd, (void)name, (void)opts, (void)stats;
    if (stage)
        *stage = HOST_FETCH_STAGE_HELPER;
    return kl_error_set(err, ENOTSUP,
                        "extracting an uploaded archive needs kleene-fetch, not ported yet");
}

int host_load_child(int in_fd, int parent_dirfd, const char *name, const host_pull_child_opts *pull,
                    const host_fetch_child_opts *opts, kl_error *err)
{
    return kl_error_set(err, ENOTSUP,
                        "loading image archives is not implemented on FreeBSD yet "
                        "(kleene-fetch is not built there)");
}

int host_push_child(const char *reference, int blobs_dirfd, const host_pull_child_opts *pull,
                    const host_fetch_child_opts *opts, kl_error *err)
{
    return kl_error_set(err, ENOTSUP,
                        "pushing to a registry is not implemented on FreeBSD yet "
                        "(kleene-fetch is not built there)");
}

int host_login_child(const char *server, int scratch_dirfd, const host_pull_child_opts *pull,
                     const host_fetch_child_opts *opts, kl_error *err)
{
    (void)server;
    (void)scratch_dirfd;
    (void)pull;
    (void)opts;
    return kl_error_set(err, ENOTSUP,
                        "logging in to a registry is not implemented on FreeBSD yet "
                        "(kleene-fetch is not built there)");
}
