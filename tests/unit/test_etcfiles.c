/* etcfiles: the checks of names, extra hosts, nameservers and options (bad input is a clean
 * EINVAL naming it), the text of /etc/hosts and /etc/resolv.conf, and the in-place rewrite
 * (the same inode: a bind mount of the file sees the new text). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine/etcfiles.h"
#include "lib/cleanup.h"
#include "lib/xalloc.h"

static void test_checks(void **state)
{
    (void)state;
    kl_error err = KL_ERROR_INIT;
    assert_int_equal(etcfiles_check_name("alias", "web", &err), 0);
    assert_int_equal(etcfiles_check_name("alias", "db_1.internal-x", &err), 0);
    const char *bad[] = {"", "-x", ".x", "a b", "a/b", "a\nb", "é"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err = (kl_error)KL_ERROR_INIT;
        assert_int_equal(etcfiles_check_name("alias", bad[i], &err), -1);
        assert_int_equal(err.code, EINVAL);
        assert_non_null(strstr(err.msg, "invalid alias"));
        assert_null(strchr(err.msg, '\n'));
    }
    char longname[300];
    memset(longname, 'a', sizeof(longname) - 1);
    longname[sizeof(longname) - 1] = '\0';
    assert_int_equal(etcfiles_check_name("alias", longname, &err), -1);

    size_t nlen;
    const char *addr;
    assert_int_equal(etcfiles_check_extra_host("foo:10.1.2.3", &nlen, &addr, &err), 0);
    assert_int_equal(nlen, 3);
    assert_string_equal(addr, "10.1.2.3");
    assert_int_equal(etcfiles_check_extra_host("v6:fd00::1", &nlen, &addr, &err), 0);
    assert_string_equal(addr, "fd00::1");
    assert_int_equal(etcfiles_check_extra_host("gw:host-gateway", &nlen, &addr, &err), 0);
    const char *bad_hosts[] = {
        "foo", ":1.2.3.4", "foo:", "foo:bar", "a b:1.2.3.4", "foo:1.2.3.4\nevil"};
    for (size_t i = 0; i < sizeof(bad_hosts) / sizeof(bad_hosts[0]); i++) {
        err = (kl_error)KL_ERROR_INIT;
        assert_int_equal(etcfiles_check_extra_host(bad_hosts[i], &nlen, &addr, &err), -1);
        assert_int_equal(err.code, EINVAL);
        assert_null(strchr(err.msg, '\n'));
    }
    assert_int_equal(etcfiles_check_nameserver("9.9.9.9", &err), 0);
    assert_int_equal(etcfiles_check_nameserver("2001:db8::53", &err), 0);
    assert_int_equal(etcfiles_check_nameserver("dns.example", &err), -1);
    assert_int_equal(etcfiles_check_option("ndots:2", &err), 0);
    assert_int_equal(etcfiles_check_option("bad option", &err), -1);
    assert_int_equal(etcfiles_check_search("example.org", &err), 0);
    assert_int_equal(etcfiles_check_search("exa mple", &err), -1);
}

static void test_hosts_text(void **state)
{
    (void)state;
    char *extra[] = {"foo:10.1.2.3", NULL};
    char *web[] = {"proj_web_1", "web", "web", "abcdef012345", NULL};
    char *self[] = {"cli", "0123456789ab", NULL};
    etcfiles_peer peers[] = {{.ip = "172.18.0.2", .ip6 = "", .names = web},
                             {.ip = "172.18.0.3", .ip6 = "fd00::3", .names = self}};
    etcfiles_hosts in = {.hostname = "0123456789ab",
                         .ip = "172.18.0.3",
                         .ip6 = "",
                         .extra = extra,
                         .peers = peers,
                         .n_peers = 2};
    _cleanup_free_ char *t = etcfiles_hosts_text(&in);
    assert_non_null(strstr(t, "127.0.0.1\tlocalhost\n"));
    assert_non_null(strstr(t, "10.1.2.3\tfoo\n"));
    assert_non_null(strstr(t, "172.18.0.3\t0123456789ab\n"));
    /* each name once per line */
    assert_non_null(strstr(t, "172.18.0.2\tproj_web_1 web abcdef012345\n"));
    assert_non_null(strstr(t, "fd00::3\tcli 0123456789ab\n"));
    /* the extra hosts come before the container's own line, localhost first */
    assert_true(strstr(t, "localhost") < strstr(t, "foo"));
    /* no address: no line */
    etcfiles_hosts none = {.hostname = "h"};
    _cleanup_free_ char *t2 = etcfiles_hosts_text(&none);
    assert_null(strstr(t2, "\th\n"));
}

static void test_resolv_text(void **state)
{
    (void)state;
    const char *host = "# comment\nnameserver 127.0.0.53\nnameserver 10.0.0.2\n"
                       "nameserver ::1\nsearch a.example b.example\noptions edns0\n";
    _cleanup_free_ char *t = etcfiles_resolv_text(host, NULL, NULL, NULL);
    assert_string_equal(t, "search a.example b.example\nnameserver 10.0.0.2\noptions edns0\n");
    char *ns[] = {"9.9.9.9", NULL};
    char *search[] = {"corp.example", NULL};
    char *none[] = {NULL};
    _cleanup_free_ char *t2 = etcfiles_resolv_text(host, ns, search, none);
    assert_string_equal(t2, "search corp.example\nnameserver 9.9.9.9\n");
    _cleanup_free_ char *t3 = etcfiles_resolv_text(NULL, none, NULL, NULL);
    assert_string_equal(t3, "");
}

static void test_rewrite_in_place(void **state)
{
    (void)state;
    char dir[] = "/tmp/test_etcfiles.XXXXXX";
    assert_non_null(mkdtemp(dir));
    kl_error err = KL_ERROR_INIT;
    assert_int_equal(etcfiles_rewrite(dir, "hosts", "a long first text\n", &err), 0);
    _cleanup_free_ char *path = xasprintf("%s/hosts", dir);
    struct stat a, b;
    assert_int_equal(stat(path, &a), 0);
    assert_int_equal(etcfiles_rewrite(dir, "hosts", "short\n", &err), 0);
    assert_int_equal(stat(path, &b), 0);
    assert_true(a.st_ino == b.st_ino);
    assert_int_equal(b.st_size, 6);
    FILE *f = fopen(path, "r");
    char buf[64] = "";
    assert_non_null(fgets(buf, sizeof(buf), f));
    fclose(f);
    assert_string_equal(buf, "short\n");
    /* a symlink in its place is not followed */
    unlink(path);
    assert_int_equal(symlink("/etc/passwd", path), 0);
    err = (kl_error)KL_ERROR_INIT;
    assert_int_equal(etcfiles_rewrite(dir, "hosts", "x\n", &err), -1);
    unlink(path);
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_checks),
        cmocka_unit_test(test_hosts_text),
        cmocka_unit_test(test_resolv_text),
        cmocka_unit_test(test_rewrite_in_place),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
