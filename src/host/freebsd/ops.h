/* The host side of whole API operations on FreeBSD (FREEBSD-HOST.md §2.2, §7, §8): the
 * sequences that touch more than one part of the host (interfaces and pf, jails and pf), in
 * the order the engine runs them, each undoing its first part when the second fails.
 * Portable; see fbhost.h. */
#ifndef KL_FB_OPS_H
#define KL_FB_OPS_H

#include "host/freebsd/ifnet.h"
#include "host/freebsd/jail.h"
#include "host/freebsd/pf.h"

/* Daemon start (§2.2): the default route's interface (into *gateway_if, NULL if none: a
 * warning for the log, as the original), IP forwarding, the datasets, every network's
 * interface (kept if it exists: B12), pf enabled with our anchor loaded from pf_after
 * (*pf_warning when the main ruleset does not hook the anchor in), and the jails still
 * running (re-adopted; restart policies then start only the others, B13). */
typedef struct fb_start_result {
    char *gateway_if;
    char *pf_warning;
    fb_jail_info *jails;
    size_t n_jails;
} fb_start_result;
int fb_op_daemon_start(fb_host *h, const fb_network *nets, size_t n_nets, bool ipv6,
                       const fb_pf_config *pf_after, fb_start_result *out, kl_error *err);
void fb_start_result_free(fb_start_result *r);

/* Restart policy at daemon start (§2.2 step 7): each container of `specs` (those whose
 * policy is on-startup) is started unless its jail still runs (B13: the original ran its
 * command again with jexec). started[i] tells which were started (procs[i] then valid);
 * a failing start is reported in errs[i] and the others go on, as the original. Returns
 * the number started. */
int fb_op_restart_on_startup(const fb_host *h, fb_jail_spec *specs, size_t n,
                             const fb_start_result *start, bool *started, fb_proc *procs,
                             kl_error *errs);

/* Network create (§7.2): the interface, then pf with the network; pf refusing it removes
 * the interface again. */
int fb_op_network_create(const fb_host *h, const fb_network *n, const fb_pf_config *pf_after,
                         kl_error *err);
/* Network remove (§7.7): the containers are disconnected first by the caller
 * (fb_op_disconnect); pf without the network, then the interface. */
int fb_op_network_remove(const fb_host *h, const fb_network *n, const fb_pf_config *pf_after,
                         kl_error *err);
/* Connect (§7.4): ipnet of a running jail gets its addresses now (fb_net_connect_running);
 * vnet of a running jail is refused as in the original; then pf. */
int fb_op_connect(const fb_host *h, const char *cid, fb_netdriver driver, const fb_endpoint *ep,
                  bool running, const fb_pf_config *pf_after, kl_error *err);
/* Disconnect (§7.5) and pf reloaded without the endpoint (B19: the original did not). */
int fb_op_disconnect(const fb_host *h, const char *cid, fb_netdriver driver, fb_endpoint *ep,
                     bool running, const fb_pf_config *pf_after, kl_error *err);
/* Container stop (§4.5) with pf reloaded after it (B19). */
int fb_op_container_stop(const fb_host *h, fb_jail_spec *s, int grace_ms,
                         const fb_pf_config *pf_after, kl_error *err);

/* A mount of a container create: a nullfs mount of a host path (source_is_file tells a
 * file from a directory) or a volume (volume_mp set: its copy-up is done). */
typedef struct fb_create_mount {
    const char *destination;
    bool source_is_file;
    const char *volume_mp; /* NULL for nullfs */
} fb_create_mount;

/* Container create (§4.1, §6.1): the clone, then each mount's destination (and volume
 * copy-up); a failure destroys the clone again (B23: the original leaked it). */
int fb_op_container_create(const fb_host *h, const char *cid, const char *image_ds,
                           const char *snap, const fb_create_mount *mounts, size_t n_mounts,
                           kl_error *err);
/* Container remove (§4.6): refused while its jail runs; cleanup (mounts, devfs), the
 * dataset destroyed (checked, B23), then pf without it (B19). */
int fb_op_container_remove(const fb_host *h, fb_jail_spec *s, const fb_pf_config *pf_after,
                           kl_error *err);

#endif
