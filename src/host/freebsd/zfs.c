/* ZFS storage of the FreeBSD layer (fbhost.h): images as datasets with an @image snapshot,
 * containers as clones, build steps as snapshots, volumes as datasets. Every command through
 * the runner, every argv element a whole dataset name (no whitespace splitting, B30).
 * It must not: touch the metadata (the engine decides what an image is), or leave a dataset
 * or snapshot behind when an operation fails half-way (B23, B24). */
#include "host/freebsd/fbhost.h"

#include <ctype.h>
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "lib/buf.h"
#include "lib/cleanup.h"
#include "lib/xalloc.h"

#define ZFS "/sbin/zfs"

static bool component_chars_ok(const char *s, size_t n, const char *extra)
{
    if (n == 0 || s[0] == '-')
        return false;
    for (size_t i = 0; i < n; i++) {
        if (!isalnum((unsigned char)s[i]) && !strchr(extra, s[i]))
            return false;
    }
    return true;
}

bool fb_dataset_is_valid(const char *ds)
{
    if (!ds || !*ds || strlen(ds) > 255)
        return false;
    const char *p = ds;
    for (;;) {
        const char *slash = strchr(p, '/');
        size_t n = slash ? (size_t)(slash - p) : strlen(p);
        if (!component_chars_ok(p, n, "_.:-") || (n == 1 && p[0] == '.') ||
            (n == 2 && !strncmp(p, "..", 2)))
            return false;
        if (!slash)
            return true;
        p = slash + 1;
    }
}

bool fb_component_is_valid(const char *name)
{
    return name && strlen(name) <= 128 && name[0] != '.' &&
           component_chars_ok(name, strlen(name), "_.:-");
}

char *fb_image_ds(const fb_host *h, const char *iid)
{
    return xasprintf("%s/image/%s", h->root, iid);
}

char *fb_container_ds(const fb_host *h, const char *cid)
{
    return xasprintf("%s/container/%s", h->root, cid);
}

char *fb_volume_ds(const fb_host *h, const char *name)
{
    return xasprintf("%s/volumes/%s", h->root, name);
}

static void say(fb_info_fn info, void *ctx, const char *msg)
{
    if (info)
        info(msg, ctx);
}

/* The message of a failed command: stderr, else stdout, trimmed. */
static char *cmd_output(const fb_result *r)
{
    return fb_trim(*r->err ? r->err : r->out);
}

int fb_zfs_mountpoint(const fb_host *h, const char *ds, char **mp, kl_error *err)
{
    _cleanup_result_ fb_result r = FB_RESULT_INIT;
    if (fb_run(h->run, FB_ARGV(ZFS, "list", "-H", "-o", "mountpoint", ds), NULL, &r, err) < 0)
        return -1;
    if (r.status != 0) {
        _cleanup_free_ char *o = cmd_output(&r);
        return kl_error_set(err, r.status == 1 ? ENOENT : EIO, "dataset %s: %s", ds, o);
    }
    _cleanup_free_ char *v = fb_trim(r.out);
    if (v[0] != '/')
        return kl_error_set(err, EINVAL, "dataset %s has no usable mountpoint ('%s')", ds, v);
    *mp = steal_pointer(&v);
    return 0;
}

int fb_zfs_exists(const fb_host *h, const char *ds, kl_error *err)
{
    if (!fb_dataset_is_valid(ds))
        return 0;
    _cleanup_result_ fb_result r = FB_RESULT_INIT;
    if (fb_run(h->run, FB_ARGV(ZFS, "list", "-H", "-o", "name", ds), NULL, &r, err) < 0)
        return -1;
    return r.status == 0;
}

int fb_storage_check(const fb_host *h, kl_error *err)
{
    const char *subs[] = {"", "/image", "/container", "/volumes"};
    for (size_t i = 0; i < KL_ARRAY_SIZE(subs); i++) {
        _cleanup_free_ char *ds = xasprintf("%s%s", h->root, subs[i]);
        int ex = fb_zfs_exists(h, ds, err);
        if (ex < 0)
            return -1;
        if (!ex)
            return kl_error_set(err, ENOENT,
                                "ZFS dataset %s is missing (run 'kleened init' to create it)", ds);
    }
    return 0;
}

