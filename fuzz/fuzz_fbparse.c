/* Fuzz the parsers of the FreeBSD layer (src/host/freebsd): every command's output it reads
 * (jls, netstat, mount JSON; zfs list and destroy text; ifconfig; uname; pfctl -s Anchors)
 * comes from the input, through a runner that answers every command with it. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "host/freebsd/ifnet.h"
#include "host/freebsd/jail.h"
#include "host/freebsd/pf.h"
#include "lib/xalloc.h"

typedef struct fuzz_runner {
    fb_runner base;
    const char *data;
    int status;
} fuzz_runner;

static int fr_run(fb_runner *r, const char *const *argv, const char *input, fb_result *res,
                  kl_error *err)
{
    fuzz_runner *f = (fuzz_runner *)r;
    res->status = f->status;
    res->out = xstrdup(f->data);
    res->err = xstrdup(f->data);
    return 0;
}

static int fr_run_pipe(fb_runner *r, const char *const *a, const char *const *b, fb_result *res,
                       kl_error *err)
{
    return fr_run(r, a, NULL, res, err);
}

static int fr_spawn(fb_runner *r, const char *const *argv, fb_proc *out, kl_error *err)
{
    out->pid = 1;
    return 0;
}

static int fr_wait(fb_runner *r, fb_proc *p, int t, int *status, kl_error *err)
{
    *status = 0;
    return 1;
}

static int fr_kill(fb_runner *r, fb_proc *p, int sig, kl_error *err)
{
    return 0;
}

static int fr_write(fb_runner *r, const char *path, const char *d, size_t n, unsigned m,
                    kl_error *err)
{
    return 0;
}

static int fr_make_path(fb_runner *r, const char *root, const char *rel, bool file, kl_error *err)
{
    return 0;
}

static void fr_sleep(fb_runner *r, int ms) {}

static void fr_free(fb_runner *r) {}

static const fb_runner_ops ops = {.run = fr_run,
                                  .run_pipe = fr_run_pipe,
                                  .spawn = fr_spawn,
                                  .wait = fr_wait,
                                  .kill = fr_kill,
                                  .write_file = fr_write,
                                  .make_path = fr_make_path,
                                  .sleep_ms = fr_sleep,
                                  .free = fr_free};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    char *text = xstrndup((const char *)data + 1, size - 1);
    fuzz_runner f = {.base = {&ops}, .data = text, .status = data[0] % 3};
    fb_host h = {.run = &f.base, .root = "zroot/kleene", .pf_anchor = "kleene"};
    kl_error err = KL_ERROR_INIT;

    fb_jail_info *jails = NULL;
    size_t n = 0;
    if (fb_jails_list(&h, &jails, &n, &err) == 0)
        fb_jails_free(jails, n);
    char **addrs = NULL;
    bool exists;
    if (fb_if_addresses(&h, "kleene0", &addrs, &exists, &err) == 0)
        strv_free(addrs);
    char *gw = NULL;
    fb_net_detect_gateway(&h, &gw, &err);
    free(gw);
    fb_snapclones *sc = NULL;
    if (fb_snapshot_clones(&h, &sc, &n, &err) == 0)
        fb_snapclones_free(sc, n);
    fb_image_remove(&h, "a1b2c3d4e5f6", &err);
    char *url = NULL, *ver = NULL;
    if (fb_fetch_auto_url(text, &url, &ver, &err) == 0) {
        free(url);
        free(ver);
    }
    char epair[16];
    fb_epair_create(&h, epair, &err);
    fb_network br = {.id = "n1", .type = FB_NETTYPE_BRIDGE, .ifname = "kleene0"};
    fb_net_remove(&h, &br, &err);
    char *mp = NULL;
    if (fb_zfs_mountpoint(&h, "zroot/kleene", &mp, &err) == 0)
        free(mp);
    char *warn = NULL;
    fb_pf_start(&h, &warn, &err);
    free(warn);
    fb_jail_spec s = {.cid = "3f9a1c0b7d2e", .driver = FB_NET_HOST};
    fb_container_cleanup(&h, &s, &err);
    free(text);
    return 0;
}
