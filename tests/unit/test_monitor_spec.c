/* The monitor spec record (host/linux/monitor_spec.h): what kleened encodes, the kleene-monitor
 * program decodes to the same spec (NULL and "" kept apart, every field), and a record that is
 * cut short, extended, of another version or with a bad length is refused whole. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "host/linux/monitor_spec.h"

static void assert_str_same(const char *a, const char *b)
{
    if (!a || !b)
        assert_ptr_equal(a, b);
    else
        assert_string_equal(a, b);
}

static void assert_strv_same(char *const *a, char *const *b)
{
    if (!a || !b) {
        assert_ptr_equal(a, b);
        return;
    }
    size_t i = 0;
    for (; a[i] && b[i]; i++)
        assert_string_equal(a[i], b[i]);
    assert_null(a[i]);
    assert_null(b[i]);
}

static char *argv[] = {"/bin/sh", "-c", "echo ünïcode; exit 3", NULL};
static char *env[] = {"A=1", "EMPTY=", "PATH=/bin", NULL};
static char *cap_add[] = {"NET_ADMIN", NULL};
static char *empty[] = {NULL};
static char *unmount[] = {"/var/lib/kleene/c/abc/rootfs", "/x", NULL};
static const host_mount mounts[] = {{"/srv/data", "/data", true, false},
                                    {"/var/lib/kleene/volumes/v", "/v", false, true}};
static char *denied[] = {"/var/lib/kleene", "/run/kleene", NULL};
static char *layers[] = {"/var/lib/kleene/image/layers/aaaaaaaaaaaa", "/l/b", NULL};
static const unsigned char filter[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};

static host_monitor_spec full_spec(void)
{
    return (host_monitor_spec){
        .container = {.id = "0123456789ab",
                      .rootfs = "/var/lib/kleene/c/0123456789ab/rootfs",
                      .hostname = "", /* "" stays "", not NULL */
                      .argv = argv,
                      .env = env,
                      .user = "www:staff",
                      .cwd = NULL,
                      .mounts = mounts,
                      .n_mounts = 2,
                      .denied_sources = denied,
                      .rootfs_layers = layers,
                      .rootfs_upper = "/var/lib/kleene/container/0123456789ab/upper",
                      .rootfs_work = NULL,
                      .make_cwd = true,
                      .cap_add = cap_add,
                      .cap_drop = empty,
                      .netns = HOST_NETNS_PATH,
                      .netns_path = "/run/netns/kleene-x",
                      .share_ipc = true,
                      .no_devfs = false,
                      .login_env = true,
                      .no_seccomp = false,
                      .no_raw_sockets = true,
                      .limits = {.memory_bytes = 64ll << 20,
                                 .pids_max = 100,
                                 .cpu_millis = 1500,
                                 .nofile = -1},
                      .tty = true,
                      .tty_rows = 50,
                      .tty_cols = 65535,
                      .stdin_fd = 7,
                      .stdout_fd = 8,
                      .stderr_fd = 9,
                      .init = HOST_INIT_SYSTEMD},
        .stop_cmd = "/bin/sh /etc/rc.shutdown",
        .stop_signal = 37,
        .exec_id = "exec0",
        .run_dir = "/run/kleene/containers/0123456789ab",
        .log_max_bytes = (size_t)5 << 30,
        .unmount_on_exit = unmount,
        .attach = true,
        .caller_unmounts = true,
    };
}

static void test_round_trip(void **state)
{
    (void)state;
    host_monitor_spec in = full_spec();
    kl_buf b = KL_BUF_INIT;
    monitor_spec_encode(&in, filter, sizeof(filter), &b);
    monitor_spec_decoded d;
    kl_error err = KL_ERROR_INIT;
    assert_int_equal(monitor_spec_decode((unsigned char *)b.data, b.len, &d, &err), 0);
    const host_monitor_spec *o = &d.spec;
    const host_container_spec *c = &o->container, *ic = &in.container;
    assert_str_same(o->exec_id, in.exec_id);
    assert_str_same(o->run_dir, in.run_dir);
    assert_true(o->log_max_bytes == in.log_max_bytes);
    assert_strv_same(o->unmount_on_exit, in.unmount_on_exit);
    assert_true(o->attach && o->caller_unmounts);
    assert_str_same(c->id, ic->id);
    assert_str_same(c->rootfs, ic->rootfs);
    assert_str_same(c->hostname, "");
    assert_strv_same(c->argv, ic->argv);
    assert_strv_same(c->env, ic->env);
    assert_str_same(c->user, ic->user);
    assert_null(c->cwd);
    assert_int_equal(c->n_mounts, 2);
    for (size_t i = 0; i < 2; i++) {
        assert_str_same(c->mounts[i].source, mounts[i].source);
        assert_str_same(c->mounts[i].destination, mounts[i].destination);
        assert_int_equal(c->mounts[i].read_only, mounts[i].read_only);
        assert_int_equal(c->mounts[i].source_is_ours, mounts[i].source_is_ours);
    }
    assert_strv_same(c->denied_sources, denied);
    assert_strv_same(c->rootfs_layers, layers);
    assert_str_same(c->rootfs_upper, ic->rootfs_upper);
    assert_null(c->rootfs_work);
    assert_true(c->make_cwd);
    assert_strv_same(c->cap_add, ic->cap_add);
    assert_non_null(c->cap_drop); /* empty, not NULL */
    assert_null(c->cap_drop[0]);
    assert_int_equal(c->netns, HOST_NETNS_PATH);
    assert_str_same(c->netns_path, ic->netns_path);
    assert_true(c->share_ipc && !c->no_devfs && c->login_env && !c->no_seccomp &&
                c->no_raw_sockets && c->tty);
    assert_true(c->limits.memory_bytes == ic->limits.memory_bytes);
    assert_true(c->limits.pids_max == 100 && c->limits.cpu_millis == 1500);
    assert_true(c->limits.nofile == -1);
    assert_int_equal(c->tty_rows, 50);
    assert_int_equal(c->tty_cols, 65535);
    assert_int_equal(c->init, HOST_INIT_SYSTEMD);
    assert_str_same(d.spec.stop_cmd, "/bin/sh /etc/rc.shutdown");
    assert_int_equal(d.spec.stop_signal, 37);
    /* the monitor owns the I/O: fds never travel */
    assert_int_equal(c->stdin_fd, -1);
    assert_int_equal(c->stdout_fd, -1);
    assert_int_equal(c->stderr_fd, -1);
    assert_int_equal(d.filter_len, sizeof(filter));
    assert_memory_equal(d.filter, filter, sizeof(filter));
    monitor_spec_free(&d);
    kl_buf_free(&b);
}

