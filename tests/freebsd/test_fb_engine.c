/* The engine (src/engine) on the FreeBSD layer: the real engine, linked with the FreeBSD
 * implementations of the host interfaces (kleened-fbsim's link), driving the host through
 * the replaying runner. A golden file says, command by command, what the engine's
 * operations do on a FreeBSD host. Also the layer's engine interfaces that act on real
 * files (confined paths, layers as directories), tested on a real directory here. */
#include "fbtest.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine/builder.h"
#include "engine/containers.h"
#include "engine/engine.h"
#include "engine/dockerfile.h"
#include "engine/exec.h"
#include "engine/images.h"
#include "engine/networks.h"
#include "engine/volumes.h"
#include "host/fs.h"
#include "host/host.h"
#include "host/monitor.h"
#include "host/process.h"
#include "host/runtime.h"
#include "host/storage.h"
#include "lib/buf.h"
#include "lib/cleanup.h"
#include "lib/id.h"
#include "lib/jsonx.h"
#include "lib/xalloc.h"

/* The test's directory (mkdtemp: runs of this test may overlap), and paths below it. */
static char tdir[64];

static char *tp(const char *rel)
{
    static char bufs[8][256];
    static unsigned k;
    char *b = bufs[k++ % 8];
    snprintf(b, sizeof(bufs[0]), "%s%s", tdir, rel);
    return b;
}

static int rm_cb(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(p);
}

static void fresh_dir(void)
{
    snprintf(tdir, sizeof(tdir), "/tmp/kl-test-fb-engine-XXXXXX");
    assert_non_null(mkdtemp(tdir));
}