static int zfs_ok(const fb_host *h, const char *const *argv, const char *what, kl_error *err)
{
    _cleanup_result_ fb_result r = FB_RESULT_INIT;
    if (fb_run(h->run, argv, NULL, &r, err) < 0)
        return -1;
    if (r.status != 0) {
        _cleanup_free_ char *o = cmd_output(&r);
        return kl_error_set(err, EIO, "%s: %s", what, o);
    }
    return 0;
}

/* Best-effort undo: the error being reported is the first one. */
static void undo(const fb_host *h, const char *const *argv)
{
    _cleanup_result_ fb_result r = FB_RESULT_INIT;
    kl_error ignored = KL_ERROR_INIT;
    fb_run(h->run, argv, NULL, &r, &ignored);
}

static bool host_has(const fb_host *h, const char *path)
{
    return h->host_file_exists ? h->host_file_exists(path) : access(path, F_OK) == 0;
}

/* dns, localtime and update (FREEBSD-HOST.md §5.5), into the image mounted at mp. */
static int image_finish_files(const fb_host *h, const char *mp, const fb_image_opts *o,
                              fb_info_fn info, void *ctx, kl_error *err)
{
    if (o->dns) {
        _cleanup_free_ char *dst = xasprintf("%s/etc/resolv.conf", mp);
        if (zfs_ok(h, FB_ARGV("/bin/cp", "/etc/resolv.conf", dst),
                   "copying host '/etc/resolv.conf'", err) < 0)
            return -1;
    }
    if (o->localtime) {
        if (host_has(h, "/etc/localtime")) {
            _cleanup_free_ char *dst = xasprintf("%s/etc/localtime", mp);
            if (zfs_ok(h, FB_ARGV("/bin/cp", "/etc/localtime", dst),
                       "copying host '/etc/localtime'", err) < 0)
                return -1;
        } else {
            say(info, ctx, "/etc/localtime not found on host, skipping...\n");
        }
    }
    if (o->update) {
        /* The original ran `sh -c "... > /dev/null"` under a pty; the output is dropped here. */
        if (zfs_ok(
                h,
                FB_ARGV("/usr/sbin/freebsd-update", "-b", mp, "--not-running-from-cron", "fetch"),
                "could update base image with 'freebsd-update'", err) < 0 ||
            zfs_ok(h, FB_ARGV("/usr/sbin/freebsd-update", "-b", mp, "install"),
                   "could update base image with 'freebsd-update'", err) < 0)
            return -1;
    }
    return 0;
}

/* Shared tail of every creation method: mountpoint, files, @image. */
static int image_seal(const fb_host *h, const char *ds, const char *known_mp,
                      const fb_image_opts *o, fb_info_fn info, void *ctx, kl_error *err)
{
    _cleanup_free_ char *mp = known_mp        ? xstrdup(known_mp)
                              : o->mountpoint ? xstrdup(o->mountpoint)
                                              : NULL;
    if ((o->dns || o->localtime || o->update) && !mp && fb_zfs_mountpoint(h, ds, &mp, err) < 0)
        return -1;
    if (image_finish_files(h, mp, o, info, ctx, err) < 0)
        return -1;
    if (o->no_snapshot)
        return 0;
    _cleanup_free_ char *snap = xasprintf("%s@image", ds);
    _cleanup_free_ char *what = xasprintf("could not create snapshot %s", snap);
    return zfs_ok(h, FB_ARGV(ZFS, "snapshot", snap), what, err);
}

static int check_parent(const fb_host *h, const char *iid, const char *parent, kl_error *err)
{
    if (!fb_component_is_valid(iid))
        return kl_error_set(err, EINVAL, "invalid image id '%s'", iid);
    if (!fb_dataset_is_valid(parent))
        return kl_error_set(err, EINVAL, "invalid dataset");
    int ex = fb_zfs_exists(h, parent, err);
    if (ex < 0)
        return -1;
    if (!ex)
        return kl_error_set(err, ENOENT, "invalid dataset");
    return 0;
}

