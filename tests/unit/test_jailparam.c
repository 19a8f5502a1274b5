#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <string.h>

#include "host/runtime.h"
#include "lib/xalloc.h"

static void test_defaults_unset(void **state)
{
    (void)state;
    host_jailparams p;
    kl_error err = KL_ERROR_INIT;
    assert_int_equal(host_jailparams_parse(NULL, &p, &err), 0);
    assert_null(p.hostname);
    assert_int_equal(p.mount_devfs, -1);
    assert_int_equal(p.exec_clean, -1);
    host_container_spec spec = {.hostname = "keep", .user = "u"};
    host_jailparams_apply(&p, &spec);
    assert_string_equal(spec.hostname, "keep");
    assert_string_equal(spec.user, "u");
}

static void test_all_known(void **state)
{
    (void)state;
    char *params[] = {"host.hostname=\"web1\"",
                      "mount.nodevfs",
                      "allow.raw_sockets=false",
                      "allow.sysvipc",
                      "exec.clean=true",
                      "exec.jail_user=www",
                      NULL};
    host_jailparams p;
    kl_error err = KL_ERROR_INIT;
    assert_int_equal(host_jailparams_parse(params, &p, &err), 0);
    assert_string_equal(p.hostname, "web1");
    assert_string_equal(p.jail_user, "www");
    assert_int_equal(p.mount_devfs, 0);
    assert_int_equal(p.allow_raw_sockets, 0);
    assert_int_equal(p.allow_sysvipc, 1);
    assert_int_equal(p.exec_clean, 1);
    host_container_spec spec = {0};
    host_jailparams_apply(&p, &spec);
    assert_string_equal(spec.hostname, "web1");
    assert_string_equal(spec.user, "www");
    assert_true(spec.no_devfs);
    assert_true(spec.no_raw_sockets);
    assert_true(spec.share_ipc);
    assert_true(spec.login_env);
    host_jailparams_free(&p);
}

static void test_later_wins_and_bools(void **state)
{
    (void)state;
    char *params[] = {"mount.devfs=false", "mount.devfs", "exec.noclean", "allow.noraw_sockets=0",
                      NULL};
    host_jailparams p;
    kl_error err = KL_ERROR_INIT;
    assert_int_equal(host_jailparams_parse(params, &p, &err), 0);
    assert_int_equal(p.mount_devfs, 1);
    assert_int_equal(p.exec_clean, 0);
    assert_int_equal(p.allow_raw_sockets, 1); /* "no" + false = true */
    host_jailparams_free(&p);
}

static void expect_error(const char *param, const char *needle)
{
    char *params[] = {"host.hostname=a", (char *)param, NULL};
    host_jailparams p;
    kl_error err = KL_ERROR_INIT;
    assert_int_equal(host_jailparams_parse(params, &p, &err), -1);
    assert_int_equal(err.code, EINVAL);
    assert_non_null(strstr(err.msg, needle));
    assert_null(p.hostname); /* freed on error */
}

static void test_errors(void **state)
{
    (void)state;
    expect_error("vnet", "'vnet'");
    expect_error("exec.stop=", "needs a value");
    expect_error("exec.stopx=1", "'exec.stopx'");
    expect_error("allow.mount=1", "'allow.mount'");
    expect_error("mount.devfs=maybe", "invalid boolean");
    expect_error("host.hostname=", "needs a value");
    expect_error("host.hostname", "needs a value");
    expect_error("host.hostname=a/b", "invalid hostname");
    expect_error("host.hostnamex=a", "'host.hostnamex'");
    expect_error("exec.jail_user=\"\"", "needs a value");
}

/* exec.stop (Kleene's stop command) is kept for the monitor, quotes removed, later wins. */
static void test_exec_stop(void **state)
{
    (void)state;
    char *params[] = {"exec.stop=true", "exec.stop=\"/bin/sh /etc/rc.shutdown\"", NULL};
    host_jailparams p;
    kl_error err = KL_ERROR_INIT;
    assert_int_equal(host_jailparams_parse(params, &p, &err), 0);
    assert_string_equal(p.exec_stop, "/bin/sh /etc/rc.shutdown");
    host_jailparams_free(&p);
    assert_null(p.exec_stop);
}

static void test_env_merge(void **state)
{
    (void)state;
    char *base[] = {"PATH=/bin", "A=1", "B=2", NULL};
    char *over[] = {"A=x", "C=3", "junk", "=nokey", "B=", NULL};
    char **m = host_env_merge(base, over);
    assert_int_equal(strv_len(m), 4);
    assert_string_equal(m[0], "PATH=/bin");
    assert_string_equal(m[1], "A=x");
    assert_string_equal(m[2], "B=");
    assert_string_equal(m[3], "C=3");
    strv_free(m);
    m = host_env_merge(NULL, NULL);
    assert_non_null(m);
    assert_null(m[0]);
    strv_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults_unset),
        cmocka_unit_test(test_all_known),
        cmocka_unit_test(test_later_wins_and_bools),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_exec_stop),
        cmocka_unit_test(test_env_merge),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
