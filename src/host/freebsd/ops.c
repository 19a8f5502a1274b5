/* Whole operations of the FreeBSD host (ops.h). It must not: leave the interfaces and pf
 * disagreeing after a failure it could undo. */
#include "host/freebsd/ops.h"

#include <errno.h>
#include <string.h>

#include "lib/cleanup.h"
#include "lib/xalloc.h"

void fb_start_result_free(fb_start_result *r)
{
    free(r->gateway_if);
    free(r->pf_warning);
    fb_jails_free(r->jails, r->n_jails);
    memset(r, 0, sizeof(*r));
}

static int start_steps(fb_host *h, const fb_network *nets, size_t n_nets, bool ipv6,
                       const fb_pf_config *pf_after, fb_start_result *out, kl_error *err)
{
    if (fb_storage_check(h, err) < 0 || fb_net_enable_forwarding(h, ipv6, err) < 0)
        return -1;
    for (size_t i = 0; i < n_nets; i++)
        if (fb_net_adopt(h, &nets[i], err) < 0)
            return -1;
    if (fb_pf_start(h, &out->pf_warning, err) < 0 || fb_pf_apply(h, pf_after, err) < 0)
        return -1;
    return fb_jails_list(h, &out->jails, &out->n_jails, err);
}

int fb_op_daemon_start(fb_host *h, const fb_network *nets, size_t n_nets, bool ipv6,
                       const fb_pf_config *pf_after, fb_start_result *out, kl_error *err)
{
    memset(out, 0, sizeof(*out));
    if (fb_net_detect_gateway(h, &out->gateway_if, err) < 0)
        return -1;
    h->gateway_if = out->gateway_if;
    if (start_steps(h, nets, n_nets, ipv6, pf_after, out, err) < 0) {
        h->gateway_if = NULL;
        fb_start_result_free(out);
        return -1;
    }
    return 0;
}

int fb_op_network_create(const fb_host *h, const fb_network *n, const fb_pf_config *pf_after,
                         kl_error *err)
{
    if (fb_net_create(h, n, err) < 0)
        return -1;
    if (fb_pf_apply(h, pf_after, err) < 0) {
        kl_error ig = KL_ERROR_INIT;
        fb_net_remove(h, n, &ig);
        return -1;
    }
    return 0;
}

int fb_op_network_remove(const fb_host *h, const fb_network *n, const fb_pf_config *pf_after,
                         kl_error *err)
{
    if (fb_pf_apply(h, pf_after, err) < 0)
        return -1;
    return fb_net_remove(h, n, err);
}

int fb_op_connect(const fb_host *h, const char *cid, fb_netdriver driver, const fb_endpoint *ep,
                  bool running, const fb_pf_config *pf_after, kl_error *err)
{
    if (driver == FB_NET_VNET && running)
        return kl_error_set(err, EBUSY, "cannot connect a running vnet container to a network");
    if (driver == FB_NET_IPNET && running && fb_net_connect_running(h, cid, ep, err) < 0)
        return -1;
    return fb_pf_apply(h, pf_after, err);
}

int fb_op_disconnect(const fb_host *h, const char *cid, fb_netdriver driver, fb_endpoint *ep,
                     bool running, const fb_pf_config *pf_after, kl_error *err)
{
    if (fb_net_disconnect(h, cid, driver, ep, running, err) < 0)
        return -1;
    return fb_pf_apply(h, pf_after, err);
}

int fb_op_container_stop(const fb_host *h, fb_jail_spec *s, int grace_ms,
                         const fb_pf_config *pf_after, kl_error *err)
{
    if (fb_container_stop(h, s, grace_ms, err) < 0)
        return -1;
    return fb_pf_apply(h, pf_after, err);
}

int fb_op_container_create(const fb_host *h, const char *cid, const char *image_ds,
                           const char *snap, const fb_create_mount *mounts, size_t n_mounts,
                           kl_error *err)
{
    if (fb_container_clone(h, cid, image_ds, snap, err) < 0)
        return -1;
    for (size_t i = 0; i < n_mounts; i++) {
        const fb_create_mount *m = &mounts[i];
        int rc = m->volume_mp ? fb_volume_populate(h, cid, m->destination, m->volume_mp, err)
                              : fb_mount_prepare(h, cid, m->destination, m->source_is_file, err);
        if (rc < 0) {
            kl_error ig = KL_ERROR_INIT;
            fb_container_destroy(h, cid, &ig);
            return -1;
        }
    }
    return 0;
}

int fb_op_container_remove(const fb_host *h, fb_jail_spec *s, const fb_pf_config *pf_after,
                           kl_error *err)
{
    int running = fb_jail_is_running(h, s->cid, err);
    if (running < 0)
        return -1;
    if (running)
        return kl_error_set(err, EBUSY, "you cannot remove a running container");
    if (fb_container_cleanup(h, s, err) < 0 || fb_container_destroy(h, s->cid, err) < 0)
        return -1;
    return fb_pf_apply(h, pf_after, err);
}

int fb_op_restart_on_startup(const fb_host *h, fb_jail_spec *specs, size_t n,
                             const fb_start_result *start, bool *started, fb_proc *procs,
                             kl_error *errs)
{
    int count = 0;
    for (size_t i = 0; i < n; i++) {
        started[i] = false;
        bool running = false;
        for (size_t k = 0; k < start->n_jails; k++)
            if (!strcmp(start->jails[k].name, specs[i].cid))
                running = true;
        if (running)
            continue; /* re-adopted as it is */
        if (fb_container_start(h, &specs[i], &procs[i], &errs[i]) == 0) {
            started[i] = true;
            count++;
        }
    }
    return count;
}