int fb_image_create_copy(const fb_host *h, const char *iid, const char *parent,
                         const fb_image_opts *o, fb_info_fn info, void *ctx, kl_error *err)
{
    if (check_parent(h, iid, parent, err) < 0)
        return -1;
    _cleanup_free_ char *psnap = xasprintf("%s@%s", parent, iid);
    _cleanup_free_ char *ds = fb_image_ds(h, iid);
    if (zfs_ok(h, FB_ARGV(ZFS, "snapshot", psnap), "error snapshotting dataset", err) < 0)
        return -1;
    say(info, ctx, "copying dataset into the new image, this can take a while...\n");
    _cleanup_result_ fb_result r = FB_RESULT_INIT;
    _cleanup_free_ char *mpopt = o->mountpoint ? xasprintf("mountpoint=%s", o->mountpoint) : NULL;
    int rc = fb_run_pipe(
        h->run, FB_ARGV(ZFS, "send", psnap),
        mpopt ? FB_ARGV(ZFS, "receive", "-o", mpopt, ds) : FB_ARGV(ZFS, "receive", ds), &r, err);
    if (rc == 0 && r.status != 0) {
        _cleanup_free_ char *out = cmd_output(&r);
        rc = kl_error_set(err, EIO, "error copying image dataset: %s", out);
    }
    if (rc == 0)
        rc = image_seal(h, ds, NULL, o, info, ctx, err);
    if (rc < 0)
        undo(h, FB_ARGV(ZFS, "destroy", "-r", ds));
    /* The copy no longer needs its source snapshot, failed or not. */
    undo(h, FB_ARGV(ZFS, "destroy", psnap));
    return rc;
}

int fb_image_create_clone(const fb_host *h, const char *iid, const char *parent,
                          const fb_image_opts *o, fb_info_fn info, void *ctx, kl_error *err)
{
    if (check_parent(h, iid, parent, err) < 0)
        return -1;
    _cleanup_free_ char *psnap = xasprintf("%s@%s", parent, iid);
    _cleanup_free_ char *ds = fb_image_ds(h, iid);
    if (zfs_ok(h, FB_ARGV(ZFS, "snapshot", psnap), "error snapshotting dataset", err) < 0)
        return -1;
    say(info, ctx, "cloning dataset...\n");
    _cleanup_free_ char *mpopt = o->mountpoint ? xasprintf("mountpoint=%s", o->mountpoint) : NULL;
    int rc = zfs_ok(
        h, mpopt ? FB_ARGV(ZFS, "clone", "-o", mpopt, psnap, ds) : FB_ARGV(ZFS, "clone", psnap, ds),
        "error cloning image dataset", err);
    if (rc == 0) {
        rc = image_seal(h, ds, NULL, o, info, ctx, err);
        if (rc < 0)
            undo(h, FB_ARGV(ZFS, "destroy", "-r", ds));
    }
    if (rc < 0)
        undo(h, FB_ARGV(ZFS, "destroy", psnap));
    return rc;
}

int fb_image_create_fetch(const fb_host *h, const char *iid, const char *url,
                          const fb_image_opts *o, fb_info_fn info, void *ctx, kl_error *err)
{
    if (!fb_component_is_valid(iid))
        return kl_error_set(err, EINVAL, "invalid image id '%s'", iid);
    if (!url || (strncmp(url, "http://", 7) && strncmp(url, "https://", 8) &&
                 strncmp(url, "ftp://", 6) && strncmp(url, "file://", 7)))
        return kl_error_set(err, EINVAL, "could not fetch file from url: unsupported URL");
    _cleanup_free_ char *rootmp = NULL;
    if (fb_zfs_mountpoint(h, h->root, &rootmp, err) < 0)
        return -1;
    _cleanup_free_ char *tarball = xasprintf("%s/.fetch-%s.txz", rootmp, iid);
    _cleanup_result_ fb_result r = FB_RESULT_INIT;
    if (fb_run(h->run, FB_ARGV("/usr/bin/fetch", "-o", tarball, url), NULL, &r, err) < 0)
        return -1;
    if (r.status != 0) {
        undo(h, FB_ARGV("/bin/rm", "-f", tarball));
        _cleanup_free_ char *out = cmd_output(&r);
        return kl_error_set(err, EIO, "could not fetch file from url: %s", out);
    }
    say(info, ctx, "Succesfully fetched base system.\n");
    say(info, ctx, "Unpacking contents and creating image...\n");
    _cleanup_free_ char *ds = fb_image_ds(h, iid);
    _cleanup_free_ char *what = xasprintf("error creating dataset %s", ds);
    _cleanup_free_ char *mpopt = o->mountpoint ? xasprintf("mountpoint=%s", o->mountpoint) : NULL;
    int rc = zfs_ok(h, mpopt ? FB_ARGV(ZFS, "create", "-o", mpopt, ds) : FB_ARGV(ZFS, "create", ds),
                    what, err);
    if (rc == 0) {
        _cleanup_free_ char *mp = o->mountpoint ? xstrdup(o->mountpoint) : NULL;
        if (!mp)
            rc = fb_zfs_mountpoint(h, ds, &mp, err);
        if (rc == 0)
            rc = zfs_ok(h, FB_ARGV("/usr/bin/tar", "-xf", tarball, "-C", mp, "--unlink"),
                        "could not extract tar archive", err);
        if (rc == 0) {
            say(info, ctx, "Succesfully extracted binaries, creating image...\n");
            rc = image_seal(h, ds, mp, o, info, ctx, err);
        }
        if (rc < 0)
            undo(h, FB_ARGV(ZFS, "destroy", "-r", ds));
    }
    undo(h, FB_ARGV("/bin/rm", "-f", tarball));
    return rc;
}

