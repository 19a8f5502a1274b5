/* Golden tests of the FreeBSD layer's ZFS storage (src/host/freebsd/zfs.c): image creation by
 * each method, builds' snapshots and commit, container clones, image remove and prune,
 * volumes, with their failure paths and what they roll back (golden/storage_*.golden). */
#include "fbtest.h"

#include <string.h>

#include "lib/cleanup.h"
#include "lib/xalloc.h"

static const fb_image_opts defaults = {.dns = true, .localtime = true, .update = false};

static void test_start_check(void **state)
{
    fb_host h = fbt_host("storage_start_check");
    kl_error err = KL_ERROR_INIT;
    fbt_ok(fb_storage_check(&h, &err), &err);
    fbt_done(&h);

    h = fbt_host("storage_start_check_missing");
    kl_error e2 = KL_ERROR_INIT;
    fbt_fails(fb_storage_check(&h, &e2), &e2,
              "ZFS dataset zroot/kleene/volumes is missing (run 'kleened init' to create it)");
    fbt_done(&h);
}

static void test_image_zfs_copy(void **state)
{
    fb_host h = fbt_host("storage_image_zfs_copy");
    kl_error err = KL_ERROR_INIT;
    fbt_info info = {{0}};
    fbt_ok(fb_image_create_copy(&h, "a1b2c3d4e5f6", "zroot/kleene_basejail", &defaults, fbt_info_cb,
                                &info, &err),
           &err);
    assert_string_equal(info.text,
                        "copying dataset into the new image, this can take a while...\n");
    fbt_done(&h);
}

static void test_image_zfs_copy_fails(void **state)
{
    fb_host h = fbt_host("storage_image_zfs_copy_fail");
    kl_error err = KL_ERROR_INIT;
    fbt_fails(fb_image_create_copy(&h, "a1b2c3d4e5f6", "zroot/kleene_basejail", &defaults, NULL,
                                   NULL, &err),
              &err, "error copying image dataset: cannot receive: out of space");
    fbt_done(&h);

    /* a parent that does not exist, and one that would be an option to zfs */
    h = fbt_host("storage_image_invalid_parent");
    kl_error e2 = KL_ERROR_INIT;
    fbt_fails(fb_image_create_copy(&h, "a1b2c3d4e5f6", "zroot/nothere", &defaults, NULL, NULL, &e2),
              &e2, "invalid dataset");
    kl_error e3 = KL_ERROR_INIT;
    fbt_fails(fb_image_create_copy(&h, "a1b2c3d4e5f6", "-R", &defaults, NULL, NULL, &e3), &e3,
              "invalid dataset");
    kl_error e4 = KL_ERROR_INIT;
    fbt_fails(fb_image_create_clone(&h, "a1b2c3d4e5f6", "zroot/x y", &defaults, NULL, NULL, &e4),
              &e4, "invalid dataset");
    fbt_done(&h);
}

static void test_image_zfs_clone(void **state)
{
    fb_host h = fbt_host("storage_image_zfs_clone");
    kl_error err = KL_ERROR_INIT;
    fbt_info info = {{0}};
    fbt_localtime_exists = false;
    fbt_ok(fb_image_create_clone(&h, "a1b2c3d4e5f6", "zroot/kleene_basejail", &defaults,
                                 fbt_info_cb, &info, &err),
           &err);
    assert_string_equal(info.text,
                        "cloning dataset...\n/etc/localtime not found on host, skipping...\n");
    fbt_done(&h);

    h = fbt_host("storage_image_zfs_clone_fail");
    kl_error e2 = KL_ERROR_INIT;
    fbt_fails(fb_image_create_clone(&h, "a1b2c3d4e5f6", "zroot/kleene_basejail", &defaults, NULL,
                                    NULL, &e2),
              &e2,
              "could not create snapshot zroot/kleene/image/a1b2c3d4e5f6@image: cannot create "
              "snapshot: out of space");
    fbt_done(&h);
}

static void test_image_fetch(void **state)
{
    fb_host h = fbt_host("storage_image_fetch");
    kl_error err = KL_ERROR_INIT;
    fbt_info info = {{0}};
    fb_image_opts o = {.dns = true, .localtime = true, .update = true};
    fbt_ok(
        fb_image_create_fetch(&h, "a1b2c3d4e5f6",
                              "https://download.freebsd.org/releases/amd64/14.1-RELEASE/base.txz",
                              &o, fbt_info_cb, &info, &err),
        &err);
    assert_string_equal(info.text, "Succesfully fetched base system.\n"
                                   "Unpacking contents and creating image...\n"
                                   "Succesfully extracted binaries, creating image...\n");
    fbt_done(&h);

    h = fbt_host("storage_image_fetch_fail");
    kl_error e2 = KL_ERROR_INIT;
    fbt_fails(
        fb_image_create_fetch(&h, "a1b2c3d4e5f6", "http://10.0.0.1/base.txz", &defaults, NULL, NULL,
                              &e2),
        &e2,
        "could not extract tar archive: tar: Error opening archive: Unrecognized archive format");
    fbt_done(&h);

    h = fbt_host("storage_image_fetch_download_fail");
    kl_error e3 = KL_ERROR_INIT;
    fbt_fails(fb_image_create_fetch(&h, "a1b2c3d4e5f6", "http://10.0.0.1/base.txz", &defaults, NULL,
                                    NULL, &e3),
              &e3, "could not fetch file from url: fetch: http://10.0.0.1/base.txz: Not Found");
    fbt_done(&h);
}