static void gone_dir(void)
{
    nftw(tdir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

/* A host on golden/<name>.golden with every "@TDIR@" in it replaced by the test's directory
 * (the golden file names paths below it). */
static fb_host host_on_template(const char *name)
{
    char path[1024];
    snprintf(path, sizeof(path), "%s/%s.golden", KL_FB_GOLDEN_DIR, name);
    FILE *in = fopen(path, "re");
    assert_non_null(in);
    char *out_path = tp("/replay.golden");
    FILE *out = fopen(out_path, "we");
    assert_non_null(out);
    char line[4096];
    while (fgets(line, sizeof(line), in)) {
        char *at;
        char *p = line;
        while ((at = strstr(p, "@TDIR@"))) {
            fwrite(p, 1, (size_t)(at - p), out);
            fputs(tdir, out);
            p = at + 6;
        }
        fputs(p, out);
    }
    fclose(in);
    assert_int_equal(fclose(out), 0);
    return fbt_host_path(out_path);
}

static void test_engine_networks(void **state)
{
    fresh_dir();
    fb_host h = fbt_host("engine_network");
    fb_host_set_default(&h);
    kl_error err = KL_ERROR_INIT;
    kl_engine *e = engine_open(tp("/root"), tp("/run"), &err);
    if (!e)
        fail_msg("engine_open: %s", err.msg);
    /* daemon start: as kleened's main does */
    networks_set_nat_if(e, "");           /* the default: the default route's interface */
    fbt_ok(networks_init(e, &err), &err); /* failures of its parts are warnings */
    _cleanup_json_ json_t *cfg =
        json_pack("{s:s, s:s, s:s, s:s, s:s}", "name", "testnet", "type", "bridge", "subnet",
                  "10.13.40.0/24", "interface", "kleene7", "gateway", "<auto>");
    _cleanup_free_ char *id = networks_create(e, cfg, &err);
    if (!id)
        fail_msg("networks_create: %s\n--- transcript:\n%s", err.msg, fb_replay_transcript(h.run));
    /* a second network with the same interface is refused before anything runs */
    _cleanup_json_ json_t *dup =
        json_pack("{s:s, s:s, s:s, s:s}", "name", "other", "type", "bridge", "subnet",
                  "10.13.41.0/24", "interface", "kleene7");
    kl_error e2 = KL_ERROR_INIT;
    _cleanup_free_ char *id2 = networks_create(e, dup, &e2);
    assert_null(id2);
    assert_int_equal(e2.code, EEXIST);
    char rid[13];
    fbt_ok(networks_remove(e, "testnet", rid, &err), &err);
    assert_string_equal(rid, id);
    engine_close(e);
    fbt_done(&h);
    fb_host_set_default(NULL);
    gone_dir();
}

/* A failing bridge creation: the API error says what failed (once: "creating network N: "
 * then the command's message), and the network is rolled back (no row, no link). */
static void test_engine_network_fails(void **state)
{
    fresh_dir();
    fb_host h = fbt_host("engine_network_fail");
    fb_host_set_default(&h);
    kl_error err = KL_ERROR_INIT;
    kl_engine *e = engine_open(tp("/root"), tp("/run"), &err);
    if (!e)
        fail_msg("engine_open: %s", err.msg);
    networks_set_nat_if(e, "");
    _cleanup_json_ json_t *cfg =
        json_pack("{s:s, s:s, s:s, s:s, s:s}", "name", "testnet", "type", "bridge", "subnet",
                  "10.13.40.0/24", "interface", "kleene7", "gateway", "<auto>");
    kl_error e2 = KL_ERROR_INIT;
    _cleanup_free_ char *id = networks_create(e, cfg, &e2);
    assert_null(id);
    assert_string_equal(
        e2.msg, "creating network testnet: creating interface kleene7: ifconfig: SIOCIFCREATE2: "
                "Operation not permitted");
    _cleanup_json_ json_t *list = networks_list(e, &err);
    assert_int_equal(json_array_size(list), 0);
    engine_close(e);
    fbt_done(&h);
    fb_host_set_default(NULL);
    gone_dir();
}

/* An image made by zfs-copy through the engine (images_create), a container whose root is a
 * ZFS clone of the image's top layer (made at create, destroyed at remove), its start
 * refused with a message that says what is missing (the jail monitor) and leaving nothing
 * running, then remove and image remove: golden engine_container. */
static void test_engine_container(void **state)
{
    fresh_dir();
    fb_host h = host_on_template("engine_container");
    fb_host_set_default(&h);
    kl_error err = KL_ERROR_INIT;
    kl_engine *e = engine_open(tp("/root"), tp("/run"), &err);
    if (!e)
        fail_msg("engine_open: %s", err.msg);
    assert_int_equal(mkdir(tp("/base"), 0755), 0);
    assert_int_equal(mkdir(tp("/etc"), 0755), 0);
    FILE *f = fopen(tp("/etc/resolv.conf"), "we");
    assert_non_null(f);
    fputs("nameserver 192.0.2.53\n", f);
    fclose(f);
    images_create_opts o = {.method = "zfs-copy",
                            .dataset = tp("/base"),
                            .tag = "base:1",
                            .dns = true,
                            .localtime = true, /* no localtime in the test's etc: skipped */
                            .host_etc = tp("/etc")};
    _cleanup_free_ char *image = images_create(e, &o, &err);
    if (!image)
        fail_msg("images_create: %s\n--- transcript:\n%s", err.msg, fb_replay_transcript(h.run));
    /* the /etc file went into the layer's dataset before its seal */
    _cleanup_free_ char *sroot = images_storage_root(e);
    _cleanup_free_ char *resolv = xasprintf("%s/layers/%s/etc/resolv.conf", sroot, image);
    struct stat st;
    assert_int_equal(stat(resolv, &st), 0);

    _cleanup_json_ json_t *cc = json_pack("{s:s, s:s}", "image", "base:1", "name", "c1");
    _cleanup_free_ char *cid = containers_create(e, cc, &err);
    if (!cid)
        fail_msg("containers_create: %s\n--- transcript:\n%s", err.msg,
                 fb_replay_transcript(h.run));
    _cleanup_json_ json_t *xc = json_pack("{s:s, s:[s], s:s, s:[], s:b}", "container_id", cid,
                                          "cmd", "/bin/true", "user", "", "env", "tty", false);
    _cleanup_free_ char *xid = exec_create(e, xc, &err);
    if (!xid)
        fail_msg("exec_create: %s", err.msg);
    exec_started xs;
    kl_error e2 = KL_ERROR_INIT;
    assert_int_equal(exec_start(e, xid, false, true, &xs, &e2), -1);
    assert_int_equal(e2.code, ENOENT);
    assert_non_null(strstr(e2.msg, "the jail monitor program is missing: helper program "
                                   "kleene-jailmon not found"));
    _cleanup_json_ json_t *ins = containers_inspect(e, cid, &err);
    assert_non_null(ins);
    assert_false(jx_bool(json_object_get(ins, "container"), "running", false));
    /* the image is in use: not removable (the engine's own check, no host command) */
    kl_error e3 = KL_ERROR_INIT;
    assert_int_equal(images_remove(e, image, &e3), -1);
    char rid[13];
    fbt_ok(containers_remove(e, cid, rid, &err), &err);
    assert_string_equal(rid, cid);
    _cleanup_free_ char *cdir = xasprintf("%s/root/container/%s", tdir, cid);
    assert_int_equal(stat(cdir, &st), -1);
    fbt_ok(images_remove(e, image, &err), &err);
    engine_close(e);
    fbt_done(&h);
    fb_host_set_default(NULL);
    gone_dir();
}

/* Container create when ZFS fails: a failing clone gives the API error and leaves nothing;
 * a failure after the clone (pre-populating a volume) destroys the clone. Golden
 * engine_container_fail. */
static void test_engine_container_fails(void **state)
{
    fresh_dir();
    fb_host h = host_on_template("engine_container_fail");
    fb_host_set_default(&h);
    kl_error err = KL_ERROR_INIT;
    kl_engine *e = engine_open(tp("/root"), tp("/run"), &err);
    if (!e)
        fail_msg("engine_open: %s", err.msg);
    _cleanup_free_ char *sroot = images_storage_root(e);
    const char *layer = "a1b2c3d4e5f6";
    fbt_ok(host_layer_create(sroot, layer, &err), &err);
    fbt_ok(host_layer_seal(sroot, layer, &err), &err);
    const char *layers[] = {layer};
    const char *snaps[] = {NULL};
    _cleanup_json_ json_t *cmd = json_pack("[s]", "/bin/sh");
    _cleanup_json_ json_t *env = json_array();
    images_record r = {.name = "base",
                       .tag = "1",
                       .cmd = cmd,
                       .env = env,
                       .user = "",
                       .layers = layers,
                       .n_layers = 1,
                       .n_new = 1,
                       .snapshots = snaps};
    _cleanup_free_ char *image = images_add(e, &r, &err);
    if (!image)
        fail_msg("images_add: %s", err.msg);

    _cleanup_json_ json_t *c1 = json_pack("{s:s, s:s}", "image", "base:1", "name", "c1");
    kl_error e1 = KL_ERROR_INIT;
    _cleanup_free_ char *id1 = containers_create(e, c1, &e1);
    assert_null(id1);
    assert_int_equal(e1.code, EIO);
    assert_non_null(strstr(e1.msg, "creating the container's root filesystem: could not clone "
                                   "layer a1b2c3d4e5f6 for the container: cannot create "
                                   "'zroot/kleene/container/"));
    assert_non_null(strstr(e1.msg, "': out of space"));

    _cleanup_json_ json_t *c2 =
        json_pack("{s:s, s:s, s:[{s:s, s:s, s:s}]}", "image", "base:1", "name", "c2", "mounts",
                  "type", "volume", "source", "v1", "destination", "/data");
    kl_error e2 = KL_ERROR_INIT;
    _cleanup_free_ char *id2 = containers_create(e, c2, &e2);
    assert_null(id2);
    assert_non_null(strstr(e2.msg, "populating volume v1 from the image: copying /data of the "
                                   "image"));
    /* nothing left: no container row, no container directory */
    _cleanup_json_ json_t *list = containers_list(e, true, &err);
    assert_int_equal(json_array_size(list), 0);
    _cleanup_free_ char *cdir = xasprintf("%s/root/container", tdir);
    DIR *d = opendir(cdir);
    assert_non_null(d);
    struct dirent *de;
    while ((de = readdir(d)))
        if (de->d_name[0] != '.')
            fail_msg("left in %s: %s", cdir, de->d_name);
    closedir(d);
    engine_close(e);
    fbt_done(&h);
    fb_host_set_default(NULL);
    gone_dir();
}

static void collect_output(const char *msg, void *ctx)
{
    kl_buf_puts(ctx, msg);
}

/* Image create by fetch and fetch-auto (autotag) through images_create on the FreeBSD layer,
 * and two failures (tar, fetch) that leave no image: golden engine_fetch. */
static void test_engine_fetch(void **state)
{
    fresh_dir();
    fb_host h = host_on_template("engine_fetch");
    fb_host_set_default(&h);
    kl_error err = KL_ERROR_INIT;
    kl_engine *e = engine_open(tp("/root"), tp("/run"), &err);
    if (!e)
        fail_msg("engine_open: %s", err.msg);
    assert_int_equal(mkdir(tp("/etc"), 0755), 0);
    FILE *f = fopen(tp("/etc/resolv.conf"), "we");
    assert_non_null(f);
    fputs("nameserver 192.0.2.53\n", f);
    fclose(f);
    _cleanup_buf_ kl_buf out = KL_BUF_INIT;
    images_create_opts o = {.method = "fetch",
                            .url = "https://download.example.org/base.txz",
                            .tag = "base:14",
                            .dns = true,
                            .host_etc = tp("/etc"),
                            .output = collect_output,
                            .output_ctx = &out};
    _cleanup_free_ char *i1 = images_create(e, &o, &err);
    if (!i1)
        fail_msg("images_create fetch: %s\n--- transcript:\n%s", err.msg,
                 fb_replay_transcript(h.run));
    _cleanup_free_ char *sroot = images_storage_root(e);
    _cleanup_free_ char *resolv = xasprintf("%s/layers/%s/etc/resolv.conf", sroot, i1);
    struct stat st;
    assert_int_equal(stat(resolv, &st), 0);
    images_create_opts a = {.method = "fetch-auto",
                            .autotag = true,
                            .host_etc = tp("/etc"),
                            .output = collect_output,
                            .output_ctx = &out};
    _cleanup_free_ char *i2 = images_create(e, &a, &err);
    if (!i2)
        fail_msg("images_create fetch-auto: %s\n--- transcript:\n%s", err.msg,
                 fb_replay_transcript(h.run));
    kl_buf_append(&out, "", 1);
    assert_non_null(strstr(out.data, "Created image from the automatically detected version: "
                                     "FreeBSD-14.1-RELEASE-p7.\n"));
    _cleanup_json_ json_t *ins = images_inspect(e, "FreeBSD-14.1-RELEASE-p7:latest", &err);
    if (!ins)
        fail_msg("images_inspect: %s", err.msg);
    images_create_opts b = {.method = "fetch", .url = "https://download.example.org/broken.txz"};
    kl_error e1 = KL_ERROR_INIT;
    _cleanup_free_ char *i3 = images_create(e, &b, &e1);
    assert_null(i3);
    assert_string_equal(e1.msg, "could not extract tar archive: tar: Error opening archive: "
                                "Unrecognized archive format");
    images_create_opts m = {.method = "fetch", .url = "https://download.example.org/missing.txz"};
    kl_error e2 = KL_ERROR_INIT;
    _cleanup_free_ char *i4 = images_create(e, &m, &e2);
    assert_null(i4);
    assert_string_equal(e2.msg, "could not fetch file from url: fetch: "
                                "https://download.example.org/missing.txz: Not Found");
    _cleanup_json_ json_t *list = images_list(e, &err);
    assert_int_equal(json_array_size(list), 2);
    engine_close(e);
    fbt_done(&h);
    fb_host_set_default(NULL);
    gone_dir();
}

static void build_output(const char *msg, size_t len, void *ctx)
{
    kl_buf_append(ctx, msg, len);
}

/* A build on full-tree layers (COPY, WORKDIR; RUN needs the jail monitor: test_fb_jailmon):
 * each step a clone of the top layer, committed by rename + mountpoint + snapshot. Golden
 * engine_build. */
static void test_engine_build(void **state)
{
    fresh_dir();
    fb_host h = host_on_template("engine_build");
    fb_host_set_default(&h);
    kl_error err = KL_ERROR_INIT;
    kl_engine *e = engine_open(tp("/root"), tp("/run"), &err);
    if (!e)
        fail_msg("engine_open: %s", err.msg);
    _cleanup_free_ char *sroot = images_storage_root(e);
    const char *layer = "a1b2c3d4e5f6";
    fbt_ok(host_layer_create(sroot, layer, &err), &err);
    fbt_ok(host_layer_seal(sroot, layer, &err), &err);
    const char *layers[] = {layer};
    const char *snaps[] = {NULL};
    _cleanup_json_ json_t *cmd = json_pack("[s]", "/bin/sh");
    _cleanup_json_ json_t *env = json_array();
    images_record r = {.name = "base",
                       .tag = "1",
                       .cmd = cmd,
                       .env = env,
                       .user = "",
                       .layers = layers,
                       .n_layers = 1,
                       .n_new = 1,
                       .snapshots = snaps};
    _cleanup_free_ char *base = images_add(e, &r, &err);
    if (!base)
        fail_msg("images_add: %s", err.msg);
    assert_int_equal(mkdir(tp("/ctx"), 0755), 0);
    FILE *f = fopen(tp("/ctx/Dockerfile"), "we");
    assert_non_null(f);
    fputs("FROM base:1\nCOPY hello.txt /etc/hello.txt\nWORKDIR /app\n", f);
    fclose(f);
    f = fopen(tp("/ctx/hello.txt"), "we");
    assert_non_null(f);
    fputs("hello\n", f);
    fclose(f);
    _cleanup_buf_ kl_buf out = KL_BUF_INIT;
    builder_opts o = {.context = tp("/ctx"),
                      .tag = "built:1",
                      .cleanup = true,
                      .nocache = true,
                      .output = build_output,
                      .output_ctx = &out};
    dockerfile df = {0};
    fbt_ok(builder_load(&o, &df, &err), &err);
    builder_result res = {0};
    char id[KL_ID_LEN + 1];
    kl_id_new(id);
    if (builder_run(e, &o, &df, id, &res, &err) < 0) {
        kl_buf_append(&out, "", 1);
        fail_msg("builder_run: %s\n--- output:\n%s\n--- transcript:\n%s", err.msg, out.data,
                 fb_replay_transcript(h.run));
    }
    _cleanup_json_ json_t *ins = images_inspect(e, "built:1", &err);
    if (!ins)
        fail_msg("images_inspect: %s", err.msg);
    builder_result_clear(&res);
    dockerfile_clear(&df);
    f = fopen(tp("/ctx/Dockerfile.2"), "we");
    assert_non_null(f);
    fputs("FROM base:1\nCOPY hello.txt /x\n", f);
    fclose(f);
    builder_opts o2 = o;
    o2.dockerfile = "Dockerfile.2";
    o2.tag = "broken:1";
    dockerfile df2 = {0};
    fbt_ok(builder_load(&o2, &df2, &err), &err);
    builder_result res2 = {0};
    kl_id_new(id);
    kl_error e2 = KL_ERROR_INIT;
    assert_int_equal(builder_run(e, &o2, &df2, id, &res2, &e2), -1);
    assert_non_null(strstr(e2.msg, "as layer "));
    assert_non_null(strstr(e2.msg, "': out of space"));
    kl_error e3 = KL_ERROR_INIT;
    _cleanup_json_ json_t *none = images_inspect(e, "broken:1", &e3);
    assert_null(none);
    _cleanup_json_ json_t *list = images_list(e, &err);
    assert_int_equal(json_array_size(list), 2); /* base, built */
    builder_result_clear(&res2);
    dockerfile_clear(&df2);
    engine_close(e);
    fbt_done(&h);
    fb_host_set_default(NULL);
    gone_dir();
}

/* Volumes as datasets through the engine (volumes.c on host_volume_create/_remove): golden
 * engine_volume; a failing create leaves nothing, a failing destroy keeps the volume. */
static void test_engine_volumes(void **state)
{
    fresh_dir();
    fb_host h = host_on_template("engine_volume");
    fb_host_set_default(&h);
    kl_error err = KL_ERROR_INIT;
    kl_engine *e = engine_open(tp("/root"), tp("/run"), &err);
    if (!e)
        fail_msg("engine_open: %s", err.msg);
    struct stat st;
    fbt_ok(volumes_create(e, "v1", &err), &err);
    assert_int_equal(stat(tp("/root/volumes/v1"), &st), 0);
    kl_error e1 = KL_ERROR_INIT;
    assert_int_equal(volumes_create(e, "v2", &e1), -1);
    assert_string_equal(e1.msg, "creating volume v2: could not create volume dataset "
                                "zroot/kleene/volumes/v2: cannot create "
                                "'zroot/kleene/volumes/v2': out of space");
    assert_int_equal(stat(tp("/root/volumes/v2"), &st), -1);
    _cleanup_json_ json_t *l1 = volumes_list(e, &err);
    assert_int_equal(json_array_size(l1), 1);
    kl_error e2 = KL_ERROR_INIT;
    assert_int_equal(volumes_remove(e, "v1", &e2), -1);
    assert_string_equal(e2.msg, "removing volume v1: could not destroy volume dataset "
                                "zroot/kleene/volumes/v1: cannot destroy "
                                "'zroot/kleene/volumes/v1': dataset is busy");
    assert_int_equal(stat(tp("/root/volumes/v1"), &st), 0);
    _cleanup_json_ json_t *l2 = volumes_list(e, &err);
    assert_int_equal(json_array_size(l2), 1);
    fbt_ok(volumes_remove(e, "v1", &err), &err);
    assert_int_equal(stat(tp("/root/volumes/v1"), &st), -1);
    fbt_ok(volumes_create(e, "v3", &err), &err);
    fbt_ok(volumes_remove(e, "v3", &err), &err);
    _cleanup_json_ json_t *l3 = volumes_list(e, &err);
    assert_int_equal(json_array_size(l3), 0);
    engine_close(e);
    fbt_done(&h);
    fb_host_set_default(NULL);
    gone_dir();
}

/* Confined paths (fbfs.c): the walk that stands in for RESOLVE_BENEATH/RESOLVE_IN_ROOT. */
static void test_confined_paths(void **state)
{
    fresh_dir();
    _cleanup_close_ int root = open(tdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    assert_true(root >= 0);
    assert_int_equal(mkdir(tp("/etc"), 0755), 0);
    int fd = open(tp("/etc/passwd"), O_WRONLY | O_CREAT | O_EXCL, 0644);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "in\n", 3), 3);
    close(fd);
    assert_int_equal(symlink("/etc/passwd", tp("/abs")), 0);     /* absolute */
    assert_int_equal(symlink("../../../etc", tp("/etc/up")), 0); /* climbs out */
    assert_int_equal(symlink("passwd", tp("/etc/rel")), 0);      /* stays */
    assert_int_equal(symlink("loop2", tp("/loop1")), 0);
    assert_int_equal(symlink("loop1", tp("/loop2")), 0);

    char buf[8] = "";
    /* beneath: inside is fine, relative symlinks inside are followed */
    fd = host_open_beneath(root, "etc/rel", O_RDONLY, 0);
    assert_true(fd >= 0);
    assert_int_equal(read(fd, buf, 3), 3);
    close(fd);
    assert_memory_equal(buf, "in\n", 3);
    fd = host_open_beneath(root, "etc/../etc/./passwd", O_RDONLY, 0);
    assert_true(fd >= 0);
    close(fd);
    /* beneath: leaving is EXDEV */
    assert_int_equal(host_open_beneath(root, "/etc/passwd", O_RDONLY, 0), -1);
    assert_int_equal(errno, EXDEV);
    assert_int_equal(host_open_beneath(root, "../x", O_RDONLY, 0), -1);
    assert_int_equal(errno, EXDEV);
    assert_int_equal(host_open_beneath(root, "abs", O_RDONLY, 0), -1);
    assert_int_equal(errno, EXDEV);
    assert_int_equal(host_open_beneath(root, "etc/up/passwd", O_RDONLY, 0), -1);
    assert_int_equal(errno, EXDEV);
    assert_int_equal(host_open_beneath(root, "loop1", O_RDONLY, 0), -1);
    assert_int_equal(errno, ELOOP);
    assert_int_equal(host_open_beneath(root, "missing/x", O_RDONLY, 0), -1);
    assert_int_equal(errno, ENOENT);
    /* in root: absolute paths and symlinks, and `..` above the top, stay inside */
    memset(buf, 0, sizeof(buf));
    fd = host_open_in_root(root, "abs", O_RDONLY, 0);
    assert_true(fd >= 0);
    assert_int_equal(read(fd, buf, 3), 3);
    close(fd);
    assert_memory_equal(buf, "in\n", 3);
    fd = host_open_in_root(root, "etc/up/passwd", O_RDONLY, 0);
    assert_true(fd >= 0);
    close(fd);
    fd = host_open_in_root(root, "/../../etc/passwd", O_RDONLY, 0);
    assert_true(fd >= 0);
    close(fd);
    /* O_CREAT through a symlink creates inside */
    fd = host_open_in_root(root, "/etc/up/new", O_WRONLY | O_CREAT | O_EXCL, 0600);
    assert_true(fd >= 0);
    close(fd);
    struct stat st;
    assert_int_equal(stat(tp("/etc/new"), &st), 0);
    /* O_NOFOLLOW on the last component: the symlink itself is not followed */
    assert_int_equal(host_open_in_root(root, "abs", O_RDONLY | O_NOFOLLOW, 0), -1);
    /* mkdirs in root: made inside, through the escaping symlink */
    kl_error err = KL_ERROR_INIT;
    fd = host_mkdirs_in_root(root, "/etc/up/a/b", &err);
    fbt_ok(fd, &err);
    close(fd);
    assert_int_equal(stat(tp("/etc/a/b"), &st), 0);
    assert_true(S_ISDIR(st.st_mode));
    kl_error e2 = KL_ERROR_INIT;
    assert_int_equal(host_mkdirs_in_root(root, "etc/passwd/x", &e2), -1);
    assert_int_equal(e2.code, ENOTDIR);
    gone_dir();
}

/* Bind mount sources (fbfs.c): nothing inside kleened's own directories. */
static void test_bind_source(void **state)
{
    fresh_dir();
    assert_int_equal(mkdir(tp("/kroot"), 0700), 0);
    assert_int_equal(mkdir(tp("/kroot/vol"), 0700), 0);
    assert_int_equal(mkdir(tp("/data"), 0700), 0);
    int fd = open(tp("/kroot/vol/f"), O_WRONLY | O_CREAT, 0600);
    close(fd);
    assert_int_equal(symlink(tp("/kroot/vol"), tp("/data/sneaky")), 0);
    char *denied[] = {tp("/kroot"), NULL};
    kl_error err = KL_ERROR_INIT;
    fbt_ok(host_bind_source_check(tp("/data"), denied, &err), &err);
    kl_error e1 = KL_ERROR_INIT, e2 = KL_ERROR_INIT, e3 = KL_ERROR_INIT;
    assert_int_equal(host_bind_source_check(tp("/kroot/vol"), denied, &e1), -1);
    assert_int_equal(e1.code, EPERM);
    assert_int_equal(host_bind_source_check(tp("/data/sneaky"), denied, &e2), -1);
    assert_int_equal(e2.code, EPERM);
    assert_int_equal(host_bind_source_check(tp("/kroot/vol/f"), denied, &e3), -1);
    assert_int_equal(e3.code, EPERM);
    kl_error e4 = KL_ERROR_INIT;
    assert_int_equal(host_bind_source_check(tp("/nothing"), denied, &e4), -1);
    assert_int_equal(e4.code, ENOENT);
    gone_dir();
}

/* Layers as ZFS datasets (fbstorage.c), golden engine_layers. */
static void test_layers(void **state)
{
    fresh_dir();
    fb_host h = host_on_template("engine_layers");
    fb_host_set_default(&h);
    assert_true(host_layers_full_tree());
    kl_error err = KL_ERROR_INIT;
    fbt_ok(host_storage_init(tp("/s"), &err), &err);
    assert_int_equal(mkdir(tp("/s/layers/.staging-old-1"), 0700), 0);
    assert_int_equal(mkdir(tp("/s/layers/.staging-build-0123456789ab"), 0700), 0);
    assert_int_equal(mkdir(tp("/s/layers/.staging-build-0123456789ab/rootfs"), 0700), 0);
    fbt_ok(host_storage_init(tp("/s"), &err), &err); /* stale staging removed */
    struct stat st;
    assert_int_equal(stat(tp("/s/layers/.staging-old-1"), &st), -1);
    assert_int_equal(stat(tp("/s/layers/.staging-build-0123456789ab"), &st), -1);
    fbt_ok(host_layer_create(tp("/s"), "l1", &err), &err);
    assert_int_equal(stat(tp("/s/layers/l1"), &st), 0); /* "mounted" by the replay */
    kl_error e1 = KL_ERROR_INIT;
    assert_int_equal(host_layer_create(tp("/s"), "l1", &e1), -1);
    assert_int_equal(e1.code, EEXIST);
    kl_error e2 = KL_ERROR_INIT;
    assert_int_equal(host_layer_create(tp("/s"), "../x", &e2), -1);
    assert_int_equal(e2.code, EINVAL);
    /* commit of a directory: copied into a new dataset, the directory removed */
    assert_int_equal(mkdir(tp("/up"), 0755), 0);
    assert_int_equal(mkdir(tp("/up/d"), 0755), 0);
    fbt_ok(host_layer_commit(tp("/s"), tp("/up"), "l2", &err), &err);
    assert_int_equal(stat(tp("/up"), &st), -1);
    assert_int_equal(mkdir(tp("/up2"), 0755), 0);
    kl_error e3 = KL_ERROR_INIT;
    assert_int_equal(host_layer_commit(tp("/s"), tp("/up2"), "l6", &e3), -1);
    assert_non_null(strstr(e3.msg, "/up2: cp: "));
    assert_non_null(strstr(e3.msg, "/s/layers/l6/x: No space left on device"));
    assert_int_equal(stat(tp("/up2"), &st), 0); /* left where it was */
    /* zfs-copy of the dataset mounted at src; a directory inside it is refused */
    assert_int_equal(mkdir(tp("/src"), 0755), 0);
    fbt_ok(host_layer_copy_from(tp("/s"), "l3", tp("/src"), &err), &err);
    kl_error e4 = KL_ERROR_INIT;
    assert_int_equal(host_layer_copy_from(tp("/s"), "l4", tp("/src/sub"), &e4), -1);
    assert_int_equal(e4.code, EINVAL);
    assert_non_null(strstr(e4.msg, "is not the mountpoint of a ZFS dataset (it is inside "
                                   "tank/base, mounted at "));
    /* zfs-clone: a clone of ours, not a link to the host's tree; sealed; removed with its
     * origin snapshot */
    fbt_ok(host_layer_clone_from(tp("/s"), "l5", tp("/src"), &err), &err);
    assert_false(host_layer_is_external(tp("/s"), "l5"));
    fbt_ok(host_layer_seal(tp("/s"), "l5", &err), &err);
    fbt_ok(host_layer_remove(tp("/s"), "l5", &err), &err);
    assert_int_equal(stat(tp("/s/layers/l5"), &st), -1);
    /* a layer a container's root is cloned from stays */
    kl_error e5 = KL_ERROR_INIT;
    assert_int_equal(host_layer_remove(tp("/s"), "l1", &e5), -1);
    assert_int_equal(e5.code, EBUSY);
    assert_string_equal(e5.msg, "could not remove image l1 since it is used for containers:\n"
                                "3f9a00000001");
    kl_error e6 = KL_ERROR_INIT;
    assert_int_equal(host_layer_remove(tp("/s"), "l9", &e6), -1);
    assert_int_equal(e6.code, ENOENT);
    /* no overlayfs: a stack cannot be mounted, and says so */
    _cleanup_free_ char *l3 = xstrdup(tp("/s/layers/l3")), *l1 = xstrdup(tp("/s/layers/l1"));
    const char *lowers[] = {l3, l1}; /* (tp's buffers are reused) */
    kl_error e7 = KL_ERROR_INIT;
    assert_int_equal(host_rootfs_mount(lowers, 1, NULL, NULL, tp("/mnt"), &e7), -1);
    assert_int_equal(e7.code, ENOTSUP);
    /* volume pre-population: the top layer (l1) alone; never through a symlink */
    assert_int_equal(mkdir(tp("/s/layers/l1/data"), 0750), 0);
    assert_int_equal(symlink("/etc", tp("/s/layers/l1/link")), 0);
    assert_int_equal(mkdir(tp("/vol"), 0700), 0);
    assert_int_equal(host_layers_copy_path(lowers, 2, "/data", tp("/vol"), &err), 1);
    assert_int_equal(stat(tp("/vol"), &st), 0);
    assert_int_equal(st.st_mode & 07777, 0750); /* the image directory's mode */
    assert_int_equal(host_layers_copy_path(lowers, 2, "/link", tp("/vol"), &err), 0);
    assert_int_equal(host_layers_copy_path(lowers, 2, "/link/passwd", tp("/vol"), &err), 0);
    assert_int_equal(host_layers_copy_path(lowers, 2, "/missing", tp("/vol"), &err), 0);
    kl_error e8 = KL_ERROR_INIT;
    assert_int_equal(host_layers_copy_path(lowers, 2, "/data/../..", tp("/vol"), &e8), -1);
    assert_int_equal(e8.code, EINVAL);
    fbt_done(&h);
    fb_host_set_default(NULL);
    gone_dir();
}

/* What the engine cannot do on FreeBSD yet refuses clearly (docs/freebsd.md). */
static void test_not_yet(void **state)
{
    kl_error err = KL_ERROR_INIT;
    host_monitor_spec spec = {0};
    host_monitor_info info = {0};
    assert_int_equal(host_monitor_start(&spec, &info, &err), -1);
    assert_int_equal(err.code, EINVAL); /* no run directory */
    kl_error e2 = KL_ERROR_INIT;
    assert_null(host_monitor_connect("/var/run/kleened/containers/x", &e2));
    assert_int_equal(e2.code, ENOENT); /* "not running" to the engine */
    host_init_mode m = HOST_INIT_PLAIN;
    fbt_ok(host_init_mode_parse("none", &m, &err), &err);
    assert_int_equal(m, HOST_INIT_NONE);
    kl_error e3 = KL_ERROR_INIT;
    assert_int_equal(host_init_mode_parse("systemd", &m, &e3), -1);
    assert_int_equal(e3.code, ENOTSUP);
    kl_error e4 = KL_ERROR_INIT;
    assert_int_equal(host_init_mode_parse("sytemd", &m, &e4), -1);
    assert_int_equal(e4.code, EINVAL);
#ifndef __FreeBSD__
    kl_error e5 = KL_ERROR_INIT;
    assert_int_equal(host_process_end_fd(getpid(), &e5), -1);
    assert_int_equal(e5.code, ENOTSUP);
#endif
}

/* The root dataset and the pf anchor (kleened.yaml zfs_root, pf_anchor; KLEENED_ZFS_ROOT). */
static void test_layer_config(void **state)
{
    kl_error err = KL_ERROR_INIT;
    char *root = NULL, *anchor = NULL;
    fbt_ok(fb_layer_config_resolve(NULL, NULL, &root, &anchor, &err), &err);
    assert_string_equal(root, "zroot/kleene");
    assert_string_equal(anchor, "kleene");
    free(root), free(anchor);
    fbt_ok(fb_layer_config_resolve(NULL, "tank/k", &root, &anchor, &err), &err);
    assert_string_equal(root, "tank/k"); /* the environment, when the file says nothing */
    free(root), free(anchor);
    host_layer_config cfg = {.zfs_root = "tank/kleene", .pf_anchor = "k2"};
    fbt_ok(fb_layer_config_resolve(&cfg, "tank/k", &root, &anchor, &err), &err);
    assert_string_equal(root, "tank/kleene"); /* the file wins */
    assert_string_equal(anchor, "k2");
    free(root), free(anchor);
    kl_error e1 = KL_ERROR_INIT;
    assert_int_equal(fb_layer_config_resolve(NULL, "-rf", &root, &anchor, &e1), -1);
    assert_string_equal(e1.msg, "invalid root dataset '-rf' (KLEENED_ZFS_ROOT)");
    host_layer_config bad = {.pf_anchor = "a b"};
    kl_error e2 = KL_ERROR_INIT;
    assert_int_equal(fb_layer_config_resolve(&bad, NULL, &root, &anchor, &e2), -1);
    assert_int_equal(e2.code, EINVAL);
    /* kleened's set-up (main.c passes the config): refused with a bad environment, then the
     * config's values are the host's */
    setenv("KLEENED_ZFS_ROOT", "-rf", 1);
    kl_error e3 = KL_ERROR_INIT;
    assert_int_equal(host_layer_setup(NULL, &e3), -1);
    assert_string_equal(e3.msg, "invalid root dataset '-rf' (KLEENED_ZFS_ROOT)");
    host_layer_config good = {.zfs_root = "tank/kleene", .pf_anchor = "k2"};
    fbt_ok(host_layer_setup(&good, &err), &err);
    unsetenv("KLEENED_ZFS_ROOT");
    const fb_host *h = fb_host_default(&err);
    assert_non_null(h);
    assert_string_equal(h->root, "tank/kleene");
    assert_string_equal(h->pf_anchor, "k2");
    fb_host_set_default(NULL);
}

static void test_sockstat(void **state)
{
    char who[64];
    assert_int_equal(
        fb_sockstat_holder("USER     COMMAND    PID   FD  PROTO  LOCAL ADDRESS         "
                           "FOREIGN ADDRESS\n"
                           "www      nginx      1234  6   tcp4   *:80                  "
                           "*:*\n",
                           who, sizeof(who)),
        1);
    assert_string_equal(who, "nginx (pid 1234)");
    assert_int_equal(
        fb_sockstat_holder("USER COMMAND PID FD PROTO LOCAL FOREIGN\n", who, sizeof(who)), 0);
    assert_int_equal(fb_sockstat_holder("", who, sizeof(who)), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_engine_networks),  cmocka_unit_test(test_engine_network_fails),
        cmocka_unit_test(test_engine_container), cmocka_unit_test(test_engine_container_fails),
        cmocka_unit_test(test_confined_paths),   cmocka_unit_test(test_bind_source),
        cmocka_unit_test(test_layers),           cmocka_unit_test(test_not_yet),
        cmocka_unit_test(test_sockstat),         cmocka_unit_test(test_layer_config),
        cmocka_unit_test(test_engine_volumes),   cmocka_unit_test(test_engine_fetch),
        cmocka_unit_test(test_engine_build),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
