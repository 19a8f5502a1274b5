/* `kleened init`: the host set-up of a FreeBSD host for Kleene (FREEBSD-HOST.md §2.1),
 * checked first, shown as a plan, done only after a confirmation (kleene-init, run by
 * `service kleened init`). Portable; see fbhost.h. */
#ifndef KL_FB_INIT_H
#define KL_FB_INIT_H

#include <stdbool.h>
#include <stddef.h>

#include "host/freebsd/fbhost.h"

typedef struct fb_init_step {
    char *what;  /* one line for the user: "load kernel module pf" */
    char **argv; /* a command to run, or NULL */
    char *path;  /* a file to replace (with `content`), or NULL */
    char *content;
    bool note_only; /* nothing to run: something the user must do (reboot ...) */
} fb_init_step;

typedef struct fb_init_plan {
    fb_init_step *steps;
    size_t n;
} fb_init_plan;

void fb_init_plan_free(fb_init_plan *p);

/* Look at the host (read-only commands only) and list what `init` would change:
 * kernel modules zfs, pf, pflog and if_bridge (kldstat/kldload); zfs_load, pf_load
 * (loader.conf), zfs_enable, pf_enable, pflog_enable (rc.conf) through sysrc, as name=YES
 * (B32: no literal quotes); the bridge's pf filtering (net.link.bridge.pfil_bridge=1); the
 * datasets <root>, image, container, volumes; pf.conf hooking in our anchor (its three
 * lines put where pf's rule order allows); rctl (kern.racct.enable=1 in loader.conf, which
 * needs a reboot). */
int fb_init_check(const fb_host *h, const char *pf_conf, fb_init_plan *plan, kl_error *err);

/* Do the plan's steps in order; the first failure stops it ("initialization error: ..."). */
int fb_init_apply(const fb_host *h, const fb_init_plan *plan, kl_error *err);

/* pf.conf with our anchor hooked in (pure): `nat-anchor` and `rdr-anchor` before the first
 * translation or filter rule, `anchor` before the first filter rule, else at the end. NULL
 * when the text hooks it in already. */
char *fb_pf_conf_hook(const char *pf_conf_text, const char *anchor);

#endif
