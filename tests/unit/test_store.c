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
#include <sys/stat.h>
#include <unistd.h>

#include "engine/store.h"
#include "lib/cleanup.h"
#include "lib/xalloc.h"

typedef struct {
    char dir[64];
    char *db;
} fixture;

static int setup(void **state)
{
    fixture *f = xcalloc(1, sizeof(*f));
    snprintf(f->dir, sizeof(f->dir), "/tmp/kl-test-store-XXXXXX");
    if (!mkdtemp(f->dir))
        return -1;
    f->db = xasprintf("%s/metadata.sqlite", f->dir);
    *state = f;
    return 0;
}

static int rm_cb(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(p);
}

static int teardown(void **state)
{
    fixture *f = *state;
    nftw(f->dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
    free(f->db);
    free(f);
    return 0;
}

/* Run SQL on the store's connection; returns the SQLite result code. */
static int sql(kl_store *s, const char *q)
{
    store_lock(s);
    int rc = sqlite3_exec(store_db(s), q, NULL, NULL, NULL);
    store_unlock(s);
    return rc;
}

static long long count(kl_store *s, const char *q)
{
    store_lock(s);
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_prepare_v2(store_db(s), q, -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    long long n = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    store_unlock(s);
    return n;
}

static mode_t file_mode(const char *path)
{
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    return st.st_mode & 07777;
}

#define IMG "aaaaaaaaaaaa"
#define CT1 "c00000000001"
#define CT2 "c00000000002"
#define NET "eeeeeeeeeeee"

static void add_image_and_container(kl_store *s)
{
    assert_int_equal(sql(s, "INSERT INTO images (id, name, tag, created) VALUES ('" IMG
                            "', 'base', 'latest', '2024-01-01T00:00:00.000000Z')"),
                     SQLITE_OK);
    assert_int_equal(sql(s, "INSERT INTO containers (id, name, image_id, created) VALUES ('" CT1
                            "', 'web', '" IMG "', '2024-01-01T00:00:01.000000Z')"),
                     SQLITE_OK);
}

static void test_fresh_db_schema_and_modes(void **state)
{
    fixture *f = *state;
    mode_t old = umask(0); /* SQLite alone would create 0666 files now */
    kl_error err = KL_ERROR_INIT;
    kl_store *s = store_open(f->db, &err);
    umask(old);
    assert_non_null(s);
    assert_false(kl_error_is_set(&err));
    assert_true(store_schema_latest() >= 1);
    assert_int_equal(store_schema_version(s), store_schema_latest());

    /* A write creates -wal and -shm. */
    assert_int_equal(
        sql(s, "INSERT INTO volumes (name, created) VALUES ('v', '2024-01-01T00:00:00.000000Z')"),
        SQLITE_OK);
    _cleanup_free_ char *wal = xasprintf("%s-wal", f->db);
    _cleanup_free_ char *shm = xasprintf("%s-shm", f->db);
    assert_int_equal(file_mode(f->db), 0600);
    assert_int_equal(file_mode(wal), 0600);
    assert_int_equal(file_mode(shm), 0600);

    assert_int_equal(count(s, "SELECT journal_mode = 'wal' FROM pragma_journal_mode"), 1);
    assert_int_equal(count(s, "SELECT foreign_keys FROM pragma_foreign_keys"), 1);
    assert_int_equal(count(s, "SELECT timeout > 0 FROM pragma_busy_timeout"), 1);
    /* Every object of API.md §5 has its table. */
    const char *tables[] = {"images",   "layers",    "image_layers", "containers", "execs",
                            "networks", "endpoints", "mounts",       "volumes"};
    for (size_t i = 0; i < KL_ARRAY_SIZE(tables); i++) {
        _cleanup_free_ char *q = xasprintf(
            "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = '%s'", tables[i]);
        assert_int_equal(count(s, q), 1);
    }
    store_close(s);
}

static void test_existing_file_mode_is_fixed(void **state)
{
    fixture *f = *state;
    int fd = open(f->db, O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
    assert_true(fd >= 0);
    fchmod(fd, 0644);
    close(fd);
    kl_error err = KL_ERROR_INIT;
    kl_store *s = store_open(f->db, &err);
    assert_non_null(s);
    assert_int_equal(file_mode(f->db), 0600);
    store_close(s);
}

static void test_reopen_keeps_data_and_migrations_idempotent(void **state)
{
    fixture *f = *state;
    kl_error err = KL_ERROR_INIT;
    kl_store *s = store_open(f->db, &err);
    assert_non_null(s);
    add_image_and_container(s);
    long long objects = count(s, "SELECT count(*) FROM sqlite_master");
    store_close(s);

    s = store_open(f->db, &err);
    assert_non_null(s);
    assert_int_equal(store_schema_version(s), store_schema_latest());
    assert_int_equal(count(s, "SELECT count(*) FROM containers WHERE name = 'web'"), 1);
    assert_int_equal(count(s, "SELECT count(*) FROM images WHERE id = '" IMG "'"), 1);
    /* Migrating again changes nothing. */
    assert_int_equal(store_migrate(s, &err), 0);
    assert_int_equal(store_schema_version(s), store_schema_latest());
    assert_int_equal(count(s, "SELECT count(*) FROM sqlite_master"), objects);
    store_close(s);
}

static void test_newer_schema_refused(void **state)
{
    fixture *f = *state;
    kl_error err = KL_ERROR_INIT;
    kl_store *s = store_open(f->db, &err);
    assert_non_null(s);
    _cleanup_free_ char *q = xasprintf("PRAGMA user_version = %d", store_schema_latest() + 1);
    assert_int_equal(sql(s, q), SQLITE_OK);
    store_close(s);
    assert_null(store_open(f->db, &err));
    assert_int_equal(err.code, EPROTO);
    assert_non_null(strstr(err.msg, "newer"));
}

static void test_foreign_keys_enforced(void **state)
{
    fixture *f = *state;
    kl_error err = KL_ERROR_INIT;
    kl_store *s = store_open(f->db, &err);
    assert_non_null(s);

    /* A container of an unknown image is refused, and store_fail says so. */
    assert_int_equal(sql(s, "INSERT INTO containers (id, image_id, created) VALUES ('" CT2
                            "', 'bbbbbbbbbbbb', 'x')"),
                     SQLITE_CONSTRAINT_FOREIGNKEY);
    assert_int_equal(store_fail(s, "creating container", &err), -1);
    assert_int_equal(err.code, EBUSY);
    assert_non_null(strstr(err.msg, "creating container: FOREIGN KEY"));

    add_image_and_container(s);
    /* An image used by a container cannot be removed. */
    assert_int_equal(sql(s, "DELETE FROM images WHERE id = '" IMG "'") & 0xff, SQLITE_CONSTRAINT);
    kl_error_clear(&err);
    store_fail(s, "removing image", &err);
    assert_int_equal(err.code, EBUSY);
    assert_non_null(strstr(err.msg, "FOREIGN KEY"));
    /* A mount of an unknown volume is refused; a known one accepted. */
    assert_int_equal(sql(s, "INSERT INTO mounts (container_id, type, source, destination, volume) "
                            "VALUES ('" CT1 "', 'volume', 'nov', '/data', 'nov')"),
                     SQLITE_CONSTRAINT_FOREIGNKEY);
    assert_int_equal(sql(s, "INSERT INTO volumes (name, created) VALUES ('vol', 'x');"
                            "INSERT INTO mounts (container_id, type, source, destination, volume) "
                            "VALUES ('" CT1 "', 'volume', 'vol', '/data', 'vol');"
                            "INSERT INTO mounts (container_id, type, source, destination) "
                            "VALUES ('" CT1 "', 'nullfs', '/host', '/h')"),
                     SQLITE_OK);
    /* A volume mount must name its volume in both columns. */
    assert_int_equal(sql(s, "INSERT INTO mounts (container_id, type, source, destination) "
                            "VALUES ('" CT1 "', 'volume', 'vol', '/d2')"),
                     SQLITE_CONSTRAINT_CHECK);
    /* A mounted volume cannot be removed. */
    assert_int_equal(sql(s, "DELETE FROM volumes WHERE name = 'vol'") & 0xff, SQLITE_CONSTRAINT);

    /* Removing a container drops its endpoints, mounts and exec instances. */
    assert_int_equal(
        sql(s, "INSERT INTO networks (id, name, type, interface, created) VALUES ('" NET
               "', 'n1', 'bridge', 'kleene0', 'x');"
               "INSERT INTO endpoints (id, container_id, network_id, ip_address) VALUES "
               "('111111111111', '" CT1 "', '" NET "', '10.0.0.2');"
               "INSERT INTO execs (id, container_id, created) VALUES ('222222222222', '" CT1
               "', 'x')"),
        SQLITE_OK);
    /* One endpoint per (container, network). */
    assert_int_equal(sql(s, "INSERT INTO endpoints (id, container_id, network_id) VALUES "
                            "('333333333333', '" CT1 "', '" NET "')"),
                     SQLITE_CONSTRAINT_UNIQUE);
    assert_int_equal(sql(s, "DELETE FROM containers WHERE id = '" CT1 "'"), SQLITE_OK);
    assert_int_equal(count(s, "SELECT count(*) FROM endpoints"), 0);
    assert_int_equal(count(s, "SELECT count(*) FROM mounts"), 0);
    assert_int_equal(count(s, "SELECT count(*) FROM execs"), 0);
    /* ... after which the volume and the image can go. */
    assert_int_equal(sql(s, "DELETE FROM volumes WHERE name = 'vol'"), SQLITE_OK);
    assert_int_equal(sql(s, "DELETE FROM images WHERE id = '" IMG "'"), SQLITE_OK);
    store_close(s);
}

static void test_unique_names_and_ids(void **state)
{
    fixture *f = *state;
    kl_error err = KL_ERROR_INIT;
    kl_store *s = store_open(f->db, &err);
    assert_non_null(s);
    add_image_and_container(s);

    assert_int_equal(sql(s, "INSERT INTO containers (id, name, image_id, created) VALUES ('" CT2
                            "', 'web', '" IMG "', 'x')"),
                     SQLITE_CONSTRAINT_UNIQUE);
    store_fail(s, "creating container", &err);
    assert_int_equal(err.code, EEXIST);
    /* Unnamed containers may be many. */
    assert_int_equal(sql(s, "INSERT INTO containers (id, image_id, created) VALUES ('" CT2
                            "', '" IMG "', 'x');"
                            "INSERT INTO containers (id, image_id, created) VALUES "
                            "('c00000000003', '" IMG "', 'x')"),
                     SQLITE_OK);
    /* Ids are 12 lowercase hex characters. */
    assert_int_equal(sql(s, "INSERT INTO containers (id, image_id, created) VALUES "
                            "('C00000000004', '" IMG "', 'x')"),
                     SQLITE_CONSTRAINT_CHECK);
    assert_int_equal(sql(s, "INSERT INTO containers (id, image_id, created) VALUES "
                            "('c0000000004', '" IMG "', 'x')"),
                     SQLITE_CONSTRAINT_CHECK);
    /* Network names are unique; a name:tag belongs to one image. */
    assert_int_equal(sql(s, "INSERT INTO networks (id, name, type, interface, created) VALUES "
                            "('" NET "', 'n1', 'bridge', 'kleene0', 'x')"),
                     SQLITE_OK);
    assert_int_equal(sql(s, "INSERT INTO networks (id, name, type, interface, created) VALUES "
                            "('eeeeeeeeeee1', 'n1', 'bridge', 'kleene1', 'x')"),
                     SQLITE_CONSTRAINT_UNIQUE);
    assert_int_equal(sql(s, "INSERT INTO images (id, name, tag, created) VALUES "
                            "('aaaaaaaaaaa1', 'base', 'latest', 'x')"),
                     SQLITE_CONSTRAINT_UNIQUE);
    assert_int_equal(sql(s, "INSERT INTO images (id, name, tag, created) VALUES "
                            "('aaaaaaaaaaa1', '', '', 'x');"
                            "INSERT INTO images (id, name, tag, created) VALUES "
                            "('aaaaaaaaaaa2', '', '', 'x')"),
                     SQLITE_OK);
    store_close(s);
}

static void test_transactions(void **state)
{
    fixture *f = *state;
    kl_error err = KL_ERROR_INIT;
    kl_store *s = store_open(f->db, &err);
    assert_non_null(s);

    assert_int_equal(store_begin(s, &err), 0);
    assert_int_equal(sql(s, "INSERT INTO volumes (name, created) VALUES ('a', 'x')"), SQLITE_OK);
    store_rollback(s);
    assert_int_equal(count(s, "SELECT count(*) FROM volumes"), 0);

    /* Nested: the inner level rolls back alone. */
    assert_int_equal(store_begin(s, &err), 0);
    assert_int_equal(sql(s, "INSERT INTO volumes (name, created) VALUES ('a', 'x')"), SQLITE_OK);
    assert_int_equal(store_begin(s, &err), 0);
    assert_int_equal(sql(s, "INSERT INTO volumes (name, created) VALUES ('b', 'x')"), SQLITE_OK);
    store_rollback(s);
    assert_int_equal(store_begin(s, &err), 0);
    assert_int_equal(sql(s, "INSERT INTO volumes (name, created) VALUES ('c', 'x')"), SQLITE_OK);
    assert_int_equal(store_commit(s, &err), 0);
    assert_int_equal(store_commit(s, &err), 0);
    assert_int_equal(count(s, "SELECT group_concat(name, '') = 'ac' FROM "
                              "(SELECT name FROM volumes ORDER BY name)"),
                     1);

    /* A failing commit (deferred FK violation) reports, rolls back and releases the lock. */
    assert_int_equal(store_begin(s, &err), 0);
    assert_int_equal(sql(s, "PRAGMA defer_foreign_keys = ON;"
                            "INSERT INTO containers (id, image_id, created) VALUES "
                            "('" CT2 "', 'bbbbbbbbbbbb', 'x')"),
                     SQLITE_OK);
    assert_int_equal(store_commit(s, &err), -1);
    assert_int_equal(err.code, EBUSY);
    assert_int_equal(count(s, "SELECT count(*) FROM containers"), 0);
    assert_int_equal(store_begin(s, &err), 0); /* not stuck inside the failed transaction */
    store_rollback(s);

    assert_int_equal(store_exec(s, "SELECT 1", &err), 0);
    assert_int_equal(store_exec(s, "SELECT * FROM nosuchtable", &err), -1);
    assert_int_equal(err.code, EIO);
    store_close(s);

    /* Committed data survived the close. */
    s = store_open(f->db, &err);
    assert_non_null(s);
    assert_int_equal(count(s, "SELECT count(*) FROM volumes"), 2);
    store_close(s);
}

static void test_open_failure(void **state)
{
    fixture *f = *state;
    kl_error err = KL_ERROR_INIT;
    _cleanup_free_ char *p = xasprintf("%s/missing/metadata.sqlite", f->dir);
    assert_null(store_open(p, &err));
    assert_int_equal(err.code, ENOENT);
    /* A symlink is not followed. */
    _cleanup_free_ char *target = xasprintf("%s/target", f->dir);
    close(open(target, O_CREAT | O_WRONLY | O_CLOEXEC, 0644));
    assert_int_equal(symlink(target, f->db), 0);
    kl_error_clear(&err);
    assert_null(store_open(f->db, &err));
    assert_true(kl_error_is_set(&err));
    assert_int_equal(file_mode(target), 0644);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_fresh_db_schema_and_modes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_existing_file_mode_is_fixed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reopen_keeps_data_and_migrations_idempotent, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_newer_schema_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_foreign_keys_enforced, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unique_names_and_ids, setup, teardown),
        cmocka_unit_test_setup_teardown(test_transactions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_open_failure, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
