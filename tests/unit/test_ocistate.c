/* kleene-runtime's state (src/ociruntime/ocistate.c): ids, the state directory and its lock,
 * state.json round trip, the derived status and the runtime-spec state JSON. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/xalloc.h"
#include "ociruntime/ocistate.h"

static void test_ids(void **state)
{
    (void)state;
    kl_error err = KL_ERROR_INIT;
    assert_int_equal(oci_id_check("abc-1_2+3.4", &err), 0);
    assert_int_equal(oci_id_check("0123456789abcdef0123456789abcdef", &err), 0);
    assert_int_equal(oci_id_check("", &err), -1);
    assert_int_equal(oci_id_check(".", &err), -1);
    assert_int_equal(oci_id_check("..", &err), -1);
    assert_int_equal(oci_id_check("a/b", &err), -1);
    assert_int_equal(oci_id_check("a b", &err), -1);
    char *longid = xmalloc(OCI_ID_MAX + 2);
    memset(longid, 'a', OCI_ID_MAX + 1);
    longid[OCI_ID_MAX + 1] = '\0';
    assert_int_equal(oci_id_check(longid, &err), -1);
    free(longid);
}

static void test_dir_round_trip(void **state)
{
    (void)state;
    char tmpl[] = "/tmp/test_ocistate.XXXXXX";
    assert_non_null(mkdtemp(tmpl));
    char *root = xasprintf("%s/deep/root", tmpl);
    kl_error err = KL_ERROR_INIT;
    int rootfd = oci_root_open(root, &err);
    assert_true(rootfd >= 0);
    int d = oci_state_create_dir(rootfd, "c1", &err);
    assert_true(d >= 0);
    /* a second create of the same id is refused */
    assert_int_equal(oci_state_create_dir(rootfd, "c1", &err), -1);
    assert_int_equal(err.code, EEXIST);
    /* the lock is held: a non-blocking exclusive lock from elsewhere fails */
    char *dir = xasprintf("%s/c1", root);
    int other = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    assert_int_equal(flock(other, LOCK_EX | LOCK_NB), -1);
    char *keys[] = {"a", NULL}, *values[] = {"b", NULL}, *cg[] = {"/nonexistent/cg", NULL};
    oci_state s = {.id = "c1",
                   .pid = getpid(),
                   .pid_start = oci_pid_start_time(getpid()),
                   .bundle = "/b",
                   .rootfs = "/b/rootfs",
                   .created = "2026-01-01T00:00:00Z",
                   .annotation_keys = keys,
                   .annotation_values = values,
                   .cgroups = cg,
                   .config_json = "{}",
                   .status = OCI_CREATED};
    assert_int_not_equal(s.pid_start, 0);
    assert_int_equal(oci_state_save(d, &s, &err), 0);
    close(d);
    assert_int_equal(flock(other, LOCK_EX | LOCK_NB), 0);
    flock(other, LOCK_UN);
    d = oci_state_open_dir(rootfd, "c1", false, &err);
    assert_true(d >= 0);
    oci_state l;
    assert_int_equal(oci_state_load(d, &l, &err), 0);
    assert_string_equal(l.id, "c1");
    assert_int_equal(l.pid, getpid());
    assert_string_equal(l.bundle, "/b");
    assert_string_equal(l.annotation_values[0], "b");
    assert_string_equal(l.cgroups[0], "/nonexistent/cg");
    /* our own live process, no fifo: running; with a fifo: created */
    assert_int_equal(l.status, OCI_RUNNING);
    assert_int_equal(mkfifoat(d, OCI_FIFO_NAME, 0622), 0);
    l.status = oci_state_observe(d, &l);
    assert_int_equal(l.status, OCI_CREATED);
    char *j = oci_state_json(&l, false);
    json_error_t je;
    json_t *o = json_loads(j, 0, &je);
    assert_non_null(o);
    assert_string_equal(json_string_value(json_object_get(o, "status")), "created");
    assert_string_equal(json_string_value(json_object_get(o, "id")), "c1");
    assert_string_equal(json_string_value(json_object_get(o, "bundle")), "/b");
    assert_int_equal(json_integer_value(json_object_get(o, "pid")), getpid());
    assert_non_null(json_object_get(o, "ociVersion"));
    assert_string_equal(json_string_value(json_object_get(json_object_get(o, "annotations"), "a")),
                        "b");
    json_decref(o);
    free(j);
    /* another start time: the pid is not ours any more → stopped */
    l.pid_start++;
    assert_int_equal(oci_state_observe(d, &l), OCI_STOPPED);
    oci_state_free(&l);
    assert_int_equal(oci_state_remove(rootfd, d, "c1", &err), 0);
    close(d);
    close(other);
    assert_int_equal(oci_state_open_dir(rootfd, "c1", false, &err), -1);
    assert_int_equal(err.code, ENOENT);
    close(rootfd);
    char *cmd = xasprintf("rm -rf %s", tmpl);
    assert_int_equal(system(cmd), 0);
    free(cmd);
    free(dir);
    free(root);
}

static void test_missing_state(void **state)
{
    (void)state;
    char tmpl[] = "/tmp/test_ocistate.XXXXXX";
    assert_non_null(mkdtemp(tmpl));
    kl_error err = KL_ERROR_INIT;
    int rootfd = oci_root_open(tmpl, &err);
    int d = oci_state_create_dir(rootfd, "half", &err);
    oci_state l;
    assert_int_equal(oci_state_load(d, &l, &err), -1);
    assert_int_equal(err.code, ENOENT);
    /* a corrupt state is an error, not a crash */
    int f = openat(d, OCI_STATE_NAME, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    assert_int_equal(write(f, "{bad", 4), 4);
    close(f);
    assert_int_equal(oci_state_load(d, &l, &err), -1);
    assert_int_equal(err.code, EINVAL);
    assert_int_equal(oci_state_remove(rootfd, d, "half", &err), 0);
    close(d);
    close(rootfd);
    rmdir(tmpl);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ids),
        cmocka_unit_test(test_dir_round_trip),
        cmocka_unit_test(test_missing_state),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