int fb_fetch_auto_url(const char *uname_rms, char **url, char **version, kl_error *err)
{
    _cleanup_free_ char *s = fb_trim(uname_rms);
    char *save = NULL;
    char *os = strtok_r(s, " \t", &save);
    char *ver = os ? strtok_r(NULL, " \t", &save) : NULL;
    char *arch = ver ? strtok_r(NULL, " \t", &save) : NULL;
    if (!arch || strcmp(os, "FreeBSD") || !fb_component_is_valid(ver) ||
        !fb_component_is_valid(arch))
        return kl_error_set(err, EINVAL, "could not parse 'uname -rms' output '%s'", uname_rms);
    /* download.freebsd.org names platforms MACHINE/MACHINE_ARCH; `uname -m` gives only
     * MACHINE (the original used it alone, B25). */
    const char *platform = !strcmp(arch, "arm64")     ? "arm64/aarch64"
                           : !strcmp(arch, "amd64")   ? "amd64"
                           : !strcmp(arch, "i386")    ? "i386"
                           : !strcmp(arch, "riscv")   ? "riscv/riscv64"
                           : !strcmp(arch, "powerpc") ? "powerpc/powerpc64"
                                                      : NULL;
    if (!platform)
        return kl_error_set(err, EINVAL, "could not deduce url for the platform %s", arch);
    /* "14.1-RELEASE-p7" → base "14.1-RELEASE": the patches come from freebsd-update. */
    _cleanup_free_ char *base = xstrdup(ver);
    char *p = strstr(base, "-RELEASE-p");
    if (p)
        p[strlen("-RELEASE")] = '\0';
    const char *kind;
    if (strstr(base, "-RELEASE") || strstr(base, "-BETA") || strstr(base, "-RC"))
        kind = "releases";
    else if (strstr(base, "-STABLE") || strstr(base, "-CURRENT"))
        kind = "snapshots";
    else
        return kl_error_set(err, EINVAL, "could not deduce url from FreeBSD version %s", ver);
    *url = xasprintf("https://download.freebsd.org/%s/%s/%s/base.txz", kind, platform, base);
    if (version)
        *version = xstrdup(ver);
    return 0;
}

int fb_image_create_fetch_auto(const fb_host *h, const char *iid, const fb_image_opts *o,
                               fb_info_fn info, void *ctx, char **version_out, kl_error *err)
{
    _cleanup_result_ fb_result r = FB_RESULT_INIT;
    if (fb_run_ok(h->run, FB_ARGV("/usr/bin/uname", "-rms"), &r, err) < 0)
        return -1;
    _cleanup_free_ char *url = NULL, *version = NULL;
    if (fb_fetch_auto_url(r.out, &url, &version, err) < 0)
        return -1;
    if (fb_image_create_fetch(h, iid, url, o, info, ctx, err) < 0)
        return -1;
    _cleanup_free_ char *msg =
        xasprintf("Created image from the automatically detected version: FreeBSD-%s.\n", version);
    say(info, ctx, msg);
    if (version_out)
        *version_out = steal_pointer(&version);
    return 0;
}

