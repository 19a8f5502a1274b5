/* Layers, overlay mounts of layer stacks (3 layers, read-only, 300 long paths, 600 layers
 * flattened), tree copy (zfs-copy), external layers (zfs-clone), removal rules.
 * Runs as root in a private mount namespace, so a crash can not leave mounts behind. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include "host/storage.h"
#include "host/linux/fsutil.h"
#include "lib/cleanup.h"
#include "lib/xalloc.h"

static char tmpdir[] = "/tmp/kl-storage-XXXXXX";
static char *root;

static char *P(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *P(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *rel = NULL;
    assert_true(vasprintf(&rel, fmt, ap) >= 0);
    va_end(ap);
    char *p = xasprintf("%s/%s", tmpdir, rel);
    free(rel);
    return p;
}

static void put(const char *path, const char *content)
{
    FILE *f = fopen(path, "w");
    if (!f)
        fail_msg("creating %s: %s", path, strerror(errno));
    fputs(content, f);
    fclose(f);
}

static char *get(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return NULL;
    char *buf = xcalloc(1, 256);
    size_t n = fread(buf, 1, 255, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

static void assert_file(const char *path, const char *content)
{
    _cleanup_free_ char *c = get(path);
    if (!c)
        fail_msg("%s: %s", path, strerror(errno));
    assert_string_equal(c, content);
}

static bool exists(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0;
}

/* Number of mounts at or below our temporary directory. */
static int our_mounts(void)
{
    FILE *f = fopen("/proc/self/mountinfo", "r");
    assert_non_null(f);
    char *line = NULL;
    size_t cap = 0;
    int n = 0;
    while (getline(&line, &cap, f) > 0) {
        char mp[4097];
        if (sscanf(line, "%*s %*s %*s %*s %4096s", mp) == 1 && strstr(mp, tmpdir))
            n++;
    }
    free(line);
    fclose(f);
    return n;
}

static void mkdirs(const char *path)
{
    char *tmp = xstrdup(path);
    for (char *s = tmp + 1; *s; s++)
        if (*s == '/') {
            *s = '\0';
            mkdir(tmp, 0755);
            *s = '/';
        }
    mkdir(tmp, 0755);
    free(tmp);
}

static int setup(void **state)
{
    (void)state;
    if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
        return -1;
    assert_non_null(mkdtemp(tmpdir));
    root = P("root");
    kl_error err = KL_ERROR_INIT;
    return host_storage_init(root, &err);
}

static int teardown(void **state)
{
    (void)state;
    kl_error err = KL_ERROR_INIT;
    host_unmount_below(tmpdir, &err);
    int r = host_tree_remove(tmpdir, &err);
    free(root);
    return r;
}

static void test_init_and_ids(void **state)
{
    (void)state;
    kl_error err = KL_ERROR_INIT;
    _cleanup_free_ char *stale = P("root/layers/.staging-abc-123456");
    mkdirs(stale);
    _cleanup_free_ char *inner = xasprintf("%s/file", stale);
    put(inner, "x");
    assert_int_equal(host_storage_init(root, &err), 0);
    assert_false(exists(stale));

    assert_true(host_layer_id_is_valid("0123456789ab"));
    const char *bad[] = {"", "../x", ".hidden", "-x", "a/b", "a b"};
    for (size_t i = 0; i < KL_ARRAY_SIZE(bad); i++) {
        kl_error_clear(&err);
        assert_int_equal(host_layer_create(root, bad[i], &err), -1);
        assert_int_equal(err.code, EINVAL);
    }
    assert_int_equal(host_layer_create(root, "l0", &err), 0);
    assert_int_equal(host_layer_create(root, "l0", &err), -1);
    assert_int_equal(err.code, EEXIST);
    kl_error_clear(&err);
    assert_int_equal(host_layer_remove(root, "l0", &err), 0);
    assert_int_equal(host_layer_remove(root, "l0", &err), -1);
    assert_int_equal(err.code, ENOENT);
}