static void test_minimal_nulls(void **state)
{
    (void)state;
    char *a[] = {"true", NULL};
    host_monitor_spec in = {.container = {.id = "x", .rootfs = "/r", .argv = a}, .run_dir = "/d"};
    kl_buf b = KL_BUF_INIT;
    monitor_spec_encode(&in, NULL, 0, &b);
    monitor_spec_decoded d;
    kl_error err = KL_ERROR_INIT;
    assert_int_equal(monitor_spec_decode((unsigned char *)b.data, b.len, &d, &err), 0);
    assert_null(d.spec.exec_id);
    assert_null(d.spec.unmount_on_exit);
    assert_null(d.spec.container.env);
    assert_null(d.spec.container.hostname);
    assert_null(d.spec.container.mounts);
    assert_int_equal(d.spec.container.n_mounts, 0);
    assert_int_equal(d.spec.container.netns, HOST_NETNS_NEW);
    assert_null(d.filter);
    assert_int_equal(d.filter_len, 0);
    monitor_spec_free(&d);
    kl_buf_free(&b);
}

static int decode(const void *data, size_t len, kl_error *err)
{
    monitor_spec_decoded d;
    int r = monitor_spec_decode(data, len, &d, err);
    if (r == 0)
        monitor_spec_free(&d);
    return r;
}

static void test_refuses_bad_records(void **state)
{
    (void)state;
    host_monitor_spec in = full_spec();
    kl_buf b = KL_BUF_INIT;
    monitor_spec_encode(&in, filter, sizeof(filter), &b);
    kl_error err = KL_ERROR_INIT;
    /* every proper prefix is refused, as is one byte more */
    for (size_t n = 0; n < b.len; n++) {
        kl_error_clear(&err);
        assert_int_equal(decode(b.data, n, &err), -1);
        assert_int_equal(err.code, EINVAL);
    }
    char *longer = malloc(b.len + 1);
    memcpy(longer, b.data, b.len);
    longer[b.len] = 0;
    assert_int_equal(decode(longer, b.len + 1, &err), -1);
    free(longer);

    /* another version says so */
    char *other = malloc(b.len);
    memcpy(other, b.data, b.len);
    uint32_t v = MON_SPEC_VERSION + 1;
    memcpy(other + 4, &v, sizeof(v));
    kl_error_clear(&err);
    assert_int_equal(decode(other, b.len, &err), -1);
    assert_non_null(strstr(err.msg, "different builds"));

    /* a string length past the end */
    memcpy(other, b.data, b.len);
    uint32_t huge = 0x7fffffff;
    memcpy(other + 8, &huge, sizeof(huge)); /* exec_id's length */
    assert_int_equal(decode(other, b.len, &err), -1);
    free(other);

    /* a string without its terminator, or with a NUL inside */
    char *mark[] = {"MARK", NULL};
    host_monitor_spec s2 = full_spec();
    s2.container.argv = mark;
    kl_buf b2 = KL_BUF_INIT;
    monitor_spec_encode(&s2, NULL, 0, &b2);
    assert_int_equal(decode(b2.data, b2.len, &err), 0);
    char *at = memmem(b2.data, b2.len, "MARK", 5);
    assert_non_null(at);
    at[4] = 'x';
    assert_int_equal(decode(b2.data, b2.len, &err), -1);
    at[4] = '\0';
    at[1] = '\0';
    assert_int_equal(decode(b2.data, b2.len, &err), -1);
    kl_buf_free(&b2);
    kl_buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_minimal_nulls),
        cmocka_unit_test(test_refuses_bad_records),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