static void check_url(const char *uname, const char *url)
{
    _cleanup_free_ char *u = NULL, *v = NULL;
    kl_error err = KL_ERROR_INIT;
    int rc = fb_fetch_auto_url(uname, &u, &v, &err);
    if (!url) {
        assert_int_equal(rc, -1);
        return;
    }
    fbt_ok(rc, &err);
    assert_string_equal(u, url);
}

static void test_fetch_auto_url(void **state)
{
    check_url("FreeBSD 14.1-RELEASE amd64\n",
              "https://download.freebsd.org/releases/amd64/14.1-RELEASE/base.txz");
    /* the release's base; its patches come from freebsd-update */
    check_url("FreeBSD 14.1-RELEASE-p7 amd64",
              "https://download.freebsd.org/releases/amd64/14.1-RELEASE/base.txz");
    check_url("FreeBSD 14-STABLE amd64",
              "https://download.freebsd.org/snapshots/amd64/14-STABLE/base.txz");
    /* B25: arm64 needs MACHINE/MACHINE_ARCH; CURRENT, BETA and RC are fetchable too */
    check_url("FreeBSD 14.2-RELEASE arm64",
              "https://download.freebsd.org/releases/arm64/aarch64/14.2-RELEASE/base.txz");
    check_url("FreeBSD 15.0-CURRENT amd64",
              "https://download.freebsd.org/snapshots/amd64/15.0-CURRENT/base.txz");
    check_url("FreeBSD 14.2-RC1 amd64",
              "https://download.freebsd.org/releases/amd64/14.2-RC1/base.txz");
    check_url("FreeBSD 14.2-BETA2 amd64",
              "https://download.freebsd.org/releases/amd64/14.2-BETA2/base.txz");
    check_url("Linux 6.1.0 x86_64", NULL);
    check_url("FreeBSD 14.1-WEIRD amd64", NULL);
    check_url("FreeBSD 14.1-RELEASE", NULL);
    check_url("FreeBSD ../../x amd64", NULL);
}

static void test_image_fetch_auto(void **state)
{
    fb_host h = fbt_host("storage_image_fetch_auto");
    kl_error err = KL_ERROR_INIT;
    fbt_info info = {{0}};
    _cleanup_free_ char *version = NULL;
    fb_image_opts o = {.dns = false, .localtime = false};
    fbt_ok(fb_image_create_fetch_auto(&h, "a1b2c3d4e5f6", &o, fbt_info_cb, &info, &version, &err),
           &err);
    assert_string_equal(version, "14.1-RELEASE-p7");
    assert_non_null(strstr(info.text, "Created image from the automatically detected version: "
                                      "FreeBSD-14.1-RELEASE-p7.\n"));
    fbt_done(&h);
}

static void test_image_remove(void **state)
{
    fb_host h = fbt_host("storage_image_remove");
    kl_error err = KL_ERROR_INIT;
    fbt_ok(fb_image_remove(&h, "a1b2c3d4e5f6", &err), &err);
    kl_error e2 = KL_ERROR_INIT;
    fbt_fails(fb_image_remove(&h, "a1b2c3d4e5f6", &e2), &e2,
              "could not remove image a1b2c3d4e5f6 since it is used for containers:\n"
              "3f9a1c0b7d2e\n5e5e5e5e5e5e");
    kl_error e3 = KL_ERROR_INIT;
    fbt_fails(fb_image_remove(&h, "a1b2c3d4e5f6", &e3), &e3,
              "could not remove image a1b2c3d4e5f6 since it is used for images:\nbbbbbbbbbbbb");
    /* B22: a failed destroy is an error; the caller keeps the image's metadata */
    kl_error e4 = KL_ERROR_INIT;
    fbt_fails(fb_image_remove(&h, "a1b2c3d4e5f6", &e4), &e4,
              "could not remove image dataset zroot/kleene/image/a1b2c3d4e5f6: cannot destroy "
              "'zroot/kleene/image/a1b2c3d4e5f6': dataset is busy");
    fbt_done(&h);
}

