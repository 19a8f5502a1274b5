#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine/engine.h"
#include "engine/volumes.h"
#include "lib/cleanup.h"
#include "lib/xalloc.h"

typedef struct {
    char dir[64];
    char *root;
    kl_engine *e;
} fixture;

static int rm_cb(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(p);
}

static int setup(void **state)
{
    fixture *f = xcalloc(1, sizeof(*f));
    snprintf(f->dir, sizeof(f->dir), "/tmp/kl-test-volumes-XXXXXX");
    if (!mkdtemp(f->dir))
        return -1;
    f->root = xasprintf("%s/root", f->dir);
    kl_error err = KL_ERROR_INIT;
    f->e = engine_open(f->root, NULL, &err);
    if (!f->e) {
        fprintf(stderr, "engine_open: %s\n", err.msg);
        nftw(f->dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
        free(f->root);
        free(f);
        return -1;
    }
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    engine_close(f->e);
    nftw(f->dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
    free(f->root);
    free(f);
    return 0;
}

static char *vpath(fixture *f, const char *name)
{
    return xasprintf("%s/volumes/%s", f->root, name);
}

static bool exists(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0;
}

static void write_file(const char *path, const char *content)
{
    FILE *fp = fopen(path, "we");
    assert_non_null(fp);
    fputs(content, fp);
    fclose(fp);
}

static int sql(fixture *f, const char *q)
{
    store_lock(f->e->store);
    int rc = sqlite3_exec(store_db(f->e->store), q, NULL, NULL, NULL);
    store_unlock(f->e->store);
    return rc;
}

#define CT1 "c00000000001"
#define CT2 "c00000000002"

/* Two containers; CT1 mounts `vol` read-only at /data, CT2 at /srv read-write. */
static void mount_volume(fixture *f, const char *vol)
{
    assert_int_equal(sql(f, "INSERT OR IGNORE INTO images (id, created) VALUES "
                            "('aaaaaaaaaaaa', 'x');"
                            "INSERT OR IGNORE INTO containers (id, image_id, created) VALUES "
                            "('" CT1 "', 'aaaaaaaaaaaa', 'x'), ('" CT2 "', 'aaaaaaaaaaaa', 'x')"),
                     SQLITE_OK);
    _cleanup_free_ char *q = xasprintf(
        "INSERT INTO mounts (container_id, type, source, destination, read_only, volume) VALUES "
        "('" CT2 "', 'volume', '%s', '/srv', 0, '%s'), "
        "('" CT1 "', 'volume', '%s', '/data', 1, '%s')",
        vol, vol, vol, vol);
    assert_int_equal(sql(f, q), SQLITE_OK);
}

static void test_create_is_idempotent(void **state)
{
    fixture *f = *state;
    kl_error err = KL_ERROR_INIT;
    assert_int_equal(volumes_create(f->e, "data-1", &err), 0);
    _cleanup_free_ char *dir = vpath(f, "data-1");
    struct stat st;
    assert_int_equal(lstat(dir, &st), 0);
    assert_true(S_ISDIR(st.st_mode));
    assert_int_equal(st.st_mode & 07777, 0755);

    _cleanup_free_ char *file = xasprintf("%s/keep", dir);
    write_file(file, "x");
    _cleanup_json_ json_t *before = volumes_inspect(f->e, "data-1", &err);
    assert_non_null(before);
    assert_int_equal(volumes_create(f->e, "data-1", &err), 0);
    _cleanup_json_ json_t *after = volumes_inspect(f->e, "data-1", &err);
    assert_true(json_equal(before, after)); /* same created: unchanged */
    assert_true(exists(file));
    _cleanup_json_ json_t *list = volumes_list(f->e, &err);
    assert_int_equal(json_array_size(list), 1);
}

static void test_list_order_and_shape(void **state)
{
    fixture *f = *state;
    kl_error err = KL_ERROR_INIT;
    _cleanup_json_ json_t *empty = volumes_list(f->e, &err);
    assert_non_null(empty);
    assert_int_equal(json_array_size(empty), 0);

    const char *names[] = {"a", "b", "c"};
    for (size_t i = 0; i < 3; i++)
        assert_int_equal(volumes_create(f->e, names[i], &err), 0);
    _cleanup_json_ json_t *list = volumes_list(f->e, &err);
    assert_int_equal(json_array_size(list), 3);
    for (size_t i = 0; i < 3; i++) {
        json_t *v = json_array_get(list, i);
        const char *want = names[2 - i]; /* newest first */
        assert_string_equal(json_string_value(json_object_get(v, "name")), want);
        _cleanup_free_ char *dir = vpath(f, want);
        assert_string_equal(json_string_value(json_object_get(v, "dataset")), dir);
        assert_string_equal(json_string_value(json_object_get(v, "mountpoint")), dir);
        assert_int_equal(json_object_size(v), 5);
        assert_int_equal(json_object_size(json_object_get(v, "labels")), 0);
    }
    const char *c0 = json_string_value(json_object_get(json_array_get(list, 0), "created"));
    const char *c2 = json_string_value(json_object_get(json_array_get(list, 2), "created"));
    assert_true(strcmp(c0, c2) >= 0);
}

/* Labels (ours): stored with the volume, shown by list and inspect; an existing volume keeps
 * its own; bad labels create nothing. */
static void test_labels(void **state)
{
    fixture *f = *state;
    kl_error err = KL_ERROR_INIT;
    _cleanup_json_ json_t *labels = json_pack("{s:s, s:s}", "app", "web", "tier", "");
    assert_int_equal(volumes_create_labeled(f->e, "lv", labels, &err), 0);
    _cleanup_json_ json_t *other = json_pack("{s:s}", "app", "db");
    assert_int_equal(volumes_create_labeled(f->e, "lv", other, &err), 0);
    _cleanup_json_ json_t *ins = volumes_inspect(f->e, "lv", &err);
    assert_true(json_equal(json_object_get(json_object_get(ins, "volume"), "labels"), labels));
    _cleanup_json_ json_t *list = volumes_list(f->e, &err);
    assert_true(json_equal(json_object_get(json_array_get(list, 0), "labels"), labels));

    _cleanup_json_ json_t *bad = json_pack("{s:s}", "a b", "x");
    assert_int_equal(volumes_create_labeled(f->e, "bv", bad, &err), -1);
    assert_int_equal(err.code, EINVAL);
    assert_non_null(strstr(err.msg, "'a b'"));
    kl_error e2 = KL_ERROR_INIT;
    assert_null(volumes_inspect(f->e, "bv", &e2));
    assert_int_equal(e2.code, ENOENT);
    _cleanup_free_ char *dir = vpath(f, "bv");
    assert_int_equal(access(dir, F_OK), -1);

    /* prune by labels (Docker's label and label! filters) */
    _cleanup_json_ json_t *other_labels = json_pack("{s:s}", "app", "db");
    assert_int_equal(volumes_create_labeled(f->e, "dbv", other_labels, &err), 0);
    assert_int_equal(volumes_create(f->e, "nolabel", &err), 0);
    _cleanup_json_ json_t *must = json_pack("[s]", "app=db");
    _cleanup_json_ json_t *gone = volumes_prune_matching(f->e, must, NULL, &err);
    assert_non_null(gone);
    assert_int_equal(json_array_size(gone), 1);
    assert_string_equal(json_string_value(json_array_get(gone, 0)), "dbv");
    _cleanup_json_ json_t *not = json_pack("[s]", "app");
    _cleanup_json_ json_t *gone2 = volumes_prune_matching(f->e, NULL, not, &err);
    assert_int_equal(json_array_size(gone2), 1);
    assert_string_equal(json_string_value(json_array_get(gone2, 0)), "nolabel");
    _cleanup_json_ json_t *left = volumes_list(f->e, &err);
    assert_int_equal(json_array_size(left), 1);
}

static void test_inspect_shape(void **state)
{
    fixture *f = *state;
    kl_error err = KL_ERROR_INIT;
    assert_int_equal(volumes_create(f->e, "v", &err), 0);
    _cleanup_json_ json_t *plain = volumes_inspect(f->e, "v", &err);
    assert_non_null(plain);
    assert_int_equal(json_object_size(plain), 2);
    assert_int_equal(json_array_size(json_object_get(plain, "mountpoints")), 0);

    mount_volume(f, "v");
    _cleanup_json_ json_t *ins = volumes_inspect(f->e, "v", &err);
    assert_non_null(ins);
    json_t *vol = json_object_get(ins, "volume");
    assert_int_equal(json_object_size(vol), 5);
    assert_string_equal(json_string_value(json_object_get(vol, "name")), "v");
    _cleanup_free_ char *dir = vpath(f, "v");
    assert_string_equal(json_string_value(json_object_get(vol, "dataset")), dir);
    assert_string_equal(json_string_value(json_object_get(vol, "mountpoint")), dir);
    /* ISO-8601 UTC with microseconds: 2023-09-14T21:21:57.990515Z */
    const char *created = json_string_value(json_object_get(vol, "created"));
    assert_non_null(created);
    assert_int_equal(strlen(created), 27);
    assert_int_equal(created[10], 'T');
    assert_int_equal(created[19], '.');
    assert_int_equal(created[26], 'Z');

    json_t *mps = json_object_get(ins, "mountpoints");
    assert_int_equal(json_array_size(mps), 2);
    json_t *m = json_array_get(mps, 0); /* mount order */
    assert_int_equal(json_object_size(m), 5);
    assert_string_equal(json_string_value(json_object_get(m, "type")), "volume");
    assert_string_equal(json_string_value(json_object_get(m, "container_id")), CT2);
    assert_string_equal(json_string_value(json_object_get(m, "destination")), "/srv");
    assert_string_equal(json_string_value(json_object_get(m, "source")), "v");
    assert_true(json_is_false(json_object_get(m, "read_only")));
    m = json_array_get(mps, 1);
    assert_string_equal(json_string_value(json_object_get(m, "container_id")), CT1);
    assert_true(json_is_true(json_object_get(m, "read_only")));
}

static void test_inspect_and_remove_unknown(void **state)
{
    fixture *f = *state;
    kl_error err = KL_ERROR_INIT;
    assert_null(volumes_inspect(f->e, "nope", &err));
    assert_int_equal(err.code, ENOENT);
    assert_string_equal(err.msg, "No such volume");
    kl_error_clear(&err);
    assert_int_equal(volumes_remove(f->e, "nope", &err), -1);
    assert_int_equal(err.code, ENOENT);
    assert_string_equal(err.msg, "No such volume");
}

static void test_remove_deletes_tree(void **state)
{
    fixture *f = *state;
    kl_error err = KL_ERROR_INIT;
    assert_int_equal(volumes_create(f->e, "v", &err), 0);
    _cleanup_free_ char *dir = vpath(f, "v");
    _cleanup_free_ char *sub = xasprintf("%s/a/b/c", dir);
    _cleanup_free_ char *a = xasprintf("%s/a", dir);
    _cleanup_free_ char *ab = xasprintf("%s/a/b", dir);
    assert_int_equal(mkdir(a, 0700), 0);
    assert_int_equal(mkdir(ab, 0), 0); /* no permissions: root removes it anyway */
    assert_int_equal(mkdir(sub, 0755), 0);
    _cleanup_free_ char *file = xasprintf("%s/a/b/c/file", dir);
    write_file(file, "data");

    assert_int_equal(volumes_remove(f->e, "v", &err), 0);
    assert_false(exists(dir));
    _cleanup_json_ json_t *list = volumes_list(f->e, &err);
    assert_int_equal(json_array_size(list), 0);
    /* Nothing left behind under <root>/volumes. */
    _cleanup_free_ char *vols = xasprintf("%s/volumes", f->root);
    _cleanup_closedir_ DIR *d = opendir(vols);
    assert_non_null(d);
    struct dirent *de;
    int entries = 0;
    while ((de = readdir(d)))
        if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
            entries++;
    assert_int_equal(entries, 0);
    /* Gone for good. */
    assert_int_equal(volumes_remove(f->e, "v", &err), -1);
    assert_int_equal(err.code, ENOENT);
}

static void test_remove_refused_while_mounted(void **state)
{
    fixture *f = *state;
    kl_error err = KL_ERROR_INIT;
    assert_int_equal(volumes_create(f->e, "x", &err), 0);
    _cleanup_free_ char *file = xasprintf("%s/volumes/x/precious", f->root);
    write_file(file, "x");
    mount_volume(f, "x");

    assert_int_equal(volumes_remove(f->e, "x", &err), -1);
    assert_int_equal(err.code, EBUSY);
    assert_string_equal(err.msg, "volume 'x' is in use by container(s): " CT1 ", " CT2);
    assert_true(exists(file));
    _cleanup_json_ json_t *ins = volumes_inspect(f->e, "x", &err);
    assert_non_null(ins);

    /* Once the containers are gone (their mounts with them), it can be removed. */
    assert_int_equal(sql(f, "DELETE FROM containers"), SQLITE_OK);
    assert_int_equal(volumes_remove(f->e, "x", &err), 0);
    assert_false(exists(file));
}

static void test_prune(void **state)
{
    fixture *f = *state;
    kl_error err = KL_ERROR_INIT;
    const char *names[] = {"used", "old", "new"};
    for (size_t i = 0; i < 3; i++)
        assert_int_equal(volumes_create(f->e, names[i], &err), 0);
    mount_volume(f, "used");

    _cleanup_json_ json_t *removed = volumes_prune(f->e, &err);
    assert_non_null(removed);
    assert_int_equal(json_array_size(removed), 2);
    assert_string_equal(json_string_value(json_array_get(removed, 0)), "old");
    assert_string_equal(json_string_value(json_array_get(removed, 1)), "new");
    _cleanup_free_ char *old = vpath(f, "old");
    _cleanup_free_ char *used = vpath(f, "used");
    assert_false(exists(old));
    assert_true(exists(used));
    _cleanup_json_ json_t *list = volumes_list(f->e, &err);
    assert_int_equal(json_array_size(list), 1);

    _cleanup_json_ json_t *again = volumes_prune(f->e, &err);
    assert_non_null(again);
    assert_int_equal(json_array_size(again), 0);
}

static void test_invalid_names(void **state)
{
    fixture *f = *state;
    const char *bad[] = {"", "-x", ".x", "_x", "..", "a/b", "../evil", "a b", "a:b", "é"};
    for (size_t i = 0; i < KL_ARRAY_SIZE(bad); i++) {
        kl_error err = KL_ERROR_INIT;
        assert_false(volumes_name_is_valid(bad[i]));
        assert_int_equal(volumes_create(f->e, bad[i], &err), -1);
        assert_int_equal(err.code, EINVAL);
        _cleanup_free_ char *want = xasprintf(
            "invalid volume name '%s': only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed", bad[i]);
        assert_string_equal(err.msg, want);
    }
    assert_false(volumes_name_is_valid(NULL));
    _cleanup_free_ char *evil = xasprintf("%s/evil", f->root);
    assert_false(exists(evil));

    char longest[VOLUME_NAME_MAX + 2];
    memset(longest, 'a', sizeof(longest));
    longest[VOLUME_NAME_MAX] = '\0';
    assert_true(volumes_name_is_valid(longest));
    kl_error err = KL_ERROR_INIT;
    assert_int_equal(volumes_create(f->e, longest, &err), 0);
    longest[VOLUME_NAME_MAX] = 'a';
    longest[VOLUME_NAME_MAX + 1] = '\0';
    assert_false(volumes_name_is_valid(longest));
    assert_int_equal(volumes_create(f->e, longest, &err), -1);
    assert_int_equal(err.code, EINVAL);

    const char *good[] = {"a", "A1", "9", "a.b-c_d", "x..y"};
    for (size_t i = 0; i < KL_ARRAY_SIZE(good); i++)
        assert_true(volumes_name_is_valid(good[i]));
}

static void test_symlink_out_of_volume_not_followed(void **state)
{
    fixture *f = *state;
    kl_error err = KL_ERROR_INIT;
    /* Outside the volume: a directory with a file, and a lone file. */
    _cleanup_free_ char *outdir = xasprintf("%s/outside", f->dir);
    _cleanup_free_ char *outfile = xasprintf("%s/outside/victim", f->dir);
    _cleanup_free_ char *lone = xasprintf("%s/lone", f->dir);
    assert_int_equal(mkdir(outdir, 0755), 0);
    write_file(outfile, "keep me");
    write_file(lone, "keep me too");

    assert_int_equal(volumes_create(f->e, "v", &err), 0);
    _cleanup_free_ char *l1 = xasprintf("%s/volumes/v/to-dir", f->root);
    _cleanup_free_ char *l2 = xasprintf("%s/volumes/v/to-file", f->root);
    _cleanup_free_ char *l3 = xasprintf("%s/volumes/v/dangling", f->root);
    assert_int_equal(symlink(outdir, l1), 0);
    assert_int_equal(symlink(lone, l2), 0);
    assert_int_equal(symlink("/nonexistent/x", l3), 0);

    assert_int_equal(volumes_remove(f->e, "v", &err), 0);
    _cleanup_free_ char *dir = vpath(f, "v");
    assert_false(exists(dir));
    assert_true(exists(outdir));
    assert_true(exists(outfile));
    assert_true(exists(lone));
    struct stat st;
    assert_int_equal(stat(outfile, &st), 0);
    assert_int_equal(st.st_size, 7);
}

static void test_volume_dir_replaced_by_symlink(void **state)
{
    fixture *f = *state;
    kl_error err = KL_ERROR_INIT;
    /* Even if the volume directory itself became a symlink, removal only drops the link. */
    _cleanup_free_ char *outdir = xasprintf("%s/outside", f->dir);
    _cleanup_free_ char *outfile = xasprintf("%s/outside/victim", f->dir);
    assert_int_equal(mkdir(outdir, 0755), 0);
    write_file(outfile, "keep me");
    assert_int_equal(volumes_create(f->e, "v", &err), 0);
    _cleanup_free_ char *dir = vpath(f, "v");
    assert_int_equal(rmdir(dir), 0);
    assert_int_equal(symlink(outdir, dir), 0);
    assert_int_equal(volumes_remove(f->e, "v", &err), 0);
    assert_false(exists(dir));
    assert_true(exists(outfile));
}

static void test_interrupted_removal_swept_and_lost_dir_recreated(void **state)
{
    fixture *f = *state;
    kl_error err = KL_ERROR_INIT;
    /* What a crash between rename and delete leaves behind is deleted at the next open. */
    _cleanup_free_ char *trash = xasprintf("%s/volumes/.removing.1.2.3", f->root);
    _cleanup_free_ char *inner = xasprintf("%s/file", trash);
    assert_int_equal(mkdir(trash, 0755), 0);
    write_file(inner, "x");
    engine_close(f->e);
    f->e = engine_open(f->root, NULL, &err);
    assert_non_null(f->e);
    assert_false(exists(trash));

    /* A volume whose directory vanished is recreated by create and removable. */
    assert_int_equal(volumes_create(f->e, "v", &err), 0);
    _cleanup_free_ char *dir = vpath(f, "v");
    assert_int_equal(rmdir(dir), 0);
    assert_int_equal(volumes_create(f->e, "v", &err), 0);
    assert_true(exists(dir));
    assert_int_equal(rmdir(dir), 0);
    assert_int_equal(volumes_remove(f->e, "v", &err), 0);
    _cleanup_json_ json_t *list = volumes_list(f->e, &err);
    assert_int_equal(json_array_size(list), 0);
}

static void test_deep_tree_removed_with_few_fds(void **state)
{
    fixture *f = *state;
    kl_error err = KL_ERROR_INIT;
    assert_int_equal(volumes_create(f->e, "deep", &err), 0);
    _cleanup_free_ char *dir = vpath(f, "deep");
    /* 1000 nested directories (a path far longer than PATH_MAX), a file at the bottom. */
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    assert_true(fd >= 0);
    for (int i = 0; i < 1000; i++) {
        assert_int_equal(mkdirat(fd, "dddddddddd", 0755), 0);
        int next = openat(fd, "dddddddddd", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        assert_true(next >= 0);
        close(fd);
        fd = next;
    }
    int file = openat(fd, "bottom", O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
    assert_true(file >= 0);
    close(file);
    close(fd);

    /* Far fewer fds than levels. */
    struct rlimit old, low;
    assert_int_equal(getrlimit(RLIMIT_NOFILE, &old), 0);
    low = old;
    low.rlim_cur = 200;
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &low), 0);
    int r = volumes_remove(f->e, "deep", &err);
    setrlimit(RLIMIT_NOFILE, &old);
    if (r < 0)
        fprintf(stderr, "%s\n", err.msg);
    assert_int_equal(r, 0);
    assert_false(exists(dir));
    _cleanup_free_ char *vols = xasprintf("%s/volumes", f->root);
    _cleanup_closedir_ DIR *d = opendir(vols);
    assert_non_null(d);
    struct dirent *de;
    while ((de = readdir(d)))
        assert_true(de->d_name[0] == '.' &&
                    (!de->d_name[1] || (de->d_name[1] == '.' && !de->d_name[2])));
}

static void test_engine_layout(void **state)
{
    fixture *f = *state;
    const char *subdirs[] = {"image", "container", "volumes"};
    for (size_t i = 0; i < KL_ARRAY_SIZE(subdirs); i++) {
        _cleanup_free_ char *p = xasprintf("%s/%s", f->root, subdirs[i]);
        struct stat st;
        assert_int_equal(lstat(p, &st), 0);
        assert_true(S_ISDIR(st.st_mode));
        assert_int_equal(st.st_mode & 07777, 0700);
    }
    _cleanup_free_ char *db = xasprintf("%s/metadata.sqlite", f->root);
    assert_true(exists(db));
    kl_error err = KL_ERROR_INIT;
    assert_null(engine_open("relative/root", NULL, &err));
    assert_int_equal(err.code, EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_create_is_idempotent, setup, teardown),
        cmocka_unit_test_setup_teardown(test_list_order_and_shape, setup, teardown),
        cmocka_unit_test_setup_teardown(test_labels, setup, teardown),
        cmocka_unit_test_setup_teardown(test_inspect_shape, setup, teardown),
        cmocka_unit_test_setup_teardown(test_inspect_and_remove_unknown, setup, teardown),
        cmocka_unit_test_setup_teardown(test_remove_deletes_tree, setup, teardown),
        cmocka_unit_test_setup_teardown(test_remove_refused_while_mounted, setup, teardown),
        cmocka_unit_test_setup_teardown(test_prune, setup, teardown),
        cmocka_unit_test_setup_teardown(test_invalid_names, setup, teardown),
        cmocka_unit_test_setup_teardown(test_symlink_out_of_volume_not_followed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_volume_dir_replaced_by_symlink, setup, teardown),
        cmocka_unit_test_setup_teardown(test_interrupted_removal_swept_and_lost_dir_recreated,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_deep_tree_removed_with_few_fds, setup, teardown),
        cmocka_unit_test_setup_teardown(test_engine_layout, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