int fb_image_remove(const fb_host *h, const char *iid, kl_error *err)
{
    if (!fb_component_is_valid(iid))
        return kl_error_set(err, EINVAL, "invalid image id '%s'", iid);
    _cleanup_free_ char *ds = fb_image_ds(h, iid);
    _cleanup_result_ fb_result r = FB_RESULT_INIT;
    if (fb_run(h->run, FB_ARGV(ZFS, "destroy", "-n", "-r", "-p", ds), NULL, &r, err) < 0)
        return -1;
    if (r.status != 0) {
        _cleanup_free_ char *all = xasprintf("%s%s", r.out, r.err);
        if (strstr(all, "dataset does not exist")) {
            _cleanup_free_ char *o = fb_trim(all);
            return kl_error_set(err, ENOENT, "could not remove image %s: %s", iid, o);
        }
        if (!strstr(all, "filesystem has dependent clones")) {
            _cleanup_free_ char *o = fb_trim(all);
            return kl_error_set(err, EIO, "could not remove image %s: %s", iid, o);
        }
        /* "cannot destroy ...", "use '-R' ...", then one dependent dataset per line. */
        _cleanup_free_ char *cprefix = xasprintf("%s/container/", h->root);
        _cleanup_free_ char *iprefix = xasprintf("%s/image/", h->root);
        _cleanup_buf_ kl_buf ctrs = KL_BUF_INIT, imgs = KL_BUF_INIT, other = KL_BUF_INIT;
        int lineno = 0;
        for (char *save = NULL, *ln = strtok_r(all, "\n", &save); ln;
             ln = strtok_r(NULL, "\n", &save)) {
            if (lineno++ < 2)
                continue;
            while (isspace((unsigned char)*ln))
                ln++;
            if (strchr(ln, '@'))
                continue; /* a snapshot of a dependent dataset listed below it */
            if (!strncmp(ln, cprefix, strlen(cprefix)))
                kl_buf_printf(&ctrs, "\n%s", ln + strlen(cprefix));
            else if (!strncmp(ln, iprefix, strlen(iprefix)))
                kl_buf_printf(&imgs, "\n%s", ln + strlen(iprefix));
            else if (*ln)
                kl_buf_printf(&other, "\n%s", ln);
        }
        if (ctrs.len)
            return kl_error_set(err, EBUSY,
                                "could not remove image %s since it is used for containers:%s", iid,
                                ctrs.data);
        if (imgs.len)
            return kl_error_set(err, EBUSY,
                                "could not remove image %s since it is used for images:%s", iid,
                                imgs.data);
        /* The original ignored clones outside kleene's trees and then failed (B22). */
        return kl_error_set(
            err, EBUSY,
            "could not remove image %s since datasets outside kleene are clones of it:%s", iid,
            other.len ? other.data : "");
    }
    _cleanup_free_ char *what = xasprintf("could not remove image dataset %s", ds);
    return zfs_ok(h, FB_ARGV(ZFS, "destroy", "-r", ds), what, err);
}

void fb_snapclones_free(fb_snapclones *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(v[i].dataset);
        strv_free(v[i].clones);
    }
    free(v);
}

int fb_snapshot_clones(const fb_host *h, fb_snapclones **out, size_t *n, kl_error *err)
{
    _cleanup_result_ fb_result r = FB_RESULT_INIT;
    if (fb_run_ok(h->run,
                  FB_ARGV(ZFS, "list", "-H", "-t", "snapshot", "-o", "name,clones", "-r", h->root),
                  &r, err) < 0)
        return -1;
    fb_snapclones *v = NULL;
    size_t cnt = 0;
    for (char *save = NULL, *ln = strtok_r(r.out, "\n", &save); ln;
         ln = strtok_r(NULL, "\n", &save)) {
        char *tab = strchr(ln, '\t');
        char *at = strchr(ln, '@');
        if (!tab || !at || at > tab)
            continue;
        *at = '\0';
        *tab = '\0';
        fb_snapclones *e = NULL;
        for (size_t i = 0; i < cnt; i++)
            if (!strcmp(v[i].dataset, ln))
                e = &v[i];
        if (!e) {
            v = xrealloc(v, (cnt + 1) * sizeof(*v));
            e = &v[cnt++];
            e->dataset = xstrdup(ln);
            e->clones = xcalloc(1, sizeof(char *));
        }
        char *clones = tab + 1;
        if (!strcmp(clones, "-"))
            continue;
        for (char *s2 = NULL, *c = strtok_r(clones, ",", &s2); c; c = strtok_r(NULL, ",", &s2))
            strv_push(&e->clones, c);
    }
    *out = v;
    *n = cnt;
    return 0;
}

