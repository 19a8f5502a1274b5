#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <string.h>

#include "host/linux/userspec.h"

static const char *passwd = "root:x:0:0:root:/root:/bin/sh\n"
                            "# comment\n"
                            "broken line\n"
                            "bad:x:notanumber:1::/:\n"
                            "www:x:1000:1000:web:/home/www:/bin/ash\n"
                            "nobody:x:65534:65534::/nonexistent:/sbin/nologin";
static const char *group = "root:x:0:\n"
                           "staff:x:50:www,other\n"
                           "www:x:1000:\n"
                           "audio:x:29:other,www\n"
                           "video:x:44:wwwx\n";

static void test_name(void **state)
{
    (void)state;
    userspec_result u;
    kl_error err = KL_ERROR_INIT;
    assert_int_equal(userspec_resolve_text("www", passwd, group, &u, &err), 0);
    assert_int_equal(u.uid, 1000);
    assert_int_equal(u.gid, 1000);
    assert_string_equal(u.home, "/home/www");
    assert_string_equal(u.shell, "/bin/ash");
    assert_string_equal(u.name, "www");
    /* staff and audio list www; video lists "wwwx" (no prefix match) */
    assert_int_equal(u.n_groups, 2);
    assert_int_equal(u.groups[0], 50);
    assert_int_equal(u.groups[1], 29);
}

static void test_empty_is_root(void **state)
{
    (void)state;
    userspec_result u;
    kl_error err = KL_ERROR_INIT;
    assert_int_equal(userspec_resolve_text("", passwd, group, &u, &err), 0);
    assert_int_equal(u.uid, 0);
    assert_string_equal(u.home, "/root");
    /* no passwd file at all: root still works */
    assert_int_equal(userspec_resolve_text(NULL, NULL, NULL, &u, &err), 0);
    assert_int_equal(u.uid, 0);
    assert_string_equal(u.home, "/root");
}

static void test_numeric(void **state)
{
    (void)state;
    userspec_result u;
    kl_error err = KL_ERROR_INIT;
    assert_int_equal(userspec_resolve_text("1000", passwd, group, &u, &err), 0);
    assert_int_equal(u.gid, 1000); /* known uid: its passwd gid */
    assert_string_equal(u.name, "www");
    assert_int_equal(userspec_resolve_text("4242", passwd, group, &u, &err), 0);
    assert_int_equal(u.uid, 4242);
    assert_int_equal(u.gid, 0);
    assert_string_equal(u.home, "/");
    assert_int_equal(u.n_groups, 0);
    assert_int_equal(userspec_resolve_text("4242:77", passwd, group, &u, &err), 0);
    assert_int_equal(u.gid, 77);
    assert_int_equal(userspec_resolve_text("4294967294", NULL, NULL, &u, &err), 0);
    assert_int_equal(u.uid, 4294967294U);
    assert_int_equal(userspec_resolve_text("4294967295", NULL, NULL, &u, &err), -1);
    assert_int_equal(err.code, ENOENT); /* too big for an id, so taken as an unknown name */
}

static void test_groups(void **state)
{
    (void)state;
    userspec_result u;
    kl_error err = KL_ERROR_INIT;
    assert_int_equal(userspec_resolve_text("www:staff", passwd, group, &u, &err), 0);
    assert_int_equal(u.uid, 1000);
    assert_int_equal(u.gid, 50);
    assert_int_equal(userspec_resolve_text("root:29", passwd, group, &u, &err), 0);
    assert_int_equal(u.gid, 29);
    assert_int_equal(userspec_resolve_text("www:nogroup", passwd, group, &u, &err), -1);
    assert_int_equal(err.code, ENOENT);
    assert_non_null(strstr(err.msg, "nogroup"));
}

static void test_errors(void **state)
{
    (void)state;
    userspec_result u;
    kl_error err = KL_ERROR_INIT;
    assert_int_equal(userspec_resolve_text("ghost", passwd, group, &u, &err), -1);
    assert_int_equal(err.code, ENOENT);
    assert_non_null(strstr(err.msg, "ghost"));
    assert_int_equal(userspec_resolve_text("bad", passwd, group, &u, &err), -1);
    assert_int_equal(userspec_resolve_text(":0", passwd, group, &u, &err), -1);
    assert_int_equal(err.code, EINVAL);
    assert_int_equal(userspec_resolve_text("www:", passwd, group, &u, &err), -1);
    assert_int_equal(userspec_resolve_text("www:1:2", passwd, group, &u, &err), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_name),    cmocka_unit_test(test_empty_is_root),
        cmocka_unit_test(test_numeric), cmocka_unit_test(test_groups),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
