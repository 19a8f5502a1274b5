/* Mount option lists → mount(2) arguments (src/host/linux/mountopts.c). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <string.h>
#include <sys/mount.h>

#include "host/linux/mountopts.h"

static void test_flags_and_data(void **state)
{
    (void)state;
    char *opts[] = {"nosuid", "noexec", "mode=755", "ro", "size=65536k", "rw", "strictatime", NULL};
    mount_opts o;
    kl_error err = KL_ERROR_INIT;
    assert_int_equal(mount_opts_parse(opts, &o, &err), 0);
    assert_int_equal(o.flags, MS_NOSUID | MS_NOEXEC | MS_STRICTATIME);
    assert_true(o.clear & MS_RDONLY);
    assert_string_equal(o.data, "mode=755,size=65536k");
    assert_false(o.bind);
    assert_int_equal(o.propagation, 0);
    assert_int_equal(mount_opts_attrs(o.flags),
                     MOUNT_ATTR_NOSUID | MOUNT_ATTR_NOEXEC | MOUNT_ATTR_STRICTATIME);
    mount_opts_free(&o);
}

static void test_bind_and_propagation(void **state)
{
    (void)state;
    char *opts[] = {"rbind", "rprivate", "ro", NULL};
    mount_opts o;
    kl_error err = KL_ERROR_INIT;
    assert_int_equal(mount_opts_parse(opts, &o, &err), 0);
    assert_true(o.bind && o.recursive);
    assert_int_equal(o.propagation, MS_PRIVATE | MS_REC);
    assert_int_equal(o.flags, MS_RDONLY);
    assert_null(o.data);
    char *plain[] = {"bind", "shared", NULL};
    assert_int_equal(mount_opts_parse(plain, &o, &err), 0);
    assert_true(o.bind);
    assert_false(o.recursive);
    assert_int_equal(o.propagation, MS_SHARED);
    assert_int_equal(mount_opts_parse(NULL, &o, &err), 0);
    assert_int_equal(o.flags, 0);
}

static void test_refused(void **state)
{
    (void)state;
    char *a[] = {"remount", NULL};
    char *b[] = {"idmap", NULL};
    char *c[] = {"a,b", NULL};
    mount_opts o;
    kl_error err = KL_ERROR_INIT;
    assert_int_equal(mount_opts_parse(a, &o, &err), -1);
    assert_int_equal(err.code, ENOTSUP);
    assert_int_equal(mount_opts_parse(b, &o, &err), -1);
    assert_int_equal(mount_opts_parse(c, &o, &err), -1);
    assert_int_equal(err.code, EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_flags_and_data),
        cmocka_unit_test(test_bind_and_propagation),
        cmocka_unit_test(test_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