int fb_container_clone(const fb_host *h, const char *cid, const char *image_ds, const char *snap,
                       kl_error *err)
{
    if (!fb_component_is_valid(cid) || !fb_dataset_is_valid(image_ds) ||
        (snap && !fb_component_is_valid(snap)))
        return kl_error_set(err, EINVAL, "invalid container, image or snapshot name");
    _cleanup_free_ char *src = xasprintf("%s@%s", image_ds, snap ? snap : "image");
    _cleanup_free_ char *ds = fb_container_ds(h, cid);
    _cleanup_result_ fb_result r = FB_RESULT_INIT;
    if (fb_run(h->run, FB_ARGV(ZFS, "clone", src, ds), NULL, &r, err) < 0)
        return -1;
    if (r.status != 0) {
        /* The original returns zfs's output as it is (404). */
        _cleanup_free_ char *o = cmd_output(&r);
        return kl_error_set(err, ENOENT, "%s", o);
    }
    return 0;
}

int fb_container_destroy(const fb_host *h, const char *cid, kl_error *err)
{
    if (!fb_component_is_valid(cid))
        return kl_error_set(err, EINVAL, "invalid container id '%s'", cid);
    _cleanup_free_ char *ds = fb_container_ds(h, cid);
    _cleanup_free_ char *what = xasprintf("could not destroy dataset %s", ds);
    return zfs_ok(h, FB_ARGV(ZFS, "destroy", "-rf", ds), what, err);
}

int fb_build_snapshot(const fb_host *h, const char *cid, const char *snap, kl_error *err)
{
    if (!fb_component_is_valid(cid) || !fb_component_is_valid(snap))
        return kl_error_set(err, EINVAL, "invalid container or snapshot name");
    _cleanup_free_ char *ds = fb_container_ds(h, cid);
    _cleanup_free_ char *s = xasprintf("%s@%s", ds, snap);
    _cleanup_free_ char *what = xasprintf("could not create snapshot %s", s);
    return zfs_ok(h, FB_ARGV(ZFS, "snapshot", s), what, err);
}

int fb_build_commit(const fb_host *h, const char *cid, const char *iid, kl_error *err)
{
    if (!fb_component_is_valid(cid) || !fb_component_is_valid(iid))
        return kl_error_set(err, EINVAL, "invalid container or image id");
    _cleanup_free_ char *cds = fb_container_ds(h, cid);
    _cleanup_free_ char *ids = fb_image_ds(h, iid);
    if (zfs_ok(h, FB_ARGV(ZFS, "rename", "-f", cds, ids), "could not rename the build dataset",
               err) < 0)
        return -1;
    _cleanup_free_ char *snap = xasprintf("%s@image", ids);
    _cleanup_free_ char *what = xasprintf("could not create snapshot %s", snap);
    if (zfs_ok(h, FB_ARGV(ZFS, "snapshot", snap), what, err) < 0) {
        undo(h, FB_ARGV(ZFS, "rename", "-f", ids, cds));
        return -1;
    }
    return 0;
}

int fb_snapshot_exists(const fb_host *h, const char *ds, const char *snap, kl_error *err)
{
    if (!fb_dataset_is_valid(ds) || !fb_component_is_valid(snap))
        return 0;
    _cleanup_free_ char *s = xasprintf("%s@%s", ds, snap);
    _cleanup_result_ fb_result r = FB_RESULT_INIT;
    if (fb_run(h->run, FB_ARGV(ZFS, "list", "-H", "-t", "snapshot", "-o", "name", s), NULL, &r,
               err) < 0)
        return -1;
    return r.status == 0;
}

int fb_volume_create(const fb_host *h, const char *name, char **mp, kl_error *err)
{
    if (!fb_component_is_valid(name))
        return kl_error_set(err, EINVAL, "invalid volume name '%s'", name);
    _cleanup_free_ char *ds = fb_volume_ds(h, name);
    _cleanup_free_ char *what = xasprintf("could not create volume dataset %s", ds);
    if (zfs_ok(h, FB_ARGV(ZFS, "create", ds), what, err) < 0)
        return -1;
    if (fb_zfs_mountpoint(h, ds, mp, err) < 0) {
        undo(h, FB_ARGV(ZFS, "destroy", "-f", ds));
        return -1;
    }
    return 0;
}

int fb_volume_destroy(const fb_host *h, const char *name, kl_error *err)
{
    if (!fb_component_is_valid(name))
        return kl_error_set(err, EINVAL, "invalid volume name '%s'", name);
    _cleanup_free_ char *ds = fb_volume_ds(h, name);
    _cleanup_free_ char *what = xasprintf("could not destroy volume dataset %s", ds);
    return zfs_ok(h, FB_ARGV(ZFS, "destroy", "-f", ds), what, err);
}