static void test_image_prune_listing(void **state)
{
    fb_host h = fbt_host("storage_image_prune");
    kl_error err = KL_ERROR_INIT;
    fb_snapclones *v = NULL;
    size_t n = 0;
    fbt_ok(fb_snapshot_clones(&h, &v, &n, &err), &err);
    assert_int_equal(n, 3);
    assert_string_equal(v[0].dataset, "zroot/kleene/image/a1b2c3d4e5f6");
    assert_int_equal(strv_len(v[0].clones), 2);
    assert_string_equal(v[0].clones[0], "zroot/kleene/container/3f9a1c0b7d2e");
    assert_string_equal(v[0].clones[1], "zroot/kleene/image/bbbbbbbbbbbb");
    assert_string_equal(v[1].dataset, "zroot/kleene/image/bbbbbbbbbbbb");
    assert_int_equal(strv_len(v[1].clones), 0);
    assert_string_equal(v[2].dataset, "zroot/kleene/container/3f9a1c0b7d2e");
    fb_snapclones_free(v, n);
    fbt_done(&h);
}

static void test_container_datasets(void **state)
{
    fb_host h = fbt_host("storage_container");
    kl_error err = KL_ERROR_INIT;
    fbt_ok(fb_container_clone(&h, "3f9a1c0b7d2e", "zroot/kleene/image/a1b2c3d4e5f6", NULL, &err),
           &err);
    fbt_ok(fb_container_clone(&h, "4f9a1c0b7d2e", "zroot/kleene/image/a1b2c3d4e5f6", "0a0b0c0d0e0f",
                              &err),
           &err);
    kl_error e2 = KL_ERROR_INIT;
    fbt_fails(
        fb_container_clone(&h, "5f9a1c0b7d2e", "zroot/kleene/image/a1b2c3d4e5f6", "nosnap", &e2),
        &e2, "cannot open 'zroot/kleene/image/a1b2c3d4e5f6@nosnap': dataset does not exist");
    assert_int_equal(e2.code, ENOENT);
    fbt_ok(fb_container_destroy(&h, "3f9a1c0b7d2e", &err), &err);
    fbt_done(&h);
}

static void test_build(void **state)
{
    fb_host h = fbt_host("storage_build");
    kl_error err = KL_ERROR_INIT;
    assert_int_equal(
        fb_snapshot_exists(&h, "zroot/kleene/image/a1b2c3d4e5f6", "0a0b0c0d0e0f", &err), 1);
    assert_int_equal(fb_snapshot_exists(&h, "zroot/kleene/image/a1b2c3d4e5f6", "0a0b", &err), 0);
    fbt_ok(fb_container_clone(&h, "c0ffee000001", "zroot/kleene/image/a1b2c3d4e5f6", NULL, &err),
           &err);
    fbt_ok(fb_build_snapshot(&h, "c0ffee000001", "111111111111", &err), &err);
    /* B3: the step's snapshot is checked */
    kl_error e2 = KL_ERROR_INIT;
    fbt_fails(fb_build_snapshot(&h, "c0ffee000001", "222222222222", &e2), &e2,
              "could not create snapshot zroot/kleene/container/c0ffee000001@222222222222: out of "
              "space");
    fbt_ok(fb_build_commit(&h, "c0ffee000001", "c0ffee000001", &err), &err);
    fbt_done(&h);

    h = fbt_host("storage_build_commit_fail");
    kl_error e3 = KL_ERROR_INIT;
    fbt_fails(fb_build_commit(&h, "c0ffee000001", "c0ffee000001", &e3), &e3,
              "could not create snapshot zroot/kleene/image/c0ffee000001@image: out of space");
    fbt_done(&h);
}

static void test_volumes(void **state)
{
    fb_host h = fbt_host("storage_volume");
    kl_error err = KL_ERROR_INIT;
    _cleanup_free_ char *mp = NULL;
    fbt_ok(fb_volume_create(&h, "data", &mp, &err), &err);
    /* B2: the real mountpoint, not "/" + dataset */
    assert_string_equal(mp, "/kleene/volumes/data");
    kl_error e2 = KL_ERROR_INIT;
    char *mp2 = NULL;
    fbt_fails(fb_volume_create(&h, "data", &mp2, &e2), &e2,
              "could not create volume dataset zroot/kleene/volumes/data: cannot create "
              "'zroot/kleene/volumes/data': dataset already exists");
    kl_error e3 = KL_ERROR_INIT;
    fbt_fails(fb_volume_create(&h, "a b", &mp2, &e3), &e3, "invalid volume name 'a b'");
    fbt_ok(fb_volume_destroy(&h, "data", &err), &err);
    fbt_done(&h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_start_check),
        cmocka_unit_test(test_image_zfs_copy),
        cmocka_unit_test(test_image_zfs_copy_fails),
        cmocka_unit_test(test_image_zfs_clone),
        cmocka_unit_test(test_image_fetch),
        cmocka_unit_test(test_fetch_auto_url),
        cmocka_unit_test(test_image_fetch_auto),
        cmocka_unit_test(test_image_remove),
        cmocka_unit_test(test_image_prune_listing),
        cmocka_unit_test(test_container_datasets),
        cmocka_unit_test(test_build),
        cmocka_unit_test(test_volumes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