static void make_three_layers(void)
{
    kl_error err = KL_ERROR_INIT;
    const char *ids[] = {"s0", "s1", "s2"};
    for (size_t i = 0; i < 3; i++)
        assert_int_equal(host_layer_create(root, ids[i], &err), 0);
    _cleanup_free_ char *a0 = P("root/layers/s0/a"), *b0 = P("root/layers/s0/b"),
                        *d0 = P("root/layers/s0/d"), *x0 = P("root/layers/s0/d/x");
    put(a0, "0");
    put(b0, "0");
    mkdir(d0, 0755);
    put(x0, "x");
    _cleanup_free_ char *a1 = P("root/layers/s1/a"), *b1 = P("root/layers/s1/b"),
                        *d1 = P("root/layers/s1/d"), *y1 = P("root/layers/s1/d/y");
    put(a1, "1");
    assert_int_equal(mknod(b1, S_IFCHR | 0, makedev(0, 0)), 0); /* whiteout */
    mkdir(d1, 0755);
    assert_int_equal(setxattr(d1, "trusted.overlay.opaque", "y", 1, 0), 0);
    put(y1, "y");
    _cleanup_free_ char *c2 = P("root/layers/s2/c");
    put(c2, "2");
}

static void test_three_layers(void **state)
{
    (void)state;
    make_three_layers();
    kl_error err = KL_ERROR_INIT;
    _cleanup_free_ char *l0 = host_layer_path(root, "s0"), *l1 = host_layer_path(root, "s1"),
                        *l2 = host_layer_path(root, "s2");
    const char *lowers[] = {l0, l1, l2};
    _cleanup_free_ char *c = P("ctr"), *up = P("ctr/upper"), *work = P("ctr/work"),
                        *target = P("ctr/rootfs");
    mkdirs(up);
    mkdirs(work);
    mkdirs(target);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    if (host_rootfs_mount(lowers, 3, up, work, target, &err) < 0)
        fail_msg("%s", err.msg);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    print_message("3-layer overlay mount: %.3f ms\n",
                  (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6);
    assert_int_equal(our_mounts(), 1);
    _cleanup_free_ char *a = P("ctr/rootfs/a"), *b = P("ctr/rootfs/b"), *x = P("ctr/rootfs/d/x"),
                        *y = P("ctr/rootfs/d/y"), *cc = P("ctr/rootfs/c"), *n = P("ctr/rootfs/new"),
                        *nu = P("ctr/upper/new");
    assert_file(a, "1");
    assert_false(exists(b));
    assert_false(exists(x));
    assert_file(y, "y");
    assert_file(cc, "2");
    put(n, "written");
    assert_file(nu, "written");

    /* a layer in use is never removed */
    assert_true(host_path_is_mounted_layer(l1));
    assert_int_equal(host_layer_remove(root, "s1", &err), -1);
    assert_int_equal(err.code, EBUSY);
    assert_true(exists(l1));

    assert_int_equal(host_rootfs_unmount(target, &err), 0);
    assert_int_equal(our_mounts(), 0);
    assert_false(host_path_is_mounted_layer(l1));
    /* unmounting twice is fine */
    assert_int_equal(host_rootfs_unmount(target, &err), 0);

    /* read-only stack: two layers, then one (a read-only bind mount) */
    assert_int_equal(host_rootfs_mount(lowers, 2, NULL, NULL, target, &err), 0);
    assert_file(a, "1");
    assert_int_equal(open(n, O_WRONLY | O_CREAT, 0644), -1);
    assert_int_equal(errno, EROFS);
    assert_int_equal(host_rootfs_unmount(target, &err), 0);
    assert_int_equal(host_rootfs_mount(lowers, 1, NULL, NULL, target, &err), 0);
    assert_file(a, "0");
    assert_int_equal(open(n, O_WRONLY | O_CREAT, 0644), -1);
    assert_int_equal(errno, EROFS);
    assert_int_equal(host_rootfs_unmount(target, &err), 0);
    assert_int_equal(our_mounts(), 0);

    /* failure leaves nothing mounted: a missing layer */
    const char *bad[] = {l0, "/nonexistent/layer", l2};
    assert_int_equal(host_rootfs_mount(bad, 3, up, work, target, &err), -1);
    assert_non_null(strstr(err.msg, "mounting rootfs of 3 layers"));
    assert_int_equal(our_mounts(), 0);
    const char *rel[] = {"relative"};
    kl_error_clear(&err);
    assert_int_equal(host_rootfs_mount(rel, 1, up, work, target, &err), -1);
    assert_int_equal(err.code, EINVAL);

    assert_int_equal(host_layer_remove(root, "s1", &err), 0);
    assert_false(exists(l1));
    (void)c;
}

static char **make_layers(size_t n, const char *prefix)
{
    kl_error err = KL_ERROR_INIT;
    char **v = xcalloc(n + 1, sizeof(char *));
    for (size_t i = 0; i < n; i++) {
        char id[128];
        snprintf(id, sizeof(id), "%s%04zu", prefix, i);
        assert_int_equal(host_layer_create(root, id, &err), 0);
        v[i] = host_layer_path(root, id);
        char f[4096], c[16];
        snprintf(f, sizeof(f), "%s/f%zu", v[i], i);
        snprintf(c, sizeof(c), "%zu", i);
        put(f, c);
    }
    return v;
}

static void test_deep_stack_flattened(void **state)
{
    (void)state;
    kl_error err = KL_ERROR_INIT;
    _cleanup_strv_ char **v = make_layers(600, "deep");
    /* layer 0 has `a` and `o/old`, layer 580 replaces `a`; whiteouts of f5 in layer 50 (in
     * the flattened part) and of f10 in layer 550 (a mounted layer); layer 60 makes `o`
     * opaque with `o/new` */
    char p[4096];
    snprintf(p, sizeof(p), "%s/o", v[0]);
    mkdir(p, 0755);
    snprintf(p, sizeof(p), "%s/o/old", v[0]);
    put(p, "old");
    snprintf(p, sizeof(p), "%s/o", v[60]);
    mkdir(p, 0755);
    assert_int_equal(setxattr(p, "trusted.overlay.opaque", "y", 1, 0), 0);
    snprintf(p, sizeof(p), "%s/o/new", v[60]);
    put(p, "new");
    snprintf(p, sizeof(p), "%s/f5", v[50]);
    assert_int_equal(mknod(p, S_IFCHR, makedev(0, 0)), 0);
    snprintf(p, sizeof(p), "%s/a", v[0]);
    put(p, "bottom");
    snprintf(p, sizeof(p), "%s/a", v[580]);
    put(p, "580");
    snprintf(p, sizeof(p), "%s/f10", v[550]);
    assert_int_equal(mknod(p, S_IFCHR, makedev(0, 0)), 0);
    _cleanup_free_ char *up = P("deep/upper"), *work = P("deep/work"), *target = P("deep/rootfs"),
                        *flat = P("deep/rootfs.flat");
    mkdirs(up);
    mkdirs(work);
    mkdirs(target);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    if (host_rootfs_mount((const char *const *)v, 600, up, work, target, &err) < 0)
        fail_msg("%s", err.msg);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    print_message("600-layer mount (flattening 101): %.1f ms\n",
                  (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6);
    assert_true(exists(flat));
    for (size_t i = 0; i < 600; i++) {
        snprintf(p, sizeof(p), "%s/f%zu", target, i);
        if (i == 10 || i == 5) {
            assert_false(exists(p));
            continue;
        }
        char c[16];
        snprintf(c, sizeof(c), "%zu", i);
        assert_file(p, c);
    }
    snprintf(p, sizeof(p), "%s/a", target);
    assert_file(p, "580");
    snprintf(p, sizeof(p), "%s/o/new", target);
    assert_file(p, "new");
    snprintf(p, sizeof(p), "%s/o/old", target);
    assert_false(exists(p));
    /* flattened: whiteouts and opaque dirs applied, not copied */
    snprintf(p, sizeof(p), "%s/f5", flat);
    assert_false(exists(p));
    snprintf(p, sizeof(p), "%s/f10", flat);
    assert_true(exists(p)); /* hidden by layer 550, which is mounted as a layer */
    snprintf(p, sizeof(p), "%s/o", flat);
    char xv[4];
    assert_int_equal(getxattr(p, "trusted.overlay.opaque", xv, sizeof(xv)), -1);
    assert_true(host_path_is_mounted_layer(v[599]));
    assert_int_equal(our_mounts(), 1);
    assert_int_equal(host_rootfs_unmount(target, &err), 0);
    assert_int_equal(our_mounts(), 0);
    assert_false(exists(flat));
}

static void test_long_paths_not_flattened(void **state)
{
    (void)state;
    kl_error err = KL_ERROR_INIT;
    /* 300 layers with ~110-byte paths: 33 kB of options, far beyond one page */
    char prefix[100];
    memset(prefix, 'p', 80);
    prefix[80] = '\0';
    _cleanup_strv_ char **v = make_layers(300, prefix);
    assert_true(strlen(v[0]) > 100);
    _cleanup_free_ char *up = P("long/upper"), *work = P("long/work"), *target = P("long/rootfs"),
                        *flat = P("long/rootfs.flat");
    mkdirs(up);
    mkdirs(work);
    mkdirs(target);
    if (host_rootfs_mount((const char *const *)v, 300, up, work, target, &err) < 0)
        fail_msg("%s", err.msg);
    /* kernels with lowerdir+ take all 300 without flattening */
    print_message("300 long-path layers: %s\n", exists(flat) ? "flattened" : "lowerdir+");
    char p[4096];
    snprintf(p, sizeof(p), "%s/f0", target);
    assert_file(p, "0");
    snprintf(p, sizeof(p), "%s/f299", target);
    assert_file(p, "299");
    assert_int_equal(host_rootfs_unmount(target, &err), 0);
    assert_int_equal(our_mounts(), 0);

    /* without lowerdir+ (older kernels) the options must fit in one page: the bottom of the
     * stack is flattened, as many top layers as fit are kept */
    fs_overlay_legacy_only = true;
    int r = host_rootfs_mount((const char *const *)v, 300, up, work, target, &err);
    fs_overlay_legacy_only = false;
    if (r < 0)
        fail_msg("%s", err.msg);
    assert_true(exists(flat));
    snprintf(p, sizeof(p), "%s/f0", target);
    assert_file(p, "0");
    snprintf(p, sizeof(p), "%s/f299", target);
    assert_file(p, "299");
    snprintf(p, sizeof(p), "%s/f299", flat);
    assert_false(exists(p)); /* the top layer is still a layer */
    snprintf(p, sizeof(p), "%s/f0", flat);
    assert_true(exists(p));
    assert_true(host_path_is_mounted_layer(v[299]));
    assert_false(host_path_is_mounted_layer(v[0]));
    assert_int_equal(host_rootfs_unmount(target, &err), 0);
    assert_int_equal(our_mounts(), 0);
    assert_false(exists(flat));
}

static void test_copy_from(void **state)
{
    (void)state;
    kl_error err = KL_ERROR_INIT;
    _cleanup_free_ char *src = P("src"), *f = P("src/sub/file"), *h = P("src/sub/hard"),
                        *l = P("src/link"), *fifo = P("src/fifo"), *dev = P("src/null"),
                        *big = P("src/big");
    mkdirs(src);
    _cleanup_free_ char *sub = P("src/sub");
    mkdirs(sub);
    put(f, "data");
    assert_int_equal(chown(f, 1000, 1001), 0);
    assert_int_equal(chmod(f, 04750), 0);
    assert_int_equal(setxattr(f, "user.k", "v", 1, 0), 0);
    assert_int_equal(link(f, h), 0);
    assert_int_equal(symlink("/etc/passwd", l), 0);
    assert_int_equal(mkfifo(fifo, 0600), 0);
    assert_int_equal(mknod(dev, S_IFCHR | 0666, makedev(1, 3)), 0);
    assert_int_equal(chmod(sub, 0710), 0);
    FILE *bf = fopen(big, "w");
    for (int i = 0; i < 100000; i++)
        fprintf(bf, "line %d\n", i);
    fclose(bf);

    assert_int_equal(host_layer_copy_from(root, "copied", src, &err), 0);
    _cleanup_free_ char *lp = host_layer_path(root, "copied");
    char p[4096], q[4096];
    struct stat st, st2;
    snprintf(p, sizeof(p), "%s/sub/file", lp);
    assert_file(p, "data");
    assert_int_equal(stat(p, &st), 0);
    assert_int_equal(st.st_uid, 1000);
    assert_int_equal(st.st_gid, 1001);
    assert_int_equal(st.st_mode & 07777, 04750);
    char v[4] = {0};
    assert_int_equal(getxattr(p, "user.k", v, 3), 1);
    snprintf(q, sizeof(q), "%s/sub/hard", lp);
    assert_int_equal(stat(q, &st2), 0);
    assert_int_equal(st.st_ino, st2.st_ino);
    snprintf(p, sizeof(p), "%s/sub", lp);
    assert_int_equal(stat(p, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0710);
    snprintf(p, sizeof(p), "%s/link", lp);
    char t[64] = {0};
    assert_int_equal(readlink(p, t, sizeof(t) - 1), 11);
    assert_string_equal(t, "/etc/passwd");
    snprintf(p, sizeof(p), "%s/fifo", lp);
    assert_int_equal(lstat(p, &st), 0);
    assert_true(S_ISFIFO(st.st_mode));
    snprintf(p, sizeof(p), "%s/null", lp);
    assert_int_equal(lstat(p, &st), 0);
    assert_true(S_ISCHR(st.st_mode));
    assert_int_equal(st.st_rdev, makedev(1, 3));
    snprintf(p, sizeof(p), "%s/big", lp);
    assert_int_equal(stat(p, &st), 0);
    assert_int_equal(stat(big, &st2), 0);
    assert_int_equal(st.st_size, st2.st_size);

    /* failures leave neither a layer nor a staging directory */
    assert_int_equal(host_layer_copy_from(root, "copied", src, &err), -1);
    assert_int_equal(err.code, EEXIST);
    kl_error_clear(&err);
    assert_int_equal(host_layer_copy_from(root, "nosrc", "/nonexistent/dir", &err), -1);
    assert_int_equal(err.code, ENOENT);
    _cleanup_free_ char *ns = host_layer_path(root, "nosrc");
    assert_false(exists(ns));
    kl_error init_err = KL_ERROR_INIT;
    assert_int_equal(host_storage_init(root, &init_err), 0);
}

static void test_clone_from(void **state)
{
    (void)state;
    kl_error err = KL_ERROR_INIT;
    _cleanup_free_ char *src = P("hostdir"), *f = P("hostdir/keep");
    mkdirs(src);
    put(f, "host");
    assert_int_equal(host_layer_clone_from(root, "cloned", src, &err), 0);
    assert_true(host_layer_is_external(root, "cloned"));
    _cleanup_free_ char *lp = host_layer_path(root, "cloned");
    _cleanup_free_ char *target = P("clonectr/rootfs"), *up = P("clonectr/upper"),
                        *work = P("clonectr/work"), *rf = P("clonectr/rootfs/keep");
    mkdirs(target);
    mkdirs(up);
    mkdirs(work);
    const char *lowers[] = {lp};
    assert_int_equal(host_rootfs_mount(lowers, 1, up, work, target, &err), 0);
    assert_file(rf, "host");
    assert_int_equal(host_rootfs_unmount(target, &err), 0);
    assert_int_equal(host_layer_remove(root, "cloned", &err), 0);
    assert_false(exists(lp));
    assert_file(f, "host"); /* the host directory is never touched */

    assert_int_equal(host_layer_clone_from(root, "c2", "relative/dir", &err), -1);
    assert_int_equal(err.code, EINVAL);
    kl_error_clear(&err);
    assert_int_equal(host_layer_clone_from(root, "c3", root, &err), -1);
    assert_int_equal(err.code, EINVAL);
    kl_error_clear(&err);
    assert_int_equal(host_layer_clone_from(root, "c4", "/", &err), -1);
    kl_error_clear(&err);
    assert_int_equal(host_layer_clone_from(root, "c5", "/nonexistent", &err), -1);
    assert_int_equal(err.code, ENOENT);
}

static void test_unmount_below_and_remove(void **state)
{
    (void)state;
    kl_error err = KL_ERROR_INIT;
    _cleanup_free_ char *a = P("many/a"), *b = P("many/b/c"), *f = P("many/b/c/file");
    mkdirs(a);
    mkdirs(b);
    assert_int_equal(mount("tmpfs", a, "tmpfs", 0, "size=1m"), 0);
    assert_int_equal(mount("tmpfs", b, "tmpfs", 0, "size=1m"), 0);
    put(f, "in tmpfs");
    _cleanup_free_ char *many = P("many");
    /* removal never crosses into a mount */
    assert_int_equal(host_tree_remove(many, &err), -1);
    assert_int_equal(err.code, EBUSY);
    assert_file(f, "in tmpfs");
    assert_int_equal(host_unmount_below(many, &err), 2);
    assert_int_equal(our_mounts(), 0);
    assert_int_equal(host_tree_remove(many, &err), 0);
    assert_false(exists(many));
    assert_int_equal(host_unmount_below("/nonexistent/x", &err), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_init_and_ids),
        cmocka_unit_test(test_three_layers),
        cmocka_unit_test(test_deep_stack_flattened),
        cmocka_unit_test(test_long_paths_not_flattened),
        cmocka_unit_test(test_copy_from),
        cmocka_unit_test(test_clone_from),
        cmocka_unit_test(test_unmount_below_and_remove),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
